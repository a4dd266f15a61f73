"""Helpers for the MyST (Jupyter Book 2) tests: MyST's own directive parser and anywidget host, from npm.

tests/myst_host/ is a small npm package (installed by scripts/setup.sh with `npm ci`): myst-parser turns a
page's markdown into the nodes a MyST build hands its theme, and @myst-theme/anywidget is the theme's own
renderer of `anywidget` nodes (React, a shadow root per widget, a model that holds the directive's JSON).
host.jsx mounts nodes with it, as a MyST site page does.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .browser import ROOT

HOST = ROOT / "tests" / "myst_host"
JB2_VENV = ROOT / ".venv-jb2"  # jupyter-book 2 (mystmd) lives apart: jupyter-book 1 is in the main venv

PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head>
<body style="margin:0"><div id="root" style="width:1200px"></div><script type="module" src="./host.js"></script>
</body></html>"""

# In-page: per widget (each in its own shadow root, as MyST renders them), each panel's share of pixels that
# differ from its corner pixel and a hash; and what the widget says when it cannot draw.
WIDGETS_JS = """() => Array.from(document.querySelectorAll('[data-node]')).map((block) => {
  const host = block.querySelector('.myst-anywidget'); const root = host && host.shadowRoot;
  if (!root) return {panels: [], problem: null, shadow: false};
  const panels = Array.from(root.querySelectorAll('.plw-canvas canvas')).map((c) => {
    const t = document.createElement('canvas'); t.width = c.width; t.height = c.height;
    const x = t.getContext('2d'); x.drawImage(c, 0, 0);
    const d = x.getImageData(0, 0, t.width, t.height).data; let h = 0, n = 0;
    for (let i = 0; i < d.length; i += 4) { h = (h * 31 + d[i] + 3 * d[i+1] + 7 * d[i+2]) >>> 0;
      if (Math.abs(d[i] - d[0]) + Math.abs(d[i+1] - d[1]) + Math.abs(d[i+2] - d[2]) > 24) n++; }
    return {hash: h, fraction: n / (d.length / 4)}; });
  const problem = root.querySelector('.plw-state-problem');
  return {panels, problem: problem ? problem.textContent : null, shadow: true,
          captions: Array.from(root.querySelectorAll('.plw-caption')).map((e) => e.textContent)};
})"""


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the MyST tests need it (and scripts/setup.sh)")
    return node


def require_host() -> None:
    """Fail clearly when the test-support npm package was not installed."""
    _node()
    if not (HOST / "node_modules" / "@myst-theme" / "anywidget").is_dir():
        pytest.fail(f"{HOST / 'node_modules'} is missing: run scripts/setup.sh (it runs `npm ci` there)")


def parse_directives(*pages: Path) -> list[dict]:
    """The anywidget nodes of MyST markdown pages, as MyST's parser makes them (tests/myst_host/parse.mjs)."""
    require_host()
    out = subprocess.run(
        [_node(), str(HOST / "parse.mjs"), *map(str, pages)], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(out.stdout)


def write_host_page(site: Path, nodes: list[dict]) -> None:
    """index.html + host.js (MyST's anywidget renderer, bundled with esbuild) + nodes.json into ``site``."""
    require_host()
    subprocess.run(
        [
            str(HOST / "node_modules" / ".bin" / "esbuild"),
            str(HOST / "host.jsx"),
            "--bundle",
            "--format=esm",
            "--target=es2022",
            "--jsx=automatic",
            "--minify",
            '--define:process.env.NODE_ENV="production"',
            "--log-level=warning",
            f"--outfile={site / 'host.js'}",
        ],
        check=True,
        timeout=120,
    )
    (site / "nodes.json").write_text(json.dumps(nodes))
    (site / "index.html").write_text(PAGE)


def lay_out_like_myst(project: Path, nodes: list[dict], static_files: list[str], site: Path) -> list[dict]:
    """What a MyST site build does with a page's widget assets: each local ESM copied to the site root under
    a content-hashed name (the node's esm rewritten to it), each ``static_files`` folder copied to the site
    root under its own name. tests/test_book_myst.py checks this against a real jupyter-book 2 build."""
    site.mkdir(parents=True, exist_ok=True)
    laid = []
    for node in nodes:
        src = project / node["esm"].lstrip("/")
        digest = hashlib.md5(src.read_bytes()).hexdigest()
        name = f"{src.stem}-{digest}{src.suffix}"
        shutil.copyfile(src, site / name)
        laid.append({**node, "esm": f"/{name}"})
    for folder in static_files:
        shutil.copytree(project / folder, site / Path(folder).name, dirs_exist_ok=True)
    return laid


def open_local_only(page, url: str, ready_js: str, timeout_ms: int = 60_000) -> list[str]:
    """Open ``url`` with every request that does not go to this machine refused; wait for ``ready_js``.
    Returns every URL the page asked for."""
    requests: list[str] = []

    def guard(route):
        requests.append(route.request.url)
        if route.request.url.startswith(("http://127.0.0.1", "data:", "blob:")):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", guard)
    page.goto(url)
    page.wait_for_function(ready_js, timeout=timeout_ms)
    return requests
