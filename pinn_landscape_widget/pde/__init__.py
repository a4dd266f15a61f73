"""PDE problems, their conditions and the physics losses built on them (the lowest layer but one)."""

from .conditions import Condition, dirichlet, initial, initial_rate, neumann, periodic
from .derivatives import Field, Jet, JetSpec
from .formulations import get_formulation, list_formulations, supported_formulations
from .library import get_problem, list_problems
from .problems import Problem, ProblemSpec, define_problem

__all__ = [
    "Condition",
    "Field",
    "Jet",
    "JetSpec",
    "Problem",
    "ProblemSpec",
    "define_problem",
    "dirichlet",
    "get_formulation",
    "get_problem",
    "initial",
    "initial_rate",
    "list_formulations",
    "list_problems",
    "neumann",
    "periodic",
    "supported_formulations",
]
