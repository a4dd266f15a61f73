"""Fair on a shared machine: training and a landscape grid, quiet and beside one busy process per core.

Each workload runs with the package's default thread policy ("auto": as many threads as idle cores) and
with the thread count fixed at torch's own setting (what every op used before the policy), and a plain
PyTorch training loop (autograd, the same network, points and Adam steps) runs with torch's setting and
with 1 thread. Every configuration is timed quiet and then loaded (busy processes: a Python spin loop
each), in one run, so the ratios loaded / quiet compare like with like. A fair share with one busy process
per core is about 2x; the issue's bound is 3x.

    python benchmarks/bench_load.py [--steps 300] [--repeats 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.engine import _load


@contextlib.contextmanager
def busy_processes(n: int):
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    time.sleep(0.5)
    try:
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def plain_loop(steps: int, threads: int) -> None:
    """A tutorial-style PINN loop: poisson1d's strong form (-u'' = pi^2 sin(pi x) on [-1, 1], u(+-1) = 0),
    a 1-50-50-50-1 tanh network, 1000 points, Adam lr 1e-3, autograd for u''."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Linear(1, 50),
            torch.nn.Tanh(),
            torch.nn.Linear(50, 50),
            torch.nn.Tanh(),
            torch.nn.Linear(50, 50),
            torch.nn.Tanh(),
            torch.nn.Linear(50, 1),
        )
        x = torch.linspace(-1, 1, 1000).reshape(-1, 1).requires_grad_(True)
        xb = torch.tensor([[-1.0], [1.0]])
        f = torch.pi**2 * torch.sin(torch.pi * x.detach())
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        for _ in range(steps):
            opt.zero_grad()
            u = net(x)
            du = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
            d2u = torch.autograd.grad(du.sum(), x, create_graph=True)[0]
            loss = ((-d2u - f) ** 2).mean() + (net(xb) ** 2).mean()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(before)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300, help="Adam steps per training run")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    cores = _load.cores()
    torch_threads = torch.get_num_threads()
    run = plw.train("poisson1d", "strong", optimizer="adam", steps=args.steps, progress=False)
    dirs = plw.random_directions(run, 2, seed=0)

    def train(setting):
        plw.set_threads(setting)
        plw.train("poisson1d", "strong", optimizer="adam", steps=args.steps, progress=False)

    def grid(setting):
        plw.set_threads(setting)
        plw.landscape(run, dirs, resolution=41, progress=False)

    cases = {
        "train, auto": lambda: train("auto"),
        f"train, fixed {torch_threads}": lambda: train(torch_threads),
        "landscape 41x41, auto": lambda: grid("auto"),
        f"landscape 41x41, fixed {torch_threads}": lambda: grid(torch_threads),
        f"plain loop, {torch_threads} threads": lambda: plain_loop(args.steps, torch_threads),
        "plain loop, 1 thread": lambda: plain_loop(args.steps, 1),
    }
    for case in cases.values():  # warm up (the native library, first-call allocations)
        case()
    times: dict[str, dict[str, list[float]]] = {name: {"quiet": [], "loaded": []} for name in cases}
    for _ in range(args.repeats):
        for state in ("quiet", "loaded"):
            with busy_processes(cores) if state == "loaded" else contextlib.nullcontext():
                for name, case in cases.items():
                    t0 = time.perf_counter()
                    case()
                    times[name][state].append(time.perf_counter() - t0)
    plw.set_threads("auto")

    print(
        f"{platform.processor() or platform.machine()}, {cores} cores, torch {torch.__version__} "
        f"({torch_threads} threads), {args.steps} Adam steps, loaded = {cores} busy processes"
    )
    print(f"{'case':34s} {'quiet s':>8s} {'loaded s':>9s} {'loaded/quiet':>13s}")
    rows = []
    for name, t in times.items():
        q, lo = statistics.median(t["quiet"]), statistics.median(t["loaded"])
        rows.append({"case": name, "quiet_s": q, "loaded_s": lo, "slowdown": lo / q})
        print(f"{name:34s} {q:8.2f} {lo:9.2f} {lo / q:12.1f}x")
    if args.out:
        Path(args.out).write_text(
            json.dumps({"cores": cores, "torch_threads": torch_threads, "steps": args.steps, "rows": rows}, indent=1)
        )


if __name__ == "__main__":
    main()
