"""``pinn_landscape_widget.adapters``: DeepXDE and PINA models as runs (see ``models/adapters``).

Importing this module imports neither library; each is used only when its adapter is called (the recorder
classes are built on first access, from the library then imported).
"""

from .models import adapters as _adapters
from .models.adapters import __all__, from_deepxde, from_pina  # noqa: F401


def __getattr__(name):
    return getattr(_adapters, name)
