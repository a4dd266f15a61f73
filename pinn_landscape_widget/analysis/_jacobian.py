"""The Jacobian J_t = d r_t / d theta of a least-squares term's weighted residual vector r_t
(``Objective.residual_vectors``) as products J_t v and J_t^T w on the engine's passes in C, and its exact
Frobenius norm ||J_t||_F^2 = tr(J_t J_t^T) from one backward pass: what the neural tangent kernel of
``diagnose`` reads, without autograd through the network and without forming J_t.

Write r_t = rho_t(Y), Y the network's output jets at the objective's point sets (``engine.jet_adjoint``).
Where each entry of r_t reads the jet of one point only (every interior residual and every condition's
misfit of a one-output network but a periodic condition's, which pairs points), rho_t's Jacobian in Y-space
is a C-vector per point, D [C, n] per point set, read off by one autograd call on the small graph of rho_t
(and checked against a second with a random probe). Then

    J_t v   = D . R{Y}             R{Y} = J_Y v, the R-operator's forward pass (``analysis._rop``),
    J_t^T w = J_Y^T (D w)          the backward pass that forms a training step's gradient,

and the backward pass from D itself leaves each point's own adjoints in every layer (the pass is linear and
acts point by point), so each row of J_t is a sum over channels of outer products, adjoint x layer input,
and its squared norm a sum of products of two C x C Gram matrices per point and layer: the exact trace of
the kernel, in one pass, where Hutchinson's estimate needs a reverse pass per probe.
"""

from __future__ import annotations

import torch

from ..engine._workspace import Workspace
from ..engine.jet_adjoint import native_applies
from ..pde.derivatives import Jet
from ._rop import _PointSet


def applies(objective) -> bool:
    """Whether ``ResidualJacobian`` runs for this objective: its passes in C (a tanh MLP with one output,
    float32 on a CPU, the kernels built; ``engine.jet_adjoint.native_applies``)."""
    return native_applies(objective)


class ResidualJacobian:
    """J_t of each least-squares term at theta, as products on the engine's passes in C.

    objective: an ``Objective`` for which ``applies`` holds (float32); theta: its parameters [P]; threads: of
    the passes in C. ``terms`` lists the terms whose Jacobian has the per-point structure above (the others,
    e.g. a periodic condition's, are left to the caller's autograd path)."""

    def __init__(self, objective, theta: torch.Tensor, threads: int):
        theta = theta.detach().to(objective.dtype).contiguous()  # the C passes read the weights in place
        self.theta, self.n, self.threads = theta, theta.numel(), int(threads)
        self.ws = Workspace(theta.device, theta.dtype, owner=self)
        self._sets: list[_PointSet] = []
        leaves: list[torch.Tensor] = []

        def network(ps) -> Jet:
            p = _PointSet(objective.net, theta, ps.x, ps.spec.order, self.ws, self.threads)
            leaf = p.Y.detach().clone()[None].requires_grad_(True)  # [1, C, n]
            self._sets.append(p)
            leaves.append(leaf)
            return Jet.from_stacked(ps.spec, leaf)

        with torch.enable_grad():
            r = objective.residual_terms(network)
        self.sizes = {t: int(v.numel()) for t, v in r.items()}
        # per term: [(point set, D [C, n], first row)], or absent when r_t is not one row per point
        self._blocks: dict[str, list[tuple[_PointSet, torch.Tensor, int]]] = {}
        gen = torch.Generator().manual_seed(0)
        for t, rt in r.items():
            ones = torch.autograd.grad(rt.sum(), leaves, retain_graph=True, allow_unused=True)
            w = torch.randn(rt.shape, generator=gen, dtype=rt.dtype).to(rt.device)
            probe = torch.autograd.grad(rt, leaves, w, retain_graph=True, allow_unused=True)
            blocks, row, ok = [], 0, True
            for p, d1, dw in zip(self._sets, ones, probe):
                if d1 is None:
                    continue
                n = d1.shape[2]
                D = d1[0].detach().contiguous()
                want = D * w[row : row + n] if row + n <= rt.numel() else None
                if want is None or (dw[0] - want).abs().max() > 1e-4 * want.abs().max() + 1e-30:
                    ok = False
                    break
                blocks.append((p, D, row))
                row += n
            if ok and row == rt.numel():
                self._blocks[t] = blocks

    @property
    def terms(self) -> list[str]:
        """The terms whose products run here."""
        return list(self._blocks)

    def matvec(self, term: str, v: torch.Tensor) -> torch.Tensor:
        """J_t v [N_t]."""
        v = v.to(self.theta.dtype).contiguous()
        out = v.new_empty(self.sizes[term])
        with self.ws.scope():
            for p, D, row in self._blocks[term]:
                RY = p.r_forward_native(v, self.threads)
                out[row : row + D.shape[1]] = (D * RY).sum(0)
        return out

    def rmatvec(self, term: str, w: torch.Tensor) -> torch.Tensor:
        """J_t^T w [P]."""
        w = w.to(self.theta.dtype)
        out = torch.zeros(self.n, dtype=self.theta.dtype, device=self.theta.device)
        for p, D, row in self._blocks[term]:
            p.backward((D * w[row : row + D.shape[1]]).contiguous(), out)
        return out

    def gram(self, term: str, v: torch.Tensor) -> torch.Tensor:
        """J_t^T J_t v [P]: the kernel's nonzero spectrum, in parameter space."""
        return self.rmatvec(term, self.matvec(term, v))

    def trace(self, term: str) -> float:
        """tr(J_t J_t^T) = ||J_t||_F^2, exact (to float32 rounding, summed in float64): the squared norms of
        J_t's rows from one backward pass per point set, without forming them."""
        total = 0.0
        scratch = torch.zeros(self.n, dtype=self.theta.dtype, device=self.theta.device)
        for p, D, _ in self._blocks[term]:
            p.backward(D, scratch)  # each layer's adjoints (L.Yb), point by point
            sq = _row_norms_squared(p, D)
            total += float(sq.to(torch.float64).sum())
        return total


def _row_norms_squared(p: _PointSet, D: torch.Tensor) -> torch.Tensor:
    """||d r_i / d theta||^2 per point [n], after the backward pass from D [C, n] (the rows' output adjoints).

    A hidden layer's rows: dW = sum_c A_c H_c^T (A [o, C, n] the pre-activation adjoints, H [i, C, n] the
    layer's input jet, per point), db = A_0; ||dW||_F^2 = sum_{c, e} (A_c . A_e)(H_c . H_e). The output layer:
    dw = sum_c D_c H_c, db = D_0."""
    Ho = p.H  # the last hidden layer's output jet [o, C, n]
    sq = (Ho * D[None]).sum(1).square().sum(0) + D[0].square()
    for L in p.layers:
        A, H = L.Yb, L.H
        GA = (A[:, :, None] * A[:, None]).sum(0)  # [C, C, n]: a few hundred thousand numbers, one op each
        GH = (H[:, :, None] * H[:, None]).sum(0)
        sq += (GA * GH).sum((0, 1)) + A[:, 0].square().sum(0)
    return sq
