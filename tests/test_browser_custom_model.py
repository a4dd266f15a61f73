"""A run from your own module and loss (``plw.from_model``) in the widget, in a real JupyterLab and Chromium.

The notebook trains a SiLU network (not an MLP the engine recognises: the generic torch path) with two
hand-written autograd losses in its own Adam loop with a Recorder. The test checks what a user of such a run
sees: the loss selector lists the user's own loss names, the surface is drawn, switching the loss recomputes
it, and a click on the surface shows the model's output at that point beside the exact solution, with the
number the kernel computed for that same point.
"""

import json

import pytest

from .browser import (
    ARTIFACTS,
    PANEL_STATS_JS,
    animation_frames,
    browser_page,
    jupyter_server,
    notebook_url,
    run_all_cells,
    screenshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SOURCE = """\
import math, torch
import pinn_landscape_widget as plw

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.SiLU(), torch.nn.Linear(16, 16), torch.nn.SiLU(),
                            torch.nn.Linear(16, 1))
x = torch.linspace(0, 1, 64)[:, None].requires_grad_(True)
ends = torch.tensor([[0.0], [1.0]])

def strong(m):
    u = m(x)
    ux = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    uxx = torch.autograd.grad(ux.sum(), x, create_graph=True)[0]
    return {"residual": ((uxx + math.pi**2 * torch.sin(math.pi * x)) ** 2).mean(), "boundary": (m(ends) ** 2).mean()}

def energy(m):
    u = m(x)
    ux = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    e = (0.5 * ux**2 - math.pi**2 * torch.sin(math.pi * x) * u).mean()
    return {"energy": e, "boundary": 100 * (m(ends) ** 2).mean()}

rec = plw.Recorder(model, every=5)
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(200):
    opt.zero_grad()
    terms = strong(model)
    loss = sum(terms.values())
    loss.backward()
    opt.step()
    rec.step(loss=loss, **terms)
run = plw.from_model(model, {"my_strong": strong, "my_energy": energy}, recorder=rec,
                     points=torch.linspace(0, 1, 101)[:, None], exact=lambda x: torch.sin(math.pi * x))
w = plw.LandscapeWidget(run, resolution=15)
w
"""

PROBE = """\
import json
print("PROBE", json.dumps(dict(point=list(w.selected_point), title=w.solution.get("title", ""),
                               formulation=w.panel_settings()[0].formulation, error=w.error)))
"""


def _cell(src):
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src}


NOTEBOOK = {
    "cells": [_cell(SOURCE), _cell(PROBE)],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def _status(page):
    return page.locator(".plw-status-text").inner_text()


def test_from_model_run_in_jupyterlab(tmp_path):
    (tmp_path / "custom.ipynb").write_text(json.dumps(NOTEBOOK))
    with jupyter_server(tmp_path, "lab") as url, browser_page(viewport=(1300, 950)) as page:
        run_all_cells(page, notebook_url(url, "custom.ipynb", "lab"))
        page.wait_for_selector(".plw-root .plw-canvas canvas", timeout=180_000)
        page.wait_for_function(
            "document.querySelector('.plw-status-text')?.textContent.includes('done in')", timeout=180_000
        )
        animation_frames(page)  # the final grid comes in the same message as "done in"
        options = page.eval_on_selector_all("select[data-trait=formulation] option", "os => os.map(o => o.value)")
        assert options == ["my_strong", "my_energy"]
        first = page.evaluate(PANEL_STATS_JS)
        assert len(first) == 1 and first[0]["fraction"] > 0.03, first
        screenshot(page, "custom_model_strong", ".plw-root")

        # the user's second loss: the kernel recomputes the surface under it
        page.select_option("select[data-trait=formulation]", "my_energy")
        page.wait_for_function(
            "document.querySelector('.plw-caption')?.textContent.includes('my_energy') && "
            "document.querySelector('.plw-status-text').textContent.includes('done in')",
            timeout=120_000,
        )
        animation_frames(page)
        second = page.evaluate(PANEL_STATS_JS)
        assert second[0]["hash"] != first[0]["hash"] and second[0]["fraction"] > 0.03

        # a click on the surface: the model's output at that point beside the exact solution
        box = page.locator(".plw-canvas canvas").first.bounding_box()
        x, y = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5
        for fx, fy in [(0.5, 0.5), (0.45, 0.55), (0.55, 0.45), (0.5, 0.6), (0.4, 0.5)]:
            x, y = box["x"] + box["width"] * fx, box["y"] + box["height"] * fy
            page.mouse.move(x, y)
            try:
                page.locator(".plw-tip").first.wait_for(state="visible", timeout=1_000)
                break
            except Exception:
                continue
        assert "alpha" in page.locator(".plw-tip").first.inner_text()
        page.mouse.click(x, y)
        page.wait_for_function(
            "document.querySelector('.plw-sol-title')?.textContent.startsWith('u at alpha') && "
            "document.querySelector('.plw-sol-title').textContent.includes('rel. L2 error')",
            timeout=60_000,
        )
        shown = page.locator(".plw-sol-title").inner_text()
        assert "my_strong" not in shown  # one run: no run label that could be read as the loss shown
        screenshot(page, "custom_model_solution", ".plw-root")

        # what the kernel holds for that click is what the view shows
        cell = page.locator(".jp-Notebook .jp-Cell").nth(1)
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        page.wait_for_function(
            "document.querySelectorAll('.jp-Notebook .jp-Cell')[1].querySelector('.jp-OutputArea')"
            "?.textContent.includes('PROBE')",
            timeout=60_000,
        )
        out = cell.locator(".jp-OutputArea").inner_text()
        probe = json.loads(out.split("PROBE", 1)[1].strip().splitlines()[0])
        (ARTIFACTS / "custom_model_probe.json").write_text(json.dumps(probe))
        assert probe["error"] == "" and probe["formulation"] == "my_energy"
        assert probe["title"] == shown and len(probe["point"]) == 3
