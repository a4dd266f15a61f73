"""What both adapters share: the recorder argument, names of terms, the box of the coordinates."""

from __future__ import annotations

import math
import re

import torch

from ..recorder import Recorder


def inner_recorder(recorder, callback: str, train_call: str) -> Recorder | None:
    """The ``Recorder`` behind ``recorder``: a library callback of this package (its ``.recorder``), or a
    ``Recorder`` itself; None for None."""
    if recorder is None or isinstance(recorder, Recorder):
        return recorder
    inner = getattr(recorder, "recorder", False)
    if inner is False or not (inner is None or isinstance(inner, Recorder)):
        raise ValueError(
            f"recorder must be a plw.adapters.{callback} (or a plw.Recorder of the same network), "
            f"got {type(recorder).__name__}"
        )
    if inner is None:
        raise ValueError(f"the {callback} has recorded nothing yet: pass it to {train_call} and train first")
    return inner


def identifier(name: str, taken: set[str]) -> str:
    """``name`` as a Python identifier (terms are named by identifiers), not in ``taken``."""
    key = re.sub(r"\W", "_", str(name)) or "term"
    if not key.isidentifier():
        key = f"c_{key}"
    base, i = key, 1
    while key in taken:
        key = f"{base}_{i}"
        i += 1
    taken.add(key)
    return key


def box(names, lo, hi) -> dict | None:
    """{name: (lo, hi)} when every bound is finite and lo < hi, else None (the box then comes from the points)."""
    if lo is None or hi is None or len(names) != len(lo) or len(lo) != len(hi):
        return None
    out = {}
    for n, a, b in zip(names, lo, hi):
        a, b = float(a), float(b)
        if not (math.isfinite(a) and math.isfinite(b) and a < b):
            return None
        out[n] = (a, b)
    return out


def module_dtype(module: torch.nn.Module) -> torch.dtype:
    return next((p.dtype for p in module.parameters() if p.dtype.is_floating_point), torch.get_default_dtype())
