"""Chunked evaluation of many parameter points: ``plw.evaluate`` and the engine under ``landscape``.

Chunks of K points are sized from a memory budget so a 201 x 201 grid never holds more than one chunk's
activations at a time.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

import torch

from .._checks import check_choice, check_int
from . import _processes
from ._threads import few_threads_per_op, run_parts, workers_for
from .memory import grid_chunk_for_budget
from .mlp import reused_buffers
from .protocols import LossObjective, Run, as_run

DEFAULT_MEMORY_BUDGET = 256 * 2**20  # bytes of activations per chunk
# On a CPU the torch kernels are bound by memory passes: chunks whose activations stay in cache are fastest
# (measured on the reference workload: 4 points per chunk beat 54 by 1.3x); the fused C kernels keep their
# activations in a scratch of their own, and their chunks come out at ~60-90 points. GPUs want big chunks.
CPU_CACHE_BUDGET = 24 * 2**20

PARALLEL_MODES = ("auto", "threads", "processes")
# parallel="auto" moves a grid of an opaque loss to worker processes when what they would save on the rest of
# the grid is above this many times their start cost (``_processes.start_cost()``, 20-40 ms for 2 workers).
# What they save is estimated from the grid's first chunks on threads: their CPU time against their wall time
# (see ``_worth_processes``). Measured on 2 cores: bench_generic's reference loss (a 1-50-50-50-1 network at
# 1000 points) runs 97% of the time, in torch ops that release the GIL; threads take 0.77 s for 21 x 21 and
# processes cannot do better (0.78 s). A 1-20-20-1 network at 64 points runs 82% of the time and threads are
# no faster than one thread: 21 x 21 takes 0.31 s on threads, 0.24 s on processes; 41 x 41 1.18 s and 0.73 s.
PROCESS_GAIN_FACTOR = 2.0
# the decision waits for this much chunk time (summed over the threads): one short chunk, perhaps run before
# the other threads started, says little about how they share the GIL
SWITCH_AFTER_S = 0.05


def process_safe(objective: LossObjective) -> bool:
    """Whether the objective's chunks may be evaluated on forked worker processes.

    An objective declares it (``LossObjective.process_safe``): True for a user's opaque per-point loss, which
    holds the GIL; our batched objectives run in torch kernels that release it and gain nothing. Only CPU
    objectives: a forked child must not touch CUDA."""
    return objective.process_safe and objective.device.type == "cpu"


def chunk_size_for(
    objective: LossObjective, n_points: int, chunk_size: int | None = None, memory_budget: int | None = None
) -> int:
    """Points per chunk: ``chunk_size`` if given, else as many as fit the memory budget (a budget that
    cannot hold one point of the concurrent chunks is a ``MemoryBudgetError``, see ``engine.memory``)."""
    if chunk_size is not None:
        return check_int("chunk_size", chunk_size, 1)
    if memory_budget is not None:
        return grid_chunk_for_budget(objective, n_points, memory_budget)
    if objective.device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(objective.device)
        budget = max(DEFAULT_MEMORY_BUDGET, int(0.4 * free))
    else:
        budget = CPU_CACHE_BUDGET
    return max(1, min(n_points, budget // objective.bytes_per_point()))


def points_on_slice(theta0: torch.Tensor, coef: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
    """theta0 + sum_i coef[:, i] D[i] -> [k, P], element by element.

    Not ``coef @ D``: BLAS rounds that product differently for different k (FMA or not), which made a
    point's parameters, and so its loss, depend on the size of its chunk."""
    p = theta0 + coef[:, :1] * D[0]
    for i in range(1, D.shape[0]):
        p += coef[:, i : i + 1] * D[i]
    return p


def iter_chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


@contextlib.contextmanager
def _subnormals_flushed():
    """Subnormal floats flushed to zero, in this thread (the x86 flag belongs to the thread that sets it).

    Saturated tanh units make products like (1 - t^2)^2 * grad subnormal, and x86 arithmetic on subnormals
    is ~100x slower: unflushed, a well-trained network's grid takes 1.5x longer than an untrained one's.
    Values below 1e-38 cannot change a loss."""
    flushed = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if flushed:
            torch.set_flush_denormal(False)


@contextlib.contextmanager
def _grid_numerics():
    """While a grid is evaluated: TF32 matmuls off (landscapes must not change with the GPU), subnormals
    flushed on the CPU."""
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with _subnormals_flushed():
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved


_COMPILED: dict[int, Callable] = {}


def compiled_evaluator(objective: LossObjective) -> Callable:
    """``objective.evaluate`` through torch.compile (one fused kernel per elementwise stretch), cached per
    objective. Shapes are static: callers pad the last chunk to the chunk size."""
    key = id(objective)
    if key not in _COMPILED:

        def functional_evaluate(p: torch.Tensor) -> dict[str, torch.Tensor]:
            return objective.evaluate(p, functional=True)

        _COMPILED[key] = torch.compile(functional_evaluate, dynamic=False)
    return _COMPILED[key]


def evaluate_points(
    objective: LossObjective,
    make_params: Callable[[slice], torch.Tensor],
    n: int,
    chunk: int,
    on_chunk: Callable[[int], None] | None = None,
    compile: bool = False,
    parallel: str = "auto",
    info: dict | None = None,
) -> dict[str, torch.Tensor]:
    """Evaluate n parameter points, built chunk by chunk by ``make_params(slice) -> [k, P]``.

    Returns {"loss", "loss_<term>"..., "rel_l2_error"} as [n] tensors on the CPU. ``compile`` runs each
    chunk through torch.compile (falling back to the eager kernel, with a warning, if compilation fails).
    On a CPU the chunks are shared out to one thread per torch thread (see ``_chunk_parallel``); the chunks
    of a process-safe objective (a user's opaque Python loss, see ``process_safe``) may go to as many worker
    processes instead (``_processes``). ``parallel``: "auto" (processes when the first chunk's time says the
    grid is worth their start cost), "threads" or "processes" (an error for an objective that is not
    process-safe). ``info``, if given, receives "parallel": how the points were evaluated ("serial",
    "threads", "processes" or "threads+processes") and "workers".
    """
    parallel = check_choice("parallel", parallel, PARALLEL_MODES)
    out: dict[str, torch.Tensor] = {}
    lock = threading.Lock()

    def store(sl: slice, res: dict[str, torch.Tensor]) -> None:
        with lock:  # progress callbacks run one at a time, whichever thread finished the chunk
            for key, val in res.items():
                if key not in out:
                    out[key] = torch.empty(n, dtype=val.dtype, device=objective.device)
                out[key][sl] = val
            if on_chunk is not None:
                on_chunk(sl.stop - sl.start)

    # a user's module the engine evaluates with vmap on the CPU too takes one thread (see ModuleNetwork)
    threads_ok = objective.thread_safe and not getattr(objective.net, "vmap_on_cpu", False)
    procs_ok = process_safe(objective) and not compile
    if parallel == "processes" and not procs_ok:
        raise ValueError(
            "parallel='processes' is for a loss evaluated one parameter point at a time in Python on the CPU "
            "(from_model without a batched form, not compiled); this objective "
            f"({type(objective).__name__} on {objective.device.type}) runs its chunks in torch kernels: use "
            "parallel='auto' or 'threads'"
        )
    how, n_workers = "serial", 1
    chunks = list(iter_chunks(n, chunk))
    if objective.device.type == "cpu" and not compile and (threads_ok or parallel == "processes"):
        with few_threads_per_op() as n_threads:
            n_workers, _ = workers_for(n_threads)
            torch.set_num_threads(1)  # this thread only builds parameter points; no OpenMP team while forking
            if parallel == "processes":
                _processes.evaluate_chunks(objective, make_params, chunks, store, n_workers)
                how = "processes"
            else:
                how = "threads"
                switch = None
                if parallel == "auto" and procs_ok and n_workers > 1 and _processes.available():
                    switch = functools.partial(_worth_processes, n_workers)
                rest = _chunk_parallel(objective, make_params, chunks, store, switch)
                if rest:
                    try:
                        _processes.evaluate_chunks(objective, make_params, rest, store, n_workers)
                        how = "threads+processes" if len(rest) < len(chunks) else "processes"
                    except _processes.ProcessesUnavailable:  # before any chunk ran there: threads do the rest
                        _chunk_parallel(objective, make_params, rest, store)
    else:
        _chunk_serial(objective, make_params, n, chunk, store, compile)
    if info is not None:
        info.update(parallel=how, workers=1 if how == "serial" else min(n_workers, len(chunks)))
    return {k: v.cpu() for k, v in out.items()}


def _worth_processes(n_workers: int, points: int, wall: float, cpu: float, points_left: int) -> bool:
    """Whether worker processes would save enough on the points left, from chunks of ``points`` that took
    ``wall`` seconds on the threads, ``cpu`` of them running (the rest waiting for the GIL or a core).

    With r = cpu / wall and c = cpu / points: threads need about left * c / (r n) for the rest (their
    measured pace), processes about left * c r / n. The second is calibrated: contention for the GIL also
    inflates a thread's CPU time (c was 1.5x the serial time per point at r = 0.82); c r is a conservative
    middle, fitted to the two workloads above."""
    r = min(1.0, max(cpu / max(wall, 1e-9), 0.05))
    per_worker = points_left * cpu / max(points, 1) / n_workers
    return per_worker * (1.0 / r - r) > PROCESS_GAIN_FACTOR * _processes.start_cost()


@torch.no_grad()
def _chunk_serial(objective: LossObjective, make_params, n, chunk, store, compile):
    evaluate: Callable[[torch.Tensor], dict[str, torch.Tensor]] = objective.evaluate
    if compile:
        fn = compiled_evaluator(objective)

        def padded(p: torch.Tensor) -> dict[str, torch.Tensor]:
            k = p.shape[0]
            if k < chunk:  # pad to the compiled shape, drop the padding after
                p = torch.cat([p, p[-1:].expand(chunk - k, -1)])
            return {key: v[:k] for key, v in fn(p).items()}

        evaluate = padded

    with _grid_numerics(), reused_buffers():
        for sl in iter_chunks(n, chunk):
            try:
                res = evaluate(make_params(sl))
            except Exception as exc:  # a compiler failure must not cost the user the grid
                if not compile or evaluate is objective.evaluate:
                    raise
                import warnings

                warnings.warn(
                    f"torch.compile failed ({type(exc).__name__}: {exc}); using the eager kernel",
                    RuntimeWarning,
                    stacklevel=4,
                )
                evaluate = objective.evaluate
                res = evaluate(make_params(sl))
            store(sl, res)


def _chunk_parallel(objective: LossObjective, make_params, chunks: list[slice], store, switch=None) -> list[slice]:
    """Chunks shared out to T threads (T = torch's thread count), each running torch ops single-threaded
    (above 16: 16 threads with T // 16 torch threads each); see ``_threads`` for why.

    Every chunk runs with the same thread count wherever it runs, so a point's value does not depend on
    which thread took its chunk (nor, up to 16, on how many there are).

    ``switch(points, wall_seconds, cpu_seconds, points_left)``, if given, is asked once, when the chunks done
    so far, each thread's first left out, add up to ``SWITCH_AFTER_S`` of wall time (with their summed wall
    and thread CPU times); True
    stops the threads taking more chunks, and the chunks no thread took are returned (else the list is
    empty).
    """
    if not chunks:
        return []
    pending = deque(chunks)
    left = [sum(sl.stop - sl.start for sl in chunks)]
    asked = [switch is None]
    timed = [0, 0.0, 0.0]  # points, wall and CPU seconds of the chunks done so far (for ``switch``)
    warm: set[int] = set()  # threads past their first chunk
    rest: list[slice] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def take_chunks():
        while True:
            with lock:
                sl = None if failures or not pending else pending.popleft()
                if sl is not None:
                    left[0] -= sl.stop - sl.start
            if sl is None:
                return
            try:
                t, c = time.perf_counter(), time.thread_time()
                res = objective.evaluate(make_params(sl))
                wall, cpu = time.perf_counter() - t, time.thread_time() - c
                store(sl, res)
            except BaseException as exc:  # the first failure stops every thread and reaches the caller
                with lock:
                    failures.append(exc)
                return
            if not asked[0]:
                with lock:
                    if threading.get_ident() not in warm:  # a thread's first chunk copies the model, warms up
                        warm.add(threading.get_ident())
                        continue
                    timed[0] += sl.stop - sl.start
                    timed[1] += wall
                    timed[2] += cpu
                    if not asked[0] and timed[1] >= SWITCH_AFTER_S:
                        if switch(timed[0], timed[1], timed[2], left[0]):
                            rest.extend(pending)
                            pending.clear()
                        asked[0] = True

    def work():
        with torch.no_grad(), _subnormals_flushed(), reused_buffers():
            take_chunks()

    with few_threads_per_op() as n_threads:
        n_workers, per_worker = workers_for(n_threads)
        run_parts([work] * min(n_workers, len(chunks)), per_worker)
    if failures:
        raise failures[0]
    return sorted(rest, key=lambda sl: sl.start)


def evaluate(
    run: Run, params, formulation: str | None = None, *, device=None, dtype=None, chunk_size: int | None = None
) -> dict[str, torch.Tensor]:
    """Loss, each loss term and the relative L2 error at parameter points params [K, P] (or [P]).

    The points are evaluated in chunks sized from a memory budget, on the CPU shared out to threads (or, for
    a user's per-point Python loss, worker processes), as ``landscape`` evaluates its grid.

    Parameters
    ----------
    run : run
        A run: ``plw.train``, ``plw.from_model`` or ``plw.adapters``, or any object with ``params`` and
        ``objective()``.
    params : torch.Tensor or array-like
        Parameter points [K, P], or one point [P] (taken as K = 1); P is ``run.n_params``.
    formulation : str or None
        The loss to evaluate, one of ``run.formulations``; default None, the run's own. Another physics loss
        of the same network (e.g. the Deep Ritz energy of a strong-form run) is allowed.
    device : str, torch.device or None
        "cpu", "cuda", "cuda:N" or "auto"; default None, the run's device.
    dtype : torch.dtype, str or None
        torch.float32 or torch.float64 (or "float32" / "float64"); default None, the run's dtype.
    chunk_size : int or None
        Parameter points per chunk, an integer >= 1; default None, as many as fit the memory budget.

    Returns
    -------
    dict of str to torch.Tensor
        [K] tensors on the CPU: "loss", "loss_<term>" for each term (they add up to the loss) and
        "rel_l2_error" (NaN without an exact solution); "rel_l2_error_<unknown>" too for a system.

    Raises
    ------
    ValueError
        When ``run`` is not a run, ``params`` is not of shape [K, P] or [P], or ``formulation``, ``device``,
        ``dtype`` or ``chunk_size`` is not one of the values allowed.
    """
    obj = as_run(run).objective(formulation, device, dtype)
    p = obj.as_batch(params)
    chunk = chunk_size_for(obj, p.shape[0], chunk_size)
    return evaluate_points(obj, lambda sl: p[sl], p.shape[0], chunk)
