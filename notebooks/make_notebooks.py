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
# Strong form vs Deep Ritz: the seed paper's three findings, measured

Rowan & Murphy-Blanchard (2026) compare two physics losses for the same network on u'' + f = 0 on [0, 1]
(hard boundary ansatz u = sin(pi x) N(x), tanh MLP):

* strong form: L = sum_i w_i (u''(x_i) + f(x_i))^2
* Deep Ritz:   E = sum_i w_i (1/2 u'(x_i)^2 - f(x_i) u(x_i)), negative at the solution: we plot E - E*.

They report, in words, that the landscapes of both are **(1) smooth**, **(2) convex-like near the
solution** and **(3) similar across formulations**. This notebook puts a number under each claim, with
the same direction vectors for both losses (filter-normalised random directions, seed 0, normalised
against the strong-form run), and says where ours agree or differ. The same measurements are the study
`plw.reproduce("rowan2026")`; here it runs in its quick version, and the full table (made by
`pinn-landscape reproduce rowan2026 --out docs/results`) is shown at the end.
"""),
        code("""
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown

import pinn_landscape_widget as plw
from pinn_landscape_widget.reproduce import render_markdown

study = plw.reproduce("rowan2026", quick=True, progress=False)
runs, grids, maps, rough = (study.runs[k] for k in ("runs", "grids", "maps", "roughness"))
for name, run in runs.items():
    print(f"{name:10s} rel. L2 error {float(run.history.rel_l2_error[-1]):.2e}")
"""),
        md("""
## The two landscapes on the same directions
"""),
        code("""
for ds in grids.values():
    fig = plw.plot(ds)
"""),
        md("""
## 1. Smooth

Along random lines theta* + t d through the solution (filter-normalised directions, t in [-1, 1]) we
measure three things. *Resolved variation*: the share of a line's total variation that a grid of half the
resolution already sees; 1 means no wiggles between the sampled points (the criterion for "smooth").
The *roughness index* (after Wu et al. 2021, arXiv 2103.11069): nu = TV / (max - min) is 1 for a monotone
line and 2 for a bowl with its bottom at t = 0, and RI = std(nu) / mean(nu) over the lines (0: every line
has the same simple shape). And the share of lines that are a *single bowl* (one minimum, monotone on
each side): a smooth line need not be one.
"""),
        code("""
from pinn_landscape_widget.reproduce.rowan2026 import resolved_variation

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
for ax, (name, r) in zip(axes, rough.items()):
    for k in range(r.sizes["direction"]):
        line = r.loss[k] - r.loss[k].min()
        ax.semilogy(r.t, line + 1e-12, lw=0.8)
    ax.set_title(
        f"{name}: RI = {float(r.roughness_index):.3g}, {r.attrs['unimodal_fraction']:.0%} single bowls", fontsize=9
    )
    ax.set_xlabel("t")
    print(
        f"{name:10s} resolved variation >= {resolved_variation(r.loss.values).min():.4f} on every line, "
        f"roughness index {float(r.roughness_index):.3g}, single-bowl lines {r.attrs['unimodal_fraction']:.0%}"
    )
"""),
        md("""
## 2. Convex-like near the solution

`plw.curvature_map` computes, at each point of a slice, the extreme eigenvalues of the **full** Hessian
(Lanczos in all parameters) and the ratio |lambda_min / lambda_max| (Li et al. 2018's convexity map):
near 0, negative curvature is negligible against positive curvature. The map covers the same directions
over [-0.25, 0.25], a quarter of the landscapes' span: "near the solution".
"""),
        code("""
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for ax, (name, m) in zip(axes, maps.items()):
    plw.plot(m, var="convexity_ratio", z_scale="linear", ax=ax)
    ax.set_title(name, fontsize=9)
    c = m.sel(alpha=0.0, beta=0.0)
    print(
        f"{name:10s} at theta*: lambda_max {float(c.lambda_max):.4g}, lambda_min {float(c.lambda_min):.3g}, "
        f"|lambda_min / lambda_max| {float(c.convexity_ratio):.2e}; largest on the map "
        f"{float(m.convexity_ratio.max()):.2e}"
    )
"""),
        md("""
## 3. Similar across formulations

`plw.compare_landscapes` on the two slices above: the rank correlation of the loss values (1 = the same
ordering of the grid points; shifts and scales do not matter, so E and E - E* compare alike), the distance
between the two grid minima and the ratio of their curvatures at the centre.
"""),
        code("""
cmp = plw.compare_landscapes(grids["strong"], grids["deep_ritz"])
for k in ("rank_correlation", "minimum_distance", "curvature_ratio", "anisotropy_a", "anisotropy_b"):
    print(f"{k:17s} {float(cmp[k]):.4g}   ({cmp[k].attrs['long_name']})")
"""),
        md("""
## Where ours agree and where they differ

Each finding with its criterion (stated before the run, in the study) and the verdict, as computed above:
"""),
        code("""
for row in study.rows:
    print(f"{row.case}: {row.verdict}")
    print(f"    ours: {row.ours_text or row.ours}   criterion: {row.criterion}")
"""),
        md("""
The full study (more lines, a finer map), as committed in `docs/results/rowan2026.json`:
"""),
        code("""
results = Path(plw.__file__).resolve().parents[1] / "docs" / "results"
Markdown(render_markdown(json.loads((results / "rowan2026.json").read_text()), heading_level=3))
"""),
        md("""
## Interpolation from the initialisation to the solution (Goodfellow et al. 2015)
"""),
        code("""
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for ax, (name, run) in zip(axes, runs.items()):
    line = plw.landscape(run, plw.interpolation_direction(run.init_params, run.params), resolution=81, progress=False)
    ref = line.attrs.get("energy_reference", 0.0)
    ax.semilogy(line.alpha, np.maximum(line.loss - ref, 1e-12))
    ax.axvline(0, color="gray", lw=0.5)
    ax.axvline(1, color="gray", lw=0.5)
    ax.set_title(f"{name}: init (0) -> solution (1)")
    ax.set_xlabel("alpha")
    monotone = bool(np.all(np.diff(line.loss.sel(alpha=slice(0, 1)).values) <= 1e-6))
    print(f"{name}: loss decreases monotonically from init to solution: {monotone}")
"""),
        md("## The widget, both runs side by side (linked cameras)"),
        code("""
w = plw.LandscapeWidget(runs, resolution=41)
w.precompute(("direction_kind",))  # switchable on pages without a kernel (nbconvert HTML, the book)
"""),
    ],
    "03_failure_modes_convection": [
        md("""
# Failure modes: convection with growing beta (Krishnapriyan et al. 2021)

u_t + beta u_x = 0 on [0, 2 pi] x [0, 1], periodic in x, u(x, 0) = sin x. Krishnapriyan et al. report
that a vanilla PINN reaches about 1e-2 relative error for beta <= 10 and fails (error near 1) from
beta = 20, and that curriculum regularisation (warm-starting each beta from the previous one) recovers
beta = 20, 30, 40. `plw.reproduce("krishnapriyan2021")` runs their setup, read from their code: an MLP
2 -> 50 x 4 -> 1 with tanh and torch's default initialisation, their 1000 collocation points, each loss
term a mean, and one `torch.optim.LBFGS` call (max_iter 100 000, tolerances 1e-7) in float32.

The full table below was made by `pinn-landscape reproduce krishnapriyan2021 --out docs/results` and is
read from the committed `docs/results/krishnapriyan2021.json` (the machine, the load and the run time
are in it).
"""),
        code("""
import json
from pathlib import Path

from IPython.display import Markdown

import pinn_landscape_widget as plw
from pinn_landscape_widget.reproduce import render_markdown

results = Path(plw.__file__).resolve().parents[1] / "docs" / "results"
Markdown(render_markdown(json.loads((results / "krishnapriyan2021.json").read_text()), heading_level=3))
"""),
        md("""
## The quick version, run here

`quick=True` runs beta = 1 and beta = 30 with the same L-BFGS call. Each call ends at its own tolerance
test, not at an iteration cap, so the failure at beta = 30 is the paper's failure mode (a low loss and a
wrong solution), not a short-training artefact.
"""),
        code("""
quick = plw.reproduce("krishnapriyan2021", quick=True, progress=False)
for row in quick.rows:
    d = row.detail
    print(
        f"{row.case}: relative L2 error {row.ours:.3e} (published {row.published}); L-BFGS stopped by "
        f"{d['stop']} after {d['iterations']} iterations at loss {d['final_loss']:.2e}, {d['seconds']:.0f} s"
    )
"""),
        md("""
## Landscapes along the top-2 Hessian eigenvectors

Krishnapriyan et al. show the loss along the two leading Hessian eigenvectors at the trained parameters:
smooth for a beta that trains, rougher and far more curved for one that fails.
"""),
        code("""
for beta in (1, 30):
    run = quick.runs[("vanilla", beta)]
    dirs = plw.hessian_directions(run, 2, "largest")
    ds = plw.landscape(run, dirs, span=0.5, resolution=31, progress=False)
    print(f"beta = {beta}: top Hessian eigenvalues {[float(f'{v:.4g}') for v in dirs.attrs['eigenvalues']]}")
    fig = plw.plot(ds)
"""),
    ],
    "04_spectra": [
        md("""
# Hessian spectra per loss term (Rathore et al. 2024)

Rathore et al. ("Challenges in training PINNs: a loss landscape perspective", ICML 2024) train convection
(beta = 40), reaction (rho = 5) and wave (beta = 5) PINNs with Adam then L-BFGS and find, at the end, a
few Hessian eigenvalues far above the rest (above 1e4, 1e3 and 1e5), the residual term the worst
conditioned, and the spectrum as L-BFGS sees it (preconditioned by its inverse-Hessian approximation)
compressed by three orders of magnitude or more. `plw.reproduce("rathore2024")` measures each claim;
its full run (width 50 and a smaller budget than the paper's GPU runs, stated in the table) is committed
in `docs/results/rathore2024.json`:
"""),
        code("""
import json
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import Markdown

import pinn_landscape_widget as plw
from pinn_landscape_widget.reproduce import render_markdown

results = Path(plw.__file__).resolve().parents[1] / "docs" / "results"
Markdown(render_markdown(json.loads((results / "rathore2024.json").read_text()), heading_level=3))
"""),
        md("""
## The quick version, run here (the wave case)

A narrower network, fewer points and fewer steps: the numbers are smaller than the full run's, the
ordering of the terms is the point.
"""),
        code("""
quick = plw.reproduce("rathore2024", quick=True, progress=False, cases=["wave"])
run = quick.runs["wave"]
spec = quick.extra["wave"]["spectrum"]
for term, s in spec["terms"].items():
    print(f"{term:13s} top eigenvalues {[float(f'{v:.4g}') for v in s['top']]}, trace {s['trace']:.4g}")
if "preconditioned" in spec:
    print(f"{'preconditioned':13s} top eigenvalues {[float(f'{v:.4g}') for v in spec['preconditioned']['top']]}")
"""),
        md("""
## Spectral densities per term

Stochastic Lanczos quadrature (Ghorbani et al. 2019), Gaussian-broadened, for the total loss and each
term of the run above, on a symmetric-log eigenvalue axis.
"""),
        code("""
fig, ax = plt.subplots(figsize=(7, 4))
for term in (None, *run.objective().term_names):
    sp = plw.hessian_spectrum(run, term=term, n_vectors=4, n_steps=48, n_trace_samples=20)
    ax.semilogy(sp.eigenvalue, sp.density + 1e-12, label=term or "total")
ax.set_xscale("symlog", linthresh=1e-2)
ax.set_xlabel("eigenvalue")
ax.set_ylabel("density")
ax.legend()
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
    coefficients={"kappa": 0.1},
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
PDE's coefficients in `coefficients` (here `kappa`). `define_problem` called the residual once to see what
it reads, so the network will propagate exactly u_t and u_xx; it laid out a 20 x 20 midpoint grid inside
the box and points on each condition's faces, and checked every function's output shape. Mistakes (a coordinate that
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
    "06_your_own_model": [
        md("""
# Your own PINN in the widget

Your model, your loss, your training loop: the package needs none of its own. Here the same problem,
-u'' = pi^2 sin(pi x) on [0, 1] with u(0) = 0, u(1) = 1 (exact u = sin(pi x) + x), is solved twice:

1. by hand: a Fourier-feature network (not an MLP), a loss written with `torch.autograd.grad`, a plain Adam
   loop with a `plw.Recorder` in it;
2. by DeepXDE, with a `DeepXDERecorder` callback.

Both become runs, and one widget shows their landscapes side by side, each on the PCA plane of its own
training path. (The full guide: `docs/your-own-model.md`.)
"""),
        code("""
import math
import os

import torch

import pinn_landscape_widget as plw


class FourierNet(torch.nn.Module):
    \"\"\"u(x) = MLP([sin(x B), cos(x B)]) with a trainable frequency matrix B.\"\"\"

    def __init__(self, features=8, width=32):
        super().__init__()
        self.B = torch.nn.Parameter(2.0 * torch.randn(1, features))
        self.body = torch.nn.Sequential(
            torch.nn.Linear(2 * features, width), torch.nn.Tanh(), torch.nn.Linear(width, 1)
        )

    def forward(self, x):
        z = x @ self.B
        return self.body(torch.cat([torch.sin(z), torch.cos(z)], dim=-1))


def exact(x):
    return torch.sin(math.pi * x) + x


x = torch.linspace(0, 1, 100)[:, None].requires_grad_(True)
ends = torch.tensor([[0.0], [1.0]])


def poisson(model):
    \"\"\"The loss terms, written as one writes them with torch alone.\"\"\"
    u = model(x)
    ux = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    uxx = torch.autograd.grad(ux.sum(), x, create_graph=True)[0]
    return {
        "pde": ((uxx + math.pi**2 * torch.sin(math.pi * x)) ** 2).mean(),
        "boundary": 10 * ((model(ends) - exact(ends)) ** 2).mean(),
    }


torch.manual_seed(0)
model = FourierNet()
rec = plw.Recorder(model, every=10)  # keeps the trajectory and the loss history
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for _ in range(1000):
    opt.zero_grad()
    terms = poisson(model)
    loss = sum(terms.values())
    loss.backward()
    opt.step()
    rec.step(loss=loss, **terms)  # after optimizer.step()

hand = plw.from_model(
    model, {"autograd": poisson}, recorder=rec, points=torch.linspace(0, 1, 201)[:, None], exact=exact
)
print(f"hand-written: loss {loss.item():.3e}, relative L2 error {float(hand.history.rel_l2_error[-1]):.2e}")
"""),
        md("""
`from_model` made a run: `hand.params` are the trained parameters, `hand.trajectory` the recorded ones, and
evaluating the run at its own parameters gives back exactly the loss your function computes.
"""),
        code("""
print(f"your loss at the trained parameters {float(sum(poisson(model).values())):.6e}")
print(f"the run's loss there               {float(plw.evaluate(hand, hand.params)['loss']):.6e}")
"""),
        md("""
## The same problem in DeepXDE

DeepXDE on its PyTorch backend (set `DDE_BACKEND` before importing it). The adapter evaluates DeepXDE's own
loss code, so the landscape is of the loss DeepXDE minimised, term by term, with its weights.
"""),
        code("""
os.environ["DDE_BACKEND"] = "pytorch"
import deepxde as dde
import numpy as np

dde.config.set_random_seed(0)


def pde(x, u):
    return dde.grad.hessian(u, x) + np.pi**2 * torch.sin(np.pi * x)


def solution(x):
    return np.sin(np.pi * x) + x


geom = dde.geometry.Interval(0, 1)
bc = dde.icbc.DirichletBC(geom, solution, lambda x, on_boundary: on_boundary)
data = dde.data.PDE(geom, pde, bc, num_domain=100, num_boundary=2, solution=solution)
dmodel = dde.Model(data, dde.nn.FNN([1, 32, 32, 1], "tanh", "Glorot uniform"))
dmodel.compile("adam", lr=1e-3, loss_weights=[1.0, 10.0])
drec = plw.adapters.DeepXDERecorder(every=10)
dmodel.train(iterations=1000, callbacks=[drec], display_every=1000, verbose=0)

xde = plw.adapters.from_deepxde(dmodel, recorder=drec)
print("DeepXDE's terms:", [v for v in xde.history.data_vars if v.startswith("loss_")])
print(f"DeepXDE: loss {float(xde.history.loss[-1]):.3e}, relative L2 error {float(xde.history.rel_l2_error[-1]):.2e}")
"""),
        md("""
## Side by side

Two panels, one per run, each on the PCA plane of its own trajectory with the path drawn on the surface.
Press play to replay training; click a point to see that network's solution there.
"""),
        code("""
w = plw.LandscapeWidget(
    {"hand-written": hand, "DeepXDE": xde},
    panels=[{"run": "hand-written"}, {"run": "DeepXDE"}],
    direction_kind="pca",
    resolution=25,
)
w
"""),
        code("""
w.wait()
for s, ds in zip(w.panel_settings(), w.datasets):
    print(
        f"{s.run}: loss at the trained parameters {float(ds.loss.sel(alpha=0.0, beta=0.0)):.3e}, "
        f"lowest on its PCA plane {float(ds.loss.min()):.3e}, highest {float(ds.loss.max()):.3e}"
    )
"""),
    ],
    "07_why_did_it_fail": [
        md("""
# Why did my PINN fail?

"My loss does not converge, why?" is the question PINN users ask most. The literature answers it with
measurements, each from a paper: the imbalance of the loss terms' gradients (Wang, Teng & Perdikaris 2021),
the neural tangent kernel's per-term traces (Wang, Yu & Perdikaris 2022), the residual's progress in time
(Wang, Sankaran & Perdikaris 2022) and the Hessian's curvature per term. `plw.diagnose(run)` takes all of them
at the run's recorded checkpoints and returns one `xarray.Dataset`, with each quantity's definition and
source in its attrs and a short summary that compares the numbers with the published thresholds.

This page runs three small PINNs (a few seconds each): one with a gradient imbalance, one that violates
causality, and two that end in minima, and asks `plw.connect` whether those two lie in one basin.
"""),
        code("""
import matplotlib.pyplot as plt

import pinn_landscape_widget as plw

small = dict(width=20, depth=2, progress=False)
helmholtz = plw.train(
    "helmholtz2d",
    steps=(200, 0),
    record_every=20,
    coefficients=dict(boundary="penalty", lam=1.0, n_points=400),
    **small,
)
ds = plw.diagnose(helmholtz, ntk=False, hessian=False)
print(ds.attrs["summary"])
"""),
        md("""
## Gradient imbalance (Wang, Teng & Perdikaris 2021)

Their ratio lambda = max|grad L_residual| / mean|grad L_boundary| says how much larger the residual's
steepest gradient is than the boundary term's typical one. On this Helmholtz problem (their benchmark,
u* = sin(pi x) sin(4 pi y)) the boundary gradients are tiny next to the residual's, so gradient descent
all but ignores the boundary: the summary flags it above 10. Their fix scales the boundary term by this
ratio (learning-rate annealing).
"""),
        code("""
print("definition:", ds.imbalance.attrs["definition"])
imb = ds.imbalance.sel(term="boundary")
print(f"lambda_boundary over training: {', '.join(f'{v:.3g}' for v in imb.values)}")
print(f"largest {float(imb.max()):.3g} at step {int(imb.idxmax())}")
fig, ax = plt.subplots(1, 2, figsize=(9, 3))
ds.grad_norm.plot.line(x="step", ax=ax[0], yscale="log")
ax[0].set_title("gradient norm per term")
imb.plot(ax=ax[1], yscale="log")
ax[1].axhline(10, color="gray", ls="--")
ax[1].set_title("imbalance lambda_boundary")
fig.tight_layout()
"""),
        md("""
## Causality in time (Wang, Sankaran & Perdikaris 2022)

For a problem in time, `diagnose` splits the interior residual into slices of t. A PINN that respects
causality resolves the early times first, since the late ones follow from them; their causal weights
w_i = exp(-epsilon sum_{k<i} L_r(t_k)) stay near 1 only where everything before slice i is resolved. Convection
at beta = 30 is the classic failure (Krishnapriyan et al. 2021).
"""),
        code("""
convection = plw.train(
    "convection1d",
    steps=(200, 0),
    lr=5e-3,
    record_every=20,
    coefficients=dict(beta=30.0, n_points=400),
    **small,
)
dc = plw.diagnose(convection, checkpoints=4, hessian=False)
print(dc.attrs["summary"])
print(f"relative L2 error {float(convection.history.rel_l2_error[-1]):.3f}")
fig, ax = plt.subplots(1, 2, figsize=(9, 3))
dc.residual_time_slice.isel(step=[0, len(dc.step) // 2, -1]).plot.line(x="t", hue="step", ax=ax[0], yscale="log")
ax[0].set_title("residual per time slice")
dc.ntk_trace.plot.line(x="step", ax=ax[1], yscale="log")
ax[1].set_title("NTK trace per term")
fig.tight_layout()
"""),
        md("""
The NTK traces tell the same story in Wang, Yu & Perdikaris's terms: a term whose kernel trace is much
smaller than another's converges more slowly under gradient descent; `ntk_weight` = tr(K) / tr(K_tt) are the
weights their Algorithm 1 would give each term.

## Do two solutions lie in one basin?

The seed paper (Rowan & Murphy-Blanchard 2026) asks whether the strong form and Deep Ritz reach the same
minimum. `plw.connect` trains a quadratic Bezier curve between the two trained parameter vectors (Garipov et
al. 2018) and reports the barrier: how far the loss rises above the worse endpoint, along the straight line
and along the curve. A barrier of 0 means the path never rises above the worse endpoint: under this loss
nothing separates the two minima. `plw.curve_directions(conn)` gives the plane that holds both minima and
the curve, for `plw.landscape`.
"""),
        code("""
strong = plw.train("poisson1d", "strong", steps=200, **small)
ritz = plw.train("poisson1d", "deep_ritz", steps=200, **small)
conn = plw.connect(strong, ritz, steps=50)
print(
    f"barrier along the line {conn.attrs['barrier_line']:.3g}, along the curve {conn.attrs['barrier_curve']:.3g} "
    f"(strong-form loss at the endpoints {float(conn.loss_line[0]):.3g} and {float(conn.loss_line[-1]):.3g})"
)
fig, ax = plt.subplots(figsize=(5, 3))
conn.loss_line.plot(ax=ax, label="line", yscale="log")
conn.loss_curve.plot(ax=ax, label="Bezier curve")
ax.legend()
ax.set_title("strong-form loss from the strong minimum (t=0) to the Deep Ritz one (t=1)")
fig.tight_layout()
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
