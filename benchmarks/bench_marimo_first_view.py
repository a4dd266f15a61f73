"""How soon the widget shows in a marimo app, against the Jupyter display path, side by side in one run.

In a ``marimo run`` app (real server, real kernel, headless Chromium) the reference workload (poisson1d
strong form, 1000 points, MLP 1-50-50-50-1 tanh, three panels: its strong loss, the Deep Ritz energy, a PCA
plane, 41 x 41) is shown with ``mo.ui.anywidget(w)``. Measured from the widget's construction in the kernel:
  first view   the view's first canvas on the page
  all done     the status "done in ..." (every full grid drawn)
"ours": the widget as it is (in a marimo kernel its display returns at once); "baseline": the same app with
the Jupyter display path forced (the display waits for the grids and draws a fallback PNG first, which
marimo then drops). Trials alternate between the two; medians and their ratios are printed.

    python benchmarks/bench_marimo_first_view.py [--trials 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.browser import browser_page, close_browser  # noqa: E402
from tests.test_browser_marimo import marimo_app  # noqa: E402

APP = """
import marimo

app = marimo.App(width="full")


@app.cell
def _():
    import os
    import time

    import marimo as mo
    import matplotlib.pyplot  # imported on both sides before the clock starts

    import pinn_landscape_widget as plw
    import pinn_landscape_widget.viz.widget as widget_module

    if os.environ.get("PLW_BENCH_BASELINE") == "1":
        widget_module.in_marimo = lambda: False  # the Jupyter display path
    run = plw.train("poisson1d", "strong", width=50, depth=3, steps=50, progress=False)
    t0 = time.time()
    w = plw.LandscapeWidget(run, panels=[{}, {"formulation": "deep_ritz"}, {"direction_kind": "pca"}],
                            resolution=41)
    view = mo.ui.anywidget(w)
    view
    return mo, t0


@app.cell
def _(mo, t0):
    mo.plain_text(f"T0 {t0!r}")
    return
"""


def one(root: Path, baseline: bool) -> dict:
    os.environ["PLW_BENCH_BASELINE"] = "1" if baseline else "0"
    root.mkdir()
    (root / "app.py").write_text(APP)
    with marimo_app(root) as url, browser_page(viewport=(1400, 1000)) as page:
        page.goto(url)
        try:  # the kernel trains the run first: minutes on a loaded machine
            page.wait_for_selector(".plw-root .plw-canvas canvas", timeout=300_000)
        except Exception:
            print((root / "marimo.log").read_text()[-3000:], "\n".join(page.errors[-20:]), file=sys.stderr)
            raise
        first = time.time()
        status = page.locator(".plw-status-text").first
        while "done in" not in status.inner_text():
            page.wait_for_timeout(50)
        done = time.time()
        t0 = float(page.get_by_text("T0 ").first.inner_text().split()[1])
        return {"first_view": first - t0, "all_done": done - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    runs: dict[str, list[dict]] = {"ours": [], "baseline": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for k in range(args.trials):
                for side in ("baseline", "ours"):
                    runs[side].append(one(Path(tmp) / f"{side}{k}", side == "baseline"))
                    print(side, {k: round(v, 2) for k, v in runs[side][-1].items()}, flush=True)
    finally:
        close_browser()
    med = {s: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for s, rs in runs.items()}
    print(f"{'seconds (median)':<18}{'ours':>8}{'baseline':>10}{'ratio':>8}")
    for k in ("first_view", "all_done"):
        print(f"{k:<18}{med['ours'][k]:8.2f}{med['baseline'][k]:10.2f}{med['baseline'][k] / med['ours'][k]:7.1f}x")
    if args.out:
        Path(args.out).write_text(json.dumps({"trials": runs, "median": med}, indent=1))


if __name__ == "__main__":
    main()
