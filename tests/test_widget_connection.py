"""The connecting curve on the surface: LandscapeWidget.show_connection(plw.connect(a, b)) draws a panel
whose plane holds the trained Bezier curve, with the curve and the segment as lines on the surface."""

import numpy as np
import pytest

import pinn_landscape_widget as plw

from .browser import browser_page, open_offline, screenshot


def _run(seed):
    return plw.train(
        "poisson1d",
        "strong",
        width=8,
        depth=1,
        steps=(80, 0),
        record_every=20,
        seed=seed,
        progress=False,
        coefficients=dict(boundary="penalty", n_points=64),
    )


@pytest.fixture(scope="module")
def runs():
    return {"a": _run(0), "b": _run(1), "c": _run(2)}


@pytest.fixture(scope="module")
def connection(runs):
    return plw.connect(runs["a"], runs["b"], steps=60, n_points=17)


@pytest.fixture(scope="module")
def widget(runs, connection):
    w = plw.LandscapeWidget(runs, panels=["a"], resolution=15, diagnostics=False).wait()
    w.show_connection(connection).result(timeout=120)
    return w.wait()


def _table(raw):
    return np.frombuffer(raw, dtype=np.float32).reshape(-1, 5).astype(np.float64)


def test_curve_panel_polylines_lie_on_the_plane_at_connects_losses(widget, connection):
    assert [p["direction_kind"] for p in widget.panels] == ["random", "curve"]
    assert widget.panels[1]["run"] == "a"
    shown = widget.panel_data[1]
    assert shown["status"] == "done"
    assert "barrier curve" in shown["title"]
    conn = shown["connection"]
    curve, line = _table(conn["curve"]), _table(conn["line"])
    t = connection.t.values
    # the plane's coordinates of the curve give back the Bezier points computed from connect's own vectors
    ds = widget.datasets[1]
    origin = ds.center.values.astype(np.float64)
    D = ds.directions.values.astype(np.float64)
    w1, w2 = connection.endpoint_a.values, connection.endpoint_b.values
    theta = connection.control_point.values
    bezier = ((1 - t) ** 2)[:, None] * w1 + (2 * t * (1 - t))[:, None] * theta + (t**2)[:, None] * w2
    on_plane = origin + curve[:, :2] @ D
    np.testing.assert_allclose(on_plane, bezier, atol=1e-5 * np.abs(bezier).max())
    segment = (1 - t)[:, None] * w1 + t[:, None] * w2
    np.testing.assert_allclose(origin + line[:, :2] @ D, segment, atol=1e-5 * np.abs(segment).max())
    np.testing.assert_allclose(curve[:, 4], t, atol=1e-7)
    # their losses are connect's (an independent evaluation along the same t)
    np.testing.assert_allclose(curve[:, 2], connection.loss_curve.values, rtol=1e-4)
    np.testing.assert_allclose(line[:, 2], connection.loss_line.values, rtol=1e-4)
    assert f"{connection.attrs['barrier_curve']:.3g}" in conn["caption"]


def test_connection_of_other_runs_or_not_a_connection_is_a_clear_error(runs, connection, widget):
    other = plw.connect(runs["a"], _run(3), steps=2, n_points=5)
    with pytest.raises(
        ValueError,
        match=r"connect_ds must connect two of the widget's runs \['a', 'b', 'c'\], "
        r"but its endpoint_b matches none",
    ):
        widget.show_connection(other)
    with pytest.raises(ValueError, match=r"connect_ds must be the Dataset returned by plw.connect"):
        widget.show_connection(widget.datasets[0])
    with pytest.raises(ValueError, match=r"panel must be None or an integer in \[0, 1\], got 7"):
        widget.show_connection(connection, panel=7)


def test_curve_kind_without_a_connection_says_what_to_call(runs):
    w = plw.LandscapeWidget(runs, panels=["c"], resolution=9, diagnostics=False).wait()
    w.show_connection(plw.connect(runs["a"], runs["b"], steps=20, n_points=5)).result(timeout=120)
    w.panels = [{"run": "c", "direction_kind": "curve"}]
    w.wait()
    assert "direction_kind 'curve' needs a connection of run 'c'" in w.error
    w.panels = [{"run": "a", "direction_kind": "curve", "checkpoint": 1}]
    w.wait()
    assert "plane is anchored at its connection's endpoint_a" in w.error and "got 1" in w.error


@pytest.mark.browser
def test_saved_page_draws_the_curve_on_the_surface(widget, tmp_path):
    path = widget.to_html(tmp_path / "curve.html", precompute=None)
    with browser_page(viewport=(1300, 900)) as page:
        open_offline(page, path, "window.plwSavedWidgetsDrawn === 1", 60_000)
        page.wait_for_timeout(500)
        shot = screenshot(page, "widget_connection", ".plw-panel >> nth=1")
        counts = page.evaluate(MAGENTA_JS)
        caption = page.locator(".plw-panel >> nth=1").locator(".plw-caption").text_content()
        assert page.errors == []
    assert shot.exists()
    assert "barrier curve" in caption
    assert counts[1] > 150, counts  # the curve's colour in the curve panel
    assert counts[0] == 0, counts  # and not in the other one


# pixels of the curve's colour (#ff2bd6, lit or not) in each panel's WebGL canvas
MAGENTA_JS = """() => Array.from(document.querySelectorAll('.plw-panel')).map((p) => {
  const src = p.querySelector('canvas'); const c = document.createElement('canvas');
  c.width = src.width; c.height = src.height; const ctx = c.getContext('2d'); ctx.drawImage(src, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data; let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] > 150 && d[i + 1] < 110 && d[i + 2] > 120 && d[i] - d[i + 1] > 90) n++;
  return n; })"""


@pytest.mark.browser
def test_saved_page_draws_the_curve_over_the_heatmap(widget, tmp_path):
    widget.view = "heatmap"
    try:
        path = widget.to_html(tmp_path / "curve2d.html", precompute=None)
    finally:
        widget.view = "surface"
    with browser_page(viewport=(1300, 900)) as page:
        open_offline(page, path, "window.plwSavedWidgetsDrawn === 1", 60_000)
        page.wait_for_timeout(300)
        screenshot(page, "widget_connection_heatmap", ".plw-panel >> nth=1")
        counts = page.evaluate(MAGENTA_ALL_JS)
        assert page.errors == []
    assert counts[1] > 150, counts
    assert counts[0] == 0, counts


# as MAGENTA_JS, over every canvas of each panel (the heatmap is a 2-D canvas)
MAGENTA_ALL_JS = MAGENTA_JS.replace(
    "const src = p.querySelector('canvas');", "return Array.from(p.querySelectorAll('canvas')).map((src) => {"
).replace("return n; })", "return n; }).reduce((a, b) => a + b, 0); })")
