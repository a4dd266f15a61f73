"""The 3-D view's camera as a synced value: ``{"position": [x, y, z], "target": [x, y, z]}`` in scene units.

The scene is the same for every landscape: alpha along x and beta along y, both over [-1, 1], the plotted
loss along z over [0, SCENE_HEIGHT], z up. An empty dict is the default view, fitted to the panel.
"""

from __future__ import annotations

import math
import numbers

import traitlets

SCENE_HEIGHT = 1.1  # the front end's surface height (js/src/scene.ts), in the units of alpha and beta's [-1, 1]
CAMERA_KEYS = ("position", "target")


def check_camera(value) -> dict:
    """A valid camera (each key 3 finite numbers, position != target), or a TraitError naming the problem."""
    if not isinstance(value, dict):
        raise traitlets.TraitError(
            f"camera must be a dict with keys {list(CAMERA_KEYS)} (3 numbers each) or {{}}, got {value!r}"
        )
    if not value:
        return {}
    extra = [k for k in value if k not in CAMERA_KEYS]
    missing = [k for k in CAMERA_KEYS if k not in value]
    if extra or missing:
        raise traitlets.TraitError(f"camera must have exactly the keys {list(CAMERA_KEYS)}, got {sorted(value)}")
    out = {}
    for k in CAMERA_KEYS:
        v = value[k]
        ok = isinstance(v, (list, tuple)) and len(v) == 3
        ok = ok and all(isinstance(c, numbers.Real) and not isinstance(c, bool) and math.isfinite(c) for c in v)
        if not ok:
            raise traitlets.TraitError(f"camera[{k!r}] must be 3 finite numbers, got {v!r}")
        out[k] = [float(c) for c in v]
    if out["position"] == out["target"]:
        raise traitlets.TraitError(f"camera position and target must differ, both are {out['position']}")
    return out


def elevation_azimuth(camera: dict) -> tuple[float, float]:
    """matplotlib's (elev, azim) in degrees for the direction from the camera's target to its position;
    (30, -55), close to the front end's default, for the empty camera."""
    if not camera:
        return 30.0, -55.0
    dx, dy, dz = (p - t for p, t in zip(camera["position"], camera["target"]))
    return math.degrees(math.atan2(dz, math.hypot(dx, dy))), math.degrees(math.atan2(dy, dx))
