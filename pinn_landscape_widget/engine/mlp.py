"""The MLP and its parameter-batched evaluator.

Parameters live in one flat vector theta (per layer: weight rows, then bias), the same order as
``torch.nn.Sequential(Linear, act, ...).parameters()``, so ``model_at`` and the batched path agree.

``MLP.jets(params[K, P], x[N, d], spec)`` evaluates K parameter points in one pass. Input derivatives are
propagated forward alongside the values ("jets"): channel 0 is the value, then the first partials and the
second-order channels that ``spec`` (a ``JetSpec``) names. A linear layer maps every channel with the same
weight (one batched matmul for all of them); an activation applies the chain rule

    a = s(z),  a_i = s'(z) z_i,  q(a) = s'(z) q(z) + s''(z) sum c z_i z_j   (q = sum c d_i d_j, e.g. the Laplacian)

No autograd graph is needed for a landscape, and with K = 1 this is exactly the training forward pass.
"""

from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import dataclass
from typing import Any

import torch

from .._checks import check_choice, check_int
from ..pde.derivatives import Jet, JetSpec, SecondOrder
from . import _native

ACTIVATIONS = ("tanh", "sin", "gelu", "silu")
_STATE = threading.local()


@contextlib.contextmanager
def differentiable_jets():
    """Force the differentiable (out-of-place) jet path, e.g. under torch.func transforms."""
    old = getattr(_STATE, "differentiable", False)
    _STATE.differentiable = True
    try:
        yield
    finally:
        _STATE.differentiable = old


def activation_jet(name: str, z: torch.Tensor, order: int) -> tuple[Any, Any, Any]:
    """Return (s(z), s'(z), s''(z)) for the activation; derivatives above ``order`` are None."""
    d1: Any = None
    d2: Any = None
    if name == "tanh":
        t = torch.tanh(z)
        if order >= 1:
            d1 = 1 - t * t
        if order >= 2:
            d2 = -2 * t * d1
        return t, d1, d2
    if name == "sin":
        s = torch.sin(z)
        if order >= 1:
            d1 = torch.cos(z)
        if order >= 2:
            d2 = -s
        return s, d1, d2
    if name == "silu":
        sg = torch.sigmoid(z)
        v = z * sg
        if order >= 1:
            d1 = sg * (1 + z * (1 - sg))
        if order >= 2:
            d2 = sg * (1 - sg) * (2 + z * (1 - 2 * sg))
        return v, d1, d2
    if name == "gelu":  # exact (erf) GELU, as torch.nn.GELU()
        cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2.0)))
        v = z * cdf
        if order >= 1:
            pdf = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
            d1 = cdf + z * pdf
            if order >= 2:
                d2 = pdf * (2 - z * z)
        return v, d1, d2
    raise ValueError(f"activation must be one of {list(ACTIVATIONS)}, got {name!r}")


def _torch_activation(name: str) -> torch.nn.Module:
    if name == "tanh":
        return torch.nn.Tanh()
    if name == "gelu":
        return torch.nn.GELU()
    if name == "silu":
        return torch.nn.SiLU()
    if name == "sin":
        return _Sin()
    raise ValueError(f"activation must be one of {list(ACTIVATIONS)}, got {name!r}")


class _Sin(torch.nn.Module):
    def forward(self, x):
        return torch.sin(x)


def _output_layer(h: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """One channel h [K, N, i] times one output row W [K, 1, i] -> [K, N].

    A product and a row sum rather than bmm: BLAS picks a different kernel (and rounding) for a batch of
    one matrix-vector product, which would make a point's value depend on its chunk's size.
    """
    return (h * W).sum(-1)


def _quadratic(form: SecondOrder, g: dict[int, torch.Tensor]) -> torch.Tensor:
    """sum over the form's terms of c g_i g_j (the s'' part of a second-order channel's chain rule)."""
    out: Any = None
    for i, j, c in form.terms:
        t = g[i] * g[j]
        if c != 1.0:
            t = c * t
        out = t if out is None else out + t
    return out


@dataclass(frozen=True)
class MLP:
    """A fully connected network in_dim -> width x depth -> out_dim with a smooth activation.

    The network of ``train``, as a function of one flat parameter vector theta [P] (per layer: the weight
    matrix row by row, then the bias, as ``nn.Sequential`` holds them). Its ``jets`` give the outputs and
    their input derivatives for K parameter points at once: what the landscape grid evaluates.

    Parameters
    ----------
    in_dim : int
        Input coordinates d, an integer in [1, 16].
    width : int
        Units per hidden layer, an integer in [1, 4096]; default 50.
    depth : int
        Hidden layers, an integer in [1, 64]; default 3.
    activation : str
        One of "tanh", "sin", "gelu", "silu"; default "tanh".
    out_dim : int
        Outputs (one per unknown), an integer in [1, 64]; default 1.

    Raises
    ------
    ValueError
        When an argument is outside what is allowed.
    """

    in_dim: int
    width: int = 50
    depth: int = 3
    activation: str = "tanh"
    out_dim: int = 1

    def __post_init__(self):
        check_int("in_dim", self.in_dim, 1, 16)
        check_int("width", self.width, 1, 4096)
        check_int("depth", self.depth, 1, 64)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_int("out_dim", self.out_dim, 1, 64)

    @property
    def layer_sizes(self) -> list[tuple[int, int]]:
        """(out, in) for each linear layer."""
        dims = [self.in_dim] + [self.width] * self.depth + [self.out_dim]
        return [(dims[i + 1], dims[i]) for i in range(len(dims) - 1)]

    @property
    def n_params(self) -> int:
        return sum(o * i + o for o, i in self.layer_sizes)

    def param_slices(self) -> list[tuple[slice, slice, tuple[int, int]]]:
        """For each layer: (weight slice, bias slice, (out, in)) into the flat vector."""
        out, off = [], 0
        for o, i in self.layer_sizes:
            w = slice(off, off + o * i)
            off += o * i
            b = slice(off, off + o)
            off += o
            out.append((w, b, (o, i)))
        return out

    @property
    def description(self) -> str:
        out = f", {self.out_dim} outputs" if self.out_dim > 1 else ""
        return f"MLP {self.width}x{self.depth} {self.activation}{out}"

    def param_layout(self) -> list[tuple[str, slice, tuple[int, ...]]]:
        """(name, slice, shape) of each parameter tensor in the flat vector, as ``nn.Sequential`` names them."""
        out: list[tuple[str, slice, tuple[int, ...]]] = []
        for n, (ws, bs, (o, i)) in enumerate(self.param_slices()):
            out.append((f"{2 * n}.weight", ws, (o, i)))
            out.append((f"{2 * n}.bias", bs, (o,)))
        return out

    def init(self, seed: int = 0, *, dtype=None) -> torch.Tensor:
        """Initial parameters: Glorot-normal weights, zero biases; the same for a seed on every machine.

        Parameters
        ----------
        seed : int
            Seed of the CPU generator the weights are drawn with (in float64); default 0.
        dtype : torch.dtype or None
            The dtype of the returned vector; default None: float32, as ``train`` makes new networks.

        Returns
        -------
        torch.Tensor
            theta [P] on the CPU.
        """
        gen = torch.Generator().manual_seed(int(seed))
        parts = []
        for o, i in self.layer_sizes:
            std = math.sqrt(2.0 / (o + i))
            parts.append(torch.randn(o * i, generator=gen, dtype=torch.float64) * std)
            parts.append(torch.zeros(o, dtype=torch.float64))
        return torch.cat(parts).to(torch.float32 if dtype is None else dtype)

    def module(self, params: torch.Tensor) -> torch.nn.Sequential:
        """A plain torch module holding ``params`` (copied): the reference implementation of the network.

        Parameters
        ----------
        params : torch.Tensor
            A parameter vector [P]; the module takes its dtype and device.

        Returns
        -------
        torch.nn.Sequential
            Linear layers with the activation between them, mapping points [N, in_dim] to [N, out_dim].
        """
        layers: list[torch.nn.Module] = []
        for n, (o, i) in enumerate(self.layer_sizes):
            layers.append(torch.nn.Linear(i, o))
            if n < len(self.layer_sizes) - 1:
                layers.append(_torch_activation(self.activation))
        seq = torch.nn.Sequential(*layers).to(dtype=params.dtype, device=params.device)
        torch.nn.utils.vector_to_parameters(params.detach().clone(), seq.parameters())
        return seq

    def jets(self, params: torch.Tensor, x: torch.Tensor, spec: JetSpec | int = 0, functional: bool = False) -> Jet:
        """Network outputs at points x [N, d] for parameters params [K, P], with the input derivatives of
        ``spec``.

        Under no_grad this runs the in-place kernel (same arithmetic, fewer memory passes); otherwise, or with
        ``functional=True`` (what torch.compile traces), the out-of-place one that training and the Hessian
        tools backpropagate through.

        Parameters
        ----------
        params : torch.Tensor
            K parameter points [K, P].
        x : torch.Tensor
            Points [N, in_dim], of the dtype and device of ``params``.
        spec : JetSpec or int
            Which input derivatives: a ``pde.derivatives.JetSpec``, or an order 0, 1 or 2 meaning the value,
            and the gradient, and the Laplacian; default 0.
        functional : bool
            Take the out-of-place kernel even under no_grad; default False.

        Returns
        -------
        Jet
            Per output, the value [K, N] and each derivative channel of ``spec`` [K, N].
        """
        if isinstance(spec, int):
            spec = JetSpec.classic(x.shape[1], spec)
        if (
            functional
            or getattr(_STATE, "differentiable", False)
            or (torch.is_grad_enabled() and (params.requires_grad or x.requires_grad))
        ):
            return self._jets_differentiable(params, x, spec)
        return self._jets_inplace(params, x, spec)

    def _jets_differentiable(self, params: torch.Tensor, x: torch.Tensor, spec: JetSpec) -> Jet:
        """The jet recursion out of place, for autograd (training, Hessian-vector products, torch.func).

        Channels stay separate [K, N, width] tensors, each with its own matmul, rather than one
        concatenated tensor and one matmul: a double backward differentiates the concatenation's backward
        (slices), and each of those slices allocates and zero-fills a full-size tensor. Separate channels
        make a Hessian-vector product 1.25-1.35x faster than one concatenated tensor
        (benchmarks/bench_hessian.py).
        """
        K = params.shape[0]
        d = x.shape[1]
        slices = self.param_slices()
        order = spec.order
        lap_form = SecondOrder.laplacian(d)

        # First layer: the input derivatives of z = W x + b are the columns of W, constant in x.
        ws, bs, (o, i) = slices[0]
        W = params[:, ws].reshape(K, o, i)
        b = params[:, bs]
        a, s1, s2 = activation_jet(self.activation, torch.matmul(x, W.transpose(1, 2)) + b[:, None, :], order)
        grads = {k: s1 * W[:, None, :, k] for k in spec.first}  # [K, N, o] each
        seconds = []
        for form in spec.second:
            if form == lap_form:
                ww = (W * W).sum(2)
            else:
                ww = _quadratic(form, {k: W[:, :, k] for k in form.indices})
            seconds.append(s2 * ww[:, None, :])

        for n in range(1, len(slices) - 1):
            ws, bs, (o, i) = slices[n]
            Wt = params[:, ws].reshape(K, o, i).transpose(1, 2)
            a, s1, s2 = activation_jet(self.activation, torch.baddbmm(params[:, bs][:, None, :], a, Wt), order)
            if order >= 1:
                zg = {k: torch.bmm(g, Wt) for k, g in grads.items()}
                seconds = [s1 * torch.bmm(q, Wt) + s2 * _quadratic(form, zg) for q, form in zip(seconds, spec.second)]
                grads = {k: s1 * g for k, g in zg.items()}

        ws, bs, (o, i) = slices[-1]
        W = params[:, ws].reshape(K, o, i)
        b = params[:, bs]
        parts = []
        for k in range(o):
            Wk = W[:, k : k + 1]
            part = [_output_layer(a, Wk) + b[:, k : k + 1]]
            part += [_output_layer(grads[j], Wk) for j in spec.first]
            part += [_output_layer(q, Wk) for q in seconds]
            parts.append(part)
        return Jet(spec, parts)

    @torch.no_grad()
    def _jets_inplace(self, params: torch.Tensor, x: torch.Tensor, spec: JetSpec) -> Jet:
        """The same recursion as ``_jets_differentiable``, in place, in work arrays reused between chunks.

        On a CPU the grid is bound by memory: every elementwise pass over the [K, C, N, width] activations
        costs as much as the matmul's share, and every fresh multi-MB tensor costs page faults (glibc hands
        large blocks back to the OS on free). So the work arrays come from a ``_BufferPool``, and tanh runs in
        its sigmoid form (``_ARGUMENT_SCALE``) in 8 passes per layer rather than 11. In float32 on a CPU,
        for the value/gradient/Laplacian of one output, ``_jets_native`` runs instead: the whole network in
        one call of fused C; for any other jet with first partials, ``_jets_native_any``.
        """
        K = params.shape[0]
        N, d = x.shape
        slices = self.param_slices()
        order = spec.order
        if (
            self.activation == "tanh"
            and self.out_dim == 1
            and spec.is_classic
            and _native.supports(params, x, d, order)
        ):
            return self._jets_native(params, x, spec)
        if (
            self.activation == "tanh"
            and x.dtype == params.dtype
            and _native.jet_applies("tanh", x.device, x.dtype, spec)
        ):
            return self._jets_native_any(params, x, spec)
        C = spec.n_channels
        k_in = _ARGUMENT_SCALE.get(self.activation, 1.0)
        pool = _current_pool()
        shape = (K, C, N, self.width)
        h = pool.take("h", shape, params)
        spare = pool.take("spare", shape, params)

        for n in range(len(slices) - 1):  # the hidden layers
            ws, bs, (o, i) = slices[n]
            W = params[:, ws].reshape(K, o, i)
            b = params[:, bs]
            if n == 0:
                # first layer: y = k_in (x W^T + b); its input gradient k_in W^T is constant in x, its second
                # derivatives 0
                torch.baddbmm(b[:, None, :], x.expand(K, N, d), W.transpose(1, 2), beta=k_in, alpha=k_in, out=h[:, 0])
                grad_rows = (k_in * W.transpose(1, 2))[:, list(spec.first)].contiguous() if spec.first else None
                self._activate(h, spec, order, pool, first_grad=grad_rows)
            else:
                # a hidden layer computes y = k_in (W a + b), the next activation's argument
                if k_in != 1:
                    W, b = k_in * W, k_in * b
                torch.bmm(h.view(K, C * N, i), W.transpose(1, 2), out=spare.view(K, C * N, o))
                h, spare = spare, h
                self._activate(h, spec, order, pool, bias=b)

        ws, bs, (o, _) = slices[-1]
        W = params[:, ws].reshape(K, o, self.width)
        parts = []
        for k in range(o):
            torch.mul(h, W[:, None, k : k + 1], out=spare)  # see _output_layer: a product and a row sum, not bmm
            z = spare.sum(-1)
            z[:, 0] += params[:, bs][:, k : k + 1]
            parts.append([z[:, c] for c in range(C)])
        return Jet(spec, parts)

    def _jets_native_any(self, params: torch.Tensor, x: torch.Tensor, spec: JetSpec) -> Jet:
        """Any other jet of a float32 tanh network on a CPU (chosen partials, mixed second derivatives, several
        outputs) in one call of the same fused C, with the chain rule per channel (``_native.tanh_mlp_jet``)."""
        z = _native.tanh_mlp_jet(params, x, spec, self.param_slices())
        return Jet(spec, [[z[:, k, c] for c in range(spec.n_channels)] for k in range(z.shape[1])])

    def _jets_native(self, params: torch.Tensor, x: torch.Tensor, spec: JetSpec) -> Jet:
        """The whole forward jet of a float32 tanh network on a CPU in one call of C (``_native``): blocks of
        points go through every layer in cache, with register-tiled matmuls and the chain rule fused."""
        if spec.order == 1 and x.shape[1] >= 2:  # value and gradient in 2 or 3 inputs: reverse mode is cheaper
            z = _native.tanh_mlp_grad(params, x, self.param_slices())
        else:
            z = _native.tanh_mlp(params, x, spec.order, self.param_slices())
        return Jet.from_stacked(spec, z)

    def _activate(
        self,
        h: torch.Tensor,
        spec: JetSpec,
        order: int,
        pool: _BufferPool,
        first_grad: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
    ) -> None:
        """In place: value y <- a(y + bias); first partials <- a' g; second-order channels
        q <- a' q + a'' sum c g_i g_j.

        Here a is the activation as a function of y = k_in z (``_ARGUMENT_SCALE``). For the first layer
        ``first_grad`` [K, F, width] holds the carried first partials of y (the same at every x) and the
        derivative channels are written, not updated.
        """
        y = h[:, 0]
        if bias is not None:
            y += bias[:, None, :]
        if self.activation == "tanh":  # a(y) = tanh(y / 2) = 2 sigmoid(y) - 1, a' = (1 - a^2) / 2, a'' = -a a'
            if order == 0:
                # values only (boundary and error points, few): torch's tanh rounds the same in its vector
                # body and its scalar tail, its sigmoid does not, and a point's value must not depend on
                # how many points share its chunk
                torch.tanh(y.mul_(0.5), out=y)
                return
            torch.add(pool.scalar(-1.0, y), y.sigmoid_(), alpha=2, out=y)
            a1 = torch.addcmul(pool.scalar(0.5, y), y, y, value=-0.5, out=pool.take("a1", y.shape, y))
            a2 = None  # -a a1, applied below without a pass of its own
        else:
            a, a1, a2 = activation_jet(self.activation, y, order)
            y.copy_(a)
            if order == 0:
                return
        F = len(spec.first)
        g = h[:, 1 : 1 + F]
        lap_all = SecondOrder.laplacian(len(spec.first)) if spec.first == tuple(range(len(spec.first))) else None
        for q_index, form in enumerate(spec.second):
            q = h[:, 1 + F + q_index]
            if first_grad is not None:  # q(y) = 0, the quadratic part is one number per unit
                if form == lap_all:
                    gg = (first_grad * first_grad).sum(1)[:, None, :]
                else:
                    rows = {k: first_grad[:, spec.first.index(k)] for k in form.indices}
                    gg = _quadratic(form, rows)[:, None, :]
                if a2 is None:
                    torch.mul(y, gg, out=q).mul_(a1).neg_()
                else:
                    torch.mul(a2, gg, out=q)
            else:
                gg = pool.take(f"gg{q_index}", y.shape, y)
                if form == lap_all:
                    if F == 1:
                        torch.mul(g[:, 0], g[:, 0], out=gg)
                    else:
                        torch.sum(g * g, 1, out=gg)
                else:
                    gg.copy_(_quadratic(form, {k: g[:, spec.first.index(k)] for k in form.indices}))
                if a2 is None:  # a1 (q - a gg)
                    q.addcmul_(gg, y, value=-1).mul_(a1)
                else:
                    q.mul_(a1).addcmul_(a2, gg)
        if first_grad is not None:
            if F:
                torch.mul(a1[:, None], first_grad[:, :, None, :], out=g)
        elif F:
            g.mul_(a1[:, None])


# The in-place kernel evaluates these activations at y = k_in z, folding k_in into the layer's weights (a
# power of two, so exactly): tanh(z) = 2 sigmoid(2z) - 1, and torch's vectorised sigmoid is ~4x faster than
# its tanh on CPU.
_ARGUMENT_SCALE = {"tanh": 2.0}


class _BufferPool:
    """Work arrays by (role, shape, dtype, device): reused while a pool is current, so a grid evaluated in
    many equal chunks allocates its activations once."""

    def __init__(self):
        self._arrays: dict[tuple, torch.Tensor] = {}
        self._scalars: dict[tuple, torch.Tensor] = {}

    def take(self, role: str, shape, like: torch.Tensor) -> torch.Tensor:
        key = (role, tuple(shape), like.dtype, like.device)
        arr = self._arrays.get(key)
        if arr is None:
            arr = self._arrays[key] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return arr

    def scalar(self, value: float, like: torch.Tensor) -> torch.Tensor:
        """A 0-d tensor: as the first operand it lets add/addcmul write a fresh result in one pass."""
        key = (value, like.dtype, like.device)
        if key not in self._scalars:
            self._scalars[key] = torch.tensor(value, dtype=like.dtype, device=like.device)
        return self._scalars[key]


def _current_pool() -> _BufferPool:
    return getattr(_STATE, "pool", None) or _BufferPool()


@contextlib.contextmanager
def reused_buffers():
    """Inside this block (in this thread) the in-place kernel keeps its work arrays from call to call.

    Results never alias them. Used by the chunk loop of a grid; outside it every call allocates afresh.
    """
    old = getattr(_STATE, "pool", None)
    _STATE.pool = _BufferPool()
    try:
        yield
    finally:
        _STATE.pool = old
