"""Self-contained HTML: the widget's own front end and the numbers in one file, no kernel, no network.

The page is what a saved notebook looks like to a browser: the widget's state (its ESM, binary grids as
base64 buffers, and a set of precomputed slices) in a ``widget-state+json`` block, one ``widget-view+json``
block where it is drawn, and the package's offline renderer of saved state (``static/embed/plw-embed.js``)
inline, the same one that draws nbconvert HTML and Jupyter Book pages. The view swaps a precomputed slice
in when a run / direction kind / formulation is chosen and no kernel answers; every other control that
would need new numbers is disabled with a note. User-supplied strings reach the page either HTML-escaped
(the title) or as JSON with ``<``, ``>`` and ``&`` escaped inside a script block, so they stay text.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from ._assets import embed_script_text

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
