"""Training: ``plw.train`` against a plain PyTorch loop doing the same optimiser steps with autograd.

Workloads (float32, Adam, lr 1e-3, seed 0, the default MLP 3 x 50 tanh):

  - the reference: ``plw.train("poisson1d", "strong", optimizer="adam")``, 1000 steps, 1000 points;
  - three problems of ``define_problem``: a time-dependent one (heat, u_t = 0.1 u_xx, with initial and
    boundary conditions), a 2-D one with a mixed derivative (u_xx + u_yy + 0.5 u_xy = f, Dirichlet
    penalty) and a system (the wave equation as two first-order equations in u and v).

The plain loop is what a user writes with torch alone: the same network with the problem's hard ansatz
(``run.model_at`` of the initial parameters, an ``nn.Module``), the same points and weights, the problem's
own residual function with every derivative by ``torch.autograd.grad(create_graph=True)``, the same
condition misfits and penalties, ``loss.backward()`` and ``torch.optim.Adam``. Its loss at the initial
parameters is checked against ours (1e-5 relative) before timing. Both sides run the same number of steps
on the same torch thread count (``--threads``, stated in the output), one after the other, ``--repeats``
times, alternating which goes first; the table reports medians, the ratio plain / ours, and both final
losses (the same within optimiser noise: float32 sums in another order drift apart over the steps). The
loss curves go to benchmarks/results/training_curves.csv (every 10th step) and training_curves.png. A run
of some workloads replaces their rows in benchmarks/results/training_cpu.json and keeps the others; each
row records its thread count and the machine's load average.

    python benchmarks/bench_training.py [--threads 2] [--steps 1000] [--repeats 3] [--workloads poisson1d,heat]
                                        [--device cuda --out FILE]   (a GPU: both sides on it, its own JSON)
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

import torch

import pinn_landscape_widget as plw

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
LR = 1e-3


# --- the workloads -----------------------------------------------------------------------------------------


def heat():
    return plw.define_problem(
        "heat",
        {"x": (0.0, 1.0), "t": (0.0, 1.0)},
        residual=lambda u, kappa: u.t - kappa * u.xx,
        coefficients={"kappa": 0.1},
        conditions=[plw.initial(lambda x: torch.sin(math.pi * x)), plw.dirichlet("x")],
        exact=lambda x, t, kappa: torch.exp(-kappa * math.pi**2 * t) * torch.sin(math.pi * x),
    )


def mixed2d():
    pi2 = math.pi**2
    return plw.define_problem(
        "mixed2d",
        {"x": (0.0, 1.0), "y": (0.0, 1.0)},
        residual=lambda u, f: u.xx + u.yy + 0.5 * u.xy - f,
        source=lambda x, y: (
            -2 * pi2 * torch.sin(math.pi * x) * torch.sin(math.pi * y)
            + 0.5 * pi2 * torch.cos(math.pi * x) * torch.cos(math.pi * y)
        ),
        conditions=[plw.dirichlet()],
        exact=lambda x, y: torch.sin(math.pi * x) * torch.sin(math.pi * y),
    )


def wave_system():
    return plw.define_problem(
        "wave_system",
        {"x": (0.0, 1.0), "t": (0.0, 1.0)},
        residual=lambda u, v, c: {"u_equation": u.t - c * v.x, "v_equation": v.t - c * u.x},
        unknowns=("u", "v"),
        coefficients={"c": 1.0},
        conditions=[plw.initial({"u": lambda x: torch.sin(math.pi * x), "v": 0.0}), plw.dirichlet("x", unknowns="u")],
        exact=lambda x, t, c: {
            "u": torch.sin(math.pi * x) * torch.cos(c * math.pi * t),
            "v": torch.cos(math.pi * x) * torch.sin(c * math.pi * t),
        },
    )


WORKLOADS = {
    "poisson1d": lambda: plw.get_problem("poisson1d"),
    "heat": heat,
    "mixed2d": mixed2d,
    "wave_system": wave_system,
}


# --- the plain loop: what a user writes with torch alone ---------------------------------------------------


class _Field:
    """One unknown of the model at the points x: its value, and u.x, u.xt, u.laplacian, u.d("x", "t") by
    autograd with create_graph=True (cached; coordinate names are single letters here)."""

    def __init__(self, u: torch.Tensor, x: torch.Tensor, coords: list[str]):
        self._u, self._x, self._coords, self._cache = u, x, coords, {(): u}

    def _grad(self, idx: tuple[int, ...]) -> torch.Tensor:
        if idx not in self._cache:
            prev = self._grad(idx[:-1])
            g = torch.autograd.grad(prev.sum(), self._x, create_graph=True)[0]
            self._cache[idx] = g[:, idx[-1]]
        return self._cache[idx]

    @property
    def value(self) -> torch.Tensor:
        return self._u

    @property
    def laplacian(self) -> torch.Tensor:
        return sum(self._grad((k, k)) for k in range(len(self._coords)))

    def d(self, *names: str) -> torch.Tensor:
        return self._grad(tuple(self._coords.index(n) for n in names))

    def __getattr__(self, name: str):
        if name.startswith("_") or any(c not in self._coords for c in name):
            raise AttributeError(name)
        return self.d(*name)

    def __add__(self, o):
        return self._u + _v(o)

    __radd__ = __add__

    def __sub__(self, o):
        return self._u - _v(o)

    def __rsub__(self, o):
        return _v(o) - self._u

    def __mul__(self, o):
        return self._u * _v(o)

    __rmul__ = __mul__

    def __neg__(self):
        return -self._u

    def __pow__(self, o):
        return self._u ** _v(o)


def _v(o):
    return o.value if isinstance(o, _Field) else o


class PlainLoss:
    """The problem's strong-form loss of a torch module, by autograd, built from the problem's definition
    (points, weights, source, residual function, conditions): the terms a user's loop adds up."""

    def __init__(self, problem, dtype=torch.float32, device="cpu"):
        self.p = problem
        x, w = problem.quadrature()
        self.x, self.w = x.to(device, dtype).requires_grad_(True), w.to(device, dtype)
        f = problem.source(x)
        self.f = None if f is None else f.to(device, dtype)
        self.args = list(inspect.signature(problem._residual).parameters)
        self.conds = []
        for c in problem.conditions:
            if c.kind not in ("value", "periodic"):
                raise NotImplementedError(f"the plain loop has no {c.kind} condition")
            xc = c.points.to(device, dtype)
            targets = None if c.targets is None else [t.to(device, dtype) for t in c.targets]
            self.conds.append((c, xc, c.weights.to(device, dtype), targets))

    def __call__(self, model: torch.nn.Module) -> torch.Tensor:
        p = self.p
        u = model(self.x)
        u = u[:, None] if u.dim() == 1 else u
        fields = {name: _Field(u[:, k], self.x, list(p.input_names)) for k, name in enumerate(p.unknowns)}
        kw = {}
        for a in self.args:
            if a in fields:
                kw[a] = fields[a]
            elif a in p.input_names:
                kw[a] = self.x[:, p.input_names.index(a)]
            elif a == "f":
                kw[a] = self.f
            else:
                kw[a] = p.coefficients[a]
        r = p._residual(**kw)
        res = list(r.values()) if isinstance(r, dict) else list(r) if isinstance(r, (list, tuple)) else [r]
        loss = sum((self.w * _v(ri) ** 2).sum() for ri in res)
        for c, xc, wc, targets in self.conds:
            uc = model(xc)
            uc = uc[:, None] if uc.dim() == 1 else uc
            for j, k in enumerate(c.unknown_index):
                if c.kind == "value":
                    m = uc[:, k] - targets[j]
                else:
                    n = uc.shape[0] // 2
                    m = uc[:n, k] - uc[n:, k]
                loss = loss + c.lam * (wc * m * m).sum()
        return loss


def plain_loop(run0, steps: int, device: str = "cpu") -> tuple[float, list[float]]:
    """(seconds, loss per step) of the plain loop from the run's initial parameters."""
    model = run0.model_at(run0.trajectory[0].clone()).to(device)
    loss_fn = PlainLoss(run0.problem, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    losses = []
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))  # a user's loop reads the loss each step
    return time.perf_counter() - t0, losses


def ours(problem, steps: int, device: str = "cpu"):
    t0 = time.perf_counter()
    run = plw.train(problem, "strong", optimizer="adam", steps=steps, lr=LR, seed=0, progress=False, device=device)
    return time.perf_counter() - t0, run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--device", default="cpu", help="cpu or cuda (both sides on it)")
    ap.add_argument("--out", type=Path, default=None, help="the JSON (default benchmarks/results/training_cpu.json)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its first use imports torch._dynamo: seconds, once
    rows, curves = [], {}
    for name in args.workloads.split(","):
        problem = WORKLOADS[name]()
        _, run0 = ours(problem, 0, args.device)  # the initial parameters, and the sanity check of the plain loss
        want = float(run0.history.loss[0])
        model0 = run0.model_at(run0.trajectory[0].clone()).to(args.device)
        got = float(PlainLoss(problem, device=args.device)(model0).detach())
        if abs(got - want) > 1e-5 * abs(want):
            raise SystemExit(f"{name}: the plain loop's loss {got} is not ours {want}")
        t_ours, t_plain = [], []
        for rep in range(args.repeats):
            for side in ("ours", "plain") if rep % 2 == 0 else ("plain", "ours"):
                if side == "ours":
                    t, run = ours(problem, args.steps, args.device)
                    t_ours.append(t)
                else:
                    t, plain_losses = plain_loop(run0, args.steps, args.device)
                    t_plain.append(t)
        ours_losses = [float(v) for v in run.history.loss.values[: args.steps]]
        row = {
            "workload": name,
            "points": int(problem.quadrature()[0].shape[0]),
            "steps": args.steps,
            "gradient": run.history.attrs["gradient"],
            "ours_s": statistics.median(t_ours),
            "plain_s": statistics.median(t_plain),
            "ours_all_s": t_ours,
            "plain_all_s": t_plain,
            "ours_final_loss": float(run.history.loss[-1]),
            "plain_final_loss": plain_losses[-1],
        }
        row["speedup"] = row["plain_s"] / row["ours_s"]
        rows.append(row)
        curves[name] = (ours_losses, plain_losses)
        print(
            f"{name:12s} ours {row['ours_s']:6.2f} s  plain {row['plain_s']:6.2f} s  "
            f"{row['speedup']:.2f}x  final loss {row['ours_final_loss']:.4e} / {row['plain_final_loss']:.4e}"
            f"  ({row['gradient']})",
            flush=True,
        )
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "torch": torch.__version__,
        "threads": args.threads,
        "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
        "load_average": os.getloadavg(),
    }
    RESULTS.mkdir(exist_ok=True)
    if args.out is not None:  # another device or setting: its own file, the CPU curves untouched
        args.out.write_text(json.dumps({"rows": [{**r, **meta} for r in rows]}, indent=1))
        return
    # a run of some workloads replaces their rows and curves and keeps the others' (each row has its meta)
    out = RESULTS / "training_cpu.json"
    stored = json.loads(out.read_text()) if out.exists() else {"rows": []}
    old_meta = {k: stored[k] for k in meta if k in stored}  # a file whose meta is shared by its rows
    kept = [{**old_meta, **r} for r in stored["rows"] if r["workload"] not in curves]
    rows = kept + [{**r, **meta} for r in rows]
    out.write_text(json.dumps({"rows": rows}, indent=1))
    csv = RESULTS / "training_curves.csv"
    lines = csv.read_text().splitlines()[1:] if csv.exists() else []
    lines = [ln for ln in lines if ln.split(",")[0] not in curves]
    for name, (a, b) in curves.items():
        lines += [f"{name},{k},{a[k]:.6e},{b[k]:.6e}" for k in range(0, min(len(a), len(b)), 10)]
    csv.write_text("workload,step,ours_loss,plain_loss\n" + "\n".join(lines) + "\n")
    _plot(lines)
    print(
        "\n| workload | points | steps | threads | load average | ours | plain loop | speed-up | final loss ours / plain |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['workload']} | {r['points']} | {r['steps']} | {r['threads']} | {r['load_average'][0]:.1f} | "
            f"{r['ours_s']:.2f} s | {r['plain_s']:.2f} s | **{r['speedup']:.1f}x** | "
            f"{r['ours_final_loss']:.3e} / {r['plain_final_loss']:.3e} |"
        )


def _plot(lines: list[str]) -> None:
    """The loss curves of every workload in the CSV's lines, ours and the plain loop's."""
    curves: dict[str, tuple[list, list, list]] = {}
    for ln in lines:
        name, step, a, b = ln.split(",")
        c = curves.setdefault(name, ([], [], []))
        c[0].append(int(step))
        c[1].append(float(a))
        c[2].append(float(b))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, len(curves), figsize=(3.2 * len(curves), 2.8), squeeze=False)
    for ax, (name, (steps, a, b)) in zip(axes[0], curves.items()):
        ax.semilogy(steps, a, label="plw.train")
        ax.semilogy(steps, b, "--", label="plain loop")
        ax.set_title(name)
        ax.set_xlabel("step")
    axes[0][0].set_ylabel("loss")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "training_curves.png", dpi=80)


if __name__ == "__main__":
    main()
