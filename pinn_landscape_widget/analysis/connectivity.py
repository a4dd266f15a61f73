"""Mode connectivity: the loss between two trained runs, along the straight segment and along a trained curve.

``connect(run_a, run_b)`` evaluates the loss on

- the line   theta_line(t)  = (1 - t) w1 + t w2,
- the curve  theta_curve(t) = (1 - t)^2 w1 + 2 t (1 - t) theta + t^2 w2   (a quadratic Bezier curve),

for t in [0, 1], where w1, w2 are the runs' trained parameters and the control point theta (started at the
midpoint (w1 + w2) / 2, where the curve is the line) is trained by Adam to minimise the loss averaged over t,
each step on a few t ~ U[0, 1] (Garipov et al. 2018, "Loss Surfaces, Mode Connectivity, and Fast Ensembling
of DNNs", arXiv:1802.10026). A low curve between two minima whose line has a high barrier says the minima
are connected by a path of low loss (Draxler et al. 2018, "Essentially No Barriers in Neural Network Energy
Landscape", arXiv:1803.00885).

Barrier (Garipov et al. 2018 / Draxler et al. 2018): barrier = max_t L(t) - max(L(0), L(1)), over the
``n_points`` values of t (endpoints included, so it is >= 0; 0 means the path never rises above the worse
endpoint).

``curve_directions(ds)`` gives the plane that holds both minima and the curve, for ``landscape()``.
"""

from __future__ import annotations

import json
import math
import numbers
import time

import numpy as np
import torch
import xarray as xr

from .._checks import check_choice, check_int, check_positive
from ..engine.evaluation import chunk_size_for, evaluate_points
from .directions import Directions

# t values drawn per training step (Garipov et al. use one per mini-batch; a few average out the noise of t)
T_PER_STEP = 4
SOURCES = (
    "Garipov et al. 2018, Loss Surfaces, Mode Connectivity, and Fast Ensembling of DNNs, arXiv:1802.10026; "
    "Draxler et al. 2018, Essentially No Barriers in Neural Network Energy Landscape, arXiv:1803.00885"
)
BARRIER_DEFINITION = "max over t of L(t) - max(L(0), L(1)), over the n_points values of t in [0, 1]"


def _shape(run) -> str:
    return f"{run.net.description} with {run.n_params} parameters"


def bezier_points(w1: torch.Tensor, theta: torch.Tensor, w2: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(1 - t)^2 w1 + 2 t (1 - t) theta + t^2 w2 for each t [K] -> [K, P]."""
    t = t[:, None]
    return (1 - t) ** 2 * w1 + 2 * t * (1 - t) * theta + t**2 * w2


def line_points(w1: torch.Tensor, w2: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(1 - t) w1 + t w2 for each t [K] -> [K, P]."""
    t = t[:, None]
    return (1 - t) * w1 + t * w2


def barrier(loss: np.ndarray) -> float:
    """max_t L(t) - max(L(0), L(1)) (see the module docstring); NaN if any value is NaN."""
    loss = np.asarray(loss, dtype=np.float64)
    return float(np.max(loss) - max(loss[0], loss[-1]))


def connect(
    run_a,
    run_b,
    *,
    formulation: str | None = None,
    n_points: int = 33,
    steps: int = 200,
    lr: float = 1e-2,
    seed: int = 0,
) -> xr.Dataset:
    """The loss between two runs' minima along the straight line and along a trained Bezier curve.

    Mode connectivity (Garipov et al. 2018, arXiv:1802.10026; Draxler et al. 2018): the curve
    (1 - t)^2 w1 + 2 t (1 - t) theta + t^2 w2 has its control point theta started at the midpoint and
    trained with Adam, each step on the mean loss at 4 values t ~ U[0, 1]. A step whose loss is not finite
    is skipped (counted in ``attrs["skipped_steps"]``). ``curve_directions(ds)`` returns the plane through
    w1, w2 and theta for ``landscape``.

    Parameters
    ----------
    run_a : TrainResult or ModelRun
        The first minimum w1; every loss, run_b's endpoint included, is run_a's objective.
    run_b : TrainResult or ModelRun
        The second minimum w2: the same network (description and parameter count) as run_a.
    formulation : str or None
        Any of run_a's formulations; default run_a's own loss.
    n_points : int
        Values of t from 0 to 1 at which the line and the curve are evaluated, >= 3; default 33.
    steps : int
        Adam steps training the control point, >= 0 (0 leaves the curve on the line); default 200.
    lr : float
        Adam's learning rate, > 0; default 1e-2.
    seed : int
        Seed of the sampled t values; default 0.

    Returns
    -------
    xarray.Dataset
        Over ``t``: ``loss_line``, ``loss_curve``, ``loss_line_<term>``, ``loss_curve_<term>``,
        ``rel_l2_error_line``, ``rel_l2_error_curve``; over ``param``: ``control_point`` (theta),
        ``endpoint_a`` (w1), ``endpoint_b`` (w2); over ``step``: ``train_loss``. attrs: ``barrier_line``,
        ``barrier_curve`` (max_t L(t) - max(L(0), L(1)), see ``barrier_definition``), ``formulation``,
        ``steps``, ``lr``, ``seed``, ``t_per_step``, ``sources``.

    Raises
    ------
    ValueError
        The runs' networks differ, or a bad argument (named with the value and what is allowed).
    """
    t0 = time.perf_counter()
    if run_a.n_params != run_b.n_params or run_a.net.description != run_b.net.description:
        raise ValueError(
            f"run_a and run_b must have the same network to be connected, got run_a: {_shape(run_a)} and "
            f"run_b: {_shape(run_b)}"
        )
    if formulation is not None:
        check_choice("formulation", formulation, run_a.formulations)
    n_points = check_int("n_points", n_points, 3)
    steps = check_int("steps", steps, 0)
    lr = check_positive("lr", lr)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r}")

    obj = run_a.objective(formulation)
    w1 = run_a.params.detach().to(device=obj.device, dtype=obj.dtype)
    w2 = run_b.params.detach().to(device=obj.device, dtype=obj.dtype)

    # train the control point
    theta = ((w1 + w2) / 2).clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    gen = torch.Generator().manual_seed(int(seed))
    train_loss = np.full(steps, np.nan)
    skipped = 0
    for step in range(steps):
        ts = torch.rand(T_PER_STEP, generator=gen, dtype=torch.float64).to(device=obj.device, dtype=obj.dtype)
        opt.zero_grad(set_to_none=True)
        loss = obj.loss(bezier_points(w1, theta, w2, ts)).mean()
        train_loss[step] = float(loss.detach())
        if not torch.isfinite(loss):
            skipped += 1
            continue
        loss.backward()
        opt.step()
    control = theta.detach()

    # evaluate line and curve on the t grid
    t_np = np.linspace(0.0, 1.0, n_points)
    t = torch.as_tensor(t_np, dtype=obj.dtype, device=obj.device)
    chunk = chunk_size_for(obj, n_points)
    line = evaluate_points(obj, lambda sl: line_points(w1, w2, t[sl]), n_points, chunk)
    curve = evaluate_points(obj, lambda sl: bezier_points(w1, control, w2, t[sl]), n_points, chunk)

    data: dict = {}
    for path, values in (("line", line), ("curve", curve)):
        for key, vals in values.items():
            # "loss" -> "loss_line", "loss_pde" -> "loss_line_pde", "rel_l2_error_u" -> "rel_l2_error_line_u"
            stem = "rel_l2_error" if key.startswith("rel_l2_error") else "loss"
            data[f"{stem}_{path}{key[len(stem) :]}"] = ("t", vals.numpy())
    data["control_point"] = ("param", control.cpu().numpy())
    data["endpoint_a"] = ("param", w1.cpu().numpy())
    data["endpoint_b"] = ("param", w2.cpu().numpy())
    data["train_loss"] = ("step", train_loss)
    ds = xr.Dataset(data, coords=dict(t=t_np, step=np.arange(1, steps + 1)))

    from .._version import __version__

    b_line, b_curve = barrier(ds.loss_line.values), barrier(ds.loss_curve.values)
    ds.attrs.update(
        problem=run_a.problem.name,
        formulation=obj.formulation.name,
        trained_formulation_a=run_a.formulation,
        trained_formulation_b=run_b.formulation,
        terms=json.dumps(obj.term_names),
        network=run_a.net.description,
        n_params=int(run_a.n_params),
        n_points=int(n_points),
        steps=int(steps),
        lr=float(lr),
        seed=int(seed),
        t_per_step=T_PER_STEP,
        optimizer="adam",
        skipped_steps=int(skipped),
        barrier_line=b_line,
        barrier_curve=b_curve,
        barrier_definition=BARRIER_DEFINITION,
        t_max_line=float(t_np[int(np.argmax(ds.loss_line.values))]),
        t_max_curve=float(t_np[int(np.argmax(ds.loss_curve.values))]),
        distance=float((w2 - w1).double().norm()),
        curve="quadratic Bezier: (1-t)^2 endpoint_a + 2t(1-t) control_point + t^2 endpoint_b",
        sources=SOURCES,
        dtype=str(obj.dtype).replace("torch.", ""),
        device=str(obj.device),
        package_version=__version__,
        compute_seconds=time.perf_counter() - t0,
    )
    ds["loss_line"].attrs["long_name"] = "loss on the line (1-t) w1 + t w2"
    ds["loss_curve"].attrs["long_name"] = "loss on the trained Bezier curve"
    ds["control_point"].attrs["long_name"] = "the trained control point theta of the Bezier curve"
    return ds


def curve_directions(ds: xr.Dataset, run_a=None) -> Directions:
    """The plane through both minima and the curve of ``connect``'s result, for ``landscape``.

    Origin w1 (``endpoint_a``), vectors d1 = w2 - w1 and d2 = theta - w1, not orthonormalised, so the plane's
    coordinates are exact: w1 is (alpha, beta) = (0, 0), w2 is (1, 0), the control point is (0, 1), the curve
    at t is (t^2, 2 t (1 - t)) and the straight line is beta = 0. The axes are in general neither orthogonal
    nor of equal length (attrs ``cosine``, ``norm_d1``, ``norm_d2``), so a plot of the plane is a sheared
    picture of it. ``default_span`` (-0.5, 1.5) holds all three points.

    Parameters
    ----------
    ds : xarray.Dataset
        What ``connect`` returned.
    run_a : TrainResult or ModelRun or None
        If given, the parameter count is checked against it and the vectors cast to its dtype.

    Returns
    -------
    Directions
        Two directions, ``kind="custom"`` with ``origin`` w1.

    Raises
    ------
    ValueError
        ``ds`` is not a ``connect`` result, or theta lies on the line through w1 and w2 (e.g. ``steps=0``):
        then there is no plane.
    """
    for name in ("endpoint_a", "endpoint_b", "control_point"):
        if not isinstance(ds, xr.Dataset) or name not in ds:
            raise ValueError(f"ds must be the Dataset returned by plw.connect (with {name!r}), got {type(ds).__name__}")
    w1 = torch.as_tensor(ds.endpoint_a.values, dtype=torch.float64)
    w2 = torch.as_tensor(ds.endpoint_b.values, dtype=torch.float64)
    th = torch.as_tensor(ds.control_point.values, dtype=torch.float64)
    if run_a is not None and run_a.n_params != w1.shape[0]:
        raise ValueError(f"run_a has {run_a.n_params} parameters but the connection has {w1.shape[0]}")
    d1, d2 = w2 - w1, th - w1
    n1, n2 = float(d1.norm()), float(d2.norm())
    off = float((d2 - (d2 @ d1) / (d1 @ d1) * d1).norm()) if n1 > 0 else 0.0
    if n1 == 0 or off <= 1e-6 * max(n1, n2):
        raise ValueError(
            "the control point lies on the line through the two endpoints (did connect() run with steps=0?), "
            "so w1, w2 and the control point span no plane"
        )
    dtype = run_a.dtype if run_a is not None else torch.as_tensor(ds.endpoint_a.values).dtype
    return Directions(
        torch.stack([d1, d2]).to(dtype),
        "connect",
        dict(
            normalization="none",
            orthonormal=False,
            norm_d1=n1,
            norm_d2=n2,
            cosine=float(d1 @ d2) / (n1 * n2),
            barrier_line=float(ds.attrs.get("barrier_line", math.nan)),
            barrier_curve=float(ds.attrs.get("barrier_curve", math.nan)),
        ),
        origin=w1.to(dtype),
        default_span=(-0.5, 1.5),
    )
