"""``landscape_sweep``: landscapes of several runs x direction seeds x formulations in one Dataset."""

from __future__ import annotations

import xarray as xr

from .directions import random_directions
from .landscape import landscape


def landscape_sweep(
    runs: dict,
    directions_seeds=(0,),
    formulations=None,
    *,
    span=None,
    resolution=41,
    normalization: str = "filter",
    client=None,
    progress: bool | None = None,
) -> xr.Dataset:
    """Landscapes of several labelled runs x direction seeds x formulations, in one Dataset.

    Each run's random directions are drawn with the seed and normalised against that run's own trained
    parameters, so runs compare on equal footing (Krishnapriyan et al. 2021 compare betas this way).

    Parameters
    ----------
    runs : dict
        Label -> run (``TrainResult`` or ``ModelRun``), e.g. ``{"beta=1": run1, "beta=30": run30}``.
    directions_seeds : sequence of int
        One plane of random directions per seed; default (0,).
    formulations : sequence of str or None
        Losses to evaluate, each supported by every run; default the first run's formulation.
    span : float or (float, float) or None
        The half-width of every plane (or (lo, hi)); default ``None``: 1, the random directions' own.
    resolution : int
        Points per axis, 3 to 1025; default 41.
    normalization : {"filter", "layer", "none"}
        The random directions' normalization; default "filter".
    client : dask.distributed.Client or None
        Tile every grid over the cluster (the ``distributed`` extra).
    progress : bool or None
        A progress bar per grid; default ``None``: in a notebook or on a terminal.

    Returns
    -------
    xarray.Dataset
        Dims ("run", "seed", "formulation", "alpha", "beta"); ``loss`` and ``rel_l2_error``; attrs span,
        resolution, normalization, problem.

    Raises
    ------
    ValueError
        An empty ``runs``, or a formulation some run does not support (named with what is allowed).
    """
    labels = list(runs)
    if not labels:
        raise ValueError("runs must be a non-empty dict of labelled TrainResults")
    forms = list(formulations) if formulations is not None else [next(iter(runs.values())).formulation]
    for label in labels:
        allowed = list(runs[label].formulations)
        bad = [f for f in forms if f not in allowed]
        if bad:
            raise ValueError(f"formulations {bad} are not supported by run {label!r}; allowed: {allowed}")
    seeds = [int(s) for s in directions_seeds]
    blocks = []
    for label in labels:
        per_seed = []
        for seed in seeds:
            dirs = random_directions(runs[label], 2, seed=seed, normalization=normalization)
            per_form = [
                landscape(
                    runs[label], dirs, span=span, resolution=resolution, formulation=f, client=client, progress=progress
                )[["loss", "rel_l2_error"]]
                for f in forms
            ]
            per_seed.append(xr.concat(per_form, dim="formulation", combine_attrs="drop"))
        blocks.append(xr.concat(per_seed, dim="seed", combine_attrs="drop"))
    ds = xr.concat(blocks, dim="run", combine_attrs="drop")
    ds = ds.assign_coords(run=[str(x) for x in labels], seed=seeds, formulation=forms)
    used = 1.0 if span is None else span  # None: the random directions' own half-width, 1
    ds.attrs.update(
        span=[float(v) for v in used] if isinstance(used, (tuple, list)) else float(used),
        resolution=int(resolution),
        normalization=normalization,
        problem=runs[labels[0]].problem.name,
    )
    return ds
