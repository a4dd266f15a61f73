"""Self-contained HTML: the widget's own front end and the numbers in one file, no kernel, no network.

The page holds the JS bundle (base64, loaded as a module from a Blob URL) and a set of precomputed slices
(JSON with binary grids as base64). A small in-page model plays the kernel's part: choosing a precomputed
direction kind / formulation / run swaps the grids in; every other control that would need new numbers is
disabled with a note. User-supplied strings only ever reach the page as JSON inside a
``<script type="application/json">`` block with ``<``, ``>`` and ``&`` escaped, so they stay text.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
from pathlib import Path

from .widget import LandscapeWidget

# Traits that describe one computed slice (both panels); everything else is the shared UI state.
SLICE_TRAITS = ("grid", "grid_shape", "error_grid", "alpha_range", "beta_range", "trajectory", "energy_reference",
                "z_label", "title", "grid2", "grid_shape2", "error_grid2", "alpha_range2", "beta_range2",
                "trajectory2", "energy_reference2", "z_label2", "title2", "status_text")
CHOICE_TRAITS = ("run_label", "direction_kind", "formulation")

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
const keyOf = (s) => JSON.stringify(data.choices.map((k) => s[k]));
class StaticModel {{
  constructor(state) {{ this.state = state; this.handlers = {{}}; }}
  get(k) {{ return this.state[k]; }}
  set(k, v) {{ this.state[k] = v; for (const f of this.handlers["change:" + k] || []) f(); }}
  on(e, f) {{ (this.handlers[e] ||= []).push(f); }}
  off(e, f) {{ this.handlers[e] = (this.handlers[e] || []).filter((g) => g !== f); }}
  save_changes() {{
    // the part a kernel would play: swap in a precomputed slice for the chosen settings
    const slice = data.slices[keyOf(this.state)];
    if (slice) {{
      this.set("error", "");
      for (const [k, v] of Object.entries(slice)) this.set(k, v);
    }} else {{
      this.set("error", "This combination was not precomputed for this page; run the notebook to compute it.");
    }}
  }}
}}
const model = new StaticModel(data.state);
window.plwModel = model;
widget.render({{ model, el: document.getElementById("plw-host") }});
window.plwReady = true;
</script>
</body></html>
"""


def _b64(v):
    return base64.b64encode(bytes(v)).decode() if isinstance(v, (bytes, memoryview)) else v


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

    ``precompute`` names the choices to carry: every combination of their values (run labels, direction
    kinds, formulations) is computed at the widget's current resolution, span, seed and normalization.
    """
    bundle = (Path(__file__).parent / "static" / "widget.js").read_bytes()
    state = {k: _b64(v) for k, v in w.get_state().items()}
    slices = {}
    choices = list(CHOICE_TRAITS)
    if w._runs:
        unknown = [c for c in precompute if c not in CHOICE_TRAITS]
        if unknown:
            raise ValueError(f"precompute may name {list(CHOICE_TRAITS)}, got {unknown}")
        options = {"run_label": list(w.run_labels), "direction_kind": list(w.direction_kinds),
                   "formulation": list(w.formulations)}
        axes = [options[c] if c in precompute else [getattr(w, c)] for c in choices]
        base = w.settings()
        for combo in itertools.product(*axes):
            label, kind, form = combo
            settings = (label, kind, form) + base[3:]
            tmp = LandscapeWidget(w._runs, direction_kind=kind, formulation=form, resolution=w.resolution,
                                  span=w.span, seed=w.seed, normalization=w.normalization, compare=w.compare,
                                  compute=False)
            tmp._dir_cache = w._dir_cache  # Hessian/PCA directions are shared, not recomputed
            tmp._cache = w._cache
            with tmp.hold_trait_notifications():
                tmp._ready = False
                tmp.run_label = label
                tmp._ready = True
            tmp._job(tmp._latest, tmp.settings())
            if tmp.status != "done":
                continue  # e.g. PCA of a run with too few checkpoints: left out, its choice shows a note
            tstate = tmp.get_state()
            slices[json.dumps(list(combo), separators=(",", ":"))] = {k: _b64(tstate[k]) for k in SLICE_TRAITS}
            tmp.close()
        state["static_choices"] = [c for c in precompute]
    state["interactive"] = False
    state["status"] = "done"
    data = dict(title=title or w.title or "PINN loss landscape", state=state, slices=slices, choices=choices)
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
