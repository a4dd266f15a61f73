"""Exact Hessian-vector products of a tanh network's loss by Pearlmutter's R-operator, without autograd's
double backward.

Write the loss as L(theta) = l(Y(theta)), where Y are the network's output jets (value, input gradient,
Laplacian) at the objective's point sets and l is everything after the network (hard-ansatz factor,
density, weights, penalties): the objective's own code. Then

    H v = R{grad L} = R{J^T g},   g = dl/dY,

and the R-operator (the directional derivative along v) splits into

  - an R-forward pass through the jet recursion: R{Y} = J v;
  - R{g} = (d^2 l / dY^2) R{Y}: a Hessian-vector product of l in Y-space, by autograd on a graph of a
    few thousand numbers;
  - an R-backward pass: the derivative along v of the backward pass that forms J^T g.

Everything that does not depend on v (the activations, their derivatives, the adjoints of the backward
pass) is computed once per operator. A product is then two passes of a few dozen large ops each, against
~300 small ones for autograd's double backward through the jet graph. The jets are stacked over their
channels ([units, C, n]), so one matmul moves every channel. Their arrays live in a ``Workspace``, whose
memory the next operator reuses.

In float32 on a CPU every pass runs in C (``csrc/rop.c``: the setup's forward and backward, and the
R-passes), in OpenMP teams on torch's own threads, which split the points; elsewhere in torch. When l is
a sum over points of a function of each point's jet (every loss here but a periodic constraint's, which
pairs points), its Hessian in Y-space is a C x C block per point, read off once per operator; a product
is then a single C call per point set, with no autograd step and no join between the passes.

The setup's passes (the forward jets and the backward pass forming J^T g, shared with training's fused
step) are ``engine.jet_adjoint.JetPasses``; this module adds the R-passes to them.
"""

from __future__ import annotations

import torch

from ..engine._threads import threads_for_load
from ..engine._workspace import Workspace
from ..engine.jet_adjoint import PLAN_FIELDS, JetPasses, applies, native_applies
from ..pde.derivatives import Jet

__all__ = ["PLAN_FIELDS", "NetworkHVP", "applies", "native_applies"]


class _PointSet(JetPasses):
    """The network's forward jet at one set of points, with everything its R-passes reuse (the setup's
    passes are ``JetPasses``'), and the R-passes themselves, in C or in torch."""

    def r_forward_native(self, v: torch.Tensor, threads: int) -> torch.Tensor:
        """``r_forward`` in C (v contiguous float32) on up to ``threads`` threads; the R-backward pass's
        inputs stay in the plan's arrays."""
        self._lib.plw_rop_forward(
            self.plan.data_ptr(),
            len(self.layers),
            self.C,
            self.d,
            int(self.order >= 2),
            self.RY.shape[1],
            v.data_ptr(),
            self.RY.data_ptr(),
            self._shares(threads),
        )
        return self.RY

    def r_backward_native(
        self, v: torch.Tensor, Yb: torch.Tensor, RYb: torch.Tensor, out: torch.Tensor, threads: int
    ) -> None:
        """``r_backward`` in C, after ``r_forward_native`` with the same v (inside a workspace scope)."""
        shares = self._shares(threads)
        sums = self.ws.zeros(shares - 1, out.numel())  # the other threads' weight gradients
        self._lib.plw_rop_backward(
            self.plan.data_ptr(),
            len(self.layers),
            self.C,
            self.d,
            int(self.order >= 2),
            self.RY.shape[1],
            v.data_ptr(),
            Yb.data_ptr(),
            RYb.data_ptr(),
            out.data_ptr(),
            sums.data_ptr(),
            out.numel(),
            shares,
        )

    def product_native(
        self, v: torch.Tensor, Yb: torch.Tensor, B: torch.Tensor, out: torch.Tensor, threads: int
    ) -> None:
        """Both R-passes and the loss's part between them in one C call (inside a workspace scope), given
        the loss's Hessian in Y-space as per-point blocks B [C, C, n]: adds this set's R{J^T Yb} into out."""
        shares = self._shares(threads)
        C, n = self.C, self.Y.shape[1]
        sums = self.ws.zeros(shares - 1, out.numel())
        RYb = self.ws.empty(C, n)
        self._lib.plw_rop_product(
            self.plan.data_ptr(),
            len(self.layers),
            C,
            self.d,
            int(self.order >= 2),
            n,
            v.data_ptr(),
            Yb.data_ptr(),
            B.data_ptr(),
            self.RY.data_ptr(),
            RYb.data_ptr(),
            out.data_ptr(),
            sums.data_ptr(),
            out.numel(),
            shares,
        )

    def r_forward(self, v: torch.Tensor) -> tuple[torch.Tensor, list]:
        """R{Y} = J v as [C, n], and what the R-backward pass needs: each hidden layer's (RZ, RH), the
        R-derivatives of its pre-activation jet and of its input jet (None for the first layer), and last
        the output layer's (None, RH)."""
        ws, d, C = self.ws, self.d, self.C
        cache: list[tuple[torch.Tensor | None, torch.Tensor | None]] = []
        RH: torch.Tensor | None = None
        for (w_s, b_s, (o, i)), L in zip(self.slices[:-1], self.layers):
            n = L.s1.shape[1]
            RZ = torch.mm(v[w_s].view(o, i), L.H.view(i, C * n), out=ws.empty(o, C * n))
            if RH is not None:
                RZ.addmm_(L.W, RH.view(i, C * n))
            RZ = RZ.view(o, C, n)
            RZ[:, 0] += v[b_s][:, None]
            cache.append((RZ, RH))
            Ry = RZ[:, 0]
            RH = torch.mul(RZ, L.s1[:, None], out=ws.empty(o, C, n))
            if d:
                RH[:, 1 : 1 + d].addcmul_(L.s2Gy, Ry[:, None])
            if self.order >= 2:
                RH[:, -1].addcmul_(L.lap_ry, Ry).add_((RZ[:, 1 : 1 + d] * L.s2Gy).sum(1), alpha=2)
        cache.append((None, RH))
        assert RH is not None  # an MLP has at least one hidden layer
        w_s, b_s, _ = self.slices[-1]
        o = self.wo.numel()
        RY = torch.mv(self.H.view(o, -1).T, v[w_s]).addmv_(RH.view(o, -1).T, self.wo).view(C, -1)
        RY[0] += v[b_s]
        return RY, cache

    def r_backward(self, v: torch.Tensor, Yb: torch.Tensor, RYb: torch.Tensor, cache, out: torch.Tensor) -> None:
        """Adds R{J^T Yb} (the derivative along v of this set's gradient, given R{Yb} [C, n]) into out [P];
        cache is what ``r_forward`` returned with R{Y}."""
        ws, d, C = self.ws, self.d, self.C
        n = Yb.shape[1]
        w_s, b_s, _ = self.slices[-1]
        o = self.wo.numel()
        RH = cache[-1][1]
        out[w_s].view(1, o).addmm_(RYb.view(1, -1), self.H.view(o, -1).T).addmm_(Yb.view(1, -1), RH.view(o, -1).T)
        out[b_s] += RYb[0].sum()
        RAb = torch.outer(self.wo, RYb.view(-1), out=ws.empty(o, C * n)).addr_(v[w_s], Yb.view(-1)).view(o, C, n)
        for (l_ws, l_bs, (o, i)), L, (RZ, RH) in reversed(list(zip(self.slices[:-1], self.layers, cache))):
            Ry = RZ[:, 0]
            RYb_l = torch.mul(RAb, L.s1[:, None], out=ws.empty(o, C, n))
            Ryb = RYb_l[:, 0]
            Ryb.addcmul_(Ry, L.c_ry)
            if d:
                Ryb += (RAb[:, 1 : 1 + d] * L.s2Gy).sum(1) + (RZ[:, 1 : 1 + d] * L.c_rgy).sum(1)
                RYb_l[:, 1 : 1 + d].addcmul_(Ry[:, None], L.c_rgy)
            if self.order >= 2:
                RLAb, RLy = RAb[:, -1], RZ[:, -1]
                Ryb.addcmul_(RLAb, L.lap_ry).addcmul_(RLy, L.LAbs2)
                RYb_l[:, 1 : 1 + d].addcmul_(RLAb[:, None], L.s2Gy, value=2)
                RYb_l[:, 1 : 1 + d].addcmul_(RZ[:, 1 : 1 + d], L.LAbs2[:, None], value=2)
                RYb_l[:, -1].addcmul_(Ry, L.LAbs2)
            RYb2 = RYb_l.view(o, C * n)
            Wb = out[l_ws].view(o, i)
            Wb.addmm_(RYb2, L.H.view(i, C * n).T)
            out[l_bs] += Ryb.sum(1)
            if RH is None:  # the first layer: its inputs are the points, constant in theta
                break
            Wb.addmm_(L.Yb.view(o, C * n), RH.view(i, C * n).T)
            RAb = torch.mm(L.W.T, RYb2, out=ws.empty(i, C * n))
            RAb = RAb.addmm_(v[l_ws].view(o, i).T, L.Yb.view(o, C * n)).view(i, C, n)


class NetworkHVP:
    """H v for one objective (or one quadrature part of it) at theta, restricted to ``term`` if given."""

    def __init__(self, objective, theta: torch.Tensor, term: str | None = None, threads: int | None = None):
        """threads: for the passes in C (default: torch's thread count)."""
        theta = theta.detach().contiguous()  # the C passes read the weights where the layers view them
        self.n = theta.numel()
        self.native = native_applies(objective)
        # the C passes split each op over OpenMP threads: as many as there are idle cores (see _threads)
        setup_threads = (threads or threads_for_load(torch.get_num_threads())) if self.native else None
        net = objective.net
        # owned by this operator; its memory goes to the next one (see _workspace)
        self.ws = Workspace(theta.device, theta.dtype, owner=self)
        self.sets: dict[tuple, _PointSet] = {}
        leaves = {}
        # The loss's graph is built for K copies of the network's jets, each copy a parameter point of the
        # loss code (as the grid evaluates K of them): row 0 serves the products, and with the passes in C
        # the others take the probes that read off the per-point Y-space blocks (see _y_space_blocks) in one
        # autograd call, no vmap. C <= 2 + d: one row per channel, and one for the check.
        self.K = K = 3 + objective.x.shape[1] if self.native else 1

        def network(point_set):
            """The network's output jet at a point set, views of a leaf of the loss's graph (one per set)."""
            key = id(point_set)
            if key not in self.sets:
                self.sets[key] = ps = _PointSet(net, theta, point_set.x, point_set.spec.order, self.ws, setup_threads)
                # a copy: views of the workspace share one version counter, which later writes there bump
                leaves[key] = ps.Y.expand(K, *ps.Y.shape).clone().requires_grad_(True)
            return Jet.from_stacked(point_set.spec, leaves[key])

        # the loss as a function of the network's output jets, by the objective's own code
        with torch.enable_grad():
            terms, _ = objective.loss_terms(network)
            loss = terms[term] if term is not None else sum(terms.values())  # [K], every row the same
            self.loss = float(loss[0].detach())
            self._leaves = list(leaves.values())
            grads = torch.autograd.grad(loss.sum(), self._leaves, create_graph=True, allow_unused=True)
        self._grads = [torch.zeros_like(t) if g is None else g for t, g in zip(self._leaves, grads)]
        self._second = [i for i, g in enumerate(self._grads) if g.requires_grad]  # l is not linear in these
        self._Yb = [g[0].detach().contiguous() for g in self._grads]
        for ps, g in zip(self.sets.values(), self._Yb):
            ps.backward(g)
        # with the passes in C, a product is one C call per point set when l's Hessian is per point
        self._blocks = self._y_space_blocks() if self.native else None

    def _y_space_hvp(self, probes: list) -> list:
        """(d^2 l / dY^2) R by autograd for each of the K rows of the probes R (per leaf, shaped like it:
        [K, C, n]); rows of R where l is linear in the leaf are ignored, and zeros come back where l's
        gradient does not depend on it."""
        with torch.enable_grad():
            hv = torch.autograd.grad(
                [self._grads[i] for i in self._second],
                self._leaves,
                grad_outputs=[probes[i] for i in self._second],
                retain_graph=True,
                allow_unused=True,
            )
        return [torch.zeros_like(p) if h is None else h for h, p in zip(hv, probes)]

    def _y_space_blocks(self) -> list | None:
        """l's Hessian in Y-space as per-point blocks, B[c, c', p] = d^2 l / dY[c, p] dY[c', p] per point set
        ([C, C, n] each), or None when l couples points (or point sets) and the blocks would not be it.

        The objectives' losses are quadrature sums, each point's term a function of that point's jet, and
        then a probe per channel (ones on that channel at every point) reads the blocks off, one per row of
        the loss's graph: a single autograd call, against one per H v product afterwards. The last row's
        random probe checks the blocks against autograd; a loss that couples points fails it (to float32
        rounding), and its products keep their autograd step."""
        if not self._second:  # l is linear in Y: no second derivative at all
            return [
                self._leaves[0].new_zeros((ps.C, ps.C, leaf.shape[2]))
                for leaf, ps in zip(self._leaves, self.sets.values())
            ]
        gen = torch.Generator().manual_seed(0)
        probes = []
        for leaf, ps in zip(self._leaves, self.sets.values()):
            rows = torch.zeros(leaf.shape, dtype=leaf.dtype)  # [K, C, n]
            for c in range(ps.C):
                rows[c, c] = 1
            rows[-1] = torch.randn(rows[-1].shape, generator=gen, dtype=leaf.dtype)
            probes.append(rows.to(leaf.device))
        blocks = []
        for h, ps, p in zip(self._y_space_hvp(probes), self.sets.values(), probes):
            B = h[: ps.C].transpose(0, 1).contiguous()  # [c, c', n]: column c' from probe c'
            got, want = torch.einsum("abn,bn->an", B, p[-1]), h[-1]
            if (got - want).abs().max() > 1e-4 * want.abs().max() + 1e-30:
                return None
            blocks.append(B)
        return blocks

    def matvec(self, v: torch.Tensor, threads: int | None = None) -> torch.Tensor:
        """H v. threads: for the passes in C (default: torch's thread count)."""
        out = torch.zeros(self.n, dtype=v.dtype, device=v.device)
        n_threads = threads or threads_for_load(torch.get_num_threads())  # for the passes in C
        if self.native:
            v = v.contiguous()
        with self.ws.scope():  # a product's scratch is reused by the next
            if self._blocks is not None:
                for ps, g, B in zip(self.sets.values(), self._Yb, self._blocks):
                    ps.product_native(v, g, B, out, n_threads)
                return out
            forward = [
                (ps.r_forward_native(v, n_threads), None) if self.native else ps.r_forward(v)
                for ps in self.sets.values()
            ]
            RYb = [None] * len(self._leaves)  # R{dl/dY} = (d^2 l / dY^2) R{Y}, by autograd in Y-space
            if self._second:  # R{Y} in row 0 of the loss's graph
                probes = [torch.cat([RY[None], RY.new_zeros((self.K - 1, *RY.shape))]) for RY, _ in forward]
                RYb = [h[0].contiguous() for h in self._y_space_hvp(probes)]
            for ps, g, rg, (_, cache) in zip(self.sets.values(), self._Yb, RYb, forward):
                rg = torch.zeros_like(g) if rg is None else rg
                if self.native:
                    ps.r_backward_native(v, g, rg, out, n_threads)
                else:
                    ps.r_backward(v, g, rg, cache, out)
        return out
