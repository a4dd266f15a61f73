"""The package's layers: a module imports only from its own layer or lower ones (DESIGN.md, CONTRIBUTING.md).

Read from the source with ``ast`` (every import, also those inside functions), so a lazy import that
climbs a layer fails here as surely as a top-level one.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pinn_landscape_widget"
ROOT = "pinn_landscape_widget"

# lowest first; a top-level module not listed here is a failure (every module must have a layer)
LAYERS = {
    "_version": 0,
    "_checks": 0,
    "_optional": 0,
    "_cache": 0,
    "pde": 1,
    "engine": 2,
    "models": 3,
    "analysis": 4,
    "viz": 5,
    "reproduce": 6,
    "cli": 7,
    "adapters": 7,
    "__init__": 7,
}


def _layer_of(module: str) -> int:
    parts = module.split(".")
    assert parts[0] == ROOT, module
    if len(parts) == 1:
        return LAYERS["__init__"]
    return LAYERS[parts[1]]


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, module: str):
    """(line, imported module) for every import of the package's own modules in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == ROOT:
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == ROOT:
                target = node.module
            else:
                continue
            if node.module is None:  # "from . import x": each name may be a module
                for alias in node.names:
                    yield node.lineno, f"{target}.{alias.name}"
            else:
                yield node.lineno, target


def _sources():
    return sorted(p for p in PACKAGE.rglob("*.py") if "static" not in p.parts)


def test_every_module_has_a_layer():
    for path in _sources():
        module = _module_name(path)
        _layer_of(module)  # KeyError names a module with no layer


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer(path):
    module = _module_name(path)
    own = _layer_of(module)
    bad = []
    for line, target in _imports(path, module):
        try:
            layer = _layer_of(target)
        except KeyError:
            layer = _layer_of(".".join(target.split(".")[:2]))
        if layer > own:
            bad.append(f"line {line}: {target} (layer {layer})")
    assert not bad, f"{module} (layer {own}) imports higher layers: {bad}"


def test_the_checker_sees_an_upward_import(tmp_path):
    # a guard against a checker that passes everything: a pde module importing the widget must be caught
    fake = PACKAGE / "pde" / "problems.py"
    src = "from ..viz.widget import LandscapeWidget\n"
    tree_imports = list(_imports_from_text(src, "pinn_landscape_widget.pde.problems"))
    assert tree_imports == [(1, "pinn_landscape_widget.viz.widget")]
    assert _layer_of(tree_imports[0][1]) > _layer_of("pinn_landscape_widget.pde.problems")
    assert fake.exists()


def _imports_from_text(src, module):
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(src)
    return _imports(Path(fh.name), module)
