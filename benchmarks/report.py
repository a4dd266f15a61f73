"""All CPU benchmarks side by side in one process, written as one table (Markdown + JSON) and one plot.

Runs, on the reference workload (poisson1d, 1000 points, MLP 1-50-50-50-1 tanh, float32, 2 threads):
  - landscape() against the per-point autograd loop (bench_landscape),
  - landscape() against the loss-landscapes library with a PINN metric (bench_peers),
  - our Lanczos against PyHessian's power iteration for the top-2 eigenvalues (bench_hessian).
GPU rows come from the stored results of a lent device (benchmarks/results/gpu_*.json, run with
benchmarks/gpu_check.sh) and are marked as such; they are not re-measured here.

    pip install -e ".[bench]"
    python benchmarks/report.py [--repeats 5] [--hessian-repeats 15] [--out benchmarks/results/report_cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_hessian  # noqa: E402
import bench_landscape  # noqa: E402
import bench_peers  # noqa: E402


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(threads: int) -> dict:
    return dict(
        cpu=cpu_name(),
        cores=os.cpu_count(),
        threads=threads,
        platform=platform.platform(),
        python=platform.python_version(),
        torch=torch.__version__,
    )


def stored_gpu_rows() -> list[dict]:
    """Rows of the lent-device runs; a compile=True row without its own loop timing borrows the eager run's
    loop (same device, session, formulation and grid), marked in ``loop_from``."""
    rows = []
    for name in ("gpu_41.json", "gpu_201.json", "gpu_201_compile.json"):
        path = HERE / "results" / name
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        for r in data["results"]:
            rows.append(
                dict(where=f"{data['machine']['device_name']} (lent device, torch {data['machine']['torch']})", **r)
            )
    for r in rows:
        if r.get("compile") and not r.get("loop_s") == r.get("loop_s"):  # NaN: borrow the eager loop
            eager = [
                e
                for e in rows
                if not e.get("compile") and e["formulation"] == r["formulation"] and e["resolution"] == r["resolution"]
            ]
            if eager:
                r["loop_s"], r["loop_from"] = eager[0]["loop_s"], "the eager run's loop"
    return rows


def table(m: dict, land: list, peers: list, hess: list, gpu: list) -> str:
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['threads']} threads), "
        f"Python {m['python']}. Ratios are baseline time / our time, medians of alternating runs.",
        "",
    ]
    lines += ["| comparison | loss | grid | ours | baseline | ratio |", "|---|---|---|---|---|---|"]
    for r in land:
        lines.append(
            f"| landscape() vs per-point autograd loop, CPU | {r['formulation']} | {r['resolution']}^2 | "
            f"{r['landscape_s']:.3f} s | {r['loop_s']:.3f} s | **{r['speedup']:.2f}x** |"
        )
    for r in peers:
        lines.append(
            f"| landscape() vs loss-landscapes `random_plane`, CPU | {r['formulation']} | {r['steps']}^2 | "
            f"{r['landscape_s']:.3f} s | {r['loss_landscapes_s']:.3f} s | **{r['ratio']:.2f}x** |"
        )
    for r in hess:
        ours = r["ours_f32_tol1e-5"]
        # PyHessian at its default and at its tightest setting (float32 stops its error near 2e-6)
        for key, what in (("pyhessian_tol1e-3", "default tol 1e-3"), ("pyhessian_tol1e-7", "tol 1e-7")):
            ph = r[key]
            lines.append(
                f"| top-2 Hessian eigenvalues: ours (f32, error {ours['max_rel_error']:.0e}) vs PyHessian "
                f"({what}, error {ph['max_rel_error']:.0e}), CPU | {r['formulation']} | - | "
                f"{ours['seconds']:.3f} s | {ph['seconds']:.3f} s | **{ph['seconds'] / ours['seconds']:.2f}x** |"
            )
    for r in hess:  # the R-operator's passes in C (csrc/rop.c) against the same passes in torch
        ours, torch_passes = r["ours_f32_tol1e-5"], r["ours_f32_tol1e-5_torch_passes"]
        lines.append(
            f"| top-2 Hessian eigenvalues: R-operator passes in C vs in torch (both ours, f32), CPU | "
            f"{r['formulation']} | - | {ours['seconds']:.3f} s | {torch_passes['seconds']:.3f} s | "
            f"**{torch_passes['seconds'] / ours['seconds']:.2f}x** |"
        )
    for r in gpu:
        if r.get("loop_s") == r.get("loop_s") and r.get("loop_s"):  # not NaN
            ratio = f"**{r['loop_s'] / r['landscape_s']:.0f}x**"
            base = f"{r['loop_s']:.2f} s" + (f" ({r['loop_from']})" if r.get("loop_from") else "")
        else:
            ratio, base = "-", "(loop not rerun)"
        label = "landscape(compile=True)" if r.get("compile") else "landscape()"
        lines.append(
            f"| {label} vs per-point loop, {r['where']} | {r['formulation']} | {r['resolution']}^2 | "
            f"{r['landscape_s']:.3f} s | {base} | {ratio} |"
        )
    return "\n".join(lines) + "\n"


def hessian_table(hess: list) -> str:
    """Every Hessian method with its time and its error against a tol-1e-12 float64 Lanczos."""
    keys = [
        "ours_f32_tol1e-5",
        "ours_f32_tol1e-5_torch_passes",
        "ours_f64_tol1e-8",
        "pyhessian_tol1e-3",
        "pyhessian_tol1e-5",
        "pyhessian_tol1e-7",
    ]
    lines = ["| loss | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for r in hess:
        cells = [f"{r[k]['seconds']:.3f} s, error {r[k]['max_rel_error']:.0e}" for k in keys]
        lines.append(f"| {r['formulation']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(land, peers, hess, gpu, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, ratios, colors = [], [], []
    for r in land:
        labels.append(f"vs per-point loop, CPU, {r['formulation']}")
        ratios.append(r["speedup"])
        colors.append("#2a6fdb")
    for r in peers:
        labels.append(f"vs loss-landscapes, CPU, {r['formulation']}")
        ratios.append(r["ratio"])
        colors.append("#2a6fdb")
    for r in hess:
        labels.append(f"Hessian top-2 vs PyHessian, CPU, {r['formulation']}")
        ratios.append(r["pyhessian_tol1e-3"]["seconds"] / r["ours_f32_tol1e-5"]["seconds"])
        colors.append("#7a4fcf")
    for r in gpu:
        if r.get("loop_s") == r.get("loop_s") and r.get("loop_s"):
            tag = ", compile" if r.get("compile") else ""
            labels.append(f"vs per-point loop, H200 (lent){tag}, {r['resolution']}^2, {r['formulation']}")
            ratios.append(r["loop_s"] / r["landscape_s"])
            colors.append("#d9822b")
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(labels) + 1.2))
    y = range(len(labels))
    ax.barh(list(y), ratios, color=colors)
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1, color="gray", lw=0.8)
    for yi, v in zip(y, ratios):
        ax.text(v, yi, f" {v:.3g}x", va="center", fontsize=8)
    ax.set_xlabel("speed-up over the baseline (baseline time / our time, log scale)")
    ax.set_title("pinn-landscape-widget against the baselines (reference workload)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    # the Hessian runs take milliseconds, and on a shared VM single runs vary by 30%: more alternations
    # steady their medians at little cost (~10 s)
    ap.add_argument("--hessian-repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resolution", type=int, default=41)
    ap.add_argument("--out", default=str(HERE / "results" / "report_cpu"), help="path prefix of .md/.json/.png")
    args = ap.parse_args(argv)
    common = ["--threads", str(args.threads), "--repeats", str(args.repeats)]
    print("== landscape() vs the per-point loop")
    land = bench_landscape.main(common + ["--resolution", str(args.resolution)])
    print("== landscape() vs loss-landscapes")
    peers = bench_peers.main(common + ["--steps", str(args.resolution)])
    print("== Hessian top-2 vs PyHessian")
    hess = bench_hessian.main(["--threads", str(args.threads), "--repeats", str(args.hessian_repeats)])
    gpu = stored_gpu_rows()
    m = machine(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    md = table(m, land, peers, hess, gpu) + "\nTop-2 Hessian eigenvalues, all settings:\n\n" + hessian_table(hess)
    out.with_suffix(".md").write_text(md)
    out.with_suffix(".json").write_text(
        json.dumps(dict(machine=m, landscape=land, peers=peers, hessian=hess, gpu_stored=gpu), indent=2)
    )
    plot(land, peers, hess, gpu, out.with_suffix(".png"))
    print(md)
    print("wrote", out.with_suffix(".md"), out.with_suffix(".json"), out.with_suffix(".png"))


if __name__ == "__main__":
    main()
