"""Threads that yield: the engine's thread count follows the idle cores (engine/_load.py, engine/_threads.py).

The load is made for real: busy processes (a Python spin loop each), one per core, beside the test.
"""

import os
import subprocess
import sys
import time
import warnings

import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.engine import _load, _threads

LINUX = sys.platform.startswith("linux")


@pytest.fixture
def auto_threads():
    before = plw.set_threads("auto")
    yield
    plw.set_threads(before)


@pytest.fixture
def busy_cores():
    """One busy process per core this process may use (at most 8), running for the test."""
    n = min(_load.cores(), 8)
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    time.sleep(0.3)  # let them start spinning
    yield n
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def test_set_threads_round_trip_and_bad_values(auto_threads):
    assert plw.get_threads() == "auto"
    assert plw.set_threads(1) == "auto"
    assert plw.get_threads() == 1
    assert _threads.threads_for_work(4) == _threads.threads_for_load(4) == 1  # a fixed setting is used as it is
    assert plw.set_threads(None) == 1
    assert plw.get_threads() == "auto"
    limit = _load.cores()
    for bad in (0, -1, limit + 1, 2.5, "many", True):
        with pytest.raises(ValueError, match=rf"threads must be 'auto'.*\[1, {limit}\].*got {bad!r}"):
            plw.set_threads(bad)
    assert plw.get_threads() == "auto"  # a refused value changes nothing


def test_plw_threads_environment_variable():
    assert _threads._parse_setting("PLW_THREADS", "1") == 1
    assert _threads._parse_setting("PLW_THREADS", " Auto ") is None
    # a bad value must not stop the import: a warning, and auto
    code = "import pinn_landscape_widget as plw; print(repr(plw.get_threads()))"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "PLW_THREADS": "lots"}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "'auto'"
    assert "PLW_THREADS must be 'auto'" in out.stderr and "got 'lots'" in out.stderr


@pytest.mark.skipif(not LINUX, reason="the load is read from Linux's /proc/stat")
def test_busy_processes_are_seen_and_the_engine_yields(busy_cores, auto_threads):
    if len(_load.usable_cpus()) < (os.cpu_count() or 1) or _load.cpu_quota() is not None:
        pytest.skip("confined to part of the machine: the machine-wide count is not used (tested below)")
    busy = _load.busy_elsewhere(fresh=True)
    # every spinning process is runnable all the time; other work on the machine only adds to the count
    assert busy >= busy_cores - 0.5
    assert _load.idle_cores() == 1
    assert _threads.threads_for_load(busy_cores) == 1
    # whole chunks per thread wait for nobody: they keep torch's count (each gets a fair share of a core)
    assert _threads.threads_for_work(busy_cores) == busy_cores
    with _threads.few_threads_per_op() as n:
        assert n == torch.get_num_threads()


@pytest.mark.skipif(not LINUX, reason="the load is read from Linux's /proc/stat")
def test_training_under_load_takes_the_idle_cores_and_restores_torch(busy_cores, auto_threads, monkeypatch):
    seen = []
    apply = _threads.LoadAwareThreads._apply

    def spy(self):
        apply(self)
        seen.append((self.threads, torch.get_num_threads()))

    monkeypatch.setattr(_threads.LoadAwareThreads, "_apply", spy)
    monkeypatch.setattr(_threads, "RECHECK_S", 0.0)  # look at the load every step
    monkeypatch.setattr(_load, "REUSE_S", 0.0)
    monkeypatch.setattr(_load, "cores", lambda: busy_cores)
    monkeypatch.setattr(_load, "usable_cpus", lambda: list(range(os.cpu_count() or 1)))
    monkeypatch.setattr(_load, "cpu_quota", lambda: None)
    torch.set_num_threads(busy_cores)
    before = torch.get_num_threads()
    run = plw.train("poisson1d", "strong", optimizer="adam", steps=5, width=8, depth=1, progress=False)
    assert len(seen) == 6  # at the start and before each of the 5 steps
    assert all(threads == 1 and torch_threads == 1 for threads, torch_threads in seen)
    assert torch.get_num_threads() == before
    assert len(run.history.loss) == 6 and torch.isfinite(run.params).all()


def test_confined_or_unmeasurable_counts_nothing(busy_cores, monkeypatch):
    # a process confined to some CPUs cannot read its share from the machine-wide count
    monkeypatch.setattr(_load, "usable_cpus", lambda: [0])
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert _load.busy_elsewhere(fresh=True) == 0.0
    monkeypatch.undo()
    # off Linux there is no count at all
    monkeypatch.setattr(_load, "_runnable", lambda: None)
    monkeypatch.setattr(_load, "usable_cpus", lambda: list(range(os.cpu_count() or 1)))
    monkeypatch.setattr(_load, "cpu_quota", lambda: None)
    assert _load.busy_elsewhere(fresh=True) == 0.0


@pytest.mark.parametrize(
    "files, quota",
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3.0),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),
    ],
)
def test_cgroup_quota_caps_the_cores(tmp_path, monkeypatch, files, quota):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(_load, "CGROUP", tmp_path)
    monkeypatch.setattr(_load, "usable_cpus", lambda: list(range(8)))
    assert _load.cpu_quota() == quota
    assert _load.cores() == (8 if quota is None else int(-(-quota // 1)))


def test_busy_elsewhere_is_reused_within_its_window(monkeypatch):
    calls = []
    monkeypatch.setattr(_load, "_runnable", lambda: calls.append(1) or 3)
    monkeypatch.setattr(_load, "usable_cpus", lambda: list(range(os.cpu_count() or 1)))
    monkeypatch.setattr(_load, "cpu_quota", lambda: None)
    monkeypatch.setattr(_load, "REUSE_S", 60.0)
    first = _load.busy_elsewhere(fresh=True)
    assert first == 2.0 and len(calls) == _load.READS  # 3 runnable, the reader being one of them
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _load.busy_elsewhere() == 2.0
    assert len(calls) == _load.READS
