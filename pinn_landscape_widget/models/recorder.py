"""``Recorder``: the trajectory and loss history of a training loop the user writes.

    rec = plw.Recorder(model, every=10)
    for step in range(n):
        opt.zero_grad(); loss = my_loss(model); loss.backward(); opt.step()
        rec.step(loss=loss)                       # terms too: rec.step(loss=loss, residual=r, boundary=b)
    run = plw.from_model(model, my_loss, recorder=rec)

The loss passed to ``step`` belongs to the parameters *before* that optimizer step (as it is computed in such
a loop); the snapshot ``step`` takes is of the parameters *after* it. Snapshots are kept every ``every``
steps (plus the initial parameters); memory stays bounded: past ``max_snapshots`` every other snapshot is
dropped and the interval doubles (the trajectory stays evenly spaced), or, with ``spill_to``, every snapshot
goes to a file instead of memory.

A library's training loop that counts its own steps (DeepXDE, PINA: see ``plw.adapters``) feeds a Recorder
through ``record(step, ...)`` instead of ``step``.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from .._checks import check_int, renamed_arguments
from ..engine.module_network import float_parameters


def _scalar(name: str, value) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"Recorder.step: {name} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        return float(value.detach())
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"Recorder.step: {name} must be a number or a scalar tensor, got {type(value).__name__}")


class Recorder:
    """Records a model's parameters every ``every`` steps of a training loop, and each step's losses.

    Pass it to ``plw.from_model(model, loss, recorder=rec)`` for the trajectory (PCA directions, the
    trajectory overlay) and the loss history. The initial parameters are recorded when it is made.

    Parameters
    ----------
    model : torch.nn.Module
        The module being trained.
    every : int
        Snapshot interval in optimizer steps, an integer >= 1; default 10.
    max_snapshots : int
        Bound on the snapshots kept in memory, an integer >= 3; beyond it every other one is dropped and the
        interval doubles (the trajectory stays evenly spaced). Default 500.
    spill_to : str, os.PathLike or None
        A file to write every snapshot to instead of memory (float64, one row per snapshot; made anew, its
        folder too); default None.
    trainable : sequence of str, callable or None
        Which parameters to record: names, or a function ``(name, parameter) -> bool``; default None, every
        float parameter. Give ``from_model`` the same selection. Renamed from ``params``.
    start : int
        Optimizer steps the model has taken already (the first snapshot's step), an integer >= 0; default 0.

    Raises
    ------
    ValueError
        When ``model`` is not a module, it has no float parameters (or ``trainable`` selects none), or an
        argument is outside what is allowed.

    Warns
    -----
    FutureWarning
        When called with ``params=`` (now ``trainable=``).
    """

    @renamed_arguments(params="trainable")
    def __init__(
        self,
        model: torch.nn.Module,
        every: int = 10,
        *,
        max_snapshots: int = 500,
        spill_to=None,
        trainable=None,
        start: int = 0,
    ):
        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"Recorder needs the torch.nn.Module being trained, got {type(model).__name__}")
        self.model = model
        self.every = check_int("every", every, 1)
        self.max_snapshots = check_int("max_snapshots", max_snapshots, 3)
        self.selected = trainable
        self._pairs = float_parameters(model, trainable)
        if not self._pairs:
            raise ValueError("Recorder: the model has no float parameters to record (or trainable selects none)")
        self.n_params = sum(p.numel() for _, p in self._pairs)
        self.steps_done = check_int("start", start, 0)
        self._rows: dict[int, dict] = {}  # step -> its losses; steps without any are NaN rows in history()
        self._n_rows = self.steps_done
        self._snapshots: list[torch.Tensor] = []
        self.snapshot_steps: list[int] = []
        self.spill_to = None if spill_to is None else Path(spill_to)
        if self.spill_to is not None:
            self.spill_to.parent.mkdir(parents=True, exist_ok=True)
            with open(self.spill_to, "wb"):
                pass  # a fresh file
        self._snapshot()

    def _flat(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1).to("cpu", torch.float64) for _, p in self._pairs])

    def _snapshot(self) -> None:
        theta = self._flat()
        if self.spill_to is not None:
            with open(self.spill_to, "ab") as fh:
                fh.write(theta.numpy().tobytes())
        else:
            self._snapshots.append(theta)
        self.snapshot_steps.append(self.steps_done)
        if self.spill_to is None and len(self._snapshots) > self.max_snapshots:
            # keep the first and every other one after it: still evenly spaced, at twice the interval
            self._snapshots = self._snapshots[::2]
            self.snapshot_steps = self.snapshot_steps[::2]
            self.every *= 2

    def _check_model(self, where: str) -> None:
        current = [p for _, p in float_parameters(self.model, self.selected)]
        if len(current) != len(self._pairs) or any(a is not b for a, (_, b) in zip(current, self._pairs)):
            raise ValueError(
                f"Recorder.{where}: the model's parameters are not the ones this Recorder was made for "
                "(a different model, or parameters replaced); make a Recorder for this model"
            )

    @staticmethod
    def _row(loss, terms) -> dict:
        row = {}
        if loss is not None:
            row["loss"] = _scalar("loss", loss)
        for name, value in terms.items():
            row[f"loss_{name}"] = _scalar(name, value)
        return row

    def step(self, loss=None, **terms) -> None:
        """Call once per optimizer step, after ``optimizer.step()``: records the losses of the parameters
        before the step (``loss`` and any named terms) and, every ``every`` steps, the parameters now.

        Parameters
        ----------
        loss : float, torch.Tensor or None
            The loss the step computed (a number or a scalar tensor); default None (not recorded).
        **terms : float or torch.Tensor
            Named loss terms, e.g. ``residual=r, boundary=b``; each becomes ``loss_<name>`` in ``history()``.

        Raises
        ------
        ValueError
            When a value is not a number or a scalar tensor, or the model's parameters were replaced.
        """
        self._check_model("step")
        self._rows[self.steps_done] = self._row(loss, terms)
        self.steps_done += 1
        self._n_rows = self.steps_done
        if self.steps_done % self.every == 0:
            self._snapshot()

    def record(self, step: int, /, loss=None, **terms) -> None:
        """For a training loop that counts its own steps (a library's callback), in place of ``step``.

        When ``step`` passes a multiple of ``every`` the parameters now are recorded as those of ``step``.
        Calling again with the same step adds to that row; steps with no losses recorded are NaN in
        ``history()``.

        Parameters
        ----------
        step : int
            The optimizer steps taken so far, an integer >= 0 that never decreases (positional only).
        loss : float, torch.Tensor or None
            The loss of the parameters after ``step`` steps; default None (not recorded).
        **terms : float or torch.Tensor
            Named loss terms of those parameters; each becomes ``loss_<name>`` in ``history()``.

        Raises
        ------
        ValueError
            When ``step`` decreases or is not an integer >= 0, a value is not a number or a scalar tensor,
            or the model's parameters were replaced.
        """
        self._check_model("record")
        step = check_int("step", step, 0)
        if step < self.steps_done:
            raise ValueError(f"Recorder.record: step must not decrease, got {step} after {self.steps_done}")
        row = self._row(loss, terms)
        self._n_rows = max(self._n_rows, step)
        if row:
            self._rows.setdefault(step, {}).update(row)
            self._n_rows = max(self._n_rows, step + 1)
        passed = step // self.every > self.steps_done // self.every
        self.steps_done = step
        if passed:
            self._snapshot()

    @property
    def trajectory(self) -> torch.Tensor:
        """The recorded parameters [T, P] (float64), first the initial ones."""
        if self.spill_to is not None:
            data = np.fromfile(self.spill_to, dtype=np.float64)
            return torch.from_numpy(data.reshape(-1, self.n_params).copy())
        return torch.stack(self._snapshots)

    def finish(self) -> tuple[torch.Tensor, list[int]]:
        """The recorded trajectory, ending at the parameters the model holds now.

        Returns
        -------
        tuple of (torch.Tensor, list of int)
            The parameters [T, P] (float64) and the step of each row.
        """
        traj = self.trajectory
        steps = list(self.snapshot_steps)
        now = self._flat()
        if steps[-1] != self.steps_done or not torch.equal(traj[-1], now):
            traj = torch.cat([traj, now[None]])
            steps.append(self.steps_done)
        return traj, steps

    def history(self) -> xr.Dataset:
        """The recorded losses.

        Returns
        -------
        xarray.Dataset
            One row per step over dim "step": ``loss`` and ``loss_<term>`` as passed to ``step`` or ``record``
            (NaN where none was).
        """
        names = sorted({k for r in self._rows.values() for k in r}, key=lambda k: (k != "loss", k))
        data = {}
        for n in names:
            values = np.full(self._n_rows, math.nan)
            for s, r in self._rows.items():
                if n in r:
                    values[s] = r[n]
            data[n] = ("step", values)
        return xr.Dataset(data, coords={"step": np.arange(self._n_rows)})

    def __repr__(self) -> str:
        where = f", spilling to {os.fspath(self.spill_to)}" if self.spill_to is not None else ""
        return f"Recorder(steps={self.steps_done}, snapshots={len(self.snapshot_steps)}, every={self.every}{where})"
