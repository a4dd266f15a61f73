"""Directions in parameter space that span a landscape slice.

Kinds: "random" (below), "pca" (principal components of the training trajectory, Li et al. 2018),
"hessian" (extreme eigenvectors of the loss Hessian, Krishnapriyan et al. 2021; Bottcher & Wheeler 2022),
"interpolation" (the line from one parameter vector to another, Goodfellow et al. 2015).

random_directions: Gaussian directions, normalised against reference parameters (Li et al. 2018):
  "filter": each row of each weight matrix (one neuron's incoming weights) is rescaled to the norm of the
            same row of the reference; a bias entry, when kept, to the magnitude of the reference entry;
  "layer":  each weight matrix (and bias vector) rescaled to the reference tensor's norm;
  "none":   raw Gaussian.
Biases are zeroed (``bias="zero"``, the default) or normalised like filters (``bias="filter"``).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import torch

from .._checks import check_choice, check_int

NORMALIZATIONS = ("filter", "layer", "none")
BIAS_MODES = ("zero", "filter")


@dataclass
class Directions:
    """One or two directions in parameter space, with what ``landscape`` needs to draw a plane along them.

    Made by ``random_directions``, ``pca_directions``, ``hessian_directions``, ``interpolation_direction`` and
    ``curve_directions``; make one by hand to slice along directions of your own.

    Parameters
    ----------
    vectors : torch.Tensor
        The directions, shape [n, P] with n in {1, 2} and P the run's parameter count.
    kind : str
        "random", "pca", "hessian", "interpolation" or "custom" (default); the widget and the Dataset's
        attrs show it.
    attrs : dict
        Provenance (seed, normalization, eigenvalues, explained variance, ...); copied into the Dataset.
    origin : torch.Tensor or None
        The parameter vector at alpha = beta = 0 when it is not the run's trained parameters (interpolation
        starts at its first endpoint); default None.
    default_span : float or (float, float)
        The extent ``landscape`` uses when called with ``span=None``: a half-width or a pair (lo, hi);
        default 1.
    trajectory : torch.Tensor or None
        Checkpoints [T, P] that ``landscape`` projects onto the plane; default None.
    trajectory_steps : list of int or None
        The training step of each checkpoint in ``trajectory``.
    """

    vectors: torch.Tensor
    kind: str = "custom"
    attrs: dict = field(default_factory=dict)
    origin: torch.Tensor | None = None
    default_span: float | tuple[float, float] = 1.0
    trajectory: torch.Tensor | None = None
    trajectory_steps: list[int] | None = None

    @property
    def n(self) -> int:
        return self.vectors.shape[0]


def _normalize(d: torch.Tensor, ref: torch.Tensor, net, normalization: str, bias: str) -> torch.Tensor:
    """Li et al.'s normalisation over the network's parameter tensors: a tensor of two or more dimensions is
    a weight whose rows (one output unit, or one convolution filter) are rescaled; one of fewer dimensions is
    a bias, zeroed or rescaled entry by entry."""
    out = d.clone()
    for _, sl, shape in net.param_layout():
        if len(shape) >= 2:
            dw, rw = out[sl].view(shape[0], -1), ref[sl].view(shape[0], -1)
            if normalization == "filter":
                dw.mul_(rw.norm(dim=1, keepdim=True) / dw.norm(dim=1, keepdim=True).clamp_min(1e-30))
            elif normalization == "layer":
                dw.mul_(rw.norm() / dw.norm().clamp_min(1e-30))
            continue
        db, rb = out[sl], ref[sl]
        if bias == "zero":
            db.zero_()
        elif normalization == "filter":
            db.mul_(rb.abs() / db.abs().clamp_min(1e-30))
        elif normalization == "layer":
            db.mul_(rb.norm() / db.norm().clamp_min(1e-30))
    return out


def random_directions(
    run,
    n: int = 2,
    seed: int = 0,
    normalization: str = "filter",
    bias: str = "zero",
    orthogonalize: bool = False,
    reference: torch.Tensor | None = None,
) -> Directions:
    """Gaussian directions normalised against reference parameters (Li et al. 2018).

    The same seed gives the same vectors on every machine and device (they are drawn on the CPU in float64).

    Parameters
    ----------
    run : TrainResult or ModelRun
        The run whose parameters the directions live among.
    n : int
        Number of directions, 1 or more; default 2.
    seed : int
        Seed of the Gaussian draw; default 0.
    normalization : {"filter", "layer", "none"}
        "filter" (default): each row of each weight matrix (one unit's incoming weights) is rescaled to the
        norm of the same row of the reference; "layer": each weight tensor to the reference tensor's norm;
        "none": raw Gaussian.
    bias : {"zero", "filter"}
        Bias entries are zeroed (default) or rescaled to the magnitude of the reference entry.
    orthogonalize : bool
        Make later directions orthogonal to earlier ones (Gram-Schmidt after normalisation, rescaled back to
        their normalised length); default False.
    reference : torch.Tensor or None
        The parameter vector [P] to normalise against; default the run's parameters.

    Returns
    -------
    Directions
        ``kind="random"``; attrs hold seed, normalization, bias and orthogonalize.

    Raises
    ------
    ValueError
        A bad argument, named with the value and what is allowed.
    """
    n = check_int("n", n, 1, run.n_params)
    normalization = check_choice("normalization", normalization, NORMALIZATIONS)
    bias = check_choice("bias", bias, BIAS_MODES)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    ref = (run.params if reference is None else torch.as_tensor(reference)).detach().cpu().to(torch.float64)
    if ref.shape != (run.n_params,):
        raise ValueError(f"reference must have shape [{run.n_params}], got {tuple(ref.shape)}")
    gen = torch.Generator().manual_seed(int(seed))
    vecs = []
    for _ in range(n):
        d = torch.randn(run.n_params, generator=gen, dtype=torch.float64)
        d = _normalize(d, ref, run.net, normalization, bias)
        if orthogonalize:
            length = d.norm()
            for v in vecs:
                d = d - (d @ v) / (v @ v) * v
            d = d * (length / d.norm().clamp_min(1e-30))
        vecs.append(d)
    vectors = torch.stack(vecs).to(run.dtype)
    return Directions(
        vectors,
        "random",
        dict(seed=int(seed), normalization=normalization, bias=bias, orthogonalize=bool(orthogonalize)),
    )


def as_directions(run, directions) -> Directions:
    """Accept None (filter-normalised random, seed 0), a Directions, or a tensor [n, P] / [P]."""
    if directions is None:
        return random_directions(run, 2, seed=0)
    if isinstance(directions, Directions):
        vec = directions.vectors
        kind, attrs = directions.kind, dict(directions.attrs)
        extra = dict(
            origin=directions.origin,
            default_span=directions.default_span,
            trajectory=directions.trajectory,
            trajectory_steps=directions.trajectory_steps,
        )
    else:
        try:
            vec = torch.as_tensor(directions)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(
                f"directions must be a Directions or a tensor of shape [n, {run.n_params}], "
                f"got {type(directions).__name__}"
            ) from exc
        kind, attrs, extra = "custom", {}, {}
    if vec.dim() == 1:
        vec = vec[None]
    if vec.dim() != 2 or vec.shape[0] not in (1, 2) or vec.shape[1] != run.n_params:
        raise ValueError(
            f"directions must have shape [1, {run.n_params}] or [2, {run.n_params}], got {tuple(vec.shape)}"
        )
    if not torch.isfinite(vec).all():
        raise ValueError("directions contain NaN or inf entries")
    zero = [i for i in range(vec.shape[0]) if not bool(vec[i].abs().max() > 0)]
    if zero:
        raise ValueError(f"directions {zero} are all zero; a slice needs non-zero directions")
    return Directions(vec, kind, attrs, **extra)  # type: ignore[arg-type]


def pca_directions(run, n: int = 2) -> Directions:
    """The first principal components of the training trajectory around the trained parameters (Li et al. 2018).

    The rows theta_t - theta* (t over the recorded checkpoints before the last) are centred and decomposed by
    SVD; the components are unit vectors, signed so that the start of training lies at positive coordinates.
    ``landscape`` with these directions also projects the checkpoints onto the plane, and its default span
    covers them.

    Parameters
    ----------
    run : TrainResult or ModelRun
        A run with a recorded trajectory of at least n + 2 checkpoints (``train`` records one; for your own
        loop pass a ``Recorder`` to ``from_model``).
    n : int
        1 or 2 components; default 2.

    Returns
    -------
    Directions
        ``kind="pca"``, with the trajectory and ``attrs["explained_variance_ratio"]``.

    Raises
    ------
    ValueError
        ``n`` out of range, or a trajectory too short (the message says how to record one).
    """
    n = check_int("n", n, 1, 2)
    traj = run.trajectory.detach().cpu().to(torch.float64)
    if traj.shape[0] - 1 < n + 1:
        raise ValueError(
            f"pca_directions(n={n}) needs a trajectory of at least {n + 2} checkpoints "
            f"(n + 1 besides theta*), got {traj.shape[0]}; "
            + (
                "record the training: plw.train(..., record_every=...) with a smaller value"
                if run.optimizer != "user"
                else "pass the Recorder of the training loop: plw.from_model(..., recorder=rec), "
                "plw.adapters.from_deepxde(model, recorder=DeepXDERecorder) or from_pina(solver, recorder=PinaRecorder)"
            )
        )
    M = traj[:-1] - run.params.detach().cpu().to(torch.float64)
    Mc = M - M.mean(0)
    _, S, Vh = torch.linalg.svd(Mc, full_matrices=False)
    var = S**2
    ratio = (var / var.sum()).tolist()
    vecs = Vh[:n]
    # fix the sign so the start of training lies at positive alpha (and beta): stable pictures across runs
    signs = torch.sign(vecs @ M[0])
    vecs = vecs * torch.where(signs == 0, torch.ones_like(signs), signs)[:, None]
    coords = M @ vecs.T
    span = float(coords.abs().max()) * 1.2 if coords.numel() else 1.0
    return Directions(
        vecs.to(run.dtype),
        "pca",
        dict(explained_variance_ratio=ratio[:n], normalization="none", centered=True, n_checkpoints=int(traj.shape[0])),
        default_span=span if span > 0 else 1.0,
        trajectory=run.trajectory.detach(),
        trajectory_steps=list(run.trajectory_steps),
    )


def hessian_directions(run, n: int = 2, which: str = "largest", term: str | None = None, **kwargs) -> Directions:
    """Unit eigenvectors of the loss Hessian at the trained parameters, as landscape directions.

    Parameters
    ----------
    run : TrainResult or ModelRun
        The run.
    n : int
        1 or 2 eigenvectors; default 2.
    which : {"largest", "smallest", "both"}
        "largest" (algebraically, default), "smallest" (most negative) or "both" (the top and the bottom
        one; needs n = 2).
    term : str or None
        The Hessian of one loss term (e.g. "residual", "boundary") instead of the total loss.
    **kwargs
        Passed to ``hessian_eigenpairs`` (formulation, params, tol, max_steps, seed, device, dtype).

    Returns
    -------
    Directions
        ``kind="hessian"``; attrs hold the eigenvalues, residual norms and how many converged.

    Raises
    ------
    ValueError
        A bad argument, named with the value and what is allowed.
    """
    from .curvature import hessian_eigenpairs

    n = check_int("n", n, 1, 2)
    check_choice("which", which, ("largest", "smallest", "both"))
    if which == "both" and n != 2:
        raise ValueError(f"which='both' gives one direction from each end of the spectrum, so n must be 2, got {n}")
    ds = hessian_eigenpairs(run, 1 if which == "both" else n, which, term, **kwargs)
    vecs = torch.as_tensor(ds.eigenvector.values)
    return Directions(
        vecs.to(run.dtype),
        "hessian",
        dict(
            which=which,
            term=term or "total",
            eigenvalues=ds.eigenvalue.values.tolist(),
            residual_norms=ds.residual_norm.values.tolist(),
            converged=int(ds.attrs["converged"]),
            normalization="unit",
        ),
    )


def interpolation_direction(start_params, end_params) -> Directions:
    """The line theta(alpha) = start + alpha (end - start) between two parameter vectors (Goodfellow et al. 2015).

    alpha = 0 is ``start_params``, alpha = 1 is ``end_params``; ``landscape`` samples it over (-0.5, 1.5) by
    default so both endpoints sit inside the plot.

    Parameters
    ----------
    start_params : torch.Tensor
        A parameter vector [P] (for example ``run.trajectory[0]``, the initialisation).
    end_params : torch.Tensor
        Another parameter vector [P] (for example ``run.params``).

    Returns
    -------
    Directions
        One direction, ``kind="interpolation"``, with ``origin=start_params`` and ``attrs["distance"]``.

    Raises
    ------
    ValueError
        The vectors are not 1-D of one length, or are identical.
    """
    a = torch.as_tensor(start_params).detach()
    b = torch.as_tensor(end_params).detach()
    if a.dim() != 1 or a.shape != b.shape:
        raise ValueError(
            f"start_params and end_params must be 1-D vectors of the same length, "
            f"got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )
    d = b.to(torch.float64) - a.to(torch.float64)
    if not bool(d.abs().max() > 0):
        raise ValueError("start_params and end_params are identical; interpolation needs two different points")
    return Directions(
        d.to(a.dtype)[None],
        "interpolation",
        dict(normalization="none", distance=float(d.norm())),
        origin=a,
        default_span=(-0.5, 1.5),
    )
