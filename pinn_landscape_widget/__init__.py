"""pinn-landscape-widget: train physics-informed neural networks and explore their loss landscapes.

    import pinn_landscape_widget as plw
    run = plw.train("poisson1d", "deep_ritz")
    ds = plw.landscape(run)            # xarray.Dataset over (alpha, beta)
"""

__version__ = "0.1.0"

from .directions import Directions, random_directions
from .evaluation import evaluate
from .formulations import list_formulations
from .landscape import landscape
from .nets import MLP
from .problems import Problem, get_problem, list_problems
from .training import TrainResult, train

__all__ = [
    "Directions", "MLP", "Problem", "TrainResult", "evaluate", "get_problem", "landscape",
    "list_formulations", "list_problems", "random_directions", "train", "__version__",
]
