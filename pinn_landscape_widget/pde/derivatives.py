"""Input derivatives of the unknowns at a set of points: which ones a PDE reads, and how its code reads them.

A residual is written against ``Field`` objects, one per unknown, whose attributes are partial derivatives
by coordinate name: ``u.t - 0.1 * u.xx``. Before the problem is used, its functions are called once on
recording fields (``discover``), which notes every derivative they read; the engine then propagates exactly
those through the network (a ``JetSpec``) and hands them back as a ``Jet``.

A ``JetSpec`` names the channels: channel 0 is the value, then one channel per first partial that is read
(or needed to form a second-order channel), then one channel per second-order quantity. A second-order
channel is a linear combination of second partials, sum of c * d^2 u / dx_i dx_j over its terms (i <= j):
a single partial (u_xx, u_xt) or the Laplacian. Through an activation a = s(z) such a channel obeys

    q(a) = s'(z) q(z) + s''(z) sum_terms c z_i z_j

so it needs only the first partials it names, never the full Hessian.
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

# attribute names of a Field that are not derivatives; coordinates may not take them
RESERVED = ("value", "grad", "laplacian", "d", "name")


class SecondOrder(NamedTuple):
    """sum of coef * d^2 / dx_i dx_j over ``terms`` = ((i, j, coef), ...) with i <= j, sorted.

    A named tuple, so comparing and looking one up stays plain tuple arithmetic (which torch.compile traces).
    """

    terms: tuple[tuple[int, int, float], ...]

    @staticmethod
    def partial(i: int, j: int) -> SecondOrder:
        i, j = min(i, j), max(i, j)
        return SecondOrder(((i, j, 1.0),))

    @staticmethod
    def laplacian(dim: int) -> SecondOrder:
        return SecondOrder(tuple((i, i, 1.0) for i in range(dim)))

    @property
    def indices(self) -> set[int]:
        return {k for i, j, _ in self.terms for k in (i, j)}


@dataclass(frozen=True)
class JetSpec:
    """Which input derivatives a jet carries: the value, first partials ``first`` (input indices, sorted) and
    the second-order channels ``second``. Every index a second-order channel names is in ``first``."""

    dim: int
    first: tuple[int, ...] = ()
    second: tuple[SecondOrder, ...] = ()

    def __post_init__(self):
        if tuple(sorted(set(self.first))) != self.first or any(not 0 <= i < self.dim for i in self.first):
            raise ValueError(f"JetSpec.first must be sorted distinct input indices below {self.dim}, got {self.first}")
        for form in self.second:
            if not form.indices <= set(self.first):
                raise ValueError(f"JetSpec: second-order channel {form} needs first partials {sorted(form.indices)}")
        if len(set(self.second)) != len(self.second):
            raise ValueError("JetSpec.second must not repeat a channel")

    @staticmethod
    def classic(dim: int, order: int) -> JetSpec:
        """Value (order 0), and the whole gradient (order >= 1), and the Laplacian (order 2)."""
        return JetSpec(
            dim, tuple(range(dim)) if order >= 1 else (), (SecondOrder.laplacian(dim),) if order >= 2 else ()
        )

    @staticmethod
    def build(dim: int, first=(), second=()) -> JetSpec:
        """The spec carrying these first partials and second-order channels, plus the first partials the
        second-order ones need."""
        second = tuple(dict.fromkeys(second))
        need = set(first).union(*(f.indices for f in second)) if second else set(first)
        return JetSpec(dim, tuple(sorted(need)), second)

    @property
    def n_channels(self) -> int:
        return 1 + len(self.first) + len(self.second)

    @property
    def order(self) -> int:
        return 2 if self.second else 1 if self.first else 0

    @property
    def is_classic(self) -> bool:
        """Exactly value, whole gradient and (for order 2) Laplacian: the layout the fused kernels compute."""
        return self == JetSpec.classic(self.dim, self.order)

    def first_channel(self, i: int) -> int:
        return 1 + self.first.index(i)

    def second_channel(self, form: SecondOrder) -> int:
        return 1 + len(self.first) + self.second.index(form)

    def union(self, other: JetSpec) -> JetSpec:
        if other.dim != self.dim:
            raise ValueError(f"cannot join jet specs of dimensions {self.dim} and {other.dim}")
        return JetSpec.build(self.dim, set(self.first) | set(other.first), self.second + other.second)

    def contains(self, other: JetSpec) -> bool:
        return set(other.first) <= set(self.first) and set(other.second) <= set(self.second)


class Jet:
    """Values and input derivatives of one or more fields at N points, for K parameter points.

    ``parts[k][c]`` is channel c (see ``JetSpec``) of output k, a [K, N] tensor.
    """

    __slots__ = ("spec", "parts")

    def __init__(self, spec: JetSpec, parts: Sequence[Sequence[torch.Tensor]]):
        self.spec = spec
        self.parts = [list(p) for p in parts]

    @staticmethod
    def from_stacked(spec: JetSpec, Y: torch.Tensor) -> Jet:
        """From [K, C, N] (one output) or [K, C, N, m]."""
        if Y.dim() == 3:
            return Jet(spec, [[Y[:, c] for c in range(spec.n_channels)]])
        return Jet(spec, [[Y[:, c, :, k] for c in range(spec.n_channels)] for k in range(Y.shape[3])])

    @property
    def n_outputs(self) -> int:
        return len(self.parts)

    def value(self, k: int = 0) -> torch.Tensor:
        return self.parts[k][0]

    def first(self, i: int, k: int = 0) -> torch.Tensor:
        return self.parts[k][self.spec.first_channel(i)]

    def second(self, form: SecondOrder, k: int = 0) -> torch.Tensor:
        return self.parts[k][self.spec.second_channel(form)]

    def restrict(self, spec: JetSpec) -> Jet:
        """The channels of ``spec`` (contained in this jet's)."""
        idx = (
            [0] + [self.spec.first_channel(i) for i in spec.first] + [self.spec.second_channel(f) for f in spec.second]
        )
        return Jet(spec, [[p[c] for c in idx] for p in self.parts])


# --- the view residual code reads ---------------------------------------------------------------------


def _unwrap(x):
    return x.value if isinstance(x, Field) else x


class Field:
    """One unknown of a PDE at the points, for residual, energy and condition code.

    ``u`` itself behaves as its value (arithmetic and torch functions accept it: ``u * u.x``,
    ``torch.sin(u)``); ``u.value`` is the value tensor. Partial derivatives by coordinate name:
    ``u.x``, ``u.t`` (first order), ``u.xx``, ``u.xt`` (second order; ``u.tx`` is the same). Also
    ``u.laplacian`` (sum of the pure second partials over every coordinate), ``u.grad`` (the tuple of first
    partials in coordinate order) and ``u.d("x", "t")`` for names that do not spell out unambiguously.
    Every tensor is [K, N]: K parameter points, N points.
    """

    __slots__ = ("_name", "_coords", "_read")

    def __init__(self, name: str, coords: Sequence[str], read: Callable[[tuple], torch.Tensor]):
        self._name = name
        self._coords = tuple(coords)
        self._read = read

    @property
    def name(self) -> str:
        return self._name

    @property
    def value(self) -> torch.Tensor:
        return self._read(("value",))

    @property
    def laplacian(self) -> torch.Tensor:
        return self._read(("second", SecondOrder.laplacian(len(self._coords))))

    @property
    def grad(self) -> tuple[torch.Tensor, ...]:
        return tuple(self._read(("first", i)) for i in range(len(self._coords)))

    def d(self, *coords: str) -> torch.Tensor:
        """The partial derivative along the named coordinates: ``u.d("x")``, ``u.d("x", "t")``."""
        idx = []
        for c in coords:
            if c not in self._coords:
                raise ValueError(
                    f"{self._name}.d{coords}: {c!r} is not a coordinate of this problem; coordinates: {list(self._coords)}"
                )
            idx.append(self._coords.index(c))
        return self._partial(idx, f"{self._name}.d{tuple(coords)}")

    def _partial(self, idx: list[int], expr: str) -> torch.Tensor:
        if len(idx) == 0:
            return self.value
        if len(idx) == 1:
            return self._read(("first", idx[0]))
        if len(idx) == 2:
            return self._read(("second", SecondOrder.partial(idx[0], idx[1])))
        raise ValueError(f"{expr} is a derivative of order {len(idx)}; derivatives of order 0 to 2 are available")

    def __getattr__(self, attr: str):
        if attr.startswith("_"):
            raise AttributeError(attr)
        parsed = parse_derivative(attr, self._coords)
        if parsed is None:
            raise ValueError(
                f"{self._name}.{attr} names no derivative: write partial derivatives by coordinate name "
                f"({', '.join(self._name + '.' + c for c in self._coords)}, "
                f"{self._name}.{self._coords[0] * 2}, ...) or use {self._name}.d(...); coordinates: {list(self._coords)}"
            )
        return self._partial(parsed, f"{self._name}.{attr}")

    def __repr__(self) -> str:
        return f"Field({self._name!r}, coordinates={list(self._coords)})"

    # the value in arithmetic and torch functions
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        args = tuple(_unwrap(a) if not isinstance(a, (list, tuple)) else type(a)(map(_unwrap, a)) for a in args)
        kwargs = {k: _unwrap(v) for k, v in (kwargs or {}).items()}
        return func(*args, **kwargs)

    def __add__(self, o):
        return self.value + _unwrap(o)

    def __radd__(self, o):
        return _unwrap(o) + self.value

    def __sub__(self, o):
        return self.value - _unwrap(o)

    def __rsub__(self, o):
        return _unwrap(o) - self.value

    def __mul__(self, o):
        return self.value * _unwrap(o)

    def __rmul__(self, o):
        return _unwrap(o) * self.value

    def __truediv__(self, o):
        return self.value / _unwrap(o)

    def __rtruediv__(self, o):
        return _unwrap(o) / self.value

    def __pow__(self, o):
        return self.value ** _unwrap(o)

    def __rpow__(self, o):
        return _unwrap(o) ** self.value

    def __neg__(self):
        return -self.value

    def __pos__(self):
        return self.value

    def __abs__(self):
        return self.value.abs()


def parse_derivative(attr: str, coords: Sequence[str]) -> list[int] | None:
    """The coordinate indices an attribute spells (``"xt"`` -> [x, t]), or None when it spells none.

    Coordinate names may be longer than one letter; a spelling with two readings is an error."""
    readings: list[list[int]] = []

    def walk(rest: str, acc: list[int]):
        if not rest:
            readings.append(list(acc))
            return
        for k, c in enumerate(coords):
            if rest.startswith(c) and len(acc) < 3:
                walk(rest[len(c) :], acc + [k])

    walk(attr, [])
    if not readings:
        return None
    if len({tuple(sorted(r)) for r in readings}) > 1:
        spelled = [".".join(coords[i] for i in r) for r in readings]
        raise ValueError(f"u.{attr} is ambiguous ({' or '.join(spelled)}); use u.d(...) with the coordinates")
    return readings[0]


def check_names(what: str, names: Sequence[str], others: Sequence[str] = ()) -> tuple[str, ...]:
    """Coordinate or unknown names: distinct identifiers, none of them reserved or already used."""
    names = tuple(names)
    for n in names:
        if not isinstance(n, str) or not n.isidentifier() or keyword.iskeyword(n) or n.startswith("_"):
            raise ValueError(f"{what} names must be Python identifiers not starting with '_', got {n!r}")
        if n in RESERVED:
            raise ValueError(f"{what} name {n!r} is reserved (Field attributes: {list(RESERVED)})")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} names must be distinct, got {list(names)}")
    clash = set(names) & set(others)
    if clash:
        raise ValueError(f"{what} names {sorted(clash)} are already used by coordinates or unknowns")
    return names


# --- calling user functions by argument name ------------------------------------------------------------


def bind(fn: Callable, what: str, allowed: dict[str, str]) -> tuple[str, ...]:
    """The argument names of ``fn``, each one of ``allowed`` (name -> what it is, for the error)."""
    if not callable(fn):
        raise ValueError(f"{what} must be a function, got {type(fn).__name__}")
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: cannot read the arguments of {fn!r}") from exc
    names = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise ValueError(f"{what} must name its arguments (no *args or **kwargs)")
        if p.name not in allowed:
            listing = "; ".join(f"{v}: {k}" for k, v in allowed.items())
            raise ValueError(
                f"{what} takes an argument {p.name!r} that the problem does not provide; allowed: {listing}"
            )
        names.append(p.name)
    return tuple(names)


@dataclass
class Recording:
    """What one discovery call of a user function read, per unknown: sets of keys."""

    keys: dict[str, set]
    result: object


def discover(
    fn: Callable,
    arg_names: Sequence[str],
    unknowns: Sequence[str],
    coords: Sequence[str],
    values: dict[str, object],
    n: int = 7,
    K: int = 2,
) -> Recording:
    """Call ``fn`` once on recording fields (random numbers for every derivative) and note what it reads.

    ``values`` supplies the non-field arguments (coordinates as [n] tensors, parameters, the source).
    """
    gen = torch.Generator().manual_seed(1234)
    keys: dict[str, set] = {u: set() for u in unknowns}
    cache: dict[tuple, torch.Tensor] = {}

    def reader(unknown):
        def read(key):
            keys[unknown].add(key)
            if (unknown, key) not in cache:
                cache[(unknown, key)] = torch.rand((K, n), generator=gen, dtype=torch.float64) + 0.5
            return cache[(unknown, key)]

        return read

    args = {}
    for a in arg_names:
        args[a] = Field(a, coords, reader(a)) if a in unknowns else values[a]
    result = fn(**args)
    return Recording(keys, result)


def spec_from_keys(dim: int, keys: set) -> JetSpec:
    first, second = set(), []
    for key in keys:
        if key[0] == "first":
            first.add(key[1])
        elif key[0] == "second":
            second.append(key[1])
    return JetSpec.build(dim, first, sorted(second, key=lambda f: f.terms))


def jet_reader(jet: Jet, k: int) -> Callable[[tuple], torch.Tensor]:
    """Reads output k of a jet by Field keys."""

    def read(key):
        if key[0] == "value":
            return jet.value(k)
        if key[0] == "first":
            return jet.first(key[1], k)
        return jet.second(key[1], k)

    return read


def fields(jet: Jet, unknowns: Sequence[str], coords: Sequence[str]) -> dict[str, Field]:
    return {u: Field(u, coords, jet_reader(jet, k)) for k, u in enumerate(unknowns)}


# --- jets of known functions of the coordinates (hard-ansatz factors, lifts) ----------------------------


def autograd_jet(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, spec: JetSpec) -> Jet:
    """The value and the spec's derivatives of fn(x) [N] at x [N, d] by autograd (float64, once per point
    set: these functions do not depend on the network's parameters). Returned with K = 1."""
    x = x.detach().to(torch.float64).clone().requires_grad_(spec.order >= 1)
    with torch.enable_grad():
        v = fn(x)
        parts = [v.detach()]
        grads = torch.zeros_like(x)
        if spec.order >= 1:
            (g,) = torch.autograd.grad(v.sum(), x, create_graph=spec.order >= 2, allow_unused=True)
            grads = torch.zeros_like(x) if g is None else g
            parts += [grads[:, i].detach() for i in spec.first]
        hess: dict[tuple[int, int], torch.Tensor] = {}
        for form in spec.second:
            total = torch.zeros_like(v)
            for i, j, c in form.terms:
                if (i, j) not in hess:
                    gi = grads[:, i]
                    h = (
                        torch.autograd.grad(gi.sum(), x, retain_graph=True, allow_unused=True)[0]
                        if gi.requires_grad
                        else None
                    )
                    hess[(i, j)] = torch.zeros_like(v) if h is None else h[:, j]
                total = total + c * hess[(i, j)]
            parts.append(total.detach())
    return Jet(spec, [[p[None] for p in parts]])


def apply_ansatz(net: Jet, factors: Sequence[Jet | None], lifts: Sequence[Jet | None]) -> Jet:
    """u_k = lift_k + factor_k * N_k for each output, with the product rule on every channel:

    d_i u = d_i g + phi_i N + phi N_i;   q(u) = q(g) + q(phi) N + 2 sum_terms c (phi_i N_j + phi_j N_i) / 2 + phi q(N)
    (for a term (i, j, c) the mixed part is c (phi_i N_j + phi_j N_i), which is 2 c phi_i N_i when i = j).
    factors/lifts hold K = 1 jets with at least the network's channels, or None (factor 1, lift 0).
    """
    spec = net.spec
    out = []
    for k, part in enumerate(net.parts):
        phi, g = factors[k], lifts[k]
        if phi is None and g is None:
            out.append(part)
            continue
        new = list(part)
        if phi is not None:
            pv = phi.value(0)
            n_val = part[0]
            new[0] = pv * n_val
            for i in spec.first:
                c = spec.first_channel(i)
                new[c] = pv * part[c] + n_val * phi.first(i, 0)
            for form in spec.second:
                c = spec.second_channel(form)
                acc = pv * part[c]
                for i, j, coef in form.terms:
                    mixed = phi.first(i, 0) * part[spec.first_channel(j)]
                    if i == j:
                        mixed = 2 * mixed
                    else:
                        mixed = mixed + phi.first(j, 0) * part[spec.first_channel(i)]
                    acc = acc + mixed if coef == 1.0 else acc + coef * mixed
                new[c] = acc + phi.second(form, 0) * n_val
        if g is not None:
            new[0] = new[0] + g.value(0)
            for i in spec.first:
                c = spec.first_channel(i)
                new[c] = new[c] + g.first(i, 0)
            for form in spec.second:
                c = spec.second_channel(form)
                new[c] = new[c] + g.second(form, 0)
        out.append(new)
    return Jet(spec, out)
