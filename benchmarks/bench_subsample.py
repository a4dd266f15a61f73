"""Point-subsampled landscapes as previews: how much time they save and how much of the picture they keep.

For a few built-in problems (default options, strong form), a short training (``--steps``, Adam, float32,
MLP 3 x 50 tanh) and then, on filter-normalised random directions (seed 0), the full 41 x 41 landscape and
subsampled ones (``landscape(run, subsample=f)`` for each fraction f of ``--fractions``, seed 0):

  - time ratio: full time / subsampled time (medians of ``--repeats`` alternated runs);
  - Spearman rank correlation of the two grids' loss values (scipy.stats.spearmanr over all grid points);
  - argmin distance: the Euclidean distance between the two grids' argmin positions, in grid cells.

Prints a Markdown table and writes the JSON (date, machine, torch version, threads, every row) to ``--out``.

    python benchmarks/bench_subsample.py --out benchmarks/results/subsample_cpu.json
    python benchmarks/bench_subsample.py --problems poisson1d --steps 100 --out /tmp/s.json   # a quick pass
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

import pinn_landscape_widget as plw

PROBLEMS = ("poisson1d", "poisson2d", "heat1d", "kovasznay2d")
RESOLUTION = 41


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def measure(name: str, steps: int, fractions: list[float], repeats: int, device: str) -> list[dict]:
    t_train, run = _timed(
        lambda: plw.train(name, "strong", steps=steps, optimizer="adam", progress=False, device=device)
    )
    dirs = plw.random_directions(run, 2, seed=0)
    kw = dict(resolution=RESOLUTION, progress=False, device=device)
    plw.landscape(run, dirs, resolution=5, progress=False, device=device)  # warm-up (kernels, caches)
    times: dict = {None: []}
    grids: dict = {}
    for f in fractions:
        times[f] = []
    for _ in range(repeats):  # alternate full and subsampled so load drifts hit both alike
        for f in times:
            t, ds = _timed(lambda f=f: plw.landscape(run, dirs, subsample=f, **kw))
            times[f].append(t)
            grids[f] = ds
    full = grids[None]
    L = full.loss.values
    i_full = np.unravel_index(np.nanargmin(L), L.shape)
    rows = []
    for f in fractions:
        ds = grids[f]
        S = ds.loss.values
        i_sub = np.unravel_index(np.nanargmin(S), S.shape)
        ok = np.isfinite(L) & np.isfinite(S)
        rho = float(spearmanr(L[ok], S[ok]).statistic)
        kept = json.loads(ds.attrs["subsample_points"])
        rows.append(
            dict(
                problem=name,
                steps=steps,
                train_seconds=t_train,
                fraction=f,
                points=kept,
                points_kept=sum(v[0] for v in kept.values()),
                points_all=sum(v[1] for v in kept.values()),
                full_seconds=statistics.median(times[None]),
                subsampled_seconds=statistics.median(times[f]),
                time_ratio=statistics.median(times[None]) / statistics.median(times[f]),
                spearman=rho,
                argmin_full=[int(i) for i in i_full],
                argmin_subsampled=[int(i) for i in i_sub],
                argmin_distance_cells=float(np.hypot(i_full[0] - i_sub[0], i_full[1] - i_sub[1])),
                rel_l2_error_center=float(full.attrs["rel_l2_error_center"]),
            )
        )
    return rows


def table(rows: list[dict]) -> str:
    out = [
        "| problem | points kept | full 41² | subsampled | time ratio | Spearman ρ | argmin shift (cells) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['problem']} | {r['fraction']:.0%} ({r['points_kept']} of {r['points_all']}) | "
            f"{r['full_seconds']:.3f} s | {r['subsampled_seconds']:.3f} s | {r['time_ratio']:.1f}x | "
            f"{r['spearman']:.4f} | {r['argmin_distance_cells']:.1f} |"
        )
    return "\n".join(out)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="where to write the JSON")
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--fractions", default="0.1,0.25")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    fractions = [float(f) for f in a.fractions.split(",")]
    rows = []
    for name in a.problems.split(","):
        rows += measure(name, a.steps, fractions, a.repeats, a.device)
        print("\n".join(table([r for r in rows if r["problem"] == name]).split("\n")[2:]), flush=True)
    result = dict(
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        machine=_cpu_name(),
        cpu_count=os.cpu_count(),
        load_average=list(os.getloadavg()),
        python=platform.python_version(),
        torch=torch.__version__,
        threads=a.threads,
        device=a.device,
        resolution=RESOLUTION,
        rows=rows,
    )
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
