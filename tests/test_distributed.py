"""dask.distributed tiles with a real LocalCluster of worker processes."""

import gc
import math
import os
import sys
import threading
import time

import numpy as np
import pytest
import torch
import xarray as xr

import pinn_landscape_widget as plw

from .autograd_reference import reference_terms
from .conftest import small_run

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.integration  # a dask cluster of worker processes


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


def _decay_problem(c=1.0):
    """A defined problem whose functions exist only here (lambdas and a closure: cloudpickle sends them by
    value; the workers never import this module). u_xt + c u_x + u = f, exact u = sin(x + s) exp(-c t)."""
    shift = 0.3

    def exact(x, t, c):
        return torch.sin(x + shift) * torch.exp(-c * t)

    return plw.define_problem(
        "decay",
        {"x": (0.0, 1.0), "t": (0.0, 1.0)},
        residual=lambda u, f, c: u.xt + c * u.x + u - f,
        source=lambda x, t, c: exact(x, t, c),
        coefficients={"c": c},
        conditions=[
            plw.initial(lambda x: torch.sin(x + shift)),
            plw.dirichlet("x", at=0.0, value=lambda t, c: math.sin(shift) * torch.exp(-c * t), weight=2.0),
        ],
        exact=exact,
        n_points=64,
    )


def _train(problem):
    return plw.train(problem, "strong", width=12, depth=2, steps=30, optimizer="adam", lr=1e-2, progress=False)


def test_distributed_grid_of_a_defined_problem_equals_local_grid(client):
    run = _train(_decay_problem(c=1.5))
    d = plw.random_directions(run, 2, seed=1)
    local = plw.landscape(run, d, resolution=9, progress=False)
    dist = plw.landscape(run, d, resolution=9, progress=False, client=client, tile_size=20)
    for var in local.data_vars:
        np.testing.assert_array_equal(dist[var].values, local[var].values, err_msg=var)
    assert dist.attrs["problem"] == "decay"
    # the problem's functions went by value: no worker imported this test module to find them
    assert not any(client.run(lambda: __name__ in sys.modules).values())
    # and the numbers are the problem's: the centre against per-point autograd of its definition
    ref = reference_terms(run, run.params, "strong")[0]
    for key in ("loss", "loss_residual", "loss_initial", "loss_boundary"):
        assert float(dist[key].sel(alpha=0.0, beta=0.0)) == pytest.approx(ref[key], rel=1e-5), key


def test_landscape_sweep_over_a_defined_problems_parameter(client):
    base = _decay_problem()
    runs = {f"c={c}": _train(base.with_coefficients(c=c)) for c in (0.5, 2.0)}
    assert [r.problem.coefficients["c"] for r in runs.values()] == [0.5, 2.0]
    ds = plw.landscape_sweep(runs, directions_seeds=[0, 2], resolution=5, client=client)
    assert ds.loss.dims == ("run", "seed", "formulation", "alpha", "beta") and ds.attrs["problem"] == "decay"
    local = plw.landscape_sweep(runs, directions_seeds=[0, 2], resolution=5)
    np.testing.assert_array_equal(ds.loss.values, local.loss.values)
    for label, run in runs.items():
        one = plw.landscape(run, plw.random_directions(run, 2, seed=2), resolution=5, progress=False)
        np.testing.assert_array_equal(ds.loss.sel(run=label, seed=2, formulation="strong").values, one.loss.values)
        # each run's grid is its own parameter's loss: the centre by per-point autograd of that problem
        ref = reference_terms(run, run.params, "strong")[0]["loss"]
        assert float(ds.loss.sel(run=label, seed=0, formulation="strong", alpha=0.0, beta=0.0)) == pytest.approx(
            ref, rel=1e-5
        )
    # the parameter changes the loss surface: the two runs' grids differ
    assert not np.allclose(ds.loss.sel(run="c=0.5").values, ds.loss.sel(run="c=2.0").values)


def _custom_run():
    """A run from a module class and a loss that exist only in this function (cloudpickle sends them by value),
    with a user-written autograd loss of two terms."""

    class Sine(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = torch.nn.Linear(1, 10)
            self.outer = torch.nn.Linear(10, 1)

        def forward(self, x):
            return self.outer(torch.sin(self.inner(x)))

    torch.manual_seed(2)
    model = Sine().double()
    x = torch.linspace(0, 1, 24, dtype=torch.float64)[:, None].requires_grad_(True)

    def loss(m):
        u = m(x)
        ux = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
        return {"ode": ((ux - torch.cos(x)) ** 2).mean(), "start": m(x[:1].detach()).pow(2).sum()}

    return plw.from_model(model, loss), model, loss


def test_distributed_grid_of_a_from_model_run_equals_local_grid_and_the_users_loss(client):
    run, model, loss = _custom_run()
    d = plw.random_directions(run, 2, seed=3)
    local = plw.landscape(run, d, resolution=7, progress=False)
    dist = plw.landscape(run, d, resolution=7, progress=False, client=client, tile_size=12)
    for var in local.data_vars:
        np.testing.assert_array_equal(dist[var].values, local[var].values, err_msg=var)
    # the run needs nothing from this module: it loads and evaluates in a fresh interpreter that cannot import it
    import subprocess

    import cloudpickle

    code = "import pickle, sys; run = pickle.load(sys.stdin.buffer); print(float(run.objective().loss(run.params[None])[0]))"
    out = subprocess.run(
        [sys.executable, "-c", code], input=cloudpickle.dumps(run), capture_output=True, cwd="/", check=True
    ).stdout
    assert float(out) == float(local.loss.sel(alpha=0.0, beta=0.0))
    # a grid point off the centre: the user's loss with those parameters written into a copy of the module
    copy = type(model)().double()
    i, j = 1, 5
    theta = run.params + float(dist.alpha[i]) * d.vectors[0] + float(dist.beta[j]) * d.vectors[1]
    torch.nn.utils.vector_to_parameters(theta.to(torch.float64), copy.parameters())
    terms = loss(copy)
    assert float(dist.loss[i, j]) == pytest.approx(float(sum(terms.values())), rel=1e-12)
    assert float(dist["loss_ode"][i, j]) == pytest.approx(float(terms["ode"]), rel=1e-12)


def test_partial_grids_hold_the_landed_tiles_and_nan_elsewhere(client):
    run = small_run("poisson2d", dict(n_points=64, boundary="penalty"), "deep_ritz")
    d = plw.random_directions(run, 2, seed=4)
    partials = []
    dist = plw.landscape(run, d, resolution=9, progress=False, client=client, tile_size=20, _on_partial=partials.append)
    assert len(partials) == math.ceil(81 / 20)
    done = [p.attrs["points_done"] for p in partials]
    assert done == sorted(done) and done[-1] == 81 and all(p.attrs["points_total"] == 81 for p in partials)
    for p in partials:
        assert p.loss.dims == dist.loss.dims
        np.testing.assert_array_equal(p.alpha.values, dist.alpha.values)
        np.testing.assert_array_equal(p.beta.values, dist.beta.values)
        for var in ("loss", "loss_energy", "loss_boundary", "rel_l2_error"):
            landed = np.isfinite(p[var].values)
            assert landed.sum() == p.attrs["points_done"], var
            np.testing.assert_array_equal(p[var].values[landed], dist[var].values[landed], err_msg=var)
        # what a view needs to draw it: the same problem, loss, directions and E* as the full grid
        for key in ("problem", "formulation", "direction_kind", "energy_reference"):
            assert p.attrs[key] == dist.attrs[key], key


def test_an_abandoned_grid_cancels_its_tiles_on_the_cluster(client):
    run, _, _ = _custom_run()
    d = plw.random_directions(run, 2, seed=3)

    def keys():
        return set(client.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks]))

    before = keys()
    in_flight = []

    class Stop(Exception):
        pass

    def stop_after_first_tile(done, total):
        if done > 0:
            in_flight.extend(keys() - before)
            raise Stop()

    with pytest.raises(Stop):
        plw.landscape(
            run, d, resolution=21, progress=False, client=client, tile_size=5, _on_progress=stop_after_first_tile
        )
    assert len([k for k in in_flight if k.startswith("evaluate_tile")]) > 10  # 89 tiles were queued
    deadline = time.monotonic() + 3
    while set(in_flight) & keys() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(in_flight) & keys(), "the abandoned grid's tiles stayed on the cluster"


def test_a_finished_grid_leaves_nothing_on_the_cluster_without_the_garbage_collector(client):
    # the tiles' futures are released when the grid returns, not when a reference cycle holding them (a
    # poll's TimeoutError traceback) is collected: with the collector off they must still leave
    _, model, loss = _custom_run()

    def slow_loss(m):  # tiles slow enough that the grid waits through several 0.1 s polls that time out
        time.sleep(0.02)
        return loss(m)

    run = plw.from_model(model, slow_loss)
    d = plw.random_directions(run, 2, seed=4)

    def keys():
        return set(client.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks]))

    before = keys()
    gc.collect()
    gc.disable()
    try:
        grid = plw.landscape(run, d, resolution=9, progress=False, client=client, tile_size=9)
        deadline = time.monotonic() + 3
        while keys() - before and time.monotonic() < deadline:
            time.sleep(0.05)
        left = keys() - before
    finally:
        gc.enable()
    assert np.isfinite(grid.loss.values).all()
    assert not left, f"{len(left)} keys of a finished grid stayed on the cluster: {sorted(left)[:3]}"


def test_a_client_closed_mid_grid_is_cluster_lost():
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    c = distributed.Client(cluster)
    try:
        run, _, _ = _custom_run()
        d = plw.random_directions(run, 2, seed=3)

        def close_after_first_tile(done, total):
            if done > 0 and c.status == "running":
                c.close()

        with pytest.raises(plw.analysis.distributed.ClusterLost, match=r"dask client stopped \(status 'closed'\)"):
            plw.landscape(
                run, d, resolution=21, progress=False, client=c, tile_size=5, _on_progress=close_after_first_tile
            )
    finally:
        c.close()
        cluster.close()
