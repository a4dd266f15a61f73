"""Every built-in problem: default training (time, final error) and landscape() against a per-point loop.

For each problem of ``plw.list_problems()`` and each formulation it supports ("strong", and "deep_ritz" where
the problem has an energy), with its default options and the default training (``plw.train(name, form)``:
MLP 3 x 50 tanh, Adam then L-BFGS, 1000 steps, float32):

  - training wall time and the final relative L2 error;
  - the 41 x 41 landscape on filter-normalised random directions (seed 0), timed against the per-point loop
    a user would write (``loop_values`` below) on the same run and the same grid, alternately, medians of
    ``--repeats`` runs each. The loop is timed on ``--loop-points`` grid points spread evenly over the grid
    (every 21st point of 1681, the centre included) and extrapolated to the whole grid (its cost per point
    does not depend on the point). Each side is timed with 1 and with ``--threads`` torch threads and
    reported at its best (on a shared machine two-thread kernels can wait on each other's barriers);
  - a sanity check that the loop's numbers are the grid's: every value the loop computes (loss, each term,
    relative L2 error) at those points against the grid's, to 1e-4 relative in float32.

Writes the JSON (machine, date, torch version, threads, load averages, every row) and the Markdown table
that docs/problems.md includes; the table is only ever written from the JSON.

    python benchmarks/bench_problems.py [--threads 2] [--repeats 3] [--problems poisson1d,heat1d]
    python benchmarks/bench_problems.py --table-only      # rewrite the table from the stored JSON
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.analysis.landscape import grid_coords

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
JSON_OUT = HERE / "results" / "problems_cpu.json"
TABLE_OUT = ROOT / "docs" / "problems-table.md"
RESOLUTION = 41
SANITY_RTOL = 1e-4


# --- the per-point loop: what a user writes with torch alone ---------------------------------------------


class AutogradDerivatives:
    """The residual's view of one unknown by torch.autograd: u (its value), u.x, u.xt, u.laplacian, u.grad,
    u.d("x", "t"). First partials come from one gradient of u; a second partial from one more gradient of a
    first partial. Coordinate names are single letters (as in every built-in problem)."""

    def __init__(self, u, x, coords, second_order: bool):
        self.value, self._x, self._coords, self._second = u, x, coords, second_order
        self._g = None
        self._h = {}

    def _first(self):
        if self._g is None:
            self._g = torch.autograd.grad(self.value.sum(), self._x, create_graph=self._second, retain_graph=True)[0]
        return self._g

    def _row(self, i):  # the gradient of d u / d x_i
        if i not in self._h:
            gi = self._first()[:, i]
            h = torch.autograd.grad(gi.sum(), self._x, retain_graph=True, allow_unused=True)[0]
            self._h[i] = torch.zeros_like(self._x) if h is None else h
        return self._h[i]

    def d(self, *names):
        idx = [self._coords.index(n) for n in names]
        if len(idx) == 1:
            return self._first()[:, idx[0]]
        return self._row(idx[0])[:, idx[1]]

    @property
    def grad(self):
        g = self._first()
        return tuple(g[:, i] for i in range(len(self._coords)))

    @property
    def laplacian(self):
        return sum(self._row(i)[:, i] for i in range(len(self._coords)))

    def __getattr__(self, name):
        if name.startswith("_") or not name or any(c not in self._coords for c in name):
            raise AttributeError(name)
        return self.d(*name)

    # the value in arithmetic and torch functions
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        def unwrap(a):
            return a.value if isinstance(a, AutogradDerivatives) else a

        return func(*(unwrap(a) for a in args), **{k: unwrap(v) for k, v in (kwargs or {}).items()})

    def __add__(self, o):
        return self.value + _value(o)

    def __radd__(self, o):
        return _value(o) + self.value

    def __sub__(self, o):
        return self.value - _value(o)

    def __rsub__(self, o):
        return _value(o) - self.value

    def __mul__(self, o):
        return self.value * _value(o)

    def __rmul__(self, o):
        return _value(o) * self.value

    def __truediv__(self, o):
        return self.value / _value(o)

    def __pow__(self, o):
        return self.value ** _value(o)

    def __neg__(self):
        return -self.value


def _value(o):
    return o.value if isinstance(o, AutogradDerivatives) else o


class PointLoop:
    """The loss terms and the error of a run at one parameter vector after another: one torch module
    (``run.model_at`` once, then ``vector_to_parameters`` per point), derivatives by autograd on the
    problem's points, the problem's own residual or energy, condition points and targets. Everything that
    does not depend on the parameters (points, weights, source, targets, exact solution) is prepared once;
    the weights do not require gradients (only derivatives in x are taken) and a first derivative keeps its
    graph only when the loss reads second derivatives."""

    def __init__(self, run, formulation: str):
        prob, dt = run.problem, run.dtype
        self.prob, self.formulation = prob, formulation
        self.model = run.model_at(run.params.detach().clone())
        self.params = list(self.model.parameters())
        for q in self.params:  # derivatives are taken in x only: no graph back to the weights
            q.requires_grad_(False)
        x, w = prob.quadrature()
        self.x = x.to(dt).requires_grad_(True)
        self.w = w.to(dt)
        f = prob.source(x)
        self.f = None if f is None else f.to(dt)
        if formulation == "strong":
            self.fn, self.order = prob._residual, prob.residual_order
        else:
            self.fn, self.order = prob._energy, prob.energy_spec.order
        self.arg_names = _argument_names(self.fn)
        self.conditions = [
            (
                c.name,
                c.kind,
                c.points.to(dt).requires_grad_(c.kind != "value" and (c.kind != "periodic" or c.derivatives)),
                c.weights.to(dt),
                c.lam,
                c.unknown_index,
                None if c.targets is None else [t.to(dt) for t in c.targets],
                c.axis,
                c.derivatives,
            )
            for c in prob.conditions
        ]
        # the error's points: the interior ones (then the interior forward pass is reused) or a uniform grid
        xe = prob.evaluation_points()
        self.error_on_interior = xe is None
        if xe is None:
            xe, we = prob.quadrature()
        else:
            we = torch.ones(xe.shape[0], dtype=torch.float64)
        exact = prob.exact(xe)
        self.xe, self.we = xe.to(dt), we.to(dt)[:, None]
        self.exact = None if exact is None else exact.reshape(xe.shape[0], -1).to(dt)

    def _columns(self, x):
        u = self.model(x)
        return u[:, None] if u.dim() == 1 else u

    def __call__(self, theta: torch.Tensor) -> dict[str, float]:
        torch.nn.utils.vector_to_parameters(theta, self.params)
        prob = self.prob
        u = self._columns(self.x)
        fields = {
            name: AutogradDerivatives(u[:, k], self.x, prob.input_names, self.order >= 2)
            for k, name in enumerate(prob.unknowns)
        }
        kw = {}
        for a in self.arg_names:
            if a in fields:
                kw[a] = fields[a]
            elif a in prob.input_names:
                kw[a] = self.x[:, prob.input_names.index(a)].detach()
            elif a == "f":
                kw[a] = self.f
            else:
                kw[a] = prob.coefficients[a]
        out = self.fn(**kw)
        terms = {}
        if self.formulation == "strong":
            items = out.items() if isinstance(out, dict) else [("residual", r) for r in _as_list(out)]
            for name, r in items:
                terms[name] = terms.get(name, 0.0) + (self.w * r * r).sum().detach()
        else:
            terms["energy"] = (self.w * out).sum().detach()
        for name, kind, xc, wc, lam, unknowns, targets, axis, derivatives in self.conditions:
            uc = self._columns(xc)
            parts = []
            for j, k in enumerate(unknowns):
                if kind == "value":
                    parts.append(uc[:, k] - targets[j])
                elif kind in ("rate", "neumann"):
                    g = torch.autograd.grad(uc[:, k].sum(), xc, retain_graph=True)[0][:, axis]
                    parts.append(g - targets[j])
                else:  # periodic: the low face's points, then their partners on the high face
                    n = uc.shape[0] // 2
                    parts.append(uc[:n, k] - uc[n:, k])
                    if derivatives:
                        g = torch.autograd.grad(uc[:, k].sum(), xc, retain_graph=True)[0][:, axis]
                        parts.append(g[:n] - g[n:])
            value = sum(lam * (wc * m * m).sum() for m in parts).detach()
            terms[name] = terms[name] + value if name in terms else value
        res = {f"loss_{k}": float(v) for k, v in terms.items()}
        res["loss"] = float(sum(terms.values()))
        if self.exact is not None:
            with torch.no_grad():
                ue = u.detach() if self.error_on_interior else self._columns(self.xe)
                err = torch.sqrt((self.we * (ue - self.exact) ** 2).sum() / (self.we * self.exact**2).sum())
            res["rel_l2_error"] = float(err)
        return res


def _argument_names(fn):
    import inspect

    return list(inspect.signature(fn).parameters)


def _as_list(r):
    return list(r) if isinstance(r, (list, tuple)) else [r]


def loop_values(loop: PointLoop, theta0, d1, d2, coords: list[tuple[float, float]]) -> list[dict]:
    """The per-point loop over grid coordinates (a, b): theta = theta* + a d1 + b d2, one at a time."""
    return [loop(theta0 + a * d1 + b * d2) for a, b in coords]


# --- the benchmark ---------------------------------------------------------------------------------------


def loop_subset(resolution: int, n: int) -> list[int]:
    """Flat grid indices of n points spread evenly over the grid (first, last and, for odd n, the centre)."""
    total = resolution * resolution
    return sorted({int(round(v)) for v in np.linspace(0, total - 1, n)})


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def bench_one(name: str, form: str, args) -> dict:
    load_before = load_average()
    train_kw = {} if args.steps is None else dict(steps=args.steps)
    t = time.perf_counter()
    run = plw.train(name, form, device="cpu", progress=False, **train_kw)
    train_s = time.perf_counter() - t
    prob = run.problem
    dirs = plw.random_directions(run, 2, seed=0)
    coords = grid_coords(-1.0, 1.0, RESOLUTION)
    flat = [(float(a), float(b)) for a in coords for b in coords]  # the grid's order: alpha major
    subset = loop_subset(RESOLUTION, args.loop_points)
    sub_coords = [flat[i] for i in subset]
    loop = PointLoop(run, form)
    theta0 = run.params.detach().clone()
    d1, d2 = dirs.vectors[0].to(run.dtype), dirs.vectors[1].to(run.dtype)

    # Both sides at their best of 1 and --threads torch threads: on a shared, loaded machine the loop's
    # two-thread kernels can wait on each other's barriers for longer than they compute.
    options = sorted({1, args.threads})
    ours = {nt: [] for nt in options}
    theirs = {nt: [] for nt in options}
    for nt in options:  # warm-up of both (first-call costs: kernel builds, allocator), then alternate
        torch.set_num_threads(nt)
        ds = plw.landscape(run, dirs, resolution=RESOLUTION, progress=False)
        loop_values(loop, theta0, d1, d2, sub_coords[:3])
    vals = None
    for _ in range(args.repeats):
        for nt in options:
            torch.set_num_threads(nt)
            t = time.perf_counter()
            ds = plw.landscape(run, dirs, resolution=RESOLUTION, progress=False)
            ours[nt].append(time.perf_counter() - t)
            t = time.perf_counter()
            vals = loop_values(loop, theta0, d1, d2, sub_coords)
            theirs[nt].append(time.perf_counter() - t)
    torch.set_num_threads(args.threads)
    ours_nt = min(options, key=lambda nt: statistics.median(ours[nt]))
    theirs_nt = min(options, key=lambda nt: statistics.median(theirs[nt]))

    # the same numbers: every value the loop computed against the grid's at the same point
    # relative to the value, or to 1 % of the quantity's largest magnitude over these points where the value
    # is smaller: an energy near zero is a difference of large terms, exact only to float32 rounding of those
    scale = {key: max(abs(v[key]) for v in vals if math.isfinite(v[key])) for key in vals[0]}
    worst, worst_at = 0.0, None
    for i, v in zip(subset, vals):
        ia, ib = divmod(i, RESOLUTION)
        for key, ref in v.items():
            grid = float(ds[key].values[ia, ib])
            if not (math.isfinite(grid) and math.isfinite(ref)):
                if math.isfinite(grid) != math.isfinite(ref):
                    raise AssertionError(f"{name}/{form} {key} at {flat[i]}: grid {grid}, loop {ref}")
                continue
            rel = abs(grid - ref) / max(abs(grid), abs(ref), 0.01 * scale[key], 1e-30)
            if rel > worst:
                worst, worst_at = rel, (key, flat[i], grid, ref)
    if worst > SANITY_RTOL:
        raise AssertionError(f"{name}/{form}: loop and grid differ by {worst:.2e} relative at {worst_at}")

    n_cond = sum(int(c.points.shape[0]) for c in prob.conditions)
    loop_subset_s = statistics.median(theirs[theirs_nt])
    row = dict(
        problem=name,
        formulation=form,
        n_points=int(prob.quadrature()[0].shape[0]),
        n_condition_points=n_cond,
        n_params=int(run.n_params),
        train_steps=int(run.history.step[-1]),
        train_threads=args.threads,
        train_s=train_s,
        rel_l2_error=float(run.history.rel_l2_error[-1]),
        diverged=bool(run.diverged),
        resolution=RESOLUTION,
        landscape_s=statistics.median(ours[ours_nt]),
        landscape_threads=ours_nt,
        landscape_runs_s={str(nt): v for nt, v in ours.items()},
        chunk_size=int(ds.attrs["chunk_size"]),
        loop_points=len(subset),
        loop_subset_s=loop_subset_s,
        loop_threads=theirs_nt,
        loop_subset_runs_s={str(nt): v for nt, v in theirs.items()},
        loop_s=loop_subset_s * RESOLUTION**2 / len(subset),
        max_rel_diff=worst,
        load_before=load_before,
        load_after=load_average(),
    )
    row["speedup"] = row["loop_s"] / row["landscape_s"]
    print(
        f"{name:21s} {form:9s} train {train_s:6.1f} s, err {row['rel_l2_error']:.2e} | landscape "
        f"{row['landscape_s']:.3f} s, loop {row['loop_s']:.3f} s (from {len(subset)} points), "
        f"{row['speedup']:.2f}x (threads {ours_nt} / {theirs_nt}) | max rel diff {worst:.1e} | "
        f"load {load_before[:1]}",
        flush=True,
    )
    return row


def _fmt_s(s: float) -> str:
    return f"{s:.2f} s" if s < 10 else f"{s:.1f} s" if s < 100 else f"{s:.0f} s"


def table(data: dict) -> str:
    """The Markdown table of a stored result (docs/problems-table.md)."""
    m, rows = data["machine"], data["results"]
    loads = [r["load_before"][0] for r in rows if r.get("load_before")] + [
        r["load_after"][0] for r in rows if r.get("load_after")
    ]
    n_loop = sorted({r["loop_points"] for r in rows})
    res = rows[0]["resolution"] if rows else RESOLUTION
    lines = [
        "| problem | loss | points (interior + conditions) | parameters | training | rel. L2 error | "
        f"landscape {res}x{res} | per-point loop {res}x{res} | ratio |",
        "|---|---|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        err = f"{r['rel_l2_error']:.1e}" + (" (diverged)" if r.get("diverged") else "")
        lines.append(
            f"| {r['problem']} | {r['formulation']} | {r['n_points']} + {r['n_condition_points']} | "
            f"{r['n_params']} | {_fmt_s(r['train_s'])} | {err} | {_fmt_s(r['landscape_s'])} | "
            f"{_fmt_s(r['loop_s'])} | **{r['speedup']:.1f}x** |"
        )
    ratios = [r["speedup"] for r in rows]
    steps = "the default 1000 steps" if data.get("steps") is None else f"steps={data['steps']}"
    lines += [
        "",
        f"Measured {data['date']} on {m['cpu']} ({m['cores']} cores, shared), torch {m['torch']} with "
        f"{m['threads']} threads, Python {m['python']}, float32. Machine load (1-minute average) during the "
        f"run: {min(loads):.1f} to {max(loads):.1f}"
        + (" on 2 cores, so every time here is slower than on a quiet machine." if max(loads) > 2.5 else ".")
        if loads
        else "",
        "",
        f"Each problem with its default options, trained by `plw.train(name, loss)` ({steps}: Adam, then "
        "L-BFGS; MLP 3 x 50 tanh). Training is the wall time of that call; the error is the final relative "
        "L2 error against the exact or reference solution. The landscape is `plw.landscape(run)` on a "
        f"{res} x {res} grid of filter-normalised random directions (seed 0). The per-point loop evaluates the "
        "same grid point by point as a user would with torch alone: one module (`run.model_at`), "
        "`torch.nn.utils.vector_to_parameters` per point, derivatives by `torch.autograd.grad`, the problem's "
        f"own residual or energy and conditions (`benchmarks/bench_problems.py`). It was timed on "
        f"{', '.join(map(str, n_loop))} of the {res * res} grid points (spread evenly over the grid) and "
        f"scaled to the whole grid. Both were timed alternately, {data['repeats']} times each, in one "
        "process, each at its best of 1 and "
        f"{m['threads']} torch threads (training used {m['threads']}); the times are medians and the ratio is "
        "loop / landscape. At those points the loop's "
        "numbers (loss, each term, error) equal the grid's to "
        f"{max(r['max_rel_diff'] for r in rows):.0e} relative or better (relative to the value, or to 1 % of "
        "that quantity's largest magnitude at those points where the value is smaller). Ratios range from "
        f"{min(ratios):.1f}x to {max(ratios):.1f}x.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--loop-points", type=int, default=81, help="grid points the loop is timed on (81 of 1681)")
    ap.add_argument("--problems", default=None, help="comma-separated names (default: every built-in problem)")
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: plw.train's default)")
    ap.add_argument("--out", default=str(JSON_OUT))
    ap.add_argument("--table", default=str(TABLE_OUT))
    ap.add_argument("--table-only", action="store_true", help="rewrite the table from the JSON at --out")
    ap.add_argument("--resume", action="store_true", help="keep the rows an interrupted run stored at --out")
    args = ap.parse_args(argv)
    if args.table_only:
        Path(args.table).write_text(table(json.loads(Path(args.out).read_text())))
        print("wrote", args.table)
        return None
    torch.set_num_threads(args.threads)
    names = plw.list_problems() if args.problems is None else args.problems.split(",")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    rows = []
    if args.resume and out.exists():  # rows of an interrupted run, measured with the same settings
        old = json.loads(out.read_text())
        if old.get("steps") == args.steps and old.get("repeats") == args.repeats:
            rows = old["results"]
            started = datetime.datetime.fromisoformat(old["started"])
    done = {(r["problem"], r["formulation"]) for r in rows}

    def snapshot(complete: bool) -> dict:
        return dict(
            date=started.strftime("%Y-%m-%d"),
            started=started.isoformat(timespec="seconds"),
            finished=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            complete=complete,
            machine=dict(
                cpu=cpu_name(),
                cores=os.cpu_count(),
                threads=args.threads,
                platform=platform.platform(),
                python=platform.python_version(),
                torch=torch.__version__,
                package=plw.__version__,
            ),
            repeats=args.repeats,
            steps=args.steps,
            resolution=RESOLUTION,
            sanity_rtol=SANITY_RTOL,
            results=rows,
        )

    for name in names:
        for form in plw.formulations.supported_formulations(plw.get_problem(name)):
            if (name, form) in done:
                continue
            rows.append(bench_one(name, form, args))
            out.write_text(json.dumps(snapshot(False), indent=2) + "\n")  # kept if a later row fails
    forms = plw.list_formulations()
    rows.sort(key=lambda r: (names.index(r["problem"]), forms.index(r["formulation"])))
    data = snapshot(True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    Path(args.table).write_text(table(data))
    print(table(data))
    print("wrote", args.out, args.table)
    return data


if __name__ == "__main__":
    main()
