"""Any ``torch.nn.Module`` as the network of a problem: its outputs and input derivatives at K parameter
points, through ``torch.func``.

The module's float parameters are flattened into one vector theta (in ``named_parameters`` order); buffers
(e.g. BatchNorm running statistics) are held at their current values. A parameter point is evaluated with
``torch.func.functional_call``; input derivatives are forward-mode directional derivatives (``jvp``, and a
``jvp`` of a ``jvp`` for second-order ones), one per partial a problem reads; K parameter points go through
``vmap``. This assumes the module acts on each input point separately (true of MLPs, Fourier-feature,
ResNet and SIREN networks, and of normalisation layers in eval mode). A module that ``vmap`` cannot batch
is evaluated one parameter point at a time, with input derivatives by autograd.

A plain ``nn.Sequential`` of Linear layers of equal hidden width with tanh, sin, GELU or SiLU between them
is recognised (``as_network``) and gets the fused engine of ``MLP`` instead.
"""

from __future__ import annotations

import copy
import threading
import warnings

import torch

from ..pde.derivatives import Jet, JetSpec
from ._threads import PerThreadState
from .mlp import MLP


def float_parameters(module: torch.nn.Module, selected=None) -> list[tuple[str, torch.nn.Parameter]]:
    """The (name, parameter) pairs that span theta: float parameters, optionally filtered by ``selected``
    (a list of names, or a function (name, parameter) -> bool)."""
    pairs = [(n, p) for n, p in module.named_parameters() if p.dtype.is_floating_point]
    if selected is None:
        return pairs
    if callable(selected):
        return [(n, p) for n, p in pairs if selected(n, p)]
    names = list(selected)
    known = {n for n, _ in pairs}
    missing = [n for n in names if n not in known]
    if missing:
        raise ValueError(
            f"trainable names {missing} are not float parameters of the model; its parameters: {sorted(known)}"
        )
    return [(n, p) for n, p in pairs if n in set(names)]


class ModuleNetwork(PerThreadState):
    """A user's module as a network: flat parameters, batched jets, plain copies for ``model_at``."""

    def __init__(
        self,
        module: torch.nn.Module,
        in_dim: int,
        out_dim: int,
        *,
        dtype=torch.float32,
        selected=None,
        quiet: bool = False,
        stacklevel: int = 3,
    ):
        if not isinstance(module, torch.nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(module).__name__}")
        pairs = float_parameters(module, selected)
        if not pairs:
            what = "selects no parameters" if selected is not None else "has no float parameters"
            raise ValueError(f"the model {what}; a landscape needs parameters to vary")
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)
        self.template = copy.deepcopy(module).to(dtype)
        self.names = [n for n, _ in pairs]
        self.shapes = [tuple(p.shape) for _, p in pairs]
        self.sizes = [p.numel() for _, p in pairs]
        self.n_params = sum(self.sizes)
        name_set = set(self.names)
        # everything that does not span theta is held fixed: buffers and unselected parameters
        self.fixed = {n: t.detach() for n, t in self.template.named_parameters() if n not in name_set}
        self.fixed.update({n: b.detach() for n, b in self.template.named_buffers()})
        stateful = [n for n, m in self.template.named_modules() if isinstance(m, _TRAINING_DEPENDENT)]
        if stateful:
            self.template.eval()
        if (stateful or self.fixed) and not quiet:
            held = sorted({n.rsplit(".", 1)[0] for n in self.fixed}) if self.fixed else []
            warnings.warn(
                "the model's buffers and unselected parameters are held at their current values"
                + (f" ({', '.join(held[:6])}{', ...' if len(held) > 6 else ''})" if held else "")
                + (
                    "; modules whose output depends on training mode (" + ", ".join(stateful[:4]) + ") are evaluated "
                    "in eval mode"
                    if stateful
                    else ""
                ),
                UserWarning,
                stacklevel=stacklevel,  # the caller of the function that made the network
            )
        self.width = max(max(s) for s in self.shapes if s) if any(self.shapes) else 64
        self._local = threading.local()  # functional_call swaps a module's tensors: one copy per thread
        self.activation = None
        self.mode = "vmap"  # on a GPU; falls back to "loop" (autograd per parameter point) when vmap cannot batch it
        # on a CPU every parameter point goes through autograd on a module copy of its thread, so grid chunks
        # can run on several threads (torch's forward-mode AD levels are process-wide: vmap never does)
        self.thread_safe = True
        self.vmap_on_cpu = False  # take the vmap path on a CPU too (then grids run on one Python thread)

    # --- parameters --------------------------------------------------------------------------------------------
    def param_layout(self) -> list[tuple[str, slice, tuple[int, ...]]]:
        out, off = [], 0
        for n, shape, size in zip(self.names, self.shapes, self.sizes):
            out.append((n, slice(off, off + size), shape))
            off += size
        return out

    def flatten(self, module: torch.nn.Module | None = None) -> torch.Tensor:
        """theta of ``module`` (default: the module as given), in this network's layout."""
        params = dict((module or self.template).named_parameters())
        return torch.cat([params[n].detach().reshape(-1) for n in self.names])

    def init(self, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
        """The module's own parameters (a user's module is initialised by its user; ``seed`` is not used)."""
        return self.flatten().to(dtype)

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        out, off = {}, 0
        for n, shape, size in zip(self.names, self.shapes, self.sizes):
            out[n] = theta[off : off + size].view(shape)
            off += size
        return out

    def module(self, params: torch.Tensor) -> torch.nn.Module:
        """A copy of the module holding ``params``."""
        m = copy.deepcopy(self.template).to(dtype=params.dtype, device=params.device)
        values = self.unflatten(params.detach())
        with torch.no_grad():
            for n, p in m.named_parameters():
                if n in values:
                    p.copy_(values[n])
        return m

    @property
    def description(self) -> str:
        return f"{type(self.template).__name__} ({self.n_params} parameters)"

    # --- evaluation ----------------------------------------------------------------------------------------------
    def _module_for_thread(self) -> torch.nn.Module:
        m = getattr(self._local, "module", None)
        if m is None:
            m = self._local.module = copy.deepcopy(self.template)
        return m

    def _forward(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(self._module_for_thread(), {**self.fixed, **self.unflatten(theta)}, (x,))
        return out.reshape(x.shape[0], self.out_dim)

    def _channels(self, theta: torch.Tensor, x: torch.Tensor, spec: JetSpec) -> list[torch.Tensor]:
        """[value, first partials..., second-order channels...], each [N, m], by forward-mode AD."""

        def f(z):
            return self._forward(theta, z)

        def unit(i):
            t = torch.zeros_like(x)
            t[:, i] = 1
            return t

        value = f(x)
        chans = [value]
        for i in spec.first:
            chans.append(torch.func.jvp(f, (x,), (unit(i),))[1])
        for form in spec.second:
            acc = None
            for i, j, c in form.terms:
                ti, tj = unit(i), unit(j)
                d2 = torch.func.jvp(lambda z, ti=ti: torch.func.jvp(f, (z,), (ti,))[1], (x,), (tj,))[1]
                d2 = d2 if c == 1.0 else c * d2
                acc = d2 if acc is None else acc + d2
            chans.append(acc)
        return chans

    def _channels_autograd(self, theta: torch.Tensor, x: torch.Tensor, spec: JetSpec) -> list[torch.Tensor]:
        """The same channels by reverse-mode autograd on the inputs (any module, one parameter point)."""
        keep = torch.is_grad_enabled() and theta.requires_grad
        with torch.enable_grad():
            xg = x.detach().requires_grad_(spec.order >= 1)
            u = self._forward(theta, xg)
            chans = [u]
            if spec.order == 0:
                return [c if keep else c.detach() for c in chans]
            grads = []
            for k in range(self.out_dim):
                (g,) = torch.autograd.grad(u[:, k].sum(), xg, create_graph=True, allow_unused=True)
                grads.append(torch.zeros_like(xg) if g is None else g)
            for i in spec.first:
                chans.append(torch.stack([g[:, i] for g in grads], dim=1))
            for form in spec.second:
                cols = []
                for k in range(self.out_dim):
                    acc = torch.zeros_like(u[:, k])
                    for i, j, c in form.terms:
                        gi = grads[k][:, i]
                        if gi.requires_grad:
                            (h,) = torch.autograd.grad(gi.sum(), xg, create_graph=True, allow_unused=True)
                            if h is not None:
                                acc = acc + c * h[:, j]
                    cols.append(acc)
                chans.append(torch.stack(cols, dim=1))
        return [c if keep else c.detach() for c in chans]

    def jets(self, params: torch.Tensor, x: torch.Tensor, spec: JetSpec | int = 0, functional: bool = False) -> Jet:
        """Outputs and the spec's input derivatives at x [N, d] for params [K, P].

        On a GPU, grids (no autograd graph wanted) batch the K parameter points with ``vmap`` over
        forward-mode derivatives. Otherwise, and for training and the Hessian tools (a graph to the
        parameters), each parameter point takes autograd on the inputs, which backpropagates (twice, for
        Hessian-vector products) like a hand-written PINN loss."""
        if isinstance(spec, int):
            spec = JetSpec.classic(x.shape[1], spec)
        differentiable = functional or (torch.is_grad_enabled() and params.requires_grad)
        chans = None
        # vmap batches K parameter points into large kernels, which pays on a GPU; on a CPU the ops are large
        # already (N points x width) and forward-over-forward derivatives cost more than autograd's two passes
        if not differentiable and self.mode == "vmap" and (params.device.type != "cpu" or self.vmap_on_cpu):
            try:
                with torch.no_grad(), warnings.catch_warnings():
                    # torch.func compiles some of its rules with torch.jit.script, which warns of its own deprecation
                    warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=DeprecationWarning)
                    chans = torch.func.vmap(lambda th: self._channels(th, x, spec))(params)
            except Exception as exc:  # noqa: BLE001 - any module vmap cannot batch takes the general path
                warnings.warn(
                    f"the model cannot be batched with torch.func.vmap ({type(exc).__name__}: {str(exc)[:200]}); "
                    "its parameter points are evaluated one at a time with autograd",
                    RuntimeWarning,
                    stacklevel=3,
                )
                self.mode = "loop"
        if chans is None:
            per = [self._channels_autograd(params[k], x, spec) for k in range(params.shape[0])]
            chans = [torch.stack([p[c] for p in per]) for c in range(spec.n_channels)]
        # chans[c]: [K, N, m]
        return Jet(spec, [[c[:, :, k] for c in chans] for k in range(self.out_dim)])


_TRAINING_DEPENDENT = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.Dropout, torch.nn.modules.dropout._DropoutNd)

_ACTIVATIONS = {torch.nn.Tanh: "tanh", torch.nn.SiLU: "silu"}


def _activation_name(m: torch.nn.Module) -> str | None:
    if type(m) in _ACTIVATIONS:
        return _ACTIVATIONS[type(m)]
    if type(m) is torch.nn.GELU and m.approximate == "none":
        return "gelu"
    if type(m).__name__ == "_Sin":  # our own sine module
        return "sin"
    return None


def recognise_mlp(module: torch.nn.Module, in_dim: int, out_dim: int) -> MLP | None:
    """Our MLP when ``module`` is a plain Sequential Linear -> act -> ... -> Linear (equal hidden widths, biases,
    one activation kind, no buffers), else None. Its parameters are then in MLP's layout already."""
    if type(module) is not torch.nn.Sequential or len(module) < 3 or len(module) % 2 == 0:
        return None
    if any(True for _ in module.buffers()):
        return None
    linears, acts = list(module)[0::2], list(module)[1::2]
    if not all(type(m) is torch.nn.Linear and m.bias is not None for m in linears):
        return None
    names = {_activation_name(a) for a in acts}
    if len(names) != 1 or None in names:
        return None
    widths = {m.out_features for m in linears[:-1]}
    if len(widths) != 1 or linears[0].in_features != in_dim or linears[-1].out_features != out_dim:
        return None
    width = int(widths.pop())  # type: ignore[arg-type]
    if any(m.in_features != width for m in linears[1:]):
        return None
    if any(not p.requires_grad for p in module.parameters()):
        return None
    activation = names.pop()
    assert activation is not None
    return MLP(in_dim, width, len(linears) - 1, activation, out_dim=out_dim)


def as_network(module: torch.nn.Module, in_dim: int, out_dim: int, *, dtype=torch.float32):
    """(network, theta0): our MLP for a recognised plain Sequential, else a ModuleNetwork; theta0 is the
    module's own parameters in the network's layout."""
    mlp = recognise_mlp(module, in_dim, out_dim)
    if mlp is not None:
        theta = torch.nn.utils.parameters_to_vector(module.parameters()).detach().to(dtype)
        return mlp, theta
    net = ModuleNetwork(module, in_dim, out_dim, dtype=dtype)
    return net, net.init(dtype=dtype)
