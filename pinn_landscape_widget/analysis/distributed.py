"""Landscape grids split into tiles on dask.distributed.

A tile task carries a small picklable ``EvaluatorSpec`` (problem name and parameters, network shape,
formulation, dtype, centre and direction vectors) plus its slice of grid coefficients; a worker rebuilds
the objective once per spec (cached) and evaluates its tile with the same chunked engine as a local
``landscape()``. Values do not depend on the chunk a point falls in, so the assembled grid is identical to
the local one. Tasks are pure: a worker that dies mid-run costs a retry on another worker, never a wrong
or missing tile. Tiles are awaited in short polls, so a caller's progress hook can abandon the grid at
any moment; an abandoned or failed grid cancels its tiles that are still queued on the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._checks import check_int
from .._optional import require
from ..engine.protocols import LossObjective

POLL_S = 0.1  # how often the wait for tiles wakes up to ask the progress hook whether to go on


class ClusterLost(RuntimeError):
    """The dask client closed (or lost its scheduler) while a grid's tiles were in flight."""


@dataclass(frozen=True)
class EvaluatorSpec:
    """What a worker needs to evaluate tiles: the run's objective on the CPU (problem, network, loss; it
    travels with cloudpickle, so a user's functions go too), the slice's centre and directions."""

    objective: LossObjective
    center: np.ndarray
    directions: np.ndarray


def spec_for(run, formulation, dtype, center: torch.Tensor, directions: torch.Tensor) -> EvaluatorSpec:
    """The spec of a landscape's tiles; a clear error when its objective cannot be sent to the workers."""
    spec = EvaluatorSpec(
        run.objective(formulation, "cpu", dtype), center.detach().cpu().numpy(), directions.detach().cpu().numpy()
    )
    cloudpickle = require("cloudpickle", "distributed", "landscape(client=...)")
    try:
        cloudpickle.dumps(spec.objective)
    except Exception as exc:  # noqa: BLE001 - any failure to serialise is the user's to fix
        raise ValueError(
            f"this run cannot be sent to the dask workers ({type(exc).__name__}: {exc}); its problem, model and "
            "loss functions must be picklable by cloudpickle (plain functions and modules are; open files, "
            "locks and generators are not)"
        ) from exc
    return spec


def evaluate_tile(spec: EvaluatorSpec, coef: np.ndarray, chunk: int) -> dict[str, np.ndarray]:
    """Evaluate the grid points ``coef`` [n, n_dirs] of one tile on a worker."""
    from ..engine.evaluation import evaluate_points, points_on_slice

    obj = spec.objective
    theta0 = torch.as_tensor(spec.center, dtype=obj.dtype)
    D = torch.as_tensor(spec.directions, dtype=obj.dtype)
    c = torch.as_tensor(coef, dtype=obj.dtype)
    # the cluster already spreads tiles over processes: a tile's chunks stay on the worker's threads
    values = evaluate_points(obj, lambda sl: points_on_slice(theta0, c[sl], D), c.shape[0], chunk, parallel="threads")
    return {k: v.numpy() for k, v in values.items()}


def _identity(x):
    return x


def evaluate_tiles(
    client, spec: EvaluatorSpec, coef: torch.Tensor, chunk: int, tile_size: int | None, on_tile=None, on_values=None
) -> dict[str, torch.Tensor]:
    """Scatter the grid over the cluster in tiles and gather the values in grid order.

    ``on_values(sl, values)`` sees each tile's values (a slice of the grid's points and numpy arrays) as it
    lands, before ``on_tile(n)`` counts its ``n`` points; ``on_tile(0)`` is also called every ``POLL_S``
    seconds while no tile lands. Either may raise to abandon the grid: the tiles not yet computed are then
    cancelled on the cluster and the exception goes on. A client that closes meanwhile is ``ClusterLost``.
    """
    distributed = require("distributed", "distributed", "landscape(..., client=...)")

    n = coef.shape[0]
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    tile = tile_size if tile_size is not None else max(chunk, -(-n // (4 * n_workers)))
    tile = check_int("tile_size", tile, 1)
    coef_np = coef.detach().cpu().numpy()
    # a computed (not scattered) future: if the worker holding it dies, the scheduler recomputes it
    spec_future = client.submit(_identity, spec, pure=False)
    futures = {}
    for start in range(0, n, tile):
        sl = slice(start, min(n, start + tile))
        fut = client.submit(evaluate_tile, spec_future, coef_np[sl], chunk, pure=False, retries=3)
        futures[fut] = sl
    out: dict[str, torch.Tensor] = {}
    pending = list(futures)
    landed = 0
    try:
        while pending:
            try:
                done, not_done = distributed.wait(pending, timeout=POLL_S, return_when="FIRST_COMPLETED")
            except TimeoutError:
                _check_running(client, landed, n)
                if on_tile is not None:
                    on_tile(0)
                continue
            pending = list(not_done)
            for fut in done:
                sl = futures[fut]
                values = fut.result()
                for key, val in values.items():
                    if key not in out:
                        out[key] = torch.empty(n, dtype=torch.as_tensor(val).dtype)
                    out[key][sl] = torch.as_tensor(val)
                landed += sl.stop - sl.start
                if on_values is not None:
                    on_values(sl, values)
                if on_tile is not None:
                    on_tile(sl.stop - sl.start)
    except BaseException as exc:
        _cancel(client, [*futures, spec_future])
        if isinstance(exc, Exception) and not isinstance(exc, ClusterLost) and client.status != "running":
            raise ClusterLost(_lost(client, landed, n)) from exc
        raise
    finally:
        # a future keeps its key (and its values on a worker) on the cluster while a reference to it lives,
        # and references outlive this call in reference cycles (the traceback of each poll's TimeoutError
        # holds distributed.wait's frame and its list of futures) until the garbage collector runs: the
        # grid's futures are released here, explicitly
        for f in [*futures, spec_future]:
            f.release()
        futures.clear()
    return out


def _lost(client, landed: int, n: int) -> str:
    return (
        f"the dask client stopped (status {client.status!r}) while the grid was computed: {landed} of {n} grid "
        "points had arrived; pass a running distributed.Client, or client=None to compute here"
    )


def _check_running(client, landed: int, n: int) -> None:
    if client.status in ("closing", "closed"):
        raise ClusterLost(_lost(client, landed, n))


def _cancel(client, futures) -> None:
    """Cancel what is still queued (running tiles finish on their worker; their results are dropped)."""
    if client.status != "running":
        return  # a closed client has cancelled its futures itself
    try:
        client.cancel(futures)
    except Exception:  # noqa: BLE001 - the client went away meanwhile: nothing is left to cancel
        pass
