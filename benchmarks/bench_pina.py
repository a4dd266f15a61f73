"""A PINA solver's landscape against the per-point loop a PINA user would write, side by side in one process.

Reference workload: PINA's Poisson tutorial problem on the unit square as its docs write it (four Dirichlet
sides ``g1``..``g4`` with ``FixedValue(0)``, the interior ``D`` with ``laplacian`` from ``pina.operator``
minus sin(pi x) sin(pi y)), 30 x 30 interior grid points and 100 per side, PINA's default ``FeedForward``
(2-20-20-1 tanh), ``PhysicsInformedSingleModelSolver`` with MSE loss and a ``ScalarWeighting`` (10 on the
sides), trained ``--epochs`` full-batch epochs with PINA's Trainer; float32, a 2-D slice along two
filter-normalised random directions.

  loop        the baseline: for each grid point, write theta into ``solver.model``
              (``vector_to_parameters``), PINA's loss (its ``_compute_condition_loss`` of each condition
              times its weight), ``.item()``; timed with 1 and with 2 torch threads, the better one counts
  landscape   ``plw.landscape(plw.adapters.from_pina(solver), ...)``: the traced path (the engine's jets for
              all parameter points of a chunk, PINA's own equation code run once per chunk)

Each method is timed alternately ``--repeats`` times on the same grid; medians and the ratio are reported,
and the landscape's values are checked against the loop's. With ``--loop-points N`` the loops run on N
evenly spaced grid points only and their times are scaled to the whole grid.

    python benchmarks/bench_pina.py [--resolution 41] [--repeats 3] [--threads 2] [--epochs 200]
                                    [--loop-points N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import pinn_landscape_widget as plw

WEIGHTS = {"g1": 10.0, "g2": 10.0, "g3": 10.0, "g4": 10.0, "D": 1.0}


def tutorial_problem():
    from pina import Condition
    from pina.domain import CartesianDomain
    from pina.equation import Equation
    from pina.equation.zoo import FixedValue
    from pina.operator import laplacian
    from pina.problem import SpatialProblem

    def laplace_equation(input_, output_):
        force_term = torch.sin(input_.extract(["x"]) * torch.pi) * torch.sin(input_.extract(["y"]) * torch.pi)
        delta_u = laplacian(output_.extract(["u"]), input_, components=["u"], d=["x", "y"])
        return delta_u - force_term

    class Poisson(SpatialProblem):
        output_variables = ["u"]
        spatial_domain = CartesianDomain({"x": [0, 1], "y": [0, 1]})
        domains = {
            "g1": CartesianDomain({"x": [0, 1], "y": 1}),
            "g2": CartesianDomain({"x": [0, 1], "y": 0}),
            "g3": CartesianDomain({"x": 1, "y": [0, 1]}),
            "g4": CartesianDomain({"x": 0, "y": [0, 1]}),
            "D": CartesianDomain({"x": [0, 1], "y": [0, 1]}),
        }
        conditions = {
            "g1": Condition(domain="g1", equation=FixedValue(0.0)),
            "g2": Condition(domain="g2", equation=FixedValue(0.0)),
            "g3": Condition(domain="g3", equation=FixedValue(0.0)),
            "g4": Condition(domain="g4", equation=FixedValue(0.0)),
            "D": Condition(domain="D", equation=Equation(laplace_equation)),
        }

        def solution(self, pts):
            x, y = pts.extract(["x"]), pts.extract(["y"])
            return -torch.sin(x * torch.pi) * torch.sin(y * torch.pi) / (2 * torch.pi**2)

    problem = Poisson()
    problem.discretise_domain(30, "grid", domains=["D"])
    problem.discretise_domain(100, "grid", domains=["g1", "g2", "g3", "g4"])
    return problem


def make_solver(problem, epochs: int):
    from pina import Trainer
    from pina.model import FeedForward
    from pina.solver import PhysicsInformedSingleModelSolver
    from pina.weighting import ScalarWeighting

    torch.manual_seed(0)
    model = FeedForward(input_dimensions=2, output_dimensions=1)  # PINA's defaults: 2 x 20, tanh
    solver = PhysicsInformedSingleModelSolver(problem, model, weighting=ScalarWeighting(WEIGHTS))
    if epochs:
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer = Trainer(
                solver,
                max_epochs=epochs,
                accelerator="cpu",
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                default_root_dir=tmp,
            )
            trainer.train()
    return solver


def pina_batches(solver):
    """Each condition as PINA's training step evaluates it: (name, condition, data)."""
    from pina import Condition

    problem = solver.problem
    out = []
    for name, cond in problem.conditions.items():
        if hasattr(cond, "domain"):
            pts = problem.discretised_domains[cond.domain]
            out.append((name, Condition(input=pts, equation=cond.equation), {"input": pts}))
        else:
            out.append((name, cond, dict(cond.data.to_batch())))
    return out


def loop(solver, batches, theta0, D, coef, threads, subset) -> np.ndarray:
    torch.set_num_threads(threads)
    params = list(solver.model.parameters())
    out = np.full(coef.shape[0], np.nan)
    with torch.enable_grad():
        for k in subset:
            theta = theta0 + float(coef[k, 0]) * D[0] + float(coef[k, 1]) * D[1]
            torch.nn.utils.vector_to_parameters(theta, params)
            total = sum(WEIGHTS[name] * solver._compute_condition_loss(c, dict(data), 0) for name, c, data in batches)
            out[k] = total.item()
    torch.nn.utils.vector_to_parameters(theta0, params)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=41)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--loop-points", type=int, default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    problem = tutorial_problem()
    solver = make_solver(problem, args.epochs)
    run = plw.adapters.from_pina(solver)
    assert run.attrs["evaluation"] == "traced", run.attrs
    dirs = plw.random_directions(run, 2, seed=0)
    D, theta0 = dirs.vectors, run.params.clone()
    res = args.resolution
    axis = np.linspace(-1, 1, res)
    coef = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    batches = pina_batches(solver)

    def landscape():
        torch.set_num_threads(args.threads)
        return plw.landscape(run, dirs, span=1.0, resolution=res, progress=False).loss.values.reshape(-1)

    n = coef.shape[0]
    subset = range(n) if args.loop_points is None else np.linspace(0, n - 1, args.loop_points).round().astype(int)
    scale = n / len(subset)
    methods = {
        "loop_1thread": lambda: loop(solver, batches, theta0, D, coef, 1, subset),
        f"loop_{args.threads}threads": lambda: loop(solver, batches, theta0, D, coef, args.threads, subset),
        "landscape": landscape,
    }
    times = {k: [] for k in methods}
    values = {}
    for _ in range(args.repeats):
        for name, fn in methods.items():
            t = time.perf_counter()
            values[name] = fn()
            times[name].append((time.perf_counter() - t) * (scale if name.startswith("loop") else 1.0))
    torch.set_num_threads(args.threads)
    med = {k: statistics.median(v) for k, v in times.items()}
    loop_name = min((k for k in methods if k.startswith("loop")), key=lambda k: med[k])
    sub = np.asarray(list(subset))
    ref = values[loop_name][sub]
    err = float(np.max(np.abs(values["landscape"][sub] - ref) / np.maximum(np.abs(ref), 1e-30)))
    ratio = med[loop_name] / med["landscape"]
    for name in methods:
        print(f"{name:16s} {med[name]:7.3f} s  (times {', '.join(f'{t:.2f}' for t in times[name])})", flush=True)
    print(
        f"landscape {res}x{res}: {med['landscape']:.3f} s, best loop ({loop_name}) {med[loop_name]:.3f} s, "
        f"ratio {ratio:.2f}x, max rel diff {err:.1e}",
        flush=True,
    )
    row = dict(
        problem="PINA Poisson tutorial (D 30x30, 4 x 100 boundary points)",
        network=run.net.description,
        evaluation=run.attrs["evaluation"],
        grid=f"{res}x{res}",
        seconds=med["landscape"],
        loop=loop_name,
        loop_seconds=med[loop_name],
        loop_points=len(subset),
        ratio=ratio,
        max_rel_diff=err,
        times=times,
    )
    meta = dict(
        torch=torch.__version__,
        threads=args.threads,
        python=platform.python_version(),
        machine=platform.processor() or platform.machine(),
        date=time.strftime("%Y-%m-%d"),
        load_average=list(os.getloadavg()),
    )
    if args.out:
        Path(args.out).write_text(json.dumps(dict(meta=meta, rows=[row]), indent=1))
    return row


if __name__ == "__main__":
    main()
