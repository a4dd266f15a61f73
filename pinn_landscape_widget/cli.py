"""``pinn-landscape``: train PINNs and write their loss landscapes from the shell.

pinn-landscape demo --out demo-output        # landscape.html (self-contained), NetCDF files, PNGs
pinn-landscape compute --problem poisson1d --formulation deep_ritz --resolution 51 --out f.nc
pinn-landscape reproduce krishnapriyan2021 --quick --out results   # published | ours | ratio, JSON + Markdown
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
    run = plw.train(
        args.problem,
        args.formulation,
        width=args.width,
        depth=args.depth,
        activation=args.activation,
        optimizer=args.optimizer,
        steps=args.steps,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        progress=not args.quiet,
        problem_params=_problem_params(args.param),
    )
    dirs = plw.random_directions(run, args.dims, seed=args.direction_seed, normalization=args.normalization)
    ds = plw.landscape(
        run, dirs, span=args.span, resolution=args.resolution, device=args.device, progress=not args.quiet
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(out)
    loss = ds["loss"].values
    print(f"wrote {out.resolve()}")
    print(
        f"{run.problem.name}/{run.formulation}: {run.n_params} params, trained rel_l2_error "
        f"{float(run.history.rel_l2_error[-1]):.2e}; {'x'.join(map(str, loss.shape))} grid, loss at center "
        f"{ds.attrs['loss_center']:.4g}, range [{float(loss.min()):.4g}, {float(loss.max()):.4g}]; "
        f"{time.perf_counter() - t0:.1f} s"
    )
    return 0


def _demo(args) -> int:
    """Train the defaults (poisson1d, strong form and Deep Ritz), compute their landscapes, and write a
    self-contained HTML page, NetCDF files and a PNG."""
    import torch

    import pinn_landscape_widget as plw
    from pinn_landscape_widget.viz.plotting import png_bytes

    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = {
        form: plw.train(args.problem, form, steps=args.steps, progress=not args.quiet)
        for form in plw.formulations.supported_formulations(plw.get_problem(args.problem))
    }
    w = plw.LandscapeWidget(runs, resolution=args.resolution).wait(600)
    written = []
    html_path = w.to_html(
        out / "landscape.html",
        precompute=("direction_kind", "formulation"),
        title=f"PINN loss landscapes: {args.problem}, strong form vs Deep Ritz",
    )
    written.append(html_path)
    for label, run in runs.items():
        ds = plw.landscape(
            run, plw.random_directions(run, 2, seed=0), resolution=args.resolution, progress=not args.quiet
        )
        nc = out / f"{args.problem}_{label}.nc"
        ds.to_netcdf(nc)
        written.append(nc)
        png = png_bytes(ds)
        if png is not None:
            p = out / f"{args.problem}_{label}.png"
            p.write_bytes(png)
            written.append(p)
    for p in written:
        print(f"wrote {p.resolve()} ({p.stat().st_size / 1e6:.2f} MB)")
    summary = ", ".join(f"{k}: rel_l2_error {float(r.history.rel_l2_error[-1]):.1e}" for k, r in runs.items())
    print(f"{args.problem}: {summary}; {time.perf_counter() - t0:.0f} s. Open {html_path.resolve()} in a browser.")
    return 0


def _reproduce(args) -> int:
    """Run a published study (``plw.reproduce``) and write STUDY.json and STUDY.md, or render
    docs/reproductions.md from the JSON files already written (``--docs``)."""
    from pinn_landscape_widget.reproduce import list_studies, render_docs, reproduce

    if args.docs:
        if args.study:
            raise ValueError("--docs renders the page from existing results; give it without a STUDY")
        page = render_docs(args.results)
        Path(args.docs).write_text(page, encoding="utf-8")
        print(f"wrote {Path(args.docs).resolve()}")
        return 0
    if not args.study:
        raise ValueError(f"STUDY is required, one of {list_studies()} (or --docs PATH)")
    options = _problem_params(args.param)
    result = reproduce(
        args.study, quick=args.quick, out=args.out, progress=not args.quiet, threads=args.threads, **options
    )
    print(result.to_markdown())
    if args.out:
        print(f"wrote {Path(args.out, result.stem + '.json').resolve()} and .md")
    return 0


def _add_reproduce(sub) -> None:
    from pinn_landscape_widget.reproduce import list_studies

    r = sub.add_parser(
        "reproduce",
        help="rerun a published study and write published | ours | ratio as JSON and Markdown",
        description="Studies: " + ", ".join(list_studies()) + ". Options of a study: --param NAME=VALUE "
        "(JSON values), e.g. --param betas=[1,30] for krishnapriyan2021.",
    )
    r.add_argument("study", nargs="?", help="the study to run: " + ", ".join(list_studies()))
    r.add_argument("--quick", action="store_true", help="a few-minute version in the same regime")
    r.add_argument("--out", default=None, help="folder for STUDY.json and STUDY.md (default: print only)")
    r.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a study option (repeatable)")
    r.add_argument("--threads", type=int, default=1, help="torch CPU threads during the run (default 1)")
    r.add_argument("--docs", default=None, metavar="PATH", help="render docs/reproductions.md from --results")
    r.add_argument("--results", default="docs/results", help="folder of the study JSON files (for --docs)")
    r.add_argument("--quiet", action="store_true", help="no progress lines")
    r.set_defaults(func=_reproduce)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="pinn-landscape", description="PINN loss landscapes from the shell.")
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compute", help="train a PINN and write its landscape to a NetCDF file")
    c.add_argument("--problem", default="poisson1d")
    c.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="problem parameter, e.g. --param beta=30 (repeatable)",
    )
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
    d = sub.add_parser("demo", help="train the defaults and write landscape.html, NetCDF files and PNGs")
    d.add_argument("--out", default="demo-output", help="folder to write into")
    d.add_argument("--problem", default="poisson1d")
    d.add_argument("--steps", type=int, default=1000)
    d.add_argument("--resolution", type=int, default=41)
    d.add_argument("--threads", type=int, default=0)
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=_demo)
    _add_reproduce(sub)
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
