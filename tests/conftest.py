import os
import time

import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.engine import _native as native

from . import book as book_build
from .browser import close_browser

torch.set_num_threads(2)

# (problem, problem params, formulations) covering every problem x formulation and both boundary modes
CASES = [
    ("poisson1d", dict(n_points=64), ("strong", "deep_ritz")),
    ("poisson1d", dict(n_points=64, boundary="penalty", source="multiscale"), ("strong", "deep_ritz")),
    ("poisson2d", dict(n_points=64), ("strong", "deep_ritz")),
    ("poisson2d", dict(n_points=64, boundary="penalty", k=2), ("strong", "deep_ritz")),
    ("convection1d", dict(n_points=64, beta=10.0), ("strong",)),
]
PROBLEM_FORMULATIONS = [(name, kw, f) for name, kw, forms in CASES for f in forms]
# `scripts/test.sh --quick` (PLW_QUICK=1), the inner loop: the every-problem tests run on a representative few
# (both formulations, a first-order PDE, a system, a defined problem); the full command runs them all
QUICK = os.environ.get("PLW_QUICK") == "1"
QUICK_CASES = {("poisson1d", "strong"), ("poisson1d", "deep_ritz"), ("convection1d", "strong")}
if QUICK:
    PROBLEM_FORMULATIONS = [c for c in PROBLEM_FORMULATIONS if (c[0], c[2]) in QUICK_CASES and not c[1].get("boundary")]


def mixed_problem(n_points=64, dtype_params=None):
    """A defined problem that reads a mixed second partial, a time derivative at the start, a Neumann
    slope and a periodic slope: u_xt + u u_x - f on [0, 1] x [0, 2], source f = cos(x) sin(t)."""
    return plw.define_problem(
        "mixed",
        {"x": (0.0, 1.0), "t": (0.0, 2.0)},
        residual=lambda u, f, a: u.xt + a * u * u.x - f,
        source=lambda x, t: torch.cos(x) * torch.sin(t),
        coefficients={"a": 0.7},
        conditions=[
            plw.initial_rate(lambda x: x),
            plw.neumann("x", at=1.0, value=0.5, weight=2.0),
            plw.periodic("x", derivatives=True),
        ],
        exact=lambda x, t: torch.sin(x + t),
        n_points=n_points,
    )


def system_problem(n_points=64):
    """A defined system of two unknowns with a hard ansatz (factor and lift) on one of them and a
    penalised condition on the other: u_t - v_x = 0, v_t - u_xx + v = 0 on [0, 1]^2."""
    return plw.define_problem(
        "system",
        {"x": (0.0, 1.0), "t": (0.0, 1.0)},
        residual=lambda u, v: [u.t - v.x, v.t - u.xx + v],
        unknowns=("u", "v"),
        ansatz={"u": lambda x, t: t * x * (1 - x)},
        lift={"u": lambda x: torch.sin(3.0 * x)},
        conditions=[
            plw.initial(lambda x: torch.sin(3.0 * x), unknowns="u", hard=True),
            plw.dirichlet("x", value={"v": 0.25}, weight=3.0),
        ],
        exact=lambda x, t: (torch.sin(3.0 * x) * torch.cos(t), torch.cos(3.0 * x) * torch.sin(t)),
        n_points=n_points,
    )


def ritz_problem(n_points=64):
    """A defined problem with an energy that reads a lifted, penalised solution in 2-D:
    -div(grad u) + u = f, energy 1/2 |grad u|^2 + 1/2 u^2 - f u, on [0, 2] x [0, 1]."""
    return plw.define_problem(
        "ritz",
        {"x": (0.0, 2.0), "y": (0.0, 1.0)},
        residual=lambda u, f: -u.laplacian + u - f,
        energy=lambda u, f: 0.5 * (u.x**2 + u.y**2) + 0.5 * u * u - f * u,
        source=lambda x, y: (1 + 2 * torch.pi**2 / 4) * torch.sin(torch.pi * x / 2) * torch.sin(torch.pi * y),
        conditions=[plw.dirichlet(weight=10.0)],
        exact=lambda x, y: torch.sin(torch.pi * x / 2) * torch.sin(torch.pi * y),
        n_points=n_points,
    )


DEFINED = {"mixed": mixed_problem, "system": system_problem, "ritz": ritz_problem}

# every built-in problem x formulation (small point sets) and the defined ones above, for value checks
VALUE_CASES = PROBLEM_FORMULATIONS + [
    ("reaction1d", dict(n_points=64, rho=5.0), "strong"),
    ("heat1d", dict(n_points=64, diffusivity=0.3), "strong"),
    ("wave1d", dict(n_points=64), "strong"),
    ("helmholtz2d", dict(n_points=64), "strong"),
    ("helmholtz2d", dict(n_points=64, boundary="penalty", k=2.0), "deep_ritz"),
    ("kovasznay2d", dict(n_points=64), "strong"),
    ("burgers1d", dict(n_points=64), "strong"),
    ("allen_cahn1d", dict(n_points=64), "strong"),
    ("reaction_diffusion1d", dict(n_points=64, nu=2.0, rho=3.0), "strong"),
    ("mixed", {}, "strong"),
    ("system", {}, "strong"),
    ("ritz", {}, "strong"),
    ("ritz", {}, "deep_ritz"),
]
if QUICK:
    VALUE_CASES = PROBLEM_FORMULATIONS + [("burgers1d", dict(n_points=64), "strong"), ("system", {}, "strong")]
    VALUE_CASES += [("mixed", {}, "strong"), ("ritz", {}, "deep_ritz")]


def case_id(case):
    name, kw, form = case
    extra = ",".join(f"{k}={v}" for k, v in kw.items() if k != "n_points")
    return f"{name}[{extra}]-{form}"


_RUNS = {}


def small_run(name, kw, form, dtype=torch.float32, steps=30):
    """A short, cached training run on a small network (landscape tests need a run, not a good one)."""
    key = (name, tuple(sorted(kw.items())), form, dtype, steps)
    if key not in _RUNS:
        problem = DEFINED[name](**kw) if name in DEFINED else plw.get_problem(name, **kw)
        _RUNS[key] = plw.train(
            problem,
            form,
            width=12,
            depth=2,
            steps=steps,
            optimizer="adam",
            lr=1e-2,
            progress=False,
            dtype=dtype,
            device="cpu",
        )
    return _RUNS[key]


@pytest.fixture(scope="session")
def poisson_run():
    """The default poisson1d strong run, shortened."""
    return plw.train("poisson1d", "strong", width=20, depth=2, steps=(150, 20), progress=False, device="cpu")


@pytest.fixture(params=["native", "torch"])
def kernels(request, monkeypatch):
    """Run a test with the fused C kernels and again with torch's only (what a machine without a C compiler,
    or PLW_NATIVE=0, gets). The test machines have gcc, so failing to build the kernels is a failure here."""
    if request.param == "torch":
        monkeypatch.setattr(native, "_LIB", None)
        monkeypatch.setattr(native, "_TRIED", True)
    else:
        assert native.library() is not None, "the fused C kernels (engine/_native.py) did not build"
    return request.param


# ---- tiers: what each part of the suite costs ---------------------------------------------------------------
# Every test belongs to one tier: the first of these markers it carries, else "unit". The terminal summary adds
# up each tier's setup + call + teardown time (a session fixture's cost lands on the first test that asks for
# it), so every run's output says where the time went. `scripts/test.sh --quick` runs the "unit" tier only.
TIERS = ("book", "studies", "browser", "gpu", "integration", "slow", "unit")
_TIER_OF: dict[str, str] = {}
_SPENT: dict[str, float] = {}
_OUTCOMES: dict[str, dict[str, int]] = {}
_CLOCK: dict[str, float] = {}


def tier(item) -> str:
    return next((t for t in TIERS[:-1] if item.get_closest_marker(t)), "unit")


# the order the tiers run in: fast feedback first; the book late (its build runs in the background meanwhile,
# tests/book.py); every browser test at the end, one after another, in one shared Chromium (tests/browser.py)
RUN_ORDER = ("unit", "gpu", "integration", "slow", "studies", "book", "browser")


def pytest_itemcollected(item):
    # the quick reproductions (plw.reproduce(..., quick=True), 20-30 s each) in tests/test_reproduce.py
    if item.path.name == "test_reproduce.py" and item.name.startswith("test_quick_"):
        item.add_marker(pytest.mark.studies)


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected, and after pytest's own reordering
def pytest_collection_modifyitems(config, items):
    for item in items:
        _TIER_OF[item.nodeid] = tier(item)
    # a stable sort: within a tier the order stays pytest's (grouped by module and by parametrized fixture)
    items.sort(key=lambda it: (bool(it.get_closest_marker("browser")), RUN_ORDER.index(_TIER_OF[it.nodeid])))


def pytest_sessionstart(session):
    _CLOCK["start"] = time.perf_counter()


def pytest_runtest_teardown(item, nextitem):
    if item.get_closest_marker("browser") and not (nextitem and nextitem.get_closest_marker("browser")):
        close_browser()  # the last browser test of a run of them


def pytest_collection_finish(session):
    _CLOCK["collected"] = time.perf_counter()
    # the Jupyter Book build (minutes: it executes every notebook) starts now in the background, when a selected
    # test needs it and scripts/test.sh has not started it already; the book's tests wait for it
    if not session.config.option.collectonly and any("book" in item.fixturenames for item in session.items):
        book_build.start()


def pytest_runtest_setup(item):
    # one torch thread while the book builds in the background on the other core, two (as above) after
    threads = 1 if book_build.running() else 2
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def pytest_sessionfinish(session):
    close_browser()
    book_build.finish()


def pytest_runtest_logreport(report):
    t = _TIER_OF.get(report.nodeid, "unit")
    _SPENT[t] = _SPENT.get(t, 0.0) + report.duration
    if report.when == "call" or report.outcome != "passed":  # a failed or skipped setup is the test's outcome
        outcome = "error" if report.when != "call" and report.failed else report.outcome
        counts = _OUTCOMES.setdefault(t, {})
        counts[outcome] = counts.get(outcome, 0) + 1


def pytest_terminal_summary(terminalreporter):
    if not _SPENT:
        return
    tr = terminalreporter
    tr.section("time per tier (setup + call + teardown of its tests, summed)")
    if {"start", "collected"} <= set(_CLOCK):
        tr.write_line(f"{'collection':<12} {_CLOCK['collected'] - _CLOCK['start']:8.1f} s")
    for t in TIERS:
        if t in _SPENT:
            counts = ", ".join(f"{n} {k}" for k, n in sorted(_OUTCOMES.get(t, {}).items()))
            tr.write_line(f"{t:<12} {_SPENT[t]:8.1f} s   {counts}")
    build = book_build.current()
    if build is not None and build.seconds is not None:
        tr.write_line(
            f"(the book build took {build.seconds:.1f} s in the background; the first test that needed it "
            f"waited {build.waited:.1f} s of that, counted under book)"
        )
    tr.write_line(f"{'all tests':<12} {sum(_SPENT.values()):8.1f} s")
