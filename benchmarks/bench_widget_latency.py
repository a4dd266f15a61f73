"""Widget latency: from a UI change to the new surface drawn, in a real JupyterLab with a real kernel.

Reference workload (engine issue): poisson1d strong form, 1000 points, MLP 1-50-50-50-1 tanh, float32, a
41 x 41 grid, on this machine's CPU threads. The front end fires a "plw-drawn" event right after it has
rendered a new grid; each trial changes the seed (a new grid, never a cache hit) and records when the
coarse preview and the full grid were drawn.

    python benchmarks/bench_widget_latency.py [--trials 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.browser import browser_page, jupyter_lab, run_all_cells  # noqa: E402

NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": [
                "import torch, pinn_landscape_widget as plw\n",
                "torch.set_num_threads(2)\n",
                "run = plw.train('poisson1d', 'strong', progress=False)\n",
                "w = plw.LandscapeWidget(run, resolution=41)\n",
                "w",
            ],
        }
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}

OBSERVE_JS = """() => {
  window.__log = [];
  document.querySelector('.plw-root').addEventListener('plw-drawn', (e) => window.__log.push([e.detail.t, e.detail.status]));
}"""

TRIAL_JS = """(seed) => {
  const inp = document.querySelector('input[data-trait=seed]');
  inp.value = String(seed);
  window.__t0 = performance.now();
  inp.dispatchEvent(new Event('change'));
}"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--progress-interval",
        type=float,
        default=None,
        help="override the widget's PROGRESS_INTERVAL_S in the kernel (to measure its cost)",
    )
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, jupyter_lab(Path(tmp)) as url:
        nb = json.loads(json.dumps(NOTEBOOK))
        if args.progress_interval is not None:
            nb["cells"][0]["source"].insert(
                1,
                f"import pinn_landscape_widget.viz.widget as _w; _w.PROGRESS_INTERVAL_S = {args.progress_interval!r}\n",
            )
        (Path(tmp) / "latency.ipynb").write_text(json.dumps(nb))
        with browser_page(viewport=(1300, 950)) as page:
            run_all_cells(page, f"{url}/lab/tree/latency.ipynb")
            try:
                page.wait_for_function(
                    "document.querySelector('.plw-status-text')?.textContent.includes('done')", timeout=180_000
                )
            except Exception:
                page.screenshot(path="test-artifacts/latency_timeout.png")
                print((Path(tmp) / "lab.log").read_text()[-3000:])
                raise
            page.evaluate(OBSERVE_JS)
            previews, fulls = [], []
            for trial in range(args.trials):
                page.evaluate(TRIAL_JS, 100 + trial)
                # poll every 100 ms, not every animation frame: the times come from the page's own event log,
                # and a 60 Hz poller would take CPU from the kernel it measures
                page.wait_for_function(
                    "window.__log.some(([t, s]) => t > window.__t0 && s === 'done')", polling=100, timeout=120_000
                )
                log, t0 = page.evaluate("[window.__log, window.__t0]")
                after = [(t - t0, s) for t, s in log if t > t0]
                previews.append(next(t for t, s in after if s == "preview") / 1000)
                fulls.append(next(t for t, s in after if s == "done") / 1000)
                status = page.locator(".plw-status-text").inner_text()
                print(
                    f"trial {trial}: preview drawn after {previews[-1]:.3f} s, full 41x41 after {fulls[-1]:.3f} s ({status})"
                )
    result = dict(
        preview_median_s=statistics.median(previews),
        full_median_s=statistics.median(fulls),
        progress_interval_s=args.progress_interval,
        previews_s=previews,
        fulls_s=fulls,
        workload="poisson1d strong 1-50-50-50-1 tanh, 1000 pts, 41x41",
    )
    print(
        f"median: preview {result['preview_median_s']:.3f} s (target 0.3), full {result['full_median_s']:.3f} s "
        f"(target 1.0)"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
        print("wrote", args.out)


if __name__ == "__main__":
    main()
