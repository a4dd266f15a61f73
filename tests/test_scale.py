"""Memory budgets (landscape, Hessian) and PINNacle-style problems through the grid, the preview and dask.

Peak memory is measured in a fresh process per operation (Linux's peak RSS, VmHWM, reset by
/proc/self/clear_refs once the run exists: torch's allocations included), as growth over that point; an operation with a
``memory_budget`` must stay under the budget plus ``OVERHEAD`` (torch's per-thread scratch, the result
arrays, allocator slack), and above a fraction of it (the prediction is not far above what is used).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import pinn_landscape_widget as plw
from pinn_landscape_widget.engine.memory import concurrent_chunks, hessian_state_bytes

from .autograd_reference import reference_terms

OVERHEAD = 64 * 2**20
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BOX = """
import torch, pinn_landscape_widget as plw

def box_problem(side, name="box"):
    return plw.define_problem(
        name, {"x": (-0.5, 0.5), "y": (-0.5, 0.5)},
        residual=lambda u, f: -u.laplacian - f,
        source=lambda x, y: torch.sin(3 * x) * torch.cos(2 * y),
        conditions=[plw.dirichlet("x", at=-0.5, value=0.0), plw.dirichlet("x", at=0.5, value=0.0),
                    plw.dirichlet("y", at=-0.5, value=1.0), plw.neumann("y", at=0.5, value=0.5)],
        n_points=(side, side))
"""
exec(BOX)  # box_problem here too


def box_run(side=32, width=16, depth=2, steps=20, dtype=torch.float32):
    torch.manual_seed(0)
    return plw.train(
        box_problem(side),  # noqa: F821 - defined by exec(BOX)
        "strong",
        width=width,
        depth=depth,
        steps=steps,
        optimizer="adam",
        lr=1e-2,
        progress=False,
        dtype=dtype,
        device="cpu",
    )


def peak_growth(setup: str, op: str) -> dict:
    """Run ``setup`` then ``op`` in a fresh process; its peak RSS growth during ``op`` (bytes) and what
    ``op``'s last line stored in ``out``."""
    code = (
        BOX
        + "torch.set_num_threads(2)  # before the setup: budgets count the threads\n"
        + textwrap.dedent(setup)
        + textwrap.dedent(
            """
        import json
        def status_bytes(key):
            with open("/proc/self/status") as f:
                return 1024 * int(next(line.split()[1] for line in f if line.startswith(key + ":")))
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # the peak (VmHWM) restarts from here: building the run must not hide the operation's
        before = status_bytes("VmRSS")
        out = {}
        """
        )
        + textwrap.dedent(op)
        + textwrap.dedent(
            """
        after = status_bytes("VmHWM")
        print(json.dumps(dict(out, growth=after - before)))
        """
        )
    )
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------- bad input


def test_a_grid_budget_too_small_for_one_point_names_the_budget_and_the_bytes_a_point_needs():
    run = box_run(side=64, steps=0)
    obj = run.objective()
    per_point, n_chunks = obj.bytes_per_point(), concurrent_chunks(obj)
    assert per_point * n_chunks > 2**20  # the smallest budget allowed cannot hold one point per thread
    with pytest.raises(plw.MemoryBudgetError, match=rf"memory_budget=1048576 .* {per_point} bytes") as err:
        plw.landscape(run, resolution=3, progress=False, memory_budget=2**20)
    assert f"at least {per_point * n_chunks}" in str(err.value) and "subsample=" in str(err.value)
    # just enough for two points per thread: chunks of two
    ds = plw.landscape(run, resolution=3, progress=False, memory_budget=2 * per_point * n_chunks)
    assert ds.attrs["chunk_size"] == 2
    with pytest.raises(ValueError, match=r"memory_budget must be"):
        plw.landscape(run, resolution=3, progress=False, memory_budget=1000)


def test_a_subsample_that_keeps_every_point_is_refused_with_the_largest_set():
    run = box_run(side=16, steps=0)  # 256 interior points, 16 per face
    with pytest.raises(ValueError, match=r"subsample=256 keeps every point .*'interior', has 256.* below 256"):
        plw.landscape(run, resolution=3, progress=False, subsample=256)
    ds = plw.landscape(run, resolution=3, progress=False, subsample=255)  # one point fewer is a subsample
    assert json.loads(ds.attrs["subsample_points"])["interior"] == [255, 256]


def test_a_hessian_budget_too_small_is_refused_and_a_fitting_one_gives_the_same_eigenvalue():
    run = box_run(side=32, steps=20)
    obj = run.objective(None, None, torch.float64)
    need = hessian_state_bytes(obj)
    assert need is not None and need > 2**20
    for fn in (
        lambda b: plw.HessianOperator(run, memory_budget=b),
        lambda b: plw.hessian_eigenpairs(run, 1, memory_budget=b),
        lambda b: plw.hessian_spectrum(run, n_vectors=2, n_steps=8, n_trace_samples=2, memory_budget=b),
    ):
        with pytest.raises(plw.MemoryBudgetError, match=rf"memory_budget={need - 1} .*at least {need}"):
            fn(need - 1)
    # room for the operator but not for the Lanczos basis: the error names max_steps' share
    with pytest.raises(plw.MemoryBudgetError, match=r"Lanczos basis .* steps"):
        plw.hessian_eigenpairs(run, 1, memory_budget=need + 8 * run.n_params)
    free = plw.hessian_eigenpairs(run, 1, tol=1e-10)
    fit = plw.hessian_eigenpairs(run, 1, tol=1e-10, memory_budget=need + 2**26)
    H = plw.HessianOperator(run).dense()  # independent: the dense matrix's largest eigenvalue
    lam = float(torch.linalg.eigvalsh(0.5 * (H + H.T))[-1])
    for ds in (free, fit):
        assert float(ds.eigenvalue[0]) == pytest.approx(lam, rel=1e-8)


def test_a_hessian_of_a_users_loss_cannot_be_budgeted_and_says_so():
    seq = torch.nn.Sequential(torch.nn.Linear(1, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    x = torch.linspace(0, 1, 8)[:, None]
    run = plw.from_model(seq, lambda m: (m(x) ** 2).mean())
    with pytest.raises(ValueError, match=r"memory_budget=.*cannot be predicted.*memory_budget=None"):
        plw.HessianOperator(run, memory_budget=2**30)


# ---------------------------------------------------------------------------------------- measured memory


@pytest.mark.slow
def test_grid_peak_memory_stays_within_its_budget_on_the_torch_path():
    """float64 at 4,352 loss points on a 2-100x3-1 network: the torch kernels' activations, ~100 MB a point."""
    setup = """
    torch.manual_seed(0)
    run = plw.train(box_problem(64), "strong", width=100, depth=3, steps=0, progress=False, dtype=torch.float64)
    from pinn_landscape_widget.engine.memory import concurrent_chunks
    obj = run.objective()
    budget = 2 * obj.bytes_per_point() * concurrent_chunks(obj)
    """
    op = """
    ds = plw.landscape(run, resolution=3, progress=False, memory_budget=budget)
    out = dict(budget=budget, chunk=int(ds.attrs["chunk_size"]), finite=bool(torch.isfinite(torch.as_tensor(ds.loss.values)).all()))
    """
    r = peak_growth(setup, op)
    assert r["chunk"] == 2 and r["finite"]
    assert r["growth"] <= r["budget"] + OVERHEAD, (r["growth"] / 2**20, r["budget"] / 2**20)
    assert r["growth"] >= 0.2 * r["budget"]  # the prediction is not wildly above what a chunk holds


@pytest.mark.slow
def test_hessian_peak_memory_stays_within_a_tight_budget():
    """The R-operator at 4,352 loss points of a 2-100x5-1 network in float32 (~430 MB held): the smallest budget
    the prediction accepts for 30 Lanczos steps holds the whole eigenpair computation."""
    setup = """
    torch.manual_seed(0)
    run = plw.train(box_problem(64), "strong", width=100, depth=5, steps=0, progress=False)
    from pinn_landscape_widget.engine.memory import hessian_state_bytes
    budget = hessian_state_bytes(run.objective(None, None, torch.float32)) + 30 * 2 * run.n_params * 4 * 3 // 2
    """
    op = """
    ds = plw.hessian_eigenpairs(run, 1, dtype=torch.float32, tol=1e-3, memory_budget=budget)
    out = dict(budget=budget, steps=int(ds.attrs["lanczos_steps"]), lam=float(ds.eigenvalue[0]))
    """
    r = peak_growth(setup, op)
    assert r["steps"] <= 30 and np.isfinite(r["lam"])
    assert r["growth"] <= r["budget"] + OVERHEAD, (r["growth"] / 2**20, r["budget"] / 2**20)
    assert r["growth"] >= 0.5 * r["budget"]


# ------------------------------------------------------------------------------------- PINNacle-style problems


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _grid_points(ds, idx):
    """The parameter vectors of grid points idx [(i, j), ...] of a 2-D landscape."""
    c, D = torch.as_tensor(ds.center.values), torch.as_tensor(ds.directions.values)
    return [c + float(ds.alpha[i]) * D[0] + float(ds.beta[j]) * D[1] for i, j in idx]


GRID_POINTS = [(0, 0), (3, 3), (6, 2)]


@pytest.mark.slow
@pytest.mark.integration
def test_pinnacle_style_box_through_landscape_preview_and_dask(client):
    """define_problem on a 2-D box with four conditions (Dirichlet and Neumann): the grid against an
    autograd computation of each term, the subsampled preview against the full grid, dask against local."""
    run = box_run(side=48, width=32, depth=3, steps=100, dtype=torch.float64)
    dirs = plw.random_directions(run, 2, seed=3)
    kw = dict(resolution=7, progress=False, span=0.5)
    full = plw.landscape(run, dirs, **kw)
    for (i, j), theta in zip(GRID_POINTS, _grid_points(full, GRID_POINTS)):
        terms, _, _ = reference_terms(run, theta, "strong")
        assert float(full.loss[i, j]) == pytest.approx(float(terms["loss"]), rel=1e-8)
    preview = plw.landscape(run, dirs, subsample=500, **kw)
    assert json.loads(preview.attrs["subsample_points"])["interior"] == [500, 48 * 48]
    rho = spearmanr(np.log(preview.loss.values).ravel(), np.log(full.loss.values).ravel()).statistic
    assert rho > 0.95
    ia = np.unravel_index(np.argmin(preview.loss.values), (7, 7))
    ib = np.unravel_index(np.argmin(full.loss.values), (7, 7))
    assert np.hypot(ia[0] - ib[0], ia[1] - ib[1]) <= 1.5
    dist = plw.landscape(run, dirs, client=client, tile_size=10, **kw)
    for var in ("loss", "loss_residual", "rel_l2_error"):
        np.testing.assert_allclose(dist[var].values, full[var].values, rtol=1e-12, err_msg=var)


def _deepxde():
    os.environ["DDE_BACKEND"] = "pytorch"
    return pytest.importorskip("deepxde")


def poisson_with_holes(dde, n_domain=600, n_boundary=200, width=20):
    """PINNacle's Poisson2D_Classic as DeepXDE writes it: -laplacian u = 0 on a rectangle with four disks
    cut out, u = 0 on the disks' edges and u = 1 on the outer edges."""
    rect = dde.geometry.Rectangle([-0.5, -0.5], [0.5, 0.5])
    geom = rect
    for cx, cy in ((-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)):
        geom = geom - dde.geometry.Disk([cx, cy], 0.1)

    def pde(x, y):
        return -dde.grad.hessian(y, x, i=0, j=0) - dde.grad.hessian(y, x, i=1, j=1)

    def on_outer(x, on_boundary):
        return on_boundary and rect.on_boundary(x)

    def on_holes(x, on_boundary):
        return on_boundary and not rect.on_boundary(x)

    bcs = [
        dde.icbc.DirichletBC(geom, lambda x: np.ones((len(x), 1)), on_outer),
        dde.icbc.DirichletBC(geom, lambda x: np.zeros((len(x), 1)), on_holes),
    ]
    data = dde.data.PDE(geom, pde, bcs, n_domain, n_boundary, train_distribution="pseudo", num_test=100)
    torch.manual_seed(0)
    net = dde.nn.FNN([2] + [width] * 3 + [1], "tanh", "Glorot uniform")
    model = dde.Model(data, net)
    model.compile("adam", lr=1e-3, verbose=0)
    model.train(iterations=30, display_every=1000, verbose=0)
    return model


def deepxde_loss(model, theta: torch.Tensor) -> float:
    """DeepXDE's own total loss with theta written into a copy of model.net (independent of the trace)."""
    import copy

    net = copy.deepcopy(model.net).to(theta.dtype)
    torch.nn.utils.vector_to_parameters(theta.detach().clone(), net.parameters())
    saved, model.net = model.net, net
    try:
        with torch.enable_grad():
            losses = model.outputs_losses_train(model.data.train_x.astype(np.float32), model.data.train_y, None)[1]
    finally:
        model.net = saved
    return float(losses.detach().double().sum())


@pytest.mark.slow
@pytest.mark.integration
def test_pinnacle_poisson_with_holes_from_deepxde_through_landscape_and_dask(client):
    dde = _deepxde()
    model = poisson_with_holes(dde)
    run = plw.adapters.from_deepxde(model)
    assert run.attrs["evaluation"] == "traced"
    dirs = plw.random_directions(run, 2, seed=1)
    kw = dict(resolution=7, progress=False, span=0.5)
    local = plw.landscape(run, dirs, **kw)
    for (i, j), theta in zip(GRID_POINTS, _grid_points(local, GRID_POINTS)):
        assert float(local.loss[i, j]) == pytest.approx(deepxde_loss(model, theta.float()), rel=2e-5)
    dist = plw.landscape(run, dirs, client=client, tile_size=10, **kw)
    np.testing.assert_allclose(dist.loss.values, local.loss.values, rtol=1e-6)
    # the subsampled preview: DeepXDE's loss code on a subset of each set's rows, against DeepXDE's own
    # residuals on every row (autograd, independent of the trace) averaged over the kept rows
    sub = plw.landscape(run, dirs, subsample=0.25, **kw)
    sets = run.losses["deepxde"]._sets()  # (name, first row, rows): each condition's, then the pde's
    assert json.loads(sub.attrs["subsample_points"]) == {name: [max(1, round(0.25 * n)), n] for name, _, n in sets}
    rows = run.objective().subsample(0.25, int(sub.attrs["subsample_seed"])).fn._rows.numpy()
    own = run.losses["deepxde"].loss
    for (i, j), theta in zip(GRID_POINTS, _grid_points(sub, GRID_POINTS)):
        net = copy.deepcopy(model.net).double()
        torch.nn.utils.vector_to_parameters(theta.double(), net.parameters())
        residuals = own.residuals(net)  # each term = sum of squares: r = error / sqrt(rows)
        expected = 0.0
        for name, start, n in sets:
            kept = rows[(rows >= start) & (rows < start + n)] - start
            expected += n * float((residuals[name][kept].detach() ** 2).mean())
        assert float(sub.loss[i, j]) == pytest.approx(expected, rel=1e-5)
    # a quarter of a thousand rows already ranks the grid points much as every row does
    a, b = np.log(sub.loss.values).ravel(), np.log(local.loss.values).ravel()
    assert spearmanr(a, b).statistic > 0.85


@pytest.mark.slow
@pytest.mark.integration
def test_pinnacle_poisson_with_holes_from_deepxde_in_the_widget_on_a_cluster(client):
    """The issue's Show: the DeepXDE problem with holes and two conditions, ``LandscapeWidget(run, client=)`` on
    a 2-worker LocalCluster: its preview on every point (and says why), its grid the local landscape's."""
    from .test_preview import _watch

    model = poisson_with_holes(_deepxde())
    run = plw.adapters.from_deepxde(model)
    w = plw.LandscapeWidget(run, resolution=9, client=client, compute=False)
    try:
        s = w.panel_settings()[0]
        w._computer.cost_per_point[(s.run, s.formulation)] = 0.05  # PINNacle-size: a preview, planned as one
        payloads, texts, previews = _watch(w)
        w.request()
        w.wait(300)
        assert w.status == "done", w.error
        total = int(model.data.train_x.shape[0])
        why = f"on all {total} points (on a cluster every point is evaluated)"
        assert any(f"{why} in" in t for t in texts), texts
        assert [p["points_note"] for p in payloads if p.get("status") == "preview"][:1] == [why]
        (preview,) = previews
        assert preview.attrs["preview_points"] == why and "subsample_points" not in preview.attrs
        assert preview.sizes["alpha"] == 5
        assert preview.attrs["parallel"] == "dask" and w.datasets[0].attrs["parallel"] == "dask"
        dirs = plw.random_directions(run, 2, seed=0)
        for ds, res in ((preview, 5), (w.datasets[0], 9)):
            local = plw.landscape(run, dirs, resolution=res, progress=False)
            np.testing.assert_allclose(ds.loss.values, local.loss.values, rtol=1e-6, err_msg=str(res))
        # and against DeepXDE's own loss, independently of the trace, at grid points off the centre
        full = w.datasets[0]
        for (i, j), theta in zip(GRID_POINTS, _grid_points(full, GRID_POINTS)):
            assert float(full.loss[i, j]) == pytest.approx(deepxde_loss(model, theta.float()), rel=2e-5)
        drawn = np.frombuffer(w.panel_data[0]["grid"], dtype=np.float32).reshape(9, 9)
        np.testing.assert_allclose(drawn, full.loss.values.astype(np.float32), rtol=1e-6)
    finally:
        w.close()
