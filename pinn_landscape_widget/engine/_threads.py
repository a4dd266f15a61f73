"""Running independent torch work on several Python threads, each with single-threaded torch ops.

On a CPU our units of work (a grid chunk, a Hessian-vector product over part of the quadrature) are
chains of short ops. Run with torch's own threads, each op is an OpenMP parallel region, and libgomp's
helpers only stay awake between regions while it manages no more threads than there are cores: as soon as
a second thread has used torch (the widget's worker), every region pays a futex wake-up
(benchmarks/bench_threads.py: 1.4 s against 0.8 s for the reference grid). Whole units per thread need no
wake-ups. torch's thread count is process-wide, so it stays lowered while any such work runs and the last
one to finish restores it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar, TypeVar

import torch

T = TypeVar("T")

# past ~16 Python threads the GIL (about 5% of a single-threaded grid chunk) becomes the limit
MAX_WORKERS = 16
_OPS_LOCK = threading.Lock()
_OPS_USERS = [0, 1]  # parallel sections running now, torch's thread count before the first of them


@contextlib.contextmanager
def few_threads_per_op():
    """Yields torch's thread count as it was before any running parallel section; restores it after the
    last one."""
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


def workers_for(n_threads: int) -> tuple[int, int]:
    """(Python workers, torch threads per worker) for torch's thread count."""
    n_workers = max(1, min(n_threads, MAX_WORKERS))
    return n_workers, max(1, n_threads // n_workers)


_POOL: ThreadPoolExecutor | None = None
_INSIDE = threading.local()
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(MAX_WORKERS - 1, thread_name_prefix="plw-part")
        return _POOL


def run_parts(tasks: Sequence[Callable[[], T]], threads_per_task: int) -> list[T]:
    """Run each task on its own thread (the caller runs the last) with ``threads_per_task`` torch threads;
    results in order. The first failure is raised after every task has finished. Call inside
    ``few_threads_per_op``. Called from inside a task, the tasks run one after another on the caller (a
    nested wait for the shared pool could otherwise deadlock it)."""

    def call(task):
        if torch.get_num_threads() != threads_per_task:  # a change costs a thread-pool resize
            torch.set_num_threads(threads_per_task)  # also MKL's setting for this thread
        _INSIDE.flag = True
        try:
            return task()
        finally:
            _INSIDE.flag = False

    if getattr(_INSIDE, "flag", False):
        return [task() for task in tasks]

    futures = [_pool().submit(call, t) for t in tasks[:-1]]
    try:
        last = call(tasks[-1])
    finally:
        errors = [e for e in (f.exception() for f in futures) if e is not None]  # waits for every task
    if errors:
        raise errors[0]
    return [f.result() for f in futures] + [last]


class PerThreadState:
    """Mixin for an object that keeps per-thread state in ``threading.local()`` attributes (a copy of a model
    per thread, a hand-over between two calls of one thread): pickling it (dask workers, forked worker
    processes) leaves them out, and unpickling makes them anew, empty. ``_thread_locals`` names them."""

    _thread_locals: ClassVar[tuple[str, ...]] = ("_local",)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for name in self._thread_locals:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for name in self._thread_locals:
            setattr(self, name, threading.local())
