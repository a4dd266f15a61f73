"""``pinn-landscape``: train PINNs and write their loss landscapes from the shell.

pinn-landscape demo --out demo-output        # landscape.html (self-contained), myst/, NetCDF files, PNGs
pinn-landscape compute --problem poisson1d --formulation deep_ritz --resolution 51 --out f.nc
pinn-landscape reproduce krishnapriyan2021 --quick --out results   # published | ours | ratio, JSON + Markdown
pinn-landscape compute --problem my_pdes.py:heat --param kappa=0.05 --out heat.nc   # your own problem
pinn-landscape problems                      # the built-in problems, one line each
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import time
from pathlib import Path

PROBLEM_HELP = (
    "a built-in problem (see `pinn-landscape problems`), or a Problem you defined, named as module:attribute "
    "or path/to/file.py:attribute (the attribute may also be a function that returns a Problem)"
)


def _import_source(source: str):
    """The module a --problem spec names: a .py file (run as a fresh module) or an importable module name."""
    looks_like_file = source.endswith(".py") or "/" in source or "\\" in source
    if looks_like_file:
        path = Path(source).expanduser()
        if not path.is_file():
            raise ValueError(f"--problem {source!r}: no such file {str(path.resolve())!r}")
        name = "_plw_problem_" + "".join(ch if ch.isalnum() else "_" for ch in path.stem)
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"--problem {source!r}: cannot load {str(path)!r} as Python source")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look their module up here
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module
    # like `python -m`: modules in the current folder are importable
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(source)
    except ModuleNotFoundError as exc:
        if exc.name is not None and source != exc.name and not source.startswith(exc.name + "."):
            raise  # the module exists but imports something missing: the user's traceback says what
        raise ValueError(
            f"--problem: cannot import module {source!r} ({exc}); give an importable module or a path to a .py file"
        ) from None


def load_problem(spec: str):
    """What ``--problem`` names: a built-in name (returned as is) or the Problem behind module:attribute or
    path/to/file.py:attribute (an attribute that is a function is called with no arguments)."""
    from .pde.library import list_problems
    from .pde.problems import Problem

    if spec in list_problems():
        return spec
    source, sep, attr = spec.rpartition(":")
    if not sep or not source or not attr:
        raise ValueError(
            f"problem must be one of {list_problems()} or a Problem from plw.define_problem, got {spec!r}; "
            "from the shell, name your own Problem as module:attribute or path/to/file.py:attribute"
        )
    module = _import_source(source)
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            found = sorted(k for k, v in vars(module).items() if isinstance(v, Problem))
            hint = f"; Problems defined there: {found}" if found else "; it defines no Problem at module level"
            raise ValueError(f"--problem {spec!r}: {source!r} has no attribute {attr!r}{hint}")
        obj = getattr(obj, part)
    if isinstance(obj, Problem):
        return obj
    if callable(obj) and not isinstance(obj, type):
        import inspect

        try:
            required = [
                p.name
                for p in inspect.signature(obj).parameters.values()
                if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            ]
        except (TypeError, ValueError):
            required = []
        if required:
            raise ValueError(
                f"--problem {spec!r}: {attr} needs arguments {required}; a function named here is called with "
                "none (give its parameters defaults, or vary the Problem's params with --param NAME=VALUE)"
            )
        made = obj()
        if isinstance(made, Problem):
            return made
        raise ValueError(
            f"--problem {spec!r}: {attr}() returned a {type(made).__name__}, not a Problem "
            "(make one with plw.define_problem)"
        )
    raise ValueError(
        f"--problem {spec!r}: {attr} is a {type(obj).__name__}, not a Problem or a function returning one "
        "(make one with plw.define_problem)"
    )


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
        load_problem(args.problem),
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
        coefficients=_problem_params(args.param),
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
    self-contained HTML page, the files of a MyST page (myst/), NetCDF files and a PNG."""
    import torch

    import pinn_landscape_widget as plw
    from pinn_landscape_widget.viz.plotting import png_bytes

    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    problem = plw.get_problem(load_problem(args.problem))
    runs = {
        form: plw.train(problem, form, steps=args.steps, progress=not args.quiet)
        for form in plw.formulations.supported_formulations(problem)
    }
    w = plw.LandscapeWidget(runs, resolution=args.resolution).wait(600)
    written = []
    html_path = w.to_html(
        out / "landscape.html",
        precompute=("direction_kind", "formulation"),
        title=f"PINN loss landscapes: {problem.name}, {' vs '.join(runs)}",
    )
    written.append(html_path)
    # the same landscape for a MyST / Jupyter Book 2 page: the front end, the state file, the directive
    w.to_myst(out / "myst", precompute=("direction_kind", "formulation"))
    written += [out / "myst" / "plw-widget.js", out / "myst" / "landscape.json"]
    for label, run in runs.items():
        ds = plw.landscape(
            run, plw.random_directions(run, 2, seed=0), resolution=args.resolution, progress=not args.quiet
        )
        nc = out / f"{problem.name}_{label}.nc"
        ds.to_netcdf(nc)
        written.append(nc)
        png = png_bytes(ds)
        if png is not None:
            p = out / f"{problem.name}_{label}.png"
            p.write_bytes(png)
            written.append(p)
    for p in written:
        print(f"wrote {p.resolve()} ({p.stat().st_size / 1e6:.2f} MB)")
    summary = ", ".join(f"{k}: rel_l2_error {float(r.history.rel_l2_error[-1]):.1e}" for k, r in runs.items())
    print(f"{problem.name}: {summary}; {time.perf_counter() - t0:.0f} s. Open {html_path.resolve()} in a browser.")
    return 0


def _problems(args) -> int:
    """One line per built-in problem: name, formulations, what it is (and, with --params, its options)."""
    from .pde.formulations import supported_formulations
    from .pde.library import get_problem, list_problems

    probs = [get_problem(name) for name in list_problems()]
    forms = [", ".join(supported_formulations(p)) for p in probs]
    w_name = max(len(p.name) for p in probs)
    w_form = max(len(f) for f in forms)
    for prob, form in zip(probs, forms):
        print(f"{prob.name:<{w_name}}  {form:<{w_form}}  {prob.description}")
        if args.params:
            opts = ", ".join(f"{k}={v!r}" for k, v in prob.options.items())
            print(f"{'':<{w_name}}  {'':<{w_form}}  options: {opts}")
    print(
        "\nTrain one: pinn-landscape compute --problem NAME [--param NAME=VALUE] --out FILE.nc; "
        "your own problem: --problem file.py:attribute"
    )
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
    from pinn_landscape_widget.reproduce import STUDIES, list_studies

    options = "; ".join(f"{name}: {', '.join(study.options()) or 'none'}" for name, study in STUDIES.items())
    r = sub.add_parser(
        "reproduce",
        help="rerun a published study and write published | ours | ratio as JSON and Markdown",
        description="Studies: " + ", ".join(list_studies()) + ". Options of a study: --param NAME=VALUE "
        f"(JSON values), e.g. --param betas=[1,30] for krishnapriyan2021. Options: {options}.",
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
    c.add_argument("--problem", default="poisson1d", help=PROBLEM_HELP)
    c.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="problem parameter or option, e.g. --param beta=30 (repeatable; a defined problem's params)",
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
    d = sub.add_parser(
        "demo", help="train the defaults and write landscape.html, the MyST files, NetCDF files and PNGs"
    )
    d.add_argument("--out", default="demo-output", help="folder to write into")
    d.add_argument("--problem", default="poisson1d", help=PROBLEM_HELP)
    d.add_argument("--steps", type=int, default=1000)
    d.add_argument("--resolution", type=int, default=41)
    d.add_argument("--threads", type=int, default=0)
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=_demo)
    _add_reproduce(sub)
    p = sub.add_parser("problems", help="list the built-in problems, one line each")
    p.add_argument("--params", action="store_true", help="also list each problem's options and defaults")
    p.set_defaults(func=_problems)
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
