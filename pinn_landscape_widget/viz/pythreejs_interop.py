"""pythreejs interop: a landscape as a pythreejs mesh, for users who compose their own pythreejs scenes.

Geometry and colours follow the widget: x, y in [-1, 1] over alpha and beta, height in [0, height] over the
plotted range (log10 of loss - E* by default), cells touching NaN/inf left out, vertex colours from the
named matplotlib colormap.
"""

from __future__ import annotations

import numpy as np


def landscape_geometry(ds, *, log: bool = True, height: float = 1.1, colormap: str = "viridis"):
    """(positions [n, 3], colors [n, 3], index [m]) as float32/uint32 numpy arrays for a 2-D landscape."""
    import matplotlib

    from .plotting import _plotted

    if "beta" not in ds.dims:
        raise ValueError(f"landscape_geometry needs a 2-D landscape (dims alpha, beta), got dims {tuple(ds.loss.dims)}")
    z, _ = _plotted(ds, log)
    nA, nB = z.shape
    finite = np.isfinite(z)
    lo, hi = (np.min(z[finite]), np.max(z[finite])) if finite.any() else (0.0, 1.0)
    t = np.where(finite, (z - lo) / ((hi - lo) or 1.0), 0.0)
    ii, jj = np.meshgrid(np.arange(nA), np.arange(nB), indexing="ij")
    positions = np.stack([-1 + 2 * ii / (nA - 1), -1 + 2 * jj / (nB - 1), t * height], axis=-1).reshape(-1, 3)
    colors = matplotlib.colormaps[colormap](t.reshape(-1))[:, :3]
    colors[~finite.reshape(-1)] = 0.5
    a = (ii[:-1, :-1] * nB + jj[:-1, :-1]).reshape(-1)
    b, c, d = a + nB, a + nB + 1, a + 1
    ok = (finite[:-1, :-1] & finite[1:, :-1] & finite[1:, 1:] & finite[:-1, 1:]).reshape(-1)
    index = np.stack([a, b, c, a, c, d], axis=1)[ok].reshape(-1)
    return positions.astype(np.float32), colors.astype(np.float32), index.astype(np.uint32)


def to_pythreejs(ds, *, log: bool = True, height: float = 1.1, colormap: str = "viridis", scene: bool = False):
    """A ``pythreejs.Mesh`` of the landscape (or, with ``scene=True``, a Renderer showing it)."""
    import pythreejs as p3  # a required dependency; imported here so that importing the package stays light

    positions, colors, index = landscape_geometry(ds, log=log, height=height, colormap=colormap)
    geometry = p3.BufferGeometry(
        attributes={
            "position": p3.BufferAttribute(positions, normalized=False),
            "color": p3.BufferAttribute(colors, normalized=False),
            "index": p3.BufferAttribute(index, normalized=False),
        }
    )
    geometry.exec_three_obj_method("computeVertexNormals")
    mesh = p3.Mesh(geometry, p3.MeshLambertMaterial(vertexColors="VertexColors", side="DoubleSide"))
    if not scene:
        return mesh
    camera = p3.PerspectiveCamera(position=[2.3, -3.3, 2.5], up=[0, 0, 1], aspect=1.5)
    sc = p3.Scene(
        children=[mesh, camera, p3.AmbientLight(intensity=0.6), p3.DirectionalLight(position=[2, -3, 5], intensity=0.7)]
    )
    return p3.Renderer(camera=camera, scene=sc, controls=[p3.OrbitControls(controlling=camera)], width=640, height=420)
