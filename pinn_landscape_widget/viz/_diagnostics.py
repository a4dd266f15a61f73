"""The diagnostics view's numbers: ``diagnose`` of the first panel's run over its checkpoints, packed small.

Which quantities are computed follows a measured cost (``diagnostics_plan``): one checkpoint is timed with
the Hessian (and, for small networks, the neural tangent kernel), and the dearer quantities are dropped until
the whole series fits ``DIAGNOSTICS_BUDGET_S``. The payload carries the settings used, so the same numbers
can be recomputed with ``plw.diagnose(run, checkpoints=payload["steps"], hessian=..., ntk=...)``.
"""

from __future__ import annotations

import time

import numpy as np

from ..analysis.diagnostics import diagnose
from ._runs import checkpoint_count, trajectory_steps_of
from ._slices import f32

DIAGNOSTICS_CHECKPOINTS = 24  # checkpoints the view shows (evenly spaced, first and last kept)
DIAGNOSTICS_BUDGET_S = 6.0  # the automatic choice keeps the whole series under this many seconds
NTK_MAX_PARAMS = 1000  # the NTK's Jacobian is tried only for networks this small (it costs ~70 s per
# checkpoint for the 5251-parameter default poisson1d network on 2 cores)
# what the view plots, in order, with its title; a series with no finite value is left out
SERIES = {
    "loss": "loss per term",
    "grad_norm": "gradient norm per term",
    "imbalance": "gradient imbalance",
    "hessian_top_eigenvalue": "top Hessian eigenvalue per term",
    "ntk_trace": "NTK trace per term",
    "ntk_condition_number": "NTK condition number per term",
}


def _steps(run, n: int) -> list[int]:
    steps = trajectory_steps_of(run)
    keep = sorted({int(round(v)) for v in np.linspace(0, len(steps) - 1, min(n, len(steps)))})
    return [steps[k] for k in keep]


def diagnostics_plan(run, mode: bool | None) -> tuple[dict | None, str]:
    """(diagnose's settings, "") or (None, why not). ``mode`` None: automatic (within the budget); True:
    always, with the Hessian (and the NTK for networks of at most NTK_MAX_PARAMS parameters)."""
    if mode is False:
        return None, "diagnostics off (diagnostics=False)"
    n = checkpoint_count(run)
    if n < 2:
        got = "no trajectory" if n == 0 else "1 checkpoint"
        return None, f"no diagnostics: the run recorded {got} (diagnostics over training need at least 2)"
    steps = _steps(run, DIAGNOSTICS_CHECKPOINTS)
    ntk = int(getattr(run, "n_params", NTK_MAX_PARAMS + 1)) <= NTK_MAX_PARAMS
    if mode is True:
        return {"checkpoints": steps, "hessian": True, "ntk": ntk}, ""
    for hessian, ntk_ in ((True, ntk), (True, False), (False, False)):
        t0 = time.perf_counter()
        diagnose(run, checkpoints=[steps[-1]], hessian=hessian, ntk=ntk_)
        cost = (time.perf_counter() - t0) * len(steps)
        if cost <= DIAGNOSTICS_BUDGET_S:
            return {"checkpoints": steps, "hessian": hessian, "ntk": ntk_}, ""
    return None, (
        f"diagnostics off: {len(steps)} checkpoints would take about {cost:.0f} s even without the Hessian "
        f"(more than {DIAGNOSTICS_BUDGET_S:.0f} s); pass diagnostics=True to compute them anyway"
    )


def diagnostics_payload(run, label: str, mode: bool | None) -> dict:
    """What the diagnostics view draws: steps, terms, float32 series [step, term] and the summary."""
    plan, reason = diagnostics_plan(run, mode)
    if plan is None:
        return {"run": label, "reason": reason, "off": mode is False}
    t0 = time.perf_counter()
    ds = diagnose(run, **plan)
    series, titles = {}, {}
    for name, title in SERIES.items():
        if name in ds and np.isfinite(ds[name].values).any():
            series[name] = f32(ds[name].transpose("step", "term").values)
            titles[name] = f"gradient imbalance vs {ds.term.values[0]}" if name == "imbalance" else title
    return {
        "run": label,
        "reason": "",
        "steps": [int(s) for s in ds.step.values],
        "terms": [str(t) for t in ds.term.values],
        "series": series,
        "titles": titles,
        "summary": str(ds.attrs.get("summary", "")),
        "settings": {
            "hessian": plan["hessian"],
            "ntk": plan["ntk"],
            "formulation": str(ds.attrs.get("formulation", "")),
        },
        "seconds": time.perf_counter() - t0,
    }
