"""The widget on a dask cluster against the widget computing in the kernel, side by side in one run.

The run is an opaque loss (``plw.from_model``: an ``nn.Sequential`` of ``--width`` x ``--depth`` tanh and a
strong Poisson loss written with ``torch.autograd.grad`` on ``--side`` squared interior points and the four
faces), the case a cluster is for: the package cannot batch it, each grid point is one call of the user's
function. For each mode, alternated over ``--repeats`` (medians):

  - local: ``LandscapeWidget(run, resolution=R)`` computing in the kernel's process (``landscape``'s default
    ``parallel="auto"``: threads, then forked workers when the GIL is the limit);
  - cluster: the same with ``client=`` a ``distributed.LocalCluster`` of ``--workers`` single-threaded
    worker processes: the time until the first tile is drawn and until the grid is done;
  - kernel: while each grid computes, the main thread runs a fixed pure-Python probe again and again; its
    median time against the same probe on an idle kernel says how responsive the kernel stays;
  - stale: with the cluster, a new ``resolution`` as soon as the first tile is drawn; the time until every
    task of the old grid has left the scheduler (cancelled), and until the new grid is done.

The widget's grids must equal ``landscape``'s local grid (rtol 1e-5). Prints Markdown rows and writes JSON to
``--out``.

    python benchmarks/bench_widget_cluster.py --out benchmarks/results/widget_cluster_cpu.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.viz._slots import SLOT_TRAITS


class PoissonLoss:
    """-laplacian u = f on [0, 1]^2, u = 0 on the faces, as a user writes it with autograd (picklable)."""

    def __init__(self, side: int):
        g = torch.linspace(0, 1, side)
        self.x = torch.cartesian_prod(g, g)
        self.f = torch.sin(3 * self.x[:, 0]) * torch.cos(2 * self.x[:, 1])
        t = torch.linspace(0, 1, side)
        z, o = torch.zeros(side), torch.ones(side)
        self.faces = torch.cat([torch.stack(p, 1) for p in ((z, t), (o, t), (t, z), (t, o))])

    def __call__(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        x = self.x.clone().requires_grad_(True)
        u = model(x)[:, 0]
        (g,) = torch.autograd.grad(u.sum(), x, create_graph=True)
        lap = sum(torch.autograd.grad(g[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(2))
        return {"residual": ((-lap - self.f) ** 2).mean(), "boundary": (model(self.faces)[:, 0] ** 2).mean()}


def opaque_run(width: int, depth: int, side: int):
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = [torch.nn.Linear(2, width), torch.nn.Tanh()]
    for _ in range(depth - 1):
        layers += [torch.nn.Linear(width, width), torch.nn.Tanh()]
    return plw.from_model(torch.nn.Sequential(*layers, torch.nn.Linear(width, 1)), PoissonLoss(side))


def probe() -> float:
    """Seconds of a fixed pure-Python loop on the calling (main) thread."""
    t = time.perf_counter()
    s = 0
    for i in range(100_000):
        s += i * i
    return time.perf_counter() - t


def probe_while(busy: threading.Event) -> list[float]:
    out = []
    while not busy.is_set():
        out.append(probe())
        time.sleep(0.2)  # a light duty cycle: the probe must not be what slows the grid
    return out


def one_grid(run, resolution: int, client) -> dict:
    """Time a widget's grid from request to done; the first tile drawn; the main thread's probe meanwhile."""
    w = plw.LandscapeWidget(run, resolution=resolution, client=client, compute=False)
    first: list[float] = []
    w.observe(
        lambda ch: first.append(time.perf_counter()) if ch["new"].get("pending") and not first else None,
        names=list(SLOT_TRAITS),
    )
    finished = threading.Event()
    t0 = time.perf_counter()
    fut = w.request()
    fut.add_done_callback(lambda _: finished.set())
    probes = probe_while(finished)
    w.wait(600)
    t_done = time.perf_counter() - t0
    assert w.status == "done", w.error
    ds = w.datasets[0]
    w.close()
    return dict(
        seconds=t_done,
        first_tile_s=(first[0] - t0) if first else None,
        probe_s=statistics.median(probes) if probes else None,
        loss=ds.loss.values,
    )


def stale(run, resolution: int, client) -> dict:
    """A new resolution once the first tile is drawn: until the old tasks left the scheduler; until done."""

    def keys():
        return set(client.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks]))

    w = plw.LandscapeWidget(run, resolution=resolution, client=client, compute=False)
    landed = threading.Event()
    w.observe(lambda ch: landed.set() if ch["new"].get("pending") else None, names=list(SLOT_TRAITS))
    before = keys()
    w.request()
    landed.wait(600)
    old = keys() - before
    t0 = time.perf_counter()
    w.resolution = max(3, resolution // 2 | 1)
    while old & keys():
        time.sleep(0.01)
    t_gone = time.perf_counter() - t0
    w.wait(600)
    t_new = time.perf_counter() - t0
    assert w.status == "done", w.error
    w.close()
    return dict(old_tasks=len(old), cancelled_after_s=t_gone, new_grid_done_s=t_new)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--side", type=int, default=24, help="interior points per axis")
    ap.add_argument("--resolution", type=int, default=15)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    import distributed

    run = opaque_run(args.width, args.depth, args.side)
    dirs = plw.random_directions(run, 2, seed=0)
    reference = plw.landscape(run, dirs, resolution=args.resolution, progress=False).loss.values
    cluster = distributed.LocalCluster(
        n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    client = distributed.Client(cluster)
    try:
        plw.landscape(run, dirs, resolution=3, progress=False, client=client)  # the workers import torch once
        idle = statistics.median(probe() for _ in range(30))
        rows: dict[str, list[dict]] = {"local": [], "cluster": []}
        for _ in range(args.repeats):  # alternated: a change of the machine's load hits both alike
            for mode, c in (("local", None), ("cluster", client)):
                r = one_grid(run, args.resolution, c)
                np.testing.assert_allclose(r.pop("loss"), reference, rtol=1e-5, err_msg=mode)
                rows[mode].append(r)
        stale_rows = [stale(run, args.resolution, client) for _ in range(args.repeats)]
    finally:
        client.close()
        cluster.close()

    def med(mode, key):
        vals = [r[key] for r in rows[mode] if r[key] is not None]
        return statistics.median(vals) if vals else None

    result = dict(
        when=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        machine=dict(platform=platform.platform(), cpus=os.cpu_count(), load=os.getloadavg()),
        settings=vars(args) | {"out": str(args.out) if args.out else None, "n_params": int(run.n_params)},
        idle_probe_s=idle,
        modes={m: dict(runs=rows[m], **{k: med(m, k) for k in ("seconds", "first_tile_s", "probe_s")}) for m in rows},
        stale={k: statistics.median(r[k] for r in stale_rows) for k in stale_rows[0]},
    )
    print(f"load average {result['machine']['load']}; {run.n_params} parameters; {args.resolution}^2 grid")
    print("\n| widget | first tile drawn | grid done | main-thread probe (idle 1.0x) |\n|---|---:|---:|---:|")
    for m in rows:
        d = result["modes"][m]
        first = f"{d['first_tile_s']:.2f} s" if d["first_tile_s"] is not None else "-"
        label = "in the kernel" if m == "local" else f"client, {args.workers} workers"
        print(f"| {label} | {first} | {d['seconds']:.2f} s | {d['probe_s'] / idle:.2f}x |")
    s = result["stale"]
    print(
        f"\nstale request: {s['old_tasks']:.0f} old tasks left the scheduler {s['cancelled_after_s']:.2f} s after the "
        f"change; the new grid was done after {s['new_grid_done_s']:.2f} s"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
