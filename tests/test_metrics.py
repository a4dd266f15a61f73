"""Landscape metrics (curvature_map, roughness_index, compare_landscapes) against independent computations:
dense Hessians by torch.autograd.functional, slices evaluated point by point, closed forms, scipy."""

import math

import numpy as np
import pytest
import scipy.stats
import torch
import xarray as xr

import pinn_landscape_widget as plw
from pinn_landscape_widget.analysis.metrics import _curvature_memory

_RUNS = {}


def tiny_run():
    """A float64 strong-form poisson1d run on a network small enough for dense Hessians (~100 parameters)."""
    if "tiny" not in _RUNS:
        _RUNS["tiny"] = plw.train(
            "poisson1d",
            "strong",
            width=8,
            depth=2,
            steps=(150, 40),
            lr=1e-2,
            progress=False,
            dtype=torch.float64,
            coefficients=dict(n_points=64),
        )
    return _RUNS["tiny"]


def dense_hessian(run, theta):
    obj = run.objective(dtype=torch.float64)
    return torch.autograd.functional.hessian(lambda t: obj.loss(t[None])[0], theta.double())


def test_curvature_map_matches_dense_hessian_at_every_point():
    run = tiny_run()
    dirs = plw.random_directions(run, 2, seed=3)
    ds = plw.curvature_map(run, dirs, span=0.4, resolution=3, progress=False)
    assert ds.attrs["n_converged"] == 9
    D = dirs.vectors.double()
    for a in ds.alpha.values:
        for b in ds.beta.values:
            theta = run.params.double() + a * D[0] + b * D[1]
            evals = torch.linalg.eigvalsh(dense_hessian(run, theta))
            scale = float(evals.abs().max())
            point = ds.sel(alpha=a, beta=b)
            assert abs(float(point.lambda_max) - float(evals[-1])) <= 1e-7 * scale
            assert abs(float(point.lambda_min) - float(evals[0])) <= 1e-7 * scale
            assert float(point.convexity_ratio) == pytest.approx(abs(float(evals[0]) / float(evals[-1])), rel=1e-6)
            # the loss on the map is the loss at that point
            assert float(point.loss) == pytest.approx(float(plw.evaluate(run, theta[None])["loss"][0]), rel=1e-12)


def test_curvature_map_centre_equals_hessian_eigenpairs_both_ends():
    run = tiny_run()
    ds = plw.curvature_map(run, span=0.5, resolution=3, vectors=True, progress=False)
    ref = plw.hessian_eigenpairs(run, 1, "both")
    centre = ds.sel(alpha=0.0, beta=0.0)
    scale = float(abs(ref.eigenvalue).max())
    assert abs(float(centre.lambda_max) - float(ref.eigenvalue[0])) <= 1e-9 * scale
    assert abs(float(centre.lambda_min) - float(ref.eigenvalue[1])) <= 1e-9 * scale
    # the kept eigenvectors are eigenvectors of the dense Hessian at that point (up to sign)
    H = dense_hessian(run, run.params)
    for var, lam in (("eigenvector_max", centre.lambda_max), ("eigenvector_min", centre.lambda_min)):
        v = torch.as_tensor(centre[var].values)
        assert float((H @ v - float(lam) * v).norm()) <= 1e-6 * scale
        other = torch.as_tensor(ref.eigenvector.values[0 if var == "eigenvector_max" else 1])
        assert abs(float(v @ other)) == pytest.approx(1.0, abs=1e-8)


def test_curvature_map_term_restricts_the_hessian():
    run = plw.train(
        "convection1d",
        "strong",
        width=6,
        depth=2,
        steps=(60, 10),
        lr=1e-2,
        dtype=torch.float64,
        progress=False,
        coefficients=dict(beta=5.0, n_points=64),
    )
    ds = plw.curvature_map(run, span=0.2, resolution=3, term="initial", progress=False)
    obj = run.objective(dtype=torch.float64)
    H = torch.autograd.functional.hessian(lambda t: obj.terms(t[None])["initial"][0], run.params.double())
    evals = torch.linalg.eigvalsh(H)
    centre = ds.sel(alpha=0.0, beta=0.0)
    assert float(centre.lambda_max) == pytest.approx(float(evals[-1]), rel=1e-7)
    assert ds.attrs["hessian_term"] == "initial"


def test_curvature_map_grid_too_large_names_the_resolution_that_fits():
    run = tiny_run()
    budget = 2**22
    with pytest.raises(ValueError, match=r"resolution 101 .*memory_budget = 4 MiB; resolution <= (\d+) fits") as err:
        plw.curvature_map(run, resolution=101, vectors=True, memory_budget=budget, progress=False)
    fits = int(err.value.args[0].split("resolution <= ")[1].split(" ")[0])
    steps = min(300, run.n_params)
    assert _curvature_memory(fits**2, run.n_params, steps, True, 8) <= budget
    assert _curvature_memory((fits + 1) ** 2, run.n_params, steps, True, 8) > budget
    with pytest.raises(ValueError, match="lower max_steps"):
        plw.curvature_map(run, resolution=3, memory_budget=1024, progress=False)
    with pytest.raises(ValueError, match=r"resolution must be an integer in \[3, 257\], got 1"):
        plw.curvature_map(run, resolution=1, progress=False)
    with pytest.raises(ValueError, match=r"term must be one of \['residual'\], got 'boundary'"):
        plw.curvature_map(run, resolution=3, term="boundary", progress=False)


def test_plot_draws_any_grid_variable_and_names_the_allowed_ones():
    import matplotlib

    matplotlib.use("Agg")
    run = tiny_run()
    ds = plw.curvature_map(run, span=0.5, resolution=3, progress=False)
    fig = plw.plot(ds, var="convexity_ratio", z_scale="linear", surface=False)
    # the contour plot draws the ratio's values: its colour limits span them
    mappable = fig.axes[0].collections[0]
    lo, hi = mappable.get_clim()
    assert lo <= float(ds.convexity_ratio.min()) and hi >= float(ds.convexity_ratio.max())
    with pytest.raises(ValueError, match=r"var must name a variable over the slice's grid, one of \[.*'lambda_min'"):
        plw.plot(ds, var="center")


# --- roughness ------------------------------------------------------------------------------------------------


class TwoModes(torch.nn.Module):
    """N(x) = q1 + 2 q2 cos(pi x), so with poisson1d's ansatz u = q1 sin(pi x) + q2 sin(2 pi x), where
    q = w + c sin(k w) for the two weights w: a quadratic loss in w for c = 0, with ripples for c > 0."""

    def __init__(self, c=0.0, k=1.0):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor([[0.5, 0.3]]))
        self.c, self.k = c, k

    def forward(self, x):
        q = self.weight[0] + self.c * torch.sin(self.k * self.weight[0])
        return q[0] + 2 * q[1] * torch.cos(math.pi * x[:, 0])


def two_mode_run(c, k=40.0):
    return plw.train(
        "poisson1d", "strong", model=TwoModes(c, k), steps=0, dtype=torch.float64, progress=False,
        coefficients=dict(n_points=200),
    )  # fmt: skip


def quadratic_minimiser(run):
    """The minimiser of the (exactly quadratic, c = 0) loss, by least squares on the residual, which is
    affine in the weights: r(w) = r(0) + J w."""
    obj = run.objective(dtype=torch.float64)
    x, w = run.problem.quadrature()
    f = run.problem.source(x)
    # u'' for the two modes: -pi^2 sin(pi x) and -4 pi^2 sin(2 pi x); residual u'' + f
    J = torch.stack(
        [-(math.pi**2) * torch.sin(math.pi * x[:, 0]), -4 * math.pi**2 * torch.sin(2 * math.pi * x[:, 0])], 1
    )
    sw = w.sqrt()
    sol = torch.linalg.lstsq(J * sw[:, None], -(f * sw)[:, None]).solution[:, 0]
    assert float(obj.loss(sol[None])[0]) < 1e-20  # the exact solution is in the model class
    return sol


def test_roughness_index_of_a_quadratic_is_zero_and_of_ripples_positive():
    quad = two_mode_run(0.0)
    centre = quadratic_minimiser(quad)
    smooth = plw.roughness_index(quad, center=centre, n_directions=16, span=0.5, resolution=41, progress=False)
    # every line through the minimum of a quadratic is a parabola centred on the grid: TV / range = 2
    np.testing.assert_allclose(smooth.normalized_total_variation.values, 2.0, rtol=1e-9)
    assert float(smooth.roughness_index) < 1e-9
    assert smooth.attrs["unimodal_fraction"] == 1.0
    rippled = plw.roughness_index(
        two_mode_run(0.05), center=centre, n_directions=16, span=0.5, resolution=41, progress=False
    )
    assert float(rippled.roughness_index) > 0.05
    assert rippled.attrs["unimodal_fraction"] < 1.0
    for key in ("n_directions", "span", "resolution", "seed", "normalization", "bias"):
        assert key in rippled.attrs


def test_roughness_index_statistics_from_independent_slices():
    run = tiny_run()
    ds = plw.roughness_index(run, n_directions=5, span=0.7, resolution=15, seed=4, progress=False)
    t = np.linspace(-0.7, 0.7, 15)
    nus = []
    for k in range(5):
        d = plw.random_directions(run, 1, seed=4 + k).vectors[0].double()
        pts = run.params.double()[None] + torch.as_tensor(t)[:, None] * d[None]
        f = np.array([float(run.objective().loss(p[None])[0]) for p in pts])
        np.testing.assert_allclose(ds.loss.values[k], f, rtol=1e-10)
        tv = np.abs(np.diff(f)).sum()
        nus.append(tv / (f.max() - f.min()))
        assert float(ds.total_variation[k]) == pytest.approx(tv, rel=1e-9)
    nus = np.array(nus)
    assert float(ds.roughness_index) == pytest.approx(nus.std() / nus.mean(), rel=1e-9)


def test_roughness_index_bad_arguments():
    run = tiny_run()
    with pytest.raises(ValueError, match="resolution must be odd, so that t = 0 .* got 20"):
        plw.roughness_index(run, resolution=20, progress=False)
    with pytest.raises(ValueError, match=r"n_directions must be an integer in \[2, "):
        plw.roughness_index(run, n_directions=1, progress=False)
    with pytest.raises(ValueError, match=r"span must be one number s > 0 .* got \(0, 1\)"):
        plw.roughness_index(run, span=(0, 1), progress=False)


# --- comparison -----------------------------------------------------------------------------------------------


def synthetic(values_fn, n=21, span=1.0, directions=None):
    a = np.linspace(-span, span, n)
    A, B = np.meshgrid(a, a, indexing="ij")
    dirs = np.eye(2, 5) if directions is None else directions
    return xr.Dataset(
        dict(loss=(("alpha", "beta"), values_fn(A, B)), directions=(("direction", "param"), dirs)),
        coords=dict(alpha=a, beta=a),
        attrs=dict(problem="synthetic", formulation="strong", direction_kind="custom"),
    )


def test_compare_landscapes_of_known_quadratics():
    qa = synthetic(lambda a, b: 3 * a * a + a * b + b * b)  # slice Hessian [[6, 1], [1, 2]]
    qb = synthetic(lambda a, b: 0.5 * (3 * a * a + a * b + b * b))  # scaled by 1/2 (exactly, in binary)
    res = plw.compare_landscapes(qa, qb)
    assert float(res.rank_correlation) == pytest.approx(1.0, abs=1e-12)
    assert float(res.minimum_distance) == 0.0
    assert float(res.curvature_ratio) == pytest.approx(2.0, rel=1e-9)
    e = np.linalg.eigvalsh([[6.0, 1.0], [1.0, 2.0]])
    assert float(res.curvature_a) == pytest.approx(e[-1], rel=1e-9)
    assert float(res.anisotropy_a) == pytest.approx(e[-1] / e[0], rel=1e-9)
    shifted = synthetic(lambda a, b: (a - 0.3) ** 2 + np.sin(3 * b))
    res2 = plw.compare_landscapes(qa, shifted)
    rho = scipy.stats.spearmanr(qa.loss.values.ravel(), shifted.loss.values.ravel()).statistic
    assert float(res2.rank_correlation) == pytest.approx(rho, abs=1e-12)
    ia = np.unravel_index(np.argmin(shifted.loss.values), shifted.loss.shape)
    want = math.hypot(shifted.alpha.values[ia[0]], shifted.beta.values[ia[1]])
    assert float(res2.minimum_distance) == pytest.approx(want, rel=1e-12)


def test_compare_landscapes_on_different_slices_is_a_clear_error():
    base = synthetic(lambda a, b: a * a + b * b)
    other = synthetic(lambda a, b: a * a + b * b, directions=np.eye(2, 5)[::-1])
    with pytest.raises(ValueError, match="ds_a and ds_b lie on different directions .* same Directions"):
        plw.compare_landscapes(base, other)
    with pytest.raises(ValueError, match="different 'alpha' grids .* same span and resolution"):
        plw.compare_landscapes(base, synthetic(lambda a, b: a * a + b * b, n=11))
    with pytest.raises(ValueError, match="ds_b must be a landscape Dataset"):
        plw.compare_landscapes(base, xr.Dataset())


def test_compare_landscapes_of_two_runs_on_shared_directions():
    run = tiny_run()
    dirs = plw.random_directions(run, 2, seed=0)
    strong = plw.landscape(run, dirs, span=0.5, resolution=11, progress=False)
    ritz = plw.landscape(run, dirs, span=0.5, resolution=11, formulation="deep_ritz", progress=False)
    res = plw.compare_landscapes(strong, ritz)
    rho = scipy.stats.spearmanr(strong.loss.values.ravel(), ritz.loss.values.ravel()).statistic
    assert float(res.rank_correlation) == pytest.approx(rho, abs=1e-12)
    other = plw.landscape(run, plw.random_directions(run, 2, seed=9), span=0.5, resolution=11, progress=False)
    with pytest.raises(ValueError, match="different directions"):
        plw.compare_landscapes(strong, other)
