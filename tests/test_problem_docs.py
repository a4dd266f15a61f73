"""docs/problems.md: its generated parts (mistakes and their messages, the built-in problems' reference, the
benchmark table) equal what docs/make_problem_reference.py writes from the package today, and its examples
run and do what the page says."""

import importlib.util
import math
import re

import pytest
import torch

import pinn_landscape_widget as plw

from .browser import ROOT

PAGE = ROOT / "docs" / "problems.md"


def _generator():
    spec = importlib.util.spec_from_file_location("make_problem_reference", ROOT / "docs" / "make_problem_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen():
    return _generator()


@pytest.fixture(scope="module")
def parts(gen):
    return gen.render_parts()


def test_problems_md_is_up_to_date_with_the_package(gen, parts):
    page = PAGE.read_text()
    assert gen.update(page, parts) == page, "run: python docs/make_problem_reference.py"


def test_a_stale_generated_part_is_rewritten(gen, parts):
    page = PAGE.read_text()
    stale = page.replace("| unknowns | u, v, p |", "| unknowns | u |")
    assert stale != page
    assert gen.update(stale, parts) == page


def test_reference_lists_every_builtin_with_its_factory_defaults(parts):
    import inspect

    from pinn_landscape_widget.pde import library

    ref = parts["reference"]
    headings = re.findall(r"^### (\S+)$", ref, flags=re.M)
    assert headings == plw.list_problems()
    for name in headings:
        section = ref.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        prob = plw.get_problem(name)
        assert f"| PDE | {prob.description} |" in section
        for p in inspect.signature(getattr(library, name)).parameters.values():
            assert f"`{p.name}=" in section, (name, p.name)
        assert ("`deep_ritz`" in section) == prob.has_energy
        n = prob.quadrature()[0].shape[0]
        assert f"| points | {n} interior" in section


def test_errors_section_shows_the_messages_the_code_raises(parts):
    errors = parts["errors"]
    assert errors.count("```python") == errors.count("```text") >= 10
    # one of them by hand: the real message of a misspelt derivative
    with pytest.raises(ValueError) as info:
        plw.define_problem("heat", {"x": (0.0, 1.0), "t": (0.0, 1.0)}, residual=lambda u: u.t - u.yy)
    assert f"ValueError: {info.value}" in errors


def test_benchmark_part_is_the_benchmark_table(parts):
    assert parts["benchmark"] == (ROOT / "docs" / "problems-table.md").read_text().rstrip() + "\n"


def _hand_written_code_blocks():
    page = PAGE.read_text()
    page = re.sub(r"<!-- BEGIN GENERATED: (\w+).*?<!-- END GENERATED: \1 -->", "", page, flags=re.S)
    return re.findall(r"```python\n(.*?)```", page, flags=re.S)


@pytest.mark.slow
def test_examples_on_the_page_run_and_do_what_it_says():
    blocks = _hand_written_code_blocks()
    assert len(blocks) == 8
    ns: dict = {}
    for code in blocks:
        exec(code, ns)  # noqa: S102 - the page's own examples, in order, as a reader would run them
    # the heat run: trained, its landscape around it
    run, ds = ns["run"], ns["ds"]
    assert run.problem is ns["heat"] and float(run.history.rel_l2_error[-1]) < 0.2
    assert float(ds.loss.sel(alpha=0.0, beta=0.0)) == pytest.approx(float(run.history.loss[-1]), rel=1e-5)
    assert {"loss_residual", "loss_initial", "loss_boundary"} <= set(ds.data_vars)
    # the Poisson energy at the exact solution is -pi^2 / 4 (midpoint quadrature, 32 x 32)
    assert ns["poisson_square"].exact_energy() == pytest.approx(-(math.pi**2) / 4, rel=2e-3)
    # the grid reference interpolates the exact heat solution to within its grid's accuracy
    x, _ = ns["heat_from_data"].quadrature()
    want = torch.exp(-0.1 * math.pi**2 * x[:, 1]) * torch.sin(math.pi * x[:, 0])
    assert float((ns["heat_from_data"].exact(x) - want).abs().max()) < 1e-4
    # the system: per-unknown errors, two equation terms
    ws = ns["wave_system"]
    run_ws = plw.train(ws, "strong", width=8, depth=1, steps=2, progress=False)
    r = plw.evaluate(run_ws, run_ws.params)
    assert {"loss_u_equation", "loss_v_equation", "rel_l2_error_u", "rel_l2_error_v"} <= set(r)
    # the sweep: one landscape per kappa, differing
    sweep = ns["sweep"]
    assert sweep.loss.dims == ("run", "seed", "formulation", "alpha", "beta")
    assert list(sweep.run.values) == ["kappa=0.05", "kappa=0.2"]
    assert ns["faster"].coefficients == {"kappa": 0.3}
