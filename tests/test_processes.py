"""An opaque Python loss (``from_model``) evaluated on forked worker processes: the same grid as on threads,
progress and cancellation from the callback, a failing or NaN loss, closures and changed globals."""

import math
import multiprocessing

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.engine import _processes, evaluation
from pinn_landscape_widget.engine._processes import LossFailed

pytestmark = pytest.mark.skipif(not _processes.available(), reason="needs the 'fork' start method")

# a tutorial-style loss: collocation points made once with requires_grad, a global source term
X = torch.linspace(0.0, 1.0, 48).reshape(-1, 1).requires_grad_(True)
XB = torch.tensor([[0.0], [1.0]])
F = (math.pi**2) * torch.sin(math.pi * X.detach())


def tutorial_loss(model):
    u = model(X)
    ux = torch.autograd.grad(u.sum(), X, create_graph=True)[0]
    uxx = torch.autograd.grad(ux.sum(), X, create_graph=True)[0]
    return {"residual": ((uxx + F) ** 2).mean(), "boundary": (model(XB) ** 2).mean()}


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(1, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)
    )


def _run(loss=tutorial_loss):
    return plw.from_model(_model(), loss, points=X.detach(), exact=lambda p: torch.sin(math.pi * p[:, 0]))


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _grid(run, parallel, resolution=7, **kw):
    dirs = plw.random_directions(run, 2, seed=1)
    return plw.landscape(
        run, dirs, span=0.5, resolution=resolution, progress=False, chunk_size=4, parallel=parallel, **kw
    )


def _no_workers_left():
    return not [p for p in multiprocessing.active_children() if p.name == "plw-loss"]


def test_processes_give_the_grid_threads_give(two_threads):
    run = _run()
    procs = _grid(run, "processes")
    threads = _grid(run, "threads")
    assert procs.attrs["parallel"] == "processes" and threads.attrs["parallel"] == "threads"
    for name in ("loss", "loss_residual", "loss_boundary", "rel_l2_error"):
        a, b = procs[name].values, threads[name].values
        assert np.isfinite(a).all(), name
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7 * np.abs(b).max(), err_msg=name)
    # and the centre against a direct call of the loss on the model
    direct = tutorial_loss(_model())
    centre = float(procs.loss.values[3, 3])
    assert centre == pytest.approx(float((direct["residual"] + direct["boundary"]).detach()), rel=1e-5)
    assert _no_workers_left()


def test_auto_keeps_a_small_grid_on_threads_and_hands_a_big_one_to_processes_when_worth_it(two_threads, monkeypatch):
    run = _run()
    small = _grid(run, "auto", resolution=3)
    assert small.attrs["parallel"] == "threads"
    monkeypatch.setattr(evaluation, "SWITCH_AFTER_S", 0.0)  # decide after the first chunks, small as they are
    monkeypatch.setattr(evaluation, "_worth_processes", lambda *args: True)
    big = _grid(run, "auto")
    assert big.attrs["parallel"] == "threads+processes"
    monkeypatch.setattr(evaluation, "_worth_processes", lambda *args: False)
    assert _grid(run, "auto").attrs["parallel"] == "threads"
    np.testing.assert_allclose(big.loss.values, _grid(run, "threads").loss.values, rtol=1e-5)


def test_processes_are_worth_it_when_threads_wait_for_the_gil(monkeypatch):
    monkeypatch.setattr(_processes, "_START_COST", [0.03])
    # measured on 2 threads (each thread's first chunk left out). bench_generic's reference loss, 21 x 21:
    # 97% running, 405 points left -> threads (threads 0.77 s, processes 0.78 s)
    assert not evaluation._worth_processes(2, 18, 0.0619, 0.0603, 405)
    # a 1-20-20-1 network at 64 points: 82% running, yet threads are no faster than one thread (the GIL's
    # hand-offs cost CPU time too) -> processes at 21 x 21 (0.24 s, threads 0.31 s) and 41 x 41 (0.73 s, 1.18 s)
    assert evaluation._worth_processes(2, 42, 0.0529, 0.0437, 381)
    assert evaluation._worth_processes(2, 42, 0.0531, 0.0440, 1621)
    # the same loss at 11 x 11: not worth the fork
    assert not evaluation._worth_processes(2, 42, 0.0566, 0.0460, 61)


def test_progress_reaches_the_total_and_cancelling_from_the_callback_stops_the_workers(two_threads):
    run = _run()
    seen = []
    _grid(run, "processes", _on_progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (49, 49) and [d for d, _ in seen] == sorted(d for d, _ in seen)

    class Abandoned(Exception):
        pass

    def cancel(done, total):
        seen.append(done)
        if done >= 8:
            raise Abandoned

    seen.clear()
    with pytest.raises(Abandoned):
        _grid(run, "processes", _on_progress=cancel)
    assert seen[-1] < 49 and _no_workers_left()
    # the next grid forks its own workers and is complete
    again = _grid(run, "processes")
    np.testing.assert_allclose(again.loss.values, _grid(run, "threads").loss.values, rtol=1e-5)


def test_a_loss_that_raises_in_a_worker_names_the_loss_and_the_error(two_threads):
    limit = float(_model()[0].weight.detach().sum()) + 0.2

    def fragile(model):
        if float(model[0].weight.detach().sum()) > limit:
            raise ValueError("the network left its comfort zone")
        return tutorial_loss(model)

    run = plw.from_model(_model(), {"fragile": fragile})
    with pytest.raises(LossFailed, match=r"loss 'fragile' raised ValueError: the network left its comfort zone") as e:
        _grid(run, "processes")
    assert isinstance(e.value.__cause__, ValueError)
    assert "fragile" in str(e.value) and "Traceback" in str(e.value)
    assert _no_workers_left()


def test_a_worker_that_dies_is_reported_and_the_next_grid_runs(two_threads):
    import os

    limit = float(_model()[0].weight.detach().sum()) + 0.2

    def fatal(model):
        if float(model[0].weight.detach().sum()) > limit:
            os._exit(3)  # as a segfault in a C extension would end the worker
        return tutorial_loss(model)

    with pytest.raises(LossFailed, match=r"a worker process evaluating loss 'fatal' died .*exit code 3"):
        _grid(plw.from_model(_model(), {"fatal": fatal}), "processes")
    assert _no_workers_left()
    assert np.isfinite(_grid(_run(), "processes").loss.values).all()


def test_a_nan_loss_gives_nan_grid_entries(two_threads):
    limit = _model()[2].weight.detach().sum()

    def sometimes_nan(model):
        terms = tutorial_loss(model)
        bad = model[2].weight.detach().sum() > limit
        return {k: torch.where(bad, torch.full_like(v, math.nan), v) for k, v in terms.items()}

    run = plw.from_model(_model(), sometimes_nan)
    procs, threads = _grid(run, "processes"), _grid(run, "threads")
    nan = np.isnan(procs.loss.values)
    assert nan.any() and not nan.all()
    assert (nan == np.isnan(threads.loss.values)).all()
    np.testing.assert_allclose(procs.loss.values[~nan], threads.loss.values[~nan], rtol=1e-5)


def test_a_closure_and_the_globals_as_they_are_now(two_threads):
    scale = torch.tensor(3.0)

    def closure_loss(model):  # defined here, capturing a local: nothing to pickle with fork
        return scale * tutorial_loss(model)["residual"]

    run = plw.from_model(_model(), closure_loss)
    first = _grid(run, "processes")
    np.testing.assert_allclose(first.loss.values, _grid(run, "threads").loss.values, rtol=1e-5)
    scale.fill_(6.0)  # the workers are forked per grid: they see the change
    second = _grid(run, "processes")
    np.testing.assert_allclose(second.loss.values, 2 * first.loss.values, rtol=1e-5)


def test_parallel_is_checked():
    run = _run()
    with pytest.raises(ValueError, match=r"parallel must be one of \['auto', 'threads', 'processes'\], got 'many'"):
        _grid(run, "many")
    ours = plw.train("poisson1d", "strong", width=8, depth=1, steps=(2, 0), progress=False)
    with pytest.raises(ValueError, match="parallel='processes' is for a loss evaluated one parameter point"):
        _grid(ours, "processes")
    assert _grid(ours, "auto").attrs["parallel"] == "threads"


def test_when_torch_cannot_run_in_a_forked_worker_auto_uses_threads_and_processes_says_why(two_threads, monkeypatch):
    def broken():  # as autograd fails in a child forked from a CUDA process that has run a backward pass
        raise RuntimeError("Unable to handle autograd's threading in combination with fork-based multiprocessing")

    monkeypatch.setattr(_processes, "_probe", broken)  # the children inherit it with the fork
    monkeypatch.setattr(_processes, "_UNUSABLE", [])
    monkeypatch.setattr(evaluation, "SWITCH_AFTER_S", 0.0)
    monkeypatch.setattr(evaluation, "_worth_processes", lambda *args: True)
    run = _run()
    auto = _grid(run, "auto")
    assert auto.attrs["parallel"] == "threads" and np.isfinite(auto.loss.values).all()
    assert _no_workers_left() and not _processes.available()
    with pytest.raises(_processes.ProcessesUnavailable, match="fork-based multiprocessing.*parallel='threads'"):
        _grid(run, "processes")
    np.testing.assert_allclose(auto.loss.values, _grid(run, "threads").loss.values, rtol=1e-5)


def test_processes_from_a_worker_thread_as_the_widget_computes(two_threads):
    from concurrent.futures import ThreadPoolExecutor

    run = _run()
    with ThreadPoolExecutor(1) as ex:
        off_main = ex.submit(_grid, run, "processes").result()
    assert off_main.attrs["parallel"] == "processes" and _no_workers_left()
    np.testing.assert_allclose(off_main.loss.values, _grid(run, "threads").loss.values, rtol=1e-5)
