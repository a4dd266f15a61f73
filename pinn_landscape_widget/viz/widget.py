"""LandscapeWidget: loss landscapes as interactive 3-D surfaces in any Jupyter front end.

The widget shows one or more panels side by side (``panels``); each is a landscape of one run under one
loss along one kind of directions, optionally centred at a recorded checkpoint. Controls that need new
numbers start a computation in a worker thread; a newer request supersedes an older one, which is abandoned
at its next chunk and never drawn. A coarse preview arrives first, then the requested resolution. The
training replay (``trajectory_step``) moves a marker along each run's recorded path while the solution
panel shows u_theta at that checkpoint; its solutions are computed once per run and carried in the state,
so saved pages replay with no kernel; so is the diagnostics view (``plw.diagnose`` of the first panel's run,
``_diagnostics``), whose cursor follows the replay. Everything else (z scale, colormap, contours, views, camera) happens
in the browser. Grids cross as float32 bytes, never as JSON lists, each panel's in a trait of its own
(``panel_0`` ... ``panel_5``, see ``_slots``), so a change sends only what changed.

It talks to the engine only through the public functions (the *_directions functions, landscape,
evaluate, solution_snapshot) and reads runs by duck typing (see ``_runs``).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import pathlib
import threading
import time
import uuid
import warnings
from concurrent.futures import Future, ThreadPoolExecutor

import anywidget
import torch
import traitlets
import xarray as xr

from .._checks import check_int, check_positive, renamed_arguments
from ..analysis.directions import NORMALIZATIONS
from ..analysis.landscape import MAX_RESOLUTION
from ._assets import WIDGET_ESM
from ._camera import check_camera
from ._cluster import TileStream, check_client
from ._diagnostics import diagnostics_payload
from ._hosts import in_marimo
from ._look import COLORMAPS, Z_SCALES
from ._panels import SliceSettings, default_panels, normalize_panels, slice_key
from ._preview import check_preview_points
from ._runs import checkpoint_count, formulations_of, labelled_runs, trajectory_steps_of
from ._slices import CURVE_KIND, DIRECTION_KINDS, SliceComputer, f32, panel_payload, placeholder_payload
from ._slots import SLOT_TRAITS, assign_slots
from ._solution import ReplayBuilder, point_solution
from .export import CHOICE_TRAITS, widget_to_html, widget_to_myst

_LOG = logging.getLogger(__name__)

VIEWS = ("surface", "heatmap")
PREVIEW_RESOLUTION = 11  # the preview's largest resolution (smaller when points are costly)
PREVIEW_BUDGET_S = 0.08  # the preview's compute time we aim for, from the last measured cost per point
PREVIEW_DRAW_WAIT_S = 0.3  # at most this long the full grids wait for the view to draw the previews
# Progress reaches the view at most this often. Every update repaints the page, and in a software-rendered
# browser (headless Chromium, remote desktops) that took a core from the kernel: at 0.1 s a 41 x 41 grid
# computed in 1.4 s instead of 1.1 s (benchmarks/bench_widget_latency.py --progress-interval 0.1).
PROGRESS_INTERVAL_S = 0.4
# the traits a constructor's **kwargs usually set (any trait may be)
_LOOK_TRAITS = (
    "title",
    "z_scale",
    "colormap",
    "view",
    "contours",
    "wireframe",
    "z_shared",
    "link_cameras",
    "camera",
    "show_controls",
)
SAVE_PNG_TIMEOUT_S = 30.0
# displaying a widget waits this long at most for its first grids, so that the PNG kept for viewers without
# widgets shows them; not at all once the grids are predicted to take longer (PINNacle-size runs: minutes)
PNG_WAIT_S = 60.0
PNG_WAIT_POLL_S = 0.25  # how often that wait looks at the prediction (it exists after the preview's probe)
_SLOT_HELP = (
    "dict (read-only): one panel's numbers (grids as float32 bytes, ranges, title, trajectory), drawn by the "
    "panels whose panel_status entry names this slot; {} when none does"
)


class _Superseded(Exception):
    """A newer request arrived; this computation is abandoned."""


def _choice(name: str, allowed_attr: str | None = None, allowed=None):
    """A trait validator: the value must be one of ``allowed`` or of the widget's attribute ``allowed_attr``."""

    def check(self, proposal):
        v = proposal["value"]
        ok = getattr(self, allowed_attr) if allowed_attr else allowed
        if allowed_attr == "run_labels" and not ok:
            return v
        if v not in ok:
            raise traitlets.TraitError(f"{name} must be one of {list(ok)}, got {v!r}")
        return v

    return traitlets.validate(name)(check)


def _sync(trait):
    return trait.tag(sync=True)


def _run_info(run) -> dict:
    """What the front end shows about a run: its losses, own loss, checkpoint steps, problem."""
    return {
        "formulations": formulations_of(run),
        "formulation": str(getattr(run, "formulation", "") or formulations_of(run)[0]),
        "steps": trajectory_steps_of(run),
        "problem": str(getattr(run.problem, "name", "")),
        "dim": int(getattr(run.problem, "dim", 0)),
    }


class LandscapeWidget(anywidget.AnyWidget):
    """An interactive loss landscape, in one or more panels side by side.

    ``LandscapeWidget(run)``; ``LandscapeWidget({"strong": run_s, "deep_ritz": run_r})`` (one panel per
    run); ``LandscapeWidget(runs, panels=[{"run": "strong", "direction_kind": "pca"}, ...])``; or
    ``LandscapeWidget(ds)`` for a precomputed Dataset (then it computes nothing). Python drives everything
    the controls do: ``w.panels``, ``w.seed``, ``w.zoom``, ``w.trajectory_step``, ``w.camera``,
    ``w.save_png(path)``, ``w.show_connection(plw.connect(a, b))`` (a panel with the connecting curve drawn
    on the surface); ``w.datasets`` are the landscapes drawn and ``w.panel_data`` what each panel
    draws (float32 grids as bytes, its status), which reaches the view one panel at a time: a change sends
    only what changed. Seed, normalization, resolution and zoom are shared by every panel, so panels compare
    on equal terms.

    Parameters
    ----------
    source : run, dict of str to run, or xarray.Dataset
        What to show. A run is any object with ``objective`` and ``params`` (``plw.train``,
        ``plw.from_model``, the adapters); a dict labels several runs (one panel each by default); a
        landscape Dataset (``plw.landscape``) is shown as it is, with nothing to compute.
    panels : list of dict or str, optional
        One entry per panel (1 to 6): ``{"run": label, "formulation": loss, "direction_kind": kind,
        "checkpoint": k}``, or a run label. A missing key takes its default: the first run, the run's own
        loss, ``direction_kind``, and ``checkpoint`` None (the trained parameters; k centres the plane at
        the k-th recorded checkpoint). Default None: one panel per run (see ``compare``).
    direction_kind : {"random", "pca", "hessian", "interpolation"}, default "random"
        The directions of the panels that do not name theirs: filter-normalised random directions, the
        PCA of the training path, the top Hessian eigenvectors, or the 1-D line from initialisation to
        the trained parameters.
    formulation : str, optional
        The first panel's loss, one of the first run's losses (``"strong"``, ``"deep_ritz"``, ...).
        Default None: the run's own loss.
    resolution : int, default 41
        Grid points per axis, in [3, 1025].
    zoom : float, default 1.0
        A factor on the directions' own default extent (what ``landscape(span=None)`` uses), the same for
        every direction kind: zoom z samples [-z, z] for random and Hessian directions (their default is
        1), z times the training path's extent for PCA, and (0.5 - z, 0.5 + z) for interpolation (its
        default is (-0.5, 1.5)). A finite number > 0. Replaces ``span=``, which still works for this
        release with a FutureWarning.
    seed : int, default 0
        The random directions' seed (an integer >= 0): the same seed gives the same picture everywhere.
    normalization : {"filter", "layer", "none"}, default "filter"
        How random directions are scaled against the weights: per neuron (filter), per layer, or not.
    compare : bool, optional
        Only when ``panels`` is None. Default None: one panel per labelled run (up to 6), one panel for a
        single run. True: a single run's two losses side by side. False: one panel only.
    compute : bool, default True
        Start computing the panels now (in a worker thread; ``wait()`` blocks until they are drawn).
        False: compute on the first change or ``request()``.
    preview_points : int, float, bool or None, optional
        The points of the coarse preview drawn before each full grid. Default None (automatic): every point
        while a 5 x 5 preview on all of them takes at most 0.5 s (the built-in problems); for a larger run
        (PINNacle-size networks on 16 k points) a random subset of each point set (``landscape(subsample=)``),
        as many points as about 1 s of compute buys at the measured cost per point (at least 512 in all),
        and a preview also before a grid of 21 x 21 or less that would take over 2 s. An integer >= 1 keeps
        at most that many points per point set, a fraction in (0, 1) that share; 0 or False: every point.
        The panel's badge and the status line say "preview on n of N points"; the preview's Dataset says it
        in ``attrs["preview_points"]`` (and ``subsample_points``). A DeepXDE run on the traced path is subsampled
        by rows of each of its point sets (``landscape(subsample=)``). A loss whose points cannot be
        subsampled (``from_model`` with a user's loss, the PINA adapter, a DeepXDE run on the per-point path
        or with a PointSetBC or PeriodicBC) keeps full previews and says so;
        for a large one that preview is the coarsest grid that fits about 1.5 s, down to 3 x 3.
        The full grid is always on every point. ``preview_subsample=`` (None meaning every point) still
        works for this release with a FutureWarning.
    diagnostics : bool or None, default False
        The diagnostics view below the replay: ``plw.diagnose`` of the first panel's run at up to 24 of its
        checkpoints (evenly spaced, first and last kept), drawn as small log-scale plots per loss term (loss,
        gradient norm, gradient imbalance, top Hessian eigenvalue, NTK trace and condition number) whose
        cursor follows the replay, with ``diagnose``'s summary; computed after the grids and the replay and
        carried in saved pages (trait ``diagnostics_data``). Off by default: it takes seconds of the worker
        thread that new slices would wait behind. None: on when the run recorded at least 2
        checkpoints and the series costs at most 6 s, measured on one checkpoint: first with the Hessian
        and, for networks of at most 1000 parameters, the NTK; then without the NTK; then gradients only;
        off (saying why) when even that is dearer. True: always, with the Hessian (and the NTK for
        networks of at most 1000 parameters). False (the default): off.
    client : distributed.Client, optional
        Compute every grid on a dask.distributed cluster (the ``distributed`` extra): each grid is cut into
        tiles (about 4 per worker) that the workers evaluate, and each tile is drawn as it lands (the cells
        still on the cluster as gaps; the panel says how many points are pending). A newer request cancels
        the tiles still queued for the old one; the kernel's main thread never waits on the cluster. If the
        client goes away mid-grid, that panel shows an error and its last picture; set ``w.client`` to a
        running client (or None: compute here) to go on. For a loss of your own (``plw.from_model``), whose
        Python code holds the GIL, the default to use is a local cluster of one single-threaded worker process
        per core, which keeps every core busy and the kernel's process free:
        ``distributed.Client(distributed.LocalCluster(n_workers=os.cpu_count(), threads_per_worker=1,
        processes=True))``. With a client, previews are on every point and say so (``preview_points``
        is not applied: the workers rebuild the full loss). Default None: compute in this process.
    **kwargs
        Initial values of the widget's other traits: ``title`` (str), ``z_scale`` ("log" or "linear"),
        ``colormap`` ("viridis", "cividis", "magma", "coolwarm" or "gray"), ``view`` ("surface" or
        "heatmap"), ``contours``, ``wireframe``, ``z_shared``, ``link_cameras``, ``show_controls``
        (bools), ``camera`` (``{"position": [x, y, z], "target": [x, y, z]}`` in scene units, alpha and
        beta over [-1, 1]; ``{}`` fits the view to the panel), and ipywidgets' own (``layout``, ...).

    Raises
    ------
    ValueError
        If ``source`` is not a run, a dict of runs or a Dataset, ``formulation`` is not one of the first
        run's losses, ``preview_points`` is out of range, ``diagnostics`` is not None, True or False, or
        ``client`` is closed or asynchronous.
    traitlets.TraitError
        If a setting (``panels``, ``direction_kind``, ``resolution``, ``zoom``, ``seed``,
        ``normalization`` or a trait in ``kwargs``) has a value that is not allowed; the message names
        it, the value and what is allowed. Setting a trait later raises the same error and leaves the
        widget as it was.
    TypeError
        If ``kwargs`` names something that is not a trait of the widget, ``span=`` is passed together
        with ``zoom=``, or ``client`` is not a ``distributed.Client``.
    """

    _esm = WIDGET_ESM

    # ---- what is drawn ------------------------------------------------------------------------------------
    panels = _sync(
        traitlets.List(
            traitlets.Any(),
            [],
            help="list of dict: one per panel, {'run': label, 'formulation': loss, 'direction_kind': kind, "
            "'checkpoint': None or k}; a missing key takes its default (first run, the run's own loss, the "
            "current direction kind, the trained parameters). 1 to 6 panels.",
        )
    )
    panel_data = traitlets.List(
        traitlets.Dict(),
        [],
        help="list of dict (read-only, Python only): what each panel draws, grids as float32 bytes, with its "
        "status ('computing', 'preview', 'done' or 'error') and message. The view receives the same as "
        "panel_status and the panel_<k> traits, so that a change sends only what changed.",
    )
    panel_status = _sync(
        traitlets.List(
            traitlets.Dict(),
            [],
            help="list of dict (read-only): one per panel, {'slot': k, 'status': s, 'message': m}: the panel "
            "draws the numbers in trait panel_<k>; s is 'computing', 'preview', 'done' or 'error'. A status "
            "change sends this list only.",
        )
    )
    # each panel's numbers in a trait of its own (see _slots): a new grid sends that panel's bytes only
    panel_0 = _sync(traitlets.Dict({}, help=_SLOT_HELP))
    panel_1 = _sync(traitlets.Dict({}, help=_SLOT_HELP))
    panel_2 = _sync(traitlets.Dict({}, help=_SLOT_HELP))
    panel_3 = _sync(traitlets.Dict({}, help=_SLOT_HELP))
    panel_4 = _sync(traitlets.Dict({}, help=_SLOT_HELP))
    panel_5 = _sync(traitlets.Dict({}, help=_SLOT_HELP))
    title = _sync(traitlets.Unicode("", help="str: a title above the panels, also in saved PNGs; default none"))

    # ---- the runs -----------------------------------------------------------------------------------------
    run_labels = _sync(traitlets.List(traitlets.Unicode(), [], help="list of str (read-only): the runs' labels"))
    runs_info = _sync(
        traitlets.Dict({}, help="dict (read-only): per run label its losses, own loss, checkpoint steps, problem")
    )
    direction_kinds = _sync(traitlets.List(traitlets.Unicode(), list(DIRECTION_KINDS), help="list of str (read-only)"))
    run_label = _sync(traitlets.Unicode("", help="str: the first panel's run (same as panels[0]['run'])"))
    formulations = _sync(
        traitlets.List(traitlets.Unicode(), ["strong"], help="list of str (read-only): the first panel's run's losses")
    )
    formulation = _sync(traitlets.Unicode("strong", help="str: the first panel's loss (panels[0]['formulation'])"))
    direction_kind = _sync(
        traitlets.Unicode("random", help="str: the first panel's directions: random, pca, hessian or interpolation")
    )

    # ---- settings shared by every panel (they need the kernel) --------------------------------------------
    normalization = _sync(traitlets.Unicode("filter", help="str: random directions' normalization; default filter"))
    seed = _sync(traitlets.Int(0, help="int >= 0: the random directions' seed; default 0"))
    resolution = _sync(traitlets.Int(41, help="int in [3, 1025]: grid points per axis; default 41"))
    zoom = _sync(
        traitlets.Float(
            1.0,
            help="float > 0: a factor on the directions' own default extent (landscape's span=None), the same "
            "for every kind: zoom z is [-z, z] for random and Hessian directions, z times the trajectory's "
            "extent for PCA, (0.5 - z, 0.5 + z) for interpolation; default 1",
        )
    )

    # ---- look (browser only) ------------------------------------------------------------------------------
    z_scale = _sync(traitlets.Unicode("log", help="str: 'log' (default) or 'linear' height and colour scale"))
    colormap = _sync(traitlets.Unicode("viridis", help=f"str: one of {list(COLORMAPS)}; default viridis"))
    view = _sync(traitlets.Unicode("surface", help="str: 'surface' (3-D, default) or 'heatmap' (2-D, smooth)"))
    contours = _sync(traitlets.Bool(True, help="bool: contour lines on the surface and heatmap; default True"))
    wireframe = _sync(traitlets.Bool(False, help="bool: draw the surface as a wireframe; default False"))
    z_shared = _sync(traitlets.Bool(False, help="bool: one colour and height scale over all panels; default False"))
    link_cameras = _sync(traitlets.Bool(True, help="bool: turning one panel turns all; default True"))
    camera = _sync(
        traitlets.Dict(
            {},
            help="dict: the 3-D camera, {'position': [x, y, z], 'target': [x, y, z]} in scene units (alpha and "
            "beta over [-1, 1], loss height over [0, 1.1], z up); {} = the default view fitted to the panel. "
            "Saved with the notebook, so pages open where the author left the view.",
        )
    )
    show_controls = _sync(traitlets.Bool(True, help="bool: show the side panel of controls; default True"))

    # ---- training replay ----------------------------------------------------------------------------------
    trajectory_step = _sync(
        traitlets.Int(
            0, help="int: the replayed checkpoint of the first panel's run (0 = initialisation); default the last"
        )
    )
    replay = _sync(traitlets.Dict({}, help="dict (read-only): per run its checkpoints' solutions and loss history"))
    replay_reason = _sync(traitlets.Unicode("", help="str (read-only): why the replay is off; '' when it is on"))
    diagnostics_data = _sync(
        traitlets.Dict(
            {},
            help="dict (read-only): the diagnostics view of the first panel's run: 'steps', 'terms', 'series' "
            "(float32 bytes [step, term] per quantity of plw.diagnose), 'titles', 'summary', 'settings'; or "
            "'reason' why there is none; {} while computing",
        )
    )

    # ---- inspection ---------------------------------------------------------------------------------------
    selected_point = _sync(
        traitlets.List(traitlets.Float(), [], help="[alpha, beta, panel]: a point whose solution is shown")
    )
    solution = _sync(traitlets.Dict({}, help="dict (read-only): u_theta, exact solution and error at selected_point"))

    # ---- status -------------------------------------------------------------------------------------------
    status = _sync(traitlets.Unicode("idle", help="str (read-only): idle, computing, preview, done or error"))
    status_text = _sync(traitlets.Unicode("", help="str (read-only)"))
    progress = _sync(traitlets.Float(0.0, help="float in [0, 1] (read-only)"))
    error = _sync(traitlets.Unicode("", help="str (read-only): the last error, '' when none"))
    interactive = _sync(traitlets.Bool(True, help="bool: False when made from a Dataset (nothing to compute)"))
    static_choices = _sync(traitlets.List(traitlets.Unicode(), [], help="list of str: choices precomputed"))
    static_slices = _sync(
        traitlets.Dict({}, help="dict: precomputed panels for pages without a kernel (see precompute())")
    )

    @renamed_arguments(span="zoom", preview_subsample=("preview_points", lambda v: 0 if v is None or v == 1.0 else v))
    def __init__(
        self,
        source,
        *,
        panels: list | None = None,
        direction_kind: str = "random",
        formulation: str | None = None,
        resolution: int = 41,
        zoom: float = 1.0,
        seed: int = 0,
        normalization: str = "filter",
        compare: bool | None = None,
        compute: bool = True,
        preview_points: int | float | None = None,
        diagnostics: bool | None = False,
        client=None,
        **kwargs,
    ):
        self._runs: dict = {}
        self._lock = threading.RLock()
        self._latest = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plw-landscape")
        self._payloads: dict[SliceSettings, dict] = {}
        self._held: list[dict | None] = [None] * len(SLOT_TRAITS)  # the payload each panel_<k> trait holds
        self._static_ds: xr.Dataset | None = None
        self._syncing = False  # panels[0] and its alias traits are being made to agree
        self._png_requests: dict[str, tuple[Future, pathlib.Path]] = {}
        self.last_future: Future | None = None
        self._background: Future | None = None  # training that will replace runs (plw.explore)
        self._has_view = False  # a view answered our liveness check: it will report when it has drawn
        # the view reports the highest preview serial it has drawn; the full grids wait for the previews'
        self._drawn = threading.Condition()
        self._drawn_serial = 0
        self._preview_serial = 0
        self._ready = False  # no computation while the constructor sets the controls
        if diagnostics is not None and not isinstance(diagnostics, bool):
            raise ValueError(f"diagnostics must be None (automatic), True or False, got {diagnostics!r}")
        self._diagnostics_mode = diagnostics
        unknown = [k for k in kwargs if not self.has_trait(k)]
        if unknown:
            raise TypeError(
                f"LandscapeWidget() got unknown keyword argument(s) {unknown}; besides its own arguments it "
                f"takes the widget's traits, e.g. {list(_LOOK_TRAITS)}"
            )
        super().__init__(**kwargs)
        self.on_msg(self._on_front_end_message)
        preview_points = check_preview_points(preview_points)
        client = check_client(client)
        if isinstance(source, xr.Dataset):
            self._init_dataset(source)
            return
        self._runs = labelled_runs(source)
        self._computer = SliceComputer(self._runs)
        self._computer.preview_points = preview_points
        self._computer.client = client
        self._replays = ReplayBuilder(self._runs)
        with self.hold_trait_notifications():
            self.run_labels = list(self._runs)
            self.runs_info = {label: _run_info(run) for label, run in self._runs.items()}
            self.direction_kind = direction_kind
            self.resolution = resolution
            self.zoom = zoom
            self.seed = seed
            self.normalization = normalization
        if formulation is not None:
            first = self._runs[self.run_labels[0]]
            if formulation not in formulations_of(first):
                raise ValueError(f"formulation must be one of {formulations_of(first)}, got {formulation!r}")
        self.panels = default_panels(self._runs, formulation, direction_kind, compare) if panels is None else panels
        self._ready = True
        if compute:
            self.request()

    def _init_dataset(self, ds: xr.Dataset):
        self.interactive = False
        self._static_ds = ds
        kind = str(ds.attrs.get("direction_kind", ""))
        form = str(ds.attrs.get("formulation", ""))
        self.panels = [{"run": "", "formulation": form, "direction_kind": kind, "checkpoint": None}]
        table = None
        if "trajectory_alpha" in ds:  # the checkpoints' plane coordinates; their losses need the run
            import numpy as np

            n = ds.trajectory_alpha.size
            beta = ds.trajectory_beta.values if "trajectory_beta" in ds else np.zeros(n)
            table = np.column_stack(
                [ds.trajectory_alpha.values, beta, np.full(n, np.nan), ds.trajectory_offplane.values, ds.step.values]
            )
        payload = panel_payload(ds, SliceSettings("", kind, form, "", 0, 0, 0.0), table)
        payload["key"] = []
        n_bad = payload["non_finite"]
        with self.hold_sync():
            self._show([payload], [("done", "")])
            self.replay_reason = "no replay: a widget made from a Dataset has no run to replay"
            self.status = "done"
            self.status_text = f"{payload['title']}" + (f"; {n_bad} non-finite point(s)" if n_bad else "")

    # ---- validation: a bad value from Python is a TraitError and leaves the widget as it was ------------
    @traitlets.validate("resolution")
    def _v_resolution(self, proposal):
        v = proposal["value"]
        if not 3 <= v <= MAX_RESOLUTION:
            raise traitlets.TraitError(f"resolution must be an integer in [3, {MAX_RESOLUTION}], got {v}")
        return v

    @traitlets.validate("zoom")
    def _v_zoom(self, proposal):
        v = proposal["value"]
        if not (math.isfinite(v) and v > 0):
            raise traitlets.TraitError(
                f"zoom must be a finite number > 0 (a factor on the directions' default extent), got {v}"
            )
        return v

    @property
    def client(self):
        """The dask ``distributed.Client`` the grids are computed on, or None (this process). Setting it
        (a running client, or None) recomputes the panels that are not drawn yet."""
        return self._computer.client if self._runs else None

    @client.setter
    def client(self, value):
        value = check_client(value)
        if not self._runs:
            raise ValueError("a widget made from a Dataset computes nothing, so it takes no client")
        self._computer.client = value
        self.request()

    @property
    def span(self) -> float:
        """Deprecated: the old name of ``zoom`` (a FutureWarning; removed in the next release)."""
        warnings.warn(
            "LandscapeWidget.span is deprecated and will be removed in the next release; use zoom instead",
            FutureWarning,
            stacklevel=2,
        )
        return self.zoom

    @span.setter
    def span(self, value: float):
        warnings.warn(
            "LandscapeWidget.span is deprecated and will be removed in the next release; use zoom instead",
            FutureWarning,
            stacklevel=2,
        )
        self.zoom = value

    @traitlets.validate("seed")
    def _v_seed(self, proposal):
        if proposal["value"] < 0:
            raise traitlets.TraitError(f"seed must be an integer >= 0, got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("panels")
    def _v_panels(self, proposal):
        if not self._runs:  # a Dataset's one panel
            return proposal["value"]
        return normalize_panels(proposal["value"], self._runs, self.direction_kinds, self.direction_kind)

    @traitlets.validate("camera")
    def _v_camera(self, proposal):
        return check_camera(proposal["value"])

    @traitlets.validate("trajectory_step")
    def _v_step(self, proposal):
        v = proposal["value"]
        n = self._replay_length()
        if not 0 <= v <= max(0, n - 1):
            label = self.panels[0]["run"] if self.panels else ""
            raise traitlets.TraitError(
                f"trajectory_step must be an integer in [0, {max(0, n - 1)}] "
                f"(the recorded checkpoints of run {label!r}), got {v}"
            )
        return v

    _v_kind = _choice("direction_kind", "direction_kinds")
    _v_form = _choice("formulation", "formulations")
    _v_norm = _choice("normalization", allowed=NORMALIZATIONS)
    _v_scale = _choice("z_scale", allowed=Z_SCALES)
    _v_cmap = _choice("colormap", allowed=COLORMAPS)
    _v_view = _choice("view", allowed=VIEWS)
    _v_run = _choice("run_label", "run_labels")

    def set_state(self, sync_data):
        """A value from the front end that fails validation is shown as an error and the view is put back
        to what Python holds; the widget keeps working."""
        if "span" in sync_data:  # a view or saved state from before the rename (span is zoom's old name)
            sync_data = {k: v for k, v in sync_data.items() if k != "span"} | (
                {} if "zoom" in sync_data else {"zoom": sync_data["span"]}
            )
        try:
            super().set_state(sync_data)
        except traitlets.TraitError as exc:
            self.error = f"TraitError: {exc}"
            self.send_state([k for k in sync_data if k in self.keys])

    # ---- panels and their alias traits ----------------------------------------------------------------
    def _replay_length(self) -> int:
        if not self._runs or not self.panels:
            return 0
        return checkpoint_count(self._runs[self.panels[0]["run"]])

    @traitlets.observe("panels")
    def _on_panels(self, change):
        if not self._runs:
            return
        old_run = change["old"][0]["run"] if change["old"] else None
        first = self.panels[0]
        self._syncing = True
        try:
            with self.hold_trait_notifications():
                self.run_label = first["run"]
                self.formulations = formulations_of(self._runs[first["run"]])
                self.formulation = first["formulation"]
                self.direction_kind = first["direction_kind"]
        finally:
            self._syncing = False
        if first["run"] != old_run:
            self.trajectory_step = max(0, self._replay_length() - 1)
            self.replay_reason = self._replays.reason(first["run"])
        self._refresh_panel_data()
        if self._ready and self.interactive:
            self.request()

    @traitlets.observe("run_label", "formulation", "direction_kind")
    def _on_alias(self, change):
        if self._syncing or not self._runs or not self.panels:
            return
        first = dict(self.panels[0])
        if change["name"] == "run_label":
            first["run"] = change["new"]
            if first["formulation"] not in formulations_of(self._runs[change["new"]]):
                first["formulation"] = None  # the new run's own loss
            first["checkpoint"] = None
        else:
            first[change["name"]] = change["new"]
        self.panels = [first, *self.panels[1:]]

    @traitlets.observe("normalization", "seed", "resolution", "zoom")
    def _on_setting(self, change):
        if self._ready and self._runs and self.interactive:
            self._refresh_panel_data()
            self.request()

    def panel_settings(self) -> list[SliceSettings]:
        """What fixes each panel's numbers, in panel order."""
        return [
            SliceSettings(
                p["run"],
                p["direction_kind"],
                p["formulation"],
                self.normalization,
                int(self.seed),
                int(self.resolution),
                float(self.zoom),
                p.get("checkpoint"),
            )
            for p in self.panels
        ]

    @property
    def datasets(self) -> list[xr.Dataset | None]:
        """The landscape Dataset each panel draws (None while a panel has none at its current settings)."""
        if self._static_ds is not None:
            return [self._static_ds]
        return [self._computer.grids.get(s) for s in self.panel_settings()]

    def _show(self, shown: list[dict], statuses: list[tuple[str, str]]):
        """Draw ``shown[i]`` with ``statuses[i]`` (status, message) in panel i.

        Each distinct payload goes to a ``panel_<k>`` trait (``assign_slots``): one that a trait already
        holds is not sent again, so the view receives the new payloads' bytes and the small ``panel_status``
        list only. Traits no panel uses are emptied, so saved state carries no stale grids. Call it inside
        ``hold_sync`` to send it in one message with other changes.
        """
        with self._lock, self.hold_sync():
            slots = assign_slots(shown, self._held)
            placed: list[dict | None] = [None] * len(SLOT_TRAITS)
            for p, k in zip(shown, slots):
                placed[k] = p
            for k, name in enumerate(SLOT_TRAITS):
                if placed[k] is not self._held[k]:
                    setattr(self, name, placed[k] if placed[k] is not None else {})
            self._held = placed
            self.panel_status = [{"slot": k, "status": st, "message": msg} for k, (st, msg) in zip(slots, statuses)]
            self.panel_data = [{**p, "status": st, "message": msg} for p, (st, msg) in zip(shown, statuses)]

    def _shown(self) -> tuple[list[dict], list[tuple[str, str]]]:
        """What each panel draws now and its (status, message), as ``_show`` last set them."""
        shown = [self._held[e["slot"]] or {} for e in self.panel_status]
        return shown, [(e["status"], e["message"]) for e in self.panel_status]

    def _refresh_panel_data(self):
        """One payload per panel: the computed one when cached, else the panel's last picture marked as
        computing (the last good picture stays until the new one is drawn)."""
        with self._lock:
            old, _ = self._shown()
            new, statuses = [], []
            for i, s in enumerate(self.panel_settings()):
                if s in self._payloads:
                    new.append(self._payloads[s])
                    statuses.append((self._payloads[s]["status"], ""))
                elif i < len(old) and old[i].get("grid_shape"):
                    new.append(old[i])
                    statuses.append(("computing", ""))
                else:
                    new.append(placeholder_payload(s, "computing"))
                    statuses.append(("computing", ""))
            with self.hold_sync():  # one message: the view never sees new panels with an old "done"
                if any(st == "computing" for st, _ in statuses) and self.interactive and self._ready:
                    self.status = "computing"
                self._show(new, statuses)

    def _publish(self, s: SliceSettings, payload: dict):
        """Draw ``payload`` in every panel whose settings are ``s`` (panels may have changed meanwhile)."""
        with self._lock:
            shown, statuses = self._shown()
            for i, si in enumerate(self.panel_settings()):
                if si == s and i < len(shown):
                    shown[i] = payload
                    statuses[i] = (payload["status"], "")
            self._show(shown, statuses)

    def _on_front_end_message(self, _widget, content, buffers):
        # The view pings on render; a live kernel answers. Saved state (no kernel) never does, and the
        # view then disables what would need new numbers (and switches precomputed slices itself).
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            self._has_view = True
            self.send({"type": "pong"})
        elif kind == "drawn":
            serials = [v for v in content.get("serials") or [] if isinstance(v, int)]
            with self._drawn:
                self._drawn_serial = max([self._drawn_serial, *serials])
                self._drawn.notify_all()
        elif kind == "png":
            self._receive_png(content, buffers)
        elif kind == "png_error":  # the browser could not draw it: matplotlib does
            entry = self._png_requests.pop(str(content.get("id")), None)
            if entry is not None:
                self._save_png_matplotlib(entry[1], entry[0])

    # ---- computation ----------------------------------------------------------------------------------
    def request(self):
        """Start (or restart) the computation of every panel; returns a Future."""
        with self._lock:
            self._latest += 1
            rid = self._latest
        self.last_future = self._executor.submit(self._job, rid, self.panel_settings())
        return self.last_future

    def replace_run(self, label: str, run) -> Future:
        """Show ``run`` in place of the run labelled ``label`` and recompute the panels; returns a Future.

        For a run that grows (``plw.explore`` trains in the background and swaps its runs in as they
        finish); what was computed for the old run is dropped.

        Parameters
        ----------
        label : str
            One of ``run_labels``.
        run : run
            The new run (``plw.train``, ``plw.from_model``, an adapter): it must offer the losses that the
            panels showing ``label`` use.

        Returns
        -------
        concurrent.futures.Future
            The computation of the panels (as ``request()``).

        Raises
        ------
        ValueError
            If ``label`` is not one of ``run_labels``, ``run`` is not a run, or it lacks a loss a panel shows.
        """
        if label not in self._runs:
            raise ValueError(f"label must be one of the widget's runs {list(self._runs)}, got {label!r}")
        new = labelled_runs({label: run})[label]
        forms = formulations_of(new)
        missing = sorted({p["formulation"] for p in self.panels if p["run"] == label} - set(forms))
        if missing:
            raise ValueError(f"run must offer the losses its panels show ({missing}); it offers {forms}")
        with self._lock:
            self._latest += 1  # a computation of the old run under way is stale now
            self._runs[label] = new
            self._computer.forget(label)
            self._replays.forget(label)
            for s in [s for s in self._payloads if s.run == label]:
                del self._payloads[s]
            self.replay = {k: v for k, v in self.replay.items() if k != label}
            if self.diagnostics_data.get("run") == label:
                self.diagnostics_data = {}
            self.runs_info = {**self.runs_info, label: _run_info(new)}
        return self.request()

    def _stale(self, rid: int) -> bool:
        return rid != self._latest

    def _job(self, rid: int, specs: list[SliceSettings]):
        if self._stale(rid):
            return None
        t0 = time.perf_counter()
        todo = [s for s in dict.fromkeys(specs) if s not in self._payloads]
        errors: dict[SliceSettings, str] = {}
        last = None  # the last full grid is drawn with the final status, in one message
        try:
            if todo:
                self._previews(rid, todo, errors)
                for k, s in enumerate(todo):
                    if s in errors:
                        continue
                    stream = self._tile_stream(rid, s)
                    try:
                        self._set_status("computing", s, k, len(todo), preview=False)
                        ds = self._computer.compute(s, self._progress_hook(rid, k, len(todo)), stream)
                        table = self._computer.trajectory_table(s, ds)
                        payload = self._with_connection(
                            panel_payload(ds, s, table, "done", label_run=len(self._runs) > 1), s
                        )
                        self._payloads[s] = payload
                        if k == len(todo) - 1:
                            last = (s, payload)
                        elif not self._stale(rid):
                            self._publish(s, payload)
                    except _Superseded:
                        raise
                    except Exception as exc:  # shown in the widget, which stays usable
                        errors[s] = f"{type(exc).__name__}: {exc}"
                        if stream is not None:
                            stream.restore()  # not a half-drawn grid: the panel's last picture
            if self._stale(rid):
                return None
            self._finish(specs, errors, time.perf_counter() - t0, cached=not todo, last=last)
            try:
                self._build_replays(rid, [s.run for s in specs])
            except Exception as exc:  # noqa: BLE001 - the grids are drawn; only the replay is missing
                _LOG.warning("the training replay was not built (%s: %s)", type(exc).__name__, exc)
                self.replay_reason = f"no replay: computing it failed ({type(exc).__name__}: {exc})"
            if not self._stale(rid):
                self._build_diagnostics(specs[0].run)
            return self.datasets[0] if not errors else None
        except _Superseded:
            return None

    def _tile_stream(self, rid: int, s: SliceSettings) -> TileStream | None:
        """With a client, what draws the grid for ``s`` as its tiles land (see ``_cluster``)."""
        if self._computer.client is None:
            return None
        shown, _ = self._shown()
        before = next((p for p, si in zip(shown, self.panel_settings()) if si == s and p.get("grid_shape")), None)

        def check():
            if self._stale(rid):
                raise _Superseded()

        def payload(ds):
            return panel_payload(ds, s, None, "computing", label_run=len(self._runs) > 1)

        return TileStream(lambda p: self._publish(s, p), payload, before, check)

    def _previews(self, rid, todo, errors):
        """Coarse grids for every panel to compute, drawn before any full grid takes the CPU."""
        shown = False
        self._preview_serial += 1
        serial = self._preview_serial
        for k, s in enumerate(todo):
            try:
                plan = self._computer.preview_plan(s, PREVIEW_RESOLUTION, PREVIEW_BUDGET_S)
                if plan is None:
                    continue
                pres = plan.resolution
                self._set_status("computing", s, k, len(todo), preview=True, res=pres)
                ds = self._computer.compute_preview(s, plan, self._progress_hook(rid, 0, 1, quiet=True))
            except _Superseded:
                raise
            except Exception as exc:
                errors[s] = f"{type(exc).__name__}: {exc}"
                continue
            if self._stale(rid):
                raise _Superseded()
            with self.hold_sync():
                payload = panel_payload(ds, s, None, "preview", label_run=len(self._runs) > 1)
                self._publish(s, {**payload, "serial": serial, "points_note": plan.note})
                self.status = "preview"
                on = f" {plan.note}" if plan.note else ""
                self.status_text = (
                    f"{self._title(s)}; preview {pres} x {pres}{on} in {ds.attrs['compute_seconds']:.2f} s"
                )
            shown = True
        if shown and self._has_view:  # let the browser draw them before the full grids take the CPU
            with self._drawn:
                self._drawn.wait_for(lambda: self._drawn_serial >= serial, PREVIEW_DRAW_WAIT_S)

    def _title(self, s: SliceSettings) -> str:
        prob = getattr(self._runs[s.run].problem, "name", "")
        return (
            f"{s.run + ': ' if len(self._runs) > 1 else ''}{prob} / {s.formulation} loss, {s.direction_kind} directions"
        )

    def _set_status(self, status, s, k, n, preview, res=None):
        res = res or s.resolution
        size = f"{res} points" if s.direction_kind == "interpolation" else f"{res} x {res}"
        which = f" (panel {k + 1} of {n})" if n > 1 else ""
        with self.hold_sync():
            self.error = ""
            self.status = status
            if not preview:
                self.progress = k / n
            self.status_text = f"computing {'preview ' if preview else ''}{size}{which} ..."

    def _progress_hook(self, rid, k, n, quiet=False):
        last = [time.perf_counter()]

        def on_chunk(done, total):
            if self._stale(rid):
                raise _Superseded()
            now = time.perf_counter()
            if not quiet and (now - last[0] > PROGRESS_INTERVAL_S or done == total):
                last[0] = now
                self.progress = (k + done / total) / n

        return on_chunk

    def _finish(self, specs, errors, seconds, cached=False, last=None):
        """Draw the last full grid and mark failed panels, with the final status, in one message."""
        with self._lock, self.hold_sync():
            shown, statuses = self._shown()
            for i, s in enumerate(self.panel_settings()):
                if i >= len(shown):
                    continue
                if last is not None and s == last[0]:
                    shown[i] = last[1]
                    statuses[i] = (last[1]["status"], "")
                if s in errors:
                    statuses[i] = ("error", errors[s])
            self._show(shown, statuses)
            n_bad = sum(p.get("non_finite", 0) for p in shown)
            if errors:
                (s, msg), *_ = errors.items()
                where = f"panel {specs.index(s) + 1}: " if len(specs) > 1 else ""
                self.error = where + msg
                self.status = "error"
                self.status_text = "the last request failed; change a setting to try again"
                self.progress = 0.0
                return
            more = f" (+{len(specs) - 1} more panel{'s' if len(specs) > 2 else ''})" if len(specs) > 1 else ""
            self.error = ""
            self.status = "done"
            self.progress = 1.0
            how = " (from the cache)" if cached else ""
            self.status_text = f"{self._title(specs[0])}{more}; done in {seconds:.2f} s{how}" + (
                f"; {n_bad} non-finite point(s)" if n_bad else ""
            )

    def _build_replays(self, rid, labels, wait=False):
        """Each shown run's replay (solutions at its checkpoints), once per run, after the grids."""
        for label in dict.fromkeys(labels):
            if label in self.replay:
                continue
            payload = self._replays.build(label, (lambda: False) if wait else (lambda: self._stale(rid)))
            if not payload:
                return  # interrupted by a newer request, which picks it up again
            with self._lock:
                self.replay = {**self.replay, label: payload}

    def _build_diagnostics(self, label: str):
        """The diagnostics view of run ``label`` (``plw.diagnose``), once per run, after the replay."""
        if self.diagnostics_data.get("run") == label:
            return
        try:
            payload = diagnostics_payload(self._runs[label], label, self._diagnostics_mode)
        except Exception as exc:  # noqa: BLE001 - the view says why; the landscape is unaffected
            _LOG.warning("the diagnostics were not computed (%s: %s)", type(exc).__name__, exc)
            payload = {"run": label, "reason": f"no diagnostics: computing them failed ({type(exc).__name__}: {exc})"}
        with self._lock:
            self.diagnostics_data = payload

    def _cached(self, s: SliceSettings) -> dict:
        """The payload for ``s``, computed now if need be (for precompute, not for the live view)."""
        if s not in self._payloads:
            ds = self._computer.compute(s)
            table = self._computer.trajectory_table(s, ds)
            self._payloads[s] = self._with_connection(
                panel_payload(ds, s, table, "done", label_run=len(self._runs) > 1), s
            )
        return self._payloads[s]

    def _with_connection(self, payload: dict, s: SliceSettings) -> dict:
        """A ``curve`` panel's payload with its connection: the Bezier curve and the straight segment as
        tables like the trajectory's (float32 bytes), and the barrier heights in the caption."""
        if s.direction_kind != CURVE_KIND:
            return payload
        tables = self._computer.connection_tables(s)
        cds = self._computer.connections[s.run][1]
        other = cds.attrs.get("plw_run_b", "the other run")
        caption = (  # short: it is a note over the panel's foot (the title names the loss)
            f"{s.run} to {other}: magenta curve, barrier {cds.attrs['barrier_curve']:.3g}; white segment, "
            f"{cds.attrs['barrier_line']:.3g}"
        )
        return {
            **payload,
            "title": f"{payload['title']}; barrier curve {cds.attrs['barrier_curve']:.3g}, "
            f"segment {cds.attrs['barrier_line']:.3g}",
            "connection": {"curve": f32(tables["curve"]), "line": f32(tables["line"]), "caption": caption},
        }

    def show_connection(self, connect_ds: xr.Dataset, *, panel: int | None = None) -> Future:
        """Draw the connection of two of the widget's runs (``plw.connect``) on a landscape: a panel whose
        plane holds both minima and the trained Bezier curve (``plw.curve_directions``), with the curve and
        the straight segment drawn on the surface and the barrier heights in the caption.

        A method rather than a constructor argument: the curve is trained by ``plw.connect`` (seconds to
        minutes), which the widget does not redo; the Dataset it returns is what is drawn, so one trained
        connection serves a notebook, a saved page and a NetCDF file alike. The panel is
        ``{"run": a, "direction_kind": "curve"}`` (a the run at ``endpoint_a``); it draws run a's loss
        over the plane with origin w1 = (0, 0), w2 = (1, 0) and the control point at (0, 1) (axes neither
        orthogonal nor of equal length: see ``curve_directions``), the curve at (t^2, 2t(1-t)) and the
        segment at (t, 0), each point at its loss under the panel's formulation.

        Parameters
        ----------
        connect_ds : xarray.Dataset
            What ``plw.connect(run_a, run_b)`` returned, for two of the widget's runs (matched by their
            parameters).
        panel : int or None
            The panel to show it in (0-based, replacing that panel's settings); default None: a new panel
            after the others (the last one is replaced when there are already 6).

        Returns
        -------
        concurrent.futures.Future
            The computation of the panels (as ``request()``).

        Raises
        ------
        ValueError
            If ``connect_ds`` is not a ``plw.connect`` result, its endpoints are not two of the widget's
            runs, or ``panel`` is out of range.
        """
        from ..analysis.connectivity import curve_directions

        if not self._runs:
            raise ValueError("show_connection needs the widget's runs; a widget made from a Dataset has none")
        need = ("endpoint_a", "endpoint_b", "control_point", "loss_curve")
        if not isinstance(connect_ds, xr.Dataset) or any(k not in connect_ds for k in need):
            raise ValueError(
                f"connect_ds must be the Dataset returned by plw.connect(run_a, run_b) (with {list(need)}), "
                f"got {type(connect_ds).__name__}"
            )

        def match(name: str) -> str | None:
            w = torch.as_tensor(connect_ds[name].values, dtype=torch.float64)
            for label, run in self._runs.items():
                p = torch.as_tensor(run.params).detach().to(torch.float64).flatten().cpu()
                if p.shape == w.shape and torch.allclose(p, w, rtol=1e-6, atol=1e-7):
                    return label
            return None

        a, b = match("endpoint_a"), match("endpoint_b")
        if a is None or b is None:
            which = " and ".join(n for n, m in (("endpoint_a", a), ("endpoint_b", b)) if m is None)
            raise ValueError(
                f"connect_ds must connect two of the widget's runs {list(self._runs)}, but its {which} "
                f"matches none of their trained parameters (was it made from other runs?)"
            )
        n = len(self.panels)
        if panel is not None and (isinstance(panel, bool) or not isinstance(panel, int) or not 0 <= panel < n):
            raise ValueError(f"panel must be None or an integer in [0, {n - 1}], got {panel!r}")
        dirs = curve_directions(connect_ds, self._runs[a])
        cds = connect_ds.copy()
        cds.attrs["plw_run_b"] = b
        with self._lock:
            self._latest += 1  # what was computed for an earlier connection of this run is stale
            self._computer.connections[a] = (dirs, cds)
            self._computer.directions.pop((a, CURVE_KIND, "", 0), None)
            for s in [s for s in self._payloads if s.run == a and s.direction_kind == CURVE_KIND]:
                del self._payloads[s]
            for s in [s for s in self._computer.grids if s.run == a and s.direction_kind == CURVE_KIND]:
                del self._computer.grids[s]
        if CURVE_KIND not in self.direction_kinds:
            self.direction_kinds = [*self.direction_kinds, CURVE_KIND]
        entry: dict = {"run": a, "formulation": str(connect_ds.attrs.get("formulation")), "direction_kind": CURVE_KIND}
        if entry["formulation"] not in formulations_of(self._runs[a]):
            entry["formulation"] = None
        panels = [dict(p) for p in self.panels]
        if panel is None:
            panels = [*panels, entry] if n < 6 else [*panels[:5], entry]
        else:
            panels[panel] = entry
        before = self.last_future
        self.panels = panels  # starts the computation when the panels changed
        return self.last_future if self.last_future is not before and self.last_future is not None else self.request()

    def _precomputed_slices(self, choices) -> tuple[dict, list[str]]:
        """Every combination of the named choices' values for every panel (other fields as the panel has
        them; shared settings as they are): ({slice_key: payload}, notes). A combination that cannot be
        computed (PCA of a run with too few checkpoints) is carried as an error panel saying why, so a page
        shows the reason when it is chosen; each is logged, and listed in the notes."""
        choices = _check_choices(choices)
        if not self._runs:
            raise ValueError(
                "precompute needs training runs to compute from; a widget made from a Dataset shows that one slice only"
            )
        self._settle()  # the training in the background, then one computation at a time
        slices: dict[str, dict] = {}
        failed: list[str] = []
        for p in self.panels:
            labels = list(self._runs) if "run_label" in choices else [p["run"]]
            kinds = list(self.direction_kinds) if "direction_kind" in choices else [p["direction_kind"]]
            for label, kind in itertools.product(labels, kinds):
                if kind == CURVE_KIND and label not in self._computer.connections:
                    continue  # a run without a connection has no curve plane
                forms = formulations_of(self._runs[label])
                if "formulation" not in choices:
                    own = self.runs_info[label]["formulation"]
                    forms = [p["formulation"] if p["formulation"] in forms else own]
                ck = p["checkpoint"] if label == p["run"] else None
                for form in forms:
                    key = slice_key(label, kind, form, ck)
                    if key in slices:
                        continue
                    s = SliceSettings(
                        label,
                        kind,
                        form,
                        self.normalization,
                        int(self.seed),
                        int(self.resolution),
                        float(self.zoom),
                        ck,
                    )
                    try:
                        slices[key] = self._cached(s)
                    except Exception as exc:  # noqa: BLE001 - carried as an error panel that says why
                        why = f"{type(exc).__name__}: {exc}"
                        _LOG.warning("precompute: slice %s could not be computed (%s)", key, why)
                        slices[key] = placeholder_payload(s, "error", f"Not precomputed: computing it failed ({why})")
                        where = f"{label}, " if len(self._runs) > 1 else ""
                        failed.append(f"{where}{kind} directions, {form} loss ({why})")
        return slices, failed

    @staticmethod
    def _precompute_note(slices: dict, failed: list[str]) -> str:
        """The status line after precomputing: how many slices, and which could not be computed and why."""
        done = len(slices) - len(failed)
        note = f"precomputed {done} slice{'s' if done != 1 else ''}"
        if failed:
            note += f"; {len(failed)} could not be computed (a page says why when chosen): " + "; ".join(failed)
        return note

    def _ensure_replays(self, labels):
        self._settle()
        self._build_replays(None, labels, wait=True)
        if self.panels:
            self._build_diagnostics(self.panels[0]["run"])

    def export_state(self, precompute=("direction_kind", "formulation")) -> dict:
        """The widget's state as a page without a kernel needs it (``to_html`` and Jupyter Book pages use it).

        Parameters
        ----------
        precompute : sequence of str or None, default ("direction_kind", "formulation")
            The choices a page can switch without a kernel, from ``"run_label"``, ``"direction_kind"`` and
            ``"formulation"`` (see ``precompute``); every combination of their values is computed and
            carried. None: the slices the widget already carries (from an earlier ``precompute``), and no
            new computation.

        Returns
        -------
        dict
            The widget's traits by name, with the precomputed slices (``static_slices``, binary grids as
            bytes) and each shown run's replay; ``interactive`` False and ``status`` "done".

        Raises
        ------
        ValueError
            If ``precompute`` names something else.
        """
        labels = [p["run"] for p in self.panels]
        if precompute is not None:
            precompute = _check_choices(precompute)
        if self._runs:
            if precompute is not None and "run_label" in precompute:
                labels = list(self._runs)
            self._ensure_replays(labels)
        state = self.get_state()
        if precompute is not None and self._runs:
            slices, failed = self._precomputed_slices(precompute)
            state["static_slices"] = slices
            state["static_choices"] = list(precompute)
            if failed:
                state["status_text"] = self._precompute_note(slices, failed)
        state["interactive"] = False
        state["status"] = "done"
        return state

    def precompute(self, choices=("direction_kind", "formulation")) -> LandscapeWidget:
        """Compute every combination of the named choices for every panel, and carry them in the state.

        A page with no kernel (nbconvert HTML, Jupyter Book, ``to_html``) then switches between them, and
        replays training (each shown run's replay is computed too). A combination that cannot be computed
        (PCA directions of a run with fewer than 4 checkpoints) is carried as a panel saying why; the
        status line lists them, and each is logged as a warning.

        Parameters
        ----------
        choices : str or sequence of str, default ("direction_kind", "formulation")
            The controls a page can switch: ``"run_label"`` (every run), ``"direction_kind"`` (random, pca,
            hessian, interpolation) and ``"formulation"`` (every loss of the run). Other settings (seed,
            resolution, zoom) stay as they are.

        Returns
        -------
        LandscapeWidget
            The widget itself, so ``w.precompute()`` can end a cell.

        Raises
        ------
        ValueError
            If ``choices`` names something else, or the widget was made from a Dataset (nothing to compute).
        """
        choices = _check_choices(choices)
        slices, failed = self._precomputed_slices(choices)
        labels = list(self._runs) if "run_label" in choices else [p["run"] for p in self.panels]
        self._ensure_replays(labels)
        with self.hold_sync():
            self.static_choices = list(choices)
            self.static_slices = slices
            if failed:
                self.status_text = self._precompute_note(slices, failed)
        return self

    # ---- inspection -----------------------------------------------------------------------------------
    @traitlets.observe("selected_point")
    def _on_select(self, change):
        if self._runs and len(change["new"]) in (2, 3):
            self._executor.submit(self._solution_job, tuple(change["new"]))

    def _solution_job(self, point):
        try:
            panel = int(point[2]) if len(point) == 3 else 0
            if not 0 <= panel < len(self.panels):
                raise ValueError(f"selected_point's panel must be in [0, {len(self.panels) - 1}], got {panel}")
            s = self.panel_settings()[panel]
            ds = self._computer.grids.get(s)
            if ds is None:
                raise ValueError(f"panel {panel + 1} is still computing; click again when it is drawn")
            alpha, beta = point[:2]
            theta = torch.as_tensor(ds.center.values, dtype=torch.float64)
            D = torch.as_tensor(ds.directions.values, dtype=torch.float64)
            theta = theta + alpha * D[0] + (beta * D[1] if D.shape[0] > 1 else 0.0)
            where = f"alpha {alpha:.3g}" + (f", beta {beta:.3g}" if "beta" in ds.dims else "")
            which = f" ({s.run})" if len(self._runs) > 1 else ""  # a single run's label says nothing new
            self.solution = point_solution(
                self._runs[s.run], theta, title=f"u at {where}{which}", panel=panel, point=point[:2]
            )
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    # ---- pictures -------------------------------------------------------------------------------------
    def save_png(self, path, *, scale: int = 2, timeout: float = SAVE_PNG_TIMEOUT_S) -> Future:
        """Save the view (every panel, with axes, colorbars and the title) as a PNG.

        With the widget displayed, the browser draws the picture at ``scale`` x its pixel size, from the
        camera on screen; the kernel reads the browser's answer between cells, so in a notebook the file
        is there once the cell has finished (``.result()`` blocks only outside the kernel's main thread).
        With no view (a script), or if none answers within ``timeout`` seconds, matplotlib draws the same
        panels from the same camera instead (the Future is then already done).

        Parameters
        ----------
        path : str or pathlib.Path
            The PNG file to write, in a folder that exists and is writable (an existing file is replaced).
        scale : int, default 2
            The browser's picture at 1, 2, 3 or 4 times its size on screen (not used by matplotlib).
        timeout : float, default 30.0
            Seconds to wait for the browser's picture (a finite number > 0) before matplotlib draws it.

        Returns
        -------
        concurrent.futures.Future
            Of the written path (a ``pathlib.Path``); it holds the exception if writing failed.

        Raises
        ------
        ValueError
            If ``path`` is a folder, in a folder that does not exist, or not writable, or ``scale`` or
            ``timeout`` is out of range.
        """
        path = pathlib.Path(path)
        _check_writable(path)
        scale = check_int("scale", scale, 1, 4)
        timeout = check_positive("timeout", timeout)
        future: Future = Future()
        if not self._has_view:
            self._save_png_matplotlib(path, future)
            return future
        rid = uuid.uuid4().hex
        self._png_requests[rid] = (future, path)
        self.send({"type": "save_png", "id": rid, "scale": int(scale)})

        def fallback():
            entry = self._png_requests.pop(rid, None)
            if entry is not None:
                self._save_png_matplotlib(path, future)

        timer = threading.Timer(timeout, fallback)
        timer.daemon = True
        timer.start()
        return future

    def _receive_png(self, content, buffers):
        entry = self._png_requests.pop(str(content.get("id")), None)
        if entry is None or not buffers:
            return
        future, path = entry
        try:
            path.write_bytes(bytes(buffers[0]))
            future.set_result(path)
        except Exception as exc:  # noqa: BLE001 - handed to whoever waits on the Future
            future.set_exception(exc)

    def _save_png_matplotlib(self, path: pathlib.Path, future: Future):
        from .plotting import view_png_bytes

        try:
            data = view_png_bytes(
                [d for d in self.datasets if d is not None],
                camera=self.camera,
                view=self.view,
                z_scale=self.z_scale,
                colormap=self.colormap,
                title=self.title,
            )
            if data is None:
                raise RuntimeError("save_png without a browser view needs matplotlib")
            path.write_bytes(data)
            future.set_result(path)
        except Exception as exc:  # noqa: BLE001
            future.set_exception(exc)

    def to_html(self, path, *, precompute=("direction_kind", "formulation"), title: str | None = None):
        """Write this widget as one self-contained HTML file: no kernel, no network, the same front end.

        The page opens at the widget's camera, switches between the precomputed choices and replays
        training; other controls that would need new numbers are disabled with a note.

        Parameters
        ----------
        path : str or pathlib.Path
            The HTML file to write (its folder is made if need be).
        precompute : sequence of str or None, default ("direction_kind", "formulation")
            The choices the page can switch, from ``"run_label"``, ``"direction_kind"`` and
            ``"formulation"`` (see ``precompute``). None: the slices the widget already carries.
        title : str, optional
            The page's title and heading. Default None: the widget's ``title``, else "PINN loss landscape".

        Returns
        -------
        pathlib.Path
            The written file.

        Raises
        ------
        ValueError
            If ``precompute`` names something else.
        """
        return widget_to_html(self, path, precompute=precompute, title=title)

    def to_myst(self, folder, *, name: str = "landscape", precompute=("direction_kind", "formulation")) -> str:
        """Write what a MyST page (Jupyter Book 2) needs to show this widget; return the directive to paste.

        MyST's ``{anywidget}`` directive takes a widget's state only as JSON inside the page, so the state
        goes to a file and the directive names it. Written into ``folder``:

        - ``plw-widget.js``: the front end (one per folder, shared by every landscape in it);
        - ``<name>.json``: the state, with the precomputed slices and each shown run's replay;
        - ``<name>.directive.txt``: the ``{anywidget}`` directive, the same text this returns.

        List the folder under ``project: static_files:`` in the project's ``myst.yml`` (a warning says so
        when that file exists and does not) so that the site serves the state file, commit the folder, and
        paste the directive into any page or notebook markdown cell of the project. The page draws with no
        kernel and no network; the precomputed choices switch there, other controls that need new numbers
        say so. A state file written by another version of the package says so on the page.

        Parameters
        ----------
        folder : str or pathlib.Path
            The folder to write into, inside the MyST project (made if need be). Its path from the project
            root (the nearest folder above it with a ``myst.yml``, else its parent) goes into the directive.
        name : str, default "landscape"
            The state file's name without ``.json``: letters, digits, ``_``, ``.`` and ``-``. Use one name
            per landscape to keep several in one folder.
        precompute : sequence of str or None, default ("direction_kind", "formulation")
            The choices the page can switch, from ``"run_label"``, ``"direction_kind"`` and
            ``"formulation"`` (see ``precompute``). None: the slices the widget already carries.

        Returns
        -------
        str
            The directive, e.g. a fenced ``{anywidget} /landscapes/plw-widget.js`` block whose body is
            ``{"plw_state": "landscapes/landscape.json", "plw_version": ...}``.

        Raises
        ------
        ValueError
            If ``name`` is not a plain file name, ``precompute`` names something else, or ``folder`` is a
            file or cannot be made or written.
        TypeError
            If ``folder`` is not a str or path.
        FileNotFoundError
            If the front end was not built (``cd js && npm run build``).
        """
        return widget_to_myst(self, folder, name=name, precompute=precompute)

    def _repr_mimebundle_(self, **kwargs):
        """The live widget, plus a PNG of the current view for front ends that cannot run it."""
        if in_marimo():  # marimo keeps none of the bundle (see _hosts): show the view now, previews first
            return super()._repr_mimebundle_(**kwargs)
        if self._background is not None and not self._background.done():
            # plw.explore while its runs train: the view now (waiting for grids and a PNG would hold it
            # back seconds), and no PNG of the short runs the trained ones replace
            return super()._repr_mimebundle_(**kwargs)
        why = ""
        if self._runs and self.last_future is not None and not all(self.datasets):
            why = self._wait_for_first_grids()
        bundle = super()._repr_mimebundle_(**kwargs)
        shown = [d for d in self.datasets if d is not None]
        if why:
            n = len(self.datasets)
            has = f"shows {len(shown)} of its {n} panels" if shown else "has no landscape"
            _LOG.warning(
                "the picture saved in the notebook for viewers without widgets %s: %s. The live view draws "
                "the grids when they are done; w.save_png(path) then saves the whole view.",
                has,
                why,
            )
        if shown:
            from .plotting import view_png_bytes

            png = view_png_bytes(
                shown, camera=self.camera, view=self.view, z_scale=self.z_scale, colormap=self.colormap, dpi=80
            )
            if png is not None:
                data = bundle[0] if isinstance(bundle, tuple) else bundle
                data["image/png"] = png
        return bundle

    def _wait_for_first_grids(self) -> str:
        """Wait for the first grids (the PNG for viewers without widgets draws them), at most ``PNG_WAIT_S``
        and not at all once they are predicted to take longer (the live view is shown when this returns);
        "" when they are done, else why the PNG goes without them."""
        future = self.last_future
        assert future is not None
        start = time.monotonic()
        while True:
            waited = time.monotonic() - start
            if waited >= PNG_WAIT_S:
                return f"the first grids were not done after {PNG_WAIT_S:g} s"
            predicted = [self._computer.predicted_seconds(s) for s in self.panel_settings()]
            known = [p for p in predicted if p is not None]
            total = sum(known)
            if len(known) == len(predicted) and total > PNG_WAIT_S:
                return (
                    f"the first grids are predicted to take about {total:.0f} s at the cost per point measured, "
                    f"longer than the {PNG_WAIT_S:g} s the display waits for them"
                )
            try:
                future.result(min(PNG_WAIT_POLL_S, PNG_WAIT_S - waited))
                return ""
            except Exception:  # noqa: BLE001 - the live view is shown anyway; only its PNG is missing
                if not future.done():
                    continue  # the wait's own timeout
                exc = future.exception()
                if exc is None:
                    return ""
                return f"computing them failed ({type(exc).__name__}: {exc})"

    def wait(self, timeout: float = 120.0) -> LandscapeWidget:
        """Block until the latest request is drawn (for scripts and tests).

        A computation that fails does not raise here: ``status`` is then "error" and ``error`` says why,
        as the view shows it.

        Parameters
        ----------
        timeout : float, default 120.0
            The most seconds to wait (a finite number > 0).

        Returns
        -------
        LandscapeWidget
            The widget itself, so ``w = LandscapeWidget(run).wait()`` works.

        Raises
        ------
        TimeoutError
            If the computation is still running after ``timeout`` seconds.
        ValueError
            If ``timeout`` is not a finite number > 0.
        """
        timeout = check_positive("timeout", timeout)
        self._settle(timeout)
        return self

    def _settle(self, timeout: float | None = None) -> None:
        """Wait for the training in the background, if any (its failure is shown, not raised), then for the
        latest request."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._background is not None:
            try:
                self._background.result(timeout)
            except TimeoutError:
                raise
            except Exception:  # noqa: BLE001 - shown in the widget (status "error"); the short runs stay
                pass
        if self.last_future is not None:
            self.last_future.result(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def close(self):
        executor = getattr(self, "_executor", None)  # None when the constructor refused its arguments early
        if executor is not None:
            with self._lock:
                self._latest += 1  # a grid in flight stops at its next poll (and cancels its dask tiles)
            executor.shutdown(wait=False, cancel_futures=True)
        super().close()


def _check_choices(choices) -> tuple[str, ...]:
    """``precompute``'s choices as a tuple of names from CHOICE_TRAITS (a single name is one choice)."""
    if isinstance(choices, str):
        choices = (choices,)
    if not isinstance(choices, (list, tuple)) or not all(isinstance(c, str) for c in choices):
        raise ValueError(f"choices must be a list of names from {list(CHOICE_TRAITS)}, got {choices!r}")
    unknown = [c for c in choices if c not in CHOICE_TRAITS]
    if unknown:
        raise ValueError(f"choices may name {list(CHOICE_TRAITS)}, got {unknown}")
    return tuple(choices)


def _check_writable(path: pathlib.Path):
    """A ValueError naming the path when a file cannot be written there."""
    parent = path.parent if str(path.parent) else pathlib.Path(".")
    if path.is_dir():
        raise ValueError(f"save_png path must be a file, got the directory {str(path)!r}")
    if not parent.is_dir():
        raise ValueError(f"save_png path {str(path)!r} is in a folder that does not exist: {str(parent)!r}")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"save_png path {str(path)!r} is not writable")


def to_html(source, path, *, precompute=("direction_kind", "formulation"), title: str | None = None) -> pathlib.Path:
    """Write a landscape as one self-contained HTML page: the widget's own front end, no kernel, no network.

    Parameters
    ----------
    source : xarray.Dataset, run, dict of str to run, or LandscapeWidget
        What to show: a landscape Dataset, a run, labelled runs (one panel each), or a widget as it is
        (its panels, settings and camera). A widget made here uses ``LandscapeWidget``'s defaults.
    path : str or pathlib.Path
        The HTML file to write (its folder is made if need be).
    precompute : sequence of str or None, default ("direction_kind", "formulation")
        The choices the page can switch, from ``"run_label"``, ``"direction_kind"`` and ``"formulation"``
        (see ``LandscapeWidget.precompute``). None: only what the widget already carries.
    title : str, optional
        The page's title and heading. Default None: the widget's ``title``, else "PINN loss landscape".

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    ValueError
        If ``source`` is none of the above, or ``precompute`` names something else.
    """
    w = source if isinstance(source, LandscapeWidget) else LandscapeWidget(source, compute=False)
    if w._runs and not all(w.datasets):
        w.request()
        w.wait()
    return widget_to_html(w, path, precompute=precompute, title=title)
