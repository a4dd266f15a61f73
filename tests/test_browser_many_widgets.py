"""Many widgets on one page: a lecture page (``plw.notebook_to_html`` of an executed notebook) with 10 widgets
of 3 panels each, one of them displayed twice. Every panel draws, scrolled to the bottom and back, on one
WebGL context for the page; a lost context is restored or replaced and the panels on screen are drawn again;
a browser without WebGL shows the picture saved with the notebook, or heatmaps with the reason."""

from __future__ import annotations

import base64
import copy

import nbformat
import pytest

import pinn_landscape_widget as plw

from .browser import PANEL_STATS_JS, browser_page, screenshot, thumb_difference
from .conftest import small_run

N_WIDGETS = 10
PANELS = [{"direction_kind": "random"}, {"direction_kind": "pca"}, {"direction_kind": "random", "checkpoint": 0}]
COLORMAPS = ["viridis", "magma", "cividis", "coolwarm", "gray"]
VIEW = "application/vnd.jupyter.widget-view+json"
NO_PNG = 1  # the widget whose output carries no PNG (a notebook saved without matplotlib)
BUDGET = "globalThis[Symbol.for('pinn-landscape-widget.webgl-budget.v1')]"

# In-page: for every panel, whether it is on screen and how often it was drawn.
PANELS_JS = """() => Array.from(document.querySelectorAll('.plw-panel')).map((p) => {
  const r = p.getBoundingClientRect();
  return {on: r.height > 0 && r.bottom > 0 && r.top < innerHeight, drawn: Number(p.dataset.drawn || 0)}; })"""
# In-page: performance.now() once every panel on screen has drawn (all views rendered), else false.
ALL_ON_SCREEN_DRAWN_JS = f"""() => {{
  if (window.plwSavedWidgetsDrawn === undefined) return false;
  const ps = ({PANELS_JS})();
  return ps.some((p) => p.on) && ps.every((p) => !p.on || p.drawn > 0) ? performance.now() : false; }}"""
# In-page: THE page's WebGL bookkeeping: every renderer holding a context, with what it holds on the GPU.
GL_JS = f"() => ({BUDGET}?.holders ?? []).map((h) => h.stats())"
# In-page: a 32 x 32 RGB thumbnail of each panel's picture.
PANEL_THUMBS_JS = """() => Array.from(document.querySelectorAll('.plw-canvas canvas')).map((src) => {
  const c = document.createElement('canvas'); c.width = 32; c.height = 32;
  const x = c.getContext('2d'); x.drawImage(src, 0, 0, 32, 32);
  return Array.from(x.getImageData(0, 0, 32, 32).data); })"""
DISABLE_WEBGL_JS = """(() => { const get = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
    return /webgl/i.test(type) ? null : get.call(this, type, ...rest); }; })()"""


def many_widgets_notebook(n: int = N_WIDGETS, twice: int = 0) -> nbformat.NotebookNode:
    """A notebook as nbclient saves it after running ``n`` cells that each display a 3-panel widget of one
    small run (resolution 21; each widget its own seed and colormap), then one showing widget ``twice``
    again. Each output carries the widget's view and the PNG a static viewer gets (the one of widget 0:
    it stands in for the fallback picture), except widget NO_PNG's."""
    run = small_run("poisson1d", dict(n_points=64), "strong")
    widgets = []
    for k in range(n):
        w = plw.LandscapeWidget(run, panels=PANELS, resolution=21, seed=k).wait()
        w.colormap = COLORMAPS[k % len(COLORMAPS)]
        w.title = f"widget {k}"
        widgets.append(w)
    png = base64.b64encode(widgets[0]._repr_mimebundle_()[0]["image/png"]).decode()
    cells = []

    def output(w, with_png):
        data = {"text/plain": repr(w.title), VIEW: {"version_major": 2, "version_minor": 0, "model_id": w.model_id}}
        if with_png:
            data["image/png"] = png
        return nbformat.v4.new_output("display_data", data=data)

    for k, w in enumerate(widgets):
        cells.append(nbformat.v4.new_markdown_cell(f"## Widget {k}\nSome lecture text between the widgets."))
        cells.append(nbformat.v4.new_code_cell(f"w{k}", outputs=[output(w, k != NO_PNG)]))
    cells.append(nbformat.v4.new_code_cell(f"w{twice}  # again", outputs=[output(widgets[twice], True)]))
    nb = nbformat.v4.new_notebook(cells=cells)
    state = plw.LandscapeWidget.get_manager_state(widgets=widgets)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
    for w in widgets:
        w.close()
    return nb


@pytest.fixture(scope="module")
def lecture_notebook():
    return many_widgets_notebook()


@pytest.fixture(scope="module")
def lecture_page(lecture_notebook, tmp_path_factory):
    return plw.notebook_to_html(lecture_notebook, tmp_path_factory.mktemp("many") / "lecture.html")


@pytest.fixture(scope="module")
def copies_page(lecture_notebook, tmp_path_factory):
    """The lecture page with one copy of the front end per widget, as JupyterLab loads it (a module per
    widget model): each widget's ESM differs by a comment, so the page imports it ten times."""
    nb = copy.deepcopy(lecture_notebook)
    models = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    for k, m in enumerate(models.values()):
        m["state"]["_esm"] += f"\n// copy {k}\n"
    return plw.notebook_to_html(nb, tmp_path_factory.mktemp("copies") / "lecture.html")


def _open(page, path, ready_js=ALL_ON_SCREEN_DRAWN_JS, timeout_ms=60_000):
    """Open the page from disk with the network refused (nbconvert's CDN scripts fail, as offline), collect
    every console message in page.console, and wait for ``ready_js``; returns its value."""
    page.console = []
    page.on("console", lambda m: page.console.append(f"{m.type}: {m.text}"))
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:", "blob:")) else r.abort())
    page.goto(path.as_uri())
    return page.wait_for_function(ready_js, timeout=timeout_ms).json_value()


def _wait_on_screen_drawn(page, before=None, timeout_ms=30_000):
    """Wait until every panel on screen has drawn (since ``before``: a list of draw counts, when given)."""
    if before is None:
        page.wait_for_function(ALL_ON_SCREEN_DRAWN_JS, timeout=timeout_ms)
        return
    page.wait_for_function(
        f"""(before) => ({PANELS_JS})().every((p, k) => !p.on || p.drawn > before[k])""",
        arg=before,
        timeout=timeout_ms,
    )


def _webgl_messages(console):
    """Console lines about WebGL contexts (too many, lost, restored, replaced)."""
    words = ("too many active webgl", "context lost", "context restored", "webgl context", "context_lost")
    return [m for m in console if any(w in m.lower() for w in words)]


@pytest.mark.browser
def test_ten_widgets_of_three_panels_draw_on_one_context_scrolled_down_and_back(lecture_page):
    with browser_page(viewport=(1200, 800)) as page:
        tti_ms = _open(page, lecture_page)
        panels = page.evaluate(PANELS_JS)
        assert len(panels) == 3 * (N_WIDGETS + 1), len(panels)  # widget 0 twice
        on_screen = sum(p["on"] for p in panels)
        # time to interactive: from navigation to every panel on screen drawn (target 3 s on the reference)
        print(f"\ntime to interactive: {tti_ms:.0f} ms ({on_screen} panels on screen)")
        assert tti_ms < 6_000, tti_ms  # headroom for a loaded 2-core test machine

        # read the page as a student would: one screen at a time to the bottom, then back to the top
        height = page.evaluate("document.documentElement.scrollHeight")
        ys = list(range(0, height, 700)) + [height]
        most = 0  # the most geometries the GPU held at once, and the panels on screen then
        for y in ys[1:] + ys[::-1]:
            page.evaluate(f"window.scrollTo(0, {y})")
            _wait_on_screen_drawn(page)
            held = page.evaluate(GL_JS)[0]["geometries"]
            if held > most:
                most, near = held, sum(p["on"] for p in page.evaluate(PANELS_JS))
            if y == height:
                screenshot(page, "many_widgets_bottom")
        screenshot(page, "many_widgets_top")
        assert all(p["drawn"] > 0 for p in page.evaluate(PANELS_JS))

        # every panel shows its surface (the pictures stay in the panels' own canvases off screen)
        stats = page.evaluate(PANEL_STATS_JS)
        assert all(s["fraction"] > 0.05 for s in stats), [round(s["fraction"], 3) for s in stats]
        # each widget its own pictures: no panel shows another's. Random directions depend on the seed, so
        # those panels all differ; the pca plane does not, so those panels differ exactly by colormap
        seeded = [stats[3 * k + j]["hash"] for k in range(N_WIDGETS) for j in (0, 2)]
        assert len(set(seeded)) == len(seeded)
        pca = [stats[3 * k + 1]["hash"] for k in range(N_WIDGETS)]
        for a in range(N_WIDGETS):
            for b in range(a):
                assert (pca[a] == pca[b]) == (COLORMAPS[a % 5] == COLORMAPS[b % 5]), (a, b)
        # the widget displayed twice draws twice, the same pictures
        thumbs = page.evaluate(PANEL_THUMBS_JS)
        for k in range(3):
            assert thumb_difference(thumbs[k], thumbs[30 + k]) < 2, thumb_difference(thumbs[k], thumbs[30 + k])

        # one context for the whole page, and the GPU holds the geometry of the panels near the screen only
        gl = page.evaluate(GL_JS)
        assert len(gl) == 1 and gl[0]["made"] == 1 and gl[0]["status"] == "ready", gl
        print(f"GPU: {gl[0]}; at most {most} geometries held at once ({near} panels on screen then)")
        assert 0 < most <= 8 * 12, (most, near)  # ~8 a panel: all 33 panels' would be ~260
        heap = page.evaluate("() => performance.memory?.usedJSHeapSize ?? 0")
        pixels = page.evaluate(
            "() => Array.from(document.querySelectorAll('canvas')).reduce((n, c) => n + c.width * c.height, 0)"
        )
        print(f"JS heap {heap / 2**20:.0f} MiB; canvases {pixels * 4 / 2**20:.0f} MiB of pixels")
        assert not _webgl_messages(page.console), _webgl_messages(page.console)
        assert not [e for e in page.errors if "ERR_" not in e and "Failed to load resource" not in e], page.errors
    # the exporter kept the PNG beside each view of ours that had one: all widgets but one, and the repeat
    assert lecture_page.read_text().count('"plw_saved_png"') == N_WIDGETS


@pytest.mark.browser
def test_two_views_of_one_model_change_together_and_cameras_still_turn(lecture_page):
    with browser_page(viewport=(1200, 800)) as page:
        _open(page, lecture_page)
        first = page.evaluate(PANEL_STATS_JS)
        views = page.locator(".plw-root")
        last = views.nth(N_WIDGETS)  # the second view of widget 0, at the bottom of the page
        last.scroll_into_view_if_needed()
        _wait_on_screen_drawn(page)
        drawn = [p["drawn"] for p in page.evaluate(PANELS_JS)]
        last.locator("select[data-trait=colormap]").select_option("magma")
        _wait_on_screen_drawn(page, drawn)
        recoloured = page.evaluate(PANEL_STATS_JS)
        assert all(recoloured[k]["hash"] != first[k]["hash"] for k in (30, 31, 32))

        # orbit the second view's first panel: its panels turn together and are drawn afresh
        box = last.locator(".plw-canvas canvas").first.bounding_box()
        drawn = [p["drawn"] for p in page.evaluate(PANELS_JS)]
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.45, steps=6)
        page.mouse.up()
        _wait_on_screen_drawn(page, drawn)
        turned = page.evaluate(PANEL_STATS_JS)
        assert all(turned[k]["hash"] != recoloured[k]["hash"] and turned[k]["fraction"] > 0.05 for k in (30, 31, 32))
        screenshot(page, "many_widgets_second_view", ".plw-root >> nth=10")

        # the first view, off screen meanwhile, shows the same once scrolled to: one model, one camera (saved to
        # the model when the orbit ends)
        drawn = [p["drawn"] for p in page.evaluate(PANELS_JS)]
        views.nth(0).scroll_into_view_if_needed()
        page.wait_for_function(
            """(d) => { const ps = document.querySelectorAll('.plw-panel');
                return [0, 1, 2].every((k) => ps[k].dataset.drawn > d[k] && ps[k].dataset.camera === ps[30].dataset.camera); }""",
            arg=drawn,
            timeout=10_000,
        )
        assert views.nth(0).locator("select[data-trait=colormap]").input_value() == "magma"
        thumbs = page.evaluate(PANEL_THUMBS_JS)
        for k in range(3):
            assert thumb_difference(thumbs[k], thumbs[30 + k]) < 2, thumb_difference(thumbs[k], thumbs[30 + k])
        assert page.evaluate(PANEL_STATS_JS)[0]["hash"] != first[0]["hash"]
        assert not _webgl_messages(page.console), _webgl_messages(page.console)


@pytest.mark.browser
def test_a_lost_context_is_restored_or_replaced_and_the_panels_on_screen_drawn_again(lecture_page):
    with browser_page(viewport=(1200, 800)) as page:
        _open(page, lecture_page)
        lose = f"() => {BUDGET}.holders[0].canvas.getContext('webgl2').getExtension('WEBGL_lose_context')"
        # lost, then given back by the browser: the panels on screen are drawn again
        drawn = [p["drawn"] for p in page.evaluate(PANELS_JS)]
        page.evaluate(f"() => {{ window.__ext = ({lose})(); window.__ext.loseContext(); }}")
        page.wait_for_function(f"() => {BUDGET}.holders[0].status === 'lost'")
        page.evaluate("() => window.__ext.restoreContext()")
        _wait_on_screen_drawn(page, drawn)
        stats = page.evaluate(PANEL_STATS_JS)
        on = [k for k, p in enumerate(page.evaluate(PANELS_JS)) if p["on"]]
        assert on and all(stats[k]["fraction"] > 0.05 for k in on)
        gl = page.evaluate(GL_JS)
        assert gl[0]["status"] == "ready" and gl[0]["made"] == 1, gl

        # lost and never given back: after a wait a new context is made, and the panels are drawn again
        drawn = [p["drawn"] for p in page.evaluate(PANELS_JS)]
        page.evaluate(f"() => ({lose})().loseContext()")
        _wait_on_screen_drawn(page, drawn, timeout_ms=15_000)
        stats = page.evaluate(PANEL_STATS_JS)
        assert all(stats[k]["fraction"] > 0.05 for k in on)
        gl = page.evaluate(GL_JS)
        assert len(gl) == 1 and gl[0]["status"] == "ready" and gl[0]["made"] == 2, gl
        # every loss was answered: restored, then replaced
        said = _webgl_messages(page.console)
        assert sum("Context Lost" in m for m in said) == 2, said
        assert sum("Context Restored" in m for m in said) == 1, said
        assert sum("was replaced" in m for m in said) == 1, said
        assert not any("Too many active WebGL" in m for m in said), said


@pytest.mark.browser
def test_without_webgl_the_saved_picture_or_heatmaps_with_the_reason(lecture_page):
    with browser_page(viewport=(1200, 800)) as page:
        page.add_init_script(DISABLE_WEBGL_JS)
        _open(page, lecture_page, "() => document.querySelector('.plw-saved-picture img')?.complete === true")
        # widget 0 carries the notebook's PNG: shown instead of its panels, with the reason in one line
        root = page.locator(".plw-root").nth(0)
        img = root.locator(".plw-saved-picture img")
        assert img.evaluate("(i) => i.naturalWidth") > 300
        assert img.is_visible()
        caption = root.locator(".plw-saved-picture figcaption").inner_text()
        assert caption == "3-D view unavailable here (no WebGL 2): the picture saved with the notebook", caption
        assert root.locator(".plw-panel").evaluate_all("(ps) => ps.every((p) => p.offsetParent === null)")
        screenshot(page, "many_widgets_no_webgl_saved_png", ".plw-root >> nth=0")
        # Save PNG gives the picture shown
        with page.expect_download() as dl:
            root.locator("button[data-action=save-png]").click()
        src = img.get_attribute("src")
        assert src.startswith("data:image/png;base64,")
        with open(dl.value.path(), "rb") as f:
            assert f.read() == base64.b64decode(src.split(",", 1)[1])
        # another look is no longer what was saved: the panels come back, as heatmaps
        root.locator("select[data-trait=colormap]").select_option("gray")
        page.wait_for_function(
            """() => { const r = document.querySelectorAll('.plw-root')[0];
                return !r.querySelector('.plw-saved-picture') &&
                    Array.from(r.querySelectorAll('.plw-panel')).every((p) => Number(p.dataset.drawn) > 0); }"""
        )
        assert root.locator(".plw-note").all_inner_texts() == ["no WebGL 2: heatmap instead of 3-D"] * 3
        assert all(s["fraction"] > 0.3 for s in page.evaluate(PANEL_STATS_JS)[:3])

        # widget NO_PNG has none: its panels draw heatmaps, each saying why in one line
        other = page.locator(".plw-root").nth(NO_PNG)
        other.scroll_into_view_if_needed()
        page.wait_for_function(
            f"""() => Array.from(document.querySelectorAll('.plw-root')[{NO_PNG}].querySelectorAll('.plw-panel'))
                .every((p) => Number(p.dataset.drawn) > 0)"""
        )
        assert other.locator(".plw-saved-picture").count() == 0
        notes = other.locator(".plw-note").all_inner_texts()
        assert notes == ["no WebGL 2: heatmap instead of 3-D"] * 3, notes
        # in one line: the note is no taller than one line of its text
        heights = other.locator(".plw-note").evaluate_all(
            "(ns) => ns.map((n) => n.getBoundingClientRect().height / parseFloat(getComputedStyle(n).lineHeight))"
        )
        assert all(h < 1.5 for h in heights), heights
        stats = page.evaluate(PANEL_STATS_JS)
        assert all(stats[3 * NO_PNG + k]["fraction"] > 0.3 for k in range(3)), stats[3 * NO_PNG : 3 * NO_PNG + 3]
        screenshot(page, "many_widgets_no_webgl_heatmaps", f".plw-root >> nth={NO_PNG}")
        assert not [e for e in page.errors if "ERR_" not in e and "Failed to load resource" not in e], page.errors


@pytest.mark.browser
def test_ten_copies_of_the_front_end_share_a_budget_of_contexts(copies_page):
    with browser_page(viewport=(1200, 800)) as page:
        tti_ms = _open(page, copies_page)
        print(f"\ntime to interactive, ten copies of the front end: {tti_ms:.0f} ms")
        height = page.evaluate("document.documentElement.scrollHeight")
        ys = list(range(0, height, 700)) + [height]
        held = []
        for y in ys[1:] + ys[::-1]:
            page.evaluate(f"window.scrollTo(0, {y})")
            _wait_on_screen_drawn(page)
            held.append(len(page.evaluate(GL_JS)))
        # every copy that drew made a context, but never more than the budget were held at once
        budget = page.evaluate(f"() => {BUDGET}.limit")
        assert max(held) == budget < 16, held
        stats = page.evaluate(PANEL_STATS_JS)
        assert len(stats) == 33 and all(s["fraction"] > 0.05 for s in stats), [round(s["fraction"], 3) for s in stats]

        # the first widget's copy gave its context back on the way down; turning its camera makes a new one
        drawn = [p["drawn"] for p in page.evaluate(PANELS_JS)]
        box = page.locator(".plw-canvas canvas").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.45, steps=4)
        page.mouse.up()
        _wait_on_screen_drawn(page, drawn)
        turned = page.evaluate(PANEL_STATS_JS)
        assert all(turned[k]["hash"] != stats[k]["hash"] and turned[k]["fraction"] > 0.05 for k in range(3))
        assert len(page.evaluate(GL_JS)) == budget
        said = _webgl_messages(page.console)
        assert not any("Too many active WebGL" in m or "Context Lost" in m for m in said), said


def test_the_exporter_keeps_the_saved_png_in_each_landscape_view_only():
    from pinn_landscape_widget.viz.nbconvert import with_saved_pictures

    outputs = [
        nbformat.v4.new_output("display_data", data={VIEW: {"model_id": m}, "image/png": "iVBORw0KGgo=\n"})
        for m in ("ours", "slider", "ours_saved_earlier")
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("w", outputs=outputs)])
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {
                "ours": {"state": {"panel_status": [], "panel_0": {}}},
                "slider": {"state": {"value": 3}},
                "ours_saved_earlier": {"state": {"panel_data": []}},  # one list of panels, before slots
            }
        }
    }
    out = with_saved_pictures(nb).cells[0].outputs
    assert out[0].data[VIEW] == {"model_id": "ours", "plw_saved_png": "iVBORw0KGgo="}
    assert out[1].data[VIEW] == {"model_id": "slider"}  # another library's widget is left alone
    assert out[2].data[VIEW] == {"model_id": "ours_saved_earlier", "plw_saved_png": "iVBORw0KGgo="}
    assert nb.cells[0].outputs[0].data[VIEW] == {"model_id": "ours"}  # the notebook itself is not changed
