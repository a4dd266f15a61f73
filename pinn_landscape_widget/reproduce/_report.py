"""A study's result: its setup, one row per published number, and how it is written (JSON and Markdown).

A row compares one published number with ours: ``ratio`` = ours / published, and ``verdict`` says whether
it reproduces by the study's stated criterion. The JSON file is the record (setup, rows, machine, timing,
the command); the Markdown table is rendered from it, here and in docs/reproductions.md, never typed. Each row's
published number and its source are copied from the study's committed ``published`` entries (``Study.row``).
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import shlex
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch


@dataclass
class Row:
    """One published number next to ours.

    case: what was run (e.g. "vanilla, beta = 30"); quantity: what is compared (e.g. "relative L2 error");
    published: the number as the table shows it (or a finding in words, with ``published_value`` None);
    source: the paper and its table or figure; published_key: the entry of the study's ``published`` it
    was copied from (``Study.row`` fills these four); ours: our number; verdict: "reproduced", "not
    reproduced" or "differs", by ``criterion``; detail: the run's own numbers (iterations, stop reason,
    loss, seconds, ...)."""

    case: str
    quantity: str
    published: str
    ours: float | None
    criterion: str
    verdict: str
    published_value: float | None = None
    ours_text: str = ""
    detail: dict = field(default_factory=dict)
    source: str = ""
    published_key: str = ""

    @property
    def ratio(self) -> float | None:
        """ours / published, None where either is missing (a finding in words) or published is 0."""
        if self.published_value is None or self.ours is None or self.published_value == 0:
            return None
        return self.ours / self.published_value


@dataclass
class StudyResult:
    """What a study's ``run`` and ``plw.reproduce`` return, and what is written as STEM.json and STEM.md.

    rows: the table (published | source | ours | ratio | verdict, one ``Row`` each); published: the
    published entries the rows (and notes) compare with, key -> value, shown text, source and citation;
    references: the full citations; setup: what matches the paper and what does not; notes; verdicts:
    how many rows have each verdict. ``reproduce`` adds the command that reruns it, the seconds and the
    machine. runs: the trained runs and other objects, kept in memory only (not written)."""

    study: str
    title: str
    quick: bool
    rows: list[Row]
    published: dict
    references: list[str]
    setup: dict
    notes: list[str]
    command: str = ""
    seconds: float = 0.0
    machine: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    variant: str = ""
    runs: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def stem(self) -> str:
        """The file name without suffix: STUDY, then _VARIANT (e.g. _float64) and _quick where they apply."""
        return self.study + (f"_{self.variant}" if self.variant else "") + ("_quick" if self.quick else "")

    @property
    def verdicts(self) -> dict[str, int]:
        """How many rows have each verdict, e.g. {"reproduced": 7, "not reproduced": 2}."""
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.verdict] = counts.get(row.verdict, 0) + 1
        return counts

    def to_dict(self) -> dict:
        """Everything but ``runs``, as plain data; each row also has its ``ratio``."""
        d = {}
        for f in fields(self):
            if f.name == "rows":
                d["rows"] = [dict(asdict(row), ratio=row.ratio) for row in self.rows]
            elif f.name != "runs":
                d[f.name] = copy.deepcopy(getattr(self, f.name))
        return d

    def to_json(self) -> str:
        return json.dumps(_finite(self.to_dict()), indent=1, sort_keys=False) + "\n"

    def to_markdown(self) -> str:
        return render_markdown(self.to_dict())

    def table(self):
        """The rows as a pandas DataFrame: case, quantity, published, source, ours, ratio, verdict."""
        import pandas as pd

        return pd.DataFrame(
            [
                dict(
                    case=r.case,
                    quantity=r.quantity,
                    published=r.published,
                    source=r.source,
                    ours=r.ours,
                    ratio=r.ratio,
                    verdict=r.verdict,
                )
                for r in self.rows
            ]
        )

    def write(self, out) -> list[Path]:
        """STEM.json and STEM.md in the folder ``out`` (``stem``: STUDY, STUDY_float64, STUDY_quick, ...);
        returns their paths."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / f"{self.stem}.json", out / f"{self.stem}.md"]
        paths[0].write_text(self.to_json(), encoding="utf-8")
        paths[1].write_text(self.to_markdown(), encoding="utf-8")
        return paths


def _finite(obj):
    """JSON has no NaN or inf: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def fmt(x, digits: int = 3) -> str:
    """A number as it appears in the tables: 3 significant digits, scientific outside [1e-2, 1e4)."""
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if not math.isfinite(x):
        return str(x)
    if x != 0 and (abs(x) < 1e-2 or abs(x) >= 1e4):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def _cell(text) -> str:
    """Text for a Markdown table cell: a literal | would end the cell."""
    return str(text).replace("|", "\\|")


TABLE_HEADER = "| case | quantity | published | source | ours | ours / published | verdict |"


def render_markdown(d: dict, heading_level: int = 2) -> str:
    """The Markdown of a study result (a ``StudyResult.to_dict()``, e.g. read back from its JSON)."""
    h = "#" * heading_level
    variant = d.get("variant") or ""
    lines = [f"{h} {d['title']}{f' ({variant})' if variant else ''}{' (quick)' if d['quick'] else ''}", ""]
    lines.append(TABLE_HEADER)
    lines.append("|---|---|---|---|---|---|---|")
    for r in d["rows"]:
        ours = r.get("ours_text") or fmt(r["ours"])
        cells = [r["case"], r["quantity"], r["published"], r["source"], ours, fmt(r.get("ratio")), r["verdict"]]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines.append("")
    lines.append("Criteria: " + "; ".join(sorted({f"{r['quantity']}: {r['criterion']}" for r in d["rows"]})) + ".")
    lines.append("")
    lines.append("References:")
    lines.append("")
    lines.extend(f"- {ref}" for ref in d["references"])
    lines.append("")
    lines.append(f"{h}# Setup")
    lines.append("")
    lines.append("| | ours | paper |")
    lines.append("|---|---|---|")
    for key, item in d["setup"].items():
        if isinstance(item, dict):
            ours, theirs = item.get("ours", ""), item.get("paper", "")
        else:
            ours, theirs = item, ""
        lines.append(f"| {_cell(key)} | {_cell(ours)} | {_cell(theirs)} |")
    lines.append("")
    if d["notes"]:
        lines.append(f"{h}# Notes")
        lines.append("")
        lines.extend(f"- {n}" for n in d["notes"])
        lines.append("")
    m = d.get("machine", {})
    lines.append(
        f"Ran in {d['seconds'] / 60:.1f} min on {m.get('cpus', '?')} CPU core(s) with {m.get('torch_threads', '?')} "
        f"torch thread(s), load average {m.get('load_before', '?')} before and {m.get('load_after', '?')} after "
        f"(torch {m.get('torch', '?')}, {m.get('date', '?')}). Rerun: `{d['command']}`"
    )
    lines.append("")
    return "\n".join(lines)


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # not on every platform
        return "n/a"


def machine_info(threads: int) -> dict:
    return dict(
        cpus=os.cpu_count(),
        torch_threads=int(threads),
        torch=torch.__version__,
        python=platform.python_version(),
        platform=platform.platform(terse=True),
        load_before=load_average(),
        date=time.strftime("%Y-%m-%d"),
    )


def command_for(study: str, quick: bool, options: dict) -> str:
    parts = ["pinn-landscape", "reproduce", study]
    if quick:
        parts.append("--quick")
    for k, v in options.items():
        parts += ["--param", f"{k}={json.dumps(v, separators=(',', ':'))}"]
    parts += ["--out", "DIR"]
    return " ".join(shlex.quote(p) for p in parts)
