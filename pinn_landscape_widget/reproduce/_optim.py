"""The optimizer calls of the papers' code, on our objective.

``plw.train`` runs L-BFGS as one iteration per step for a fixed number of steps, with no stopping
tolerances, and keeps no optimizer state. The papers call ``torch.optim.LBFGS.step`` with their own caps and
tolerances: Krishnapriyan et al. (2021) once, with max_iter = 100 000 and tolerances 1e-7, so the run ends
when a tolerance test fires; Rathore et al. (2024) once per epoch with torch's defaults (max_iter = 20),
and they read the optimizer's curvature pairs afterwards. Both are reproduced here on the objective that
``train`` and every landscape use.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch


@dataclass
class LBFGSResult:
    """theta: final parameters; iterations and evaluations (loss and gradient) used; stop: why it ended
    ("tolerance_grad", "tolerance_change", "max_iter", "max_eval", "non-finite", "epochs"); losses and
    steps: the loss after each recorded block of iterations; trajectory: the parameters there; pairs: the
    last curvature pairs (s, y, rho) and gamma, for an L-BFGS-preconditioned Hessian; seconds: wall time."""

    theta: torch.Tensor
    iterations: int = 0
    evaluations: int = 0
    stop: str = ""
    losses: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    trajectory: list[torch.Tensor] = field(default_factory=list)
    pairs: dict | None = None
    seconds: float = 0.0


def _optimizer(theta, lr, history_size, tolerance_grad, tolerance_change):
    return torch.optim.LBFGS(
        [theta],
        lr=lr,
        max_iter=1,
        history_size=history_size,
        tolerance_grad=tolerance_grad,
        tolerance_change=tolerance_change,
        line_search_fn="strong_wolfe",
    )


def _closure(objective, theta, opt, evals):
    def closure():
        opt.zero_grad(set_to_none=True)
        loss = objective.loss(theta[None])[0]
        loss.backward()
        evals[0] += 1
        return loss

    return closure


def _finish(result: LBFGSResult, opt, theta, evals, t0) -> LBFGSResult:
    state = opt.state[theta]
    if state.get("old_dirs"):
        result.pairs = dict(
            s=[s.detach().clone() for s in state["old_stps"]],
            y=[y.detach().clone() for y in state["old_dirs"]],
            rho=[float(r) for r in state["ro"]],
            gamma=float(state["H_diag"]),
        )
    result.theta = theta.detach().clone()
    result.iterations = int(state.get("n_iter", 0))
    result.evaluations = evals[0]
    result.seconds = time.perf_counter() - t0
    return result


def _record(result, objective, theta, done, on_block) -> float:
    with torch.no_grad():
        loss = float(objective.loss(theta.detach()[None])[0])
    result.losses.append(loss)
    result.steps.append(done)
    result.trajectory.append(theta.detach().clone())
    if on_block is not None:
        on_block(done, loss)
    return loss


def lbfgs_call(
    objective,
    theta0: torch.Tensor,
    *,
    max_iter: int,
    max_eval: int | None = None,
    history_size: int = 50,
    tolerance_grad: float = 1e-7,
    tolerance_change: float = 1e-7,
    lr: float = 1.0,
    block: int = 250,
    on_block=None,
) -> LBFGSResult:
    """One ``torch.optim.LBFGS(lr, max_iter, max_eval, history_size, tolerance_grad, tolerance_change,
    line_search_fn="strong_wolfe").step`` from theta0, in the objective's dtype.

    The call is made in blocks of ``block`` iterations (torch's L-BFGS keeps its history, step and counts in
    the optimizer state, and each block gets the evaluation budget the single call would have left), with
    the tests the single call makes at a block's last iteration done here, so the iterates are the single
    call's. ``on_block(iterations, loss)`` reports progress. max_eval defaults to torch's max_iter * 5 // 4.
    """
    t0 = time.perf_counter()
    theta = theta0.detach().to(device=objective.device, dtype=objective.dtype).clone().requires_grad_(True)
    max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
    opt = _optimizer(theta, lr, history_size, tolerance_grad, tolerance_change)
    evals = [0]
    closure = _closure(objective, theta, opt, evals)
    result = LBFGSResult(theta0)
    group, state = opt.param_groups[0], opt.state[theta]
    while True:
        done = int(state.get("n_iter", 0))
        n = min(block, max_iter - done)
        group["max_iter"] = n
        # a block starts with one evaluation the single call would not make: give it back to the budget
        group["max_eval"] = max_eval - evals[0] + (1 if done else 0)
        opt.step(closure)
        if done:
            evals[0] -= 1
        ran = int(state["n_iter"]) - done
        loss = _record(result, objective, theta, done + ran, on_block)
        if not math.isfinite(loss) or not bool(torch.isfinite(theta).all()):
            result.stop = "non-finite"
            break
        if done + ran >= max_iter:
            result.stop = "max_iter"
            break
        if evals[0] >= max_eval:
            result.stop = "max_eval"
            break
        if ran < n:  # torch's own tests ended the block early
            g = theta.grad
            small = g is not None and float(g.abs().max()) <= tolerance_grad
            result.stop = "tolerance_grad" if small else "tolerance_change"
            break
        # the tests the single call makes after its block-ending iteration (its gradient test is the next
        # block's first: a block starting at a point with a small gradient returns at once)
        d, t = state["d"], state["t"]
        if float(d.mul(t).abs().max()) <= tolerance_change or abs(loss - float(state["prev_loss"])) < tolerance_change:
            result.stop = "tolerance_change"
            break
    return _finish(result, opt, theta, evals, t0)


def lbfgs_epochs(
    objective,
    theta0: torch.Tensor,
    *,
    epochs: int,
    max_iter: int = 20,
    history_size: int = 100,
    tolerance_grad: float = 1e-7,
    tolerance_change: float = 1e-9,
    lr: float = 1.0,
    record_every: int = 50,
    on_block=None,
) -> LBFGSResult:
    """``epochs`` calls of ``torch.optim.LBFGS(..., max_iter, history_size, line_search_fn="strong_wolfe")
    .step`` (torch's defaults: max_iter 20, max_eval 25, tolerances 1e-7 and 1e-9), one per epoch, as
    Rathore et al. (2024) train after their switch from Adam (history_size 100)."""
    t0 = time.perf_counter()
    theta = theta0.detach().to(device=objective.device, dtype=objective.dtype).clone().requires_grad_(True)
    opt = _optimizer(theta, lr, history_size, tolerance_grad, tolerance_change)
    opt.param_groups[0]["max_iter"] = max_iter
    opt.param_groups[0]["max_eval"] = max_iter * 5 // 4
    evals = [0]
    closure = _closure(objective, theta, opt, evals)
    result = LBFGSResult(theta0, stop="epochs")
    for epoch in range(1, epochs + 1):
        opt.step(closure)
        if epoch % record_every == 0 or epoch == epochs:
            loss = _record(result, objective, theta, epoch, on_block)
            if not math.isfinite(loss) or not bool(torch.isfinite(theta).all()):
                result.stop = "non-finite"
                break
    return _finish(result, opt, theta, evals, t0)
