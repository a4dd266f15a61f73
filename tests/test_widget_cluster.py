"""The widget and explore on a dask.distributed cluster: a real LocalCluster of 2 worker processes."""

import time

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.viz._slots import SLOT_TRAITS

from .conftest import small_run

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.integration  # a dask cluster of worker processes

SLEEP_S = 0.03  # a slow user's loss: this much per parameter point, so tiles land one after another


def _cluster():
    return distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )


@pytest.fixture(scope="module")
def client():
    cluster = _cluster()
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _slow_run(sleep=SLEEP_S):
    """An opaque loss of a small module, made slow on purpose; its exact value is the user's own function."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1)).double()
    x = torch.linspace(0, 1, 16, dtype=torch.float64)[:, None]

    def loss(m):
        time.sleep(sleep)
        return ((m(x) - torch.sin(3 * x)) ** 2).mean()

    return plw.from_model(model, loss), model, loss


def _record_slots(w):
    """Every payload the panel slots receive, with the time it arrived."""
    seen = []
    w.observe(lambda ch: seen.append((time.monotonic(), ch["new"])), names=list(SLOT_TRAITS))
    return seen


def _scheduler_keys(client):
    return set(client.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks]))


def _wait_for(condition, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_widget_grid_with_client_equals_the_local_engines_grid(client):
    run = small_run("poisson1d", dict(n_points=64), "strong")
    w = plw.LandscapeWidget(run, resolution=25, client=client, compute=False)
    seen = _record_slots(w)
    w.request()
    w.wait(120)
    assert w.status == "done", w.error
    # a coarse preview first (on the cluster too), then the full grid
    previews = [p for _, p in seen if p.get("status") == "preview"]
    assert previews and previews[0]["grid_shape"][0] < 25
    total = sum(run.objective().point_set_sizes())  # and it says why it is on every point
    assert previews[0]["points_note"] == f"on all {total} points (on a cluster every point is evaluated)"
    assert [ds.attrs["parallel"] for ds in w._computer.grids.values()] == ["dask"] * len(w._computer.grids)
    ds = w.datasets[0]
    local = plw.landscape(run, plw.random_directions(run, 2, seed=0), resolution=25, progress=False)
    for var in ("loss", "loss_residual", "rel_l2_error"):
        np.testing.assert_allclose(ds[var].values, local[var].values, rtol=1e-6, atol=0, err_msg=var)
    # what the view draws is that grid as float32 bytes
    drawn = np.frombuffer(w.panel_data[0]["grid"], dtype=np.float32).reshape(25, 25)
    np.testing.assert_allclose(drawn, local.loss.values.astype(np.float32), rtol=1e-6)
    # a grid point off the centre against the run's own evaluate at those parameters
    d = plw.random_directions(run, 2, seed=0).vectors
    theta = run.params + float(ds.alpha[3]) * d[0] + float(ds.beta[11]) * d[1]
    ref = float(plw.evaluate(run, theta[None])["loss"][0])
    assert float(ds.loss[3, 11]) == pytest.approx(ref, rel=1e-5)
    w.close()


def test_tiles_stream_into_the_panel_before_the_grid_ends(client):
    run, model, loss = _slow_run()
    w = plw.LandscapeWidget(run, resolution=9, client=client, compute=False)
    seen = _record_slots(w)
    started = time.monotonic()
    w.request()
    assert time.monotonic() - started < 0.5, "request() waits for nothing: the worker thread waits on the tiles"
    w.wait(120)
    assert w.status == "done", w.error
    final = w.datasets[0].loss.values
    partial = [(t, p) for t, p in seen if p.get("pending")]
    done_at = next(t for t, p in seen if p.get("status") == "done")
    assert partial, "no partial grid was drawn"
    assert all(t < done_at for t, _ in partial)
    n = final.size
    for _, p in partial:
        grid = np.frombuffer(p["grid"], dtype=np.float32).reshape(final.shape)
        landed = np.isfinite(grid)
        # the pending count is the cells not landed; the landed ones are the final grid's values
        assert p["pending"] == n - landed.sum() and 0 < p["pending"] < n
        np.testing.assert_allclose(grid[landed], final[landed].astype(np.float32), rtol=1e-6)
        assert p["status"] == "computing" and p["grid_shape"] == [9, 9]
    # later pictures hold more of the grid
    pending = [p["pending"] for _, p in partial]
    assert pending == sorted(pending, reverse=True)
    # and the final grid is the user's loss: one point with the parameters written into the module
    d = w.datasets[0]
    theta = torch.as_tensor(d.center.values) + float(d.alpha[2]) * torch.as_tensor(d.directions.values[0])
    theta = theta + float(d.beta[6]) * torch.as_tensor(d.directions.values[1])
    torch.nn.utils.vector_to_parameters(theta.to(torch.float64), model.parameters())
    with torch.no_grad():
        assert float(final[2, 6]) == pytest.approx(float(loss(model)), rel=1e-10)
    w.close()


def test_stale_request_cancels_its_tiles_on_the_cluster(client):
    run, _, _ = _slow_run(sleep=0.05)
    w = plw.LandscapeWidget(run, resolution=15, client=client, compute=False)
    seen = _record_slots(w)
    before = _scheduler_keys(client)
    w.request()  # 225 points of 0.05 s on 2 workers: about 6 s of tiles
    assert _wait_for(lambda: any(p.get("pending") for _, p in seen), 60), "no tile landed"
    old = _scheduler_keys(client) - before
    assert any(k.startswith("evaluate_tile") for k in old)
    changed = time.monotonic()
    w.resolution = 5  # a new request: the old grid is stale
    # the old grid's tiles leave the scheduler long before they could all have been computed
    assert _wait_for(lambda: not (old & _scheduler_keys(client)), 3.0), "the stale tiles stayed on the cluster"
    assert time.monotonic() - changed < 3.0
    w.wait(60)
    assert w.status == "done" and w.datasets[0].loss.shape == (5, 5)
    # the abandoned grid was never drawn as done, nor cached
    assert not any(p.get("grid_shape") == [15, 15] and p.get("status") == "done" for _, p in seen)
    assert all(s.resolution == 5 for s in w._computer.grids)
    w.close()


@pytest.mark.slow
def test_client_closed_mid_grid_shows_an_error_and_keeps_the_last_picture(tmp_path):
    cluster = _cluster()
    c = distributed.Client(cluster)
    try:
        run, _, _ = _slow_run(sleep=0.05)
        w = plw.LandscapeWidget(run, resolution=5, client=c).wait(60)
        assert w.status == "done", w.error
        picture = w.panel_data[0]["grid"]
        seen = _record_slots(w)
        w.resolution = 15
        assert _wait_for(lambda: any(p.get("pending") for _, p in seen), 60), "no tile landed"
        c.close()
        w.wait(60)
        assert w.status == "error"
        status = w.panel_status[0]
        assert status["status"] == "error" and "ClusterLost" in status["message"] and "client" in status["message"]
        # the picture before the grid's first tile (the 5 x 5 grid, or the full-point preview this costly loss
        # gets on the cluster as it does locally), not a half-drawn one
        first_tile = next(i for i, (_, p) in enumerate(seen) if p.get("pending"))
        shown = [p for _, p in seen[:first_tile] if p.get("grid_shape")]
        before = shown[-1] if shown else {"grid_shape": [5, 5], "grid": picture}
        assert before["grid_shape"] != [15, 15]
        assert w.panel_data[0]["grid_shape"] == before["grid_shape"] and w.panel_data[0]["grid"] == before["grid"]
        assert np.isfinite(np.frombuffer(w.panel_data[0]["grid"], np.float32)).all()
        # nothing else broke: the look still changes, and computing here works again
        w.z_scale = "linear"
        with pytest.raises(ValueError, match="client must be a running distributed.Client"):
            w.client = c
        w.client = None
        w.wait(60)
        assert w.status == "done" and w.datasets[0].loss.shape == (15, 15)
        assert np.isfinite(w.datasets[0].loss.values).all()
        w.close()
    finally:
        c.close()
        cluster.close()


def test_explore_with_client_computes_every_panel_on_the_cluster(client):
    w = plw.explore("poisson1d", steps=20, background=False, progress=False, client=client, resolution=9)
    w.wait(120)
    assert w.status == "done", w.error
    assert w.client is client
    assert len(w.datasets) == 2
    for ds, label in zip(w.datasets, w.run_labels):
        assert ds.attrs["parallel"] == "dask"
        run = w._runs[label]
        local = plw.landscape(run, plw.random_directions(run, 2, seed=0), resolution=9, progress=False)
        np.testing.assert_allclose(ds.loss.values, local.loss.values, rtol=1e-6, err_msg=label)
    w.close()


def test_client_must_be_a_distributed_client(monkeypatch):
    run = small_run("poisson1d", dict(n_points=64), "strong")
    import pinn_landscape_widget.viz.explore as explore_module

    def no_training(*args, **kwargs):
        raise AssertionError("explore trained before checking client")

    monkeypatch.setattr(explore_module, "train", no_training)
    with pytest.raises(TypeError, match=r"client must be None or a dask distributed.Client.*got int"):
        plw.explore("poisson1d", client=8786)
    with pytest.raises(TypeError, match=r"client must be None or a dask distributed.Client.*got str"):
        plw.LandscapeWidget(run, client="tcp://127.0.0.1:8786", compute=False)
    w = plw.LandscapeWidget(run, compute=False)
    with pytest.raises(TypeError, match="client must be None or a dask distributed.Client"):
        w.client = object()
    assert w.client is None
    w.close()


@pytest.mark.slow
def test_workers_killed_mid_grid_cost_retries_not_the_picture(client):
    import os

    run, _, _ = _slow_run(sleep=0.05)
    w = plw.LandscapeWidget(run, resolution=9, client=client, compute=False)
    seen = _record_slots(w)
    w.request()
    assert _wait_for(lambda: any(p.get("pending") for _, p in seen), 60), "no tile landed"
    workers = list(client.scheduler_info()["workers"])
    try:
        client.run(lambda: os._exit(1), workers=workers)  # every worker dies; their nannies start new ones
    except Exception:
        pass  # the workers die before they can answer
    w.wait(180)
    assert w.status == "done", w.error
    local = plw.landscape(run, plw.random_directions(run, 2, seed=0), resolution=9, progress=False)
    np.testing.assert_allclose(w.datasets[0].loss.values, local.loss.values, rtol=1e-10)
    client.wait_for_workers(2, timeout=60)
    assert not set(workers) & set(client.scheduler_info()["workers"])  # the grid ran on new workers
    w.close()
