"""``pinn-landscape``: train a PINN and write its loss landscape to NetCDF from the shell.

    pinn-landscape compute --problem poisson1d --formulation deep_ritz --resolution 51 --out f.nc
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _problem_params(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--param must look like NAME=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _compute(args) -> int:
    import torch

    import pinn_landscape_widget as plw

    torch.set_num_threads(args.threads) if args.threads else None
    t0 = time.perf_counter()
    run = plw.train(args.problem, args.formulation, width=args.width, depth=args.depth,
                    activation=args.activation, optimizer=args.optimizer, steps=args.steps, lr=args.lr,
                    seed=args.seed, device=args.device, progress=not args.quiet,
                    problem_params=_problem_params(args.param))
    dirs = plw.random_directions(run, args.dims, seed=args.direction_seed, normalization=args.normalization)
    ds = plw.landscape(run, dirs, span=args.span, resolution=args.resolution, device=args.device,
                       progress=not args.quiet)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(out)
    loss = ds["loss"].values
    print(f"wrote {out.resolve()}")
    print(f"{run.problem.name}/{run.formulation}: {run.n_params} params, trained rel_l2_error "
          f"{float(run.history.rel_l2_error[-1]):.2e}; {'x'.join(map(str, loss.shape))} grid, loss at center "
          f"{ds.attrs['loss_center']:.4g}, range [{float(loss.min()):.4g}, {float(loss.max()):.4g}]; "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="pinn-landscape", description="PINN loss landscapes from the shell.")
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compute", help="train a PINN and write its landscape to a NetCDF file")
    c.add_argument("--problem", default="poisson1d")
    c.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="problem parameter, e.g. --param beta=30 (repeatable)")
    c.add_argument("--formulation", default="strong")
    c.add_argument("--width", type=int, default=50)
    c.add_argument("--depth", type=int, default=3)
    c.add_argument("--activation", default="tanh")
    c.add_argument("--optimizer", default="adam+lbfgs")
    c.add_argument("--steps", type=int, default=1000)
    c.add_argument("--lr", type=float, default=1e-3)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--dims", type=int, default=2, choices=(1, 2), help="1-D or 2-D slice")
    c.add_argument("--direction-seed", type=int, default=0)
    c.add_argument("--normalization", default="filter")
    c.add_argument("--span", type=float, default=1.0)
    c.add_argument("--resolution", type=int, default=41)
    c.add_argument("--device", default="auto")
    c.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    c.add_argument("--out", required=True, help="NetCDF file to write")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    c.set_defaults(func=_compute)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"pinn-landscape: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
