"""The widget in a real JupyterLab with a real kernel, driven in headless Chromium.

Starts `jupyter lab` on localhost, opens a notebook, runs it, and uses the widget as a person would:
the surface is drawn (pixels read), a resolution and a direction change make the kernel recompute and
the picture change, hover reads out numbers, a click shows the solution panel.
"""

import json
import time

import pytest

from .browser import ARTIFACTS, CANVAS_STATS_JS, browser_page, jupyter_lab, run_all_cells, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": [
                "import pinn_landscape_widget as plw\n",
                "run = plw.train('poisson1d', 'strong', width=20, depth=2, steps=(150, 20), progress=False)\n",
                "w = plw.LandscapeWidget(run, resolution=21)\n",
                "w",
            ],
        },
    ],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    (root / "landscape.ipynb").write_text(json.dumps(NOTEBOOK))
    with jupyter_lab(root) as url:
        yield url


def _wait_for_new_picture(page, old_hash, expect="", timeout=90):
    """Wait until the full result (not the preview) is drawn and the picture differs from old_hash."""
    deadline = time.time() + timeout
    status = ""
    while time.time() < deadline:
        page.wait_for_timeout(250)
        status = page.locator(".plw-status-text").inner_text()
        if "done in" not in status or expect not in status:
            continue
        page.wait_for_timeout(200)  # let the frame with the final grid render
        stats = page.evaluate(CANVAS_STATS_JS, ".plw-canvas canvas")
        if stats["hash"] != old_hash and page.locator(".plw-status-text").inner_text() == status:
            return stats
    raise AssertionError(f"the picture did not change; status: {status!r}")


def test_widget_in_jupyterlab_recomputes_on_demand(lab):
    with browser_page(viewport=(1300, 950)) as page:
        run_all_cells(page, f"{lab}/lab/tree/landscape.ipynb")
        try:
            page.wait_for_selector(".plw-root .plw-canvas canvas", timeout=90_000)
        except Exception:
            # on a loaded machine a first run can stall in JupyterLab itself (seen once in ~10 CI runs);
            # keep the evidence, then do what a person would: run the notebook again
            screenshot(page, "lab_no_widget_first_try")
            (ARTIFACTS / "lab_no_widget_first_try.txt").write_text("\n".join(page.errors))
            run_all_cells(page, f"{lab}/lab/tree/landscape.ipynb")
            page.wait_for_selector(".plw-root .plw-canvas canvas", timeout=120_000)
        page.wait_for_function(
            "document.querySelector('.plw-status-text')?.textContent.includes('done')", timeout=120_000
        )
        first = {"fraction": 0}
        for _ in range(40):  # the first frame follows the layout of the output area
            page.wait_for_timeout(250)
            first = page.evaluate(CANVAS_STATS_JS, ".plw-canvas canvas")
            if first["fraction"] > 0.05:
                break
        if first["fraction"] <= 0.05:
            screenshot(page, "lab_blank_failure")
        assert first["fraction"] > 0.05, first
        screenshot(page, "lab_initial", ".plw-root")

        # resolution from the UI -> the kernel recomputes -> a new picture
        page.evaluate("""() => { const r = document.querySelector('input[data-trait=resolution]');
            r.value = '41'; r.dispatchEvent(new Event('change')); }""")
        second = _wait_for_new_picture(page, first["hash"], "random directions")
        screenshot(page, "lab_resolution_41", ".plw-root")

        # direction kind from the UI -> PCA plane with the training trajectory
        page.select_option("select[data-trait=direction_kind]", "pca")
        third = _wait_for_new_picture(page, second["hash"], "pca directions")
        screenshot(page, "lab_pca", ".plw-root")

        # hover: numbers; click: the solution panel, computed by the kernel
        box = page.locator(".plw-canvas canvas").first.bounding_box()
        for fx, fy in [(0.5, 0.45), (0.45, 0.5), (0.55, 0.4), (0.5, 0.55), (0.4, 0.45)]:
            x, y = box["x"] + box["width"] * fx, box["y"] + box["height"] * fy
            page.mouse.move(x, y)
            page.wait_for_timeout(150)
            if page.locator(".plw-tip").first.is_visible():
                break
        assert "alpha" in page.locator(".plw-tip").first.inner_text()
        assert "rel. L2 error" in page.locator(".plw-tip").first.inner_text()
        page.mouse.click(x, y)
        page.wait_for_function(
            "document.querySelector('.plw-sol-title').textContent.includes('rel. L2 error')", timeout=60_000
        )
        sol = page.evaluate(CANVAS_STATS_JS, ".plw-solution")
        assert sol["fraction"] > 0.01
        screenshot(page, "lab_solution", ".plw-root")
        assert third["fraction"] > 0.05
        real_errors = [e for e in page.errors if "favicon" not in e and "404" not in e]
        assert not [e for e in real_errors if "plw" in e or "widget" in e.lower()], real_errors
