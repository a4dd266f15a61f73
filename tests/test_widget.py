"""LandscapeWidget without a browser: panels, binary grids, previews, stale requests, the training replay,
the camera, save_png, errors and bad values. Numbers are checked against the engine called directly."""

import json
import math
import threading
import time
import types

import numpy as np
import pytest
import torch
import traitlets

import pinn_landscape_widget as plw
from pinn_landscape_widget.viz import _solution
from pinn_landscape_widget.viz._camera import elevation_azimuth

from .conftest import small_run


def _grid(w, k=0):
    p = w.panel_data[k]
    return np.frombuffer(p["grid"], dtype=np.float32).reshape(p["grid_shape"])


def _table(w, k=0):
    return np.frombuffer(w.panel_data[k]["trajectory"], np.float32).reshape(-1, 5)


def _until(cond, timeout=60.0):
    t = time.time()
    while not cond():
        if time.time() - t > timeout:
            raise AssertionError("timed out")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def run():
    return plw.train(
        "poisson1d", "deep_ritz", width=12, depth=2, steps=(60, 10), progress=False, coefficients=dict(n_points=128)
    )


def test_state_is_json_apart_from_binary_buffers_and_bytes_decode_to_the_engine_grid(run):
    from ipywidgets.widgets.widget import _remove_buffers

    w = plw.LandscapeWidget(run, resolution=15, seed=3).wait()
    state, paths, _ = _remove_buffers(w.get_state())
    json.dumps(state)
    assert ["panel_0", "grid"] in paths and ["panel_0", "error_grid"] in paths
    ref = plw.landscape(run, plw.random_directions(run, 2, seed=3), resolution=15, progress=False)
    np.testing.assert_array_equal(_grid(w), ref.loss.values.astype(np.float32))
    err = np.frombuffer(w.panel_data[0]["error_grid"], np.float32).reshape(15, 15)
    np.testing.assert_array_equal(err, ref.rel_l2_error.values.astype(np.float32))
    p = w.panel_data[0]
    assert p["alpha_range"] == [-1.0, 1.0] and w.status == "done" and p["status"] == "done"
    assert p["energy_reference"] == pytest.approx(-(np.pi**2) / 4) and p["z_label"] == "Deep Ritz energy E"
    assert w.panels == [
        {"run": "deep_ritz", "formulation": "deep_ritz", "direction_kind": "random", "checkpoint": None}
    ]


def test_every_direction_kind_and_the_path_on_its_plane(run):
    w = plw.LandscapeWidget(run, resolution=11).wait()
    traj = run.trajectory.double()
    losses = plw.evaluate(run, run.trajectory)["loss"].double().numpy()
    for kind in ("pca", "hessian", "interpolation", "random"):
        w.direction_kind = kind
        w.wait()
        assert w.status == "done" and w.error == "", (kind, w.error)
        assert w.panel_data[0]["grid_shape"] == ([11] if kind == "interpolation" else [11, 11])
        table = _table(w)
        assert table.shape == (len(run.trajectory_steps), 5)
        # each checkpoint's plane coordinates and distance: least squares onto centre + span(directions)
        ds = w.datasets[0]
        D = np.asarray(ds.directions.values, np.float64)
        V = (traj.numpy() - np.asarray(ds.center.values, np.float64)).T
        coef = np.linalg.lstsq(D.T, V, rcond=None)[0]
        off = np.linalg.norm(V - D.T @ coef, axis=0)
        np.testing.assert_allclose(table[:, 0], coef[0], rtol=1e-4, atol=1e-5)
        if kind != "interpolation":
            np.testing.assert_allclose(table[:, 1], coef[1], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(table[:, 3], off, rtol=1e-4, atol=1e-4 * off.max())
        np.testing.assert_allclose(table[:, 2], losses, rtol=1e-5)
        np.testing.assert_array_equal(table[:, 4], run.trajectory_steps)
    w.direction_kind = "pca"
    w.wait()
    # theta* is the PCA plane's origin: the last checkpoint sits at (0, 0) on the plane
    assert _table(w)[-1, 0] == pytest.approx(0, abs=1e-6)


def test_coarse_preview_comes_before_the_full_grid(run):
    w = plw.LandscapeWidget(run, resolution=15, compute=False)
    shapes = []
    w.observe(lambda ch: shapes.append((tuple(w.panel_data[0]["grid_shape"]), w.panel_data[0]["status"])), "panel_data")
    w.resolution = 41
    w.wait()
    drawn = [s for s in shapes if s[0]]
    assert drawn[0] == ((11, 11), "preview")
    assert drawn[-1] == ((41, 41), "done") and w.status == "done"


def test_preview_gets_coarser_when_points_are_costly(run):
    w = plw.LandscapeWidget(run, resolution=15, compute=False)
    s = w.panel_settings()[0].at_resolution(41)
    comp = w._computer
    assert comp.preview_plan(s, 11, 0.08).resolution == 11  # nothing measured yet
    comp.cost_per_point[(s.run, s.formulation)] = 0.08 / 49  # 49 points fill the budget: 7 x 7
    assert comp.preview_plan(s, 11, 0.08).resolution == 7
    comp.cost_per_point[(s.run, s.formulation)] = 1.0  # a huge network: the coarsest preview
    shapes = []
    w.observe(lambda ch: shapes.append(tuple(w.panel_data[0]["grid_shape"])), "panel_data")
    w.resolution = 41
    w.wait()
    drawn = [s for s in shapes if s]
    assert drawn[0] == (5, 5) and drawn[-1] == (41, 41)


def test_newer_request_supersedes_older_and_stale_results_are_never_drawn(run, monkeypatch):
    w = plw.LandscapeWidget(run, resolution=15, compute=False)
    drawn = []
    w.observe(lambda ch: drawn.append((w.seed, w.panel_data[0].get("grid", b""))), "panel_data")
    gate = threading.Event()
    import pinn_landscape_widget.viz._slices as slices

    real = slices.landscape

    def slow_landscape(*args, **kwargs):  # hold the first request until the second has been made
        gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(slices, "landscape", slow_landscape)
    with w.hold_trait_notifications():
        w.seed = 1
    first = w.last_future
    w.seed = 2
    second = w.last_future
    gate.set()
    second.result(60)
    assert first.result(60) is None  # abandoned
    ref = real(run, plw.random_directions(run, 2, seed=2), resolution=15, progress=False)
    grids = [(seed, g) for seed, g in drawn if g]
    assert grids and all(seed == 2 for seed, _ in grids)
    np.testing.assert_array_equal(np.frombuffer(grids[-1][1], np.float32).reshape(15, 15), ref.loss.values)


def test_full_grids_wait_for_the_view_to_draw_the_previews_it_was_sent(run, monkeypatch):
    """With a view attached, the full grid starts only when the view reports the preview's serial drawn (a
    redraw of older state, serial 0, does not count), or after PREVIEW_DRAW_WAIT_S."""
    import pinn_landscape_widget.viz.widget as widget_mod

    monkeypatch.setattr(widget_mod, "PREVIEW_DRAW_WAIT_S", 30.0)
    w = plw.LandscapeWidget(run, resolution=41, compute=False)
    w._on_front_end_message(w, {"type": "ping"}, [])
    assert w._has_view
    statuses = []
    w.observe(lambda ch: statuses.append(ch["new"][0]["status"]), "panel_data")
    fut = w.request()
    _until(lambda: "preview" in statuses)
    serial = w.panel_data[0]["serial"]
    assert serial >= 1 and w.panel_data[0]["grid_shape"][0] < 41
    w._on_front_end_message(w, {"type": "drawn", "serials": [0]}, [])  # an older picture redrawn
    time.sleep(1.0)
    assert not fut.done() and statuses[-1] == "preview"  # still waiting for the preview to be drawn
    w._on_front_end_message(w, {"type": "drawn", "serials": [serial]}, [])
    fut.result(60)
    assert statuses[-1] == "done" and w.panel_data[0]["grid_shape"] == [41, 41]
    assert "serial" not in w.panel_data[0]  # full grids carry none


def test_failed_computation_shows_message_and_next_request_works():
    short = plw.train(
        plw.get_problem("poisson1d", n_points=32),
        "strong",
        width=6,
        depth=1,
        steps=2,
        record_every=1,
        progress=False,
    )
    w = plw.LandscapeWidget(short, resolution=9).wait()
    before = _grid(w).copy()
    w.direction_kind = "pca"  # 3 checkpoints: too few for a 2-D PCA
    w.wait()
    assert w.status == "error" and "pca_directions(n=2) needs a trajectory of at least 4 checkpoints" in w.error
    assert w.panel_data[0]["status"] == "error" and "pca_directions" in w.panel_data[0]["message"]
    np.testing.assert_array_equal(_grid(w), before)  # the last good picture stays
    w.direction_kind = "random"
    w.seed = 5
    w.wait()
    assert w.status == "done" and w.error == "" and w.panel_data[0]["status"] == "done"


@pytest.mark.parametrize(
    "name,value,match",
    [
        ("resolution", -3, r"resolution must be an integer in \[3, 1025\], got -3"),
        ("zoom", 0.0, r"zoom must be a finite number > 0 \(a factor on the directions' default extent\), got 0.0"),
        ("seed", -1, r"seed must be an integer >= 0, got -1"),
        ("direction_kind", "eigen", r"direction_kind must be one of \['random', 'pca', 'hessian', 'interpolation'\]"),
        ("formulation", "weak", r"formulation must be one of \['strong', 'deep_ritz'\], got 'weak'"),
        ("z_scale", "sqrt", r"z_scale must be one of \['linear', 'log'\], got 'sqrt'"),
        ("panels", [{"run": "nope"}], r"panels\[0\]\['run'\] must be one of \['deep_ritz'\], got 'nope'"),
        ("panels", [{"formulation": "weak"}], r"panels\[0\]\['formulation'\] must be one of \['strong', 'deep_ritz'\]"),
        ("panels", [{"direction_kind": "x"}], r"panels\[0\]\['direction_kind'\] must be one of"),
        ("panels", [{"checkpoint": 10_000}], r"panels\[0\]\['checkpoint'\] must be None .* an integer in \[0, \d+\]"),
        ("panels", [{"colour": "red"}], r"panels\[0\] has unknown key 'colour'"),
        ("panels", [], r"panels must be a list of 1 to 6"),
        ("panels", [{}] * 7, r"panels must be a list of 1 to 6 .* got 7 panels"),
        ("panels", 5, r"'panels' trait .* expected a list, not the int 5"),
        ("trajectory_step", 10_000, r"trajectory_step must be an integer in \[0, \d+\] .* got 10000"),
        ("trajectory_step", -1, r"trajectory_step must be an integer in \[0, \d+\]"),
        ("camera", {"position": [math.nan, 1, 2], "target": [0, 0, 0]}, r"camera\['position'\] must be 3 finite"),
        ("camera", {"position": [1, 2, 3]}, r"camera must have exactly the keys \['position', 'target'\]"),
        ("camera", {"position": [1, 2, 3], "target": [1, 2, 3]}, r"camera position and target must differ"),
    ],
)
def test_invalid_values_from_python_raise_and_leave_the_widget_as_it_was(run, name, value, match):
    w = plw.LandscapeWidget(run, resolution=9).wait()
    old = getattr(w, name)
    data = w.panel_data
    with pytest.raises(traitlets.TraitError, match=match):
        setattr(w, name, value)
    assert getattr(w, name) == old and w.panel_data == data
    w.seed = 4  # and it keeps working
    w.wait()
    ref = plw.landscape(run, plw.random_directions(run, 2, seed=4), resolution=9, progress=False)
    np.testing.assert_array_equal(_grid(w), ref.loss.values.astype(np.float32))


def test_invalid_value_from_the_front_end_is_shown_and_put_back(run):
    w = plw.LandscapeWidget(run, resolution=9).wait()
    sent = []
    w.send_state = lambda key=None: sent.append(key)
    panels = w.panels
    w.set_state({"panels": [{"run": "deep_ritz", "formulation": "ritz"}]})
    assert w.panels == panels and "panels[0]['formulation'] must be one of" in w.error
    assert ["panels"] in sent  # the view is told Python's value again
    w.set_state({"trajectory_step": 3})
    assert w.trajectory_step == 3


def test_cache_makes_going_back_instant(run):
    w = plw.LandscapeWidget(run, resolution=21, seed=0).wait()
    g0 = w.panel_data[0]["grid"]
    w.seed = 1
    w.wait()
    t = time.perf_counter()
    w.seed = 0
    w.wait()
    assert time.perf_counter() - t < 0.2
    assert w.panel_data[0]["grid"] == g0


def test_click_computes_the_solution_at_that_point(run):
    w = plw.LandscapeWidget(run, resolution=9).wait()
    w.selected_point = [0.5, -0.25, 0]
    _until(lambda: w.solution)
    sol = w.solution
    assert sol["dims"] == ["x"] and sol["unknowns"] == ["u"] and sol["coords"]["x"] == [0.0, 1.0, 201]
    rows = np.frombuffer(sol["values"], np.float32).reshape(1, 3, 201)
    d = plw.random_directions(run, 2, seed=0)
    theta = run.params + 0.5 * d.vectors[0] - 0.25 * d.vectors[1]
    x = torch.linspace(0, 1, 201, dtype=torch.float64)[:, None]
    ref = run.model_at(theta)(x.float()).detach().numpy().reshape(-1)
    np.testing.assert_allclose(rows[0, 0], ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rows[0, 1], np.sin(np.pi * x[:, 0].numpy()), atol=1e-6)
    np.testing.assert_allclose(rows[0, 2], rows[0, 0] - rows[0, 1], atol=1e-6)
    assert "rel. L2 error" in sol["title"] and sol["has_exact"]


def test_two_coordinate_problem_solution_is_a_grid_over_both():
    r = small_run("poisson2d", dict(n_points=64), "strong")
    w = plw.LandscapeWidget(r, resolution=7).wait()
    w.selected_point = [0.0, 0.0, 0]
    _until(lambda: w.solution)
    sol = w.solution
    assert sol["dims"] == ["x", "y"] and sol["coords"]["x"][2] == 64 and sol["coords"]["y"][2] == 64
    vals = np.frombuffer(sol["values"], np.float32).reshape(1, 3, 64, 64)
    xs = torch.linspace(*sol["coords"]["x"][:2], 64, dtype=torch.float64)
    ys = torch.linspace(*sol["coords"]["y"][:2], 64, dtype=torch.float64)
    X, Y = torch.meshgrid(xs, ys, indexing="ij")
    pts = torch.stack([X.reshape(-1), Y.reshape(-1)], 1)
    u = r.model_at(r.params)(pts.float()).detach().numpy().reshape(64, 64)
    np.testing.assert_allclose(vals[0, 0], u, rtol=1e-5, atol=1e-6)
    exact = r.problem.exact(pts).numpy().reshape(64, 64)
    np.testing.assert_allclose(vals[0, 1], exact, rtol=1e-5, atol=1e-6)


def test_dataset_input_computes_nothing_and_nan_is_reported():
    r = small_run("poisson1d", dict(n_points=64), "strong")
    ds = plw.landscape(r, plw.random_directions(r, 2, normalization="none"), span=1e30, resolution=5, progress=False)
    w = plw.LandscapeWidget(ds)
    assert not w.interactive and w.panel_data[0]["grid_shape"] == [5, 5]
    assert "non-finite point(s)" in w.status_text
    assert not np.isfinite(_grid(w)).all()
    assert w.replay_reason.startswith("no replay")


def test_labelled_runs_switch_with_run_label():
    a = small_run("poisson1d", dict(n_points=64), "strong")
    b = small_run("poisson1d", dict(n_points=64), "deep_ritz")
    w = plw.LandscapeWidget({"strong": a, "deep_ritz": b}, resolution=7, compare=False).wait()
    assert w.run_labels == ["strong", "deep_ritz"] and w.panel_data[0]["z_label"] == "strong-form loss"
    w.run_label = "deep_ritz"
    w.formulation = "deep_ritz"
    w.wait()
    assert w.panels[0]["run"] == "deep_ritz" and w.panel_data[0]["z_label"] == "Deep Ritz energy E"


def test_side_by_side_runs_use_the_same_direction_settings():
    a = small_run("poisson1d", dict(n_points=64), "strong")
    b = small_run("poisson1d", dict(n_points=64), "deep_ritz")
    w = plw.LandscapeWidget({"strong": a, "deep_ritz": b}, resolution=7, seed=4).wait()
    assert [p["run"] for p in w.panels] == ["strong", "deep_ritz"]  # two labelled runs: side by side
    ref = plw.landscape(b, plw.random_directions(b, 2, seed=4), resolution=7, progress=False)
    np.testing.assert_array_equal(_grid(w, 1), ref.loss.values.astype(np.float32))
    assert w.panel_data[1]["z_label"] == "Deep Ritz energy E" and w.panel_data[1]["title"].startswith("deep_ritz:")
    w.panels = w.panels[:1]
    w.wait()
    assert len(w.panel_data) == 1


def test_side_by_side_formulations_of_one_run_share_parameter_points(run):
    w = plw.LandscapeWidget(run, resolution=9, compare=True).wait()
    d = plw.random_directions(run, 2, seed=0)
    strong = plw.landscape(run, d, resolution=9, formulation="strong", progress=False)
    np.testing.assert_array_equal(_grid(w, 1), strong.loss.values.astype(np.float32))
    assert w.panel_data[0]["z_label"] == "Deep Ritz energy E" and w.panel_data[1]["z_label"] == "strong-form loss"


def test_three_panels_each_match_the_engine(run):
    k = 4
    panels = [
        "deep_ritz",
        {"formulation": "strong", "direction_kind": "pca"},
        {"direction_kind": "random", "checkpoint": k},
    ]
    w = plw.LandscapeWidget(run, panels=panels, resolution=9, seed=2).wait()
    assert [p["direction_kind"] for p in w.panels] == ["random", "pca", "random"]
    assert w.panels[2]["checkpoint"] == k and w.panels[1]["formulation"] == "strong"
    rnd = plw.random_directions(run, 2, seed=2)
    refs = [
        plw.landscape(run, rnd, resolution=9, progress=False),
        plw.landscape(run, plw.pca_directions(run), resolution=9, formulation="strong", progress=False),
        plw.landscape(run, rnd, resolution=9, center=run.trajectory[k], progress=False),
    ]
    for i, ref in enumerate(refs):
        np.testing.assert_allclose(_grid(w, i), ref.loss.values.astype(np.float32), rtol=1e-6, atol=1e-7)
    assert "centred at checkpoint 4" in w.panel_data[2]["title"]
    # a panel added later computes only itself; removing one keeps the others' numbers
    before = [p["grid"] for p in w.panel_data]
    w.panels = [*w.panels, {"direction_kind": "hessian"}]
    w.wait()
    assert [p["grid"] for p in w.panel_data[:3]] == before and w.panel_data[3]["direction_kind"] == "hessian"
    w.panels = [w.panels[0], w.panels[3]]
    w.wait()
    assert w.panel_data[0]["grid"] == before[0] and w.panel_data[1]["direction_kind"] == "hessian"


def test_replay_carries_each_checkpoints_solution_within_the_size_limit(run):
    w = plw.LandscapeWidget(run, resolution=7).wait()
    _until(lambda: run.formulation in w.replay)
    rep = w.replay[run.formulation]
    T = run.trajectory.shape[0]
    assert rep["steps"] == list(run.trajectory_steps) and rep["reason"] == ""
    frames = rep["frames"]
    assert frames[0] == 0 and frames[-1] == T - 1 and len(frames) <= _solution.REPLAY_MAX_FRAMES
    u = np.frombuffer(rep["u"], np.float32).reshape(len(frames), 1, 201)
    assert len(rep["u"]) <= _solution.REPLAY_MAX_BYTES
    x = torch.linspace(0, 1, 201, dtype=torch.float64)[:, None]
    for j in (0, len(frames) // 2, len(frames) - 1):
        ref = run.model_at(run.trajectory[frames[j]])(x.float()).detach().numpy().reshape(-1)
        np.testing.assert_allclose(u[j, 0], ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.frombuffer(rep["exact"], np.float32), np.sin(np.pi * x[:, 0].numpy()), atol=1e-6)
    err = np.frombuffer(rep["rel_l2_error"], np.float32)
    final = float(plw.evaluate(run, run.trajectory[-1])["rel_l2_error"][0])
    assert err[-1] == pytest.approx(final, rel=1e-5)
    hist = np.frombuffer(rep["history_loss"], np.float32)
    np.testing.assert_allclose(hist[-1], run.history.loss.values[-1], rtol=1e-6)
    # the replay starts at the end (the trained parameters) and Python can drive it
    assert w.trajectory_step == T - 1
    w.trajectory_step = 0
    assert w.trajectory_step == 0


def test_replay_frames_thin_out_evenly_and_keep_both_ends():
    assert _solution.replay_frames(5, 100) == [0, 1, 2, 3, 4]
    frames = _solution.replay_frames(1001, 804)
    assert frames[0] == 0 and frames[-1] == 1000 and len(frames) == _solution.REPLAY_MAX_FRAMES
    assert np.ptp(np.diff(frames)) <= 1  # evenly spaced
    big = _solution.replay_frames(1001, 40 * 40 * 4 * 3)  # a 3-unknown 2-D system: the byte budget rules
    assert len(big) == _solution.REPLAY_MAX_BYTES // (40 * 40 * 4 * 3)


class DuckRun:
    """A run made some other way: only the public attributes, no TrainResult anywhere."""

    def __init__(self, base, trajectory=None, steps=None):
        self._base = base
        self.formulations = ["strong"]
        self.formulation = "strong"
        self.problem = base.problem
        self.params = base.params
        self.dtype = base.dtype
        self.n_params = base.n_params
        self.trajectory = trajectory
        self.trajectory_steps = steps
        self.history = base.history
        self.net = base.net  # the engine's random directions and landscape attrs read it (lead's contract)

    def objective(self, *args, **kwargs):
        return self._base.objective(*args, **kwargs)

    def model_at(self, params):
        return self._base.model_at(params)


def test_any_run_by_duck_typing_and_a_run_without_a_trajectory_disables_the_replay():
    base = small_run("poisson1d", dict(n_points=64), "strong")
    duck = DuckRun(base, trajectory=base.params[None].clone(), steps=[0])
    w = plw.LandscapeWidget({"mine": duck}, resolution=7).wait()
    assert w.status == "done" and w.formulations == ["strong"]
    ref = plw.landscape(base, plw.random_directions(base, 2), resolution=7, progress=False)
    np.testing.assert_array_equal(_grid(w), ref.loss.values.astype(np.float32))
    assert w.replay_reason == "no replay: run 'mine' recorded 1 checkpoint (a replay needs at least 2 checkpoints)"
    assert w.panel_data[0]["trajectory"] == b""
    with pytest.raises(traitlets.TraitError, match=r"trajectory_step must be an integer in \[0, 0\]"):
        w.trajectory_step = 1
    none = DuckRun(base)
    w2 = plw.LandscapeWidget(none, resolution=7).wait()
    assert "recorded no trajectory" in w2.replay_reason and w2.status == "done"
    w2.direction_kind = "interpolation"
    w2.wait()
    assert w2.status == "error" and "recorded no trajectory" in w2.error
    with pytest.raises(ValueError, match="needs a run .* got int"):
        plw.LandscapeWidget(3)


def test_camera_is_kept_and_converts_to_matplotlib_angles(run):
    w = plw.LandscapeWidget(run, resolution=7, compute=False)
    w.camera = {"position": [1, 0, 0], "target": [0, 0, 0]}
    assert w.camera == {"position": [1.0, 0.0, 0.0], "target": [0.0, 0.0, 0.0]}
    assert elevation_azimuth(w.camera) == pytest.approx((0.0, 0.0))
    assert elevation_azimuth({"position": [0, -1, 1.5], "target": [0, 0, 0.5]}) == pytest.approx((45.0, -90.0))
    w.camera = {}
    assert elevation_azimuth(w.camera) == (30.0, -55.0)


def test_save_png_without_a_view_draws_with_matplotlib_and_bad_paths_are_errors(run, tmp_path):
    from matplotlib.image import imread

    w = plw.LandscapeWidget(run, resolution=9, compare=True).wait()
    out = w.save_png(tmp_path / "view.png").result(60)
    img = imread(out)
    assert img.shape[1] > img.shape[0] > 200 and np.std(img[..., :3]) > 0.05
    with pytest.raises(ValueError, match="folder that does not exist"):
        w.save_png(tmp_path / "missing" / "x.png")
    with pytest.raises(ValueError, match="must be a file, got the directory"):
        w.save_png(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        import os

        if not os.access(locked, os.W_OK):  # root may write anywhere
            with pytest.raises(ValueError, match="is not writable"):
                w.save_png(locked / "x.png")
    finally:
        locked.chmod(0o700)
    w.seed = 1  # still working
    w.wait()
    assert w.status == "done"


def test_save_png_through_a_view_writes_what_the_view_sends(run, tmp_path):
    w = plw.LandscapeWidget(run, resolution=7).wait()
    sent = []
    w.send = lambda content, buffers=None: sent.append(content)
    w._on_front_end_message(w, {"type": "ping"}, [])
    fut = w.save_png(tmp_path / "front.png", scale=2)
    req = sent[-1]
    assert req["type"] == "save_png" and req["scale"] == 2 and not fut.done()
    png = b"\x89PNG\r\n\x1a\n" + b"fake-body"
    w._on_front_end_message(w, {"type": "png", "id": req["id"], "width": 10, "height": 8}, [memoryview(png)])
    assert fut.result(5) == tmp_path / "front.png" and (tmp_path / "front.png").read_bytes() == png
    # no answer in time: matplotlib draws it instead
    fut2 = w.save_png(tmp_path / "late.png", timeout=0.1)
    assert fut2.result(60).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_precompute_carries_every_direction_kind_and_the_replay_for_pages_without_a_kernel(run):
    w = plw.LandscapeWidget(run, resolution=9, compare=False).wait()
    w.precompute(("direction_kind",))
    assert w.static_choices == ["direction_kind"]
    slices = {json.loads(k)[1]: v for k, v in w.static_slices.items()}
    assert set(slices) == {"random", "pca", "hessian", "interpolation"}
    assert run.formulation in w.replay and w.replay[run.formulation]["frames"]
    # the current slice is what the widget draws; another one is what the engine computes independently
    assert slices["random"]["grid"] == w.panel_data[0]["grid"]
    ref = plw.landscape(run, plw.hessian_directions(run, 2, "largest"), span=w.zoom, resolution=9, progress=False)
    hess = np.frombuffer(slices["hessian"]["grid"], np.float32).reshape(slices["hessian"]["grid_shape"])
    np.testing.assert_allclose(hess, ref.loss.values.astype(np.float32), rtol=1e-6, atol=1e-7)
    assert "hessian directions" in slices["hessian"]["title"]
    from ipywidgets.widgets.widget import _remove_buffers

    state, paths, buffers = _remove_buffers(w.get_state())
    json.dumps(state)
    key = json.dumps(["deep_ritz", "pca", "deep_ritz", None], separators=(",", ":"))
    assert ["static_slices", key, "grid"] in paths and ["replay", "deep_ritz", "u"] in paths
    with pytest.raises(ValueError, match="choices may name"):
        w.precompute(("seed",))
    with pytest.raises(ValueError, match="needs training runs"):
        plw.LandscapeWidget(plw.landscape(run, resolution=5, progress=False)).precompute()


def test_kernel_answers_the_views_liveness_ping(run):
    w = plw.LandscapeWidget(run, resolution=5, compute=False)
    sent = []
    w.send = lambda content, buffers=None: sent.append(content)
    w._on_front_end_message(w, {"type": "ping"}, [])
    w._on_front_end_message(w, {"type": "something else"}, [])
    assert sent == [{"type": "pong"}]


def test_viz_never_asks_how_a_run_was_made():
    from pathlib import Path

    viz = Path(plw.__file__).parent / "viz"
    for path in viz.glob("*.py"):
        text = path.read_text()
        assert "TrainResult" not in text and "init_params" not in text, path.name
        assert ".model_at(" not in text, path.name  # solutions come from plw.solution_snapshot only


def test_plot_draws_solutions_of_one_and_two_coordinates_and_systems():
    import matplotlib

    matplotlib.use("Agg")
    r1 = small_run("poisson1d", dict(n_points=64), "strong")
    fig = plw.plot(r1)  # a run: its trained solution
    snap = plw.solution_snapshot(r1)
    top = fig.axes[0]
    np.testing.assert_allclose(top.lines[0].get_ydata(), snap.u.values)
    np.testing.assert_allclose(top.lines[1].get_ydata(), snap.u_exact.values)
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), snap.u_error.values)
    r2 = small_run("convection1d", dict(n_points=64, beta=10.0), "strong")
    s2 = plw.solution_snapshot(r2, resolution=16)
    fig2 = plw.plot(s2)
    images = [ax.images[0] for ax in fig2.axes if ax.images]
    assert len(images) == 3  # u_theta, exact, error
    np.testing.assert_allclose(images[0].get_array(), s2.u.values.T)
    np.testing.assert_allclose(images[2].get_array(), s2.u_error.values.T)
    assert [ax.get_xlabel() for ax in fig2.axes if ax.images] == ["x"] * 3
    # a system of unknowns (the contract the lead's problems follow), here a small fake snapshot
    import xarray as xr

    g = np.linspace(0, 1, 5)
    sys_ds = xr.Dataset(
        {
            "u": (("x", "t"), np.outer(g, g)),
            "v": (("x", "t"), np.outer(g, 1 - g)),
            "v_exact": (("x", "t"), np.outer(g, 1 - g) + 0.1),
            "v_error": (("x", "t"), -0.1 * np.ones((5, 5))),
            "u_exact": (("x", "t"), np.outer(g, g)),
            "u_error": (("x", "t"), np.zeros((5, 5))),
        },
        coords={"x": g, "t": g},
        attrs={"unknowns": json.dumps(["u", "v"]), "rel_l2_error": 0.1, "problem": "fake"},
    )
    fig3 = plw.plot(sys_ds, unknown="v")
    np.testing.assert_allclose([ax for ax in fig3.axes if ax.images][0].images[0].get_array(), sys_ds.v.values.T)
    with pytest.raises(ValueError, match=r"unknown must be one of \['u', 'v'\], got 'p'"):
        plw.plot(sys_ds, unknown="p")


def test_solution_payload_of_a_system_stacks_every_unknown(monkeypatch):
    import xarray as xr

    g = np.linspace(0, 1, 4)
    fake = xr.Dataset(
        {
            "u": (("x",), g),
            "u_exact": (("x",), g),
            "u_error": (("x",), 0 * g),
            "p": (("x",), 2 * g),
            "p_exact": (("x",), g),
            "p_error": (("x",), g),
        },
        coords={"x": g},
        attrs={"unknowns": json.dumps(["u", "p"]), "rel_l2_error": 0.5},
    )
    monkeypatch.setattr(_solution, "solution_snapshot", lambda run, params, **kw: fake)
    sol = _solution.point_solution(types.SimpleNamespace(), None, title="t", panel=1, point=[0.1, 0.2])
    vals = np.frombuffer(sol["values"], np.float32).reshape(2, 3, 4)
    np.testing.assert_allclose(vals[1], [2 * g, g, g])
    assert sol["unknowns"] == ["u", "p"] and sol["panel"] == 1 and sol["coords"] == {"x": [0.0, 1.0, 4]}


# ---- zoom: one meaning for every direction kind, and span as its old name ----------------------------------
@pytest.mark.parametrize("kind", ["random", "pca", "interpolation"])
def test_zoom_scales_the_directions_default_extent_as_landscape_span_does(run, kind):
    zoom = 0.4
    w = plw.LandscapeWidget(run, direction_kind=kind, zoom=zoom, resolution=7).wait()
    assert w.status == "done", w.error
    if kind == "random":
        dirs = plw.random_directions(run, 2, seed=0)
        assert dirs.default_span == 1.0  # so zoom reads as the half-width it was called before
    elif kind == "pca":
        dirs = plw.pca_directions(run, 2)
        assert dirs.default_span != 1.0  # the trajectory's extent: zoom is a factor on it
    else:
        dirs = plw.interpolation_direction(run.trajectory[0], run.params)
        assert dirs.default_span == (-0.5, 1.5)
    if kind == "interpolation":  # zoom about the range's centre 0.5, half-width 1
        lo, hi = 0.5 - zoom, 0.5 + zoom
        span = (lo, hi)
    else:
        span = dirs.default_span * zoom
        lo, hi = -span, span
    ds = w.datasets[0]
    np.testing.assert_allclose(ds.alpha.values, np.linspace(lo, hi, 7), rtol=0, atol=1e-12)
    if kind != "interpolation":
        np.testing.assert_allclose(ds.beta.values, np.linspace(lo, hi, 7), rtol=0, atol=1e-12)
    assert w.panel_data[0]["alpha_range"] == pytest.approx([lo, hi], abs=1e-12)
    ref = plw.landscape(run, dirs, span=span, resolution=7, progress=False)
    np.testing.assert_array_equal(ds.alpha.values, ref.alpha.values)
    np.testing.assert_allclose(_grid(w), ref.loss.values.astype(np.float32), rtol=1e-6, atol=1e-7)
    # changing the trait recomputes: twice the zoom, twice the extent about the same centre
    w.zoom = 2 * zoom
    w.wait()
    a = w.datasets[0].alpha.values
    np.testing.assert_allclose([a[0], a[-1]], [(lo + hi) / 2 - (hi - lo), (lo + hi) / 2 + (hi - lo)], atol=1e-12)


def test_span_is_zooms_old_name_for_one_release(run):
    with pytest.warns(FutureWarning, match=r"LandscapeWidget\(span=\.\.\.\) is deprecated .* use zoom= instead"):
        old = plw.LandscapeWidget(run, span=0.5, resolution=7).wait()
    new = plw.LandscapeWidget(run, zoom=0.5, resolution=7).wait()
    assert old.zoom == 0.5 and old.panel_data[0]["alpha_range"] == [-0.5, 0.5]
    np.testing.assert_array_equal(_grid(old), _grid(new))
    with pytest.warns(FutureWarning, match=r"LandscapeWidget.span is deprecated .* use zoom instead"):
        assert old.span == 0.5
    with pytest.warns(FutureWarning, match=r"use zoom instead"):
        old.span = 0.25
    old.wait()
    assert old.zoom == 0.25 and old.panel_data[0]["alpha_range"] == [-0.25, 0.25]
    with pytest.raises(TypeError, match=r"LandscapeWidget\(\) got both span= \(the old name\) and zoom="):
        plw.LandscapeWidget(run, span=0.5, zoom=0.5, compute=False)
    # a view, or saved state, from before the rename sends span: it sets zoom
    new.set_state({"span": 0.75})
    new.wait()
    assert new.zoom == 0.75 and new.panel_data[0]["alpha_range"] == [-0.75, 0.75]
    assert "span" not in new.keys and "zoom" in new.keys


def test_unknown_keyword_is_an_error_naming_it(run):
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) \['colour'\]; .* 'colormap'"):
        plw.LandscapeWidget(run, colour="magma", compute=False)
    w = plw.LandscapeWidget(run, colormap="magma", z_scale="linear", title="t", compute=False)
    assert (w.colormap, w.z_scale, w.title) == ("magma", "linear", "t")


# ---- nothing fails silently --------------------------------------------------------------------------------
def test_precompute_carries_a_slice_it_cannot_compute_as_an_error_that_says_why(caplog):
    short = plw.train(
        "poisson1d",
        "strong",
        width=6,
        depth=1,
        steps=2,
        record_every=1,
        progress=False,
        coefficients=dict(n_points=32),
    )
    w = plw.LandscapeWidget(short, resolution=5).wait()
    with caplog.at_level("WARNING", logger="pinn_landscape_widget.viz.widget"):
        w.precompute("direction_kind")
    slices = {json.loads(k)[1]: v for k, v in w.static_slices.items()}
    assert set(slices) == {"random", "pca", "hessian", "interpolation"}
    why = "pca_directions(n=2) needs a trajectory of at least 4 checkpoints"
    assert slices["pca"]["status"] == "error" and why in slices["pca"]["message"] and not slices["pca"]["grid_shape"]
    assert slices["random"]["grid"] == w.panel_data[0]["grid"]  # the others are there
    assert "precomputed 3 slices; 1 could not be computed" in w.status_text and why in w.status_text
    assert any("pca" in r.getMessage() and why in r.getMessage() for r in caplog.records)
    state = w.export_state(("direction_kind",))
    assert why in state["status_text"] and state["static_slices"] == w.static_slices


def test_a_replay_that_fails_is_logged_and_said(run, caplog, monkeypatch):
    w = plw.LandscapeWidget(run, resolution=5, compute=False)

    def boom(label, should_stop=None):
        raise RuntimeError("no solution today")

    monkeypatch.setattr(w._replays, "build", boom)
    with caplog.at_level("WARNING", logger="pinn_landscape_widget.viz.widget"):
        w.request()
        w.wait()
    assert w.status == "done"  # the grids are drawn
    assert w.replay_reason == "no replay: computing it failed (RuntimeError: no solution today)"
    assert any("replay was not built (RuntimeError: no solution today)" in r.getMessage() for r in caplog.records)


def test_display_bundle_says_why_its_png_lacks_panels(run, caplog):
    from concurrent.futures import Future

    w = plw.LandscapeWidget(run, resolution=5, compute=False)
    failed: Future = Future()
    failed.set_exception(TimeoutError("still computing"))
    w.last_future = failed
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="pinn_landscape_widget.viz.widget"):
        data, _ = w._repr_mimebundle_()
    assert time.monotonic() - started < 5  # the grids' own failure is not the wait's timeout
    assert "application/vnd.jupyter.widget-view+json" in data and "image/png" not in data
    assert any(
        "has no landscape: computing them failed (TimeoutError: still computing)" in r.getMessage()
        for r in caplog.records
    )


def test_method_arguments_are_checked(run, tmp_path):
    w = plw.LandscapeWidget(run, resolution=5).wait()
    with pytest.raises(ValueError, match=r"scale must be an integer in \[1, 4\], got 7"):
        w.save_png(tmp_path / "x.png", scale=7)
    with pytest.raises(ValueError, match=r"timeout must be a finite number > 0, got 0"):
        w.save_png(tmp_path / "x.png", timeout=0)
    with pytest.raises(ValueError, match=r"timeout must be a finite number > 0, got -1"):
        w.wait(-1)
    with pytest.raises(ValueError, match=r"choices may name \['run_label', 'direction_kind', 'formulation'\]"):
        w.export_state(("zoom",))
    with pytest.raises(ValueError, match=r"choices must be a list of names from .* got 3"):
        w.precompute(3)
