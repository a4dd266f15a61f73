"""LandscapeWidget: the loss landscape as an interactive 3-D surface in any Jupyter front end.

The widget talks to the engine only through the public functions (train, *_directions, landscape,
evaluate). Controls that need new numbers (run, directions, seed, normalization, resolution, span,
formulation) start a computation in a worker thread; a newer request supersedes an older one, which is
abandoned at its next chunk and never drawn. A coarse preview arrives first, then the requested
resolution. Everything else (z scale, colormap, contours, wireframe, view, camera) happens in the browser.
Grids cross as float32 bytes plus a shape, never as JSON lists.
"""

from __future__ import annotations

import itertools
import json
import math
import pathlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import anywidget
import numpy as np
import torch
import traitlets
import xarray as xr

from ..analysis.directions import (
    NORMALIZATIONS,
    hessian_directions,
    interpolation_direction,
    pca_directions,
    random_directions,
)
from ..analysis.landscape import MAX_RESOLUTION, landscape
from ..engine.evaluation import evaluate
from ..models.training import TrainResult, train
from ..pde.formulations import supported_formulations
from ._assets import WIDGET_ESM
from .export import widget_to_html

DIRECTION_KINDS = ("random", "pca", "hessian", "interpolation")
Z_SCALES = ("linear", "log")
COLORMAPS = ("viridis", "magma", "coolwarm", "gray")
VIEWS = ("surface", "heatmap")
PREVIEW_RESOLUTION = 11  # the preview's largest resolution (smaller when points are costly, see below)
PREVIEW_BUDGET_S = 0.08  # the preview's compute time we aim for, from the last measured cost per point
PREVIEW_DRAW_WAIT_S = 0.3  # at most this long the full grid waits for the view to draw the preview
# Progress reaches the view at most this often. Every update repaints the page, and in a software-rendered
# browser (headless Chromium, remote desktops) that took a core from the kernel: at 0.1 s a 41 x 41 grid
# computed in 1.4 s instead of 1.1 s (benchmarks/bench_widget_latency.py --progress-interval 0.1).
PROGRESS_INTERVAL_S = 0.4
CHOICE_TRAITS = ("run_label", "direction_kind", "formulation")  # what a page without a kernel can switch


def slice_key(run_label: str, direction_kind: str, formulation: str) -> str:
    """The key of a precomputed slice; the front end builds the same string with JSON.stringify."""
    return json.dumps([run_label, direction_kind, formulation], separators=(",", ":"), ensure_ascii=False)


class _Superseded(Exception):
    """A newer request arrived; this computation is abandoned."""


def _f32(a) -> bytes:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32)).tobytes()


class LandscapeWidget(anywidget.AnyWidget):
    """An interactive loss landscape.

    ``LandscapeWidget(run)``, ``LandscapeWidget({"strong": run_s, "deep_ritz": run_r})`` or
    ``LandscapeWidget(ds)`` for a precomputed Dataset (then it computes nothing).
    """

    _esm = WIDGET_ESM

    # what is drawn
    grid = traitlets.Bytes(b"").tag(sync=True)
    grid_shape = traitlets.List(traitlets.Int(), []).tag(sync=True)
    error_grid = traitlets.Bytes(b"").tag(sync=True)
    alpha_range = traitlets.List(traitlets.Float(), [-1.0, 1.0]).tag(sync=True)
    beta_range = traitlets.List(traitlets.Float(), [-1.0, 1.0]).tag(sync=True)
    trajectory = traitlets.Bytes(b"").tag(sync=True)
    energy_reference = traitlets.Float(None, allow_none=True).tag(sync=True)
    z_label = traitlets.Unicode("loss").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)

    # the second panel (compare = side by side, one shared camera)
    grid2 = traitlets.Bytes(b"").tag(sync=True)
    grid_shape2 = traitlets.List(traitlets.Int(), []).tag(sync=True)
    error_grid2 = traitlets.Bytes(b"").tag(sync=True)
    alpha_range2 = traitlets.List(traitlets.Float(), [-1.0, 1.0]).tag(sync=True)
    beta_range2 = traitlets.List(traitlets.Float(), [-1.0, 1.0]).tag(sync=True)
    trajectory2 = traitlets.Bytes(b"").tag(sync=True)
    energy_reference2 = traitlets.Float(None, allow_none=True).tag(sync=True)
    z_label2 = traitlets.Unicode("loss").tag(sync=True)
    title2 = traitlets.Unicode("").tag(sync=True)
    compare = traitlets.Bool(False).tag(sync=True)
    z_shared = traitlets.Bool(False).tag(sync=True)

    # controls that need the kernel
    run_labels = traitlets.List(traitlets.Unicode(), []).tag(sync=True)
    run_label = traitlets.Unicode("").tag(sync=True)
    direction_kinds = traitlets.List(traitlets.Unicode(), list(DIRECTION_KINDS)).tag(sync=True)
    direction_kind = traitlets.Unicode("random").tag(sync=True)
    formulations = traitlets.List(traitlets.Unicode(), ["strong"]).tag(sync=True)
    formulation = traitlets.Unicode("strong").tag(sync=True)
    normalization = traitlets.Unicode("filter").tag(sync=True)
    seed = traitlets.Int(0).tag(sync=True)
    resolution = traitlets.Int(41).tag(sync=True)
    span = traitlets.Float(1.0).tag(sync=True)

    # browser-only look
    z_scale = traitlets.Unicode("log").tag(sync=True)
    colormap = traitlets.Unicode("viridis").tag(sync=True)
    view = traitlets.Unicode("surface").tag(sync=True)
    contours = traitlets.Bool(True).tag(sync=True)
    wireframe = traitlets.Bool(False).tag(sync=True)

    # inspection
    selected_point = traitlets.List(traitlets.Float(), []).tag(sync=True)
    solution = traitlets.Bytes(b"").tag(sync=True)
    solution_info = traitlets.Dict({}).tag(sync=True)

    # status
    status = traitlets.Unicode("idle").tag(sync=True)
    status_text = traitlets.Unicode("").tag(sync=True)
    progress = traitlets.Float(0.0).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    interactive = traitlets.Bool(True).tag(sync=True)
    static_choices = traitlets.List(traitlets.Unicode(), []).tag(sync=True)
    # Precomputed slices for pages without a kernel: JSON [run_label, direction_kind, formulation] -> the
    # traits of that slice (binary grids travel as buffers and land in saved widget state). See precompute().
    static_slices = traitlets.Dict({}).tag(sync=True)

    def __init__(
        self,
        source,
        *,
        direction_kind: str = "random",
        formulation: str | None = None,
        resolution: int = 41,
        span: float = 1.0,
        seed: int = 0,
        normalization: str = "filter",
        compare: bool | None = None,
        compute: bool = True,
        **kwargs,
    ):
        self._runs: dict[str, TrainResult] = {}
        self._lock = threading.Lock()
        self._latest = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plw-landscape")
        self._cache: dict[tuple, xr.Dataset] = {}
        self._dir_cache: dict[tuple, object] = {}
        self._current: tuple | None = None  # (run, settings, Dataset) of what each panel draws
        self._current2: tuple | None = None
        self.last_future = None
        self._has_view = False  # a view answered our liveness check: it will report when it has drawn
        self._drawn = threading.Event()
        self._cost_per_point: dict[tuple, float] = {}  # (run label, formulation) -> seconds per grid point
        self._ready = False  # no computation while the constructor sets the controls
        super().__init__(**kwargs)
        self.on_msg(self._on_front_end_message)
        self._static_ds = None
        if isinstance(source, xr.Dataset):
            self.interactive = False
            self._static_ds = source
            self._show(source, None)
            return
        if isinstance(source, TrainResult):
            source = {source.formulation: source}
        if not isinstance(source, dict) or not source or not all(isinstance(r, TrainResult) for r in source.values()):
            raise ValueError(
                "LandscapeWidget needs a TrainResult, a dict of labelled TrainResults or an "
                f"xarray.Dataset, got {type(source).__name__}"
            )
        self._runs = {str(k): v for k, v in source.items()}
        first = next(iter(self._runs.values()))
        with self.hold_trait_notifications():
            self.run_labels = list(self._runs)
            self.run_label = next(iter(self._runs))
            self.formulations = supported_formulations(first.problem)
            self.formulation = formulation or first.formulation
            self.direction_kind = direction_kind
            self.resolution = resolution
            self.span = span
            self.seed = seed
            self.normalization = normalization
            self.compare = len(self._runs) > 1 if compare is None else bool(compare)
        self._ready = True
        if compute:
            self.request()

    # ---- validation: a bad value from Python is a TraitError and leaves the widget as it was ------------
    @traitlets.validate("resolution")
    def _v_resolution(self, proposal):
        v = proposal["value"]
        if not 3 <= v <= MAX_RESOLUTION:
            raise traitlets.TraitError(f"resolution must be an integer in [3, {MAX_RESOLUTION}], got {v}")
        return v

    @traitlets.validate("span")
    def _v_span(self, proposal):
        v = proposal["value"]
        if not (math.isfinite(v) and v > 0):
            raise traitlets.TraitError(f"span must be a finite number > 0, got {v}")
        return v

    @traitlets.validate("seed")
    def _v_seed(self, proposal):
        if proposal["value"] < 0:
            raise traitlets.TraitError(f"seed must be an integer >= 0, got {proposal['value']}")
        return proposal["value"]

    def _choice(name, allowed_attr=None, allowed=None):  # noqa: N805 - a validator factory
        def check(self, proposal):
            v = proposal["value"]
            ok = getattr(self, allowed_attr) if allowed_attr else allowed
            if allowed_attr == "run_labels" and not ok:
                return v
            if v not in ok:
                raise traitlets.TraitError(f"{name} must be one of {list(ok)}, got {v!r}")
            return v

        return traitlets.validate(name)(check)

    _v_kind = _choice("direction_kind", "direction_kinds")
    _v_form = _choice("formulation", "formulations")
    _v_norm = _choice("normalization", allowed=NORMALIZATIONS)
    _v_scale = _choice("z_scale", allowed=Z_SCALES)
    _v_cmap = _choice("colormap", allowed=COLORMAPS)
    _v_view = _choice("view", allowed=VIEWS)
    _v_run = _choice("run_label", "run_labels")
    del _choice

    @traitlets.observe(
        "run_label", "direction_kind", "formulation", "normalization", "seed", "resolution", "span", "compare"
    )
    def _on_setting(self, change):
        if self._ready and self._runs and self.interactive:
            self.request()

    @traitlets.observe("selected_point")
    def _on_select(self, change):
        if self._runs and len(change["new"]) in (2, 3):
            self._executor.submit(self._solution_job, tuple(change["new"]))

    def _on_front_end_message(self, _widget, content, _buffers):
        # The view pings on render; a live kernel answers. Saved state (no kernel) never does, and the
        # view then disables what would need new numbers (and switches precomputed slices itself).
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            self._has_view = True
            self.send({"type": "pong"})
        elif kind == "drawn":
            self._drawn.set()

    # ---- computation ----------------------------------------------------------------------------------
    def settings(self) -> tuple:
        return (
            self.run_label,
            self.direction_kind,
            self.formulation,
            self.normalization,
            int(self.seed),
            int(self.resolution),
            float(self.span),
            bool(self.compare),
        )

    def second_settings(self, settings: tuple) -> tuple | None:
        """What the second panel shows: the next labelled run under its own trained loss, or, with one run,
        the same run and directions under the other formulation. Same direction kind, seed, normalization,
        resolution and span: random directions are normalised against each run's own theta*."""
        label, kind, form, norm, seed, res, span, compare = settings
        if not compare:
            return None
        others = [lab for lab in self._runs if lab != label]
        if others:
            other = others[0]
            return (other, kind, self._runs[other].formulation, norm, seed, res, span, True)
        alt = [f for f in self.formulations if f != form]
        return (label, kind, alt[0], norm, seed, res, span, True) if alt else None

    def request(self):
        """Start (or restart) the computation for the current settings; returns a Future."""
        with self._lock:
            self._latest += 1
            rid = self._latest
        self.last_future = self._executor.submit(self._job, rid, self.settings())
        return self.last_future

    def _preview_resolution(self, settings) -> int:
        """Odd, 5..PREVIEW_RESOLUTION: as many points as PREVIEW_BUDGET_S buys at the last cost per point
        measured for this run and formulation (a slow network gets a coarser preview, not a later one)."""
        per_point = self._cost_per_point.get((settings[0], settings[2]))
        if per_point is None:
            return PREVIEW_RESOLUTION
        n = PREVIEW_BUDGET_S / per_point if settings[1] == "interpolation" else math.sqrt(PREVIEW_BUDGET_S / per_point)
        n = max(5, min(PREVIEW_RESOLUTION, int(n)))
        return n if n % 2 else n - 1

    def _stale(self, rid: int) -> bool:
        return rid != self._latest

    def _job(self, rid: int, settings: tuple):
        if self._stale(rid):
            return None
        try:
            key = settings[:7]
            ds = self._cache.get(key)
            if ds is None:
                res = settings[5]
                if res > 2 * PREVIEW_RESOLUTION:
                    pres = self._preview_resolution(settings)
                    preview = self._compute(rid, settings[:5] + (pres,) + settings[6:], preview=True)
                    if preview is not None and not self._stale(rid):
                        self._drawn.clear()
                        self._show(preview, settings, status="preview")
                        if self._has_view:  # let the browser draw it before the full grid takes the CPU
                            self._drawn.wait(PREVIEW_DRAW_WAIT_S)
                ds = self._compute(rid, settings, preview=False)
                self._cache[key] = ds
            second = self.second_settings(settings)
            ds2 = None
            if second is not None:
                ds2 = self._cache.get(second[:7])
                if ds2 is None:
                    ds2 = self._compute(rid, second, preview=False)
                    self._cache[second[:7]] = ds2
            if not self._stale(rid):
                with self.hold_sync():
                    self._show(ds, settings)
                    if ds2 is not None:
                        self._show(ds2, second, panel=2)
                    else:
                        self.grid_shape2 = []
                        self.grid2 = b""
            return ds
        except _Superseded:
            return None
        except Exception as exc:  # shown in the widget, which stays usable
            if not self._stale(rid):
                with self.hold_sync():
                    self.error = f"{type(exc).__name__}: {exc}"
                    self.status = "error"
                    self.status_text = "the last request failed; change a setting to try again"
                    self.progress = 0.0
            return None

    def _directions(self, run, label, kind, normalization, seed):
        key = (label, kind, normalization if kind == "random" else "", seed if kind == "random" else 0)
        if key not in self._dir_cache:
            if kind == "random":
                d = random_directions(run, 2, seed=seed, normalization=normalization)
            elif kind == "pca":
                d = pca_directions(run, 2)
            elif kind == "hessian":
                d = hessian_directions(run, 2, "largest")
            else:
                d = interpolation_direction(run.init_params, run.params)
            self._dir_cache[key] = d
        return self._dir_cache[key]

    def _span_for(self, dirs, span: float):
        """The slider's span: the half-width for random and Hessian directions, a zoom factor on the
        directions' own range for PCA (1 = fits the trajectory) and interpolation (1 = [-0.5, 1.5])."""
        if dirs.kind == "pca":
            return float(dirs.default_span) * span
        if dirs.kind == "interpolation":
            return (0.5 - span, 0.5 + span)
        return span

    def _compute(self, rid, settings, preview):
        kind, res = settings[1], settings[5]
        with self.hold_sync():
            self.error = ""
            self.status = "computing"
            self.progress = 0.0
            self.status_text = (
                f"computing {'preview ' if preview else ''}{res} x {res} ..."
                if kind != "interpolation"
                else f"computing {'preview ' if preview else ''}{res} points ..."
            )
        last = [time.perf_counter()]

        def on_chunk(done, total):
            if self._stale(rid):
                raise _Superseded()
            now = time.perf_counter()
            if now - last[0] > PROGRESS_INTERVAL_S or done == total:
                last[0] = now
                self.progress = done / total

        ds = self._landscape_for(settings, on_chunk)
        self._cost_per_point[(settings[0], settings[2])] = ds.attrs["compute_seconds"] / ds.loss.size
        return ds

    def _landscape_for(self, settings, on_chunk=None) -> xr.Dataset:
        """The landscape for one setting tuple (directions cached per run and kind)."""
        label, kind, form, norm, seed, res, span = settings[:7]
        run = self._runs[label]
        dirs = self._directions(run, label, kind, norm, seed)
        if on_chunk is not None:
            on_chunk(0, 1)  # a request superseded while directions were computed stops here
        return landscape(
            run,
            dirs,
            span=self._span_for(dirs, span),
            resolution=res,
            formulation=form,
            progress=False,
            _on_progress=on_chunk,
        )

    def _slice_traits(self, ds: xr.Dataset, settings, status: str = "done", panel: int = 1) -> dict:
        """The trait values that draw ``ds`` in a panel (names with suffix "2" for the second panel)."""
        two_d = "beta" in ds.dims
        traj = b""
        run = self._runs.get(settings[0]) if settings else None
        if "trajectory_alpha" in ds and run is not None:
            ta = ds.trajectory_alpha.values
            tb = ds.trajectory_beta.values if two_d else np.zeros_like(ta)
            pts = torch.as_tensor(run.trajectory)
            tl = evaluate(run, pts, ds.attrs["formulation"])["loss"].numpy()
            traj = _f32(np.stack([ta, tb, tl], axis=1))
        title = (
            f"{settings[0] + ': ' if settings and len(self._runs) > 1 else ''}"
            f"{ds.attrs.get('problem', '')} / {ds.attrs.get('formulation', '')} loss, "
            f"{ds.attrs.get('direction_kind', '')} directions"
        )
        n_bad = int((~np.isfinite(ds.loss.values)).sum())
        data = {
            "title": title,
            "alpha_range": [float(ds.alpha.values[0]), float(ds.alpha.values[-1])],
            "beta_range": [float(ds.beta.values[0]), float(ds.beta.values[-1])] if two_d else [0.0, 0.0],
            "energy_reference": ds.attrs.get("energy_reference"),
            "z_label": "Deep Ritz energy E" if ds.attrs.get("formulation") == "deep_ritz" else "strong-form loss",
            "error_grid": _f32(ds.rel_l2_error.values),
            "trajectory": traj,
            "grid_shape": list(ds.loss.shape),
            "grid": _f32(ds.loss.values),  # last: observers of the grid see a consistent state
        }
        if panel != 1:
            return {name + "2": value for name, value in data.items()}
        data["status_text"] = (
            f"{title}; {'preview' if status == 'preview' else 'done'} in "
            f"{ds.attrs.get('compute_seconds', 0):.2f} s" + (f"; {n_bad} non-finite point(s)" if n_bad else "")
        )
        return data

    def _show(self, ds: xr.Dataset, settings, status: str = "done", panel: int = 1):
        with self.hold_sync():
            if panel == 1:
                self.status = status
                if status == "done":
                    self.progress = 1.0
                    self.error = ""
            for name, value in self._slice_traits(ds, settings, status, panel).items():
                setattr(self, name, value)
        if status == "done" and settings is not None:
            current = (self._runs.get(settings[0]), settings, ds)
            if panel == 1:
                self._current = current
            else:
                self._current2 = current

    def _precomputed_slices(self, choices) -> dict:
        """Every combination of the named choices' values, at the current resolution, span, seed and
        normalization: {slice_key: {trait: value}} for both panels. Combinations that cannot be computed
        (e.g. PCA of a run with too few checkpoints) are left out; a page then says so when chosen."""
        unknown = [c for c in choices if c not in CHOICE_TRAITS]
        if unknown:
            raise ValueError(f"choices may name {list(CHOICE_TRAITS)}, got {unknown}")
        if not self._runs:
            raise ValueError(
                "precompute needs training runs to compute from; a widget made from a Dataset shows that one slice only"
            )
        if self.last_future is not None:
            self.last_future.result()  # one computation at a time; its grids land in the cache
        options = {
            "run_label": list(self.run_labels),
            "direction_kind": list(self.direction_kinds),
            "formulation": list(self.formulations),
        }
        axes = [options[c] if c in choices else [getattr(self, c)] for c in CHOICE_TRAITS]
        base = self.settings()
        slices = {}
        for combo in itertools.product(*axes):
            settings = combo + base[3:]
            try:
                traits = self._slice_traits(self._cached(settings), settings)
                second = self.second_settings(settings)
                if second is None:
                    traits.update(grid2=b"", grid_shape2=[])
                else:
                    traits.update(self._slice_traits(self._cached(second), second, panel=2))
            except Exception:  # noqa: BLE001 - left out, as documented
                continue
            slices[slice_key(*combo)] = traits
        return slices

    def _cached(self, settings) -> xr.Dataset:
        key = settings[:7]
        if key not in self._cache:
            self._cache[key] = self._landscape_for(settings)
        return self._cache[key]

    def _solution_job(self, point):
        try:
            current = self._current2 if len(point) == 3 else self._current
            if current is None:
                return
            run, settings, ds = current
            alpha, beta = point[:2]
            theta = torch.as_tensor(ds.center.values, dtype=torch.float64)
            D = torch.as_tensor(ds.directions.values, dtype=torch.float64)
            theta = theta + alpha * D[0] + (beta * D[1] if D.shape[0] > 1 else 0.0)
            prob = run.problem
            model = run.model_at(theta.to(run.dtype).cpu())
            if prob.dim == 1:
                ((lo, hi),) = prob.domain
                x = torch.linspace(lo, hi, 201, dtype=torch.float64)[:, None]
                with torch.no_grad():
                    u = model(x.to(run.dtype)).double()
                ex = prob.exact(x)
                rows = np.stack([u.numpy(), ex.numpy() if ex is not None else np.full(201, np.nan)])
                info = dict(shape=[2, 201], x_range=[lo, hi])
            else:
                n = 64
                axes = [torch.linspace(lo, hi, n, dtype=torch.float64) for lo, hi in prob.domain]
                X, Y = torch.meshgrid(*axes, indexing="ij")
                x = torch.stack([X.reshape(-1), Y.reshape(-1)], 1)
                with torch.no_grad():
                    u = model(x.to(run.dtype)).double().reshape(n, n)
                rows = u.numpy()
                info = dict(shape=[n, n], x_range=list(prob.domain[0]), y_range=list(prob.domain[1]))
            err = float(evaluate(run, theta.to(run.dtype))["rel_l2_error"][0])
            coords = f"alpha {alpha:.3g}" + (f", beta {beta:.3g}" if "beta" in ds.dims else "")
            info["title"] = f"u at {coords} (rel. L2 error {err:.3g})"
            with self.hold_sync():
                self.solution = _f32(rows)
                self.solution_info = info
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def precompute(self, choices=("direction_kind", "formulation")) -> LandscapeWidget:
        """Compute every combination of the named choices (``run_label``, ``direction_kind``,
        ``formulation``) at the current resolution, span, seed and normalization, and carry them in the
        widget's state. A page with no kernel (nbconvert HTML, Jupyter Book, ``to_html``) then switches
        between them. Returns the widget, so ``w.precompute()`` can end a cell."""
        slices = self._precomputed_slices(choices)
        with self.hold_sync():
            self.static_choices = list(choices)
            self.static_slices = slices
        return self

    def to_html(self, path, **kwargs):
        """Write this widget as one self-contained HTML file (see ``export.widget_to_html``)."""
        return widget_to_html(self, path, **kwargs)

    def _repr_mimebundle_(self, **kwargs):
        """The live widget, plus a PNG of the current view for front ends that cannot run it."""
        if self._current is None and self.last_future is not None:
            try:  # the first grid is seconds away; wait for it so the picture exists for static viewers
                self.last_future.result(60)
            except Exception:
                pass
        bundle = super()._repr_mimebundle_(**kwargs)
        current = self._current[2] if self._current else self._static_ds
        if current is not None:
            from .plotting import png_bytes

            png = png_bytes(current)
            if png is not None:
                data = bundle[0] if isinstance(bundle, tuple) else bundle
                data["image/png"] = png
        return bundle

    def wait(self, timeout: float = 120.0):
        """Block until the latest request is drawn (for scripts and tests)."""
        if self.last_future is not None:
            self.last_future.result(timeout)
        return self

    def close(self):
        self._executor.shutdown(wait=False, cancel_futures=True)
        super().close()


def explore(problem: str = "poisson1d", *, steps=1000, progress: bool = True, **widget_kwargs) -> LandscapeWidget:
    """The classroom one-liner: train every formulation the problem supports (with a progress bar) and
    return the widget comparing them. ``explore("poisson1d")`` trains strong form and Deep Ritz."""
    from ..pde.library import get_problem

    prob = get_problem(problem)
    runs = {f: train(prob, f, steps=steps, progress=progress) for f in supported_formulations(prob)}
    return LandscapeWidget(runs, **widget_kwargs)


def to_html(source, path, **kwargs) -> pathlib.Path:
    """Self-contained HTML of a Dataset, a run, a dict of labelled runs, or a LandscapeWidget."""
    w = source if isinstance(source, LandscapeWidget) else LandscapeWidget(source, compute=False)
    if w._runs and not w.grid:
        w.request()
        w.wait()
    return widget_to_html(w, path, **kwargs)
