"""Problems: a PDE on a box in named coordinates, its conditions, points and known solution.

``define_problem`` makes one from plain Python functions; every built-in problem (``get_problem``) is made
the same way (``pde/library.py``). A problem knows its PDE (the strong residual and, where one exists, the
energy density) but nothing about networks or losses: ``formulations`` turns these into losses and the
engine evaluates them.

Functions are called by argument name. A residual's arguments may be the unknowns (``Field`` objects, see
``derivatives``), the coordinates ([N] tensors), the problem's parameters (numbers) and ``f`` (the source
at the points, when the problem has one):

    heat = plw.define_problem(
        "heat", domain={"x": (0, 1), "t": (0, 1)},
        residual=lambda u, kappa: u.t - kappa * u.xx, params={"kappa": 0.1},
        conditions=[plw.initial(lambda x: torch.sin(math.pi * x)), plw.dirichlet("x")],
        exact=lambda x, t, kappa: torch.exp(-kappa * math.pi**2 * t) * torch.sin(math.pi * x))

The derivatives a problem reads are found by calling its functions once on recording fields; the engine
then propagates exactly those. All geometry is float64; the objective casts it to the run's device and
dtype.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .._checks import check_choice, check_int
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
from .sampling import SAMPLINGS, box_points, face_points, grid_counts, tensor_grid

F64 = torch.float64


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
    """A PDE problem on a box. Make one with ``define_problem`` or ``get_problem``; see the module docstring.

    Attributes: name, input_names (coordinates), domain ((lo, hi) per coordinate), dim, unknowns, params
    (the parameters ``with_params`` and ``get_problem`` vary), has_energy, residual_order, description.
    """

    name: str
    input_names: tuple[str, ...]
    domain: tuple[tuple[float, float], ...]
    dim: int
    unknowns: tuple[str, ...]
    params: dict
    time: str | None
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

    def __init__(
        self,
        name: str,
        domain,
        residual,
        *,
        unknowns=("u",),
        energy=None,
        source=None,
        conditions=(),
        ansatz=None,
        lift=None,
        exact=None,
        params=None,
        energy_reference=None,
        n_points=1000,
        sampling: str = "grid",
        seed: int = 0,
        n_eval=None,
        time: str | None = None,
        description: str = "",
        _rebuild=None,
    ):
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        self.name = name
        self.description = str(description)
        self._rebuild = _rebuild  # (factory, kwargs) for built-ins, else None
        self._definition = dict(
            domain=domain,
            residual=residual,
            unknowns=unknowns,
            energy=energy,
            source=source,
            conditions=conditions,
            ansatz=ansatz,
            lift=lift,
            exact=exact,
            params=params,
            energy_reference=energy_reference,
            n_points=n_points,
            sampling=sampling,
            seed=seed,
            n_eval=n_eval,
            time=time,
            description=description,
        )
        self.input_names, self.domain = self._check_domain(domain)
        self.dim = len(self.input_names)
        if isinstance(unknowns, str):
            unknowns = (unknowns,)
        self.unknowns = check_names("unknown", unknowns, self.input_names)
        if not self.unknowns:
            raise ValueError(_problem_error(name, "unknowns must name at least one unknown"))
        self.params = self._check_params(params)
        self.time = self._check_time(time)
        self.n_points = n_points
        self.sampling = check_choice("sampling", sampling, SAMPLINGS)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.seed = int(seed)
        self._counts = grid_counts(n_points, self.dim)
        self.n_eval = None if n_eval is None else check_int("n_eval", n_eval, 2, 10_000_000)

        # the points, fixed from here on
        self._x, self._w = box_points(self.domain, n_points, self.sampling, self.seed)
        self._source = self._bind_coordinate_fn(source, "source") if source is not None else None
        self._f_cache: dict = {}

        # what the PDE reads
        base = self._allowed_args(fields_ok=True)
        self._residual_args = bind(residual, _problem_error(name, "residual"), base)
        self._residual = residual
        rec = self._discover(residual, self._residual_args, "residual")
        self.residual_terms = self._result_terms(rec.result, "residual")
        self.residual_spec = self._spec_of(rec.keys)
        self.residual_order = self.residual_spec.order
        self._energy = energy
        self.energy_spec = None
        if energy is not None:
            self._energy_args = bind(energy, _problem_error(name, "energy"), base)
            rec_e = self._discover(energy, self._energy_args, "energy")
            if not isinstance(rec_e.result, torch.Tensor):
                raise ValueError(
                    _problem_error(name, f"energy must return a tensor, got {type(rec_e.result).__name__}")
                )
            self.energy_spec = self._spec_of(rec_e.keys)
            if self.energy_spec.order > 1:
                raise ValueError(
                    _problem_error(
                        name,
                        "an energy density reads values and first derivatives only "
                        "(Deep Ritz integrates it with first derivatives); it reads "
                        "second derivatives",
                    )
                )
            self._check_not_first_order_in_time()
        self.has_energy = energy is not None

        # hard ansatz u_k = lift_k + factor_k * N_k
        self._factors = self._per_unknown(ansatz, "ansatz")
        self._lifts = self._per_unknown(lift, "lift")
        self._exact = self._bind_exact(exact)
        self.conditions: list[ConditionSet] = [cs for c in check_conditions(conditions) for cs in self._resolve(c)]
        self._check_hard_conditions()
        self._energy_reference = None if energy_reference is None else float(energy_reference)
        self._exact_energy_cache: list = []
        self._check_exact()

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

    def _check_params(self, params) -> dict:
        if params is None:
            return {}
        if not isinstance(params, dict):
            raise ValueError(_problem_error(self.name, f"params must be a dict name -> number, got {params!r}"))
        out = {}
        taken = set(self.input_names) | set(self.unknowns) | {"f"}
        for k, v in params.items():
            if not isinstance(k, str) or not k.isidentifier() or k.startswith("_") or k in taken:
                raise ValueError(
                    _problem_error(
                        self.name,
                        f"parameter names must be identifiers other than the "
                        f"coordinates, the unknowns and 'f', got {k!r}",
                    )
                )
            out[k] = v
        return out

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
        allowed.update({p: "parameter" for p in self.params})
        if fields_ok and self._source is not None:
            allowed["f"] = "the source at the points"
        return allowed

    def _discover(self, fn, args, what):
        n = 7
        cols = {c: torch.linspace(lo, hi, n, dtype=F64) for c, (lo, hi) in zip(self.input_names, self.domain)}
        values = {**cols, **self.params}
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
        """fn of coordinates/parameters -> a function points [N, d] -> values."""
        args = bind(fn, _problem_error(self.name, what), self._allowed_args(fields_ok=False))

        def call(x: torch.Tensor):
            kw = {a: (x[:, self.input_names.index(a)] if a in self.input_names else self.params[a]) for a in args}
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
            return face_points(self.domain, axis, value, self._counts, self.sampling, self.seed, cond.n_points)

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
        """Interior points [N, d] and weights [N] (float64); the weights sum to the box's measure."""
        return self._x.clone(), self._w.clone()

    def boundary_quadrature(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(points, weights) of every penalised condition, or None when the ansatz imposes them all."""
        if not self.conditions:
            return None
        pts, ws = [], []
        for c in self.conditions:
            pts.append(c.points)
            ws.append(torch.cat([c.weights, c.weights]) * 0.5 if c.kind == "periodic" else c.weights)
        return torch.cat(pts), torch.cat(ws)

    def source(self, x: torch.Tensor) -> torch.Tensor | None:
        """The source at points x [N, d], or None when the problem has none."""
        if self._source is None:
            return None
        return self._source(torch.as_tensor(x, dtype=F64))

    def exact(self, x: torch.Tensor) -> torch.Tensor | None:
        """The exact (or reference) solution at x [N, d]: [N] for one unknown, [N, m] for several; None if unknown."""
        if self._exact is None:
            return None
        v = self._exact(torch.as_tensor(x, dtype=F64))
        if len(self.unknowns) == 1 and v.dim() == 2:
            v = v[:, 0]
        return v

    def evaluation_points(self) -> torch.Tensor | None:
        """Points of the relative L2 error; None means the interior points with their weights."""
        if self.n_eval is None:
            return None
        side = self.n_eval if self.dim == 1 else max(2, int(round(self.n_eval ** (1.0 / self.dim))))
        return tensor_grid([torch.linspace(lo, hi, side, dtype=F64) for lo, hi in self.domain])

    def exact_energy(self) -> float | None:
        """E*, the energy of the exact solution (given, or by quadrature of the energy density on the interior
        points); None without an energy or a known solution."""
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
        return any(f is not None for f in self._factors) or any(g is not None for g in self._lifts)

    def ansatz_jets(self, x: torch.Tensor, spec: JetSpec) -> tuple[list, list]:
        """Per unknown, the jets (float64, K = 1) of the ansatz factor and lift at x, or None."""
        factors = [None if f is None else autograd_jet(f, x, spec) for f in self._factors]
        lifts = [None if g is None else autograd_jet(g, x, spec) for g in self._lifts]
        return factors, lifts

    def solution_from_network(self, x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        """u = lift + factor * N for plain (autograd) evaluation: network outputs n [N, m] -> [N] or [N, m]."""
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
                kw[a] = self.params[a]
        return fn(**kw)

    def residual_values(self, u: Jet, cols: Sequence[torch.Tensor], f) -> list[tuple[str, torch.Tensor]]:
        """(term, r [K, N]) for each residual equation (a residual returning a list gives several rows of the
        term "residual"; a dict, one term per key)."""
        r = self._call(self._residual, self._residual_args, u, cols, f)
        if isinstance(r, dict):
            return list(r.items())
        if isinstance(r, (list, tuple)):
            return [("residual", ri) for ri in r]
        return [("residual", r)]

    def energy_values(self, u: Jet, cols: Sequence[torch.Tensor], f) -> list[torch.Tensor]:
        if self._energy is None:
            raise ValueError(f"problem {self.name!r} has no energy functional, so it supports no Deep Ritz loss")
        return [self._call(self._energy, self._energy_args, u, cols, f)]

    def with_params(self, **params) -> Problem:
        """The same problem with some parameters (or, for built-ins, options) changed."""
        if self._rebuild is not None:
            return build_builtin(self.name, self._rebuild[0], {**self._rebuild[1], **params})
        unknown = [k for k in params if k not in self.params and k not in ("n_points", "sampling", "seed", "n_eval")]
        if unknown:
            raise ValueError(
                _problem_error(self.name, f"unknown parameter(s) {unknown}; parameters: {list(self.params)}")
            )
        d = dict(self._definition)
        d["params"] = {**self.params, **{k: v for k, v in params.items() if k in self.params}}
        for k in ("n_points", "sampling", "seed", "n_eval"):
            if k in params:
                d[k] = params[k]
        return Problem(self.name, **d)

    @property
    def options(self) -> dict:
        """The keyword arguments that rebuild this problem (``get_problem(name, **options)`` for built-ins)."""
        if self._rebuild is not None:
            return dict(self._rebuild[1])
        return dict(self.params)

    def __repr__(self) -> str:
        if self._rebuild is not None:
            args = ", ".join(f"{k}={v!r}" for k, v in self._rebuild[1].items())
            return f"get_problem({self.name!r}{', ' if args else ''}{args})"
        box = ", ".join(f"{n}: [{lo:g}, {hi:g}]" for n, (lo, hi) in zip(self.input_names, self.domain))
        return f"Problem({self.name!r}, {{{box}}}, unknowns={list(self.unknowns)}, params={self.params})"

    # pickling (dask tiles): built-ins travel as their factory and options; defined problems by value
    # (their functions need cloudpickle, which dask uses)
    def __reduce__(self):
        if self._rebuild is not None:
            return (build_builtin, (self.name, *self._rebuild))
        return (_rebuild_defined, (self.name, self._definition))


def build_builtin(name: str, factory: Callable, options: dict) -> Problem:
    """A built-in problem from its factory (``pde/library.py``) and options, remembering both, so that
    ``with_params`` and pickling rebuild it the same way (the factory travels by reference)."""
    allowed = list(inspect.signature(factory).parameters)
    unknown = [p for p in options if p not in allowed]
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for problem {name!r}; allowed: {allowed}")
    prob = factory(**options)
    prob._rebuild = (factory, {p: options.get(p, inspect.signature(factory).parameters[p].default) for p in allowed})
    return prob


def _rebuild_defined(name, definition):
    return Problem(name, **definition)


def define_problem(
    name: str,
    domain: dict,
    residual: Callable,
    *,
    unknowns: Sequence[str] | str = ("u",),
    energy: Callable | None = None,
    source: Callable | None = None,
    conditions=(),
    ansatz=None,
    lift=None,
    exact=None,
    params: dict | None = None,
    energy_reference: float | None = None,
    n_points=1000,
    sampling: str = "grid",
    seed: int = 0,
    n_eval: int | None = None,
    time: str | None = None,
    description: str = "",
) -> Problem:
    """A PDE problem on a box, usable everywhere a problem name is (train, landscape, the widget, ...).

    name: a label. domain: coordinate -> (lo, hi), e.g. {"x": (0, 1), "t": (0, 1)}.
    residual: function of the unknowns (``Field``s: ``u.t``, ``u.xx``, ``u.xt``, ``u.laplacian``, ...), the
        coordinates, the parameters and ``f``; returns the strong residual [K, N], zero for the solution (a
        list for a system: each equation's squares add into the term "residual"; a dict: one term per key).
    unknowns: the unknowns' names (default one, "u"); a network gets one output per unknown.
    energy: optional energy density (values and first derivatives only): makes "deep_ritz" available.
    source: optional function of the coordinates, passed to the residual/energy as ``f``.
    conditions: ``plw.dirichlet``, ``neumann``, ``initial``, ``initial_rate``, ``periodic`` conditions.
    ansatz, lift: optional hard ansatz u = lift + ansatz * N (functions of the coordinates, or dicts per
        unknown); conditions marked ``hard=True`` must be satisfied by it (checked here).
    exact: the exact or reference solution (a function of the coordinates returning [N], or a list/dict per
        unknown, or a ``GridReference``); gives ``rel_l2_error``.
    params: named parameters passed to the functions that ask for them (``with_params`` varies them).
    energy_reference: E* when known analytically (else computed from ``exact`` by quadrature).
    n_points: interior points (a total, or a tuple per axis); sampling: "grid" (midpoints, default),
        "sobol", "lhs" or "uniform" with ``seed``. n_eval: a uniform grid for the error instead of the
        interior points. time: the time coordinate (default "t" if there is one).

    Mistakes (a derivative of a coordinate that does not exist, an order above two, an unknown that does
    not exist, a condition off the box, a residual of the wrong shape, ...) are ValueErrors here.
    """
    return Problem(
        name,
        domain,
        residual,
        unknowns=unknowns,
        energy=energy,
        source=source,
        conditions=conditions,
        ansatz=ansatz,
        lift=lift,
        exact=exact,
        params=params,
        energy_reference=energy_reference,
        n_points=n_points,
        sampling=sampling,
        seed=seed,
        n_eval=n_eval,
        time=time,
        description=description,
    )


__all__ = ["Problem", "ConditionSet", "SecondOrder", "define_problem"]
