"""plw.connect (mode connectivity: line and trained Bezier curve between two runs) and curve_directions,
against independent evaluations of the same parameter points with plw.evaluate."""

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.analysis.landscape import project_onto_plane

KW = dict(width=8, depth=1, steps=(60, 0), progress=False, dtype=torch.float64, coefficients=dict(n_points=64))


@pytest.fixture(scope="module")
def runs():
    return plw.train("poisson1d", "strong", seed=0, **KW), plw.train("poisson1d", "strong", seed=1, **KW)


@pytest.fixture(scope="module")
def conn(runs):
    a, b = runs
    return plw.connect(a, b, n_points=9, steps=150, lr=1e-2, seed=0)


def _rel(got, want):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-300)))


def test_endpoints_are_the_runs_losses_under_run_a_objective(runs, conn):
    a, b = runs
    ref = plw.evaluate(a, torch.stack([a.params, b.params]))
    for key in ("loss", "loss_residual"):
        for path in ("line", "curve"):
            got = conn[f"{key.replace('loss', 'loss_' + path)}"].values[[0, -1]]
            assert _rel(got, ref[key].numpy()) < 1e-6, (key, path)


def test_line_and_curve_match_evaluate_at_independently_built_points(runs, conn):
    a, b = runs
    t = conn.t.values
    assert t[0] == 0 and t[-1] == 1 and np.all(np.diff(t) > 0)
    w1, w2 = a.params.numpy(), b.params.numpy()
    th = conn.control_point.values
    line = np.stack([(1 - s) * w1 + s * w2 for s in t])
    curve = np.stack([(1 - s) ** 2 * w1 + 2 * s * (1 - s) * th + s**2 * w2 for s in t])
    ref_line, ref_curve = plw.evaluate(a, torch.as_tensor(line)), plw.evaluate(a, torch.as_tensor(curve))
    assert _rel(conn.loss_line.values, ref_line["loss"].numpy()) < 1e-6
    assert _rel(conn.loss_line_residual.values, ref_line["loss_residual"].numpy()) < 1e-6
    assert _rel(conn.loss_curve.values, ref_curve["loss"].numpy()) < 1e-6
    assert _rel(conn.rel_l2_error_curve.values, ref_curve["rel_l2_error"].numpy()) < 1e-6
    np.testing.assert_allclose(conn.endpoint_a.values, w1, rtol=0, atol=0)
    np.testing.assert_allclose(conn.endpoint_b.values, w2, rtol=0, atol=0)


def test_training_lowers_the_curve_below_the_line_and_the_untrained_curve(runs, conn):
    a, b = runs
    untrained = plw.connect(a, b, n_points=9, steps=0)
    # steps=0: the control point is the midpoint, so the curve is the line (reparametrised: same end points)
    mid = (a.params + b.params).numpy() / 2
    np.testing.assert_allclose(untrained.control_point.values, mid, rtol=1e-12, atol=1e-15)
    line_mean = float(conn.loss_line.mean())
    assert float(conn.loss_curve.mean()) < 0.5 * line_mean, (float(conn.loss_curve.mean()), line_mean)
    assert float(conn.loss_curve.mean()) < float(untrained.loss_curve.mean())
    assert conn.attrs["steps"] == 150 and conn.train_loss.shape == (150,)
    assert np.all(np.isfinite(conn.train_loss.values)) and conn.attrs["skipped_steps"] == 0


def test_barriers_follow_their_stated_definition(conn):
    for path in ("line", "curve"):
        L = conn[f"loss_{path}"].values.astype(np.float64)
        want = L.max() - max(L[0], L[-1])
        assert conn.attrs[f"barrier_{path}"] == pytest.approx(want, rel=1e-12, abs=1e-12)
        assert conn.attrs[f"barrier_{path}"] >= 0
        assert conn.attrs[f"t_max_{path}"] == conn.t.values[int(np.argmax(L))]
    assert "max(L(0), L(1))" in conn.attrs["barrier_definition"]
    assert "1802.10026" in conn.attrs["sources"]
    assert conn.attrs["formulation"] == "strong" and conn.attrs["lr"] == 1e-2 and conn.attrs["seed"] == 0


def test_same_seed_same_curve_other_seed_other_curve(runs, conn):
    a, b = runs
    again = plw.connect(a, b, n_points=9, steps=150, lr=1e-2, seed=0)
    np.testing.assert_allclose(again.control_point.values, conn.control_point.values, rtol=1e-10, atol=1e-12)
    other = plw.connect(a, b, n_points=9, steps=20, lr=1e-2, seed=1)
    assert not np.allclose(other.control_point.values, conn.control_point.values)


def test_formulation_uses_run_a_objective_for_both_endpoints(runs):
    a, b = runs
    ds = plw.connect(a, b, formulation="deep_ritz", n_points=5, steps=5)
    ref = plw.evaluate(a, torch.stack([a.params, b.params]), "deep_ritz")
    assert ds.attrs["formulation"] == "deep_ritz"
    assert _rel(ds.loss_line.values[[0, -1]], ref["loss"].numpy()) < 1e-6
    terms = [k for k in ref if k.startswith("loss_")]
    assert terms and all(f"loss_curve_{k[5:]}" in ds for k in terms)


def test_different_networks_raise_naming_both_shapes(runs):
    a, _ = runs
    other = plw.train("poisson1d", "strong", **dict(KW, width=6))
    with pytest.raises(ValueError, match=r"run_a: MLP 8x1 tanh with 25 parameters.*run_b: MLP 6x1 tanh with 19"):
        plw.connect(a, other, steps=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_points=2), r"n_points must be an integer in \[3, inf\], got 2"),
        (dict(steps=-1), r"steps must be an integer in \[0, inf\], got -1"),
        (dict(lr=0.0), r"lr must be a finite number > 0, got 0.0"),
        (dict(seed=1.5), r"seed must be an integer, got 1.5"),
    ],
)
def test_bad_arguments_name_argument_value_and_what_is_allowed(runs, kwargs, match):
    a, b = runs
    with pytest.raises(ValueError, match=match):
        plw.connect(a, b, **kwargs)


def test_unsupported_formulation_is_named(runs):
    a, b = runs
    with pytest.raises(ValueError, match=r"formulation must be one of \['strong', 'deep_ritz'\], got 'weak'"):
        plw.connect(a, b, formulation="weak")
    # convection1d has no Deep Ritz energy: the error lists what run_a supports
    conv = plw.train("convection1d", "strong", **dict(KW, steps=(1, 0), coefficients=dict(n_points=16)))
    with pytest.raises(ValueError, match=r"formulation must be one of \['strong'\], got 'deep_ritz'"):
        plw.connect(conv, conv, formulation="deep_ritz")


def test_curve_directions_plane_holds_both_minima_the_control_point_and_the_curve(runs, conn):
    a, b = runs
    dirs = plw.curve_directions(conn, a)
    assert dirs.kind == "connect" and dirs.attrs["orthonormal"] is False
    w1, w2 = a.params.double(), b.params.double()
    th = torch.as_tensor(conn.control_point.values, dtype=torch.float64)
    pts = torch.stack([w1, w2, th])
    coef, off = project_onto_plane(pts, dirs.origin, dirs.vectors)
    scale = float(pts.norm(dim=1).max())
    assert float(off.max()) < 1e-10 * scale
    np.testing.assert_allclose(coef, [[0, 0], [1, 0], [0, 1]], atol=1e-10)
    # the curve at t sits at (t^2, 2t(1-t))
    t = conn.t.values
    curve = torch.stack([(1 - s) ** 2 * w1 + 2 * s * (1 - s) * th + s**2 * w2 for s in t])
    coef, off = project_onto_plane(curve, dirs.origin, dirs.vectors)
    assert float(off.max()) < 1e-10 * scale
    np.testing.assert_allclose(coef, np.stack([t**2, 2 * t * (1 - t)], 1), atol=1e-10)
    # landscape over the default span (-0.5, 1.5) at resolution 5 has grid points on w1, w2 and theta
    ds = plw.landscape(a, dirs, resolution=5, progress=False)
    np.testing.assert_allclose(ds.alpha.values, [-0.5, 0, 0.5, 1, 1.5])
    ref = plw.evaluate(a, pts)["loss"].numpy()
    got = [ds.loss.sel(alpha=al, beta=be).item() for al, be in [(0, 0), (1, 0), (0, 1)]]
    assert _rel(got, ref) < 1e-6


def test_curve_directions_of_an_untrained_curve_has_no_plane(runs):
    a, b = runs
    flat = plw.connect(a, b, n_points=3, steps=0)
    with pytest.raises(ValueError, match="span no plane"):
        plw.curve_directions(flat, a)
    with pytest.raises(ValueError, match="plw.connect"):
        plw.curve_directions(plw.landscape(a, resolution=3, progress=False), a)


def test_from_model_runs_connect_under_the_users_own_loss():
    from .test_custom_models import _model, _poisson_losses

    x, strong, energy = _poisson_losses(torch.float64)
    losses = {"strong": strong, "energy": energy}
    ra = plw.from_model(_model(torch.float64, 0), losses, points=x)
    rb = plw.from_model(_model(torch.float64, 1), losses, points=x)
    ds = plw.connect(ra, rb, formulation="energy", n_points=3, steps=10)
    assert ds.attrs["formulation"] == "energy" and ds.attrs["skipped_steps"] == 0
    # the independent evaluation: the curve's parameters written into another module, the user's loss on it
    copy = _model(torch.float64, seed=5)
    w1, w2 = ra.params, rb.params
    th = torch.as_tensor(ds.control_point.values)
    for s, got in zip(ds.t.values, ds.loss_curve.values):
        theta = (1 - s) ** 2 * w1 + 2 * s * (1 - s) * th + s**2 * w2
        torch.nn.utils.vector_to_parameters(theta, copy.parameters())
        assert float(got) == pytest.approx(float(energy(copy).detach()), rel=1e-9), s
