"""The widget's diagnostics view: its numbers are plw.diagnose's at the same checkpoints, a run that cannot
be diagnosed says why, and a saved page draws the view and moves its cursor with the replay."""

import re
import time

import numpy as np
import pytest

import pinn_landscape_widget as plw

from .browser import CANVAS_STATS_JS, browser_page, open_offline, screenshot


@pytest.fixture(scope="module")
def run():
    # two terms (strong residual and boundary penalty) and a network small enough for the NTK
    return plw.train(
        "poisson1d",
        "strong",
        width=8,
        depth=1,
        steps=(60, 0),
        record_every=5,
        progress=False,
        coefficients=dict(boundary="penalty", n_points=64),
    )


def _diagnostics(w, timeout=120.0):
    t0 = time.perf_counter()
    while not w.diagnostics_data and time.perf_counter() - t0 < timeout:
        time.sleep(0.05)
    return w.diagnostics_data


def test_diagnostics_trait_equals_an_independent_diagnose_at_the_same_checkpoints(run):
    w = plw.LandscapeWidget(run, resolution=9, diagnostics=True).wait()
    d = _diagnostics(w)
    assert d["reason"] == "" and d["run"] == w.run_label
    assert d["settings"]["hessian"] is True and d["settings"]["ntk"] is True
    recorded = [int(s) for s in run.trajectory_steps]
    assert d["steps"][0] == recorded[0] and d["steps"][-1] == recorded[-1] and len(d["steps"]) >= 2
    ds = plw.diagnose(run, checkpoints=d["steps"], hessian=True, ntk=True)
    assert d["terms"] == [str(t) for t in ds.term.values] and len(d["terms"]) == 2
    expected = {"loss", "grad_norm", "imbalance", "hessian_top_eigenvalue", "ntk_trace", "ntk_condition_number"}
    assert set(d["series"]) == expected
    K, M = len(d["steps"]), len(d["terms"])
    for name, raw in d["series"].items():
        got = np.frombuffer(raw, dtype=np.float32).reshape(K, M)
        want = ds[name].transpose("step", "term").values
        assert np.array_equal(np.isnan(got), np.isnan(want)), name
        ok = np.isfinite(want)
        assert ok.any(), name
        np.testing.assert_allclose(got[ok], want[ok], rtol=2e-5, err_msg=name)  # Lanczos: a few ulps apart
    assert d["summary"] == ds.attrs["summary"]


def test_automatic_diagnostics_stay_within_the_budget_and_false_turns_them_off(run):
    from pinn_landscape_widget.viz._diagnostics import DIAGNOSTICS_BUDGET_S

    w = plw.LandscapeWidget(run, resolution=9, diagnostics=None).wait()
    d = _diagnostics(w)
    assert d["reason"] == "" and "loss" in d["series"]
    assert d["seconds"] < 2 * DIAGNOSTICS_BUDGET_S
    off = plw.LandscapeWidget(run, resolution=9).wait()  # off by default
    assert "diagnostics=False" in _diagnostics(off)["reason"]
    with pytest.raises(ValueError, match=r"diagnostics must be None \(automatic\), True or False, got 'yes'"):
        plw.LandscapeWidget(run, diagnostics="yes", compute=False)


class _NoTrajectory:
    """A run as a user's own object may be: objective and params, no recorded trajectory."""

    def __init__(self, base):
        self._base = base
        self.problem, self.formulation, self.params = base.problem, base.formulation, base.params
        self.trajectory = None

    def objective(self, *args, **kwargs):
        return self._base.objective(*args, **kwargs)

    def model_at(self, params):
        return self._base.model_at(params)


def test_a_run_without_a_trajectory_gets_a_view_that_says_why(run):
    w = plw.LandscapeWidget(_NoTrajectory(run), resolution=9, diagnostics=True).wait()
    d = _diagnostics(w)
    assert d["reason"].startswith("no diagnostics: the run recorded no trajectory")
    assert "series" not in d


@pytest.mark.browser
def test_saved_page_draws_the_diagnostics_and_their_cursor_follows_the_replay(run, tmp_path):
    w = plw.LandscapeWidget(run, resolution=15, diagnostics=True).wait()
    path = w.to_html(tmp_path / "diag.html", precompute=None)
    _assert_page_draws_the_diagnostics(path, w, run, "widget_diagnostics")


@pytest.mark.browser
def test_nbconvert_page_of_a_notebook_draws_the_diagnostics_and_their_cursor_follows_the_replay(run, tmp_path):
    # the page plw.notebook_to_html (jupyter nbconvert --to plw_html) writes from an executed notebook's saved
    # widget state: the same view as to_html's, drawn by the offline renderer with no kernel
    nbformat = pytest.importorskip("nbformat")
    w = plw.LandscapeWidget(run, resolution=15, diagnostics=True).wait()
    view = {"version_major": 2, "version_minor": 0, "model_id": w.model_id}
    out = nbformat.v4.new_output("display_data", data={"text/plain": "LandscapeWidget", VIEW_MIME: view})
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Why did it fail?"), nbformat.v4.new_code_cell("w", outputs=[out])]
    )
    nb.metadata["widgets"] = {STATE_MIME: plw.LandscapeWidget.get_manager_state(widgets=[w])}
    path = plw.notebook_to_html(nb, tmp_path / "diag_nbconvert.html")
    html = path.read_text()
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html  # the renderer is inlined: no network
    _assert_page_draws_the_diagnostics(path, w, run, "widget_diagnostics_nbconvert", template_loads=True)


VIEW_MIME = "application/vnd.jupyter.widget-view+json"
STATE_MIME = "application/vnd.jupyter.widget-state+json"


def _assert_page_draws_the_diagnostics(path, w, run, shot_name, template_loads=False):
    """The saved page at ``path`` draws w's diagnostics view: the plots, the read-out at the last checkpoint
    and the summary; scrubbing the replay to step 0 moves the read-out (whose losses are an independent
    diagnose's there) and the dashed cursor. template_loads: nbconvert's lab template asks for its own
    scripts (RequireJS, MathJax) from a CDN, which the offline page refuses: those failures are allowed."""
    with browser_page(viewport=(1200, 1300)) as page:
        open_offline(page, path, "window.plwSavedWidgetsDrawn === 1", 60_000)
        page.wait_for_function("!!document.querySelector('.plw-diag-readout')?.textContent", timeout=20_000)
        stats = page.evaluate(CANVAS_STATS_JS, ".plw-diag-plots")
        shot = screenshot(page, shot_name, ".plw-diag")
        assert shot.exists()
        n = len(w.diagnostics_data["steps"])
        last = page.locator(".plw-diag-readout").text_content()
        assert f"checkpoint {n} of {n} diagnosed" in last
        summary = page.locator(".plw-diag-summary").text_content()
        assert summary == w.diagnostics_data["summary"].replace("\n", " ")
        # scrub the replay to the first checkpoint: the read-out moves there and the cursor with it
        before = page.evaluate(PLOT_PIXELS_JS)
        page.locator("input[data-trait=trajectory_step]").first.evaluate(
            "(e) => { e.value = '0'; e.dispatchEvent(new Event('input', { bubbles: true })); }"
        )
        page.wait_for_function("document.querySelector('.plw-diag-readout').textContent.includes('step 0 ')")
        first = page.locator(".plw-diag-readout").text_content()
        after = page.evaluate(PLOT_PIXELS_JS)
        errors = [e for e in page.errors if not (template_loads and "Failed to load resource: net::ERR_" in e)]
        assert errors == [], page.errors
    assert stats["fraction"] > 0.02, stats  # the plots are drawn (lines, frames, labels)
    assert f"checkpoint 1 of {n} diagnosed" in first and first != last
    # the read-out's losses at step 0 are an independent diagnose's there (shown to 3-4 digits)
    ds0 = plw.diagnose(run, checkpoints=[0], hessian=False, ntk=False)
    terms = [str(t) for t in ds0.term.values]
    m = re.search(rf"loss: {terms[0]} ([^,]+), {terms[1]} ([^ ]+) ·", first)
    assert m, first
    np.testing.assert_allclose([float(m[1]), float(m[2])], ds0["loss"].values[0], rtol=6e-3)
    assert after != before  # the dashed cursor moved across the plots


PLOT_PIXELS_JS = """() => { const c = document.querySelector('.plw-diag-plots');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let h = 0;
  for (let i = 0; i < d.length; i += 97) h = (h * 31 + d[i]) % 1000000007; return h; }"""


def _find(obj, key):
    """The value under ``key`` anywhere in nested dicts and lists (None when absent)."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        obj = list(obj.values())
    if isinstance(obj, list):
        for v in obj:
            found = _find(v, key)
            if found is not None:
                return found
    return None


def test_saved_states_compute_and_carry_the_diagnostics(run, tmp_path):
    import base64
    import json

    w = plw.LandscapeWidget(run, resolution=9, diagnostics=True, compute=False)
    assert w.diagnostics_data == {}  # nothing computed yet: saving computes them
    w.to_myst(tmp_path / "book" / "figures", precompute=None)
    state = json.loads((tmp_path / "book" / "figures" / "landscape.json").read_text())
    saved = _find(state, "diagnostics_data")
    assert saved and saved["steps"] == w.diagnostics_data["steps"] and saved["summary"]
    loss = np.frombuffer(base64.b64decode(saved["series"]["loss"]), dtype=np.float32)
    want = plw.diagnose(run, checkpoints=saved["steps"], hessian=False, ntk=False)["loss"]
    np.testing.assert_allclose(loss, want.transpose("step", "term").values.ravel(), rtol=1e-6)
