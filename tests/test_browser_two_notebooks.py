"""Two lecture notebooks open in one JupyterLab window, five 3-panel widgets each: 30 panels on one page.

A student runs one notebook, opens the next in a second tab and runs it, scrolls through it, then goes back
to the first: every panel on screen is drawn (pixels read), the page never holds more WebGL contexts than its
budget, and no context is lost without being restored. Real JupyterLab, real kernels, headless Chromium.
"""

from __future__ import annotations

import json

import pytest

from .browser import PANEL_STATS_JS, browser_page, jupyter_lab, notebook_url, run_all_cells, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

N_WIDGETS = 5
BUDGET = "globalThis[Symbol.for('pinn-landscape-widget.webgl-budget.v1')]"
# the notebook tab in front, and its scrolling area
ACTIVE = ".jp-NotebookPanel:not(.lm-mod-hidden)"
SCROLLER = f"{ACTIVE} .jp-WindowedPanel-outer"
# In-page: per panel of the notebook in front, whether it shows in the notebook's scrolling area (which
# ends above the status bar) and how often it was drawn.
PANELS_JS = f"""() => {{ const v = document.querySelector('{SCROLLER}').getBoundingClientRect();
  return Array.from(document.querySelectorAll('{ACTIVE} .plw-panel')).map((p) => {{
    const r = p.getBoundingClientRect();
    return {{on: r.height > 0 && r.bottom > v.top + 2 && r.top < v.bottom - 2, drawn: Number(p.dataset.drawn || 0)}};
  }}); }}"""
ALL_ON_SCREEN_DRAWN_JS = f"""(n) => {{ const ps = ({PANELS_JS})();
  return ps.length === n && ps.every((p) => !p.on || p.drawn > 0); }}"""
# In-page: the page's WebGL bookkeeping (every renderer holding a context)
GL_JS = f"() => ({BUDGET}?.holders ?? []).map((h) => h.stats())"
# In-page: pixel statistics of the panels of the notebook in front only
ACTIVE_STATS_JS = PANEL_STATS_JS.replace(
    "document.querySelectorAll('.plw-canvas canvas')", f"document.querySelectorAll('{ACTIVE} .plw-canvas canvas')"
)


def lecture(tag: str) -> dict:
    """A notebook of one cell that trains a small run and displays five 3-panel widgets of it."""
    source = [
        "import pinn_landscape_widget as plw\n",
        "from IPython.display import display\n",
        "run = plw.train('poisson1d', 'strong', width=20, depth=2, steps=(150, 20), progress=False)\n",
        "panels = [{'direction_kind': 'random'}, {'direction_kind': 'pca'}, {'direction_kind': 'random', 'checkpoint': 0}]\n",
        f"ws = [plw.LandscapeWidget(run, panels=panels, resolution=21, seed=k, title='{tag} ' + str(k)) for k in range({N_WIDGETS})]\n",
        "for w in ws:\n",
        "    display(w)\n",
    ]
    return {
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _wait_drawn(page, name: str) -> None:
    try:
        page.wait_for_function(ALL_ON_SCREEN_DRAWN_JS, arg=3 * N_WIDGETS, timeout=30_000)
    except Exception:
        screenshot(page, f"two_notebooks_{name}_not_drawn")
        raise AssertionError(f"panels on screen not drawn: {page.evaluate(PANELS_JS)}") from None


def _read_through(page, name: str) -> None:
    """Wait for every widget of the notebook in front to be shown and finish, then scroll it to the bottom and back to the
    top a screen at a time; at each stop every panel on screen must be drawn."""
    page.wait_for_selector(f"{ACTIVE} .plw-root .plw-canvas canvas", timeout=180_000)
    page.wait_for_function(
        f"""(n) => {{ const s = Array.from(document.querySelectorAll('{ACTIVE} .plw-status-text'));
            return s.length === n && s.every((e) => e.textContent.includes('done')); }}""",
        arg=N_WIDGETS,
        timeout=180_000,
    )
    _wait_drawn(page, name)
    assert any(p["on"] for p in page.evaluate(PANELS_JS))  # the top of the notebook shows a widget
    height = page.evaluate(f"document.querySelector('{SCROLLER}').scrollHeight")
    ys = list(range(0, height, 600)) + [height]
    for y in ys[1:] + ys[::-1]:
        page.evaluate(f"document.querySelector('{SCROLLER}').scrollTo(0, {y})")
        _wait_drawn(page, f"{name}_{y}")
    screenshot(page, f"two_notebooks_{name}")


def test_two_notebooks_of_five_widgets_in_one_jupyterlab_window(tmp_path):
    for tag in ("a", "b"):
        (tmp_path / f"lecture_{tag}.ipynb").write_text(json.dumps(lecture(tag)))
    with jupyter_lab(tmp_path) as url, browser_page(viewport=(1400, 1000)) as page:
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        run_all_cells(page, notebook_url(url, "lecture_a.ipynb"))
        _read_through(page, "a")

        # the second notebook in a second tab of the same window, from the file browser
        page.locator(".jp-DirListing-item", has_text="lecture_b.ipynb").first.dblclick()
        page.wait_for_selector(".lm-TabBar-tab.lm-mod-current:has-text('lecture_b.ipynb')", timeout=30_000)
        run_all_cells(page, None)
        _read_through(page, "b")
        assert len(page.query_selector_all(".plw-panel")) == 6 * N_WIDGETS  # both notebooks' panels live
        stats_b = page.evaluate(ACTIVE_STATS_JS)

        # back to the first: its panels are drawn again where they are on screen
        page.locator(".lm-TabBar-tab", has_text="lecture_a.ipynb").first.click()
        _wait_drawn(page, "a_back")
        _read_through(page, "a_again")
        stats_a = page.evaluate(ACTIVE_STATS_JS)

        # every panel of both notebooks shows a surface, and each widget its own (random directions by seed)
        for stats in (stats_a, stats_b):
            assert len(stats) == 3 * N_WIDGETS
            assert all(s["fraction"] > 0.05 for s in stats), [round(s["fraction"], 3) for s in stats]
            seeded = [stats[3 * k + j]["hash"] for k in range(N_WIDGETS) for j in (0, 2)]
            assert len(set(seeded)) == len(seeded)
        # one page, one budget of contexts: 30 panels never hold more than the budget's 8 contexts
        gl = page.evaluate(GL_JS)
        assert 1 <= len(gl) <= 8 and all(h["status"] == "ready" for h in gl), gl
        lost = [m for m in console if "too many active webgl" in m.lower() or "context lost" in m.lower()]
        assert not lost, lost
