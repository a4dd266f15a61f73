"""A problem is built from one frozen ProblemSpec (define_problem's arguments, the built-ins' point layout and
how to rebuild a built-in); changed copies and pickles go through it. PDE coefficients are `coefficients`
everywhere; the old spellings (`params=`, `Problem.params`, `with_params`, `train(problem_params=)`) still
work for a release, with a FutureWarning naming the new one, and give the same numbers."""

import dataclasses
import inspect
import math
import pickle

import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.pde import library
from pinn_landscape_widget.pde.problems import ProblemSpec

F64 = torch.float64


def _heat(**kw):
    args = dict(
        residual=lambda u, kappa: u.t - kappa * u.xx,
        conditions=[plw.initial(lambda x: torch.sin(math.pi * x)), plw.dirichlet("x")],
        exact=lambda x, t, kappa: torch.exp(-kappa * math.pi**2 * t) * torch.sin(math.pi * x),
        n_points=(8, 6),
    )
    args.update(kw)
    return plw.define_problem("heat", {"x": (0.0, 1.0), "t": (0.0, 1.0)}, **args)


def _heat_loss_by_hand(run, kappa):
    """The strong-form loss of the heat run at its parameters, written out: midpoint weights 1/48 on the
    8 x 6 grid, u_t - kappa u_xx by autograd; initial line t = 0 (weights 1/8), faces x = 0, 1 (weights 1/6)."""
    model = run.model_at(run.params.double())
    xs = (torch.arange(8, dtype=F64) + 0.5) / 8
    ts = (torch.arange(6, dtype=F64) + 0.5) / 6
    pts = torch.cartesian_prod(xs, ts).requires_grad_(True)
    u = model(pts).reshape(-1)
    (g,) = torch.autograd.grad(u.sum(), pts, create_graph=True)
    (gx,) = torch.autograd.grad(g[:, 0].sum(), pts, create_graph=True)
    residual = float(((g[:, 1] - kappa * gx[:, 0]) ** 2).sum().detach() / 48)
    with torch.no_grad():
        start = model(torch.stack([xs, torch.zeros(8, dtype=F64)], 1)).reshape(-1) - torch.sin(math.pi * xs)
        ends = model(torch.cat([torch.stack([torch.full((6,), e, dtype=F64), ts], 1) for e in (0.0, 1.0)]))
    return residual + float((start**2).sum() / 8) + float((ends**2).sum() / 6)


def _train(problem, **kw):
    return plw.train(problem, "strong", width=6, depth=1, steps=0, dtype=F64, progress=False, **kw)


# --- the spec -------------------------------------------------------------------------------------------------


def test_define_problem_signature_is_the_spec():
    """define_problem's parameters are the spec's fields, in order; the spec adds only the built-ins' point
    layout and their preset."""
    params = list(inspect.signature(plw.define_problem).parameters)
    fields = [f.name for f in dataclasses.fields(ProblemSpec)]
    assert fields == params + ["collocation", "mean_terms", "preset"]
    assert "coefficients" in params and "params" not in params


def test_a_problem_holds_its_spec_frozen_and_rebuilds_from_it():
    domain = {"x": (0.0, 1.0), "t": (0.0, 1.0)}
    conditions = [plw.dirichlet("x")]
    coefficients = {"kappa": 0.1}
    heat = plw.define_problem(
        "heat", domain, lambda u, kappa: u.t - kappa * u.xx, conditions=conditions, coefficients=coefficients
    )
    spec = heat.spec
    assert spec.name == "heat" and spec.coefficients == {"kappa": 0.1} and spec.n_points == 1000
    assert spec.collocation is None and spec.mean_terms is False and spec.preset is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.coefficients = {"kappa": 0.5}
    # the caller's containers are copied: changing them afterwards changes nothing
    domain["y"] = (0.0, 1.0)
    coefficients["kappa"] = 9.0
    conditions.append(plw.periodic("x"))
    assert list(spec.domain) == ["x", "t"] and spec.coefficients == {"kappa": 0.1} and len(spec.conditions) == 1
    again = plw.Problem(spec)
    assert torch.equal(again.quadrature()[0], heat.quadrature()[0]) and again.coefficients == {"kappa": 0.1}
    assert [(c.name, c.points.tolist()) for c in again.conditions] == [
        (c.name, c.points.tolist()) for c in heat.conditions
    ]
    with pytest.raises(ValueError, match=r"Problem\(spec\) takes a ProblemSpec .* got dict"):
        plw.Problem({"name": "heat"})


def test_conditions_given_as_a_generator_survive_a_rebuild():
    heat = _heat(coefficients={"kappa": 0.1}, conditions=(c for c in [plw.dirichlet("x")]))
    hotter = heat.with_coefficients(kappa=0.5)
    assert len(hotter.conditions) == 1 and torch.equal(hotter.conditions[0].points, heat.conditions[0].points)


def test_a_builtin_is_its_factorys_spec_and_pickles_as_factory_and_options():
    prob = plw.get_problem("convection1d", beta=30.0, n_points=400)
    factory, options = prob.spec.preset
    assert factory is library.convection1d
    assert options == dict(
        beta=30.0, n_points=400, n_eval=None, lam=1.0, sampling="grid", seed=0, collocation=None, mean_terms=False
    )
    assert prob.spec.coefficients == {"beta": 30.0}
    # plain pickle (no cloudpickle): the lambdas do not travel, the factory goes by reference
    data = pickle.dumps(prob)
    assert b"convection1d" in data and len(data) < 2000
    back = pickle.loads(data)
    assert back.spec.preset == prob.spec.preset and back.coefficients == {"beta": 30.0}
    assert torch.equal(back.quadrature()[0], prob.quadrature()[0])
    assert torch.equal(back.exact(back.quadrature()[0]), prob.exact(prob.quadrature()[0]))


def test_the_papers_point_layout_is_part_of_the_spec():
    """collocation=n draws n grid cells with the seed, each weighing measure / n; mean_terms divides each
    term by its measure: the numbers follow from the grid alone."""
    prob = plw.get_problem("wave1d", n_points=(20, 10), collocation=30, mean_terms=True, seed=4)
    assert prob.spec.collocation == 30 and prob.spec.mean_terms is True
    xs = (torch.arange(20, dtype=F64) + 0.5) / 20
    ts = (torch.arange(10, dtype=F64) + 0.5) / 10
    grid = torch.cartesian_prod(xs, ts)
    pick = torch.randperm(200, generator=torch.Generator().manual_seed(4))[:30]
    x, w = prob.quadrature()
    torch.testing.assert_close(x, grid[pick], rtol=0, atol=1e-15)
    torch.testing.assert_close(w, torch.full((30,), 1 / 30, dtype=F64), rtol=1e-15, atol=0)
    # initial value and rate: 20 points at t = 0 weighing 1/20; the two ends: 10 points each weighing 1/10
    assert [c.name for c in prob.conditions] == ["initial", "initial_rate", "boundary"]
    for cond in prob.conditions[:2]:
        torch.testing.assert_close(cond.points, torch.stack([xs, torch.zeros(20, dtype=F64)], 1), rtol=0, atol=1e-15)
        torch.testing.assert_close(cond.weights, torch.full((20,), 1 / 20, dtype=F64), rtol=1e-15, atol=0)
    ends = torch.cat([torch.stack([torch.full((10,), e, dtype=F64), ts], 1) for e in (0.0, 1.0)])
    torch.testing.assert_close(prob.conditions[2].points, ends, rtol=0, atol=1e-15)
    torch.testing.assert_close(prob.conditions[2].weights, torch.full((20,), 1 / 10, dtype=F64), rtol=1e-15, atol=0)
    # a changed coefficient keeps the layout (the factory is called again with the same options)
    other = prob.with_coefficients(c=1.0)
    assert other.coefficients["c"] == 1.0 and torch.equal(other.quadrature()[0], x)


def test_explicit_collocation_points_and_their_errors():
    pts = ((1.0, 0.5), (2.0, 0.25), (3.0, 0.75))
    prob = plw.get_problem("convection1d", n_points=(16, 8), collocation=pts)
    x, w = prob.quadrature()
    assert x.tolist() == [list(p) for p in pts]
    torch.testing.assert_close(w, torch.full((3,), 2 * math.pi / 3, dtype=F64))
    with pytest.raises(ValueError, match=r"collocation points must have shape \[N, 2\] \(\['x', 't'\]\), got \[1, 3\]"):
        plw.get_problem("convection1d", collocation=[(1.0, 0.5, 0.0)])
    with pytest.raises(ValueError, match=r"collocation draws from the grid, so sampling must be 'grid', got 'sobol'"):
        plw.get_problem("convection1d", collocation=10, sampling="sobol")
    with pytest.raises(ValueError, match=r"collocation must be an integer in \[1, 2500\], got 0"):
        plw.get_problem("convection1d", collocation=0)


def test_energy_reference_is_checked():
    kw = dict(residual=lambda u: u.xx + 1, energy=lambda u: 0.5 * u.x**2 - u, n_points=16)
    with pytest.raises(ValueError, match=r"problem 'rod': energy_reference must be a finite number \(E\*\) or None"):
        plw.define_problem("rod", {"x": (0.0, 1.0)}, energy_reference=float("nan"), **kw)
    assert plw.define_problem("rod", {"x": (0.0, 1.0)}, energy_reference=-1, **kw).exact_energy() == -1.0


# --- coefficients, and the old spellings -----------------------------------------------------------------------


def test_coefficients_reach_the_loss():
    """The same parameters, kappa = 0.3 against kappa = 0.1: the loss is the hand-written one of each."""
    heat = _heat(coefficients={"kappa": 0.1})
    hotter = heat.with_coefficients(kappa=0.3)
    assert heat.coefficients == {"kappa": 0.1} and hotter.coefficients == {"kappa": 0.3}
    assert hotter.spec == dataclasses.replace(heat.spec, coefficients={"kappa": 0.3})
    for prob, kappa in ((heat, 0.1), (hotter, 0.3)):
        run = _train(prob)
        got = float(plw.evaluate(run, run.params.double()[None])["loss"][0])
        assert got == pytest.approx(_heat_loss_by_hand(run, kappa), rel=1e-12)
    # a defined problem also changes its points; anything else is an error that lists what is allowed
    finer = heat.with_coefficients(n_points=(16, 12))
    assert finer.quadrature()[0].shape == (192, 2) and finer.coefficients == {"kappa": 0.1}
    with pytest.raises(
        ValueError,
        match=r"problem 'heat': unknown coefficient\(s\) \['nu'\]; coefficients: \['kappa'\] "
        r"\(the points: \['n_points', 'sampling', 'seed', 'n_eval'\]\)",
    ):
        heat.with_coefficients(nu=1.0)
    with pytest.raises(ValueError, match=r"problem 'heat': coefficients must be a dict name -> number, got 0.1"):
        _heat(coefficients=0.1)
    with pytest.raises(ValueError, match=r"coefficient names must be identifiers other than the coordinates"):
        _heat(coefficients={"x": 1.0})
    with pytest.raises(ValueError, match=r"allowed: unknown: u; coordinate: x; coordinate: t; coefficient: kappa"):
        _heat(coefficients={"kappa": 0.1}, residual=lambda u, kappa, nu: u.t - kappa * u.xx)


def test_old_spelling_params_warns_and_gives_the_same_problem():
    new = _heat(coefficients={"kappa": 0.3})
    with pytest.warns(FutureWarning, match="coefficients="):
        old = _heat(params={"kappa": 0.3})
    assert old.coefficients == new.coefficients == {"kappa": 0.3}
    assert torch.equal(old.quadrature()[0], new.quadrature()[0])
    with pytest.raises(TypeError, match="pass only coefficients="):
        _heat(params={"kappa": 0.3}, coefficients={"kappa": 0.3})
    with pytest.warns(FutureWarning, match="Problem.coefficients"):
        assert old.params == {"kappa": 0.3}
    with pytest.warns(FutureWarning, match="Problem.with_coefficients"):
        hotter = new.with_params(kappa=0.5)
    assert hotter.spec == new.with_coefficients(kappa=0.5).spec
    run_new, run_old = _train(hotter), _train(old.with_coefficients(kappa=0.5))
    want = _heat_loss_by_hand(run_new, 0.5)
    for run in (run_new, run_old):
        assert float(plw.evaluate(run, run.params.double()[None])["loss"][0]) == pytest.approx(want, rel=1e-12)


def test_train_takes_coefficients_and_warns_for_problem_params():
    new = _train("convection1d", coefficients=dict(beta=7.0, n_points=(8, 6)))
    with pytest.warns(FutureWarning, match="use coefficients= instead"):
        old = _train("convection1d", problem_params=dict(beta=7.0, n_points=(8, 6)))
    assert new.problem.coefficients == old.problem.coefficients == {"beta": 7.0}
    assert new.problem.options == old.problem.options
    # the same seed, the same network and the same loss: u_t + 7 u_x on the 8 x 6 midpoint grid, by hand
    assert torch.equal(new.params, old.params)
    model = new.model_at(new.params.double())
    xs = (torch.arange(8, dtype=F64) + 0.5) * (2 * math.pi / 8)
    ts = (torch.arange(6, dtype=F64) + 0.5) / 6
    pts = torch.cartesian_prod(xs, ts).requires_grad_(True)
    (g,) = torch.autograd.grad(model(pts).sum(), pts)
    want = float(((g[:, 1] + 7.0 * g[:, 0]) ** 2).sum() * (2 * math.pi / 48))
    for run in (new, old):
        got = float(plw.evaluate(run, run.params.double()[None])["loss_residual"][0])
        assert got == pytest.approx(want, rel=1e-12)
    # a Problem with coefficients: the same as with_coefficients
    heat = _heat(coefficients={"kappa": 0.1})
    assert _train(heat, coefficients={"kappa": 0.4}).problem.coefficients == {"kappa": 0.4}
