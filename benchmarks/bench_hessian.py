"""Top-2 Hessian eigenvalues: our Lanczos against PyHessian's power iteration, side by side in one process.

Reference workload: poisson1d (strong form and Deep Ritz), 1000 uniform points, MLP 1-50-50-50-1 tanh,
at the trained parameters, 2 threads. Ours in float32 runs every pass of the R-operator in C (csrc/rop.c:
the setup's, and each product as one call); "ours_f32_tol1e-5_torch_passes" is the same with them in torch,
for the C kernels' own ratio. Accuracy is measured against a tightly converged float64 Lanczos
(tol 1e-12). PyHessian's power iteration ranks eigenvalues by magnitude, not algebraically, and runs in the
model's float32; its stopping rule is a relative change below ``tol`` between iterations (default 1e-3).

    pip install pyhessian
    python benchmarks/bench_hessian.py [--threads 2] [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import pinn_landscape_widget as plw


class PINNIntegrand(torch.nn.Module):
    """What a PyHessian user writes for a PINN: the model returns the loss integrand at the quadrature
    points (the strong residual r, or the Ritz energy density e), differentiated by autograd inside."""

    def __init__(self, model, problem, formulation):
        super().__init__()
        self.model, self.problem, self.formulation = model, problem, formulation

    def forward(self, x):
        x = x.clone().requires_grad_(True)
        u = self.model(x)
        du = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
        f = self.problem.source(x.detach().double()).to(x.dtype)
        if self.formulation == "strong":
            d2u = torch.autograd.grad(du.sum(), x, create_graph=True)[0][:, 0]
            return d2u + f
        return 0.5 * du[:, 0] ** 2 - f * u


def pyhessian_top2(run, tol):
    from pyhessian import hessian

    model = PINNIntegrand(run.model_at(run.params), run.problem, run.formulation)
    x, w = run.problem.quadrature()
    x, w = x.float(), w.float()
    if run.formulation == "strong":
        criterion = lambda r, wt: (wt * r * r).sum()  # noqa: E731
    else:
        criterion = lambda e, wt: (wt * e).sum()  # noqa: E731
    torch.manual_seed(0)
    h = hessian(model, criterion, data=(x, w), cuda=False)
    vals, _ = h.eigenvalues(top_n=2, tol=tol, maxIter=1000)
    return sorted(vals, reverse=True)


def ours_top2(run, dtype, tol):
    ds = plw.hessian_eigenpairs(run, 2, "largest", dtype=dtype, tol=tol)
    return [float(v) for v in ds.eigenvalue.values], int(ds.attrs["n_matvecs"])


def ours_top2_torch_passes(run, dtype, tol):
    """As ours_top2, with the R-operator's passes (and the loss's part of a product) in torch and autograd
    instead of C (the baseline of csrc/rop.c)."""
    from pinn_landscape_widget.analysis import _rop as rop

    native_applies = rop.native_applies
    rop.native_applies = lambda objective: False
    try:
        return ours_top2(run, dtype, tol)
    finally:
        rop.native_applies = native_applies


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for form in ("strong", "deep_ritz"):
        run = plw.train("poisson1d", form, progress=False, device="cpu")
        ref = [float(v) for v in plw.hessian_eigenpairs(run, 2, "largest", tol=1e-12).eigenvalue.values]
        methods = {
            "ours_f64_tol1e-8": lambda run=run: ours_top2(run, torch.float64, 1e-8)[0],
            "ours_f32_tol1e-5": lambda run=run: ours_top2(run, torch.float32, 1e-5)[0],
            "ours_f32_tol1e-5_torch_passes": lambda run=run: ours_top2_torch_passes(run, torch.float32, 1e-5)[0],
            "pyhessian_tol1e-3": lambda run=run: pyhessian_top2(run, 1e-3),
            "pyhessian_tol1e-5": lambda run=run: pyhessian_top2(run, 1e-5),
            "pyhessian_tol1e-7": lambda run=run: pyhessian_top2(run, 1e-7),
        }
        timings = {key: [] for key in methods}
        results = {}
        for _ in range(args.repeats):
            for key, fn in methods.items():
                t = time.perf_counter()
                results[key] = fn()
                timings[key].append(time.perf_counter() - t)
        row = dict(formulation=form, reference=ref)
        for key in timings:
            vals = results[key]
            row[key] = dict(
                seconds=statistics.median(timings[key]),
                eigenvalues=vals,
                max_rel_error=max(abs(v - r) / abs(r) for v, r in zip(vals, ref)),
            )
        rows.append(row)
        print(f"{form:10s} reference top-2 {ref[0]:.6g}, {ref[1]:.6g}")
        for key in timings:
            r = row[key]
            print(f"  {key:30s} {r['seconds']:.4f} s   max rel error {r['max_rel_error']:.1e}   {r['eigenvalues']}")
    if args.out:
        machine = dict(platform=platform.platform(), threads=args.threads, torch=torch.__version__)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(dict(machine=machine, results=rows), indent=2))
        print("wrote", args.out)
    return rows


if __name__ == "__main__":
    main()
