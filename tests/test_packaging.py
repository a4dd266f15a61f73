"""The built wheel: it ships the JS bundle (built by the hatch-jupyter-builder hook, git-ignored in the tree),
its METADATA requires exactly the intended dependencies, and every optional import names an extra it provides.

The wheel is built once per session (``pip wheel --no-deps``, a few seconds when the bundle exists; setup.sh
builds it); under scripts/test.sh it is the one that script built (PLW_WHEEL) and scripts/check_install.sh
installed. What a plain install of that wheel can do is checked end to end by scripts/check_install.sh.
"""

from __future__ import annotations

import ast
import email
import importlib.metadata
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pinn_landscape_widget"

# What `pip install pinn-landscape-widget` installs: everything a public function needs (demo, widget, to_html,
# plot, to_pythreejs, the CLI). tests/test_install_deps.py checks that the package imports nothing else.
REQUIRED = {
    "torch",
    "numpy",
    "xarray",
    "pandas",
    "netcdf4",
    "tqdm",
    "anywidget",
    "ipywidgets",
    "traitlets",
    "matplotlib",
    "pythreejs",
}
# extra -> distributions it must bring (an extra may bring more, e.g. jupyter-book's own dependencies)
EXTRAS = {
    "book": {"nbformat", "nbconvert", "jupyter-book"},
    "distributed": {"dask"},
    "deepxde": {"deepxde"},
    "pina": {"pina-mathlab"},
    "test": {"pytest", "ruff", "deepxde", "pina-mathlab"},
    "bench": {"pyhessian", "loss-landscapes"},
}


pytestmark = pytest.mark.integration  # reads the built wheel


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    given = os.environ.get("PLW_WHEEL")
    if given:  # scripts/test.sh built it from this checkout for scripts/check_install.sh: the same file
        return Path(given)
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return next(out.glob("pinn_landscape_widget-*.whl"))


@pytest.fixture(scope="session")
def metadata(wheel) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        return email.message_from_bytes(zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))))


def _requirements(metadata) -> tuple[set[str], dict[str, list[Requirement]]]:
    """(unconditional requirement names, {extra: its requirements})"""
    base, extras = set(), {e: [] for e in metadata.get_all("Provides-Extra", [])}
    for line in metadata.get_all("Requires-Dist", []):
        req = Requirement(line)
        if req.marker is None:
            base.add(canonical(req.name))
            continue
        hits = [e for e in extras if req.marker.evaluate({"extra": e})]
        assert hits, f"requirement {line!r} belongs to no extra (an environment marker on a required dependency?)"
        for e in hits:
            extras[e].append(req)
    return base, extras


def _names(reqs) -> set[str]:
    return {canonical(r.name) for r in reqs}


def test_wheel_contains_the_widget_bundle(wheel):
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
    assert "pinn-landscape = pinn_landscape_widget.cli:main" in entry_points


def test_wheel_metadata_requires_exactly_the_intended_dependencies(metadata):
    base, extras = _requirements(metadata)
    assert base == REQUIRED, f"missing: {sorted(REQUIRED - base)}, unexpected: {sorted(base - REQUIRED)}"
    assert set(extras) == set(EXTRAS), f"extras {sorted(extras)}"
    for extra, wanted in EXTRAS.items():
        assert wanted <= _names(extras[extra]), f"extra {extra!r} lacks {sorted(wanted - _names(extras[extra]))}"
    # an extra repeating a required dependency would suggest it is optional
    for extra, reqs in extras.items():
        assert not _names(reqs) & REQUIRED, f"extra {extra!r} repeats required {sorted(_names(reqs) & REQUIRED)}"


def test_wheel_version_is_the_one_in_version_py(metadata):
    namespace: dict = {}
    exec((PACKAGE / "_version.py").read_text(encoding="utf-8"), namespace)
    assert metadata["Version"] == namespace["__version__"]
    assert metadata["Name"] == "pinn-landscape-widget"
    assert (metadata["License-Expression"] or metadata["License"]) == "BSD-3-Clause"  # PEP 639 or the older field


def _require_calls():
    """(file, line, module, extra) for every ``require("module", "extra", ...)`` in the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "require":
                args = [a.value if isinstance(a, ast.Constant) else None for a in node.args[:2]]
                assert None not in args and len(args) == 2, f"{path}:{node.lineno}: require() with non-literal args"
                yield path.relative_to(ROOT), node.lineno, args[0], args[1]


def _brought_by(reqs: list[Requirement]) -> set[str]:
    """Distributions that ``reqs`` install, with their requirements' requirements (read from this environment)."""
    seen: set[tuple[str, frozenset]] = set()
    todo = [(r.name, frozenset(r.extras)) for r in reqs]
    while todo:
        name, extras = todo.pop()
        key = canonical(name)
        if (key, extras) in seen:
            continue
        seen.add((key, extras))
        try:
            reqs = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in reqs:
            req = Requirement(line)
            envs = [{"extra": e} for e in extras | {""}]
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                todo.append((req.name, frozenset(req.extras)))
    return {name for name, _ in seen}


def test_every_optional_import_names_an_extra_that_provides_it(metadata):
    _, extras = _requirements(metadata)
    calls = list(_require_calls())
    assert {m for *_, m, _ in calls} >= {
        "nbformat",
        "nbconvert.exporters",
        "distributed",
        "myst_nb",
        "deepxde",
        "pina.solver",
        "lightning.pytorch",
    }
    providers = importlib.metadata.packages_distributions()
    for path, line, module, extra in calls:
        assert extra in extras, f"{path}:{line}: require({module!r}, {extra!r}): the wheel has no extra {extra!r}"
        top = module.split(".")[0]
        dists = {canonical(d) for d in providers.get(top, [])}
        assert dists, f"{path}:{line}: {top} is not installed in the test environment (pip install -e '.[test]')"
        brought = _brought_by(extras[extra])  # dask[distributed] brings distributed; jupyter-book brings myst-nb
        assert dists & brought, f"{path}:{line}: extra {extra!r} does not install {top} ({sorted(dists)})"
