"""A plain install (no extras) runs every public function; an optional feature says which extra it needs.

The package may ``import`` only the standard library, itself and its required dependencies; packages that
only an opt-in feature needs go through ``_optional.require``, whose error names the extra. These tests read
the imports from the source, and make optional packages fail to import (``sys.modules[name] = None``) to
see the errors and to run the public API without them. scripts/check_install.sh does the same with a real
wheel in a fresh virtual environment.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import subprocess
import sys
import textwrap

import pytest

import pinn_landscape_widget as plw
from pinn_landscape_widget._optional import require

from .test_packaging import PACKAGE, REQUIRED, ROOT, canonical

# what the extras (and the test environment) bring, and a plain install does not have
OPTIONAL_MODULES = ("nbformat", "nbconvert", "dask", "distributed", "jupyter_book", "myst_nb", "sphinx", "scipy")


def _third_party_imports():
    """(file, line, top-level module) for every import statement of a package outside the stdlib and ours."""
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "pinn_landscape_widget":
                    yield path.relative_to(ROOT), node.lineno, top


def test_every_imported_package_is_a_required_dependency():
    providers = importlib.metadata.packages_distributions()
    found = list(_third_party_imports())
    assert {"torch", "anywidget", "pythreejs"} <= {top for *_, top in found}  # the scan sees real imports
    bad = []
    for path, line, top in found:
        dists = {canonical(d) for d in providers.get(top, [])}
        if not dists & REQUIRED:
            bad.append(f"{path}:{line}: import {top} ({', '.join(sorted(dists)) or 'not installed'})")
    assert not bad, "imports of packages a plain install lacks (make them required or use require()): " + "; ".join(bad)


@pytest.fixture
def without(monkeypatch):
    """without(*modules): importing any of them (or their submodules) now fails as if not installed."""

    def block(*modules):
        for name in list(sys.modules):
            if name.split(".")[0] in modules or name == "pinn_landscape_widget.viz.nbconvert":
                monkeypatch.delitem(sys.modules, name)
        for name in modules:
            monkeypatch.setitem(sys.modules, name, None)

    return block


def test_notebook_to_html_without_nbconvert_names_the_book_extra(without):
    without("nbconvert", "nbformat")
    with pytest.raises(ImportError) as err:
        plw.notebook_to_html  # noqa: B018 - the attribute access is what imports it
    assert str(err.value).startswith("notebook_to_html needs the 'nbconvert' package, which is not installed")
    assert 'pip install "pinn-landscape-widget[book]"' in str(err.value)


def test_the_nbconvert_exporter_module_without_nbformat_names_the_book_extra(without):
    without("nbformat")
    with pytest.raises(ImportError, match=r"needs the 'nbformat' package.*pinn-landscape-widget\[book\]"):
        import pinn_landscape_widget.viz.nbconvert  # noqa: F401


def test_landscape_on_a_cluster_without_dask_names_the_distributed_extra(without, poisson_run):
    without("distributed", "dask")
    with pytest.raises(ImportError) as err:
        plw.landscape(poisson_run, resolution=3, client=object(), progress=False)
    assert str(err.value) == (
        "landscape(..., client=...) needs the 'distributed' package, which is not installed: "
        'pip install "pinn-landscape-widget[distributed]"'
    )


def test_require_tells_a_broken_install_from_a_missing_one(tmp_path, monkeypatch):
    (tmp_path / "plw_broken_dep.py").write_text("import plw_no_such_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError) as err:
        require("plw_broken_dep", "book", "a feature")
    assert "which failed to import (No module named 'plw_no_such_module_xyz')" in str(err.value)
    assert require("json", "book", "a feature") is sys.modules["json"]


@pytest.mark.slow
def test_public_api_runs_with_every_optional_package_missing(tmp_path):
    # in a fresh interpreter, so nothing imported by other tests hides a missing import
    script = textwrap.dedent(
        f"""
        import sys
        for name in {OPTIONAL_MODULES!r}:
            sys.modules[name] = None
        import pinn_landscape_widget as plw
        from pinn_landscape_widget.cli import main

        run = plw.train("poisson1d", "strong", width=8, depth=1, steps=3, optimizer="adam", progress=False)
        ds = plw.landscape(run, resolution=5, progress=False)
        w = plw.LandscapeWidget(run, resolution=5).wait(120)
        assert w.to_html("page.html").stat().st_size > 100_000
        assert plw.to_html(ds, "ds.html").exists()
        plw.plot(ds).savefig("plot.png")
        mesh = plw.to_pythreejs(ds)
        assert mesh.geometry.attributes["position"].array.shape == (25, 3)
        assert main(["compute", "--steps", "3", "--resolution", "5", "--width", "8", "--depth", "1",
                     "--optimizer", "adam", "--out", "c.nc", "--quiet"]) == 0
        for name in plw.__all__:
            if name != "notebook_to_html":
                getattr(plw, name)
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in {OPTIONAL_MODULES!r} and sys.modules[m])
        assert not leaked, leaked
        print("ok")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "c.nc").stat().st_size > 0
