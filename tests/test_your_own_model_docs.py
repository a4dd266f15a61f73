"""Every code block of docs/your-own-model.md runs as written, each on its own in a fresh interpreter (a
reader copies one block, not the page), with no placeholders."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "your-own-model.md"


def _blocks() -> list[tuple[str, str]]:
    text = PAGE.read_text()
    out = []
    for k, m in enumerate(re.finditer(r"```python\n(.*?)```", text, flags=re.S)):
        code = m.group(1)
        uses = "deepxde" if "deepxde" in code else "pina" if "from pina" in code else "torch"
        out.append((f"block{k}-{uses}", code))
    return out


BLOCKS = _blocks()


def test_the_page_has_its_blocks_and_no_placeholders():
    assert len(BLOCKS) >= 5
    for name, code in BLOCKS:
        assert not re.search(r"(^|\s|:)\.\.\.\s*$", code, flags=re.M), f"{name} has a '...' placeholder"


@pytest.mark.slow  # each block trains a small model in a fresh interpreter (5-30 s)
@pytest.mark.parametrize("name,code", BLOCKS, ids=[n for n, _ in BLOCKS])
def test_each_code_block_runs_as_written_on_its_own(name, code, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", DDE_BACKEND="pytorch", PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stderr[-3000:]}"
