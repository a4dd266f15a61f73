"""Chunked evaluation of many parameter points: ``plw.evaluate`` and the engine under ``landscape``.

Chunks of K points are sized from a memory budget so a 201 x 201 grid never holds more than one chunk's
activations at a time.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import torch

from .._checks import check_int
from ._threads import few_threads_per_op, run_parts, workers_for
from .mlp import reused_buffers

DEFAULT_MEMORY_BUDGET = 256 * 2**20  # bytes of activations per chunk
# On a CPU the torch kernels are bound by memory passes: chunks whose activations stay in cache are fastest
# (measured on the reference workload: 4 points per chunk beat 54 by 1.3x); the fused C kernels keep their
# activations in a scratch of their own, and their chunks come out at ~60-90 points. GPUs want big chunks.
CPU_CACHE_BUDGET = 24 * 2**20


def chunk_size_for(objective, n_points: int, chunk_size: int | None = None, memory_budget: int | None = None) -> int:
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


def compiled_evaluator(objective) -> Callable:
    """``objective.evaluate`` through torch.compile (one fused kernel per elementwise stretch), cached per
    objective. Shapes are static: callers pad the last chunk to the chunk size."""
    key = id(objective)
    if key not in _COMPILED:

        def functional_evaluate(p: torch.Tensor) -> dict[str, torch.Tensor]:
            return objective.evaluate(p, functional=True)

        _COMPILED[key] = torch.compile(functional_evaluate, dynamic=False)
    return _COMPILED[key]


def evaluate_points(
    objective,
    make_params: Callable[[slice], torch.Tensor],
    n: int,
    chunk: int,
    on_chunk: Callable[[int], None] | None = None,
    compile: bool = False,
) -> dict[str, torch.Tensor]:
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

    net = getattr(objective, "net", None)
    threads_ok = getattr(objective, "thread_safe", True) and not getattr(net, "vmap_on_cpu", False)
    if objective.device.type == "cpu" and not compile and threads_ok:
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

                warnings.warn(
                    f"torch.compile failed ({type(exc).__name__}: {exc}); using the eager kernel",
                    RuntimeWarning,
                    stacklevel=4,
                )
                evaluate = objective.evaluate
                res = evaluate(make_params(sl))
            store(sl, res)


def _chunk_parallel(objective, make_params, chunks: list[slice], store) -> None:
    """Chunks shared out to T threads (T = torch's thread count), each running torch ops single-threaded
    (above 16: 16 threads with T // 16 torch threads each); see ``_threads`` for why.

    Every chunk runs with the same thread count wherever it runs, so a point's value does not depend on
    which thread took its chunk (nor, up to 16, on how many there are).
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
        with torch.no_grad(), _subnormals_flushed(), reused_buffers():
            take_chunks()

    with few_threads_per_op() as n_threads:
        n_workers, per_worker = workers_for(n_threads)
        run_parts([work] * min(n_workers, len(chunks)), per_worker)
    if failures:
        raise failures[0]


def evaluate(
    run, params, formulation: str | None = None, *, device=None, dtype=None, chunk_size: int | None = None
) -> dict[str, torch.Tensor]:
    """Loss, each loss term and the relative L2 error at parameter points params [K, P] (or [P]).

    Returns a dict of [K] tensors (CPU): "loss", "loss_<term>" for each term, "rel_l2_error".
    ``formulation`` evaluates another physics loss with the same network (e.g. the Deep Ritz energy of a
    strong-form run).
    """
    obj = run.objective(formulation, device, dtype)
    p = obj._check(torch.as_tensor(params))
    chunk = chunk_size_for(obj, p.shape[0], chunk_size)
    return evaluate_points(obj, lambda sl: p[sl], p.shape[0], chunk)
