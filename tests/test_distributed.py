"""dask.distributed tiles with a real LocalCluster of worker processes."""

import os
import threading
import time

import numpy as np
import pytest
import xarray as xr

import pinn_landscape_widget as plw

from .conftest import small_run

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.mark.parametrize(
    "name,kw,form",
    [
        ("poisson1d", dict(n_points=64), "strong"),
        ("poisson2d", dict(n_points=64, boundary="penalty"), "deep_ritz"),
        ("convection1d", dict(n_points=64, beta=5.0), "strong"),
    ],
)
def test_distributed_grid_equals_local_grid_exactly(client, name, kw, form):
    run = small_run(name, kw, form)
    d = plw.random_directions(run, 2, seed=1)
    local = plw.landscape(run, d, resolution=17, progress=False)
    dist = plw.landscape(run, d, resolution=17, progress=False, client=client, tile_size=40)
    for var in local.data_vars:
        np.testing.assert_array_equal(dist[var].values, local[var].values, err_msg=var)
    assert dist.attrs["loss_center"] == local.attrs["loss_center"]


def test_killed_worker_costs_a_retry_not_a_tile(client):
    run = small_run("poisson1d", dict(n_points=64), "strong")
    d = plw.random_directions(run, 2, seed=2)
    local = plw.landscape(run, d, resolution=41, progress=False)
    workers = list(client.scheduler_info()["workers"])
    victim = workers[0]

    killed_at = []

    def kill_soon():
        time.sleep(0.3)
        killed_at.append(time.perf_counter())
        try:
            client.run(lambda: os._exit(1), workers=[victim])
        except Exception:
            pass  # the worker dies before it can answer

    killer = threading.Thread(target=kill_soon)
    killer.start()
    dist = plw.landscape(run, d, resolution=41, progress=False, client=client, tile_size=8)
    finished_at = time.perf_counter()
    killer.join()
    assert killed_at and killed_at[0] < finished_at, "the worker died while the grid was being computed"
    np.testing.assert_array_equal(dist.loss.values, local.loss.values)
    assert np.isfinite(dist.loss.values).all()
    # the nanny restarted the worker: the cluster is whole again
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.scheduler_info()["workers"]


def test_landscape_sweep_stacks_runs_seeds_and_formulations(client):
    runs = {
        "beta=1": small_run("convection1d", dict(n_points=64, beta=1.0), "strong"),
        "beta=5": small_run("convection1d", dict(n_points=64, beta=5.0), "strong"),
    }
    ds = plw.landscape_sweep(runs, directions_seeds=[0, 3], resolution=7, client=client)
    assert ds.loss.dims == ("run", "seed", "formulation", "alpha", "beta")
    assert list(ds.run.values) == ["beta=1", "beta=5"] and list(ds.seed.values) == [0, 3]
    one = plw.landscape(runs["beta=5"], plw.random_directions(runs["beta=5"], 2, seed=3), resolution=7, progress=False)
    np.testing.assert_array_equal(ds.loss.sel(run="beta=5", seed=3, formulation="strong").values, one.loss.values)
    with pytest.raises(ValueError, match=r"formulations \['deep_ritz'\] are not supported by run 'beta=1'"):
        plw.landscape_sweep(runs, formulations=["deep_ritz"], resolution=5)


def test_sweep_without_cluster_round_trips_netcdf(tmp_path):
    runs = {"a": small_run("poisson1d", dict(n_points=64), "strong")}
    ds = plw.landscape_sweep(runs, directions_seeds=[0], formulations=["strong", "deep_ritz"], resolution=5)
    ds.to_netcdf(tmp_path / "s.nc")
    xr.testing.assert_identical(xr.open_dataset(tmp_path / "s.nc").load(), ds)
