"""``RunBase``: what a trained run (``TrainResult``) and a run made from a user's model (``ModelRun``) share.

A run is a network, its trained parameters theta*, the trajectory that led there, the loss history and the
losses it can be evaluated under (``objective``, cached per formulation, device and dtype). The subclasses
say which losses (``formulations``, ``_new_objective``) and what module a parameter vector makes
(``_module_at``); everything else is here. It implements ``engine.protocols.Run``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import torch
import xarray as xr

from .._checks import resolve_device, resolve_dtype
from ..engine.protocols import LossObjective, Network

O = TypeVar("O", bound=LossObjective)  # noqa: E741 - the objective type of a kind of run


@dataclass
class RunBase(Generic[O]):
    """The fields and methods every run has (see the subclasses' docstrings for each field)."""

    problem: Any
    formulation: str
    net: Network
    params: torch.Tensor
    trajectory: torch.Tensor
    trajectory_steps: list[int]
    history: xr.Dataset
    seed: int
    optimizer: str
    device: torch.device
    dtype: torch.dtype
    diverged: bool = False
    message: str = ""
    _objectives: dict = field(default_factory=dict, repr=False)
    attrs: dict = field(default_factory=dict)  # how the run is evaluated, e.g. "evaluation": "traced"

    @property
    def n_params(self) -> int:
        """P, the length of the parameter vector."""
        return self.net.n_params

    @property
    def init_params(self) -> torch.Tensor:
        """The first recorded parameters (the initialisation)."""
        return self.trajectory[0]

    @property
    def formulations(self) -> list[str]:
        """The losses this run can be evaluated under (``formulation=`` of landscape, evaluate, ...)."""
        raise NotImplementedError

    def _loss_name(self, formulation: str | None) -> str:
        """The name of the loss ``formulation`` (None: the run's own) asks for; ValueError if it has none."""
        raise NotImplementedError

    def _new_objective(self, name: str, device: torch.device, dtype: torch.dtype) -> O:
        raise NotImplementedError

    def _module_at(self, params: torch.Tensor) -> torch.nn.Module:
        raise NotImplementedError

    def objective(self, formulation: str | None = None, device=None, dtype=None) -> O:
        """The run's loss as an objective (cached): terms, loss and error at batches of parameter points.

        Parameters
        ----------
        formulation : str or None
            One of ``formulations``; default None, the run's own (``formulation``).
        device : str, torch.device or None
            Where to evaluate: "cpu", "cuda", "cuda:N" or "auto"; default None, the run's device.
        dtype : torch.dtype, str or None
            torch.float32 or torch.float64 (or "float32" / "float64"); default None, the run's dtype.

        Returns
        -------
        LossObjective
            The objective (``engine.protocols.LossObjective``); the same object for the same arguments.

        Raises
        ------
        ValueError
            For a formulation the run does not have, a device that is not there or another dtype.
        """
        name = self._loss_name(formulation)
        dev = self.device if device is None else resolve_device(device)
        dt = self.dtype if dtype is None else resolve_dtype(dtype)
        key = (name, str(dev), dt)
        if key not in self._objectives:
            self._objectives[key] = self._new_objective(name, dev, dt)
        return self._objectives[key]

    def float64_blockers(self) -> list[str]:
        """Why this run's loss cannot be evaluated in float64 (empty when it can).

        Returns
        -------
        list of str
            One reason per obstacle; none for a problem's own loss (its points and data are made in whatever
            dtype is asked).
        """
        return []

    def model_at(self, params: torch.Tensor) -> torch.nn.Module:
        """A plain torch module x -> u(x) holding these parameters.

        Parameters
        ----------
        params : torch.Tensor
            A parameter vector [P] (e.g. ``run.params`` or a row of ``run.trajectory``).

        Returns
        -------
        torch.nn.Module
            For a trained run the network with the problem's hard ansatz (if any) applied to its output; for a
            ``from_model`` run a copy of the model. It maps points [N, d] to [N] (one unknown) or [N, m].

        Raises
        ------
        ValueError
            When ``params`` is not of shape [P].
        """
        params = torch.as_tensor(params)
        if params.shape != (self.n_params,):
            raise ValueError(f"params must have shape [{self.n_params}], got {tuple(params.shape)}")
        return self._module_at(params)
