"""Points and quadrature weights on a box and on its faces.

"grid" is the midpoint rule on a tensor grid (cell centres; weights are the cell volumes, summing to the
box's measure). "sobol" (scrambled), "lhs" (Latin hypercube) and "uniform" draw points with a seed and give
each the weight measure / n (Monte Carlo). The points are fixed once the problem is made: a landscape must
be a function of the parameters alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .._checks import check_choice, check_int

F64 = torch.float64
SAMPLINGS = ("grid", "sobol", "lhs", "uniform")


def midpoints(lo: float, hi: float, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    h = (hi - lo) / n
    return lo + h * (torch.arange(n, dtype=F64) + 0.5), torch.full((n,), h, dtype=F64)


def tensor_grid(axes: Sequence[torch.Tensor]) -> torch.Tensor:
    """All combinations of the axes' values, [prod n_i, d], the last axis varying fastest."""
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], dim=1)


def grid_counts(n_points, dim: int) -> tuple[int, ...]:
    """Points per axis: a tuple is taken as is; a total n gives round(n ** (1/d)) per axis (at least 2)."""
    if isinstance(n_points, (tuple, list)):
        if len(n_points) != dim:
            raise ValueError(
                f"n_points must be an integer or a tuple of {dim} integers (one per axis), got {n_points!r}"
            )
        return tuple(check_int("n_points", n, 1, 10_000_000) for n in n_points)
    n = check_int("n_points", n_points, 2, 10_000_000)
    if dim == 1:
        return (n,)
    return (max(2, int(round(n ** (1.0 / dim)))),) * dim


def box_points(domain: Sequence[tuple[float, float]], n_points, sampling: str = "grid", seed: int = 0):
    """(points [N, d], weights [N]) in the box; the weights sum to its measure."""
    sampling = check_choice("sampling", sampling, SAMPLINGS)
    dim = len(domain)
    counts = grid_counts(n_points, dim)
    if sampling == "grid":
        pairs = [midpoints(lo, hi, n) for (lo, hi), n in zip(domain, counts)]
        x = tensor_grid([p[0] for p in pairs])
        w = pairs[0][1]
        for p in pairs[1:]:
            w = (w[:, None] * p[1][None, :]).reshape(-1)
        return x, w
    n = math.prod(counts) if isinstance(n_points, (tuple, list)) else int(n_points)
    unit = random_unit(n, dim, sampling, seed)
    lo = torch.tensor([a for a, _ in domain], dtype=F64)
    hi = torch.tensor([b for _, b in domain], dtype=F64)
    vol = math.prod(b - a for a, b in domain)
    return lo + unit * (hi - lo), torch.full((n,), vol / n, dtype=F64)


def random_unit(n: int, dim: int, sampling: str, seed: int) -> torch.Tensor:
    """n points in [0, 1)^dim, the same for a seed on every machine (CPU generators)."""
    if sampling == "sobol":
        return torch.quasirandom.SobolEngine(dim, scramble=True, seed=int(seed)).draw(n, dtype=F64)
    gen = torch.Generator().manual_seed(int(seed))
    if sampling == "uniform":
        return torch.rand((n, dim), generator=gen, dtype=F64)
    # Latin hypercube: one point in each of n strata per axis, strata shuffled independently
    u = torch.rand((n, dim), generator=gen, dtype=F64)
    cols = [(torch.randperm(n, generator=gen).to(F64) + u[:, k]) / n for k in range(dim)]
    return torch.stack(cols, dim=1)


def face_points(domain, axis: int, value: float, counts: Sequence[int], sampling: str, seed: int, n_face=None):
    """(points, weights) on the face x_axis = value of the box. The other axes are sampled like the interior
    (midpoints with ``counts`` per axis, or ``n_face`` random points); a 0-dimensional face (a 1-D problem's
    end point) is one point of weight 1. The weights sum to the face's measure."""
    dim = len(domain)
    others = [k for k in range(dim) if k != axis]
    if not others:
        return torch.tensor([[value]], dtype=F64), torch.ones(1, dtype=F64)
    sub = [domain[k] for k in others]
    if n_face is not None:
        n_face = check_int("n_points of a condition", n_face, 1, 10_000_000)
    if sampling == "grid":
        sub_counts = [counts[k] for k in others] if n_face is None else list(grid_counts(max(2, n_face), len(others)))
        xs, ws = box_points(sub, tuple(sub_counts), "grid")
    else:
        n = n_face if n_face is not None else math.prod(counts[k] for k in others)
        xs, ws = box_points(sub, n, sampling, seed + 1000 * (axis + 1) + (1 if value == domain[axis][1] else 0))
    x = torch.empty((xs.shape[0], dim), dtype=F64)
    x[:, axis] = value
    for j, k in enumerate(others):
        x[:, k] = xs[:, j]
    return x, ws


def given_points(what: str, points, names: Sequence[str], domain: Sequence[tuple[float, float]]) -> torch.Tensor:
    """Points given as a sequence of coordinate tuples ((x, t), ...), checked against the box: [N, d] float64."""
    dim = len(domain)
    if isinstance(points, torch.Tensor) or not isinstance(points, (list, tuple)):
        raise ValueError(
            f"{what} must be an integer or a list of points (tuples of {dim} coordinates; a tensor or "
            f"array: pass .tolist(), since options are kept as plain data), got {type(points).__name__}"
        )
    try:
        x = torch.tensor(points, dtype=F64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} points must be tuples of {dim} numbers") from exc
    if x.dim() != 2 or x.shape[1] != dim or x.shape[0] == 0:
        raise ValueError(f"{what} points must have shape [N, {dim}] ({list(names)}), got {list(x.shape)}")
    lo = torch.tensor([a for a, _ in domain], dtype=F64)
    hi = torch.tensor([b for _, b in domain], dtype=F64)
    if not bool(torch.isfinite(x).all()) or bool(((x < lo) | (x > hi)).any()):
        box = ", ".join(f"{n} in [{a:g}, {b:g}]" for n, (a, b) in zip(names, domain))
        raise ValueError(f"{what} points must lie in the box ({box})")
    return x
