"""A user's opaque Python loss evaluated on worker processes, one per torch thread, one torch thread each.

A loss written as a plain Python function of the model (``from_model`` without a batched form) runs one
parameter point at a time. What it spends in the interpreter holds the GIL, so on T Python threads the
workers take turns there: a 1-20-20-1 network at 64 points ran 1.07x the per-point loop on 2 threads, 1.71x
on 2 processes (benchmarks/results/generic_opaque_cpu.json, 41 x 41). On processes every core runs its own
interpreter.

The workers are forked from the calling process when a grid needs them, so they inherit the objective and
everything it refers to (functions and globals defined in ``__main__`` or a notebook cell, closures,
imported libraries such as deepxde) without pickling anything. Each grid forks its own workers and ends them
when it is done: a persistent pool would hold a snapshot of the parent taken at its start, and a loss that
reads a global the user has changed since (new collocation points, a new source term) would silently give
the old landscape. Forking two workers, their handshake and their end cost 20-40 ms on the reference
machine (``start_cost()`` keeps the latest measurement), against 0.3-1.2 s for the 21 x 21 and 41 x 41
grids above.

Fork safety:

* Workers are forked from the thread that evaluates the grid, after the engine's own worker threads have
  finished their chunks and no torch op runs in this process on our behalf.
* A child sets torch to one thread before any torch op. The parent's OpenMP team does not exist in the
  child (only the forking thread does); with one thread ``at::parallel_for`` and MKL never enter a parallel
  region, so the child never touches it. The child never uses the engine's thread pool either
  (``_threads.run_parts`` runs inline there).
* A child ignores SIGINT (Ctrl-C reaches the whole process group; the parent handles it and ends its
  workers) and leaves by ``os._exit`` (multiprocessing's), never running the parent's atexit handlers or
  flushing its buffers.
* Objectives on a GPU never come here. A torch build that sees CUDA devices starts autograd device threads
  at the parent's first backward pass, and autograd in a forked child then raises: each worker runs a tiny
  autograd probe before it reports ready, and a failed probe makes ``auto`` fall back to threads and
  ``processes`` raise ``ProcessesUnavailable``.

Results stream back chunk by chunk, so progress callbacks run as chunks finish; an exception from the
callback (the widget abandoning a grid), a failing loss or Ctrl-C ends the workers at once.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import time
import traceback
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import cast

import torch

from . import _threads
from .protocols import LossObjective

# a message carries consecutive chunks worth about this much work (measured as the workers report it), so the
# parent's per-message cost (building the points, two pipe transfers, the progress callback; ~0.1-0.2 ms)
# stays small even for a loss that takes well under a millisecond per point
TARGET_MESSAGE_S = 0.02
HANDSHAKE_TIMEOUT_S = 60.0  # a worker that is not ready by then is taken for one that hung after the fork
_START_COST = [0.03]  # seconds to fork, hand-shake and end one grid's workers; updated with each measurement
_IN_WORKER = [False]
_UNUSABLE: list[str] = []  # why forked workers cannot run torch here, once a probe has said so


class ProcessesUnavailable(RuntimeError):
    """Worker processes cannot be used here (no fork, a daemonic process, autograd broken by the fork)."""


class LossFailed(RuntimeError):
    """The user's loss raised in a worker process; the message names the loss, the points and the error."""


def start_cost() -> float:
    """Seconds one grid's workers cost to start and end (the latest measurement, initially a guess)."""
    return _START_COST[0]


def available() -> bool:
    """Whether this process can fork workers: Linux (macOS has fork, but system frameworks are not safe in a
    forked child of a process with threads), not a daemonic process or one of our workers, and no earlier
    worker found torch unusable after the fork."""
    return (
        sys.platform.startswith("linux")
        and not _IN_WORKER[0]
        and not _UNUSABLE
        and not multiprocessing.current_process().daemon
    )


def _probe() -> None:
    x = torch.ones(2, requires_grad=True)
    (g,) = torch.autograd.grad((x * x).sum(), x)
    if float(g.sum()) != 4.0:
        raise RuntimeError("autograd gave a wrong gradient in the worker")


def _serve(conn, objective: LossObjective) -> None:
    """A worker: set up, report ready, then evaluate the chunks of parameter points it receives."""
    torch.set_num_threads(1)  # first of all: never enter the parent's OpenMP team, which is not here
    _IN_WORKER[0] = True
    _threads._INSIDE.flag = True  # nested parallel sections run inline; the parent's thread pool is not here
    _threads._POOL = None
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_flush_denormal(True)
    try:
        _probe()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
        conn.send(("unusable", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the parent has gone
            return
        if msg is None:
            return
        idx, params = msg
        try:
            t = time.perf_counter()
            with torch.no_grad():
                res = objective.evaluate(torch.from_numpy(params))
            values = {k: v.detach().cpu().numpy() for k, v in res.items()}
            conn.send(("done", idx, values, time.perf_counter() - t))
        except BaseException as exc:  # noqa: BLE001 - the parent raises it, naming the loss
            try:
                original = pickle.dumps(exc)
                pickle.loads(original)
            except Exception:  # noqa: BLE001 - an exception that cannot travel goes as text only
                original = None
            conn.send(("failed", idx, (type(exc).__name__, str(exc), traceback.format_exc(), original)))


def _wait(conns: list[Connection], timeout: float | None = None) -> list[Connection]:
    """``multiprocessing.connection.wait`` on pipe ends (it returns the ones ready)."""
    return cast("list[Connection]", wait(conns, timeout))


def _loss_name(objective: LossObjective) -> str:
    return str(objective.formulation.name)


class _Workers:
    """One grid's worker processes; ``end()`` stops them (always call it)."""

    def __init__(self, objective, n_workers: int):
        if not available():
            raise ProcessesUnavailable(
                _UNUSABLE[0]
                if _UNUSABLE
                else "worker processes need Linux's fork and a process that may have children (not a daemonic "
                "multiprocessing worker, not one of these workers); use parallel='threads'"
            )
        t0 = time.perf_counter()
        ctx = multiprocessing.get_context("fork")
        self.procs: list = []
        self.conns: list[Connection] = []
        try:
            with warnings.catch_warnings():  # Python >= 3.12 warns on any fork of a process with threads
                warnings.simplefilter("ignore", DeprecationWarning)
                for _ in range(n_workers):
                    parent_end, child_end = ctx.Pipe(duplex=True)
                    p = ctx.Process(target=_serve, args=(child_end, objective), daemon=True, name="plw-loss")
                    p.start()
                    child_end.close()  # so a dead worker shows as EOF on parent_end
                    self.procs.append(p)
                    self.conns.append(parent_end)
            self._handshake()
        except BaseException:
            self.end()
            raise
        self.started_in = time.perf_counter() - t0

    def _handshake(self) -> None:
        waiting = set(range(len(self.conns)))
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT_S
        while waiting:
            ready = _wait([self.conns[i] for i in waiting], timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                raise ProcessesUnavailable(f"worker processes did not start within {HANDSHAKE_TIMEOUT_S:.0f} s")
            for conn in ready:
                i = self.conns.index(conn)
                try:
                    msg = conn.recv()
                except (EOFError, OSError) as exc:
                    raise ProcessesUnavailable(f"a worker process died at start ({self._exit(i)})") from exc
                if msg[0] != "ready":
                    _UNUSABLE.append(
                        f"torch cannot run in a forked worker process here ({msg[1]}); use parallel='threads'"
                    )
                    raise ProcessesUnavailable(_UNUSABLE[0])
                waiting.discard(i)

    def _exit(self, i: int) -> str:
        p = self.procs[i]
        p.join(timeout=1.0)
        return f"exit code {p.exitcode}"

    def end(self) -> None:
        """Stop every worker now (a grid abandoned mid-chunk does not wait for its chunks)."""
        for p in self.procs:
            if p.is_alive():
                p.terminate()
        for p in self.procs:
            p.join(timeout=5.0)
            if p.is_alive():
                p.kill()
                p.join()
        for c in self.conns:
            c.close()
        self.procs, self.conns = [], []


def evaluate_chunks(
    objective: LossObjective,
    make_params: Callable[[slice], torch.Tensor],
    chunks: Sequence[slice],
    store: Callable[[slice, dict[str, torch.Tensor]], None],
    n_workers: int,
) -> None:
    """Evaluate the chunks on ``n_workers`` forked processes, calling ``store(slice, values)`` in this thread
    as each chunk comes back. Raises ``ProcessesUnavailable`` (before any chunk is evaluated) when workers
    cannot run here, ``LossFailed`` when the loss raises in a worker, and whatever ``store`` raises."""
    chunks = list(chunks)
    if not chunks:
        return
    workers = _Workers(objective, max(1, min(n_workers, len(chunks))))
    start = workers.started_in
    try:
        pending = deque(chunks)
        left = [sum(sl.stop - sl.start for sl in chunks)]
        per_point = [0.0]  # seconds, as the workers measure it; 0 until the first result
        busy: dict = {}  # connection -> (index, slice) of the points it is evaluating

        def feed(conn) -> None:
            if not pending:
                return
            sl = pending.popleft()
            if per_point[0] > 0:  # consecutive chunks up to the target, leaving enough for every worker
                most = min(TARGET_MESSAGE_S / per_point[0], left[0] / (2 * len(workers.conns)))
                while pending and pending[0].start == sl.stop and pending[0].stop - sl.start <= most:
                    sl = slice(sl.start, pending.popleft().stop)
            left[0] -= sl.stop - sl.start
            conn.send((sl.start, make_params(sl).detach().cpu().contiguous().numpy()))
            busy[conn] = (sl.start, sl)

        for conn in workers.conns:
            feed(conn)
        while busy:
            for conn in _wait(list(busy)):
                i, sl = busy.pop(conn)
                try:
                    msg = conn.recv()
                except (EOFError, OSError) as exc:
                    k = workers.conns.index(conn)
                    raise LossFailed(
                        f"a worker process evaluating loss {_loss_name(objective)!r} died at parameter points "
                        f"{sl.start}..{sl.stop - 1} ({workers._exit(k)}); run with parallel='threads' to see the "
                        "error in this process"
                    ) from exc
                if msg[0] == "failed":
                    name, text, tb, original = msg[2]
                    cause = None
                    if original is not None:
                        with contextlib.suppress(Exception):
                            cause = pickle.loads(original)
                    raise LossFailed(
                        f"loss {_loss_name(objective)!r} raised {name}: {text} at one of the parameter points "
                        f"{sl.start}..{sl.stop - 1}, in a worker process. Its traceback there:\n{tb}"
                    ) from cause
                per_point[0] = msg[3] / (sl.stop - sl.start)
                store(sl, {k: torch.from_numpy(v) for k, v in msg[2].items()})
                feed(conn)
    finally:
        t_end = time.perf_counter()
        workers.end()
        start += time.perf_counter() - t_end
    # the next grids' decisions use what this one cost to start and end (never below 10 ms: a noisy low
    # reading must not send tiny grids to processes)
    _START_COST[0] = max(0.01, start)
