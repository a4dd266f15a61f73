"""Writes the reference part of docs/api.md from the public namespace's docstrings, so it cannot drift.

Every name in ``plw.__all__`` is listed under its topic with its signature and its numpydoc sections
(Parameters, Returns, Raises); a class also lists its public methods. ``problems()`` returns every public
parameter that its docstring does not document; tests/test_api_docs.py fails on any, and on a page that differs
from what this script writes. The page's other parts (the vocabulary, the rules) are written by hand.

    python docs/make_api_reference.py            # rewrite docs/api.md
    python docs/make_api_reference.py --check    # exit 1 if it is out of date or a parameter is undocumented
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import re
import sys
from pathlib import Path

from numpydoc.docscrape import NumpyDocString

import pinn_landscape_widget as plw

# the adapters' recorder classes subclass their library's callback base: import the libraries (test extra) first
os.environ.setdefault("DDE_BACKEND", "pytorch")
for _library in ("deepxde", "pina"):
    importlib.import_module(_library)

HERE = Path(__file__).resolve().parent
PAGE = HERE / "api.md"
BEGIN = "<!-- BEGIN GENERATED: reference (python docs/make_api_reference.py; do not edit by hand) -->"
END = "<!-- END GENERATED: reference -->"

# the order a reader meets things in; every public name is in exactly one topic (checked)
TOPICS = {
    "Problems and losses": [
        "list_problems",
        "get_problem",
        "define_problem",
        "Problem",
        "dirichlet",
        "neumann",
        "periodic",
        "initial",
        "initial_rate",
        "list_formulations",
    ],
    "Training and runs": [
        "train",
        "TrainResult",
        "MLP",
        "from_model",
        "squares",
        "Recorder",
        "adapters",
        "solution_snapshot",
    ],
    "Evaluating the loss": ["evaluate", "MemoryBudgetError"],
    "Threads": ["set_threads", "get_threads"],
    "Directions": [
        "Directions",
        "random_directions",
        "pca_directions",
        "hessian_directions",
        "interpolation_direction",
        "curve_directions",
    ],
    "Landscapes": ["landscape", "landscape_sweep", "compare_landscapes", "roughness_index"],
    "Curvature": [
        "HessianOperator",
        "hessian_eigenpairs",
        "hessian_spectrum",
        "directional_curvature",
        "curvature_map",
    ],
    "Diagnostics and connectivity": ["diagnose", "connect"],
    "Widget, plots and export": ["LandscapeWidget", "explore", "plot", "to_html", "to_pythreejs", "notebook_to_html"],
    "Published studies": ["reproduce"],
}
SKIP = {"__version__"}
# methods a class inherits the contract of (ipywidgets, torch): documented upstream
INHERITED = {"set_state", "close", "forward"}


def public_names() -> list[str]:
    return [n for n in plw.__all__ if n not in SKIP]


def _documented(doc: str | None) -> NumpyDocString:
    return NumpyDocString(inspect.cleandoc(doc or ""))


def _parameters(obj) -> list[inspect.Parameter]:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    return [p for name, p in sig.parameters.items() if name not in ("self", "cls") and not name.startswith("_")]


def _methods(cls) -> list[tuple[str, object]]:
    """The public methods a user calls on ``cls``: its own and those of its bases inside this package (a
    TrainResult's come from models._run.RunBase), not those of ipywidgets or torch."""
    out, seen = [], set()
    members = [
        (name, member)
        for klass in cls.__mro__
        if klass.__module__.startswith("pinn_landscape_widget")
        for name, member in vars(klass).items()
    ]
    for name, member in members:
        if name.startswith("_") or name in INHERITED or name in seen:
            continue
        seen.add(name)
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if inspect.isfunction(member):
            out.append((name, member))
    return out


def _documented_names(doc: NumpyDocString) -> set[str]:
    names = set()
    for section in ("Parameters", "Other Parameters"):
        for param in doc[section]:
            for name in param.name.split(","):
                names.add(name.strip().lstrip("*"))
    return names


def _undocumented(where: str, obj, doc_source) -> list[str]:
    doc = _documented(doc_source.__doc__)
    have = _documented_names(doc)
    missing = [p.name for p in _parameters(obj) if p.name not in have]
    out = [f"{where}: parameter {name!r} is not in the docstring's Parameters section" for name in missing]
    if not doc["Summary"]:
        out.append(f"{where}: no docstring summary")
    return out


def problems() -> list[str]:
    """Every public parameter without a documented entry, and every public name outside TOPICS."""
    out = []
    listed = [n for names in TOPICS.values() for n in names]
    for name in public_names():
        if name not in listed:
            out.append(f"plw.{name} is public but in no topic of docs/make_api_reference.py")
    for name in listed:
        obj = getattr(plw, name)
        if inspect.ismodule(obj):
            for fname in getattr(obj, "__all__", []):
                func = getattr(obj, fname)
                out += _undocumented(f"plw.{name}.{fname}", func, func)
        elif inspect.isclass(obj):
            out += _undocumented(f"plw.{name}", obj, obj)
            for mname, method in _methods(obj):
                out += _undocumented(f"plw.{name}.{mname}", method, method)
        else:
            out += _undocumented(f"plw.{name}", obj, obj)
    return out


def _signature(name: str, obj) -> str:
    try:
        full = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    # the types are in each entry of Parameters; the heading shows names and defaults only
    bare = [p.replace(annotation=inspect.Parameter.empty) for p in full.parameters.values()]
    sig = str(full.replace(parameters=bare, return_annotation=inspect.Signature.empty))
    sig = re.sub(r", _\w+=[^,)]*", "", sig)  # private keywords are not the user's
    return f"{name}{sig}"


def _section(title: str, entries) -> list[str]:
    if not entries:
        return []
    lines = [f"**{title}**", ""]
    for entry in entries:
        head = f"`{entry.name}`" if entry.name else ""
        kind = f" ({entry.type})" if entry.type else ""
        if not head:  # a Returns entry with only a type
            head, kind = f"*{entry.type}*", ""
        text = " ".join(" ".join(entry.desc).split())
        lines.append(f"- {head}{kind}: {text}" if text else f"- {head}{kind}")
    return lines + [""]


def _entry(qualified: str, obj, level: str = "###") -> list[str]:
    doc = _documented(obj.__doc__)
    lines = [f"{level} `{_signature(qualified, obj)}`", ""]
    summary = " ".join(doc["Summary"])
    if summary:
        lines += [summary, ""]
    extended = "\n".join(doc["Extended Summary"]).strip()
    if extended:
        lines += [extended, ""]
    lines += _section("Parameters", doc["Parameters"])
    lines += _section("Other parameters", doc["Other Parameters"])
    lines += _section("Returns", doc["Returns"])
    lines += _section("Yields", doc["Yields"])
    lines += _section("Raises", doc["Raises"])
    lines += _section("Warns", doc["Warns"])
    return lines


def reference() -> str:
    lines: list[str] = []
    for topic, names in TOPICS.items():
        lines += [f"## {topic}", ""]
        for name in names:
            obj = getattr(plw, name)
            if inspect.ismodule(obj):
                summary = " ".join(_documented(obj.__doc__)["Summary"])
                lines += [f"### `plw.{name}`", "", summary, ""]
                for fname in getattr(obj, "__all__", []):
                    lines += _entry(f"plw.{name}.{fname}", getattr(obj, fname), "####")
                continue
            lines += _entry(f"plw.{name}", obj)
            if inspect.isclass(obj):
                for mname, method in _methods(obj):
                    lines += _entry(f"{name}.{mname}", method, "####")
    return "\n".join(lines).rstrip() + "\n"


def update(page: str, generated: str) -> str:
    start, stop = page.index(BEGIN) + len(BEGIN), page.index(END)
    return page[:start] + "\n\n" + generated + "\n" + page[stop:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/api.md is out of date")
    args = parser.parse_args()
    page = PAGE.read_text()
    new = update(page, reference())
    bad = problems()
    for line in bad:
        print(line, file=sys.stderr)
    if args.check:
        if new != page:
            print("docs/api.md is out of date: run python docs/make_api_reference.py", file=sys.stderr)
            return 1
        return 1 if bad else 0
    PAGE.write_text(new)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
