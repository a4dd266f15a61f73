"""nbconvert HTML whose saved widgets draw with no kernel and no network.

nbconvert's stock HTML export loads the widget renderer (@jupyter-widgets/html-manager) from a CDN when the
page is opened, and that renderer fetches anywidget's front end from another CDN: offline, or years later,
the widget is an empty box. This exporter points nbconvert's ``widget_renderer_url`` at the package's own
renderer of saved state (``static/embed/plw-embed.js``, inlined as a data: URL), which draws every anywidget
view from the ``_esm`` its saved state already holds. A LandscapeWidget view also keeps the PNG saved beside
it in the output, shown where the browser cannot draw in 3-D. Everything else is nbconvert's ``lab`` template.

    jupyter nbconvert --to plw_html executed.ipynb        # the exporter is registered as an entry point
    plw.notebook_to_html("executed.ipynb", "page.html")   # the same from Python

The notebook must carry widget state: execute it with nbclient / ``jupyter nbconvert --execute`` (which store
it by default) or save it from JupyterLab with "Save Widget State Automatically" on.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path

from traitlets import default

from .._optional import require
from ._assets import EMBED_SCRIPT

# nbformat and nbconvert come with the "book" extra: importing this module without them is an ImportError
# that names it (the package itself imports this module only when notebook_to_html is asked for)
nbformat = require("nbformat", "book", "notebook_to_html and nbconvert's plw_html exporter")
HTMLExporter = require("nbconvert.exporters", "book", "notebook_to_html and nbconvert's plw_html exporter").HTMLExporter


def embed_script_data_url() -> str:
    if not EMBED_SCRIPT.exists():
        raise FileNotFoundError(f"{EMBED_SCRIPT} is missing: the front end was not built (cd js && npm run build)")
    return "data:text/javascript;base64," + base64.b64encode(EMBED_SCRIPT.read_bytes()).decode()


STATE_MIME = "application/vnd.jupyter.widget-state+json"
VIEW_MIME = "application/vnd.jupyter.widget-view+json"


def with_saved_pictures(nb):
    """A copy of ``nb`` in which each LandscapeWidget view carries the PNG its output saved beside it
    (``plw_saved_png``): nbconvert writes one representation per output, the view, and would drop the PNG.
    The widget shows it where the browser cannot draw in 3-D (no WebGL)."""
    models = nb.metadata.get("widgets", {}).get(STATE_MIME, {}).get("state", {})
    # a LandscapeWidget's state has panel_status (panel_data in notebooks saved by earlier versions)
    ours = {mid for mid, m in models.items() if {"panel_status", "panel_data"} & set(m.get("state", {}))}
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            view, png = data.get(VIEW_MIME), data.get("image/png")
            if isinstance(view, dict) and view.get("model_id") in ours and isinstance(png, str):
                data[VIEW_MIME] = {**view, "plw_saved_png": png.replace("\n", "")}
    return nb


class OfflineWidgetHTMLExporter(HTMLExporter):  # type: ignore[misc,valid-type]  # loaded through require()
    """HTML export in which saved anywidget views (LandscapeWidget among them) draw offline."""

    export_from_notebook = "HTML (widgets drawn offline)"

    @default("widget_renderer_url")
    def _default_widget_renderer_url(self):
        return embed_script_data_url()

    def from_notebook_node(self, nb, resources=None, **kw):
        return super().from_notebook_node(with_saved_pictures(nb), resources, **kw)


def notebook_to_html(notebook, path) -> Path:
    """Convert an executed notebook to HTML whose widgets draw offline, from their saved state.

    The same as ``jupyter nbconvert --to plw_html``: nbconvert's ``lab`` template, with the package's own
    renderer of saved widget state inlined instead of the CDN one, so the page needs no network.

    Parameters
    ----------
    notebook : str, pathlib.Path or nbformat.NotebookNode
        An executed notebook carrying widget state: run it with nbclient / ``jupyter nbconvert --execute``
        (which store the state by default), or save it from JupyterLab with widget state.
    path : str or pathlib.Path
        The HTML file to write (its folder is made if need be).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    ValueError
        If the notebook carries no widget state.
    FileNotFoundError
        If the notebook file does not exist, or the front end was not built (``cd js && npm run build``).
    ImportError
        If nbformat or nbconvert is missing (the ``book`` extra).
    """
    nb = notebook if isinstance(notebook, nbformat.NotebookNode) else nbformat.read(str(notebook), as_version=4)
    if "application/vnd.jupyter.widget-state+json" not in nb.metadata.get("widgets", {}):
        name = "the notebook" if isinstance(notebook, nbformat.NotebookNode) else f"notebook {notebook}"
        raise ValueError(
            f"{name} carries no widget state: execute it with nbclient (store_widget_state=True) "
            "or save it from JupyterLab with widget state, then convert it"
        )
    body, _ = OfflineWidgetHTMLExporter().from_notebook_node(nb)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out
