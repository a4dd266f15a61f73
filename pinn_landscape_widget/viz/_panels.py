"""The widget's panels: what each one shows, as a named structure checked in one place.

A panel is a dict ``{"run": label, "formulation": loss, "direction_kind": kind, "checkpoint": k}``
(checkpoint None = the trained parameters, k = the k-th recorded checkpoint as the plane's centre). Seed,
normalization, resolution and zoom are the widget's own and shared by every panel, so panels compare on
equal terms. ``SliceSettings`` is everything that fixes one panel's numbers; it is the cache key.
"""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass, replace

import traitlets

from ._runs import checkpoint_count, formulations_of

PANEL_KEYS = ("run", "formulation", "direction_kind", "checkpoint")
MAX_PANELS = 6  # each panel is a canvas and a grid computation; beyond this a page gets slow, not clearer


@dataclass(frozen=True)
class SliceSettings:
    """What fixes the numbers of one panel (hashable: the cache key)."""

    run: str
    direction_kind: str
    formulation: str
    normalization: str
    seed: int
    resolution: int
    zoom: float
    checkpoint: int | None = None

    def at_resolution(self, resolution: int) -> SliceSettings:
        return replace(self, resolution=int(resolution))

    @property
    def directions_key(self) -> tuple:
        """Directions depend on the run, kind and (for random ones) seed and normalization only."""
        random = self.direction_kind == "random"
        return (self.run, self.direction_kind, self.normalization if random else "", self.seed if random else 0)


def slice_key(run: str, direction_kind: str, formulation: str, checkpoint: int | None = None) -> str:
    """The key of a precomputed slice; the front end builds the same string with JSON.stringify."""
    return json.dumps([run, direction_kind, formulation, checkpoint], separators=(",", ":"), ensure_ascii=False)


def _fail(msg: str):
    raise traitlets.TraitError(msg)


def normalize_panels(value, runs: dict, kinds, default_kind: str) -> list[dict]:
    """Check a ``panels`` value against the runs and fill in what an entry leaves out.

    An entry may be a run label (a string) or a dict with keys from PANEL_KEYS; a missing run is the first
    run, a missing formulation the run's own loss, a missing direction kind ``default_kind``.
    Raises a TraitError naming the entry, the value and what is allowed.
    """
    allowed = f"a list of 1 to {MAX_PANELS} dicts with keys {list(PANEL_KEYS)} (or run labels)"
    if not isinstance(value, (list, tuple)):
        _fail(f"panels must be {allowed}, got {type(value).__name__}")
    if not 1 <= len(value) <= MAX_PANELS:
        _fail(f"panels must be {allowed}, got {len(value)} panels")
    labels = list(runs)
    out = []
    for i, entry in enumerate(value):
        where = f"panels[{i}]"
        if isinstance(entry, str):
            entry = {"run": entry}
        if not isinstance(entry, dict):
            _fail(f"{where} must be a dict with keys {list(PANEL_KEYS)} or a run label, got {entry!r}")
        extra = [k for k in entry if k not in PANEL_KEYS]
        if extra:
            _fail(f"{where} has unknown key {extra[0]!r}; allowed keys: {list(PANEL_KEYS)}")
        label = entry.get("run")
        label = labels[0] if label is None else label
        if label not in runs:
            _fail(f"{where}['run'] must be one of {labels}, got {label!r}")
        run = runs[label]
        forms = formulations_of(run)
        form = entry.get("formulation")
        form = (getattr(run, "formulation", None) or forms[0]) if form is None else form
        if form not in forms:
            _fail(f"{where}['formulation'] must be one of {forms} (the losses run {label!r} has), got {form!r}")
        kind = entry.get("direction_kind")
        kind = default_kind if kind is None else kind
        if kind not in kinds:
            _fail(f"{where}['direction_kind'] must be one of {list(kinds)}, got {kind!r}")
        ck = entry.get("checkpoint")
        if ck is not None:
            n = checkpoint_count(run)
            if isinstance(ck, bool) or not isinstance(ck, numbers.Integral) or not -n <= int(ck) < n:
                span = f"an integer in [0, {n - 1}] (a recorded checkpoint of run {label!r})" if n else "None"
                _fail(f"{where}['checkpoint'] must be None (the trained parameters) or {span}, got {ck!r}")
            ck = int(ck) % n
        out.append({"run": label, "formulation": form, "direction_kind": kind, "checkpoint": ck})
    return out


def default_panels(runs: dict, formulation: str | None, direction_kind: str, compare: bool | None) -> list[dict]:
    """The panels of the classic calls: one run -> one panel (or, with compare=True, its two losses side by
    side); labelled runs -> one panel per run (up to MAX_PANELS), each under its own loss."""
    labels = list(runs)
    first = runs[labels[0]]
    form = formulation or getattr(first, "formulation", None)
    panels = [{"run": labels[0], "formulation": form, "direction_kind": direction_kind}]
    if compare is False:
        return panels
    if len(labels) > 1:
        panels += [{"run": lab, "direction_kind": direction_kind} for lab in labels[1:MAX_PANELS]]
    elif compare:
        alt = [f for f in formulations_of(first) if f != form]
        if alt:
            panels.append({"run": labels[0], "formulation": alt[0], "direction_kind": direction_kind})
    return panels
