"""Rathore, Lei, Frangella, Lu & Udell (ICML 2024, arXiv 2402.01868): "Challenges in training PINNs: a loss
landscape perspective".

After Adam then L-BFGS, the loss Hessian of a PINN has a few outlier eigenvalues far above the bulk:
above 1e4 for convection (beta = 40), 1e3 for reaction (rho = 5) and 1e5 for wave (beta = 5); the
residual term is the worst conditioned of the loss terms; preconditioning by the L-BFGS inverse-Hessian
approximation shrinks the top of the spectrum by three orders of magnitude or more. The setup follows the
authors' code (github.com/pratikrathore8/opt_for_pinns: ``src/train_utils.py``, ``src/precond_hessian.py``
and the spectral-density notebook): a tanh MLP with 3 hidden layers, Xavier-normal weights and zero
biases; 10 000 residual points drawn from the interior of a 257 x 101 grid; initial condition on the 257
x values, boundary conditions on the 101 t values of each end; each term a mean of squares; Adam, then
``torch.optim.LBFGS`` steps (history 100, torch's defaults otherwise: 20 iterations per step); float32.

Their spectra use width 200, 11 000 Adam epochs and 1 500 L-BFGS epochs on a GPU. On two CPU cores the full
study uses width 50 (their smallest width), 2500 residual points and a smaller budget, stated in the table;
the loss is a mean over the points, so its Hessian does not grow with their number.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from .._checks import check_int, resolve_dtype
from ..analysis.curvature import HessianOperator, hessian_eigenpairs, hutchinson_trace
from ..models.training import train
from ..pde.library import get_problem
from ._optim import lbfgs_epochs
from ._report import Row, StudyResult, fmt
from ._runs import run_from_record
from ._study import Citation, Published, Study

RATHORE_2024 = Citation(
    short="Rathore et al. (2024)",
    authors="P. Rathore, W. Lei, Z. Frangella, L. Lu, M. Udell",
    year=2024,
    title="Challenges in training PINNs: a loss landscape perspective",
    venue="Proceedings of the 41st International Conference on Machine Learning (ICML 2024), PMLR 235",
    url="https://arxiv.org/abs/2402.01868",
)
# the published cases: the only parameter values the study allows, with their Adam learning rate and seed
CASES: dict[str, dict[str, Any]] = {
    "convection": dict(problem="convection1d", param="beta", value=40, adam_lr=1e-4, seed=345),
    "reaction": dict(problem="reaction1d", param="rho", value=5, adam_lr=1e-3, seed=456),
    "wave": dict(problem="wave1d", param="beta", value=5, adam_lr=1e-3, seed=567),
}
PRECONDITIONING_SHRINK = 1e3
# after 41 000 iterations of Adam + L-BFGS: the outlier eigenvalues of the loss Hessian (Sec. 5.1), the residual
# the worst-conditioned term (Sec. 5.2), the top eigenvalue shrunk by 1e3 or more by L-BFGS preconditioning
# (Sec. 5.3), and the lowest relative L2 error of Adam + L-BFGS over widths, learning rates and seeds (Table 1)
PUBLISHED = {
    "convection: outliers": Published(1e4, RATHORE_2024, "Fig. 3, Sec. 5.1", text="> 1e4 (outliers)"),
    "reaction: outliers": Published(1e3, RATHORE_2024, "Fig. 3, Sec. 5.1", text="> 1e3 (outliers)"),
    "wave: outliers": Published(1e5, RATHORE_2024, "Fig. 3, Sec. 5.1", text="> 1e5 (outliers)"),
    "worst-conditioned term": Published(None, RATHORE_2024, "Figs. 3 and 7, Sec. 5.2", text="residual"),
    "preconditioning shrink": Published(PRECONDITIONING_SHRINK, RATHORE_2024, "Fig. 3, Sec. 5.3", text=">= 1e3"),
    "convection: L2RE": Published(4.19e-3, RATHORE_2024, "Table 1"),
    "reaction: L2RE": Published(1.92e-2, RATHORE_2024, "Table 1"),
    "wave: L2RE": Published(5.52e-2, RATHORE_2024, "Table 1"),
}
GRID = {"convection": (255, 100), "reaction": (255, 100), "wave": (255, 100)}
N_RES = 10_000
FULL = dict(width=50, adam=5000, lbfgs_epochs=100, n_res=2500, top_k=3)
QUICK = dict(width=20, adam=300, lbfgs_epochs=10, n_res=1000, top_k=2)


def problem(case: str, n_res: int = N_RES, seed: int = 0):
    c = CASES[case]
    return get_problem(
        c["problem"], **{c["param"]: c["value"]}, n_points=GRID[case], collocation=n_res, mean_terms=True, seed=seed
    )


def train_case(
    case: str, *, width: int, adam: int, lbfgs_epochs_: int, n_res: int = N_RES, dtype=torch.float32, log=None
):
    """Adam (their learning rate for this case) for ``adam`` steps, then ``lbfgs_epochs_`` L-BFGS steps of 20
    iterations (history 100). Returns (run, L-BFGS record)."""
    c = CASES[case]
    prob = problem(case, n_res)
    dt = resolve_dtype(dtype)
    adam_run = train(
        prob,
        "strong",
        width=width,
        depth=3,
        optimizer="adam",
        steps=adam,
        lr=c["adam_lr"],
        seed=c["seed"],
        dtype=dt,
        progress=False,
        record_every=max(1, adam // 20),
    )
    if log:
        log(f"  {case}: Adam {adam} steps, loss {float(adam_run.history.loss[-1]):.3e}")

    def on_block(epoch, loss):
        if log:
            log(f"  {case}: L-BFGS epoch {epoch}, loss {loss:.3e}")

    rec = lbfgs_epochs(
        adam_run.objective(),
        adam_run.params,
        epochs=lbfgs_epochs_,
        max_iter=20,
        history_size=100,
        record_every=max(1, lbfgs_epochs_ // 10),
        on_block=on_block,
    )
    run = run_from_record(
        prob,
        width=width,
        depth=3,
        dtype=dt,
        theta0=adam_run.params,
        record=rec,
        optimizer="adam+lbfgs",
        seed=c["seed"],
    )
    return run, rec, adam_run


class PreconditionedHessian:
    """C^T H C for the L-BFGS inverse-Hessian approximation H_k = C C^T, an operator on R^(P + m).

    With the curvature pairs (s_i, y_i), rho_i = 1 / (y_i . s_i), oldest first, and H_0 = gamma I, the BFGS
    update H_i = A_i H_(i-1) A_i^T + rho_i s_i s_i^T (A_i = I - rho_i s_i y_i^T) gives the factor
    C_i = [A_i C_(i-1), sqrt(rho_i) s_i], C_0 = sqrt(gamma) I. C^T H C has the nonzero eigenvalues of
    H_k H, the Hessian as the preconditioned iteration sees it (Rathore et al. 2024, Sec. 5.2, who use
    the same factorisation).

    A curvature operator (``engine.protocols.CurvatureOperator``, what ``hessian_eigenpairs`` takes): its
    dtype, device, loss, objective and thread setting are those of the Hessian ``op`` it is built on."""

    def __init__(self, op: HessianOperator, pairs: dict):
        self.op = op
        dt, dev = op.dtype, op.device
        self.s = [s.to(device=dev, dtype=dt) for s in pairs["s"]]
        self.y = [y.to(device=dev, dtype=dt) for y in pairs["y"]]
        self.rho = [float(r) for r in pairs["rho"]]
        self.gamma = float(pairs["gamma"])
        self.m = len(self.s)
        self.n = op.n + self.m  # acts on R^(P + m)
        self.n_matvecs = 0

    @property
    def dtype(self) -> torch.dtype:
        return self.op.dtype

    @property
    def device(self) -> torch.device:
        return self.op.device

    @property
    def loss(self) -> float:
        return self.op.loss

    @property
    def objective(self):
        return self.op.objective

    @property
    def method(self) -> str:
        return f"L-BFGS-preconditioned {self.op.method}"

    def parallel(self):
        """The Hessian's: many products at its lowered thread count."""
        return self.op.parallel()

    def factor(self, w: torch.Tensor) -> torch.Tensor:
        """C w for w = [v (P entries); c (m entries)]."""
        P = self.op.n
        x = math.sqrt(self.gamma) * w[:P]
        for i in range(self.m):
            x = x - self.rho[i] * self.s[i] * (self.y[i] @ x) + math.sqrt(self.rho[i]) * w[P + i] * self.s[i]
        return x

    def factor_t(self, u: torch.Tensor) -> torch.Tensor:
        """C^T u."""
        c = torch.empty(self.m, dtype=u.dtype, device=u.device)
        w = u.clone()
        for i in range(self.m - 1, -1, -1):
            si_w = self.s[i] @ w
            c[i] = math.sqrt(self.rho[i]) * si_w
            w = w - self.rho[i] * si_w * self.y[i]
        return torch.cat([math.sqrt(self.gamma) * w, c])

    def matvec(self, w: torch.Tensor) -> torch.Tensor:
        self.n_matvecs += 1
        return self.factor_t(self.op.matvec(self.factor(w.to(self.dtype))))


def spectrum(run, rec, top_k: int, log=None) -> dict:
    """Top eigenvalues of the Hessian (total and per term), their traces, and of the preconditioned one."""
    out: dict = {"terms": {}}
    for term in [None, *run.objective().term_names]:
        op = HessianOperator(run, term=term)
        ends = hessian_eigenpairs(run, top_k, "largest", operator=op, tol=1e-6, max_steps=400)
        trace, trace_se = hutchinson_trace(op, 20, seed=1)
        lam = [float(v) for v in ends.eigenvalue.values]
        out["terms"][term or "total"] = dict(
            top=lam,
            trace=trace,
            trace_stderr=trace_se,
            outlier_ratio=lam[0] / (trace / op.n) if trace > 0 else float("nan"),
            converged=bool(ends.attrs["converged"]),
        )
        if log:
            log(f"  {term or 'total'}: top eigenvalues {[f'{v:.3g}' for v in lam]}, trace {trace:.3g}")
    if rec.pairs:
        pre = PreconditionedHessian(HessianOperator(run), rec.pairs)
        ends = hessian_eigenpairs(run, top_k, "largest", operator=pre, tol=1e-6, max_steps=400)
        out["preconditioned"] = dict(
            top=[float(v) for v in ends.eigenvalue.values], pairs=pre.m, converged=bool(ends.attrs["converged"])
        )
        if log:
            log(f"  preconditioned: top eigenvalues {[f'{v:.3g}' for v in out['preconditioned']['top']]}")
    return out


def paper_error(run, case: str) -> float:
    """Relative L2 error on their test set: the interior of a 129 x 101 grid plus its initial and two
    boundary lines (``get_data(..., random=False)`` with n_x = (257 - 1) / 2 + 1), in float64."""
    lo, hi = run.problem.domain[0]
    x = torch.linspace(lo, hi, 129, dtype=torch.float64)
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    X, T = torch.meshgrid(x[1:-1], t[1:], indexing="xy")
    parts = [
        torch.stack([X.reshape(-1), T.reshape(-1)], 1),
        torch.stack([x, torch.zeros_like(x)], 1),
        torch.stack([torch.full_like(t, hi), t], 1),
        torch.stack([torch.full_like(t, lo), t], 1),
    ]
    pts = torch.cat(parts)
    with torch.no_grad():
        u = run.model_at(run.params.to(torch.float64))(pts)
    exact = run.problem.exact(pts)
    return float((u - exact).norm() / exact.norm())


class Rathore2024(Study):
    """Hessian spectra after Adam + L-BFGS on convection, reaction and wave, per loss term and preconditioned."""

    name = "rathore2024"
    title = "Rathore et al. (2024): Hessian spectra after Adam + L-BFGS"
    published = PUBLISHED

    def run(
        self,
        *,
        quick: bool = False,
        progress: bool = False,
        cases=tuple(CASES),
        beta=40,
        rho=5,
        wave_beta=5,
        width=None,
    ) -> StudyResult:
        """Train each case (Adam then L-BFGS) and measure the spectra. cases: a subset of "convection",
        "reaction", "wave". beta, rho, wave_beta: only the published values are allowed (40, 5, 5): the paper
        reports no other. width: the hidden width (8 ... 400; default 50, quick 20)."""
        cases = _check_cases(cases, beta, rho, wave_beta)
        budget = dict(QUICK if quick else FULL)
        if width is not None:
            budget["width"] = check_int("width", width, 8, 400)
        n_res = budget.get("n_res", N_RES)
        log = print if progress else None
        rows, runs, extra = [], {}, {}
        for case in cases:
            t0 = time.perf_counter()
            run_c, rec, _ = train_case(
                case,
                width=budget["width"],
                adam=budget["adam"],
                lbfgs_epochs_=budget["lbfgs_epochs"],
                n_res=n_res,
                log=log,
            )
            t_train = time.perf_counter() - t0
            spec = spectrum(run_c, rec, budget["top_k"], log)
            runs[case] = run_c
            err = paper_error(run_c, case)
            extra[case] = dict(
                spectrum=spec,
                train_seconds=round(t_train, 1),
                spectrum_seconds=round(time.perf_counter() - t0 - t_train, 1),
                loss=float(run_c.history.loss[-1]),
                lbfgs_iterations=rec.iterations,
            )
            rows.extend(self._rows(case, spec, err, float(run_c.history.loss[-1])))
        return self.result(
            quick=quick, rows=rows, setup=_setup(budget, n_res, quick), notes=_notes(rows), runs=runs, extra=extra
        )

    def _rows(self, case, spec, err, loss) -> list[Row]:
        c = CASES[case]
        label = f"{case} ({c['param']} = {c['value']})"
        total = spec["terms"]["total"]["top"][0]
        outlier = self.number(f"{case}: outliers")
        rows = [
            self.row(
                f"{case}: outliers",
                case=label,
                quantity="top Hessian eigenvalue",
                ours=total,
                criterion="above the published outlier level",
                verdict="reproduced" if total > outlier else "not reproduced",
            )
        ]
        terms = {k: v for k, v in spec["terms"].items() if k != "total"}
        worst = max(terms, key=lambda k: terms[k]["top"][0])
        rows.append(
            self.row(
                "worst-conditioned term",
                case=label,
                quantity="worst-conditioned term",
                ours=None,
                ours_text=f"{worst} ({', '.join(k + ' ' + fmt(v['top'][0]) for k, v in terms.items())})",
                criterion="the term with the largest top eigenvalue is the residual",
                verdict="reproduced" if worst == "residual" else "not reproduced",
            )
        )
        if "preconditioned" in spec:
            shrink = total / spec["preconditioned"]["top"][0]
            rows.append(
                self.row(
                    "preconditioning shrink",
                    case=label,
                    quantity="top eigenvalue shrink by L-BFGS preconditioning",
                    ours=shrink,
                    criterion="lambda_max(H) / lambda_max(C^T H C) >= 1e3",
                    verdict="reproduced" if shrink >= PRECONDITIONING_SHRINK else "not reproduced",
                    detail=dict(preconditioned_top=spec["preconditioned"]["top"]),
                )
            )
        l2re = self.number(f"{case}: L2RE")
        rows.append(
            self.row(
                f"{case}: L2RE",
                case=label,
                quantity="relative L2 error (context)",
                ours=err,
                criterion="context only: their best run over widths 50-400, 5 learning rates and 5 seeds",
                verdict="differs" if not (l2re / 3 <= err <= 3 * l2re) else "reproduced",
                detail=dict(final_loss=loss),
            )
        )
        return rows


def _check_cases(cases, beta, rho, wave_beta) -> tuple[str, ...]:
    for name, value, allowed in (("beta", beta, 40), ("rho", rho, 5), ("wave_beta", wave_beta, 5)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != allowed:
            raise ValueError(
                f"{name} must be {allowed}, the published case of Rathore et al. (2024) (no spectra are published "
                f"for other values), got {value!r}"
            )
    if isinstance(cases, str):
        cases = (cases,)
    bad = [c for c in cases if c not in CASES]
    if bad or not cases:
        raise ValueError(f"cases must be a non-empty subset of {list(CASES)}, got {cases!r}")
    return tuple(c for c in CASES if c in cases)


def _setup(budget, n_res, quick) -> dict:
    return {
        "network": {"ours": f"MLP 2 -> {budget['width']} x 3 -> 1, tanh", "paper": "widths 50-400 (spectra: 200)"},
        "initialisation": {"ours": "Xavier-normal weights, zero biases (our MLP, seeds 345/456/567)", "paper": "same"},
        "residual points": {
            "ours": f"{n_res} cell centres drawn from a 255 x 100 grid (seed 0)",
            "paper": "10000 nodes drawn from the 255 x 100 interior of a 257 x 101 grid",
        },
        "initial and boundary points": {
            "ours": "255 cell centres in x; 100 cell centres in t per end",
            "paper": "257 nodes in x; 101 nodes in t per end",
        },
        "loss": {
            "ours": "mean squares per term, weight 1 (wave: two boundary ends and two initial terms)",
            "paper": "same",
        },
        "optimizer": {
            "ours": f"Adam {budget['adam']} steps (lr 1e-4 convection, 1e-3 reaction and wave), then "
            f"{budget['lbfgs_epochs']} L-BFGS steps of 20 iterations (history 100, strong Wolfe)",
            "paper": "Adam 11000 epochs, then 1500 L-BFGS epochs (history 100, max_iter 20)",
        },
        "dtype": {"ours": "float32 training, float64 Hessians", "paper": "float32"},
        "spectrum": {
            "ours": f"Lanczos (full reorthogonalisation) top {budget['top_k']} eigenvalues to 1e-6 ||H||, "
            "per term; Hutchinson trace (20 probes); preconditioned operator C^T H C from the last L-BFGS pairs",
            "paper": "stochastic Lanczos quadrature densities (PyHessian), same preconditioned operator",
        },
        "budget": {
            "ours": f"{'quick: ' if quick else ''}width {budget['width']}, {n_res} points, {budget['adam']} Adam steps "
            f"and {budget['lbfgs_epochs']} L-BFGS steps, on 2 CPU cores",
            "paper": "width 200, 10000 points, 11000 Adam epochs and 1500 L-BFGS steps, on a GPU",
        },
    }


def _notes(rows) -> list[str]:
    notes = [
        "Eigenvalues scale with the loss; ours is the mean-squares loss of the paper, so the numbers compare "
        "directly. Our width and budget are smaller than the paper's (setup table): the outliers are a property "
        "of the operator (residual terms with derivatives of order 1-2 times large coefficients), which is why "
        "they appear at a smaller width too.",
        "outlier_ratio in the JSON is lambda_max / (trace / P): how far the top eigenvalue sits above the mean "
        "eigenvalue.",
    ]
    bad = [f"{r.case}: {r.quantity}" for r in rows if r.verdict == "not reproduced"]
    if bad:
        notes.append("Not reproduced: " + "; ".join(bad) + ".")
    return notes
