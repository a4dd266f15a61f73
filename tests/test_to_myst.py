"""LandscapeWidget.to_myst: the files a MyST (Jupyter Book 2) page needs, the directive, and bad input.
(The page itself is drawn in tests/test_browser_myst.py and tests/test_book_myst.py.)"""

import base64
import json
import warnings

import pytest

import pinn_landscape_widget as plw
from pinn_landscape_widget.viz._assets import WIDGET_ESM

from .conftest import small_run


@pytest.fixture(scope="module")
def widget():
    return plw.LandscapeWidget(small_run("poisson1d", dict(n_points=64), "strong", steps=60), resolution=9).wait()


def _same(saved, filed, path="state") -> int:
    """Assert a value of the state file equals the exported one (bytes as base64); count the bytes compared."""
    if isinstance(saved, (bytes, memoryview)):
        assert isinstance(filed, str) and base64.b64decode(filed) == bytes(saved), path
        return len(bytes(saved))
    if isinstance(saved, dict):
        assert isinstance(filed, dict) and set(filed) == set(saved), path
        return sum(_same(v, filed[k], f"{path}.{k}") for k, v in saved.items())
    if isinstance(saved, (list, tuple)):
        assert isinstance(filed, list) and len(filed) == len(saved), path
        return sum(_same(v, f, f"{path}[{i}]") for i, (v, f) in enumerate(zip(saved, filed)))
    assert filed == saved, path
    return 0


def test_to_myst_writes_the_front_end_the_state_file_and_the_directive(widget, tmp_path):
    folder = tmp_path / "landscapes"
    directive = widget.to_myst(folder, precompute=None)
    second = widget.to_myst(folder, name="second-view", precompute=None)
    assert sorted(p.name for p in folder.iterdir()) == [
        "landscape.directive.txt",
        "landscape.json",
        "plw-widget.js",
        "second-view.directive.txt",
        "second-view.json",
    ]
    assert (folder / "plw-widget.js").read_bytes() == WIDGET_ESM.read_bytes()
    assert (folder / "landscape.directive.txt").read_text() == directive
    # the directive: the ESM from the project root (no myst.yml: the folder's parent), the state file from
    # the folder MyST serves the ESM in, and the version that wrote both
    head, body, fence = directive.strip().split("\n")
    assert head == "```{anywidget} /landscapes/plw-widget.js" and fence == "```"
    assert json.loads(body) == {"plw_state": "landscapes/landscape.json", "plw_version": plw.__version__}
    assert json.loads(second.split("\n")[1])["plw_state"] == "landscapes/second-view.json"
    # the state file: what export_state gives, grids as base64, less anywidget's and ipywidgets' own traits
    filed = json.loads((folder / "landscape.json").read_text())
    assert filed["format"] == "pinn-landscape-widget state" and filed["version"] == plw.__version__
    exported = widget.export_state(None)
    dropped = {k for k in exported if k.startswith("_")} | {"layout", "tabbable", "tooltip"}
    assert "_esm" in dropped and set(filed["state"]) == set(exported) - dropped
    compared = _same({k: v for k, v in exported.items() if k not in dropped}, filed["state"])
    assert compared > 9 * 9 * 4  # at least one 9 x 9 float32 grid went through base64 and back
    assert (folder / "landscape.json").stat().st_size < 200_000  # no copy of the 600 kB front end in it


def test_to_myst_places_the_directive_in_the_project_and_asks_for_static_files(widget, tmp_path):
    (tmp_path / "myst.yml").write_text("version: 1\nproject:\n  title: t\n")
    folder = tmp_path / "chapter" / "figures"
    with pytest.warns(UserWarning, match=r"does not list 'chapter/figures' under project.static_files"):
        directive = widget.to_myst(folder, precompute=None)
    assert directive.startswith("```{anywidget} /chapter/figures/plw-widget.js\n")
    assert '"plw_state": "figures/landscape.json"' in directive  # static_files copies the folder by its name
    (tmp_path / "myst.yml").write_text("version: 1\nproject:\n  static_files:\n    - chapter/figures\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert widget.to_myst(folder, precompute=None) == directive


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(name="../escape"), ValueError, r"name must be a file name stem .* got '../escape'"),
        (dict(name=""), ValueError, r"name must be a file name stem"),
        (dict(name=3), ValueError, r"name must be a file name stem .* got 3"),
        (dict(precompute=("bogus",)), ValueError, r"precompute must be None or names from \['run_label', "),
        (dict(precompute="everything"), ValueError, r"precompute must be None or names from .* got 'everything'"),
        (dict(precompute=[1]), ValueError, r"precompute must be None or names from .* got \[1\]"),
        (dict(folder=""), ValueError, r"folder must be a path, got an empty string"),
        (dict(folder=3.5), TypeError, r"folder must be a str or pathlib.Path, got float"),
        (dict(folder="FILE"), ValueError, r"folder must be a folder, got the file .*a-file"),
        (dict(folder="UNDER_FILE"), ValueError, r"folder .*a-file/sub' cannot be made"),
        (dict(folder="/proc/plw-landscapes"), ValueError, r"folder '/proc/plw-landscapes' cannot be made"),
    ],
)
def test_to_myst_bad_arguments_name_the_argument_and_what_is_allowed(widget, tmp_path, kwargs, error, match):
    (tmp_path / "a-file").write_text("x")
    spec = kwargs.pop("folder", tmp_path / "out")
    folder = {"FILE": tmp_path / "a-file", "UNDER_FILE": tmp_path / "a-file" / "sub"}.get(spec, spec)
    with pytest.raises(error, match=match):
        widget.to_myst(folder, **kwargs)
    assert not (tmp_path / "out").exists()  # nothing made before the arguments were checked
