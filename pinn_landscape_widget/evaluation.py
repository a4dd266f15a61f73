"""Chunked evaluation of many parameter points: ``plw.evaluate`` and the engine under ``landscape``.

Chunks of K points are sized from a memory budget so a 201 x 201 grid never holds more than one chunk's
activations at a time.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator

import torch

from ._checks import check_int
from .nets import reused_buffers

DEFAULT_MEMORY_BUDGET = 256 * 2**20  # bytes of activations per chunk
# On a CPU the grid is bound by memory passes: chunks whose activations stay in cache are fastest
# (measured on the reference workload: 4 points per chunk beat 54 by 1.3x). GPUs want big chunks.
CPU_CACHE_BUDGET = 24 * 2**20


def chunk_size_for(objective, n_points: int, chunk_size: int | None = None,
                   memory_budget: int | None = None) -> int:
    """Points per chunk: ``chunk_size`` if given, else as many as fit the memory budget."""
    if chunk_size is not None:
        return check_int("chunk_size", chunk_size, 1)
    if memory_budget is not None:
        budget = check_int("memory_budget", memory_budget, 2**20)
    elif objective.device.type == "cuda":
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
    is ~100x slower: a well-trained network's grid took 1.5x longer than an untrained one's before this.
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


def compiled_evaluator(objective) -> Callable:
    """``objective.evaluate`` through torch.compile (one fused kernel per elementwise stretch), cached per
    objective. Shapes are static: callers pad the last chunk to the chunk size."""
    key = id(objective)
    if key not in _COMPILED:
        _COMPILED[key] = torch.compile(lambda p: objective.evaluate(p, functional=True), dynamic=False)
    return _COMPILED[key]


def evaluate_points(objective, make_params: Callable[[slice], torch.Tensor], n: int, chunk: int,
                    on_chunk: Callable[[int], None] | None = None, compile: bool = False) -> dict[str, torch.Tensor]:
    """Evaluate n parameter points, built chunk by chunk by ``make_params(slice) -> [k, P]``.

    Returns {"loss", "loss_<term>"..., "rel_l2_error"} as [n] tensors on the CPU. ``compile`` runs each
    chunk through torch.compile (falling back to the eager kernel, with a warning, if compilation fails).
    On a CPU the chunks are shared out to one thread per torch thread (see ``_chunk_parallel``).
    """
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

    if objective.device.type == "cpu" and not compile:
        _chunk_parallel(objective, make_params, list(iter_chunks(n, chunk)), store)
    else:
        _chunk_serial(objective, make_params, n, chunk, store, compile)
    return {k: v.cpu() for k, v in out.items()}


@torch.no_grad()
def _chunk_serial(objective, make_params, n, chunk, store, compile):
    evaluate = objective.evaluate
    if compile:
        fn = compiled_evaluator(objective)

        def evaluate(p):
            k = p.shape[0]
            if k < chunk:  # pad to the compiled shape, drop the padding after
                p = torch.cat([p, p[-1:].expand(chunk - k, -1)])
            return {key: v[:k] for key, v in fn(p).items()}
    with _grid_numerics(), reused_buffers():
        for sl in iter_chunks(n, chunk):
            try:
                res = evaluate(make_params(sl))
            except Exception as exc:  # a compiler failure must not cost the user the grid
                if not compile or evaluate is objective.evaluate:
                    raise
                import warnings

                warnings.warn(f"torch.compile failed ({type(exc).__name__}: {exc}); using the eager kernel",
                              RuntimeWarning, stacklevel=4)
                evaluate = objective.evaluate
                res = evaluate(make_params(sl))
            store(sl, res)


def _chunk_parallel(objective, make_params, chunks: list[slice], store) -> None:
    """Chunks shared out to T threads (T = torch's thread count), each running torch ops single-threaded
    (above 16: 16 threads with T // 16 torch threads each).

    Why not torch's own threads: a chunk is ~50 short ops, each an OpenMP parallel region, and libgomp's
    helper threads only stay awake between regions while it manages no more threads than there are cores.
    A second thread using torch (the widget's worker) gets a second team, libgomp stops spinning, and every
    region pays a futex wake-up (benchmarks/bench_threads.py: 1.4 s against 0.8 s). Whole chunks per thread
    need no wake-ups at all. torch's thread count is process-wide, so it stays lowered while any grid runs
    and the last one to finish restores it. Every chunk runs with the same thread count wherever it runs,
    so a point's value does not depend on which thread took its chunk (nor, up to 16, on how many there are).
    """
    if not chunks:
        return
    pending = iter(chunks)
    lock = threading.Lock()
    failures: list[BaseException] = []

    def take_chunks():
        while True:
            with lock:
                sl = None if failures else next(pending, None)
            if sl is None:
                return
            try:
                store(sl, objective.evaluate(make_params(sl)))
            except BaseException as exc:  # the first failure stops every thread and reaches the caller
                with lock:
                    failures.append(exc)
                return

    def work():
        torch.set_num_threads(per_worker)  # also MKL's per-thread setting, for this thread
        with torch.no_grad(), _subnormals_flushed(), reused_buffers():
            take_chunks()

    with _few_threads_per_op() as n_threads:
        # past ~16 Python threads the GIL (about 5% of a single-threaded chunk) becomes the limit
        n_workers = min(n_threads, MAX_CHUNK_WORKERS)
        per_worker = n_threads // n_workers
        torch.set_num_threads(per_worker)
        helpers = [threading.Thread(target=work, name=f"plw-chunks-{k}", daemon=True)
                   for k in range(min(n_workers, len(chunks)) - 1)]
        for t in helpers:
            t.start()
        work()  # the calling thread takes chunks too
        for t in helpers:
            t.join()
    if failures:
        raise failures[0]


MAX_CHUNK_WORKERS = 16
_OPS_LOCK = threading.Lock()
_OPS_USERS = [0, 1]  # grids running now, torch's thread count before the first of them


@contextlib.contextmanager
def _few_threads_per_op():
    """Yields torch's thread count as it was before any running grid; restores it after the last one."""
    with _OPS_LOCK:
        if _OPS_USERS[0] == 0:
            _OPS_USERS[1] = torch.get_num_threads()
        _OPS_USERS[0] += 1
        n_threads = _OPS_USERS[1]
    try:
        yield n_threads
    finally:
        with _OPS_LOCK:
            _OPS_USERS[0] -= 1
            if _OPS_USERS[0] == 0:
                torch.set_num_threads(_OPS_USERS[1])


def evaluate(run, params, formulation: str | None = None, *, device=None, dtype=None,
             chunk_size: int | None = None) -> dict[str, torch.Tensor]:
    """Loss, each loss term and the relative L2 error at parameter points params [K, P] (or [P]).

    Returns a dict of [K] tensors (CPU): "loss", "loss_<term>" for each term, "rel_l2_error".
    ``formulation`` evaluates another physics loss with the same network (e.g. the Deep Ritz energy of a
    strong-form run).
    """
    obj = run.objective(formulation, device, dtype)
    p = obj._check(torch.as_tensor(params))
    chunk = chunk_size_for(obj, p.shape[0], chunk_size)
    return evaluate_points(obj, lambda sl: p[sl], p.shape[0], chunk)
