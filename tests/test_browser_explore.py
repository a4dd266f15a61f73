"""``plw.explore`` in a real JupyterLab: a surface is on screen before the training ends, and the trained runs'
landscapes replace it when it does.

The order is read from the page alone: the widget's title says the runs are training in the background until
the kernel has trained them all (``explore`` resets it then), and the view draws what the kernel sends in the
order it was sent. A surface drawn under that title was drawn before the training ended. No wall-clock bound
here: benchmarks/bench_explore_lab.py times it.
"""

import json

import pytest

from .browser import DRAWN_LOG_JS, PANEL_STATS_JS, browser_page, jupyter_server, notebook_url, run_all_cells

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _cell(src):
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src}


NOTEBOOK = {
    "cells": [_cell("import pinn_landscape_widget as plw"), _cell('w = plw.explore("poisson1d")\nw')],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def test_explore_draws_a_surface_before_training_ends(tmp_path):
    (tmp_path / "explore.ipynb").write_text(json.dumps(NOTEBOOK))
    with jupyter_server(tmp_path, "lab") as url, browser_page(viewport=(1300, 900)) as page:
        page.add_init_script(DRAWN_LOG_JS)
        run_all_cells(page, notebook_url(url, "explore.ipynb", "lab"))
        page.wait_for_function("window.plwLog.surface !== null", polling=200, timeout=240_000)
        first = page.evaluate("window.plwLog.surface")
        # both panels show a surface, and the title the view showed with it says the training goes on
        assert len(first["fractions"]) == 2 and min(first["fractions"]) > 0.03, first
        assert "-step runs" in first["title"] or "in the background" in first["title"], first
        early = page.evaluate(PANEL_STATS_JS)

        # then the training ends (the title goes) and the trained runs' landscapes replace the short runs'
        page.wait_for_function(
            f"""(early) => {{
                if (document.querySelector('.plw-title').textContent !== '') return false;
                if (!document.querySelector('.plw-status-text').textContent.includes('done in')) return false;
                const now = ({PANEL_STATS_JS})();
                return now.length === 2 && now.every((p, k) => p.hash !== early[k] && p.fraction > 0.03);
            }}""",
            arg=[p["hash"] for p in early],
            polling=500,
            timeout=300_000,
        )
        log = page.evaluate("window.plwLog")
        trained = next(d for d in log["drawn"] if d["title"] == "")
        assert first["t"] < trained["t"]
        assert not [e for e in page.errors if "plw" in e.lower()], page.errors
