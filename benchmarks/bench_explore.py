"""How soon `plw.explore("poisson1d")` shows a first picture: in the background (the default) against training first.

Each case runs in a fresh Python process (the package imported before the clock starts, as in a notebook
whose first cell imports it), so first-use costs (torch.optim's first optimiser, xarray's first Dataset)
count as a student would meet them. Times, from the call:
  returned       explore() gives the widget back (the cell has run)
  first picture  the first grid of every panel is computed and published to the view (preview or full)
  final          training and the final landscapes done (w.wait())
The browser draws a published grid in about 0.1 s more (bench_widget_latency.py).

    python benchmarks/bench_explore.py [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = """
import json, time
import pinn_landscape_widget as plw
from pinn_landscape_widget.viz import widget as widget_module

first = []
publish = widget_module.LandscapeWidget._publish
def timed_publish(self, s, payload):
    publish(self, s, payload)
    if not first:
        first.append(time.perf_counter())
widget_module.LandscapeWidget._publish = timed_publish
finish = widget_module.LandscapeWidget._finish
def timed_finish(self, *a, **k):
    finish(self, *a, **k)
    if not first:
        first.append(time.perf_counter())
widget_module.LandscapeWidget._finish = timed_finish

t0 = time.perf_counter()
w = plw.explore("poisson1d", background={background})
returned = time.perf_counter() - t0
while not first:
    time.sleep(0.005)
picture = first[0] - t0
w.wait(600)
print(json.dumps(dict(returned=returned, picture=picture, final=time.perf_counter() - t0)))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args(argv)
    rows: dict[str, list[dict]] = {"background (default)": [], "train first": []}
    for _ in range(args.repeats):
        for name, background in (("background (default)", True), ("train first", False)):
            out = subprocess.run(
                [sys.executable, "-c", CHILD.format(background=background)], capture_output=True, text=True, check=True
            )
            rows[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'explore(poisson1d)':22s} {'returned s':>11s} {'first picture s':>16s} {'final s':>8s}")
    for name, rs in rows.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print(f"{name:22s} {med['returned']:11.2f} {med['picture']:16.2f} {med['final']:8.2f}")


if __name__ == "__main__":
    main()
