"""The built wheel ships the JS bundle (built by the hatch-jupyter-builder hook, git-ignored in the tree)."""

import subprocess
import sys
import zipfile

import pytest


@pytest.mark.slow
def test_wheel_contains_the_widget_bundle(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(root)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel = next(tmp_path.glob("pinn_landscape_widget-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "pinn_landscape_widget/static/widget.js" in names
        for source in ("jets.c", "rop.c", "vec.h"):  # the fused CPU kernels, built at first use
            assert f"pinn_landscape_widget/engine/csrc/{source}" in names
        assert not any(n.endswith(".so") for n in names)  # built per machine (-march=native), never shipped
        bundle = zf.read("pinn_landscape_widget/static/widget.js")
        embed = zf.read("pinn_landscape_widget/static/embed/plw-embed.js")  # saved-state renderer (nbconvert, book)
        entry_points = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert len(bundle) > 100_000 and b"plw-root" in bundle  # three.js and our front end, minified
    assert not any(n.startswith("js/") or "node_modules" in n for n in names)
    assert b"widget-state+json" in embed
    assert "plw_html = pinn_landscape_widget.viz.nbconvert:OfflineWidgetHTMLExporter" in entry_points
