"""``diagnose(run)``: why did my PINN fail? Per checkpoint and loss term, the quantities the PINN failure
literature reads: term losses, gradient norms (whole and per layer), gradient cosines between terms, the
gradient imbalance ratio of Wang, Teng & Perdikaris (2021), the top Hessian eigenvalue and the Hessian trace of
each term, and for a problem in time the residual per time slice with the causal weights of Wang, Sankaran &
Perdikaris (2022).

Every quantity is computed on the run's own ``Objective.terms`` (the loss training and the landscape use)
at the recorded checkpoints. For a float32 run of our tanh MLP on a CPU (the reference workload) the losses,
gradients, Hessian products and matrix-free NTK products run in float32 on the engine's passes in C
(``engine.fused_loss``, ``_rop``, ``_jacobian``), the Lanczos runs warm-started from the previous checkpoint's
eigenvectors: about 82 ms per checkpoint there on 2 CPU cores (Hessian, NTK and gradients; 100 checkpoints in
8.2 s) against 276 ms by float64 autograd (``dtype=torch.float64``; docs/performance.md). Otherwise everything
is in the curvature tools' dtype (float64 where the loss allows it).

The neural tangent kernel of Wang, Yu & Perdikaris (2022) per least-squares term: K_tt = J_t J_t^T, J_t the
Jacobian of the term's weighted residual vector (``Objective.residual_vectors``, sum(r_t^2) = L_t) with respect
to theta; its trace, top eigenvalues and condition number, and their weights lambda_t = tr(K) / tr(K_tt).
It needs per-point residuals: a ``from_model`` loss gives them when every term is ``plw.squares(r)``, a DeepXDE
run when its loss is the mean squared error (``DeepXDELoss.residuals``), a PINA run when its solver's loss is
``torch.nn.MSELoss`` (``PinaLoss.residuals``); other user losses return scalars and
Deep Ritz's energy is not a sum of squares, so there the NTK variables are NaN and ``attrs["ntk"]`` says why.
A term whose Jacobian is small is taken exactly (J_t formed, its singular values); a large one matrix-free
(Lanczos on products J_t^T J_t v for the top eigenvalues, Hutchinson's estimate of the trace), so the reference
workload's 1000 x 5251 Jacobian is never held.
"""

from __future__ import annotations

import numbers
from types import SimpleNamespace

import numpy as np
import torch
import xarray as xr

from .._checks import check_choice, check_int, check_positive, resolve_dtype
from ..engine._threads import threads_for_load
from ..engine.fused_loss import FusedLoss
from ..engine.protocols import LossObjective
from . import _jacobian, _rop
from .curvature import HessianOperator, Lanczos, curvature_dtype, default_tol, hutchinson_trace

MAX_DEFAULT_CHECKPOINTS = 50
IMBALANCE_THRESHOLD = 10.0  # lambda_term above this is flagged in the summary
STALL_FRACTION = 0.01  # "stopped decreasing": never again more than 1 % below the loss at that step
STALL_BEFORE = 0.8  # flagged when that step comes before 80 % of the recorded steps

NTK_MAX_ENTRIES = 20_000_000  # default memory budget: Jacobian / kernel entries held at once
NTK_EXACT_ENTRIES = 1_000_000  # ntk_method="auto": a term's Jacobian above this many entries goes matrix-free
NTK_TOP = 3  # top eigenvalues reported
NTK_METHODS = ("auto", "exact", "matrix-free")
PROBES = 10  # default Rademacher probes of a Hutchinson trace (NTK matrix-free, Hessian above HESSIAN_EXACT_P)
HESSIAN_EXACT_P = 128  # the Hessian trace from the dense matrix (P products) up to this many parameters
MATRIX_FREE_TOL = 1e-6  # Lanczos residual, relative to the largest Ritz value, of the matrix-free NTK (float64)
MATRIX_FREE_MAX_STEPS = 60
WARM_START = 1.0  # weight of a random vector beside the previous checkpoint's eigenvectors in a Lanczos start
TIME_SLICES = 10
CAUSAL_EPSILON = 1.0
CAUSAL_DELTA = 0.99  # Wang, Sankaran & Perdikaris (2022) move on once min_i w_i exceeds it

SOURCES = {
    "ntk": "Wang, Yu & Perdikaris (2022), 'When and why PINNs fail to train: A neural tangent kernel perspective', "
    "J. Comput. Phys. 449, 110768, arXiv:2007.14527",
    "imbalance": "Wang, Teng & Perdikaris (2021), 'Understanding and mitigating gradient flow pathologies in "
    "physics-informed neural networks', SIAM J. Sci. Comput. 43(5), arXiv:2001.04536, their lambda_hat without the "
    "moving average",
    "causality": "Wang, Sankaran & Perdikaris (2022), 'Respecting causality is all you need for training "
    "physics-informed neural networks', arXiv:2203.07404, their temporal residual losses "
    "L_r(t_i) and causal weights w_i = exp(-epsilon sum_{k<i} L_r(t_k))",
    "hutchinson": "Hutchinson (1990), 'A stochastic estimator of the trace of the influence matrix for Laplacian "
    "smoothing splines', Commun. Stat. Simul. Comput. 19(2): tr(A) = E[z^T A z], z Rademacher",
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


def _time_slices(run, obj, n: int) -> dict | None:
    """For a problem in time whose interior residual has per-point values: which slice of t each interior
    point is in, the slices' midpoints and the weight in each; None otherwise."""
    name = getattr(run.problem, "time", None)
    if name is None or _ntk_unavailable(obj) is not None:
        return None
    col = list(run.problem.input_names).index(name)
    t = obj.interior.x[:, col].detach().to(torch.float64).cpu()
    w = obj.interior.w.detach().to(torch.float64).cpu()
    lo, hi = [float(b) for b in run.problem.domain[col]]
    idx = ((t - lo) / (hi - lo) * n).floor().clamp(0, n - 1).long()
    weight = torch.zeros(n, dtype=torch.float64).index_add_(0, idx, w)
    edges = np.linspace(lo, hi, n + 1)
    return dict(idx=idx, weight=weight, mid=(edges[:-1] + edges[1:]) / 2, lo=lo, hi=hi, name=name)


def _slice_means(r: torch.Tensor, slices: dict) -> np.ndarray:
    """sum w_j r_j^2 / sum w_j per slice, from the weighted residual vector sqrt(w_j) r_j (NaN: an empty slice).
    A system's residual (several equations concatenated) adds its equations' squares point by point."""
    idx, weight = slices["idx"], slices["weight"]
    sq = (r.cpu() ** 2).reshape(-1, idx.numel()).sum(0)
    sums = torch.zeros_like(weight).index_add_(0, idx, sq)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(weight.numpy() > 0, sums.numpy() / weight.numpy(), np.nan)


def _ntk_unavailable(obj: LossObjective) -> str | None:
    """Why this objective has no NTK (None: it has one)."""
    if not obj.has_residual_vectors:
        why = obj.why_no_residual_vectors or "the loss gives no per-point residuals"
        return (
            f"not computed: {why}. The NTK is built from the Jacobian of per-point residuals: it is computed for "
            "runs of plw.train (built-in problems and define_problem, with our MLP or any torch module as model=) "
            "in a least-squares formulation (strong), for from_model losses that give every term as "
            "plw.squares(r), for DeepXDE runs (plw.adapters.from_deepxde) whose loss is the mean squared error, and "
            "for PINA runs (plw.adapters.from_pina) whose solver's loss is torch.nn.MSELoss"
        )
    if not obj.formulation.least_squares:
        return (
            f"not computed: the {obj.formulation.name!r} loss's interior term is an energy, not a sum of squared "
            "residuals; the NTK (and the weights lambda_t, which need the whole kernel) is defined for the "
            "residual (strong) form"
        )
    return None


def ntk_term_methods(rv: dict[str, torch.Tensor], P: int, names: list[str], method: str) -> dict[str, str]:
    """Per least-squares term (rv: the residual vectors), "exact" (J_t formed, in row chunks) or "matrix-free"
    (products only)."""
    if method != "auto":
        return {t: method for t in names}
    return {t: "exact" if int(rv[t].numel()) * P <= NTK_EXACT_ENTRIES else "matrix-free" for t in names}


def _ntk_matrix_free(
    obj, theta: torch.Tensor, term: str, probes: int, seed: int, warm: torch.Tensor | None = None
) -> tuple[float, float, np.ndarray, torch.Tensor]:
    """(trace estimate, its standard error, top eigenvalues descending, their eigenvectors of J_t^T J_t) of
    K_tt = J_t J_t^T without forming J_t, by autograd (any network; ``_jacobian`` is the fast path).

    The nonzero eigenvalues of J_t J_t^T are those of G = J_t^T J_t [P, P]; Lanczos (full reorthogonalization)
    on products G v = J_t^T (J_t v) until the top eigenvalues' residuals are below MATRIX_FREE_TOL of the
    largest. Both factors come from one retained graph: J_t^T w is a reverse pass, and J_t v the reverse pass of
    the linear map z -> J_t^T z (a double backward; on the jets it costs about half of forward mode). The trace
    tr(K_tt) = E ||J_t^T z||^2 over Rademacher z [N_t] (Hutchinson), ``probes`` reverse passes.
    """
    with torch.enable_grad():
        th = theta.detach().clone().requires_grad_(True)
        r = obj.residual_vectors(th[None], functional=True)[term]
        z0 = torch.zeros_like(r, requires_grad=True)
        (jt_z0,) = torch.autograd.grad(r, th, z0, create_graph=True)
    N, P = int(r.numel()), int(theta.numel())

    def vjp_fn(w: torch.Tensor) -> tuple[torch.Tensor]:
        with torch.enable_grad():
            return (torch.autograd.grad(r, th, w, retain_graph=True)[0].detach(),)

    def gram(v: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            (jv,) = torch.autograd.grad(jt_z0, z0, v, retain_graph=True)
        return vjp_fn(jv.detach())[0]

    gen = torch.Generator().manual_seed(int(seed))
    samples = []
    for _ in range(probes):
        z = (torch.randint(0, 2, (N,), generator=gen) * 2 - 1).to(device=r.device, dtype=r.dtype)
        (jz,) = vjp_fn(z)
        samples.append(float((jz.to(torch.float64) ** 2).sum()))
    est = np.array(samples)
    stderr = float(est.std(ddof=1) / np.sqrt(len(est))) if len(est) > 1 else np.nan
    want = min(NTK_TOP, N, P)
    tol = MATRIX_FREE_TOL if r.dtype == torch.float64 else default_tol(r.dtype)
    evals, vecs = _top_eigenpairs(gram, _start(warm, P, gen, th), want, tol, MATRIX_FREE_MAX_STEPS)
    return float(est.mean()), stderr, evals, vecs


def _start(warm: torch.Tensor | None, P: int, gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """A Lanczos start vector: random, plus (warm start) the previous checkpoint's eigenvectors [k, P], each
    normalised, beside a random part of weight WARM_START, so an eigenvector that overtakes them is still
    in the start vector's reach."""
    v = torch.randn(P, generator=gen, dtype=torch.float64)
    v = v / v.norm()
    if warm is not None:
        w = warm.detach().to(torch.float64).cpu()
        v = WARM_START * v + (w / w.norm(dim=1, keepdim=True)).sum(0)
    return v.to(device=like.device, dtype=like.dtype)


def _top_eigenpairs(matvec, v0: torch.Tensor, want: int, tol: float, max_steps: int) -> tuple[np.ndarray, torch.Tensor]:
    """The ``want`` algebraically largest eigenvalues (descending) and their Ritz vectors [want, P] of a
    symmetric operator, by Lanczos with full reorthogonalization until each has residual
    ||A y - theta y|| <= tol * max |Ritz value| (or max_steps products)."""
    P = v0.numel()
    lz = Lanczos(matvec, v0, min(P, max_steps))
    while True:
        lz.step()
        j = lz.steps
        if j < min(want + 2, P) and not lz.done:
            continue
        evals, S, b_last = lz.ritz()
        top = list(range(j - 1, max(-1, j - 1 - want), -1))
        res = np.array([abs(b_last * float(S[-1, i])) for i in top])
        scale = max(abs(float(evals[0])), abs(float(evals[-1])), 1e-300)
        if bool((res <= tol * scale).all()) or lz.done:
            break
    vecs = lz.basis().T @ S[:, top].to(lz.Q.dtype).to(lz.Q.device)
    return np.array([float(evals[i]) for i in top]), vecs.T


def _hessian(run, obj_p, theta_p: torch.Tensor, term: str, formulation, fast: bool, threads: int):
    """The Hessian of one term at theta_p as an operator (n, device, dtype, matvec): on the C passes when
    ``fast`` (float32 R-operator products, ``_rop.NetworkHVP``), else a ``HessianOperator`` in theta_p's
    dtype."""
    if not fast:
        return HessianOperator(run, theta_p, term, formulation=formulation, dtype=theta_p.dtype)
    hvp = _rop.NetworkHVP(obj_p, theta_p, term, threads=threads)
    return SimpleNamespace(
        n=theta_p.numel(), device=theta_p.device, dtype=theta_p.dtype, matvec=lambda v: hvp.matvec(v, threads)
    )


def _ntk(obj, theta: torch.Tensor, names: list[str], max_entries: int) -> tuple[dict, list[str]]:
    """{term: (trace, singular values of J_t descending or None, max(N_t, P))} at theta, and notes.

    K_tt = J_t J_t^T has eigenvalues sigma^2, sigma the singular values of J_t (taken from J_t itself rather
    than from K_tt: the small ones keep their accuracy). J_t's rows come in chunks (reverse mode, one forward
    pass for all terms) so that at most about ``max_entries`` entries are held at once; the trace
    sum ||J_t row||^2 is always exact. The singular values: of the whole J_t when N_t <= P and it fits the
    budget, else of the triangular factor R [P, P] of J_t = QR, updated chunk by chunk, when that fits, else
    they are skipped (NaN, with a note).
    """
    P = int(theta.numel())

    def flat(th: torch.Tensor) -> torch.Tensor:
        rv = obj.residual_vectors(th[None], functional=True)
        return torch.cat([rv[t] for t in names])

    batched = not obj.differentiates_inputs
    if batched:  # rows of J by vmap over torch.func's vjp
        with torch.enable_grad():
            pair = torch.func.vjp(flat, theta.detach())
        r, vjp_fn = pair[0], pair[1]
    else:  # a user's loss calls torch.autograd itself (no torch.func transforms): reverse passes of one graph
        th = theta.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            r = flat(th)

        def vjp_fn(e: torch.Tensor) -> tuple[torch.Tensor]:
            with torch.enable_grad():
                return (torch.autograd.grad(r, th, e, retain_graph=True)[0],)

    rv0 = obj.residual_vectors(theta.detach()[None])
    sizes = [int(rv0[t].numel()) for t in names]
    N_all = int(r.numel())
    chunk = max(1, max_entries // (P + N_all))
    out, notes = {}, []
    start = 0
    for t, N in zip(names, sizes, strict=True):
        whole = N <= P and N * P <= max_entries
        qr = not whole and 2 * P * P + chunk * P <= max_entries
        trace = 0.0
        parts: list[torch.Tensor] = []
        R = torch.zeros(0, P, dtype=torch.float64, device=r.device)
        for a in range(0, N, chunk):
            b = min(N, a + chunk)
            E = torch.zeros(b - a, N_all, dtype=r.dtype, device=r.device)
            E[torch.arange(b - a), start + torch.arange(a, b)] = 1.0
            try:
                if not batched:
                    raise NotImplementedError
                (J,) = torch.func.vmap(vjp_fn)(E)
            except (RuntimeError, NotImplementedError):  # an op without a batching rule: one row at a time
                J = torch.stack([vjp_fn(e)[0] for e in E])
            J = J.to(torch.float64)
            trace += float((J * J).sum())
            if whole:
                parts.append(J)
            elif qr:
                R = torch.linalg.qr(torch.cat([R, J]), mode="r")[1]
        start += N
        sv = None
        if whole:
            sv = torch.linalg.svdvals(torch.cat(parts))
        elif qr:
            sv = torch.linalg.svdvals(R)
        else:
            notes.append(
                f"{t}: eigenvalues skipped, neither J ({N} x {P}, with N <= P) nor its QR factor R ({P} x {P}) fits "
                f"ntk_max_entries = {max_entries}; trace exact"
            )
        out[t] = (trace, None if sv is None else sv.cpu().numpy(), max(N, P))
    return out, notes


def diagnose(
    run,
    *,
    formulation: str | None = None,
    checkpoints=None,
    hessian: bool = True,
    ntk: bool = True,
    ntk_max_entries: int = NTK_MAX_ENTRIES,
    ntk_method: str = "auto",
    probes: int = PROBES,
    time_slices: int = TIME_SLICES,
    causality_epsilon: float = CAUSAL_EPSILON,
    seed: int = 0,
    dtype=None,
) -> xr.Dataset:
    """Why a PINN trains badly: per checkpoint and loss term, what the PINN failure literature reads.

    Gradient norms (whole and per layer) and cosines between the terms' gradients, the gradient imbalance of
    Wang et al. (2021), the top Hessian eigenvalue of each term, and the neural tangent kernel of each
    least-squares term (Wang, Yu & Perdikaris 2022), over the recorded training trajectory.
    ``ds.attrs["summary"]`` says in words what stands out.

    Parameters
    ----------
    run : TrainResult or ModelRun
        What ``train``, ``from_model`` or an adapter (``plw.adapters.from_deepxde``, ``from_pina``) returned,
        with its recorded trajectory.
    formulation : str or None
        Another of the run's formulations; default the run's.
    checkpoints : None, int or list of int
        Which rows of ``run.trajectory``: None (default) all, or at most 50 evenly spaced with the first and
        last kept; an int n: n evenly spaced (1: the final parameters only); a list: recorded steps.
    hessian : bool
        Also the top Hessian eigenvalue of each term (one Lanczos run per checkpoint and term); default True.
    ntk : bool
        Also the NTK of each least-squares term; default True.
    ntk_max_entries : int
        At most this many Jacobian / kernel entries held at once (beyond it the Jacobian is taken in row
        chunks, and eigenvalues are skipped when neither J nor its QR factor fits; the trace stays exact);
        default 2e7.
    ntk_method : {"auto", "exact", "matrix-free"}
        "exact": J_t formed (in row chunks) and its singular values taken; "matrix-free": the top eigenvalues
        by Lanczos on products J_t^T (J_t v) and the trace by Hutchinson's estimate, nothing of size N_t x P
        held (no condition number: the smallest eigenvalue is out of a few products' reach); "auto"
        (default): exact for a term whose J_t has at most 1e6 entries, else matrix-free.
    probes : int
        Rademacher probes of each Hutchinson trace estimate (matrix-free NTK traces, and Hessian traces of
        networks above 128 parameters; below, the Hessian trace is exact), >= 2; default 10.
    time_slices : int
        For a problem in time: the interior residual in this many equal slices of t, >= 2; default 10.
    causality_epsilon : float
        epsilon of the causal weights w_i = exp(-epsilon sum_{k<i} L_r(t_k)), > 0; default 1.
    seed : int
        Seed of the probes and start vectors; default 0.
    dtype : torch.dtype or None
        The dtype of the Hessian and matrix-free NTK products. Default ``None``: float32 on the engine's passes
        in C where they apply (a float32 run of our tanh MLP on a CPU, the kernels built), and the losses and
        gradients with them; else the curvature tools' dtype (float64 where the loss allows it), by autograd.
        ``torch.float64``: everything in float64 by autograd. The exact NTK is in the curvature tools' dtype
        either way (``ds.attrs["dtype"]``, ``ds.attrs["product_dtype"]``, ``ds.attrs["products"]``).

    Returns
    -------
    xarray.Dataset
        Dims ``step`` (coords ``step``: the recorded steps, ``checkpoint``: their rows in the trajectory),
        ``term`` and ``term2`` (the objective's term names) and ``layer`` (the network's parameter groups).
        Variables ``loss``, ``grad_norm``, ``grad_norm_layer``, ``grad_cosine`` (term x term2), ``cosine``
        (each term against the sum of the others), ``imbalance`` (reference: the first term),
        ``hessian_top_eigenvalue``, and with ntk ``ntk_trace``, ``ntk_top_eigenvalues`` (dim ``ntk_eig``),
        ``ntk_condition_number``, ``ntk_weight`` (tr(K) / tr(K_tt)); each with its definition in attrs. The NTK
        needs per-point residuals: runs of ``train`` (built-in problems and ``define_problem``, our MLP or any
        module as ``model=``) in a least-squares formulation (strong) have them, ``from_model`` runs whose loss
        gives every term as ``plw.squares(r)``, DeepXDE runs (``plw.adapters.from_deepxde``) whose loss is
        DeepXDE's mean squared error ("MSE", its default, or a list of "MSE"; each term's residuals times
        sqrt(loss weight / N)), and PINA runs (``plw.adapters.from_pina``) whose solver's loss is
        ``torch.nn.MSELoss`` (PINA's default; each condition's residual tensor times sqrt(weight / N), N its
        entries, under the mean reduction). Its variables are NaN where the loss has none (other ``from_model``
        losses: one scalar per term; a DeepXDE loss other than "MSE" or with an L1 regularizer; a PINA loss
        other than MSELoss, or a solver that adds terms such as the gradient-enhanced one; Deep Ritz's
        energy): ``ds.attrs["ntk"]`` says why; ``ntk_trace_stderr`` is the standard error of a matrix-free
        trace (0 where exact) and ``ds.attrs["ntk_methods"]`` the method per term. With hessian also
        ``hessian_trace`` (and ``hessian_trace_stderr``). For a problem in time with per-point residuals:
        ``residual_time_slice`` (dims step x ``time_slice``, coord ``t``: the slices' midpoints) and
        ``causal_weight``.

    Raises
    ------
    ValueError
        A bad argument (named with its value and what is allowed), or checkpoints the run did not record.
    """
    if not isinstance(hessian, bool):
        raise ValueError(f"hessian must be True or False, got {hessian!r}")
    if not isinstance(ntk, bool):
        raise ValueError(f"ntk must be True or False, got {ntk!r}")
    if isinstance(ntk_max_entries, bool) or not isinstance(ntk_max_entries, numbers.Integral) or ntk_max_entries < 1:
        raise ValueError(f"ntk_max_entries must be a positive integer, got {ntk_max_entries!r}")
    ntk_method = check_choice("ntk_method", ntk_method, NTK_METHODS)
    probes = check_int("probes", probes, 2)
    time_slices = check_int("time_slices", time_slices, 2)
    causality_epsilon = check_positive("causality_epsilon", causality_epsilon)
    seed = check_int("seed", seed, 0)
    dtype_asked = None if dtype is None else resolve_dtype(dtype)
    dtype = curvature_dtype(run, None, "diagnose")
    obj = run.objective(formulation, None, dtype)
    # the products' dtype and objective: float32 on the C passes where they apply (see the dtype argument)
    fast = False
    if dtype_asked is None and run.dtype == torch.float32:
        obj32 = run.objective(formulation, None, torch.float32)
        fast = _jacobian.applies(obj32)
    prod_dtype = torch.float32 if fast else curvature_dtype(run, dtype_asked, "diagnose")
    obj_p = obj32 if fast else (obj if prod_dtype == dtype else run.objective(formulation, None, prod_dtype))
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
    htrace = np.full((K, M), np.nan)
    htrace_se = np.full((K, M), np.nan)
    glayer = np.full((K, M, len(layers) if layers else 0), np.nan)
    ntk_why = _ntk_unavailable(obj) if ntk else None
    ntk_trace = np.full((K, M), np.nan)
    ntk_top = np.full((K, M, NTK_TOP), np.nan)
    ntk_cond = np.full((K, M), np.nan)
    ntk_se = np.full((K, M), np.nan)
    ntk_notes: list[str] = []
    ntk_names = names
    methods: dict[str, str] = {}
    if ntk and ntk_why is None:
        theta0 = run.trajectory[rows[0]].detach().to(device=obj.device, dtype=dtype)
        rv0 = obj.residual_vectors(theta0[None])
        ntk_names = list(rv0)
        methods = ntk_term_methods(rv0, P, ntk_names, ntk_method)
    slices = _time_slices(run, obj, time_slices)
    res_t = np.full((K, time_slices), np.nan)
    h_steps = min(P, 600)
    warm_h: dict[str, torch.Tensor] = {}  # the previous checkpoint's eigenvectors: Lanczos's warm starts
    warm_k: dict[str, torch.Tensor] = {}
    ntk_fast: set[str] = set()  # matrix-free terms taken on the C passes (exact trace) at some checkpoint
    for k, r in enumerate(rows):
        theta = run.trajectory[r].detach().to(device=obj.device, dtype=dtype).clone().requires_grad_(True)
        theta_p = run.trajectory[r].detach().to(device=obj.device, dtype=prod_dtype).contiguous()
        threads = threads_for_load(torch.get_num_threads()) if fast else 1
        if fast:  # one forward pass on the C passes and a backward pass per term, no autograd graph
            values, by_term = FusedLoss(obj_p, theta_p, threads=threads).term_gradients()
            grads = [by_term[t] for t in names]
        else:
            with torch.enable_grad():
                terms = obj.terms(theta[None])
                values = {t: terms[t][0].detach() for t in names}
                grads = []
                for j, t in enumerate(names):
                    (g,) = torch.autograd.grad(terms[t][0], theta, retain_graph=j < M - 1, allow_unused=True)
                    grads.append(torch.zeros_like(theta) if g is None else g.detach())
        G = torch.stack(grads).to(torch.float64)  # [M, P]
        loss[k] = [float(values[t]) for t in names]
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
                op = _hessian(run, obj_p, theta_p, t, formulation, fast, threads)
                gen = torch.Generator().manual_seed(seed)
                ev, warm_h[t] = _top_eigenpairs(
                    op.matvec, _start(warm_h.get(t), P, gen, theta_p), 1, default_tol(prod_dtype), h_steps
                )
                top[k, j] = float(ev[0])
                if P <= HESSIAN_EXACT_P:
                    eye = torch.eye(P, dtype=prod_dtype, device=theta_p.device)
                    htrace[k, j], htrace_se[k, j] = float(sum(float(op.matvec(e)[i]) for i, e in enumerate(eye))), 0.0
                else:
                    htrace[k, j], htrace_se[k, j] = hutchinson_trace(op, probes, seed)
        if ntk and ntk_why is None:
            exact = [t for t in ntk_names if methods[t] == "exact"]
            res, skipped = _ntk(obj, theta.detach(), exact, int(ntk_max_entries)) if exact else ({}, [])
            ntk_notes += [f"step {int(steps[k])}: {n}" for n in skipped]
            free = [t for t in ntk_names if methods[t] == "matrix-free"]
            jac = _jacobian.ResidualJacobian(obj_p, theta_p, threads) if fast and free else None
            for t in ntk_names:
                j = names.index(t)
                if methods[t] == "matrix-free":
                    gen = torch.Generator().manual_seed(seed)
                    if jac is not None and t in jac.terms:  # the C passes: exact trace, Lanczos on J^T J
                        ntk_fast.add(t)
                        want = min(NTK_TOP, jac.sizes[t], P)
                        v0 = _start(warm_k.get(t), P, gen, theta_p)
                        eig, warm_k[t] = _top_eigenpairs(
                            lambda v, t=t, jac=jac: jac.gram(t, v),
                            v0,
                            want,
                            default_tol(prod_dtype),
                            MATRIX_FREE_MAX_STEPS,
                        )
                        ntk_trace[k, j], ntk_se[k, j] = jac.trace(t), 0.0
                    else:
                        ntk_trace[k, j], ntk_se[k, j], eig, warm_k[t] = _ntk_matrix_free(
                            obj_p, theta_p, t, probes, seed, warm_k.get(t)
                        )
                    ntk_top[k, j, : len(eig)] = eig
                    continue
                tr, sv, n = res[t]
                ntk_trace[k, j], ntk_se[k, j] = tr, 0.0
                if sv is not None:
                    eig = sv**2
                    ntk_top[k, j, : min(NTK_TOP, len(eig))] = eig[:NTK_TOP]
                    nonzero = sv[sv > sv[0] * n * np.finfo(np.float64).eps]
                    ntk_cond[k, j] = float((sv[0] / nonzero[-1]) ** 2) if len(nonzero) else np.nan
        if slices is not None:
            r_int = obj.residual_vectors(theta.detach()[None])[names[0]].detach().to(torch.float64)
            res_t[k] = _slice_means(r_int, slices)

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
        data["hessian_trace"] = (("step", "term"), htrace)
        data["hessian_trace_stderr"] = (("step", "term"), htrace_se)
    if slices is not None:
        coords["t"] = ("time_slice", slices["mid"])
        data["residual_time_slice"] = (("step", "time_slice"), res_t)
        cum = np.concatenate([np.zeros((K, 1)), np.cumsum(res_t, axis=1)[:, :-1]], axis=1)
        data["causal_weight"] = (("step", "time_slice"), np.exp(-causality_epsilon * cum))
    if ntk:
        coords["ntk_eig"] = np.arange(NTK_TOP)
        whole = ntk_trace.sum(1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            weight = np.where(ntk_trace > 0, whole / ntk_trace, np.inf if ntk_why is None else np.nan)
        data.update(
            ntk_trace=(("step", "term"), ntk_trace),
            ntk_top_eigenvalues=(("step", "term", "ntk_eig"), ntk_top),
            ntk_condition_number=(("step", "term"), ntk_cond),
            ntk_weight=(("step", "term"), np.where(np.isnan(ntk_trace), np.nan, weight)),
            ntk_trace_stderr=(("step", "term"), ntk_se),
        )
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
    pd_name = str(prod_dtype).replace("torch.", "")
    products = (
        "float32 products on the engine's passes in C (R-operator)"
        if fast
        else f"{pd_name} products ({'R-operator' if _rop.applies(obj_p) else 'double backward'}, by autograd)"
    )
    if hessian:
        ds["hessian_top_eigenvalue"].attrs["definition"] = (
            "algebraically largest eigenvalue of d^2 L_term / dtheta^2 (Lanczos with full reorthogonalization "
            f"to a residual of {default_tol(prod_dtype):g} of the largest Ritz value, started from the previous "
            f"checkpoint's eigenvector plus a random vector; {products})"
        )
        how = (
            f"exact: the trace of the dense Hessian ({P} products)"
            if P <= HESSIAN_EXACT_P
            else f"Hutchinson's estimate over {probes} Rademacher probes (seed {seed}); its standard error in "
            f"hessian_trace_stderr; {products}"
        )
        ds["hessian_trace"].attrs.update(
            definition=f"tr(d^2 L_term / dtheta^2), the sum of the Hessian's eigenvalues; {how}",
            source=SOURCES["hutchinson"] if P > HESSIAN_EXACT_P else "",
        )
        ds["hessian_trace_stderr"].attrs["definition"] = "standard error of hessian_trace (0 where exact)"
    if slices is not None:
        ds["residual_time_slice"].attrs.update(
            definition=f"L_r(t_i): the weighted mean of the squared interior residual r(x)^2 over the interior points "
            f"with t in slice i of {time_slices} equal slices of [{slices['lo']:g}, {slices['hi']:g}] "
            f"(sum w_j r_j^2 / sum w_j over the slice's points, from Objective.residual_vectors); "
            f"time coordinate {slices['name']!r}",
            source=SOURCES["causality"],
        )
        ds["causal_weight"].attrs.update(
            definition=f"w_i = exp(-epsilon sum_(k<i) L_r(t_k)), epsilon = {causality_epsilon:g}: near 1 when the "
            "residual before slice i is small; causal training (Wang et al. 2022) minimises sum_i w_i L_r(t_i)",
            epsilon=float(causality_epsilon),
            delta=CAUSAL_DELTA,
            source=SOURCES["causality"],
        )
    if ntk:
        src = SOURCES["ntk"]
        ds["ntk_trace"].attrs.update(
            definition="tr(K_tt) = ||J_t||_F^2, K_tt = J_t J_t^T the neural tangent kernel of term t, J_t = "
            "d r_t / d theta the Jacobian of its weighted residual vector (Objective.residual_vectors: "
            "sqrt(w_i) r(x_i) inside, sqrt(lam w_j) misfit_j on a condition; sum(r_t^2) = L_t). Exact: from J_t "
            "(ntk_method exact), or matrix-free from the squared norms of J_t's rows (one backward pass on the "
            "engine's float32 passes in C, ntk_trace_stderr 0); else Hutchinson's estimate (ntk_trace_stderr)",
            source=src,
        )
        ds["ntk_top_eigenvalues"].attrs.update(
            definition=f"the {NTK_TOP} largest eigenvalues of K_tt, descending: sigma^2, sigma the singular values "
            "of J_t (of J_t or of its QR factor R); matrix-free: Lanczos on products J_t^T (J_t v), started from "
            "the previous checkpoint's eigenvectors plus a random vector, to a residual of 1e-6 (float64 products) "
            "or 1e-5 (float32) of the largest; NaN past the kernel's rank bound min(N_t, P) or when neither "
            "fits ntk_max_entries",
            source=src,
        )
        ds["ntk_condition_number"].attrs.update(
            definition="lambda_max(K_tt) / lambda_min,nonzero(K_tt) = (sigma_max / sigma_min)^2 over the singular "
            "values of J_t above the cutoff sigma_max * max(N_t, P) * eps (float64 eps, numpy.linalg.matrix_rank's "
            "tolerance): the conditioning on the kernel's numerical range, its null space excluded",
            cutoff="sigma > sigma_max * max(N_t, P) * eps, eps = 2.22e-16 (float64), sigma the singular values of J_t (sigma^2 the "
            "eigenvalues of K_tt)",
            source=src,
        )
        ds["ntk_trace_stderr"].attrs["definition"] = (
            "standard error of a matrix-free (Hutchinson) ntk_trace, over the probes; 0 where the trace is exact"
        )
        ds["ntk_weight"].attrs.update(
            definition="lambda_t = tr(K) / tr(K_tt), tr(K) = sum over the terms of tr(K_tt) (K the whole kernel, "
            "block diagonal traces add); Wang et al.'s Algorithm 1 weights, without their update schedule",
            source=src,
        )
    zero = _zero_gradients(ds, ref)
    if zero:
        ds["imbalance"].attrs["zero_gradient"] = ds["grad_cosine"].attrs["zero_gradient"] = "; ".join(zero)
    notes = list(zero)
    if ntk_notes:
        notes += ntk_notes
    if not layers:
        notes.append("grad_norm_layer omitted: the network exposes no parameter layout covering theta")
    if K == 1:
        notes.append(
            f"one checkpoint only (step {int(steps[0])}): the final parameters; no trend over training can be read"
        )
    ds.attrs.update(
        problem=run.problem.name,
        formulation=obj.formulation.name,
        dtype=pd_name if fast else str(dtype).replace("torch.", ""),
        product_dtype=pd_name,
        products=products,
        n_params=P,
        n_checkpoints_recorded=len(run.trajectory_steps),
        ntk=("not asked (ntk=False)" if not ntk else ntk_why)
        or f"computed per least-squares term from Objective.residual_vectors (exact: in "
        f"{str(dtype).replace('torch.', '')}, "
        f"singular values and traces in float64; matrix-free: {products}) "
        f"(ntk_max_entries = {int(ntk_max_entries)}; per term: "
        + ", ".join(f"{t} {m}" for t, m in methods.items())
        + f"); {SOURCES['ntk']}",
        ntk_methods=", ".join(f"{t}: {m}" for t, m in methods.items()),
        zero_gradient="; ".join(zero),
        notes="; ".join(notes),
        summary=_summary(run, ds, ref),
    )
    return ds


def _zero_gradients(ds: xr.Dataset, ref: str) -> list[str]:
    """One sentence per term whose gradient is exactly zero at some checkpoint: where, why (its loss says
    which of the two causes), and what that does to the ratios that divide by it."""
    out = []
    zero = ds["grad_norm"].values == 0
    for j, t in enumerate(str(t) for t in ds.term.values):
        at = np.flatnonzero(zero[:, j])
        if not len(at):
            continue
        steps = [int(s) for s in ds.step.values[at]]
        shown = ", ".join(map(str, steps[:5])) + (", ..." if len(steps) > 5 else "")
        losses = ds["loss"].values[at, j]
        why = (
            "its loss is 0 there: the term is already satisfied exactly, or its penalty weight is 0"
            if bool((losses == 0).all())
            else f"its loss ({float(losses[0]):.3g} at step {steps[0]}) does not change with the parameters there: "
            "a term that does not read the network"
        )
        effect = (
            f"the other terms' imbalance lambda (max|grad L_{t}| / mean|grad L_term|) is 0"
            if t == ref
            else f"its imbalance lambda_{t} = max|grad L_{ref}| / mean|grad L_{t}| divides by 0 (inf)"
        )
        out.append(
            f"term {t!r} has a zero gradient at {len(at)} of {ds.sizes['step']} checkpoints (steps {shown}): {why}; "
            f"{effect}, its cosines with the other terms are NaN (undefined) and, where its NTK trace is 0, its NTK "
            "weight is inf; the term exerts no pull on training there"
        )
    return out


def _summary(run, ds: xr.Dataset, ref: str) -> str:
    lines = []
    flagged = False
    imb = ds["imbalance"]
    zero = ds["grad_norm"].values == 0
    for msg in _zero_gradients(ds, ref):
        flagged = True
        lines.append(msg)
    # a zero gradient's inf is explained above, not ranked as an imbalance
    imb = imb.where(~zero)
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
    if "ntk_weight" in ds and bool(np.isfinite(ds["ntk_weight"].values).any()):
        last = ds["ntk_weight"].isel(step=-1)
        tr = ds["ntk_trace"].isel(step=-1)
        fast, slow = str(tr.idxmax("term").values), str(tr.idxmin("term").values)
        ratio = float(tr.max() / tr.min()) if float(tr.min()) > 0 else np.inf
        lines.append(
            f"NTK weights lambda_t = tr(K) / tr(K_tt) at step {int(ds.step.values[-1])} (Wang, Yu & Perdikaris 2022): "
            + ", ".join(f"lambda_{t} = {float(last.sel(term=t)):.3g}" for t in ds.term.values)
            + (
                f"; tr(K_{fast}) / tr(K_{slow}) = {ratio:.3g}: in their analysis the {slow} term converges slowest"
                if ds.sizes["term"] > 1
                else ""
            )
        )
    if "residual_time_slice" in ds:
        rt = ds["residual_time_slice"].isel(step=-1).values
        w = ds["causal_weight"].isel(step=-1).values
        eps = ds["causal_weight"].attrs["epsilon"]
        i_max = int(np.nanargmax(rt)) if np.isfinite(rt).any() else 0
        msg = (
            f"residual over time at step {int(ds.step.values[-1])} (Wang, Sankaran & Perdikaris 2022): L_r per slice "
            f"from {np.nanmin(rt):.3g} to {np.nanmax(rt):.3g}, largest in the slice around t = "
            f"{float(ds.t.values[i_max]):.3g}; first / last slice = {rt[0] / rt[-1]:.3g}; smallest causal weight "
            f"min_i w_i = {np.nanmin(w):.3g} (epsilon = {eps:g})"
        )
        if np.nanmin(w) <= CAUSAL_DELTA:
            flagged = True
            msg += (
                f". At most {CAUSAL_DELTA:g}: the residual is not resolved in time; Wang et al. 2022 train with causal "
                f"weights until min_i w_i > {CAUSAL_DELTA:g}"
                + (
                    ", and here the early times carry more residual than the late ones: the late times were fitted "
                    "before the early ones they depend on, the violation of causality they describe"
                    if rt[0] > rt[-1]
                    else ""
                )
            )
        else:
            msg += f" (above {CAUSAL_DELTA:g}: resolved in time, not flagged)"
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
