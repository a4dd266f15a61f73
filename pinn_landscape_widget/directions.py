"""Directions in parameter space that span a landscape slice.

random_directions: Gaussian directions, normalised against reference parameters (Li et al. 2018):
  "filter": each row of each weight matrix (one neuron's incoming weights) is rescaled to the norm of the
            same row of the reference; a bias entry, when kept, to the magnitude of the reference entry;
  "layer":  each weight matrix (and bias vector) rescaled to the reference tensor's norm;
  "none":   raw Gaussian.
Biases are zeroed (``bias="zero"``, the default) or normalised like filters (``bias="filter"``).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import torch

from ._checks import check_choice, check_int

NORMALIZATIONS = ("filter", "layer", "none")
BIAS_MODES = ("zero", "filter")


@dataclass
class Directions:
    """vectors [n, P]; kind ("random", "pca", "hessian", "interpolation", "custom"); attrs (provenance)."""

    vectors: torch.Tensor
    kind: str = "custom"
    attrs: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.vectors.shape[0]


def _normalize(d: torch.Tensor, ref: torch.Tensor, net, normalization: str, bias: str) -> torch.Tensor:
    out = d.clone()
    for ws, bs, (o, i) in net.param_slices():
        dw, rw = out[ws].view(o, i), ref[ws].view(o, i)
        if normalization == "filter":
            dw.mul_(rw.norm(dim=1, keepdim=True) / dw.norm(dim=1, keepdim=True).clamp_min(1e-30))
        elif normalization == "layer":
            dw.mul_(rw.norm() / dw.norm().clamp_min(1e-30))
        db, rb = out[bs], ref[bs]
        if bias == "zero":
            db.zero_()
        elif normalization == "filter":
            db.mul_(rb.abs() / db.abs().clamp_min(1e-30))
        elif normalization == "layer":
            db.mul_(rb.norm() / db.norm().clamp_min(1e-30))
    return out


def random_directions(run, n: int = 2, seed: int = 0, normalization: str = "filter", bias: str = "zero",
                      orthogonalize: bool = False, reference: torch.Tensor | None = None) -> Directions:
    """n Gaussian directions normalised against ``reference`` (default: the trained parameters).

    The same seed gives the same vectors on every machine and device (drawn on the CPU in float64).
    ``orthogonalize`` makes later directions orthogonal to earlier ones (Gram-Schmidt, after
    normalisation, rescaled back to their normalised length).
    """
    n = check_int("n", n, 1, run.n_params)
    normalization = check_choice("normalization", normalization, NORMALIZATIONS)
    bias = check_choice("bias", bias, BIAS_MODES)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    ref = (run.params if reference is None else torch.as_tensor(reference)).detach().cpu().to(torch.float64)
    if ref.shape != (run.n_params,):
        raise ValueError(f"reference must have shape [{run.n_params}], got {tuple(ref.shape)}")
    gen = torch.Generator().manual_seed(int(seed))
    vecs = []
    for _ in range(n):
        d = torch.randn(run.n_params, generator=gen, dtype=torch.float64)
        d = _normalize(d, ref, run.net, normalization, bias)
        if orthogonalize:
            length = d.norm()
            for v in vecs:
                d = d - (d @ v) / (v @ v) * v
            d = d * (length / d.norm().clamp_min(1e-30))
        vecs.append(d)
    vectors = torch.stack(vecs).to(run.dtype)
    return Directions(vectors, "random", dict(seed=int(seed), normalization=normalization, bias=bias,
                                              orthogonalize=bool(orthogonalize)))


def as_directions(run, directions) -> Directions:
    """Accept None (filter-normalised random, seed 0), a Directions, or a tensor [n, P] / [P]."""
    if directions is None:
        return random_directions(run, 2, seed=0)
    if isinstance(directions, Directions):
        vec = directions.vectors
        kind, attrs = directions.kind, dict(directions.attrs)
    else:
        try:
            vec = torch.as_tensor(directions)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"directions must be a Directions or a tensor of shape [n, {run.n_params}], "
                             f"got {type(directions).__name__}") from exc
        kind, attrs = "custom", {}
    if vec.dim() == 1:
        vec = vec[None]
    if vec.dim() != 2 or vec.shape[0] not in (1, 2) or vec.shape[1] != run.n_params:
        raise ValueError(f"directions must have shape [1, {run.n_params}] or [2, {run.n_params}], "
                         f"got {tuple(vec.shape)}")
    if not torch.isfinite(vec).all():
        raise ValueError("directions contain NaN or inf entries")
    zero = [i for i in range(vec.shape[0]) if not bool(vec[i].abs().max() > 0)]
    if zero:
        raise ValueError(f"directions {zero} are all zero; a slice needs non-zero directions")
    return Directions(vec, kind, attrs)
