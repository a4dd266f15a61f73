"""LandscapeWidget without a browser: traits, binary grids, stale requests, errors, bad values."""

import json
import threading
import time

import numpy as np
import pytest
import torch
import traitlets

import pinn_landscape_widget as plw

from .conftest import small_run


def _grid(w):
    return np.frombuffer(w.grid, dtype=np.float32).reshape(w.grid_shape)


@pytest.fixture(scope="module")
def run():
    return plw.train(
        "poisson1d", "deep_ritz", width=12, depth=2, steps=(60, 10), progress=False, problem_params=dict(n_points=128)
    )


def test_state_is_json_apart_from_binary_buffers_and_bytes_decode_to_the_engine_grid(run):
    w = plw.LandscapeWidget(run, resolution=15, seed=3).wait()
    state = w.get_state()
    binary = {k for k, v in state.items() if isinstance(v, (bytes, memoryview))}
    assert binary == {"grid", "error_grid", "trajectory", "solution", "grid2", "error_grid2", "trajectory2"}
    json.dumps({k: v for k, v in state.items() if k not in binary})
    ref = plw.landscape(run, plw.random_directions(run, 2, seed=3), resolution=15, progress=False)
    np.testing.assert_array_equal(_grid(w), ref.loss.values.astype(np.float32))
    np.testing.assert_array_equal(
        np.frombuffer(w.error_grid, np.float32).reshape(15, 15), ref.rel_l2_error.values.astype(np.float32)
    )
    assert w.alpha_range == [-1.0, 1.0] and w.status == "done"
    assert w.energy_reference == pytest.approx(-(np.pi**2) / 4) and w.z_label == "Deep Ritz energy E"


def test_every_direction_kind_and_the_trajectory(run):
    w = plw.LandscapeWidget(run, resolution=11).wait()
    for kind in ("pca", "hessian", "interpolation", "random"):
        w.direction_kind = kind
        w.wait()
        assert w.status == "done" and w.error == "", (kind, w.error)
        assert w.grid_shape == ([11] if kind == "interpolation" else [11, 11])
        if kind == "pca":
            traj = np.frombuffer(w.trajectory, np.float32).reshape(-1, 3)
            assert traj.shape[0] == len(run.trajectory_steps)
            # the last checkpoint is theta*, the origin of the plane, with the trained loss
            assert traj[-1, 0] == pytest.approx(0, abs=1e-6)
            assert traj[-1, 2] == pytest.approx(float(plw.evaluate(run, run.params)["loss"][0]), rel=1e-6)


def test_coarse_preview_comes_before_the_full_grid(run):
    w = plw.LandscapeWidget(run, resolution=15, compute=False)
    shapes = []
    w.observe(lambda ch: shapes.append((tuple(w.grid_shape), w.status)), "grid")
    w.resolution = 41
    w.wait()
    assert shapes[0] == ((11, 11), "preview")
    assert shapes[-1][0] == (41, 41) and w.status == "done"


def test_preview_gets_coarser_when_points_are_costly(run):
    w = plw.LandscapeWidget(run, resolution=15, compute=False)
    settings = w.settings()
    assert w._preview_resolution(settings) == 11  # nothing measured yet
    w._cost_per_point[(settings[0], settings[2])] = 0.08 / 49  # 49 points fill the budget: 7 x 7
    assert w._preview_resolution(settings) == 7
    w._cost_per_point[(settings[0], settings[2])] = 1.0  # a huge network: the coarsest preview
    assert w._preview_resolution(settings) == 5
    shapes = []
    w.observe(lambda ch: shapes.append((tuple(w.grid_shape), w.status)), "grid")
    w.resolution = 41
    w.wait()
    assert shapes[0] == ((5, 5), "preview") and shapes[-1][0] == (41, 41)


def test_newer_request_supersedes_older_and_stale_results_are_never_drawn(run, monkeypatch):
    w = plw.LandscapeWidget(run, resolution=15, compute=False)
    drawn = []
    w.observe(lambda ch: drawn.append((w.seed, tuple(w.grid_shape), _grid(w).copy())), "grid")
    gate = threading.Event()
    import pinn_landscape_widget.viz.widget as wmod

    real = wmod.landscape

    def slow_landscape(*args, **kwargs):  # hold the first request until the second has been made
        gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(wmod, "landscape", slow_landscape)
    with w.hold_trait_notifications():
        w.seed = 1
    first = w.last_future
    w.seed = 2
    second = w.last_future
    gate.set()
    second.result(60)
    assert first.result(60) is None  # abandoned
    assert drawn and all(seed == 2 for seed, _, _ in drawn)
    ref = real(run, plw.random_directions(run, 2, seed=2), resolution=15, progress=False)
    np.testing.assert_array_equal(drawn[-1][2], ref.loss.values.astype(np.float32))


def test_failed_computation_shows_message_and_next_request_works():
    short = plw.train(
        "poisson1d",
        "strong",
        width=6,
        depth=1,
        steps=2,
        record_every=1,
        progress=False,
        problem_params=dict(n_points=32),
    )
    w = plw.LandscapeWidget(short, resolution=9).wait()
    before = _grid(w).copy()
    w.direction_kind = "pca"  # 3 checkpoints: too few for a 2-D PCA
    w.wait()
    assert w.status == "error" and "pca_directions(n=2) needs a trajectory of at least 4 checkpoints" in w.error
    np.testing.assert_array_equal(_grid(w), before)  # the last good picture stays
    w.direction_kind = "random"
    w.seed = 5
    w.wait()
    assert w.status == "done" and w.error == ""


@pytest.mark.parametrize(
    "name,value,match",
    [
        ("resolution", -3, r"resolution must be an integer in \[3, 1025\], got -3"),
        ("span", 0.0, r"span must be a finite number > 0, got 0.0"),
        ("seed", -1, r"seed must be an integer >= 0, got -1"),
        ("direction_kind", "eigen", r"direction_kind must be one of \['random', 'pca', 'hessian', 'interpolation'\]"),
        ("formulation", "weak", r"formulation must be one of \['strong', 'deep_ritz'\], got 'weak'"),
        ("z_scale", "sqrt", r"z_scale must be one of \['linear', 'log'\], got 'sqrt'"),
    ],
)
def test_invalid_values_from_python_raise_and_leave_the_widget_as_it_was(run, name, value, match):
    w = plw.LandscapeWidget(run, resolution=9).wait()
    old = getattr(w, name)
    grid = w.grid
    with pytest.raises(traitlets.TraitError, match=match):
        setattr(w, name, value)
    assert getattr(w, name) == old and w.grid == grid


def test_cache_makes_going_back_instant(run):
    w = plw.LandscapeWidget(run, resolution=21, seed=0).wait()
    g0 = w.grid
    w.seed = 1
    w.wait()
    t = time.perf_counter()
    w.seed = 0
    w.wait()
    assert time.perf_counter() - t < 0.2
    assert w.grid == g0


def test_click_computes_the_solution_at_that_point(run):
    w = plw.LandscapeWidget(run, resolution=9).wait()
    w.selected_point = [0.5, -0.25]
    for _ in range(200):
        if w.solution_info:
            break
        time.sleep(0.02)
    info = w.solution_info
    assert info["shape"] == [2, 201]
    rows = np.frombuffer(w.solution, np.float32).reshape(2, 201)
    d = plw.random_directions(run, 2, seed=0)
    theta = run.params + 0.5 * d.vectors[0] - 0.25 * d.vectors[1]
    x = torch.linspace(0, 1, 201, dtype=torch.float64)[:, None]
    ref = run.model_at(theta)(x.float()).detach().numpy()
    np.testing.assert_allclose(rows[0], ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rows[1], np.sin(np.pi * x[:, 0].numpy()), atol=1e-6)
    assert "rel. L2 error" in info["title"]


def test_dataset_input_computes_nothing_and_nan_is_reported():
    r = small_run("poisson1d", dict(n_points=64), "strong")
    ds = plw.landscape(r, plw.random_directions(r, 2, normalization="none"), span=1e30, resolution=5, progress=False)
    w = plw.LandscapeWidget(ds)
    assert not w.interactive and w.grid_shape == [5, 5]
    assert "non-finite point(s)" in w.status_text
    assert np.isnan(_grid(w)).any() or np.isinf(_grid(w)).any()


def test_labelled_runs_switch_with_run_label():
    a = small_run("poisson1d", dict(n_points=64), "strong")
    b = small_run("poisson1d", dict(n_points=64), "deep_ritz")
    w = plw.LandscapeWidget({"strong": a, "deep_ritz": b}, resolution=7).wait()
    assert w.run_labels == ["strong", "deep_ritz"] and w.z_label == "strong-form loss"
    w.run_label = "deep_ritz"
    w.formulation = "deep_ritz"
    w.wait()
    assert w.z_label == "Deep Ritz energy E" and w.energy_reference is not None


def test_explore_one_liner_trains_both_formulations():
    w = plw.explore("poisson1d", steps=20, progress=False, resolution=7).wait()
    assert w.run_labels == ["strong", "deep_ritz"] and w.status == "done"


def test_side_by_side_runs_use_the_same_direction_settings():
    a = small_run("poisson1d", dict(n_points=64), "strong")
    b = small_run("poisson1d", dict(n_points=64), "deep_ritz")
    w = plw.LandscapeWidget({"strong": a, "deep_ritz": b}, resolution=7, seed=4).wait()
    assert w.compare  # two labelled runs: side by side by default
    ref = plw.landscape(b, plw.random_directions(b, 2, seed=4), resolution=7, progress=False)
    np.testing.assert_array_equal(
        np.frombuffer(w.grid2, np.float32).reshape(w.grid_shape2), ref.loss.values.astype(np.float32)
    )
    assert w.z_label2 == "Deep Ritz energy E" and w.title2.startswith("deep_ritz:")
    w.compare = False
    w.wait()
    assert w.grid_shape2 == []


def test_side_by_side_formulations_of_one_run_share_parameter_points(run):
    w = plw.LandscapeWidget(run, resolution=9, compare=True).wait()
    d = plw.random_directions(run, 2, seed=0)
    strong = plw.landscape(run, d, resolution=9, formulation="strong", progress=False)
    np.testing.assert_array_equal(
        np.frombuffer(w.grid2, np.float32).reshape(9, 9), strong.loss.values.astype(np.float32)
    )
    assert w.z_label == "Deep Ritz energy E" and w.z_label2 == "strong-form loss"


def test_precompute_carries_every_direction_kind_for_pages_without_a_kernel(run):
    w = plw.LandscapeWidget(run, resolution=9, compare=False).wait()
    w.precompute(("direction_kind",))
    assert w.static_choices == ["direction_kind"]
    slices = {json.loads(k)[1]: v for k, v in w.static_slices.items()}
    assert set(slices) == {"random", "pca", "hessian", "interpolation"}
    # the current slice is what the widget draws; another one is what the engine computes independently
    assert slices["random"]["grid"] == w.grid
    ref = plw.landscape(run, plw.hessian_directions(run, 2, "largest"), span=w.span, resolution=9, progress=False)
    hess = np.frombuffer(slices["hessian"]["grid"], np.float32).reshape(slices["hessian"]["grid_shape"])
    np.testing.assert_allclose(hess, ref.loss.values.astype(np.float32), rtol=1e-6, atol=1e-7)
    assert "hessian directions" in slices["hessian"]["title"]
    # binary grids leave as buffers, the rest of the state stays JSON
    from ipywidgets.widgets.widget import _remove_buffers

    state, paths, buffers = _remove_buffers(w.get_state())
    json.dumps(state)
    assert ["static_slices", json.dumps(["deep_ritz", "pca", "deep_ritz"], separators=(",", ":")), "grid"] in paths
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
