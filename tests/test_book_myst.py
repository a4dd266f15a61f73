"""A real Jupyter Book 2 (mystmd) build of a page with the directive ``to_myst`` wrote, drawn by MyST's own
anywidget renderer in headless Chromium with every request off this machine refused.

jupyter-book 2 lives in .venv-jb2 (scripts/setup.sh; the main venv holds jupyter-book 1). Its HTML themes are
downloaded at build time (api.mystmd.org), which a machine without the internet cannot do, so the project
names a stub site template and the test builds with ``--site``: MyST parses the page, copies the ESM and the
``static_files`` folder into the site's public folder and writes the page's nodes, everything the theme then
serves; the theme's widget renderer (@myst-theme/anywidget) is the one tests/myst.py mounts.
"""

import json
import os
import re
import subprocess
import warnings

import pytest

import pinn_landscape_widget as plw

from .browser import animation_frames, browser_page, screenshot, serve
from .conftest import small_run
from .myst import JB2_VENV, WIDGETS_JS, open_local_only, write_host_page

pytestmark = [pytest.mark.book, pytest.mark.browser]

MYST_YML = """version: 1
project:
  title: Landscapes
  static_files:
    - figures/landscapes
site:
  template: ./offline-template
"""


def _anywidget_nodes(tree):
    if isinstance(tree, dict):
        if tree.get("type") == "anywidget":
            yield tree
        for v in tree.values():
            yield from _anywidget_nodes(v)
    elif isinstance(tree, list):
        for v in tree:
            yield from _anywidget_nodes(v)


def test_jupyter_book_2_build_serves_the_widget_and_its_state_file(tmp_path):
    jb = JB2_VENV / "bin" / "jupyter-book"
    if not jb.exists():
        pytest.fail(f"{jb} is missing: run scripts/setup.sh (it makes .venv-jb2 with jupyter-book 2)")
    run = small_run("poisson1d", dict(n_points=64), "strong", steps=60)
    w = plw.LandscapeWidget(run, resolution=21).wait()
    project = tmp_path / "book"
    (project / "offline-template").mkdir(parents=True)
    (project / "offline-template" / "template.yml").write_text("jtex: v1\ntitle: offline stub\nkind: site\n")
    (project / "myst.yml").write_text(MYST_YML)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # myst.yml lists the folder: no warning
        directive = w.to_myst(project / "figures" / "landscapes", precompute=None)
    assert directive.startswith("```{anywidget} /figures/landscapes/plw-widget.js\n")
    (project / "lecture.md").write_text(f"# A landscape\n\nBelow, the trained network's loss.\n\n{directive}")

    env = {**os.environ, "PATH": f"{JB2_VENV / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(
        [str(jb), "build", "--site"], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr

    page = json.loads((project / "_build" / "site" / "content" / "lecture.json").read_text())
    (node,) = _anywidget_nodes(page["mdast"])
    assert node["model"] == {"plw_state": "landscapes/landscape.json", "plw_version": plw.__version__}
    public = project / "_build" / "site" / "public"
    # MyST copied the ESM to the site root under a hashed name, and the static folder under its own name
    assert re.fullmatch(r"/plw-widget-[0-9a-f]{32}\.js", node["esm"]), node["esm"]
    assert (public / node["esm"].lstrip("/")).read_bytes() == (
        project / "figures/landscapes/plw-widget.js"
    ).read_bytes()
    assert (public / "landscapes" / "landscape.json").is_file()

    write_host_page(public, [node])
    with serve(public) as url, browser_page(viewport=(1100, 800)) as browser:
        ready = f"(() => {{ const w = ({WIDGETS_JS})(); return w.length === 1 && w[0].panels.length === 1 && w[0].panels[0].fraction > 0.03; }})()"
        requests = open_local_only(browser, f"{url}/index.html", ready)
        animation_frames(browser)
        assert all(u.startswith("http://127.0.0.1") for u in requests), requests
        (drawn,) = browser.evaluate(WIDGETS_JS)
        assert drawn["problem"] is None and drawn["panels"][0]["fraction"] > 0.03
        screenshot(browser, "myst_jupyter_book_2", "[data-node='0']")
        assert browser.errors == []
