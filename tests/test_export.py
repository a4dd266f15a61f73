"""Static output: self-contained HTML (no network, precomputed slices switch, strings escaped), the PNG
fallback in the display bundle, matplotlib plots, and the demo command."""

import io
import json
import subprocess
import sys

import numpy as np
import pytest

import pinn_landscape_widget as plw

from .browser import CANVAS_STATS_JS, PANEL_STATS_JS, animation_frames, browser_page, open_offline, redrawn, screenshot
from .conftest import small_run


@pytest.fixture(scope="module")
def runs():
    return {
        "strong": small_run("poisson1d", dict(n_points=64), "strong", steps=60),
        "deep_ritz": small_run("poisson1d", dict(n_points=64), "deep_ritz", steps=60),
    }


def _open_offline(page, path):
    return open_offline(page, path, "window.plwSavedWidgetsDrawn === 1", 30_000)


@pytest.mark.browser
def test_self_contained_html_draws_offline_switches_slices_replays_and_keeps_the_camera(runs, tmp_path):
    w = plw.LandscapeWidget(runs, resolution=21).wait()
    camera = {"position": [2.1, 1.6, 2.4], "target": [0.0, 0.0, 0.46]}
    w.camera = camera
    path = w.to_html(tmp_path / "landscape.html")
    size = path.stat().st_size
    assert size < 3_000_000, size
    with browser_page(viewport=(1300, 900)) as page:
        requests = _open_offline(page, path)
        assert all(u.startswith(("file:", "data:", "blob:")) for u in requests), requests
        first = page.evaluate(PANEL_STATS_JS)
        assert len(first) == 2 and all(s["fraction"] > 0.03 for s in first)
        # it opens where the author left the camera, in both (linked) panels
        for k in range(2):
            assert json.loads(page.locator(".plw-panel").nth(k).get_attribute("data-camera")) == camera
        screenshot(page, "export_random", ".plw-root")
        # the selected panel (the first) switches to a precomputed slice; the second stays
        with redrawn(page):
            page.select_option("select[data-trait=direction_kind]", "pca")
        second = page.evaluate(PANEL_STATS_JS)
        assert second[0]["hash"] != first[0]["hash"] and second[0]["fraction"] > 0.03
        assert second[1]["hash"] == first[1]["hash"]
        assert "pca directions" in page.locator(".plw-caption").first.inner_text()
        with redrawn(page):
            page.select_option("select[data-trait=formulation]", "deep_ritz")
        assert "deep_ritz loss" in page.locator(".plw-caption").first.inner_text()
        screenshot(page, "export_pca_ritz", ".plw-root")
        # the replay runs from the saved solutions, with no kernel
        sol = page.evaluate(CANVAS_STATS_JS, ".plw-solution")
        marker = page.locator(".plw-panel").first.get_attribute("data-marker")
        page.focus("input[data-trait=trajectory_step]")
        page.keyboard.press("Home")
        animation_frames(page)
        assert page.evaluate(CANVAS_STATS_JS, ".plw-solution")["hash"] != sol["hash"]
        assert page.locator(".plw-panel").first.get_attribute("data-marker") != marker
        assert "checkpoint 1 (step 0)" in page.locator(".plw-sol-title").inner_text()
        # panels can be added and removed offline (their numbers are on the page)
        with redrawn(page):
            page.click("button[data-action=add-panel]")
        assert page.evaluate(PANEL_STATS_JS)[2]["fraction"] > 0.03
        with redrawn(page):
            page.locator(".plw-panel button[data-action=remove-panel]").nth(2).click()
        assert page.locator(".plw-panel").count() == 2
        # what would need a kernel is disabled
        assert page.locator("input[data-trait=seed]").is_disabled()
        assert page.locator("input[data-trait=resolution]").is_disabled()
        assert page.errors == []


@pytest.mark.browser
def test_user_strings_stay_text_in_the_html(tmp_path):
    evil = "</script><script>alert(1)</script>"
    run = small_run("poisson1d", dict(n_points=64), "strong", steps=60)
    w = plw.LandscapeWidget({evil: run}, resolution=9).wait()
    path = w.to_html(tmp_path / "x.html", title=evil, precompute=("direction_kind",))
    text = path.read_text()
    assert "<script>alert(1)" not in text
    with browser_page() as page:
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        _open_offline(page, path)
        assert dialogs == []
        assert page.locator(".plw-page-title").inner_text() == evil
        assert page.locator(".plw-caption").first.inner_text().startswith("poisson1d")
        assert page.title() == evil


def test_display_bundle_carries_a_real_png(runs):
    from matplotlib.image import imread

    w = plw.LandscapeWidget(runs["strong"], resolution=11).wait()
    data, _ = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    png = data["image/png"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    img = imread(io.BytesIO(png))
    assert img.shape[0] > 100 and img.shape[1] > 200
    assert np.std(img[..., :3]) > 0.05  # a picture, not a blank


def test_plot_draws_contours_surface_and_1d(runs):
    import matplotlib

    matplotlib.use("Agg")
    run = runs["deep_ritz"]
    ds = plw.landscape(run, plw.pca_directions(run), resolution=9, progress=False)
    fig = plw.plot(ds)
    assert len(fig.axes) >= 3  # contours, colorbar, surface
    assert "E - E*" in fig.axes[1].get_ylabel() or "E*" in fig.axes[1].get_ylabel()
    ds1 = plw.landscape(run, plw.interpolation_direction(run.init_params, run.params), resolution=9, progress=False)
    fig1 = plw.plot(ds1, z_scale="linear")
    line = fig1.axes[0].lines[0]
    np.testing.assert_allclose(
        line.get_ydata(), ds1.loss.values.astype(np.float64) - ds1.attrs["energy_reference"], rtol=1e-12
    )


def _filled(fig):
    """The filled contours of a landscape figure: its ContourSet (its zmin/zmax are the drawn values' range)."""
    from matplotlib.contour import ContourSet

    return next(c for ax in fig.axes for c in ax.collections if isinstance(c, ContourSet) and c.filled)


def test_plot_z_scale_and_colormap_and_their_old_names(runs):
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    ds = plw.landscape(runs["strong"], resolution=7, progress=False)
    loss = ds.loss.values.astype(np.float64)
    lin = _filled(plw.plot(ds, z_scale="linear", colormap="magma"))
    assert (lin.zmin, lin.zmax) == pytest.approx((loss.min(), loss.max()), rel=1e-12)
    assert lin.cmap.name == "magma"
    log = _filled(plw.plot(ds))  # the defaults: log10 of the loss, viridis
    assert (log.zmin, log.zmax) == pytest.approx((np.log10(loss.min()), np.log10(loss.max())), rel=1e-12)
    assert log.cmap.name == "viridis"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = _filled(plw.plot(ds, log=False, cmap="magma"))
    messages = sorted(str(w.message) for w in caught if w.category is FutureWarning)
    assert len(messages) == 2
    assert "plot(cmap=...) is deprecated" in messages[0] and "use colormap= instead" in messages[0]
    assert "plot(log=...) is deprecated" in messages[1] and "use z_scale= instead" in messages[1]
    np.testing.assert_array_equal(old.levels, lin.levels)
    assert (old.zmin, old.zmax, old.cmap.name) == (lin.zmin, lin.zmax, "magma")
    with pytest.warns(FutureWarning, match=r"use z_scale= instead"):
        np.testing.assert_array_equal(_filled(plw.plot(ds, log=True)).levels, log.levels)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(z_scale="sqrt"), ValueError, r"z_scale must be one of \['linear', 'log'\], got 'sqrt'"),
        (
            dict(colormap="no-such-map"),
            ValueError,
            r"colormap must be one of the widget's \['viridis', 'cividis', 'magma', 'coolwarm', 'gray'\] or another "
            r"matplotlib colormap name, got 'no-such-map'",
        ),
        (dict(log="yes"), ValueError, r"log must be True or False .* got 'yes'"),
        (dict(log=True, z_scale="log"), TypeError, r"plot\(\) got both log= \(the old name\) and z_scale="),
        (dict(contour_levels=1), ValueError, r"contour_levels must be an integer in \[2, inf\], got 1"),
        (dict(camera={"position": [1, 2, 3]}), ValueError, r"camera must have exactly the keys"),
        (dict(var="nope"), ValueError, r"var must name a variable over the slice's grid, one of \['loss'"),
    ],
)
@pytest.mark.filterwarnings("ignore:plot\\(log=:FutureWarning")
def test_plot_bad_arguments_name_the_argument_and_what_is_allowed(runs, kwargs, error, match):
    ds = plw.landscape(runs["strong"], resolution=5, progress=False)
    with pytest.raises(error, match=match):
        plw.plot(ds, **kwargs)


def test_plot_draws_any_matplotlib_colormap_not_only_the_widgets(runs):
    """A static plot may use matplotlib's other maps (the widget cannot): the filled contours use it."""
    ds = plw.landscape(runs["strong"], resolution=5, progress=False)
    assert _filled(plw.plot(ds, colormap="plasma")).cmap.name == "plasma"


def test_plot_of_something_else_is_an_error():
    with pytest.raises(
        ValueError, match=r"obj must be a landscape Dataset, a solution_snapshot Dataset or a run.* got int"
    ):
        plw.plot(5)


def test_widget_and_plot_refuse_a_look_with_the_same_words(runs):
    import traitlets

    w = plw.LandscapeWidget(runs["strong"], compute=False)
    ds = plw.landscape(runs["strong"], resolution=5, progress=False)
    with pytest.raises(traitlets.TraitError) as in_widget:
        w.z_scale = "sqrt"
    with pytest.raises(ValueError) as in_plot:
        plw.plot(ds, z_scale="sqrt")
    assert str(in_widget.value) == str(in_plot.value)
    # the widget's colormaps are a subset of the plot's (matplotlib draws any): both errors list the widget's
    with pytest.raises(traitlets.TraitError, match=r"\['viridis', 'cividis', 'magma', 'coolwarm', 'gray'\]"):
        w.colormap = "no-such-map"
    with pytest.raises(ValueError, match=r"\['viridis', 'cividis', 'magma', 'coolwarm', 'gray'\]"):
        plw.plot(ds, colormap="no-such-map")


@pytest.mark.slow
def test_demo_command_writes_html_netcdf_and_png(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pinn_landscape_widget.cli",
            "demo",
            "--out",
            str(tmp_path),
            "--steps",
            "40",
            "--resolution",
            "11",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = (
        "landscape.html",
        "myst/landscape.json",
        "poisson1d_strong.nc",
        "poisson1d_deep_ritz.nc",
        "poisson1d_strong.png",
    )
    for name in names:
        assert (tmp_path / name).exists(), name
        assert f"wrote {(tmp_path / name).resolve()}" in proc.stdout
    assert (tmp_path / "landscape.html").stat().st_size < 3_000_000


def test_state_json_for_myst_carries_grids_as_base64(runs):
    import base64
    import json

    from pinn_landscape_widget.viz.export import panels_in_state, state_json

    w = plw.LandscapeWidget(runs["strong"], resolution=9).wait()
    state = json.loads(state_json(w))
    (panel,) = panels_in_state(state)
    assert state["interactive"] is False and panel["grid_shape"] == [9, 9]
    grid = np.frombuffer(base64.b64decode(panel["grid"]), np.float32).reshape(9, 9)
    np.testing.assert_array_equal(grid, np.frombuffer(w.panel_data[0]["grid"], np.float32).reshape(9, 9))
    rep = state["replay"]["strong"]  # the replay travels too
    u = np.frombuffer(base64.b64decode(rep["u"]), np.float32)
    assert u.size == len(rep["frames"]) * 201 and rep["frames"][-1] == len(rep["steps"]) - 1
