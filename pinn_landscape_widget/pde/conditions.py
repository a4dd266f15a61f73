"""Boundary, initial and periodicity conditions of a problem.

Each condition becomes a loss term lam * sum_j w_j misfit_j^2 over its points (conditions that share a
``name`` add up into one term), unless it is marked ``hard``: then the problem's ansatz satisfies it exactly
and it costs nothing (checked when the problem is defined). Values are numbers or functions of the
coordinates and the problem's coefficients, called by argument name like residuals: ``lambda x: torch.sin(x)``.

    plw.dirichlet("x")                          # u = 0 at both ends of x
    plw.dirichlet("x", at=0.0, value=1.0)       # u = 1 at x = 0
    plw.dirichlet()                             # u = 0 on every face of every non-time coordinate
    plw.neumann("x", at=1.0, value=0.0)         # du/dx = 0 at x = 1 (the derivative along +x)
    plw.initial(lambda x: torch.sin(x))         # u = sin x at the start of time
    plw.initial_rate(0.0)                       # u_t = 0 at the start of time
    plw.periodic("x")                           # u equal at both ends of x (derivatives=True: u_x too)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

from .._checks import check_positive

KINDS = ("dirichlet", "neumann", "initial", "initial_rate", "periodic")


@dataclass(frozen=True)
class Condition:
    """One condition, as the user wrote it; ``Problem`` resolves it against the domain.

    kind: one of KINDS. coordinate: the coordinate whose faces it lies on (None: every face of every
    non-time coordinate for "dirichlet"; the time coordinate for "initial"/"initial_rate"). at: the face's
    value of that coordinate, None for both ends. value: number, function of coordinates/coefficients, or a
    dict unknown -> either. unknowns: which unknowns it constrains (None: all, or the value dict's keys).
    weight: the penalty lam. hard: satisfied by the ansatz instead of penalised. n_points: points on each
    face (default: as the interior grid along the face). derivatives: periodicity of the first derivative
    along the coordinate as well.
    """

    kind: str
    name: str
    coordinate: str | None = None
    at: float | None = None
    value: object = 0.0
    unknowns: tuple[str, ...] | None = None
    weight: float = 1.0
    hard: bool = False
    n_points: int | None = None
    derivatives: bool = False
    extra: dict = field(default_factory=dict)


def _weight(weight) -> float:
    return check_positive("weight", weight)


def _value(value, what: str):
    if isinstance(value, bool) or not (callable(value) or isinstance(value, (numbers.Real, dict))):
        raise ValueError(
            f"{what} value must be a number, a function of the coordinates or a dict per unknown, got {value!r}"
        )
    if isinstance(value, numbers.Real) and not math.isfinite(value):
        raise ValueError(f"{what} value must be finite, got {value!r}")
    if isinstance(value, dict):
        for k, v in value.items():
            _value(v, f"{what} (unknown {k!r})")
    return value


def _unknowns(unknowns) -> tuple[str, ...] | None:
    if unknowns is None:
        return None
    if isinstance(unknowns, str):
        return (unknowns,)
    return tuple(unknowns)


def _at(at):
    if at is None:
        return None
    if isinstance(at, bool) or not isinstance(at, numbers.Real) or not math.isfinite(at):
        raise ValueError(f"at must be a finite number (a face of the box) or None (both ends), got {at!r}")
    return float(at)


def dirichlet(
    coordinate: str | None = None,
    at: float | None = None,
    value=0.0,
    *,
    unknowns=None,
    weight: float = 1.0,
    hard: bool = False,
    name: str = "boundary",
    n_points: int | None = None,
) -> Condition:
    """u = value on faces of the box: Dirichlet conditions.

    Parameters
    ----------
    coordinate : str or None, optional
        The coordinate whose face(s) it lies on; default None: every face of every coordinate other than
        time.
    at : float or None, optional
        The face's value of ``coordinate``: its lo or hi end (a finite number); default None: both ends.
    value : number, callable or dict, optional
        The prescribed value: a finite number, a function of the coordinates (and
        coefficients) called by argument name, e.g. ``lambda x: torch.sin(x)``, or a dict unknown -> either. Default 0.
    unknowns : str, sequence of str or None, optional
        The unknowns it constrains; default None: every unknown (or, for a dict ``value``, its keys). A
        name that is not an unknown of the problem is a ValueError when the problem is defined.
    weight : float, optional
        The penalty factor lam of its loss term lam * sum_j w_j misfit_j^2; a finite number > 0. Default 1.
    hard : bool, optional
        Satisfied exactly by the problem's ansatz (``define_problem(ansatz=..., lift=...)``) instead of
        penalised; checked when the problem is defined. Default False.
    name : str, optional
        The loss term it adds to (conditions with the same name add up into one term). Default "boundary".
    n_points : int or None, optional
        Points on each face (>= 1); default None: as the interior's grid along the face (or, for a random
        sampling, as many as it has there). Ignored on a 1-D problem's end points (one point each).

    Returns
    -------
    Condition
        The condition, for ``define_problem(conditions=[...])``.

    Raises
    ------
    ValueError
        For a ``value`` that is not a finite number, a function or a dict of them, an ``at`` that is not a
        finite number or a ``weight`` that is not a finite number > 0. Where it lies is checked when the
        problem is defined.
    """
    return Condition(
        "dirichlet",
        name,
        coordinate,
        _at(at),
        _value(value, "dirichlet"),
        _unknowns(unknowns),
        _weight(weight),
        bool(hard),
        n_points,
    )


def neumann(
    coordinate: str,
    at: float | None = None,
    value=0.0,
    *,
    unknowns=None,
    weight: float = 1.0,
    name: str = "boundary",
    n_points: int | None = None,
) -> Condition:
    """du/d(coordinate) = value on faces of the box: Neumann conditions (the derivative along the
    coordinate's positive direction, not the outward normal).

    Parameters
    ----------
    coordinate : str
        The coordinate along which the derivative is prescribed, whose face(s) it lies on. Required.
    at : float or None, optional
        The face's value of ``coordinate``: its lo or hi end (a finite number); default None: both ends.
    value : number, callable or dict, optional
        The prescribed derivative: a finite number, a function of the coordinates (and
        coefficients) called by argument name, e.g. ``lambda x: torch.sin(x)``, or a dict unknown -> either. Default 0.
    unknowns : str, sequence of str or None, optional
        The unknowns it constrains; default None: every unknown (or, for a dict ``value``, its keys). A
        name that is not an unknown of the problem is a ValueError when the problem is defined.
    weight : float, optional
        The penalty factor lam of its loss term lam * sum_j w_j misfit_j^2; a finite number > 0. Default 1.
    name : str, optional
        The loss term it adds to (conditions with the same name add up into one term). Default "boundary".
    n_points : int or None, optional
        Points on each face (>= 1); default None: as the interior's grid along the face (or, for a random
        sampling, as many as it has there). Ignored on a 1-D problem's end points (one point each).

    Returns
    -------
    Condition
        The condition, for ``define_problem(conditions=[...])``.

    Raises
    ------
    ValueError
        For a missing ``coordinate``, a ``value`` that is not a finite number, a function or a dict of them,
        an ``at`` that is not a finite number or a ``weight`` that is not a finite number > 0. Where it lies
        is checked when the problem is defined.
    """
    if coordinate is None:
        raise ValueError("neumann needs the coordinate along which the derivative is prescribed")
    return Condition(
        "neumann",
        name,
        coordinate,
        _at(at),
        _value(value, "neumann"),
        _unknowns(unknowns),
        _weight(weight),
        False,
        n_points,
    )


def initial(
    value,
    *,
    time: str | None = None,
    unknowns=None,
    weight: float = 1.0,
    hard: bool = False,
    name: str = "initial",
    n_points: int | None = None,
) -> Condition:
    """u = value at the start of time: an initial condition.

    Parameters
    ----------
    value : number, callable or dict
        The initial value: a finite number, a function of the coordinates (and coefficients) called by
        argument name, e.g. ``lambda x: torch.sin(x)``, or a dict unknown -> either. Required.
    time : str or None, optional
        The time coordinate; default None: the problem's (``define_problem(time=...)``, else "t").
    unknowns : str, sequence of str or None, optional
        The unknowns it constrains; default None: every unknown (or, for a dict ``value``, its keys). A
        name that is not an unknown of the problem is a ValueError when the problem is defined.
    weight : float, optional
        The penalty factor lam of its loss term lam * sum_j w_j misfit_j^2; a finite number > 0. Default 1.
    hard : bool, optional
        Satisfied exactly by the problem's ansatz (``define_problem(ansatz=..., lift=...)``) instead of
        penalised; checked when the problem is defined. Default False.
    name : str, optional
        The loss term it adds to (conditions with the same name add up into one term). Default "initial".
    n_points : int or None, optional
        Points on each face (>= 1); default None: as the interior's grid along the face (or, for a random
        sampling, as many as it has there). Ignored on a 1-D problem's end points (one point each).

    Returns
    -------
    Condition
        The condition, for ``define_problem(conditions=[...])``.

    Raises
    ------
    ValueError
        For a ``value`` that is not a finite number, a function or a dict of them, or a ``weight`` that is
        not a finite number > 0. Whether the problem has a time coordinate is checked when it is defined.
    """
    return Condition(
        "initial",
        name,
        time,
        None,
        _value(value, "initial"),
        _unknowns(unknowns),
        _weight(weight),
        bool(hard),
        n_points,
    )


def initial_rate(
    value=0.0,
    *,
    time: str | None = None,
    unknowns=None,
    weight: float = 1.0,
    name: str = "initial_rate",
    n_points: int | None = None,
) -> Condition:
    """du/dt = value at the start of time: the second initial condition of a wave equation.

    Parameters
    ----------
    value : number, callable or dict, optional
        The initial rate: a finite number, a function of the coordinates (and
        coefficients) called by argument name, e.g. ``lambda x: torch.sin(x)``, or a dict unknown -> either. Default 0.
    time : str or None, optional
        The time coordinate; default None: the problem's (``define_problem(time=...)``, else "t").
    unknowns : str, sequence of str or None, optional
        The unknowns it constrains; default None: every unknown (or, for a dict ``value``, its keys). A
        name that is not an unknown of the problem is a ValueError when the problem is defined.
    weight : float, optional
        The penalty factor lam of its loss term lam * sum_j w_j misfit_j^2; a finite number > 0. Default 1.
    name : str, optional
        The loss term it adds to (conditions with the same name add up into one term). Default "initial_rate".
    n_points : int or None, optional
        Points on each face (>= 1); default None: as the interior's grid along the face (or, for a random
        sampling, as many as it has there). Ignored on a 1-D problem's end points (one point each).

    Returns
    -------
    Condition
        The condition, for ``define_problem(conditions=[...])``.

    Raises
    ------
    ValueError
        For a ``value`` that is not a finite number, a function or a dict of them, or a ``weight`` that is
        not a finite number > 0. Whether the problem has a time coordinate is checked when it is defined.
    """
    return Condition(
        "initial_rate",
        name,
        time,
        None,
        _value(value, "initial_rate"),
        _unknowns(unknowns),
        _weight(weight),
        False,
        n_points,
    )


def periodic(
    coordinate: str,
    *,
    derivatives: bool = False,
    unknowns=None,
    weight: float = 1.0,
    name: str = "boundary",
    n_points: int | None = None,
) -> Condition:
    """u(lo) = u(hi) along a coordinate: periodicity, on paired points of the two faces.

    Parameters
    ----------
    coordinate : str
        The coordinate along which the solution repeats. Required.
    derivatives : bool, optional
        Also du/d(coordinate) equal at both ends (for a second-order PDE in that coordinate). Default False.
    unknowns : str, sequence of str or None, optional
        The unknowns it constrains; default None: every unknown (or, for a dict ``value``, its keys). A
        name that is not an unknown of the problem is a ValueError when the problem is defined.
    weight : float, optional
        The penalty factor lam of its loss term lam * sum_j w_j misfit_j^2; a finite number > 0. Default 1.
    name : str, optional
        The loss term it adds to (conditions with the same name add up into one term). Default "boundary".
    n_points : int or None, optional
        Points on each face (>= 1); default None: as the interior's grid along the face (or, for a random
        sampling, as many as it has there). Ignored on a 1-D problem's end points (one point each).

    Returns
    -------
    Condition
        The condition, for ``define_problem(conditions=[...])``.

    Raises
    ------
    ValueError
        For a missing ``coordinate`` or a ``weight`` that is not a finite number > 0. Whether the
        coordinate exists is checked when the problem is defined.
    """
    if coordinate is None:
        raise ValueError("periodic needs the coordinate along which the solution repeats")
    return Condition(
        "periodic",
        name,
        coordinate,
        None,
        None,
        _unknowns(unknowns),
        _weight(weight),
        False,
        n_points,
        bool(derivatives),
    )


def check_conditions(conditions) -> list[Condition]:
    if conditions is None:
        return []
    if isinstance(conditions, Condition):
        conditions = [conditions]
    out = []
    for c in conditions:
        if not isinstance(c, Condition):
            raise ValueError(
                "conditions must be a list made with plw.dirichlet / neumann / initial / initial_rate / periodic, "
                f"got {type(c).__name__}"
            )
        out.append(c)
    return out
