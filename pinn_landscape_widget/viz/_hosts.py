"""Which front end runs this kernel, where the widget must behave differently in one.

marimo shows an anywidget through ``mo.ui.anywidget`` and calls the widget's ``_repr_mimebundle_`` once, only
to let it sync its traits, then drops the bundle: it renders the live view itself. The fallback PNG that
Jupyter keeps for static viewers (and waits for the first grids to draw) is wasted there, and it would hold
the cell's output back until the full grids are computed, so the coarse preview would never be seen.
"""

from __future__ import annotations

import sys


def in_marimo() -> bool:
    """True in a marimo notebook or app kernel (``marimo edit``, ``marimo run``); False elsewhere, also where
    marimo is merely imported (a Jupyter kernel, a script)."""
    marimo = sys.modules.get("marimo")
    if marimo is None:  # not imported: then no marimo kernel runs this process
        return False
    try:
        return bool(marimo.running_in_notebook())
    except Exception:  # noqa: BLE001 - an older or partial marimo: behave as in Jupyter
        return False
