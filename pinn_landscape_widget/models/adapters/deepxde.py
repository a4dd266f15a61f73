"""``from_deepxde``: a compiled DeepXDE model (PyTorch backend) as a run, with DeepXDE's own loss terms.

The loss of a parameter point is DeepXDE's compiled training loss (``model.outputs_losses_train``) on the
model's training points ``model.data.train_x``, with a module holding that point in place of ``model.net``:
the terms are DeepXDE's, in DeepXDE's order (PDE residuals, then one per boundary or initial condition in
the order of ``data.bcs``, then the L1 penalty of an ``("l1", c)`` regularizer), each already multiplied
by its ``loss_weights`` entry, so they add up to the loss DeepXDE minimises. An ``("l2", c)`` regularizer
is DeepXDE's optimizer weight decay, not a loss term, and is not in the landscape.

deepxde is never imported here: a DeepXDE model exists only once the user imported it (importing it
without the environment variable ``DDE_BACKEND`` writes ``~/.deepxde/config.json``).
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import warnings

import numpy as np
import torch

from ..._checks import check_int, renamed_arguments
from ..._optional import require
from ..custom import DEFAULT_COORDS, from_model
from ..recorder import Recorder
from ._common import box, inner_recorder, module_dtype
from ._deepxde_traced import LOCK as _LOCK
from ._deepxde_traced import TracedDeepXDELoss, Untraceable

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
    """DeepXDE's training loss terms for a module shaped like ``model.net``: {name: weighted term}."""

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
        model = self.model
        if getattr(model.data, "train_x", self.x) is not self.x:
            raise RuntimeError(
                "the DeepXDE model's training points changed (resampled?) after from_deepxde; DeepXDE's "
                "boundary targets belong to the points, so make the run again: plw.adapters.from_deepxde(model)"
            )
        x, y, aux = self._inputs(module_dtype(module))
        dde = sys.modules["deepxde"]
        with _LOCK, torch.enable_grad():
            net = model.net
            model.net = module
            try:
                losses = model.outputs_losses_train(x, y, aux)[1]
            finally:
                model.net = net
                dde.grad.clear()
        losses = losses.reshape(-1)
        names = self.names or term_names(model, losses.shape[0])
        if len(names) != losses.shape[0]:
            raise RuntimeError(f"DeepXDE returned {losses.shape[0]} loss terms, {len(names)} expected ({names})")
        return dict(zip(names, losses.unbind(0)))


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
