"""What the views read from a run: any object with ``objective`` and ``params`` is a run (``engine.protocols``:
``is_run``, the ``Run`` protocol).

A run made by ``train``, ``from_model`` or an adapter looks the same from here. Only the public attributes
are read (``formulations``, ``formulation``, ``problem``, ``params``, ``trajectory``, ``trajectory_steps``,
``history``); a missing optional one (no trajectory, no history) gives None, never an error.
"""

from __future__ import annotations

import numpy as np
import torch

from ..engine.protocols import is_run


def labelled_runs(source) -> dict:
    """``run`` or ``{label: run}`` as a dict of labelled runs; anything else is a ValueError."""
    if is_run(source):
        label = str(getattr(source, "formulation", "") or "run")
        return {label: source}
    if isinstance(source, dict) and source and all(is_run(r) for r in source.values()):
        return {str(k): v for k, v in source.items()}
    raise ValueError(
        "LandscapeWidget needs a run (an object with `objective` and `params`, e.g. from plw.train or "
        f"plw.from_model), a dict of labelled runs or an xarray.Dataset, got {type(source).__name__}"
    )


def formulations_of(run) -> list[str]:
    """The losses the run can be evaluated under (its own first when it lists none)."""
    forms = list(getattr(run, "formulations", None) or [])
    own = getattr(run, "formulation", None)
    if not forms and own:
        forms = [own]
    return [str(f) for f in forms]


def trajectory_of(run) -> torch.Tensor | None:
    """The recorded parameters [T, P] (first = initialisation), or None when the run recorded none."""
    traj = getattr(run, "trajectory", None)
    if traj is None:
        return None
    traj = torch.as_tensor(traj)
    if traj.dim() != 2 or traj.shape[0] == 0:
        return None
    return traj.detach()


def checkpoint_count(run) -> int:
    traj = trajectory_of(run)
    return 0 if traj is None else int(traj.shape[0])


def trajectory_steps_of(run) -> list[int]:
    """The training step of each recorded checkpoint (0, 1, 2, ... when the run does not say)."""
    n = checkpoint_count(run)
    steps = getattr(run, "trajectory_steps", None)
    if steps is None or len(steps) != n:
        return list(range(n))
    return [int(s) for s in steps]


def loss_history_of(run, max_points: int = 400) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, loss) of the training history, thinned to at most ``max_points`` (the last one kept)."""
    hist = getattr(run, "history", None)
    if hist is None:  # a run made from a user's loop without a recorder has no history
        return None
    try:
        loss = np.asarray(hist["loss"].values, dtype=np.float64)
        steps = np.asarray(hist["step"].values, dtype=np.float64)
    except (TypeError, KeyError, AttributeError):
        return None
    if loss.size == 0 or loss.shape != steps.shape:
        return None
    if loss.size > max_points:
        keep = np.unique(np.linspace(0, loss.size - 1, max_points).round().astype(int))
        loss, steps = loss[keep], steps[keep]
    return steps, loss
