"""What the kernel sends the view per change: each panel's numbers travel alone.

The widget's comm is replaced by a recorder of the messages ipywidgets sends (their state keys and binary
buffers); the bytes a change sends are compared with the float32 grids computed independently by
``plw.landscape``. Saved state (``state_json``, ``saved_widget_state``) still carries every panel.
"""

import base64
import json

import numpy as np
import pytest

import pinn_landscape_widget as plw
from pinn_landscape_widget.viz._slots import assign_slots
from pinn_landscape_widget.viz.export import panels_in_state, saved_widget_state, state_json

from .conftest import small_run

RES = 15  # at most 2 x the preview's resolution: no preview, so each new grid is one message


class Recorder:
    """Stands in for ``comm.send``: keeps each message's state keys and its binary buffers."""

    def __init__(self, w):
        self.messages = []
        w.comm.send = self.send

    def send(self, data=None, metadata=None, buffers=None):
        bufs = [bytes(memoryview(b).cast("B")) for b in buffers or []]
        self.messages.append((set((data or {}).get("state", {})), (data or {}).get("buffer_paths", []), bufs))

    def clear(self):
        self.messages.clear()

    def buffers(self) -> list[bytes]:
        return [b for _, _, bufs in self.messages for b in bufs]

    def keys(self) -> set:
        return set().union(*(k for k, _, _ in self.messages)) if self.messages else set()


@pytest.fixture(scope="module")
def run():
    return small_run("poisson1d", dict(n_points=64), "strong", steps=60)


def _three(run):
    return plw.LandscapeWidget(
        run, resolution=RES, panels=[{}, {"direction_kind": "pca"}, {"direction_kind": "interpolation"}]
    ).wait()


def _f32(a) -> bytes:
    return np.ascontiguousarray(np.asarray(a, np.float32)).tobytes()


def test_a_colormap_change_sends_the_colormap_only(run):
    w = _three(run)
    rec = Recorder(w)
    w.colormap = "magma"
    w.z_scale = "linear"
    assert rec.messages and all(not bufs for _, _, bufs in rec.messages)
    assert rec.keys() == {"colormap", "z_scale"}


def test_changing_one_panels_direction_kind_sends_that_panels_grid_only(run):
    w = _three(run)
    others = {bytes(p["grid"]) for p in w.panel_data}
    rec = Recorder(w)
    w.panels = [w.panels[0], {**w.panels[1], "direction_kind": "hessian"}, w.panels[2]]
    w.wait()
    # independently: the engine's grid along the top Hessian eigenvectors at the widget's settings
    ref = plw.landscape(run, plw.hessian_directions(run, 2, "largest"), resolution=RES, progress=False)
    n_checkpoints = run.trajectory.shape[0]
    expected = (
        np.asarray(ref.loss, np.float32).nbytes
        + np.asarray(ref.rel_l2_error, np.float32).nbytes
        + n_checkpoints * 5 * 4
    )  # the loss and error grids and the path's table (alpha, beta, loss, off-plane, step), float32
    assert ref.loss.shape == (RES, RES)
    sent = rec.buffers()
    assert sum(len(b) for b in sent) == expected
    grid = np.frombuffer(w.panel_data[1]["grid"], np.float32)
    np.testing.assert_allclose(grid, ref.loss.values.ravel().astype(np.float32), rtol=1e-6, atol=1e-7)
    assert _f32(grid) in sent and not others & set(sent)  # the new grid, none of the panels kept
    # where the bytes went: panel 1's own trait; before them, statuses without any bytes
    paths = [p for _, paths, _ in rec.messages for p in paths]
    assert {p[0] for p in paths} == {"panel_1"} and {tuple(p[1:]) for p in paths} == {
        ("grid",),
        ("error_grid",),
        ("trajectory",),
    }
    statuses = [bufs for keys, _, bufs in rec.messages if "panel_status" in keys]
    assert len(statuses) == 2 and not statuses[0]  # first "computing" on the old picture: no bytes
    assert [p["status"] for p in w.panel_data] == ["done"] * 3 and w.panel_status[1]["slot"] == 1


def test_a_shared_setting_sends_each_new_grid_once_and_statuses_without_grids(run):
    w = _three(run)
    rec = Recorder(w)
    w.zoom = 0.6  # every panel recomputes
    w.wait()
    n_checkpoints = run.trajectory.shape[0]
    ref = plw.landscape(run, plw.random_directions(run, 2), span=0.6, resolution=RES, progress=False)
    surface = 2 * np.asarray(ref.loss, np.float32).nbytes + n_checkpoints * 5 * 4  # loss, error, path
    line = 2 * RES * 4 + n_checkpoints * 5 * 4  # the interpolation panel is 1-D
    assert sum(len(b) for b in rec.buffers()) == 2 * surface + line  # three new panels, each sent once
    np.testing.assert_allclose(
        np.frombuffer(w.panel_data[0]["grid"], np.float32), ref.loss.values.ravel(), rtol=1e-6, atol=1e-7
    )
    first = next((keys, bufs) for keys, _, bufs in rec.messages if "panel_status" in keys)
    assert "status" in first[0] and not first[1]  # "computing" on the old pictures: the statuses alone
    assert [p["status"] for p in w.panel_data] == ["done"] * 3


def test_a_panel_shown_twice_is_sent_once_and_removing_a_panel_sends_statuses_only(run):
    w = _three(run)
    rec = Recorder(w)
    w.panels = [*w.panels, w.panels[0]]  # the same numbers as panel 0: shares its trait
    w.wait()
    assert w.panel_status[3]["slot"] == w.panel_status[0]["slot"] and not rec.buffers()
    assert w.panel_data[3]["grid"] == w.panel_data[0]["grid"]
    rec.clear()
    w.panels = w.panels[1:]
    w.wait()
    assert not rec.buffers() and {"panel_status"} <= rec.keys()
    assert [p["direction_kind"] for p in w.panel_data] == ["pca", "interpolation", "random"]


def test_saved_state_holds_every_panel(run):
    w = _three(run)
    w.panels = [*w.panels, w.panels[1]]
    w.wait()
    expected = [(p["title"], p["grid_shape"], bytes(p["grid"])) for p in w.panel_data]
    assert len(expected) == 4 and len({e[2] for e in expected}) == 3
    # state_json: the MyST {anywidget} body, grids as base64
    panels = panels_in_state(json.loads(state_json(w)))
    assert [(p["title"], p["grid_shape"], base64.b64decode(p["grid"])) for p in panels] == expected
    assert [p["status"] for p in panels] == ["done"] * 4
    # saved_widget_state: a saved notebook's model, grids as base64 buffers at their paths
    saved = saved_widget_state(w.export_state(None))["state"]["plw-landscape"]
    state = json.loads(json.dumps(saved["state"]))
    for b in saved["buffers"]:
        obj = state
        for key in b["path"][:-1]:
            obj = obj[key]
        obj[b["path"][-1]] = base64.b64decode(b["data"])
    assert [(p["title"], p["grid_shape"], p["grid"]) for p in panels_in_state(state)] == expected
    # unused traits are empty: no stale grids in saved pages
    used = {e["slot"] for e in state["panel_status"]}
    assert all(state[f"panel_{k}"] == {} for k in range(6) if k not in used)


def test_slots_keep_what_they_hold_and_share_one_payload():
    a, b, c, d = ({"n": i} for i in range(4))
    held = [a, b, c, None, None, None]
    assert assign_slots([a, b, c], held) == [0, 1, 2]
    assert assign_slots([c, a], held) == [2, 0]  # reordered: nothing moves
    assert assign_slots([d, b, c], held) == [0, 1, 2]  # a new payload takes its panel's slot when free
    assert assign_slots([b, d, c], held) == [1, 0, 2]  # slot 1 keeps b, d takes the first free slot
    assert assign_slots([d, d, a], held) == [1, 1, 0]
    with pytest.raises(ValueError, match="shown must have at most 6 payloads"):
        assign_slots([a] * 7, held)
