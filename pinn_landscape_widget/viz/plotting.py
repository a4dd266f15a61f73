"""Static pictures with matplotlib: ``plot(ds)`` for papers, and the PNG the widget carries for viewers
without JavaScript (GitHub, nbviewer without widgets, e-mail).

The Deep Ritz energy is plotted as E - E* (E* from the exact solution when known, else the grid minimum)
before a log scale, and the axis says so.
"""

from __future__ import annotations

import io

import numpy as np


def _plotted(ds, log: bool, var: str = "loss"):
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
    if log:
        pos = z[np.isfinite(z) & (z > 0)]
        floor = pos.min() / 10 if pos.size else 1e-30
        z = np.log10(np.where(np.isfinite(z), np.maximum(z, floor), np.nan))
        label = f"log10({label})"
    return z, label


def plot(
    ds,
    *,
    log: bool = True,
    ax=None,
    contour_levels: int = 20,
    cmap: str = "viridis",
    surface: bool = True,
    fig=None,
    var: str = "loss",
):
    """Contours (and a 3-D surface) of a landscape Dataset; 1-D slices as a line. Returns the Figure.

    Draws into ``ax`` (contours only) or ``fig`` when given, else a new pyplot figure. ``var`` draws another
    variable over the grid instead of the loss, e.g. ``convexity_ratio`` of a ``curvature_map``.
    """
    z, label = _plotted(ds, log, var)
    title = f"{ds.attrs.get('problem', '')} / {ds.attrs.get('formulation', '')}: {ds.attrs.get('direction_kind', '')}"
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
        ax1.plot(ds.trajectory_alpha.values, ds.trajectory_beta.values, "r.-", lw=1, ms=3, label="training")
        ax1.legend(loc="upper right", fontsize=8)
    ax1.set_xlabel("alpha")
    ax1.set_ylabel("beta")
    ax1.set_title(title, fontsize=9)
    fig.colorbar(cs, ax=ax1, label=label)
    if surface:
        ax2 = fig.add_subplot(1, 2, 2, projection="3d")
        ax2.plot_surface(A, B, masked, cmap=cmap, linewidth=0, antialiased=True)
        ax2.set_xlabel("alpha")
        ax2.set_ylabel("beta")
        ax2.set_zlabel(label, fontsize=8)
    fig.tight_layout()
    return fig


def png_bytes(ds, **kwargs) -> bytes | None:
    """The landscape as PNG bytes, or None when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    # a bare Figure with the Agg canvas: never touches the user's pyplot state or backend
    fig = Figure(figsize=(10, 4.2) if "beta" in ds.dims else (5, 3.8))
    FigureCanvasAgg(fig)
    plot(ds, fig=fig, **kwargs)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()
