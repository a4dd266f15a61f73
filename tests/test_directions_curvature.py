"""Directions (PCA, Hessian, interpolation) and curvature (Lanczos, trace, SLQ) against dense references."""

import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.analysis import _rop as rop
from pinn_landscape_widget.analysis.curvature import HessianOperator

from .conftest import PROBLEM_FORMULATIONS, case_id

_RUNS = {}


def tiny_run(name, kw, form):
    """A float64 run on a network small enough for a dense Hessian (~100 parameters)."""
    kw = dict(kw, n_points=64)  # one key for one configuration: {} and the CASES' dict(n_points=64) are the same
    key = (name, tuple(sorted(kw.items())), form)
    if key not in _RUNS:
        _RUNS[key] = plw.train(
            name,
            form,
            width=8,
            depth=2,
            steps=(150, 30),
            lr=1e-2,
            progress=False,
            dtype=torch.float64,
            coefficients=dict(kw, n_points=64),
            record_every=5,
        )
    return _RUNS[key]


def dense_hessian(run, term=None):
    """torch.autograd.functional.hessian of the loss (or one term): the independent reference."""
    obj = run.objective(dtype=torch.float64)

    def f(t):
        terms = obj.terms(t[None])
        return (terms[term] if term else sum(terms.values()))[0]

    return torch.autograd.functional.hessian(f, run.params.double())


@pytest.mark.parametrize("case", PROBLEM_FORMULATIONS, ids=case_id)
def test_lanczos_extremes_match_dense_eigvalsh(case):
    name, kw, form = case
    run = tiny_run(name, kw, form)
    H = dense_hessian(run)
    evals, evecs = torch.linalg.eigh(H)
    scale = float(evals.abs().max())
    k = 3
    ds = plw.hessian_eigenpairs(run, k, "both")
    assert ds.attrs["converged"] == 1
    got = ds.eigenvalue.values
    want = np.concatenate([evals[-k:].flip(0).numpy(), evals[:k].numpy()])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(got[:k], want[:k], rtol=1e-6)  # the top end, relative to each eigenvalue
    # eigenvectors, wherever the eigenvalue is separated from its neighbours (else the vector is not unique)
    order = list(range(len(evals) - 1, len(evals) - 1 - k, -1)) + list(range(k))
    for m, i in enumerate(order):
        gap = min(abs(float(evals[i] - evals[j])) for j in (i - 1, i + 1) if 0 <= j < len(evals))
        if gap > 1e-3 * scale:
            cos = abs(float(torch.as_tensor(ds.eigenvector.values[m]) @ evecs[:, i]))
            assert cos > 0.999, (m, i, cos)
    assert (ds.residual_norm.values <= 1e-7 * scale).all()
    # the reported residuals are true ones: ||H v - lambda v|| with the dense H
    V = torch.as_tensor(ds.eigenvector.values)
    dense_res = (V @ H - torch.as_tensor(got)[:, None] * V).norm(dim=1).numpy()
    np.testing.assert_allclose(ds.residual_norm.values, dense_res, rtol=0, atol=1e-10 * scale)


@pytest.mark.parametrize("case", PROBLEM_FORMULATIONS, ids=case_id)
def test_float32_lanczos_converges_at_its_default_tolerance(case):
    """In float32 (the R-operator's passes in C on a CPU) the default tolerance is 1e-5: reachable with
    float32 products, so the run converges without a warning, and the extremes match the dense float64
    spectrum to that tolerance."""
    name, kw, form = case
    run = tiny_run(name, kw, form)
    evals = torch.linalg.eigvalsh(dense_hessian(run))
    scale = float(evals.abs().max())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = plw.hessian_eigenpairs(run, 2, "both", dtype=torch.float32)
    assert ds.attrs["converged"] == 1 and ds.attrs["tol"] == 1e-5 and ds.attrs["dtype"] == "float32"
    want = np.concatenate([evals[-2:].flip(0).numpy(), evals[:2].numpy()])
    np.testing.assert_allclose(ds.eigenvalue.values, want, rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize("method", ["r-operator", "double backward"])
@pytest.mark.parametrize("case", PROBLEM_FORMULATIONS, ids=case_id)
def test_hessian_split_over_threads_equals_dense_hessian(case, method, monkeypatch):
    """On a CPU with 2 threads the operator can split the loss over the quadrature points, one part per
    thread (boundary terms in the first): its products, loss and per-term products are the dense ones,
    with either kind of product in the parts."""
    name, kw, form = case
    run = tiny_run(name, kw, form)
    monkeypatch.setattr(HessianOperator, "MIN_POINTS_PER_PART", 16)
    monkeypatch.setattr(HessianOperator, "SPLIT_R_OPERATOR", True)
    if method == "double backward":
        monkeypatch.setattr(rop, "applies", lambda objective: False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        op = HessianOperator(run)
        assert len(op._parts) == 2 and op.method == method
        torch.testing.assert_close(op.dense(), dense_hessian(run), rtol=1e-10, atol=1e-10)
        assert abs(op.loss - float(run.objective(dtype=torch.float64).loss(run.params.double()[None])[0])) < 1e-12
        interior = op.objective.formulation.terms(op.objective.problem)[0]
        op_term = HessianOperator(run, term=interior)
        assert len(op_term._parts) == 2
        torch.testing.assert_close(op_term.dense(), dense_hessian(run, interior), rtol=1e-10, atol=1e-10)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("which", ["largest", "smallest"])
def test_hessian_directions_are_unit_eigenvectors(which):
    run = tiny_run("poisson1d", {}, "strong")
    H = dense_hessian(run)
    d = plw.hessian_directions(run, 2, which)
    for v, lam in zip(d.vectors, d.attrs["eigenvalues"]):
        v = v.double()
        assert abs(float(v.norm()) - 1) < 1e-12
        assert float((H @ v - lam * v).norm()) < 1e-6 * float(torch.linalg.eigvalsh(H).abs().max())
    lam = d.attrs["eigenvalues"]
    assert (lam[0] >= lam[1]) if which == "largest" else (lam[0] <= lam[1])
    ds = plw.landscape(run, d, resolution=5, span=0.1, progress=False)
    assert ds.attrs["direction_kind"] == "hessian"


def test_per_term_hessians_add_up_to_the_total():
    run = tiny_run("poisson1d", dict(boundary="penalty"), "strong")
    total = dense_hessian(run)
    parts = dense_hessian(run, "residual") + dense_hessian(run, "boundary")
    torch.testing.assert_close(total, parts, rtol=1e-10, atol=1e-10 * float(total.abs().max()))
    top_res = float(plw.hessian_eigenpairs(run, 1, term="residual").eigenvalue[0])
    assert abs(top_res - float(torch.linalg.eigvalsh(dense_hessian(run, "residual"))[-1])) < 1e-6 * abs(top_res)
    with pytest.raises(ValueError, match=r"term must be one of \['residual', 'boundary'\], got 'energy'"):
        plw.hessian_eigenpairs(run, 1, term="energy")


@pytest.mark.slow  # 10-40 s on 2 cores: the full command runs it, --quick does not
def test_hutchinson_trace_and_slq_agree_with_dense_spectrum():
    run = tiny_run("poisson1d", dict(boundary="penalty"), "deep_ritz")
    evals = torch.linalg.eigvalsh(dense_hessian(run)).numpy()
    sp = plw.hessian_spectrum(run, n_vectors=16, n_steps=40, n_trace_samples=400)
    exact_trace = float(evals.sum())
    assert abs(sp.attrs["trace_hutchinson"] - exact_trace) < 4 * sp.attrs["trace_hutchinson_stderr"]
    # SLQ with m steps integrates polynomials of degree < 2m exactly per probe: its trace has the
    # Hutchinson-type error of the probes, estimated from their spread
    n = len(evals)
    per_probe = n * np.nansum(sp.slq_weight.values * np.nan_to_num(sp.slq_node.values), axis=1)
    se = per_probe.std(ddof=1) / math.sqrt(len(per_probe))
    assert abs(per_probe.mean() - exact_trace) < 4 * se + 1e-9 * abs(exact_trace)
    assert sp.attrs["lambda_max"] == pytest.approx(evals[-1], rel=1e-6)
    assert sp.attrs["lambda_min"] == pytest.approx(evals[0], abs=1e-6 * abs(evals).max())
    # the density integrates to one and puts its mass where the dense eigenvalues are
    grid = sp.eigenvalue.values
    dens = sp.density.values
    assert abs(np.trapezoid(dens, grid) - 1) < 1e-2
    sigma = sp.attrs["sigma"]
    ref = np.exp(-0.5 * ((grid[:, None] - evals[None]) / sigma) ** 2).sum(1) / (n * sigma * math.sqrt(2 * math.pi))
    cdf = np.cumsum(dens) * (grid[1] - grid[0])
    cdf_ref = np.cumsum(ref) * (grid[1] - grid[0])
    assert np.abs(cdf - cdf_ref).max() < 0.15


@pytest.mark.slow  # 10-40 s on 2 cores: the full command runs it, --quick does not
def test_directional_curvature_matches_dense_quadratic_form():
    run = tiny_run("poisson2d", {}, "deep_ritz")
    gen = torch.Generator().manual_seed(0)
    d = torch.randn(run.n_params, generator=gen, dtype=torch.float64)
    P = run.params[None] + 0.05 * torch.randn(3, run.n_params, generator=gen, dtype=torch.float64)
    got = plw.directional_curvature(run, d, P)
    obj = run.objective()
    for k in range(3):
        H = torch.autograd.functional.hessian(lambda t: obj.loss(t[None])[0], P[k])
        assert float(got[k]) == pytest.approx(float(d @ H @ d), rel=1e-9)


def test_pca_plane_reproduces_in_plane_checkpoints_and_measures_offplane_distance():
    base = tiny_run("poisson1d", {}, "strong")
    P = base.n_params
    gen = torch.Generator().manual_seed(1)
    u, v = torch.linalg.qr(torch.randn(P, 2, generator=gen, dtype=torch.float64))[0].T
    a = torch.linspace(1.0, 0.0, 12, dtype=torch.float64) ** 2 * 3
    b = torch.sin(torch.linspace(0, 3, 12, dtype=torch.float64))
    b[-1] = 0.0
    traj = base.params[None] + a[:, None] * u + b[:, None] * v
    run = dataclasses.replace(base, trajectory=traj, trajectory_steps=list(range(0, 120, 10)), _objectives={})
    dirs = plw.pca_directions(run, 2)
    assert sum(dirs.attrs["explained_variance_ratio"]) == pytest.approx(1.0, abs=1e-12)
    ds = plw.landscape(run, dirs, resolution=5, progress=False)
    rebuilt = (
        base.params[None]
        + torch.as_tensor(ds.trajectory_alpha.values)[:, None] * dirs.vectors[0]
        + torch.as_tensor(ds.trajectory_beta.values)[:, None] * dirs.vectors[1]
    )
    torch.testing.assert_close(rebuilt, traj, rtol=0, atol=1e-10)
    assert ds.trajectory_offplane.values.max() < 1e-10
    assert list(ds.step.values) == list(range(0, 120, 10))
    # the default span covers the whole trajectory
    assert np.abs(ds.trajectory_alpha.values).max() <= ds.alpha.values.max()
    # lift one checkpoint off the plane by a known distance along a third orthogonal direction
    w = torch.randn(P, generator=gen, dtype=torch.float64)
    w -= (w @ u) * u + (w @ v) * v
    w /= w.norm()
    traj2 = traj.clone()
    traj2[4] += 0.7 * w
    run2 = dataclasses.replace(run, trajectory=traj2)
    ds2 = plw.landscape(run2, dataclasses.replace(dirs, trajectory=traj2), resolution=3, progress=False)
    assert ds2.trajectory_offplane.values[4] == pytest.approx(0.7, rel=1e-10)


def test_pca_of_a_real_run_has_trajectory_in_dataset():
    run = tiny_run("poisson1d", {}, "deep_ritz")
    d = plw.pca_directions(run)
    ds = plw.landscape(run, d, resolution=5, progress=False)
    assert ds.trajectory_alpha.dims == ("step",) and len(ds.step) == len(run.trajectory_steps)
    assert ds.trajectory_alpha.values[-1] == pytest.approx(0.0, abs=1e-12)  # theta* is the origin
    assert 0 < d.attrs["explained_variance_ratio"][1] <= d.attrs["explained_variance_ratio"][0] <= 1


def test_interpolation_samples_both_endpoints():
    run = tiny_run("poisson1d", {}, "strong")
    d = plw.interpolation_direction(run.init_params, run.params)
    ds = plw.landscape(run, d, resolution=9, progress=False)
    assert ds.alpha.values[0] == -0.5 and ds.alpha.values[-1] == 1.5
    start = plw.evaluate(run, run.init_params)["loss"][0]
    end = plw.evaluate(run, run.params)["loss"][0]
    assert float(ds.loss.sel(alpha=0.0)) == float(start)
    assert float(ds.loss.sel(alpha=1.0)) == pytest.approx(float(end), rel=1e-12)
    assert ds.attrs["direction_kind"] == "interpolation"


def test_curvature_along_a_1d_slice():
    run = tiny_run("poisson1d", {}, "deep_ritz")
    d = plw.random_directions(run, 1, seed=4)
    ds = plw.landscape(run, d, resolution=7, span=0.5, progress=False, curvature=True)
    obj = run.objective()
    for i in (0, 3, 6):
        theta = run.params + float(ds.alpha.values[i]) * d.vectors[0]
        H = torch.autograd.functional.hessian(lambda t: obj.loss(t[None])[0], theta)
        assert float(ds.curvature.values[i]) == pytest.approx(float(d.vectors[0] @ H @ d.vectors[0]), rel=1e-8)


def test_lanczos_non_convergence_is_reported():
    run = tiny_run("convection1d", dict(beta=10.0), "strong")
    with pytest.warns(RuntimeWarning, match="Lanczos did not converge"):
        ds = plw.hessian_eigenpairs(run, 3, "smallest", max_steps=4, tol=1e-14)
    assert ds.attrs["converged"] == 0 and (ds.residual_norm.values > 0).all()
    H = dense_hessian(run)
    V = torch.as_tensor(ds.eigenvector.values)
    dense_res = (V @ H - torch.as_tensor(ds.eigenvalue.values)[:, None] * V).norm(dim=1).numpy()
    np.testing.assert_allclose(ds.residual_norm.values, dense_res, rtol=1e-8)


def test_bad_direction_and_curvature_arguments():
    run = tiny_run("poisson1d", {}, "strong")
    P = run.n_params
    with pytest.raises(ValueError, match=rf"n must be an integer in \[1, {P}\], got {P + 1}"):
        plw.random_directions(run, P + 1)
    with pytest.raises(ValueError, match=rf"n must be an integer in \[1, {P}\], got 0"):
        plw.hessian_eigenpairs(run, 0)
    with pytest.raises(ValueError, match=r"which must be one of \['largest', 'smallest', 'both'\], got 'top'"):
        plw.hessian_eigenpairs(run, 1, "top")
    with pytest.raises(ValueError, match=r"term must be one of \['residual'\], got 'boundary'"):
        plw.hessian_spectrum(run, term="boundary")
    short = dataclasses.replace(run, trajectory=run.trajectory[:3], trajectory_steps=run.trajectory_steps[:3])
    with pytest.raises(ValueError, match=r"pca_directions\(n=2\) needs a trajectory of at least 4 checkpoints"):
        plw.pca_directions(short, 2)
    with pytest.raises(ValueError, match=r"start_params and end_params are identical"):
        plw.interpolation_direction(run.params, run.params.clone())
    with pytest.raises(ValueError, match=r"must be 1-D vectors of the same length"):
        plw.interpolation_direction(run.params, run.params[:-1])
