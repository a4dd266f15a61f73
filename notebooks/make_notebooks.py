"""Writes the notebooks in this folder from the cell lists below (so their JSON stays reviewable as code),
and the book's table of contents (_toc.yml), one chapter per notebook in this order.

python notebooks/make_notebooks.py
"""

from pathlib import Path

import nbformat

HERE = Path(__file__).parent
KERNEL = {
    "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
    "language_info": {"name": "python"},
}


def md(text):
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text):
    return nbformat.v4.new_code_cell(text.strip())


NOTEBOOKS = {
    "01_quickstart": [
        md("""
# Quickstart: a PINN's loss landscape in one line

`plw.explore("poisson1d")` trains a physics-informed neural network for u'' + f = 0 on [0, 1]
(u(0) = u(1) = 0, exact solution sin(pi x)) twice: once with the **strong form** (squared residual) and
once with the **Deep Ritz** energy. It then shows both loss landscapes side by side around the trained
parameters, on filter-normalised random directions (Li et al. 2018).

Turn the surfaces with the mouse (both turn together), hover for numbers, click a point to see the
network's solution there, and try the controls: PCA directions show the training path in red.
"""),
        code("""
import pinn_landscape_widget as plw

w = plw.explore("poisson1d")
# carry the other direction kinds in the saved notebook, so a page without a kernel can switch them too
w.precompute(("direction_kind",))
"""),
        md("""
Everything the widget draws is an `xarray.Dataset` you can compute yourself:
"""),
        code("""
run = w._runs["deep_ritz"]
ds = plw.landscape(run, plw.random_directions(run, 2, seed=0), resolution=41, progress=False)
print(ds.loss.shape, "E at the centre:", ds.attrs["loss_center"], "E* =", ds.attrs["energy_reference"])
fig = plw.plot(ds)
"""),
    ],
    "02_deep_ritz_vs_strong": [
        md("""
# Strong form vs Deep Ritz on the same problem

The comparison of Rowan & Murphy-Blanchard (2026): the same network, the same problem
(u'' + f = 0, hard boundary ansatz u = sin(pi x) N(x)), two physics losses:

* strong form: L = sum_i w_i (u''(x_i) + f(x_i))^2
* Deep Ritz:   E = sum_i w_i (1/2 u'(x_i)^2 - f(x_i) u(x_i)), negative at the solution: we plot E - E*.

We compare both losses **on the same directions and spans**, normalised against each run's own
trained parameters (filter normalisation, biases zeroed), then look at the line from initialisation to
the solution and at the curvature at the minimum.
"""),
        code("""
import numpy as np
import torch
import pinn_landscape_widget as plw

runs = {form: plw.train("poisson1d", form, progress=False) for form in ("strong", "deep_ritz")}
for name, run in runs.items():
    print(f"{name:10s} rel. L2 error {float(run.history.rel_l2_error[-1]):.2e}, "
          f"{run.history.attrs['train_seconds']:.1f} s")
"""),
        md("## The same random directions, both losses"),
        code("""
grids = {}
for name, run in runs.items():
    dirs = plw.random_directions(run, 2, seed=0)
    grids[name] = plw.landscape(run, dirs, span=1.0, resolution=41, progress=False)
    fig = plw.plot(grids[name])
"""),
        md("## Interpolation from the initialisation to the solution (Goodfellow et al. 2015)"),
        code("""
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for ax, (name, run) in zip(axes, runs.items()):
    line = plw.landscape(run, plw.interpolation_direction(run.init_params, run.params), resolution=81,
                         progress=False)
    ref = line.attrs.get("energy_reference", 0.0)
    ax.semilogy(line.alpha, np.maximum(line.loss - ref, 1e-12))
    ax.axvline(0, color="gray", lw=0.5); ax.axvline(1, color="gray", lw=0.5)
    ax.set_title(f"{name}: init (0) -> solution (1)"); ax.set_xlabel("alpha")
    monotone = bool(np.all(np.diff(line.loss.sel(alpha=slice(0, 1)).values) <= 1e-6))
    print(f"{name}: loss decreases monotonically from init to solution: {monotone}")
"""),
        md("## Curvature at the minimum: Hessian extremes and condition numbers (float64 Lanczos)"),
        code("""
rows = []
for name, run in runs.items():
    top = plw.hessian_eigenpairs(run, 2, "largest")
    bottom = plw.hessian_eigenpairs(run, 1, "smallest", max_steps=300)
    lam_max, lam_min = float(top.eigenvalue[0]), float(bottom.eigenvalue[0])
    rows.append((name, lam_max, float(top.eigenvalue[1]), lam_min, abs(lam_max / lam_min)))
print(f"{'loss':10s} {'lambda_1':>12s} {'lambda_2':>12s} {'lambda_min':>12s} {'|l1/lmin|':>12s}")
for r in rows:
    print(f"{r[0]:10s} {r[1]:12.4g} {r[2]:12.4g} {r[3]:12.4g} {r[4]:12.3g}")
"""),
        md("## The widget, both runs side by side (linked cameras)"),
        code("""
w = plw.LandscapeWidget(runs, resolution=41)
w.precompute(("direction_kind",))  # switchable on pages without a kernel (nbconvert HTML, the book)
"""),
        md("""
**Reading the numbers.** Both losses give smooth, bowl-shaped landscapes around their minima on these
slices, as the paper reports; the strong form's curvature is larger (its loss involves u'', so its Hessian
scales like the squared frequency), which the condition numbers above quantify.
"""),
    ],
    "03_failure_modes_convection": [
        md("""
# Failure modes: convection with growing beta (after Krishnapriyan et al. 2021)

u_t + beta u_x = 0 on [0, 2 pi] x [0, 1], periodic in x, u(x, 0) = sin x. A vanilla PINN trains well for
small beta and fails for large beta. We train at beta = 1, 10, 30, 40 and look at the landscape along the
top-2 Hessian eigenvectors. (Short training keeps this notebook fast; the trend is what matters.)
"""),
        code("""
import pinn_landscape_widget as plw

runs = {}
for beta in (1, 10, 30, 40):
    runs[beta] = plw.train("convection1d", "strong", width=32, depth=3, steps=(600, 100), lr=2e-3,
                           progress=False, problem_params=dict(beta=beta, n_points=1024))
    print(f"beta = {beta:3d}: rel. L2 error {float(runs[beta].history.rel_l2_error[-1]):.3f}")
"""),
        code("""
for beta, run in runs.items():
    dirs = plw.hessian_directions(run, 2, "largest")
    ds = plw.landscape(run, dirs, span=0.5, resolution=31, progress=False)
    print(f"beta = {beta}: top Hessian eigenvalues {[round(v, 1) for v in dirs.attrs['eigenvalues']]}")
    fig = plw.plot(ds)
"""),
    ],
    "04_spectra": [
        md("""
# Hessian spectra per loss term (after Rathore et al. 2024)

The loss of a PINN is a sum of terms; their Hessians can be very differently conditioned. Here: the
convection problem (beta = 10), total loss and each term, by stochastic Lanczos quadrature (density),
Lanczos (extremes) and Hutchinson (trace).
"""),
        code("""
import matplotlib.pyplot as plt
import pinn_landscape_widget as plw

run = plw.train("convection1d", "strong", width=24, depth=2, steps=(500, 100), lr=2e-3, progress=False,
                problem_params=dict(beta=10, n_points=900))
fig, ax = plt.subplots(figsize=(7, 4))
for term in (None, "residual", "initial", "boundary"):
    sp = plw.hessian_spectrum(run, term=term, n_vectors=4, n_steps=48, n_trace_samples=30)
    label = term or "total"
    ax.semilogy(sp.eigenvalue, sp.density + 1e-12, label=label)
    print(f"{label:9s} lambda_max {sp.attrs['lambda_max']:10.4g}  lambda_min {sp.attrs['lambda_min']:10.4g}  "
          f"trace {sp.attrs['trace_hutchinson']:10.4g} +- {sp.attrs['trace_hutchinson_stderr']:.2g}")
ax.set_xlabel("eigenvalue"); ax.set_ylabel("density"); ax.legend()
"""),
    ],
    "05_define_your_pde": [
        md("""
# Define your own PDE

Any PDE on a box takes a few lines with `plw.define_problem`, and then works everywhere a built-in
problem does: training, landscapes, Hessians, the widget. Here: the heat equation

u_t = kappa u_xx for x in [0, 1], t in [0, 1], with u(0, t) = u(1, t) = 0 and u(x, 0) = sin(pi x),

whose exact solution is u = exp(-kappa pi^2 t) sin(pi x). (The full guide: `docs/problems.md`.)
"""),
        code("""
import math

import torch

import pinn_landscape_widget as plw

heat = plw.define_problem(
    "heat",
    domain={"x": (0.0, 1.0), "t": (0.0, 1.0)},
    residual=lambda u, kappa: u.t - kappa * u.xx,  # zero for the solution
    params={"kappa": 0.1},
    conditions=[
        plw.initial(lambda x: torch.sin(math.pi * x)),  # u(x, 0) = sin(pi x)
        plw.dirichlet("x"),  # u = 0 at x = 0 and x = 1
    ],
    exact=lambda x, t, kappa: torch.exp(-kappa * math.pi**2 * t) * torch.sin(math.pi * x),
    n_points=(20, 20),
)
heat
"""),
        md("""
`u` in the residual is a field whose attributes are derivatives by coordinate name: `u.t`, `u.xx` (also
`u.xt`, `u.laplacian`, `u.grad`, ...). The arguments are matched by name: unknowns, coordinates, the
parameters in `params` (here `kappa`). `define_problem` called the residual once to see what it reads, so
the network will propagate exactly u_t and u_xx; it laid out a 20 x 20 midpoint grid inside the box and
points on each condition's faces, and checked every function's output shape. Mistakes (a coordinate that
does not exist, a condition off the box, ...) are errors here, not wrong numbers later.
"""),
        code("""
x, w = heat.quadrature()
print(f"{x.shape[0]} interior points; their weights sum to {float(w.sum()):.3f}, the area of the box")
for c in heat.conditions:
    print(f"loss term {c.name!r}: {c.points.shape[0]} points, weight {c.lam}")
"""),
        md("""
## Train

The loss is the squared residual integrated over the box, plus one penalty term per condition
(`loss_residual`, `loss_initial`, `loss_boundary`). A short budget keeps this notebook quick: Adam, then a
few L-BFGS steps, on a small network.
"""),
        code("""
run = plw.train(heat, "strong", width=20, depth=2, steps=(300, 50), lr=1e-2, progress=False)
last = run.history.isel(step=-1)
print(
    f"loss {float(last.loss):.2e} = residual {float(last.loss_residual):.1e} + initial "
    f"{float(last.loss_initial):.1e} + boundary {float(last.loss_boundary):.1e}"
)
print(f"relative L2 error against the exact solution: {float(last.rel_l2_error):.2e}")
"""),
        md("""
## Its loss landscape

The loss on a plane through the trained parameters, spanned by two filter-normalised random directions
(Li et al. 2018), with each term and the error at every grid point. The centre is the trained network.
"""),
        code("""
ds = plw.landscape(run, resolution=31, progress=False)
centre = ds.sel(alpha=0.0, beta=0.0)
print(
    f"loss at the centre {float(centre.loss):.3e} (the trained loss), "
    f"lowest on the plane {float(ds.loss.min()):.3e}, highest {float(ds.loss.max()):.3e}"
)
fig = plw.plot(ds)
"""),
        md("""
## The widget

Turn the surface, switch the directions (PCA shows the training path), click a point to see the solution
there.
"""),
        code("""
w = plw.LandscapeWidget(run, resolution=31)
w
"""),
        md("""
## Something less usual: a mixed derivative, conditions imposed exactly

The Goursat problem u_xt = u on [0, 1]^2 with u(x, 0) = e^x and u(0, t) = e^t (data on two
characteristics), exact u = e^(x + t). Instead of penalising the conditions, the network's output is
shaped so they hold exactly: u = lift + x t N(x, t), with lift = e^x + e^t - 1. Conditions marked
`hard=True` cost nothing; the problem checks that the ansatz really satisfies them.
"""),
        code("""
goursat = plw.define_problem(
    "goursat",
    domain={"x": (0.0, 1.0), "t": (0.0, 1.0)},
    residual=lambda u: u.xt - u,
    conditions=[
        plw.initial(lambda x: torch.exp(x), hard=True),
        plw.dirichlet("x", at=0.0, value=lambda t: torch.exp(t), hard=True),
    ],
    ansatz=lambda x, t: x * t,
    lift=lambda x, t: torch.exp(x) + torch.exp(t) - 1,
    exact=lambda x, t: torch.exp(x + t),
    n_points=(16, 16),
)
run2 = plw.train(goursat, "strong", width=20, depth=2, steps=(200, 30), lr=3e-3, progress=False)
print("loss terms:", [v for v in run2.history.data_vars if v.startswith("loss_")])
print(f"Goursat: relative L2 error {float(run2.history.rel_l2_error[-1]):.2e}")
to_solution = plw.interpolation_direction(run2.init_params, run2.params)
line = plw.landscape(run2, to_solution, resolution=41, progress=False)
print(
    f"from the initialisation (alpha = 0) to the solution (alpha = 1) the loss falls from "
    f"{float(line.loss.sel(alpha=0.0)):.2e} to {float(line.loss.sel(alpha=1.0)):.2e}"
)
"""),
    ],
}


def main():
    for name, cells in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook(cells=cells, metadata=KERNEL)
        for i, cell in enumerate(nb.cells):
            cell.id = f"{name[:2]}-{i:02d}"  # stable ids: regenerating leaves unchanged notebooks unchanged
        nbformat.write(nb, HERE / f"{name}.ipynb")
        print("wrote", HERE / f"{name}.ipynb")
    toc = "format: jb-book\nroot: intro\nchapters:\n" + "".join(f"  - file: {name}\n" for name in NOTEBOOKS)
    (HERE / "_toc.yml").write_text(toc)
    print("wrote", HERE / "_toc.yml")


if __name__ == "__main__":
    main()
