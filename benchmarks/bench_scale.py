"""PINNacle-size runs: grid time against the per-point loop, subsampled previews, peak memory, dask scaling.

The run is the size of PINNacle's (5 hidden layers of width 100, tanh, 2-D input: 40,801 parameters; 16,384
interior points on a 128 x 128 grid of [-0.5, 0.5]^2 and 4 x 128 boundary points), a Poisson problem
-laplacian u = sin(3x) cos(2y) with u = 0 on the x faces and u = 1 on the y faces, built with
``plw.define_problem`` and trained ``--steps`` Adam steps (float32). Side by side in one run:

  - grid: ``landscape`` at ``--resolution`` squared against the per-point loop (the same loss written with
    ``torch.autograd.grad`` on an ``nn.Sequential``, theta written into it, one grid point at a time; timed
    on ``--loop-points`` grid points and scaled to the grid);
  - preview: ``landscape(subsample=n)`` for each n of ``--subsample`` (points per point set): its time, the
    Spearman rank correlation of its loss with the full grid's and the distance between the two argmins
    in grid cells;
  - memory: each operation in a fresh process (``--memory-op``), its peak RSS growth over the process after
    the run is built (Linux's VmHWM, reset once the run exists), its ``memory_budget`` and what
    ``engine.memory`` predicted;
  - dask: ``landscape(client=)`` of an opaque loss (``plw.from_model`` with the per-point loss above) on a
    ``distributed.LocalCluster`` of 1 and then 2 worker processes (1 thread each), a ``--dask-resolution``
    squared grid in tiles of ``--tile-size`` points, both clusters up and their runs alternated (medians of
    ``--repeats``): tiles per second per worker, bytes per tile (the tile's coefficients and its values,
    pickled) and the speed-up of 2 workers; the grid must equal the local one;
  - deepxde: the same size built in DeepXDE as a user of PINNacle would (its Poisson2D_Classic: -laplacian u = 0
    on [-0.5, 0.5]^2 less four disks of radius 0.1, u = 1 on the outer edges and u = 0 on the disks' edges,
    written with ``dde.geometry``, ``dde.grad.hessian`` and ``dde.icbc.DirichletBC``; ``--dde-domain`` +
    ``--dde-boundary`` training points; ``dde.nn.FNN`` 2-100x5-1 tanh) trained ``--dde-steps`` Adam steps:
    ``landscape(plw.adapters.from_deepxde(model))`` (the traced path) at ``--resolution`` squared against the
    loop a DeepXDE user writes (theta into ``model.net``, DeepXDE's compiled loss ``outputs_losses_train``,
    ``.item()``) at 1 and at 2 torch threads (the faster counts), on ``--loop-points`` grid points, scaled;
    the grid's centre and the loop's points are checked against DeepXDE's loss.

Prints Markdown rows and writes the JSON to ``--out``.

    python benchmarks/bench_scale.py --out benchmarks/results/scale_cpu.json
    python benchmarks/bench_scale.py --skip grid memory dask --out benchmarks/results/scale_deepxde_cpu.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

import pinn_landscape_widget as plw

WIDTH, DEPTH, SIDE = 100, 5, 128
MIB = 2**20


def box_problem(side: int = SIDE) -> plw.Problem:
    """The PINNacle-size Poisson problem on [-0.5, 0.5]^2 (side x side interior points)."""
    return plw.define_problem(
        "pinnacle_size_poisson",
        {"x": (-0.5, 0.5), "y": (-0.5, 0.5)},
        residual=lambda u, f: -u.laplacian - f,
        source=lambda x, y: torch.sin(3 * x) * torch.cos(2 * y),
        conditions=[
            plw.dirichlet("x", at=-0.5, value=0.0),
            plw.dirichlet("x", at=0.5, value=0.0),
            plw.dirichlet("y", at=-0.5, value=1.0),
            plw.dirichlet("y", at=0.5, value=1.0),
        ],
        n_points=(side, side),
    )


def build_run(steps: int, side: int = SIDE):
    torch.manual_seed(0)
    return plw.train(
        box_problem(side), "strong", width=WIDTH, depth=DEPTH, steps=steps, optimizer="adam", progress=False
    )


def sequential(width: int = WIDTH, depth: int = DEPTH) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = [torch.nn.Linear(2, width), torch.nn.Tanh()]
    for _ in range(depth - 1):
        layers += [torch.nn.Linear(width, width), torch.nn.Tanh()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, 1))


class BoxLoss:
    """The problem's strong loss as a user writes it: autograd Laplacian at the interior points (mean of the
    squared residual) plus the mean squared misfit on each face. Picklable (a dask task carries it)."""

    def __init__(self, problem: plw.Problem):
        x, _ = problem.quadrature()
        self.x = x.float()
        self.f = (torch.sin(3 * self.x[:, 0]) * torch.cos(2 * self.x[:, 1])).float()
        # the faces' values as box_problem sets them: u = 0 at x = -0.5, 0.5 and u = 1 at y = -0.5, 0.5
        self.faces = [(c.points.float(), v) for c, v in zip(problem.conditions, (0.0, 0.0, 1.0, 1.0))]

    def __call__(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        x = self.x.clone().requires_grad_(True)
        u = model(x)[:, 0]
        (g,) = torch.autograd.grad(u.sum(), x, create_graph=True)
        lap = sum(torch.autograd.grad(g[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(2))
        out = {"residual": ((-lap - self.f) ** 2).mean()}
        out["boundary"] = sum(((model(p)[:, 0] - v) ** 2).mean() for p, v in self.faces)
        return out


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _argmin_cells(a: np.ndarray, b: np.ndarray) -> float:
    ia = np.unravel_index(np.nanargmin(a), a.shape)
    ib = np.unravel_index(np.nanargmin(b), b.shape)
    return float(np.hypot(ia[0] - ib[0], ia[1] - ib[1]))


# ------------------------------------------------------------------------------------------ memory, per process

MEMORY_OPS = {
    # name: (budget in bytes, code run after `run` is built; `budget` is in scope)
    "landscape 21x21": (256 * MIB, "plw.landscape(run, resolution=21, progress=False, memory_budget=budget)"),
    "landscape 21x21, subsample=2048": (
        64 * MIB,
        "plw.landscape(run, resolution=21, progress=False, memory_budget=budget, subsample=2048)",
    ),
    "HessianOperator float32 + 5 products": (
        1536 * MIB,
        "op = plw.HessianOperator(run, dtype=torch.float32, memory_budget=budget)\n"
        "[op.matvec(torch.randn(run.n_params)) for _ in range(5)]",
    ),
    "hessian_eigenpairs n=1 float32 (tol 1e-3)": (
        1536 * MIB,
        "plw.hessian_eigenpairs(run, 1, dtype=torch.float32, tol=1e-3, memory_budget=budget)",
    ),
}


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        return int(next(line.split()[1] for line in f if line.startswith(key + ":")))


def reset_peak_rss() -> int:
    """Reset this process's peak RSS (Linux: VmHWM, by /proc/self/clear_refs) to its current RSS; returns it
    in bytes. Without the reset, a peak reached while the run was built would hide the operation's."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_kib("VmRSS") * 1024


def peak_rss() -> int:
    """Peak RSS of this process since the last ``reset_peak_rss``, bytes."""
    return _status_kib("VmHWM") * 1024


def memory_op(name: str, side: int) -> dict:
    """Run one operation in this (fresh) process; its peak RSS growth over the process once the run exists."""
    from pinn_landscape_widget.engine.memory import check_hessian_budget, grid_chunk_for_budget, hessian_state_bytes

    budget, code = MEMORY_OPS[name]
    run = build_run(0, side)
    obj = run.objective()
    if "Hessian" in name or "hessian" in name:
        o32 = run.objective(None, None, torch.float32)
        check_hessian_budget(o32, budget)
        predicted = hessian_state_bytes(o32)
    else:
        if "subsample" in name:
            obj = obj.subsample(2048)
        chunk = grid_chunk_for_budget(obj, 441, budget)
        from pinn_landscape_widget.engine.memory import concurrent_chunks

        predicted = chunk * obj.bytes_per_point() * concurrent_chunks(obj)
    before = reset_peak_rss()
    t, _ = _timed(lambda: exec(code, dict(plw=plw, torch=torch, run=run, budget=budget)))
    after = peak_rss()
    return dict(
        op=name, seconds=t, budget=budget, predicted=int(predicted), growth=int(after - before), base=int(before)
    )


def memory_rows(side: int) -> list[dict]:
    rows = []
    for name in MEMORY_OPS:
        proc = subprocess.run(
            [sys.executable, __file__, "--memory-op", name, "--side", str(side)],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{name}: {proc.stderr[-2000:]}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    return rows


# --------------------------------------------------------------------------------------------------------- dask


def dask_rows(run, resolution: int, tile_size: int, repeats: int) -> dict:
    import cloudpickle
    import distributed

    seq = sequential()
    torch.nn.utils.vector_to_parameters(run.params.detach().clone(), seq.parameters())
    opaque = plw.from_model(seq, BoxLoss(run.problem))
    dirs = plw.random_directions(opaque, 2, seed=0)
    kw = dict(resolution=resolution, progress=False, tile_size=tile_size)
    out: dict = {}
    grids = {}
    clients = {}
    try:
        for n_workers in (1, 2):
            cluster = distributed.LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
            )
            clients[n_workers] = distributed.Client(cluster)
            plw.landscape(opaque, dirs, resolution=3, progress=False, client=clients[n_workers], tile_size=9)  # warm
        times: dict = {1: [], 2: []}
        for _ in range(repeats):  # alternated, so a change of the machine's load hits both alike
            for n_workers, client in clients.items():
                t, grids[n_workers] = _timed(lambda client=client: plw.landscape(opaque, dirs, client=client, **kw))
                times[n_workers].append(t)
    finally:
        for client in clients.values():
            cluster = client.cluster
            client.close()
            cluster.close()
    n_tiles = -(-resolution * resolution // tile_size)
    for n_workers, ts in times.items():
        t = statistics.median(ts)
        out[n_workers] = dict(seconds=t, all_seconds=ts, tiles=n_tiles, tiles_per_s_per_worker=n_tiles / t / n_workers)
    t_local, local = _timed(lambda: plw.landscape(opaque, dirs, resolution=resolution, progress=False))
    for n_workers, ds in grids.items():
        np.testing.assert_allclose(ds.loss.values, local.loss.values, rtol=1e-5, err_msg=f"{n_workers} workers")
    coef = np.zeros((tile_size, 2))
    values = {k: np.zeros(tile_size, dtype=np.float32) for k in local.data_vars if local[k].dims == local.loss.dims}
    spec_bytes = len(cloudpickle.dumps(opaque.objective(None, "cpu", None)))
    out["bytes_per_tile"] = len(pickle.dumps(coef)) + len(pickle.dumps(values))
    out["spec_bytes_once_per_worker"] = spec_bytes
    out["speedup_2_workers"] = out[1]["seconds"] / out[2]["seconds"]
    out["local_seconds"] = t_local
    out["local_parallel"] = local.attrs["parallel"]
    out["resolution"] = resolution
    out["tile_size"] = tile_size
    return out


# ------------------------------------------------------------------------------------------------------ deepxde


def pinnacle_poisson_deepxde(dde, n_domain: int, n_boundary: int, steps: int):
    """PINNacle's Poisson2D_Classic written with DeepXDE's classes, FNN 2-100x5-1 tanh, trained ``steps``
    Adam steps (lr 1e-3); returns the compiled model."""
    rect = dde.geometry.Rectangle([-0.5, -0.5], [0.5, 0.5])
    geom = rect
    for cx, cy in ((0.3, 0.3), (-0.3, 0.3), (0.3, -0.3), (-0.3, -0.3)):
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
    dde.config.set_random_seed(0)
    data = dde.data.PDE(geom, pde, bcs, n_domain, n_boundary, train_distribution="pseudo", num_test=100)
    net = dde.nn.FNN([2] + [WIDTH] * DEPTH + [1], "tanh", "Glorot normal")
    model = dde.Model(data, net)
    model.compile("adam", lr=1e-3, verbose=0)
    model.train(iterations=steps, display_every=10**9, verbose=0)
    return model


def deepxde_loss_at(model, thetas: torch.Tensor, threads: int) -> tuple[np.ndarray, float]:
    """The loop a DeepXDE user writes: each theta into ``model.net``, DeepXDE's compiled loss, ``.item()``;
    (losses, seconds) with ``threads`` torch threads. Leaves ``model.net`` at the last theta."""
    params = list(model.net.parameters())
    data = model.data
    out = np.empty(len(thetas))
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t = time.perf_counter()
        for k, theta in enumerate(thetas):
            with torch.no_grad():
                torch.nn.utils.vector_to_parameters(theta, params)
            out[k] = model.outputs_losses_train(data.train_x, data.train_y, data.train_aux_vars)[1].sum().item()
        return out, time.perf_counter() - t
    finally:
        torch.set_num_threads(saved)


def summed_channel_seconds(run, thetas: torch.Tensor, repeats: int = 3) -> dict:
    """Seconds per parameter point of the traced loss (``batched_terms`` of ``thetas`` in one call: the C
    kernel on one core) with u_xx + u_yy in one jet channel (what the trace chose) and with one channel per
    second partial, alternated, best of ``repeats``."""
    from pinn_landscape_widget.models.adapters._deepxde_traced import _spec_of

    loss = run.losses["deepxde"]
    chosen = (loss.spec, loss.readers.fold)
    split = (_spec_of(loss.mlp.in_dim, loss.readers.read), None)
    times: dict = {"summed": [], "per_partial": []}
    try:
        for _ in range(repeats):
            for key, (spec, fold) in (("summed", chosen), ("per_partial", split)):
                loss.spec, loss.readers.fold = spec, fold
                with torch.no_grad():
                    t, _ = _timed(lambda: loss.batched_terms(thetas))
                times[key].append(t / len(thetas))
    finally:
        loss.spec, loss.readers.fold = chosen
    return {k: min(v) for k, v in times.items()}


def per_core_seconds(model, run, theta: torch.Tensor, repeats: int = 3) -> dict:
    """CPU seconds (``time.process_time``: what one core spends, whatever the machine's load) of one parameter
    point on one torch thread, alternated, best of ``repeats``: DeepXDE's loss (reverse mode: the forward
    pass, the gradient, one more backward pass per Hessian row it reads), the traced loss, and the matrix
    products the traced jet makes (the channels x the hidden layers' width x width products at every point)
    done by torch's matmul (MKL): what the same jet would cost at MKL's speed per product, before its
    elementwise work."""
    loss = run.losses["deepxde"]
    data = model.data
    n = int(data.train_x.shape[0])
    hidden = [m for m in model.net.linears[1:-1]]
    a = torch.randn(n * loss.spec.n_channels, WIDTH)
    weights = [m.weight.detach().T.contiguous() for m in hidden]

    def products():
        for w in weights:
            a @ w

    def own():
        model.outputs_losses_train(data.train_x, data.train_y, data.train_aux_vars)[1].sum().item()

    def traced():
        with torch.no_grad():
            loss.batched_terms(theta[None])

    cases = {"deepxde_loss": own, "traced_loss": traced, "matmul_products_of_the_jet": products}
    times: dict = {k: [] for k in cases}
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(theta, model.net.parameters())
        for _ in range(repeats):
            for key, fn in cases.items():
                t = time.process_time()
                fn()
                times[key].append(time.process_time() - t)
    finally:
        torch.set_num_threads(saved)
    out = {k: min(v) for k, v in times.items()}
    out["jet_gflop"] = 2.0 * n * loss.spec.n_channels * WIDTH * WIDTH * len(hidden) / 1e9
    return out


def deepxde_row(args) -> dict:
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde

    t_train, model = _timed(lambda: pinnacle_poisson_deepxde(dde, args.dde_domain, args.dde_boundary, args.dde_steps))
    theta_star = torch.nn.utils.parameters_to_vector(model.net.parameters()).detach().clone()
    t_adapt, run = _timed(lambda: plw.adapters.from_deepxde(model))
    if run.attrs["evaluation"] != "traced":
        raise RuntimeError(f"the DeepXDE run is not traced: {run.attrs['evaluation']}")
    n_points = int(model.data.train_x.shape[0])
    print(
        f"deepxde: {run.n_params} parameters, {n_points} points, trained in {t_train:.1f} s, "
        f"from_deepxde {t_adapt:.1f} s",
        flush=True,
    )
    dirs = plw.random_directions(run, 2, seed=0)
    res = args.resolution
    warm = plw.landscape(run, dirs, resolution=3, progress=False)  # warm-up; its ends are the grid's
    axis = [np.linspace(float(warm[a][0]), float(warm[a][-1]), res) for a in ("alpha", "beta")]
    coef = np.stack(np.meshgrid(*axis, indexing="ij"), -1).reshape(-1, 2)
    pick = np.linspace(0, res * res - 1, args.loop_points).round().astype(int)
    thetas = theta_star[None] + torch.as_tensor(coef[pick], dtype=torch.float32) @ dirs.vectors.float()
    deepxde_loss_at(model, thetas[:1], 2)  # warm-up
    # side by side: the loop at 1 thread, the grid, the loop at 2 threads
    loop1, t_loop1 = deepxde_loss_at(model, thetas, 1)
    t_grid, ds = _timed(lambda: plw.landscape(run, dirs, resolution=res, progress=False))
    loop2, t_loop2 = deepxde_loss_at(model, thetas, 2)
    center, _ = deepxde_loss_at(model, theta_star[None], 2)
    previews = []  # DeepXDE's rows subsampled (each condition's and the pde's), against the full grid
    for n in args.subsample:
        t_sub, sub = _timed(lambda n=n: plw.landscape(run, dirs, resolution=res, subsample=n, progress=False))
        a, b = np.log10(sub.loss.values).ravel(), np.log10(ds.loss.values).ravel()
        previews.append(
            dict(
                subsample=n,
                points=json.loads(sub.attrs["subsample_points"]),
                seconds=t_sub,
                time_ratio=t_grid / t_sub,
                spearman=float(spearmanr(a, b).statistic),
                argmin_cells=_argmin_cells(sub.loss.values, ds.loss.values),
            )
        )
        print(previews[-1], flush=True)
    jets = summed_channel_seconds(run, thetas[:2])
    core = per_core_seconds(model, run, theta_star)
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(theta_star, model.net.parameters())
    scale = res * res / len(pick)
    loop_s = {1: t_loop1 * scale, 2: t_loop2 * scale}
    best = min(loop_s, key=loop_s.__getitem__)
    np.testing.assert_allclose(ds.alpha.values, axis[0], rtol=1e-12, atol=1e-12)
    grid_at = ds.loss.values.reshape(-1)[pick]
    rel = float(np.max(np.abs(grid_at - loop1) / np.abs(loop1)))
    c = res // 2
    row = dict(
        problem="PINNacle Poisson2D_Classic in DeepXDE",
        n_params=run.n_params,
        n_points=n_points,
        train_seconds=t_train,
        from_deepxde_seconds=t_adapt,
        evaluation=run.attrs["evaluation"],
        resolution=res,
        seconds=t_grid,
        loop_seconds_scaled=loop_s[best],
        loop_threads=best,
        loop_seconds_by_threads={str(k): v for k, v in loop_s.items()},
        loop_points=len(pick),
        speedup=loop_s[best] / t_grid,
        parallel=ds.attrs["parallel"],
        chunk_size=int(ds.attrs["chunk_size"]),
        center=float(ds.loss.values[c, c]),
        center_deepxde=float(center[0]),
        center_rel_diff=abs(float(ds.loss.values[c, c]) - float(center[0])) / float(center[0]),
        loop_max_rel_diff=rel,
        jet_spec=str(run.losses["deepxde"].spec),
        seconds_per_point_summed_vs_per_partial=jets,
        cpu_seconds_per_point_one_thread=core,
        previews=previews,
        load=os.getloadavg(),
    )
    print(row, flush=True)
    return row


# --------------------------------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--resolution", type=int, default=21)
    ap.add_argument("--loop-points", type=int, default=6)
    ap.add_argument("--subsample", type=int, nargs="*", default=[1024, 4096])
    ap.add_argument("--dask-resolution", type=int, default=7)
    ap.add_argument("--tile-size", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3, help="alternated dask runs per worker count (medians)")
    ap.add_argument("--side", type=int, default=SIDE)
    ap.add_argument("--dde-steps", type=int, default=20, help="Adam steps of the DeepXDE run")
    ap.add_argument("--dde-domain", type=int, default=14336, help="DeepXDE interior points")
    ap.add_argument("--dde-boundary", type=int, default=2048, help="DeepXDE boundary points")
    ap.add_argument("--skip", nargs="*", default=[], choices=["grid", "memory", "dask", "deepxde"])
    ap.add_argument("--memory-op", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.memory_op is not None:
        print(json.dumps(memory_op(args.memory_op, args.side)))
        return

    result: dict = dict(
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        machine=platform.processor() or platform.machine(),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        load_before=os.getloadavg(),
        args=vars(args),
    )
    if "deepxde" not in args.skip:
        result["deepxde"] = deepxde_row(args)
    if not {"grid", "memory", "dask"} - set(args.skip):
        return finish(result, args)
    t_train, run = _timed(lambda: build_run(args.steps, args.side))
    result.update(n_params=run.n_params, train_seconds=t_train)
    print(f"run: {run.n_params} parameters, trained in {t_train:.1f} s", flush=True)
    if "grid" not in args.skip:
        dirs = plw.random_directions(run, 2, seed=0)
        kw = dict(resolution=args.resolution, progress=False)
        plw.landscape(run, dirs, resolution=3, progress=False)  # warm-up
        t_full, full = _timed(lambda: plw.landscape(run, dirs, **kw))
        # the per-point loop on a few grid points (the first row's), scaled to the grid
        seq, loss = sequential(), BoxLoss(run.problem)
        pts = torch.as_tensor(full.center.values)[None] + torch.as_tensor(
            np.stack(np.meshgrid(full.alpha.values, full.beta.values, indexing="ij"), -1).reshape(-1, 2)[
                : args.loop_points
            ],
            dtype=torch.float32,
        ) @ torch.as_tensor(full.directions.values)
        sum(loss(seq).values()).item()  # warm-up
        t0 = time.perf_counter()
        for p in pts:
            torch.nn.utils.vector_to_parameters(p.clone(), seq.parameters())
            sum(loss(seq).values()).item()
        t_loop = (time.perf_counter() - t0) / len(pts) * args.resolution**2
        grid = dict(resolution=args.resolution, seconds=t_full, loop_seconds_scaled=t_loop, speedup=t_loop / t_full)
        grid["parallel"] = full.attrs["parallel"]
        previews = []
        for n in args.subsample:
            t_sub, sub = _timed(lambda n=n: plw.landscape(run, dirs, subsample=n, **kw))
            a, b = np.log10(sub.loss.values).ravel(), np.log10(full.loss.values).ravel()
            previews.append(
                dict(
                    subsample=n,
                    points=json.loads(sub.attrs["subsample_points"]),
                    seconds=t_sub,
                    time_ratio=t_full / t_sub,
                    spearman=float(spearmanr(a, b).statistic),
                    argmin_cells=_argmin_cells(sub.loss.values, full.loss.values),
                )
            )
            print(previews[-1], flush=True)
        result.update(grid=grid, previews=previews)
        print(grid, flush=True)
    if "memory" not in args.skip:
        result["memory"] = memory_rows(args.side)
    if "dask" not in args.skip:
        result["dask"] = dask_rows(run, args.dask_resolution, args.tile_size, args.repeats)
        print(result["dask"], flush=True)
    finish(result, args)


def finish(result: dict, args) -> None:
    result["load_after"] = os.getloadavg()
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1, default=str))
    report(result)


def _preview_table(previews: list[dict]) -> None:
    print("\n| preview | points per set | time | full / preview | Spearman | argmin distance (cells) |")
    print("|---|---|---:|---:|---:|---:|")
    for p in previews:
        kept = ", ".join(f"{v[0]}/{v[1]}" for k, v in p["points"].items() if k != "rel_l2_error")
        print(
            f"| `subsample={p['subsample']}` | {kept} | {p['seconds']:.1f} s | {p['time_ratio']:.1f}x "
            f"| {p['spearman']:.5f} | {p['argmin_cells']:.1f} |"
        )


def report(r: dict) -> None:
    if "deepxde" in r:
        d = r["deepxde"]
        print("\n| operation | time | per-point loop (DeepXDE's loss) | speed-up |\n|---|---:|---:|---:|")
        print(
            f"| `landscape(from_deepxde(model))` {d['resolution']}x{d['resolution']}, {d['n_points']} points "
            f"({d['evaluation']}) | {d['seconds']:.1f} s | {d['loop_seconds_scaled']:.1f} s "
            f"({d['loop_threads']} thread(s)) | **{d['speedup']:.1f}x** |"
        )
        print(
            f"centre {d['center']:.6g} against DeepXDE's {d['center_deepxde']:.6g} (rel {d['center_rel_diff']:.1e}); "
            f"loop points rel {d['loop_max_rel_diff']:.1e}; load {d['load']}"
        )
        j = d["seconds_per_point_summed_vs_per_partial"]
        print(
            f"traced loss per parameter point: {j['summed']:.3f} s with u_xx + u_yy in one channel, "
            f"{j['per_partial']:.3f} s with one channel per partial ({j['per_partial'] / j['summed']:.2f}x)"
        )
        c = d["cpu_seconds_per_point_one_thread"]
        print(
            f"CPU seconds per parameter point, one thread: DeepXDE's loss {c['deepxde_loss']:.3f}, traced "
            f"{c['traced_loss']:.3f} ({c['deepxde_loss'] / c['traced_loss']:.2f}x), the jet's {c['jet_gflop']:.1f} "
            f"GFLOP of products by torch's matmul {c['matmul_products_of_the_jet']:.3f}"
        )
        _preview_table(d.get("previews", []))
    if "grid" in r:
        g = r["grid"]
        print("\n| operation | time | per-point loop | speed-up |\n|---|---:|---:|---:|")
        print(
            f"| `landscape` {g['resolution']}x{g['resolution']} ({g['parallel']}) | {g['seconds']:.1f} s "
            f"| {g['loop_seconds_scaled']:.1f} s | **{g['speedup']:.1f}x** |"
        )
        _preview_table(r["previews"])
    if "memory" in r:
        print("\n| operation | memory_budget | predicted | peak RSS growth | time |\n|---|---:|---:|---:|---:|")
        for m in r["memory"]:
            print(
                f"| {m['op']} | {m['budget'] / MIB:.0f} MiB | {m['predicted'] / MIB:.0f} MiB "
                f"| {m['growth'] / MIB:.0f} MiB | {m['seconds']:.1f} s |"
            )
    if "dask" in r:
        d = r["dask"]
        print("\n| dask workers | grid time | tiles/s per worker |\n|---|---:|---:|")
        for k in (1, 2):
            print(f"| {k} | {d[k]['seconds']:.1f} s | {d[k]['tiles_per_s_per_worker']:.2f} |")
        print(
            f"speed-up 2 vs 1: {d['speedup_2_workers']:.2f}x; bytes per tile {d['bytes_per_tile']}; "
            f"spec {d['spec_bytes_once_per_worker']} bytes once per worker; local {d['local_seconds']:.1f} s"
        )


if __name__ == "__main__":
    main()
