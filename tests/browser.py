"""Helpers for the browser tests: the system Chromium under Playwright, a static file server, pixel reads."""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "pinn_landscape_widget" / "static" / "widget.js"
ARTIFACTS = ROOT / "test-artifacts"
# What Chrome does on a machine without a GPU: WebGL on the SwiftShader rasterizer, the page composited in
# software. Forcing SwiftShader for compositing as well (--use-angle=swiftshader alone) made its worker
# threads take most of a core while the widget's kernel computed (measured: 1.0 s of GPU-process CPU per
# widget update against 0.26 s with software compositing).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu-sandbox",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-gpu-compositing",
]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("Debian's chromium is not installed: `apt-get install chromium` (scripts/setup.sh does it)")


class _Shared:
    """One headless Chromium for a run of browser tests: launching it costs seconds, a fresh context (its own
    cookies, storage, cache and downloads) costs milliseconds. tests/conftest.py closes it after the last
    browser test of a run of them (while it is open, Playwright's event loop counts as running in this thread,
    which asyncio code in other tests must not meet)."""

    playwright = None
    browser = None


def _browser():
    if _Shared.browser is None or not _Shared.browser.is_connected():
        from playwright.sync_api import sync_playwright

        close_browser()
        _Shared.playwright = sync_playwright().start()
        _Shared.browser = _Shared.playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
    return _Shared.browser


def close_browser() -> None:
    """Close the shared Chromium (a later browser_page launches a new one)."""
    browser, playwright = _Shared.browser, _Shared.playwright
    _Shared.browser = _Shared.playwright = None
    if browser is not None:
        with contextlib.suppress(Exception):
            browser.close()
    if playwright is not None:
        playwright.stop()


# The widget's own signals, counted in every page from its first script on: "plw-drawn" after each redraw of
# the panels (js/src/widget.ts), "plw-frame" for each frame of the training replay (js/src/replay.ts). They do
# not bubble, but every event on a node of the document passes window in the capture phase.
WATCH_JS = """window.plwEvents = {drawn: 0, frames: 0};
addEventListener('plw-drawn', () => { window.plwEvents.drawn++; }, true);
addEventListener('plw-frame', () => { window.plwEvents.frames++; }, true);"""


# A log of the widget's pictures, for timing them (add it with page.add_init_script before the page loads).
# window.plwLog.surface: when every panel of the first widget on the page first shows a surface, found by
# reading its canvases' pixels every 100 ms (the first render can happen before the view is attached to the
# page, where no event of it reaches window): the time (Date.now(), ms since the epoch), the share of each
# panel's pixels that differ from its corner pixel, and the title shown then. window.plwLog.drawn: per
# "plw-drawn" event, its time, the widget's status, each panel's status and the title; two animation frames
# later the time the picture is on screen ("shown") and the panels' pixel shares. window.plwLog.press: the
# times of Shift+Enter (a cell run from the keyboard).
DRAWN_LOG_JS = """window.plwLog = {press: [], drawn: [], surface: null};
const plwShares = (root) => Array.from(root.querySelectorAll('.plw-canvas canvas')).map((c) => {
  if (!c.width || !c.height) return 0;
  const t = document.createElement('canvas'); t.width = c.width; t.height = c.height;
  const x = t.getContext('2d'); x.drawImage(c, 0, 0);
  const d = x.getImageData(0, 0, t.width, t.height).data; let n = 0;
  for (let i = 0; i < d.length; i += 4)
    if (Math.abs(d[i] - d[0]) + Math.abs(d[i+1] - d[1]) + Math.abs(d[i+2] - d[2]) > 24) n++;
  return n / (d.length / 4); });
const plwTitle = (root) => root.querySelector('.plw-title')?.textContent ?? '';
addEventListener('keydown', (e) => { if (e.key === 'Enter' && e.shiftKey) window.plwLog.press.push(Date.now()); },
  true);
addEventListener('plw-drawn', (e) => {
  const root = e.target;
  const entry = {t: Date.now(), status: e.detail.status, panels: e.detail.panels, title: plwTitle(root)};
  window.plwLog.drawn.push(entry);
  requestAnimationFrame(() => requestAnimationFrame(() => {
    entry.shown = Date.now();
    entry.fractions = plwShares(root);
  }));
}, true);
const plwPoll = setInterval(() => {
  const root = document.querySelector('.plw-root');
  if (!root || !root.isConnected) return;
  const shares = plwShares(root);
  if (shares.length && shares.every((f) => f > 0.03)) {
    window.plwLog.surface = {t: Date.now(), fractions: shares, title: plwTitle(root)};
    clearInterval(plwPoll);
  }
}, 100);"""


@contextlib.contextmanager
def browser_page(viewport=(1100, 700)):
    """A page in a fresh context of the shared headless Chromium (never a downloaded browser). Console errors
    are collected."""
    context = _browser().new_context(viewport={"width": viewport[0], "height": viewport[1]}, accept_downloads=True)
    context.add_init_script(WATCH_JS)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    try:
        yield page
    finally:
        context.close()


def animation_frames(page, n: int = 2) -> None:
    """Wait for ``n`` animation frames of the page: what a frame does (ResizeObserver callbacks, painting the
    canvases) has happened by then."""
    page.evaluate(
        "(n) => new Promise((done) => { const next = (k) => (k ? requestAnimationFrame(() => next(k - 1)) : done());"
        " next(n); })",
        n,
    )


@contextlib.contextmanager
def redrawn(page, timeout_ms: int = 15_000):
    """What the block does makes the widget redraw: after it, wait for the widget's next "plw-drawn" event and
    the frame that shows it."""
    before = page.evaluate("window.plwEvents.drawn")
    yield
    page.wait_for_function("(n) => window.plwEvents.drawn > n", arg=before, timeout=timeout_ms)
    animation_frames(page)


def replay_frames(page) -> int:
    """How many frames the widget's training replay has drawn in this page so far."""
    return page.evaluate("window.plwEvents.frames")


@contextlib.contextmanager
def serve(directory: Path):
    """Serve a directory on localhost; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def _b64(v):
    if isinstance(v, (bytes, memoryview)):
        return base64.b64encode(bytes(v)).decode()
    if isinstance(v, dict):
        return {k: _b64(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_b64(x) for x in v]
    return v


def state_json(widget, state: dict | None = None) -> str:  # as viz.export.state_json, kept independent
    """The widget's synced state as JSON, binary buffers (also nested ones) as base64, as saved state has them."""
    return json.dumps({k: _b64(v) for k, v in (state or widget.get_state()).items()})


# In-page: count pixels of a canvas (WebGL or 2-D) that differ from its corner pixel, and a cheap hash.
CANVAS_STATS_JS = """(sel) => {
  const src = document.querySelector(sel);
  const c = document.createElement('canvas'); c.width = src.width; c.height = src.height;
  const ctx = c.getContext('2d'); ctx.drawImage(src, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  const bg = [d[0], d[1], d[2]];
  let differ = 0, hash = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (Math.abs(d[i] - bg[0]) + Math.abs(d[i+1] - bg[1]) + Math.abs(d[i+2] - bg[2]) > 24) differ++;
    hash = (hash * 31 + d[i] * 7 + d[i+1] * 3 + d[i+2]) >>> 0;
  }
  return {fraction: differ / (d.length / 4), hash, width: c.width, height: c.height};
}"""


# In-page: a 32 x 32 RGB thumbnail of a canvas (to compare two pictures with a tolerance).
CANVAS_THUMB_JS = """(sel) => { const src = document.querySelector(sel);
  const c = document.createElement('canvas'); c.width = 32; c.height = 32;
  const ctx = c.getContext('2d'); ctx.drawImage(src, 0, 0, 32, 32);
  return Array.from(ctx.getImageData(0, 0, 32, 32).data); }"""


def thumb_difference(a, b) -> float:
    """Mean absolute difference of two CANVAS_THUMB_JS thumbnails, in [0, 255]."""
    import numpy as np

    return float(np.abs(np.asarray(a, float) - np.asarray(b, float)).mean())


# Per panel: the share of its canvas's pixels that differ from the corner pixel, and a cheap hash.
PANEL_STATS_JS = """() => Array.from(document.querySelectorAll('.plw-canvas canvas')).map((c) => {
    const t = document.createElement('canvas'); t.width = c.width; t.height = c.height;
    const x = t.getContext('2d'); x.drawImage(c, 0, 0);
    const d = x.getImageData(0, 0, t.width, t.height).data; let h = 0, n = 0;
    for (let i = 0; i < d.length; i += 4) { h = (h * 31 + d[i] + 3 * d[i+1] + 7 * d[i+2]) >>> 0;
      if (Math.abs(d[i] - d[0]) + Math.abs(d[i+1] - d[1]) + Math.abs(d[i+2] - d[2]) > 24) n++; }
    return {hash: h, fraction: n / (d.length / 4)}; })"""

# Every label shown over a panel: its text, font size and box on screen, and which panel it belongs to.
LABELS_JS = """() => Array.from(document.querySelectorAll('.plw-label')).filter((e) => e.style.display !== 'none')
  .map((e) => { const r = e.getBoundingClientRect(); const panel = e.closest('.plw-panel');
    return {text: e.textContent, size: parseFloat(getComputedStyle(e).fontSize), x: r.left, y: r.top, w: r.width,
            h: r.height, panel: Array.from(document.querySelectorAll('.plw-panel')).indexOf(panel)}; })"""


def assert_legible(page) -> int:
    """Every shown label is at least 11 CSS px and no two labels of a panel overlap (boxes read from the DOM).
    Returns how many labels are shown."""
    labels = page.evaluate(LABELS_JS)
    for lab in labels:
        assert lab["size"] >= 11, lab
        assert lab["w"] > 0 and lab["h"] > 0, lab
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            if a["panel"] != b["panel"]:
                continue
            apart = (
                a["x"] + a["w"] <= b["x"]
                or b["x"] + b["w"] <= a["x"]
                or a["y"] + a["h"] <= b["y"]
                or b["y"] + b["h"] <= a["y"]
            )
            assert apart, (a, b)
    return len(labels)


def open_offline(page, path: Path, ready_js: str, timeout_ms: int = 60_000) -> list[str]:
    """Open a file from disk with every network request refused: what draws needs nothing but the disk.
    Returns every URL the page asked for; waits until ``ready_js`` is true."""
    requests = []

    def guard(route):
        requests.append(route.request.url)
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", guard)
    page.goto(Path(path).as_uri())
    page.wait_for_function(ready_js, timeout=timeout_ms)
    animation_frames(page)
    return requests


def screenshot(page, name: str, selector: str | None = None) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    (page.locator(selector).first if selector else page).screenshot(path=str(path))
    return path


# the two front ends the widget is tested in: the app to start and where it opens a notebook
FRONT_ENDS = {"lab": ("lab", "lab/tree/{name}"), "notebook": ("notebook", "notebooks/{name}")}


@contextlib.contextmanager
def jupyter_server(root: Path, front_end: str = "lab"):
    """A real JupyterLab (or Jupyter Notebook 7) server with this venv's kernel on a free localhost port,
    serving ``root``; yields its base URL."""
    app = FRONT_ENDS[front_end][0]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(root / ".jupyter"), JUPYTER_RUNTIME_DIR=str(root / ".runtime"))
    log_path = root / f"{app}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            app,
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=1)
                break
            except Exception:
                if proc.poll() is not None:
                    raise RuntimeError(log_path.read_text()) from None
                time.sleep(0.5)
        else:
            raise RuntimeError(f"jupyter {app} did not start:\n" + log_path.read_text())
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def jupyter_lab(root: Path):
    """A real JupyterLab server (see jupyter_server)."""
    return jupyter_server(root, "lab")


def notebook_url(base: str, name: str, front_end: str = "lab") -> str:
    return f"{base}/{FRONT_ENDS[front_end][1].format(name=name)}"


def run_all_cells(page, notebook_url: str | None):
    """Open a notebook in JupyterLab (None: the one in front) and run all its cells from the Run menu, as a
    person would."""
    active = ".jp-NotebookPanel:not(.lm-mod-hidden)"
    if notebook_url is not None:
        page.goto(notebook_url)
    page.wait_for_selector(f"{active} .jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function(  # the kernel of the notebook in front is idle (another tab's indicator is hidden)
        "Array.from(document.querySelectorAll(\".jp-Notebook-ExecutionIndicator[data-status='idle']\"))"
        ".some((e) => e.offsetParent !== null)",
        timeout=60_000,
    )
    # cells queued or run show "[*]" or "[n]" (a busy kernel alone is no proof: it flickers while starting)
    started = (
        f"Array.from(document.querySelectorAll('{active} .jp-InputPrompt'))"
        ".some((p) => /\\[(\\*|\\d+)\\]/.test(p.textContent))"
    )
    for _ in range(4):  # a click can land while the front end is still laying out (or under a dialog)
        _accept_kernel_dialog(page)
        page.keyboard.press("Escape")
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            page.wait_for_function(started, timeout=10_000)
            return
        except Exception:
            continue
    raise AssertionError("the front end did not start running the notebook")


def _accept_kernel_dialog(page) -> None:
    """Now and then JupyterLab asks for a kernel even though the notebook names one (a race while its
    session starts); Escape would answer "No Kernel", so accept the preselected python3 instead."""
    accept = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
    try:
        accept.first.wait_for(state="visible", timeout=1_500)
    except Exception:
        return
    accept.first.click()
    page.wait_for_selector(".jp-Dialog", state="detached", timeout=10_000)
