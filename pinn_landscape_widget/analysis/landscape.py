"""``landscape()``: the loss on a 1-D or 2-D slice theta(a, b) = theta* + a d1 + b d2, as an xarray Dataset.

The grid is evaluated in chunks of K parameter points by the batched objective (no per-point loop, no
autograd graph). Values that overflow are stored as inf/NaN; they never raise.
"""

from __future__ import annotations

import json
import math
import numbers
import time

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from .._checks import check_choice, check_int, show_progress
from ..engine.evaluation import chunk_size_for, evaluate_points, points_on_slice
from ..engine.evaluation import iter_chunks as _slices
from ..engine.objective import Objective
from .directions import Directions, as_directions

MAX_RESOLUTION = 1025


def _check_resolution(resolution, n_dims: int) -> tuple[int, ...]:
    vals = resolution if isinstance(resolution, (tuple, list)) else (resolution,) * n_dims
    if len(vals) != n_dims:
        raise ValueError(f"resolution must be an integer or a tuple of {n_dims}, got {resolution!r}")
    return tuple(check_int("resolution", r, 3, MAX_RESOLUTION) for r in vals)


def _check_range(span) -> tuple[float, float]:
    """span s > 0 -> [-s, s]; a pair (lo, hi) with lo < hi is taken as is."""
    if isinstance(span, (tuple, list)):
        if (
            len(span) != 2
            or not all(isinstance(v, numbers.Real) and math.isfinite(v) for v in span)
            or not span[0] < span[1]
        ):
            raise ValueError(f"span must be a finite number > 0 or a pair (lo, hi) with lo < hi, got {span!r}")
        return float(span[0]), float(span[1])
    if isinstance(span, bool) or not isinstance(span, numbers.Real) or not math.isfinite(span) or span <= 0:
        raise ValueError(f"span must be a finite number > 0 or a pair (lo, hi) with lo < hi, got {span!r}")
    return -float(span), float(span)


def grid_coords(lo: float, hi: float, n: int) -> np.ndarray:
    """n points from lo to hi; for a symmetric range the middle point is exactly 0."""
    i = np.arange(n, dtype=np.float64)
    if lo == -hi:
        return hi * (2 * i - (n - 1)) / (n - 1)
    return lo + (hi - lo) * i / (n - 1)


def landscape(
    run,
    directions=None,
    *,
    span=None,
    resolution=41,
    formulation: str | None = None,
    device=None,
    dtype=None,
    chunk_size: int | None = None,
    memory_budget: int | None = None,
    progress: bool | None = None,
    center: torch.Tensor | None = None,
    curvature: bool = False,
    client=None,
    tile_size: int | None = None,
    compile: bool = False,
    parallel: str = "auto",
    subsample: int | float | None = None,
    subsample_seed: int = 0,
    subsample_error: str = "subset",
    _on_progress=None,
    _on_partial=None,
) -> xr.Dataset:
    """Loss landscape of a run along 1 or 2 directions, as an xarray Dataset.

    The grid theta(alpha, beta) = center + alpha d1 + beta d2 is evaluated in chunks of parameter points by
    the batched objective: no per-point loop and no autograd graph. Values that overflow are stored as inf or
    NaN; they never raise. With trajectory directions (PCA) the recorded checkpoints are projected onto the
    plane: ``trajectory_alpha``, ``trajectory_beta`` and ``trajectory_offplane`` (distance from the plane)
    over ``step``.

    Parameters
    ----------
    run : TrainResult or ModelRun
        What ``train``, ``from_model`` or an adapter returned.
    directions : Directions, torch.Tensor or None
        ``None`` (default): two filter-normalised random directions, seed 0. Or a ``Directions``, or a tensor
        [n, P] with n in {1, 2}.
    span : float or (float, float) or None
        The half-width s (the grid runs from -s to s) or a pair (lo, hi) with lo < hi. Default ``None``: the
        directions' own ``default_span`` (1 for random and Hessian directions, the trajectory's extent for
        PCA, (-0.5, 1.5) for interpolation).
    resolution : int or tuple of int
        Points per axis, 3 to 1025; default 41.
    formulation : str or None
        Evaluate another physics loss than the run's (one of ``plw.list_formulations()`` the problem
        supports); default the run's.
    device : str, torch.device or None
        Where to compute; default ``None``, the run's device.
    dtype : torch.dtype or None
        Precision; default ``None``, the run's dtype.
    chunk_size : int or None
        Parameter points per batch (>= 1); default as many as fit ``memory_budget``.
    memory_budget : int or None
        Bytes (>= 1 MiB) the grid's evaluation may hold at once, all chunks in flight together (one per
        worker thread on a CPU; per worker process with ``client``), on top of what the run holds; the
        chunks are sized to fit it. A budget too small for one parameter point per thread is a
        ``MemoryBudgetError`` (a ValueError) saying the bytes a point needs. Default ``None``: chunks that
        stay in the CPU's cache, or 40 % of a GPU's free memory. ``curvature`` is not counted.
    progress : bool or None
        A progress bar; default ``None``: one in a notebook or on a terminal.
    center : torch.Tensor or None
        The parameter vector [P] at alpha = beta = 0; default the directions' origin, else ``run.params``.
    curvature : bool
        1-D slices only: also ``curvature`` = d^T H d at every grid point (forward-over-forward, batched; by
        two backward passes for a loss that differentiates its inputs). Default False.
    client : dask.distributed.Client or None
        Split the grid into tiles of ``tile_size`` points (default about four tiles per worker) and evaluate
        them on the workers' CPUs; the result equals the local one. Needs the ``distributed`` extra.
    tile_size : int or None
        Grid points per dask tile (with ``client``).
    compile : bool
        Evaluate through ``torch.compile`` (fused elementwise kernels, a compilation on first use; slower than
        the eager kernel on a 2-core CPU, so off by default).
    parallel : {"auto", "threads", "processes"}
        How a CPU grid of an opaque loss (``from_model`` with a plain Python loss function) is shared out:
        "threads" (one Python thread per torch thread), "processes" (one forked worker per torch thread; the
        workers see the loss's globals as they are when the grid starts; a loss that raises there raises
        ``LossFailed`` here, naming the loss) or "auto" (default: threads, switching the rest of the grid to
        processes when the first chunks show the threads waiting for the GIL). The package's own objectives
        always run on threads. ``attrs["parallel"]`` says what ran.
    subsample : int, float or None
        A cheaper estimate on a random subset of each point set (the interior and every condition): an int
        keeps at most that many points per set, a float in (0, 1] that fraction (at least one point). The
        subset is drawn once and used at every grid point; kept points' weights are scaled by N / n, so each
        ``loss_<term>`` is an unbiased estimate of the full term. ``curvature`` stays on the full points.
        A traced DeepXDE run (``plw.adapters.from_deepxde``) cuts the rows of each of its conditions and of
        its pde, and DeepXDE's own loss code averages over the kept rows (its conditions must give one value
        per row: not PointSetBC or PeriodicBC); its error stays on the run's evaluation points.
        Default ``None``: every point.
    subsample_seed : int
        Seed of the subset; default 0.
    subsample_error : {"subset", "full"}
        "subset" (default) estimates ``rel_l2_error``'s numerator on a subset the same way; "full" keeps it
        on every evaluation point.

    Returns
    -------
    xarray.Dataset
        Dims ("alpha", "beta") (or ("alpha",)); data variables ``loss``, ``loss_<term>``, ``rel_l2_error``,
        ``center`` and ``directions`` (and the trajectory's projection, ``curvature`` where asked); attrs
        say how it was made (``attrs["subsample_points"]``, ``attrs["parallel"]``, timings, versions).

    Raises
    ------
    ValueError
        A bad argument (named in the message with what is allowed); ``subsample`` with an opaque user loss
        or with ``client``, or one that keeps every point; ``parallel="processes"`` for the package's own
        objectives; ``memory_budget`` below what one parameter point needs (``MemoryBudgetError``).
    LossFailed
        A user's loss raised in a worker process.
    """
    t0 = time.perf_counter()
    dirs: Directions = as_directions(run, directions)
    n_dims = dirs.n
    res = _check_resolution(resolution, n_dims)
    lo, hi = _check_range(dirs.default_span if span is None else span)
    obj = run.objective(formulation, device, dtype)
    if subsample is not None:
        why_not = None if isinstance(obj, Objective) else _why_points_cannot_be_cut(obj)
        if why_not is not None:
            raise ValueError(
                f"subsample={subsample!r} needs one of the package's own objectives (point sets with weights) or "
                f"a loss that cuts its own points (the traced DeepXDE loss): {why_not}. Use subsample=None"
            )
        if client is not None:
            raise ValueError(
                f"subsample={subsample!r} cannot be combined with client= (the dask workers rebuild the full "
                f"objective); use subsample=None or client=None"
            )
        seed = check_int("subsample_seed", subsample_seed, 0, 2**63 - 1)
        check_choice("subsample_error", subsample_error, ("subset", "full"))
        obj = obj.subsample(subsample, seed, subsample_error)
        kept = {k: v for k, v in (obj.subsample_points or {}).items() if k != "rel_l2_error"}
        if (
            kept
            and all(n == n_all for n, n_all in kept.values())
            and not (isinstance(subsample, float) and subsample == 1.0)
        ):
            largest, (_, n_max) = max(kept.items(), key=lambda kv: kv[1][1])
            raise ValueError(
                f"subsample={subsample!r} keeps every point (the largest point set, {largest!r}, has {n_max}): "
                f"use an integer below {n_max}, a fraction below 1, or subsample=None for the full loss"
            )

    if center is None:
        center = dirs.origin if dirs.origin is not None else run.params
    theta0 = obj.as_batch(center)[0]
    D = dirs.vectors.to(device=obj.device, dtype=obj.dtype)
    axes = [grid_coords(lo, hi, r) for r in res]
    mesh = np.meshgrid(*axes, indexing="ij")
    coef = torch.as_tensor(np.stack([m.reshape(-1) for m in mesh], axis=1), dtype=obj.dtype, device=obj.device)
    n_total = coef.shape[0]
    chunk = chunk_size_for(obj, n_total, chunk_size, memory_budget)

    def make_params(sl):
        return points_on_slice(theta0, coef[sl], D)

    done = [0]
    how: dict = {}

    def on_chunk(n):
        bar.update(n)
        done[0] += n
        if _on_progress is not None:  # the widget's progress indicator; it may raise to abandon the grid
            _on_progress(done[0], n_total)

    with tqdm(total=n_total, desc="landscape", unit="pt", disable=not show_progress(progress), leave=False) as bar:
        if client is None:
            values = evaluate_points(
                obj, make_params, n_total, chunk, on_chunk, compile=compile, parallel=parallel, info=how
            )
        else:
            from .distributed import evaluate_tiles, spec_for

            how.update(parallel="dask")
            if chunk_size is None and memory_budget is None and obj.device.type == "cuda":
                chunk = chunk_size_for(run.objective(formulation, "cpu", dtype), n_total)
            spec = spec_for(run, obj.formulation.name, obj.dtype, theta0, D)
            on_values = None
            if _on_partial is not None:  # the widget draws the grid as its tiles land
                on_values = _partial_grids(run, obj, dirs, axes, res, _on_partial)
            values = evaluate_tiles(client, spec, coef, chunk, tile_size, on_chunk, on_values)

    if curvature:
        if n_dims != 1:
            raise ValueError(f"curvature=True needs a 1-D slice (one direction), got {n_dims} directions")
        from .curvature import directional_curvature

        curv = torch.cat(
            [
                directional_curvature(
                    run, D[0], make_params(sl), formulation=obj.formulation.name, dtype=obj.dtype, device=obj.device
                ).cpu()
                for sl in _slices(n_total, chunk)
            ]
        )
        values["curvature"] = curv

    dims = ("alpha", "beta")[:n_dims]
    coords = {name: ax for name, ax in zip(dims, axes)}
    data = {k: (dims, v.numpy().reshape(res)) for k, v in values.items()}
    data["center"] = (("param",), theta0.cpu().numpy())
    data["directions"] = (("direction", "param"), D.cpu().numpy())
    ds = xr.Dataset(data, coords=coords)
    if dirs.trajectory is not None:
        a, off = project_onto_plane(dirs.trajectory, theta0.cpu(), dirs.vectors.cpu())
        steps = np.asarray(dirs.trajectory_steps if dirs.trajectory_steps is not None else range(len(off)))
        ds = ds.assign_coords(step=steps)
        for k, name in enumerate(("trajectory_alpha", "trajectory_beta")[:n_dims]):
            ds[name] = ("step", a[:, k])
        ds["trajectory_offplane"] = ("step", off)
        ds["trajectory_offplane"].attrs["long_name"] = "distance of each checkpoint from the plane"

    with torch.no_grad():
        center_vals = obj.evaluate(theta0[None])
    from .._version import __version__

    attrs = dict(
        problem=run.problem.name,
        problem_options=json.dumps(run.problem.options),
        formulation=obj.formulation.name,
        trained_formulation=run.formulation,
        terms=json.dumps(obj.term_names),
        direction_kind=dirs.kind,
        direction_attrs=json.dumps(_jsonable(dirs.attrs)),
        normalization=str(dirs.attrs.get("normalization", "none")),
        seed=int(dirs.attrs.get("seed", -1)),
        span=float(hi) if lo == -hi else float(hi - lo) / 2,
        range_lo=lo,
        range_hi=hi,
        resolution=int(res[0]),
        n_params=int(run.n_params),
        dtype=str(obj.dtype).replace("torch.", ""),
        device=str(obj.device),
        chunk_size=int(chunk),
        package_version=__version__,
        network=run.net.description,
        loss_center=float(center_vals["loss"][0]),
        rel_l2_error_center=float(center_vals["rel_l2_error"][0]),
        compute_seconds=time.perf_counter() - t0,
        parallel=str(how.get("parallel", "serial")),
    )
    e_ref = run.problem.exact_energy() if obj.formulation.name == "deep_ritz" else None
    if e_ref is not None:
        attrs["energy_reference"] = float(e_ref)  # E*: plot loss - E* before any log scale
    ds.attrs.update(attrs)
    long_name = "loss" if e_ref is None else "Deep Ritz energy E"
    err_name = "relative L2 error ||u - u*|| / ||u*||"
    if subsample is not None and getattr(obj, "subsample_points", None) is not None:
        kept = obj.subsample_points
        ds.attrs["subsample_points"] = json.dumps(kept)
        ds.attrs["subsample_seed"] = int(subsample_seed)
        ds.attrs["subsample_error"] = subsample_error
        loss_sets = [v for k, v in kept.items() if k != "rel_l2_error"]
        n_sub, n_all = sum(v[0] for v in loss_sets), sum(v[1] for v in loss_sets)
        long_name += f" (estimate on {n_sub} of {n_all} points)"
        if subsample_error == "subset" and getattr(obj, "u_exact", None) is not None:
            n_e, n_eall = kept.get("rel_l2_error", kept["interior"])
            err_name += f" (estimate on {n_e} of {n_eall} points)"
    ds["loss"].attrs["long_name"] = long_name
    ds["rel_l2_error"].attrs["long_name"] = err_name
    if curvature:
        ds["curvature"].attrs["long_name"] = "directional curvature d^T H d"
    return ds


def _why_points_cannot_be_cut(obj) -> str | None:
    """None when a loss that is not one of the package's objectives can cut its own points
    (``point_set_sizes`` gives them: the traced DeepXDE loss of ``from_deepxde``), else why not."""
    sizes = getattr(obj, "point_set_sizes", None)
    if not callable(sizes):
        return (
            f"this run's loss is {type(obj).__name__} (a user's loss function, opaque to us: its points cannot be cut)"
        )
    try:
        sizes()
    except ValueError as exc:
        return str(exc)
    return None


def _partial_grids(run, obj, dirs: Directions, axes, res, on_partial):
    """A tile hook of ``evaluate_tiles`` that calls ``on_partial(ds)`` with the grid so far: a Dataset with the
    final one's coords, its loss and error variables with NaN where no tile has landed yet, and the attrs
    a view needs (``points_done`` and ``points_total`` among them)."""
    dims = ("alpha", "beta")[: len(res)]
    n_total = int(np.prod(res))
    grids: dict[str, np.ndarray] = {}
    attrs = dict(
        problem=run.problem.name,
        formulation=obj.formulation.name,
        direction_kind=dirs.kind,
        range_lo=float(axes[0][0]),
        range_hi=float(axes[0][-1]),
        resolution=int(res[0]),
        points_total=n_total,
        points_done=0,
    )
    e_ref = run.problem.exact_energy() if obj.formulation.name == "deep_ritz" else None
    if e_ref is not None:
        attrs["energy_reference"] = float(e_ref)

    def on_values(sl: slice, values: dict) -> None:
        for key, val in values.items():
            flat = grids.setdefault(key, np.full(n_total, np.nan, dtype=np.asarray(val).dtype))
            flat[sl] = val
        attrs["points_done"] += sl.stop - sl.start
        coords = {name: ax for name, ax in zip(dims, axes)}
        ds = xr.Dataset({k: (dims, v.reshape(res).copy()) for k, v in grids.items()}, coords=coords, attrs=dict(attrs))
        on_partial(ds)

    return on_values


def _jsonable(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, torch.Tensor):
            v = v.tolist()
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        out[k] = v
    return out


def project_onto_plane(points: torch.Tensor, origin: torch.Tensor, directions: torch.Tensor):
    """Coordinates of points [T, P] in the affine plane origin + span(directions), by least squares, and
    each point's distance from the plane. Exact for points in the plane, whatever the directions' angle."""
    V = (points.to(torch.float64) - origin.to(torch.float64)).T  # [P, T]
    D = directions.to(torch.float64).T  # [P, n]
    coef = torch.linalg.lstsq(D, V).solution  # [n, T]
    resid = V - D @ coef
    return coef.T.numpy(), resid.norm(dim=0).numpy()
