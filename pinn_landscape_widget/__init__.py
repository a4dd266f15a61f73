"""pinn-landscape-widget: train physics-informed neural networks and explore their loss landscapes.

    import pinn_landscape_widget as plw
    run = plw.train("poisson1d", "deep_ritz")
    ds = plw.landscape(run)            # xarray.Dataset over (alpha, beta)
"""

__version__ = "0.1.0"

from .directions import Directions, hessian_directions, interpolation_direction, pca_directions, random_directions
from .evaluation import evaluate
from . import formulations
from .formulations import list_formulations
from .hessian import HessianOperator, directional_curvature, hessian_eigenpairs, hessian_spectrum
from .landscape import landscape
from .nets import MLP
from .problems import Problem, get_problem, list_problems
from .training import TrainResult, train


def __getattr__(name):
    # the widget imports anywidget; the engine does not need it, so load it on first use
    if name in ("LandscapeWidget", "explore"):
        from . import widget

        return getattr(widget, name)
    if name == "landscape_sweep":
        from .distributed import landscape_sweep

        return landscape_sweep
    if name == "to_pythreejs":
        from .pythreejs_interop import to_pythreejs

        return to_pythreejs
    if name == "to_html":
        from .export import to_html

        return to_html
    if name == "notebook_to_html":
        from .nbconvert_export import notebook_to_html  # needs nbconvert

        return notebook_to_html
    if name == "plot":
        from .plotting import plot

        return plot
    raise AttributeError(f"module 'pinn_landscape_widget' has no attribute {name!r}")

__all__ = [
    "Directions", "HessianOperator", "LandscapeWidget", "explore", "landscape_sweep", "notebook_to_html", "plot", "to_html", "to_pythreejs", "MLP", "Problem", "TrainResult", "directional_curvature", "evaluate",
    "get_problem", "hessian_directions", "hessian_eigenpairs", "hessian_spectrum", "interpolation_direction",
    "landscape", "list_formulations", "list_problems", "pca_directions", "random_directions", "train",
    "__version__",
]
