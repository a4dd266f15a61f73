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
from typing import Protocol

import numpy as np
import torch
import xarray as xr

from .._checks import resolve_device, resolve_dtype
from ..engine.module_network import ModuleNetwork, float_parameters
from ..engine.objective import total

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

    def terms(self, problem=None) -> tuple[str, ...]:
        return self.term_names


def _terms_of(out, loss_name: str) -> dict[str, torch.Tensor]:
    """The function's output as named scalar terms; a clear error for anything else."""
    if isinstance(out, torch.Tensor):
        out = {"total": out}
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


class CustomObjective:
    """A user's loss as an objective: [K, P] parameter points -> each term, the loss and the error."""

    def __init__(self, run: ModelRun, name: str, device, dtype):
        self.problem = run.problem
        self.net = run.net
        self.fn = run.losses[name]
        self.device = torch.device(device)
        self.dtype = dtype
        self.formulation = NamedLoss(name, run.term_names[name])
        self.term_names = list(self.formulation.term_names)
        self.points, self.exact_values = run._eval_data(self.device, dtype)
        self.point_sets: list = []
        # a loss that evaluates many parameter points in one pass (see ``BatchedLoss``)
        self.batched = self.fn if callable(getattr(self.fn, "batched_terms", None)) else None
        # each thread evaluates with its own copy of the model; a batched loss says for itself
        self.thread_safe = bool(getattr(self.batched, "thread_safe", True))
        self._local = threading.local()
        self._selected = set(self.net.names)

    @property
    def n_params(self) -> int:
        return self.net.n_params

    def __getstate__(self):  # for dask workers: each process makes its own per-thread model copies
        state = dict(self.__dict__)
        state.pop("_local")
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._local = threading.local()

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
        params = self._check(params)
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
        params = self._check(params)
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
        params = self._check(params)
        return torch.tensor([self._error(self._write(p.detach())) for p in params], dtype=self.dtype)

    def bytes_per_point(self) -> int:
        sized = getattr(self.batched, "bytes_per_point", None)
        if callable(sized):  # a batched loss knows its working memory
            return max(1, int(sized()))
        # a point is one call of the user's function: small chunks keep progress reports and cancellation
        # responsive without costing anything
        return 4 * 2**20

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


class BatchedLoss(Protocol):
    """A loss function that can also evaluate K parameter points in one pass (what the adapters' traced
    losses provide). ``fn(model)`` stays the definition; ``batched_terms`` must give the same terms.
    Optionally ``batched_values(params [K, P], x [N, d]) -> [K, N, m]``: the network's outputs, for the error,
    and ``bytes_per_point() -> int``: the working memory of one parameter point, which sizes grid chunks."""

    thread_safe: bool  # whether grid chunks may call batched_terms from several threads at once

    def __call__(self, model: torch.nn.Module) -> dict[str, torch.Tensor]: ...

    def batched_terms(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        """{term: [K]} for params [K, P] (the run's layout, device and dtype), without an autograd graph."""
        ...


@dataclass
class ModelRun:
    """A run made from a user's model and losses (``from_model``): the same interface as a trained run."""

    problem: ModelProblem
    formulation: str
    net: ModuleNetwork
    params: torch.Tensor
    trajectory: torch.Tensor
    trajectory_steps: list[int]
    history: xr.Dataset
    losses: dict
    term_names: dict
    device: torch.device
    dtype: torch.dtype
    points: torch.Tensor | None = None
    seed: int = -1
    optimizer: str = "user"
    diverged: bool = False
    message: str = ""
    attrs: dict = field(default_factory=dict)  # how the run is evaluated, e.g. "evaluation": "traced" or "per point"
    _objectives: dict = field(default_factory=dict, repr=False)

    @property
    def n_params(self) -> int:
        return self.net.n_params

    @property
    def formulations(self) -> list[str]:
        return list(self.losses)

    @property
    def init_params(self) -> torch.Tensor:
        return self.trajectory[0]

    def objective(self, formulation=None, device=None, dtype=None) -> CustomObjective:
        name = formulation or self.formulation
        if name not in self.losses:
            raise ValueError(f"formulation must be one of this run's losses {list(self.losses)}, got {name!r}")
        dev = self.device if device is None else resolve_device(device)
        dt = self.dtype if dtype is None else resolve_dtype(dtype)
        key = (name, str(dev), dt)
        if key not in self._objectives:
            self._objectives[key] = CustomObjective(self, name, dev, dt)
        return self._objectives[key]

    def model_at(self, params: torch.Tensor) -> torch.nn.Module:
        """A copy of the model holding these parameters."""
        params = torch.as_tensor(params)
        if params.shape != (self.n_params,):
            raise ValueError(f"params must have shape [{self.n_params}], got {tuple(params.shape)}")
        return self.net.module(params.to(self.dtype))

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


def from_model(
    model: torch.nn.Module,
    losses,
    *,
    points=None,
    exact: Callable | None = None,
    domain: dict | None = None,
    coords=None,
    unknowns=None,
    params=None,
    dtype=None,
    recorder=None,
    name: str = "model",
    device="cpu",
) -> ModelRun:
    """A run from your own model and loss function(s), usable everywhere a trained run is.

    model: any torch.nn.Module (its current parameters are the run's theta*). losses: a function
    ``fn(model) -> Tensor | dict[str, Tensor]`` or a dict of named ones (the run's formulations). points and
    exact: points [N, d] and the exact solution there (a function of the points) for ``rel_l2_error`` and the
    solution panel; domain (coordinate -> (lo, hi)) or coords name the inputs. params: which parameters span
    the landscape (names, or a function (name, parameter) -> bool). dtype: default the model's.
    recorder: a ``Recorder`` of the loop that trained the model (trajectory and history: PCA directions and
    the trajectory overlay).
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
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
    pairs = float_parameters(model, params)
    if not pairs:
        raise ValueError(
            "the model has no float parameters"
            if params is None
            else "params selects no parameters of the model; nothing would span the landscape"
        )
    dt = resolve_dtype(dtype) if dtype is not None else pairs[0][1].dtype
    if dt not in (torch.float32, torch.float64):
        dt = torch.float32
    dev = resolve_device(device)
    if points is not None:
        points = torch.as_tensor(points).detach().to("cpu", torch.float64)
        if points.dim() == 1:
            points = points[:, None]
    names, box = _domain(points, domain, coords, model)
    if recorder is not None:
        if recorder.model is not model:
            raise ValueError("recorder was made for a different model: pass the Recorder of this model's training loop")
        if recorder.selected is not params and [n for n, _ in float_parameters(model, recorder.selected)] != [
            n for n, _ in pairs
        ]:
            raise ValueError("recorder records other parameters than params selects; give both the same selection")

    net = ModuleNetwork(model, len(names), 1, dtype=dt, selected=params, quiet=False)
    theta = net.flatten().to(dt)
    # the terms of each loss, and a grad path to the parameters (else a landscape would be flat)
    term_names = {}
    for lname, fn in losses.items():
        with torch.enable_grad():
            terms = _terms_of(fn(model), lname)
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
        problem, next(iter(losses)), net, theta, traj, steps, history, dict(losses), term_names, dev, dt, points
    )
    if "rel_l2_error" not in run.history:
        errs = np.full(run.history.sizes["step"], np.nan)
        if points is not None and exact is not None:
            errs[-1] = float(run.objective().rel_l2_error(theta)[0])
        run.history["rel_l2_error"] = ("step", errs)
    return run


def _one_row(losses, model, first) -> xr.Dataset:
    with torch.enable_grad():
        terms = _terms_of(losses[first](model), first)
    data = {"loss": ("step", np.array([float(sum(t.detach() for t in terms.values()))]))}
    data.update({f"loss_{k}": ("step", np.array([float(v.detach())])) for k, v in terms.items()})
    return xr.Dataset(data, coords={"step": np.arange(1)})
