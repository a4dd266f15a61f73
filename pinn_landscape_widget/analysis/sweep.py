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
    span=1.0,
    resolution=41,
    normalization: str = "filter",
    client=None,
    progress: bool = False,
) -> xr.Dataset:
    """Landscapes of several labelled runs (e.g. betas) x direction seeds x formulations in one Dataset.

    Dims: ("run", "seed", "formulation", "alpha", "beta"). Each run's random directions are drawn with the
    seed and normalised against that run's own trained parameters. With ``client`` every grid is tiled over
    the cluster.
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
    ds.attrs.update(
        span=float(span), resolution=int(resolution), normalization=normalization, problem=runs[labels[0]].problem.name
    )
    return ds
