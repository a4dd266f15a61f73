"""Point-subsampled landscapes: ``Objective.subsample`` and ``landscape(..., subsample=)``.

Each subsampled term is checked against the same weighted sum computed another way: the full objective with
its weights masked to the subset (zero elsewhere) and scaled by N / n, evaluated on all its points. The
estimate's unbiasedness is checked over many seeds; the error norm is estimated on a subset too (default) or
kept on the full points (``error="full"``)."""

import copy
import dataclasses
import json
import math

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw

from .conftest import small_run

F64 = torch.float64

# a periodic condition with slopes (pairs of points), a system with a hard ansatz and a lift, a Deep Ritz
# energy, a merged multi-face penalty condition, an initial condition, an error grid apart from the interior
CASES = [
    ("mixed", {}, "strong"),
    ("system", {}, "strong"),
    ("ritz", {}, "deep_ritz"),
    ("poisson2d", dict(n_points=64, boundary="penalty", k=2), "strong"),
    ("heat1d", dict(n_points=64, diffusivity=0.3), "strong"),
    ("poisson1d", dict(n_points=64, n_eval=50, boundary="penalty"), "strong"),  # an error grid of its own
]
IDS = [f"{n}-{f}" for n, _, f in CASES]


def _run_obj(case):
    name, kw, form = case
    run = small_run(name, kw, form, dtype=F64, steps=3)  # any parameters do; a short run is cheap
    return run, run.objective(None, "cpu", F64)


def _thetas(run, k=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    p = run.params.to(F64)
    return torch.stack([p + 0.3 * torch.randn(p.shape, generator=g, dtype=F64) for _ in range(k)])


def _rows_in(full: torch.Tensor, sub: torch.Tensor) -> torch.Tensor:
    """Indices of the rows of ``sub`` in ``full`` (exact matches)."""
    d = torch.cdist(sub, full)
    idx = d.argmin(1)
    assert torch.all(d.gather(1, idx[:, None]) == 0)
    return idx


def _mask(ps, sub_x):
    idx = _rows_in(ps.x, sub_x)
    w = torch.zeros_like(ps.w)
    w[idx] = ps.w[idx] * (ps.x.shape[0] / idx.numel())
    return dataclasses.replace(ps, w=w)


def _masked(obj, sub, error):
    """The full objective with every point set's weights zero off the subset ``sub`` draws and N / n on it
    (the error grid's too when ``error == "subset"``)."""
    out = copy.copy(obj)
    out.interior = _mask(obj.interior, sub.interior.x)
    if error == "subset" and obj.u_exact is not None:
        # the error on the full grid with masked weights (its values computed there, not reused)
        out.eval_on_quadrature = False
        out.eval_set = _mask(obj.eval_set, sub.eval_set.x)
    conds = []
    for cps, scps in zip(obj.conditions, sub.conditions):
        c = cps.condition
        rows = c.weights.shape[0]
        lo = cps.x[:rows] if c.kind == "periodic" else cps.x
        slo = scps.x[: scps.x.shape[0] // 2] if c.kind == "periodic" else scps.x
        idx = _rows_in(lo, slo)
        if c.kind == "periodic":  # the partners on the high face come with their low-face points
            assert torch.equal(scps.x[slo.shape[0] :], cps.x[rows:][idx])
        cw = torch.zeros_like(c.weights)
        cw[idx] = c.weights[idx] * (rows / idx.numel())
        conds.append(dataclasses.replace(cps, condition=dataclasses.replace(c, weights=cw)))
    out.conditions = conds
    return out


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_all_points_gives_the_full_objective(case):
    run, obj = _run_obj(case)
    th = _thetas(run)
    full = obj.evaluate(th)
    for size in (1.0, 10**9):
        sub = obj.subsample(size, seed=5)
        assert all(n == N for n, N in sub.subsample_points.values())
        got = sub.evaluate(th)
        assert got.keys() == full.keys()
        for k, v in full.items():
            torch.testing.assert_close(got[k], v, rtol=1e-12, atol=0.0, msg=k)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("size,error", [(0.3, "subset"), (7, "full")], ids=["frac0.3", "int7-full_error"])
def test_each_subsampled_term_equals_the_masked_full_sum(case, size, error):
    run, obj = _run_obj(case)
    th = _thetas(run)
    sub = obj.subsample(size, seed=2, error=error)
    if not obj.eval_on_quadrature and error == "subset":
        assert sub.subsample_points["rel_l2_error"] == [15, 50]
    n_int, N_int = sub.subsample_points["interior"]
    assert n_int == (min(7, N_int) if size == 7 else round(0.3 * N_int)) and n_int < N_int
    got = sub.evaluate(th)
    ref = _masked(obj, sub, error).evaluate(th)
    full = obj.evaluate(th)
    for k in got:
        if k.startswith("rel_l2_error") and error == "full":  # the error on the full evaluation points
            torch.testing.assert_close(got[k], full[k], rtol=1e-12, atol=0.0, msg=k)
        else:
            scale = float(full[k].abs().max()) + float(ref[k].abs().max())
            torch.testing.assert_close(got[k], ref[k], rtol=1e-11, atol=1e-12 * scale, msg=k)
    # and the subset is a real one: some term differs from the full value
    assert any(not torch.allclose(got[k], full[k]) for k in got if k.startswith("loss"))


def test_the_estimate_is_unbiased_over_seeds():
    run, obj = _run_obj(("poisson2d", dict(n_points=64, boundary="penalty", k=2), "strong"))
    th = _thetas(run, k=1)
    full = obj.evaluate(th)
    M = 80
    est = {k: [] for k in full if k.startswith("loss")}
    for seed in range(M):
        vals = obj.subsample(0.25, seed=seed).evaluate(th)
        for k in est:
            est[k].append(float(vals[k][0]))
    for k, xs in est.items():
        xs = np.asarray(xs)
        se = xs.std(ddof=1) / math.sqrt(M)
        assert se > 0
        assert abs(xs.mean() - float(full[k][0])) < 4 * se, (k, xs.mean(), float(full[k][0]), se)


def test_the_same_seed_draws_the_same_subset_and_another_seed_another():
    run, obj = _run_obj(CASES[0])
    a, b, c = obj.subsample(0.5, seed=3), obj.subsample(0.5, seed=3), obj.subsample(0.5, seed=4)
    assert torch.equal(a.interior.x, b.interior.x) and torch.equal(a.interior.w, b.interior.w)
    for ca, cb in zip(a.conditions, b.conditions):
        assert torch.equal(ca.x, cb.x)
    assert not torch.equal(a.interior.x, c.interior.x)


def test_landscape_states_the_subset_and_uses_it_at_every_grid_point():
    run = small_run("poisson2d", dict(n_points=64, boundary="penalty", k=2), "strong", dtype=F64, steps=3)
    dirs = plw.random_directions(run, 2, seed=3)
    kw = dict(span=0.5, resolution=3, progress=False)
    full = plw.landscape(run, dirs, **kw)
    ds = plw.landscape(run, dirs, subsample=16, subsample_seed=7, **kw)
    kept = json.loads(ds.attrs["subsample_points"])
    assert kept["interior"] == [16, 64] and all(n <= 16 for n, _ in kept.values())
    assert ds.attrs["subsample_seed"] == 7 and ds.attrs["subsample_error"] == "subset"
    n, N = sum(v[0] for v in kept.values()), sum(v[1] for v in kept.values())
    assert ds["loss"].attrs["long_name"] == f"loss (estimate on {n} of {N} points)"
    assert ds["rel_l2_error"].attrs["long_name"].endswith("(estimate on 16 of 64 points)")
    assert "subsample_points" not in full.attrs and full["loss"].attrs["long_name"] == "loss"
    assert "estimate" not in full["rel_l2_error"].attrs["long_name"]
    ds_full_err = plw.landscape(run, dirs, subsample=16, subsample_seed=7, subsample_error="full", **kw)
    assert "estimate" not in ds_full_err["rel_l2_error"].attrs["long_name"]
    np.testing.assert_allclose(ds_full_err.rel_l2_error.values, full.rel_l2_error.values, rtol=1e-10)
    np.testing.assert_allclose(ds_full_err.loss.values, ds.loss.values, rtol=1e-10)
    # every grid value is the subsampled objective's at that point
    obj = run.objective(None, "cpu", F64).subsample(16, seed=7)
    D = dirs.vectors.to(F64)
    for i, a in enumerate(ds.alpha.values):
        for j, b in enumerate(ds.beta.values):
            th = run.params.to(F64) + float(a) * D[0] + float(b) * D[1]
            v = obj.evaluate(th[None])
            assert math.isclose(float(ds.loss[i, j]), float(v["loss"][0]), rel_tol=1e-10)
            assert math.isclose(float(ds.rel_l2_error[i, j]), float(v["rel_l2_error"][0]), rel_tol=1e-10)


def test_bad_subsample_error_and_seed_are_named():
    run = small_run("poisson1d", dict(n_points=64), "strong", steps=3)
    with pytest.raises(ValueError, match=r"subsample_error must be one of \['subset', 'full'\], got 'all'"):
        plw.landscape(run, resolution=3, progress=False, subsample=0.5, subsample_error="all")
    with pytest.raises(ValueError, match=r"subsample_seed must be an integer in \[0, .*got -1"):
        plw.landscape(run, resolution=3, progress=False, subsample=0.5, subsample_seed=-1)


@pytest.mark.parametrize("bad", [0, -3, 0.0, 1.5, -0.1, float("nan"), True, "10%"])
def test_bad_subsample_values_name_the_argument_value_and_what_is_allowed(bad):
    run = small_run("poisson1d", dict(n_points=64), "strong", steps=3)
    with pytest.raises(ValueError, match=r"subsample must be None, an integer >= 1 .* fraction in \(0, 1\]") as e:
        plw.landscape(run, resolution=3, progress=False, subsample=bad)
    assert repr(bad) in str(e.value)


def test_a_from_model_run_cannot_be_subsampled_and_says_why():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    x = torch.linspace(0, 1, 20)[:, None]
    run = plw.from_model(model, lambda m: (m(x) ** 2).mean(), points=x)
    with pytest.raises(ValueError, match=r"subsample=0\.5 .*user's loss function.*cannot be cut"):
        plw.landscape(run, resolution=3, progress=False, subsample=0.5)


# --- the widget's preview ------------------------------------------------------------------------------------


def test_widget_preview_on_a_subsample_says_so_and_the_full_grid_stays_exact():
    run = small_run("poisson1d", dict(n_points=128), "strong", steps=3)
    w = plw.LandscapeWidget(run, resolution=15, compute=False, preview_points=0.25)
    seen = []
    w.observe(
        lambda ch: seen.append((w.status_text, tuple(w.panel_data[0]["grid_shape"]), bytes(w.panel_data[0]["grid"]))),
        "panel_data",
    )
    texts = []
    w.observe(lambda ch: texts.append(ch["new"]), "status_text")
    w.resolution = 41
    w.wait()
    assert any("preview 11 x 11 on 32 of 128 points" in t for t in texts), texts
    dirs = plw.random_directions(run, 2, seed=0)
    preview = [g for _, shape, g in seen if shape == (11, 11)]
    assert preview, seen
    ref_sub = plw.landscape(run, dirs, resolution=11, progress=False, subsample=0.25)
    got = np.frombuffer(preview[0], np.float32).reshape(11, 11)
    np.testing.assert_allclose(got, ref_sub.loss.values.astype(np.float32), rtol=1e-5)
    full = plw.landscape(run, dirs, resolution=41, progress=False)
    assert w.status == "done" and w.panel_data[0]["grid_shape"] == [41, 41]
    np.testing.assert_allclose(
        np.frombuffer(w.panel_data[0]["grid"], np.float32).reshape(41, 41),
        full.loss.values.astype(np.float32),
        rtol=1e-5,
    )
    assert "estimate" not in w.datasets[0]["loss"].attrs["long_name"]


def test_widget_preview_subsample_is_the_old_spelling_of_preview_points():
    run = small_run("poisson1d", dict(n_points=128), "strong", steps=3)
    with pytest.warns(FutureWarning, match=r"preview_subsample=.*use preview_points= instead"):
        w = plw.LandscapeWidget(run, compute=False, preview_subsample=0.25)
    assert w._computer.preview_points == 0.25
    with pytest.warns(FutureWarning):
        off = plw.LandscapeWidget(run, compute=False, preview_subsample=None)  # its None meant every point
    assert off._computer.preview_points == 0


def test_widget_preview_of_a_small_run_stays_on_every_point_and_is_checked():
    run = small_run("poisson1d", dict(n_points=128), "strong", steps=3)
    w = plw.LandscapeWidget(run, resolution=15, compute=False)
    texts = []
    w.observe(lambda ch: texts.append(ch["new"]), "status_text")
    w.resolution = 41
    w.wait()
    assert any("preview 11 x 11 in" in t for t in texts) and not any("points" in t for t in texts), texts
    with pytest.raises(
        ValueError, match=r"preview_points must be None \(automatic\), .* fraction in \(0, 1\), got 1\.5"
    ):
        plw.LandscapeWidget(run, compute=False, preview_points=1.5)
