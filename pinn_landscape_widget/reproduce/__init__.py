"""Published studies, rerun: ``plw.reproduce(study)`` or ``pinn-landscape reproduce STUDY``.

Each study runs a paper's setup (from the paper and the authors' code), puts our number next to each
published one with the ratio and a stated criterion, and writes the result as JSON (the record) and as a
Markdown table rendered from it. ``quick=True`` runs a few-minute version that lands in the same regime.

    krishnapriyan2021   convection failure modes: relative L2 error for beta = 1 ... 40, vanilla and curriculum
    rathore2024         top Hessian eigenvalues after Adam + L-BFGS, per loss term, and L-BFGS-preconditioned
    rowan2026           the seed paper: strong form and Deep Ritz on poisson1d, smooth / convex-like / similar
    failure_diagnostics convection beta 1 vs 30, Helmholtz gradient imbalance, Allen-Cahn causality, via diagnose

A study is a ``Study`` subclass (``_study.py``): its ``published`` entries hold each published number with
its citation and table or figure, and its ``run`` returns a ``StudyResult`` whose rows copy them.
docs/reproductions.md is rendered from the committed JSON files by ``render_docs`` (``pinn-landscape
reproduce --docs``), so its tables are the command's output.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .._checks import check_int, show_progress
from ._report import Row, StudyResult, command_for, load_average, machine_info, render_markdown
from ._runs import torch_threads
from ._study import Citation, Published, Study
from .failure_diagnostics import FailureDiagnostics
from .krishnapriyan2021 import Krishnapriyan2021
from .rathore2024 import Rathore2024
from .rowan2026 import Rowan2026

STUDIES: dict[str, Study] = {
    study.name: study for study in (Krishnapriyan2021(), Rathore2024(), Rowan2026(), FailureDiagnostics())
}


def list_studies() -> list[str]:
    """Names accepted by ``reproduce``."""
    return list(STUDIES)


def study_options(study: str) -> dict:
    """The options a study accepts (besides quick and progress), with their defaults."""
    return get_study(study).options()


def get_study(study: str) -> Study:
    """The ``Study`` named ``study`` (one of ``list_studies()``)."""
    if not isinstance(study, str) or study not in STUDIES:
        raise ValueError(f"study must be one of {list_studies()}, got {study!r}")
    return STUDIES[study]


def reproduce(
    study: str, *, quick: bool = False, out=None, progress: bool | None = None, threads: int = 1, **options
) -> StudyResult:
    """Rerun a published study and compare each of its published numbers with ours.

    Each study runs a paper's setup (read from the paper and the authors' code) and puts our number next to
    every published one, with the ratio and a verdict by a criterion stated in the table. The published
    numbers and their citations are committed in the study's module (``STUDIES[study].published``).

    Parameters
    ----------
    study : str
        The study, one of ``list_studies()``: ``"krishnapriyan2021"`` (convection failure modes: relative
        L2 error for beta = 1 ... 40, vanilla and curriculum), ``"rathore2024"`` (top Hessian eigenvalues
        after Adam + L-BFGS, per loss term and L-BFGS-preconditioned), ``"rowan2026"`` (the seed paper:
        strong form and Deep Ritz on poisson1d, smooth / convex-like / similar) or ``"failure_diagnostics"``
        (``diagnose`` on convection at beta = 1 and 30, Helmholtz's gradient imbalance, Allen-Cahn's causality).
    quick : bool
        False (default): the study's full budget (minutes to half an hour on two CPU cores). True: a
        few-minute version that lands in the same regime (the test suite runs these).
    out : str or path-like, optional
        A folder to write ``STEM.json`` (the record) and ``STEM.md`` (its table) into; STEM is the study's
        name, then ``_VARIANT`` for a variant (e.g. ``krishnapriyan2021_float64``) and ``_quick`` for a
        quick run. Default None: nothing is written.
    progress : bool or None
        Print what the study is doing (each training and its result). None (default): in a notebook or on a
        terminal, not in a script whose output goes to a file or a log.
    threads : int
        torch's CPU thread count during the run, 1 ... 1024 (default 1: float32 results depend on the order
        of reductions, and on a shared machine one thread per process is also the fastest).
    **options
        The study's own options (``study_options(study)`` lists them with their defaults); values the
        paper does not cover are an error naming what is allowed.

        krishnapriyan2021: ``betas`` (a non-empty subset of 1, 10, 20, 30, 40; default all),
        ``curriculum`` (bool, default True: the warm-started chain 1 -> 10 -> ... up to the largest beta,
        reported at 20, 30, 40), ``dtype`` ("float32", the paper's, or "float64"; the results file of a
        float64 run is ``krishnapriyan2021_float64``), ``points`` ("paper": their draw of the 1000
        collocation points, default; "cells": 1000 of our grid cells), ``sensitivity`` (bool, default
        True: beta = 10 from three more initialisations and beta = 20 with the other draw of points),
        ``seed`` (the initialisation seed, default 0, the paper's).

        rathore2024: ``cases`` (a non-empty subset of "convection", "reaction", "wave"; default all),
        ``beta`` (40), ``rho`` (5) and ``wave_beta`` (5): only the published values are accepted;
        ``width`` (the hidden width, 8 ... 400; default None: 50, or 20 for quick).

        rowan2026: ``seed`` (the training seed of both formulations, default 0).

        failure_diagnostics: ``seed`` (the training seed of every run, default 0).

    Returns
    -------
    StudyResult
        ``rows`` (one ``Row`` per published number: case, quantity, published, source, ours, ratio,
        verdict, criterion, and the run's own numbers in ``detail``), ``published`` (the entries they
        compare with: value, text, source and citation), ``references``, ``verdicts`` (how many rows have
        each verdict), ``setup`` (what matches the paper and what does not), ``notes``, ``extra`` (the
        study's further measurements), ``command`` (the shell command that reruns it), ``seconds``,
        ``machine``, and ``runs`` (the trained runs, not written). ``table()`` gives the rows as a
        DataFrame, ``to_markdown()`` the table as written.

    Raises
    ------
    ValueError
        An unknown study; ``quick`` not a bool; ``progress`` not True, False or None; ``threads`` not an
        integer in 1 ... 1024; an option the study does not have (the message lists those it has); an
        option value the paper does not cover (the message names the argument, the value and what is
        allowed).
    """
    spec = get_study(study)
    if not isinstance(quick, bool):
        raise ValueError(f"quick must be True or False, got {quick!r}")
    show = show_progress(progress)
    allowed = spec.options()
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for study {study!r}; allowed: {list(allowed)}")
    threads = check_int("threads", threads, 1, 1024)
    machine = machine_info(threads)
    t0 = time.perf_counter()
    with torch_threads(threads):
        result = spec.run(quick=quick, progress=show, **options)
    machine["load_after"] = load_average()
    result.command = command_for(study, quick, options)
    result.seconds = time.perf_counter() - t0
    result.machine = machine
    result.variant = spec.variant(**options)
    if out is not None:
        result.write(out)
    return result


DOCS_INTRO = """# Reproductions

Each table below is written by `pinn-landscape reproduce STUDY --out docs/results` (the same as
`plw.reproduce(study, out="docs/results")`), which reruns a published setup and records, for every
published number, ours, the ratio and whether it reproduces by the stated criterion. This page is rendered
from the JSON files in `docs/results/` by `pinn-landscape reproduce --docs docs/reproductions.md`; nothing
in it is typed by hand. `--quick` runs a few-minute version of a study (the test suite runs those).

Each published number, with its source (the paper and its table, figure or section), is committed next to its
citation in the study's module (`PUBLISHED` in `pinn_landscape_widget/reproduce/STUDY.py`); a row copies it
from there, each study lists its references under its table, and `tests/test_reproduce.py` checks that the
numbers on this page equal the committed ones.

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
                f"## {STUDIES[name].title}\n\nNot run yet: `pinn-landscape reproduce {name} --out {results_dir}`.\n"
            )
            continue
        variants = sorted(p for p in results_dir.glob(f"{name}_*.json") if not p.stem.endswith("_quick"))
        for p in [path, *variants]:
            parts.append(render_markdown(json.loads(p.read_text(encoding="utf-8"))))
    return "\n".join(parts)


__all__ = [
    "STUDIES",
    "Citation",
    "Published",
    "Row",
    "Study",
    "StudyResult",
    "get_study",
    "list_studies",
    "render_docs",
    "render_markdown",
    "reproduce",
    "study_options",
]
