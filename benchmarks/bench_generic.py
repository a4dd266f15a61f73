"""Your own model against the per-point autograd loop a user would write, side by side in one process.

Reference workload: poisson1d strong form, 1000 midpoints, MLP 1-50-50-50-1 tanh written as a plain
``nn.Sequential``, float32, 2 threads, a 2-D slice along two filter-normalised random directions.

  loop           the baseline: for each grid point, write theta into the module
                 (``vector_to_parameters``), the loss by autograd (u'' through two grad calls), ``.item()``
  from_model     ``plw.from_model(seq, loss)`` with the same loss function: the generic per-point path
  train(model=)  ``plw.train(problem, model=seq)``: the Sequential is recognised, the fused engine runs
  fourier        ``plw.train(problem, model=FourierFeatures)``: the torch.func path (vmap over parameter
                 points of forward-mode input derivatives), against the loop on the same module

DeepXDE rows (when deepxde is installed; ``--only deepxde`` runs just these): DeepXDE's forward examples as
its documentation writes them, Poisson 1-D Dirichlet (FNN 1-50-50-50-1 tanh, 16 + 2 points) and diffusion
1-D with an initial condition (FNN 2-32-32-32-1 tanh, 40 + 20 + 10 points), trained 300 Adam steps:

  dde loop       the baseline: for each grid point, write theta into ``model.net``, DeepXDE's compiled loss
                 (``model.outputs_losses_train``), ``.sum().item()``; at 1 and at 2 torch threads, the
                 faster one counts
  dde traced     ``plw.landscape(plw.adapters.from_deepxde(model))``: DeepXDE's loss code batched over
                 parameter points on the engine's jets (``run.attrs["evaluation"] == "traced"``)

Each method is timed alternately ``--repeats`` times on the same grid; medians and ratios are reported.
The grid values of every method are checked against the loop's.

Then, on a CPU, opaque losses (``from_model`` with a Python loss, evaluated one point at a time) at each of
``--opaque-resolutions`` (default 21 and 41), side by side in one run, for two workloads:

  mlp            the reference workload above (1-50-50-50-1, 1000 points): ~97% of a point's time is in
                 torch ops that release the GIL
  small          a tutorial-style loss (a 1-20-20-1 Sequential, a float32 ``x`` of 64 points made once with
                 requires_grad, a global ``f``): ~30% of a point's time holds the GIL

with these methods:

  loop@1, loop@T the per-point loop with 1 and with T torch threads; the faster is the baseline
  threads        ``landscape(parallel="threads")``: T Python threads, one torch thread each (the GIL)
  processes      ``landscape(parallel="processes")``: T forked worker processes, one torch thread each
  auto           ``landscape()`` (the default): threads, handing over to processes when worth it

    python benchmarks/bench_generic.py [--resolution 21] [--repeats 3] [--device cpu|cuda] [--loop-points N]
                                       [--only all|generic|deepxde] [--opaque-resolutions 21,41] [--out FILE]

With ``--loop-points N`` the loop runs on N evenly spaced grid points only and its time is scaled to the
whole grid (for large grids on a GPU, where the loop alone would take minutes).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import pinn_landscape_widget as plw


class FourierFeatures(torch.nn.Module):
    def __init__(self, m=16, width=50):
        super().__init__()
        self.B = torch.nn.Parameter(2.0 * torch.randn(1, m, generator=torch.Generator().manual_seed(0)))
        self.body = torch.nn.Sequential(
            torch.nn.Linear(2 * m, width),
            torch.nn.Tanh(),
            torch.nn.Linear(width, width),
            torch.nn.Tanh(),
            torch.nn.Linear(width, 1),
        )

    def forward(self, x):
        z = x @ self.B
        return self.body(torch.cat([torch.sin(z), torch.cos(z)], dim=-1))


def user_loss(x, f, w):
    """poisson1d's strong loss as users write it: the hard ansatz, u'' by autograd, quadrature weights."""

    def loss(model):
        xx = x.clone().requires_grad_(True)
        u = torch.sin(math.pi * xx[:, 0]) * model(xx)[:, 0]
        ux = torch.autograd.grad(u.sum(), xx, create_graph=True)[0][:, 0]
        uxx = torch.autograd.grad(ux.sum(), xx, create_graph=True)[0][:, 0]
        return ((uxx + f) ** 2 * w).sum()

    return loss


def loop(module, loss, theta0, D, coef, subset) -> np.ndarray:
    params = list(module.parameters())
    out = np.full(coef.shape[0], np.nan)
    for k in subset:
        theta = theta0 + float(coef[k, 0]) * D[0] + float(coef[k, 1]) * D[1]
        torch.nn.utils.vector_to_parameters(theta, params)
        out[k] = loss(module).item()
    return out


def deepxde_examples(dde):
    """(label, compiled model) for DeepXDE's Poisson 1-D and diffusion 1-D examples, as its docs write them."""

    def poisson_pde(x, y):
        dy_xx = dde.grad.hessian(y, x)
        return -dy_xx - np.pi**2 * torch.sin(np.pi * x)

    def poisson_func(x):
        return np.sin(np.pi * x)

    geom = dde.geometry.Interval(-1, 1)
    bc = dde.icbc.DirichletBC(geom, poisson_func, lambda _, on_boundary: on_boundary)
    data = dde.data.PDE(geom, poisson_pde, bc, 16, 2, solution=poisson_func, num_test=100)
    net = dde.nn.FNN([1] + [50] * 3 + [1], "tanh", "Glorot uniform")
    yield "dde poisson1d", dde.Model(data, net)

    def diffusion_pde(x, y):
        dy_t = dde.grad.jacobian(y, x, i=0, j=1)
        dy_xx = dde.grad.hessian(y, x, i=0, j=0)
        return (
            dy_t
            - dy_xx
            + torch.exp(-x[:, 1:]) * (torch.sin(np.pi * x[:, 0:1]) - np.pi**2 * torch.sin(np.pi * x[:, 0:1]))
        )

    def diffusion_func(x):
        return np.sin(np.pi * x[:, 0:1]) * np.exp(-x[:, 1:])

    geomtime = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1), dde.geometry.TimeDomain(0, 1))
    bc = dde.icbc.DirichletBC(geomtime, diffusion_func, lambda _, on_boundary: on_boundary)
    ic = dde.icbc.IC(geomtime, diffusion_func, lambda _, on_initial: on_initial)
    data = dde.data.TimePDE(
        geomtime, diffusion_pde, [bc, ic], num_domain=40, num_boundary=20, num_initial=10, solution=diffusion_func
    )
    net = dde.nn.FNN([2] + [32] * 3 + [1], "tanh", "Glorot normal")
    yield "dde diffusion1d", dde.Model(data, net)


def deepxde_loop(model, theta0, D, coef, subset, threads) -> np.ndarray:
    """The per-point loop a DeepXDE user would write: theta into model.net, DeepXDE's loss, .item()."""
    params = list(model.net.parameters())
    data = model.data
    out = np.full(coef.shape[0], np.nan)
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for k in subset:
            theta = theta0 + float(coef[k, 0]) * D[0] + float(coef[k, 1]) * D[1]
            with torch.no_grad():
                torch.nn.utils.vector_to_parameters(theta, params)
            out[k] = model.outputs_losses_train(data.train_x, data.train_y, data.train_aux_vars)[1].sum().item()
    finally:
        torch.set_num_threads(saved)
    return out


def deepxde_rows(args, coef, subset, scale) -> list[dict]:
    import os

    os.environ.setdefault("DDE_BACKEND", "pytorch")
    try:
        import deepxde as dde
    except ImportError:
        print("deepxde is not installed: no DeepXDE rows", flush=True)
        return []
    res = args.resolution
    rows = []
    dde.config.set_random_seed(0)
    for label, model in deepxde_examples(dde):
        model.compile("adam", lr=1e-3, verbose=0)
        model.train(iterations=300, display_every=1000, verbose=0)
        run = plw.adapters.from_deepxde(model)
        assert run.attrs["evaluation"] == "traced", run.attrs
        dirs = plw.random_directions(run, 2, seed=0)
        D, theta0 = dirs.vectors.clone(), run.params.clone()
        methods = {
            "dde loop 1t": lambda model=model, theta0=theta0, D=D: deepxde_loop(model, theta0, D, coef, subset, 1),
            "dde loop 2t": lambda model=model, theta0=theta0, D=D: deepxde_loop(model, theta0, D, coef, subset, 2),
            "dde traced": lambda run=run, dirs=dirs: plw.landscape(
                run, dirs, span=1.0, resolution=res, progress=False
            ).loss.values.reshape(-1),
        }
        times = {k: [] for k in methods}
        values = {}
        for _ in range(args.repeats):
            for name, fn in methods.items():
                t = time.perf_counter()
                values[name] = fn()
                times[name].append((time.perf_counter() - t) * (scale if name.startswith("dde loop") else 1.0))
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(theta0, model.net.parameters())
        med = {k: statistics.median(v) for k, v in times.items()}
        best = min(("dde loop 1t", "dde loop 2t"), key=lambda k: med[k])
        sub = np.asarray(list(subset))
        ref = values[best]
        err = float(np.max(np.abs(values["dde traced"][sub] - ref[sub]) / np.maximum(np.abs(ref[sub]), 1e-30)))
        rows.append(
            dict(
                module=label,
                method="dde traced",
                network=run.net.description,
                seconds=med["dde traced"],
                loop_seconds=med[best],
                loop_threads=int(best[-2]),
                loop_seconds_by_threads={"1": med["dde loop 1t"], "2": med["dde loop 2t"]},
                ratio=med[best] / med["dde traced"],
                max_rel_diff=err,
                grid=f"{res}x{res}",
                times=times["dde traced"],
                loop_times=times[best],
            )
        )
        print(
            f"{label:16s} traced {med['dde traced']:7.3f} s  loop {med[best]:7.3f} s ({best[-2]} thread(s); "
            f"1: {med['dde loop 1t']:.3f} s, 2: {med['dde loop 2t']:.3f} s)  ratio {med[best] / med['dde traced']:5.2f}x"
            f"  max rel diff {err:.1e}",
            flush=True,
        )
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=21)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--loop-points", type=int, default=None)
    ap.add_argument("--only", choices=("all", "generic", "deepxde"), default="all")
    ap.add_argument("--opaque-resolutions", default="21,41", help="comma-separated; empty to skip")
    ap.add_argument("--only-opaque", action="store_true", help="skip the rows before the opaque loss's")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    prob = plw.get_problem("poisson1d")
    x, w = prob.quadrature()
    x, w = x.float().to(dev), w.float().to(dev)
    f = prob.source(x.double().cpu()).float().to(dev)
    loss = user_loss(x, f, w)
    res = args.resolution
    axis = np.linspace(-1, 1, res)
    coef = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    n = coef.shape[0]
    subset = range(n) if args.loop_points is None else np.linspace(0, n - 1, args.loop_points).round().astype(int)
    scale = n / len(subset)

    rows = []
    trained = {}
    cases = (
        (
            "mlp",
            lambda: torch.nn.Sequential(
                torch.nn.Linear(1, 50),
                torch.nn.Tanh(),
                torch.nn.Linear(50, 50),
                torch.nn.Tanh(),
                torch.nn.Linear(50, 50),
                torch.nn.Tanh(),
                torch.nn.Linear(50, 1),
            ),
        ),
        ("fourier", FourierFeatures),
    )
    for label, make in cases if args.only != "deepxde" else ():
        torch.manual_seed(0)
        seq = make().to(dev)
        run = plw.train(prob, "strong", model=seq, steps=(200, 0), progress=False, device=dev)  # trains a copy
        torch.nn.utils.vector_to_parameters(run.params.clone(), seq.parameters())
        user = plw.from_model(seq, loss, device=dev)
        dirs = plw.random_directions(run, 2, seed=0)
        trained[label] = (seq, user, dirs, run.params.clone(), run.net.description)
        if args.only_opaque:
            break
        D = dirs.vectors
        theta0 = run.params.clone()
        D = D.to(dev)
        theta0 = theta0.to(dev)
        methods = {"loop": lambda seq=seq, theta0=theta0, D=D: loop(seq, loss, theta0, D, coef, subset)}
        if label == "mlp":
            methods["from_model"] = lambda user=user, dirs=dirs: plw.landscape(
                user, dirs, span=1.0, resolution=res, progress=False
            ).loss.values.reshape(-1)
        methods["train(model=)"] = lambda run=run, dirs=dirs: plw.landscape(
            run, dirs, span=1.0, resolution=res, progress=False
        ).loss.values.reshape(-1)
        times = {k: [] for k in methods}
        values = {}
        for _ in range(args.repeats):
            for name, fn in methods.items():
                sync()
                t = time.perf_counter()
                values[name] = fn()
                sync()
                times[name].append((time.perf_counter() - t) * (scale if name == "loop" else 1.0))
        torch.nn.utils.vector_to_parameters(theta0, seq.parameters())
        ref = values["loop"]
        med = {k: statistics.median(v) for k, v in times.items()}
        for name in methods:
            if name == "loop":
                continue
            sub = np.asarray(list(subset))
            err = float(np.max(np.abs(values[name][sub] - ref[sub]) / np.maximum(np.abs(ref[sub]), 1e-30)))
            rows.append(
                dict(
                    module=label,
                    method=name,
                    network=run.net.description,
                    seconds=med[name],
                    loop_seconds=med["loop"],
                    ratio=med["loop"] / med[name],
                    max_rel_diff=err,
                    grid=f"{res}x{res}",
                    times=times[name],
                    loop_times=times["loop"],
                )
            )
            print(
                f"{label:8s} {name:14s} {med[name]:7.3f} s  loop {med['loop']:7.3f} s  ratio {med['loop'] / med[name]:5.2f}x"
                f"  max rel diff {err:.1e}",
                flush=True,
            )
    resolutions = [int(r) for r in args.opaque_resolutions.split(",") if r.strip()]
    if dev.type == "cpu" and resolutions and "mlp" in trained:
        seq, user, dirs, theta0, network = trained["mlp"]
        small = small_workload()
        for r in resolutions:
            rows += opaque_rows("mlp", seq, user, dirs, theta0, network, loss, r, args.threads, args.repeats)
            rows += opaque_rows("small", *small, r, args.threads, args.repeats)
    if args.only != "generic" and dev.type == "cpu":
        rows += deepxde_rows(args, coef, subset, scale)
    meta = dict(
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        python=platform.python_version(),
        machine=platform.processor() or platform.machine(),
        date=time.strftime("%Y-%m-%d"),
        load_average=list(__import__("os").getloadavg()),
    )
    if args.out:
        Path(args.out).write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    return rows


X_SMALL = torch.linspace(0.0, 1.0, 64).reshape(-1, 1).requires_grad_(True)
F_SMALL = (math.pi**2) * torch.sin(math.pi * X_SMALL.detach())


def small_loss(model):
    """The loss as tutorials write it: points made once with requires_grad, the source a global."""
    u = model(X_SMALL)
    ux = torch.autograd.grad(u.sum(), X_SMALL, create_graph=True)[0]
    uxx = torch.autograd.grad(ux.sum(), X_SMALL, create_graph=True)[0]
    return ((uxx + F_SMALL) ** 2).mean() + (model(X_SMALL[[0, -1]]) ** 2).mean()


def small_workload():
    torch.manual_seed(0)
    seq = torch.nn.Sequential(
        torch.nn.Linear(1, 20), torch.nn.Tanh(), torch.nn.Linear(20, 20), torch.nn.Tanh(), torch.nn.Linear(20, 1)
    )
    user = plw.from_model(seq, small_loss)
    dirs = plw.random_directions(user, 2, seed=0)
    return seq, user, dirs, user.params.clone(), "1-20-20-1 tanh Sequential, 64 points", small_loss


def opaque_rows(label, seq, user, dirs, theta0, network, loss, res, threads, repeats) -> list[dict]:
    """The opaque loss at res x res: the loop at 1 and at ``threads`` torch threads, then landscape() on
    threads, on processes and with parallel="auto", timed alternately; ratios against the faster loop."""
    axis = np.linspace(-1, 1, res)
    coef = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    D = dirs.vectors

    def loop_at(t):
        def go():
            torch.set_num_threads(t)
            try:
                return loop(seq, loss, theta0, D, coef, range(coef.shape[0]))
            finally:
                torch.set_num_threads(threads)

        return go

    def grid(parallel):
        info = {}

        def go():
            ds = plw.landscape(user, dirs, span=1.0, resolution=res, progress=False, parallel=parallel)
            info.setdefault("runs", []).append(ds.attrs["parallel"])
            info["parallel"] = ", ".join(sorted(set(info["runs"])))  # what ran, over the repeats
            return ds.loss.values.reshape(-1)

        return go, info

    methods = {"loop@1": (loop_at(1), {})}
    if threads != 1:
        methods[f"loop@{threads}"] = (loop_at(threads), {})
    for p in ("threads", "processes", "auto"):
        methods[p] = grid(p)
    times = {k: [] for k in methods}
    values = {}
    for _ in range(repeats):
        for name, (fn, _info) in methods.items():
            t = time.perf_counter()
            values[name] = fn()
            times[name].append(time.perf_counter() - t)
    torch.nn.utils.vector_to_parameters(theta0, seq.parameters())
    med = {k: statistics.median(v) for k, v in times.items()}
    best_loop = min((k for k in methods if k.startswith("loop")), key=lambda k: med[k])
    ref = values[best_loop]
    print(f"opaque {label} {res}x{res}: baseline {best_loop} {med[best_loop]:.3f} s", flush=True)
    rows = []
    for name, (_fn, info) in methods.items():
        err = float(np.max(np.abs(values[name] - ref) / np.maximum(np.abs(ref), 1e-30)))
        ratio = med[best_loop] / med[name]
        rows.append(
            dict(
                module=label,
                method=f"from_model opaque {name}",
                network=network,
                seconds=med[name],
                loop_seconds=med[best_loop],
                loop_method=best_loop,
                ratio=ratio,
                max_rel_diff=err,
                grid=f"{res}x{res}",
                times=times[name],
                loop_times=times[best_loop],
                parallel=info.get("parallel", "loop"),
            )
        )
        print(
            f"opaque {label:5s} {res}x{res} {name:10s} {med[name]:7.3f} s  ratio {ratio:5.2f}x vs {best_loop}"
            f"  max rel diff {err:.1e}  ({info.get('parallel', 'loop')})",
            flush=True,
        )
    return rows


if __name__ == "__main__":
    main()
