"""The solution a run's network represents, sampled on a regular grid over the problem's box.

What the widget's solution panel and ``plot`` draw when a point of a landscape is inspected: u_theta beside
the exact (or reference) solution and the pointwise error, for each unknown of the problem.
"""

from __future__ import annotations

import json

import numpy as np
import torch
import xarray as xr

from .._checks import check_int

DEFAULT_RESOLUTION = {1: 201, 2: 64}


def solution_snapshot(run, params=None, *, resolution: int | None = None) -> xr.Dataset:
    """u_theta at ``params`` on a uniform grid over the problem's box: what the widget's solution panel draws.

    Parameters
    ----------
    run : run
        A run (``plw.train``, ``plw.from_model``, ``plw.adapters``) of a problem in 1 or 2 coordinates.
    params : torch.Tensor, array-like or None
        A parameter vector [P]; default None, the run's trained parameters.
    resolution : int or None
        Points per axis, an integer in [2, 4097]; default None: 201 in 1-D, 64 in 2-D.

    Returns
    -------
    xarray.Dataset
        Dims the problem's coordinate names (("x",) or, e.g., ("x", "t")), coords from each interval's lower
        to its upper end. For each unknown ``n`` (``run.problem.unknowns``): data var ``n``, and, when an
        exact or reference solution is known, ``n_exact`` and ``n_error`` = n - n_exact. attrs: ``problem``,
        ``unknowns`` (JSON list), ``rel_l2_error`` (of these parameters, as ``plw.evaluate`` reports it).

    Raises
    ------
    ValueError
        When the problem has more than 2 coordinates, ``params`` is not of shape [P] or ``resolution`` is
        outside [2, 4097].
    """
    prob = run.problem
    dim = prob.dim
    if dim not in DEFAULT_RESOLUTION:
        raise ValueError(f"solution_snapshot draws problems in 1 or 2 coordinates; {prob.name!r} has {dim}")
    n = DEFAULT_RESOLUTION[dim] if resolution is None else check_int("resolution", resolution, 2, 4097)
    theta = run.params if params is None else torch.as_tensor(params)
    theta = theta.detach().to(device="cpu", dtype=run.dtype)
    if theta.shape != (run.n_params,):
        raise ValueError(f"params must have shape [{run.n_params}], got {tuple(theta.shape)}")
    names = list(prob.input_names)
    axes = [torch.linspace(lo, hi, n, dtype=torch.float64) for lo, hi in prob.domain]
    mesh = torch.meshgrid(*axes, indexing="ij")
    x = torch.stack([m.reshape(-1) for m in mesh], dim=1)
    model = run.model_at(theta)
    with torch.no_grad():
        u = model(x.to(run.dtype)).double()
    unknowns = list(getattr(prob, "unknowns", ("u",)))
    u = u.reshape(x.shape[0], len(unknowns))
    exact = prob.exact(x)
    if exact is not None:
        exact = exact.double().reshape(x.shape[0], len(unknowns))
    shape = (n,) * dim
    data = {}
    for k, name in enumerate(unknowns):
        data[name] = (names, u[:, k].numpy().reshape(shape))
        if exact is not None:
            data[f"{name}_exact"] = (names, exact[:, k].numpy().reshape(shape))
            data[f"{name}_error"] = (names, (u[:, k] - exact[:, k]).numpy().reshape(shape))
    ds = xr.Dataset(data, coords={name: ax.numpy() for name, ax in zip(names, axes)})
    from ..engine.evaluation import evaluate

    err = float(evaluate(run, theta)["rel_l2_error"][0])
    ds.attrs.update(problem=prob.name, unknowns=json.dumps(unknowns), rel_l2_error=err)
    for name in unknowns:
        ds[name].attrs["long_name"] = f"{name}_theta"
    return ds


def as_rows(ds: xr.Dataset, unknown: str | None = None) -> np.ndarray:
    """The unknown's values, exact solution and error stacked as float rows (NaN where unknown)."""
    names = json.loads(ds.attrs["unknowns"])
    name = names[0] if unknown is None else unknown
    if name not in names:
        raise ValueError(f"unknown must be one of {names}, got {name!r}")
    u = ds[name].values
    ex = ds[f"{name}_exact"].values if f"{name}_exact" in ds else np.full_like(u, np.nan)
    return np.stack([u, ex, u - ex])
