"""The objective: problem x network x formulation, bound to a device and dtype.

This is the single code path that defines every loss. Training calls it with K = 1 and backpropagates;
landscapes call it with K parameter points under no_grad; the Hessian tools differentiate it twice.
"""

from __future__ import annotations

import copy

import torch

from ..pde.derivatives import Jet
from ..pde.formulations import Formulation, get_formulation
from ..pde.problems import Problem
from . import _native
from .mlp import MLP


def _factor_jet(problem: Problem, x64: torch.Tensor, order: int) -> Jet | None:
    """Value, gradient and Laplacian of the hard-ansatz factor phi at fixed points (autograd, float64).

    phi does not depend on the parameters, so it is differentiated once here, not per evaluation.
    """
    x = x64.clone().requires_grad_(order >= 1)
    phi = problem.hard_factor(x)
    if phi is None:
        return None
    grad = lap = None
    if order >= 1:
        g = torch.autograd.grad(phi.sum(), x, create_graph=order >= 2)[0]  # [N, d]
        grad = g.T.detach()
        if order >= 2:
            lap = sum(torch.autograd.grad(g[:, k].sum(), x, retain_graph=True)[0][:, k] for k in range(x.shape[1]))
            lap = lap.detach()
    return Jet(phi.detach(), grad, lap)


def _to(j: Jet | None, device, dtype) -> Jet | None:
    if j is None:
        return None
    cast = lambda t: None if t is None else t.to(device=device, dtype=dtype)  # noqa: E731
    return Jet(cast(j.value), cast(j.grad), cast(j.lap))


def apply_factor(n: Jet, phi: Jet | None) -> Jet:
    """u = phi * N with the product rule on gradient and Laplacian."""
    if phi is None:
        return n
    value = phi.value * n.value
    grad = lap = None
    if n.grad is not None:
        grad = phi.value * n.grad + n.value[:, None, :] * phi.grad[None]
    if n.lap is not None:
        lap = phi.value * n.lap + 2 * (phi.grad[None] * n.grad).sum(1) + phi.lap * n.value
    return Jet(value, grad, lap)


class Objective:
    """Loss terms, total loss and relative L2 error for parameter batches [K, P]."""

    def __init__(self, problem: Problem, net: MLP, formulation: str | Formulation, device, dtype):
        self.problem = problem
        self.net = net
        self.formulation = get_formulation(formulation, problem)
        self.device = torch.device(device)
        self.dtype = dtype
        if net.in_dim != problem.dim:
            raise ValueError(f"network input dimension {net.in_dim} does not match problem dimension {problem.dim}")
        cast = dict(device=self.device, dtype=dtype)

        x64, w64 = problem.quadrature()
        self.order = self.formulation.order(problem)
        self.x = x64.to(**cast)
        self.w = w64.to(**cast)
        self.f = problem.source(x64).to(**cast)
        self.phi = _to(_factor_jet(problem, x64, self.order), **cast)

        self.constraints = []
        for c in problem.constraints():
            self.constraints.append(
                dict(
                    name=c.name,
                    kind=c.kind,
                    x=c.points.to(**cast),
                    w=c.weights.to(**cast),
                    target=None if c.target is None else c.target.to(**cast),
                    phi=_to(_factor_jet(problem, c.points, 0), **cast),
                )
            )

        # The error norm: on the quadrature points with their weights unless the problem names its own grid
        # (then uniform weights). On the quadrature points the values come free with the loss.
        xe = problem.evaluation_points()
        self.eval_on_quadrature = xe is None
        if xe is None:
            xe, we = x64, w64
        else:
            we = torch.ones(xe.shape[0], dtype=xe.dtype)
        exact = problem.exact(xe)
        self.x_eval = xe.to(**cast)
        self.w_eval = we.to(**cast)
        self.phi_eval = _to(_factor_jet(problem, xe, 0), **cast)
        self.u_exact = None if exact is None else exact.to(**cast)
        self.exact_norm2 = None if exact is None else float((we * exact * exact).sum())
        self.term_names = [self.formulation.term] + [c["name"] for c in self.constraints]

    @property
    def n_params(self) -> int:
        return self.net.n_params

    def u(self, params, x: torch.Tensor, phi: Jet | None, order: int, functional: bool = False) -> Jet:
        """The solution's jet at x: the network's times the hard-ansatz factor. params [K, P], or a function
        (x, order) -> the network's Jet (``rop`` puts its own output jets in the loss this way)."""
        n = params(x, order) if callable(params) else self.net.jets(params, x, order, functional)
        return apply_factor(n, phi)

    def terms(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each loss term [K]; they add up to the loss (penalty terms include lam)."""
        params = self._check(params)
        return self._terms(params, self.u(params, self.x, self.phi, self.order))

    def _terms(self, params, u: Jet, functional: bool = False) -> dict[str, torch.Tensor]:
        dens = self.formulation.density(self.problem, self.x, u, self.f)
        # elementwise product and row sum: the same reduction order for every K, so a point's value does
        # not depend on which chunk it was evaluated in
        out = {self.formulation.term: (dens * self.w).sum(1)}
        for c in self.constraints:
            v = self.u(params, c["x"], c["phi"], 0, functional).value
            if c["kind"] == "periodic":
                half = v.shape[1] // 2
                mis = v[:, :half] - v[:, half:]
            else:
                mis = v - c["target"]
            out[c["name"]] = self.problem.lam * (mis * mis * c["w"]).sum(1)
        return out

    def loss(self, params: torch.Tensor) -> torch.Tensor:
        return sum(self.terms(params).values())

    def rel_l2_error(self, params: torch.Tensor) -> torch.Tensor:
        """||u - u*|| / ||u*|| on the problem's evaluation grid; NaN when no exact solution is known."""
        params = self._check(params)
        return self._rel_l2(params, None)

    def _rel_l2(self, params, u_quad: Jet | None, functional: bool = False) -> torch.Tensor:
        if self.u_exact is None:
            return torch.full((params.shape[0],), float("nan"), device=self.device, dtype=self.dtype)
        if self.eval_on_quadrature and u_quad is not None:
            u = u_quad.value
        else:
            u = self.u(params, self.x_eval, self.phi_eval, 0, functional).value
        err = u - self.u_exact
        return torch.sqrt((err * err * self.w_eval).sum(1) / self.exact_norm2)

    def evaluate(self, params: torch.Tensor, functional: bool = False) -> dict[str, torch.Tensor]:
        """{"loss", "loss_<term>"..., "rel_l2_error"}: each a [K] tensor."""
        params = self._check(params)
        u = self.u(params, self.x, self.phi, self.order, functional)
        terms = self._terms(params, u, functional)
        out = {"loss": sum(terms.values())}
        out.update({f"loss_{k}": v for k, v in terms.items()})
        out["rel_l2_error"] = self._rel_l2(params, u, functional)
        return out

    def quadrature_part(self, sl: slice, with_constraints: bool) -> Objective:
        """The same objective restricted to the interior quadrature points ``sl`` (and, if asked, its
        constraint terms): the parts of a split loss add up to the whole. For the error norm use the whole."""
        part = copy.copy(self)
        part.x, part.w, part.f = self.x[sl], self.w[sl], self.f[sl]
        if self.phi is not None:
            part.phi = Jet(
                self.phi.value[sl],
                None if self.phi.grad is None else self.phi.grad[:, sl],
                None if self.phi.lap is None else self.phi.lap[sl],
            )
        if not with_constraints:
            part.constraints = []
            part.term_names = [self.formulation.term]
        return part

    def bytes_per_point(self) -> int:
        """Rough peak working memory of one parameter point in ``evaluate`` (for chunk sizing)."""
        d = self.problem.dim
        channels = 1 + (d if self.order >= 1 else 0) + (1 if self.order >= 2 else 0)
        n_points = self.x.shape[0] * channels + (0 if self.eval_on_quadrature else self.x_eval.shape[0])
        item = torch.finfo(self.dtype).bits // 8
        if _native.applies(self.net.activation, self.device, self.dtype, d, self.order):
            # the fused kernel keeps its activations in a fixed scratch; a point costs its output jet and
            # the loss assembly's temporaries
            return 24 * n_points * item + 4 * self.n_params * item
        return 8 * n_points * self.net.width * item + 4 * self.n_params * item

    def _check(self, params: torch.Tensor) -> torch.Tensor:
        if not isinstance(params, torch.Tensor):
            params = torch.as_tensor(params)
        if params.dim() == 1:
            params = params[None]
        if params.dim() != 2 or params.shape[1] != self.n_params:
            raise ValueError(
                f"params must have shape [K, {self.n_params}] (or [{self.n_params}]), got {tuple(params.shape)}"
            )
        return params.to(device=self.device, dtype=self.dtype)
