"""``from_pina``: a single-model PINA solver as a run, with PINA's own loss of each condition.

The loss of a parameter point is PINA's own condition loss (the solver's ``_compute_condition_loss``, what
its training step calls for each condition: residual or data misfit, the solver's loss function and
reduction, any gradient-enhanced penalty) on each condition's training points, with a module holding that
point in place of ``solver.model``, times the condition's weight in the solver's weighting, so the terms
add up to the loss PINA minimises. With ``torch.nn.MSELoss`` each term is also a residual vector
(``PinaLoss.residuals``: what ``diagnose``'s NTK is built from), the residual tensor PINA's code stores. PINA has no public per-condition loss that runs outside a Lightning
loop, so this uses that method (present in PINA 0.3.0 to 0.3.2). That per-point loss stays the run's
definition (the Hessian tools differentiate it); grids of a solver ``pina_traced`` can trace run PINA's
condition code once per chunk of parameter points instead, checked against it.

Solvers whose loss is not a function of one model's parameters are refused: several models (ensembles,
self-adaptive, competitive), and those that change state at every loss evaluation or weight it by the loss
itself (residual-based attention, autoregressive running averages, causal time weights).
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import warnings

import torch

from ..._checks import check_int, renamed_arguments
from ..._optional import require
from ..custom import from_model
from ..recorder import Recorder
from ._common import box, identifier, inner_recorder, module_dtype
from .pina_traced import TracedPinaLoss, Untraceable, trace

# the loss swaps the solver's model (and PINA stores the residual on the solver): one evaluation at a time
_LOCK = threading.RLock()

# solver classes (pina.solver names) whose loss depends on more than the model's parameters, and why
_REFUSED = {
    "RBAPhysicsInformedSingleModelSolver": "updates its residual-based attention weights in place at every loss "
    "evaluation, so its loss depends on the history of evaluations",
    "AutoregressiveSingleModelSolver": "updates running averages of its step losses at every loss evaluation",
    "CausalPhysicsInformedSingleModelSolver": "weights its time steps by the losses themselves, computed without "
    "gradient, so the loss Hessian would not be that of its landscape",
}


def _check_solver(solver, feature: str):
    """The pina.solver module, after checking that ``solver`` is a PINA solver an adapter can evaluate."""
    psolver = require("pina.solver", "pina", feature)
    if not isinstance(solver, psolver.BaseSolver):
        raise ValueError(
            f"{feature}: solver must be a PINA solver (e.g. pina.solver.PhysicsInformedSingleModelSolver), "
            f"got {type(solver).__name__}"
        )
    for cls_name, why in _REFUSED.items():
        cls = getattr(psolver, cls_name, None)
        if cls is not None and isinstance(solver, cls):
            raise ValueError(
                f"{feature}: a {type(solver).__name__} {why}; use PhysicsInformedSingleModelSolver (same problem, "
                "model and weighting) for a landscape"
            )
    models = getattr(solver, "_pina_models", None)
    if isinstance(solver, psolver.MultiModelSolver) or models is None or len(models) != 1:
        raise ValueError(
            f"{feature}: a {type(solver).__name__} has {0 if models is None else len(models)} models; a landscape "
            "spans the parameters of one model: use a single-model solver such as PhysicsInformedSingleModelSolver"
        )
    if not hasattr(solver, "_compute_condition_loss"):
        raise ValueError(f"{feature}: needs PINA >= 0.3 (this solver has no per-condition loss)")
    return psolver


def weight_factors(solver, names: list[str], *, warn: bool) -> dict[str, float]:
    """{condition: factor} with sum(factor * condition loss) = the loss PINA minimises: the weighting's
    weight, divided by the number of conditions for a mean aggregator."""
    pweight = require("pina.weighting", "pina", "plw.adapters.from_pina")
    w = solver.weighting
    if isinstance(w, pweight.ScalarWeighting):
        weights = {n: float(w.values.get(n, w.default_value_weights)) for n in names}
    else:
        saved = w.last_saved_weights()
        missing = [n for n in names if n not in saved]
        if missing:
            raise ValueError(
                f"plw.adapters.from_pina: the solver's {type(w).__name__} sets its weights during training and "
                f"has none yet for {missing}; train first (the landscape holds the weights of the last step)"
            )
        weights = {n: float(saved[n]) for n in names}
        if warn:
            warnings.warn(
                f"the solver's {type(w).__name__} changes its weights during training; the landscape holds "
                f"them at their last values {weights}",
                UserWarning,
                stacklevel=3,
            )
    agg = getattr(w, "aggregator_fn", torch.sum)
    if agg is torch.sum:
        return weights
    if agg is torch.mean:
        return {n: v / len(names) for n, v in weights.items()}
    raise ValueError(
        f"plw.adapters.from_pina: the weighting's aggregator {agg!r} is not 'sum' or 'mean'; the loss must be "
        "a weighted sum of the condition losses to be split into terms"
    )


def condition_keys(conditions) -> dict[str, str]:
    """{condition name: its term's name}, the name made an identifier where needed."""
    taken: set[str] = set()
    return {name: identifier(name, taken) for name in conditions}


def _cast(value, dtype):
    """A float tensor (LabelTensor or not) in ``dtype``; labels kept (LabelTensor.to(dtype) drops them)."""
    if not isinstance(value, torch.Tensor) or not value.dtype.is_floating_point or value.dtype == dtype:
        return value
    labels = getattr(value, "labels", None)
    plain = value.as_subclass(torch.Tensor).to(dtype)
    if labels is None:
        return plain
    return type(value)(plain, labels)


class PinaLoss:
    """PINA's weighted loss of each condition for a module shaped like ``solver.model``: {term: tensor}."""

    follows_model_dtype = True  # casts its data to the module's dtype: float64 curvature is honoured

    def __init__(self, solver):
        pina = require("pina", "pina", "plw.adapters.from_pina")
        pcond = require("pina.condition", "pina", "plw.adapters.from_pina")
        problem = solver.problem
        trainer = getattr(solver, "_trainer", None)
        splits = getattr(getattr(trainer, "data_module", None), "split_idxs", None) or {}
        self.solver = solver
        self.conditions = []  # (term, condition name, condition, data)
        self.empty = []
        keys = condition_keys(problem.conditions)
        for name, cond in problem.conditions.items():
            if isinstance(cond, pcond.DomainEquationCondition):
                pts = problem.discretised_domains.get(cond.domain)
                if pts is None:
                    raise ValueError(
                        f"plw.adapters.from_pina: condition {name!r}: its domain {cond.domain!r} has no points; "
                        f"call problem.discretise_domain(..., domains={cond.domain!r}) first"
                    )
                # what PINA's Trainer turns it into, made aside: the problem is left as it is
                evaluated = pina.Condition(input=pts, equation=cond.equation)
                evaluated.name = name
                evaluated.problem = problem
                data = {"input": pts}
            elif isinstance(cond, (pcond.InputEquationCondition, pcond.InputTargetCondition)):
                idx = splits[name]["train"] if name in splits else list(range(len(cond)))
                if len(idx) == 0:  # PINA's training loss has no term for it either
                    self.empty.append(name)
                    continue
                evaluated, data = cond, dict(cond.data[list(idx)].to_batch())
            else:
                raise ValueError(
                    f"plw.adapters.from_pina: condition {name!r} is a {type(cond).__name__}; supported are "
                    "equations on a domain or on input points, and input-target data"
                )
            if not all(isinstance(v, torch.Tensor) for v in data.values()):
                raise ValueError(
                    f"plw.adapters.from_pina: condition {name!r} holds {', '.join(type(v).__name__ for v in data.values())}"
                    "; only tensor data is supported (not graphs)"
                )
            self.conditions.append((keys[name], name, evaluated, data))
        if not self.conditions:
            raise ValueError("plw.adapters.from_pina: the problem has no condition with training points")
        self.factors = weight_factors(solver, [n for _, n, _, _ in self.conditions], warn=True)
        self._cast: dict = {}

    @property
    def names(self) -> list[str]:
        return [t for t, _, _, _ in self.conditions]

    def batches(self, dtype):
        if dtype not in self._cast:
            self._cast[dtype] = [
                (t, n, c, {k: _cast(v, dtype) for k, v in data.items()}) for t, n, c, data in self.conditions
            ]
        return self._cast[dtype]

    def __call__(self, module: torch.nn.Module, each=None) -> dict[str, torch.Tensor]:
        """The weighted loss of each condition with ``module`` as the solver's model; ``each(term)``, if given,
        is a context entered around each condition's evaluation (the traced path records in it)."""
        return {term: self.factors[name] * value for term, name, value, _ in self._evaluate(module, each)}

    def _evaluate(self, module: torch.nn.Module, each=None) -> list[tuple[str, str, torch.Tensor, torch.Tensor]]:
        """(term, condition, PINA's unweighted condition loss, the residual tensor PINA stored for it) of each
        condition, by ``solver._compute_condition_loss`` with ``module`` as the solver's model."""
        batches = self.batches(module_dtype(module))
        solver = self.solver
        out = []
        with _LOCK, torch.enable_grad():
            models = solver._pina_models
            model = models[0]
            models[0] = module
            try:
                for term, name, cond, data in batches:
                    with contextlib.nullcontext() if each is None else each(term):
                        value = solver._compute_condition_loss(cond, dict(data), 0)
                    residual = solver.residual_tensor.as_subclass(torch.Tensor)
                    out.append((term, name, value.as_subclass(torch.Tensor).reshape(()), residual))
            finally:
                models[0] = model
        return out

    @property
    def why_no_residuals(self) -> str | None:
        """Why ``residuals`` is not available (None: it is): a solver that computes its condition loss its own
        way (a gradient-enhanced penalty, ...), a loss other than ``torch.nn.MSELoss``, a reduction other than
        mean or sum, or a negative weight."""
        return _not_squares(self.solver, self.factors)

    def residuals(self, module: torch.nn.Module) -> dict[str, torch.Tensor]:
        """Each condition's residual vector r_t for a module shaped like ``solver.model``: sum(r_t ** 2) is the
        term ``self(module)`` gives, and r_t is differentiable in the module's parameters.

        PINA's condition loss runs as in ``self(module)``; r_t is the residual tensor it stores
        (``solver.residual_tensor``, [N, c]) flattened, times sqrt(f_t / (N c)) under the mean reduction or
        sqrt(f_t) under the sum, f_t the condition's weight factor (``weight_factors``).

        Raises ValueError with the reason where ``why_no_residuals`` is not None."""
        why = self.why_no_residuals
        if why is not None:
            raise ValueError(f"PINA's loss has no residual vectors: {why}")
        mean = self.solver._reduction == "mean"
        out = {}
        for term, name, _, residual in self._evaluate(module):
            r = residual.reshape(-1)
            out[term] = r * math.sqrt(self.factors[name] / (r.numel() if mean else 1))
        return out

    def points(self, variables) -> torch.Tensor:
        """Every condition's training inputs [N, d] in the order of ``variables``, float64."""
        parts = []
        for _, _, _, data in self.conditions:
            x = data["input"]
            if getattr(x, "labels", None) is not None and variables:
                x = x.extract(list(variables))
            parts.append(x.as_subclass(torch.Tensor).detach().to("cpu", torch.float64))
        return torch.cat(parts)


# the solver methods between a condition's residual and its loss: BaseSolver's own apply the loss function
# elementwise to the residual and reduce; a solver overriding one changes what the term is
_LOSS_METHODS = {
    "_compute_condition_loss": "computes its condition loss its own way",
    "_regularize_condition_loss": "adds a regularization to each condition's loss (a gradient-enhanced solver "
    "adds the squared gradient of the residual)",
    "_loss_from_residual": "makes the loss from the residual its own way",
    "_apply_reduction": "reduces the loss its own way",
    "_prepare_condition_data": "prepares each condition's data its own way",
}


def _not_squares(solver, factors: dict[str, float]) -> str | None:
    """Why PINA's condition losses are not, term by term, a sum of squared residuals (None: they are)."""
    psolver = require("pina.solver", "pina", "plw.adapters.from_pina")
    for meth, what in _LOSS_METHODS.items():
        if getattr(type(solver), meth, None) is not psolver.BaseSolver.__dict__.get(meth):
            return f"a {type(solver).__name__} {what} ({meth}), so its terms are not known as sums of squares"
    fn = solver._loss_fn
    if not isinstance(fn, torch.nn.MSELoss) or type(fn).forward is not torch.nn.MSELoss.forward:
        return (
            f"the solver's loss is {type(fn).__name__}, not torch.nn.MSELoss; the NTK needs each condition's loss "
            "to be the mean squared error (PINA's default) or a sum of squares (MSELoss(reduction='sum'))"
        )
    if solver._reduction not in ("mean", "sum"):
        return f"the solver's reduction is {solver._reduction!r}, not 'mean' or 'sum'"
    negative = [f"{n!r} {f:g}" for n, f in factors.items() if f < 0]
    if negative:
        return (
            f"the weighting gives condition {', '.join(negative)}: a negative multiple of squares is not a sum of "
            "squares"
        )
    return None


def _domain(problem, variables):
    lo = {v: float("inf") for v in variables}
    hi = {v: float("-inf") for v in variables}
    for dom in getattr(problem, "domains", {}).values():
        for attr in ("range", "fixed"):
            try:
                bounds = dict(getattr(dom, attr))
            except (AttributeError, TypeError, NotImplementedError):
                continue
            for v, b in bounds.items():
                if v in lo:
                    vals = [float(t) for t in (b if isinstance(b, (list, tuple)) else [b])]
                    lo[v], hi[v] = min(lo[v], *vals), max(hi[v], *vals)
    return box(tuple(variables), [lo[v] for v in variables], [hi[v] for v in variables])


@renamed_arguments(params="trainable")
def from_pina(solver, *, recorder=None, trainable=None, name: str | None = None):
    """A run from a single-model PINA solver (PINA >= 0.3), usable everywhere a trained run is.

    Its loss (formulation ``"pina"``) has one term per condition of ``solver.problem``, named by the
    condition (made an identifier where needed): PINA's loss of that condition on its training points (the
    Trainer's training split when a Trainer was made, else all discretised points), times its weight in the
    solver's weighting (``ScalarWeighting``; an adaptive weighting's last weights, held fixed; divided by the
    number of conditions for a mean aggregator), so the terms add up to PINA's training loss. PINA logs the
    unweighted values as ``<condition>_loss``. theta* is ``solver.model``'s parameters now. The solution panel
    and ``rel_l2_error`` use the training points and ``problem.solution`` when the problem defines it; the
    coordinates are the problem's input variables, the box that of its domains.

    The unknown parameters of an inverse problem are held at their current values. The run is evaluated on
    the device of ``solver.model`` and in its dtype.

    Where the model is one the engine knows (PINA's ``FeedForward`` or a plain ``nn.Sequential`` MLP) and the
    equations use PINA's operators, the loss is traced (``pina_traced``): grids evaluate many parameter
    points per pass, with the same terms; ``run.attrs["evaluation"]`` is ``"traced"``. Otherwise it is
    ``"per point: <reason>"``, with a warning giving the reason.

    Neural tangent kernel: when the solver's loss is ``torch.nn.MSELoss`` (PINA's default; mean or sum
    reduction), its weights are not negative and the solver adds nothing to the condition losses (not the
    gradient-enhanced solver), ``plw.diagnose`` takes each condition's NTK from its residual vector: the
    residual tensor PINA's own condition code stores (``solver.residual_tensor``) flattened, times
    sqrt(f / N) under the mean reduction (N its entries) or sqrt(f) under the sum, f the condition's weight
    factor above, so its squares add up to the term; one parameter point, autograd. Otherwise ``diagnose``'s
    ``attrs["ntk"]`` says why not.

    Parameters
    ----------
    solver : pina.solver.SingleModelSolver
        A single-model PINA solver (e.g. ``PhysicsInformedSingleModelSolver``), PINA >= 0.3, whose problem's
        domains are discretised.
    recorder : PinaRecorder, Recorder or None
        The ``plw.adapters.PinaRecorder`` passed to the Trainer's ``callbacks``, for the trajectory and loss
        history (PCA directions, the trajectory overlay); default None: the run has only theta*.
    trainable : sequence of str, callable or None
        Which parameters of ``solver.model`` span the landscape: names, or a function ``(name, parameter) ->
        bool`` (as ``plw.from_model``); default None, all of them. Renamed from ``params``.
    name : str or None
        A label for the run's problem; default None, the problem's class name.

    Returns
    -------
    ModelRun
        The run, with formulation "pina"; ``run.attrs["evaluation"]`` says how it is evaluated.

    Raises
    ------
    ValueError
        When ``solver`` is not a PINA solver one model's parameters define the loss of (several models,
        residual-based attention, autoregressive or causal solvers are refused), a condition has no points
        or non-tensor data, or an argument is not allowed.

    Warns
    -----
    UserWarning
        When the loss is evaluated one parameter point at a time (with the reason), weights or an inverse
        problem's parameters are held fixed, or a condition has no training points.
    FutureWarning
        When called with ``params=`` (now ``trainable=``).
    """
    _check_solver(solver, "plw.adapters.from_pina")
    if getattr(solver, "_params", None):
        warnings.warn(
            "the PINA problem has unknown parameters (an inverse problem); the landscape holds them at their "
            "current values and spans solver.model's parameters only",
            UserWarning,
            stacklevel=3,  # the caller, past the renamed_arguments wrapper
        )
    rec = inner_recorder(recorder, "PinaRecorder", "the Trainer's callbacks")
    loss = PinaLoss(solver)
    fn: PinaLoss | TracedPinaLoss
    try:
        fn, evaluation = trace(solver, loss, trainable), "traced"
    except Untraceable as exc:
        fn, evaluation = loss, f"per point: {exc}"
    except Exception as exc:  # noqa: BLE001 - whatever the trace meets, PINA's own per-point loss still works
        fn, evaluation = loss, f"per point: tracing failed ({type(exc).__name__}: {str(exc)[:160]})"
    if fn is loss:
        warnings.warn(
            f"plw.adapters.from_pina: the loss is evaluated one parameter point at a time ({evaluation[11:]})",
            UserWarning,
            stacklevel=3,  # the caller, past the renamed_arguments wrapper
        )
    if loss.empty:
        warnings.warn(
            f"conditions {loss.empty} have no training points in the Trainer's split, so PINA's training loss "
            "has no term for them; neither has the landscape",
            UserWarning,
            stacklevel=3,  # the caller, past the renamed_arguments wrapper
        )
    problem = solver.problem
    variables = list(getattr(problem, "input_variables", []) or [])
    sample = loss.points(variables)
    points: torch.Tensor | None = sample
    model = solver.model
    try:  # the solution panel calls the model on plain tensors of the input variables
        with torch.no_grad():
            model(sample[:2].to(module_dtype(model)))
    except Exception as exc:  # noqa: BLE001 - any model that needs PINA's labelled inputs
        warnings.warn(
            f"solver.model cannot be called on a plain tensor of the input variables ({type(exc).__name__}: "
            f"{str(exc)[:120]}); the run has no rel_l2_error and no solution panel",
            UserWarning,
            stacklevel=3,  # the caller, past the renamed_arguments wrapper
        )
        points = None
    exact = None
    if points is not None and callable(getattr(problem, "solution", None)):
        pina = require("pina", "pina", "plw.adapters.from_pina")
        outputs = list(getattr(problem, "output_variables", []) or [])

        def exact(x):
            u = problem.solution(pina.LabelTensor(torch.as_tensor(x), variables))
            if getattr(u, "labels", None) is not None and outputs and set(outputs) <= set(u.labels):
                u = u.extract(outputs)
            return u.as_subclass(torch.Tensor)

    domain = _domain(problem, variables) if variables else None
    run = from_model(
        model,
        {"pina": fn},
        points=points,
        exact=exact,
        domain=domain,
        coords=variables if domain is None and points is not None and len(variables) == points.shape[1] else None,
        unknowns=list(getattr(problem, "output_variables", []) or []) or None,
        trainable=trainable,
        recorder=rec,
        name=name or type(problem).__name__,
    )
    run.attrs["evaluation"] = evaluation
    return run


@functools.cache
def recorder_class():
    """``PinaRecorder``, a ``lightning.pytorch.Callback`` (made when first asked for)."""
    pl = require("lightning.pytorch", "pina", "plw.adapters.PinaRecorder")

    class PinaRecorder(pl.Callback):
        """Records ``solver.model``'s parameters every ``every`` optimizer steps of PINA's Trainer, and each
        step's loss; pass it to ``Trainer(solver, ..., callbacks=[rec])`` and then to
        ``plw.adapters.from_pina(solver, recorder=rec)``.

        Each step's ``loss`` is the total the training step returned (its batch's loss, at the parameters
        before that step). With full-batch training (PINA's default ``batch_size=None``) the weighted loss of
        each condition is recorded too, from PINA's logged ``<condition>_loss``; with mini-batches those
        terms are NaN in the history. One recorder follows one solver across several Trainers.
        ``.recorder`` is the ``plw.Recorder`` it feeds (None before training).

        Parameters
        ----------
        every : int
            Snapshot interval in optimizer steps, an integer >= 1; default 10.
        max_snapshots : int
            Bound on the snapshots kept in memory, an integer >= 3 (as ``plw.Recorder``); default 500.
        spill_to : str, os.PathLike or None
            A file to write every snapshot to instead of memory (as ``plw.Recorder``); default None.

        Raises
        ------
        ValueError
            When an argument is outside what is allowed, or (in training) the solver is not one
            ``from_pina`` takes or the recorder already followed another solver's model.
        """

        def __init__(self, every: int = 10, *, max_snapshots: int = 500, spill_to=None):
            super().__init__()
            self.every = check_int("every", every, 1)
            self.max_snapshots = check_int("max_snapshots", max_snapshots, 3)
            self.spill_to = spill_to
            self.recorder: Recorder | None = None
            self._offset = 0
            self._step = 0
            self._batches = 0

        def on_train_start(self, trainer, pl_module):
            _check_solver(pl_module, "PinaRecorder")
            model = pl_module.model
            if self.recorder is None:
                self.recorder = Recorder(
                    model,
                    self.every,
                    max_snapshots=self.max_snapshots,
                    spill_to=self.spill_to,
                    start=int(trainer.global_step),
                )
                self._offset = 0
            elif self.recorder.model is not model:
                raise ValueError("this PinaRecorder recorded another solver's model; use one recorder per solver")
            else:  # a new Trainer counts from 0 again
                self._offset = max(0, self.recorder.steps_done - int(trainer.global_step))

        def on_train_epoch_start(self, trainer, pl_module):
            self._batches = 0

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self._step = int(trainer.global_step) + self._offset
            self.recorder.record(self._step)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self._batches += 1
            loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
            if isinstance(loss, torch.Tensor) and loss.numel() == 1:
                self.recorder.record(self._step, loss=loss)

        def on_train_epoch_end(self, trainer, pl_module):
            if self._batches != 1:
                return
            names = [n for n in pl_module.problem.conditions if f"{n}_loss" in trainer.callback_metrics]
            if not names:
                return
            factors = weight_factors(pl_module, names, warn=False)
            keys = condition_keys(pl_module.problem.conditions)
            terms = {keys[n]: factors[n] * float(trainer.callback_metrics[f"{n}_loss"]) for n in names}
            self.recorder.record(self._step, **terms)

        def on_train_end(self, trainer, pl_module):
            self.recorder.record(int(trainer.global_step) + self._offset)

        def __repr__(self) -> str:
            return f"PinaRecorder(every={self.every}, {self.recorder!r})"

    PinaRecorder.__module__ = __name__
    PinaRecorder.__qualname__ = "PinaRecorder"
    return PinaRecorder
