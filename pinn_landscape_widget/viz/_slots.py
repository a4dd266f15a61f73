"""Which of the widget's per-panel traits carries which panel's numbers.

Each panel's numbers (its grids as bytes, ranges, title, trajectory table) travel in a trait of their own,
``panel_0`` ... ``panel_5`` (a *slot*), and a small list says which slot each panel draws and its status.
A synced trait is sent whole when it is set, so a new grid for one panel is one slot's bytes, and a
status change, a removed panel or a reordering is the small list only. Slots are fixed traits rather than
child widgets so that every host that gives the front end one flat state object (saved notebooks, MyST's
anywidget host, marimo) sees them with no model references to resolve.
"""

from __future__ import annotations

from ._panels import MAX_PANELS

SLOT_TRAITS = tuple(f"panel_{k}" for k in range(MAX_PANELS))


def assign_slots(shown: list[dict], held: list[dict | None]) -> list[int]:
    """The slot each panel's payload goes to, re-sending as little as possible.

    Parameters
    ----------
    shown : list of dict
        The payload each panel draws, in panel order (at most ``MAX_PANELS``); panels showing the same
        payload object share a slot.
    held : list of dict or None
        What each slot holds now (``MAX_PANELS`` entries), by identity.

    Returns
    -------
    list of int
        One slot index per panel. A payload a slot already holds stays there (nothing to send); a new one
        goes to the panel's own index when that slot is not kept for another payload, else to the first free
        slot. Slots no panel uses are free to be cleared.
    """
    if len(shown) > len(held):
        raise ValueError(f"shown must have at most {len(held)} payloads (one per slot), got {len(shown)}")
    slots: list[int | None] = [None] * len(shown)
    kept: dict[int, int] = {}  # id(payload) -> slot, for payloads that stay where they are or were placed
    for i, p in enumerate(shown):
        for k, h in enumerate(held):
            if h is p:
                slots[i] = kept[id(p)] = k
                break
    used = set(kept.values())
    for i, p in enumerate(shown):
        if slots[i] is not None:
            continue
        if id(p) in kept:  # a new payload shown by an earlier panel too
            slots[i] = kept[id(p)]
            continue
        k = i if i not in used else min(set(range(len(held))) - used)
        slots[i] = kept[id(p)] = k
        used.add(k)
    return [int(k) for k in slots]  # type: ignore[arg-type]  # every entry was set above
