"""How many threads the engine uses, and running independent torch work on several Python threads, each
with single-threaded torch ops.

The count. ``set_threads(n)`` fixes it. By default ("auto") it depends on how the work is split:
- work split inside each op (a training run's torch ops, each an OpenMP region) takes as many threads as
  there are idle cores (``_load``), never more than torch's own setting, looked at again every
  ``RECHECK_S``: a thread the scheduler takes off its core holds the op's other threads at its barrier,
  spinning on cores that other work needs, so on a shared machine fewer threads finish sooner;
- whole units of work per thread (a landscape's chunks, ``run_parts``) take torch's setting: no thread
  waits for another until the end, and each gets the scheduler's fair share of a core.

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
import numbers
import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar, TypeVar

import torch

from . import _load

T = TypeVar("T")

RECHECK_S = 2.0  # how often a training run looks at the load again (a look costs ~10 ms of waiting)
_SETTING: list[int | None] = [None]  # None: auto


def _parse_setting(name: str, value) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            pass
    limit = _load.cores()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= int(value) <= limit:
        raise ValueError(
            f"{name} must be 'auto' (or None) or a whole number of threads in [1, {limit}] (the cores this "
            f"process may use), got {value!r}"
        )
    return int(value)


def set_threads(threads="auto") -> int | str:
    """Set how many CPU threads the package's computations use; returns the previous setting.

    Parameters
    ----------
    threads : int or "auto"
        A whole number in [1, the cores this process may use]: every landscape grid, Hessian tool and
        training run uses that many. "auto" (the default, also None): training takes as many threads as
        there are idle cores, at most torch's own setting (``torch.set_num_threads``), and looks again
        every few seconds; landscape grids and the Hessian tools, whose threads each take whole chunks
        of work, take torch's setting. On a quiet machine that is torch's setting everywhere; beside
        other busy work training takes fewer, so a shared machine (a classroom hub, a laptop doing other
        things) slows it down by about its fair share instead of several times more. The environment
        variable ``PLW_THREADS`` sets the same at import.

    Returns
    -------
    int or str
        The setting before the call ("auto" or a number).

    Raises
    ------
    ValueError
        If ``threads`` is neither "auto"/None nor a whole number in the range.
    """
    before = _SETTING[0]
    _SETTING[0] = _parse_setting("threads", threads)
    return "auto" if before is None else before


def get_threads() -> int | str:
    """The package's thread setting: "auto" or a number (see ``set_threads``)."""
    return "auto" if _SETTING[0] is None else _SETTING[0]


def threads_for_work(cap: int) -> int:
    """Threads for whole units of work per thread: the fixed setting, or on "auto" ``cap`` (torch's
    thread count as the caller found it)."""
    return int(cap) if _SETTING[0] is None else _SETTING[0]


def threads_for_load(cap: int) -> int:
    """Threads for work split inside each op: the fixed setting, or on "auto" the idle cores now (at least
    1, at most ``cap``, torch's thread count as the caller found it)."""
    if _SETTING[0] is not None:
        return _SETTING[0]
    return max(1, min(int(cap), _load.idle_cores()))


class LoadAwareThreads:
    """torch's thread count for a long loop of ops on the calling thread (training): set from the load at
    entry, looked at again by ``tick()`` every ``RECHECK_S``, restored at exit. Does nothing for work on
    a GPU."""

    def __init__(self, device: torch.device | str = "cpu"):
        self.active = torch.device(device).type == "cpu"
        self.threads = torch.get_num_threads()

    def start(self) -> LoadAwareThreads:
        self._before = torch.get_num_threads()
        if self.active:
            self._apply()
        return self

    __enter__ = start

    def tick(self) -> None:
        if self.active and time.monotonic() - self._checked >= RECHECK_S:
            self._apply()

    def _apply(self) -> None:
        self.threads = threads_for_load(self._before)
        if self.threads != torch.get_num_threads():
            torch.set_num_threads(self.threads)
        self._checked = time.monotonic()

    def restore(self) -> None:
        if torch.get_num_threads() != self._before:
            torch.set_num_threads(self._before)

    def __exit__(self, *exc) -> None:
        self.restore()


if os.environ.get("PLW_THREADS"):
    try:
        _SETTING[0] = _parse_setting("PLW_THREADS", os.environ["PLW_THREADS"])
    except ValueError as exc:  # a bad environment must not stop the import: say so and stay on auto
        warnings.warn(f"{exc}; using 'auto'", RuntimeWarning, stacklevel=2)

# past ~16 Python threads the GIL (about 5% of a single-threaded grid chunk) becomes the limit
MAX_WORKERS = 16
_OPS_LOCK = threading.Lock()
_OPS_USERS = [0, 1]  # parallel sections running now, torch's thread count before the first of them


@contextlib.contextmanager
def few_threads_per_op():
    """Yields the threads this parallel section may use (``threads_for_work`` of torch's thread count as it
    was before any running parallel section); restores torch's count after the last one."""
    with _OPS_LOCK:
        if _OPS_USERS[0] == 0:
            _OPS_USERS[1] = torch.get_num_threads()
        _OPS_USERS[0] += 1
        cap = _OPS_USERS[1]
    try:
        yield threads_for_work(cap)
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
