"""The Jupyter Book of notebooks/, built once per test run, in the background.

Building the book executes every notebook in a real kernel (about 3 minutes on 2 cores), so it starts early
and other work runs meanwhile: scripts/test.sh starts it right after setup (``python -m tests.book DIR``,
PLW_BOOK_DIR=DIR tells pytest where), else tests/conftest.py starts it once the tests are collected, when a
selected test needs it. The ``book`` fixture of tests/test_notebooks.py waits for it and checks how it ended.

A build in the background runs its kernels on one torch thread (OMP_NUM_THREADS=1) and, while it runs, the
tests use one too (tests/conftest.py): two busy OpenMP teams on two cores make both wait at every barrier.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 1800
ENV = "PLW_BOOK_DIR"


def build(folder: Path) -> int:
    """Copy notebooks/ into ``folder`` and build the book there: the log goes to folder/build.log, and at the
    end folder/returncode holds the exit code and the build's wall time (also when the build failed)."""
    folder = Path(folder)
    started = time.perf_counter()
    code = 1
    with open(folder / "build.log", "w") as log:
        try:
            root = folder / "notebooks"
            shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns("_build", "*.py"))
            exe = Path(sys.executable).with_name("jupyter-book")
            env = dict(os.environ, OMP_NUM_THREADS="1")
            cmd = [str(exe), "build", str(root)]
            code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=TIMEOUT_S).returncode
        except subprocess.TimeoutExpired:
            log.write(f"\ntests/book.py: the build did not end within {TIMEOUT_S} s\n")
            code = 124
        except Exception as exc:
            log.write(f"\ntests/book.py: {exc!r}\n")
    done = folder / "returncode.tmp"  # written once the log is complete, renamed so no reader sees half of it
    done.write_text(f"{code} {time.perf_counter() - started:.1f}\n")
    done.replace(folder / "returncode")
    return code


class BookBuild:
    """A build in ``folder``: one this process started (``python -m tests.book``, in its own process group),
    or one that scripts/test.sh started (named by PLW_BOOK_DIR)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.proc: subprocess.Popen | None = None
        if folder is None:
            folder = Path(tempfile.mkdtemp(prefix="plw-book-"))
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.book", str(folder)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # so stop() ends the kernels it started too
            )
        self.folder = Path(folder)
        self.seconds: float | None = None  # the build's wall time, once it has ended
        self.waited: float | None = None  # how long the first test that needed it waited for it

    @property
    def build(self) -> Path:
        return self.folder / "notebooks" / "_build"

    def running(self) -> bool:
        if (self.folder / "returncode").exists():
            return False
        return self.proc is None or self.proc.poll() is None

    def wait(self) -> tuple[int, str]:
        """Wait for the build to end; (exit code, its log)."""
        if self.waited is None:
            asked = time.perf_counter()
            while self.running() and time.perf_counter() - asked < TIMEOUT_S + 60:
                time.sleep(0.5)
            self.waited = time.perf_counter() - asked
        done = self.folder / "returncode"
        log = self.folder / "build.log"
        log_text = log.read_text(errors="replace") if log.exists() else ""
        if not done.exists():
            return -1, log_text + "\ntests/book.py: the build ended without writing its returncode"
        code, seconds = done.read_text().split()
        self.seconds = float(seconds)
        return int(code), log_text

    def stop(self) -> None:
        """End the build this process started, if it still runs, and every process it started."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def cleanup(self) -> None:
        """Stop and delete a build this process started (scripts/test.sh deletes its own)."""
        if self.proc is not None:
            self.stop()
            shutil.rmtree(self.folder, ignore_errors=True)


_BUILD: BookBuild | None = None


def start() -> BookBuild:
    """The run's build: the one scripts/test.sh started, else one started now (once)."""
    global _BUILD
    if _BUILD is None:
        given = os.environ.get(ENV)
        _BUILD = BookBuild(Path(given) if given else None)
    return _BUILD


def current() -> BookBuild | None:
    return _BUILD


def running() -> bool:
    """Is a build of this run still going on (in the background)?"""
    if _BUILD is not None:
        return _BUILD.running()
    given = os.environ.get(ENV)
    return bool(given) and not (Path(given) / "returncode").exists()


def finish() -> None:
    """End of the session: stop a build still running and delete its files (its timings stay readable)."""
    if _BUILD is not None:
        _BUILD.cleanup()


if __name__ == "__main__":
    sys.exit(build(Path(sys.argv[1])))
