"""The widget's host-specific behaviour (viz/_hosts.py): in a marimo kernel, displaying the widget neither
waits for its grids nor draws the PNG that only Jupyter's static viewers read."""

import re
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


def _sleepy_run(seconds_per_point):
    """An opaque loss of a small module that takes ``seconds_per_point`` per parameter point."""
    import time

    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    x = torch.linspace(0, 1, 8)[:, None]

    def loss(m):
        time.sleep(seconds_per_point)
        return (m(x) ** 2).mean()

    return plw.from_model(model, loss)


def test_display_does_not_wait_for_grids_predicted_to_outlast_the_png_wait(monkeypatch, caplog):
    """A grid of minutes: the view is shown once the preview's probe predicts it, and the message says
    what the saved PNG holds and why."""
    import time

    from pinn_landscape_widget.viz import widget as widget_module

    monkeypatch.setattr(widget_module, "PNG_WAIT_S", 5.0)
    # 0.04 s a point: the probe calls it large (a 5 x 5 preview over 0.5 s), 21 x 21 predicted 17.6 s
    w = plw.LandscapeWidget(_sleepy_run(0.04), resolution=21, compute=False)
    try:
        future = w.request()
        started = time.monotonic()
        with caplog.at_level("WARNING", logger="pinn_landscape_widget.viz.widget"):
            data, _ = w._repr_mimebundle_()
        waited = time.monotonic() - started
        assert VIEW in data and "image/png" not in data  # no grid yet: no picture
        assert not future.done()
        assert waited < 4.0, waited  # well before the 5 s wait, and far before the grid's ~18 s
        (message,) = [r.getMessage() for r in caplog.records if "viewers without widgets" in r.getMessage()]
        assert "has no landscape" in message and "w.save_png(path)" in message
        predicted = re.search(r"predicted to take about (\d+) s .*, longer than the 5 s", message)
        assert predicted and 441 * 0.04 <= int(predicted.group(1)) + 1 and int(predicted.group(1)) < 441 * 0.2, message
    finally:
        w.close()


def test_display_waits_at_most_png_wait_s_when_no_cost_is_known(monkeypatch, caplog):
    from pinn_landscape_widget.viz import widget as widget_module

    monkeypatch.setattr(widget_module, "PNG_WAIT_S", 0.5)
    w = plw.LandscapeWidget(small_run("poisson1d", dict(n_points=64), "strong"), resolution=11, compute=False)
    release = threading.Event()
    w._executor.submit(release.wait, 30)  # the worker is busy: nothing is measured, nothing predicted
    future = w.request()
    try:
        with caplog.at_level("WARNING", logger="pinn_landscape_widget.viz.widget"):
            data, _ = w._repr_mimebundle_()
        assert VIEW in data and "image/png" not in data and not future.done()
        (message,) = [r.getMessage() for r in caplog.records if "viewers without widgets" in r.getMessage()]
        assert "has no landscape: the first grids were not done after 0.5 s" in message
    finally:
        release.set()
        future.result(60)
        w.close()
