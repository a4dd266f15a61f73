"""Pages without a kernel: one self-contained HTML file, or the files a MyST (Jupyter Book 2) page needs.

The page is what a saved notebook looks like to a browser: the widget's state (its ESM, binary grids as
base64 buffers, and a set of precomputed slices) in a ``widget-state+json`` block, one ``widget-view+json``
block where it is drawn, and the package's offline renderer of saved state (``static/embed/plw-embed.js``)
inline, the same one that draws nbconvert HTML and Jupyter Book pages. The view swaps a precomputed slice
in when a run / direction kind / formulation is chosen and no kernel answers; every other control that
would need new numbers is disabled with a note. User-supplied strings reach the page either HTML-escaped
(the title) or as JSON with ``<``, ``>`` and ``&`` escaped inside a script block, so they stay text.

For MyST, whose ``{anywidget}`` directive takes the widget's state only as JSON inline in the page, the state
goes to a file of its own (``widget_to_myst``) and the directive's body names it and the version that wrote
it; the front end (``js/src/statefile.ts``) fetches the file and refuses one of another version by name.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import warnings
from pathlib import Path

from .._version import __version__
from ._assets import WIDGET_ESM, embed_script_text

CHOICE_TRAITS = ("run_label", "direction_kind", "formulation")  # what a page without a kernel can switch

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="icon" href="data:,">
<style>body {{ font-family: system-ui, sans-serif; margin: 16px; }} .plw-static-note {{ color: #555; margin: 6px 0; }}</style>
</head><body>
<h2 class="plw-page-title">{title}</h2>
<div class="plw-static-note">Static page: the precomputed slices can be switched here; other settings need a live
Python kernel.</div>
<script type="application/vnd.jupyter.widget-state+json">{state}</script>
<script type="application/vnd.jupyter.widget-view+json">{view}</script>
<script>{renderer}</script>
</body></html>
"""
MODEL_ID = "plw-landscape"


def _b64(v):
    """Binary values (also nested in dicts and lists) as base64 strings, the front end decodes both."""
    if isinstance(v, (bytes, memoryview)):
        return base64.b64encode(bytes(v)).decode()
    if isinstance(v, dict):
        return {k: _b64(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_b64(x) for x in v]
    return v


def state_json(w) -> str:
    """The widget's state as a page without a kernel needs it (the slices it carries, each shown run's
    replay), as JSON with binary grids in base64: the body of a MyST {anywidget} block."""
    return json.dumps({k: _b64(v) for k, v in w.export_state(None).items()})


def panels_in_state(state: dict) -> list[dict]:
    """What each panel of a saved LandscapeWidget state draws: its slot's numbers with its status and message.

    The state carries each panel's numbers once, in a ``panel_<k>`` entry, and ``panel_status`` says which
    entry each panel draws (panels showing the same numbers share one); this puts them back together as
    the front end does. Works on ``export_state()``, on ``json.loads(state_json(w))`` and on the ``state``
    of a saved notebook's model (binary values stay as they are there: bytes, base64 strings or absent).

    Parameters
    ----------
    state : dict
        A LandscapeWidget's state, by trait name.

    Returns
    -------
    list of dict
        One dict per panel, in panel order.
    """
    return [
        {**state.get(f"panel_{e['slot']}", {}), "status": e["status"], "message": e.get("message", "")}
        for e in state.get("panel_status", [])
    ]


def _json_for_html(obj) -> str:
    """JSON that is safe inside a <script> element: no '<', '>' or '&' survives unescaped."""
    return json.dumps(obj).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def saved_widget_state(state: dict, model_id: str = MODEL_ID) -> dict:
    """A widget's state in the format nbclient saves in a notebook (binary values as base64 buffers)."""
    from ipywidgets.widgets.widget import _remove_buffers

    plain, paths, buffers = _remove_buffers(state)
    return {
        "version_major": 2,
        "version_minor": 0,
        "state": {
            model_id: {
                "model_name": "AnyModel",
                "model_module": "anywidget",
                "model_module_version": "*",
                "state": plain,
                "buffers": [
                    {"path": path, "encoding": "base64", "data": base64.b64encode(bytes(buf)).decode()}
                    for path, buf in zip(paths, buffers)
                ],
            }
        },
    }


def widget_to_html(w, path, *, precompute=("direction_kind", "formulation"), title: str | None = None) -> Path:
    """Write ``w`` as one self-contained HTML file and return its path.

    ``precompute`` names the choices to carry (see ``LandscapeWidget.precompute``); ``None`` keeps the
    slices the widget already carries. The page opens at the widget's camera and replays training.
    """
    renderer = embed_script_text()
    if "</script" in renderer.lower():  # cannot happen with esbuild's output; would end the block early
        raise RuntimeError("the saved-state renderer cannot be inlined: it contains '</script'")
    state = w.export_state(precompute)
    title = title or w.title or "PINN loss landscape"
    page = PAGE.format(
        title=html.escape(title),
        state=_json_for_html(saved_widget_state(state)),
        view=_json_for_html({"version_major": 2, "version_minor": 0, "model_id": MODEL_ID}),
        renderer=renderer,
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


# ---- MyST / Jupyter Book 2 ----------------------------------------------------------------------------------
MYST_ESM_NAME = "plw-widget.js"  # the front end, once per folder, shared by every state file in it
STATE_FORMAT = "pinn-landscape-widget state"  # a state file's "format"; js/src/statefile.ts checks it
_STATE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_KERNEL_ONLY = ("layout", "tabbable", "tooltip")  # ipywidgets' own traits: nothing for a page without a kernel


def state_file(state: dict) -> dict:
    """A widget's exported state (``LandscapeWidget.export_state``) as a MyST state file holds it: the format,
    the package version that wrote it, and the traits the view reads (binary grids as base64), without
    anywidget's and ipywidgets' own (the front end itself, the model names, the layout reference)."""
    kept = {k: _b64(v) for k, v in state.items() if not k.startswith("_") and k not in _KERNEL_ONLY}
    return {"format": STATE_FORMAT, "version": __version__, "state": kept}


def myst_project_root(folder: Path) -> Path:
    """The MyST project ``folder`` belongs to: the nearest folder above it holding a ``myst.yml``, else the
    folder's parent."""
    folder = folder.resolve()
    return next((up for up in folder.parents if (up / "myst.yml").is_file()), folder.parent)


def myst_directive(esm: str, state_url: str) -> str:
    """The ``{anywidget}`` directive that shows a landscape from a state file: the ESM's path in the project
    (a leading "/" is the project root) and, in its JSON body, the state file's URL relative to the ESM as
    MyST serves it, and the version of both."""
    body = json.dumps({"plw_state": state_url, "plw_version": __version__})
    return f"```{{anywidget}} {esm}\n{body}\n```\n"


def _check_static_files(root: Path, rel: str) -> None:
    """Warn when the project's myst.yml does not copy the folder into the site (``project.static_files``)."""
    config = root / "myst.yml"
    if not config.is_file():
        return
    text = config.read_text(encoding="utf-8", errors="replace")
    if "static_files" not in text or not re.search(rf"(?<![\w./-]){re.escape(rel)}/?(?![\w./-])", text):
        warnings.warn(
            f"{config} does not list {rel!r} under project.static_files, so the site will not serve the state "
            f"file; add it:\n\nproject:\n  static_files:\n    - {rel}\n",
            stacklevel=3,
        )


def _check_precompute(precompute) -> None:
    """A ValueError naming ``precompute`` unless it is None or names of choices a page can switch."""
    names = (precompute,) if isinstance(precompute, str) else precompute
    if precompute is not None and (
        not isinstance(names, (list, tuple)) or not all(isinstance(c, str) and c in CHOICE_TRAITS for c in names)
    ):
        raise ValueError(f"precompute must be None or names from {list(CHOICE_TRAITS)}, got {precompute!r}")


def widget_to_myst(w, folder, *, name: str = "landscape", precompute=("direction_kind", "formulation")) -> str:
    """Write the files a MyST page (Jupyter Book 2) needs to show ``w``; return the directive to paste.

    See ``LandscapeWidget.to_myst`` (which calls this) for the parameters, the files and the errors.
    """
    if not isinstance(name, str) or not _STATE_NAME.fullmatch(name):
        raise ValueError(
            f"name must be a file name stem of letters, digits, '_', '.' and '-' (not starting with '.' or "
            f"'-'), got {name!r}"
        )
    if isinstance(folder, str) and not folder.strip():
        raise ValueError("folder must be a path, got an empty string")
    try:
        out = Path(folder)
    except TypeError:
        raise TypeError(f"folder must be a str or pathlib.Path, got {type(folder).__name__}") from None
    _check_precompute(precompute)
    if out.exists() and not out.is_dir():
        raise ValueError(f"folder must be a folder, got the file {str(out)!r}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"folder {str(out)!r} cannot be made: {exc.strerror or exc}") from None
    if not WIDGET_ESM.exists():
        raise FileNotFoundError(f"{WIDGET_ESM} is missing: the front end was not built (cd js && npm run build)")
    state = w.export_state(precompute)
    root = myst_project_root(out)
    rel = out.resolve().relative_to(root).as_posix()
    directive = myst_directive(f"/{rel}/{MYST_ESM_NAME}", f"{out.resolve().name}/{name}.json")
    try:
        shutil.copyfile(WIDGET_ESM, out / MYST_ESM_NAME)
        (out / f"{name}.json").write_text(json.dumps(state_file(state), separators=(",", ":")), encoding="utf-8")
        (out / f"{name}.directive.txt").write_text(directive, encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"folder {str(out)!r} cannot be written: {exc.strerror or exc}") from None
    _check_static_files(root, rel)
    return directive
