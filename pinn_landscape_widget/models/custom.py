"""``from_model``: a run made from the user's own model and loss functions, usable wherever a trained run is.

    def strong(model):                                   # written as PINN losses are written today
        x = points.clone().requires_grad_(True)
        u = model(x)[:, 0]
        ux = torch.autograd.grad(u.sum(), x, create_graph=True)[0][:, 0]
        uxx = torch.autograd.grad(ux.sum(), x, create_graph=True)[0][:, 0]
        return {"residual": ((uxx + f) ** 2).mean(), "boundary": (model(xb) ** 2).mean()}

    run = plw.from_model(model, {"strong": strong, "ritz": ritz}, points=points, exact=u_exact, recorder=rec)
    plw.landscape(run); plw.hessian_eigenpairs(run, 2); plw.LandscapeWidget(run)

Each loss is a function of the model returning a scalar tensor or a dict of named scalar terms (their sum
is the loss); the run's formulations are the dict's keys. A parameter point is evaluated by writing it into
a copy of the model and calling the function (one copy per worker thread); the Hessian tools differentiate
the function twice through ``torch.func.functional_call``. The landscape spans the model's float
parameters, or those ``params`` selects; everything else is held fixed.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
import xarray as xr

from .._checks import renamed_arguments, resolve_device, resolve_dtype
from ..engine._threads import PerThreadState
from ..engine.module_network import ModuleNetwork, as_network, float_parameters
from ..engine.objective import Objective, total
from ..engine.protocols import LossObjective, Run
from ..pde.formulations import get_formulation
from ..pde.library import get_problem
from ..pde.problems import Problem
from ._run import RunBase
from .training import TrainResult

DEFAULT_COORDS = {1: ("x",), 2: ("x", "y"), 3: ("x", "y", "z")}


@dataclass
class ModelProblem:
    """What a model run knows of its problem: coordinate names, a box (for the solution panel), the
    unknowns' names and, if given, the exact solution."""

    name: str
    input_names: tuple[str, ...]
    domain: tuple[tuple[float, float], ...]
    unknowns: tuple[str, ...]
    exact_fn: Callable | None = None
    params: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    has_energy: bool = False
    description: str = "a user's model and loss"

    @property
    def dim(self) -> int:
        return len(self.input_names)

    def exact(self, x: torch.Tensor) -> torch.Tensor | None:
        if self.exact_fn is None:
            return None
        v = torch.as_tensor(self.exact_fn(x))
        return v[:, 0] if v.dim() == 2 and v.shape[1] == 1 and len(self.unknowns) == 1 else v

    def exact_energy(self):
        return None


@dataclass(frozen=True)
class NamedLoss:
    """The "formulation" of a model run: one of the user's named loss functions and its terms."""

    name: str
    term_names: tuple[str, ...]
    # True when every term is given as plw.squares(r): the residuals are known (the NTK of ``diagnose``)
    least_squares: bool = False

    def terms(self, problem=None) -> tuple[str, ...]:
        return self.term_names


class Squares:
    """A loss term given by its residual vector: the term is sum(r ** 2). Made by ``squares``."""

    def __init__(self, r: torch.Tensor):
        self.r = r

    def value(self) -> torch.Tensor:
        return (self.r * self.r).sum()


def squares(r) -> Squares:
    """A ``from_model`` loss term given by its residual vector r [N]: the term is sum(r ** 2), and
    ``diagnose`` can take the term's neural tangent kernel from the Jacobian of r.

    Write a mean of squares as ``plw.squares(res / N ** 0.5)``, a weighted sum as
    ``plw.squares(res * w.sqrt())``.

    Parameters
    ----------
    r : torch.Tensor
        The residuals, any shape (flattened), floating point, computed from the model without detaching.

    Returns
    -------
    Squares
        What the loss function returns in place of the scalar term (alone, or as a value of its dict).

    Raises
    ------
    ValueError
        If r is not a floating-point tensor with at least one entry.
    """
    if not isinstance(r, torch.Tensor) or not r.dtype.is_floating_point or r.numel() == 0:
        what = f"a {r.dtype} tensor of shape {tuple(r.shape)}" if isinstance(r, torch.Tensor) else type(r).__name__
        raise ValueError(f"squares takes a non-empty floating-point tensor of residuals, got {what}")
    return Squares(r.reshape(-1))


def _residuals_of(out) -> dict[str, torch.Tensor]:
    """The residual vectors of the terms the function gave as ``squares(r)``."""
    if isinstance(out, Squares):
        out = {"total": out}
    return {k: v.r for k, v in out.items() if isinstance(v, Squares)} if isinstance(out, dict) else {}


def _terms_of(out, loss_name: str) -> dict[str, torch.Tensor]:
    """The function's output as named scalar terms; a clear error for anything else."""
    if isinstance(out, (torch.Tensor, Squares)):
        out = {"total": out}
    if isinstance(out, dict):
        out = {k: v.value() if isinstance(v, Squares) else v for k, v in out.items()}
    if not isinstance(out, dict) or not out:
        raise ValueError(
            f"loss {loss_name!r} must return a scalar tensor or a non-empty dict of named scalar "
            f"tensors, got {type(out).__name__}"
        )
    for k, v in out.items():
        if not isinstance(k, str) or not k.isidentifier():
            raise ValueError(
                f"loss {loss_name!r} returned a dict with key {k!r}; keys must be strings that are "
                "identifiers (they name the terms)"
            )
        if not isinstance(v, torch.Tensor):
            raise ValueError(f"loss {loss_name!r}: term {k!r} must be a tensor, got {type(v).__name__}")
        if v.numel() != 1:
            raise ValueError(f"loss {loss_name!r}: term {k!r} must be a scalar, got shape {tuple(v.shape)}")
        if not v.dtype.is_floating_point:
            raise ValueError(f"loss {loss_name!r}: term {k!r} must be a float tensor, got {v.dtype}")
    return {k: v.reshape(()) for k, v in out.items()}


class _Bound(torch.nn.Module):
    """The model as a submodule, so functional_call substitutes its parameters while the loss runs."""

    def __init__(self, model, fn):
        super().__init__()
        self.model = model
        self._fn = fn

    def forward(self):
        return self._fn(self.model)


class CustomObjective(PerThreadState):
    """A user's loss as an objective: [K, P] parameter points -> each term, the loss and the error."""

    subsample_points: dict[str, list[int]] | None = None  # set on a ``subsample`` copy

    def __init__(self, run: ModelRun, name: str, device, dtype):
        self.problem = run.problem
        self.net = run.net
        self.fn = run.losses[name]
        self.device = torch.device(device)
        self.dtype = dtype
        terms = run.term_names[name]
        # every term given as plw.squares(r), or a loss object that gives its residuals itself (ResidualLoss):
        # per-point residuals, the rows of the NTK's Jacobian
        self._own_residuals = callable(getattr(self.fn, "residuals", None))
        why: str | None = None
        if self._own_residuals:
            why = self.fn.why_no_residuals
        elif set(run.residual_terms.get(name, ())) != set(terms):
            why = (
                f"loss {name!r} is a user's function (from_model) returning one "
                "scalar per term, so there are no per-point residuals: give every term as plw.squares(r)"
            )
        squared = why is None
        self.why_no_residual_vectors = why
        self.formulation = NamedLoss(name, terms, least_squares=squared)
        self.term_names = list(self.formulation.term_names)
        self.points, self.exact_values = run._eval_data(self.device, dtype)
        self.point_sets: list = []
        self.differentiates_inputs = True  # the user's function calls torch.autograd: no forward-mode transforms
        self.has_residual_vectors = squared  # else the function returns one scalar per term (why: above)
        # a loss that evaluates many parameter points in one pass (see ``BatchedLoss``)
        self.batched = self.fn if callable(getattr(self.fn, "batched_terms", None)) else None
        # each thread evaluates with its own copy of the model; a batched loss says for itself
        self.thread_safe = bool(getattr(self.batched, "thread_safe", True))
        # a per-point Python loss holds the GIL: its grids may go to forked worker processes (engine/_processes)
        self.process_safe = self.batched is None or bool(getattr(self.batched, "process_safe", False))
        self._local = threading.local()
        self._selected = set(self.net.names)

    @property
    def n_params(self) -> int:
        return self.net.n_params

    def _model(self) -> torch.nn.Module:
        m = getattr(self._local, "model", None)
        if m is None:
            m = self._local.model = copy.deepcopy(self.net.template).to(device=self.device, dtype=self.dtype)
            self._local.params = [p for n, p in m.named_parameters() if n in self._selected]
        return m

    def _write(self, theta: torch.Tensor) -> torch.nn.Module:
        m = self._model()
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(theta, self._local.params)
        return m

    def terms(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each term [K], differentiable with respect to params (for training-style use and Hessians)."""
        params = self.as_batch(params)
        rows = []
        for k in range(params.shape[0]):
            bound = _Bound(self._model(), self.fn)
            values = {f"model.{n}": t for n, t in self.net.unflatten(params[k]).items()}
            with torch.enable_grad():
                out = torch.func.functional_call(bound, values, ())
            rows.append(_terms_of(out, self.formulation.name))
        return {t: torch.stack([r[t] for r in rows]) for t in self.term_names}

    def loss(self, params: torch.Tensor) -> torch.Tensor:
        return total(self.terms(params).values())

    def evaluate(self, params: torch.Tensor, functional: bool = False) -> dict[str, torch.Tensor]:
        """{"loss", "loss_<term>"..., "rel_l2_error"} as [K] tensors: all K in one pass for a batched loss,
        else one parameter point at a time."""
        params = self.as_batch(params)
        if self.batched is not None:
            return self._evaluate_batched(params)
        K = params.shape[0]
        out = {
            name: torch.empty(K, dtype=self.dtype, device=self.device)
            for name in ["loss"] + [f"loss_{t}" for t in self.term_names] + ["rel_l2_error"]
        }
        for k in range(K):
            model = self._write(params[k].detach())
            with torch.enable_grad():  # the user's loss takes derivatives with respect to its inputs
                terms = _terms_of(self.fn(model), self.formulation.name)
            for t in self.term_names:
                out[f"loss_{t}"][k] = terms[t].detach()
            out["loss"][k] = total(terms[t].detach() for t in self.term_names)
            out["rel_l2_error"][k] = self._error(model)
        return out

    def _evaluate_batched(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        assert self.batched is not None
        with torch.no_grad():
            terms = self.batched.batched_terms(params)
            out = {"loss": total(terms[t] for t in self.term_names)}
            out.update({f"loss_{t}": terms[t] for t in self.term_names})
            values = getattr(self.batched, "batched_values", None)
            if self.exact_values is None:
                out["rel_l2_error"] = torch.full_like(out["loss"], math.nan)
            elif callable(values):
                u = values(params, self.points).reshape(params.shape[0], *self.exact_values.shape)
                diff = (u - self.exact_values).reshape(params.shape[0], -1)
                out["rel_l2_error"] = torch.linalg.norm(diff, dim=1) / torch.linalg.norm(self.exact_values)
            else:
                out["rel_l2_error"] = self.rel_l2_error(params)
        return out

    def _error(self, model) -> float:
        if self.exact_values is None:
            return math.nan
        with torch.no_grad():
            u = model(self.points)
        u = u.reshape(self.exact_values.shape)
        return float(torch.linalg.norm(u - self.exact_values) / torch.linalg.norm(self.exact_values))

    def rel_l2_error(self, params: torch.Tensor) -> torch.Tensor:
        params = self.as_batch(params)
        return torch.tensor([self._error(self._write(p.detach())) for p in params], dtype=self.dtype)

    def residual_vectors(self, params: torch.Tensor, functional: bool = False) -> dict[str, torch.Tensor]:
        """Each term's residual vector r [N_t] at ONE parameter point (the term is sum(r ** 2)),
        differentiable in params: available when the function gives every term as ``plw.squares(r)``, or is a
        ``ResidualLoss`` that can give them (the DeepXDE and PINA adapters' losses with the mean squared error). The
        function runs under ``torch.func.functional_call`` with params in the model's place, so the vectors
        are differentiable whatever ``functional`` says (the argument is the protocol's)."""
        if not self.has_residual_vectors:
            raise ValueError(
                f"residual_vectors needs a loss made of per-point residuals (has_residual_vectors is False): "
                f"{self.why_no_residual_vectors}"
            )
        params = self.as_batch(params)
        if params.shape[0] != 1:
            raise ValueError(f"residual_vectors takes one parameter point ([1, P] or [P]), got {params.shape[0]}")
        bound = _Bound(self._model(), self.fn.residuals if self._own_residuals else self.fn)
        values = {f"model.{n}": t for n, t in self.net.unflatten(params[0]).items()}
        with torch.enable_grad():
            out = torch.func.functional_call(bound, values, ())
        res = out if self._own_residuals else _residuals_of(out)
        return {t: res[t] for t in self.term_names}

    def point_set_sizes(self) -> list[int]:
        """The point sets ``subsample`` cuts, for a loss that can cut its own (``fn.point_set_sizes``: the
        traced DeepXDE loss); a ValueError for a user's function, which holds its points itself."""
        sizes = getattr(self.fn, "point_set_sizes", None)
        if not callable(sizes) or not callable(getattr(self.fn, "subsample", None)):
            raise ValueError(
                f"loss {self.formulation.name!r} is a user's loss function, opaque to us: its points cannot be cut"
            )
        return list(sizes())

    def subsample(self, size: int | float, seed: int = 0, error: str = "subset") -> CustomObjective:
        """The same objective with a loss that cuts its own points (``fn.subsample(size, seed)``: the traced
        DeepXDE loss, DeepXDE's loss code on a subset of each point set's rows); ``subsample_points`` as the
        package's objectives. The error stays on the run's evaluation points whatever ``error`` says. A user's
        function holds its points itself: a ValueError."""
        try:
            self.point_set_sizes()
        except ValueError as exc:
            raise ValueError(
                f"subsample={size!r} needs one of the package's own objectives (point sets with weights) or a "
                f"loss that cuts its own points: {exc}"
            ) from None
        if error not in ("subset", "full"):
            raise ValueError(f"error must be 'subset' or 'full', got {error!r}")
        part = copy.copy(self)
        part.fn = self.fn.subsample(size, seed)
        part.batched = part.fn
        part.has_residual_vectors = False
        part.why_no_residual_vectors = "a subsampled loss (a preview): take residuals from the run's own loss"
        part._local = threading.local()
        part.subsample_points = dict(part.fn.subsample_points)
        return part

    def bytes_per_point(self) -> int:
        sized = getattr(self.batched, "bytes_per_point", None)
        if callable(sized):  # a batched loss says what a parameter point of its chunk holds
            return max(1, int(sized(self.dtype, self.device)))
        # a point is one call of the user's function: small chunks keep progress reports and cancellation
        # responsive without costing anything
        return 4 * 2**20

    def as_batch(self, params) -> torch.Tensor:
        """``params`` as a batch [K, P] on this objective's device and dtype ([P] becomes [1, P]).

        Raises ValueError naming the shape when it is neither [K, P] nor [P] with this model's P."""
        if not isinstance(params, torch.Tensor):
            params = torch.as_tensor(params)
        if params.dim() == 1:
            params = params[None]
        if params.dim() != 2 or params.shape[1] != self.n_params:
            raise ValueError(
                f"params must have shape [K, {self.n_params}] (or [{self.n_params}]), got {tuple(params.shape)}"
            )
        return params.to(device=self.device, dtype=self.dtype)


class BatchedLoss(Protocol):
    """A loss function that can also evaluate K parameter points in one pass (what the adapters' traced
    losses provide). ``fn(model)`` stays the definition; ``batched_terms`` must give the same terms.
    Optionally ``batched_values(params [K, P], x [N, d]) -> [K, N, m]``: the network's outputs, for the error;
    and ``bytes_per_point(dtype, device) -> int``: the memory one parameter point of a chunk takes (sizes the
    chunks)."""

    thread_safe: bool  # whether grid chunks may call batched_terms from several threads at once

    def __call__(self, model: torch.nn.Module) -> dict[str, torch.Tensor]: ...

    def batched_terms(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        """{term: [K]} for params [K, P] (the run's layout, device and dtype), without an autograd graph."""
        ...


class ResidualLoss(Protocol):
    """A loss function that can also give each of its terms as a residual vector (the DeepXDE and PINA
    adapters' losses), so that ``diagnose`` takes the terms' neural tangent kernels. ``fn(model)`` stays the
    definition.
    ``residuals(model) -> {term: r}``: each term's r [N_t], with sum(r ** 2) the term ``fn(model)`` gives,
    computed from the model without detaching; ``why_no_residuals``: why it cannot (a sentence), None when
    it can (read when the run's objective is made)."""

    @property
    def why_no_residuals(self) -> str | None: ...

    def __call__(self, model: torch.nn.Module, /) -> dict[str, torch.Tensor]: ...

    def residuals(self, model: torch.nn.Module, /) -> dict[str, torch.Tensor]: ...


@dataclass
class ModelRun(RunBase[CustomObjective]):
    """A run made from a user's model and losses (``from_model``): the same interface as a trained run.

    Besides ``TrainResult``'s fields (``problem`` is a ``ModelProblem``, ``net`` the engine's wrapper of the
    model, ``seed`` -1 and ``optimizer`` "user"): ``losses``, the user's loss functions by name (the run's
    formulations); ``term_names``, each loss's terms; ``points``, the points [N, d] of the error and the
    solution panel (float64, or None).
    """

    problem: ModelProblem
    net: ModuleNetwork
    losses: dict = field(kw_only=True)
    term_names: dict = field(kw_only=True)
    residual_terms: dict = field(default_factory=dict, kw_only=True)  # per loss, the terms given as squares(r)
    points: torch.Tensor | None = field(default=None, kw_only=True)
    _f64: list | None = field(default=None, repr=False, kw_only=True)

    @property
    def formulations(self) -> list[str]:
        """The names of the run's losses."""
        return list(self.losses)

    def _loss_name(self, formulation: str | None) -> str:
        name = formulation or self.formulation
        if name not in self.losses:
            raise ValueError(f"formulation must be one of this run's losses {list(self.losses)}, got {name!r}")
        return name

    def _new_objective(self, name: str, device: torch.device, dtype: torch.dtype) -> CustomObjective:
        return CustomObjective(self, name, device, dtype)

    def _module_at(self, params: torch.Tensor) -> torch.nn.Module:
        return self.net.module(params.to(self.dtype))

    def float64_blockers(self) -> list[str]:
        """Why this run's losses cannot be evaluated in float64 (empty when they can): float32 tensors a
        loss captured from its scope, or the error a float64 evaluation raised. Checked once."""
        if self._f64 is None:
            self._f64 = []
            for lname, fn in self.losses.items():
                self._f64 += [f"loss {lname!r} {why}" for why in _float64_blockers(fn, self.net)]
        return list(self._f64)

    def _eval_data(self, device, dtype):
        if self.points is None or self.problem.exact_fn is None:
            return None, None
        pts = self.points.to(device=device, dtype=dtype)
        ex = torch.as_tensor(self.problem.exact_fn(self.points.double())).to(device=device, dtype=dtype)
        return pts, ex

    def __repr__(self) -> str:
        last = self.history.isel(step=-1)
        return (
            f"ModelRun(losses={list(self.losses)}, net={self.net.description}, n_params={self.n_params}, "
            f"checkpoints={self.trajectory.shape[0]}, loss={float(last.loss):.4g})"
        )


def _captured_tensors(fn, depth: int = 0) -> dict[str, torch.Tensor]:
    """Tensors a loss function reads from outside its arguments: closure cells, the module globals its code
    names (nested functions and comprehensions included), and for a callable object or bound method its
    attributes (one level of lists, tuples and dicts)."""
    found: dict[str, torch.Tensor] = {}

    def add(name, v):
        if isinstance(v, torch.Tensor):
            found.setdefault(name, v)
        elif isinstance(v, (list, tuple)):
            for i, item in enumerate(v[:64]):
                if isinstance(item, torch.Tensor):
                    found.setdefault(f"{name}[{i}]", item)
        elif isinstance(v, dict):
            for k, item in list(v.items())[:64]:
                if isinstance(item, torch.Tensor):
                    found.setdefault(f"{name}[{k!r}]", item)

    func = getattr(fn, "__func__", fn)  # a bound method: its function, and its object's attributes below
    code = getattr(func, "__code__", None)
    if code is not None:
        for name, cell in zip(code.co_freevars, getattr(func, "__closure__", None) or ()):
            try:
                add(name, cell.cell_contents)
            except ValueError:  # an empty cell
                pass
        glob = getattr(func, "__globals__", {})
        stack = [code]
        while stack:
            c = stack.pop()
            for name in c.co_names:
                if name in glob:
                    add(name, glob[name])
            stack += [k for k in c.co_consts if hasattr(k, "co_names")]
    owner = getattr(fn, "__self__", None) if code is not None else fn
    if owner is not None and not isinstance(owner, torch.nn.Module) and depth == 0:
        for name, v in getattr(owner, "__dict__", {}).items():
            add(f"self.{name}" if owner is not fn else name, v)
    return found


def _float64_blockers(fn, net: ModuleNetwork) -> list[str]:
    """Why ``fn`` cannot be evaluated in float64 (see ``ModelRun.float64_blockers``). A loss object that
    declares ``follows_model_dtype = True`` (the adapters' losses) is only probed, not scanned."""
    captured = {} if getattr(fn, "follows_model_dtype", False) else _captured_tensors(fn)
    low = {n: t for n, t in captured.items() if t.dtype.is_floating_point and t.dtype != torch.float64}
    if low:
        names = ", ".join(f"{n} ({str(t.dtype).replace('torch.', '')})" for n, t in sorted(low.items()))
        return [f"captures {names}"]
    try:
        with torch.enable_grad():
            terms = _terms_of(fn(net.module(net.flatten().to(torch.float64))), "loss")
    except RuntimeError as exc:
        return [f"raised {type(exc).__name__} in float64 ({str(exc)[:160]})"]
    wrong = [k for k, v in terms.items() if v.dtype != torch.float64]
    return [f"returned {', '.join(wrong)} in {terms[wrong[0]].dtype} with a float64 model"] if wrong else []


def _domain(points, domain, coords, model) -> tuple[tuple[str, ...], tuple[tuple[float, float], ...]]:
    if domain is not None:
        if not isinstance(domain, dict) or not domain:
            raise ValueError(f"domain must be a dict coordinate -> (lo, hi), got {domain!r}")
        names = tuple(domain)
        box = []
        for n in names:
            lo, hi = domain[n]
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"domain[{n!r}] must be (lo, hi) with finite lo < hi, got {domain[n]!r}")
            box.append((float(lo), float(hi)))
        return names, tuple(box)
    if points is not None:
        d = points.shape[1]
        names = tuple(coords) if coords is not None else DEFAULT_COORDS.get(d, tuple(f"x{i}" for i in range(d)))
        if len(names) != d:
            raise ValueError(f"coords must name the {d} columns of points, got {list(names)}")
        lo, hi = points.min(0).values.tolist(), points.max(0).values.tolist()
        return names, tuple((a, b if b > a else a + 1.0) for a, b in zip(lo, hi))
    first = next((m for m in model.modules() if isinstance(m, torch.nn.Linear)), None)
    d = first.in_features if first is not None else 1
    names = tuple(coords) if coords is not None else DEFAULT_COORDS.get(d, tuple(f"x{i}" for i in range(d)))
    return names, tuple((0.0, 1.0) for _ in names)


@renamed_arguments(params="trainable")
def from_model(
    model: torch.nn.Module,
    losses,
    *,
    points=None,
    exact: Callable | None = None,
    domain: dict | None = None,
    coords=None,
    unknowns=None,
    trainable=None,
    recorder=None,
    name: str = "model",
    formulation: str | None = None,
    device=None,
    dtype=None,
) -> ModelRun | TrainResult:
    """A run from your own model and loss function(s), usable everywhere a trained run is.

    The model's current parameters are the run's theta*. A parameter point is evaluated by writing it into a
    copy of the model (one per worker thread) and calling the loss function; the Hessian tools differentiate
    it twice through ``torch.func.functional_call``. With a problem instead of loss functions, the problem's
    own loss is evaluated on the engine (a plain ``nn.Sequential`` of Linear layers and tanh/sin/GELU/SiLU runs
    fused, like ``train(problem, model=model)``), with the problem's hard ansatz, if any, applied to the
    model's output.

    Parameters
    ----------
    model : torch.nn.Module
        The trained network; its float parameters (those ``trainable`` selects) span the landscape.
    losses : callable, dict, Problem or str
        A function ``fn(model) -> Tensor | dict[str, Tensor]`` (a scalar loss, or named scalar terms that add
        up to it; a term may be ``plw.squares(r)``, sum(r ** 2) from its residuals r, and when every term is,
        ``diagnose`` takes the loss's neural tangent kernel), or a dict of named such functions (the run's formulations, the first its own); or a
        problem: a ``Problem`` (``plw.define_problem`` / ``plw.get_problem``) or a built-in's name (the
        problem has its own points, solution, domain and name, and every float parameter spans the landscape,
        so passing ``points``, ``exact``, ``domain``, ``coords``, ``unknowns``, ``trainable`` or ``name`` with
        it is a ValueError).
    points : torch.Tensor, array-like or None
        Points [N, d] (or [N] in 1-D) where ``rel_l2_error`` and the solution panel compare the model with
        ``exact``; default None (no error).
    exact : callable or None
        The exact solution as a function of points [N, d] (returning [N] or [N, m]); default None.
    domain : dict or None
        Coordinate name -> (lo, hi), the box of the solution panel; default None: the box of ``points``
        (or [0, 1] per input).
    coords : sequence of str or None
        Names of the input coordinates; default None: x, y, z (x0, x1, ... beyond three).
    unknowns : str, sequence of str or None
        Names of the outputs; default None: "u" (u0, u1, ... for several).
    trainable : sequence of str, callable or None
        Which of the model's parameters span the landscape: names (``model.named_parameters()``), or a
        function ``(name, parameter) -> bool``; default None, every float parameter. The others, and the
        buffers, are held at their current values (with a warning). Renamed from ``params``.
    recorder : Recorder or None
        The ``plw.Recorder`` of the loop that trained the model, for the trajectory and loss history (PCA
        directions, the trajectory overlay); default None: the run has only theta*.
    name : str
        A label for the run's problem; default "model".
    formulation : str or None
        With a problem: its loss, one it supports ("strong", "deep_ritz"); default None, "strong". With loss
        functions it must be None (name them in a dict instead).
    device : str, torch.device or None
        Where the copies of the model are evaluated: "cpu", "cuda", "cuda:N" or "auto"; default None, the
        model's device. Tensors the loss functions hold must be there.
    dtype : torch.dtype, str or None
        torch.float32 or torch.float64 (or "float32" / "float64"); default None, the model's (float32 for
        another float dtype).

    Returns
    -------
    ModelRun or TrainResult
        A ``ModelRun`` for loss functions, a ``TrainResult`` for a problem; both have the run interface
        (``objective``, ``params``, ``trajectory``, ``history``, ``model_at``, ...).

    Raises
    ------
    ValueError
        When ``model`` is not a module, a problem comes with arguments only loss functions use, a loss does
        not return scalar tensors, does not depend on the model's
        parameters or reads another model, ``trainable`` selects nothing, the loss holds tensors on another
        device, or ``recorder`` belongs to another model or selection.

    Warns
    -----
    FutureWarning
        When called with ``params=`` (now ``trainable=``).
    UserWarning
        When buffers or unselected parameters are held fixed.
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(losses, (Problem, str)):
        unused = dict(points=points, exact=exact, domain=domain, coords=coords, unknowns=unknowns, trainable=trainable)
        given = [k for k, v in unused.items() if v is not None] + (["name"] if name != "model" else [])
        if given:
            what = losses.name if isinstance(losses, Problem) else losses
            raise ValueError(
                f"from_model(model, {what!r}) takes the problem's own points, solution, domain and name, and every "
                f"float parameter spans the landscape; {', '.join(f'{k}=' for k in given)} would be ignored. "
                f"Leave them out, or pass loss functions instead of a problem to use them"
            )
        return _problem_run(model, losses, formulation, recorder=recorder, dtype=dtype, device=device)
    if formulation is not None:
        raise ValueError(
            f"formulation={formulation!r} applies to a problem's loss (from_model(model, problem, formulation=...)); "
            "with loss functions, name them in a dict instead"
        )
    if callable(losses) and not isinstance(losses, dict):
        losses = {"loss": losses}
    if not isinstance(losses, dict) or not losses:
        raise ValueError(
            "losses must be a function fn(model) -> Tensor | dict of Tensors, or a non-empty dict of "
            f"named such functions, got {type(losses).__name__}"
        )
    for k, fn in losses.items():
        if not isinstance(k, str) or not k:
            raise ValueError(f"losses must be named by non-empty strings, got {k!r}")
        if not callable(fn):
            raise ValueError(f"losses[{k!r}] must be a function of the model, got {type(fn).__name__}")
    pairs = float_parameters(model, trainable)
    if not pairs:
        raise ValueError(
            "the model has no float parameters"
            if trainable is None
            else "trainable selects no parameters of the model; nothing would span the landscape"
        )
    dt = resolve_dtype(dtype) if dtype is not None else pairs[0][1].dtype
    if dt not in (torch.float32, torch.float64):
        dt = torch.float32
    dev = pairs[0][1].device if device is None else resolve_device(device)
    for lname, fn in losses.items():  # the copies of the model go to `device`; what the loss holds must be there
        away = {n: t.device for n, t in _captured_tensors(fn).items() if t.device != dev}
        if away:
            where = ", ".join(f"{n} on {d}" for n, d in sorted(away.items(), key=lambda kv: kv[0]))
            raise ValueError(
                f"device={str(dev)!r}, but loss {lname!r} holds tensors elsewhere ({where}): the model is evaluated "
                f"on {dev}, so move them there (.to({str(dev)!r})) or pass the device they are on"
            )
    if points is not None:
        points = torch.as_tensor(points).detach().to("cpu", torch.float64)
        if points.dim() == 1:
            points = points[:, None]
    names, box = _domain(points, domain, coords, model)
    if recorder is not None:
        if recorder.model is not model:
            raise ValueError("recorder was made for a different model: pass the Recorder of this model's training loop")
        if recorder.selected is not trainable and [n for n, _ in float_parameters(model, recorder.selected)] != [
            n for n, _ in pairs
        ]:
            raise ValueError("recorder records other parameters than trainable selects; give both the same selection")

    # the warning points at from_model's caller, past the renamed_arguments wrapper
    net = ModuleNetwork(model, len(names), 1, dtype=dt, selected=trainable, quiet=False, stacklevel=4)
    theta = net.flatten().to(dt)
    # the terms of each loss, and a grad path to the parameters (else a landscape would be flat)
    term_names, residual_terms = {}, {}
    for lname, fn in losses.items():
        with torch.enable_grad():
            out = fn(model)
            residual_terms[lname] = tuple(_residuals_of(out))
            terms = _terms_of(out, lname)
            whole = total(terms.values())
            grads = (
                torch.autograd.grad(whole, [p for _, p in pairs], allow_unused=True) if whole.requires_grad else [None]
            )
        if all(g is None for g in grads):
            raise ValueError(
                f"loss {lname!r} has no gradient path to the model's parameters: compute it from "
                "model(...) without detaching, under torch.enable_grad()"
            )
        term_names[lname] = tuple(terms)
        _check_reads_its_argument(fn, lname, net, theta)
    out_dim = 1
    if points is not None:
        with torch.no_grad():
            u = net.template(points[: min(4, points.shape[0])].to(dt))
        out_dim = 1 if u.dim() == 1 else u.shape[1]
    net.out_dim = out_dim
    if unknowns is None:
        unknowns = ("u",) if out_dim == 1 else tuple(f"u{i}" for i in range(out_dim))
    unknowns = (unknowns,) if isinstance(unknowns, str) else tuple(unknowns)
    problem = ModelProblem(name, names, box, unknowns, exact)

    if recorder is not None:
        traj, steps = recorder.finish()
        traj = traj.to(dt)
        history = recorder.history()
        if "loss" not in history:
            history = _one_row(losses, model, next(iter(losses)))
        elif history.sizes["step"] < steps[-1] + 1:  # a last row for the final parameters, as train() has
            last = _one_row(losses, model, next(iter(losses)))
            last = last[[v for v in last.data_vars if v in history]].assign_coords(step=[history.sizes["step"]])
            history = xr.concat([history, last], dim="step")
    else:
        traj, steps = theta[None].clone(), [0]
        history = _one_row(losses, model, next(iter(losses)))
    run = ModelRun(
        problem,
        next(iter(losses)),
        net,
        theta,
        traj,
        steps,
        history,
        seed=-1,
        optimizer="user",
        device=dev,
        dtype=dt,
        losses=dict(losses),
        term_names=term_names,
        residual_terms=residual_terms,
        points=points,
    )
    if "rel_l2_error" not in run.history:
        errs = np.full(run.history.sizes["step"], np.nan)
        if points is not None and exact is not None:
            errs[-1] = float(run.objective().rel_l2_error(theta)[0])
        run.history["rel_l2_error"] = ("step", errs)
    return run


def _check_reads_its_argument(fn, name: str, net: ModuleNetwork, theta: torch.Tensor) -> None:
    """A ValueError when the loss does not change with the parameters of the model it is given: it reads
    another model (a global, say), and every landscape of it would be flat."""
    gen = torch.Generator().manual_seed(0)
    moved = theta + 0.1 * (theta.abs() + 0.1) * torch.randn(theta.shape, generator=gen, dtype=theta.dtype)
    with torch.enable_grad():
        at = {k: v.detach() for k, v in _terms_of(fn(net.module(theta)), name).items()}
        away = {k: v.detach() for k, v in _terms_of(fn(net.module(moved)), name).items()}
    if all(torch.equal(at[k], away[k]) for k in at):
        raise ValueError(
            f"loss {name!r} gives the same value for a copy of the model with other parameters: it does not read "
            "the model it is given (does it call a global model?). Write it as a function of its argument, "
            "def loss(model): u = model(x); ..., so every parameter point of a landscape is evaluated"
        )


def _problem_run(model, problem, formulation, *, recorder, dtype, device) -> TrainResult:
    """``from_model(model, problem)``: the model trained by the user, the loss a problem's own."""
    prob = get_problem(problem)
    form = get_formulation(formulation or "strong", prob).name
    first = next((p for p in model.parameters() if p.dtype.is_floating_point), None)
    dt = resolve_dtype(dtype) if dtype is not None else (first.dtype if first is not None else torch.float32)
    if device is None:
        dev = first.device if first is not None else torch.device("cpu")
    else:
        dev = resolve_device(device)
    net, theta = as_network(model, prob.dim, len(prob.unknowns), dtype=dt)
    if recorder is not None:
        if recorder.model is not model:
            raise ValueError("recorder was made for a different model: pass the Recorder of this model's training loop")
        traj, steps = recorder.finish()
        traj = traj.to(dt)
    else:
        traj, steps = theta[None].clone(), [0]
    obj = Objective(prob, net, form, dev, dt)
    with torch.no_grad():
        final = {k: float(v[0]) for k, v in obj.evaluate(theta[None]).items()}
    recorded = recorder.history() if recorder is not None else None
    n_rows = max(steps[-1], 0) + 1
    names = ["loss", *(f"loss_{t}" for t in obj.term_names), "rel_l2_error"]
    data = {}
    for key in names:
        col = np.full(n_rows, np.nan)
        if recorded is not None and key in recorded:
            vals = recorded[key].values[: n_rows - 1]
            col[: vals.shape[0]] = vals
        col[-1] = final.get(key, np.nan)
        data[key] = ("step", col)
    history = xr.Dataset(data, coords={"step": np.arange(n_rows)})
    history.attrs.update(problem=prob.name, formulation=form, optimizer="user", network=net.description)
    run = TrainResult(prob, form, net, theta.to(dev), traj, steps, history, -1, "user", dev, dt)
    run._objectives[(form, str(dev), dt)] = obj
    return run


def _one_row(losses, model, first) -> xr.Dataset:
    with torch.enable_grad():
        terms = _terms_of(losses[first](model), first)
    data = {"loss": ("step", np.array([float(sum(t.detach() for t in terms.values()))]))}
    data.update({f"loss_{k}": ("step", np.array([float(v.detach())])) for k, v in terms.items()})
    return xr.Dataset(data, coords={"step": np.arange(1)})


if TYPE_CHECKING:  # mypy checks here that a ModelRun is a Run and a CustomObjective a LossObjective

    def _model_run_is_a_run(run: ModelRun) -> Run:
        return run

    def _custom_objective_is_a_loss_objective(objective: CustomObjective) -> LossObjective:
        return objective
