"""Argument checks shared by the public functions.

Every error names the argument, the value it got and what is allowed, so a user in a notebook can fix the
call without reading our source.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Iterable

import torch


def check_choice(name: str, value, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer in [{lo}, {hi if hi is not None else 'inf'}], got {value!r}")
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name} must be an integer in [{lo}, {hi if hi is not None else 'inf'}], got {value!r}")
    return value


def check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_finite(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def resolve_device(device) -> torch.device:
    """ "auto" -> CUDA when present, else CPU. A device that is not there is a ValueError, not a crash later."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from exc
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was requested but no CUDA device is available; use 'cpu' or 'auto'")
        index = dev.index or 0
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s) are present"
            )
        return torch.device("cuda", index)
    raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def resolve_dtype(dtype) -> torch.dtype:
    allowed = {"float32": torch.float32, "float64": torch.float64}
    if isinstance(dtype, str) and dtype in allowed:
        return allowed[dtype]
    if dtype in (torch.float32, torch.float64):
        return dtype
    raise ValueError(f"dtype must be torch.float32 or torch.float64 (or 'float32'/'float64'), got {dtype!r}")


def show_progress(progress) -> bool:
    """Whether to draw a progress bar: ``progress`` if True or False; None (the default everywhere) draws one
    in a Jupyter kernel or on a terminal, and none in a script whose output goes to a file or a log."""
    if progress is None:
        if "ipykernel" in sys.modules:
            return True
        err = sys.stderr
        return bool(err is not None and hasattr(err, "isatty") and err.isatty())
    if not isinstance(progress, bool):
        raise ValueError(f"progress must be True, False or None (a bar in notebooks and terminals), got {progress!r}")
    return progress


def renamed_arguments(**old_to_new):
    """Decorator keeping old keyword names working for one release: ``@renamed_arguments(span="zoom")`` maps
    ``f(span=2)`` to ``f(zoom=2)`` with a FutureWarning that names the new spelling (FutureWarning, not
    DeprecationWarning, so notebook users see it). Passing both spellings is a TypeError. The signature the
    user reads (help(), docs/api.md) shows only the new names.

    Where the old argument's values differ from the new one's, give ``(new_name, convert)``:
    ``@renamed_arguments(log=("z_scale", lambda v: "log" if v else "linear"))``; ``convert`` may raise a
    ValueError naming the old argument. On ``__init__`` the warning names the class, not ``__init__``."""
    import functools
    import warnings

    def wrap(func):
        # a class's __init__ is called as the class: Recorder(params=...), not __init__(params=...)
        name = func.__qualname__.rsplit(".", 2)[-2] if func.__name__ == "__init__" else func.__name__

        @functools.wraps(func)
        def call(*args, **kwargs):
            for old, spec in old_to_new.items():
                new, convert = spec if isinstance(spec, tuple) else (spec, None)
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{name}() got both {old}= (the old name) and {new}=; pass only {new}=")
                    warnings.warn(
                        f"{name}({old}=...) is deprecated and will be removed in the next release; use {new}= instead",
                        FutureWarning,
                        stacklevel=2,
                    )
                    value = kwargs.pop(old)
                    kwargs[new] = convert(value) if convert is not None else value
            return func(*args, **kwargs)

        renames = {old: spec[0] if isinstance(spec, tuple) else spec for old, spec in old_to_new.items()}
        call.renamed_arguments = renames
        return call

    return wrap
