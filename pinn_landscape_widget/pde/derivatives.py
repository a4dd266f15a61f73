"""Input derivatives of a field at a set of points: what residuals and energies read."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Jet:
    """A scalar field and its input derivatives at N points, for K parameter points.

    value [K, N]; grad [K, d, N] or None; lap [K, N] or None (the Laplacian, sum of second derivatives).
    """

    value: torch.Tensor
    grad: torch.Tensor | None = None
    lap: torch.Tensor | None = None
