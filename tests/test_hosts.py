"""The widget's host-specific behaviour (viz/_hosts.py): in a marimo kernel, displaying the widget neither
waits for its grids nor draws the PNG that only Jupyter's static viewers read."""

import threading

import pytest

import pinn_landscape_widget as plw
from pinn_landscape_widget.viz._hosts import in_marimo

from .conftest import small_run

VIEW = "application/vnd.jupyter.widget-view+json"


def test_marimo_imported_outside_its_kernel_is_not_marimo():
    pytest.importorskip("marimo")  # the test extra installs it; the package itself never needs it
    assert not in_marimo()


@pytest.mark.parametrize("host", ["marimo", "jupyter"])
def test_display_in_marimo_does_not_wait_for_the_grids(host, monkeypatch):
    marimo = pytest.importorskip("marimo")
    monkeypatch.setattr(marimo, "running_in_notebook", lambda: host == "marimo")
    w = plw.LandscapeWidget(small_run("poisson1d", dict(n_points=64), "strong"), resolution=11, compute=False)
    release = threading.Event()
    w._executor.submit(release.wait, 30)  # the widget's one worker is busy: its grids cannot start yet
    future = w.request()
    try:
        if host == "marimo":
            data, _ = w._repr_mimebundle_()
            assert VIEW in data and "image/png" not in data  # marimo renders the view and drops the rest
            assert not future.done()  # and the output was not held back for the grids
        else:
            threading.Timer(0.5, release.set).start()
            data, _ = w._repr_mimebundle_()  # Jupyter: waits for the grids, then draws the static PNG
            assert future.done() and data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        release.set()
        future.result(60)
        w.close()
