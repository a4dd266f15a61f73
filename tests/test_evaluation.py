"""The chunk-parallel CPU engine: same numbers whatever the threads, failures reach the caller, and torch's
process-wide thread count comes back as it was."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.engine.evaluation import evaluate_points

from .conftest import small_run


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _grid(run, **kw):
    dirs = plw.random_directions(run, 2, seed=1)
    return plw.landscape(run, dirs, resolution=9, progress=False, chunk_size=4, **kw)


def test_values_do_not_depend_on_thread_count_or_calling_thread(two_threads):
    run = small_run("poisson1d", {}, "strong")
    parallel = _grid(run)
    with ThreadPoolExecutor(1) as ex:  # as the widget computes: off the main thread
        from_worker = ex.submit(_grid, run).result()
    torch.set_num_threads(1)
    serial = _grid(run)
    for name in ("loss", "loss_residual", "rel_l2_error"):
        assert (parallel[name].values == serial[name].values).all(), name
        assert (from_worker[name].values == serial[name].values).all(), name


def test_thread_count_is_restored_and_is_one_while_a_grid_runs(two_threads):
    run = small_run("poisson1d", {}, "strong")
    seen = []
    obj = run.objective(None, "cpu", torch.float32)
    P = run.params[None].repeat(12, 1)
    evaluate_points(obj, lambda sl: P[sl], 12, 2, on_chunk=lambda n: seen.append(torch.get_num_threads()))
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == 2


def test_a_failing_chunk_stops_the_grid_and_reaches_the_caller(two_threads):
    run = small_run("poisson1d", {}, "strong")
    obj = run.objective(None, "cpu", torch.float32)
    P = run.params[None].repeat(40, 1)
    calls = []
    lock = threading.Lock()

    def make_params(sl):
        with lock:
            calls.append(sl.start)
        if sl.start == 8:
            raise RuntimeError("chunk at 8 failed")
        return P[sl]

    with pytest.raises(RuntimeError, match="chunk at 8 failed"):
        evaluate_points(obj, make_params, 40, 2)
    assert len(calls) < 20  # the other thread stopped instead of finishing the grid
    assert torch.get_num_threads() == 2
    # and the engine works afterwards
    ok = evaluate_points(obj, lambda sl: P[sl], 40, 2)
    assert torch.isfinite(ok["loss"]).all()


def test_many_torch_threads_are_capped_at_sixteen_workers():
    """With 32 torch threads: 16 Python workers with 2 torch threads each; same numbers, count restored."""
    before = torch.get_num_threads()
    run = small_run("poisson1d", {}, "strong")
    obj = run.objective(None, "cpu", torch.float32)
    P = run.params[None] + 0.01 * torch.randn(64, run.n_params, generator=torch.Generator().manual_seed(0))
    names = set()
    seen = []

    def record(n):
        names.add(threading.current_thread().name)
        seen.append(torch.get_num_threads())

    try:
        torch.set_num_threads(1)
        ref = evaluate_points(obj, lambda sl: P[sl], 64, 1)
        torch.set_num_threads(32)
        got = evaluate_points(obj, lambda sl: P[sl], 64, 1, on_chunk=record)
        assert torch.get_num_threads() == 32
    finally:
        torch.set_num_threads(before)
    assert 1 < len(names) <= 16 and set(seen) == {2}
    torch.testing.assert_close(got["loss"], ref["loss"], rtol=1e-6, atol=0)
