"""An independent per-point evaluation of a problem's loss terms: the plain torch module of the network
(``run.model_at(theta)``), derivatives by autograd, and the problem's own definition (its residual /
energy / source functions and condition points). Nothing of the engine's jets, ansatz algebra or
condition misfits is used; this is what a user would write by hand.

Derivative names are parsed here on their own (coordinates are single letters in every problem tested).
"""

from __future__ import annotations

import torch


class AutogradField:
    """u, u.x, u.xt, u.laplacian, u.grad, u.d(...) by autograd of one output column of the model."""

    def __init__(self, u: torch.Tensor, x: torch.Tensor, coords, reads: list):
        self._u, self._x, self._coords, self._reads, self._cache = u, x, list(coords), reads, {}

    def _grad(self, idx: tuple[int, ...]) -> torch.Tensor:
        if idx in self._cache:
            return self._cache[idx]
        if not idx:
            out = self._u
        else:
            prev = self._grad(idx[:-1])
            g = torch.autograd.grad(prev.sum(), self._x, create_graph=True, allow_unused=True)[0]
            out = torch.zeros_like(prev) if g is None else g[:, idx[-1]]
        self._cache[idx] = out
        self._reads.append(out.detach().abs())
        return out

    @property
    def value(self):
        return self._grad(())

    @property
    def laplacian(self):
        return sum(self._grad((k, k)) for k in range(len(self._coords)))

    @property
    def grad(self):
        return tuple(self._grad((k,)) for k in range(len(self._coords)))

    def d(self, *names):
        return self._grad(tuple(self._coords.index(n) for n in names))

    def __getattr__(self, name):
        if name.startswith("_") or any(c not in self._coords for c in name):
            raise AttributeError(name)
        return self._grad(tuple(self._coords.index(c) for c in name))

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        unwrap = lambda a: a.value if isinstance(a, AutogradField) else a  # noqa: E731
        return func(*(unwrap(a) for a in args), **{k: unwrap(v) for k, v in (kwargs or {}).items()})

    def __add__(self, o):
        return self.value + _v(o)

    __radd__ = __add__

    def __sub__(self, o):
        return self.value - _v(o)

    def __rsub__(self, o):
        return _v(o) - self.value

    def __mul__(self, o):
        return self.value * _v(o)

    __rmul__ = __mul__

    def __truediv__(self, o):
        return self.value / _v(o)

    def __pow__(self, o):
        return self.value ** _v(o)

    def __neg__(self):
        return -self.value


def _v(o):
    return o.value if isinstance(o, AutogradField) else o


def _model_columns(model, x):
    u = model(x)
    return u[:, None] if u.dim() == 1 else u


def _call(problem, fn, arg_names, fields, x, f):
    kw = {}
    for a in arg_names:
        if a in fields:
            kw[a] = fields[a]
        elif a in problem.input_names:
            kw[a] = x[:, problem.input_names.index(a)]
        elif a == "f":
            kw[a] = f
        else:
            kw[a] = problem.coefficients[a]
    return fn(**kw)


def reference_terms(run, theta: torch.Tensor, formulation: str):
    """(terms, sizes, rel_l2_error): each loss term (and "loss") at theta, the magnitude of what each sums
    (for tolerances under cancellation), and the relative L2 error on the problem's evaluation points.
    Computed in theta's dtype."""
    prob = run.problem
    dtype = theta.dtype
    model = run.model_at(theta)
    x, w = prob.quadrature()
    x = x.to(dtype).requires_grad_(True)
    w = w.to(dtype)
    f = prob.source(x.detach().double())
    f = None if f is None else f.to(dtype)
    cols = _model_columns(model, x)
    reads: list = []
    fields = {name: AutogradField(cols[:, k], x, prob.input_names, reads) for k, name in enumerate(prob.unknowns)}
    terms, sizes = {}, {}
    params_scale = 1.0 + max([abs(float(v)) for v in prob.coefficients.values()] + [0.0])
    if formulation == "strong":
        r = _call(prob, prob._residual, prob._residual_args, fields, x, f)
        items = (
            r.items()
            if isinstance(r, dict)
            else [("residual", ri) for ri in (r if isinstance(r, (list, tuple)) else [r])]
        )
        for name, ri in items:
            terms[name] = terms.get(name, 0) + (w * ri * ri).sum()
    else:
        e = _call(prob, prob._energy, prob._energy_args, fields, x, f)
        terms["energy"] = (w * e).sum()
    # the size of what was summed: the derivatives read and the source, times the parameters' scale
    mag = sum(reads) if reads else torch.zeros_like(w)
    if f is not None:
        mag = mag + f.abs()
    for name in terms:
        sizes[name] = (
            float((w * (params_scale * mag) ** 2).sum())
            if formulation == "strong"
            else float((w * params_scale * (mag * (mag + 1))).sum())
        )
    for c in prob.conditions:
        xc = c.points.to(dtype).requires_grad_(True)
        uc = _model_columns(model, xc)
        parts = []
        for j, k in enumerate(c.unknown_index):
            if c.kind == "value":
                parts.append(uc[:, k] - c.targets[j].to(dtype))
            elif c.kind in ("rate", "neumann"):
                g = torch.autograd.grad(uc[:, k].sum(), xc, create_graph=True)[0][:, c.axis]
                parts.append(g - c.targets[j].to(dtype))
            else:
                n = uc.shape[0] // 2
                parts.append(uc[:n, k] - uc[n:, k])
                if c.derivatives:
                    g = torch.autograd.grad(uc[:, k].sum(), xc, create_graph=True)[0][:, c.axis]
                    parts.append(g[:n] - g[n:])
        mis = torch.cat(parts)
        wc = c.weights.to(dtype).repeat(len(parts))
        val = c.lam * (wc * mis * mis).sum()
        terms[c.name] = terms[c.name] + val if c.name in terms else val
        sizes[c.name] = sizes.get(c.name, 0.0) + float(c.lam * (wc * (mis.detach().abs() + 1e-3) ** 2).sum())
    out = {f"loss_{k}": float(v.detach()) for k, v in terms.items()}
    out["loss"] = float(sum(terms.values()).detach())
    size = {f"loss_{k}": v for k, v in sizes.items()}
    size["loss"] = sum(sizes.values())
    # the error
    xe = prob.evaluation_points()
    if xe is None:
        xe, we = prob.quadrature()
    else:
        we = torch.ones(xe.shape[0], dtype=torch.float64)
    ex = prob.exact(xe)
    err = float("nan")
    if ex is not None:
        ex = ex.reshape(xe.shape[0], -1).to(dtype)
        with torch.no_grad():
            ue = _model_columns(model, xe.to(dtype))
        we = we.to(dtype)
        err = float(torch.sqrt((we[:, None] * (ue - ex) ** 2).sum() / (we[:, None] * ex**2).sum()))
    return out, size, err
