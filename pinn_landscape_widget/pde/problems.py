"""PDE problems: domain, quadrature, source, exact solution and how the boundary is imposed.

A problem knows its PDE (the strong residual and, where one exists, the energy density) but nothing about
networks or losses; ``formulations`` turns these into losses. All geometry is float64 numpy-free torch,
cast to the run's device and dtype by the objective.

Quadrature is the midpoint rule on a uniform grid (cell centres), weights summing to the measure of the
domain. The relative L2 error is measured on the quadrature points with the quadrature weights (free: the
values come with the loss), or, with ``n_eval``, on a separate uniform grid that includes the boundary.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import torch

from .._checks import check_choice, check_finite, check_int, check_positive
from .derivatives import Jet

F64 = torch.float64


@dataclass
class Constraint:
    """A penalised condition lam * sum_j w_j misfit_j^2.

    kind "dirichlet": misfit = u(points) - target.  kind "periodic": points holds two halves
    (left then right) and misfit = u(left) - u(right); weights and target have the length of one half.
    """

    name: str
    kind: str
    points: torch.Tensor
    weights: torch.Tensor
    target: torch.Tensor | None = None


def _midpoints(lo: float, hi: float, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    h = (hi - lo) / n
    x = lo + h * (torch.arange(n, dtype=F64) + 0.5)
    return x, torch.full((n,), h, dtype=F64)


def _tensor_grid(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    X, Y = torch.meshgrid(xs, ys, indexing="ij")
    return torch.stack([X.reshape(-1), Y.reshape(-1)], dim=1)


def _side(n_points: int) -> int:
    """Points per side of a square grid holding about n_points points."""
    return max(2, int(round(math.sqrt(n_points))))


class Problem:
    """Base class. Subclasses set name, dim, input_names, domain and the PDE."""

    name: str = ""
    dim: int = 1
    input_names: tuple[str, ...] = ("x",)
    unknowns: tuple[str, ...] = ("u",)
    domain: tuple[tuple[float, float], ...] = ((0.0, 1.0),)
    has_energy: bool = False
    residual_order: int = 2  # derivative order the strong residual needs
    description: str = ""

    def __init__(self, *, n_points: int, n_eval: int | None, boundary: str, lam: float):
        self.n_points = check_int("n_points", n_points, 2, 10_000_000)
        self.n_eval = None if n_eval is None else check_int("n_eval", n_eval, 2, 10_000_000)
        self.boundary = check_choice("boundary", boundary, self.boundary_modes())
        self.lam = check_positive("lam", lam)

    @classmethod
    def boundary_modes(cls) -> tuple[str, ...]:
        return ("hard", "penalty")

    # --- what a subclass provides -------------------------------------------------------------
    @property
    def params(self) -> dict:
        """The keyword arguments that rebuild this problem with ``get_problem(name, **params)``."""
        raise NotImplementedError

    def quadrature(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Interior quadrature (points [N, d], weights [N]); weights sum to the measure of the domain."""
        raise NotImplementedError

    def constraints(self) -> list[Constraint]:
        """Penalised boundary / initial conditions; empty when everything is imposed by the ansatz."""
        raise NotImplementedError

    def source(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def exact(self, x: torch.Tensor) -> torch.Tensor | None:
        return None

    def evaluation_points(self) -> torch.Tensor | None:
        """Points for the relative L2 error; None means the interior quadrature (with its weights)."""
        if self.n_eval is None:
            return None
        return self._uniform_grid(self.n_eval)

    def _uniform_grid(self, n: int) -> torch.Tensor:
        if self.dim == 1:
            ((lo, hi),) = self.domain
            return torch.linspace(lo, hi, n, dtype=F64)[:, None]
        side = _side(n)
        return _tensor_grid(*(torch.linspace(lo, hi, side, dtype=F64) for lo, hi in self.domain))

    def hard_factor(self, x: torch.Tensor) -> torch.Tensor | None:
        """phi(x) of the hard ansatz u = phi(x) N(x), or None when the boundary is penalised."""
        return None

    def residual(self, x: torch.Tensor, u: Jet, f: torch.Tensor) -> torch.Tensor:
        """Strong-form residual r(x) [K, N]; zero for the exact solution."""
        raise NotImplementedError

    def energy_density(self, x: torch.Tensor, u: Jet, f: torch.Tensor) -> torch.Tensor:
        raise ValueError(f"problem {self.name!r} has no energy functional, so it supports no Deep Ritz loss")

    def exact_energy(self) -> float | None:
        """E* = energy of the exact solution (analytic), or None."""
        return None

    # --- derived --------------------------------------------------------------------------------
    def boundary_quadrature(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(points, weights) of every penalised boundary/initial condition, or None when all are exact."""
        cons = self.constraints()
        if not cons:
            return None
        pts, ws = [], []
        for c in cons:
            if c.kind == "periodic":
                half = c.points.shape[0] // 2
                pts.append(c.points)
                ws.append(torch.cat([c.weights, c.weights]) * 0.5)
                assert half == c.weights.shape[0]
            else:
                pts.append(c.points)
                ws.append(c.weights)
        return torch.cat(pts), torch.cat(ws)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"get_problem({self.name!r}, {args})"


# ------------------------------------------------------------------------------------------------
class Poisson1D(Problem):
    """u'' + f = 0 on [0, 1], u(0) = u(1) = 0 (the paper's first problem).

    Exact solutions are sine series u* = sum_j a_j sin(k_j pi x), f = sum_j a_j (k_j pi)^2 sin(k_j pi x):
    source "sin" is one mode (frequency k), "multiscale" is sin(pi x) + 0.2 sin(4 pi x) + 0.05 sin(16 pi x).
    The default boundary is the hard ansatz u = sin(pi x) N(x).
    """

    name = "poisson1d"
    dim = 1
    input_names = ("x",)
    domain = ((0.0, 1.0),)
    has_energy = True
    residual_order = 2
    description = "u'' + f = 0 on [0, 1], u(0) = u(1) = 0"
    SOURCES = ("sin", "multiscale")

    def __init__(
        self,
        *,
        source: str = "sin",
        k: int = 1,
        n_points: int = 1000,
        n_eval: int | None = None,
        boundary: str = "hard",
        lam: float = 100.0,
    ):
        super().__init__(n_points=n_points, n_eval=n_eval, boundary=boundary, lam=lam)
        self.source_name = check_choice("source", source, self.SOURCES)
        self.k = check_int("k", k, 1, 1000)
        if source == "sin":
            self.modes = [(1.0, float(self.k))]
        else:
            self.modes = [(1.0, 1.0), (0.2, 4.0), (0.05, 16.0)]

    @property
    def params(self):
        return dict(
            source=self.source_name,
            k=self.k,
            n_points=self.n_points,
            n_eval=self.n_eval,
            boundary=self.boundary,
            lam=self.lam,
        )

    def quadrature(self):
        x, w = _midpoints(0.0, 1.0, self.n_points)
        return x[:, None], w

    def constraints(self):
        if self.boundary == "hard":
            return []
        pts = torch.tensor([[0.0], [1.0]], dtype=F64)
        return [Constraint("boundary", "dirichlet", pts, torch.ones(2, dtype=F64), torch.zeros(2, dtype=F64))]

    def source(self, x):
        xx = x[:, 0]
        return sum(a * (k * math.pi) ** 2 * torch.sin(k * math.pi * xx) for a, k in self.modes)

    def exact(self, x):
        xx = x[:, 0]
        return sum(a * torch.sin(k * math.pi * xx) for a, k in self.modes)

    def hard_factor(self, x):
        return torch.sin(math.pi * x[:, 0]) if self.boundary == "hard" else None

    def residual(self, x, u, f):
        return u.lap + f

    def energy_density(self, x, u, f):
        return 0.5 * (u.grad * u.grad).sum(1) - f * u.value

    def exact_energy(self):
        # -1/2 int f u*, and int_0^1 sin(a pi x) sin(b pi x) dx = delta_ab / 2 for integers a, b.
        return -sum(a * a * (k * math.pi) ** 2 for a, k in self.modes) / 4.0


class Poisson2D(Problem):
    """-Laplace(u) = f on the unit square, u = 0 on the boundary.

    Exact solution u* = sin(k pi x) sin(k pi y) (k = 1 by default; k = 2 is the higher-frequency case).
    Default boundary: hard ansatz u = x(1-x) y(1-y) N(x, y). ``n_points`` is the total interior count of a
    square midpoint grid (rounded to a square number).
    """

    name = "poisson2d"
    dim = 2
    input_names = ("x", "y")
    domain = ((0.0, 1.0), (0.0, 1.0))
    has_energy = True
    residual_order = 2
    description = "-Laplace(u) = f on the unit square, u = 0 on the boundary"

    def __init__(
        self, *, k: int = 1, n_points: int = 1024, n_eval: int | None = None, boundary: str = "hard", lam: float = 100.0
    ):
        super().__init__(n_points=n_points, n_eval=n_eval, boundary=boundary, lam=lam)
        self.k = check_int("k", k, 1, 1000)
        self.side = _side(self.n_points)

    @property
    def params(self):
        return dict(k=self.k, n_points=self.n_points, n_eval=self.n_eval, boundary=self.boundary, lam=self.lam)

    def quadrature(self):
        x, w = _midpoints(0.0, 1.0, self.side)
        return _tensor_grid(x, x), (w[:, None] * w[None, :]).reshape(-1)

    def constraints(self):
        if self.boundary == "hard":
            return []
        s, w = _midpoints(0.0, 1.0, self.side)
        zeros, ones = torch.zeros_like(s), torch.ones_like(s)
        pts = torch.cat(
            [
                torch.stack([s, zeros], 1),
                torch.stack([s, ones], 1),
                torch.stack([zeros, s], 1),
                torch.stack([ones, s], 1),
            ]
        )
        return [Constraint("boundary", "dirichlet", pts, torch.cat([w] * 4), torch.zeros(4 * self.side, dtype=F64))]

    def source(self, x):
        return 2 * (self.k * math.pi) ** 2 * self.exact(x)

    def exact(self, x):
        return torch.sin(self.k * math.pi * x[:, 0]) * torch.sin(self.k * math.pi * x[:, 1])

    def hard_factor(self, x):
        if self.boundary != "hard":
            return None
        return x[:, 0] * (1 - x[:, 0]) * x[:, 1] * (1 - x[:, 1])

    def residual(self, x, u, f):
        return u.lap + f

    def energy_density(self, x, u, f):
        return 0.5 * (u.grad * u.grad).sum(1) - f * u.value

    def exact_energy(self):
        # -1/2 int f u* = -(k pi)^2 int sin^2 sin^2 = -(k pi)^2 / 4
        return -((self.k * math.pi) ** 2) / 4.0


class Convection1D(Problem):
    """u_t + beta u_x = 0, x in [0, 2 pi] periodic, u(x, 0) = sin x, t in [0, 1]; exact sin(x - beta t).

    The failure-mode problem of Krishnapriyan et al. (2021). Inputs are (x, t). The initial condition and
    periodicity are penalised (terms ``initial`` and ``boundary``), as in that paper. No energy functional.
    """

    name = "convection1d"
    dim = 2
    input_names = ("x", "t")
    domain = ((0.0, 2 * math.pi), (0.0, 1.0))
    has_energy = False
    residual_order = 1
    description = "u_t + beta u_x = 0 on [0, 2 pi] x [0, 1], periodic in x, u(x, 0) = sin x"

    @classmethod
    def boundary_modes(cls):
        return ("penalty",)

    def __init__(
        self,
        *,
        beta: float = 1.0,
        n_points: int = 2500,
        n_eval: int | None = None,
        boundary: str = "penalty",
        lam: float = 1.0,
    ):
        super().__init__(n_points=n_points, n_eval=n_eval, boundary=boundary, lam=lam)
        self.beta = check_finite("beta", beta)
        self.side = _side(self.n_points)

    @property
    def params(self):
        return dict(beta=self.beta, n_points=self.n_points, n_eval=self.n_eval, boundary=self.boundary, lam=self.lam)

    def quadrature(self):
        x, wx = _midpoints(0.0, 2 * math.pi, self.side)
        t, wt = _midpoints(0.0, 1.0, self.side)
        return _tensor_grid(x, t), (wx[:, None] * wt[None, :]).reshape(-1)

    def constraints(self):
        x, wx = _midpoints(0.0, 2 * math.pi, self.side)
        t, wt = _midpoints(0.0, 1.0, self.side)
        initial = Constraint("initial", "dirichlet", torch.stack([x, torch.zeros_like(x)], 1), wx, torch.sin(x))
        left = torch.stack([torch.zeros_like(t), t], 1)
        right = torch.stack([torch.full_like(t, 2 * math.pi), t], 1)
        periodic = Constraint("boundary", "periodic", torch.cat([left, right]), wt)
        return [initial, periodic]

    def source(self, x):
        return torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)

    def exact(self, x):
        return torch.sin(x[:, 0] - self.beta * x[:, 1])

    def residual(self, x, u, f):
        return u.grad[:, 1] + self.beta * u.grad[:, 0]


_REGISTRY: dict[str, type[Problem]] = {cls.name: cls for cls in (Poisson1D, Poisson2D, Convection1D)}


def list_problems() -> list[str]:
    """Names accepted by ``get_problem``."""
    return list(_REGISTRY)


def get_problem(name: str, **params) -> Problem:
    """Build a problem by name; unknown names or parameters are a ValueError listing what is allowed."""
    if isinstance(name, Problem):
        if params:
            raise ValueError("get_problem got a Problem instance and extra parameters; pass a name instead")
        return name
    cls = _REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"problem must be one of {list_problems()}, got {name!r}")
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = [p for p in params if p not in allowed]
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for problem {name!r}; allowed: {allowed}")
    return cls(**params)
