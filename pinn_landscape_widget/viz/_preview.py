"""The widget's preview plan: how coarse the preview before each full grid is, and on how many of the loss's
points it is evaluated.

A preview at the full points costs (grid points) x (seconds per parameter point). For a small run that is a
fraction of a second at 11 x 11 and the preview stays on every point; for a run whose 5 x 5 full-point
preview would already take longer than ``FULL_PREVIEW_MAX_S`` (PINNacle-size networks on 16 k points), the
automatic setting evaluates it on a random subset of each point set (``landscape(subsample=n)``), as many
points as ``SUBSET_TARGET_S`` buys at the measured cost, never fewer than ``MIN_PREVIEW_POINTS`` in all.
A large loss whose points cannot be cut (the PINA adapter, a user's own loss) gets the coarsest
full-point preview that fits ``FULL_POINT_TARGET_S``, down to ``SMALLEST_FULL_POINT_PREVIEW`` per axis.
Pure arithmetic on measured costs; the widget measures them (``SliceComputer.preview_plan``).
"""

from __future__ import annotations

import dataclasses
import numbers

FULL_PREVIEW_MAX_S = 0.5  # automatic: a 5 x 5 full-point preview dearer than this is subsampled
SUBSET_TARGET_S = 1.0  # a subsampled preview's compute time we aim for
PREVIEW_WORTH_S = 2.0  # a full grid predicted to take longer gets a preview, whatever its resolution
MIN_PREVIEW_POINTS = 512  # a subsampled preview keeps at least this many points, all sets together
SMALLEST_PREVIEW = 5  # the coarsest preview resolution
FULL_POINT_TARGET_S = 1.5  # a large loss that cannot be subsampled: its full-point preview's time we aim for
SMALLEST_FULL_POINT_PREVIEW = 3  # and its coarsest resolution (3 x 3 of a 0.2 s point: 1.8 s)


def check_preview_points(value) -> int | float | None:
    """``preview_points`` as the widget keeps it: None (automatic), 0 (off), an int >= 1 (points kept per
    point set) or a fraction in (0, 1); a ValueError naming the argument, the value and what is allowed."""
    if value is None:
        return None
    if value is False:
        return 0
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 0:
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and 0.0 < float(value) < 1.0:
        return float(value)  # NaN fails the comparison
    raise ValueError(
        f"preview_points must be None (automatic), 0 or False (every point), an integer >= 1 (points kept "
        f"per point set) or a fraction in (0, 1), got {value!r}"
    )


def kept_points(sizes: list[int], size: int | float) -> int:
    """Points kept in all when each set of ``sizes`` keeps ``size`` of its points (as ``landscape(subsample=)``)."""
    if isinstance(size, float):
        return sum(min(n, max(1, round(size * n))) for n in sizes)
    return sum(min(n, size) for n in sizes)


def per_set_size(sizes: list[int], keep: int) -> int:
    """The largest n >= 1 such that keeping at most n points of each set keeps at most ``keep`` in all (small
    sets stay whole, the large ones are cut)."""
    lo, hi = 1, max(sizes)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if kept_points(sizes, mid) <= keep:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _odd_resolution(grid_points: float, n_dims: int, largest: int, smallest: int = SMALLEST_PREVIEW) -> int:
    n = int(max(grid_points, 1.0) ** (1.0 / n_dims))
    n = max(smallest, min(largest, n))
    return n if n % 2 else n - 1


@dataclasses.dataclass(frozen=True)
class PreviewPlan:
    """One panel's preview: its ``resolution``, ``subsample`` (``landscape(subsample=)``: points per set, or
    None for every point), the points it keeps and the run's points in all (``kept``, ``total``; None when
    not known) and ``note``, what the panel says about its points ("" when nothing needs saying)."""

    resolution: int
    subsample: int | float | None = None
    kept: int | None = None
    total: int | None = None
    note: str = ""


def plan_preview(
    *,
    resolution: int,
    n_dims: int,
    largest: int,
    budget_s: float,
    cost: float | None,
    sizes: list[int] | None,
    points: int | float | None,
) -> PreviewPlan | None:
    """The preview of a grid of ``resolution`` per axis (``n_dims`` axes), or None when it needs none.

    cost: seconds per parameter point on every point (None: not measured yet); sizes: the loss's point sets
    (None: its points cannot be subsampled); points: ``preview_points`` (see ``check_preview_points``).
    Full-point previews aim at ``budget_s`` (at most ``largest`` per axis; a large loss that cannot be cut
    at ``FULL_POINT_TARGET_S``, down to ``SMALLEST_FULL_POINT_PREVIEW``); a preview follows a grid finer
    than twice ``largest`` per axis, or one predicted to take longer than ``PREVIEW_WORTH_S``."""
    full_time = None if cost is None else cost * resolution**n_dims
    if resolution <= 2 * largest and (full_time is None or full_time <= PREVIEW_WORTH_S):
        return None
    res_full = largest if cost is None else _odd_resolution(budget_s / cost, n_dims, largest)
    total = sum(sizes) if sizes else None
    subsample: int | float | None = None
    note = ""
    large = cost is not None and cost * SMALLEST_PREVIEW**n_dims > FULL_PREVIEW_MAX_S
    if sizes is None and (points or (points is None and large)):
        note = "on all points (this loss's points cannot be subsampled)"
        if large and cost is not None:
            res_full = _odd_resolution(FULL_POINT_TARGET_S / cost, n_dims, largest, SMALLEST_FULL_POINT_PREVIEW)
    elif points:  # the caller's own subset
        subsample = points if kept_points(sizes or [], points) < (total or 0) else None
    elif points is None and large and sizes is not None and cost is not None and total is not None:
        keep = total * SUBSET_TARGET_S / (cost * largest**n_dims)
        n = per_set_size(sizes, max(MIN_PREVIEW_POINTS, int(keep)))
        subsample = n if n < max(sizes) else None
    if subsample is None or sizes is None:
        if res_full >= resolution:
            return None
        return PreviewPlan(res_full, None, total, total, note)
    assert total is not None
    kept = kept_points(sizes, subsample)
    res = largest if cost is None else _odd_resolution(SUBSET_TARGET_S / (cost * kept / total), n_dims, largest)
    res = min(res, resolution)
    return PreviewPlan(res, subsample, kept, total, f"on {kept} of {total} points")
