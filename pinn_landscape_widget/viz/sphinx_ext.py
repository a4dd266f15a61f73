"""Sphinx / Jupyter Book 1.x extension: saved widgets draw on the built pages with no kernel and no network.

myst-nb writes a notebook's saved widget state into each page and, by default, loads RequireJS and
@jupyter-widgets/html-manager from CDNs to draw it, which then fetch each widget's front end from another
CDN. This extension swaps those for the package's own renderer of saved state (``plw-embed.js``, copied
into ``_static``), which draws anywidget views (LandscapeWidget among them) from the ``_esm`` their state
already holds. In a Jupyter Book ``_config.yml``:

    sphinx:
      extra_extensions:
        - pinn_landscape_widget.viz.sphinx_ext
"""

from __future__ import annotations

from .._optional import require
from ._assets import EMBED_DIR


def _use_offline_renderer(app, config):
    if not (EMBED_DIR / "plw-embed.js").exists():
        raise FileNotFoundError(
            f"{EMBED_DIR / 'plw-embed.js'} is missing: the front end was not built (cd js && npm run build)"
        )
    config.html_static_path = [*config.html_static_path, str(EMBED_DIR)]
    config.nb_ipywidgets_js = {"plw-embed.js": {"defer": "defer"}}


def setup(app):
    require("myst_nb", "book", "the Sphinx extension pinn_landscape_widget.viz.sphinx_ext")
    app.setup_extension("myst_nb")  # its nb_ipywidgets_js setting must exist before we replace it
    app.connect("config-inited", _use_offline_renderer)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
