"""The notebooks run top to bottom in a real kernel (nbclient) and produce what they promise."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
                   store_widget_state=True).execute()
    artifacts = Path(__file__).resolve().parents[1] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    nbformat.write(nb, artifacts / path.name)  # the executed notebook, to look at
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    if path.stem in ("01_quickstart", "02_deep_ritz_vs_strong"):
        views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        assert views, "the widget is displayed"
        assert any("image/png" in o.get("data", {}) for o in views), "with a PNG fallback"
        state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
        assert any(s["model_name"] == "AnyModel" for s in state.values())
    text = "".join(o.get("text", "") for o in outputs)
    if path.stem == "03_failure_modes_convection":
        assert "beta =  40" in text
