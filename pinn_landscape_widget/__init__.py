"""pinn-landscape-widget: train physics-informed neural networks and explore their loss landscapes.

    import pinn_landscape_widget as plw
    run = plw.train("poisson1d", "deep_ritz")
    ds = plw.landscape(run)            # xarray.Dataset over (alpha, beta)
    plw.LandscapeWidget(run)           # the interactive view in a notebook

The public API is this flat namespace. The subpackages are the layers underneath, lowest first:
``pde`` (problems, formulations), ``engine`` (the batched loss evaluator), ``models`` (training),
``analysis`` (directions, landscapes, curvature, metrics), ``viz`` (widget, plots, export) and
``reproduce`` (published studies rerun: ``plw.reproduce("krishnapriyan2021")``).
"""

from ._version import __version__
from .analysis.connectivity import connect, curve_directions
from .analysis.curvature import HessianOperator, directional_curvature, hessian_eigenpairs, hessian_spectrum
from .analysis.diagnostics import diagnose
from .analysis.directions import (
    Directions,
    hessian_directions,
    interpolation_direction,
    pca_directions,
    random_directions,
)
from .analysis.landscape import landscape
from .analysis.metrics import compare_landscapes, curvature_map, roughness_index
from .analysis.sweep import landscape_sweep
from .engine._threads import get_threads, set_threads
from .engine.evaluation import evaluate
from .engine.memory import MemoryBudgetError
from .engine.mlp import MLP
from .models.custom import from_model, squares
from .models.recorder import Recorder
from .models.solution import solution_snapshot
from .models.training import TrainResult, train
from .pde import formulations  # noqa: F401 - plw.formulations.supported_formulations
from .pde.conditions import dirichlet, initial, initial_rate, neumann, periodic
from .pde.formulations import list_formulations
from .pde.library import get_problem, list_problems
from .pde.problems import Problem, define_problem
from .reproduce import reproduce  # the function; the studies live in pinn_landscape_widget.reproduce

# the viz layer imports anywidget and matplotlib; the engine does not need them, so load it on first use
_LAZY = {
    "LandscapeWidget": ".viz.widget",
    "explore": ".viz.explore",
    "to_html": ".viz.widget",
    "plot": ".viz.plotting",
    "to_pythreejs": ".viz.pythreejs_interop",
}


def __getattr__(name):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    if name == "adapters":  # plw.adapters.from_deepxde / from_pina; imports neither library until called
        return importlib.import_module(".adapters", __name__)
    if name == "notebook_to_html":
        from ._optional import require

        require("nbconvert", "book", "notebook_to_html")
        require("nbformat", "book", "notebook_to_html")
        from .viz.nbconvert import notebook_to_html

        return notebook_to_html
    raise AttributeError(f"module 'pinn_landscape_widget' has no attribute {name!r}")


__all__ = [
    "MLP",
    "Directions",
    "HessianOperator",
    "MemoryBudgetError",
    "LandscapeWidget",
    "Problem",
    "Recorder",
    "TrainResult",
    "__version__",
    "adapters",
    "compare_landscapes",
    "connect",
    "curve_directions",
    "curvature_map",
    "define_problem",
    "diagnose",
    "dirichlet",
    "directional_curvature",
    "evaluate",
    "explore",
    "from_model",
    "get_problem",
    "get_threads",
    "hessian_directions",
    "hessian_eigenpairs",
    "hessian_spectrum",
    "initial",
    "initial_rate",
    "interpolation_direction",
    "landscape",
    "landscape_sweep",
    "list_formulations",
    "list_problems",
    "neumann",
    "notebook_to_html",
    "pca_directions",
    "periodic",
    "plot",
    "random_directions",
    "reproduce",
    "roughness_index",
    "set_threads",
    "solution_snapshot",
    "squares",
    "to_html",
    "to_pythreejs",
    "train",
]
