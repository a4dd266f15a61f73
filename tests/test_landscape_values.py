"""Every landscape value against an independent per-point autograd computation of the problem's definition
(tests/autograd_reference.py): every built-in problem x formulation, and defined problems with mixed
derivatives, several unknowns, a hard ansatz with a lift, Neumann, periodic-slope and initial-rate conditions."""

import math

import pytest
import torch

import pinn_landscape_widget as plw

from .autograd_reference import reference_terms
from .conftest import PROBLEM_FORMULATIONS, VALUE_CASES, case_id, small_run


def autograd_loss(run, theta, formulation):
    terms, sizes, err = reference_terms(run, theta, formulation)
    terms["rel_l2_error"] = err
    sizes["rel_l2_error"] = abs(err)
    return terms, sizes


def _max_rel(a, b, scale):
    return abs(a - b) / scale


@pytest.mark.parametrize("case", VALUE_CASES, ids=case_id)
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)], ids=["f32", "f64"])
def test_every_grid_value_matches_per_point_autograd(case, dtype, tol):
    name, kw, form = case
    run = small_run(name, kw, form, dtype=dtype)
    dirs = plw.random_directions(run, 2, seed=3)
    ds = plw.landscape(run, dirs, span=0.8, resolution=5, progress=False, chunk_size=3)
    checked = 0
    for i, a in enumerate(ds.alpha.values):
        for j, b in enumerate(ds.beta.values):
            theta = run.params.double() + float(a) * dirs.vectors[0].double() + float(b) * dirs.vectors[1].double()
            ref, size = autograd_loss(run, theta.to(dtype), form)
            for key, val in ref.items():
                if key == "rel_l2_error" and not math.isfinite(val):
                    assert not math.isfinite(float(ds[key].values[i, j]))
                    continue
                ours = float(ds[key].values[i, j])
                # relative to the magnitude of the summands (sum of |integrand|): a Deep Ritz energy or an
                # energy-plus-penalty total can pass near zero on a grid, where plain relative error is noise
                assert _max_rel(ours, val, max(size[key], 1e-30)) < tol, (key, a, b, ours, val)
                checked += 1
    assert checked >= 25 * 2


@pytest.mark.parametrize("case", PROBLEM_FORMULATIONS, ids=case_id)
def test_center_of_grid_equals_evaluate_exactly(case):
    name, kw, form = case
    run = small_run(name, kw, form)
    ds = plw.landscape(run, resolution=7, progress=False, chunk_size=4)
    ref = plw.evaluate(run, run.params)
    for key, val in ref.items():
        assert float(ds[key].sel(alpha=0.0, beta=0.0)) == float(val[0]), key
    assert ds.attrs["loss_center"] == float(ref["loss"][0])


@pytest.mark.parametrize("form", ["strong", "deep_ritz"])
def test_values_do_not_depend_on_chunk_size(form, kernels):
    """Bit for bit: a point's parameters and loss must not depend on which chunk it was evaluated in."""
    run = small_run("poisson1d", dict(n_points=64), form)
    a = plw.landscape(run, resolution=9, progress=False, chunk_size=1)
    for size in (81, 7):
        b = plw.landscape(run, resolution=9, progress=False, chunk_size=size)
        for name in ("loss", "rel_l2_error"):
            assert (a[name].values == b[name].values).all(), (name, size)


def test_rel_l2_error_matches_direct_computation():
    run = small_run("poisson1d", dict(n_points=64), "strong", dtype=torch.float64)
    x, w = run.problem.quadrature()
    u = run.model_at(run.params)(x).detach()
    ustar = run.problem.exact(x)
    ref = math.sqrt(float((w * (u - ustar) ** 2).sum() / (w * ustar**2).sum()))
    assert abs(float(plw.evaluate(run, run.params)["rel_l2_error"][0]) - ref) < 1e-12


def test_separate_evaluation_grid_is_used_when_asked():
    run = plw.train(
        "poisson1d",
        "strong",
        width=8,
        depth=1,
        steps=5,
        progress=False,
        dtype=torch.float64,
        coefficients=dict(n_points=50, n_eval=301),
    )
    xe = torch.linspace(0, 1, 301, dtype=torch.float64)[:, None]
    u = run.model_at(run.params)(xe).detach()
    ustar = run.problem.exact(xe)
    ref = float(torch.linalg.norm(u - ustar) / torch.linalg.norm(ustar))
    assert abs(float(plw.evaluate(run, run.params)["rel_l2_error"][0]) - ref) < 1e-12


def test_one_dimensional_slice():
    run = small_run("poisson1d", dict(n_points=64), "deep_ritz", dtype=torch.float64)
    d = plw.random_directions(run, 1, seed=1)
    ds = plw.landscape(run, d, span=(-0.5, 1.5), resolution=9, progress=False)
    assert ds.loss.dims == ("alpha",)
    assert ds.alpha.values[0] == -0.5 and ds.alpha.values[-1] == 1.5
    theta = run.params + float(ds.alpha.values[3]) * d.vectors[0]
    ref = autograd_loss(run, theta, "deep_ritz")[0]["loss"]
    assert abs(float(ds.loss.values[3]) - ref) < 1e-10 * abs(ref)
