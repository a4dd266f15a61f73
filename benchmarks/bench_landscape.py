"""landscape() against the per-point autograd loop, side by side in one process.

Reference workload (engine issue): poisson1d strong form and Deep Ritz, 1000 uniform points,
MLP 1-50-50-50-1 tanh, float32, 41 x 41 grid, 2 threads.

The baseline is what existing landscape tools do: for each grid point, write theta into a torch module,
compute u'' (strong) or u' (Deep Ritz) with autograd, reduce to the loss. Both are timed alternately,
``--repeats`` times, and the ratio of medians is reported.

    python benchmarks/bench_landscape.py [--resolution 41] [--device cpu] [--threads 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.analysis.landscape import grid_coords


def per_point_loop(run, directions, coords, formulation, device):
    """The baseline: one parameter point at a time through a torch module and autograd."""
    prob = run.problem
    model = run.model_at(run.params).to(device)
    params = list(model.parameters())
    x, w = prob.quadrature()
    f = prob.source(x).to(device, run.dtype)
    x = x.to(device, run.dtype)
    w = w.to(device, run.dtype)
    theta0 = run.params.to(device)
    d1, d2 = directions.vectors.to(device)
    out = torch.empty(len(coords) ** 2)
    k = 0
    for a in coords:
        for b in coords:
            theta = theta0 + float(a) * d1 + float(b) * d2
            torch.nn.utils.vector_to_parameters(theta, params)
            xx = x.clone().requires_grad_(True)
            u = model(xx)
            du = torch.autograd.grad(u.sum(), xx, create_graph=formulation == "strong")[0]
            if formulation == "strong":
                d2u = torch.autograd.grad(du.sum(), xx)[0][:, 0]
                loss = ((d2u + f) ** 2 * w).sum()
            else:
                loss = ((0.5 * du[:, 0] ** 2 - f * u.detach()) * w).sum()
            out[k] = loss.item()
            k += 1
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=41)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--compile", action="store_true", help="landscape(compile=True); the warm-up compiles")
    ap.add_argument("--loop-repeats", type=int, default=None, help="times the per-point loop runs (default: --repeats)")
    ap.add_argument("--no-loop", action="store_true", help="time landscape() only")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    results = []
    for form in ("strong", "deep_ritz"):
        run = plw.train(
            "poisson1d",
            form,
            width=50,
            depth=3,
            steps=(200, 0),
            optimizer="adam+lbfgs",
            progress=False,
            device=args.device,
            coefficients=dict(n_points=1000),
        )
        dirs = plw.random_directions(run, 2, seed=0)
        coords = grid_coords(-1.0, 1.0, args.resolution)
        ours_t, loop_t = [], []
        loop_repeats = 0 if args.no_loop else (args.repeats if args.loop_repeats is None else args.loop_repeats)
        kw = dict(resolution=args.resolution, progress=False, device=args.device, compile=args.compile)
        t = time.perf_counter()
        ds = plw.landscape(run, dirs, **kw)  # warm-up (and compilation)
        warmup_s = time.perf_counter() - t
        ref = per_point_loop(run, dirs, coords[:3], form, dev) if not args.no_loop else None  # warm-up
        for k in range(max(args.repeats, loop_repeats)):
            if k < args.repeats:
                sync()
                t = time.perf_counter()
                ds = plw.landscape(run, dirs, **kw)
                sync()
                ours_t.append(time.perf_counter() - t)
            if k < loop_repeats:
                t = time.perf_counter()
                ref = per_point_loop(run, dirs, coords, form, dev)
                sync()
                loop_t.append(time.perf_counter() - t)
        ours_vals = torch.as_tensor(ds["loss"].values).reshape(-1).double()
        max_rel = (
            float(((ours_vals - ref.double()).abs() / ref.double().abs().clamp_min(1e-12)).max())
            if loop_t
            else float("nan")
        )
        row = dict(
            formulation=form,
            resolution=args.resolution,
            points=args.resolution**2,
            landscape_s=statistics.median(ours_t),
            loop_s=statistics.median(loop_t) if loop_t else float("nan"),
            chunk_size=int(ds.attrs["chunk_size"]),
            max_rel_diff=max_rel,
            compile=args.compile,
            warmup_s=warmup_s,
        )
        row["speedup"] = row["loop_s"] / row["landscape_s"]
        results.append(row)
        print(
            f"{form:10s} {args.resolution}x{args.resolution} on {args.device}: landscape() {row['landscape_s']:.3f} s, "
            f"per-point loop {row['loop_s']:.3f} s, ratio {row['speedup']:.2f}x "
            f"(chunk {row['chunk_size']}, max rel diff {max_rel:.1e}, compile={args.compile}, "
            f"first call {warmup_s:.2f} s)"
        )
    machine = dict(
        platform=platform.platform(),
        processor=platform.processor() or platform.machine(),
        threads=args.threads,
        torch=torch.__version__,
        device=args.device,
        device_name=torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
    )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(dict(machine=machine, results=results), indent=2))
        print("wrote", args.out)
    return results


if __name__ == "__main__":
    main()
