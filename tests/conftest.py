import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.engine import _native as native

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


def case_id(case):
    name, kw, form = case
    extra = ",".join(f"{k}={v}" for k, v in kw.items() if k != "n_points")
    return f"{name}[{extra}]-{form}"


_RUNS = {}


def small_run(name, kw, form, dtype=torch.float32, steps=30):
    """A short, cached training run on a small network (landscape tests need a run, not a good one)."""
    key = (name, tuple(sorted(kw.items())), form, dtype, steps)
    if key not in _RUNS:
        _RUNS[key] = plw.train(
            name,
            form,
            width=12,
            depth=2,
            steps=steps,
            optimizer="adam",
            lr=1e-2,
            progress=False,
            dtype=dtype,
            device="cpu",
            problem_params=kw,
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
