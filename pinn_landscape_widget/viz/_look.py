"""The look of a landscape, one vocabulary for the widget, ``plot`` and ``to_pythreejs``: ``z_scale`` (the
height and colour scale) and ``colormap``, with the same allowed values and the same errors everywhere."""

from __future__ import annotations

from .._checks import check_choice

Z_SCALES = ("linear", "log")
COLORMAPS = ("viridis", "cividis", "magma", "coolwarm", "gray")  # matplotlib's names; the front end has the same


def check_z_scale(value) -> str:
    return check_choice("z_scale", value, Z_SCALES)


def check_colormap(value) -> str:
    return check_choice("colormap", value, COLORMAPS)


def z_scale_from_log(value) -> str:
    """The old ``log=True/False`` as a ``z_scale`` (for ``renamed_arguments``)."""
    if value is True or value is False or type(value).__name__ == "bool_":  # numpy booleans too
        return "log" if value else "linear"
    raise ValueError(f"log must be True or False (it is deprecated: use z_scale='log' or 'linear'), got {value!r}")
