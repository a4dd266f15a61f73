"""DeepXDE's training loss for many parameter points per pass, on the engine's MLP jets.

When ``model.net`` is a network the engine knows (a ``dde.nn.FNN`` with one activation among tanh, sin,
SiLU and GELU, equal hidden widths, no feature or output transform) and the data is ``dde.data.PDE`` or
``dde.data.TimePDE``, the loss of K parameter points is computed as follows:

1. trace: DeepXDE's own loss code (``data.losses_train``: the PDE residual on every training point, each
   condition's ``bc.error`` on its slice of the points, the loss function) runs once with
   ``dde.grad.jacobian`` and ``dde.grad.hessian`` replaced by readers of a jet that carries every first and
   second input partial; the readers note which (output, input) first partials and (output, i, j) second
   partials it reads;
2. the MLP propagates exactly those partials for all K parameter points at once (``MLP.jets``) on
   ``train_x`` (condition points first, then PDE points, as DeepXDE stacks them);
3. DeepXDE's loss code runs again under ``torch.func.vmap`` over the K axis, the readers handing it the
   precomputed jet channels; DeepXDE's loss weights and L1 penalty are applied as its compiled loss does.

So the terms, their order, their weights and the condition targets are DeepXDE's by construction.

When the loss reads pure second partials of the same two or more inputs for every output that reads any
(d2y/dx2 and d2y/dy2 of a Laplacian written as two ``dde.grad.hessian`` calls) and no mixed one, the jet
carries their sum as one channel instead: the first of them the pde asks for is handed the sum, the others
zero. For a loss that uses them only added up (Poisson, heat, Navier-Stokes viscosity) that is the same
number with one channel less: a 2-D Laplacian is then the value/gradient/Laplacian jet the fused C kernel
computes (PINNacle's Poisson2D_Classic in benchmarks/bench_scale.py, 18,434 points, 2-100x5-1 tanh, float32:
0.11 s against 0.17 s a parameter point on one core).
Whether the sum is all the loss uses is checked, not assumed: the summed trace must match DeepXDE's own
loss below, or the partials are carried one by one (a wave equation, u_tt - c^2 u_xx).

Before the traced loss is used it is checked against DeepXDE's own per-point loss at theta* and at a point
off it (float64); anything that cannot be traced (data-dependent control flow, a derivative of a slice of y, an
unknown network, ...) raises ``Untraceable`` with a one-line reason, and the adapter falls back to the
per-point path.
"""

from __future__ import annotations

import contextlib
import copy
import math
import sys
import threading

import torch

from ...engine._threads import PerThreadState
from ...engine.mlp import ACTIVATIONS, MLP
from ...engine.module_network import float_parameters
from ...pde.derivatives import Jet, JetSpec, SecondOrder


def check_points(model, x) -> None:
    """A RuntimeError when DeepXDE's training points are no longer ``x``, those the run was made with."""
    if getattr(model.data, "train_x", x) is not x:
        raise RuntimeError(
            "the DeepXDE model's training points changed (resampled?) after from_deepxde; DeepXDE's "
            "boundary targets belong to the points, so make the run again: plw.adapters.from_deepxde(model)"
        )


# the train_x arrays of subsampled copies (see TracedDeepXDELoss.subsample)
_KEPT_SUBSETS: list = []

# DeepXDE caches input derivatives in module-level dicts (cleared after every loss evaluation), the per-point
# loss swaps ``model.net`` and the traced one stubs ``dde.grad``: one evaluation at a time, whichever thread asks
LOCK = threading.RLock()


# Below this many training points the jets take torch's out-of-place kernel: the fused C kernels work on
# blocks of input points and are 2-3x slower than K-batched matmuls when a parameter point has so few
# (DeepXDE's Poisson 1-D example: 18 points; measured on 2 CPU cores, float32, width 50)
SMALL = 64


class Untraceable(Exception):
    """DeepXDE's loss of this model cannot run on the batched engine; the message says why (one line)."""


def _activation(net, dde) -> str:
    """The MLP's name of the one activation FNN applies between its layers."""
    bkd = dde.backend
    known = {}
    for name in ACTIVATIONS:
        for fn in (getattr(bkd, name, None), getattr(torch, name, None), getattr(torch.nn.functional, name, None)):
            if fn is not None:
                known[fn] = name
    # a list names one activation per layer; FNN applies those of the hidden layers only
    acts = net.activation[: len(net.linears) - 1] if isinstance(net.activation, list) else [net.activation]
    names = {known.get(a) for a in acts}
    found = names.pop() if len(names) == 1 else None
    if found is None:
        shown = ", ".join(sorted({getattr(a, "__name__", type(a).__name__) for a in acts}))
        raise Untraceable(
            f"model.net's activation ({shown}) is not one the engine's MLP has ({', '.join(ACTIVATIONS)})"
        )
    return found


def fnn_as_mlp(net, dde) -> MLP:
    """The engine's MLP with ``net``'s architecture (a ``dde.nn.FNN``); raises Untraceable otherwise.

    FNN's parameters (``linears.<n>.weight``, ``linears.<n>.bias``) come in the MLP's flat layout order
    (per layer: weight rows, then bias): ``TracedDeepXDELoss.index`` maps theta into it (the identity when
    every parameter spans the landscape)."""
    if type(net) is not dde.nn.FNN:
        raise Untraceable(f"model.net is a {type(net).__name__}; the batched engine knows dde.nn.FNN")
    if getattr(net, "_input_transform", None) is not None:
        raise Untraceable("model.net has a feature transform (apply_feature_transform)")
    if getattr(net, "_output_transform", None) is not None:
        raise Untraceable("model.net has an output transform (apply_output_transform)")
    if any(True for _ in net.buffers()) or any(not p.requires_grad for p in net.parameters()):
        raise Untraceable("model.net has buffers or frozen parameters")
    linears = list(net.linears)
    if len(linears) < 2 or any(type(m) is not torch.nn.Linear or m.bias is None for m in linears):
        raise Untraceable("model.net needs at least one hidden layer of torch.nn.Linear with biases")
    if [n for n, _ in net.named_parameters()] != [
        f"linears.{i}.{w}" for i in range(len(linears)) for w in ("weight", "bias")
    ]:
        raise Untraceable("model.net has parameters other than its linear layers'")
    widths = {m.out_features for m in linears[:-1]} | {m.in_features for m in linears[1:]}
    if len(widths) != 1:
        raise Untraceable(f"model.net's hidden layers have different widths ({sorted(widths)})")
    activation = _activation(net, dde)
    try:
        return MLP(linears[0].in_features, widths.pop(), len(linears) - 1, activation, out_dim=linears[-1].out_features)
    except ValueError as exc:
        raise Untraceable(f"model.net is beyond the engine's MLP ({exc})") from exc


def _closure(fn) -> dict:
    cells = getattr(fn, "__closure__", None) or ()
    return dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in cells)))


def compiled_loss(model) -> tuple:
    """(loss_fn, l1_factor) of DeepXDE's compiled PyTorch loss (``Model._compile_pytorch``)."""
    try:
        inner = _closure(_closure(model.outputs_losses_train)["outputs_losses"])
        return inner["loss_fn"], float(inner["l1_factor"])
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise Untraceable("DeepXDE's compiled loss function was not found (a DeepXDE version not known here)") from exc


class _Readers:
    """What the stubbed ``dde.grad`` reads while DeepXDE's loss code runs for one parameter point."""

    def __init__(self, dim: int, n_out: int):
        self.dim, self.n_out = dim, n_out
        self.spec: JetSpec | None = None
        self.parts: list | None = None  # [output][channel] -> [N] (one parameter point, inside vmap)
        self.outputs: torch.Tensor | None = None
        self.inputs: torch.Tensor | None = None
        self.read: set = set()
        # inputs whose pure second partials the jet carries summed in one channel (see the module docstring)
        self.fold: tuple[int, ...] | None = None

    def __getstate__(self) -> dict:
        # what one evaluation hands DeepXDE's code stays out of a pickle: a run sent to dask workers while
        # another thread evaluates would carry vmap's batched tensors, which cannot be pickled
        return {**self.__dict__, "parts": None, "outputs": None, "inputs": None}

    def _check(self, what, ys, xs):
        if ys is not self.outputs:
            raise Untraceable(
                f"dde.grad.{what} was called on a tensor other than the network's outputs y (a slice or a function "
                "of y?); the engine propagates derivatives of y itself"
            )
        if xs is not self.inputs:
            raise Untraceable(f"dde.grad.{what} was called with inputs other than the pde's x")

    def first(self, k: int, j: int) -> torch.Tensor:
        self.read.add(("first", k, j))
        assert self.spec is not None and self.parts is not None
        if j not in self.spec.first:
            raise Untraceable(f"the pde read dy{k}/dx{j}, which its first evaluation did not read")
        return self.parts[k][self.spec.first_channel(j)]

    def second(self, k: int, i: int, j: int) -> torch.Tensor:
        i, j = min(i, j), max(i, j)
        self.read.add(("second", k, i, j))
        assert self.spec is not None and self.parts is not None
        if self.fold is not None and i == j and i in self.fold:
            if i != self.fold[0]:  # the sum is handed to the first input's partial, the others add nothing
                return torch.zeros_like(self.parts[k][0])
            form = _summed(self.fold)
        else:
            form = SecondOrder.partial(i, j)
        if form not in self.spec.second:
            raise Untraceable(f"the pde read d2y{k}/dx{i}dx{j}, which its first evaluation did not read")
        return self.parts[k][self.spec.second_channel(form)]

    def jacobian(self, ys, xs, i=None, j=None):
        """As DeepXDE's reverse-mode ``jacobian``: J[i, j] as [N, 1], or row i as [N, dim_x]."""
        self._check("jacobian", ys, xs)
        dim_y, dim_x = self.n_out, self.dim
        if i is None and j is None:
            if dim_x > 1 or dim_y > 1:
                raise ValueError("i and j cannot be both None.")
            i = j = 0
        if i is not None and not 0 <= i < dim_y:
            raise ValueError(f"i={i} is not valid.")
        if j is not None and not 0 <= j < dim_x:
            raise ValueError(f"j={j} is not valid.")
        if i is None:
            if dim_y > 1:
                raise NotImplementedError("Reverse-mode autodiff doesn't support computing a column.")
            i = 0
        if j is None or dim_x == 1:
            return torch.stack([self.first(i, c) for c in range(dim_x)], dim=1)
        return self.first(i, j)[:, None]

    def hessian(self, ys, xs, component=0, i=0, j=0):
        """As DeepXDE's reverse-mode ``hessian``: d2 y_component / dx_i dx_j as [N, 1]."""
        self._check("hessian", ys, xs)
        if component >= self.n_out:
            raise ValueError(f"The component of ys={component} cannot be larger than the dimension={self.n_out}.")
        for name, v in (("i", i), ("j", j)):
            if v is None or not 0 <= v < self.dim:
                raise ValueError(f"{name}={v} is not valid.")
        if self.dim == 1:
            i = j = 0
        return self.second(component, i, j)[:, None]


@contextlib.contextmanager
def stubbed_grad(dde, readers: _Readers):
    """``dde.grad.jacobian`` / ``hessian`` replaced by the readers (process-wide: hold the adapter's lock)."""
    grad = dde.gradients
    saved = grad.jacobian, grad.hessian
    grad.jacobian, grad.hessian = readers.jacobian, readers.hessian
    try:
        yield
    finally:
        grad.jacobian, grad.hessian = saved


def _full_spec(dim: int) -> JetSpec:
    return JetSpec.build(dim, range(dim), [SecondOrder.partial(i, j) for i in range(dim) for j in range(i, dim)])


def _spec_of(dim: int, read: set, fold: tuple[int, ...] | None = None) -> JetSpec:
    """The jet the reads need: their first partials, and their second partials one channel each, or with
    ``fold`` the sum of the fold's pure second partials in one channel."""
    first = {key[2] for key in read if key[0] == "first"}
    if fold is not None:
        return JetSpec.build(dim, first, [_summed(fold)])
    second = sorted({SecondOrder.partial(key[2], key[3]) for key in read if key[0] == "second"}, key=lambda f: f.terms)
    return JetSpec.build(dim, first, second)


def _summed(inputs: tuple[int, ...]) -> SecondOrder:
    return SecondOrder(tuple((i, i, 1.0) for i in inputs))


def _fold_of(read: set) -> tuple[int, ...] | None:
    """The inputs whose pure second partials could travel summed: every output that reads a second partial
    reads d2/dx_i^2 for the same two or more inputs i and nothing mixed; None otherwise."""
    per_output: dict[int, set[int]] = {}
    for key in read:
        if key[0] == "second":
            if key[2] != key[3]:
                return None
            per_output.setdefault(key[1], set()).add(key[2])
    sets = {frozenset(v) for v in per_output.values()}
    if len(sets) != 1:
        return None
    inputs = tuple(sorted(sets.pop()))
    return inputs if len(inputs) >= 2 else None


class TracedDeepXDELoss(PerThreadState):
    """DeepXDE's training loss terms: ``fn(module)`` as DeepXDE computes them (one parameter point, autograd),
    and ``batched_terms(params [K, P])`` on the engine's jets (see the module docstring); ``residuals(module)``,
    the terms' residual vectors, also by DeepXDE's own code."""

    follows_model_dtype = True  # casts its data to the module's dtype: float64 curvature is honoured

    # grid chunks may call batched_terms from several threads: the jets run in parallel, DeepXDE's loss code
    # (with dde.grad stubbed process-wide) one chunk at a time under the adapter's lock
    thread_safe = True

    def __init__(self, loss, model, params=None):
        self.loss = loss
        self.model = model
        self.names = list(loss.names)
        dde = sys.modules["deepxde"]
        data = model.data
        if type(data) not in (dde.data.PDE, dde.data.TimePDE):
            raise Untraceable(f"model.data is a {type(data).__name__}; the traced path knows dde.data.PDE and TimePDE")
        if getattr(dde.config, "autodiff", "reverse") != "reverse":
            raise Untraceable(f"DeepXDE's autodiff is {dde.config.autodiff!r}; the traced path follows 'reverse'")
        if data.pde is not None and dde.utils.get_num_args(data.pde) != 2:
            raise Untraceable("the pde takes auxiliary variables (pde(x, y, aux))")
        if any(getattr(bc, "batch_size", None) is not None for bc in data.bcs):
            raise Untraceable("a PointSetBC draws a new batch of points at every step (batch_size)")
        self.mlp = fnn_as_mlp(model.net, dde)
        compiled_loss(model)  # found now, read again at every evaluation (as DeepXDE's own loss: a recompile counts)
        # theta (model.net's selected parameters, named_parameters order) -> the MLP's flat vector
        names = self.selected = [n for n, _ in float_parameters(model.net, params)]
        layout = {
            f"linears.{n // 2}.{'weight' if n % 2 == 0 else 'bias'}": s
            for n, (_, s, _) in enumerate(self.mlp.param_layout())
        }
        self.index = torch.cat([torch.arange(layout[n].start, layout[n].stop) for n in names])
        self.identity = bool(torch.equal(self.index, torch.arange(self.mlp.n_params)))
        self.base = torch.nn.utils.parameters_to_vector(model.net.parameters()).detach()
        self.tensor_slices = [s for _, s, _ in self.mlp.param_layout()]
        self.n_params = self.index.numel()
        self._x: dict = {}
        # subsampled copies by (size, seed), shared by the copies: a preview asked again reuses its rows
        self._subsets: dict = {}
        self._local = threading.local()
        self.readers = _Readers(self.mlp.in_dim, self.mlp.out_dim)
        theta = self.base[self.index].double()
        try:
            dim = self.mlp.in_dim
            self.spec = _full_spec(dim)
            with torch.no_grad():
                self.batched_terms(theta[None])
            read = set(self.readers.read)
            points, own = self._deepxde_terms(theta)
            fold = _fold_of(read)
            mismatch = None
            if fold is not None:  # the summed channel, kept only if it gives DeepXDE's loss
                self.spec, self.readers.fold = _spec_of(dim, read, fold), fold
                mismatch = self._mismatch(points, own)
            if fold is None or mismatch is not None:
                self.spec, self.readers.fold = _spec_of(dim, read), None
                mismatch = self._mismatch(points, own)
            if mismatch is not None:
                raise Untraceable(mismatch)
        except Untraceable:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever stops the trace sends the model to the per-point path
            msg = " ".join(str(exc).split())
            raise Untraceable(
                f"DeepXDE's loss cannot be evaluated batched ({type(exc).__name__}: {msg[:160]})"
            ) from exc

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_subsets"] = {}  # previews' copies stay here: a dask worker evaluates the full loss
        return state

    # --- fn(module): DeepXDE's own loss ---------------------------------------------------------------------
    def __call__(self, module: torch.nn.Module) -> dict[str, torch.Tensor]:
        if self._rows is not None:
            raise ValueError(
                "a subsampled DeepXDE loss is evaluated batched only (landscape, the widget's previews); "
                "differentiate the run's own loss"
            )
        return self.loss(module)

    @property
    def why_no_residuals(self) -> str | None:
        """Why ``residuals`` is not available (None: it is); see ``DeepXDELoss.why_no_residuals``."""
        return self.loss.why_no_residuals

    def residuals(self, module: torch.nn.Module) -> dict[str, torch.Tensor]:
        """Each term's residual vector by DeepXDE's own loss code (``DeepXDELoss.residuals``): one parameter
        point, autograd."""
        if self._rows is not None:
            raise ValueError("a subsampled DeepXDE loss has no residual vectors; take them from the run's own loss")
        return self.loss.residuals(module)

    def _deepxde_terms(self, theta: torch.Tensor) -> tuple[torch.Tensor, list[dict[str, float]]]:
        """theta* and a point off it [2, P] (float64), and DeepXDE's own terms at each (the reference of the
        check in ``_mismatch``)."""
        gen = torch.Generator().manual_seed(0)
        off = theta + 0.3 * theta.abs().mean() * torch.randn(theta.shape, generator=gen, dtype=theta.dtype)
        points = torch.stack([theta, off])
        module = _module_copy(self.model.net, torch.float64)
        chosen = set(self.selected)
        selected = [p for n, p in module.named_parameters() if n in chosen]
        own = []
        for k in range(points.shape[0]):
            with torch.no_grad():
                torch.nn.utils.vector_to_parameters(points[k], selected)
            own.append({t: float(v.detach()) for t, v in self.loss(module).items()})
        return points, own

    def _mismatch(self, points: torch.Tensor, own: list[dict[str, float]]) -> str | None:
        """None when the traced terms equal DeepXDE's own ``own`` at ``points`` (float64, 1e-7 relative), else
        the reason."""
        with torch.no_grad():
            traced = self.batched_terms(points)
        for k, terms in enumerate(own):
            scale = sum(abs(v) for v in terms.values())
            for t in self.names:
                a, b = float(traced[t][k]), terms[t]
                if not math.isfinite(a) or abs(a - b) > 1e-7 * abs(b) + 1e-10 * scale:
                    return (
                        f"the traced loss differs from DeepXDE's (term {t!r}: {a:.10g} against {b:.10g}); the pde "
                        "does something the trace does not see"
                    )
        return None

    # --- the batched path ------------------------------------------------------------------------------------
    def _full(self, params: torch.Tensor) -> torch.Tensor:
        if self.identity:
            return params
        full = self.base.to(device=params.device, dtype=params.dtype).expand(params.shape[0], -1).clone()
        full[:, self.index.to(params.device)] = params
        return full

    def _inputs(self, dtype, device) -> tuple:
        key = (dtype, str(device))
        if key not in self._x:
            x_np, y, _ = self.loss._inputs(dtype)
            if self._rows is not None:
                x_np, y = x_np[self._rows.numpy()], None if y is None else y[self._rows.numpy()]
            self._x[key] = (x_np, torch.as_tensor(x_np).to(device=device), None if y is None else torch.as_tensor(y))
        return self._x[key]

    # --- subsampled copies (the widget's previews, landscape(subsample=)) -----------------------------------
    _rows: torch.Tensor | None = None  # a subsampled copy's rows of train_x, in order
    _subset_x = None  # ... and its train_x and num_bcs, which DeepXDE's loss code reads from model.data
    _subset_num_bcs: list[int] | None = None
    subsample_points: dict[str, list[int]] | None = None

    def _sets(self) -> list[tuple[str, int, int]]:
        """(name, first row, rows) of each point set of train_x: every condition's rows, then the pde's."""
        data = self.model.data
        n_rows = int(self.loss.x.shape[0])
        start, sets = 0, []
        for i, (bc, n) in enumerate(zip(data.bcs, data.num_bcs)):
            sets.append((f"{type(bc).__name__.lower()}_{i}", start, int(n)))
            start += int(n)
        sets.append(("pde", start, n_rows - start))
        return sets

    def point_set_sizes(self) -> list[int]:
        """The rows of each point set ``subsample`` cuts: every condition's, then the pde's. A ValueError
        for conditions whose error is not one value per row (PeriodicBC pairs rows, PointSetBC holds its
        values apart from the points)."""
        dde = sys.modules["deepxde"]
        rowwise = (dde.icbc.DirichletBC, dde.icbc.NeumannBC, dde.icbc.RobinBC, dde.icbc.OperatorBC, dde.icbc.IC)
        for bc in self.model.data.bcs:
            if type(bc) not in rowwise:
                raise ValueError(
                    f"a {type(bc).__name__} cannot be subsampled (its error is not one value per point); the "
                    "traced DeepXDE loss subsamples DirichletBC, NeumannBC, RobinBC, OperatorBC and IC"
                )
        if getattr(self.model.data, "train_aux_vars", None) is not None:
            raise ValueError("DeepXDE data with auxiliary variables cannot be subsampled")
        return [n for _, _, n in self._sets()]

    def subsample(self, size, seed: int = 0) -> TracedDeepXDELoss:
        """The same loss on a random subset of each point set's rows (``size`` per set as
        ``landscape(subsample=)``), drawn once with ``seed``: DeepXDE's own loss code on those rows, so each
        term is DeepXDE's loss function (a mean for its mean squared error) over the kept rows.
        ``subsample_points`` is ``{set: [kept, rows]}``. A ValueError where ``point_set_sizes`` gives one."""
        from ...engine.objective import subsample_size

        self.point_set_sizes()
        key = (type(size).__name__, size, int(seed))
        if key in self._subsets:
            return self._subsets[key]
        gen = torch.Generator().manual_seed(int(seed))
        rows, info, num_bcs = [], {}, []
        for name, start, n_all in self._sets():
            n = subsample_size(size, n_all)
            rows.append(start + torch.sort(torch.randperm(n_all, generator=gen)[:n]).values)
            info[name] = [n, n_all]
            if name != "pde":
                num_bcs.append(n)
        part = copy.copy(self)
        part._rows = torch.cat(rows)
        part._subset_num_bcs = num_bcs
        part._subset_x = self.loss.x[part._rows.numpy()]
        # DeepXDE caches a condition's target values by id(train_x): the array must never be freed and its id
        # reused by another array while the process lives (a few rows of inputs)
        _KEPT_SUBSETS.append(part._subset_x)
        part._x = {}
        part._local = threading.local()
        part.subsample_points = info
        self._subsets[key] = part
        return part

    @contextlib.contextmanager
    def _data_of_subset(self, data):
        """Within: model.data's train_x and num_bcs are this subset's (DeepXDE's conditions read them)."""
        if self._rows is None:
            yield
            return
        saved = data.train_x, data.num_bcs
        data.train_x, data.num_bcs = self._subset_x, list(self._subset_num_bcs)
        try:
            yield
        finally:
            data.train_x, data.num_bcs = saved

    def batched_terms(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        """{term: [K]} for params [K, P] (theta layout), without an autograd graph."""
        model = self.model
        full = self._full(params)
        x_np, x, targets = self._inputs(params.dtype, params.device)
        jet = self.mlp.jets(full, x, self.spec, functional=x.shape[0] < SMALL)
        # the values on train_x, for batched_values on the same parameters (the error on the run's points)
        self._local.last = (params, x, torch.stack([p[0] for p in jet.parts], dim=2))
        readers = self.readers
        data = model.data
        loss_fn, l1_factor = compiled_loss(model)

        def one(parts):
            readers.parts = parts
            readers.outputs = torch.stack([p[0] for p in parts], dim=1)
            readers.inputs = x
            losses = data.losses_train(targets, readers.outputs, loss_fn, x, model, aux=None)
            if not isinstance(losses, list):
                losses = [losses]
            return torch.stack(losses)

        dde = sys.modules["deepxde"]
        with LOCK:  # under the lock: no subsampled copy has swapped model.data's points in
            check_points(model, self.loss.x)
        with LOCK, stubbed_grad(dde, readers), self._data_of_subset(data):
            readers.spec = jet.spec
            try:
                losses = torch.func.vmap(one)(jet.parts)
            finally:
                readers.parts = readers.outputs = readers.inputs = None
                dde.grad.clear()
        if model.loss_weights is not None:  # as DeepXDE: the weights in their own dtype, then the losses'
            losses *= torch.as_tensor(model.loss_weights).to(losses.device)
        if l1_factor > 0:
            l1 = torch.stack([full[:, s].abs().sum(1) for s in self.tensor_slices], dim=1).sum(1)
            losses = torch.cat([losses, (l1_factor * l1)[:, None]], dim=1)
        if losses.shape[1] != len(self.names):
            raise RuntimeError(
                f"the traced loss has {losses.shape[1]} terms, {len(self.names)} expected ({self.names})"
            )
        return dict(zip(self.names, losses.unbind(1)))

    def batched_values(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The network's outputs [K, N, m] at points x [N, d]."""
        last = getattr(self._local, "last", None)
        self._local.last = None
        if last is not None and last[0] is params and last[1].shape == x.shape and torch.equal(last[1], x):
            return last[2]  # batched_terms just computed them
        jet: Jet = self.mlp.jets(self._full(params), x.to(params.dtype), 0)
        return torch.stack([p[0] for p in jet.parts], dim=2)

    def bytes_per_point(self, dtype=torch.float32, device="cpu") -> int:
        """Rough working memory of one parameter point (for chunk sizing)."""
        item = torch.empty((), dtype=dtype).element_size()
        n = self.loss.x.shape[0] * self.spec.n_channels * self.mlp.out_dim
        return n * (4 * self.mlp.width + 16) * item + 4 * self.mlp.n_params * item


def _module_copy(net: torch.nn.Module, dtype) -> torch.nn.Module:
    return copy.deepcopy(net).to(dtype)
