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
~300 small ones for autograd's double backward through the jet graph.

Per hidden layer, with inputs (h, G_k, Lp) (value, gradient components, Laplacian), weights W and bias b:
    y = h W^T + b,  Gy_k = G_k W^T,  Ly = Lp W^T,  Q = sum_k Gy_k^2
    A = s(y),  GA_k = s1 Gy_k,  LA = s1 Ly + s2 Q          (s1, s2, ... the derivatives of tanh at y)
and its backward pass, from the adjoints (Ab, GAb_k, LAb) of its outputs:
    yb = Ab s1 + s2 sum_k GAb_k Gy_k + LAb (s2 Ly + s3 Q)
    Gyb_k = GAb_k s1 + 2 LAb s2 Gy_k,   Lyb = LAb s1
    Wb = yb^T h + sum_k Gyb_k^T G_k + Lyb^T Lp,   bb = sum yb
    (hb, Gb_k, Lpb) = (yb W, Gyb_k W, Lyb W)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .nets import Jet


def applies(objective) -> bool:
    """Whether this objective's network has an R-operator here (tanh; every other activation goes through
    autograd's double backward)."""
    return objective.net.activation == "tanh"


@dataclass
class _Layer:
    W: torch.Tensor
    h: torch.Tensor  # [n, in]
    G: list  # d tensors [n, in], or []
    Lp: torch.Tensor | None
    Gy: list
    Ly: torch.Tensor | None
    Q: torch.Tensor | None
    s1: torch.Tensor
    s2: torch.Tensor
    s3: torch.Tensor | None  # only where the loss takes input derivatives (order >= 1)
    s4: torch.Tensor | None  # only with the Laplacian (order 2)
    # from the backward pass: the adjoints of the pre-activations and the coefficients (independent of v)
    # of the R-passes below
    yb: torch.Tensor | None = None
    Gyb: list | None = None
    Lyb: torch.Tensor | None = None
    c: dict | None = None


class _PointSet:
    """The network's forward jet at one set of points, with everything its R-passes reuse."""

    def __init__(self, net, theta: torch.Tensor, x: torch.Tensor, order: int):
        self.order = order
        self.slices = net.param_slices()
        n, d = x.shape
        self.layers: list[_Layer] = []
        h = x
        eye = torch.eye(d, dtype=x.dtype, device=x.device)
        G = [eye[k].expand(n, d) for k in range(d)] if order >= 1 else []
        Lp = torch.zeros_like(x) if order >= 2 else None
        for ws, bs, (o, i) in self.slices[:-1]:
            W = theta[ws].view(o, i)
            y = torch.addmm(theta[bs], h, W.T)
            Gy = [g @ W.T for g in G]
            Ly = Lp @ W.T if Lp is not None else None
            Q = sum(g * g for g in Gy) if order >= 2 else None
            t = torch.tanh(y)
            s1 = 1 - t * t
            s2 = -2 * t * s1
            s3 = -2 * s1 * s1 - 2 * t * s2 if order >= 1 else None
            s4 = -6 * s1 * s2 - 2 * t * s3 if order >= 2 else None
            self.layers.append(_Layer(W, h, G, Lp, Gy, Ly, Q, s1, s2, s3, s4))
            h, G = t, [s1 * g for g in Gy]
            Lp = s1 * Ly + s2 * Q if order >= 2 else None
        ws, bs, _ = self.slices[-1]
        self.wo = theta[ws]
        self.A, self.GA, self.LA = h, G, Lp
        value = h @ self.wo + theta[bs]
        self.Y = Jet(value[None], torch.stack([g @ self.wo for g in G])[None] if order >= 1 else None,
                     (Lp @ self.wo)[None] if order >= 2 else None)

    def backward(self, Yb: Jet) -> None:
        """The backward pass from output adjoints Yb (shaped like Y). Keeps each layer's adjoints and folds
        the R-passes' v-independent factors into a few coefficient arrays per layer (``c``)."""
        Ab = Yb.value[0][:, None] * self.wo
        GAb = [Yb.grad[0, k][:, None] * self.wo for k in range(len(self.GA))] if self.order >= 1 else []
        LAb = Yb.lap[0][:, None] * self.wo if self.order >= 2 else None
        for L in reversed(self.layers):
            lap = LAb is not None
            c = {}
            # R{A} = s1 Ry;  R{GA_k} = s2 Gy_k Ry + s1 RGy_k;  R{LA} = (s2 Ly + s3 Q) Ry + s1 RLy + 2 s2 sum Gy_k RGy_k
            c["s2Gy"] = [L.s2 * gy for gy in L.Gy]
            if lap:
                c["lap_ry"] = L.s2 * L.Ly + L.s3 * L.Q
                c["2s2Gy"] = [2 * g for g in c["s2Gy"]]
            # R{yb} = c_ry Ry + s1 R{Ab} + sum_k (s2 Gy_k R{GAb_k} + c_rgy_k RGy_k) [+ lap_ry R{LAb} + LAb s2 RLy]
            # R{Gyb_k} = s1 R{GAb_k} + c_rgy_k Ry [+ 2 s2 Gy_k R{LAb} + 2 LAb s2 RGy_k]
            # R{Lyb} = s1 R{LAb} + LAb s2 Ry          (c_rgy_k = s2 GAb_k + 2 LAb s3 Gy_k: the same in both)
            c_ry = Ab * L.s2
            c["rgy"] = []
            for gab, gy in zip(GAb, L.Gy):
                c_ry = c_ry + L.s3 * gab * gy
                c["rgy"].append(L.s2 * gab + (2 * LAb * L.s3 * gy if lap else 0))
            if lap:
                c_ry = c_ry + LAb * (L.s3 * L.Ly + L.s4 * L.Q)
                c["LAbs2"] = LAb * L.s2
                c["2LAbs2"] = 2 * c["LAbs2"]
            c["ry"] = c_ry
            L.c = c
            # the plain backward pass
            yb = Ab * L.s1
            for gab, gy in zip(GAb, L.Gy):
                yb = yb + L.s2 * gab * gy
            L.Gyb = [gab * L.s1 for gab in GAb]
            if lap:
                yb = yb + LAb * c["lap_ry"]
                L.Gyb = [gyb + 2 * LAb * L.s2 * gy for gyb, gy in zip(L.Gyb, L.Gy)]
                L.Lyb = LAb * L.s1
            L.yb = yb
            Ab = yb @ L.W
            GAb = [gyb @ L.W for gyb in L.Gyb]
            LAb = L.Lyb @ L.W if L.Lyb is not None else None

    def r_forward(self, v: torch.Tensor) -> tuple[Jet, list]:
        """R{Y} = J v, and for the R-backward pass: per layer (Ry, RGy, RLy, Rh, RG, RLp), and the output
        layer's (RA, RGA, RLA)."""
        cache = []
        Rh = RG = RLp = None
        for (ws, bs, (o, i)), L in zip(self.slices[:-1], self.layers):
            V = v[ws].view(o, i)
            Ry = torch.addmm(v[bs], L.h, V.T)
            RGy = [g @ V.T for g in L.G]
            RLy = L.Lp @ V.T if L.Lp is not None else None
            if Rh is not None:
                Ry.addmm_(Rh, L.W.T)
                for rgy, rg in zip(RGy, RG):
                    rgy.addmm_(rg, L.W.T)
                if RLy is not None:
                    RLy.addmm_(RLp, L.W.T)
            cache.append((Ry, RGy, RLy, Rh, RG, RLp))
            Rh = L.s1 * Ry
            RG = [torch.addcmul(L.s1 * rgy, Ry, s2gy) for rgy, s2gy in zip(RGy, L.c["s2Gy"])]
            if RLy is not None:
                RLp = torch.addcmul(L.s1 * RLy, Ry, L.c["lap_ry"])
                for rgy, w in zip(RGy, L.c["2s2Gy"]):
                    RLp.addcmul_(rgy, w)
        ws, bs, _ = self.slices[-1]
        Vo = v[ws]
        value = torch.addmv(Rh @ self.wo, self.A, Vo).add_(v[bs])
        grad = torch.stack([torch.addmv(rg @ self.wo, ga, Vo) for rg, ga in zip(RG, self.GA)])[None] \
            if self.order >= 1 else None
        lap = torch.addmv(RLp @ self.wo, self.LA, Vo)[None] if self.order >= 2 else None
        return Jet(value[None], grad, lap), (cache, (Rh, RG, RLp))

    def r_backward(self, v: torch.Tensor, Yb: Jet, RYb: Jet, r_cache, out: torch.Tensor) -> None:
        """Adds R{J^T Yb} (the derivative along v of this set's gradient, given R{Yb}) into out [P];
        r_cache is what ``r_forward`` returned with R{Y}."""
        cache, (RA, RGA, RLA) = r_cache
        ws, bs, _ = self.slices[-1]
        Vo = v[ws]
        yb0, ryb0 = Yb.value[0], RYb.value[0]
        wob = ryb0 @ self.A + yb0 @ RA
        RAb = torch.outer(ryb0, self.wo).addr_(yb0, Vo)
        RGAb = []
        for k in range(len(self.GA)):
            gyb, rgyb = Yb.grad[0, k], RYb.grad[0, k]
            wob = wob + rgyb @ self.GA[k] + gyb @ RGA[k]
            RGAb.append(torch.outer(rgyb, self.wo).addr_(gyb, Vo))
        RLAb = None
        if self.order >= 2:
            lyb, rlyb = Yb.lap[0], RYb.lap[0]
            wob = wob + rlyb @ self.LA + lyb @ RLA
            RLAb = torch.outer(rlyb, self.wo).addr_(lyb, Vo)
        out[ws] += wob
        out[bs] += ryb0.sum()
        for (lws, lbs, (o, i)), L, (Ry, RGy, RLy, Rh, RG, RLp) in reversed(
                list(zip(self.slices[:-1], self.layers, cache))):
            c = L.c
            Ryb = torch.addcmul(Ry * c["ry"], RAb, L.s1)
            RGyb = []
            for k, rgy in enumerate(RGy):
                Ryb.addcmul_(RGAb[k], c["s2Gy"][k]).addcmul_(rgy, c["rgy"][k])
                RGyb.append(torch.addcmul(RGAb[k] * L.s1, Ry, c["rgy"][k]))
            RLyb = None
            if RLy is not None:
                Ryb.addcmul_(RLAb, c["lap_ry"]).addcmul_(RLy, c["LAbs2"])
                for k, rgy in enumerate(RGy):
                    RGyb[k].addcmul_(RLAb, c["2s2Gy"][k]).addcmul_(rgy, c["2LAbs2"])
                RLyb = torch.addcmul(RLAb * L.s1, Ry, c["LAbs2"])
            Wb = Ryb.T @ L.h
            if Rh is not None:
                Wb.addmm_(L.yb.T, Rh)
            for k in range(len(L.G)):
                Wb.addmm_(RGyb[k].T, L.G[k])
                if RG is not None:
                    Wb.addmm_(L.Gyb[k].T, RG[k])
            if RLyb is not None:
                Wb.addmm_(RLyb.T, L.Lp)
                if RLp is not None:
                    Wb.addmm_(L.Lyb.T, RLp)
            out[lws] += Wb.reshape(-1)
            out[lbs] += Ryb.sum(0)
            if Rh is None:  # the first layer: its inputs are the points, constant in theta
                break
            V = v[lws].view(o, i)
            RAb = (Ryb @ L.W).addmm_(L.yb, V)
            RGAb = [(rgyb @ L.W).addmm_(gyb, V) for rgyb, gyb in zip(RGyb, L.Gyb)]
            RLAb = (RLyb @ L.W).addmm_(L.Lyb, V) if RLyb is not None else None


def _channels(jet: Jet) -> list:
    return [t for t in (jet.value, jet.grad, jet.lap) if t is not None]


def _jet_like(jet: Jet, it) -> Jet:
    """A Jet with jet's channels, filled in order from the iterator it."""
    return Jet(*(None if t is None else next(it) for t in (jet.value, jet.grad, jet.lap)))


class NetworkHVP:
    """H v for one objective (or one quadrature part of it) at theta, restricted to ``term`` if given."""

    def __init__(self, objective, theta: torch.Tensor, term: str | None = None):
        theta = theta.detach()
        self.n = theta.numel()
        net = objective.net
        self.sets: dict[tuple, _PointSet] = {}

        def network(x, order):
            """The network's output jet at x, as leaves of the loss's graph (one _PointSet per point set)."""
            key = (x.data_ptr(), tuple(x.shape), order)
            if key not in self.sets:
                ps = _PointSet(net, theta, x, order)
                ps.Y = _jet_like(ps.Y, (t.detach().requires_grad_(True) for t in _channels(ps.Y)))
                self.sets[key] = ps
            return self.sets[key].Y

        # the loss as a function of the network's output jets, by the objective's own code
        with torch.enable_grad():
            u = objective.u(network, objective.x, objective.phi, objective.order)
            terms = objective._terms(network, u)
            loss = terms[term][0] if term is not None else sum(terms.values())[0]
            self.loss = float(loss.detach())
            leaves = [t for ps in self.sets.values() for t in _channels(ps.Y)]
            grads = torch.autograd.grad(loss, leaves, create_graph=True, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g for t, g in zip(leaves, grads)]
        self._leaves, self._grads = leaves, grads
        self._second = [i for i, g in enumerate(grads) if g.requires_grad]  # l is not linear in these
        it = iter(g.detach() for g in grads)
        self._Yb = {}
        for key, ps in self.sets.items():
            self._Yb[key] = _jet_like(ps.Y, it)
            ps.backward(self._Yb[key])

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        forward = {key: ps.r_forward(v) for key, ps in self.sets.items()}
        RY = [t for RY_set, _ in forward.values() for t in _channels(RY_set)]
        RYb = [torch.zeros_like(t) for t in self._leaves]
        if self._second:
            with torch.enable_grad():
                hv = torch.autograd.grad([self._grads[i] for i in self._second], self._leaves,
                                         grad_outputs=[RY[i] for i in self._second], retain_graph=True,
                                         allow_unused=True)
            RYb = [torch.zeros_like(t) if h is None else h for t, h in zip(self._leaves, hv)]
        out = torch.zeros(self.n, dtype=v.dtype, device=v.device)
        it = iter(RYb)
        for key, ps in self.sets.items():
            ps.r_backward(v, self._Yb[key], _jet_like(ps.Y, it), forward[key][1], out)
        return out
