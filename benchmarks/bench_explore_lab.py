"""How soon `plw.explore("poisson1d")` draws its first surface in a real JupyterLab, against training first.

Each trial opens a notebook in a fresh kernel and a fresh browser context of headless Chromium (tests/browser.py).
Its first cell imports the package and the timing hooks (a module written next to the notebook; not timed: the
kernel is warm, as after a student's first cell); the second cell is the one timed, run with Shift+Enter as a
person would:
  explore            w = plw.explore("poisson1d"); w
  train first        w = plw.LandscapeWidget({"strong": plw.train("poisson1d", "strong"),
                                              "deep_ritz": plw.train("poisson1d", "deep_ritz")}); w
(the same two runs and panels; ``train`` with its defaults, progress bars included). Times, in seconds from the
key press that runs the cell (the browser's and the kernel's clocks are the same machine's):
  returned           the cell has run (the kernel's post_run_cell)
  view up            the kernel hears the view's first message (the bundle is loaded, the view built)
  first computed     the kernel publishes its first grid (a coarse preview)
  first surface      every panel shows a surface: the page reads each panel's canvas every 100 ms and more
                     than 3 % of its pixels differ from the background (tests/browser.py, DRAWN_LOG_JS)
  final computed     the kernel publishes the landscapes of the fully trained runs
  final shown        the browser has drawn them (its first redraw after that, pixels read again)
The kernel's own split of the explore cell: warm-up training (both losses), widget built and returned.

    python benchmarks/bench_explore_lab.py [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.browser import (  # noqa: E402
    DRAWN_LOG_JS,
    _accept_kernel_dialog,
    browser_page,
    jupyter_server,
    notebook_url,
)

# imported by the first cell: hooks that write the kernel's timing marks (time.time()) to a JSON file
HOOKS = """\
import json, threading, time
from IPython import get_ipython
from pinn_landscape_widget.viz import explore as _explore_module, widget as _widget_module

_marks, _lock = {{}}, threading.Lock()
def _mark(name, value=None):
    with _lock:
        _marks.setdefault(name, []).append(time.time() if value is None else value)
        with open({marks!r}, "w") as f:
            json.dump(_marks, f)

_ip = get_ipython()
_ip.events.register("pre_run_cell", lambda info: _mark("cell_start"))
_ip.events.register("post_run_cell", lambda result: _mark("cell_end"))

def _hook(cls, name, before=None, after=None):
    real = getattr(cls, name)
    def hooked(*args, **kwargs):
        t0 = time.time()
        out = real(*args, **kwargs)
        (after or (lambda *a: None))(t0, out, *args)
        return out
    setattr(cls, name, hooked)

W = _widget_module.LandscapeWidget
_hook(W, "_publish", after=lambda t0, out, self, *a: _mark("publish"))
_hook(W, "_finish", after=lambda t0, out, self, *a: _mark(
    "finish", [time.time(), [i["steps"][-1] if i.get("steps") else 0 for i in self.runs_info.values()]]))
_hook(W, "_on_front_end_message", after=lambda t0, out, self, w, content, *a: _mark(
    "message", [t0, content.get("type") if isinstance(content, dict) else None]))
_hook(_explore_module, "train", after=lambda t0, out, *a: _mark("explore_train", [t0, time.time()]))

def _settled():  # the widget exists, its training and every computation it started are done
    while True:
        w = _ip.user_ns.get("w")
        if w is not None and (w._background is None or w._background.done()) and w.last_future is not None \\
                and w.last_future.done():
            _mark("settled")
            return
        time.sleep(0.05)
threading.Thread(target=_settled, daemon=True).start()
_mark("setup")
"""

CASES = {
    "explore": 'w = plw.explore("poisson1d")\nw',
    "train first": (
        'w = plw.LandscapeWidget({"strong": plw.train("poisson1d", "strong"),\n'
        '                         "deep_ritz": plw.train("poisson1d", "deep_ritz")})\nw'
    ),
}

ACTIVE = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def _notebook(timed: str) -> dict:
    cell = lambda src: {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src}  # noqa: E731
    return {
        "cells": [cell("import pinn_landscape_widget as plw\nimport _plw_timing"), cell(timed)],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _read_marks(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or being written
        return {}


def _wait(cond, timeout: float, what: str, page=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = cond()
        if value:
            return value
        if page is not None:
            _accept_kernel_dialog(page)  # a late "Select Kernel" dialog would hold everything
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not happen in {timeout:.0f} s")


def _shutdown_kernels(url: str) -> None:
    """Delete every session (and so its kernel): the next trial starts alone on the CPU."""
    sessions = json.loads(urllib.request.urlopen(f"{url}/api/sessions").read())
    for s in sessions:
        urllib.request.urlopen(urllib.request.Request(f"{url}/api/sessions/{s['id']}", method="DELETE"))


def run_notebook(page, url: str, root: Path, name: str, timed: str, timeout: float = 300.0) -> dict:
    """Open notebook ``name`` (written here), run its setup cell, then the timed cell; returns the key press
    time, the page's log of redraws and the kernel's marks once the widget has settled (epoch seconds)."""
    marks_path = root / f"{name}.marks.json"
    (root / "_plw_timing.py").write_text(HOOKS.format(marks=str(marks_path)))
    (root / f"{name}.ipynb").write_text(json.dumps(_notebook(timed)))
    page.goto(notebook_url(url, f"{name}.ipynb") + "?reset")  # ?reset: no tab of an earlier trial restored
    page.wait_for_selector(f"{ACTIVE} .jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function(
        "Array.from(document.querySelectorAll(\".jp-Notebook-ExecutionIndicator[data-status='idle']\"))"
        ".some((e) => e.offsetParent !== null)",
        timeout=60_000,
    )
    _accept_kernel_dialog(page)
    cells = page.locator(f"{ACTIVE} .jp-Notebook .jp-Cell")
    for _ in range(4):  # a click can land while the front end is still laying out (or under a dialog)
        _accept_kernel_dialog(page)
        cells.nth(0).locator(".jp-InputArea-editor").click()
        page.keyboard.press("Escape")  # command mode: Shift+Enter runs the cell and selects the next
        page.keyboard.press("Shift+Enter")
        try:
            _wait(lambda: re.search(r"\[(\*|\d+)\]", cells.nth(0).locator(".jp-InputPrompt").inner_text()), 10, "")
            break
        except TimeoutError:
            continue
    _wait(lambda: "setup" in _read_marks(marks_path), 120, "the first cell", page)
    # the kernel idle again, the timed cell selected: run it
    page.wait_for_function(
        "Array.from(document.querySelectorAll(\".jp-Notebook-ExecutionIndicator[data-status='idle']\"))"
        ".some((e) => e.offsetParent !== null)",
        timeout=60_000,
    )
    page.wait_for_timeout(500)
    page.keyboard.press("Shift+Enter")
    _wait(lambda: _read_marks(marks_path).get("settled"), timeout, "the widget settling", page)

    def final_drawn():  # the page has shown the final grids (a display that waits shows the view later)
        log, marks = page.evaluate("window.plwLog"), _read_marks(marks_path)
        trial = dict(press=log["press"][-1] / 1000, surface=log["surface"], drawn=log["drawn"], marks=marks)
        pinged = any(kind == "ping" for t, kind in marks.get("message", []))
        return trial if pinged and _final_shown(trial) is not None else None

    return _wait(final_drawn, 120, "the final picture on screen", page)


def _final_shown(trial: dict) -> float | None:
    """When the page first showed the final grids (epoch s): its first redraw, or its first surface, after the
    kernel published them."""
    final_at = trial["marks"]["finish"][-1][0]
    seen = [d["shown"] / 1000 for d in trial["drawn"] if d.get("fractions") and d["t"] / 1000 >= final_at]
    surface = trial["surface"]
    if surface and surface["t"] / 1000 >= final_at:
        seen.append(surface["t"] / 1000)
    return min(seen) if seen else None


def times(trial: dict) -> dict:
    """The figures of one trial, in seconds from the key press (see the module docstring)."""
    t0, marks, first = trial["press"], trial["marks"], trial["surface"]
    final_at, final_steps = marks["finish"][-1]
    train = marks.get("explore_train", [])
    warmup = [b - a for a, b in train[: len(final_steps)]] if train else []
    return dict(
        returned=marks["cell_end"][-1] - t0,
        kernel_start=marks["cell_start"][-1] - t0,
        view_up=next(t for t, kind in marks["message"] if kind == "ping") - t0,
        first_computed=marks["publish"][0] - t0,
        first_surface=first["t"] / 1000 - t0 if first else float("nan"),
        first_title=first["title"] if first else "",
        final_computed=final_at - t0,
        final_shown=_final_shown(trial) - t0,
        warmup_training=sum(warmup),
        final_steps=final_steps,
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    load_before = os.getloadavg()
    rows: dict[str, list[dict]] = {name: [] for name in CASES}
    with tempfile.TemporaryDirectory() as tmp, jupyter_server(Path(tmp), "lab") as url:
        for k in range(args.repeats):
            for name, timed in CASES.items():
                with browser_page(viewport=(1300, 900)) as page:
                    page.add_init_script(DRAWN_LOG_JS)
                    try:
                        trial = run_notebook(page, url, Path(tmp), f"{name.replace(' ', '_')}_{k}", timed)
                    except Exception:
                        page.screenshot(path=str(Path(tmp) / "failed.png"))
                        print((Path(tmp) / "lab.log").read_text()[-3000:])
                        raise
                    finally:
                        _shutdown_kernels(url)
                t = times(trial)
                rows[name].append(t)
                print(
                    f"{name} trial {k}: returned {t['returned']:.2f} s, view up {t['view_up']:.2f} s, first computed "
                    f"{t['first_computed']:.2f} s, first surface {t['first_surface']:.2f} s ({t['first_title'][:40]!r}), "
                    f"final computed {t['final_computed']:.2f} s, final shown {t['final_shown']:.2f} s"
                    + (f"; warm-up training {t['warmup_training']:.2f} s" if name == "explore" else ""),
                    flush=True,
                )
                time.sleep(2.0)  # the closed kernel's process gone
    load_after = os.getloadavg()
    keys = ["returned", "view_up", "first_computed", "first_surface", "final_computed", "final_shown"]
    print(
        f"\nmedians of {args.repeats} fresh kernels, s from the key press; load average before "
        f"{load_before[0]:.2f}, after {load_after[0]:.2f} ({os.cpu_count()} CPUs)"
    )
    print(f"{'case':12s} " + " ".join(f"{k:>15s}" for k in keys))
    medians = {}
    for name, rs in rows.items():
        medians[name] = {k: statistics.median(r[k] for r in rs) for k in keys}
        print(f"{name:12s} " + " ".join(f"{medians[name][k]:15.2f}" for k in keys))
    ratio = medians["train first"]["first_surface"] / medians["explore"]["first_surface"]
    print(
        f"first surface: explore {medians['explore']['first_surface']:.2f} s, train first "
        f"{medians['train first']['first_surface']:.2f} s ({ratio:.1f}x); the issue's target is 3 s"
    )
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                dict(
                    trials=rows,
                    medians=medians,
                    load_avg_before=load_before,
                    load_avg_after=load_after,
                    cpus=os.cpu_count(),
                ),
                indent=2,
            )
        )
        print("wrote", args.out)


if __name__ == "__main__":
    main()
