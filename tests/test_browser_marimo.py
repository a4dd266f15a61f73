"""The widget in a real marimo server (``marimo run``), through ``mo.ui.anywidget``, driven in Chromium.

marimo mounts an anywidget in a shadow root (Playwright's locators pierce it; ``document.querySelector``
does not), relays the view's trait changes and custom messages to the kernel over its own websocket, and
re-runs the cells that read the widget's element when the view changes a trait. The app below shows a
two-panel widget of a short run, a cell that prints what Python holds, and a button whose cell calls
``w.save_png``. The test: both panels draw (pixels of a screenshot of each), the seed control recomputes
through the kernel (status computing -> done, new pictures, Python's seed), the replay plays (the step
advances, the marker moves, Python sees the step), and Save PNG gives a PNG, from the button and from
Python, whose panel pixels match the screenshot.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from .browser import ARTIFACTS, ROOT, browser_page, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

APP = """
import marimo

app = marimo.App(width="full")


@app.cell
def _():
    import json

    import marimo as mo

    import pinn_landscape_widget as plw

    # a short run: the kernel's work stays a few seconds
    run = plw.train(plw.get_problem("poisson1d", n_points=64), "strong", width=12, depth=2, steps=40, lr=1e-2,
                    progress=False)
    w = plw.LandscapeWidget(run, panels=[{}, {"formulation": "deep_ritz"}], resolution=21)
    view = mo.ui.anywidget(w)
    view
    return json, mo, view, w


@app.cell
def _(json, mo, view):
    # re-run by marimo whenever the view changes a trait: what Python holds
    mo.plain_text("PROBE " + json.dumps({"seed": view.widget.seed, "step": view.widget.trajectory_step}))
    return


@app.cell
def _(mo):
    save = mo.ui.run_button(label="save from Python")
    save
    return (save,)


@app.cell
def _(save, w):
    if save.value:
        w.save_png("view.png")  # the view draws it; the file is written when its answer arrives
    return
"""

# In-page, from the widget's root (in marimo's shadow root): every status text the view shows from now on, and
# the replay frames drawn (the widget's "plw-frame" events, dispatched on its root: they leave no shadow root).
WATCH_JS = """(root) => {
  const text = root.querySelector('.plw-status-text');
  root.plwSeen = [text.textContent];
  new MutationObserver(() => root.plwSeen.push(text.textContent))
    .observe(text, {childList: true, characterData: true, subtree: true});
  root.plwFrames = 0;
  root.addEventListener('plw-frame', () => { root.plwFrames++; });
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def marimo_app(root: Path):
    """``marimo run app.py`` on a free localhost port with this checkout's package; yields its URL."""
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    log_path = root / "marimo.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "marimo", "run", "app.py", "--headless", "--no-token", f"--port={port}"],
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(120):
                try:
                    urllib.request.urlopen(f"{url}/health", timeout=1)
                    break
                except Exception:
                    if proc.poll() is not None:
                        raise RuntimeError(log_path.read_text()) from None
                    time.sleep(0.5)
            else:
                raise RuntimeError("marimo did not start:\n" + log_path.read_text())
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _rgb(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)


def _surface_fraction(rgb: np.ndarray) -> float:
    """The share of pixels of the colormap's hues (saturated, where the page, axes and labels are grey);
    zero unless they look like viridis over a range: some more blue than red (its lower half), some more
    green than blue (its upper half), next to none more red than green (viridis has no such colour)."""
    coloured = rgb[(rgb.max(axis=2) - rgb.min(axis=2)) > 40]
    r, g, b = coloured.T
    viridis = (b > r + 30).mean() > 0.1 and (g > b + 30).mean() > 0.1 and (r > g + 30).mean() < 0.05
    return len(coloured) / (rgb.shape[0] * rgb.shape[1]) if viridis else 0.0


def _changed(a: np.ndarray, b: np.ndarray) -> float:
    """The share of pixels that differ clearly between two pictures of the same size."""
    assert a.shape == b.shape
    return float((np.abs(a - b).sum(axis=2) > 48).mean())


def _thumb(rgb: np.ndarray, size: int = 24) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(rgb.astype(np.uint8)).resize((size, size), Image.BOX), dtype=float)


def _panels(page) -> list[np.ndarray]:
    """A screenshot of each panel's drawing area, as RGB arrays."""
    areas = page.locator(".plw-canvas")
    shots = [areas.nth(i).screenshot() for i in range(areas.count())]
    ARTIFACTS.mkdir(exist_ok=True)
    for i, shot in enumerate(shots):
        (ARTIFACTS / f"marimo_panel{i}.png").write_bytes(shot)
    return [_rgb(shot) for shot in shots]


def _panels_when(page, ready, timeout_s: float = 15.0) -> list[np.ndarray]:
    """Screenshots of the panels once ``ready(shots)`` holds (a redraw follows the status by a frame or two),
    or the last ones taken when it does not within ``timeout_s`` (the asserts then say what is wrong)."""
    deadline = time.time() + timeout_s
    while True:
        shots = _panels(page)
        if ready(shots) or time.time() > deadline:
            return shots
        page.wait_for_timeout(250)


def _probe(page) -> dict:
    text = page.get_by_text("PROBE ").first.inner_text()
    return json.loads(text.split("PROBE ", 1)[1])


def test_widget_in_a_marimo_app(tmp_path):
    (tmp_path / "app.py").write_text(APP)
    with marimo_app(tmp_path) as url, browser_page(viewport=(1300, 1000)) as page:
        page.goto(url)
        status = page.locator(".plw-status-text").first
        page.wait_for_selector(".plw-root .plw-canvas canvas", timeout=90_000)
        page.wait_for_function(
            "(el) => el.textContent.includes('done in')", arg=status.element_handle(), timeout=60_000
        )
        root = page.locator(".plw-root").first

        # both panels draw a surface: a screenshot of each, coloured by the colormap over 4 % of it or more
        first = _panels_when(page, lambda shots: len(shots) == 2 and all(_surface_fraction(p) > 0.04 for p in shots))
        screenshot(page, "marimo_initial", ".plw-root")
        assert len(first) == 2
        assert all(_surface_fraction(p) > 0.04 for p in first), [_surface_fraction(p) for p in first]
        assert _changed(first[0], first[1]) > 0.01  # the strong form and Deep Ritz differ

        # the seed needs new numbers: the kernel computes them (status computing -> done), the surfaces change
        root.evaluate(WATCH_JS)
        seed = page.locator("input[data-trait=seed]").first
        seed.fill("3")
        seed.dispatch_event("change")
        page.wait_for_function(
            "(root) => root.plwSeen.some((s) => s.includes('computing')) && "
            "root.plwSeen[root.plwSeen.length - 1].includes('done in')",
            arg=root.element_handle(),
            timeout=60_000,
        )
        seen = root.evaluate("(root) => root.plwSeen")
        k = next(i for i, s in enumerate(seen) if "computing" in s)
        assert "done in" in seen[-1] and k < len(seen) - 1, seen
        second = _panels_when(page, lambda shots: all(_changed(a, b) > 0.01 for a, b in zip(first, shots)))
        assert all(_surface_fraction(p) > 0.04 for p in second)
        assert all(_changed(a, b) > 0.01 for a, b in zip(first, second)), [
            _changed(a, b) for a, b in zip(first, second)
        ]
        page.wait_for_function("() => document.body.innerText.includes('PROBE {\"seed\": 3')", timeout=30_000)

        # the replay: back to the start, then play; the step advances and the marker moves
        scrubber = page.locator("input[data-trait=trajectory_step]").first
        marker_end = page.locator(".plw-panel").first.get_attribute("data-marker")
        scrubber.focus()
        page.keyboard.press("Home")
        assert scrubber.input_value() == "0"
        page.locator("button[data-action=play]").first.click()
        page.wait_for_function(
            "(root) => root.plwFrames > 10 && Number(root.querySelector('input[data-trait=trajectory_step]').value) >= 5",
            arg=root.element_handle(),
            timeout=20_000,
        )
        page.locator("button[data-action=play]").first.click()  # pause
        step = int(scrubber.input_value())
        assert 5 <= step < int(scrubber.get_attribute("max"))
        assert page.locator(".plw-panel").first.get_attribute("data-marker") != marker_end
        page.wait_for_function(
            "(step) => document.body.innerText.includes('\"step\": ' + step + '}')", arg=step, timeout=30_000
        )
        assert _probe(page) == {"seed": 3, "step": step}
        shown = _panels(page)
        screenshot(page, "marimo_replay", ".plw-root")

        # Save PNG (the button): a download at twice the view's size whose panels are the ones on screen
        css = page.locator(".plw-panels").first.bounding_box()
        with page.expect_download() as dl:
            page.locator("button[data-action=save-png]").first.click()
        saved = tmp_path / "button.png"
        dl.value.save_as(saved)
        _assert_png_shows(saved.read_bytes(), css, page, shown)

        # Save PNG from Python: w.save_png asks the view, whose answer (the PNG as a binary buffer) the kernel writes
        page.get_by_text("save from Python").click()
        deadline = time.time() + 30
        while not (tmp_path / "view.png").exists() and time.time() < deadline:
            page.wait_for_timeout(200)
        page.wait_for_timeout(300)  # written in one call; give it the moment to close
        _assert_png_shows((tmp_path / "view.png").read_bytes(), css, page, shown)
        real_errors = [e for e in page.errors if "favicon" not in e and "404" not in e]
        assert not [e for e in real_errors if "plw" in e or "widget" in e.lower()], real_errors


def _assert_png_shows(png: bytes, css: dict, page, shown: list[np.ndarray]) -> None:
    """A PNG of the view at twice its CSS size (a 32 px title band above the panels) whose panel areas look
    like the screenshots of the panels."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (2 * round(css["width"]), 2 * (round(css["height"]) + 32))
    rgb = _rgb(png)
    for i, want in enumerate(shown):
        box = page.locator(".plw-canvas").nth(i).bounding_box()
        x0, y0 = 2 * (box["x"] - css["x"]), 2 * (box["y"] - css["y"] + 32)
        area = rgb[round(y0) : round(y0 + 2 * box["height"]), round(x0) : round(x0 + 2 * box["width"])]
        assert _surface_fraction(area) > 0.04
        # measured: about 1.1; against the other panel's picture 3.0, against a blank panel 16
        assert np.abs(_thumb(area) - _thumb(want)).mean() < 2.5, i
