"""The network's jets at a point set, and the backward pass that forms the loss's parameter gradient.

Write the loss as L(theta) = l(Y(theta)), where Y are the network's output jets (value, input partials,
second-order channels) at the objective's point sets and l is everything after the network (hard-ansatz
factor, density, weights, penalties): the objective's own code. Its gradient is J^T g with g = dl/dY: a
forward pass through the jet recursion, autograd on l alone (a graph of a few thousand numbers), and one
backward pass through the recursion by hand. No autograd graph of the network is built: a training step
costs two passes of a few dozen large ops, and the Hessian's R-operator (``analysis._rop``) reuses every
array of these passes.

Two implementations of the same passes:

- ``JetPasses``: a tanh MLP with one output whose jets are value, gradient and Laplacian. In float32 on a
  CPU both passes run in C (``csrc/rop.c``, OpenMP teams on torch's threads, which split the points), and
  their arrays stay put between training steps; elsewhere in torch. It keeps the factors the R-passes need.
- ``GeneralJets``: any of our MLPs (tanh, sin, GELU, SiLU; any number of outputs) for any ``JetSpec`` (a
  subset of the first partials, mixed second-order channels), in torch.
- ``NativeJets``: ``GeneralJets``' passes for a tanh MLP in float32 on a CPU, in C (``csrc/train.c``), its
  arrays kept between training steps; no R-passes.

Per hidden layer, with inputs (h, G_k, Lp) (value, gradient components, Laplacian), weights W and bias b:
    y = h W^T + b,  Gy_k = G_k W^T,  Ly = Lp W^T,  Q = sum_k Gy_k^2
    A = s(y),  GA_k = s1 Gy_k,  LA = s1 Ly + s2 Q          (s1, s2, ... the derivatives of s at y)
and its backward pass, from the adjoints (Ab, GAb_k, LAb) of its outputs:
    yb = Ab s1 + s2 sum_k GAb_k Gy_k + LAb (s2 Ly + s3 Q)
    Gyb_k = GAb_k s1 + 2 LAb s2 Gy_k,   Lyb = LAb s1
    Wb = yb^T h + sum_k Gyb_k^T G_k + Lyb^T Lp,   bb = sum yb
    (hb, Gb_k, Lpb) = (yb W, Gyb_k W, Lyb W)
A general second-order channel q = sum c_ij d_i d_j has Q = sum c_ij Gy_i Gy_j, and adds LAb s2 dQ/dGy_k
to Gyb_k.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..pde.derivatives import JetSpec
from . import _native
from ._workspace import Workspace
from .mlp import MLP, activation_jet

# the int64 fields of a layer's record in rop.c's plan: checked against the library when it loads
PLAN_FIELDS = _native.PLAN_FIELDS


def applies(objective) -> bool:
    """Whether this objective's network has an R-operator here: our tanh MLP with one output, whose loss
    reads value, gradient and Laplacian jets (every other network or derivative set goes through autograd's
    double backward)."""
    net = objective.net
    return (
        isinstance(net, MLP)
        and net.activation == "tanh"
        and net.out_dim == 1
        and all(ps.spec.is_classic for ps in objective.point_sets)
    )


def native_applies(objective) -> bool:
    """Whether its passes run in C (``csrc/rop.c``): float32 on the CPU, with the kernels built."""
    return (
        applies(objective)
        and objective.device.type == "cpu"
        and objective.dtype == torch.float32
        and _native.library() is not None
    )


@dataclass
class _Layer:
    """One hidden layer's v-independent arrays. Jet quantities are stacked over channels (value, the d
    gradient components, the Laplacian) as [units, C, n]: one matmul moves every channel, and the rules
    per channel act on views."""

    W: torch.Tensor  # [out, in]
    H: torch.Tensor  # the layer's input jet [in, C, n]
    s1: torch.Tensor  # tanh' at the pre-activation [out, n]
    # a channel the jet does not have (no gradient: d = 0; no Laplacian: order < 2) is None, and read only
    # where the jet has it: typed Any, as mypy cannot follow that
    s2Gy: Any  # s2 Gy_k [out, d, n]
    lap_ry: Any  # s2 Ly + s3 Q [out, n]
    # from the backward pass
    Yb: Any = None  # adjoints of the pre-activation jet [out, C, n]
    c_ry: Any = None  # Ab s2 + sum_k s3 GAb_k Gy_k + LAb (s3 Ly + s4 Q)
    c_rgy: Any = None  # s2 GAb_k + 2 LAb s3 Gy_k [out, d, n]
    LAbs2: Any = None  # LAb s2
    Z: torch.Tensor | None = None  # the pre-activation jet [out, C, n] (C passes only)
    native: list | None = None  # the arrays the C R-passes write (see JetPasses._forward_native)


class JetPasses:
    """A tanh MLP's forward jet at one set of points (one output; value, gradient, Laplacian), and the
    backward pass from the loss's output adjoints, keeping what the Hessian's R-passes reuse
    (``analysis._rop``). Jets are stacked [units, C, n] with C = 1 (value), 1 + d (and the gradient) or
    2 + d (and the Laplacian).

    threads: run every pass (this forward and backward, and the R-passes) in C on up to that many threads
    (float32 on a CPU, see ``native_applies``); None: in torch."""

    def __init__(
        self, net, theta: torch.Tensor, x: torch.Tensor, order: int, ws: Workspace, threads: int | None = None
    ):
        self.order, self.ws, self.threads = order, ws, threads
        self.slices = net.param_slices()
        n, d_in = x.shape
        d = self.d = d_in if order >= 1 else 0
        C = self.C = 1 + d + (order >= 2)
        H = ws.zeros(d_in, C, n)
        H[:, 0] = x.T
        for k in range(d):
            H[k, 1 + k] = 1
        w_s, b_s, _ = self.slices[-1]
        self.wo = theta[w_s]
        if threads is None:
            self._forward(theta, H)
        else:
            self._forward_native(theta, H, threads)

    def _forward(self, theta: torch.Tensor, H: torch.Tensor) -> None:
        ws, d, C, order = self.ws, self.d, self.C, self.order
        n = H.shape[2]
        self.layers: list[_Layer] = []
        # per layer (s2, s3, Gy, s4, Ly, Q): for the backward pass only (None where the jet has no such channel)
        self._backward_factors: list[tuple[Any, ...]] = []
        for w_s, b_s, (o, i) in self.slices[:-1]:
            W = theta[w_s].view(o, i)
            Z = torch.mm(W, H.view(i, C * n)).view(o, C, n)  # y, Gy_k, Ly
            Z[:, 0] += theta[b_s][:, None]
            t = torch.tanh(Z[:, 0])
            s1 = torch.mul(t, t, out=ws.empty(o, n)).neg_().add_(1)
            s2 = -2 * t * s1
            s3: Any = -2 * s1 * s1 - 2 * t * s2 if d else None
            s4 = -6 * s1 * s2 - 2 * t * s3 if order >= 2 else None
            Gy = Z[:, 1 : 1 + d]
            Ly: Any
            Q: Any
            Ly, Q = (Z[:, -1], (Gy * Gy).sum(1)) if order >= 2 else (None, None)
            s2Gy = torch.mul(Gy, s2[:, None], out=ws.empty(o, d, n)) if d else None
            lap_ry = torch.mul(s2, Ly, out=ws.empty(o, n)).addcmul_(s3, Q) if order >= 2 else None
            self.layers.append(_Layer(W, H, s1, s2Gy, lap_ry))
            self._backward_factors.append((s2, s3, Gy, s4, Ly, Q))
            H = ws.empty(o, C, n)  # the next layer's input: A = tanh(y), GA_k = s1 Gy_k, LA = s1 Ly + s2 Q
            H[:, 0] = t
            if d:
                torch.mul(Gy, s1[:, None], out=H[:, 1 : 1 + d])
            if order >= 2:
                torch.mul(s1, Ly, out=H[:, -1]).addcmul_(s2, Q)
        w_s, b_s, _ = self.slices[-1]
        self.H = H
        Y = torch.mv(H.view(-1, C * n).T, self.wo).view(C, n)
        Y[0] += theta[b_s]
        self.Y = Y

    def _forward_native(self, theta: torch.Tensor, H: torch.Tensor, threads: int) -> None:
        """``_forward`` in C: every array of this point set allocated here (contiguous, in the workspace),
        their addresses in the plan rop.c reads, and the forward pass run."""
        ws, d, C, lap = self.ws, self.d, self.C, self.order >= 2
        n = H.shape[2]

        def addr(t):
            return 0 if t is None else t.data_ptr()

        self.layers, rows = [], []
        for w_s, b_s, (o, i) in self.slices[:-1]:
            L = _Layer(
                theta[w_s].view(o, i),
                H,
                ws.empty(o, n),
                ws.empty(o, d, n) if d else None,
                ws.empty(o, n) if lap else None,
                ws.empty(o, C, n),
                ws.empty(o, n),
                ws.empty(o, d, n) if d else None,
                ws.empty(o, n) if lap else None,
            )
            L.Z = ws.empty(o, C, n)
            # written by the R-passes: R{Z}, R{output jet}, its adjoint's R (the setup's output adjoint
            # first), R{Yb}
            L.native = [ws.empty(o, C, n) for _ in range(4)]
            H = ws.empty(o, C, n)  # the layer's output, the next one's input
            rows.append(
                [
                    o,
                    i,
                    w_s.start,
                    b_s.start,
                    *map(addr, (L.W, L.H, L.s1, L.s2Gy, L.lap_ry, L.c_ry, L.c_rgy, L.LAbs2, L.Yb, L.Z, *L.native)),
                ]
            )
            self.layers.append(L)
        w_s, b_s, (o, i) = self.slices[-1]
        rows.append([o, i, w_s.start, b_s.start, addr(self.wo), addr(H)] + [0] * (PLAN_FIELDS - 6))
        self.H = H
        self.plan = torch.tensor(rows, dtype=torch.int64)
        self.Y, self.RY = ws.empty(C, n), ws.empty(C, n)
        self._lib = _native.loaded()
        self._theta = theta
        self.rerun_forward()

    def rerun_forward(self) -> None:
        """The forward pass in C again, at the parameters now in the storage of the theta this set was made
        with (the plan reads the weights where they lie): a training step's forward, after the optimiser
        has updated theta in place."""
        assert self.threads is not None, "rerun_forward is for the passes in C"
        self._lib.plw_rop_setup_forward(
            self.plan.data_ptr(),
            len(self.layers),
            self.C,
            self.d,
            int(self.order >= 2),
            self.Y.shape[1],
            self._theta.data_ptr(),
            self.Y.data_ptr(),
            self._shares(self.threads),
        )

    def backward(self, Yb: torch.Tensor, grad: torch.Tensor | None = None) -> None:
        """The backward pass from the output adjoints Yb [C, n] (contiguous). Keeps each layer's adjoints
        and folds the R-passes' v-independent factors into a few coefficient arrays per layer. With grad
        [P] (a training step), adds J^T Yb, this set's part of the loss's parameter gradient, into it; in C
        the R-passes' coefficients are then left out (no R-pass may follow)."""
        if self.threads is not None:
            if grad is None:
                self._lib.plw_rop_setup_backward(
                    self.plan.data_ptr(),
                    len(self.layers),
                    self.C,
                    self.d,
                    int(self.order >= 2),
                    Yb.shape[1],
                    Yb.data_ptr(),
                    self._shares(self.threads),
                )
                return
            shares = self._shares(self.threads)
            with self.ws.scope():
                sums = self.ws.zeros(shares - 1, grad.numel())  # the other threads' gradients
                self._lib.plw_rop_setup_gradient(
                    self.plan.data_ptr(),
                    len(self.layers),
                    self.C,
                    self.d,
                    int(self.order >= 2),
                    Yb.shape[1],
                    Yb.data_ptr(),
                    grad.data_ptr(),
                    sums.data_ptr(),
                    grad.numel(),
                    shares,
                )
            return
        self._backward_torch(Yb)
        if grad is not None:
            self._add_gradient(Yb, grad)

    def _backward_torch(self, Yb: torch.Tensor) -> None:
        ws, d, C = self.ws, self.d, self.C
        n = Yb.shape[1]
        A = torch.outer(self.wo, Yb.view(-1)).view(-1, C, n)  # adjoints of the layer's output: Ab, GAb_k, LAb
        for L, (s2, s3, Gy, s4, Ly, Q) in zip(reversed(self.layers), reversed(self._backward_factors)):
            o = L.s1.shape[0]
            L.Yb = torch.mul(A, L.s1[:, None], out=ws.empty(o, C, n))  # yb, Gyb_k, Lyb before the cross terms
            L.c_ry = torch.mul(A[:, 0], s2, out=ws.empty(o, n))
            if d:
                GAb = A[:, 1 : 1 + d]
                L.Yb[:, 0] += (GAb * L.s2Gy).sum(1)
                L.c_ry.addcmul_((GAb * Gy).sum(1), s3)
                L.c_rgy = torch.mul(GAb, s2[:, None], out=ws.empty(o, d, n))
            if self.order >= 2:
                LAb = A[:, -1]
                L.Yb[:, 0].addcmul_(LAb, L.lap_ry)
                L.Yb[:, 1 : 1 + d].addcmul_(LAb[:, None], L.s2Gy, value=2)
                L.c_ry.addcmul_(LAb, s3 * Ly + s4 * Q)
                L.c_rgy.addcmul_((LAb * s3)[:, None], Gy, value=2)
                L.LAbs2 = torch.mul(LAb, s2, out=ws.empty(o, n))
            if L is not self.layers[0]:
                A = torch.mm(L.W.T, L.Yb.view(o, C * n)).view(-1, C, n)
        del self._backward_factors

    def _add_gradient(self, Yb: torch.Tensor, out: torch.Tensor) -> None:
        """Adds J^T Yb into out [P], after the backward pass in torch from Yb: per layer, the weights' gradient is the pre-activation adjoints times the layer's input jet summed over
        channels and points, the bias's the value adjoints summed over points."""
        C, n = self.C, Yb.shape[1]
        w_s, b_s, _ = self.slices[-1]
        o = self.wo.numel()
        out[w_s] += torch.mv(self.H.view(o, C * n), Yb.reshape(-1))
        out[b_s] += Yb[0].sum()
        for (l_ws, l_bs, (o, i)), L in zip(self.slices[:-1], self.layers):
            out[l_ws].view(o, i).addmm_(L.Yb.view(o, C * n), L.H.view(i, C * n).T)
            out[l_bs] += L.Yb[:, 0].sum(1)

    MIN_POINTS_PER_THREAD = 128

    def _shares(self, threads: int) -> int:
        """How many threads a C pass over this set's points uses, of at most ``threads``."""
        return max(1, min(threads, self.Y.shape[1] // self.MIN_POINTS_PER_THREAD, _native.MAX_SHARES))


def _third_derivative(name: str, z: torch.Tensor, s: torch.Tensor, s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """The activation's third derivative at z, given its value, first and second derivatives there (what a
    second-order channel's backward pass needs)."""
    if name == "tanh":
        return -2 * s1 * s1 - 2 * s * s2
    if name == "sin":
        return -s1
    if name == "gelu":
        pdf = torch.exp(-0.5 * z * z) * 0.3989422804014327  # 1 / sqrt(2 pi)
        return pdf * z * (z * z - 4)
    if name == "silu":
        sg = torch.sigmoid(z)
        a, k = sg * (1 - sg), 1 - 2 * sg
        return a * (k * (2 + z * k) + k - 2 * z * a)
    raise ValueError(f"activation must be one of tanh, sin, gelu, silu, got {name!r}")


class GeneralJets:
    """Our MLP's forward jet at one set of points for any ``JetSpec`` and any number of outputs, and the
    backward pass forming J^T Yb, in torch (any device and dtype). Jets are stacked [units, C, n]: channel
    0 the value, then the first partials ``spec.first``, then the second-order channels ``spec.second``.

    net: the MLP; theta: its parameters [P]; x: the points [n, d] (theta's dtype and device); spec: the
    derivatives to carry.
    """

    def __init__(self, net: MLP, theta: torch.Tensor, x: torch.Tensor, spec: JetSpec):
        self.slices = net.param_slices()
        n, d = x.shape
        F, S = len(spec.first), len(spec.second)
        C = self.C = spec.n_channels
        self.F, self.S = F, S
        position = {k: c for c, k in enumerate(spec.first)}
        self.forms = [[(position[i], position[j], float(c)) for i, j, c in form.terms] for form in spec.second]
        H = x.new_zeros(d, C, n)
        H[:, 0] = x.T
        for c, k in enumerate(spec.first):
            H[k, 1 + c] = 1
        # per hidden layer (W, its input jet H, pre-activation jet Z, s1, s2, s3, Q): what the backward pass reads
        self.cache: list[tuple[Any, ...]] = []
        for w_s, b_s, (o, i) in self.slices[:-1]:
            W = theta[w_s].view(o, i)
            Z = torch.mm(W, H.view(i, C * n)).view(o, C, n)
            Z[:, 0] += theta[b_s][:, None]
            y = Z[:, 0]
            s, s1, s2 = activation_jet(net.activation, y, 2)
            s3 = _third_derivative(net.activation, y, s, s1, s2) if S else None
            Gy = Z[:, 1 : 1 + F]
            Q = torch.stack([self._quadratic(terms, Gy) for terms in self.forms], 1) if S else None
            Hn = torch.empty_like(Z)
            Hn[:, 0] = s
            torch.mul(Gy, s1[:, None], out=Hn[:, 1 : 1 + F])
            if S:
                Hn[:, 1 + F :] = Z[:, 1 + F :] * s1[:, None] + Q * s2[:, None]
            self.cache.append((W, H, Z, s1, s2, s3, Q))
            H = Hn
        w_s, b_s, (m, i) = self.slices[-1]
        self.W_out, self.H = theta[w_s].view(m, i), H
        Y = torch.mm(self.W_out, H.view(i, C * n)).view(m, C, n)
        Y[:, 0] += theta[b_s][:, None]
        self.Y = Y  # the output jet [m, C, n]

    @staticmethod
    def _quadratic(terms, Gy: torch.Tensor) -> torch.Tensor:
        """sum over the form's terms of c Gy_i Gy_j [units, n]."""
        out = None
        for i, j, c in terms:
            t = Gy[:, i] * Gy[:, j]
            out = t * c if out is None else out.add_(t, alpha=c)
        assert out is not None  # a second-order channel has at least one term
        return out

    def add_gradient(self, Yb: torch.Tensor, out: torch.Tensor) -> None:
        """Adds J^T Yb (Yb: the loss's adjoints of the output jet, [m, C, n]) into out [P]."""
        C, F, S = self.C, self.F, self.S
        m, n = Yb.shape[0], Yb.shape[2]
        w_s, b_s, (_, i) = self.slices[-1]
        Yb2 = Yb.reshape(m, C * n)
        out[w_s].view(m, i).addmm_(Yb2, self.H.view(i, C * n).T)
        out[b_s] += Yb[:, 0].sum(1)
        A = torch.mm(self.W_out.T, Yb2).view(i, C, n)  # adjoints of the last hidden layer's output jet
        for layer in range(len(self.cache) - 1, -1, -1):
            (l_ws, l_bs, (o, i)), (W, H, Z, s1, s2, s3, Q) = self.slices[layer], self.cache[layer]
            Zb = A * s1[:, None]  # yb, Gyb_k, Lyb: their s1 parts
            Gy = Z[:, 1 : 1 + F]
            if F:
                Zb[:, 0] += s2 * (A[:, 1 : 1 + F] * Gy).sum(1)
            if S:
                LAb = A[:, 1 + F :]
                Zb[:, 0] += (LAb * (Z[:, 1 + F :] * s2[:, None] + Q * s3[:, None])).sum(1)
                LAbs2 = LAb * s2[:, None]
                for s, terms in enumerate(self.forms):
                    for a, b, c in terms:
                        Zb[:, 1 + a].addcmul_(LAbs2[:, s], Gy[:, b], value=c)
                        Zb[:, 1 + b].addcmul_(LAbs2[:, s], Gy[:, a], value=c)
            Zb2 = Zb.view(o, C * n)
            out[l_ws].view(o, i).addmm_(Zb2, H.view(i, C * n).T)
            out[l_bs] += Zb[:, 0].sum(1)
            if layer:
                A = torch.mm(W.T, Zb2).view(i, C, n)


def native_general_applies(objective) -> bool:
    """Whether ``NativeJets`` runs this objective's passes in C (``csrc/train.c``): our tanh MLP (any number
    of outputs, any ``JetSpec``), float32 on the CPU, with the kernels built."""
    net = objective.net
    return (
        isinstance(net, MLP)
        and net.activation == "tanh"
        and objective.device.type == "cpu"
        and objective.dtype == torch.float32
        and _native.library() is not None
    )


class NativeJets:
    """``GeneralJets`` in C (``csrc/train.c``) for a float32 tanh MLP on a CPU: the forward jet at one set of
    points and the backward pass adding J^T Yb, on up to ``threads`` threads that split the points. Every
    array is allocated once, in ws; the passes read the weights from the storage of theta, so a training
    step after an in-place optimiser update calls ``rerun_forward`` and then ``add_gradient``.

    net: the MLP; theta: its parameters [P] (contiguous float32); x: the points [n, d]; spec: the
    derivatives to carry. ``Y`` is the output jet [m, C, n], rewritten by each forward pass.
    """

    MIN_POINTS_PER_THREAD = JetPasses.MIN_POINTS_PER_THREAD

    def __init__(self, net: MLP, theta: torch.Tensor, x: torch.Tensor, spec: JetSpec, ws: Workspace, threads: int):
        self.threads, self._theta = threads, theta
        slices = net.param_slices()
        n, d = x.shape
        C = self.C = spec.n_channels
        self.F, self.S = len(spec.first), len(spec.second)
        position = {k: c for c, k in enumerate(spec.first)}
        forms = [[(position[i], position[j], float(c)) for i, j, c in form.terms] for form in spec.second]
        # the spec as train.c reads it (one dummy entry where there is no second-order channel)
        self._counts = torch.tensor([len(f) for f in forms] or [0], dtype=torch.int64)
        self._terms = torch.tensor([v for f in forms for a, b, _ in f for v in (a, b)] or [0, 0], dtype=torch.int64)
        self._coefs = torch.tensor([c for f in forms for _, _, c in f] or [0.0], dtype=torch.float32)
        H = ws.zeros(d, C, n)
        H[:, 0] = x.T
        for c, k in enumerate(spec.first):
            H[k, 1 + c] = 1
        self._arrays = [H]  # kept alive: the plan holds their addresses
        rows = []
        for w_s, b_s, (o, i) in slices[:-1]:
            Z, Ab, Yb, H_next = (ws.empty(o, C, n) for _ in range(4))
            self._arrays += [Z, Ab, Yb, H_next]
            rows.append([o, i, w_s.start, b_s.start, H.data_ptr(), Z.data_ptr(), Ab.data_ptr(), Yb.data_ptr()])
            H = H_next
        w_s, b_s, (m, i) = slices[-1]
        rows.append([m, i, w_s.start, b_s.start, H.data_ptr()] + [0] * (_native.TRAIN_PLAN_FIELDS - 5))
        self.plan = torch.tensor(rows, dtype=torch.int64)
        self.Y = ws.empty(m, C, n)
        self._lib = _native.loaded()
        self.rerun_forward()

    def _spec_args(self) -> tuple[int, ...]:
        return (
            self.plan.data_ptr(),
            self.plan.shape[0] - 1,
            self.C,
            self.F,
            self.S,
            self._counts.data_ptr(),
            self._terms.data_ptr(),
            self._coefs.data_ptr(),
            self.Y.shape[2],
            self._theta.data_ptr(),
        )

    def _shares(self) -> int:
        return max(1, min(self.threads, self.Y.shape[2] // self.MIN_POINTS_PER_THREAD, _native.MAX_SHARES))

    def rerun_forward(self) -> None:
        """The forward pass at the parameters now in theta's storage: fills ``Y``."""
        status = self._lib.plw_train_forward(*self._spec_args(), self.Y.data_ptr(), self._shares())
        if status != 0:
            raise RuntimeError(f"plw_train_forward failed (status {status})")

    def add_gradient(self, Yb: torch.Tensor, out: torch.Tensor) -> None:
        """Adds J^T Yb (Yb: the loss's adjoints of the output jet [m, C, n], contiguous float32) into out [P],
        after ``rerun_forward`` at the same parameters."""
        shares, P = self._shares(), out.numel()
        sums = torch.zeros(shares - 1, P, dtype=out.dtype)  # the other threads' gradients
        status = self._lib.plw_train_gradient(
            *self._spec_args(), Yb.data_ptr(), out.data_ptr(), sums.data_ptr(), P, shares
        )
        if status != 0:
            raise RuntimeError(f"plw_train_gradient failed (status {status})")
