"""``diagnose(run)``: why did my PINN fail? Per checkpoint and loss term, the quantities the PINN failure
literature reads: term losses, gradient norms (whole and per layer), gradient cosines between terms, the
gradient imbalance ratio of Wang, Teng & Perdikaris (2021) and the top Hessian eigenvalue of each term.

Every quantity is computed on the run's own ``Objective.terms`` (the loss training and the landscape use)
at the recorded checkpoints, in the curvature tools' dtype (float64 where the loss allows it).

Not computed (yet): the neural tangent kernel of Wang, Yu & Perdikaris (2022). It needs each term's
per-point residuals, and ``Objective.terms`` returns each term already reduced over its points (a user's
loss from ``from_model`` is a scalar per term by construction), so there is no Jacobian to take.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
import xarray as xr

from .curvature import curvature_dtype, hessian_eigenpairs

MAX_DEFAULT_CHECKPOINTS = 50
IMBALANCE_THRESHOLD = 10.0  # lambda_term above this is flagged in the summary
STALL_FRACTION = 0.01  # "stopped decreasing": never again more than 1 % below the loss at that step
STALL_BEFORE = 0.8  # flagged when that step comes before 80 % of the recorded steps

SOURCES = {
    "imbalance": "Wang, Teng & Perdikaris (2021), 'Understanding and mitigating gradient flow pathologies in "
    "physics-informed neural networks', SIAM J. Sci. Comput. 43(5), arXiv:2001.04536, their lambda_hat without the "
    "moving average",
}


def _evenly_spaced(T: int, n: int) -> list[int]:
    """n indices into range(T), evenly spaced, first and last included."""
    return sorted({int(round(i)) for i in np.linspace(0, T - 1, n)})


def _select(run, checkpoints) -> list[int]:
    """Row indices into run.trajectory."""
    steps = [int(s) for s in run.trajectory_steps]
    T = len(steps)
    if checkpoints is None:
        return _evenly_spaced(T, min(T, MAX_DEFAULT_CHECKPOINTS))
    if isinstance(checkpoints, numbers.Integral) and not isinstance(checkpoints, bool):
        n = int(checkpoints)
        if not 1 <= n <= T:
            raise ValueError(
                f"checkpoints must be an integer in [1, {T}] (the run has {T} recorded checkpoints), "
                f"a list of recorded steps or None, got {checkpoints!r}"
            )
        return [T - 1] if n == 1 else _evenly_spaced(T, n)
    if isinstance(checkpoints, (list, tuple, range, np.ndarray)):
        wanted = list(checkpoints)
        bad = [s for s in wanted if isinstance(s, bool) or not isinstance(s, numbers.Integral) or int(s) not in steps]
        if not wanted or bad:
            shown = str(steps) if T <= 20 else f"{steps[:10]} ... {steps[-5:]}"
            raise ValueError(
                f"checkpoints must be recorded steps of the run (run.trajectory_steps: {shown}), "
                f"got {checkpoints!r}" + (f"; not recorded: {bad}" if bad else " (empty)")
            )
        return sorted({steps.index(int(s)) for s in wanted})
    raise ValueError(
        f"checkpoints must be None (all, at most {MAX_DEFAULT_CHECKPOINTS} evenly spaced), an integer "
        f"(that many evenly spaced) or a list of recorded steps, got {type(checkpoints).__name__} {checkpoints!r}"
    )


def _layers(net, P: int) -> list[tuple[str, list[slice]]] | None:
    """(layer name, slices into theta) from the network's parameter layout; None if it has none."""
    layout = getattr(net, "param_layout", None)
    if layout is None:
        return None
    groups: dict[str, list[slice]] = {}
    for name, sl, _ in layout():
        groups.setdefault(name.rsplit(".", 1)[0] if "." in name else name, []).append(sl)
    covered = sum(sl.stop - sl.start for sls in groups.values() for sl in sls)
    return list(groups.items()) if covered == P else None


def _stall(steps: np.ndarray, loss: np.ndarray) -> int | None:
    """The first step after which the loss never falls more than STALL_FRACTION below its value there."""
    ok = np.isfinite(loss)
    steps, loss = steps[ok], loss[ok]
    if len(loss) < 2:
        return None
    for i in range(len(loss) - 1):
        if loss[i + 1 :].min() >= (1 - STALL_FRACTION) * loss[i]:
            return int(steps[i])
    return int(steps[-1])


def diagnose(run, *, formulation: str | None = None, checkpoints=None, hessian: bool = True) -> xr.Dataset:
    """Per checkpoint and loss term: what the PINN failure literature reads, as an ``xarray.Dataset``.

    run: a ``TrainResult`` (``train``) or a ``from_model`` run. checkpoints: which rows of ``run.trajectory``
    (None: all, or at most 50 evenly spaced, first and last kept; an int n: n evenly spaced, n = 1 the final
    parameters only; a list of recorded steps). hessian: also the top Hessian eigenvalue of each term
    (Lanczos, one run per checkpoint and term).

    Dims ``step`` (coords ``step``: the run's recorded steps, ``checkpoint``: their rows in the trajectory),
    ``term`` (the objective's term names), ``term2`` (the same names) and ``layer`` (the network's parameter
    groups). Variables: ``loss``, ``grad_norm``, ``grad_norm_layer``, ``grad_cosine`` (term x term2),
    ``cosine`` (each term against the sum of the others), ``imbalance`` (Wang et al. 2021; reference: the
    first term, the formulation's residual / energy), ``hessian_top_eigenvalue``; each with its definition in
    attrs. ``ds.attrs["summary"]`` says in words what stands out. The NTK is not computed: see the module doc.
    """
    if not isinstance(hessian, bool):
        raise ValueError(f"hessian must be True or False, got {hessian!r}")
    dtype = curvature_dtype(run, None, "diagnose")
    obj = run.objective(formulation, None, dtype)
    names = list(obj.term_names)
    rows = _select(run, checkpoints)
    steps = np.array([int(run.trajectory_steps[i]) for i in rows])
    P = int(run.trajectory.shape[1])
    layers = _layers(run.net, P)
    K, M = len(rows), len(names)

    loss = np.full((K, M), np.nan)
    gnorm = np.full((K, M), np.nan)
    cos = np.full((K, M, M), np.nan)
    cos_rest = np.full((K, M), np.nan)
    imb = np.full((K, M), np.nan)
    top = np.full((K, M), np.nan)
    glayer = np.full((K, M, len(layers) if layers else 0), np.nan)
    for k, r in enumerate(rows):
        theta = run.trajectory[r].detach().to(device=obj.device, dtype=dtype).clone().requires_grad_(True)
        with torch.enable_grad():
            terms = obj.terms(theta[None])
            grads = []
            for j, t in enumerate(names):
                (g,) = torch.autograd.grad(terms[t][0], theta, retain_graph=j < M - 1, allow_unused=True)
                grads.append(torch.zeros_like(theta) if g is None else g.detach())
        G = torch.stack(grads).to(torch.float64)  # [M, P]
        loss[k] = [float(terms[t][0].detach()) for t in names]
        norms = G.norm(dim=1)
        gnorm[k] = norms.cpu().numpy()
        denom = torch.outer(norms, norms)
        cos[k] = torch.where(denom > 0, (G @ G.T) / denom, torch.full_like(denom, float("nan"))).cpu().numpy()
        total = G.sum(0)
        for j in range(M):
            rest = total - G[j]
            d = float(norms[j] * rest.norm())
            cos_rest[k, j] = float(G[j] @ rest) / d if d > 0 and M > 1 else np.nan
        ref_max = float(G[0].abs().max())
        for j in range(1, M):
            mean = float(G[j].abs().mean())
            imb[k, j] = ref_max / mean if mean > 0 else np.inf
        if layers:
            for li, (_, sls) in enumerate(layers):
                glayer[k, :, li] = torch.cat([G[:, sl] for sl in sls], dim=1).norm(dim=1).cpu().numpy()
        if hessian:
            for j, t in enumerate(names):
                ev = hessian_eigenpairs(run, 1, term=t, formulation=formulation, params=theta.detach())
                top[k, j] = float(ev.eigenvalue[0])

    coords = dict(step=steps, checkpoint=("step", np.array(rows)), term=names, term2=names)
    data = dict(
        loss=(("step", "term"), loss),
        grad_norm=(("step", "term"), gnorm),
        grad_cosine=(("step", "term", "term2"), cos),
        cosine=(("step", "term"), cos_rest),
        imbalance=(("step", "term"), imb),
    )
    if layers:
        coords["layer"] = [name for name, _ in layers]
        data["grad_norm_layer"] = (("step", "term", "layer"), glayer)
    if hessian:
        data["hessian_top_eigenvalue"] = (("step", "term"), top)
    ds = xr.Dataset(data, coords=coords)
    ref = names[0]
    ds["loss"].attrs["definition"] = "L_term(theta_step): the term of Objective.terms (penalty weights included)"
    ds["grad_norm"].attrs["definition"] = "||dL_term/dtheta||_2 over all parameters (autograd)"
    ds["grad_cosine"].attrs["definition"] = (
        "cos(g_term, g_term2) = g_term . g_term2 / (||g_term|| ||g_term2||), g = dL/dtheta; NaN for a zero gradient"
    )
    ds["cosine"].attrs["definition"] = (
        "cos(g_term, sum of the other terms' gradients): < 0 means the term pulls against the rest"
    )
    ds["imbalance"].attrs.update(
        definition=f"lambda_term = max_i |dL_{ref}/dtheta_i| / mean_i |dL_term/dtheta_i|, over all parameters; "
        f"reference term {ref!r} (the formulation's first term: residual / energy); NaN for the reference",
        reference_term=ref,
        source=SOURCES["imbalance"],
        flag_threshold=IMBALANCE_THRESHOLD,
    )
    if layers:
        ds["grad_norm_layer"].attrs["definition"] = (
            "||dL_term/dtheta_layer||_2 over one layer's parameters (weight and bias), layers named as the "
            "module names them"
        )
    if hessian:
        ds["hessian_top_eigenvalue"].attrs["definition"] = (
            "algebraically largest eigenvalue of d^2 L_term / dtheta^2 (hessian_eigenpairs, Lanczos, default tol)"
        )
    notes = []
    if not layers:
        notes.append("grad_norm_layer omitted: the network exposes no parameter layout covering theta")
    if K == 1:
        notes.append(
            f"one checkpoint only (step {int(steps[0])}): the final parameters; no trend over training can be read"
        )
    ds.attrs.update(
        problem=run.problem.name,
        formulation=obj.formulation.name,
        dtype=str(dtype).replace("torch.", ""),
        n_params=P,
        n_checkpoints_recorded=len(run.trajectory_steps),
        ntk="not computed: Objective.terms returns each term reduced over its points, so per-point residuals "
        "(the NTK's Jacobian rows, Wang, Yu & Perdikaris 2022, arXiv:2007.14527) are not available",
        notes="; ".join(notes),
        summary=_summary(run, ds, ref),
    )
    return ds


def _summary(run, ds: xr.Dataset, ref: str) -> str:
    lines = []
    flagged = False
    imb = ds["imbalance"]
    finite = imb.where(np.isfinite(imb))
    if ds.sizes["term"] > 1 and bool(np.isfinite(imb.values).any() or np.isinf(imb.values).any()):
        vals = np.where(np.isnan(imb.values), -np.inf, imb.values)
        k, j = np.unravel_index(int(np.argmax(vals)), vals.shape)
        worst = float(vals[k, j])
        term, step = str(ds.term.values[j]), int(ds.step.values[k])
        last = finite.isel(step=-1)
        msg = (
            f"largest gradient imbalance: lambda_{term} = {worst:.3g} at step {step} "
            f"(max|grad L_{ref}| / mean|grad L_{term}|, Wang et al. 2021); at the last checkpoint "
            + ", ".join(f"lambda_{t} = {float(last.sel(term=t)):.3g}" for t in ds.term.values[1:])
        )
        if worst > IMBALANCE_THRESHOLD:
            flagged = True
            msg += (
                f". Above {IMBALANCE_THRESHOLD:g}: the {ref} term's gradients dwarf the {term} term's, the "
                "pathology Wang et al. 2021 show on their Helmholtz example (a fix: their learning-rate annealing)"
            )
        else:
            msg += f" (at most {IMBALANCE_THRESHOLD:g}: not flagged)"
        lines.append(msg)
    # where the loss stopped decreasing: the training history (every step) where there is one
    hist = getattr(run, "history", None)
    if hist is not None and "loss" in hist and hist.sizes.get("step", 0) > 2:
        s, l_ = hist["step"].values, hist["loss"].values.astype(float)
        source = "the training history"
    else:
        s, l_ = ds.step.values, ds["loss"].sum("term").values
        source = "the checkpoints"
    stall = _stall(np.asarray(s), np.asarray(l_))
    if stall is None:
        lines.append("loss trend: needs at least two recorded steps")
    else:
        end = int(np.asarray(s)[-1])
        if stall < STALL_BEFORE * end:
            flagged = True
            lines.append(
                f"the loss stopped decreasing at step {stall} of {end} ({source}): it never again fell more than "
                f"{STALL_FRACTION:.0%} below its value there (flagged when before {STALL_BEFORE:.0%} of training)"
            )
        else:
            lines.append(
                f"the loss kept decreasing until step {stall} of {end} ({source}; flagged when it stops before "
                f"{STALL_BEFORE:.0%} of training)"
            )
    if not flagged:
        lines.insert(0, "nothing stands out.")
    return "\n".join(lines)
