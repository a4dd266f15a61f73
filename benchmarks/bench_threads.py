"""Chunk-parallel CPU grids against torch's own intra-op threads, from the main thread and from a worker.

The widget computes in a worker thread. Once two threads have run torch ops, libgomp manages more threads
than there are cores and stops spinning between parallel regions, so every short op pays a wake-up. This
benchmark times the reference grid (poisson1d strong, 1000 points, 1-50-50-50-1 tanh, float32, 41 x 41)
four ways, alternating, in one process:

  engine    (chunks shared out to single-threaded workers; what landscape() does)
  intra-op  (chunks one after another, each op split over torch's threads; the engine before)
  each from the main thread and from a worker thread (as the widget calls it).

    python benchmarks/bench_threads.py [--threads 2] [--repeats 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.analysis.landscape import grid_coords
from pinn_landscape_widget.engine.evaluation import _chunk_serial, chunk_size_for, evaluate_points


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    run = plw.train(
        "poisson1d",
        "strong",
        width=50,
        depth=3,
        steps=(200, 0),
        optimizer="adam+lbfgs",
        progress=False,
        coefficients=dict(n_points=1000),
    )
    dirs = plw.random_directions(run, 2, seed=0)
    obj = run.objective(None, "cpu", torch.float32)
    axis = grid_coords(-1.0, 1.0, 41)
    mesh = np.meshgrid(axis, axis, indexing="ij")
    coef = torch.as_tensor(np.stack([m.reshape(-1) for m in mesh], axis=1), dtype=torch.float32)
    D = dirs.vectors.float()
    n = coef.shape[0]
    chunk = chunk_size_for(obj, n)

    def make_params(sl):
        return run.params + coef[sl] @ D

    def engine():
        return evaluate_points(obj, make_params, n, chunk)["loss"]

    def intra_op():
        out = torch.empty(n)

        def store(sl, res):
            out[sl] = res["loss"]

        _chunk_serial(obj, make_params, n, chunk, store, compile=False)
        return out

    def timed(fn):
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    worker = ThreadPoolExecutor(1)
    ways = {
        "engine, main thread": lambda: timed(engine),
        "engine, worker thread": lambda: worker.submit(timed, engine).result(),
        "intra-op, main thread": lambda: timed(intra_op),
        "intra-op, worker thread": lambda: worker.submit(timed, intra_op).result(),
    }
    for fn in ways.values():  # warm-up; also puts a second OpenMP team in place, as a widget would
        fn()
    times = {k: [] for k in ways}
    for _ in range(args.repeats):
        for name, fn in ways.items():
            times[name].append(fn())
    worker.shutdown()
    diff = float((engine() - intra_op()).abs().max() / intra_op().abs().max())
    rows = {k: statistics.median(v) for k, v in times.items()}
    for name, t in rows.items():
        print(f"{name:26s} {t:.3f} s  (runs: {', '.join(f'{x:.2f}' for x in times[name])})")
    base = rows["intra-op, worker thread"]
    print(
        f"engine vs intra-op from a worker thread: {base / rows['engine, worker thread']:.2f}x; "
        f"from the main thread: {rows['intra-op, main thread'] / rows['engine, main thread']:.2f}x; "
        f"max rel. difference of the grids {diff:.1e}"
    )
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                dict(threads=args.threads, chunk=chunk, median_s=rows, runs_s=times, max_rel_diff=diff), indent=2
            )
        )
        print("wrote", args.out)


if __name__ == "__main__":
    main()
