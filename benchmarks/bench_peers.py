"""landscape() against the `loss-landscapes` library (pip install loss-landscapes), side by side.

`loss_landscapes.random_plane` evaluates a user metric at each of steps x steps points, one model at a
time; the metric here is the PINN loss by autograd (u'' for the strong form, u' for Deep Ritz) on the
model our run exports (`run.model_at`, hard ansatz included). Reference workload: poisson1d, 1000 points,
MLP 1-50-50-50-1 tanh, float32, 41 x 41, 2 threads. Both sample a filter-normalised random plane; the
directions differ (the library draws its own), so only the timings are compared.

    python benchmarks/bench_peers.py [--steps 41] [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

import pinn_landscape_widget as plw


def pinn_metric(run):
    import loss_landscapes.metrics

    x, w = run.problem.quadrature()
    f = run.problem.source(x).float()
    x, w = x.float(), w.float()
    strong = run.formulation == "strong"

    class PINNLoss(loss_landscapes.metrics.Metric):
        def __call__(self, model_wrapper):
            model = model_wrapper.modules[0]
            xx = x.clone().requires_grad_(True)
            u = model(xx)
            du = torch.autograd.grad(u.sum(), xx, create_graph=strong)[0]
            if strong:
                d2u = torch.autograd.grad(du.sum(), xx)[0][:, 0]
                return float(((d2u + f) ** 2 * w).sum())
            return float(((0.5 * du[:, 0] ** 2 - f * u.detach()) * w).sum())

    return PINNLoss()


def main(argv=None):
    import loss_landscapes

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=41)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for form in ("strong", "deep_ritz"):
        run = plw.train("poisson1d", form, steps=(200, 0), progress=False, device="cpu")
        dirs = plw.random_directions(run, 2, seed=0)
        metric = pinn_metric(run)
        ours, peer = [], []
        plw.landscape(run, dirs, resolution=args.steps, progress=False)
        for _ in range(args.repeats):
            t = time.perf_counter()
            plw.landscape(run, dirs, resolution=args.steps, progress=False)
            ours.append(time.perf_counter() - t)
            model = run.model_at(run.params)
            t = time.perf_counter()
            grid = loss_landscapes.random_plane(
                model, metric, distance=2.0, steps=args.steps, normalization="filter", deepcopy_model=True
            )
            peer.append(time.perf_counter() - t)
        grid_ok = grid.shape == (args.steps, args.steps)
        row = dict(
            formulation=form,
            steps=args.steps,
            landscape_s=statistics.median(ours),
            loss_landscapes_s=statistics.median(peer),
            grid_ok=bool(grid_ok),
        )
        row["ratio"] = row["loss_landscapes_s"] / row["landscape_s"]
        rows.append(row)
        print(
            f"{form:10s} {args.steps}x{args.steps}: landscape() {row['landscape_s']:.2f} s, loss-landscapes "
            f"{row['loss_landscapes_s']:.2f} s, ratio {row['ratio']:.2f}x"
        )
    if args.out:
        Path(args.out).write_text(
            json.dumps(dict(threads=args.threads, torch=torch.__version__, results=rows), indent=2)
        )
        print("wrote", args.out)
    return rows


if __name__ == "__main__":
    main()
