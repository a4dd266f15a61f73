"""Optional dependencies: imported when a feature needs them, with an error that names the extra to install.

Every public function works after a plain ``pip install pinn-landscape-widget``; a package that only an
opt-in feature needs is never imported at module level, but through ``require`` where the feature starts.
tests/test_install_deps.py checks both: that every ``import`` of a third-party package in the package is a
required dependency, and that every ``require`` names an extra the wheel provides.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# feature extra -> what it installs (pyproject.toml's optional-dependencies)
EXTRAS = {
    "book": "nbformat, nbconvert and jupyter-book (notebook_to_html, nbconvert's plw_html, the Sphinx extension)",
    "distributed": "dask.distributed (landscapes tiled over a cluster)",
    "deepxde": "DeepXDE (plw.adapters.from_deepxde and DeepXDERecorder)",
    "pina": "PINA and Lightning (plw.adapters.from_pina and PinaRecorder)",
}


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise ImportError naming ``feature`` and the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        missing = getattr(exc, "name", None) in (top, module)
        why = "which is not installed" if missing else f"which failed to import ({exc})"
        raise ImportError(
            f"{feature} needs the '{top}' package, {why}: pip install \"pinn-landscape-widget[{extra}]\""
        ) from exc
