"""The solution panel's numbers: u_theta beside the exact solution and the pointwise error, for a clicked
point of a landscape and for the recorded checkpoints of the training replay.

Every number comes from ``solution_snapshot`` (one grid per unknown over the problem's box); this module
only packs it for the front end: float32 bytes plus the grid's dims, coords and unknowns.
"""

from __future__ import annotations

import json
import math

import numpy as np
import xarray as xr

from ..models.solution import solution_snapshot
from ._runs import loss_history_of, trajectory_of, trajectory_steps_of
from ._slices import f32

REPLAY_MAX_FRAMES = 51  # checkpoints whose solutions a replay carries (evenly spaced, first and last kept)
REPLAY_MAX_BYTES = 300_000  # per run, in the widget's saved state (pages without a kernel)
REPLAY_RESOLUTION = {1: 201, 2: 40}  # points per axis of a replayed solution


def grid_info(ds: xr.Dataset) -> dict:
    """The snapshot's grid: dims (the problem's coordinate names), coords as [first, last, n], unknowns."""
    dims = list(ds[json.loads(ds.attrs["unknowns"])[0]].dims)
    return {
        "dims": dims,
        "coords": {d: [float(ds[d].values[0]), float(ds[d].values[-1]), int(ds[d].size)] for d in dims},
        "unknowns": json.loads(ds.attrs["unknowns"]),
    }


def _rows(ds: xr.Dataset, name: str) -> np.ndarray:
    """[3, *grid]: u_theta, the exact solution and the error (NaN where no exact solution is known)."""
    u = ds[name].values
    nan = np.full_like(u, np.nan)
    exact = ds[f"{name}_exact"].values if f"{name}_exact" in ds else nan
    error = ds[f"{name}_error"].values if f"{name}_error" in ds else nan
    return np.stack([u, exact, error])


def point_solution(run, params, *, title: str, panel: int, point) -> dict:
    """The solution at one parameter vector, for the solution panel: values [n_unknowns, 3, *grid]."""
    ds = solution_snapshot(run, params)
    info = grid_info(ds)
    values = np.stack([_rows(ds, name) for name in info["unknowns"]])
    has_exact = f"{info['unknowns'][0]}_exact" in ds
    err = float(ds.attrs["rel_l2_error"])
    return {
        **info,
        "kind": "point",
        "title": f"{title} (rel. L2 error {err:.3g})" if math.isfinite(err) else title,
        "panel": int(panel),
        "point": [float(p) for p in point],
        "has_exact": bool(has_exact),
        "rel_l2_error": err,
        "values": f32(values),
    }


def replay_frames(n_checkpoints: int, frame_bytes: int) -> list[int]:
    """Which checkpoints carry a solution: all when they fit REPLAY_MAX_FRAMES and REPLAY_MAX_BYTES, else
    evenly spaced ones, the first and the last always among them."""
    if n_checkpoints <= 0:
        return []
    fit = max(2, min(REPLAY_MAX_FRAMES, REPLAY_MAX_BYTES // max(1, frame_bytes)))
    if n_checkpoints <= fit:
        return list(range(n_checkpoints))
    return sorted({int(round(v)) for v in np.linspace(0, n_checkpoints - 1, fit)})


class ReplayBuilder:
    """Builds each run's replay (solutions at its checkpoints, its loss history), resumable: frames already
    computed are kept when a newer request interrupts the work."""

    def __init__(self, runs: dict):
        self.runs = runs
        self.frames: dict[tuple, xr.Dataset] = {}  # (label, checkpoint) -> snapshot
        self.done: dict[str, dict] = {}

    def forget(self, label: str) -> None:
        """Drop run ``label``'s replay and frames (it was replaced)."""
        self.done.pop(label, None)
        for key in [k for k in self.frames if k[0] == label]:
            del self.frames[key]

    def reason(self, label: str) -> str:
        """Why run ``label`` has no replay ("" when it has one)."""
        run = self.runs[label]
        traj = trajectory_of(run)
        n = 0 if traj is None else traj.shape[0]
        if n < 2:
            got = "no trajectory" if traj is None else f"{n} checkpoint"
            return f"no replay: run {label!r} recorded {got} (a replay needs at least 2 checkpoints)"
        return ""

    def build(self, label: str, should_stop=lambda: False) -> dict:
        """The replay payload of run ``label``; ``should_stop()`` is checked between checkpoints."""
        if label in self.done:
            return self.done[label]
        run = self.runs[label]
        out = {"steps": trajectory_steps_of(run), "reason": self.reason(label), "frames": []}
        hist = loss_history_of(run)
        if hist is not None:
            out["history_step"], out["history_loss"] = f32(hist[0]), f32(hist[1])
        if out["reason"]:
            self.done[label] = out
            return out
        traj = trajectory_of(run)
        assert traj is not None  # reason() above is non-empty for a run without a trajectory
        dim = int(getattr(run.problem, "dim", 0))
        if dim not in REPLAY_RESOLUTION:
            out["solution_reason"] = f"the solution panel draws problems in 1 or 2 coordinates; this one has {dim}"
            self.done[label] = out
            return out
        res = REPLAY_RESOLUTION[dim]
        n_unknowns = len(tuple(getattr(run.problem, "unknowns", ("u",))))
        frames = replay_frames(traj.shape[0], 4 * n_unknowns * res**dim)
        snaps = []
        for k in frames:
            if should_stop():
                return {}
            key = (label, k)
            if key not in self.frames:
                self.frames[key] = solution_snapshot(run, traj[k], resolution=res)
            snaps.append(self.frames[key])
        info = grid_info(snaps[0])
        names = info["unknowns"]
        u = np.stack([np.stack([s[n].values for n in names]) for s in snaps])
        exact = [snaps[0][f"{n}_exact"].values for n in names if f"{n}_exact" in snaps[0]]
        out.update(
            info,
            frames=frames,
            u=f32(u),
            exact=f32(np.stack(exact)) if len(exact) == len(names) else b"",
            rel_l2_error=f32([s.attrs["rel_l2_error"] for s in snaps]),
        )
        self.done[label] = out
        for k in frames:  # the packed payload holds them now
            self.frames.pop((label, k), None)
        return out
