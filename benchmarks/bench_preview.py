"""How good the widget's preview is: the preview it plans and draws before each full grid, against the full
surface, on built-in problems and on a PINNacle-size run.

Each run gets a widget panel (random filter-normalised directions, seed 0, zoom 1) whose full grid (41 x 41
for the built-ins, 21 x 21 for the PINNacle-size run) is computed first through the widget's own
``SliceComputer``, which measures the cost per parameter point as the widget does; then the preview the
widget would draw before that grid (``preview_plan`` with that cost, ``compute_preview``), and the same
coarse grid on every point. Reported per preview:

  - its plan: resolution and points ("automatic" is ``preview_points=None``; the built-ins are small, so
    their automatic preview is on every point; ``--points N`` adds a row with N points per set, as a large
    run's subset would be);
  - its compute time, and the full grid's;
  - Spearman's rho between its values and the same coarse grid's on every point (what the subset changes);
  - the distance from its argmin to the full surface's argmin, in cells of the full grid (what the coarse
    grid and the subset change together), beside the same distance for the all-point coarse grid.

Built-ins: default options, strong form, MLP 3 x 50, Adam, ``--steps`` (300), float32, as
``bench_subsample.py``. PINNacle-size: ``bench_scale.build_run`` (2-100x5-1 tanh, 16,896 points,
``--scale-steps`` Adam steps).

    python benchmarks/bench_preview.py --out benchmarks/results/preview_cpu.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

import pinn_landscape_widget as plw
from pinn_landscape_widget.viz.widget import PREVIEW_BUDGET_S, PREVIEW_RESOLUTION

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import build_run  # noqa: E402

PROBLEMS = ("poisson1d", "poisson2d", "heat1d", "kovasznay2d")


def _argmin_xy(ds) -> np.ndarray:
    i = np.unravel_index(np.nanargmin(ds.loss.values), ds.loss.shape)
    return np.array([ds.alpha.values[i[0]], ds.beta.values[i[1]]])


def measure(label: str, run, resolution: int, points_rows: list) -> list[dict]:
    w = plw.LandscapeWidget(run, resolution=resolution, compute=False)
    comp = w._computer
    s = w.panel_settings()[0]
    full = comp.compute(s)
    cell = float(full.alpha.values[1] - full.alpha.values[0])
    key = (s.run, s.formulation)
    cost = comp.cost_per_point[key]  # the full grid's: what the widget plans the next preview with
    rows = []
    for points in points_rows:
        comp.preview_points = points
        comp.cost_per_point[key] = cost
        plan = comp.preview_plan(s, PREVIEW_RESOLUTION, PREVIEW_BUDGET_S)
        if plan is None:
            print(f"{label}: no preview before a {resolution} x {resolution} grid (points {points})")
            continue
        preview = comp.compute_preview(s, plan)
        exact = comp.compute(s.at_resolution(plan.resolution))  # the same coarse grid on every point
        rho = float(spearmanr(preview.loss.values.ravel(), exact.loss.values.ravel()).statistic)
        row = dict(
            run=label,
            preview_points="automatic" if points is None else points,
            full_resolution=resolution,
            full_seconds=float(full.attrs["compute_seconds"]),
            seconds_per_point=cost,
            preview_resolution=plan.resolution,
            kept=plan.kept,
            total=plan.total,
            note=preview.attrs["preview_points"],
            preview_seconds=float(preview.attrs["compute_seconds"]),
            spearman_vs_all_points=rho,
            argmin_shift_cells=float(np.hypot(*(_argmin_xy(preview) - _argmin_xy(full))) / cell),
            argmin_shift_cells_all_points=float(np.hypot(*(_argmin_xy(exact) - _argmin_xy(full))) / cell),
        )
        print(json.dumps(row))
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    out = [
        "| run | preview | full grid | preview time | Spearman ρ vs all points | argmin shift (cells): preview / all-point |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        res = r["preview_resolution"]
        out.append(
            f"| {r['run']} | {res} x {res} {r['note']} ({r['preview_points']}) | "
            f"{r['full_resolution']}² in {r['full_seconds']:.1f} s | {r['preview_seconds']:.2f} s | "
            f"{r['spearman_vs_all_points']:.5f} | {r['argmin_shift_cells']:.1f} / {r['argmin_shift_cells_all_points']:.1f} |"
        )
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", default=",".join(PROBLEMS), help="built-ins ('' for none)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--points", type=int, default=256, help="a row with this many points per set (0: none)")
    ap.add_argument("--scale", action=argparse.BooleanOptionalAction, default=True, help="the PINNacle-size run")
    ap.add_argument("--scale-steps", type=int, default=50)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    load_before = os.getloadavg()
    extra = [a.points] if a.points else []
    rows: list[dict] = []
    for name in filter(None, a.problems.split(",")):
        torch.manual_seed(0)
        run = plw.train(name, "strong", steps=a.steps, optimizer="adam", progress=False)
        rows += measure(name, run, 41, [None, *extra])
    if a.scale:
        rows += measure("PINNacle-size Poisson", build_run(a.scale_steps), 21, [None, 0, 1024])
    print(table(rows))
    print("load average", load_before, "->", os.getloadavg())
    if a.out:
        Path(a.out).write_text(
            json.dumps(
                dict(
                    date=datetime.date.today().isoformat(),
                    machine=dict(
                        cpus=os.cpu_count(),
                        threads=torch.get_num_threads(),
                        torch=torch.__version__,
                        python=platform.python_version(),
                        load_avg_before=load_before,
                        load_avg_after=os.getloadavg(),
                    ),
                    rows=rows,
                ),
                indent=2,
            )
        )
        print("wrote", a.out)


if __name__ == "__main__":
    main()
