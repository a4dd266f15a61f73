"""Curvature of a run's loss: Hessian-vector products, Lanczos, eigenpairs, trace and spectral density.

Everything is written once against a linear operator with a ``matvec`` (the curvlinops habit). The
operator differentiates the same ``Objective.terms`` that training and the grid use, on the run's device,
in float64 by default where the loss allows it (``curvature_dtype``: the package's dtype rule): for tanh
networks by Pearlmutter's R-operator through the jet recursion (``rop``: the network part by hand, the loss
after the network by autograd), for other activations twice by autograd (double backward). ``term`` restricts the loss to one of its terms (residual / energy /
boundary / initial), as Rathore et al. (2024) do.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np
import torch
import xarray as xr

from .._checks import check_choice, check_int, check_positive, renamed_arguments, resolve_dtype
from ..engine._threads import few_threads_per_op, run_parts, threads_for_work, workers_for
from ..engine.memory import MemoryBudgetError, check_budget, check_hessian_budget, lanczos_steps_for_budget
from ..engine.objective import Objective
from ..engine.protocols import CurvatureOperator, Run
from . import _rop


def curvature_dtype(run: Run, dtype, feature: str = "the Hessian") -> torch.dtype:
    """The dtype the curvature tools compute in (the package's dtype rule for curvature).

    None: float64 when the run's loss can be evaluated in float64 (every problem's own loss; a user's loss
    whose captured data is float64), else the run's dtype. float64 asked for a loss that captures float32
    data is a ValueError naming the tensors and the two ways out."""
    if dtype is not None:
        dt = resolve_dtype(dtype)
        if dt == torch.float64 and run.dtype != torch.float64:
            blockers = run.float64_blockers()
            if blockers:
                raise ValueError(
                    f"{feature}: dtype=float64 needs a loss that can run in float64, but {'; '.join(blockers)}. "
                    f"Make that data float64 (torch.tensor(..., dtype=torch.float64) or .double()), or pass "
                    f"dtype=None to compute in the run's dtype ({str(run.dtype).replace('torch.', '')})"
                )
        return dt
    if run.dtype == torch.float64 or not run.float64_blockers():
        return torch.float64
    return run.dtype


class HessianOperator:
    """The loss Hessian H = d^2 L / d theta^2 at one parameter vector, as a linear operator (products H v).

    Nothing of size P x P is formed: for tanh networks a product is Pearlmutter's R-operator, otherwise a
    double backward. On a CPU with several torch threads the loss is split over the interior points into one
    part per thread (at least 64 points each), each with its own autograd graph; H v is the sum of the parts'
    products (a double backward is a chain of ~300 short ops, and torch's own threads pay a wake-up on each).

    Parameters
    ----------
    run : TrainResult or ModelRun
        The run whose loss is differentiated.
    params : torch.Tensor or None
        The parameter vector [P] where H is taken; default the run's parameters.
    term : str or None
        The Hessian of one loss term (one of the objective's ``term_names``) instead of the total.
    formulation : str or None
        Another of the run's formulations; default the run's.
    device : str, torch.device or None
        Default ``None``: the run's device.
    dtype : torch.dtype or None
        Default ``None``: float64 where the loss can run in it, else the run's dtype (a float64 request on a
        loss holding float32 tensors is a ValueError naming them).
    memory_budget : int or None
        Bytes (>= 1 MiB) the operator may hold (its activations, adjoints and the loss's graph at every
        point), predicted before anything is allocated; ``budget_left`` keeps what remains. Only for the
        package's own losses on its MLP (a user's loss cannot be predicted: a ValueError). Default ``None``:
        no check.

    Raises
    ------
    ValueError
        An unknown term or formulation, a params vector of the wrong shape, or a dtype the loss cannot run
        in (named with what is allowed); ``MemoryBudgetError`` (a ValueError) when the operator needs more
        than ``memory_budget``, with the bytes it needs.
    """

    MIN_POINTS_PER_PART = 64
    SPLIT_R_OPERATOR = False  # tests set it to exercise the split with R-operator parts

    def __init__(
        self,
        run: Run,
        params=None,
        term: str | None = None,
        *,
        formulation: str | None = None,
        device=None,
        dtype=None,
        memory_budget: int | None = None,
    ):
        self.objective = obj = run.objective(formulation, device, curvature_dtype(run, dtype))
        # bytes of memory_budget the operator leaves to what uses it (Lanczos bases); None: no budget
        self.budget_left = None if memory_budget is None else check_hessian_budget(obj, memory_budget)
        if term is not None:
            check_choice("term", term, obj.term_names)
        self.term = term
        theta = run.params if params is None else torch.as_tensor(params)
        theta = obj.as_batch(theta)[0].detach().clone().requires_grad_(True)
        self.theta = theta
        self.n = theta.numel()
        self.device, self.dtype = obj.device, obj.dtype
        self.n_matvecs = 0
        self._per_part = None
        self._parts = self._split(obj, term)

        def gradient(part):
            with torch.enable_grad():
                terms = part.terms(theta[None])
                loss = terms[term][0] if term is not None else sum(terms.values())[0]
                (g,) = torch.autograd.grad(loss, theta, create_graph=True)
            return float(loss.detach()), g

        def prepare(part):
            if _rop.applies(part):  # tanh: Pearlmutter's R-operator, 1.4-1.7x faster than a double backward
                hvp = _rop.NetworkHVP(part, theta, term)
                return hvp.loss, hvp.matvec
            loss, g = gradient(part)

            def product(v):
                with torch.enable_grad():
                    (hv,) = torch.autograd.grad(g, theta, grad_outputs=v, retain_graph=True)
                return hv.detach()

            return loss, product

        # how products are formed, reported in results: "r-operator" (tanh) or "double backward"
        self.method = "r-operator" if _rop.applies(obj) else "double backward"
        self.native = _rop.native_applies(obj) and len(self._parts) == 1  # its passes in C (float32 CPU)
        done = self._map([lambda p=p: prepare(p) for p in self._parts])
        self.loss = sum(loss for loss, _ in done)
        # nothing in a product refers back to the operator, so it is freed (and its workspace pooled for
        # the next one) as soon as the caller drops it, not at the next cyclic collection
        self._products = [product for _, product in done]

    def _split(self, obj, term):
        """The loss as a list of objectives whose losses add up to it: one per thread on a CPU."""
        if not isinstance(obj, Objective):  # a user's loss: one function, not a sum over our points
            return [obj]
        n_threads = threads_for_work(torch.get_num_threads()) if obj.device.type == "cpu" else 1
        n_parts = min(workers_for(n_threads)[0], obj.x.shape[0] // self.MIN_POINTS_PER_PART)
        # R-operator products are a few dozen large ops, fastest on torch's own threads (measured: Deep
        # Ritz 1.8-2.0 ms whole against 2.4-3.3 ms split in two; the split's threads contend for the GIL),
        # or in C (float32 CPU), which splits the points over threads itself
        if (
            n_parts < 2
            or term not in (None, *obj.formulation.terms(obj.problem))
            or (_rop.applies(obj) and not self.SPLIT_R_OPERATOR)
        ):
            return [obj]
        bounds = [round(i * obj.x.shape[0] / n_parts) for i in range(n_parts + 1)]
        return [
            obj.quadrature_part(slice(a, b), with_constraints=(i == 0) and term is None)
            for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))
        ]

    @contextlib.contextmanager
    def parallel(self):
        """Keep torch's thread count lowered across many products (changing it per product costs more
        than a product); ``matvec`` outside this block lowers and restores it each time."""
        if len(self._parts) == 1 or self._per_part is not None:
            yield
            return
        with few_threads_per_op() as n_threads:
            self._per_part = max(1, n_threads // len(self._parts))
            try:
                yield
            finally:
                self._per_part = None

    def _map(self, tasks):
        if len(tasks) == 1:
            return [tasks[0]()]
        with self.parallel():
            return run_parts(tasks, self._per_part)

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """The product H v.

        Parameters
        ----------
        v : torch.Tensor
            A vector [P]; cast to the operator's dtype.

        Returns
        -------
        torch.Tensor
            H v, shape [P], on the operator's device.
        """
        self.n_matvecs += 1
        v = v.to(self.dtype)
        parts = self._map([lambda product=product: product(v) for product in self._products])
        return sum(parts[1:], parts[0])

    def dense(self) -> torch.Tensor:
        """The full P x P matrix (P matvecs; for small networks and tests)."""
        eye = torch.eye(self.n, dtype=self.dtype, device=self.device)
        with self.parallel():
            return torch.stack([self.matvec(eye[i]) for i in range(self.n)])


class Lanczos:
    """Lanczos with full reorthogonalization, one step at a time, so callers can stop once converged.

    After j steps: basis Q [j, P], tridiagonal T_j = tridiag(beta, alpha, beta) = Q H Q^T, and the next
    off-diagonal ``beta_last`` (zero when an invariant subspace was found: ``done``).
    """

    def __init__(self, matvec, v0: torch.Tensor, max_steps: int, keep_products: bool = False):
        self.matvec = matvec
        self.max_steps = min(max_steps, v0.numel())
        # rows are added as steps are taken (doubling): most runs stop long before max_steps
        rows = min(self.max_steps, 32)
        self.Q = torch.empty((rows, v0.numel()), dtype=v0.dtype, device=v0.device)
        # H q_j as the operator returned them: true residuals of Ritz pairs without further products
        self.HQ = torch.empty_like(self.Q) if keep_products else None
        self.alpha: list[float] = []
        self.beta: list[float] = []
        self.q = v0 / v0.norm()
        self.done = False

    @property
    def steps(self) -> int:
        return len(self.alpha)

    def step(self) -> None:
        j = self.steps
        if j == self.Q.shape[0]:
            rows = min(self.max_steps, 2 * j)
            self.Q = torch.cat([self.Q, self.Q.new_empty((rows - j, self.Q.shape[1]))])
            if self.HQ is not None:
                self.HQ = torch.cat([self.HQ, self.HQ.new_empty((rows - j, self.HQ.shape[1]))])
        self.Q[j] = self.q
        w = self.matvec(self.q)
        if self.HQ is not None:
            self.HQ[j] = w
        # w minus its projection on the basis, twice ("twice is enough"): full reorthogonalization, which
        # also takes off alpha q_j and beta q_{j-1} (the three-term recurrence), alpha being the first
        # projection's last coefficient. A few ops: on a CPU each costs about as much as its arithmetic.
        Q = self.Q[: j + 1]
        h = Q @ w
        a = float(h[j])
        w = w.addmv(Q.T, h, alpha=-1)
        w.addmv_(Q.T, Q @ w, alpha=-1)
        b = float(w.norm())
        self.alpha.append(a)
        self.beta.append(b)
        if b <= 1e-12 * max(1.0, abs(a)) or j + 1 >= self.max_steps:
            self.done = True
        else:
            self.q = w.div_(b)

    def ritz(self):
        """(Ritz values ascending, eigenvectors of T [j, j], beta_last)."""
        alpha = torch.tensor(self.alpha, dtype=torch.float64)
        beta = torch.tensor(self.beta[:-1], dtype=torch.float64)
        T = torch.diag(alpha) + torch.diag(beta, 1) + torch.diag(beta, -1)
        evals, S = torch.linalg.eigh(T)
        return evals, S, self.beta[-1]

    def basis(self) -> torch.Tensor:
        return self.Q[: self.steps]

    def ritz_vector(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(y, H y) for the Ritz vector y = Q^T s, normalised; H y from the stored products (exact up to
        rounding, whatever orthogonality the basis has kept)."""
        j = self.steps
        s = s.to(self.Q.dtype)
        assert self.HQ is not None, "ritz_vector needs the basis's stored products (keep_products)"
        y = self.Q[:j].T @ s
        hy = self.HQ[:j].T @ s
        n = y.norm()
        return y / n, hy / n


def lanczos(matvec, v0: torch.Tensor, m: int):
    """m steps of Lanczos (fewer at an invariant subspace): (alpha, beta, Q, beta_last)."""
    lz = Lanczos(matvec, v0, m)
    while not lz.done:
        lz.step()
    return (
        torch.tensor(lz.alpha, dtype=torch.float64),
        torch.tensor(lz.beta[:-1], dtype=torch.float64),
        lz.basis(),
        lz.beta[-1],
    )


def _tridiag_eig(alpha, beta):
    T = torch.diag(alpha) + torch.diag(beta, 1) + torch.diag(beta, -1)
    return torch.linalg.eigh(T)


def _start_vector(n, seed, device, dtype):
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randn(n, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)


WHICH = ("largest", "smallest", "both")


def default_tol(dtype) -> float:
    """Lanczos's default residual tolerance (relative to ||H||) for products in ``dtype``."""
    return 1e-8 if dtype == torch.float64 else 1e-5


@renamed_arguments(k="n")
def hessian_eigenpairs(
    run,
    n: int = 2,
    which: str = "largest",
    term: str | None = None,
    *,
    formulation: str | None = None,
    params=None,
    tol: float | None = None,
    max_steps: int | None = None,
    seed: int = 0,
    device=None,
    dtype=None,
    operator: CurvatureOperator | None = None,
    memory_budget: int | None = None,
) -> xr.Dataset:
    """Extreme eigenpairs of the loss Hessian, by Lanczos with full reorthogonalization.

    The Krylov space grows until every wanted Ritz pair has residual ||H v - lambda v|| <= tol * ||H||, or
    ``max_steps`` products were made; non-convergence warns and is recorded in the result.

    Parameters
    ----------
    run : TrainResult or ModelRun
        The run.
    n : int
        Eigenpairs wanted (of each end for ``which="both"``), 1 to P; default 2.
    which : {"largest", "smallest", "both"}
        "largest" (algebraically, default), "smallest" (most negative: saddle directions) or "both".
    term : str or None
        The Hessian of one loss term instead of the total.
    formulation : str or None
        Another of the run's formulations; default the run's.
    params : torch.Tensor or None
        The parameter vector [P] where H is taken; default the run's parameters.
    tol : float or None
        Relative residual, > 0; default 1e-8 in float64 and 1e-5 in float32 (whose products are accurate to
        about 1e-6 of ||H||, so no tighter residual is reachable there).
    max_steps : int or None
        Cap on Lanczos steps (Hessian-vector products); default min(P, 600).
    seed : int
        Seed of the start vector; default 0.
    device : str, torch.device or None
        Default ``None``: the run's device.
    dtype : torch.dtype or None
        Default ``None``: float64 where the loss can run in it, else the run's dtype.
    operator : HessianOperator or None
        Reuse an operator already built (its params, term, formulation, device and dtype win).
    memory_budget : int or None
        Bytes (>= 1 MiB) the operator and the Lanczos basis (with its stored products) may hold together,
        predicted before anything is allocated (with ``operator``: the basis alone); ``max_steps`` is capped
        at the steps that fit. Too small a budget is a ``MemoryBudgetError`` (a ValueError) naming it and the
        bytes needed. Default ``None``: no check.

    Returns
    -------
    xarray.Dataset
        Over ``mode``: ``eigenvalue``, ``eigenvector`` [mode, param], ``residual_norm``; attrs ``converged``,
        the steps and products used, the dtype and how products were formed.

    Raises
    ------
    ValueError
        A bad argument (named with its value and what is allowed).
    """
    op: CurvatureOperator = operator or HessianOperator(
        run, params, term, formulation=formulation, device=device, dtype=dtype, memory_budget=memory_budget
    )
    P = op.n
    which = check_choice("which", which, WHICH)
    per_end = 2 if which == "both" else 1
    k = check_int("n", n, 1, P // per_end)
    tol = default_tol(op.dtype) if tol is None else check_positive("tol", tol)
    max_steps = min(P, 600) if max_steps is None else min(P, check_int("max_steps", max_steps, 1))
    if memory_budget is not None:
        left = check_budget(memory_budget) if operator is not None else op.budget_left  # type: ignore[attr-defined]
        max_steps = _steps_in_budget(memory_budget, left, P, op.dtype, max_steps, k * per_end + 2, True)
    with op.parallel():  # every product of this Lanczos run at the lowered thread count
        v0 = _start_vector(P, seed, op.device, op.dtype)
        lz = Lanczos(op.matvec, v0, max_steps, keep_products=True)
        want = k * per_end
        while True:
            lz.step()
            j = lz.steps
            if j < min(want + 2, P) and not lz.done:
                continue
            evals, S, b_last = lz.ritz()
            order = []
            if which in ("largest", "both"):
                order += list(range(j - 1, j - 1 - k, -1))
            if which in ("smallest", "both"):
                order += list(range(k))
            order = [i for i in order if 0 <= i < j]
            # ||H y - theta y|| = |beta_last * s_last| for a Ritz pair y = Q^T s
            res = np.array([abs(b_last * float(S[-1, i])) for i in order])
            scale = max(abs(float(evals[0])), abs(float(evals[-1])), 1e-300)
            if bool((res <= tol * scale).all()) or lz.done:
                break
    vals = torch.stack([evals[i] for i in order])
    pairs = [lz.ritz_vector(S[:, i]) for i in order]
    vecs = torch.stack([y for y, _ in pairs])
    # true residuals ||H y - lambda y||, with H y from the products Lanczos already made
    true_res = np.array([float((hy - float(lam) * y).norm()) for lam, (y, hy) in zip(vals, pairs)])
    converged = bool((true_res <= max(tol, 1e-12) * scale * 10).all())
    if not converged:
        warnings.warn(
            f"Lanczos did not converge in {lz.steps} steps: residual norms {true_res.tolist()} exceed "
            f"tol * ||H|| = {tol * scale:.3g}; raise max_steps or loosen tol",
            RuntimeWarning,
            stacklevel=2,
        )
    ds = xr.Dataset(
        dict(
            eigenvalue=("mode", vals.numpy()),
            eigenvector=(("mode", "param"), vecs.detach().cpu().numpy()),
            residual_norm=("mode", true_res),
        ),
        coords=dict(mode=np.arange(len(order))),
    )
    ds.attrs.update(
        which=which,
        term=term or "total",
        lanczos_steps=int(lz.steps),
        converged=int(converged),
        tol=tol,
        spectral_norm_estimate=scale,
        n_matvecs=int(op.n_matvecs),
        loss=op.loss,
        hvp_method=op.method,
        problem=run.problem.name,
        formulation=op.objective.formulation.name,
        dtype=str(op.dtype).replace("torch.", ""),
        seed=int(seed),
    )
    return ds


def _steps_in_budget(budget, left, n_params, dtype, steps, need, keep_products, name="max_steps") -> int:
    """``steps`` Lanczos steps capped at what fits the ``left`` bytes of ``memory_budget``; a
    MemoryBudgetError when fewer than ``need`` steps fit."""
    fit = lanczos_steps_for_budget(n_params, dtype, left, keep_products)
    if fit < need:
        per_step = max(1, (2 if keep_products else 1) * n_params * (torch.finfo(dtype).bits // 8) * 3 // 2)
        raise MemoryBudgetError(
            f"memory_budget={budget} bytes leaves {left} bytes for the Lanczos basis after the Hessian operator: "
            f"{fit} steps of {per_step} bytes fit, {need} are needed ({name}). Raise memory_budget by at least "
            f"{(need - fit) * per_step}, or pass dtype=torch.float32"
        )
    return min(steps, fit)


def hutchinson_trace(op: CurvatureOperator, n_samples: int = 100, seed: int = 0) -> tuple[float, float]:
    """Hutchinson's estimate of tr(H) with Rademacher probes: (estimate, standard error)."""
    n_samples = check_int("n_samples", n_samples, 2)
    gen = torch.Generator().manual_seed(int(seed))
    samples = []
    for _ in range(n_samples):
        z = (torch.randint(0, 2, (op.n,), generator=gen) * 2 - 1).to(device=op.device, dtype=op.dtype)
        samples.append(float(z @ op.matvec(z)))
    s = np.array(samples)
    return float(s.mean()), float(s.std(ddof=1) / math.sqrt(len(s)))


def slq(op: CurvatureOperator, n_vectors: int = 8, n_steps: int = 64, seed: int = 0):
    """Stochastic Lanczos quadrature: per probe, Ritz nodes and weights (first eigenvector components^2).

    Returns (nodes [n_vectors, m], weights [n_vectors, m]); rows padded with NaN nodes / zero weights when
    Lanczos stops early.
    """
    n_vectors = check_int("n_vectors", n_vectors, 1)
    n_steps = min(check_int("n_steps", n_steps, 2), op.n)
    gen = torch.Generator().manual_seed(int(seed))
    nodes = np.full((n_vectors, n_steps), np.nan)
    weights = np.zeros((n_vectors, n_steps))
    for i in range(n_vectors):
        v = (torch.randint(0, 2, (op.n,), generator=gen) * 2 - 1).to(device=op.device, dtype=op.dtype)
        alpha, beta, _, _ = lanczos(op.matvec, v, n_steps)
        evals, S = _tridiag_eig(alpha, beta)
        nodes[i, : len(alpha)] = evals.numpy()
        weights[i, : len(alpha)] = (S[0] ** 2).numpy()
    return nodes, weights


def hessian_spectrum(
    run,
    term: str | None = None,
    *,
    formulation: str | None = None,
    params=None,
    n_vectors: int = 8,
    n_steps: int = 64,
    n_trace_samples: int = 100,
    n_grid: int = 512,
    sigma: float | None = None,
    seed: int = 0,
    device=None,
    dtype=None,
    memory_budget: int | None = None,
) -> xr.Dataset:
    """The Hessian's eigenvalue density, extremes, condition number and trace.

    The density is stochastic Lanczos quadrature (SLQ, Ghorbani et al. 2019) broadened by Gaussians; the
    extremes are converged Lanczos eigenvalues; the trace is Hutchinson's estimate with its standard error.

    Parameters
    ----------
    run : TrainResult or ModelRun
        The run.
    term : str or None
        The Hessian of one loss term instead of the total.
    formulation : str or None
        Another of the run's formulations; default the run's.
    params : torch.Tensor or None
        The parameter vector [P] where H is taken; default the run's parameters.
    n_vectors : int
        SLQ probe vectors; default 8.
    n_steps : int
        Lanczos steps per probe vector; default 64.
    n_trace_samples : int
        Rademacher samples of Hutchinson's trace; default 100.
    n_grid : int
        Points of the density's eigenvalue grid, >= 16; default 512.
    sigma : float or None
        Width of the Gaussian broadening, > 0; default (lambda_max - lambda_min) / 200.
    seed : int
        Seed of the probe vectors; default 0.
    device : str, torch.device or None
        Default ``None``: the run's device.
    dtype : torch.dtype or None
        Default ``None``: float64 where the loss can run in it, else the run's dtype.
    memory_budget : int or None
        Bytes (>= 1 MiB) the operator and the Lanczos bases may hold together, predicted before anything is
        allocated (see ``HessianOperator``); the extremes' Lanczos run is capped at the steps that fit.
        Default ``None``: no check.

    Returns
    -------
    xarray.Dataset
        ``density`` over ``eigenvalue`` (integrates to 1), the SLQ nodes and weights over (probe, node); attrs
        lambda_max, lambda_min, condition_number (|lambda|max / |lambda|min over the two ends),
        trace_hutchinson and its stderr, trace_slq, negative_mass (the density's fraction below zero).

    Raises
    ------
    ValueError
        A bad argument (named with its value and what is allowed).
    """
    op = HessianOperator(
        run, params, term, formulation=formulation, device=device, dtype=dtype, memory_budget=memory_budget
    )
    ends_steps = None
    if memory_budget is not None:
        assert op.budget_left is not None
        _steps_in_budget(memory_budget, op.budget_left, op.n, op.dtype, n_steps, n_steps, False, "n_steps")
        ends_steps = _steps_in_budget(memory_budget, op.budget_left, op.n, op.dtype, min(op.n, 600), 4, True)
    with op.parallel():
        ends = hessian_eigenpairs(run, 1, "both", operator=op, seed=seed, max_steps=ends_steps)
        lam_max, lam_min = float(ends.eigenvalue[0]), float(ends.eigenvalue[1])
        nodes, weights = slq(op, n_vectors, n_steps, seed)
        trace, trace_se = hutchinson_trace(op, n_trace_samples, seed + 1)
    width = lam_max - lam_min
    sigma = check_positive("sigma", sigma) if sigma is not None else max(width, 1e-12) / 200.0
    grid = np.linspace(lam_min - 5 * sigma, lam_max + 5 * sigma, check_int("n_grid", n_grid, 16))
    ok = np.isfinite(nodes)
    kern = np.exp(-0.5 * ((grid[None, None, :] - np.where(ok, nodes, 0.0)[..., None]) / sigma) ** 2)
    kern /= sigma * math.sqrt(2 * math.pi)
    density = (weights[..., None] * kern * ok[..., None]).sum(1).mean(0)
    slq_trace = op.n * float(np.nansum(weights * np.where(ok, nodes, 0.0), axis=1).mean())
    neg = float((weights * (np.where(ok, nodes, 0.0) < 0)).sum(1).mean())
    ds = xr.Dataset(
        dict(
            density=("eigenvalue", density),
            slq_node=(("probe", "node"), nodes),
            slq_weight=(("probe", "node"), weights),
        ),
        coords=dict(eigenvalue=grid),
    )
    ds.attrs.update(
        problem=run.problem.name,
        formulation=op.objective.formulation.name,
        term=term or "total",
        n_params=int(op.n),
        lambda_max=lam_max,
        lambda_min=lam_min,
        condition_number=abs(lam_max) / max(abs(lam_min), 1e-300)
        if abs(lam_max) >= abs(lam_min)
        else abs(lam_min) / max(abs(lam_max), 1e-300),
        trace_hutchinson=trace,
        trace_hutchinson_stderr=trace_se,
        trace_slq=slq_trace,
        negative_mass=neg,
        sigma=sigma,
        n_vectors=int(n_vectors),
        n_steps=int(n_steps),
        converged=int(ends.attrs["converged"]),
        residual_norms=ends.residual_norm.values.tolist(),
        seed=int(seed),
        loss=op.loss,
        dtype=str(op.dtype).replace("torch.", ""),
    )
    ds["density"].attrs["long_name"] = "eigenvalue density (SLQ, Gaussian broadening sigma)"
    return ds


def directional_curvature(
    run,
    direction: torch.Tensor,
    params: torch.Tensor,
    *,
    formulation: str | None = None,
    term: str | None = None,
    device=None,
    dtype=None,
) -> torch.Tensor:
    """The curvature d^T H(theta_k) d along one direction at each of K parameter points, batched.

    The second derivative of t -> L(theta_k + t d) at t = 0 by forward-over-forward mode (a jvp of a jvp): no
    Hessian is formed and all K points go through the batched evaluator together. A loss that differentiates
    its inputs itself (a user's loss calling torch.autograd) takes two backward passes per point instead.

    Parameters
    ----------
    run : TrainResult or ModelRun
        The run.
    direction : torch.Tensor
        The direction d, [P].
    params : torch.Tensor
        The points theta_k, [K, P] (or one vector [P]).
    formulation : str or None
        Another of the run's formulations; default the run's.
    term : str or None
        One loss term instead of the total.
    device : str, torch.device or None
        Default ``None``: the run's device.
    dtype : torch.dtype or None
        Default ``None``: the run's dtype (like ``landscape(curvature=True)``, which calls it).

    Returns
    -------
    torch.Tensor
        [K]: d^T H d at each point.

    Raises
    ------
    ValueError
        An unknown term or formulation, or params of the wrong shape.
    """
    from ..engine.mlp import differentiable_jets

    obj = run.objective(formulation, device, dtype)
    if term is not None:
        check_choice("term", term, obj.term_names)
    p = obj.as_batch(params).detach()
    d = torch.as_tensor(direction).to(device=obj.device, dtype=obj.dtype).reshape(1, -1).expand_as(p).contiguous()

    def loss(x):
        terms = obj.terms(x)
        return terms[term] if term is not None else sum(terms.values())

    if obj.differentiates_inputs:
        # the loss calls torch.autograd itself (a user's loss): forward-mode transforms cannot run it, so each
        # point takes two backward passes, d^T H d = d . grad(grad L . d)
        out = torch.empty(p.shape[0], dtype=obj.dtype, device=obj.device)
        with torch.enable_grad():
            for k in range(p.shape[0]):
                theta = p[k].clone().requires_grad_(True)
                (g,) = torch.autograd.grad(loss(theta[None])[0], theta, create_graph=True)
                (hd,) = torch.autograd.grad(g @ d[0], theta)
                out[k] = hd @ d[0]
        return out

    def slope(x):
        return torch.func.jvp(loss, (x,), (d,))[1]

    with differentiable_jets():
        return torch.func.jvp(slope, (p,), (d,))[1].detach()
