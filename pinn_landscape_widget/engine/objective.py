"""The objective: problem x network x formulation, bound to a device and dtype.

This is the single code path that defines every loss. Training calls it with K = 1 and backpropagates;
landscapes call it with K parameter points under no_grad; the Hessian tools differentiate it twice.

The loss reads the solution at a few point sets: the interior quadrature (with the derivatives the
formulation needs), each condition's points, and the error grid. At each, the network's jet is computed
for exactly the derivatives that set reads, and the problem's hard ansatz (if any) is applied with the
product rule; the problem's own functions then turn the solution's jet into densities and misfits.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import numbers
import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from ..pde.derivatives import Jet, JetSpec, apply_ansatz
from ..pde.formulations import Formulation, get_formulation
from ..pde.problems import ConditionSet, Problem
from . import _native


def total(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """The sum of loss terms, in order (as ``sum`` adds them, without its leading 0)."""
    return functools.reduce(operator.add, tensors)


def _cast_jet(j: Jet | None, **cast) -> Jet | None:
    return None if j is None else Jet(j.spec, [[t.to(**cast) for t in p] for p in j.parts])


@dataclass
class PointSet:
    """Points where the loss reads the solution, with what it reads there."""

    name: str
    x: torch.Tensor  # [N, d]
    spec: JetSpec
    factors: list  # per unknown: the ansatz factor's jet at x (K = 1), or None
    lifts: list
    w: torch.Tensor | None = None  # quadrature weights (interior)
    f: torch.Tensor | None = None  # the source at x (interior)
    condition: ConditionSet | None = None

    @property
    def cols(self) -> list[torch.Tensor]:
        return [self.x[:, k] for k in range(self.x.shape[1])]

    @property
    def has_ansatz(self) -> bool:
        return any(j is not None for j in self.factors) or any(j is not None for j in self.lifts)

    def restrict(self, sl: slice) -> PointSet:
        def cut(j):
            return None if j is None else Jet(j.spec, [[t[:, sl] for t in p] for p in j.parts])

        return PointSet(
            self.name,
            self.x[sl],
            self.spec,
            [cut(j) for j in self.factors],
            [cut(j) for j in self.lifts],
            None if self.w is None else self.w[sl],
            None if self.f is None else self.f[sl],
            self.condition,
        )

    def take(self, idx: torch.Tensor, w_scale: float = 1.0) -> PointSet:
        """The points ``idx`` (a LongTensor of row indices), the quadrature weights (if any) times
        ``w_scale``. The condition, if any, is kept as it is: ``Objective.subsample`` cuts it."""

        def cut(j):
            return None if j is None else Jet(j.spec, [[t[:, idx] for t in p] for p in j.parts])

        return PointSet(
            self.name,
            self.x[idx],
            self.spec,
            [cut(j) for j in self.factors],
            [cut(j) for j in self.lifts],
            None if self.w is None else self.w[idx] * w_scale,
            None if self.f is None else self.f[idx],
            self.condition,
        )


def subsample_size(size, n: int) -> int:
    """How many of n points ``subsample=size`` keeps: an int >= 1 is at most that many (a size above n
    means all n); a float in (0, 1] is that fraction, rounded, at least 1."""
    if isinstance(size, bool) or not isinstance(size, numbers.Real):
        raise ValueError(
            f"subsample must be None, an integer >= 1 (points per point set) or a fraction in (0, 1], got {size!r}"
        )
    if isinstance(size, numbers.Integral):
        if size < 1:
            raise ValueError(
                f"subsample must be None, an integer >= 1 (points per point set) or a fraction in (0, 1], got {size!r}"
            )
        return min(int(size), n)
    size = float(size)
    if not math.isfinite(size) or not 0.0 < size <= 1.0:
        raise ValueError(
            f"subsample must be None, an integer >= 1 (points per point set) or a fraction in (0, 1], got {size!r}"
        )
    return min(n, max(1, round(size * n)))


class Objective:
    """Loss terms, total loss and relative L2 error for parameter batches [K, P]."""

    def __init__(self, problem: Problem, net, formulation: str | Formulation, device, dtype):
        self.problem = problem
        self.net = net
        self.formulation = get_formulation(formulation, problem)
        self.device = torch.device(device)
        self.dtype = dtype
        self.differentiates_inputs = False  # input derivatives are jets: torch.func transforms apply
        self.thread_safe = True  # grid chunks run in torch kernels: several threads at once
        self.process_safe = False  # ... which release the GIL: forked worker processes gain nothing
        self.has_residual_vectors = True  # see ``residual_vectors``
        self.why_no_residual_vectors: str | None = None
        self.subsample_points: dict[str, list[int]] | None = None  # set on a ``subsample`` copy
        if net.in_dim != problem.dim:
            raise ValueError(f"network input dimension {net.in_dim} does not match problem dimension {problem.dim}")
        if getattr(net, "out_dim", 1) != len(problem.unknowns):
            raise ValueError(
                f"the network has {net.out_dim} output(s) and problem {problem.name!r} has "
                f"{len(problem.unknowns)} unknown(s) {list(problem.unknowns)}"
            )
        cast = dict(device=self.device, dtype=dtype)

        x64, w64 = problem.quadrature()
        spec = self.formulation.spec(problem)
        f = problem.source(x64)
        self.interior = self._point_set(
            "interior", x64, spec, cast, w=w64.to(**cast), f=None if f is None else f.to(**cast)
        )
        self.conditions = [
            self._point_set(c.name, c.points, c.spec, cast, condition=c.cast(**cast)) for c in problem.conditions
        ]

        # The error norm: on the interior points with their weights unless the problem names its own grid
        # (then uniform weights). On the interior points the values come free with the loss.
        xe = problem.evaluation_points()
        self.eval_on_quadrature = xe is None
        if xe is None:
            xe, we = x64, w64
        else:
            we = torch.ones(xe.shape[0], dtype=xe.dtype)
        self.eval_set = self._point_set("error", xe, JetSpec(problem.dim), cast, w=we.to(**cast))
        exact = problem.exact(xe)
        self.u_exact = None
        if exact is not None:
            exact = exact.reshape(xe.shape[0], -1)
            self.u_exact = [exact[:, k].to(**cast) for k in range(exact.shape[1])]
            self.exact_norm2 = [float((we * exact[:, k] ** 2).sum()) for k in range(exact.shape[1])]
        names = list(self.formulation.terms(problem))
        for c in self.conditions:
            if c.name not in names:
                names.append(c.name)
        self.term_names = names

    def _point_set(self, name, x64, spec, cast, **kw) -> PointSet:
        factors, lifts = self.problem.ansatz_jets(x64, spec) if self.problem.has_ansatz() else ([None], [None])
        m = len(self.problem.unknowns)
        factors = (factors + [None] * m)[:m]
        lifts = (lifts + [None] * m)[:m]
        return PointSet(
            name,
            x64.to(**cast),
            spec,
            [_cast_jet(j, **cast) for j in factors],
            [_cast_jet(j, **cast) for j in lifts],
            **kw,
        )

    # compatibility names for the interior point set (used by the curvature tools)
    @property
    def x(self) -> torch.Tensor:
        return self.interior.x

    @property
    def n_params(self) -> int:
        return self.net.n_params

    @property
    def point_sets(self) -> list[PointSet]:
        return [self.interior, *self.conditions]

    def network_jet(self, params: torch.Tensor, ps: PointSet, functional: bool = False) -> Jet:
        return self.net.jets(params, ps.x, ps.spec, functional)

    def solution(self, net_jet: Jet, ps: PointSet) -> Jet:
        """The solution's jet at a point set from the network's: the hard ansatz applied, if any."""
        return apply_ansatz(net_jet, ps.factors, ps.lifts) if ps.has_ansatz else net_jet

    def loss_terms(self, network: Callable[[PointSet], Jet]) -> tuple[dict[str, torch.Tensor], Jet]:
        """Each loss term [K] from the network's jets at the point sets (``network(ps)``), and the solution's
        jet on the interior. The one place a loss is defined: the grid, training and the Hessian tools (which
        pass jets of their own) all come through here."""
        ps = self.interior
        u = self.solution(network(ps), ps)
        dens = self.formulation.densities(self.problem, u, ps.cols, ps.f)
        # elementwise product and row sum: the same reduction order for every K, so a point's value does
        # not depend on which chunk it was evaluated in
        w = ps.w
        assert w is not None  # the interior has weights
        out = {term: (dens[term] * w).sum(1) for term in dens}
        for c, mis in self._misfits(network):
            val = c.lam * (mis * mis * c.row_weights()).sum(1)
            out[c.name] = out[c.name] + val if c.name in out else val
        return out, u

    def _misfits(self, network: Callable[[PointSet], Jet]) -> Iterator[tuple[ConditionSet, torch.Tensor]]:
        """(condition, misfit [K, rows]) of each penalised condition, in order."""
        for cps in self.conditions:
            c = cps.condition
            assert c is not None  # every condition point set carries its condition
            yield c, c.misfit(self.solution(network(cps), cps))

    def residual_vectors(self, params: torch.Tensor, functional: bool = False) -> dict[str, torch.Tensor]:
        """Each least-squares term's weighted residual vector r_term [N_term] at ONE parameter point, so that
        the term of ``terms(params)`` is sum(r_term ** 2); differentiable in params (the rows of the Jacobian
        the neural tangent kernel is built from).

        Strong form interior: sqrt(w_i) * r_e(x_i), a system's residual components (one term) concatenated
        in the problem's order; each penalised condition: sqrt(lam * row_weight_j) * misfit_j (conditions
        sharing a name concatenated). Deep Ritz's energy is not a sum of squares and is left out: its dict
        then holds the condition terms only. The same residuals and misfits ``loss_terms`` squares.
        """
        params = self.as_batch(params)
        if params.shape[0] != 1:
            raise ValueError(f"residual_vectors takes one parameter point ([1, P] or [P]), got {params.shape[0]}")
        return self.residual_terms(lambda ps: self.network_jet(params, ps, functional))

    def residual_terms(self, network: Callable[[PointSet], Jet]) -> dict[str, torch.Tensor]:
        """``residual_vectors`` from the network's jets at the point sets (``network(ps)``, one parameter
        point: K = 1), as ``loss_terms`` takes them: the same residuals, for passes of the caller's own."""

        def sqrt_weights(w: torch.Tensor, what: str) -> torch.Tensor:
            if bool((w < 0).any()):
                raise ValueError(f"{what} has negative weights: the term is not a sum of squares")
            return w.sqrt()

        out: dict[str, torch.Tensor] = {}
        ps = self.interior
        if self.formulation.least_squares:
            u = self.solution(network(ps), ps)
            res = self.formulation.residuals(self.problem, u, ps.cols, ps.f)
            assert res is not None
            assert ps.w is not None
            sw = sqrt_weights(ps.w, "the interior quadrature")
            out = {term: torch.cat([r[0] * sw for r in rs]) for term, rs in res.items()}
        for c, mis in self._misfits(network):
            v = mis[0] * sqrt_weights(c.lam * c.row_weights(), f"condition {c.name!r}")
            out[c.name] = torch.cat([out[c.name], v]) if c.name in out else v
        return out

    def terms(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each loss term [K]; they add up to the loss (penalty terms include lam)."""
        params = self.as_batch(params)
        return self.loss_terms(lambda ps: self.network_jet(params, ps))[0]

    def loss(self, params: torch.Tensor) -> torch.Tensor:
        return total(self.terms(params).values())

    def rel_l2_error(self, params: torch.Tensor) -> torch.Tensor:
        """||u - u*|| / ||u*|| on the problem's evaluation grid (over all unknowns); NaN when no exact
        solution is known."""
        params = self.as_batch(params)
        return self._errors(params, None)["rel_l2_error"]

    def _errors(self, params, u_quad: Jet | None, functional: bool = False) -> dict[str, torch.Tensor]:
        K = params.shape[0]
        if self.u_exact is None:
            return {"rel_l2_error": torch.full((K,), float("nan"), device=self.device, dtype=self.dtype)}
        if self.eval_on_quadrature and u_quad is not None:
            u = u_quad
        else:
            ps = self.eval_set
            u = self.solution(self.network_jet(params, ps, functional), ps)
        w = self.eval_set.w
        assert w is not None
        errs: dict[str, torch.Tensor] = {}
        sq_sum: Any = 0
        norm = 0.0
        names = self.problem.unknowns
        for k, name in enumerate(names):
            diff = u.value(k) - self.u_exact[k]
            sq = (diff * diff * w).sum(1)
            sq_sum = sq_sum + sq
            norm += self.exact_norm2[k]
            if len(names) > 1:
                errs[f"rel_l2_error_{name}"] = torch.sqrt(sq / self.exact_norm2[k])
        return {"rel_l2_error": torch.sqrt(sq_sum / norm), **errs}

    def evaluate(self, params: torch.Tensor, functional: bool = False) -> dict[str, torch.Tensor]:
        """{"loss", "loss_<term>"..., "rel_l2_error"} (and "rel_l2_error_<unknown>" for systems): [K] each."""
        params = self.as_batch(params)
        terms, u = self.loss_terms(lambda ps: self.network_jet(params, ps, functional))
        out = {"loss": total(terms.values())}
        out.update({f"loss_{k}": v for k, v in terms.items()})
        out.update(self._errors(params, u, functional))
        return out

    def quadrature_part(self, sl: slice, with_constraints: bool) -> Objective:
        """The same objective restricted to the interior points ``sl`` (and, if asked, its condition
        terms): the parts of a split loss add up to the whole. For the error norm use the whole."""
        part = copy.copy(self)
        part.interior = self.interior.restrict(sl)
        if not with_constraints:
            part.conditions = []
            part.term_names = list(self.formulation.terms(self.problem))
        return part

    def subsample(self, size: int | float, seed: int = 0, error: str = "subset") -> Objective:
        """The same objective on a random subset of each point set's points (the interior and every
        condition's rows), drawn once with ``seed``: ``size`` an int is at most that many points per set, a
        float in (0, 1] that fraction (see ``subsample_size``). Each kept point's weight is multiplied by
        N / n, so every term (a weighted sum over its points) is an unbiased estimate of the full term under
        uniform sampling without replacement. A periodic condition keeps pairs (low face, high face).

        error: "subset" (default) estimates the error norm's numerator the same way, on the interior's subset
        when the error is measured on the interior, else on a subset of the problem's evaluation grid (the
        denominator ||u*||^2 stays the full one); "full" keeps the error on every evaluation point (on a
        CPU that extra value pass costs about as much as the whole loss saved, see docs/performance.md).
        ``subsample_points`` on the copy is ``{name: [n, N]}`` per loss point set, in order, plus
        ``"rel_l2_error"`` when the error has a subset of its own."""
        if error not in ("subset", "full"):
            raise ValueError(f"error must be 'subset' or 'full', got {error!r}")
        gen = torch.Generator().manual_seed(int(seed))
        part = copy.copy(self)
        info: dict[str, list[int]] = {}

        def draw(name: str, n_all: int) -> tuple[torch.Tensor, float]:
            n = subsample_size(size, n_all)
            idx = torch.sort(torch.randperm(n_all, generator=gen)[:n]).values
            key, k = name, 1
            while key in info:  # two point sets of one name (not made by the built-ins) stay apart
                k += 1
                key = f"{name}#{k}"
            info[key] = [n, n_all]
            return idx.to(self.device), n_all / n

        idx_int, scale = draw(self.interior.name, self.interior.x.shape[0])
        part.interior = self.interior.take(idx_int, scale)
        conds = []
        for cps in self.conditions:
            c = cps.condition
            assert c is not None
            rows = c.weights.shape[0]
            idx, scale = draw(cps.name, rows)
            pts = torch.cat([idx, idx + rows]) if c.kind == "periodic" else idx
            targets = None if c.targets is None else tuple(t[idx] for t in c.targets)
            cut = dataclasses.replace(c, points=c.points[pts], weights=c.weights[idx] * scale, targets=targets)
            sub = cps.take(pts)
            sub.condition = cut
            conds.append(sub)
        part.conditions = conds
        if error == "full":
            part.eval_on_quadrature = False  # the error on the full points, not the subset's values
        elif self.u_exact is not None:
            if self.eval_on_quadrature:
                idx_e = idx_int
                part.eval_set = part.interior
            else:
                idx_e, scale = draw("rel_l2_error", self.eval_set.x.shape[0])
                part.eval_set = self.eval_set.take(idx_e, scale)
            part.u_exact = [u[idx_e] for u in self.u_exact]
        part.subsample_points = info
        return part

    def point_set_sizes(self) -> list[int]:
        """The points of each set ``subsample`` cuts, in its order: the interior, then each condition's rows
        (a periodic condition's pairs)."""
        sizes = [self.interior.x.shape[0]]
        for cps in self.conditions:
            assert cps.condition is not None
            sizes.append(cps.condition.weights.shape[0])
        return sizes

    def bytes_per_point(self) -> int:
        """Rough peak working memory of one parameter point in ``evaluate`` (for chunk sizing)."""
        spec = self.interior.spec
        n_points = self.interior.x.shape[0] * spec.n_channels + (
            0 if self.eval_on_quadrature else self.eval_set.x.shape[0]
        )
        n_points += sum(c.x.shape[0] * c.spec.n_channels for c in self.conditions)
        item = torch.finfo(self.dtype).bits // 8
        m = getattr(self.net, "out_dim", 1)
        tanh = getattr(self.net, "activation", None) == "tanh"
        if (
            tanh
            and m == 1
            and spec.is_classic
            and _native.applies("tanh", self.device, self.dtype, self.problem.dim, spec.order)
        ) or (tanh and _native.jet_applies("tanh", self.device, self.dtype, spec)):
            # the fused kernel keeps its activations in a fixed scratch; a point costs its output jet and
            # the loss assembly's temporaries
            return 24 * n_points * item + 4 * self.n_params * item
        width = getattr(self.net, "width", 64)
        return 8 * n_points * width * item + 4 * self.n_params * item

    def as_batch(self, params) -> torch.Tensor:
        """``params`` as a batch [K, P] on this objective's device and dtype: a [K, P] tensor (or anything
        ``torch.as_tensor`` takes) as it is, one point [P] as [1, P]. Every method taking ``params`` calls it.

        Raises ValueError naming the shape when it is neither [K, P] nor [P] with this network's P."""
        if not isinstance(params, torch.Tensor):
            params = torch.as_tensor(params)
        if params.dim() == 1:
            params = params[None]
        if params.dim() != 2 or params.shape[1] != self.n_params:
            raise ValueError(
                f"params must have shape [K, {self.n_params}] (or [{self.n_params}]), got {tuple(params.shape)}"
            )
        return params.to(device=self.device, dtype=self.dtype)
