"""pythreejs interop: a landscape as a pythreejs mesh, for users who compose their own pythreejs scenes.

Geometry and colours follow the widget: x, y in [-1, 1] over alpha and beta, height in [0, height] over the
plotted range (log10 of loss - E* by default), cells touching NaN/inf left out, vertex colours from the
named matplotlib colormap.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .._checks import check_positive, renamed_arguments
from ._look import check_colormap, check_z_scale, z_scale_from_log


def landscape_geometry(ds, *, z_scale: str = "log", height: float = 1.1, colormap: str = "viridis"):
    """(positions [n, 3], colors [n, 3], index [m]) as float32/uint32 numpy arrays for a 2-D landscape."""
    import matplotlib

    from .plotting import _plotted

    check_z_scale(z_scale)
    check_colormap(colormap)
    height = check_positive("height", height)
    if not isinstance(ds, xr.Dataset) or "loss" not in ds:
        raise ValueError(f"ds must be a landscape Dataset (plw.landscape), got {type(ds).__name__}")
    if "beta" not in ds.dims:
        raise ValueError(f"to_pythreejs needs a 2-D landscape (dims alpha, beta), got dims {tuple(ds.loss.dims)}")
    z, _ = _plotted(ds, z_scale)
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


@renamed_arguments(log=("z_scale", z_scale_from_log))
def to_pythreejs(ds, *, z_scale: str = "log", height: float = 1.1, colormap: str = "viridis", scene: bool = False):
    """A landscape as a pythreejs mesh, for your own pythreejs scenes (or a ready Renderer showing it).

    The geometry follows the widget's: x and y over [-1, 1] along alpha and beta, the plotted values (log10
    of loss - E* by default) scaled to [0, ``height``] along z, vertex colours from ``colormap``, cells
    touching a non-finite value left out.

    Parameters
    ----------
    ds : xarray.Dataset
        A 2-D landscape (dims alpha and beta), e.g. from ``plw.landscape`` with two directions.
    z_scale : {"log", "linear"}, default "log"
        The height and colour scale, as the widget's: ``"log"`` uses log10 of the loss (of E - E* for the
        Deep Ritz energy), ``"linear"`` the loss itself. Replaces ``log=True/False``, which still works for
        this release with a FutureWarning.
    height : float, default 1.1
        The surface's height in the units of x and y (a finite number > 0); 1.1 is the widget's.
    colormap : {"viridis", "cividis", "magma", "coolwarm", "gray"}, default "viridis"
        The vertex colours' colormap, the same choices as the widget's.
    scene : bool, default False
        False: return the Mesh only. True: return a ``pythreejs.Renderer`` showing it with a camera, lights
        and orbit controls.

    Returns
    -------
    pythreejs.Mesh or pythreejs.Renderer
        The mesh (a ``BufferGeometry`` with position, color and index attributes), or with ``scene=True``
        a 640 x 420 renderer of it.

    Raises
    ------
    ValueError
        If ``ds`` is not a 2-D landscape, or ``z_scale``, ``height`` or ``colormap`` is not allowed (the
        message names the argument, the value and what is allowed).
    TypeError
        If ``log=`` is passed together with ``z_scale=``.
    """
    import pythreejs as p3  # a required dependency; imported here so that importing the package stays light

    positions, colors, index = landscape_geometry(ds, z_scale=z_scale, height=height, colormap=colormap)
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
