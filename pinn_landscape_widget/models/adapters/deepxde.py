"""``from_deepxde``: a compiled DeepXDE model (PyTorch backend) as a run, with DeepXDE's own loss terms.

The loss of a parameter point is DeepXDE's compiled training loss (``model.outputs_losses_train``) on the
model's training points ``model.data.train_x``, with a module holding that point in place of ``model.net``:
the terms are DeepXDE's, in DeepXDE's order (PDE residuals, then one per boundary or initial condition in
the order of ``data.bcs``, then the L1 penalty of an ``("l1", c)`` regularizer), each already multiplied
by its ``loss_weights`` entry, so they add up to the loss DeepXDE minimises. An ``("l2", c)`` regularizer
is DeepXDE's optimizer weight decay, not a loss term, and is not in the landscape. With DeepXDE's mean squared
error, each term is also a residual vector (``DeepXDELoss.residuals``: what ``diagnose``'s NTK is built from),
recorded by DeepXDE's own loss code with its loss function wrapped.

deepxde is never imported here: a DeepXDE model exists only once the user imported it (importing it
without the environment variable ``DDE_BACKEND`` writes ``~/.deepxde/config.json``).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import sys
import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..._checks import check_int, renamed_arguments
from ..._optional import require
from ..custom import DEFAULT_COORDS, ResidualLoss, from_model
from ..recorder import Recorder
from ._common import box, inner_recorder, module_dtype
from ._deepxde_traced import LOCK as _LOCK
from ._deepxde_traced import TracedDeepXDELoss, Untraceable, check_points, compiled_loss

_NUMPY = {torch.float32: np.float32, torch.float64: np.float64}


def _deepxde(feature: str):
    """The imported deepxde module; never imports it (see the module docstring)."""
    dde = sys.modules.get("deepxde")
    if dde is not None:
        return dde
    if "deepxde" in sys.modules or importlib.util.find_spec("deepxde") is None:
        require("deepxde", "deepxde", feature)  # raises ImportError naming the extra
    raise ValueError(
        f"{feature} needs deepxde imported first: set the environment variable DDE_BACKEND=pytorch, then import deepxde"
    )


def _check_model(model, feature: str):
    """deepxde, after checking that ``model`` is a compiled DeepXDE model on the PyTorch backend."""
    dde = sys.modules.get("deepxde")  # a DeepXDE model exists only once deepxde is imported
    if dde is None or not isinstance(model, dde.Model):
        raise ValueError(f"{feature}: model must be a deepxde.Model, got {type(model).__name__}")
    backend = dde.backend.backend_name
    if backend != "pytorch" or not isinstance(model.net, torch.nn.Module):
        raise ValueError(
            f"{feature}: the DeepXDE model runs on DeepXDE's {backend!r} backend; it needs the 'pytorch' "
            "backend (set the environment variable DDE_BACKEND=pytorch before importing deepxde)"
        )
    if model.outputs_losses_train is None:
        raise ValueError(
            f"{feature}: the DeepXDE model is not compiled; call model.compile(optimizer, lr=..., "
            "loss_weights=...) first (it fixes DeepXDE's loss and its weights)"
        )
    return dde


def term_names(model, n: int) -> list[str]:
    """Names of DeepXDE's ``n`` loss terms: pde (pde_0, pde_1, ... for several), then
    <condition class>_<index> per boundary/initial condition (dirichletbc_0, ic_1, ...), then l1; term_0,
    term_1, ... for data without PDE and conditions."""
    reg = getattr(model.net, "regularizer", None)
    n_l1 = 1 if reg is not None and reg[0] == "l1" and reg[1] > 0 else 0
    bcs = getattr(model.data, "bcs", None)
    n_pde = n - n_l1 - (len(bcs) if bcs is not None else 0)
    if bcs is None or getattr(model.data, "pde", None) is None or n_pde < 0:
        return [f"term_{i}" for i in range(n - n_l1)] + ["l1"] * n_l1
    names = ["pde"] if n_pde == 1 else [f"pde_{i}" for i in range(n_pde)]
    names += [f"{type(bc).__name__.lower()}_{i}" for i, bc in enumerate(bcs)]
    return names + ["l1"] * n_l1


class DeepXDELoss:
    """DeepXDE's training loss terms for a module shaped like ``model.net``: {name: weighted term}; with the
    mean squared error also each term's residual vector (``residuals``)."""

    follows_model_dtype = True  # casts its data to the module's dtype: float64 curvature is honoured

    def __init__(self, model):
        data, state = model.data, model.train_state
        if getattr(data, "train_x", None) is not None:
            x, y, aux = data.train_x, getattr(data, "train_y", None), getattr(data, "train_aux_vars", None)
        else:
            x, y, aux = state.X_train, state.y_train, state.train_aux_vars
        if not isinstance(x, np.ndarray):
            raise ValueError(
                f"from_deepxde: the training inputs must be one array (got {type(x).__name__}); "
                "data with several inputs (DeepONet operator data) is not supported"
            )
        self.model = model
        self.x, self.y, self.aux = x, y, aux
        self._cast: dict = {}
        self._calls: str | None = None  # "" once DeepXDE's loss code was seen to call loss_fn once per term
        self.names: list[str] = []
        self.names = list(self(model.net))  # one evaluation counts DeepXDE's terms

    def _inputs(self, dtype):
        target = _NUMPY.get(dtype)
        if target is None or self.x.dtype == target:
            return self.x, self.y, self.aux
        if dtype not in self._cast:

            def cast(a):
                return a.astype(target) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a

            self._cast[dtype] = (cast(self.x), cast(self.y), cast(self.aux))
        return self._cast[dtype]

    def __call__(self, module: torch.nn.Module) -> dict[str, torch.Tensor]:
        losses = self._losses(module)
        names = self.names or term_names(self.model, losses.shape[0])
        if len(names) != losses.shape[0]:
            raise RuntimeError(f"DeepXDE returned {losses.shape[0]} loss terms, {len(names)} expected ({names})")
        return dict(zip(names, losses.unbind(0)))

    def _losses(self, module: torch.nn.Module, recorder: _Recorder | None = None) -> torch.Tensor:
        """DeepXDE's weighted loss terms [n] (``model.outputs_losses_train``) with ``module`` as ``model.net``;
        with a ``recorder``, DeepXDE's loss function records each term's residuals as it runs."""
        model = self.model
        x, y, aux = self._inputs(module_dtype(module))
        dde = sys.modules["deepxde"]
        data = model.data
        with _LOCK, torch.enable_grad():
            # under the lock: a subsampled traced copy swaps model.data's points in only while it holds it
            check_points(model, self.x)
            net = model.net
            model.net = module
            shadowed = data.__dict__.get("losses_train", _NONE)
            if recorder is not None:  # the compiled loss looks data.losses_train up at every call
                data.losses_train = functools.partial(recorder.losses_train, data.losses_train)
            try:
                losses = model.outputs_losses_train(x, y, aux)[1]
            finally:
                model.net = net
                if recorder is not None:
                    if shadowed is _NONE:
                        del data.losses_train
                    else:
                        data.losses_train = shadowed
                dde.grad.clear()
        return losses.reshape(-1)

    @property
    def why_no_residuals(self) -> str | None:
        """Why ``residuals`` is not available for the model as compiled now (None: it is): a loss function
        other than DeepXDE's mean squared error, an L1 regularizer term, a negative loss weight, or data whose
        loss code does not make each term one call of its loss function."""
        why = _not_squares(self.model, self.names)
        if why is None and self._calls is None:
            self._calls = _calls_per_term(self, self.model.net)
        return why or self._calls or None

    def residuals(self, module: torch.nn.Module) -> dict[str, torch.Tensor]:
        """Each term's residual vector r_t [N_t] for a module shaped like ``model.net``: sum(r_t ** 2) is the
        term ``self(module)`` gives, and r_t is differentiable in the module's parameters.

        DeepXDE's loss code runs as in ``self(module)``, its loss function (the mean squared error) wrapped so
        that each term's call ``loss_fn(y_true, y_pred)`` also records (y_pred - y_true) / sqrt(N_t), N_t its
        entries; r_t is that times sqrt(w_t), w_t the term's ``loss_weights`` entry as DeepXDE applies it.

        Raises ValueError with the reason where ``why_no_residuals`` is not None."""
        why = self.why_no_residuals
        if why is not None:
            raise ValueError(f"DeepXDE's loss has no residual vectors: {why}")
        rec = _Recorder()
        self._losses(module, rec)
        names = self.names
        if not rec.one_call_per_term() or len(rec.residuals) != len(names):
            raise RuntimeError(
                f"DeepXDE's loss code called its loss function {len(rec.residuals)} times for the {len(names)} "
                f"terms {names}; make the run again: plw.adapters.from_deepxde(model)"
            )
        weights = _weights(self.model, len(names))
        return {t: r * math.sqrt(w) for t, r, w in zip(names, rec.residuals, weights)}


_NONE = object()


class _Recorder:
    """DeepXDE's compiled loss function, wrapped: each call ``loss_fn(y_true, y_pred)`` returns DeepXDE's value
    and records it and (y_pred - y_true) / sqrt(N), N the entries, whose squares add up to the mean squared
    error. ``losses_train`` takes the place of ``data.losses_train`` (its first argument the data's own)."""

    def __init__(self):
        self.residuals: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.terms: list | None = None  # what the data's loss code returned

    def _one(self, fn):
        def recording(y_true, y_pred):
            value = fn(y_true, y_pred)
            diff = (y_pred - y_true).reshape(-1)
            self.residuals.append(diff / math.sqrt(diff.numel()))
            self.values.append(value)
            return value

        return recording

    def losses_train(self, own, targets, outputs, loss_fn, inputs, model, aux=None):
        wrapped = [self._one(f) for f in loss_fn] if isinstance(loss_fn, (list, tuple)) else self._one(loss_fn)
        out = own(targets, outputs, wrapped, inputs, model, aux=aux)
        self.terms = out if isinstance(out, list) else [out]
        return out

    def one_call_per_term(self) -> bool:
        """Whether the data's loss code returned as its terms the loss function's values, each once, in order."""
        terms = self.terms
        return terms is not None and len(terms) == len(self.values) and all(a is b for a, b in zip(terms, self.values))


def _not_squares(model, names: list[str]) -> str | None:
    """Why DeepXDE's compiled loss is not, term by term, a sum of squared residuals (None: it is)."""
    try:
        loss_fn, l1_factor = compiled_loss(model)
    except Untraceable as exc:
        return str(exc)
    if l1_factor > 0:
        return (
            f"the model's L1 regularizer (regularization=('l1', {l1_factor:g})) adds the term 'l1' = "
            f"{l1_factor:g} * sum |theta|, which is not a sum of squared residuals"
        )
    fns = list(loss_fn) if isinstance(loss_fn, (list, tuple)) else [loss_fn] * len(names)
    mse = getattr(sys.modules.get("deepxde.losses"), "mean_squared_error", None)
    other = [f"{getattr(f, '__name__', type(f).__name__)} for term {t!r}" for t, f in zip(names, fns) if f is not mse]
    if other:
        return (
            f"DeepXDE's loss function is {', '.join(other)} (compile(loss=...)), not its mean squared error; the "
            "NTK needs every term's loss to be 'MSE' (DeepXDE's default, or a list of 'MSE' per term), a mean of "
            "squared residuals"
        )
    negative = [f"{t!r} {w:g}" for t, w in zip(names, _weights(model, len(names))) if w < 0]
    if negative:
        return (
            f"loss_weights gives term {', '.join(negative)}: a negative multiple of a mean of squares is not a "
            "sum of squares"
        )
    return None


def _weights(model, n: int) -> list[float]:
    """The ``loss_weights`` entries of the n terms, as DeepXDE multiplies by them (``torch.as_tensor``, so
    Python floats in float32)."""
    if model.loss_weights is None:
        return [1.0] * n
    w = torch.as_tensor(model.loss_weights).to(torch.float64).reshape(-1)
    return w.expand(n).tolist() if w.numel() == 1 else w.tolist()


def _calls_per_term(loss: DeepXDELoss, module: torch.nn.Module) -> str:
    """ "" when DeepXDE's loss code, evaluated at ``module``, makes each term one call of its loss function
    (as ``dde.data.PDE``, ``TimePDE`` and the data sets do), else why not."""
    rec = _Recorder()
    loss._losses(module, rec)
    if rec.one_call_per_term():
        return ""
    n = len(rec.terms) if rec.terms is not None else 0
    return (
        f"DeepXDE's {type(loss.model.data).__name__} loss code returns {n} terms from {len(rec.values)} calls of "
        "its loss function, not each call's value as one term, so the terms are not known as sums of squares"
    )


def _domain(model, coords):
    geom = getattr(model.data, "geom", None)
    lo = hi = None
    n_space = None
    if geom is not None and hasattr(geom, "geometry") and hasattr(geom, "timedomain"):  # space x time
        g, t = geom.geometry, geom.timedomain
        lo = np.concatenate([np.ravel(g.bbox[0]), np.ravel(t.bbox[0])])
        hi = np.concatenate([np.ravel(g.bbox[1]), np.ravel(t.bbox[1])])
        n_space = g.dim
    elif geom is not None and hasattr(geom, "bbox"):
        lo, hi = np.ravel(geom.bbox[0]), np.ravel(geom.bbox[1])
    d = model.data.train_x.shape[1] if getattr(model.data, "train_x", None) is not None else None
    if coords is None and d is not None:
        if n_space is not None and n_space + 1 == d:
            coords = DEFAULT_COORDS.get(n_space, tuple(f"x{i}" for i in range(n_space))) + ("t",)
        else:
            coords = DEFAULT_COORDS.get(d, tuple(f"x{i}" for i in range(d)))
    return box(tuple(coords), lo, hi) if coords is not None else None, coords


@renamed_arguments(params="trainable")
def from_deepxde(model, *, recorder=None, coords=None, trainable=None, name: str = "deepxde", trace: bool = True):
    """A run from a compiled DeepXDE model (PyTorch backend), usable everywhere a trained run is.

    Its loss (formulation ``"deepxde"``) is DeepXDE's training loss on ``model.data.train_x``, term by term
    as DeepXDE reports them in ``model.losshistory.loss_train``: each multiplied by its ``loss_weights``
    entry (divide by it for the raw mean squared error), named pde (or pde_0, pde_1, ...), then
    <condition class>_<index> per condition of ``data.bcs`` (dirichletbc_0, neumannbc_1, ic_2, ...), then l1
    for an L1 regularizer. theta* is ``model.net``'s parameters now. The solution panel and
    ``rel_l2_error`` use the training points and ``data.soln`` (the ``solution=`` given to the data), when
    there is one; the box is the geometry's bounding box, the coordinates x, y, z (and t for a
    time-dependent geometry) unless ``coords`` names them.

    External trainable variables of an inverse problem are held at their current values. The run is
    evaluated on the device of ``model.net`` and in its dtype.

    Evaluation: when ``model.net`` is a ``dde.nn.FNN`` the engine knows (one activation among tanh, sin,
    SiLU, GELU; equal hidden widths; no feature or output transform), the data is ``dde.data.PDE`` or
    ``TimePDE`` and the pde reads derivatives of y through ``dde.grad.jacobian`` / ``dde.grad.hessian``, a
    grid evaluates DeepXDE's loss code for many parameter points per pass on the engine's jets
    (``run.attrs["evaluation"] == "traced"``; see ``_deepxde_traced``). Otherwise, or with ``trace=False``,
    one parameter point at a time through DeepXDE's compiled loss, with a ``UserWarning`` saying why
    (``run.attrs["evaluation"] == "per point: <reason>"``). Both give DeepXDE's terms; the Hessian tools
    always differentiate DeepXDE's own loss.

    Neural tangent kernel: when DeepXDE's loss is its mean squared error (``"MSE"``, the default, or a list
    of ``"MSE"`` per term) with no L1 regularizer, ``plw.diagnose`` takes each term's NTK from the term's
    residual vector sqrt(w / N) (y_pred - y_true), w its ``loss_weights`` entry and N its points, recorded
    from DeepXDE's own loss code (its loss function wrapped) at one parameter point by autograd. Otherwise
    ``diagnose``'s ``attrs["ntk"]`` says why not (another loss function, the L1 term, a negative weight).

    Parameters
    ----------
    model : deepxde.Model
        A compiled DeepXDE model on the PyTorch backend (``DDE_BACKEND=pytorch``).
    recorder : DeepXDERecorder, Recorder or None
        The ``plw.adapters.DeepXDERecorder`` passed to ``model.train(callbacks=[...])``, for the trajectory
        and loss history (PCA directions, the trajectory overlay); default None: the run has only theta*.
    coords : sequence of str or None
        Names of the input coordinates; default None: x, y, z (and t for a time-dependent geometry).
    trainable : sequence of str, callable or None
        Which parameters of ``model.net`` span the landscape: names, or a function ``(name, parameter) ->
        bool`` (as ``plw.from_model``); default None, all of them. Renamed from ``params``.
    name : str
        A label for the run's problem; default "deepxde".
    trace : bool
        Evaluate grids on the engine when the model allows it (see above); default True. False: one
        parameter point at a time through DeepXDE's compiled loss.

    Returns
    -------
    ModelRun
        The run, with formulation "deepxde"; ``run.attrs["evaluation"]`` says how it is evaluated.

    Raises
    ------
    ValueError
        When ``model`` is not a compiled DeepXDE model on the PyTorch backend, its network depends on
        training mode (dropout, batch norm), its data has several inputs, or an argument is not allowed.

    Warns
    -----
    UserWarning
        When the loss is evaluated one parameter point at a time (with the reason), or an inverse problem's
        variables are held fixed.
    FutureWarning
        When called with ``params=`` (now ``trainable=``).
    """
    _check_model(model, "plw.adapters.from_deepxde")
    if not isinstance(trace, bool):
        raise ValueError(f"trace must be True or False, got {trace!r}")
    stateful = [n for n, m in model.net.named_modules() if _training_dependent(m)]
    if stateful:
        raise ValueError(
            f"model.net has modules whose output depends on training mode ({', '.join(stateful[:4])}); DeepXDE "
            "evaluates its training loss in training mode, so that loss is random and has no landscape"
        )
    if getattr(model, "external_trainable_variables", None):
        warnings.warn(
            "the DeepXDE model has external trainable variables (an inverse problem); the landscape holds "
            "them at their current values and spans model.net's parameters only",
            UserWarning,
            stacklevel=3,  # the caller, past the renamed_arguments wrapper
        )
    rec = inner_recorder(recorder, "DeepXDERecorder", "model.train(callbacks=[recorder])")
    loss = DeepXDELoss(model)
    fn: DeepXDELoss | TracedDeepXDELoss = loss
    reason: str | None = "trace=False"
    if trace:
        try:
            fn, reason = TracedDeepXDELoss(loss, model, trainable), None
        except Untraceable as exc:
            reason = str(exc)
    points = torch.as_tensor(np.asarray(loss.x)).to(torch.float64)
    soln = getattr(model.data, "soln", None)
    exact = None
    if callable(soln):

        def exact(x):
            x = torch.as_tensor(x)
            return torch.as_tensor(np.asarray(soln(x.detach().cpu().numpy()))).to(dtype=x.dtype)

    domain, coords = _domain(model, coords)
    run = from_model(
        model.net,
        {"deepxde": fn},
        points=points,
        exact=exact,
        domain=domain,
        coords=coords if domain is None else None,
        trainable=trainable,
        recorder=rec,
        name=name,
    )
    if reason is None:
        run.attrs["evaluation"] = "traced"
    else:
        run.attrs["evaluation"] = f"per point: {reason}"
        if trace:
            warnings.warn(
                f"from_deepxde evaluates DeepXDE's loss one parameter point at a time: {reason}",
                UserWarning,
                stacklevel=3,  # the caller, past the renamed_arguments wrapper
            )
    return run


def _training_dependent(m: torch.nn.Module) -> bool:
    if isinstance(m, torch.nn.modules.dropout._DropoutNd):
        return m.p > 0
    return isinstance(m, torch.nn.modules.batchnorm._BatchNorm)


@functools.cache
def recorder_class():
    """``DeepXDERecorder``, a ``deepxde.callbacks.Callback`` (made once deepxde is imported)."""
    dde = _deepxde("plw.adapters.DeepXDERecorder")

    class DeepXDERecorder(dde.callbacks.Callback):
        """Records ``model.net``'s parameters every ``every`` steps of ``model.train`` and DeepXDE's loss terms
        at each step DeepXDE evaluates them (every ``display_every`` steps and the last one); pass it to
        ``model.train(callbacks=[rec])`` and then to ``plw.adapters.from_deepxde(model, recorder=rec)``.

        Steps are DeepXDE's ``train_state.step`` (L-BFGS counts its inner iterations, so a snapshot is taken
        whenever the step passes a multiple of ``every``). One recorder follows one model across several
        ``model.train`` calls. ``.recorder`` is the ``plw.Recorder`` it feeds (None before training).

        Parameters
        ----------
        every : int
            Snapshot interval in DeepXDE's steps, an integer >= 1; default 10.
        max_snapshots : int
            Bound on the snapshots kept in memory, an integer >= 3 (as ``plw.Recorder``); default 500.
        spill_to : str, os.PathLike or None
            A file to write every snapshot to instead of memory (as ``plw.Recorder``); default None.

        Raises
        ------
        ValueError
            When an argument is outside what is allowed, or (in training) the model is not a compiled
            PyTorch-backend DeepXDE model or the recorder already followed another network.
        """

        def __init__(self, every: int = 10, *, max_snapshots: int = 500, spill_to=None):
            super().__init__()
            self.every = check_int("every", every, 1)
            self.max_snapshots = check_int("max_snapshots", max_snapshots, 3)
            self.spill_to = spill_to
            self.recorder: Recorder | None = None

        def on_train_begin(self):
            model = self.model
            _check_model(model, "DeepXDERecorder")
            step = int(model.train_state.step)
            if self.recorder is None:
                self.recorder = Recorder(
                    model.net, self.every, max_snapshots=self.max_snapshots, spill_to=self.spill_to, start=step
                )
            elif self.recorder.model is not model.net:
                raise ValueError("this DeepXDERecorder recorded another network; use one recorder per model")
            self._record(step)

        def on_epoch_end(self):
            self._record(int(self.model.train_state.step))

        def _record(self, step: int) -> None:
            model = self.model
            assert self.recorder is not None, "the recorder is made when training begins"
            steps = model.losshistory.steps
            if steps and steps[-1] == step and model.train_state.loss_train is not None:
                values = np.asarray(model.train_state.loss_train, dtype=np.float64).reshape(-1)
                terms = dict(zip(term_names(model, values.shape[0]), values.tolist()))
                self.recorder.record(step, loss=float(values.sum()), **terms)
            else:
                self.recorder.record(step)

        def __repr__(self) -> str:
            return f"DeepXDERecorder(every={self.every}, {self.recorder!r})"

    DeepXDERecorder.__module__ = __name__
    DeepXDERecorder.__qualname__ = "DeepXDERecorder"
    return DeepXDERecorder


if TYPE_CHECKING:  # mypy checks here that DeepXDE's losses give residual vectors as from_model reads them

    def _deepxde_loss_is_a_residual_loss(loss: DeepXDELoss) -> ResidualLoss:
        return loss

    def _traced_loss_is_a_residual_loss(loss: TracedDeepXDELoss) -> ResidualLoss:
        return loss
