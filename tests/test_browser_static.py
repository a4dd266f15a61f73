"""The widget's ESM in a plain HTML page with a mock model (no kernel): draws, reacts, inspects, replays,
exports, and stays legible and keyboard-operable; cleans up."""

import json
import re
import shutil
import struct

import numpy as np
import pytest

import pinn_landscape_widget as plw

from .browser import (
    BUNDLE,
    CANVAS_STATS_JS,
    CANVAS_THUMB_JS,
    LABELS_JS,
    PANEL_STATS_JS,
    animation_frames,
    assert_legible,
    browser_page,
    redrawn,
    replay_frames,
    screenshot,
    serve,
    state_json,
    thumb_difference,
)
from .conftest import small_run

pytestmark = pytest.mark.browser

PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head><body style="margin:0">
<div id="host" style="width:__WIDTH__px"></div>
<script type="module">
import widget from "./widget.js";
class MockModel {
  constructor(state) { this.state = state; this.handlers = {}; this.saved = 0; this.sent = []; }
  get(k) { return this.state[k]; }
  set(k, v) { this.state[k] = v; for (const f of this.handlers["change:" + k] || []) f(); }
  on(e, f) { (this.handlers[e] ||= []).push(f); }
  off(e, f) { this.handlers[e] = (this.handlers[e] || []).filter((g) => g !== f); }
  save_changes() { this.saved++; }
  // the kernel's side of the liveness check: a ping on render is answered with a pong
  send(msg, cb, buffers) { this.sent.push([msg, buffers]);
    if (msg.type === "ping") setTimeout(() => { (this.handlers["msg:custom"] || []).forEach((f) => f({ type: "pong" }));
      this.answered = true; }); }
  receive(msg) { (this.handlers["msg:custom"] || []).forEach((f) => f(msg)); }
}
window.model = new MockModel(__STATE__);
window.cleanup = widget.render({ model: window.model, el: document.getElementById("host") });
window.ready = true;
</script></body></html>"""


def _page(tmp_path, widget, width=1000, state=None):
    shutil.copy(BUNDLE, tmp_path / "widget.js")
    page = PAGE.replace("__STATE__", state_json(widget, state)).replace("__WIDTH__", str(width))
    (tmp_path / "index.html").write_text(page)


def _open(page, url):
    """Open the page; wait until the widget has drawn, the mock kernel has answered the view's ping (so the
    controls that need a kernel are on) and a frame has been painted."""
    page.goto(f"{url}/index.html")
    page.wait_for_function(
        "window.ready === true && window.plwEvents.drawn > 0 && (!window.model || window.model.answered === true)"
    )
    animation_frames(page)


@pytest.fixture(scope="module")
def widgets():
    run = small_run("poisson1d", dict(n_points=64), "strong", steps=120)
    w = plw.LandscapeWidget(run, resolution=31).wait()
    w2 = plw.LandscapeWidget(run, resolution=21, seed=7).wait()
    w._ensure_replays([run.formulation])
    return run, w, w2


def test_esm_draws_a_surface_and_reacts_to_the_model(tmp_path, widgets):
    run, w, w2 = widgets
    _page(tmp_path, w)
    with serve(tmp_path) as url, browser_page() as page:
        _open(page, url)
        first = page.evaluate(CANVAS_STATS_JS, ".plw-canvas canvas")
        assert first["fraction"] > 0.05, first  # a real surface, not a blank canvas
        screenshot(page, "static_surface", ".plw-root")

        # browser-only change: colormap -> new picture, no kernel asked
        saved = page.evaluate("window.model.saved")
        with redrawn(page):
            page.select_option("select[data-trait=colormap]", "magma")
        recolored = page.evaluate(CANVAS_STATS_JS, ".plw-canvas canvas")
        assert recolored["hash"] != first["hash"]
        assert page.evaluate("window.model.get('colormap')") == "magma"
        assert page.evaluate("window.model.saved") == saved + 1

        # new numbers arrive from the kernel (another seed and resolution) -> the surface changes
        with redrawn(page):
            page.evaluate("(s) => window.model.set('panel_0', JSON.parse(s).panel_0)", state_json(w2))
        changed = page.evaluate(CANVAS_STATS_JS, ".plw-canvas canvas")
        assert changed["hash"] != recolored["hash"] and changed["fraction"] > 0.05

        # hover the middle of the surface: alpha, beta, loss and the error are read out
        box = page.locator(".plw-canvas canvas").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.55)
        tip = page.locator(".plw-tip").first
        tip.wait_for(state="visible", timeout=5_000)
        text = tip.inner_text()
        assert "alpha" in text and "beta" in text and "loss" in text and "rel. L2 error" in text

        # click: the model is asked for the solution at that point of panel 0
        page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.55)
        point = page.evaluate("window.model.get('selected_point')")
        assert len(point) == 3 and all(-1 <= v <= 1 for v in point[:2]) and point[2] == 0

        # the resolution slider asks the kernel (a trait change + save), keyboard-operable
        page.focus("input[data-trait=resolution]")
        page.keyboard.press("ArrowRight")
        page.evaluate("document.querySelector('input[data-trait=resolution]').dispatchEvent(new Event('change'))")
        assert page.evaluate("window.model.get('resolution')") == 33

        # the side panel folds away (a synced setting, so a page can be saved without it)
        with redrawn(page):
            page.click("button[data-action=toggle-controls]")
        assert (
            not page.locator(".plw-sidebar").is_visible()
            and page.evaluate("window.model.get('show_controls')") is False
        )
        page.click("button[data-action=toggle-controls]")
        assert page.locator(".plw-sidebar").is_visible()

        page.evaluate("window.cleanup()")
        assert page.locator(".plw-root").count() == 0
        assert page.errors == []


def test_labels_are_legible_and_never_overlap_in_every_view_and_width(tmp_path, widgets):
    run, w, _ = widgets
    for width in (1000, 620):
        _page(tmp_path, w, width)
        with serve(tmp_path) as url, browser_page(viewport=(width + 40, 1200)) as page:
            _open(page, url)
            n = assert_legible(page)
            assert n >= 12, n  # alpha, beta and loss ticks with their titles
            titles = page.evaluate(LABELS_JS)
            texts = {t["text"] for t in titles}
            assert {"alpha", "beta", "loss (log)"} <= texts, texts
            # turn the camera: labels follow it and stay apart
            box = page.locator(".plw-canvas canvas").first.bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.3, steps=6)
            page.mouse.up()
            animation_frames(page)
            assert_legible(page)
            for name in ("top", "side"):
                page.click(f"button[data-action=camera-{name}]")
                animation_frames(page)
                assert_legible(page)
            with redrawn(page):
                page.select_option("select[data-trait=view]", "heatmap")
            assert assert_legible(page) >= 8
            screenshot(page, f"static_heatmap_{width}", ".plw-root")
            # at a book's column width the controls sit above the view and nothing sticks out sideways
            if width == 620:
                layout = page.evaluate("""() => { const r = document.querySelector('.plw-root');
                    const s = document.querySelector('.plw-sidebar').getBoundingClientRect();
                    const p = document.querySelector('.plw-panels').getBoundingClientRect();
                    return {over: r.scrollWidth - r.clientWidth, sideBottom: s.bottom, panelsTop: p.top,
                            panelsWidth: p.width}; }""")
                assert layout["over"] <= 0 and layout["sideBottom"] <= layout["panelsTop"] + 1, layout
                assert layout["panelsWidth"] > 560, layout  # the view fills the column
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
        _open(page, url)
        assert f"{n_bad} point(s) NaN/inf" in page.locator(".plw-note").first.inner_text()
        stats = page.evaluate(CANVAS_STATS_JS, ".plw-canvas canvas")
        assert stats["fraction"] > 0.003  # still a picture (axes, finite cells), not a broken canvas
        # a precomputed Dataset: the controls that would need a kernel are disabled, the replay says why
        assert page.locator("select[data-trait=direction_kind]").is_disabled()
        assert page.locator("button[data-action=play]").is_disabled()
        assert "no replay" in page.locator(".plw-replay-readout").inner_text()
        screenshot(page, "static_nan", ".plw-root")
        assert page.errors == []


def test_one_dimensional_slice_and_heatmap_views(tmp_path):
    run = small_run("poisson1d", dict(n_points=64), "deep_ritz")
    w = plw.LandscapeWidget(run, direction_kind="interpolation", resolution=41).wait()
    assert w.panel_data[0]["grid_shape"] == [41]
    _page(tmp_path, w)
    with serve(tmp_path) as url, browser_page() as page:
        _open(page, url)
        stats = page.evaluate(CANVAS_STATS_JS, ".plw-canvas canvas")
        assert stats["fraction"] > 0.005, stats
        assert_legible(page)
        screenshot(page, "static_1d_slice", ".plw-root")
        assert page.errors == []
    w2 = plw.LandscapeWidget(run, resolution=21).wait()
    w2.view = "heatmap"
    _page(tmp_path, w2)
    with serve(tmp_path) as url, browser_page() as page:
        _open(page, url)
        assert page.evaluate(CANVAS_STATS_JS, ".plw-canvas canvas")["fraction"] > 0.3
        # smooth: a heatmap of a 21 x 21 grid has many more distinct colours than 441 cells would
        colours = page.evaluate("""() => { const c = document.querySelector('.plw-canvas canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const s = new Set();
            for (let i = 0; i < d.length; i += 4) s.add((d[i] << 16) | (d[i+1] << 8) | d[i+2]); return s.size; }""")
        assert colours > 2000, colours
        screenshot(page, "static_heatmap", ".plw-root")
        assert page.errors == []


def test_three_panels_with_linked_cameras_and_add_remove(tmp_path):
    a = small_run("poisson1d", dict(n_points=64), "strong", steps=120)
    b = small_run("poisson1d", dict(n_points=64), "deep_ritz", steps=120)
    panels = ["strong", "deep_ritz", {"run": "strong", "direction_kind": "pca"}]
    w = plw.LandscapeWidget({"strong": a, "deep_ritz": b}, panels=panels, resolution=21).wait()
    w.precompute(("direction_kind",))
    _page(tmp_path, w, 1300)
    with serve(tmp_path) as url, browser_page(viewport=(1340, 900)) as page:
        _open(page, url)
        before = page.evaluate(PANEL_STATS_JS)
        assert len(before) == 3 and all(s["fraction"] > 0.03 for s in before), before
        assert len({s["hash"] for s in before}) == 3  # three different pictures
        captions = page.locator(".plw-caption").all_inner_texts()
        assert captions[0].startswith("strong:") and captions[1].startswith("deep_ritz:") and "pca" in captions[2]
        boxes = [page.locator(".plw-panel").nth(k).bounding_box() for k in range(3)]
        assert boxes[0]["y"] == boxes[1]["y"] == boxes[2]["y"]  # side by side in one row
        assert_legible(page)
        screenshot(page, "static_three_panels", ".plw-root")
        # orbit the left panel: the others turn with it (linked cameras), and the camera is saved
        box = page.locator(".plw-canvas canvas").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.45, steps=8)
        page.mouse.up()
        animation_frames(page)
        after = page.evaluate(PANEL_STATS_JS)
        assert all(a["hash"] != b["hash"] for a, b in zip(after, before))
        cams = page.evaluate("Array.from(document.querySelectorAll('.plw-panel')).map((p) => p.dataset.camera)")
        assert len(set(cams)) == 1
        # the camera goes to the model a moment after the drag ends (once, not on every mouse move)
        page.wait_for_function("window.model.get('camera')?.position !== undefined", timeout=5_000)
        assert page.evaluate("window.model.get('camera')") == json.loads(cams[0])
        # one colour scale for all: the two strong-loss panels (other planes, other ranges) get the same colorbar
        bars = "() => Array.from(document.querySelectorAll('.plw-colorbar')).map((c) => c.toDataURL())"
        separate = page.evaluate(bars)
        assert separate[0] != separate[2]
        with redrawn(page):
            page.check("input[data-trait=z_shared]")
        shared = page.evaluate(bars)
        assert shared[0] == shared[2] and shared[0] != separate[0]
        with redrawn(page):
            page.uncheck("input[data-trait=z_shared]")
        # the side panel edits the selected panel only: with a kernel, the new panels go to Python
        page.locator(".plw-canvas canvas").nth(1).focus()
        assert page.locator("select[data-role=panel-select]").input_value() == "1"
        with redrawn(page):
            page.select_option("select[data-trait=direction_kind]", "pca")
        specs = page.evaluate("window.model.get('panels')")
        assert [p["direction_kind"] for p in specs] == ["random", "pca", "pca"]
        with redrawn(page):
            page.click("button[data-action=add-panel]")
        specs = page.evaluate("window.model.get('panels')")
        assert len(specs) == 4 and specs[3] == specs[1]  # a copy of the selected panel
        with redrawn(page):
            page.evaluate("window.model.set('panels', window.model.get('panels').slice(0, 3))")
        with redrawn(page):
            page.locator(".plw-panel button[data-action=remove-panel]").first.click()
        assert [p["run"] for p in page.evaluate("window.model.get('panels')")] == ["deep_ritz", "strong"]
        assert page.errors == []


def test_replay_moves_the_marker_and_changes_the_solution_and_trajectory_step(tmp_path, widgets):
    run, w, _ = widgets
    T = run.trajectory.shape[0]
    _page(tmp_path, w)
    with serve(tmp_path) as url, browser_page() as page:
        _open(page, url)
        assert page.evaluate("window.model.get('trajectory_step')") == T - 1
        end_marker = page.locator(".plw-panel").first.get_attribute("data-marker")
        sol_end = page.evaluate(CANVAS_STATS_JS, ".plw-solution")
        title_end = page.locator(".plw-sol-title").inner_text()
        assert f"checkpoint {T} " in title_end and sol_end["fraction"] > 0.02
        # Python drives it: a new trajectory_step from the kernel moves the marker and the solution
        page.evaluate("window.model.set('trajectory_step', 0)")
        animation_frames(page)
        start_marker = page.locator(".plw-panel").first.get_attribute("data-marker")
        assert start_marker != end_marker
        assert "checkpoint 1 (step 0)" in page.locator(".plw-sol-title").inner_text()
        assert page.evaluate(CANVAS_STATS_JS, ".plw-solution")["hash"] != sol_end["hash"]
        screenshot(page, "static_replay_start", ".plw-root")
        # play: the marker moves frame by frame and the position goes back to the model
        page.evaluate("""() => { window.frames_ = []; document.querySelector('.plw-root')
            .addEventListener('plw-frame', (e) => window.frames_.push(e.detail.p)); }""")
        page.click("button[data-action=play]")
        # a few replay frames later (the whole replay takes 4 s or more), the position has reached the model
        page.wait_for_function("window.frames_.length > 10 && window.model.get('trajectory_step') > 0", timeout=10_000)
        mid_marker = page.locator(".plw-panel").first.get_attribute("data-marker")
        step = page.evaluate("window.model.get('trajectory_step')")
        assert 0 < step < T - 1 and mid_marker not in (start_marker, end_marker)
        positions = page.evaluate("window.frames_")
        assert len(positions) > 10 and positions == sorted(positions)
        page.click("button[data-action=play]")  # pause
        paused = page.evaluate("window.model.get('trajectory_step')")
        frames = replay_frames(page)
        animation_frames(page, 10)  # a playing replay would have drawn about 10 more frames
        assert page.evaluate("window.model.get('trajectory_step')") == paused and replay_frames(page) == frames
        # the scrubber, by keyboard
        page.focus("input[data-trait=trajectory_step]")
        page.keyboard.press("End")
        animation_frames(page)
        assert page.evaluate("window.model.get('trajectory_step')") == T - 1
        assert page.locator(".plw-panel").first.get_attribute("data-marker") == end_marker
        assert page.errors == []


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_save_png_button_and_python_request_give_a_2x_picture(tmp_path, widgets):
    run, w, _ = widgets
    _page(tmp_path, w)
    with serve(tmp_path) as url, browser_page() as page:
        _open(page, url)
        css = page.evaluate(
            "(() => { const r = document.querySelector('.plw-panels').getBoundingClientRect();"
            " return [Math.round(r.width), Math.round(r.height)]; })()"
        )
        with page.expect_download() as dl:
            page.click("button[data-action=save-png]")
        path = tmp_path / "saved.png"
        dl.value.save_as(path)
        data = path.read_bytes()
        assert _png_size(data) == (2 * css[0], 2 * (css[1] + 32))  # twice the view, plus the title band
        from matplotlib.image import imread

        img = imread(path)
        assert np.std(img[..., :3]) > 0.05
        # the kernel asks (w.save_png): the view answers with the PNG's bytes
        page.evaluate("window.model.receive({type: 'save_png', id: 'abc', scale: 1})")
        page.wait_for_function("window.model.sent.some(([m]) => m.type === 'png')", timeout=10_000)
        msg = page.evaluate("""(() => { const [m, b] = window.model.sent.find(([m]) => m.type === 'png');
            return {m, n: b[0].byteLength, head: Array.from(new Uint8Array(b[0]).slice(0, 24))}; })()""")
        assert msg["m"]["id"] == "abc" and (msg["m"]["width"], msg["m"]["height"]) == (css[0], css[1] + 32)
        assert _png_size(bytes(msg["head"])) == (css[0], css[1] + 32)
        assert page.errors == []


def test_a_saved_camera_opens_where_it_was_left(tmp_path, widgets):
    run, w, _ = widgets
    _page(tmp_path, w)
    sel = ".plw-canvas canvas"
    with serve(tmp_path) as url, browser_page() as page:
        _open(page, url)
        default = page.evaluate(CANVAS_THUMB_JS, sel)
        page.click("button[data-action=camera-top]")
        animation_frames(page)
        top = page.evaluate(CANVAS_THUMB_JS, sel)
        camera = page.evaluate("window.model.get('camera')")
    assert camera["position"][2] > 2 and thumb_difference(top, default) > 10
    w.camera = camera  # what a saved notebook carries
    _page(tmp_path, w)
    with serve(tmp_path) as url, browser_page() as page:
        _open(page, url)
        reopened = page.evaluate(CANVAS_THUMB_JS, sel)
        assert json.loads(page.locator(".plw-panel").first.get_attribute("data-camera")) == camera
        assert thumb_difference(reopened, top) < 1.5  # the picture it was saved with
        assert page.errors == []
    w.camera = {}


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
        _open(page, url)
        first = page.evaluate(CANVAS_STATS_JS, ".plw-canvas canvas")
        assert first["fraction"] > 0.05
        # browser-only settings still work: kept locally when the model refuses them
        with redrawn(page):
            page.select_option("select[data-trait=colormap]", "coolwarm")
        assert page.evaluate(CANVAS_STATS_JS, ".plw-canvas canvas")["hash"] != first["hash"]
        assert page.locator("select[data-trait=colormap]").input_value() == "coolwarm"
        # the replay plays from the saved solutions
        sol = page.evaluate(CANVAS_STATS_JS, ".plw-solution")
        frames = replay_frames(page)
        page.click("button[data-action=play]")
        page.wait_for_function("(n) => window.plwEvents.frames > n + 10", arg=frames, timeout=10_000)
        assert page.evaluate(CANVAS_STATS_JS, ".plw-solution")["hash"] != sol["hash"]
        page.click("button[data-action=play]")
        box = page.locator(".plw-canvas canvas").first.bounding_box()
        for fx, fy in [(0.5, 0.6), (0.5, 0.45), (0.45, 0.5)]:
            page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
            if "kernel" in page.locator(".plw-sol-title").inner_text():
                break
        assert "needs a live Python kernel" in page.locator(".plw-sol-title").inner_text()
        screenshot(page, "static_read_only_model", ".plw-root")
        assert page.errors == []


def test_every_control_has_a_name_a_focus_ring_and_the_canvas_a_description(tmp_path, widgets):
    run, w, _ = widgets
    _page(tmp_path, w)
    with serve(tmp_path) as url, browser_page() as page:
        _open(page, url)
        seen = []
        for _ in range(60):  # Tab through the widget as a keyboard user would
            page.keyboard.press("Tab")
            info = page.evaluate("""() => { const e = document.activeElement;
                if (!e || !e.closest('.plw-root')) return null;
                const id = e.id && document.querySelector('label[for="' + e.id + '"]');
                const name = e.getAttribute('aria-label') || (id && id.textContent) ||
                  (e.closest('label') && e.closest('label').textContent) || e.textContent || '';
                const cs = getComputedStyle(e);
                return {tag: e.tagName, name: name.trim(), outline: cs.outlineStyle, width: parseFloat(cs.outlineWidth),
                        key: e.dataset.trait || e.dataset.action || e.dataset.role || e.tagName}; }""")
            if info is None:
                continue
            if seen and info["key"] == seen[0]["key"]:
                break
            seen.append(info)
        keys = {s["key"] for s in seen}
        for needed in (
            "seed",
            "resolution",
            "zoom",
            "colormap",
            "direction_kind",
            "play",
            "save-png",
            "CANVAS",
            "trajectory_step",
            "camera-top",
            "add-panel",
        ):
            assert needed in keys, (needed, keys)
        for s in seen:
            assert s["name"], s  # an accessible name
            assert s["outline"] != "none" and s["width"] >= 2, s  # a visible focus ring
        desc = page.evaluate("""() => { const c = document.querySelector('.plw-canvas canvas');
            return [c.getAttribute('role'), c.getAttribute('aria-label'),
                    document.getElementById(c.getAttribute('aria-describedby')).textContent]; }""")
        assert desc[0] == "img" and "3-D surface" in desc[1]
        # the minimum it names is the grid's, computed here independently
        ds = w.datasets[0]
        k = int(np.nanargmin(ds.loss.values))
        i, j = divmod(k, ds.beta.size)
        m = re.search(r"Minimum ([-\d.e+]+) at alpha ([-\d.e+]+), beta ([-\d.e+]+?)\.\s", desc[2])
        assert m, desc[2]
        assert float(m.group(1)) == pytest.approx(float(ds.loss.values.flat[k]), rel=1e-3)
        assert float(m.group(2)) == pytest.approx(float(ds.alpha.values[i]), abs=1e-3)
        assert float(m.group(3)) == pytest.approx(float(ds.beta.values[j]), abs=1e-3)
        assert page.errors == []


def test_follows_the_jupyterlab_dark_theme(tmp_path, widgets):
    run, w, _ = widgets
    shutil.copy(BUNDLE, tmp_path / "widget.js")
    dark = PAGE.replace(
        '<div id="host" style="width:__WIDTH__px"></div>',
        '<div id="host" style="width:1000px; --jp-layout-color0: #111111; --jp-ui-font-color1: #eeeeee"></div>',
    )
    (tmp_path / "index.html").write_text(dark.replace("__STATE__", state_json(w)))
    corner = """() => { const c = document.querySelector('.plw-canvas canvas');
        const t = document.createElement('canvas'); t.width = c.width; t.height = c.height;
        const x = t.getContext('2d'); x.drawImage(c, 0, 0); return Array.from(x.getImageData(2, 2, 1, 1).data); }"""
    with serve(tmp_path) as url, browser_page() as page:
        _open(page, url)
        r, g, b, _ = page.evaluate(corner)
        assert max(r, g, b) < 40  # the scene's background is the theme's, not white
        color = page.evaluate("getComputedStyle(document.querySelector('.plw-root')).color")
        assert color == "rgb(238, 238, 238)"
        label = page.evaluate("getComputedStyle(document.querySelector('.plw-label')).color")
        assert label == "rgb(238, 238, 238)"
        screenshot(page, "static_dark_theme", ".plw-root")
        assert page.errors == []


def test_two_coordinate_solution_as_heatmaps_and_a_selector_for_the_unknown_of_a_system(tmp_path):
    import base64

    run = small_run("convection1d", dict(n_points=64, beta=10.0), "strong")
    w = plw.LandscapeWidget(run, resolution=15).wait()
    w._ensure_replays([run.formulation])
    _page(tmp_path, w)
    with serve(tmp_path) as url, browser_page() as page:
        _open(page, url)
        title = page.locator(".plw-sol-title").inner_text()
        assert title.startswith("u_theta at checkpoint") and page.locator(".plw-unknown").is_hidden()
        sol = page.evaluate(CANVAS_STATS_JS, ".plw-solution")
        assert sol["width"] > 2.5 * sol["height"] and sol["fraction"] > 0.3  # three maps side by side
        screenshot(page, "static_solution_2d", ".plw-root")
        # a system (u, v) on (x, t): what the kernel sends for a clicked point, as solution_snapshot gives it
        x, t = np.meshgrid(np.linspace(0, 1, 8), np.linspace(0, 1, 6), indexing="ij")
        u, v = np.sin(3 * x) * t, np.cos(2 * t) * x
        values = np.stack([[u, u + 0.1, -0.1 + 0 * u], [v, v, 0 * v]]).astype(np.float32)
        payload = {
            "dims": ["x", "t"],
            "coords": {"x": [0.0, 1.0, 8], "t": [0.0, 1.0, 6]},
            "unknowns": ["u", "v"],
            "has_exact": True,
            "title": "u at alpha 0.1, beta 0.2 (rel. L2 error 0.05)",
            "values": base64.b64encode(values.tobytes()).decode(),
        }
        page.evaluate("(p) => window.model.set('solution', p)", payload)
        animation_frames(page)
        assert page.locator(".plw-unknown").is_visible()
        assert page.locator(".plw-unknown option").all_inner_texts() == ["u", "v"]
        first = page.evaluate(CANVAS_STATS_JS, ".plw-solution")
        page.select_option(".plw-unknown", "v")
        animation_frames(page)
        second = page.evaluate(CANVAS_STATS_JS, ".plw-solution")
        assert second["hash"] != first["hash"]
        assert "v_theta" in page.locator(".plw-solution").get_attribute("aria-label")
        screenshot(page, "static_system_unknown_v", ".plw-solution-box")
        assert page.errors == []
