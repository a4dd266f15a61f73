"""Published studies, rerun: ``plw.reproduce(study)`` or ``pinn-landscape reproduce STUDY``.

Each study runs a paper's setup (from the paper and the authors' code), puts our number next to each
published one with the ratio and a stated criterion, and writes the result as JSON (the record) and as a
Markdown table rendered from it. ``quick=True`` runs a few-minute version that lands in the same regime.

    krishnapriyan2021   convection failure modes: relative L2 error for beta = 1 ... 40, vanilla and curriculum
    rathore2024         top Hessian eigenvalues after Adam + L-BFGS, per loss term, and L-BFGS-preconditioned
    rowan2026           the seed paper: strong form and Deep Ritz on poisson1d, smooth / convex-like / similar

docs/reproductions.md is rendered from the committed JSON files by ``render_docs`` (``pinn-landscape
reproduce --docs``), so its tables are the command's output.
"""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path

from .._checks import check_int
from . import krishnapriyan2021, rathore2024, rowan2026
from ._report import StudyResult, command_for, load_average, machine_info, render_markdown
from ._runs import torch_threads

STUDIES = {
    "krishnapriyan2021": krishnapriyan2021,
    "rathore2024": rathore2024,
    "rowan2026": rowan2026,
}


def list_studies() -> list[str]:
    """Names accepted by ``reproduce``."""
    return list(STUDIES)


def study_options(study: str) -> dict:
    """The options a study accepts (besides quick and progress), with their defaults."""
    module = _study(study)
    params = inspect.signature(module.run).parameters
    return {k: p.default for k, p in params.items() if k not in ("quick", "progress")}


def _study(study):
    if not isinstance(study, str) or study not in STUDIES:
        raise ValueError(f"study must be one of {list_studies()}, got {study!r}")
    return STUDIES[study]


def reproduce(study: str, *, quick: bool = False, out=None, progress: bool = True, threads: int = 1, **options):
    """Run a published study and return its ``StudyResult`` (rows: published | ours | ratio | verdict; setup:
    what matches the paper and what does not); with ``out``, also write ``STUDY.json`` and ``STUDY.md``
    (``STUDY_quick.*`` for quick) into that folder.

    options: the study's own (``study_options(study)``), e.g. ``betas=[1, 30]`` for krishnapriyan2021;
    values the paper does not cover are a ValueError naming what is allowed. threads: torch's CPU thread
    count during the run (default 1: float32 results depend on the reduction order, and on a shared
    machine one thread per process is also the fastest). The trained runs are in ``result.runs``.
    """
    module = _study(study)
    if not isinstance(quick, bool):
        raise ValueError(f"quick must be True or False, got {quick!r}")
    allowed = study_options(study)
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for study {study!r}; allowed: {list(allowed)}")
    threads = check_int("threads", threads, 1, 1024)
    machine = machine_info(threads)
    t0 = time.perf_counter()
    with torch_threads(threads):
        out_tuple = module.run(quick=quick, progress=progress, **options)
    rows, setup, notes, runs = out_tuple[:4]
    extra = out_tuple[4] if len(out_tuple) > 4 else {}
    machine["load_after"] = load_average()
    result = StudyResult(
        study=study,
        title=module.TITLE,
        source=module.SOURCE,
        quick=quick,
        setup=setup,
        rows=rows,
        notes=notes,
        command=command_for(study, quick, options),
        seconds=time.perf_counter() - t0,
        machine=machine,
        extra=extra,
        variant=module.variant(**options) if hasattr(module, "variant") else "",
    )
    result.runs = runs
    if out is not None:
        result.write(out)
    return result


DOCS_INTRO = """# Reproductions

Each table below is written by `pinn-landscape reproduce STUDY --out docs/results` (the same as
`plw.reproduce(study, out="docs/results")`), which reruns a published setup and records, for every
published number, ours, the ratio and whether it reproduces by the stated criterion. This page is rendered
from the JSON files in `docs/results/` by `pinn-landscape reproduce --docs docs/reproductions.md`; nothing
in it is typed by hand. `--quick` runs a few-minute version of a study (the test suite runs those).

Each study's setup table says what matches the paper and its authors' code and what does not (a smaller
budget on two CPU cores, other random points with the same distribution). The dtype is stated: float32
L-BFGS can stop at its tolerance test on a loss plateau (Xu et al., "FP64 is all you need", arXiv
2505.10949), so a failure in float32 need not be a minimum; `--param dtype=float64` runs the convection
study in float64 (its results file is krishnapriyan2021_float64).

The landscape metrics the studies use are public functions, each defined in its docstring:
`plw.curvature_map` (full-Hessian extreme eigenvalues over a slice and Li et al.'s convexity ratio
|lambda_min / lambda_max|), `plw.roughness_index` (the normalised total variation of random lines, after
Wu et al. 2021) and `plw.compare_landscapes` (rank correlation, distance between minima and curvature
ratio of two landscapes on the same directions).
"""


def render_docs(results_dir, studies=None) -> str:
    """The Markdown of docs/reproductions.md from the study JSON files in ``results_dir``: each study's full
    run (STUDY.json), then its variants (STUDY_VARIANT.json, e.g. krishnapriyan2021_float64); quick runs
    are left out."""
    results_dir = Path(results_dir)
    parts = [DOCS_INTRO]
    for name in studies or list_studies():
        path = results_dir / f"{name}.json"
        if not path.exists():
            parts.append(
                f"## {STUDIES[name].TITLE}\n\nNot run yet: `pinn-landscape reproduce {name} --out {results_dir}`.\n"
            )
            continue
        variants = sorted(p for p in results_dir.glob(f"{name}_*.json") if not p.stem.endswith("_quick"))
        for p in [path, *variants]:
            parts.append(render_markdown(json.loads(p.read_text(encoding="utf-8"))))
    return "\n".join(parts)


__all__ = [
    "STUDIES",
    "StudyResult",
    "list_studies",
    "render_docs",
    "render_markdown",
    "reproduce",
    "study_options",
]
