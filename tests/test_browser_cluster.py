"""A grid whose dask tiles are still landing, drawn by the real front end in Chromium: the landed cells as a
surface, the pending ones as gaps, a note that tells them from the landscape's own NaN/inf, no error."""

import numpy as np
import pytest

import pinn_landscape_widget as plw
from pinn_landscape_widget.viz._slices import f32

from .browser import CANVAS_STATS_JS, browser_page, serve
from .conftest import small_run
from .test_browser_static import _open, _page

pytestmark = pytest.mark.browser


def _partial_state(w, landed_rows: int) -> dict:
    """The widget's state as the view receives it while tiles land: rows past ``landed_rows`` NaN (tiles are
    bands of alpha rows), ``pending`` the count of those cells, status "computing"."""
    state = w.get_state()
    slot = dict(state["panel_0"])
    grid = np.frombuffer(slot["grid"], dtype=np.float32).reshape(slot["grid_shape"]).copy()
    grid[landed_rows:] = np.nan
    slot.update(grid=f32(grid), pending=int(grid[landed_rows:].size), status="computing", non_finite=0)
    state["panel_0"] = slot
    state["panel_status"] = [{**state["panel_status"][0], "status": "computing"}]
    return state


def test_partial_grid_draws_landed_cells_and_gaps_for_pending_ones(tmp_path):
    run = small_run("poisson1d", dict(n_points=64), "strong")
    ds = plw.landscape(run, plw.random_directions(run, 2, seed=0), resolution=15, progress=False)
    w = plw.LandscapeWidget(ds)
    fractions = {}
    for landed in (15, 8, 0):
        folder = tmp_path / f"rows{landed}"
        folder.mkdir()
        _page(folder, w, state=None if landed == 15 else _partial_state(w, landed))
        with serve(folder) as url, browser_page() as page:
            _open(page, url)
            note = page.locator(".plw-note").first.inner_text()
            fractions[landed] = page.evaluate(CANVAS_STATS_JS, ".plw-canvas canvas")["fraction"]
            assert page.errors == []
        if landed == 15:
            assert "still on the cluster" not in note
        else:
            assert f"{landed * 15} of 225 points computed: the rest still on the cluster" in note
            assert "NaN/inf" not in note  # the pending cells are not the landscape's own NaN
    # half the rows draw less surface than all of them, and more than none (axes and frame only)
    assert fractions[0] < fractions[8] < fractions[15], fractions
