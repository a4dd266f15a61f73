"""Memory budgets: what a landscape grid or a Hessian operator will hold, predicted before it is allocated.

A budget (``memory_budget=``, bytes) is checked against the prediction up front, so an operation too big
for it stops with a ``MemoryBudgetError`` naming the setting to change instead of pushing the machine into
swap. Predictions cover the working memory an operation adds on top of what the run already holds (its
points, network and parameters); a few tens of MiB of fixed cost (torch's per-thread scratch, the result
arrays) come on top (measured in ``benchmarks/bench_scale.py``).
"""

from __future__ import annotations

import torch

from .._checks import check_int
from ._threads import threads_for_work, workers_for
from .protocols import LossObjective

MIN_BUDGET = 2**20
# A Hessian operator's state per network unit and jet channel at every point (R-operator or double
# backward: activations, their derivatives, the adjoints and the loss's graph), in elements; measured on a
# 2-100x5-1 tanh MLP at 16,896 points: 8.5 (float64, torch passes) and 8.7 (float32, C passes).
HESSIAN_ELEMENTS_PER_UNIT = 10
# ... plus a part that does not grow with the points (allocator arenas of the threads, the C passes' scratch):
# the growth was 447 MB at 4,352 points and 1,235 MB at 16,896 (float32), a line through ~175 MB at zero
HESSIAN_FIXED_BYTES = 192 * 2**20


class MemoryBudgetError(ValueError):
    """An operation needs more memory than its ``memory_budget`` allows (raised before anything is allocated)."""


def check_budget(budget) -> int:
    """``memory_budget`` as an int of bytes (>= 1 MiB), or a ValueError naming it."""
    return check_int("memory_budget", budget, MIN_BUDGET)


def concurrent_chunks(objective: LossObjective) -> int:
    """How many chunks of a grid are in memory at once: one per worker thread on a CPU, one on a GPU."""
    if objective.device.type != "cpu":
        return 1
    return workers_for(threads_for_work(torch.get_num_threads()))[0]


def grid_chunk_for_budget(objective: LossObjective, n_points: int, budget: int) -> int:
    """Parameter points per chunk so that every chunk in memory at once fits ``budget`` bytes together.

    Raises MemoryBudgetError when not even one point per chunk fits, with the bytes one point needs."""
    budget = check_budget(budget)
    per_point = int(objective.bytes_per_point())
    n_chunks = concurrent_chunks(objective)
    need = per_point * n_chunks
    if budget < need:
        raise MemoryBudgetError(
            f"memory_budget={budget} bytes is too small for one parameter point of this loss: a point needs "
            f"{per_point} bytes, on each of {n_chunks} worker thread(s) at once ({need} bytes). Raise "
            f"memory_budget to at least {need}, or make a point cheaper: subsample= (fewer loss points), "
            f"dtype=torch.float32, or fewer threads (plw.set_threads(1))"
        )
    return max(1, min(n_points, budget // need))


def hessian_state_bytes(objective: LossObjective) -> int | None:
    """Bytes a Hessian operator of this objective holds between products (activations, adjoints, the loss's
    graph), or None where it cannot be predicted (a user's loss, a network other than the package's MLP)."""
    from .mlp import MLP
    from .objective import Objective

    if not isinstance(objective, Objective) or not isinstance(objective.net, MLP):
        return None
    rows = objective.interior.x.shape[0] * objective.interior.spec.n_channels
    rows += sum(c.x.shape[0] * c.spec.n_channels for c in objective.conditions)
    units = objective.net.width * objective.net.depth * getattr(objective.net, "out_dim", 1)
    item = torch.finfo(objective.dtype).bits // 8
    return HESSIAN_ELEMENTS_PER_UNIT * rows * units * item + 8 * objective.n_params * item + HESSIAN_FIXED_BYTES


def check_hessian_budget(objective: LossObjective, budget) -> int:
    """The bytes left of ``budget`` once a Hessian operator of ``objective`` is built; MemoryBudgetError
    when the operator alone does not fit, ValueError when its memory cannot be predicted."""
    budget = check_budget(budget)
    need = hessian_state_bytes(objective)
    if need is None:
        raise ValueError(
            f"memory_budget={budget}: the memory of this loss's Hessian cannot be predicted ({type(objective).__name__}"
            f" on {type(objective.net).__name__}: a user's loss or network); use memory_budget=None"
        )
    if need > budget:
        n_rows = objective.interior.x.shape[0] + sum(c.x.shape[0] for c in objective.conditions)  # type: ignore[attr-defined]
        raise MemoryBudgetError(
            f"memory_budget={budget} bytes is too small for this Hessian: its operator holds about {need} bytes "
            f"({need // max(1, n_rows)} per loss point, {n_rows} points, "
            f"{str(objective.dtype).replace('torch.', '')}). Raise memory_budget to at least {need}, or pass "
            f"dtype=torch.float32 (half as much), or build the run with fewer points"
        )
    return budget - need


def lanczos_steps_for_budget(n_params: int, dtype: torch.dtype, budget_left: int, keep_products: bool) -> int:
    """Most Lanczos steps whose basis (and stored products) fit ``budget_left`` bytes, counting the copy
    made when the basis grows."""
    item = torch.finfo(dtype).bits // 8
    per_step = (2 if keep_products else 1) * n_params * item * 3 // 2
    return budget_left // max(1, per_step)
