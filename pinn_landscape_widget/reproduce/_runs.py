"""Runs the studies make: the papers' initialisations, and a TrainResult from an optimizer call of ours.

A run made here is an ordinary ``TrainResult`` (``train`` with zero steps from the final parameters, then
its trajectory and history filled in from the optimizer's record), so landscapes, Hessians and the widget
treat it like any other.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import torch
import xarray as xr

from ..engine.evaluation import evaluate
from ..models.training import train


def torch_default_init(sizes: list[int], seed: int) -> torch.Tensor:
    """The parameters ``torch.nn.Linear`` layers get by default (Kaiming-uniform weights, uniform biases,
    both U(-1/sqrt(fan_in), 1/sqrt(fan_in))) after ``torch.manual_seed(seed)``, built in order; flattened
    as ``nn.Sequential.parameters()``, which is our MLP's layout. Krishnapriyan et al. (2021) initialise
    this way. The global generator is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        layers = [torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    return torch.cat([p.detach().reshape(-1) for lay in layers for p in (lay.weight, lay.bias)]).to(torch.float64)


def run_from_record(problem, *, width: int, depth: int, dtype, theta0, record, optimizer: str, seed: int = 0):
    """A TrainResult whose parameters are ``record.theta`` and whose trajectory is theta0 followed by the
    record's checkpoints (``record.trajectory`` at ``record.steps``), with the loss terms and error at each."""
    base = train(
        problem,
        "strong",
        width=width,
        depth=depth,
        optimizer="lbfgs",
        steps=0,
        dtype=dtype,
        seed=seed,
        init_params=record.theta,
        progress=False,
    )
    points = [torch.as_tensor(theta0).to(base.params)] + [t.to(base.params) for t in record.trajectory]
    steps = [0] + [int(s) for s in record.steps]
    traj = torch.stack(points)
    values = evaluate(base, traj)
    history = xr.Dataset(
        {k: ("step", v.double().numpy()) for k, v in values.items()},
        coords={"step": np.asarray(steps)},
    )
    history.attrs.update(base.history.attrs)
    history.attrs.update(optimizer=optimizer, train_seconds=float(getattr(record, "seconds", 0.0)))
    return dataclasses.replace(
        base, params=traj[-1].clone(), trajectory=traj, trajectory_steps=steps, history=history, optimizer=optimizer
    )


@contextlib.contextmanager
def torch_threads(n: int):
    """torch's CPU thread count set to n inside the block, restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
