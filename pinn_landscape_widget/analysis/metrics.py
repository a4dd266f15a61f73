"""Landscape metrics: numbers that summarise a landscape, so a claim about it can be checked.

``curvature_map``
    At every point theta(a, b) = theta_c + a d1 + b d2 of a 2-D slice (or a 1-D line), the extreme
    eigenvalues lambda_max and lambda_min of the *full* loss Hessian at that point (Lanczos in the whole
    parameter space, not the 2 x 2 Hessian of the slice) and the ratio |lambda_min / lambda_max|. A map of
    this ratio is the convexity map of Li et al. (2018, "Visualizing the loss landscape of neural nets",
    Sec. 6): near 0 the loss is locally convex-like (negative curvature negligible against positive), near 1
    or above it is strongly non-convex there. The slice itself may look convex while the full space is not,
    which is why the map uses the full Hessian.

``roughness_index``
    The roughness of the loss along random 1-D lines through a point, after Wu, Jian, Du, Chen & Zhou
    (2021, arXiv 2103.11069), who summarise the normalised total variation of such lines by its mean and
    spread over directions. Definition used here, for K random directions d_k (filter-normalised as for
    landscapes, Li et al. 2018) and f_k(t) = L(theta_c + t d_k) on n equally spaced t in [-s, s]:

        TV_k  = sum_i |f_k(t_{i+1}) - f_k(t_i)|                (total variation of the line)
        nu_k  = TV_k / (max_t f_k - min_t f_k)                  (normalised: free of the loss's scale)
        RI    = std_k(nu_k) / mean_k(nu_k)                      (the roughness index)

    nu_k is 1 for a monotone line and 2 for a bowl with its bottom at t = 0, so a quadratic with its minimum
    at theta_c has RI = 0 in every direction; wiggles add variation that differs from direction to
    direction and raise RI. Both statistics are in the result, with every parameter in its attrs.

``compare_landscapes``
    How alike two landscapes on the same slice are (the same direction vectors, span and resolution): the
    Spearman rank correlation of their values, the distance between their grid minima, and the ratio of
    their curvatures at the centre (second differences on the grid).
"""

from __future__ import annotations

import json
import math
import time
import warnings

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from .._checks import check_choice, check_int, check_positive, show_progress
from ..engine.evaluation import chunk_size_for, evaluate_points, points_on_slice
from .curvature import HessianOperator, curvature_dtype, default_tol, hessian_eigenpairs
from .directions import random_directions
from .landscape import _check_range, grid_coords, landscape

DEFAULT_CURVATURE_MEMORY = 1 << 30  # bytes: Lanczos workspace plus the eigenvectors curvature_map keeps


# --- curvature map -------------------------------------------------------------------------------------------


def _curvature_memory(n_points: int, n_params: int, max_steps: int, vectors: bool, item: int) -> int:
    """Bytes curvature_map holds at once: one point's Lanczos basis and its products (2 x steps x P), and,
    with ``vectors``, two eigenvectors of P entries for every grid point."""
    workspace = 2 * max_steps * n_params * item
    kept = 2 * n_points * n_params * item if vectors else 0
    return workspace + kept


def curvature_map(
    run,
    directions=None,
    *,
    span=None,
    resolution=9,
    formulation: str | None = None,
    term: str | None = None,
    center=None,
    tol: float | None = None,
    max_steps: int = 300,
    vectors: bool = False,
    memory_budget: int | None = None,
    seed: int = 0,
    device=None,
    dtype=None,
    progress: bool | None = None,
) -> xr.Dataset:
    """The convexity map of Li et al. (2018): the full Hessian's extreme eigenvalues at every point of a slice.

    At every grid point Lanczos (``hessian_eigenpairs(..., which="both")``) runs until both extreme Ritz
    pairs have residual <= tol * ||H|| or ``max_steps`` products; the residuals and a per-point convergence
    flag are in the result.

    Parameters
    ----------
    run : TrainResult or ModelRun
        The run.
    directions : Directions, torch.Tensor or None
        As in ``landscape``; default two filter-normalised random directions, seed 0.
    span : float or (float, float) or None
        As in ``landscape``; default the directions' own.
    resolution : int
        Points per axis, 3 to 257 (each point costs one Lanczos run, so 7-15 is usual); default 9.
    formulation : str or None
        Another of the run's formulations; default the run's.
    term : str or None
        The Hessian of one loss term ("residual", "boundary", ...) instead of the total.
    center : torch.Tensor or None
        The parameter vector at the plane's origin; as in ``landscape``.
    tol : float or None
        Relative residual, > 0; default 1e-8 in float64, 1e-5 in float32.
    max_steps : int
        Cap on Lanczos steps per point; default 300.
    vectors : bool
        Also keep both eigenvectors at every point (``eigenvector_max``, ``eigenvector_min`` over alpha, beta,
        param); default False.
    memory_budget : int or None
        Bytes the computation may hold at once (the Lanczos workspace of one point plus, with ``vectors``, the
        kept eigenvectors); default 1 GiB. A grid that does not fit is a ValueError naming the largest
        resolution that does.
    seed : int
        Seed of each point's Lanczos start vector; default 0.
    device : str, torch.device or None
        Default ``None``: the run's device.
    dtype : torch.dtype or None
        Default ``None``: float64 where the loss can run in it, else the run's dtype.
    progress : bool or None
        A progress bar; default ``None``: in a notebook or on a terminal.

    Returns
    -------
    xarray.Dataset
        The landscape Dataset of the same slice (``loss``, ``loss_<term>``, ``rel_l2_error``) with
        ``lambda_max``, ``lambda_min``, ``convexity_ratio`` = |lambda_min / lambda_max|, ``residual_max``,
        ``residual_min``, ``lanczos_steps`` and ``converged`` added; ``plot(ds, var="convexity_ratio",
        z_scale="linear")`` draws the map.

    Raises
    ------
    ValueError
        A bad argument (named with its value and what is allowed), or a grid over ``memory_budget``.
    """
    t0 = time.perf_counter()
    resolution = check_int("resolution", resolution, 3, 257)
    max_steps = check_int("max_steps", max_steps, 2)
    budget = DEFAULT_CURVATURE_MEMORY if memory_budget is None else check_int("memory_budget", memory_budget, 1)
    if not isinstance(vectors, bool):
        raise ValueError(f"vectors must be True or False, got {vectors!r}")
    obj = run.objective(formulation, device, curvature_dtype(run, dtype, "curvature_map"))
    if term is not None:
        check_choice("term", term, obj.term_names)
    tol = default_tol(obj.dtype) if tol is None else check_positive("tol", tol)

    # the slice itself: coordinates, centre, directions and the loss at every point (batched, cheap)
    ds = landscape(
        run, directions, span=span, resolution=resolution, formulation=formulation, center=center, progress=False
    )
    dims = tuple(d for d in ("alpha", "beta") if d in ds.dims)
    shape = tuple(ds.sizes[d] for d in dims)
    n_points = math.prod(shape)
    P = int(run.n_params)
    steps = min(max_steps, P)
    item = torch.finfo(obj.dtype).bits // 8
    need = _curvature_memory(n_points, P, steps, vectors, item)
    if need > budget:
        workspace = _curvature_memory(0, P, steps, False, item)
        per_point = 2 * P * item if vectors else 0
        fits = 0
        if per_point and budget > workspace:
            n_fit = (budget - workspace) // per_point
            fits = math.isqrt(n_fit) if len(dims) == 2 else n_fit
        hint = (
            f"resolution <= {fits} fits"
            if fits >= 3
            else f"lower max_steps (each point's Lanczos workspace alone is {workspace / 2**20:.0f} MiB)"
        )
        raise ValueError(
            f"curvature_map at resolution {resolution} ({n_points} points, {P} parameters, max_steps={steps}"
            f"{', vectors=True' if vectors else ''}) needs about {need / 2**20:.0f} MiB, over memory_budget "
            f"= {budget / 2**20:.0f} MiB; {hint}, or raise memory_budget"
        )

    theta_c = torch.as_tensor(ds["center"].values).to(device=obj.device, dtype=obj.dtype)
    D = torch.as_tensor(ds["directions"].values).to(device=obj.device, dtype=obj.dtype)
    axes = [ds[d].values for d in dims]
    mesh = np.meshgrid(*axes, indexing="ij")
    coef = torch.as_tensor(np.stack([m.reshape(-1) for m in mesh], axis=1), dtype=obj.dtype, device=obj.device)

    out = {k: np.full(n_points, np.nan) for k in ("lambda_max", "lambda_min", "residual_max", "residual_min")}
    steps_used = np.zeros(n_points, dtype=np.int64)
    converged = np.zeros(n_points, dtype=bool)
    vec_max = np.zeros((n_points, P)) if vectors else None
    vec_min = np.zeros((n_points, P)) if vectors else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # non-convergence is reported per point, once below
        for i in tqdm(
            range(n_points), desc="curvature map", unit="pt", disable=not show_progress(progress), leave=False
        ):
            theta = points_on_slice(theta_c, coef[i : i + 1], D)[0]
            op = HessianOperator(run, theta, term, formulation=formulation, device=obj.device, dtype=obj.dtype)
            ends = hessian_eigenpairs(run, 1, "both", operator=op, tol=tol, max_steps=steps, seed=seed)
            out["lambda_max"][i], out["lambda_min"][i] = (float(v) for v in ends.eigenvalue.values)
            out["residual_max"][i], out["residual_min"][i] = (float(v) for v in ends.residual_norm.values)
            steps_used[i] = int(ends.attrs["lanczos_steps"])
            converged[i] = bool(ends.attrs["converged"])
            if vec_max is not None and vec_min is not None:
                vec_max[i], vec_min[i] = ends.eigenvector.values[0], ends.eigenvector.values[1]

    def grid(a):
        return (dims, a.reshape(shape))

    for k, v in out.items():
        ds[k] = grid(v)
    lam_max, lam_min = out["lambda_max"], out["lambda_min"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ds["convexity_ratio"] = grid(np.abs(lam_min / lam_max))
    ds["lanczos_steps"] = grid(steps_used)
    ds["converged"] = grid(converged)
    if vec_max is not None and vec_min is not None:
        ds["eigenvector_max"] = ((*dims, "param"), vec_max.reshape(*shape, P))
        ds["eigenvector_min"] = ((*dims, "param"), vec_min.reshape(*shape, P))
    ds["lambda_max"].attrs["long_name"] = "largest Hessian eigenvalue"
    ds["lambda_min"].attrs["long_name"] = "smallest Hessian eigenvalue"
    ds["convexity_ratio"].attrs["long_name"] = "|lambda_min / lambda_max| (Li et al. 2018 convexity map)"
    ds["residual_max"].attrs["long_name"] = "||H v - lambda_max v|| of the Ritz pair"
    ds["residual_min"].attrs["long_name"] = "||H v - lambda_min v|| of the Ritz pair"
    n_bad = int((~converged).sum())
    if n_bad:
        warnings.warn(
            f"curvature_map: Lanczos did not reach tol={tol:g} * ||H|| within max_steps={steps} at {n_bad} of "
            f"{n_points} points (see ds.converged and the residuals); raise max_steps or loosen tol",
            RuntimeWarning,
            stacklevel=2,
        )
    ds.attrs.update(
        metric="curvature_map",
        metric_source="Li et al. 2018, convexity map |lambda_min / lambda_max| of the full Hessian",
        hessian_term=term or "total",
        hessian_dtype=str(obj.dtype).replace("torch.", ""),
        lanczos_tol=tol,
        lanczos_max_steps=int(steps),
        lanczos_seed=int(seed),
        n_converged=int(converged.sum()),
        compute_seconds=time.perf_counter() - t0,
    )
    return ds


# --- roughness index -----------------------------------------------------------------------------------------


def _normalised_tv(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Total variation, normalised total variation (TV / range) and unimodality of each row of values [K, n].

    A row is unimodal (one minimum, monotone on each side of it) exactly when its variation equals
    (f_first - f_min) + (f_last - f_min), the least any function through those values can have."""
    tv = np.abs(np.diff(values, axis=1)).sum(axis=1)
    lo = values.min(axis=1)
    spread = values.max(axis=1) - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        nu = np.where(spread > 0, tv / spread, np.nan)
    least = (values[:, 0] - lo) + (values[:, -1] - lo)
    unimodal = tv <= least + 1e-9 * np.maximum(spread, np.finfo(np.float64).tiny)
    return tv, nu, unimodal


def roughness_index(
    run,
    *,
    n_directions: int = 32,
    span: float = 1.0,
    resolution: int = 41,
    seed: int = 0,
    normalization: str = "filter",
    bias: str = "zero",
    formulation: str | None = None,
    center=None,
    device=None,
    dtype=None,
    progress: bool | None = None,
) -> xr.Dataset:
    """The roughness index (after Wu et al. 2021, arXiv:2103.11069) of a run's loss around a point.

    The loss is sampled along many random lines through ``center``; each line's total variation, normalised
    by its range, measures how far it is from one smooth valley (the definition is in this module's
    docstring).

    Parameters
    ----------
    run : TrainResult or ModelRun
        The run.
    n_directions : int
        Random lines, 2 to 100000; line k is along ``random_directions(run, 1, seed + k, normalization, bias)``.
        Default 32.
    span : float
        Each line runs over t in [-span, span], span > 0; default 1.
    resolution : int
        Odd number of points per line (so t = 0 is on the grid), 3 to 100001; default 41.
    seed : int
        Seed of the first line; default 0.
    normalization : {"filter", "layer", "none"}
        The random directions' normalization; default "filter".
    bias : {"zero", "filter"}
        The random directions' bias entries; default "zero".
    formulation : str or None
        Another of the run's formulations; default the run's.
    center : torch.Tensor or None
        The parameter vector [P] the lines pass through; default the run's parameters.
    device : str, torch.device or None
        Default ``None``: the run's device.
    dtype : torch.dtype or None
        Default ``None``: the run's dtype.
    progress : bool or None
        A progress bar; default ``None``: in a notebook or on a terminal.

    Returns
    -------
    xarray.Dataset
        ``loss`` over (direction, t); ``total_variation``, ``normalized_total_variation`` and ``unimodal``
        (one minimum, monotone on either side) over direction; the scalar ``roughness_index``; attrs hold the
        index, the mean and standard deviation of the normalised variation, the fraction of unimodal lines
        and every parameter.

    Raises
    ------
    ValueError
        A bad argument (named with its value and what is allowed), e.g. an even resolution.
    """
    t0 = time.perf_counter()
    n_directions = check_int("n_directions", n_directions, 2, 100_000)
    resolution = check_int("resolution", resolution, 3, 100_001)
    if resolution % 2 == 0:
        raise ValueError(f"resolution must be odd, so that t = 0 (the centre) is a grid point; got {resolution}")
    lo, hi = _check_range(span)
    if lo != -hi:
        raise ValueError(f"span must be one number s > 0 (the lines run over [-s, s]), got {span!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    # one independent line per direction: direction k is random_directions(run, 1, seed + k)
    vecs = [
        random_directions(run, 1, seed=seed + k, normalization=normalization, bias=bias).vectors[0]
        for k in range(n_directions)
    ]
    obj = run.objective(formulation, device, dtype)
    theta_c = obj.as_batch(run.params if center is None else center)[0]
    D = torch.stack(vecs).to(device=obj.device, dtype=obj.dtype)
    zero = [k for k in range(n_directions) if not bool(D[k].abs().max() > 0)]
    if zero:
        raise ValueError(
            f"random directions {zero} are all zero with normalization={normalization!r}, bias={bias!r} "
            "(a model whose parameters are all biases); use bias='filter' or normalization='none'"
        )
    t = grid_coords(lo, hi, resolution)
    t_dev = torch.as_tensor(t, dtype=obj.dtype, device=obj.device)
    n_total = n_directions * resolution

    def make_params(sl):
        idx = torch.arange(sl.start, sl.stop, device=obj.device)
        k, j = idx // resolution, idx % resolution
        return theta_c + t_dev[j, None] * D[k]

    chunk = chunk_size_for(obj, n_total)
    with tqdm(total=n_total, desc="roughness", unit="pt", disable=not show_progress(progress), leave=False) as bar:
        values = evaluate_points(obj, make_params, n_total, chunk, bar.update)
    loss = values["loss"].double().numpy().reshape(n_directions, resolution)
    tv, nu, unimodal = _normalised_tv(loss)
    ok = np.isfinite(nu)
    if not ok.any():
        raise ValueError(
            "roughness_index: the loss is constant (or not finite) along every sampled line; nothing to measure"
        )
    mean, std = float(nu[ok].mean()), float(nu[ok].std())
    ri = std / mean
    ds = xr.Dataset(
        dict(
            loss=(("direction", "t"), loss),
            total_variation=("direction", tv),
            normalized_total_variation=("direction", nu),
            unimodal=("direction", unimodal),
            roughness_index=((), ri),
        ),
        coords=dict(direction=np.arange(n_directions), t=t),
    )
    ds["loss"].attrs["long_name"] = "loss along theta_c + t d_k"
    ds["total_variation"].attrs["long_name"] = "TV_k = sum_i |f_k(t_i+1) - f_k(t_i)|"
    ds["normalized_total_variation"].attrs["long_name"] = "nu_k = TV_k / (max f_k - min f_k)"
    ds["unimodal"].attrs["long_name"] = "the line has one minimum and is monotone on each side of it"
    ds["roughness_index"].attrs["long_name"] = "RI = std(nu) / mean(nu) over directions"
    ds.attrs.update(
        metric="roughness_index",
        metric_source="after Wu, Jian, Du, Chen & Zhou 2021 (arXiv 2103.11069): normalised total variation "
        "statistics along random 1-D directions",
        roughness_index=ri,
        normalized_tv_mean=mean,
        normalized_tv_std=std,
        unimodal_fraction=float(unimodal.mean()),
        n_directions=int(n_directions),
        n_finite=int(ok.sum()),
        span=float(hi),
        resolution=int(resolution),
        seed=int(seed),
        normalization=normalization,
        bias=bias,
        problem=run.problem.name,
        formulation=obj.formulation.name,
        dtype=str(obj.dtype).replace("torch.", ""),
        compute_seconds=time.perf_counter() - t0,
    )
    return ds


# --- comparison ---------------------------------------------------------------------------------------------


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    if len(values) < len(x):  # average the ranks of tied values
        sums = np.bincount(inverse, weights=ranks)
        ranks = sums[inverse] / counts[inverse]
    return ranks


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def _centre_hessian(z: np.ndarray, axes: list[np.ndarray]) -> np.ndarray:
    """The slice's Hessian at its centre (alpha = beta = 0) by central second differences on the grid."""
    idx = []
    for ax in axes:
        hits = np.flatnonzero(ax == 0.0)
        if len(hits) != 1 or hits[0] in (0, len(ax) - 1):
            raise ValueError("compare_landscapes needs the centre alpha = beta = 0 inside the grid (a symmetric span)")
        idx.append(int(hits[0]))
    if len(axes) == 1:
        (i,), h = idx, axes[0][1] - axes[0][0]
        return np.array([[(z[i + 1] - 2 * z[i] + z[i - 1]) / h**2]])
    (i, j), ha, hb = idx, axes[0][1] - axes[0][0], axes[1][1] - axes[1][0]
    haa = (z[i + 1, j] - 2 * z[i, j] + z[i - 1, j]) / ha**2
    hbb = (z[i, j + 1] - 2 * z[i, j] + z[i, j - 1]) / hb**2
    hab = (z[i + 1, j + 1] - z[i + 1, j - 1] - z[i - 1, j + 1] + z[i - 1, j - 1]) / (4 * ha * hb)
    return np.array([[haa, hab], [hab, hbb]])


def _check_same_slice(ds_a, ds_b, rtol: float) -> list[str]:
    for name, ds in (("ds_a", ds_a), ("ds_b", ds_b)):
        if not isinstance(ds, xr.Dataset) or "loss" not in ds or "alpha" not in ds.dims:
            raise ValueError(
                f"{name} must be a landscape Dataset (from plw.landscape) with a 'loss' over alpha[, beta]"
            )
    dims_a = [d for d in ("alpha", "beta") if d in ds_a.dims]
    dims_b = [d for d in ("alpha", "beta") if d in ds_b.dims]
    if dims_a != dims_b:
        raise ValueError(f"ds_a is a {len(dims_a)}-D slice and ds_b a {len(dims_b)}-D one; compare slices of one kind")
    for d in dims_a:
        a, b = ds_a[d].values, ds_b[d].values
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-12, atol=0):
            raise ValueError(
                f"ds_a and ds_b have different '{d}' grids ({len(a)} points over [{a[0]:g}, {a[-1]:g}] against "
                f"{len(b)} over [{b[0]:g}, {b[-1]:g}]); compare landscapes with the same span and resolution"
            )
    if "directions" not in ds_a or "directions" not in ds_b:
        raise ValueError("ds_a and ds_b must carry their 'directions' (as plw.landscape writes them)")
    da, db = ds_a["directions"].values.astype(np.float64), ds_b["directions"].values.astype(np.float64)
    if da.shape != db.shape:
        raise ValueError(
            f"ds_a and ds_b lie on different directions: shapes {da.shape} and {db.shape} (different networks); "
            "compare landscapes computed with the same Directions"
        )
    diff = float(np.abs(da - db).max() / max(np.abs(da).max(), 1e-300))
    if diff > rtol:
        raise ValueError(
            f"ds_a and ds_b lie on different directions (largest difference {diff:.3g} of the largest entry, "
            f"allowed rtol={rtol:g}); compute both with the same Directions object, e.g. "
            "dirs = plw.random_directions(run_a, 2, seed=0) passed to landscape() for both runs"
        )
    return dims_a


def compare_landscapes(ds_a: xr.Dataset, ds_b: xr.Dataset, *, rtol: float = 1e-6) -> xr.Dataset:
    """How alike two landscapes of the same slice are: e.g. the strong form and Deep Ritz, or two seeds.

    Parameters
    ----------
    ds_a : xarray.Dataset
        A ``landscape`` result.
    ds_b : xarray.Dataset
        Another, on the same slice: the same direction vectors, span and resolution.
    rtol : float
        Relative tolerance when checking that the slices are the same; default 1e-6.

    Returns
    -------
    xarray.Dataset
        Scalars, each with attrs saying what it is: ``rank_correlation`` (Spearman correlation of the two loss
        grids: 1 is the same ordering of grid points; invariant to shifts and scales, so E - E* and E compare
        alike), ``minimum_distance`` (Euclidean distance in (alpha, beta) between the grid minima; 0 is the
        same cell), ``curvature_ratio`` (the largest eigenvalue of ds_a's slice Hessian at the centre, by
        second differences, over ds_b's), ``anisotropy_a``, ``anisotropy_b`` (2-D slices: each slice
        Hessian's |largest / smallest| eigenvalue) and the minima's coordinates ``minimum_alpha_a``, ...

    Raises
    ------
    ValueError
        The landscapes lie on different directions or grids (the message names what differs).
    """
    rtol = check_positive("rtol", rtol)
    dims = _check_same_slice(ds_a, ds_b, rtol)
    za = np.asarray(ds_a["loss"].values, dtype=np.float64)
    zb = np.asarray(ds_b["loss"].values, dtype=np.float64)
    ok = np.isfinite(za) & np.isfinite(zb)
    if ok.sum() < 3:
        raise ValueError("compare_landscapes needs at least 3 grid points where both losses are finite")
    axes = [ds_a[d].values for d in dims]
    out: dict[str, float] = {"rank_correlation": _spearman(za[ok], zb[ok])}
    mins = {}
    for label, z in (("a", za), ("b", zb)):
        flat = np.where(np.isfinite(z), z, np.inf)
        where = np.unravel_index(int(np.argmin(flat)), z.shape)
        mins[label] = np.array([axes[k][where[k]] for k in range(len(dims))])
        for k, d in enumerate(dims):
            out[f"minimum_{d}_{label}"] = float(mins[label][k])
    out["minimum_distance"] = float(np.linalg.norm(mins["a"] - mins["b"]))
    ha, hb = _centre_hessian(za, axes), _centre_hessian(zb, axes)
    ea, eb = np.linalg.eigvalsh(ha), np.linalg.eigvalsh(hb)
    out["curvature_a"], out["curvature_b"] = float(ea[-1]), float(eb[-1])
    out["curvature_ratio"] = float(ea[-1] / eb[-1]) if eb[-1] != 0 else float("nan")
    if len(dims) == 2:
        for label, e in (("a", ea), ("b", eb)):
            small = np.abs(e).min()
            out[f"anisotropy_{label}"] = float(np.abs(e).max() / small) if small > 0 else float("inf")
    res = xr.Dataset({k: ((), v) for k, v in out.items()})
    docs = {
        "rank_correlation": "Spearman rank correlation of the two loss grids",
        "minimum_distance": "distance between the grid minima in (alpha, beta)",
        "curvature_ratio": "largest centre curvature of the slice, a over b",
        "curvature_a": "largest eigenvalue of ds_a's slice Hessian at the centre",
        "curvature_b": "largest eigenvalue of ds_b's slice Hessian at the centre",
        "anisotropy_a": "|largest / smallest| eigenvalue of ds_a's slice Hessian at the centre",
        "anisotropy_b": "|largest / smallest| eigenvalue of ds_b's slice Hessian at the centre",
    }
    for var, text in docs.items():
        if var in res:
            res[var].attrs["long_name"] = text
    res.attrs.update(
        metric="compare_landscapes",
        a=json.dumps({k: ds_a.attrs.get(k) for k in ("problem", "formulation", "direction_kind")}),
        b=json.dumps({k: ds_b.attrs.get(k) for k in ("problem", "formulation", "direction_kind")}),
        n_compared=int(ok.sum()),
        span=float(axes[0][-1]),
        resolution=int(len(axes[0])),
    )
    return res
