"""Optional dependencies: imported when a feature needs them, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

# feature extra -> what it installs (pyproject.toml's optional-dependencies)
EXTRAS = {
    "book": "nbformat, nbconvert and jupyter-book (notebook and book export)",
    "distributed": "dask.distributed (landscapes tiled over a cluster)",
    "deepxde": "DeepXDE (plw.adapters.from_deepxde)",
    "pina": "PINA (plw.adapters.from_pina)",
}


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise ImportError naming ``feature`` and the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{feature} needs the '{module.split('.')[0]}' package, which is not installed: "
            f'pip install "pinn-landscape-widget[{extra}]"'
        ) from exc
