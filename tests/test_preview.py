"""The widget's automatic preview: on every point for a small run, on a subset of each point set for a large
one (sized from the measured cost per point), said on screen and in the preview's attrs, then replaced by the
full-point grid; a loss whose points cannot be cut keeps full previews and says so.

The plan's numbers are checked against hand arithmetic; the widget's grids against ``plw.landscape`` with
the same subset (an independent call of the public function) and without one."""

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.viz._preview import (
    PreviewPlan,
    check_preview_points,
    kept_points,
    per_set_size,
    plan_preview,
)

from .conftest import small_run

PINNACLE_SETS = [16384, 128, 128, 128, 128]  # bench_scale's run: 128 x 128 interior, four faces of 128
PLAN = dict(largest=11, budget_s=0.08)


def test_a_small_run_keeps_its_full_point_preview():
    # the reference workload costs about 0.4 ms per parameter point: 11 x 11 on every point, as before
    plan = plan_preview(resolution=41, n_dims=2, cost=4e-4, sizes=[1000], points=None, **PLAN)
    assert plan == PreviewPlan(11, None, 1000, 1000, "")
    # a 21 x 21 grid of it (0.18 s) needs no preview at all
    assert plan_preview(resolution=21, n_dims=2, cost=4e-4, sizes=[1000], points=None, **PLAN) is None
    # nothing measured yet: the largest preview, on every point
    assert plan_preview(resolution=41, n_dims=2, cost=None, sizes=[1000], points=None, **PLAN).resolution == 11


def test_a_pinnacle_size_run_previews_on_the_points_one_second_buys():
    # 0.16 s per parameter point (bench_scale's 21 x 21 grid in 70 s): 11 x 11 in 1 s keeps
    # 16896 / (0.16 * 121) = 872.7 points; the faces (128 each) stay whole, the interior keeps 872 - 512
    plan = plan_preview(resolution=21, n_dims=2, cost=0.16, sizes=PINNACLE_SETS, points=None, **PLAN)
    assert plan == PreviewPlan(11, 360, 872, 16896, "on 872 of 16896 points")
    # twice as dear per point: 1 s would buy 436 points, below the floor of 512 (at most 102 per set of the
    # five: 510), and 1 s of those buys 1 / (0.32 * 510 / 16896) = 103.5 grid points: 9 x 9, the odd square below
    plan = plan_preview(resolution=21, n_dims=2, cost=0.32, sizes=PINNACLE_SETS, points=None, **PLAN)
    assert plan == PreviewPlan(9, 102, 510, 16896, "on 510 of 16896 points")


def test_the_callers_preview_points_win_and_zero_turns_the_subset_off():
    sub = plan_preview(resolution=21, n_dims=2, cost=0.16, sizes=PINNACLE_SETS, points=1024, **PLAN)
    assert (sub.subsample, sub.kept, sub.total) == (1024, 1024 + 512, 16896)
    off = plan_preview(resolution=21, n_dims=2, cost=0.16, sizes=PINNACLE_SETS, points=0, **PLAN)
    assert off == PreviewPlan(5, None, 16896, 16896, "")  # the coarsest full-point preview
    # a subset that keeps every point is no subset
    whole = plan_preview(resolution=41, n_dims=2, cost=None, sizes=[100, 20], points=500, **PLAN)
    assert whole == PreviewPlan(11, None, 120, 120, "")
    # a fraction of each set, rounded: 25 of 100 and 5 of 20
    frac = plan_preview(resolution=41, n_dims=2, cost=None, sizes=[100, 20], points=0.25, **PLAN)
    assert (frac.subsample, frac.kept, frac.note) == (0.25, 30, "on 30 of 120 points")


def test_a_loss_that_cannot_be_cut_keeps_full_previews_and_says_so():
    why = "on all points (this loss's points cannot be subsampled)"
    # PINNacle-size in DeepXDE, 0.16 s a point: 1.5 s buys 9.4 grid points, 3 x 3 (1.44 s; 5 x 5 would be 4 s)
    plan = plan_preview(resolution=21, n_dims=2, cost=0.16, sizes=None, points=None, **PLAN)
    assert plan == PreviewPlan(3, None, None, None, why)
    # 0.05 s a point: 1.5 s buys 30, the odd square below is 5 x 5 (1.25 s)
    plan = plan_preview(resolution=21, n_dims=2, cost=0.05, sizes=None, points=None, **PLAN)
    assert plan == PreviewPlan(5, None, None, None, why)
    # a line: 1.5 s of 0.16 s points is 9 points
    plan = plan_preview(resolution=201, n_dims=1, cost=0.16, sizes=None, points=None, **PLAN)
    assert plan == PreviewPlan(9, None, None, None, why)
    # the caller's every-point request is kept as asked (no note, the usual coarsest preview)
    plan = plan_preview(resolution=21, n_dims=2, cost=0.16, sizes=None, points=0, **PLAN)
    assert plan == PreviewPlan(5, None, None, None, "")
    # small: nothing to say
    plan = plan_preview(resolution=41, n_dims=2, cost=4e-4, sizes=None, points=None, **PLAN)
    assert plan == PreviewPlan(11, None, None, None, "")


def test_a_line_preview_counts_its_points_not_their_square():
    # 1-D: 1 s buys 16896 / (0.16 * 11) = 9600 points; the faces whole, the interior 9600 - 512
    plan = plan_preview(resolution=201, n_dims=1, cost=0.16, sizes=PINNACLE_SETS, points=None, **PLAN)
    assert (plan.resolution, plan.subsample, plan.kept) == (11, 9088, 9600)


def test_per_set_size_keeps_small_sets_whole():
    assert per_set_size([1000, 10, 10], 120) == 100
    assert kept_points([1000, 10, 10], 100) == 120
    assert per_set_size([1000, 10, 10], 5) == 1  # at least one point per set
    assert kept_points([100, 3], 0.5) == 50 + 2


@pytest.mark.parametrize("good, kept", [(None, None), (False, 0), (0, 0), (1024, 1024), (0.25, 0.25)])
def test_preview_points_values(good, kept):
    assert check_preview_points(good) == kept


@pytest.mark.parametrize("bad", [-1, 1.0, 1.5, 0.0, float("nan"), True, "10%"])
def test_bad_preview_points_name_the_argument_the_value_and_what_is_allowed(bad):
    run = small_run("poisson1d", dict(n_points=64), "strong", steps=3)
    with pytest.raises(ValueError, match=r"preview_points must be None \(automatic\), 0 or False .* got") as e:
        plw.LandscapeWidget(run, compute=False, preview_points=bad)
    assert repr(bad) in str(e.value)


def _watch(w):
    """Every panel payload the widget publishes and every status line, and the preview Datasets."""
    payloads, texts, previews = [], [], []
    w.observe(lambda ch: payloads.append(dict(w.panel_data[0])), "panel_data")
    w.observe(lambda ch: texts.append(ch["new"]), "status_text")
    compute_preview = w._computer.compute_preview

    def spy(*a, **k):
        previews.append(compute_preview(*a, **k))
        return previews[-1]

    w._computer.compute_preview = spy
    return payloads, texts, previews


def test_widget_previews_a_large_run_on_a_subset_then_draws_the_full_loss():
    run = small_run("poisson1d", dict(n_points=2000, boundary="penalty"), "strong", steps=3)
    w = plw.LandscapeWidget(run, resolution=15, compute=False)
    s = w.panel_settings()[0]
    sizes = run.objective().point_set_sizes()
    total = sum(sizes)
    # as if a grid point cost 25 ms (a 5 x 5 full preview 0.62 s): 1 s of 11 x 11 buys 2002 / 3.025 = 661 points
    w._computer.cost_per_point[(s.run, s.formulation)] = 0.025
    keep = max(512, int(total / (0.025 * 121)))
    n = per_set_size(sizes, keep)
    kept = sum(min(n, m) for m in sizes)
    assert kept < total
    payloads, texts, previews = _watch(w)
    w.resolution = 21
    w.wait()
    note = f"on {kept} of {total} points"
    assert any(f"preview 11 x 11 {note} in" in t for t in texts), texts
    shown = [p for p in payloads if p.get("status") == "preview"]
    assert shown and shown[0]["points_note"] == note and shown[0]["grid_shape"] == [11, 11]
    assert previews[0].attrs["preview_points"] == note
    dirs = plw.random_directions(run, 2, seed=0)
    ref = plw.landscape(run, dirs, resolution=11, subsample=n, progress=False)
    assert previews[0].attrs["subsample_points"] == ref.attrs["subsample_points"]
    got = np.frombuffer(shown[0]["grid"], np.float32).reshape(11, 11)
    np.testing.assert_allclose(got, ref.loss.values.astype(np.float32), rtol=1e-5)
    # then the full-point surface replaces it
    full = plw.landscape(run, dirs, resolution=21, progress=False)
    assert w.status == "done" and w.panel_data[0]["grid_shape"] == [21, 21]
    assert "points_note" not in w.panel_data[0]
    np.testing.assert_allclose(
        np.frombuffer(w.panel_data[0]["grid"], np.float32).reshape(21, 21),
        full.loss.values.astype(np.float32),
        rtol=1e-5,
    )
    assert "subsample_points" not in w.datasets[0].attrs


def test_widget_preview_of_a_from_model_run_is_on_every_point_and_says_why():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    x = torch.linspace(0, 1, 40)[:, None]
    run = plw.from_model(model, lambda m: ((m(x) - x) ** 2).mean(), points=x)
    w = plw.LandscapeWidget(run, resolution=15, compute=False)
    s = w.panel_settings()[0]
    w._computer.cost_per_point[(s.run, s.formulation)] = 0.05  # large: it would have been subsampled
    payloads, texts, previews = _watch(w)
    w.resolution = 21
    w.wait()
    why = "on all points (this loss's points cannot be subsampled)"
    assert any(f"preview 5 x 5 {why} in" in t for t in texts), texts
    assert previews[0].attrs["preview_points"] == why and "subsample_points" not in previews[0].attrs
    shown = [p for p in payloads if p.get("status") == "preview"]
    ref = plw.landscape(run, plw.random_directions(run, 2, seed=0), resolution=5, progress=False)
    np.testing.assert_allclose(
        np.frombuffer(shown[0]["grid"], np.float32).reshape(5, 5), ref.loss.values.astype(np.float32), rtol=1e-5
    )
    assert w.status == "done" and w.panel_data[0]["grid_shape"] == [21, 21]


@pytest.mark.slow
def test_widget_preview_of_a_deepxde_run_is_on_a_subset_of_deepxdes_rows():
    from .test_scale import _deepxde, poisson_with_holes

    run = plw.adapters.from_deepxde(poisson_with_holes(_deepxde(), n_domain=400, n_boundary=120, width=8))
    assert run.attrs["evaluation"] == "traced"
    sizes = run.objective().point_set_sizes()  # each condition's rows, then the pde's
    total = sum(sizes)
    w = plw.LandscapeWidget(run, resolution=15, compute=False)
    s = w.panel_settings()[0]
    w._computer.cost_per_point[(s.run, s.formulation)] = 0.05  # large: 1 s of 11 x 11 buys 512 rows at least
    payloads, texts, previews = _watch(w)
    w.resolution = 21
    w.wait()
    n = per_set_size(sizes, max(512, int(total / (0.05 * 121))))
    kept = sum(min(n, m) for m in sizes)
    assert kept < total
    note = f"on {kept} of {total} points"
    assert any(f" {note} in" in t for t in texts), texts
    assert [p["points_note"] for p in payloads if p.get("status") == "preview"][:1] == [note]
    res = previews[0].sizes["alpha"]
    ref = plw.landscape(run, plw.random_directions(run, 2, seed=0), resolution=res, subsample=n, progress=False)
    assert previews[0].attrs["subsample_points"] == ref.attrs["subsample_points"]
    np.testing.assert_allclose(previews[0].loss.values, ref.loss.values, rtol=1e-6)
    assert w.status == "done" and w.panel_data[0]["grid_shape"] == [21, 21]
