"""Where the built front end lives in the installed package (``static/``, built from ``js/``).

The bundle is git-ignored in a checkout and shipped in the wheel; ``pip install .`` builds it.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
WIDGET_ESM = STATIC_DIR / "widget.js"  # the anywidget front end (ESM)
EMBED_DIR = STATIC_DIR / "embed"
EMBED_SCRIPT = EMBED_DIR / "plw-embed.js"  # the renderer of saved widget state (HTML export, nbconvert, book)


def embed_script_text() -> str:
    """The saved-state renderer's source; a clear error when the front end was never built."""
    if not EMBED_SCRIPT.exists():
        raise FileNotFoundError(f"{EMBED_SCRIPT} is missing: the front end was not built (cd js && npm run build)")
    return EMBED_SCRIPT.read_text(encoding="utf-8")
