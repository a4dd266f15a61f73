"""Self-contained HTML: the widget's own front end and the numbers in one file, no kernel, no network.

The page holds the JS bundle (base64, loaded as a module from a Blob URL) and the widget's state with a set
of precomputed slices (JSON with binary grids as base64). The view itself swaps a precomputed slice in when
a run / direction kind / formulation is chosen and no kernel answers; every other control that would need
new numbers is disabled with a note. User-supplied strings only ever reach the page as JSON inside a
``<script type="application/json">`` block with ``<``, ``>`` and ``&`` escaped, so they stay text.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from .widget import LandscapeWidget

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="icon" href="data:,">
<style>body {{ font-family: system-ui, sans-serif; margin: 16px; }} .plw-static-note {{ color: #555; margin: 6px 0; }}</style>
</head><body>
<h2 class="plw-page-title"></h2>
<div class="plw-static-note">Static page: the precomputed slices can be switched here; other settings need a live
Python kernel.</div>
<div id="plw-host"></div>
<script type="application/json" id="plw-data">{data}</script>
<script type="text/plain" id="plw-bundle">{bundle}</script>
<script type="module">
const data = JSON.parse(document.getElementById("plw-data").textContent);
document.querySelector(".plw-page-title").textContent = data.title;
const b64 = document.getElementById("plw-bundle").textContent.trim();
const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const url = URL.createObjectURL(new Blob([bytes], {{ type: "text/javascript" }}));
const widget = (await import(url)).default;
// A model with no kernel behind it: the view swaps in the precomputed slices (static_slices) itself.
class SavedStateModel {{
  constructor(state) {{ this.state = state; this.handlers = {{}}; }}
  get(k) {{ return this.state[k]; }}
  set(k, v) {{ this.state[k] = v; for (const f of this.handlers["change:" + k] || []) f(); }}
  on(e, f) {{ (this.handlers[e] ||= []).push(f); }}
  off(e, f) {{ this.handlers[e] = (this.handlers[e] || []).filter((g) => g !== f); }}
  save_changes() {{}}
}}
const model = new SavedStateModel(data.state);
window.plwModel = model;
widget.render({{ model, el: document.getElementById("plw-host") }});
window.plwReady = true;
</script>
</body></html>
"""


def _b64(v):
    """Binary values (also nested in dicts and lists) as base64 strings, the front end decodes both."""
    if isinstance(v, (bytes, memoryview)):
        return base64.b64encode(bytes(v)).decode()
    if isinstance(v, dict):
        return {k: _b64(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_b64(x) for x in v]
    return v


def state_json(w: LandscapeWidget) -> str:
    """The widget's synced state as JSON (binary grids as base64): the body of a MyST {anywidget} block."""
    state = {k: _b64(v) for k, v in w.get_state().items()}
    state["interactive"] = False
    return json.dumps(state)


def _json_for_html(obj) -> str:
    """JSON that is safe inside a <script> element: no '<', '>' or '&' survives unescaped."""
    return json.dumps(obj).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def widget_to_html(w: LandscapeWidget, path, *, precompute=("direction_kind", "formulation"),
                   title: str | None = None) -> Path:
    """Write ``w`` as one self-contained HTML file and return its path.

    ``precompute`` names the choices to carry (see ``LandscapeWidget.precompute``); ``None`` keeps the
    slices the widget already carries.
    """
    bundle = (Path(__file__).parent / "static" / "widget.js").read_bytes()
    state = w.get_state()
    if precompute is not None and w._runs:
        state["static_slices"] = w._precomputed_slices(precompute)
        state["static_choices"] = list(precompute)
    state = {k: _b64(v) for k, v in state.items()}
    state["interactive"] = False
    state["status"] = "done"
    data = dict(title=title or w.title or "PINN loss landscape", state=state)
    page = PAGE.format(title=html.escape(data["title"]), data=_json_for_html(data),
                       bundle=base64.b64encode(bundle).decode())
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def to_html(source, path, **kwargs) -> Path:
    """Self-contained HTML of a Dataset, a run, a dict of labelled runs, or a LandscapeWidget."""
    w = source if isinstance(source, LandscapeWidget) else LandscapeWidget(source, compute=False)
    if w._runs and not w.grid:
        w.request()
        w.wait()
    return widget_to_html(w, path, **kwargs)
