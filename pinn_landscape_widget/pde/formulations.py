"""Physics losses: how a problem's PDE becomes a scalar to minimise.

With interior quadrature (x_i, w_i):
    strong:     sum_i w_i sum_e r_e(x_i)^2     term "residual" (a system's equations add up; a residual
                                                returned as a dict gives one term per key)
    deep_ritz:  sum_i w_i e(u, grad u)(x_i)     term "energy"
Penalised boundary/initial conditions add lam * sum_j w_j misfit_j^2 (terms named by the problem); they
do not depend on the formulation and live in the objective.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch

from .derivatives import Jet, JetSpec
from .problems import Problem


@dataclass(frozen=True)
class Formulation:
    name: str
    description: str
    least_squares: ClassVar[bool] = False  # the interior terms are sums of squared residuals (``residuals``)

    def spec(self, problem: Problem) -> JetSpec:
        """The input derivatives the interior term reads on this problem."""
        raise NotImplementedError

    def terms(self, problem: Problem) -> tuple[str, ...]:
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

    def densities(self, problem: Problem, u: Jet, cols: Sequence[torch.Tensor], f) -> dict[str, torch.Tensor]:
        """Per-point integrand [K, N] of each interior term."""
        raise NotImplementedError

    def residuals(
        self, problem: Problem, u: Jet, cols: Sequence[torch.Tensor], f
    ) -> dict[str, list[torch.Tensor]] | None:
        """Least-squares forms: each interior term's residuals [K, N] (its density is the sum of their squares).
        None for a loss that is not a sum of squares (Deep Ritz's energy)."""
        return None


class StrongForm(Formulation):
    least_squares = True

    def spec(self, problem):
        return problem.residual_spec

    def terms(self, problem):
        return problem.residual_terms

    def residuals(self, problem, u, cols, f):
        out: dict[str, list[torch.Tensor]] = {}
        for term, r in problem.residual_values(u, cols, f):
            out.setdefault(term, []).append(r)
        return out

    def densities(self, problem, u, cols, f):
        out: dict[str, torch.Tensor] = {}
        for term, rs in self.residuals(problem, u, cols, f).items():
            for r in rs:
                sq = r * r
                out[term] = sq if term not in out else out[term] + sq
        return out


class DeepRitz(Formulation):
    def spec(self, problem):
        return problem.energy_spec

    def terms(self, problem):
        return ("energy",)

    def supports(self, problem):
        return problem.has_energy

    def densities(self, problem, u, cols, f):
        return {"energy": problem.energy_values(u, cols, f)[0]}


_FORMULATIONS = {
    "strong": StrongForm("strong", "strong form: integral of the squared PDE residual"),
    "deep_ritz": DeepRitz("deep_ritz", "Deep Ritz: the energy functional, e.g. 1/2 |grad u|^2 - f u"),
}


def list_formulations() -> list[str]:
    """The names of the physics losses a problem can be trained and looked at with.

    "strong" (the squared PDE residual, every problem) and "deep_ritz" (the energy functional, problems
    defined with an ``energy``; ``supported_formulations(problem)`` says which a problem has).

    Returns
    -------
    list of str
        The names ``train``, ``landscape`` and the other functions accept as ``formulation``.
    """
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
