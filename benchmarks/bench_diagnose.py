"""``diagnose`` over 100 checkpoints and ``connect`` between two minima, on the reference workload.

Reference workload: poisson1d, 1000 points, MLP 1-50-50-50-1 tanh (5,251 parameters), trained in float32
(Adam, ``--steps`` steps, a checkpoint every ``steps / 100``). One loss term (the boundary is imposed by the
ansatz). ``diagnose``'s default runs in float32 on the engine's passes in C; ``dtype=torch.float64`` is the
float64 autograd path, timed beside it as the baseline (``--float64-checkpoints`` of them, scaled to 100).

``diagnose(run, checkpoints=100)`` is timed whole and by part, each part alone:

  - gradients: the term losses, gradient norms (whole and per layer), cosines and imbalance;
  - Hessian: + the top eigenvalue (Lanczos) and the trace (Hutchinson, 10 probes) of each term;
  - all (the default): + the NTK of each term, matrix-free here (its Jacobian, 1000 x 5251, is above ``auto``'s
    1e6 entries): top-3 eigenvalues by Lanczos on J^T J v products, the trace exact from the rows' norms (on
    the C passes; by Hutchinson, 10 probes, in float64);

each also with ``dtype=torch.float64`` (float64 autograd products, Hutchinson's NTK trace), and the largest
difference between the two paths' numbers;

with baselines side by side in the same process, alternated:

  - per-term autograd: what a user writes for the gradient part (each term on its own graph, norms and
    cosines in numpy), over the same checkpoints;
  - exact NTK: ``ntk_method="exact"`` (the 1000 x 5251 Jacobian by vmap over reverse passes, then its singular
    values) on ``--exact-checkpoints`` checkpoints, per checkpoint against the matrix-free one.

``connect(run_a, run_b)`` (defaults: 200 Adam steps of 4 t values, 33 points on the line and the curve)
between two runs with seeds 0 and 1, against a baseline that trains the same control point evaluating each t
value on its own (K = 1 batches, what a loop over t does).

Prints a Markdown table and writes the JSON (date, machine, torch version, threads, every time) to ``--out``.

    python benchmarks/bench_diagnose.py --out benchmarks/results/diagnose_cpu.json
    python benchmarks/bench_diagnose.py --steps 200 --repeats 1 --exact-checkpoints 1   # a quick pass
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

import pinn_landscape_widget as plw
from pinn_landscape_widget.analysis.connectivity import T_PER_STEP, bezier_points

N_CHECKPOINTS = 100


CPU: dict[str, list[float]] = {}  # process CPU time of the diagnose parts, beside their wall time


def _timed(fn, cpu_key=None):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    if cpu_key is not None:
        CPU.setdefault(cpu_key, []).append(time.process_time() - c)
    return time.perf_counter() - t, out


def per_term_autograd(run, rows):
    """The gradient part as a user writes it: each term on its own graph, then norms, cosines, imbalance."""
    obj = run.objective(dtype=torch.float64)
    out = []
    for r in rows:
        grads = []
        for t in obj.term_names:
            th = run.trajectory[r].detach().to(torch.float64).clone().requires_grad_(True)
            (g,) = torch.autograd.grad(obj.terms(th[None])[t][0], th)
            grads.append(g.numpy())
        G = np.stack(grads)
        n = np.linalg.norm(G, axis=1)
        out.append((n, G @ G.T / np.outer(n, n), np.abs(G[0]).max() / np.abs(G).mean(axis=1)))
    return out


def connect_per_t(run_a, run_b, steps=200, lr=1e-2, seed=0):
    """The control point trained as in ``connect`` but each t evaluated on its own (a loop over t)."""
    obj = run_a.objective()
    w1, w2 = run_a.params.detach(), run_b.params.detach()
    theta = ((w1 + w2) / 2).clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        ts = torch.rand(T_PER_STEP, generator=gen, dtype=torch.float64).to(obj.dtype)
        opt.zero_grad(set_to_none=True)
        loss = sum(obj.loss(bezier_points(w1, theta, w2, ts[i : i + 1]))[0] for i in range(T_PER_STEP)) / T_PER_STEP
        loss.backward()
        opt.step()
    t = torch.linspace(0, 1, 33, dtype=obj.dtype)
    with torch.no_grad():
        curve = [float(obj.loss(bezier_points(w1, theta.detach(), w2, t[i : i + 1]))[0]) for i in range(33)]
        line = [float(obj.loss(((1 - t[i]) * w1 + t[i] * w2)[None])[0]) for i in range(33)]
    return curve, line


def _machine():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1000, help="Adam steps of each run (default 1000)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="alternated repeats; medians reported (default 3)")
    ap.add_argument("--exact-checkpoints", type=int, default=2, help="checkpoints of the exact-NTK baseline")
    ap.add_argument(
        "--checkpoints", type=int, default=N_CHECKPOINTS, help="checkpoints diagnosed (default 100, the target's)"
    )
    ap.add_argument(
        "--float64-checkpoints", type=int, default=10, help="checkpoints of the float64 baseline (scaled to 100)"
    )
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    load_before = os.getloadavg()
    n_ck = a.checkpoints
    every = max(1, a.steps // N_CHECKPOINTS)
    runs = [
        plw.train("poisson1d", "strong", steps=(a.steps, 0), record_every=every, seed=s, progress=False) for s in (0, 1)
    ]
    run = runs[0]
    rows = plw.diagnose(run, checkpoints=n_ck, hessian=False, ntk=False).checkpoint.values.tolist()
    assert len(rows) == n_ck, len(rows)

    parts = {
        "gradients": dict(hessian=False, ntk=False),
        "gradients + Hessian": dict(hessian=True, ntk=False),
        "all (default)": dict(),
    }
    times: dict[str, list[float]] = {k: [] for k in [*parts, "per-term autograd", "connect", "connect per t"]}
    for name in parts:
        times[name + ", float64"] = []
    n64 = min(a.float64_checkpoints, n_ck)
    rows64 = [int(run.trajectory_steps[r]) for r in rows][:: max(1, n_ck // n64)][:n64]
    full64 = None
    times["NTK exact, per checkpoint"] = []
    times["NTK matrix-free, per checkpoint"] = []
    full = None
    for _ in range(a.repeats):
        for name, kw in parts.items():
            dt, ds = _timed(lambda kw=kw: plw.diagnose(run, checkpoints=n_ck, **kw), name)
            times[name].append(dt)
            if name == "all (default)":
                full = ds
            dt, ds64 = _timed(
                lambda kw=kw: plw.diagnose(run, checkpoints=rows64, dtype=torch.float64, **kw), name + ", float64"
            )
            times[name + ", float64"].append(dt * n_ck / len(rows64))
            CPU[name + ", float64"][-1] *= n_ck / len(rows64)
            if name == "all (default)":
                full64 = ds64
        times["per-term autograd"].append(_timed(lambda: per_term_autograd(run, rows))[0])
        few = [int(run.trajectory_steps[r]) for r in rows[-a.exact_checkpoints :]]
        dt_e, ex = _timed(lambda few=few: plw.diagnose(run, checkpoints=few, hessian=False, ntk_method="exact"))
        dt_m, mf = _timed(lambda few=few: plw.diagnose(run, checkpoints=few, hessian=False, ntk_method="matrix-free"))
        dt_g, _ = _timed(lambda few=few: plw.diagnose(run, checkpoints=few, hessian=False, ntk=False))
        times["NTK exact, per checkpoint"].append((dt_e - dt_g) / len(few))
        times["NTK matrix-free, per checkpoint"].append((dt_m - dt_g) / len(few))
        dt, conn = _timed(lambda: plw.connect(*runs))
        times["connect"].append(dt)
        times["connect per t"].append(_timed(lambda: connect_per_t(*runs))[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    assert full is not None and full64 is not None
    same = full.sel(step=full64.step.values)
    agree = {
        v: float(np.nanmax(np.abs(same[v].values - full64[v].values) / np.abs(full64[v].values)))
        for v in ("loss", "grad_norm", "hessian_top_eigenvalue", "ntk_top_eigenvalues")
    }
    # the default's NTK trace is exact, float64's a Hutchinson estimate: their difference in its standard errors
    agree["ntk_trace (exact against float64's estimate, in its standard errors)"] = float(
        np.nanmax(np.abs(same.ntk_trace.values - full64.ntk_trace.values) / full64.ntk_trace_stderr.values)
    )
    agree["hessian_trace (in float64 standard errors)"] = float(
        np.nanmax(np.abs(same.hessian_trace.values - full64.hessian_trace.values) / full64.hessian_trace_stderr.values)
    )
    top_err = float(
        np.max(np.abs(mf.ntk_top_eigenvalues.values - ex.ntk_top_eigenvalues.values) / ex.ntk_top_eigenvalues.values)
    )
    trace_err = float(np.max(np.abs(mf.ntk_trace.values - ex.ntk_trace.values) / ex.ntk_trace.values))
    table = [
        "| what | checkpoints | time (CPU time) | per checkpoint | float64 autograd (dtype=float64) | ratio |",
        "|---|---|---|---|---|---|",
    ]
    cpu = {k: statistics.median(v) for k, v in CPU.items()}
    for name in parts:
        b = med[name + ", float64"]
        table.append(
            f"| `diagnose`, {name} | {n_ck} | {med[name]:.2f} s ({cpu[name]:.2f} s) | {1e3 * med[name] / n_ck:.1f} ms | "
            f"{b:.2f} s ({cpu[name + ', float64']:.2f} s; {1e3 * b / n_ck:.1f} ms) | {b / med[name]:.1f}x |"
        )
    table.append(
        f"| gradients by per-term autograd (a user's loop, float64) | {n_ck} | {med['per-term autograd']:.2f} s | "
        f"{1e3 * med['per-term autograd'] / n_ck:.1f} ms | | |"
    )
    table.append(
        f"| NTK matrix-free vs exact (top-3 eigenvalues within {top_err:.1e}, trace within {trace_err:.0%}) | "
        f"{a.exact_checkpoints} | | {med['NTK matrix-free, per checkpoint']:.3f} s | "
        f"exact {med['NTK exact, per checkpoint']:.2f} s | "
        f"{med['NTK exact, per checkpoint'] / med['NTK matrix-free, per checkpoint']:.1f}x |"
    )
    table.append(
        f"| `connect` (200 steps, 33 points) | | {med['connect']:.2f} s | | per-t loop {med['connect per t']:.2f} s | "
        f"{med['connect per t'] / med['connect']:.1f}x |"
    )
    print("\n".join(table))
    print(f"barrier line {conn.attrs['barrier_line']:.3g}, curve {conn.attrs['barrier_curve']:.3g}")
    print("default (float32, C passes) against float64 autograd, largest relative difference:")
    for k, v in agree.items():
        print(f"  {k}: {v:.2g}")
    print(f"load average before {load_before}, after {os.getloadavg()}")
    result = dict(
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        machine=_machine(),
        load_average=os.getloadavg(),
        torch=torch.__version__,
        python=platform.python_version(),
        threads=a.threads,
        steps=a.steps,
        repeats=a.repeats,
        n_checkpoints=n_ck,
        load_average_before=load_before,
        n_params=int(run.n_params),
        ntk_methods=full.attrs["ntk_methods"],
        ntk_matrix_free_top3_max_rel_error=top_err,
        ntk_matrix_free_trace_max_rel_error=trace_err,
        float64_checkpoints=len(rows64),
        default_vs_float64_max_rel_difference=agree,
        times=times,
        cpu_times=CPU,
        medians=med,
        table="\n".join(table),
    )
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
