"""Problems: points and weights, exact solutions against their PDE and conditions, the analytic Deep Ritz
energies, the problem-definition API and its errors."""

import math
import pickle

import pytest
import torch

import pinn_landscape_widget as plw

from .autograd_reference import AutogradField

F64 = torch.float64

# built-in problems with a closed-form exact solution (the reference-solution ones have their own tests)
CLOSED_FORM = [
    ("poisson1d", {}),
    ("poisson1d", dict(source="sin", k=3)),
    ("poisson1d", dict(source="multiscale")),
    ("poisson2d", {}),
    ("poisson2d", dict(k=2)),
    ("convection1d", dict(beta=30.0)),
    ("reaction1d", dict(rho=5.0)),
    ("heat1d", dict(diffusivity=0.2)),
    ("wave1d", dict(c=2.0, beta=5)),
    ("helmholtz2d", dict(a1=1, a2=4, k=1.0)),
    ("kovasznay2d", dict(re=20.0)),
]


def exact_fields(prob, x):
    """Autograd fields of the exact solution at x (independent of the engine)."""
    x = x.clone().requires_grad_(True)
    u = prob.exact(x)
    u = u[:, None] if u.dim() == 1 else u
    reads = []
    return {n: AutogradField(u[:, k], x, prob.input_names, reads) for k, n in enumerate(prob.unknowns)}, x


def call_definition(prob, fn, args, fields, x):
    f = prob.source(x.detach())
    kw = {}
    for a in args:
        if a in fields:
            kw[a] = fields[a]
        elif a in prob.input_names:
            kw[a] = x[:, prob.input_names.index(a)]
        elif a == "f":
            kw[a] = f
        else:
            kw[a] = prob.coefficients[a]
    return fn(**kw)


def test_list_problems():
    assert plw.list_problems() == [
        "poisson1d",
        "poisson2d",
        "convection1d",
        "reaction1d",
        "reaction_diffusion1d",
        "heat1d",
        "wave1d",
        "burgers1d",
        "allen_cahn1d",
        "helmholtz2d",
        "kovasznay2d",
    ]


@pytest.mark.parametrize("name,kw", CLOSED_FORM)
def test_quadrature_weights_sum_to_domain_measure(name, kw):
    prob = plw.get_problem(name, **kw)
    x, w = prob.quadrature()
    measure = math.prod(hi - lo for lo, hi in prob.domain)
    assert abs(float(w.sum()) - measure) < 1e-12 * measure
    assert x.shape == (w.shape[0], prob.dim)
    for k, (lo, hi) in enumerate(prob.domain):
        assert float(x[:, k].min()) > lo and float(x[:, k].max()) < hi


@pytest.mark.parametrize("name,kw", CLOSED_FORM)
def test_exact_solution_makes_the_residual_vanish_and_meets_the_conditions(name, kw):
    prob = plw.get_problem(name, **kw)
    x, _ = prob.quadrature()
    fields, xg = exact_fields(prob, x)
    r = call_definition(prob, prob._residual, prob._residual_args, fields, xg)
    rs = r.values() if isinstance(r, dict) else r if isinstance(r, (list, tuple)) else [r]
    scale = 1.0 + max(abs(float(v)) for v in prob.coefficients.values()) if prob.coefficients else 1.0
    f = prob.source(x)
    scale *= 1.0 + (0.0 if f is None else float(f.abs().max()))
    for ri in rs:
        assert float(ri.detach().abs().max()) < 1e-7 * scale
    for c in prob.conditions:
        u = prob.exact(c.points)
        u = u[:, None] if u.dim() == 1 else u
        for j, k in enumerate(c.unknown_index):
            if c.kind == "value":
                assert float((u[:, k] - c.targets[j]).abs().max()) < 1e-12
            elif c.kind == "periodic":
                n = u.shape[0] // 2
                assert float((u[:n, k] - u[n:, k]).abs().max()) < 1e-12
            else:  # the initial rate
                fl, xc = exact_fields(prob, c.points)
                g = fl[prob.unknowns[k]].d(prob.input_names[c.axis])
                assert float((g - c.targets[j]).abs().max()) < 1e-9


@pytest.mark.parametrize(
    "name,kw",
    [
        ("poisson1d", {}),
        ("poisson1d", dict(source="multiscale")),
        ("poisson2d", {}),
        ("poisson2d", dict(k=2)),
        ("helmholtz2d", {}),
    ],
)
def test_exact_solution_gives_the_analytic_deep_ritz_energy(name, kw):
    prob = plw.get_problem(name, n_points=4096 if name == "poisson1d" else 40000, **kw)
    x, w = prob.quadrature()
    fields, xg = exact_fields(prob, x)
    e = call_definition(prob, prob._energy, prob._energy_args, fields, xg)
    energy = float((e * w).sum())
    analytic = prob.exact_energy()
    assert abs(energy - analytic) < 1e-4 * abs(analytic)  # midpoint rule, O(h^2)


def test_energy_reference_is_computed_by_quadrature_when_not_given():
    prob = plw.define_problem(
        "p",
        {"x": (0.0, 1.0)},
        residual=lambda u, f: u.xx + f,
        energy=lambda u, f: 0.5 * u.x**2 - f * u,
        source=lambda x: math.pi**2 * torch.sin(math.pi * x),
        exact=lambda x: torch.sin(math.pi * x),
        n_points=4000,
    )
    assert prob.exact_energy() == pytest.approx(-(math.pi**2) / 4, rel=1e-6)


def test_hard_ansatz_vanishes_on_the_boundary():
    for name in ("poisson1d", "poisson2d", "helmholtz2d"):
        prob = plw.get_problem(name)
        lo = torch.tensor([a for a, _ in prob.domain], dtype=F64)
        hi = torch.tensor([b for _, b in prob.domain], dtype=F64)
        s = torch.rand(50, prob.dim, dtype=F64) * (hi - lo) + lo
        for axis in range(prob.dim):
            for end in (lo[axis], hi[axis]):
                xb = s.clone()
                xb[:, axis] = end
                n = torch.ones(50, 1, dtype=F64)
                assert float(prob.solution_from_network(xb, n).abs().max()) < 1e-12


def test_boundary_quadrature_present_only_with_penalty():
    assert plw.get_problem("poisson1d").boundary_quadrature() is None
    pts, w = plw.get_problem("poisson1d", boundary="penalty").boundary_quadrature()
    assert sorted(pts[:, 0].tolist()) == [0.0, 1.0] and w.tolist() == [1.0, 1.0]
    pts, w = plw.get_problem("poisson2d", boundary="penalty", n_points=100).boundary_quadrature()
    assert abs(float(w.sum()) - 4.0) < 1e-12  # perimeter of the unit square
    pts, w = plw.get_problem("convection1d", n_points=100).boundary_quadrature()
    assert abs(float(w.sum()) - (2 * math.pi + 1.0)) < 1e-12  # initial line + periodic edge


def test_problem_options_rebuild_it_and_it_pickles():
    prob = plw.get_problem("convection1d", beta=30.0, n_points=400)
    again = plw.get_problem(prob.name, **prob.options)
    assert again.options == prob.options and again.coefficients == {"beta": 30.0}
    back = pickle.loads(pickle.dumps(prob))
    assert back.options == prob.options and torch.equal(back.quadrature()[0], prob.quadrature()[0])
    assert plw.get_problem(prob, beta=10.0).coefficients == {"beta": 10.0}
    assert prob.with_coefficients(beta=5.0).coefficients == {"beta": 5.0}


def test_a_defined_problem_pickles_with_cloudpickle_and_varies_its_coefficients():
    cloudpickle = pytest.importorskip("cloudpickle")
    heat = plw.define_problem(
        "heat",
        {"x": (0, 1), "t": (0, 1)},
        residual=lambda u, kappa: u.t - kappa * u.xx,
        coefficients={"kappa": 0.1},
        conditions=[plw.dirichlet("x")],
        n_points=100,
    )
    back = cloudpickle.loads(cloudpickle.dumps(heat))
    assert back.coefficients == {"kappa": 0.1} and back.residual_spec == heat.residual_spec
    hotter = heat.with_coefficients(kappa=0.5)
    assert hotter.coefficients == {"kappa": 0.5} and heat.coefficients == {"kappa": 0.1}
    with pytest.raises(ValueError, match=r"unknown coefficient\(s\) \['nu'\]; coefficients: \['kappa'\]"):
        heat.with_coefficients(nu=1.0)


def test_derivatives_read_are_found_from_the_definition():
    p = plw.define_problem("d", {"x": (0, 1), "t": (0, 2)}, residual=lambda u: u.xt + u.tt * u, n_points=16)
    spec = p.residual_spec
    assert spec.first == (0, 1)  # u_xt and u_tt need both first partials
    assert {f.terms for f in spec.second} == {((0, 1, 1.0),), ((1, 1, 1.0),)}
    q = plw.define_problem("e", {"x": (0, 1), "y": (0, 1), "z": (0, 1)}, residual=lambda u: u.y, n_points=27)
    assert q.residual_spec.first == (1,) and q.residual_spec.second == ()
    long = plw.define_problem(
        "long",
        {"r": (1, 2), "theta": (0, 1)},
        residual=lambda w: w.rtheta + w.d("theta", "theta"),
        unknowns="w",
        n_points=16,
    )
    assert {f.terms for f in long.residual_spec.second} == {((0, 1, 1.0),), ((1, 1, 1.0),)}


@pytest.mark.parametrize("sampling", ["sobol", "lhs", "uniform"])
def test_random_point_sets_are_fixed_by_their_seed_and_cover_the_box(sampling):
    kw = dict(residual=lambda u: u.x + u.t, n_points=256, sampling=sampling, conditions=[plw.initial(0.0)])
    a = plw.define_problem("a", {"x": (-1.0, 3.0), "t": (0.0, 0.5)}, seed=3, **kw)
    b = plw.define_problem("b", {"x": (-1.0, 3.0), "t": (0.0, 0.5)}, seed=3, **kw)
    c = plw.define_problem("c", {"x": (-1.0, 3.0), "t": (0.0, 0.5)}, seed=4, **kw)
    x, w = a.quadrature()
    assert torch.equal(x, b.quadrature()[0]) and not torch.equal(x, c.quadrature()[0])
    assert x.shape == (256, 2) and abs(float(w.sum()) - 2.0) < 1e-12
    assert float(x[:, 0].min()) >= -1 and float(x[:, 0].max()) <= 3 and float(x[:, 1].max()) <= 0.5
    # every quarter of the box gets a fair share of the points (sobol and lhs: exactly stratified)
    q = ((x[:, 0] > 1.0).long() * 2 + (x[:, 1] > 0.25).long()).bincount(minlength=4)
    assert int(q.min()) >= (50 if sampling == "uniform" else 60)
    if sampling == "lhs":  # one point in each of the 256 strata along each axis
        assert torch.equal(((x[:, 0] + 1) / 4 * 256).floor().long().sort().values, torch.arange(256))
    cond = a.conditions[0]
    assert torch.all(cond.points[:, 1] == 0.0) and abs(float(cond.weights.sum()) - 4.0) < 1e-12


def test_nan_in_a_user_source_shows_as_nan_in_the_grid():
    prob = plw.define_problem(
        "nan",
        {"x": (0, 1)},
        residual=lambda u, f: u.xx + f,
        source=lambda x: torch.where(x > 0.5, torch.nan, 1.0 + 0 * x),
        n_points=32,
    )
    with pytest.warns(RuntimeWarning, match="training diverged at step 0: loss is nan"):
        run = plw.train(prob, "strong", width=6, depth=1, steps=3, progress=False, optimizer="adam")
    ds = plw.landscape(run, resolution=5, progress=False)
    assert bool(torch.isnan(torch.as_tensor(ds.loss.values)).all())


def _define(**overrides):
    kw = dict(name="p", domain={"x": (0.0, 1.0)}, residual=lambda u: u.xx, n_points=16)
    kw.update(overrides)
    return plw.define_problem(**kw)


@pytest.mark.parametrize(
    "overrides,match",
    [
        (dict(residual=lambda u: u.y), r"problem 'p': residual: u.y names no derivative.*coordinates: \['x'\]"),
        (
            dict(residual=lambda u: u.xxx),
            r"problem 'p': residual: u.xxx is a derivative of order 3; derivatives of order 0 to 2",
        ),
        (
            dict(residual=lambda u, v: u.xx + v),
            r"problem 'p': residual takes an argument 'v' that the problem does not provide",
        ),
        (
            dict(conditions=[plw.dirichlet("y")]),
            r"problem 'p': dirichlet condition on coordinate 'y', which is not on the box",
        ),
        (
            dict(conditions=[plw.dirichlet("x", at=0.5)]),
            r"dirichlet condition at x = 0.5 is not a face of the box: x runs over \[0, 1\], so at must be 0 or 1",
        ),
        (
            dict(domain={"x": (1.0, 0.0)}),
            r"problem 'p': the interval of 'x' must be \(lo, hi\) with finite lo < hi, got \(1.0, 0.0\)",
        ),
        (dict(domain={"x": (0.0, 0.0)}), r"the interval of 'x' must be \(lo, hi\) with finite lo < hi"),
        (dict(domain={}), r"domain must be a dict coordinate -> \(lo, hi\)"),
        (
            dict(residual=lambda u: u.xx.sum(1)),
            r"residual must return one value per point and parameter point, shape \[K, N\] = \[2, 7\] here, got \[2\]",
        ),
        (dict(residual=lambda u: 3.0), r"residual must return a tensor \(or a list/dict of them\), got float"),
        (dict(residual=lambda x: x), r"residual must return one value per point|residual reads none of the unknowns"),
        (
            dict(domain={"x": (0, 1), "t": (0, 1)}, residual=lambda u: u.t - u.xx, energy=lambda u: u.x**2),
            r"an energy \(Deep Ritz\) needs a problem with a variational principle; the residual is first order in time \(u.t\)",
        ),
        (dict(energy=lambda u: u.xx * u), r"an energy density reads values and first derivatives only"),
        (
            dict(conditions=[plw.dirichlet("x", unknowns="w")]),
            r"names unknowns \['w'\] that do not exist; unknowns: \['u'\]",
        ),
        (
            dict(conditions=[plw.dirichlet("x", hard=True)]),
            r"condition 'boundary' is hard for 'u', which has no ansatz factor",
        ),
        (
            dict(conditions=[plw.dirichlet("x", hard=True)], ansatz=lambda x: x),
            r"condition 'boundary' is hard for 'u' but its ansatz factor is not zero there",
        ),
        (dict(conditions=[plw.initial(0.0)]), r"initial needs a time coordinate"),
        (dict(domain={"value": (0, 1)}), r"coordinate name 'value' is reserved"),
        (dict(unknowns=("x",)), r"unknown names \['x'\] are already used by coordinates or unknowns"),
        (dict(exact=lambda x: x[:3]), r"exact must return \[5\] values at N points, got \[3\]"),
        (dict(sampling="halton"), r"sampling must be one of \['grid', 'sobol', 'lhs', 'uniform'\], got 'halton'"),
    ],
)
def test_bad_definitions_are_clear_errors_at_definition_time(overrides, match):
    with pytest.raises(ValueError, match=match):
        _define(**overrides)


@pytest.mark.parametrize(
    "call,match",
    [
        (
            lambda: plw.get_problem("heat3d"),
            r"problem must be one of \['poisson1d', .*'kovasznay2d'\] or a Problem from plw.define_problem, got 'heat3d'",
        ),
        (lambda: plw.get_problem("poisson1d", nu=1.0), r"unknown option\(s\) \['nu'\] for problem 'poisson1d'"),
        (
            lambda: plw.get_problem("poisson1d", source="cos"),
            r"source must be one of \['sin', 'multiscale'\], got 'cos'",
        ),
        (lambda: plw.get_problem("poisson1d", n_points=1), r"n_points must be an integer in \[2, "),
        (lambda: plw.get_problem("poisson1d", boundary="soft"), r"boundary must be one of \['hard', 'penalty'\]"),
        (lambda: plw.get_problem("convection1d", beta=float("nan")), r"beta must be a finite number, got nan"),
        (lambda: plw.get_problem("poisson2d", lam=-1), r"lam must be a finite number > 0, got -1"),
        (lambda: plw.get_problem("wave1d", beta=2.5), r"beta must be an integer in \[1, 1000\], got 2.5"),
        (lambda: plw.get_problem("heat1d", diffusivity=0), r"diffusivity must be a finite number > 0, got 0"),
    ],
)
def test_bad_problem_arguments_are_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
