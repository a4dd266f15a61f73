"""Problems: quadrature, exact solutions against the PDE, and the analytic Deep Ritz energy."""

import math

import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.pde.derivatives import Jet
from pinn_landscape_widget.pde.formulations import get_formulation

ALL = [
    ("poisson1d", {}),
    ("poisson1d", dict(source="sin", k=3)),
    ("poisson1d", dict(source="multiscale")),
    ("poisson2d", {}),
    ("poisson2d", dict(k=2)),
    ("convection1d", dict(beta=30.0)),
]


def exact_jet(prob, x):
    """u*, grad u* and Laplacian of u* at x, by autograd on prob.exact (independent of the engine)."""
    x = x.clone().requires_grad_(True)
    u = prob.exact(x)
    g = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    lap = sum(torch.autograd.grad(g[:, k].sum(), x, retain_graph=True)[0][:, k] for k in range(x.shape[1]))
    return Jet(u.detach()[None], g.detach().T[None], lap.detach()[None])


def test_list_problems():
    assert plw.list_problems() == ["poisson1d", "poisson2d", "convection1d"]


@pytest.mark.parametrize("name,kw", ALL)
def test_quadrature_weights_sum_to_domain_measure(name, kw):
    prob = plw.get_problem(name, **kw)
    x, w = prob.quadrature()
    measure = math.prod(hi - lo for lo, hi in prob.domain)
    assert abs(float(w.sum()) - measure) < 1e-12 * measure
    assert x.shape == (w.shape[0], prob.dim)
    for k, (lo, hi) in enumerate(prob.domain):
        assert float(x[:, k].min()) > lo and float(x[:, k].max()) < hi


@pytest.mark.parametrize("name,kw", ALL)
def test_exact_solution_makes_strong_residual_vanish(name, kw):
    prob = plw.get_problem(name, **kw)
    x, w = prob.quadrature()
    r = prob.residual(x, exact_jet(prob, x), prob.source(x))
    scale = float(prob.source(x).abs().max()) + 1.0
    assert float(r.abs().max()) < 1e-10 * scale


@pytest.mark.parametrize("name,kw", [c for c in ALL if c[0] != "convection1d"])
def test_exact_solution_gives_analytic_deep_ritz_energy(name, kw):
    prob = plw.get_problem(name, n_points=4096 if name == "poisson1d" else 40000, **kw)
    x, w = prob.quadrature()
    f = prob.source(x)
    form = get_formulation("deep_ritz", prob)
    energy = float(form.density(prob, x, exact_jet(prob, x), f)[0] @ w)
    # E* = -1/2 int f u*, computed independently by the same quadrature, and analytically
    half_fu = -0.5 * float((f * prob.exact(x)) @ w)
    analytic = prob.exact_energy()
    assert abs(energy - analytic) < 1e-4 * abs(analytic)  # midpoint rule, O(h^2)
    assert abs(half_fu - analytic) < 1e-4 * abs(analytic)


def test_hard_ansatz_vanishes_on_the_boundary():
    for name in ("poisson1d", "poisson2d"):
        prob = plw.get_problem(name)
        if prob.dim == 1:
            xb = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
        else:
            s = torch.linspace(0, 1, 11, dtype=torch.float64)
            xb = torch.cat([torch.stack([s, 0 * s], 1), torch.stack([s, 0 * s + 1], 1), torch.stack([0 * s, s], 1)])
        assert float(prob.hard_factor(xb).abs().max()) < 1e-15


def test_boundary_quadrature_present_only_with_penalty():
    assert plw.get_problem("poisson1d").boundary_quadrature() is None
    pts, w = plw.get_problem("poisson1d", boundary="penalty").boundary_quadrature()
    assert pts.tolist() == [[0.0], [1.0]] and w.tolist() == [1.0, 1.0]
    pts, w = plw.get_problem("poisson2d", boundary="penalty", n_points=100).boundary_quadrature()
    assert abs(float(w.sum()) - 4.0) < 1e-12  # perimeter of the unit square
    pts, w = plw.get_problem("convection1d", n_points=100).boundary_quadrature()
    assert abs(float(w.sum()) - (2 * math.pi + 1.0)) < 1e-12  # initial line + periodic edge


def test_problem_repr_rebuilds_it():
    prob = plw.get_problem("convection1d", beta=30.0, n_points=400)
    again = plw.get_problem(prob.name, **prob.params)
    assert again.params == prob.params


@pytest.mark.parametrize(
    "call,match",
    [
        (
            lambda: plw.get_problem("heat3d"),
            r"problem must be one of \['poisson1d', 'poisson2d', 'convection1d'\], got 'heat3d'",
        ),
        (lambda: plw.get_problem("poisson1d", nu=1.0), r"unknown parameter\(s\) \['nu'\] for problem 'poisson1d'"),
        (
            lambda: plw.get_problem("poisson1d", source="cos"),
            r"source must be one of \['sin', 'multiscale'\], got 'cos'",
        ),
        (lambda: plw.get_problem("poisson1d", n_points=1), r"n_points must be an integer in \[2, "),
        (lambda: plw.get_problem("poisson1d", boundary="soft"), r"boundary must be one of \['hard', 'penalty'\]"),
        (lambda: plw.get_problem("convection1d", boundary="hard"), r"boundary must be one of \['penalty'\]"),
        (lambda: plw.get_problem("convection1d", beta=float("nan")), r"beta must be a finite number, got nan"),
        (lambda: plw.get_problem("poisson2d", lam=-1), r"lam must be a finite number > 0, got -1"),
    ],
)
def test_bad_problem_arguments_are_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
