"""The widget's ESM in a plain HTML page with a mock model (no kernel): draws, reacts, inspects, cleans up."""

import shutil

import numpy as np
import pytest

import pinn_landscape_widget as plw

from .browser import BUNDLE, CANVAS_STATS_JS, browser_page, screenshot, serve, state_json
from .conftest import small_run

pytestmark = pytest.mark.browser

PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head><body style="margin:0">
<div id="host" style="width:1000px"></div>
<script type="module">
import widget from "./widget.js";
class MockModel {
  constructor(state) { this.state = state; this.handlers = {}; this.saved = 0; }
  get(k) { return this.state[k]; }
  set(k, v) { this.state[k] = v; for (const f of this.handlers["change:" + k] || []) f(); }
  on(e, f) { (this.handlers[e] ||= []).push(f); }
  off(e, f) { this.handlers[e] = (this.handlers[e] || []).filter((g) => g !== f); }
  save_changes() { this.saved++; }
  // the kernel's side of the liveness check: a ping on render is answered with a pong
  send(msg) { if (msg.type === "ping") setTimeout(() => (this.handlers["msg:custom"] || []).forEach((f) => f({ type: "pong" }))); }
}
window.model = new MockModel(__STATE__);
window.cleanup = widget.render({ model: window.model, el: document.getElementById("host") });
window.ready = true;
</script></body></html>"""


def _page(tmp_path, widget):
    shutil.copy(BUNDLE, tmp_path / "widget.js")
    (tmp_path / "index.html").write_text(PAGE.replace("__STATE__", state_json(widget)))


@pytest.fixture(scope="module")
def widgets():
    run = small_run("poisson1d", dict(n_points=64), "strong")
    w = plw.LandscapeWidget(run, resolution=31).wait()
    w2 = plw.LandscapeWidget(run, resolution=21, seed=7).wait()
    return run, w, w2


def test_esm_draws_a_surface_and_reacts_to_the_model(tmp_path, widgets):
    run, w, w2 = widgets
    _page(tmp_path, w)
    with serve(tmp_path) as url, browser_page() as page:
        page.goto(f"{url}/index.html")
        page.wait_for_function("window.ready === true")
        page.wait_for_timeout(300)
        first = page.evaluate(CANVAS_STATS_JS, ".plw-canvas canvas")
        assert first["fraction"] > 0.05, first  # a real surface, not a blank canvas
        screenshot(page, "static_surface", ".plw-root")

        # browser-only change: colormap -> new picture, no kernel asked
        saved = page.evaluate("window.model.saved")
        page.select_option("select[data-trait=colormap]", "magma")
        page.wait_for_timeout(200)
        recolored = page.evaluate(CANVAS_STATS_JS, ".plw-canvas canvas")
        assert recolored["hash"] != first["hash"]
        assert page.evaluate("window.model.get('colormap')") == "magma"
        assert page.evaluate("window.model.saved") == saved + 1

        # new numbers arrive from the kernel (another seed and resolution) -> the surface changes
        page.evaluate(
            """(s) => { const m = window.model; const st = JSON.parse(s);
            for (const k of ['grid_shape', 'error_grid']) m.state[k] = st[k]; m.set('grid', st.grid); }""",
            state_json(w2),
        )
        page.wait_for_timeout(200)
        changed = page.evaluate(CANVAS_STATS_JS, ".plw-canvas canvas")
        assert changed["hash"] != recolored["hash"] and changed["fraction"] > 0.05

        # hover the middle of the surface: alpha, beta, loss and the error are read out
        box = page.locator(".plw-canvas canvas").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.6)
        page.wait_for_timeout(100)
        tip = page.locator(".plw-tip").first
        assert tip.is_visible()
        text = tip.inner_text()
        assert "alpha" in text and "beta" in text and "loss" in text and "rel. L2 error" in text

        # click: the model is asked for the solution at that point
        page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.6)
        point = page.evaluate("window.model.get('selected_point')")
        assert len(point) == 2 and all(-1 <= v <= 1 for v in point)

        # the resolution slider asks the kernel (a trait change + save), keyboard-operable
        page.focus("input[data-trait=resolution]")
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(100)
        assert page.evaluate("window.model.get('resolution')") != 31 or page.evaluate("window.model.saved") > saved

        page.evaluate("window.cleanup()")
        assert page.locator(".plw-root").count() == 0
        assert page.errors == []


def test_nan_grid_draws_with_gaps_and_a_note(tmp_path):
    run = small_run("poisson1d", dict(n_points=64), "strong")
    ds = plw.landscape(
        run, plw.random_directions(run, 2, normalization="none"), span=1e30, resolution=9, progress=False
    )
    w = plw.LandscapeWidget(ds)
    n_bad = int((~np.isfinite(ds.loss.values)).sum())
    assert n_bad > 0
    _page(tmp_path, w)
    with serve(tmp_path) as url, browser_page() as page:
        page.goto(f"{url}/index.html")
        page.wait_for_function("window.ready === true")
        page.wait_for_timeout(300)
        assert f"{n_bad} point(s) NaN/inf" in page.locator(".plw-note").first.inner_text()
        stats = page.evaluate(CANVAS_STATS_JS, ".plw-canvas canvas")
        assert stats["fraction"] > 0.003  # still a picture (axes, finite cells), not a broken canvas
        # a precomputed Dataset: the controls that would need a kernel are disabled
        assert page.locator("select[data-trait=direction_kind]").is_disabled()
        screenshot(page, "static_nan", ".plw-root")
        assert page.errors == []


def test_one_dimensional_slice_and_heatmap_views(tmp_path):
    run = small_run("poisson1d", dict(n_points=64), "deep_ritz")
    w = plw.LandscapeWidget(run, direction_kind="interpolation", resolution=41).wait()
    assert w.grid_shape == [41]
    _page(tmp_path, w)
    with serve(tmp_path) as url, browser_page() as page:
        page.goto(f"{url}/index.html")
        page.wait_for_function("window.ready === true")
        page.wait_for_timeout(300)
        stats = page.evaluate(CANVAS_STATS_JS, ".plw-slice")
        assert stats["fraction"] > 0.005, stats
        screenshot(page, "static_1d_slice", ".plw-root")
        assert page.errors == []
    w2 = plw.LandscapeWidget(run, resolution=21).wait()
    w2.view = "heatmap"
    _page(tmp_path, w2)
    with serve(tmp_path) as url, browser_page() as page:
        page.goto(f"{url}/index.html")
        page.wait_for_function("window.ready === true")
        page.wait_for_timeout(300)
        assert page.evaluate(CANVAS_STATS_JS, ".plw-slice")["fraction"] > 0.3
        screenshot(page, "static_heatmap", ".plw-root")
        assert page.errors == []


def test_side_by_side_panels_share_one_camera(tmp_path):
    a = small_run("poisson1d", dict(n_points=64), "strong")
    b = small_run("poisson1d", dict(n_points=64), "deep_ritz")
    w = plw.LandscapeWidget({"strong": a, "deep_ritz": b}, resolution=21).wait()
    _page(tmp_path, w)
    stats = """() => Array.from(document.querySelectorAll('.plw-canvas canvas')).map((c, k) => {
        const t = document.createElement('canvas'); t.width = c.width; t.height = c.height;
        const x = t.getContext('2d'); x.drawImage(c, 0, 0);
        const d = x.getImageData(0, 0, t.width, t.height).data; let h = 0, n = 0;
        for (let i = 0; i < d.length; i += 4) { h = (h * 31 + d[i] + 3 * d[i+1] + 7 * d[i+2]) >>> 0;
          if (Math.abs(d[i] - d[0]) + Math.abs(d[i+1] - d[1]) + Math.abs(d[i+2] - d[2]) > 24) n++; }
        return {hash: h, fraction: n / (d.length / 4)}; })"""
    with serve(tmp_path) as url, browser_page(viewport=(1400, 700)) as page:
        page.goto(f"{url}/index.html")
        page.wait_for_function("window.ready === true")
        page.wait_for_timeout(300)
        before = page.evaluate(stats)
        assert len(before) == 2 and all(s["fraction"] > 0.03 for s in before), before
        captions = page.locator(".plw-caption").all_inner_texts()
        assert captions[0].startswith("strong:") and captions[1].startswith("deep_ritz:")
        screenshot(page, "static_side_by_side", ".plw-root")
        # orbit the left panel: the right one turns with it
        box = page.locator(".plw-canvas canvas").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.45, steps=8)
        page.mouse.up()
        page.wait_for_timeout(200)
        after = page.evaluate(stats)
        assert after[0]["hash"] != before[0]["hash"] and after[1]["hash"] != before[1]["hash"]
        assert page.errors == []


READ_ONLY_PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head>
<body style="margin:0"><div id="host" style="width:1000px"></div>
<script type="module">
import widget from "./widget.js";
// What MyST's {anywidget} directive gives a widget: JSON state, no kernel, nothing to write back to.
const state = Object.freeze(__STATE__);
const handlers = {};
const model = {
  get: (k) => state[k],
  set: () => { throw new Error("read-only model"); },
  on: (e, f) => { (handlers[e] ||= []).push(f); },
  off: () => {},
};
widget.render({ model, el: document.getElementById("host") });
window.ready = true;
</script></body></html>"""


def test_renders_from_json_state_with_a_read_only_model(tmp_path, widgets):
    run, w, _ = widgets
    shutil.copy(BUNDLE, tmp_path / "widget.js")
    (tmp_path / "index.html").write_text(READ_ONLY_PAGE.replace("__STATE__", state_json(w)))
    with serve(tmp_path) as url, browser_page() as page:
        page.goto(f"{url}/index.html")
        page.wait_for_function("window.ready === true")
        page.wait_for_timeout(300)
        first = page.evaluate(CANVAS_STATS_JS, ".plw-canvas canvas")
        assert first["fraction"] > 0.05
        # browser-only settings still work: kept locally when the model refuses them
        page.select_option("select[data-trait=colormap]", "coolwarm")
        page.wait_for_timeout(200)
        assert page.evaluate(CANVAS_STATS_JS, ".plw-canvas canvas")["hash"] != first["hash"]
        assert page.locator("select[data-trait=colormap]").input_value() == "coolwarm"
        box = page.locator(".plw-canvas canvas").first.bounding_box()
        for fx, fy in [(0.5, 0.6), (0.5, 0.45), (0.45, 0.5)]:
            page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
            if "kernel" in page.locator(".plw-sol-title").inner_text():
                break
        assert "needs a live Python kernel" in page.locator(".plw-sol-title").inner_text()
        screenshot(page, "static_read_only_model", ".plw-root")
        assert page.errors == []


def test_follows_the_jupyterlab_dark_theme(tmp_path, widgets):
    run, w, _ = widgets
    shutil.copy(BUNDLE, tmp_path / "widget.js")
    dark = PAGE.replace(
        '<div id="host" style="width:1000px"></div>',
        '<div id="host" style="width:1000px; --jp-layout-color0: #111111; --jp-ui-font-color1: #eeeeee"></div>',
    )
    (tmp_path / "index.html").write_text(dark.replace("__STATE__", state_json(w)))
    corner = """() => { const c = document.querySelector('.plw-canvas canvas');
        const t = document.createElement('canvas'); t.width = c.width; t.height = c.height;
        const x = t.getContext('2d'); x.drawImage(c, 0, 0); return Array.from(x.getImageData(2, 2, 1, 1).data); }"""
    with serve(tmp_path) as url, browser_page() as page:
        page.goto(f"{url}/index.html")
        page.wait_for_function("window.ready === true")
        page.wait_for_timeout(300)
        r, g, b, _ = page.evaluate(corner)
        assert max(r, g, b) < 40  # the scene's background is the theme's, not white
        color = page.evaluate("getComputedStyle(document.querySelector('.plw-root')).color")
        assert color == "rgb(238, 238, 238)"
        screenshot(page, "static_dark_theme", ".plw-root")
        assert page.errors == []
