"""Problems: a PDE on a box in named coordinates, its conditions, points and known solution.

``define_problem`` makes one from plain Python functions; every built-in problem (``get_problem``) is made
the same way (``pde/library.py``). Both go through one frozen ``ProblemSpec`` (what ``define_problem``
takes, plus the built-ins' point layout); ``Problem(spec)`` checks it and builds everything else from it,
and changed copies (``with_coefficients``) and pickles are new problems built from a spec. A problem knows
its PDE (the strong residual and, where one exists, the energy density) but nothing about networks or
losses: ``formulations`` turns these into losses and the engine evaluates them.

Functions are called by argument name. A residual's arguments may be the unknowns (``Field`` objects, see
``derivatives``), the coordinates ([N] tensors), the problem's coefficients (numbers) and ``f`` (the source
at the points, when the problem has one):

    heat = plw.define_problem(
        "heat", domain={"x": (0, 1), "t": (0, 1)},
        residual=lambda u, kappa: u.t - kappa * u.xx, coefficients={"kappa": 0.1},
        conditions=[plw.initial(lambda x: torch.sin(math.pi * x)), plw.dirichlet("x")],
        exact=lambda x, t, kappa: torch.exp(-kappa * math.pi**2 * t) * torch.sin(math.pi * x))

The derivatives a problem reads are found by calling its functions once on recording fields; the engine
then propagates exactly those. All geometry is float64; the objective casts it to the run's device and
dtype.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch

from .._checks import check_choice, check_int, renamed_arguments
from .conditions import Condition, check_conditions
from .derivatives import (
    Jet,
    JetSpec,
    SecondOrder,
    autograd_jet,
    bind,
    check_names,
    discover,
    fields,
    spec_from_keys,
)
from .reference import GridReference
from .sampling import SAMPLINGS, box_points, face_points, given_points, grid_counts, tensor_grid

F64 = torch.float64
# what ``with_coefficients`` may change besides the coefficients of a defined problem: its points
POINT_OPTIONS = ("n_points", "sampling", "seed", "n_eval")


@dataclass(frozen=True)
class ProblemSpec:
    """Everything a ``Problem`` is built from, as given: the arguments of ``define_problem`` (see there for
    each), the point layout of the built-ins that reproduce papers, and for a built-in, how to rebuild it.

    Nothing is checked here (``Problem`` checks every field and names it in its errors); dicts and lists are
    copied, so changing the caller's afterwards changes nothing. Frozen: a changed problem is a new one,
    built from ``dataclasses.replace(spec, ...)``.

    collocation: None (the ``n_points`` grid or draw), an integer n (n of the grid's cell centres, drawn
    without replacement with ``seed``; sampling must be "grid"), or the points themselves as a sequence of
    coordinate tuples; every interior point then weighs the box's measure / N. The conditions keep the
    grid's faces. mean_terms: every loss term is the mean of its squares over its points (per face for a
    condition on several faces) instead of the integral over its part of the box. preset: (factory,
    options) of a built-in (``get_problem``); such a spec pickles as these two (the factory by reference,
    so plain pickle works) and is rebuilt by calling the factory again.
    """

    name: str
    domain: dict
    residual: Callable
    unknowns: Sequence[str] | str
    energy: Callable | None
    source: Callable | None
    conditions: object
    ansatz: object
    lift: object
    exact: object
    coefficients: dict | None
    energy_reference: float | None
    n_points: int | Sequence[int]
    sampling: str
    seed: int
    n_eval: int | None
    time: str | None
    description: str
    collocation: int | Sequence[Sequence[float]] | None = None
    mean_terms: bool = False
    preset: tuple[Callable[..., ProblemSpec], dict] | None = None

    def __post_init__(self):
        for name in ("domain", "coefficients", "ansatz", "lift"):
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, dict(value))
        for name in ("unknowns", "n_points", "collocation"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        conditions = self.conditions  # a list, or any iterable (a generator would be used up by one build)
        if isinstance(conditions, Iterable) and not isinstance(conditions, (Condition, str, dict, tuple)):
            object.__setattr__(self, "conditions", tuple(conditions))
        if self.preset is not None:
            object.__setattr__(self, "preset", (self.preset[0], dict(self.preset[1])))

    def __reduce__(self):
        if self.preset is not None:  # a built-in: its factory (by reference) and options
            return (preset_spec, self.preset)
        return (ProblemSpec, tuple(getattr(self, f.name) for f in dataclasses.fields(self)))


def problem_spec(*args, collocation=None, mean_terms=False, **kwargs) -> ProblemSpec:
    """The spec ``define_problem(*args, **kwargs)`` builds its problem from, its defaults filled in (the
    built-ins make theirs this way), with the point layout ``collocation`` and ``mean_terms``."""
    bound = inspect.signature(define_problem).bind(*args, **kwargs)
    bound.apply_defaults()
    return ProblemSpec(**bound.arguments, collocation=collocation, mean_terms=mean_terms)


def preset_spec(factory: Callable[..., ProblemSpec], options: dict) -> ProblemSpec:
    """A built-in's spec: its factory's (``pde/library.py``) called with ``options``, remembering both."""
    return dataclasses.replace(factory(**options), preset=(factory, dict(options)))


def _problem_error(problem: str, what: str) -> str:
    return f"problem {problem!r}: {what}"


@dataclass
class ConditionSet:
    """A resolved condition: its points, weights and what the engine needs to form the misfit.

    kind "value": misfit_k = u_k - target_k; "rate"/"neumann": misfit_k = d_axis u_k - target_k;
    "periodic": points holds the low face then the high face (n each) and misfit = F(lo) - F(hi) for F the
    value (and d_axis u when ``derivatives``). ``weights`` has one entry per misfit row of one unknown.
    """

    name: str
    kind: str
    points: torch.Tensor
    weights: torch.Tensor
    lam: float
    unknown_index: tuple[int, ...]
    spec: JetSpec
    axis: int | None = None
    targets: tuple[torch.Tensor, ...] | None = None
    derivatives: bool = False
    hard: bool = False

    def misfit(self, u: Jet) -> torch.Tensor:
        """[K, rows] misfits of every constrained unknown, concatenated."""
        parts = []
        targets, axis = self.targets or (), self.axis if self.axis is not None else -1
        for j, k in enumerate(self.unknown_index):
            if self.kind == "value":
                parts.append(u.value(k) - targets[j])
            elif self.kind in ("rate", "neumann"):
                parts.append(u.first(axis, k) - targets[j])
            else:  # periodic
                v = u.value(k)
                n = v.shape[1] // 2
                parts.append(v[:, :n] - v[:, n:])
                if self.derivatives:
                    g = u.first(axis, k)
                    parts.append(g[:, :n] - g[:, n:])
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def row_weights(self) -> torch.Tensor:
        reps = len(self.unknown_index) * (2 if self.kind == "periodic" and self.derivatives else 1)
        return self.weights if reps == 1 else self.weights.repeat(reps)

    def cast(self, **cast) -> ConditionSet:
        targets = None if self.targets is None else tuple(t.to(**cast) for t in self.targets)
        return ConditionSet(
            self.name,
            self.kind,
            self.points.to(**cast),
            self.weights.to(**cast),
            self.lam,
            self.unknown_index,
            self.spec,
            self.axis,
            targets,
            self.derivatives,
            self.hard,
        )


class Problem:
    """A PDE problem on a box, built from one ``ProblemSpec``: its coordinates, unknowns, PDE, conditions,
    points and known solution.

    Make one with ``define_problem`` (your own PDE) or ``get_problem`` (a built-in); ``Problem(spec)``
    rebuilds one from the ``spec`` of another (``dataclasses.replace(problem.spec, ...)`` for a changed
    copy). Building checks the whole definition: every mistake is a ValueError naming the problem and the
    argument.

    Parameters
    ----------
    spec : ProblemSpec
        What the problem is made of: ``problem.spec`` of another problem, or a changed copy of it. Required;
        anything else is a ValueError.

    Attributes
    ----------
    name : str
        The label given to ``define_problem``.
    input_names : tuple of str
        The coordinates, in the order of the network's inputs.
    domain : tuple of (float, float)
        (lo, hi) per coordinate.
    dim : int
        The number of coordinates.
    unknowns : tuple of str
        The unknowns; a network has one output per unknown.
    coefficients : dict
        The PDE coefficients (name -> number) handed to the functions that ask for them; vary them with
        ``with_coefficients``.
    time : str or None
        The time coordinate, if any.
    has_energy : bool
        Whether the problem has an energy density (the "deep_ritz" formulation).
    residual_order : int
        The highest derivative order the residual reads.
    description : str
        One line saying what the problem is.
    spec : ProblemSpec
        What the problem was built from.

    Raises
    ------
    ValueError
        When ``spec`` is not a ProblemSpec, or for any mistake in it (see ``define_problem``).
    """

    name: str
    input_names: tuple[str, ...]
    domain: tuple[tuple[float, float], ...]
    dim: int
    unknowns: tuple[str, ...]
    coefficients: dict
    time: str | None
    n_points: int | Sequence[int]
    sampling: str
    seed: int
    n_eval: int | None
    has_energy: bool
    residual_spec: JetSpec
    energy_spec: JetSpec | None
    residual_terms: tuple[str, ...]
    conditions: list[ConditionSet]
    _x: torch.Tensor
    _w: torch.Tensor
    _source: Callable | None
    _exact: Callable | None
    _residual: Callable
    _residual_args: tuple[str, ...]
    _energy: Callable | None
    _energy_args: tuple[str, ...]
    _factors: list
    _lifts: list
    _energy_reference: float | None

    def __init__(self, spec: ProblemSpec):
        if not isinstance(spec, ProblemSpec):
            raise ValueError(
                f"Problem(spec) takes a ProblemSpec (a problem's .spec); make a problem with plw.define_problem "
                f"or plw.get_problem, got {type(spec).__name__}"
            )
        self.spec = spec
        self._identify()
        self._lay_out_coordinates()
        self._place_points()
        self._read_pde()
        self._bind_solution()
        self._resolve_conditions()
        self._check_exact()

    # --- the steps of building, in order ----------------------------------------------------------------------
    def _identify(self) -> None:
        name = self.spec.name
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        self.name = name
        self.description = str(self.spec.description)

    def _lay_out_coordinates(self) -> None:
        """The box, the unknowns, the coefficients and the time coordinate."""
        s = self.spec
        self.input_names, self.domain = self._check_domain(s.domain)
        self.dim = len(self.input_names)
        unknowns = (s.unknowns,) if isinstance(s.unknowns, str) else s.unknowns
        self.unknowns = check_names("unknown", unknowns, self.input_names)
        if not self.unknowns:
            raise ValueError(_problem_error(self.name, "unknowns must name at least one unknown"))
        self.coefficients = self._check_coefficients(s.coefficients)
        self.time = self._check_time(s.time)

    def _place_points(self) -> None:
        """The interior points and weights, fixed from here on (the conditions' follow the same grid)."""
        s = self.spec
        self.n_points = s.n_points
        self.sampling = check_choice("sampling", s.sampling, SAMPLINGS)
        if isinstance(s.seed, bool) or not isinstance(s.seed, numbers.Integral):
            raise ValueError(f"seed must be an integer, got {s.seed!r}")
        self.seed = int(s.seed)
        self._counts = grid_counts(s.n_points, self.dim)
        self.n_eval = None if s.n_eval is None else check_int("n_eval", s.n_eval, 2, 10_000_000)
        x, w = box_points(self.domain, s.n_points, self.sampling, self.seed)
        if s.collocation is not None:
            x, w = self._collocation_points(x, w, s.collocation)
        if not isinstance(s.mean_terms, bool):
            raise ValueError(f"mean_terms must be True or False, got {s.mean_terms!r}")
        self._mean_terms = s.mean_terms
        if self._mean_terms:
            w = w / w.sum()
        self._x, self._w = x, w

    def _collocation_points(self, x: torch.Tensor, w: torch.Tensor, collocation) -> tuple[torch.Tensor, torch.Tensor]:
        """n of the grid's cell centres (drawn with the seed), or the given points; each weighs measure / N."""
        measure = float(w.sum())
        if isinstance(collocation, numbers.Integral) and not isinstance(collocation, bool):
            if self.sampling != "grid":
                raise ValueError(f"collocation draws from the grid, so sampling must be 'grid', got {self.sampling!r}")
            n = check_int("collocation", collocation, 1, x.shape[0])
            gen = torch.Generator().manual_seed(self.seed)
            x = x[torch.randperm(x.shape[0], generator=gen)[:n]].contiguous()
        else:
            x = given_points("collocation", collocation, self.input_names, self.domain)
        return x, torch.full((x.shape[0],), measure / x.shape[0], dtype=F64)

    def _read_pde(self) -> None:
        """The source, and what the residual and the energy density read (found by calling them once)."""
        s = self.spec
        self._source = self._bind_coordinate_fn(s.source, "source") if s.source is not None else None
        base = self._allowed_args(fields_ok=True)
        self._residual = s.residual
        self._residual_args = bind(s.residual, _problem_error(self.name, "residual"), base)
        rec = self._discover(s.residual, self._residual_args, "residual")
        self.residual_terms = self._result_terms(rec.result, "residual")
        self.residual_spec = self._spec_of(rec.keys)
        self.residual_order = self.residual_spec.order
        self._energy = s.energy
        self.energy_spec = None
        if s.energy is not None:
            self._energy_args = bind(s.energy, _problem_error(self.name, "energy"), base)
            rec_e = self._discover(s.energy, self._energy_args, "energy")
            if not isinstance(rec_e.result, torch.Tensor):
                raise ValueError(
                    _problem_error(self.name, f"energy must return a tensor, got {type(rec_e.result).__name__}")
                )
            self.energy_spec = self._spec_of(rec_e.keys)
            if self.energy_spec.order > 1:
                raise ValueError(
                    _problem_error(
                        self.name,
                        "an energy density reads values and first derivatives only "
                        "(Deep Ritz integrates it with first derivatives); it reads "
                        "second derivatives",
                    )
                )
            self._check_not_first_order_in_time()
        self.has_energy = s.energy is not None
        self._energy_reference = self._check_energy_reference(s.energy_reference)
        self._exact_energy_cache: list = []

    def _bind_solution(self) -> None:
        """The hard ansatz u_k = lift_k + factor_k * N_k, and the exact (or reference) solution."""
        self._factors = self._per_unknown(self.spec.ansatz, "ansatz")
        self._lifts = self._per_unknown(self.spec.lift, "lift")
        self._exact = self._bind_exact(self.spec.exact)

    def _resolve_conditions(self) -> None:
        """Each condition's points, weights and targets; hard ones checked against the ansatz and dropped."""
        self.conditions = [cs for c in check_conditions(self.spec.conditions) for cs in self._resolve(c)]
        self._check_hard_conditions()

    # --- validation ---------------------------------------------------------------------------------------
    def _check_domain(self, domain):
        if not isinstance(domain, dict) or not domain:
            raise ValueError(_problem_error(self.name, f"domain must be a dict coordinate -> (lo, hi), got {domain!r}"))
        names = check_names("coordinate", list(domain))
        box = []
        for n in names:
            iv = domain[n]
            ok = (
                isinstance(iv, (tuple, list))
                and len(iv) == 2
                and all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in iv)
            )
            if not ok or not iv[0] < iv[1]:
                raise ValueError(
                    _problem_error(self.name, f"the interval of {n!r} must be (lo, hi) with finite lo < hi, got {iv!r}")
                )
            box.append((float(iv[0]), float(iv[1])))
        return names, tuple(box)

    def _check_coefficients(self, coefficients) -> dict:
        if coefficients is None:
            return {}
        if not isinstance(coefficients, dict):
            raise ValueError(
                _problem_error(self.name, f"coefficients must be a dict name -> number, got {coefficients!r}")
            )
        out = {}
        taken = set(self.input_names) | set(self.unknowns) | {"f"}
        for k, v in coefficients.items():
            if not isinstance(k, str) or not k.isidentifier() or k.startswith("_") or k in taken:
                raise ValueError(
                    _problem_error(
                        self.name,
                        f"coefficient names must be identifiers other than the "
                        f"coordinates, the unknowns and 'f', got {k!r}",
                    )
                )
            out[k] = v
        return out

    def _check_energy_reference(self, value) -> float | None:
        if value is None:
            return None
        try:
            number = None if isinstance(value, bool) else float(value)
        except (TypeError, ValueError):
            number = None
        if number is None or not math.isfinite(number):
            raise ValueError(
                _problem_error(self.name, f"energy_reference must be a finite number (E*) or None, got {value!r}")
            )
        return number

    def _check_time(self, time):
        if time is None:
            return "t" if "t" in self.input_names else None
        if time not in self.input_names:
            raise ValueError(
                _problem_error(self.name, f"time must be one of the coordinates {list(self.input_names)}, got {time!r}")
            )
        return time

    def _allowed_args(self, fields_ok: bool) -> dict[str, str]:
        allowed = {}
        if fields_ok:
            allowed.update({u: "unknown" for u in self.unknowns})
        allowed.update({c: "coordinate" for c in self.input_names})
        allowed.update({p: "coefficient" for p in self.coefficients})
        if fields_ok and self._source is not None:
            allowed["f"] = "the source at the points"
        return allowed

    def _discover(self, fn, args, what):
        n = 7
        cols = {c: torch.linspace(lo, hi, n, dtype=F64) for c, (lo, hi) in zip(self.input_names, self.domain)}
        values = {**cols, **self.coefficients}
        if "f" in args:
            values["f"] = torch.linspace(0.1, 0.9, n, dtype=F64)
        try:
            rec = discover(fn, args, self.unknowns, self.input_names, values, n=n, K=2)
        except ValueError as exc:
            raise ValueError(_problem_error(self.name, f"{what}: {exc}")) from None
        except Exception as exc:
            raise ValueError(_problem_error(self.name, f"{what} raised {type(exc).__name__}: {exc}")) from exc
        self._check_result_shape(rec.result, what, (2, n))
        if not any(rec.keys.values()):
            raise ValueError(_problem_error(self.name, f"{what} reads none of the unknowns {list(self.unknowns)}"))
        return rec

    def _check_result_shape(self, result, what, shape):
        items = (
            result.items()
            if isinstance(result, dict)
            else enumerate(result)
            if isinstance(result, (list, tuple))
            else [(None, result)]
        )
        if isinstance(result, (list, tuple, dict)) and not result:
            raise ValueError(_problem_error(self.name, f"{what} returned an empty {type(result).__name__}"))
        for key, r in items:
            label = what if key is None else f"{what}[{key!r}]"
            if not isinstance(r, torch.Tensor):
                raise ValueError(
                    _problem_error(
                        self.name, f"{label} must return a tensor (or a list/dict of them), got {type(r).__name__}"
                    )
                )
            if tuple(r.shape) != shape:
                raise ValueError(
                    _problem_error(
                        self.name,
                        f"{label} must return one value per point and parameter "
                        f"point, shape [K, N] = {list(shape)} here, got "
                        f"{list(r.shape)}",
                    )
                )

    def _result_terms(self, result, what) -> tuple[str, ...]:
        if isinstance(result, dict):
            for k in result:
                if not isinstance(k, str) or not k.isidentifier():
                    raise ValueError(_problem_error(self.name, f"{what} dict keys must be identifiers, got {k!r}"))
            return tuple(result)
        return ("residual",)

    def _spec_of(self, keys: dict) -> JetSpec:
        spec = JetSpec(self.dim)
        for u in self.unknowns:
            spec = spec.union(spec_from_keys(self.dim, keys[u]))
        return spec

    def _check_not_first_order_in_time(self):
        if self.time is None:
            return
        t = self.input_names.index(self.time)
        reads_t = t in self.residual_spec.first
        reads_tt = any((t, t) in {(i, j) for i, j, _ in f.terms} for f in self.residual_spec.second)
        if reads_t and not reads_tt:
            raise ValueError(
                _problem_error(
                    self.name,
                    f"an energy (Deep Ritz) needs a problem with a variational principle; the residual is "
                    f"first order in time ({self.unknowns[0]}.{self.time}), which has none. Leave energy out.",
                )
            )

    def _bind_coordinate_fn(self, fn, what):
        """fn of coordinates/coefficients -> a function points [N, d] -> values."""
        args = bind(fn, _problem_error(self.name, what), self._allowed_args(fields_ok=False))

        def call(x: torch.Tensor):
            kw = {a: (x[:, self.input_names.index(a)] if a in self.input_names else self.coefficients[a]) for a in args}
            return fn(**kw)

        return call

    def _per_unknown(self, fn, what) -> list:
        if fn is None:
            return [None] * len(self.unknowns)
        if isinstance(fn, dict):
            bad = [k for k in fn if k not in self.unknowns]
            if bad:
                raise ValueError(
                    _problem_error(self.name, f"{what} names unknowns {bad}; unknowns: {list(self.unknowns)}")
                )
            return [None if fn.get(u) is None else self._scalar_fn(fn[u], f"{what}[{u!r}]") for u in self.unknowns]
        return [self._scalar_fn(fn, what) for _ in self.unknowns]

    def _scalar_fn(self, fn, what):
        if isinstance(fn, numbers.Real):
            value = float(fn)
            return lambda x: torch.full((x.shape[0],), value, dtype=x.dtype) + 0 * x[:, 0]
        call = self._bind_coordinate_fn(fn, what)

        def checked(x):
            v = call(x)
            if isinstance(v, numbers.Real):
                v = torch.full((x.shape[0],), float(v), dtype=x.dtype) + 0 * x[:, 0]
            if not isinstance(v, torch.Tensor) or tuple(v.shape) != (x.shape[0],):
                got = list(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
                raise ValueError(_problem_error(self.name, f"{what} must return one value per point, [N], got {got}"))
            return v

        return checked

    def _bind_exact(self, exact):
        if exact is None:
            return None
        if isinstance(exact, GridReference):  # a function of the points [N, d]
            if tuple(exact.names) != self.input_names:
                raise ValueError(
                    _problem_error(
                        self.name,
                        f"exact is a GridReference over {list(exact.names)}; the "
                        f"problem's coordinates are {list(self.input_names)}",
                    )
                )
            return exact
        call = self._bind_coordinate_fn(exact, "exact")
        m = len(self.unknowns)

        def values(x):
            v = call(x)
            if isinstance(v, dict):
                v = [v[u] for u in self.unknowns]
            if isinstance(v, (list, tuple)):
                if len(v) != m:
                    raise ValueError(
                        _problem_error(self.name, f"exact returned {len(v)} values; unknowns: {list(self.unknowns)}")
                    )
                v = torch.stack(list(v), dim=1)
            return v

        return values

    def _check_exact(self):
        if self._exact is None:
            return
        x = self._x[: min(5, self._x.shape[0])]
        v = self._exact(x)
        want = (x.shape[0],) if len(self.unknowns) == 1 else (x.shape[0], len(self.unknowns))
        if not isinstance(v, torch.Tensor) or tuple(v.shape) not in (want, (x.shape[0], 1)):
            got = list(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            raise ValueError(_problem_error(self.name, f"exact must return {list(want)} values at N points, got {got}"))

    # --- conditions -----------------------------------------------------------------------------------------
    def _axis(self, coordinate, cond: Condition) -> int:
        if coordinate not in self.input_names:
            raise ValueError(
                _problem_error(
                    self.name,
                    f"{cond.kind} condition on coordinate {coordinate!r}, which is "
                    f"not on the box; coordinates: {list(self.input_names)}",
                )
            )
        return self.input_names.index(coordinate)

    def _faces(self, axis: int, at, cond: Condition) -> list[float]:
        lo, hi = self.domain[axis]
        if at is None:
            return [lo, hi]
        tol = 1e-12 * max(1.0, abs(lo), abs(hi))
        for end in (lo, hi):
            if abs(at - end) <= tol:
                return [end]
        raise ValueError(
            _problem_error(
                self.name,
                f"{cond.kind} condition at {self.input_names[axis]} = {at:g} is not "
                f"a face of the box: {self.input_names[axis]} runs over "
                f"[{lo:g}, {hi:g}], so at must be {lo:g} or {hi:g}",
            )
        )

    def _condition_unknowns(self, cond: Condition) -> tuple[int, ...]:
        names = cond.unknowns
        if names is None and isinstance(cond.value, dict):
            names = tuple(cond.value)
        if names is None:
            names = self.unknowns
        bad = [u for u in names if u not in self.unknowns]
        if bad:
            raise ValueError(
                _problem_error(
                    self.name,
                    f"{cond.kind} condition names unknowns {bad} that do not exist; unknowns: {list(self.unknowns)}",
                )
            )
        return tuple(self.unknowns.index(u) for u in names)

    def _targets(self, cond: Condition, unknown_index, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = []
        for k in unknown_index:
            v = cond.value[self.unknowns[k]] if isinstance(cond.value, dict) else cond.value
            fn = self._scalar_fn(v, f"{cond.kind} condition value")
            out.append(fn(x).detach().to(F64))
        return tuple(out)

    def _resolve(self, cond: Condition) -> list[ConditionSet]:
        idx = self._condition_unknowns(cond)
        sets = []

        def on_face(axis, value):
            x, w = face_points(self.domain, axis, value, self._counts, self.sampling, self.seed, cond.n_points)
            if self._mean_terms:  # the mean over each face: weights summing to 1 instead of its measure
                w = w / math.prod(hi - lo for k, (lo, hi) in enumerate(self.domain) if k != axis)
            return x, w

        if cond.kind in ("dirichlet", "neumann"):
            if cond.coordinate is None:
                axes = [k for k, n in enumerate(self.input_names) if n != self.time]
                if not axes:
                    raise ValueError(
                        _problem_error(self.name, "dirichlet() with no coordinate needs a non-time coordinate")
                    )
            else:
                axes = [self._axis(cond.coordinate, cond)]
            for axis in axes:
                for value in self._faces(axis, cond.at if cond.coordinate is not None else None, cond):
                    x, w = on_face(axis, value)
                    if cond.kind == "dirichlet":
                        sets.append(
                            ConditionSet(
                                cond.name,
                                "value",
                                x,
                                w,
                                cond.weight,
                                idx,
                                JetSpec(self.dim),
                                targets=self._targets(cond, idx, x),
                                hard=cond.hard,
                            )
                        )
                    else:
                        spec = JetSpec(self.dim, (axis,))
                        sets.append(
                            ConditionSet(
                                cond.name, "neumann", x, w, cond.weight, idx, spec, axis, self._targets(cond, idx, x)
                            )
                        )
            return self._merge(sets)
        if cond.kind in ("initial", "initial_rate"):
            time = cond.coordinate or self.time
            if time is None:
                raise ValueError(
                    _problem_error(
                        self.name,
                        f"{cond.kind} needs a time coordinate: name one with "
                        f"time=... (coordinates: {list(self.input_names)})",
                    )
                )
            axis = self._axis(time, cond)
            x, w = on_face(axis, self.domain[axis][0])
            if cond.kind == "initial":
                return [
                    ConditionSet(
                        cond.name,
                        "value",
                        x,
                        w,
                        cond.weight,
                        idx,
                        JetSpec(self.dim),
                        targets=self._targets(cond, idx, x),
                        hard=cond.hard,
                    )
                ]
            return [
                ConditionSet(
                    cond.name,
                    "rate",
                    x,
                    w,
                    cond.weight,
                    idx,
                    JetSpec(self.dim, (axis,)),
                    axis,
                    self._targets(cond, idx, x),
                )
            ]
        # periodic: the low face's points and their partners on the high face
        axis = self._axis(cond.coordinate, cond)
        lo, hi = self.domain[axis]
        x_lo, w = on_face(axis, lo)
        x_hi = x_lo.clone()
        x_hi[:, axis] = hi
        spec = JetSpec(self.dim, (axis,)) if cond.derivatives else JetSpec(self.dim)
        return [
            ConditionSet(
                cond.name,
                "periodic",
                torch.cat([x_lo, x_hi]),
                w,
                cond.weight,
                idx,
                spec,
                axis,
                derivatives=cond.derivatives,
            )
        ]

    @staticmethod
    def _merge(sets: list[ConditionSet]) -> list[ConditionSet]:
        """Faces of one condition as one point set (one network evaluation instead of one per face)."""
        if len(sets) < 2:
            return sets
        first = sets[0]
        targets = None
        if first.targets is not None:
            targets = tuple(torch.cat([(s.targets or ())[j] for s in sets]) for j in range(len(first.targets)))
        return [
            ConditionSet(
                first.name,
                first.kind,
                torch.cat([s.points for s in sets]),
                torch.cat([s.weights for s in sets]),
                first.lam,
                first.unknown_index,
                first.spec,
                first.axis,
                targets,
                first.derivatives,
                first.hard,
            )
        ]

    def _check_hard_conditions(self):
        kept = []
        for cs in self.conditions:
            if not cs.hard:
                kept.append(cs)
                continue
            targets = cs.targets or ()
            for j, k in enumerate(cs.unknown_index):
                u = self.unknowns[k]
                if self._factors[k] is None:
                    raise ValueError(
                        _problem_error(
                            self.name,
                            f"condition {cs.name!r} is hard for {u!r}, which has no "
                            "ansatz factor: give ansatz=... or drop hard=True",
                        )
                    )
                phi = self._factors[k](cs.points).detach()
                # the factor's scale from a subsample: problems are rebuilt when unpickled, possibly in a forked
                # process where torch's larger parallel ops would wait for the parent's threads for ever
                sample = self._x[:: max(1, self._x.shape[0] // 64)]
                scale = float(self._factors[k](sample).detach().abs().max()) or 1.0
                if float(phi.abs().max()) > 1e-9 * scale:
                    raise ValueError(
                        _problem_error(
                            self.name,
                            f"condition {cs.name!r} is hard for {u!r} but its ansatz "
                            f"factor is not zero there (max |factor| = "
                            f"{float(phi.abs().max()):.3g})",
                        )
                    )
                lift = self._lifts[k](cs.points).detach() if self._lifts[k] is not None else torch.zeros_like(phi)
                target = targets[j]
                if float((lift - target).abs().max()) > 1e-9 * (1.0 + float(target.abs().max())):
                    raise ValueError(
                        _problem_error(
                            self.name,
                            f"condition {cs.name!r} is hard for {u!r} but the ansatz "
                            "lift does not take the prescribed value there",
                        )
                    )
        self.conditions = kept

    # --- public -------------------------------------------------------------------------------------------------
    def quadrature(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The interior points and their quadrature weights.

        Returns
        -------
        (torch.Tensor, torch.Tensor)
            Points [N, d] and weights [N], float64 copies. The weights sum to the box's measure (to 1 for a
            built-in with ``mean_terms=True``).
        """
        return self._x.clone(), self._w.clone()

    def boundary_quadrature(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The points and weights of every penalised condition.

        Returns
        -------
        (torch.Tensor, torch.Tensor) or None
            Points [M, d] and weights [M] of the conditions in order (a periodic condition's two faces each
            with half its weight), or None when the ansatz imposes every condition.
        """
        if not self.conditions:
            return None
        pts, ws = [], []
        for c in self.conditions:
            pts.append(c.points)
            ws.append(torch.cat([c.weights, c.weights]) * 0.5 if c.kind == "periodic" else c.weights)
        return torch.cat(pts), torch.cat(ws)

    def source(self, x: torch.Tensor) -> torch.Tensor | None:
        """The source term at some points.

        Parameters
        ----------
        x : torch.Tensor
            Points [N, d], one column per coordinate in ``input_names`` order (cast to float64).

        Returns
        -------
        torch.Tensor or None
            The source [N], or None when the problem has none.
        """
        if self._source is None:
            return None
        return self._source(torch.as_tensor(x, dtype=F64))

    def exact(self, x: torch.Tensor) -> torch.Tensor | None:
        """The exact (or reference) solution at some points.

        Parameters
        ----------
        x : torch.Tensor
            Points [N, d], one column per coordinate in ``input_names`` order (cast to float64).

        Returns
        -------
        torch.Tensor or None
            [N] for one unknown, [N, m] for m unknowns (in ``unknowns`` order); None when the problem has no
            known solution.
        """
        if self._exact is None:
            return None
        v = self._exact(torch.as_tensor(x, dtype=F64))
        if len(self.unknowns) == 1 and v.dim() == 2:
            v = v[:, 0]
        return v

    def evaluation_points(self) -> torch.Tensor | None:
        """The points of the relative L2 error.

        Returns
        -------
        torch.Tensor or None
            A uniform grid [M, d] of about ``n_eval`` points, or None: the interior points with their
            weights.
        """
        if self.n_eval is None:
            return None
        side = self.n_eval if self.dim == 1 else max(2, int(round(self.n_eval ** (1.0 / self.dim))))
        return tensor_grid([torch.linspace(lo, hi, side, dtype=F64) for lo, hi in self.domain])

    def exact_energy(self) -> float | None:
        """E*, the energy of the exact solution: the Deep Ritz loss a perfect network would reach.

        Returns
        -------
        float or None
            ``energy_reference`` when given, else the quadrature of the energy density of the exact solution
            on the interior points; None without an energy or a known solution.
        """
        if not self.has_energy:
            return None
        if self._energy_reference is not None:
            return self._energy_reference
        if self._exact is None:
            return None
        if not self._exact_energy_cache:
            spec = self.energy_spec
            assert spec is not None  # has_energy
            jets = []
            for k in range(len(self.unknowns)):

                def uk(x, k=k):
                    v = self._exact(x)
                    return v if v.dim() == 1 else v[:, k]

                jets.append(autograd_jet(uk, self._x, spec).parts[0])
            u = Jet(spec, jets)
            cols = [self._x[:, k] for k in range(self.dim)]
            f = self.source(self._x) if self._source is not None else None
            e = self.energy_values(u, cols, f)[0]
            self._exact_energy_cache.append(float((e * self._w).sum()))
        return self._exact_energy_cache[0]

    def has_ansatz(self) -> bool:
        """Whether some unknown has a hard ansatz (a factor or a lift).

        Returns
        -------
        bool
            True when ``ansatz`` or ``lift`` was given for at least one unknown.
        """
        return any(f is not None for f in self._factors) or any(g is not None for g in self._lifts)

    def ansatz_jets(self, x: torch.Tensor, spec: JetSpec) -> tuple[list, list]:
        """The ansatz factors and lifts with their input derivatives, for the engine.

        Parameters
        ----------
        x : torch.Tensor
            Points [N, d] (float64).
        spec : JetSpec
            Which input derivatives to compute.

        Returns
        -------
        (list, list)
            Per unknown, the jet (K = 1) of its factor and of its lift at ``x``, or None where it has none.
        """
        factors = [None if f is None else autograd_jet(f, x, spec) for f in self._factors]
        lifts = [None if g is None else autograd_jet(g, x, spec) for g in self._lifts]
        return factors, lifts

    def solution_from_network(self, x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        """The solution u = lift + factor * N from a network's outputs (plain autograd evaluation).

        Parameters
        ----------
        x : torch.Tensor
            Points [N, d].
        n : torch.Tensor
            The network's outputs at ``x``, [N, m] with one column per unknown.

        Returns
        -------
        torch.Tensor
            [N] for one unknown, [N, m] for several; ``n`` itself where there is no ansatz.
        """
        cols = []
        for k in range(len(self.unknowns)):
            u = n[:, k]
            if self._factors[k] is not None:
                u = self._factors[k](x) * u
            if self._lifts[k] is not None:
                u = self._lifts[k](x) + u
            cols.append(u)
        return cols[0] if len(cols) == 1 else torch.stack(cols, dim=1)

    def _call(self, fn, args, u: Jet, cols, f):
        fl = fields(u, self.unknowns, self.input_names)
        kw = {}
        for a in args:
            if a in fl:
                kw[a] = fl[a]
            elif a in self.input_names:
                kw[a] = cols[self.input_names.index(a)]
            elif a == "f":
                kw[a] = f
            else:
                kw[a] = self.coefficients[a]
        return fn(**kw)

    def residual_values(self, u: Jet, cols: Sequence[torch.Tensor], f) -> list[tuple[str, torch.Tensor]]:
        """The strong residual, for the formulations.

        Parameters
        ----------
        u : Jet
            The unknowns' values and input derivatives at the points, for K parameter points.
        cols : sequence of torch.Tensor
            The coordinates at the points, one [N] tensor per coordinate.
        f : torch.Tensor or None
            The source at the points ([N]), or None when the problem has none.

        Returns
        -------
        list of (str, torch.Tensor)
            (term, r [K, N]) per equation: a residual returning a list gives several rows of the term
            "residual", a dict one term per key.
        """
        r = self._call(self._residual, self._residual_args, u, cols, f)
        if isinstance(r, dict):
            return list(r.items())
        if isinstance(r, (list, tuple)):
            return [("residual", ri) for ri in r]
        return [("residual", r)]

    def energy_values(self, u: Jet, cols: Sequence[torch.Tensor], f) -> list[torch.Tensor]:
        """The energy density, for the Deep Ritz formulation.

        Parameters
        ----------
        u : Jet
            The unknowns' values and first derivatives at the points, for K parameter points.
        cols : sequence of torch.Tensor
            The coordinates at the points, one [N] tensor per coordinate.
        f : torch.Tensor or None
            The source at the points ([N]), or None when the problem has none.

        Returns
        -------
        list of torch.Tensor
            One entry, the density [K, N].

        Raises
        ------
        ValueError
            When the problem has no energy density.
        """
        if self._energy is None:
            raise ValueError(f"problem {self.name!r} has no energy functional, so it supports no Deep Ritz loss")
        return [self._call(self._energy, self._energy_args, u, cols, f)]

    def with_coefficients(self, **coefficients) -> Problem:
        """The same problem with some coefficients changed (a new problem; this one is unchanged).

        Parameters
        ----------
        **coefficients : number
            New values of some of ``self.coefficients``, e.g. ``kappa=0.3``. A defined problem also takes
            ``n_points``, ``sampling``, ``seed`` and ``n_eval`` (as ``define_problem``); a built-in takes
            any option of ``get_problem`` for it (``plw.get_problem(name)`` lists them in its docs), and
            keeps the others as they are.

        Returns
        -------
        Problem
            A problem built from this one's spec with those values.

        Raises
        ------
        ValueError
            For a name that is neither a coefficient nor one of those options (the error lists what is
            allowed), or a value the problem's checks reject.
        """
        preset = self.spec.preset
        if preset is not None:
            return build_builtin(self.name, preset[0], {**preset[1], **coefficients})
        unknown = [k for k in coefficients if k not in self.coefficients and k not in POINT_OPTIONS]
        if unknown:
            raise ValueError(
                _problem_error(
                    self.name,
                    f"unknown coefficient(s) {unknown}; coefficients: {list(self.coefficients)} "
                    f"(the points: {list(POINT_OPTIONS)})",
                )
            )
        changed = {k: v for k, v in coefficients.items() if k in self.coefficients}
        points = {k: v for k, v in coefficients.items() if k in POINT_OPTIONS}
        return Problem(dataclasses.replace(self.spec, coefficients={**self.coefficients, **changed}, **points))

    def with_params(self, **params) -> Problem:
        """Deprecated: the old name of ``with_coefficients``, removed in the next release.

        Parameters
        ----------
        **params : number
            Passed on to ``with_coefficients``.

        Returns
        -------
        Problem
            ``self.with_coefficients(**params)``, after a FutureWarning naming ``with_coefficients``.
        """
        warnings.warn(
            "Problem.with_params is deprecated and will be removed in the next release; "
            "use Problem.with_coefficients instead",
            FutureWarning,
            stacklevel=2,
        )
        return self.with_coefficients(**params)

    @property
    def params(self) -> dict:
        """Deprecated: the old name of ``coefficients`` (a FutureWarning), removed in the next release."""
        warnings.warn(
            "Problem.params is deprecated and will be removed in the next release; use Problem.coefficients instead",
            FutureWarning,
            stacklevel=2,
        )
        return self.coefficients

    @property
    def options(self) -> dict:
        """The keyword arguments that rebuild this problem: for a built-in every option of
        ``get_problem(name, **options)``, defaults included; for a defined problem its coefficients."""
        if self.spec.preset is not None:
            return dict(self.spec.preset[1])
        return dict(self.coefficients)

    def __repr__(self) -> str:
        if self.spec.preset is not None:
            args = ", ".join(f"{k}={v!r}" for k, v in self.spec.preset[1].items())
            return f"get_problem({self.name!r}{', ' if args else ''}{args})"
        box = ", ".join(f"{n}: [{lo:g}, {hi:g}]" for n, (lo, hi) in zip(self.input_names, self.domain))
        return f"Problem({self.name!r}, {{{box}}}, unknowns={list(self.unknowns)}, coefficients={self.coefficients})"

    # pickling (dask tiles, worker processes): a problem travels as its spec and is built again from it. A
    # built-in's spec travels as its factory (by reference) and options; a defined problem's by value (its
    # functions need cloudpickle, which dask uses)
    def __reduce__(self):
        return (Problem, (self.spec,))


def build_builtin(name: str, factory: Callable[..., ProblemSpec], options: dict) -> Problem:
    """A built-in problem from its factory (``pde/library.py``) and options, every option recorded (defaults
    included) in its spec's ``preset``, so that ``with_coefficients`` and pickling rebuild it the same way."""
    parameters = inspect.signature(factory).parameters
    allowed = list(parameters)
    unknown = [p for p in options if p not in allowed]
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for problem {name!r}; allowed: {allowed}")
    return Problem(preset_spec(factory, {p: options.get(p, parameters[p].default) for p in allowed}))


@renamed_arguments(params="coefficients")
def define_problem(
    name: str,
    domain: dict,
    residual: Callable,
    *,
    unknowns: Sequence[str] | str = ("u",),
    energy: Callable | None = None,
    source: Callable | None = None,
    conditions: Sequence[Condition] | Condition = (),
    ansatz=None,
    lift=None,
    exact=None,
    coefficients: dict | None = None,
    energy_reference: float | None = None,
    n_points: int | Sequence[int] = 1000,
    sampling: str = "grid",
    seed: int = 0,
    n_eval: int | None = None,
    time: str | None = None,
    description: str = "",
) -> Problem:
    """A PDE problem on a box, usable everywhere a problem name is (train, landscape, the widget, ...).

    The functions (``residual``, ``energy``, ``source``, ``ansatz``, ``lift``, ``exact`` and the conditions'
    values) are called by argument name: each asks for what it needs among the unknowns (in ``residual``
    and ``energy``: ``Field`` objects with ``u.t``, ``u.xx``, ``u.xt``, ``u.laplacian``, ``u.d("x", "t")``,
    ...), the coordinates ([N] tensors), the ``coefficients`` and ``f`` (the source at the points). The
    residual and energy are called once here to find the derivatives they read; the engine then computes
    exactly those.

    Parameters
    ----------
    name : str
        A non-empty label, shown in plots, a landscape's attributes and errors.
    domain : dict
        The box: coordinate -> (lo, hi) with finite lo < hi, e.g. ``{"x": (0, 1), "t": (0, 1)}``; the order
        of the keys is the order of the network's inputs. Names are Python identifiers not starting with
        "_", other than "value", "grad", "laplacian", "d" and "name".
    residual : callable
        The strong residual, zero at the solution: returns [K, N] (K parameter points, N points); a list
        of them for a system (their squares add into the term "residual"), or a dict name -> [K, N] (one
        loss term per key). Derivatives of order 0 to 2.
    unknowns : str or sequence of str, optional
        The unknowns' names, identifiers other than the coordinates; a network gets one output per unknown.
        Default ``("u",)``.
    energy : callable or None, optional
        An energy density whose integral the solution minimises (values and first derivatives only; not for
        a problem first order in time): makes the "deep_ritz" formulation available. Default None.
    source : callable or None, optional
        A function of the coordinates (and coefficients), handed to the other functions as ``f``. Default
        None.
    conditions : sequence of Condition, optional
        Boundary, initial and periodicity conditions made with ``plw.dirichlet``, ``neumann``, ``initial``,
        ``initial_rate`` and ``periodic`` (or one of them). Each is a penalty term unless marked
        ``hard=True``. Default none.
    ansatz : callable, number, dict or None, optional
        The factor of a hard ansatz u = lift + ansatz * N: a function of the coordinates (or a number), or a
        dict unknown -> one for some unknowns. Conditions marked ``hard=True`` must hold for every network:
        checked here (the factor must vanish on them). Default None (u = N).
    lift : callable, number, dict or None, optional
        The lift of the hard ansatz, as ``ansatz``; it must take the hard conditions' values. Default None
        (zero).
    exact : callable, GridReference or None, optional
        The exact or a reference solution, giving the relative L2 error of training: a function of the
        coordinates (and coefficients) returning [N] (one unknown), a list or dict of [N] per unknown, or a
        ``GridReference`` interpolated on a grid over the same coordinates. Default None.
    coefficients : dict or None, optional
        The PDE's coefficients, name -> number, handed to the functions that ask for them by name; names are
        identifiers other than the coordinates, the unknowns and "f". ``with_coefficients`` makes copies
        with other values. Default None (none). The old spelling ``params=`` warns (FutureWarning).
    energy_reference : float or None, optional
        E*, the energy at the solution when known analytically (finite); default None: computed from
        ``exact`` by quadrature on the interior points.
    n_points : int or sequence of int, optional
        The interior points: a total (an integer >= 2; a grid takes round(n ** (1/d)) per axis) or a tuple
        with one count per axis. Default 1000.
    sampling : str, optional
        How the interior and the faces are sampled: "grid" (midpoint rule, default), "sobol", "lhs" or
        "uniform" (drawn with ``seed``; weights measure / N).
    seed : int, optional
        The seed of a random sampling. Default 0.
    n_eval : int or None, optional
        Measure the relative L2 error on a uniform grid of about this many points (2 to 10 000 000)
        instead of on the interior points with their weights. Default None.
    time : str or None, optional
        The time coordinate, where ``initial`` conditions lie; default None: "t" if there is one.
    description : str, optional
        One line saying what the problem is (shown by ``pinn-landscape problems``). Default "".

    Returns
    -------
    Problem
        The problem, checked; built from ``ProblemSpec`` of these arguments (``problem.spec``).

    Raises
    ------
    ValueError
        For every mistake, naming the problem and what is allowed: a derivative of a coordinate that does
        not exist or of order above two, a function argument the problem does not provide, a residual or
        exact solution of the wrong shape, a condition off the box or on an unknown that does not exist, a
        hard condition the ansatz does not satisfy, an energy that reads second derivatives or belongs to a
        problem first order in time, a name that is taken, a bad ``n_points``, ``sampling``, ``seed`` or
        ``n_eval``.
    TypeError
        When both ``coefficients=`` and its old spelling ``params=`` are given.
    """
    return Problem(ProblemSpec(**locals()))  # locals() here are exactly the arguments


__all__ = ["Problem", "ProblemSpec", "ConditionSet", "SecondOrder", "define_problem"]
