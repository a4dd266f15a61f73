"""Static pictures with matplotlib: ``plot(ds)`` for papers, the solution of a run or a snapshot, and the
PNG the widget carries for viewers without JavaScript (GitHub, nbviewer without widgets, e-mail) or saves
with ``save_png`` when no browser view is attached.

The Deep Ritz energy is plotted as E - E* (E* from the exact solution when known, else the grid minimum)
before a log scale, and the axis says so.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import traitlets
import xarray as xr

from .._checks import check_int, renamed_arguments
from ._camera import SCENE_HEIGHT, check_camera, elevation_azimuth
from ._look import COLORMAPS, check_z_scale, z_scale_from_log
from ._runs import is_run


def _plotted(ds, z_scale: str, var: str = "loss"):
    if var not in ds.data_vars or tuple(ds[var].dims) not in (("alpha",), ("alpha", "beta")):
        drawable = [k for k, v in ds.data_vars.items() if tuple(v.dims) in (("alpha",), ("alpha", "beta"))]
        raise ValueError(f"var must name a variable over the slice's grid, one of {drawable}, got {var!r}")
    z = np.asarray(ds[var].values, dtype=np.float64)
    label = ds[var].attrs.get("long_name", var)
    ref = ds.attrs.get("energy_reference")
    if var == "loss" and ds.attrs.get("formulation") == "deep_ritz":
        if ref is None:
            ref = float(np.nanmin(np.where(np.isfinite(z), z, np.nan)))
        z = z - ref
        label = f"{label} - E* (E* = {ref:.4g})"
    if z_scale == "log":
        pos = z[np.isfinite(z) & (z > 0)]
        floor = pos.min() / 10 if pos.size else 1e-30
        z = np.log10(np.where(np.isfinite(z), np.maximum(z, floor), np.nan))
        label = f"log10({label})"
    return z, label


def _title(ds) -> str:
    return f"{ds.attrs.get('problem', '')} / {ds.attrs.get('formulation', '')}: {ds.attrs.get('direction_kind', '')}"


def _check_matplotlib_colormap(name) -> None:
    """The widget's colormaps, or any name matplotlib knows (a static plot can draw them all)."""
    import matplotlib

    if name in COLORMAPS:
        return
    if not isinstance(name, str) or name not in matplotlib.colormaps:
        raise ValueError(
            f"colormap must be one of the widget's {list(COLORMAPS)} or another matplotlib colormap name, got {name!r}"
        )


@renamed_arguments(log=("z_scale", z_scale_from_log), cmap="colormap")
def plot(
    obj,
    *,
    z_scale: str = "log",
    ax=None,
    contour_levels: int = 20,
    colormap: str = "viridis",
    surface: bool = True,
    fig=None,
    unknown: str | None = None,
    camera: dict | None = None,
    var: str = "loss",
):
    """A picture of a landscape, a solution snapshot or a run's solution, with matplotlib.

    A landscape (``plw.landscape``, ``plw.curvature_map``, ...) is drawn as filled contours with the training
    path, beside a 3-D surface seen from ``camera``; a 1-D slice as a line. A solution snapshot
    (``plw.solution_snapshot``) or a run (its trained solution) is drawn as u_theta beside the exact solution
    and the pointwise error: curves in 1-D, heatmaps over both coordinates in 2-D. The Deep Ritz energy is
    drawn as E - E* (E* from the exact solution when known, else the grid's minimum), and the axis says so.

    Parameters
    ----------
    obj : xarray.Dataset or run
        A landscape Dataset, a ``solution_snapshot`` Dataset, or a run (anything with ``objective`` and
        ``params``: ``plw.train``, ``plw.from_model``, the adapters), whose trained solution is drawn.
    z_scale : {"log", "linear"}, default "log"
        The landscape's value scale: ``"log"`` draws log10 of the loss (values <= 0 are clipped to a tenth
        of the smallest positive one), ``"linear"`` the loss itself. Not used for solutions. Replaces
        ``log=True/False``, which still works for this release with a FutureWarning.
    ax : matplotlib.axes.Axes, optional
        Draw a 2-D landscape's filled contours (with a colorbar), or a 1-D slice's line, into these axes,
        and nothing else. Default None: a new figure (or ``fig``).
    contour_levels : int, default 20
        The number of contour levels of a 2-D landscape (an integer >= 2).
    colormap : str, default "viridis"
        The landscape's colormap: the widget's ("viridis", "cividis", "magma", "coolwarm", "gray"), so a plot
        matches the widget, or any other matplotlib colormap name. Not used for solutions. Replaces ``cmap=``,
        which still works for this release with a FutureWarning.
    surface : bool, default True
        Draw a 2-D landscape's 3-D surface beside its contours (not when ``ax`` is given).
    fig : matplotlib.figure.Figure, optional
        Draw into this figure (its subplots are added). Default None: a new pyplot figure.
    unknown : str, optional
        The unknown of a system whose solution is drawn; default None: the first. Only for solutions.
    camera : dict, optional
        The widget's camera, ``{"position": [x, y, z], "target": [x, y, z]}`` (``LandscapeWidget.camera``):
        the 3-D surface is seen from the same direction. Default None (or ``{}``): the widget's default view.
    var : str, default "loss"
        The landscape variable drawn: any variable over the grid, e.g. ``"convexity_ratio"`` of a
        ``curvature_map`` (best with ``z_scale="linear"``).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn into (``ax``'s when ``ax`` is given).

    Raises
    ------
    ValueError
        If ``z_scale``, ``colormap``, ``contour_levels``, ``camera``, ``var`` or ``unknown`` is not one of
        the allowed values (the message names the argument, the value and what is allowed), or ``obj`` is
        neither a Dataset nor a run.
    TypeError
        If an old keyword is passed together with its new name (``log=`` with ``z_scale=``, ``cmap=`` with
        ``colormap=``).
    """
    check_z_scale(z_scale)
    _check_matplotlib_colormap(colormap)
    contour_levels = check_int("contour_levels", contour_levels, 2)
    if camera is not None:
        try:
            camera = check_camera(camera)
        except traitlets.TraitError as exc:
            raise ValueError(str(exc)) from None
    if is_run(obj):
        from ..models.solution import solution_snapshot

        obj = solution_snapshot(obj)
    if not isinstance(obj, xr.Dataset):
        raise ValueError(
            f"obj must be a landscape Dataset, a solution_snapshot Dataset or a run (with objective and params), "
            f"got {type(obj).__name__}"
        )
    if "unknowns" in obj.attrs:
        return plot_solution(obj, unknown=unknown, fig=fig)
    return _plot_landscape(obj, z_scale, ax, contour_levels, colormap, surface, fig, camera, var)


def _plot_landscape(ds, z_scale, ax, contour_levels, cmap, surface, fig, camera, var="loss"):
    z, label = _plotted(ds, z_scale, var)
    title = _title(ds)
    if fig is None and ax is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(10, 4.2) if surface and "beta" in ds.dims else (5, 3.8))
    if "beta" not in ds.dims:
        axl = ax if ax is not None else fig.add_subplot(1, 1, 1)
        fig = axl.figure
        axl.plot(ds.alpha.values, z)
        axl.set_xlabel("alpha")
        axl.set_ylabel(label)
        axl.set_title(title, fontsize=9)
        return fig
    A, B = np.meshgrid(ds.alpha.values, ds.beta.values, indexing="ij")
    masked = np.ma.masked_invalid(z)
    if ax is not None:
        cs = ax.contourf(A, B, masked, levels=contour_levels, cmap=cmap)
        ax.figure.colorbar(cs, ax=ax, label=label)
        return ax.figure
    ax1 = fig.add_subplot(1, 2 if surface else 1, 1)
    cs = ax1.contourf(A, B, masked, levels=contour_levels, cmap=cmap)
    ax1.contour(A, B, masked, levels=contour_levels, colors="k", linewidths=0.3)
    if "trajectory_alpha" in ds:
        ax1.plot(ds.trajectory_alpha.values, ds.trajectory_beta.values, "-", color="#d62728", lw=1.5, label="training")
        ax1.plot(ds.trajectory_alpha.values[:1], ds.trajectory_beta.values[:1], "o", color="#1b9e77", label="start")
        ax1.plot(
            ds.trajectory_alpha.values[-1:], ds.trajectory_beta.values[-1:], "*", color="#d95f02", ms=10, label="end"
        )
        ax1.legend(loc="upper right", fontsize=8)
    ax1.set_xlabel("alpha")
    ax1.set_ylabel("beta")
    ax1.set_title(title, fontsize=9)
    fig.colorbar(cs, ax=ax1, label=label)
    if surface:
        ax2 = fig.add_subplot(1, 2, 2, projection="3d")
        _surface(ax2, ds, masked, label, cmap, camera)
    fig.tight_layout()
    return fig


def _surface(ax, ds, z, label, cmap, camera, zlabel=True):
    """A 3-D surface seen from the widget's camera (same axes: alpha along x, beta along y, loss up)."""
    A, B = np.meshgrid(ds.alpha.values, ds.beta.values, indexing="ij")
    surf = ax.plot_surface(A, B, z, cmap=cmap, linewidth=0, antialiased=True)
    elev, azim = elevation_azimuth(camera or {})
    ax.view_init(elev=elev, azim=azim)
    ax.set_box_aspect((2, 2, SCENE_HEIGHT))
    ax.set_xlabel("alpha")
    ax.set_ylabel("beta")
    if zlabel:
        ax.set_zlabel(label, fontsize=8)
    return surf


def plot_solution(ds, *, unknown: str | None = None, fig=None):
    """u_theta, the exact solution and their difference from a ``solution_snapshot`` Dataset."""
    names = json.loads(ds.attrs["unknowns"])
    name = names[0] if unknown is None else unknown
    if name not in names:
        raise ValueError(f"unknown must be one of {names}, got {name!r}")
    has_exact = f"{name}_exact" in ds
    dims = list(ds[name].dims)
    err = ds.attrs.get("rel_l2_error")
    suptitle = f"{ds.attrs.get('problem', '')}: {name}_theta" + (
        f" (rel. L2 error {err:.3g})" if err is not None and math.isfinite(err) else ""
    )
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(5.5, 4.5) if len(dims) == 1 else (12, 3.6))
    if len(dims) == 1:
        x = ds[dims[0]].values
        top = fig.add_subplot(2 if has_exact else 1, 1, 1)
        top.plot(x, ds[name].values, color="#2a6fdb", lw=2, label=f"{name}_theta")
        if has_exact:
            top.plot(x, ds[f"{name}_exact"].values, "--", color="#555555", lw=1.5, label="exact")
            bottom = fig.add_subplot(2, 1, 2, sharex=top)
            bottom.plot(x, ds[f"{name}_error"].values, color="#d95f02", lw=1.5)
            bottom.axhline(0, color="#999999", lw=0.6)
            bottom.set_ylabel("error")
            bottom.set_xlabel(dims[0])
        else:
            top.set_xlabel(dims[0])
        top.set_ylabel(name)
        top.legend(fontsize=8)
        top.set_title(suptitle, fontsize=9)
        fig.tight_layout()
        return fig
    a, b = (ds[d].values for d in dims)
    extent = [a[0], a[-1], b[0], b[-1]]  # the first coordinate to the right, the second up
    u = ds[name].values
    shown = [(f"{name}_theta", u, "viridis")]
    if has_exact:
        shown += [("exact", ds[f"{name}_exact"].values, "viridis"), ("error", ds[f"{name}_error"].values, "RdBu_r")]
    fin = u[np.isfinite(u)]
    lo, hi = (float(fin.min()), float(fin.max())) if fin.size else (0.0, 1.0)
    if has_exact:
        ex = ds[f"{name}_exact"].values
        lo, hi = min(lo, float(np.nanmin(ex))), max(hi, float(np.nanmax(ex)))
    for k, (label, values, cmap) in enumerate(shown):
        axk = fig.add_subplot(1, len(shown), k + 1)
        if label == "error":
            m = float(np.nanmax(np.abs(values))) or 1.0
            im = axk.imshow(values.T, origin="lower", extent=extent, aspect="auto", cmap=cmap, vmin=-m, vmax=m)
        else:
            im = axk.imshow(values.T, origin="lower", extent=extent, aspect="auto", cmap=cmap, vmin=lo, vmax=hi)
        axk.set_xlabel(dims[0])
        axk.set_ylabel(dims[1])
        axk.set_title(label, fontsize=9)
        fig.colorbar(im, ax=axk)
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def view_png_bytes(
    datasets, *, camera=None, view="surface", z_scale="log", colormap="viridis", title="", dpi=100
) -> bytes | None:
    """The widget's panels as one PNG: one landscape per panel, each a 3-D surface seen from ``camera``
    (``view="surface"``) or a smooth heatmap (``"heatmap"``), with a colorbar; 1-D slices as lines.
    None when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    n = max(1, len(datasets))
    # a bare Figure with the Agg canvas: never touches the user's pyplot state or backend
    fig = Figure(figsize=(4.4 * n, 3.9), layout="constrained")
    FigureCanvasAgg(fig)
    for k, ds in enumerate(datasets):
        z, label = _plotted(ds, z_scale)
        if "beta" not in ds.dims:
            ax = fig.add_subplot(1, n, k + 1)
            ax.plot(ds.alpha.values, z, color="#2a6fdb", lw=2)
            ax.set_xlabel("alpha")
            ax.set_ylabel(label, fontsize=8)
        elif view == "heatmap":
            ax = fig.add_subplot(1, n, k + 1)
            a, b = ds.alpha.values, ds.beta.values
            im = ax.imshow(
                np.ma.masked_invalid(z).T,
                origin="lower",
                extent=(float(a[0]), float(a[-1]), float(b[0]), float(b[-1])),
                aspect="auto",
                cmap=colormap,
                interpolation="bilinear",
            )
            ax.set_xlabel("alpha")
            ax.set_ylabel("beta")
            fig.colorbar(im, ax=ax, label=label, shrink=0.8)
        else:
            ax = fig.add_subplot(1, n, k + 1, projection="3d")
            surf = _surface(ax, ds, np.ma.masked_invalid(z), label, colormap, camera, zlabel=False)
            fig.colorbar(surf, ax=ax, label=label, shrink=0.7, pad=0.08)
        ax.set_title(_title(ds), fontsize=9)
    if title:
        fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def png_bytes(ds, **kwargs) -> bytes | None:
    """The landscape as PNG bytes (``plot``'s picture), or None when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(10, 4.2) if "beta" in ds.dims else (5, 3.8))
    FigureCanvasAgg(fig)
    plot(ds, fig=fig, **kwargs)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()
