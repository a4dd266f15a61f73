"""The per-user cache directory: built native kernels and computed reference solutions live here."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/pinn-landscape-widget`` (default ``~/.cache/pinn-landscape-widget``), not created here."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pinn-landscape-widget"
