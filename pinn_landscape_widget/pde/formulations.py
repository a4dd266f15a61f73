"""Physics losses: how a problem's PDE becomes a scalar to minimise.

With interior quadrature (x_i, w_i):
    strong:     sum_i w_i r(x_i)^2          term "residual"
    deep_ritz:  sum_i w_i e(u, grad u)(x_i)  term "energy"
Penalised boundary/initial conditions add lam * sum_j w_j misfit_j^2 (terms named by the problem); they
do not depend on the formulation and live in ``objective``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .derivatives import Jet
from .problems import Problem


@dataclass(frozen=True)
class Formulation:
    name: str
    term: str
    description: str

    def order(self, problem: Problem) -> int:
        """Input-derivative order the interior term needs on this problem."""
        raise NotImplementedError

    def supports(self, problem: Problem) -> bool:
        return True

    def check(self, problem: Problem) -> None:
        """Raise ValueError when the problem does not support this formulation."""
        if not self.supports(problem):
            raise ValueError(
                f"formulation {self.name!r} needs an energy functional and problem {problem.name!r} has none; "
                f"allowed formulations for it: {supported_formulations(problem)}"
            )

    def density(self, problem: Problem, x: torch.Tensor, u: Jet, f: torch.Tensor) -> torch.Tensor:
        """Per-point integrand [K, N]."""
        raise NotImplementedError


class StrongForm(Formulation):
    def order(self, problem):
        return problem.residual_order

    def density(self, problem, x, u, f):
        r = problem.residual(x, u, f)
        return r * r


class DeepRitz(Formulation):
    def order(self, problem):
        return 1

    def supports(self, problem):
        return problem.has_energy

    def density(self, problem, x, u, f):
        return problem.energy_density(x, u, f)


_FORMULATIONS = {
    "strong": StrongForm("strong", "residual", "strong form: integral of the squared PDE residual"),
    "deep_ritz": DeepRitz("deep_ritz", "energy", "Deep Ritz: the energy functional, e = 1/2 |grad u|^2 - f u"),
}


def list_formulations() -> list[str]:
    return list(_FORMULATIONS)


def supported_formulations(problem: Problem) -> list[str]:
    return [name for name, f in _FORMULATIONS.items() if f.supports(problem)]


def get_formulation(name, problem: Problem | None = None) -> Formulation:
    if isinstance(name, Formulation):
        form = name
    else:
        if not isinstance(name, str) or name not in _FORMULATIONS:
            raise ValueError(f"formulation must be one of {list_formulations()}, got {name!r}")
        form = _FORMULATIONS[name]
    if problem is not None:
        form.check(problem)
    return form
