"""``from_pina``'s batched path: a PINA solver's loss for many parameter points per pass, with the engine's jets.

PINA evaluates a condition by calling the solver's model on the condition's points (a LabelTensor) and its
equation on the points and the model's output; PINA's differential operators (``grad``, ``div``,
``laplacian``, ``advection`` and their ``fast_`` forms) all reduce to two helpers of its operator module, the
gradient and the Laplacian of one output column. Where the model is a network the engine knows (PINA's
``FeedForward`` or a plain ``nn.Sequential`` of Linear layers of equal hidden width and one activation
``MLP`` supports), the loss is evaluated for K parameter points at once:

1. Trace (once, when the run is made). PINA's own condition loss runs once, in float64, at a test parameter
   point, with the two helpers wrapped: each call is recorded, and its argument is identified numerically
   as a value or a first partial of one output (compared with the engine's jet at the same point). This
   gives, per condition, the sequence of operator calls and the input derivatives (a ``JetSpec``) it reads.
2. Replay (every grid chunk). One jet of the network (``MLP.jets``, the fused C kernels for tanh in float32)
   at the points of every condition gives every channel any trace named, for the K points; each
   condition's points are repeated K times (K * N rows, parameter point major) and PINA's own condition code
   runs once on them, with the model's output standing in for the forward pass and the wrapped helpers
   handing back the precomputed channels in the order the trace saw them. The residual's rows go through
   the solver's own elementwise loss function and are reduced per parameter point with the solver's
   reduction.

Stacking the K points along PINA's point dimension rather than adding a batch dimension (broadcasting, or
``torch.func.vmap`` over the equation) keeps every tensor the equation sees 2-D with its labels, as PINA
makes them: LabelTensor keeps its labels by dimension index and re-creates itself in its methods, which a
leading K dimension or vmap's batched tensors would have to get through unchanged; with stacked rows any
row-wise equation code (``extract``, ``[:, 0]``, ``torch.cat(..., 1)``) runs as written. Its cost is the
input-only parts of the equation (a forcing term) evaluated K times, elementwise. Before the traced loss is
used it is checked against PINA's per-point loss at two test points in float64 (relative 1e-9); any step that
fails (an unknown model, solver, condition or operator, an operator applied to anything but a value or first
partial of the model's output, a third derivative, code that mixes rows or takes another path at another
parameter point) leaves the run on the per-point path, with the reason.

Equation code whose control flow depends on the values (``if residual.max() > 1``) is traced along one path,
and in a replay it sees the whole chunk's stacked rows. Where a chunk's replay then calls other operators
than the trace did, that chunk is evaluated one point at a time (one RuntimeWarning); a branch that changes
only elementwise arithmetic is not noticed: such an equation is not a function of one point's parameters
the way the trace assumes.

The wrapped helpers are module attributes, so they are in PINA's operator module only while some thread
traces or replays (the first one in puts them there, the last one out restores PINA's functions), and each
call is answered by the calling thread's own replay, or by PINA's function in a thread that has none: grid
chunks replay on several threads at once, while other code keeps using PINA as it is.

Measured (``benchmarks/bench_pina.py``, PINA's Poisson tutorial, 41 x 41, float32, 2 threads): the landscape
in 0.70-0.93 s against the per-point loop's 13.6-14.2 s, 15-19x (docs/performance.md). Per parameter point of a chunk
of ~130: ~0.2-0.3 ms the fused jet at 1300 points, ~0.1 ms PINA's code on the stacked rows.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import itertools
import sys
import threading
import warnings

import torch

from ..._optional import require
from ...engine import _native
from ...engine._threads import PerThreadState
from ...engine.module_network import float_parameters, recognise_mlp
from ...pde.derivatives import Jet, JetSpec, SecondOrder


class Untraceable(Exception):
    """Why a solver's loss cannot be evaluated batched (the reason goes into ``run.attrs["evaluation"]``)."""


_HOOKS = threading.local()  # .active: the recorder or replayer of this thread while one runs
_INSTALL = threading.Lock()
_INSTALLED: dict = {"count": 0, "module": None, "grad": None, "laplacian": None}
_MODULE: list = []


def _operator_module():
    if _MODULE:
        return _MODULE[0]
    op = require("pina.operator", "pina", "plw.adapters.from_pina")
    mod = sys.modules.get(getattr(op.grad, "__module__", ""))
    if mod is None or not all(callable(getattr(mod, f, None)) for f in ("_scalar_grad", "_scalar_laplacian")):
        raise Untraceable("this PINA's differential operators are not the known ones (_scalar_grad, _scalar_laplacian)")
    _MODULE.append(mod)
    return mod


def _grad_hook(output_, input_, d):
    original = _INSTALLED["grad"]
    h = getattr(_HOOKS, "active", None)
    return original(output_, input_, d) if h is None else h("grad", output_, input_, d, original)


def _laplacian_hook(output_, input_, d):
    original = _INSTALLED["laplacian"]
    h = getattr(_HOOKS, "active", None)
    return original(output_, input_, d) if h is None else h("laplacian", output_, input_, d, original)


@contextlib.contextmanager
def _hooked(handler):
    """Within: this thread's calls of PINA's scalar gradient and Laplacian (what all its operators call) go to
    ``handler``. The hooks are in PINA's operator module while any thread is inside this block (the first one
    in puts them there, the last one out restores PINA's functions); other threads' calls go to PINA's own."""
    mod = _operator_module()
    with _INSTALL:
        if _INSTALLED["count"] == 0:
            _INSTALLED.update(module=mod, grad=mod._scalar_grad, laplacian=mod._scalar_laplacian)
            mod._scalar_grad, mod._scalar_laplacian = _grad_hook, _laplacian_hook
        _INSTALLED["count"] += 1
    previous = getattr(_HOOKS, "active", None)
    _HOOKS.active = handler
    try:
        yield
    finally:
        _HOOKS.active = previous
        with _INSTALL:
            _INSTALLED["count"] -= 1
            if _INSTALLED["count"] == 0:
                mod._scalar_grad, mod._scalar_laplacian = _INSTALLED["grad"], _INSTALLED["laplacian"]


def _plain(t) -> torch.Tensor:
    return t.as_subclass(torch.Tensor) if isinstance(t, torch.Tensor) else t


# --- which network ------------------------------------------------------------------------------------------


def recognise(model, n_in: int, n_out: int):
    """(MLP, parameter-name prefix) when ``model`` is a network the engine evaluates, else Untraceable."""
    inner, prefix = model, ""
    pmodel = sys.modules.get("pina.model")
    ff = getattr(pmodel, "FeedForward", None)
    if ff is not None and isinstance(model, ff):
        if type(model).forward is not ff.forward:
            raise Untraceable(f"solver.model is a {type(model).__name__} with a forward of its own")
        inner, prefix = model.model, "model."
    mlp = recognise_mlp(inner, n_in, n_out)
    if mlp is None:
        raise Untraceable(
            f"solver.model ({type(model).__name__}) is not a network the engine knows: a FeedForward or plain "
            f"Sequential of Linear layers ({n_in} inputs, {n_out} outputs, equal hidden widths, biases) with one "
            "activation of tanh, sin, gelu or silu"
        )
    names = [prefix + n for n, _, _ in mlp.param_layout()]
    pairs = list(model.named_parameters())
    if [n for n, _ in pairs] != names or any(
        p.numel() != s.stop - s.start for (_, p), (_, s, _) in zip(pairs, mlp.param_layout())
    ):
        raise Untraceable(f"solver.model's parameters are not laid out as its layers ({[n for n, _ in pairs][:4]}...)")
    if list(model.buffers()):
        raise Untraceable("solver.model has buffers")
    return mlp, names


# --- trace ------------------------------------------------------------------------------------------------------


class _Recorder:
    """Records one condition's operator calls while PINA's own code runs: (kind, channel, d labels)."""

    def __init__(self, mlp, theta, in_vars, points):
        self.mlp, self.theta, self.in_vars = mlp, theta, list(in_vars)
        self.points = points  # the condition's input points (LabelTensor), float64
        self.calls: list[tuple] = []
        self.depth = 0
        self._cands = None

    def candidates(self) -> dict:
        if self._cands is None:
            x = _plain(self.points.extract(self.in_vars)).to(torch.float64)
            dim = len(self.in_vars)
            with torch.no_grad():
                jet = self.mlp.jets(self.theta[None], x, JetSpec.build(dim, range(dim)))
            cands: dict[tuple, torch.Tensor] = {}
            for c in range(jet.n_outputs):
                cands[("value", c)] = jet.value(c)[0]
                for i in range(dim):
                    cands[("first", c, i)] = jet.first(i, c)[0]
            self._cands = cands
        return self._cands

    def match(self, output_) -> tuple:
        o = _plain(output_).detach()
        if o.dim() != 2 or o.shape[1] != 1 or o.shape[0] != self.points.shape[0]:
            raise Untraceable(f"an operator is applied to a tensor of shape {tuple(o.shape)}")
        o = o[:, 0].to(torch.float64)
        hits = [
            key
            for key, ref in self.candidates().items()
            if torch.allclose(o, ref, rtol=1e-8, atol=1e-10 * (1.0 + float(ref.abs().max())))
        ]
        if len(hits) != 1:
            raise Untraceable(
                "an operator is applied to something other than an output of the model or its first partial "
                "(e.g. a function of the output)"
                if not hits
                else f"an operator's argument is ambiguous ({hits})"
            )
        return hits[0]

    def __call__(self, kind, output_, input_, d, original):
        if self.depth:  # PINA's Laplacian calls its gradient: one call, recorded as what the equation called
            return original(output_, input_, d)
        self.depth += 1
        try:
            result = original(output_, input_, d)
        finally:
            self.depth -= 1
        labels = list(getattr(input_, "labels", None) or [])
        if tuple(input_.shape) != tuple(self.points.shape) or labels != list(self.points.labels):
            raise Untraceable("an operator differentiates with respect to something else than the condition's points")
        if not torch.equal(_plain(input_).detach(), _plain(self.points)):
            raise Untraceable("an operator differentiates with respect to something else than the condition's points")
        key = self.match(output_)
        if kind == "laplacian" and key[0] != "value":
            raise Untraceable("a Laplacian of a derivative (third order) is not traced")
        idx = tuple(self.in_vars.index(lab) if lab in self.in_vars else None for lab in d)
        self.calls.append((kind, key, tuple(d), idx))
        return result


def _spec(dim: int, calls) -> JetSpec:
    first, second = set(), []
    for kind, key, _, idx in calls:
        js = [j for j in idx if j is not None]
        if kind == "grad" and key[0] == "value":
            first.update(js)
        elif kind == "grad":
            second += [SecondOrder.partial(key[2], j) for j in js]
        elif js:
            second.append(_laplacian_form(js))
    return JetSpec.build(dim, first, second)


def _laplacian_form(js) -> SecondOrder:
    return SecondOrder(tuple((j, j, 1.0) for j in sorted(set(js))))


# --- replay ----------------------------------------------------------------------------------------------------


class _Replay:
    """Stands in for the solver (``forward``) and PINA's operator helpers while a condition runs for K points."""

    def __init__(self, calls, results, rows, output, params):
        self.calls, self.results, self.rows, self.output = calls, results, rows, output
        self._params = params
        self.samples = None
        self.pos = 0

    def forward(self, x):
        if x.shape[0] != self.rows:
            raise Untraceable("the condition calls the model on other points than its own")
        self.samples = x
        return self.output

    def __call__(self, kind, output_, input_, d, original):
        if self.pos >= len(self.calls):
            raise Untraceable("the equation calls more operators than when traced")
        rk, _, rd, _ = self.calls[self.pos]
        if rk != kind or tuple(d) != rd or input_ is not self.samples or output_.shape[0] != self.rows:
            raise Untraceable("the equation calls other operators than when traced")
        out = self.results[self.pos]
        self.pos += 1
        return out


class _Plan:
    """One condition: its points, the operator calls its equation makes, and the jet they read."""

    def __init__(self, term, name, cond, data, calls, in_vars, out_vars, factor):
        self.term, self.name, self.cond, self.data = term, name, cond, data
        self.calls, self.in_vars, self.out_vars, self.factor = calls, list(in_vars), list(out_vars), factor
        self.spec = _spec(len(self.in_vars), calls)
        self.n = int(data["input"].shape[0])
        for k, v in data.items():
            if not isinstance(v, torch.Tensor) or v.dim() != 2 or v.shape[0] != self.n:
                raise Untraceable(f"condition {name!r}: its {k!r} is not a [points, columns] tensor")
            stored = getattr(v, "stored_labels", None)
            if stored is not None and set(stored) - {1}:
                raise Untraceable(f"condition {name!r}: its {k!r} has labels on its rows")
        self._x: dict = {}
        self._rep: dict = {}

    def x(self, dtype, device) -> torch.Tensor:
        key = (dtype, str(device))
        x = self._x.get(key)
        if x is None:
            x = self._x[key] = (
                _plain(self.data["input"].extract(self.in_vars)).to(device=device, dtype=dtype).contiguous()
            )
        return x

    def repeated(self, K, dtype, device) -> dict:
        """The condition's data stacked K times (parameter point major), cached for the last few K."""
        key = (K, dtype, str(device))
        out = self._rep.get(key)
        if out is None:
            lt = sys.modules["pina"].LabelTensor
            out = {}
            for k, v in self.data.items():
                rep = _plain(v).to(device=device, dtype=dtype if v.dtype.is_floating_point else v.dtype).repeat(K, 1)
                out[k] = lt(rep, list(v.labels)) if isinstance(v, lt) else rep
            if len(self._rep) > 4:  # grid chunks have one or two sizes
                self._rep = {}
            self._rep[key] = out
        return out

    def results(self, jet, K: int) -> list[torch.Tensor]:
        rows = K * self.n
        out = []
        for kind, key, _, idx in self.calls:
            c = key[1]
            cols = []
            if kind == "laplacian":
                js = [j for j in idx if j is not None]
                cols.append(jet.second(_laplacian_form(js), c) if js else None)
            else:
                for j in idx:
                    if j is None:
                        cols.append(None)
                    elif key[0] == "value":
                        cols.append(jet.first(j, c))
                    else:
                        cols.append(jet.second(SecondOrder.partial(key[2], j), c))
            ref = jet.value(c)
            filled = [torch.zeros_like(ref) if col is None else col for col in cols]
            out.append(torch.stack(filled, -1).reshape(rows, len(filled)))
        return out

    def loss(self, jet, K: int, solver, use_lt: bool) -> torch.Tensor:
        """The condition's loss [K] (unweighted) from the jet of the K parameter points, by PINA's code."""
        like = jet.value(0)
        rows = K * self.n
        value = torch.stack([jet.value(c) for c in range(jet.n_outputs)], -1).reshape(rows, jet.n_outputs)
        if use_lt:
            value = sys.modules["pina"].LabelTensor(value, list(self.out_vars))
        replay = _Replay(self.calls, self.results(jet, K), rows, value, getattr(solver, "_params", None))
        batch = dict(self.repeated(K, like.dtype, like.device))
        batch["input"] = batch["input"].clone()
        with _hooked(replay):
            residual = self.cond.evaluate(batch, replay)
        if replay.pos != len(self.calls):
            raise Untraceable("the equation calls fewer operators than when traced")
        elementwise = _plain(solver._loss_fn(residual, torch.zeros_like(residual)))
        if elementwise.dim() == 0 or elementwise.shape[0] != rows:
            raise Untraceable("the solver's loss function reduces across points")
        per = elementwise.reshape(K, -1)
        return per.mean(1) if solver._reduction == "mean" else per.sum(1)


# --- the loss -----------------------------------------------------------------------------------------------------


class TracedPinaLoss(PerThreadState):
    """PINA's weighted condition losses: ``fn(module)`` per point (PINA's own code, for autograd and the Hessian
    tools) and ``batched_terms(params [K, P])`` for K parameter points in one pass (a ``BatchedLoss``).

    Thread-safe: PINA's condition code keeps no state between calls (its ``Equation.to`` reassigns its own
    attributes to the same values), and the hooks on PINA's operator module answer each thread by that
    thread's own replay."""

    follows_model_dtype = True  # casts its data to the module's dtype: float64 curvature is honoured

    thread_safe = True

    def __init__(self, base, mlp, plans, index, full0):
        self.base = base
        self.mlp = mlp
        self.plans = plans
        self.index = index  # positions of the run's theta in the MLP's vector (None: the same vector)
        self.full0 = full0  # the MLP's vector now (the parameters theta leaves out are held at these)
        # one jet for the points of every condition: the channels any of them reads
        self.spec = functools.reduce(JetSpec.union, [p.spec for p in plans])
        ends = list(itertools.accumulate(p.n for p in plans))
        self.rows = [(e - p.n, e) for p, e in zip(plans, ends)]
        self._x: dict = {}
        self._last = threading.local()  # (params, jet) of this thread's last batched_terms
        self._diverged = False  # whether a replay has left its trace (warned once)

    def __call__(self, module, each=None):
        return self.base(module, each)

    @property
    def why_no_residuals(self) -> str | None:
        """Why ``residuals`` is not available (None: it is); see ``PinaLoss.why_no_residuals``."""
        return self.base.why_no_residuals

    def residuals(self, module: torch.nn.Module) -> dict[str, torch.Tensor]:
        """Each condition's residual vector by PINA's own condition code (``PinaLoss.residuals``): one parameter
        point, autograd."""
        return self.base.residuals(module)

    _thread_locals = ("_last",)

    def __getstate__(self) -> dict:  # for dask workers: the caches are made anew there too
        state = super().__getstate__()
        state["_x"] = {}
        return state

    @property
    def names(self):
        return self.base.names

    def full(self, params: torch.Tensor) -> torch.Tensor:
        if self.index is None:
            return params
        out = self.full0.to(device=params.device, dtype=params.dtype).expand(params.shape[0], -1).clone()
        out[:, self.index.to(params.device)] = params
        return out

    def batched_terms(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        full = self.full(params)
        try:
            with torch.no_grad():
                return self.terms_full(full, params)
        except Untraceable as exc:  # the equation took another path here than where it was traced
            if not self._diverged:
                self._diverged = True
                warnings.warn(
                    f"plw.adapters.from_pina: PINA's equation code does not follow its trace at some parameter "
                    f"points ({exc}); their grid chunks are evaluated one parameter point at a time",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return self.terms_per_point(full)

    def terms_per_point(self, full: torch.Tensor) -> dict[str, torch.Tensor]:
        """The per-point definition at each row of ``full`` [K, P] (the MLP's vectors): {term: [K]}."""
        module = copy.deepcopy(self.base.solver.model).to(device=full.device, dtype=full.dtype)
        rows = []
        for theta in full:
            with torch.no_grad():
                torch.nn.utils.vector_to_parameters(theta, module.parameters())
            rows.append({t: v.detach() for t, v in self.base(module).items()})
        return {t: torch.stack([r[t] for r in rows]) for t in rows[0]}

    def terms_full(self, full: torch.Tensor, params=None) -> dict[str, torch.Tensor]:
        K = full.shape[0]
        jet = self.mlp.jets(full, self.x(full.dtype, full.device), self.spec)
        # the outputs at every condition's point: the run's error points, asked for next (batched_values)
        self._last.value = (params, jet)
        out = {}
        solver = self.base.solver
        for plan, (a, b) in zip(self.plans, self.rows):
            part = Jet(self.spec, [[c[:, a:b] for c in p] for p in jet.parts])
            out[plan.term] = plan.factor * plan.loss(part, K, solver, True)
        return out

    def x(self, dtype, device) -> torch.Tensor:
        """Every condition's points [N, d], one after another (one jet for all of them)."""
        key = (dtype, str(device))
        x = self._x.get(key)
        if x is None:
            x = self._x[key] = torch.cat([plan.x(dtype, device) for plan in self.plans]).contiguous()
        return x

    def batched_values(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            last, jet = getattr(self._last, "value", (None, None))
            self._last.value = (None, None)
            mine = self.x(params.dtype, params.device)
            if jet is None or last is not params or x.shape != mine.shape or not torch.equal(x.to(mine), mine):
                jet = self.mlp.jets(self.full(params), x.to(params), 0)
            return torch.stack([jet.value(c) for c in range(jet.n_outputs)], -1)

    def bytes_per_point(self, dtype=torch.float32, device="cpu") -> int:
        """Memory per parameter point of a chunk: the jet (and the torch kernel's two work arrays of every
        channel at every point and unit, where the fused C kernel does not run) and PINA's K * N-row tensors
        (the output, each operator's channels, the residual and the loss)."""
        n, C = self.rows[-1][1], self.spec.n_channels
        native = self.mlp.activation == "tanh" and _native.jet_applies("tanh", device, dtype, self.spec)
        work = 0 if native else 2 * C * self.mlp.width
        per_row = work + C * self.mlp.out_dim + 4 * (C + 4)
        return max(1, n * per_row * torch.empty((), dtype=dtype).element_size())


def trace(solver, loss, selected) -> TracedPinaLoss:
    """A batched PINA loss for ``loss`` (the adapter's per-point ``PinaLoss``), checked against it; raises
    Untraceable with the reason where it cannot be made."""
    psolver = require("pina.solver", "pina", "plw.adapters.from_pina")
    pcond = require("pina.condition", "pina", "plw.adapters.from_pina")
    base = psolver.PhysicsInformedSingleModelSolver.__mro__
    for meth in ("_compute_condition_loss", "_prepare_condition_data", "_regularize_condition_loss",
                 "_loss_from_residual", "_apply_reduction", "forward"):  # fmt: skip
        mine = getattr(type(solver), meth, None)
        known = next((c.__dict__[meth] for c in base if meth in c.__dict__), None)
        if mine is None or mine is not known:
            raise Untraceable(f"a {type(solver).__name__} computes its loss its own way ({meth})")
    if not getattr(solver, "use_lt", False):
        raise Untraceable("the solver does not use LabelTensors")
    if getattr(solver, "_reduction", None) not in ("mean", "sum"):
        raise Untraceable(f"the solver's reduction is {getattr(solver, '_reduction', None)!r}")
    problem = solver.problem
    in_vars = list(problem.input_variables)
    out_vars = list(problem.output_variables)
    model = solver.model
    mlp, names = recognise(model, len(in_vars), len(out_vars))
    _operator_module()
    known_conditions = (pcond.InputEquationCondition, pcond.InputTargetCondition)
    for _, name, cond, _ in loss.conditions:
        kind = next((c for c in known_conditions if isinstance(cond, c)), None)
        if kind is None or type(cond).evaluate is not kind.evaluate:
            raise Untraceable(f"condition {name!r} is a {type(cond).__name__}")
    # theta (the selected parameters, in named_parameters order) inside the MLP's vector
    slices = {n: s for n, (_, s, _) in zip(names, mlp.param_layout())}
    chosen = [n for n, _ in float_parameters(model, selected)]
    index = None
    if chosen != names:
        index = torch.cat([torch.arange(slices[n].start, slices[n].stop) for n in chosen])
    full0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).to(torch.float64)
    # two test points near theta*, in float64
    scale = float(full0.std()) if full0.numel() > 1 and float(full0.std()) > 0 else 0.1
    tests = []
    for seed in (0, 1):
        gen = torch.Generator().manual_seed(seed)
        tests.append(full0 + 0.3 * scale * torch.randn(full0.shape, generator=gen, dtype=torch.float64))
    module = copy.deepcopy(model).to(torch.float64)
    points = {term: data["input"] for term, _, _, data in loss.batches(torch.float64)}
    recorders = {}

    @contextlib.contextmanager
    def each(term):  # PINA's own loss of each condition, with its operator calls recorded
        recorders[term] = _Recorder(mlp, tests[0], in_vars, points[term])
        with _hooked(recorders[term]):
            yield

    own = []
    for t, theta in enumerate(tests):
        torch.nn.utils.vector_to_parameters(theta.clone(), module.parameters())
        own.append(loss(module, each if t == 0 else None))
    plans = [
        _Plan(term, name, cond, data, recorders[term].calls, in_vars, out_vars, loss.factors[name])
        for term, name, cond, data in loss.conditions
    ]
    traced = TracedPinaLoss(loss, mlp, plans, index, full0)
    with torch.no_grad():
        got = traced.terms_full(torch.stack(tests))
    for term in got:
        for t in range(2):
            ref, val = float(own[t][term].detach()), float(got[term][t])
            if not abs(val - ref) <= 1e-9 * abs(ref) + 1e-14:
                raise Untraceable(
                    f"the traced loss differs from PINA's at a test point (condition {term}: {val:.10g} against "
                    f"{ref:.10g})"
                )
    return traced
