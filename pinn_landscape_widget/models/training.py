"""Training: ``train()`` fits a PINN and records its trajectory and history.

The loss is ``Objective.loss`` with K = 1, the same code the landscape grid evaluates.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from .._checks import (
    check_choice,
    check_int,
    check_positive,
    renamed_arguments,
    resolve_device,
    resolve_dtype,
    show_progress,
)
from ..engine._threads import LoadAwareThreads
from ..engine.fused_loss import FusedLoss, fused_reason
from ..engine.mlp import MLP
from ..engine.module_network import ModuleNetwork, as_network
from ..engine.objective import Objective
from ..engine.protocols import Run, as_run, is_run
from ..pde.formulations import get_formulation, supported_formulations
from ..pde.library import get_problem
from ..pde.problems import Problem
from ._adam import FlatAdam
from ._run import RunBase

OPTIMIZERS = ("adam", "lbfgs", "adam+lbfgs")
GRADIENTS = ("auto", "autograd")


class PINNModel(torch.nn.Module):
    """x [N, d] -> u(x): [N] for one unknown, [N, m] for several; the network with the problem's hard
    ansatz (lift + factor * network) applied where the problem has one."""

    def __init__(self, net: torch.nn.Module, problem: Problem):
        super().__init__()
        self.net = net
        self.problem = problem

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.problem.solution_from_network(x, self.net(x))


@dataclass
class TrainResult(RunBase[Objective]):
    """A trained PINN: its problem, network, parameters, recorded trajectory and history (what ``train``
    returns; ``from_model(model, problem)`` makes one too).

    Parameters
    ----------
    problem : Problem
        The problem the network solves (``plw.get_problem`` / ``plw.define_problem``).
    formulation : str
        The loss it was trained with, one of ``formulations`` ("strong", "deep_ritz", ...).
    net : MLP or network
        The network: ``plw.MLP``, or the engine's wrapper of a user's module (``train(model=...)``).
    params : torch.Tensor
        The trained parameters theta* [P].
    trajectory : torch.Tensor
        Recorded parameters [T, P]: the initial ones first, theta* last.
    trajectory_steps : list of int
        The optimizer step of each row of ``trajectory``.
    history : xarray.Dataset
        Over dim "step" (one row per state, after 0, 1, ... steps): ``loss``, ``loss_<term>`` and
        ``rel_l2_error`` (for a run of ``train``, at the recorded steps; NaN between); attrs say how the run
        was trained.
    seed : int
        The seed of the initialisation (-1 for a model trained elsewhere).
    optimizer : str
        "adam", "lbfgs", "adam+lbfgs", or "user" for a model trained elsewhere.
    device : torch.device
        Where the run's objectives evaluate by default.
    dtype : torch.dtype
        The parameters' dtype, torch.float32 or torch.float64.
    diverged : bool
        Whether training stopped at a non-finite loss or parameters; default False.
    message : str
        What happened when it diverged; default "".
    attrs : dict
        Notes on the run (e.g. "evaluation": how it is evaluated); default empty.
    """

    problem: Problem
    net: MLP | ModuleNetwork

    @property
    def formulations(self) -> list[str]:
        """The losses this run can be evaluated under (``formulation=`` of landscape, evaluate, ...)."""
        return supported_formulations(self.problem)

    def _loss_name(self, formulation: str | None) -> str:
        return get_formulation(formulation or self.formulation, self.problem).name

    def _new_objective(self, name: str, device: torch.device, dtype: torch.dtype) -> Objective:
        return Objective(self.problem, self.net, name, device, dtype)

    def _module_at(self, params: torch.Tensor) -> torch.nn.Module:
        return PINNModel(self.net.module(params), self.problem)

    def __repr__(self) -> str:
        last = self.history.isel(step=-1)
        return (
            f"TrainResult(problem={self.problem.name!r}, formulation={self.formulation!r}, "
            f"net={self.net.description}, n_params={self.n_params}, "
            f"steps={int(last.step)}, loss={float(last.loss):.4g}, rel_l2_error={float(last.rel_l2_error):.3g}"
            f"{', DIVERGED' if self.diverged else ''})"
        )


def _initial_params(init, net, dtype) -> torch.Tensor:
    """A warm start: a parameter vector, or a run whose final parameters to start from."""
    if is_run(init):
        run = as_run(init, "init_params")
        if run.n_params != net.n_params:
            raise ValueError(
                f"init_params: the run has {run.n_params} parameters and this network {net.n_params}; "
                "a warm start needs the same network"
            )
        init = run.params
    try:
        theta = torch.as_tensor(init).detach().to(device="cpu", dtype=dtype).clone()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"init_params must be a parameter vector or a run, got {type(init).__name__}") from exc
    if theta.shape != (net.n_params,):
        raise ValueError(f"init_params must have shape [{net.n_params}], got {tuple(theta.shape)}")
    if not torch.isfinite(theta).all():
        raise ValueError("init_params contains NaN or inf")
    return theta


def _split_steps(optimizer: str, steps) -> tuple[int, int]:
    if isinstance(steps, (tuple, list)):
        if optimizer != "adam+lbfgs" or len(steps) != 2:
            raise ValueError(
                f"steps may be a pair (adam_steps, lbfgs_steps) only for optimizer 'adam+lbfgs', got {steps!r}"
            )
        return check_int("steps[0]", steps[0], 0, 10**7), check_int("steps[1]", steps[1], 0, 10**7)
    n = check_int("steps", steps, 0, 10**7)
    if optimizer == "adam":
        return n, 0
    if optimizer == "lbfgs":
        return 0, n
    n_lbfgs = n // 4
    return n - n_lbfgs, n_lbfgs


@renamed_arguments(problem_params="coefficients")
def train(
    problem="poisson1d",
    formulation: str = "strong",
    *,
    width: int = 50,
    depth: int = 3,
    activation: str = "tanh",
    optimizer: str = "adam+lbfgs",
    steps=1000,
    lr: float = 1e-3,
    seed: int = 0,
    device=None,
    dtype=None,
    record_every: int | None = None,
    progress: bool | None = None,
    coefficients: dict | None = None,
    model: torch.nn.Module | None = None,
    init_params=None,
    gradient: str = "auto",
) -> TrainResult:
    """Train a PINN and return a TrainResult.

    The loss is the run's objective (``TrainResult.objective``) at one parameter point, the same code the
    landscape grid evaluates. With our MLP (or a network recognised as one) each step computes the loss and
    its gradient in one pass on the engine's jets, with no autograd graph of the network (in C for a tanh
    network in float32 on a CPU); any other network takes autograd's gradient. The history's attrs say
    which ran and why (``run.history.attrs["gradient"]``). The error against the exact solution is
    computed at the recorded steps (every ``record_every``, and the last), NaN in the history in between.
    A non-finite loss stops training with a warning; the run keeps everything up to the last finite step
    (``diverged``, ``message``).

    Parameters
    ----------
    problem : str or Problem
        A name from ``plw.list_problems()`` (its options in ``coefficients``) or a ``Problem``
        (``plw.define_problem``, ``plw.get_problem``); default "poisson1d".
    formulation : str
        The loss, one the problem supports (``plw.formulations.supported_formulations(problem)``): "strong"
        (squared residuals) or "deep_ritz" (the energy, for problems that have one); default "strong".
    width : int
        Units per hidden layer of the MLP, an integer in [1, 4096]; default 50. Not used with ``model``.
    depth : int
        Hidden layers of the MLP, an integer in [1, 64]; default 3. Not used with ``model``.
    activation : str
        The MLP's activation: "tanh", "sin", "gelu" or "silu"; default "tanh". Not used with ``model``.
    optimizer : str
        "adam", "lbfgs" (one step is one iteration with a strong-Wolfe line search) or "adam+lbfgs";
        default "adam+lbfgs".
    steps : int or tuple of int
        Optimizer steps, an integer >= 0; for "adam+lbfgs" an int is split 3:1, or pass
        (adam_steps, lbfgs_steps); default 1000.
    lr : float
        Adam's learning rate, a number > 0; default 1e-3.
    seed : int
        Seed of the MLP's initialisation (Glorot-normal weights, zero biases); default 0.
    device : str, torch.device or None
        "cpu", "cuda", "cuda:N" or "auto"; default None: CUDA when present, else the CPU ("auto" means the
        same).
    dtype : torch.dtype, str or None
        torch.float32 or torch.float64 (or "float32" / "float64"); default None, float32.
    record_every : int or None
        Record the parameters every this many steps (an integer >= 1); default None, about 100 checkpoints.
        The trajectory also holds the initial and the final parameters.
    progress : bool or None
        Draw a progress bar; default None: in a notebook or on a terminal, not in a script writing to a file.
    coefficients : dict or None
        Changes to the problem's coefficients, e.g. ``{"beta": 30.0}``; for a named built-in any of its
        options (``plw.get_problem(problem, **coefficients)``, e.g. ``{"n_points": 2500}``). Default None: the
        problem's own. ``problem_params=`` still works for this release, with a FutureWarning.
    model : torch.nn.Module or None
        Your own network instead of the MLP: any module mapping points [N, d] to [N] or [N, m] (a plain
        tanh/sin/GELU/SiLU ``nn.Sequential`` is recognised and runs on the fused engine; other modules go
        through ``torch.func``); it starts from its own parameters. Default None, the MLP.
    init_params : torch.Tensor, run or None
        A warm start: a parameter vector [P], or a run of the same network whose final parameters to
        continue from; default None, the seed's initialisation (or ``model``'s parameters).
    gradient : str
        "auto": the fused pass where the network allows, else autograd; "autograd": always autograd through
        the network (the reference, about half as fast). Default "auto".

    Returns
    -------
    TrainResult
        The run: parameters, trajectory, history (loss, each term and the relative L2 error per step).

    Raises
    ------
    ValueError
        When an argument is not one of the values allowed (the message names it), or ``init_params`` does not
        fit the network.

    Warns
    -----
    RuntimeWarning
        When training diverges (a non-finite loss or parameters).
    """
    prob = get_problem(problem, **(coefficients or {}))
    form = get_formulation(formulation, prob).name
    optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
    gradient = check_choice("gradient", gradient, GRADIENTS)
    n_adam, n_lbfgs = _split_steps(optimizer, steps)
    total = n_adam + n_lbfgs
    lr = check_positive("lr", lr)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if record_every is None:
        record_every = max(1, total // 100)
    record_every = check_int("record_every", record_every, 1)
    dev = resolve_device(device)  # None and "auto": CUDA when present, else the CPU
    dt = torch.float32 if dtype is None else resolve_dtype(dtype)
    if model is not None:
        net, theta0 = as_network(model, prob.dim, len(prob.unknowns), dtype=dt)
    else:
        net = MLP(prob.dim, width, depth, activation, out_dim=len(prob.unknowns))
        theta0 = net.init(seed, dtype=dt)
    if init_params is not None:
        theta0 = _initial_params(init_params, net, dt)
    obj = Objective(prob, net, form, dev, dt)

    theta = theta0.to(dev).clone().contiguous().requires_grad_(True)
    reason = fused_reason(obj) if gradient == "auto" else "gradient='autograd' was asked for"
    fused = FusedLoss(obj, theta) if reason is None else None
    how = f"fused ({fused.method})" if fused is not None else f"autograd: {reason}"
    traj, traj_steps = [theta.detach().clone()], [0]
    rows: list[dict] = []
    names = ["loss"] + [f"loss_{t}" for t in obj.term_names]
    diverged, message = False, ""
    last_good = theta.detach().clone()
    loss_val, err = float("nan"), float("nan")

    def closure_for(opt):
        def closure():
            opt.zero_grad(set_to_none=True)
            if fused is not None:
                terms, loss, theta.grad = fused()
            else:
                terms = obj.terms(theta[None])
                loss = sum(terms.values())[0]
                loss.backward()
            if closure.terms is None:  # the first call sees the parameters *before* this step
                closure.terms = {t: float(v.detach().reshape(-1)[0]) for t, v in terms.items()}
            return loss

        closure.terms = None
        return closure

    adam = FlatAdam(theta, lr) if n_adam else None
    lbfgs = (
        torch.optim.LBFGS(
            [theta],
            lr=1.0,
            max_iter=1,
            history_size=50,
            line_search_fn="strong_wolfe",
            tolerance_grad=0.0,
            tolerance_change=0.0,
        )
        if n_lbfgs
        else None
    )
    t0 = time.perf_counter()
    progress = show_progress(progress)
    bar = tqdm(total=total, desc=f"train {prob.name}/{form}", disable=not progress, leave=False)
    step = 0  # rows[k] describes the parameters after k steps; `step` is the newest such state
    threads = LoadAwareThreads(dev).start()  # as many torch threads as idle cores, looked at every few s
    try:
        for k in range(total):
            threads.tick()
            if fused is not None:
                fused.threads = threads.threads  # the C passes' OpenMP teams too
            opt = adam if k < n_adam else lbfgs
            state = theta.detach().clone()
            err = float("nan")
            if k % record_every == 0:  # the error at the recorded steps only: it costs another forward pass
                with torch.no_grad():
                    err = float(obj.rel_l2_error(state[None])[0])
            closure = closure_for(opt)
            if opt is adam:
                loss = closure()
                if math.isfinite(float(loss.detach())):
                    adam.step()
            else:
                loss = opt.step(closure)
            loss_val = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
            if not math.isfinite(loss_val):
                diverged = True
                step = max(k - 1, 0)  # the state after k steps gave it: the run ends at the one before
                message = (
                    f"training diverged at step {k}: loss is {loss_val}; stopped and kept the run up to "
                    f"step {k - 1} (lower lr={lr:g} or change the optimizer)"
                )
                break
            rows.append({"loss": loss_val, **{f"loss_{t}": v for t, v in closure.terms.items()}, "rel_l2_error": err})
            last_good, step = state, k
            if not torch.isfinite(theta).all():
                diverged = True
                message = (
                    f"training diverged at step {k + 1}: parameters became non-finite; stopped and kept "
                    f"the run up to step {k} (lower lr={lr:g} or change the optimizer)"
                )
                break
            step = k + 1
            if step % record_every == 0 and step < total:
                traj.append(theta.detach().clone())
                traj_steps.append(step)
            if progress and (k % 10 == 0 or k == total - 1):
                bar.set_postfix(loss=f"{loss_val:.3e}", err=f"{err:.2e}", refresh=False)
            bar.update(1)
    finally:
        bar.close()
        threads.restore()

    if diverged:
        final = last_good
        if not rows:  # the initial parameters already give a non-finite loss
            rows.append({"loss": loss_val, "rel_l2_error": err})
        keep = [i for i, s in enumerate(traj_steps) if s <= step]
        traj, traj_steps = [traj[i] for i in keep], [traj_steps[i] for i in keep]
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    else:
        final = theta.detach().clone()
        with torch.no_grad():
            ev = obj.evaluate(final[None])
        rows.append({k: float(v[0]) for k, v in ev.items()})
    if traj_steps[-1] != step:
        traj.append(final.clone())
        traj_steps.append(step)

    history = _history(rows, names)
    history.attrs.update(
        problem=prob.name,
        formulation=form,
        optimizer=optimizer,
        lr=lr,
        seed=int(seed),
        network=net.description,
        **({"width": net.width, "depth": net.depth, "activation": net.activation} if isinstance(net, MLP) else {}),
        train_seconds=time.perf_counter() - t0,
        gradient=how,
    )
    return TrainResult(
        prob,
        form,
        net,
        final,
        torch.stack(traj),
        traj_steps,
        history,
        int(seed),
        optimizer,
        dev,
        dt,
        diverged,
        message,
        {(form, str(dev), dt): obj},
    )


def _history(rows: list[dict], names: list[str]) -> xr.Dataset:
    """One row per state (after 0, 1, ... steps); a term missing from a row is NaN."""
    data = {
        name: ("step", np.array([r.get(name, np.nan) for r in rows], dtype=np.float64))
        for name in names + ["rel_l2_error"]
    }
    return xr.Dataset(data, coords={"step": np.arange(len(rows))})


if TYPE_CHECKING:  # mypy checks here that a TrainResult is a Run

    def _train_result_is_a_run(run: TrainResult) -> Run:
        return run
