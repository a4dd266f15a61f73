"""Writes the generated parts of docs/problems.md from the package itself, so they cannot drift from it.

- "errors": each mistake of the list below, run, with the message it raises;
- "reference": every built-in problem (``plw.list_problems()``), from its factory's signature and docstring
  and the Problem it builds (domain, unknowns, conditions, coefficients, formulations, solution, points);
- "benchmark": docs/problems-table.md, written by benchmarks/bench_problems.py.

Each part sits between ``<!-- BEGIN GENERATED: part ... -->`` and ``<!-- END GENERATED: part -->``; the rest
of the page is written by hand. tests/test_problem_docs.py checks that the committed page equals what this
script writes.

    python docs/make_problem_reference.py            # rewrite docs/problems.md
    python docs/make_problem_reference.py --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pinn_landscape_widget as plw
from pinn_landscape_widget.pde import library
from pinn_landscape_widget.pde.formulations import supported_formulations
from pinn_landscape_widget.pde.reference import GridReference

HERE = Path(__file__).resolve().parent
PAGE = HERE / "problems.md"
TABLE = HERE / "problems-table.md"
BEGIN = "<!-- BEGIN GENERATED: {part} (python docs/make_problem_reference.py; do not edit by hand) -->"
END = "<!-- END GENERATED: {part} -->"

# --- mistakes and their messages --------------------------------------------------------------------------

# run before each mistake, not shown: the heat problem defined at the top of the page
SETUP = """
import math
import torch
import pinn_landscape_widget as plw
from pinn_landscape_widget.pde.reference import GridReference
heat = plw.define_problem(
    "heat", {"x": (0.0, 1.0), "t": (0.0, 1.0)},
    residual=lambda u, kappa: u.t - kappa * u.xx, coefficients={"kappa": 0.1},
    conditions=[plw.initial(lambda x: torch.sin(math.pi * x)), plw.dirichlet("x")],
)
box = {"x": (0.0, 1.0), "t": (0.0, 1.0)}
"""

BOX = "box"
MISTAKES = [
    (
        "A derivative along a coordinate the box does not have",
        f'plw.define_problem("heat", {BOX}, residual=lambda u: u.t - u.yy)',
    ),
    ("A derivative of order three", f'plw.define_problem("heat", {BOX}, residual=lambda u: u.t - u.xxx)'),
    (
        "An argument the problem does not provide (here a coefficient missing from coefficients=)",
        f'plw.define_problem("heat", {BOX}, residual=lambda u, kappa: u.t - kappa * u.xx)',
    ),
    (
        "A residual that is not one value per point",
        f'plw.define_problem("heat", {BOX}, residual=lambda u: (u.t - u.xx).mean())',
    ),
    (
        "A condition on a face that is not one",
        f'plw.define_problem("heat", {BOX}, residual=lambda u: u.t - u.xx,\n'
        '                   conditions=[plw.dirichlet("x", at=0.5)])',
    ),
    (
        "A condition on an unknown that does not exist",
        f'plw.define_problem("heat", {BOX}, residual=lambda u: u.t - u.xx,\n'
        '                   conditions=[plw.dirichlet("x", unknowns="v")])',
    ),
    (
        "A hard condition without an ansatz",
        f'plw.define_problem("heat", {BOX}, residual=lambda u: u.t - u.xx,\n'
        '                   conditions=[plw.dirichlet("x", hard=True)])',
    ),
    (
        "A hard condition the ansatz does not satisfy",
        f'plw.define_problem("heat", {BOX}, residual=lambda u: u.t - u.xx,\n'
        '                   conditions=[plw.dirichlet("x", hard=True)], ansatz=lambda x: x)  # zero at x = 0 only',
    ),
    (
        "An energy for a problem that is first order in time",
        f'plw.define_problem("heat", {BOX}, residual=lambda u: u.t - u.xx,\n'
        "                   energy=lambda u: 0.5 * u.x**2)",
    ),
    (
        "An energy that reads second derivatives",
        'plw.define_problem("rod", {"x": (0.0, 1.0)}, residual=lambda u: u.xx + 1, energy=lambda u: u * u.xx)',
    ),
    ("A loss the problem has no functional for", 'plw.train(heat, "deep_ritz")'),
    ("A coefficient the problem does not have", "heat.with_coefficients(beta=2.0)"),
    (
        "An exact solution with the wrong number of unknowns",
        f'plw.define_problem("pair", {BOX}, residual=lambda u, v: [u.t - v.x, v.t - u.x],\n'
        '                   unknowns=("u", "v"), exact=lambda x, t: torch.sin(x + t))',
    ),
    (
        "A GridReference over other coordinates than the problem's",
        'ref = GridReference({"t": torch.linspace(0, 1, 5), "x": torch.linspace(0, 1, 5)}, torch.zeros(5, 5))\n'
        f'plw.define_problem("heat", {BOX}, residual=lambda u: u.t - u.xx, exact=ref)',
    ),
    (
        "A coordinate name that is taken",
        'plw.define_problem("pipe", {"d": (0.0, 1.0)}, residual=lambda u: u.dd)',
    ),
]


def _message(code: str) -> str:
    namespace: dict = {}
    exec(SETUP, namespace)  # noqa: S102 - our own fixed snippets
    try:
        exec(code, namespace)  # noqa: S102
    except ValueError as exc:
        return f"ValueError: {re.sub(r' at 0x[0-9a-f]+', '', str(exc))}"
    raise AssertionError(f"this mistake raised nothing: {code}")


def _formatted(code: str) -> str:
    """The snippet as ``ruff format`` writes it (the test command checks the page's code blocks with ruff)."""
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(HERE / "snippet.py"), "-"],
        input=code,
        capture_output=True,
        text=True,
        check=True,
        cwd=PAGE.parent,
    )
    return done.stdout.rstrip("\n")


def render_errors() -> str:
    out = []
    for title, code in MISTAKES:
        out += [f"**{title}**", "", "```python", _formatted(code), "```", "", "```text", _message(code), "```", ""]
    return "\n".join(out).rstrip() + "\n"


# --- the reference of the built-in problems ---------------------------------------------------------------


def _num(v) -> str:
    if isinstance(v, float):
        text = f"{v:.6g}"
        return text if any(c in text for c in ".en") else text + ".0"
    return repr(v)


def _markdown_text(doc: str) -> str:
    """A docstring as Markdown paragraphs: lines joined, asterisks and angle brackets escaped."""
    paras = [" ".join(line.strip() for line in p.splitlines()) for p in doc.strip().split("\n\n")]
    return "\n\n".join(p.replace("*", r"\*").replace("<", r"\<") for p in paras)


def _faces(cond, prob) -> str:
    names = prob.input_names
    if cond.kind in ("initial", "initial_rate"):
        t = cond.coordinate or prob.time
        return f"{t} = {_num(prob.domain[names.index(t)][0])}"
    if cond.coordinate is None:
        axes = [n for n in names if n != prob.time]
        return "every face of " + ", ".join(axes) if len(axes) > 1 else f"both ends of {axes[0]}"
    lo, hi = prob.domain[names.index(cond.coordinate)]
    if cond.at is None:
        return f"{cond.coordinate} = {_num(lo)} and {cond.coordinate} = {_num(hi)}"
    return f"{cond.coordinate} = {_num(cond.at)}"


def _condition(cond, prob) -> str:
    who = ", ".join(cond.unknowns) if cond.unknowns else None
    if who is None and isinstance(cond.value, dict):
        who = ", ".join(cond.value)
    who = who or ", ".join(prob.unknowns)
    what = {
        "dirichlet": f"{who} prescribed at {_faces(cond, prob)}",
        "neumann": f"d{who}/d{cond.coordinate} prescribed at {_faces(cond, prob)}",
        "initial": f"{who} prescribed at {_faces(cond, prob)}",
        "initial_rate": f"d{who}/d{cond.coordinate or prob.time} prescribed at {_faces(cond, prob)}",
        "periodic": f"{who} periodic in {cond.coordinate}" + (" (value and slope)" if cond.derivatives else ""),
    }[cond.kind]
    how = "exact, by the ansatz" if cond.hard else f"penalised, term `{cond.name}`, weight lam = {_num(cond.weight)}"
    return f"{what} ({how})"


def _solution(prob) -> str:
    exact = prob.spec.exact
    if exact is None:
        return "none (rel_l2_error is NaN)"
    if isinstance(exact, GridReference):
        shape = " x ".join(f"{s} ({n})" for n, s in zip(exact.names, exact.shape))
        method = exact.attrs.get("method", "")
        return f"reference on a {shape} grid ({method}), interpolated; computed once and cached"
    return "exact (closed form)"


def _points(prob) -> str:
    x, _ = prob.quadrature()
    n_cond = sum(int(c.points.shape[0]) for c in prob.conditions)
    if prob.sampling == "grid":
        axes = " x ".join(str(len(set(x[:, k].tolist()))) for k in range(prob.dim))
        where = f"{x.shape[0]} interior ({axes + ' ' if prob.dim > 1 else ''}midpoint grid)"
    else:
        where = f"{x.shape[0]} interior ({prob.sampling})"
    return where + (f", {n_cond} on the penalised conditions" if n_cond else "")


def render_problem(name: str) -> str:
    factory = getattr(library, name)
    sig = inspect.signature(factory)
    prob = plw.get_problem(name)
    box = ", ".join(f"{n} in [{_num(lo)}, {_num(hi)}]" for n, (lo, hi) in zip(prob.input_names, prob.domain))
    options = ", ".join(f"`{p.name}={_num(p.default)}`" for p in sig.parameters.values())
    forms = supported_formulations(prob)
    rows = [
        ("PDE", prob.description),
        ("domain", box + (f" (time: {prob.time})" if prob.time else "")),
        ("unknowns", ", ".join(prob.unknowns)),
        ("loss terms", _terms(prob, forms)),
        ("conditions", "; ".join(_condition(c, prob) for c in prob.spec.conditions)),
        ("coefficients", ", ".join(f"{k} = {_num(v)}" for k, v in prob.coefficients.items()) or "none"),
        ("options (defaults)", options),
        ("formulations", ", ".join(f"`{f}`" for f in forms)),
        ("solution", _solution(prob)),
        ("points", _points(prob)),
    ]
    if prob.has_energy:
        rows.append(("E* (Deep Ritz energy at the solution)", f"{prob.exact_energy():.6g}"))
    lines = [f"### {name}", "", _markdown_text(inspect.getdoc(factory)), ""]
    lines += ["| | |", "|---|---|"] + [f"| {k} | {v.replace('|', '/')} |" for k, v in rows] + [""]
    lines += ["```python", f'plw.get_problem("{name}")  # or, e.g., plw.get_problem("{name}", {_example(sig)})', "```"]
    return "\n".join(lines) + "\n"


def _terms(prob, forms) -> str:
    interior = [", ".join(f"`loss_{t}`" for t in prob.residual_terms) + " (strong)"]
    if "deep_ritz" in forms:
        interior.append("`loss_energy` (deep_ritz)")
    conditions = [f"`loss_{n}`" for n in dict.fromkeys(c.name for c in prob.conditions)]
    return " or ".join(interior) + (", and " + ", ".join(conditions) if conditions else "")


def _example(sig) -> str:
    """An example call changing the first numeric option."""
    for p in sig.parameters.values():
        v = p.default
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return f"{p.name}={_num(v * 2 if isinstance(v, int) else round(v * 2, 6))}"
    return ""


def render_reference() -> str:
    names = plw.list_problems()
    index = ["| problem | PDE | formulations |", "|---|---|---|"]
    for name in names:
        prob = plw.get_problem(name)
        forms = ", ".join(supported_formulations(prob))
        index.append(f"| [{name}](#{name}) | {prob.description.replace('|', '/')} | {forms} |")
    return "\n".join(index) + "\n\n" + "\n".join(render_problem(n) for n in names)


def render_benchmark() -> str:
    if not TABLE.exists():
        return "(not measured yet: run `python benchmarks/bench_problems.py`)\n"
    return TABLE.read_text().rstrip() + "\n"


# --- the page -----------------------------------------------------------------------------------------------


def render_parts() -> dict[str, str]:
    return {"errors": render_errors(), "reference": render_reference(), "benchmark": render_benchmark()}


def update(page: str, parts: dict[str, str]) -> str:
    """The page with each generated part replaced."""
    for part, body in parts.items():
        begin, end = BEGIN.format(part=part), END.format(part=part)
        i, j = page.find(begin), page.find(end)
        if i < 0 or j < i:
            raise ValueError(f"docs/problems.md has no {begin!r} ... {end!r} block")
        page = page[: i + len(begin)] + "\n" + body + page[j:]
    return page


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/problems.md is out of date")
    args = ap.parse_args(argv)
    current = PAGE.read_text()
    new = update(current, render_parts())
    if args.check:
        if new != current:
            print("docs/problems.md is out of date: run python docs/make_problem_reference.py", file=sys.stderr)
            return 1
        print("docs/problems.md is up to date")
        return 0
    PAGE.write_text(new)
    print("wrote", PAGE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
