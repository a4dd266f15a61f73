"""One panel's numbers: its directions, its landscape grid, the training path on its plane, and the
payload the front end draws (grids as float32 bytes, never JSON lists).

Directions, grids and the losses along each run's trajectory are cached, so going back to a setting, or
comparing the same run under another loss, costs nothing twice.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch
import xarray as xr

from ..analysis.directions import hessian_directions, interpolation_direction, pca_directions, random_directions
from ..analysis.landscape import landscape, project_onto_plane
from ..engine.evaluation import evaluate
from ..engine.objective import Objective
from ._cluster import cluster_arguments
from ._panels import SliceSettings
from ._preview import FULL_PREVIEW_MAX_S, SMALLEST_PREVIEW, PreviewPlan, plan_preview
from ._runs import trajectory_of, trajectory_steps_of

DIRECTION_KINDS = ("random", "pca", "hessian", "interpolation")
CURVE_KIND = "curve"  # the plane of a connect() result (LandscapeWidget.show_connection)
# columns of the trajectory table a panel carries, one row per recorded checkpoint
TRAJECTORY_COLUMNS = ("alpha", "beta", "loss", "offplane", "step")


def _point_set_sizes(obj) -> list[int] | None:
    """The point sets a preview may cut (the package's objectives, a traced DeepXDE loss); None when the
    loss's points cannot be cut."""
    if isinstance(obj, Objective):
        return obj.point_set_sizes()
    sizes = getattr(obj, "point_set_sizes", None)
    if not callable(sizes):
        return None
    try:
        return list(sizes())
    except ValueError:
        return None


def f32(a) -> bytes:
    """float32 bytes of an array (what a grid trait holds)."""
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32)).tobytes()


class SliceComputer:
    """Computes and caches the landscapes of panels for a set of labelled runs."""

    def __init__(self, runs: dict):
        self.runs = runs
        self.grids: dict[SliceSettings, xr.Dataset] = {}
        self.directions: dict[tuple, object] = {}
        self.trajectory_losses: dict[tuple, np.ndarray] = {}
        self.cost_per_point: dict[tuple, float] = {}  # (run, formulation) -> seconds per grid point
        self.preview_points: int | float | None = None  # the widget's ``preview_points`` (None: automatic)
        self._probed: dict[tuple, float] = {}  # (run, formulation) -> seconds per point of a 2-point probe
        self._sizes: dict[tuple, list[int] | None] = {}  # (run, formulation) -> its point sets' sizes
        self.connections: dict[str, tuple] = {}  # run label -> (curve_directions, connect Dataset)
        self.client = None  # a dask distributed.Client: every grid is computed in tiles on its cluster

    def forget(self, label: str) -> None:
        """Drop everything computed for run ``label`` (it was replaced)."""
        caches: list[dict] = [self.grids, self.directions, self.trajectory_losses, self.cost_per_point]
        for cache in [*caches, self._probed, self._sizes]:
            for key in [k for k in cache if (k.run if isinstance(k, SliceSettings) else k[0]) == label]:
                del cache[key]

    def preview_plan(self, s: SliceSettings, largest: int, budget_s: float) -> PreviewPlan | None:
        """The preview before the grid of ``s`` (see ``_preview.plan_preview``), or None when it needs none.
        Before any grid of the run and loss has been timed, a probe of two parameter points measures the
        cost; it counts only when it says the run is large (a small run keeps the preview it always had)."""
        key = (s.run, s.formulation)
        cost = self.cost_per_point.get(key)
        if key not in self._sizes:
            obj = self.runs[s.run].objective(s.formulation)
            self._sizes[key] = _point_set_sizes(obj)
        sizes = self._sizes[key]
        # on a cluster the workers evaluate the full loss (landscape refuses subsample= with client=); a loss
        # that cannot be cut is planned as it is locally
        points = 0 if self.client is not None and sizes is not None else self.preview_points
        if cost is None and points != 0:
            if key not in self._probed:
                run = self.runs[s.run]
                t0 = time.perf_counter()
                with torch.no_grad():
                    evaluate(run, run.params[None].expand(2, -1), s.formulation)
                self._probed[key] = (time.perf_counter() - t0) / 2
            probe = self._probed[key]
            cost = (
                probe
                if probe * SMALLEST_PREVIEW ** (1 if s.direction_kind == "interpolation" else 2) > FULL_PREVIEW_MAX_S
                else None
            )
        plan = plan_preview(
            resolution=s.resolution,
            n_dims=1 if s.direction_kind == "interpolation" else 2,
            largest=largest,
            budget_s=budget_s,
            cost=cost,
            sizes=sizes,
            points=points,
        )
        if plan is not None and self.client is not None and sizes is not None:
            note = f"on all {plan.total} points (on a cluster every point is evaluated)"
            plan = dataclasses.replace(plan, note=note)
        return plan

    def predicted_seconds(self, s: SliceSettings) -> float | None:
        """Seconds the full grid of ``s`` is predicted to take: 0 when cached, else its points times the cost
        per point last measured for the run and loss (a grid's, else the preview's probe); None when neither
        has been measured yet."""
        if s in self.grids:
            return 0.0
        key = (s.run, s.formulation)
        cost = self.cost_per_point.get(key, self._probed.get(key))
        if cost is None:
            return None
        return cost * s.resolution ** (1 if s.direction_kind == "interpolation" else 2)

    def compute_preview(self, s: SliceSettings, plan: PreviewPlan, on_chunk=None) -> xr.Dataset:
        """The preview ``plan`` of ``s``: on a subset of the points (not cached: an estimate) or, at every
        point, ``compute(s.at_resolution(plan.resolution))``; ``attrs["preview_points"]`` says which."""
        coarse = s.at_resolution(plan.resolution)
        if plan.subsample is None:
            ds = self.compute(coarse, on_chunk)
        else:
            ds = self._landscape(coarse, on_chunk, subsample=plan.subsample)
        note = plan.note or (f"on all {plan.total} points" if plan.total else "on all points")
        return ds.assign_attrs(preview_points=note)

    def directions_for(self, s: SliceSettings):
        key = s.directions_key
        if key not in self.directions:
            run = self.runs[s.run]
            if s.direction_kind == CURVE_KIND:
                if s.run not in self.connections:
                    raise ValueError(
                        f"direction_kind 'curve' needs a connection of run {s.run!r}: call "
                        f"w.show_connection(plw.connect(runs[{s.run!r}], other_run)) first"
                    )
                d = self.connections[s.run][0]
            elif s.direction_kind == "random":
                d = random_directions(run, 2, seed=s.seed, normalization=s.normalization)
            elif s.direction_kind == "pca":
                d = pca_directions(run, 2)
            elif s.direction_kind == "hessian":
                d = hessian_directions(run, 2, "largest")
            else:
                traj = trajectory_of(run)
                if traj is None:
                    raise ValueError(
                        f"interpolation directions need the run's initial parameters (run.trajectory[0]); "
                        f"run {s.run!r} recorded no trajectory"
                    )
                d = interpolation_direction(traj[0], run.params)
            self.directions[key] = d
        return self.directions[key]

    @staticmethod
    def extent_for(dirs, zoom: float):
        """``landscape(span=)`` for the widget's ``zoom``: the directions' own default extent scaled by
        ``zoom`` about its centre, the same for every kind. A half-width d (random and Hessian: 1; PCA: the
        trajectory's extent) gives d * zoom; a range (lo, hi) (interpolation: (-0.5, 1.5)) gives
        c -/+ zoom * (hi - lo) / 2 around its centre c, so zoom z is (0.5 - z, 0.5 + z) there."""
        default = dirs.default_span
        if isinstance(default, (tuple, list)):
            lo, hi = float(default[0]), float(default[1])
            centre, half = (lo + hi) / 2, (hi - lo) / 2
            return (centre - zoom * half, centre + zoom * half)
        return float(default) * zoom

    def center_for(self, s: SliceSettings):
        """The plane's centre: a recorded checkpoint, or None (the directions' own origin, else theta*)."""
        if s.checkpoint is None:
            return None
        if s.direction_kind == CURVE_KIND:
            raise ValueError(
                f"a curve panel's plane is anchored at its connection's endpoint_a (run {s.run!r}'s trained "
                f"parameters), so its checkpoint must be None, got {s.checkpoint}"
            )
        traj = trajectory_of(self.runs[s.run])
        if traj is None:  # normalize_panels only lets a checkpoint through for a run that recorded some
            raise ValueError(f"run {s.run!r} recorded no trajectory, so it has no checkpoint {s.checkpoint}")
        return traj[s.checkpoint]

    def _landscape(self, s: SliceSettings, on_chunk, subsample=None, on_partial=None) -> xr.Dataset:
        dirs = self.directions_for(s)
        if on_chunk is not None:
            on_chunk(0, 1)  # a request superseded while directions were computed stops here
        n_points = s.resolution ** (1 if dirs.n == 1 else 2)
        if self.client is not None:
            subsample = None  # the workers evaluate the full loss (landscape refuses both)
        return landscape(
            self.runs[s.run],
            dirs,
            span=self.extent_for(dirs, s.zoom),
            resolution=s.resolution,
            formulation=s.formulation,
            center=self.center_for(s),
            progress=False,
            subsample=subsample,
            _on_progress=on_chunk,
            **cluster_arguments(self.client, n_points, on_partial),
        )

    def compute(self, s: SliceSettings, on_chunk=None, on_partial=None) -> xr.Dataset:
        """The landscape for ``s`` (cached). ``on_chunk(done, total)`` may raise to abandon it; with a
        ``client``, ``on_partial(ds)`` sees the grid so far as its tiles land (see ``_cluster``)."""
        if s in self.grids:
            return self.grids[s]
        ds = self._landscape(s, on_chunk, on_partial=on_partial)
        self.cost_per_point[(s.run, s.formulation)] = ds.attrs["compute_seconds"] / ds.loss.size
        self.grids[s] = ds
        return ds

    def trajectory_table(self, s: SliceSettings, ds: xr.Dataset) -> np.ndarray | None:
        """[T, 5]: each checkpoint's plane coordinates (alpha, beta; beta 0 on a line), its loss under the
        panel's formulation, its distance from the plane and its training step. None without a trajectory."""
        run = self.runs[s.run]
        traj = trajectory_of(run)
        if traj is None or traj.shape[0] < 2:
            return None
        if "trajectory_alpha" in ds:
            ab = np.stack([ds.trajectory_alpha.values, ds.trajectory_beta.values], 1) if "beta" in ds.dims else None
            ab = ab if ab is not None else np.stack([ds.trajectory_alpha.values, np.zeros(traj.shape[0])], 1)
            off = ds.trajectory_offplane.values
        else:
            center = torch.as_tensor(ds.center.values)
            D = torch.as_tensor(ds.directions.values)
            coef, off = project_onto_plane(traj.cpu(), center, D)
            ab = coef if coef.shape[1] == 2 else np.concatenate([coef, np.zeros_like(coef)], 1)
        key = (s.run, s.formulation)
        if key not in self.trajectory_losses:
            with torch.no_grad():
                self.trajectory_losses[key] = evaluate(run, traj, s.formulation)["loss"].double().numpy()
        steps = np.asarray(trajectory_steps_of(run), dtype=np.float64)
        return np.column_stack([ab[:, 0], ab[:, 1], self.trajectory_losses[key], off, steps])

    def connection_tables(self, s: SliceSettings) -> dict[str, np.ndarray]:
        """For a ``curve`` panel: the Bezier curve and the straight segment of its connection as [n, 5] tables
        like the trajectory's (alpha, beta, loss under the panel's formulation, 0 off the plane, t). In the
        plane of ``curve_directions`` the curve at t is (t^2, 2t(1-t)) and the segment (t, 0); the losses are
        evaluated at the parameters the plane gives those coordinates, so the lines lie on the surface."""
        dirs, cds = self.connections[s.run]
        t = np.asarray(cds.t.values, dtype=np.float64)
        D = torch.as_tensor(dirs.vectors)
        origin = torch.as_tensor(dirs.origin).to(D.dtype)
        out = {}
        for name, (a, b) in (("curve", (t**2, 2 * t * (1 - t))), ("line", (t, np.zeros_like(t)))):
            ab = torch.as_tensor(np.stack([a, b], 1), dtype=D.dtype)
            with torch.no_grad():
                loss = evaluate(self.runs[s.run], origin + ab @ D, s.formulation)["loss"].double().numpy()
            out[name] = np.column_stack([a, b, loss, np.zeros_like(t), t])
        return out


Z_LABELS = {"strong": "strong-form loss", "deep_ritz": "Deep Ritz energy E"}


def z_label(ds: xr.Dataset) -> str:
    """The name of the plotted quantity (before any E* shift or log scale, which the front end adds)."""
    form = str(ds.attrs.get("formulation", ""))
    return Z_LABELS.get(form, f"{form} loss")


def panel_payload(
    ds: xr.Dataset, s: SliceSettings | None, table: np.ndarray | None, status: str = "done", label_run: bool = False
) -> dict:
    """What the front end draws for one panel (binary values are float32 bytes)."""
    two_d = "beta" in ds.dims
    run_part = f"{s.run}: " if (s is not None and label_run) else ""
    at = f", centred at checkpoint {s.checkpoint}" if (s is not None and s.checkpoint is not None) else ""
    title = (
        f"{run_part}{ds.attrs.get('problem', '')} / {ds.attrs.get('formulation', '')} loss, "
        f"{ds.attrs.get('direction_kind', '')} directions{at}"
    )
    values = ds.loss.values
    return {
        "key": [s.run, s.direction_kind, s.formulation, s.checkpoint] if s is not None else [],
        "status": status,
        "message": "",
        "title": title,
        "problem": str(ds.attrs.get("problem", "")),
        "formulation": str(ds.attrs.get("formulation", "")),
        "direction_kind": str(ds.attrs.get("direction_kind", "")),
        "z_label": z_label(ds),
        "energy_reference": ds.attrs.get("energy_reference"),
        "alpha_range": [float(ds.alpha.values[0]), float(ds.alpha.values[-1])],
        "beta_range": [float(ds.beta.values[0]), float(ds.beta.values[-1])] if two_d else [0.0, 0.0],
        "non_finite": int((~np.isfinite(values)).sum()),
        "compute_seconds": float(ds.attrs.get("compute_seconds", 0.0)),
        "trajectory": f32(table) if table is not None else b"",
        "error_grid": f32(ds.rel_l2_error.values),
        "grid_shape": list(ds.loss.shape),
        "grid": f32(values),
    }


def placeholder_payload(s: SliceSettings | None, status: str, message: str = "") -> dict:
    """A panel with no numbers yet (pending) or none to show (error, not precomputed)."""
    return {
        "key": [s.run, s.direction_kind, s.formulation, s.checkpoint] if s is not None else [],
        "status": status,
        "message": message,
        "grid_shape": [],
        "grid": b"",
    }
