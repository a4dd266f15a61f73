"""The widget on a MyST (Jupyter Book 2) page: the directive that ``to_myst`` writes, parsed by MyST's own
parser and mounted by MyST's own anywidget host (@myst-theme/anywidget, from npm), in headless Chromium with
every request off this machine refused."""

import json

import pytest

import pinn_landscape_widget as plw

from .browser import animation_frames, browser_page, screenshot, serve
from .conftest import small_run
from .myst import WIDGETS_JS, lay_out_like_myst, open_local_only, parse_directives, write_host_page

pytestmark = pytest.mark.browser

DRAWN = f"(() => {{ const w = ({WIDGETS_JS})(); return w.length > 0 && w.every((x) => x.problem !== null || (x.panels.length > 0 && x.panels.every((p) => p.fraction > 0.03))); }})()"


def test_myst_host_draws_every_panel_from_the_state_file_and_refuses_another_version(tmp_path):
    a = small_run("poisson1d", dict(n_points=64), "strong", steps=60)
    b = small_run("poisson1d", dict(n_points=64), "deep_ritz", steps=60)
    w = plw.LandscapeWidget({"strong": a, "deep_ritz": b}, resolution=21).wait()
    project = tmp_path / "book"
    project.mkdir()
    (project / "myst.yml").write_text("version: 1\nproject:\n  static_files:\n    - landscapes\n")
    directive = w.to_myst(project / "landscapes", precompute=("direction_kind",))
    # the same front end, two more landscapes: one written by another version, one whose file is missing
    state = json.loads((project / "landscapes" / "landscape.json").read_text())
    (project / "landscapes" / "old.json").write_text(json.dumps({**state, "version": "0.0.1"}))
    other = directive.replace("landscape.json", "old.json")
    missing = directive.replace("landscape.json", "gone.json")
    (project / "page.md").write_text(f"# Landscapes\n\n{directive}\nText.\n\n{other}\n{missing}")

    nodes = parse_directives(project / "page.md")
    assert [n["model"] for n in nodes] == [
        {"plw_state": f"landscapes/{f}", "plw_version": plw.__version__}
        for f in ("landscape.json", "old.json", "gone.json")
    ]
    assert all(n["esm"] == "/landscapes/plw-widget.js" for n in nodes)
    site = tmp_path / "site"
    write_host_page(site, lay_out_like_myst(project, nodes, ["landscapes"], site))

    with serve(site) as url, browser_page(viewport=(1240, 900)) as page:
        requests = open_local_only(page, f"{url}/index.html", DRAWN)
        animation_frames(page)
        assert all(u.startswith("http://127.0.0.1") for u in requests), requests
        good, old, gone = page.evaluate(WIDGETS_JS)
        # every panel of the landscape is drawn (a pixel test per panel), two different pictures
        assert good["shadow"] and good["problem"] is None
        assert len(good["panels"]) == 2 and all(p["fraction"] > 0.03 for p in good["panels"]), good
        assert good["panels"][0]["hash"] != good["panels"][1]["hash"]
        assert good["captions"][0].startswith("strong:") and good["captions"][1].startswith("deep_ritz:")
        screenshot(page, "myst_anywidget_host", "[data-node='0']")
        # another version's state file and a missing one each say so in one line, and draw nothing
        assert old["panels"] == [] and gone["panels"] == []
        assert "landscapes/old.json was written by pinn-landscape-widget 0.0.1" in old["problem"]
        assert f"widget ESM is version {plw.__version__}" in old["problem"]
        assert "\n" not in old["problem"]
        assert "gone.json could not be read (HTTP 404)" in gone["problem"]
        # a precomputed slice switches in the page (Playwright's selectors pierce the shadow root)
        before = good["panels"][0]["hash"]
        page.locator("[data-node='0'] select[data-trait=direction_kind]").select_option("pca")
        page.wait_for_function(
            f"(h) => ({WIDGETS_JS})()[0].panels[0].hash !== h && ({WIDGETS_JS})()[0].panels[0].fraction > 0.03",
            arg=before,
            timeout=15_000,
        )
        assert "pca directions" in page.evaluate(WIDGETS_JS)[0]["captions"][0]
        errors = [e for e in page.errors if "404" not in e]  # the missing file's request is logged by Chromium
        assert errors == [], errors
