"""The interfaces the layers above the engine program against: a network, an objective, a run and a curvature
operator, as ``typing.Protocol``s.

They are structural: a class implements one by having its members, without inheriting from it (mypy checks
each use). What implements them:

- ``Network``: ``engine.mlp.MLP`` and ``engine.module_network.ModuleNetwork``.
- ``LossObjective``: ``engine.objective.Objective`` (a problem's own loss) and ``models.custom.CustomObjective``
  (a user's loss functions, also the adapters' DeepXDE and PINA losses).
- ``Run``: ``models.training.TrainResult`` and ``models.custom.ModelRun`` (both ``models._run.RunBase``), and any
  object with their members. ``as_run`` (here, so that the engine's ``evaluate`` can use it) is the one place
  where what a user passes becomes a run; ``is_run`` asks without raising.
- ``CurvatureOperator``: ``analysis.curvature.HessianOperator`` and the operators built on one (e.g.
  ``reproduce.rathore2024.PreconditionedHessian``).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

import torch

if TYPE_CHECKING:
    import xarray as xr

    from ..pde.derivatives import Jet, JetSpec
    from . import mlp as engine_mlp
    from . import module_network as engine_module_network
    from . import objective as engine_objective


class RunProblem(Protocol):
    """What a run knows of its problem (a ``pde.Problem``, or a ``from_model`` run's ``ModelProblem``)."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def input_names(self) -> tuple[str, ...]: ...

    @property
    def domain(self) -> tuple[tuple[float, float], ...]: ...

    @property
    def unknowns(self) -> tuple[str, ...]: ...

    @property
    def options(self) -> dict: ...

    def exact(self, x: torch.Tensor) -> torch.Tensor | None:
        """The exact solution at points x [N, d] ([N] for one unknown, [N, m] for several); None if unknown."""
        ...

    def exact_energy(self) -> float | None:
        """The energy of the exact solution (Deep Ritz), None if unknown."""
        ...


class Network(Protocol):
    """A network as a function of a flat parameter vector theta [P]."""

    @property
    def n_params(self) -> int: ...

    @property
    def in_dim(self) -> int: ...

    @property
    def out_dim(self) -> int: ...

    @property
    def description(self) -> str:
        """A short human description ("MLP 50x3 tanh", "Sine (120 parameters)")."""
        ...

    def param_layout(self) -> list[tuple[str, slice, tuple[int, ...]]]:
        """(name, slice of theta, shape) of each parameter tensor."""
        ...

    def module(self, params: torch.Tensor) -> torch.nn.Module:
        """A plain torch module holding ``params`` [P]."""
        ...

    def jets(self, params: torch.Tensor, x: torch.Tensor, spec: JetSpec | int = 0, functional: bool = False) -> Jet:
        """Outputs and input derivatives at x [N, d] for K parameter points params [K, P]."""
        ...


class LossFormulation(Protocol):
    """An objective's loss: a ``pde.formulations.Formulation``, or a user's named loss function."""

    @property
    def name(self) -> str: ...

    @property
    def least_squares(self) -> bool:
        """Whether the interior terms are sums of squared per-point residuals."""
        ...


class LossObjective(Protocol):
    """A run's loss bound to a device and dtype: terms, loss and error for batches of parameter points [K, P].

    Every method taking ``params`` accepts [K, P] or one point [P] (see ``as_batch``) and returns [K] tensors
    (``residual_vectors``: one point only)."""

    @property
    def problem(self) -> Any: ...

    @property
    def net(self) -> Network: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def formulation(self) -> LossFormulation: ...

    @property
    def term_names(self) -> list[str]:
        """The names of the loss terms, in order."""
        ...

    @property
    def differentiates_inputs(self) -> bool:
        """Whether the loss calls torch.autograd on its inputs itself (a user's loss): torch.func forward-mode
        transforms cannot run it."""
        ...

    @property
    def thread_safe(self) -> bool:
        """Whether grid chunks may be evaluated on several threads at once."""
        ...

    @property
    def process_safe(self) -> bool:
        """Whether grid chunks may go to forked worker processes (a per-point Python loss, which holds the
        GIL)."""
        ...

    @property
    def has_residual_vectors(self) -> bool:
        """Whether ``residual_vectors`` gives per-point residuals (the package's losses, a user's loss made of
        ``plw.squares(r)``, DeepXDE's and PINA's mean squared error); a user's loss returning one scalar per term
        has none."""
        ...

    @property
    def why_no_residual_vectors(self) -> str | None:
        """Why ``residual_vectors`` is not available, in a sentence; None where ``has_residual_vectors``."""
        ...

    @property
    def n_params(self) -> int: ...

    def as_batch(self, params: Any) -> torch.Tensor:
        """``params`` as a [K, P] tensor on the objective's device and dtype ([P] becomes [1, P]).

        Raises ValueError naming the shape when it is not [K, P] or [P] with this objective's P."""
        ...

    def terms(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each loss term [K], differentiable with respect to params; they add up to the loss."""
        ...

    def loss(self, params: torch.Tensor) -> torch.Tensor:
        """The loss [K]: the sum of the terms."""
        ...

    def evaluate(self, params: torch.Tensor, functional: bool = False) -> dict[str, torch.Tensor]:
        """{"loss", "loss_<term>"..., "rel_l2_error"}, [K] each, without an autograd graph."""
        ...

    def rel_l2_error(self, params: torch.Tensor) -> torch.Tensor:
        """||u - u*|| / ||u*|| [K]; NaN where no exact solution is known."""
        ...

    def bytes_per_point(self) -> int:
        """Rough working memory of one parameter point in ``evaluate`` (sizes the chunks of a grid)."""
        ...

    def residual_vectors(self, params: torch.Tensor, functional: bool = False) -> dict[str, torch.Tensor]:
        """Each least-squares term's weighted residual vector at one parameter point (the term is the sum of
        its squares). Raises ValueError where ``has_residual_vectors`` is False."""
        ...

    def subsample(self, size: int | float, seed: int = 0, error: str = "subset") -> LossObjective:
        """The same loss on a random subset of its points. Raises ValueError for a loss whose points are not
        the package's (a user's loss function)."""
        ...


@runtime_checkable
class Viewable(Protocol):
    """The least an object needs to be taken for a run (``models._run.as_run``): a parameter vector and a loss.

    The other members of ``Run`` are read when a tool needs them; a view reads the optional ones
    (``trajectory``, ``history``, ...) as None when they are missing."""

    @property
    def params(self) -> torch.Tensor: ...

    def objective(self, formulation: str | None = None, device: Any = None, dtype: Any = None) -> LossObjective: ...


class Run(Protocol):
    """What the analysis and the views read of a run: ``TrainResult``, a ``from_model`` or adapter run, or an
    object of the user's with these members."""

    @property
    def problem(self) -> RunProblem: ...

    @property
    def formulation(self) -> str:
        """The loss the run was trained with (the default of ``objective``)."""
        ...

    @property
    def formulations(self) -> list[str]:
        """The losses the run can be evaluated under."""
        ...

    @property
    def net(self) -> Network: ...

    @property
    def params(self) -> torch.Tensor:
        """The trained parameters theta* [P]."""
        ...

    @property
    def n_params(self) -> int: ...

    @property
    def trajectory(self) -> torch.Tensor:
        """Recorded parameters [T, P], first the initial ones, last theta*."""
        ...

    @property
    def trajectory_steps(self) -> list[int]:
        """The optimizer step of each row of ``trajectory``."""
        ...

    @property
    def history(self) -> xr.Dataset:
        """Loss terms and error per step (dim "step")."""
        ...

    @property
    def optimizer(self) -> str:
        """How the run was trained ("adam", "lbfgs", "adam+lbfgs"; "user" for a model trained elsewhere)."""
        ...

    @property
    def device(self) -> torch.device: ...

    @property
    def dtype(self) -> torch.dtype: ...

    def objective(self, formulation: str | None = None, device: Any = None, dtype: Any = None) -> LossObjective:
        """The run's loss (or another of its ``formulations``) on a device and dtype (None: the run's)."""
        ...

    def model_at(self, params: torch.Tensor) -> torch.nn.Module:
        """A plain torch module x -> u(x) holding ``params`` [P]."""
        ...

    def float64_blockers(self) -> list[str]:
        """Why the run's loss cannot be evaluated in float64 (empty when it can)."""
        ...


class CurvatureOperator(Protocol):
    """A symmetric linear operator on R^n built on a run's loss (the Hessian, or a transform of it), as the
    Lanczos tools (``hessian_eigenpairs``, ``hutchinson_trace``, ``slq``) use it."""

    @property
    def n(self) -> int:
        """The dimension the operator acts on."""
        ...

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def n_matvecs(self) -> int:
        """Products formed so far."""
        ...

    @property
    def loss(self) -> float:
        """The loss at the point the operator is taken at."""
        ...

    @property
    def method(self) -> str:
        """How products are formed, as results report it ("r-operator", "double backward", ...)."""
        ...

    @property
    def objective(self) -> LossObjective:
        """The loss the operator differentiates."""
        ...

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """The product with v [n]."""
        ...

    def parallel(self) -> contextlib.AbstractContextManager[None]:
        """A block within which many products run at the operator's preferred thread setting."""
        ...


def is_run(obj: object) -> bool:
    """Whether ``obj`` can be taken for a run: it has ``params`` and ``objective`` (``Viewable``)."""
    return isinstance(obj, Viewable)


def as_run(obj: object, argument: str = "run") -> Run:
    """What a user passed as a run, checked: the one place an object is recognised as a run.

    A ``TrainResult`` (``plw.train``), a ``from_model`` or adapter run, or any object with a parameter vector
    ``params`` and a method ``objective(formulation, device, dtype)`` is returned as it is; the other members
    of ``Run`` are read when a tool needs them.

    Raises ValueError naming ``argument``, the value and what is allowed, for anything else."""
    if not is_run(obj):
        text = repr(obj)
        text = text if len(text) <= 80 else text[:77] + "..."
        raise ValueError(
            f"{argument} must be a run (from plw.train, plw.from_model or plw.adapters, or an object with "
            f"`params` and `objective()`), got {type(obj).__name__} {text}"
        )
    return cast(Run, obj)


__all__ = [
    "CurvatureOperator",
    "LossFormulation",
    "LossObjective",
    "Network",
    "Run",
    "RunProblem",
    "Viewable",
    "as_run",
    "is_run",
]


if TYPE_CHECKING:  # mypy checks here that the engine's classes implement the protocols

    def _mlp_is_a_network(net: engine_mlp.MLP) -> Network:
        return net

    def _module_network_is_a_network(net: engine_module_network.ModuleNetwork) -> Network:
        return net

    def _objective_is_a_loss_objective(objective: engine_objective.Objective) -> LossObjective:
        return objective
