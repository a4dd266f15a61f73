"""``plw.adapters.from_pina``'s traced path: PINA's loss for many parameter points per pass, against PINA itself.

The reference everywhere is PINA's own per-condition loss (``solver._compute_condition_loss``, what its
training step calls) with the parameter point written into a copy of the solver's model, one point at a
time, times the condition's weight: written out here, not taken from the adapter. The problems are PINA's
Poisson tutorial as its docs write it (four Dirichlet sides ``g1``..``g4`` and the interior ``D``,
``laplacian`` from ``pina.operator``, a tanh ``FeedForward``), PINA's own ``Poisson2DSquareProblem``, and a
two-output problem using ``grad``, ``div``, a mixed second derivative and a data condition. Small networks
and point sets keep the file to seconds.
"""

from __future__ import annotations

import contextlib
import copy
import warnings

import numpy as np
import pina.solver
import pytest
import torch
from pina import Condition, LabelTensor
from pina.domain import CartesianDomain
from pina.equation import Equation
from pina.equation.zoo import FixedValue
from pina.model import FeedForward
from pina.operator import div, grad, laplacian
from pina.problem import SpatialProblem
from pina.weighting import ScalarWeighting

import pinn_landscape_widget as plw

WEIGHTS = {"g1": 10.0, "g2": 10.0, "g3": 10.0, "g4": 10.0, "D": 1.0}


def laplace_equation(input_, output_):
    """The tutorial's interior residual: Laplacian of u minus sin(pi x) sin(pi y)."""
    force_term = torch.sin(input_.extract(["x"]) * torch.pi) * torch.sin(input_.extract(["y"]) * torch.pi)
    delta_u = laplacian(output_.extract(["u"]), input_, components=["u"], d=["x", "y"])
    return delta_u - force_term


def tutorial_poisson(equation=laplace_equation, n=10):
    """PINA's Poisson tutorial problem (a fresh class each time: PINA's Trainer rewrites its conditions)."""

    class Poisson(SpatialProblem):
        output_variables = ["u"]
        spatial_domain = CartesianDomain({"x": [0, 1], "y": [0, 1]})
        domains = {
            "g1": CartesianDomain({"x": [0, 1], "y": 1}),
            "g2": CartesianDomain({"x": [0, 1], "y": 0}),
            "g3": CartesianDomain({"x": 1, "y": [0, 1]}),
            "g4": CartesianDomain({"x": 0, "y": [0, 1]}),
            "D": CartesianDomain({"x": [0, 1], "y": [0, 1]}),
        }
        conditions = {
            "g1": Condition(domain="g1", equation=FixedValue(0.0)),
            "g2": Condition(domain="g2", equation=FixedValue(0.0)),
            "g3": Condition(domain="g3", equation=FixedValue(0.0)),
            "g4": Condition(domain="g4", equation=FixedValue(0.0)),
            "D": Condition(domain="D", equation=Equation(equation)),
        }

        def solution(self, pts):
            x, y = pts.extract(["x"]), pts.extract(["y"])
            return -torch.sin(x * torch.pi) * torch.sin(y * torch.pi) / (2 * torch.pi**2)

    problem = Poisson()
    problem.discretise_domain(n, "grid", domains=["D"])
    problem.discretise_domain(n, "grid", domains=["g1", "g2", "g3", "g4"])
    return problem


def make_solver(problem, model=None, dtype=torch.float32, seed=0, weights=WEIGHTS):
    torch.manual_seed(seed)
    if model is None:
        model = FeedForward(len(problem.input_variables), len(problem.output_variables), 8, 2, func=torch.nn.Tanh)
    model = model.to(dtype)
    return pina.solver.PhysicsInformedSingleModelSolver(problem, model, weighting=ScalarWeighting(weights))


def _cast(t, dtype):
    return LabelTensor(t.as_subclass(torch.Tensor).to(dtype), t.labels)


@contextlib.contextmanager
def one_thread():
    """PINA's per-point loss on one torch thread: its ops are too small for two, which only wait for each
    other on a busy machine."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@one_thread()
def pina_terms(solver, theta, weights, dtype) -> dict[str, float]:
    """PINA's weighted loss of each condition at theta: its own ``_compute_condition_loss`` on a model copy."""
    model = copy.deepcopy(solver.model).to(dtype)
    torch.nn.utils.vector_to_parameters(theta.to(dtype), model.parameters())
    problem = solver.problem
    saved = solver._pina_models[0]
    solver._pina_models[0] = model
    out = {}
    try:
        for name, cond in problem.conditions.items():
            if hasattr(cond, "domain"):
                pts = _cast(problem.discretised_domains[cond.domain], dtype)
                cond, data = Condition(input=pts, equation=cond.equation), {"input": pts}
            else:
                data = {k: _cast(v, dtype) for k, v in cond.data.to_batch().items()}
            with torch.enable_grad():
                value = solver._compute_condition_loss(cond, data, 0)
            out[name] = weights.get(name, 1.0) * float(value.detach())
    finally:
        solver._pina_models[0] = saved
    return out


def grid_against_pina(run, solver, weights, dtype, resolution=3, span=0.8, full=lambda t: t, chunk_size=None):
    """The traced landscape and PINA's terms at each of its points: (grid [R*R, terms], reference).
    ``full`` maps the run's theta to all of the model's parameters."""
    dirs = plw.random_directions(run, 2, seed=0)
    ds = plw.landscape(run, dirs, span=span, resolution=resolution, progress=False, chunk_size=chunk_size)
    names = list(run.term_names["pina"])
    got, ref = [], []
    for i, a in enumerate(ds.alpha.values):
        for j, b in enumerate(ds.beta.values):
            theta = run.params.double() + float(a) * dirs.vectors[0].double() + float(b) * dirs.vectors[1].double()
            terms = pina_terms(solver, full(theta), weights, dtype)
            ref.append([terms[n] for n in names] + [sum(terms.values())])
            got.append([float(ds[f"loss_{n}"][i, j]) for n in names] + [float(ds.loss[i, j])])
    return np.array(got), np.array(ref)


def from_pina_quiet(solver, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a traced run warns of nothing
        return plw.adapters.from_pina(solver, **kw)


@pytest.mark.parametrize("dtype, rtol", [(torch.float32, 2e-5), (torch.float64, 1e-10)])
def test_tutorial_poisson_traced_grid_equals_pina_per_point(dtype, rtol):
    import pina._src.core.operator as operators  # where PINA's operators compute: hooked only while traced

    helpers = operators._scalar_grad, operators._scalar_laplacian
    problem = tutorial_poisson()
    solver = make_solver(problem, dtype=dtype)
    run = from_pina_quiet(solver)
    assert run.attrs["evaluation"] == "traced"
    assert run.dtype == dtype and run.term_names["pina"] == ("g1", "g2", "g3", "g4", "D")
    assert run.objective().thread_safe
    # chunks of 2 of the 16 points: several chunks at once on the grid's threads
    got, ref = grid_against_pina(run, solver, WEIGHTS, dtype, resolution=4, chunk_size=2)
    assert np.all(ref[:, -1] > 1e-3) and np.ptp(ref[:, -1]) > 0.1 * ref[:, -1].max()  # a landscape, not a flat
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=1e-12)
    # the error panel's values come from the batched network too
    ev = plw.evaluate(run, run.params[None])
    model = solver.model
    pts = run.points.to(dtype)
    with torch.no_grad():
        u = model(pts)[:, 0].double()
    exact = run.problem.exact(run.points)
    assert float(ev["rel_l2_error"][0]) == pytest.approx(
        float(torch.linalg.norm(u - exact) / torch.linalg.norm(exact)), rel=1e-5
    )
    assert (operators._scalar_grad, operators._scalar_laplacian) == helpers  # PINA's own again


def test_pina_zoo_poisson_and_a_parameter_subset_are_traced():
    from pina.problem.zoo import Poisson2DSquareProblem

    problem = Poisson2DSquareProblem()
    problem.discretise_domain(6, "grid", domains=["D"])
    problem.discretise_domain(6, "grid", domains=["boundary"])
    weights = {"boundary": 4.0}
    solver = make_solver(problem, dtype=torch.float64, seed=1, weights=weights)
    run = from_pina_quiet(solver)
    assert run.attrs["evaluation"] == "traced"
    got, ref = grid_against_pina(run, solver, weights, torch.float64)
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    # a landscape over the last layer only: the other parameters held at theta*
    with pytest.warns(UserWarning, match="unselected parameters are held at their current values"):
        sub = plw.adapters.from_pina(solver, trainable=["model.4.weight", "model.4.bias"])
    assert sub.attrs["evaluation"] == "traced" and sub.n_params == 9
    theta_star = torch.nn.utils.parameters_to_vector(solver.model.parameters()).detach().double()
    got, ref = grid_against_pina(sub, solver, weights, torch.float64, full=lambda t: torch.cat([theta_star[:-9], t]))
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    # the old keyword: a FutureWarning naming the new one, the same run
    with pytest.warns(FutureWarning, match=r"from_pina\(params=\.\.\.\) is deprecated .* use trainable= instead"):
        old = plw.adapters.from_pina(solver, params=["model.4.weight", "model.4.bias"])
    assert old.n_params == 9 and old.attrs["evaluation"] == "traced"
    P = sub.params[None] + 0.1 * torch.randn(2, 9, generator=torch.Generator().manual_seed(0), dtype=sub.dtype)
    np.testing.assert_array_equal(plw.evaluate(old, P)["loss"].numpy(), plw.evaluate(sub, P)["loss"].numpy())


@pytest.mark.parametrize("dtype, rtol", [(torch.float32, 2e-5), (torch.float64, 1e-10)])
def test_two_outputs_grad_div_mixed_partial_and_data_are_traced(dtype, rtol):
    """u, v of (x, t): a residual with grad (one and all coordinates), div, a mixed second partial through
    nested grads and a Laplacian over one coordinate; a boundary value of one component; input-target data."""

    def system(input_, output_):
        g = grad(output_, input_, components=["u", "v"], d=["x", "t"])
        u_xt = grad(g.extract(["dudx"]), input_, d=["t"])
        divergence = div(output_, input_, components=["u", "v"], d=["x", "t"])
        v_xx = laplacian(output_, input_, components=["v"], d=["x"])
        x = input_.extract(["x"])
        r1 = g.extract(["dudt"]) - 0.1 * v_xx + output_.extract(["u"]) * g.extract(["dvdx"])
        r2 = u_xt + divergence - torch.cos(x)
        return LabelTensor(torch.cat([r1.as_subclass(torch.Tensor), r2.as_subclass(torch.Tensor)], 1), ["r1", "r2"])

    gen = torch.Generator().manual_seed(5)
    data_in = LabelTensor(torch.rand(7, 2, generator=gen), ["x", "t"])
    data_out = LabelTensor(torch.rand(7, 2, generator=gen), ["u", "v"])

    class Flow(SpatialProblem):
        output_variables = ["u", "v"]
        spatial_domain = CartesianDomain({"x": [0, 1], "t": [0, 1]})
        domains = {"D": CartesianDomain({"x": [0, 1], "t": [0, 1]}), "left": CartesianDomain({"x": 0, "t": [0, 1]})}
        conditions = {
            "D": Condition(domain="D", equation=Equation(system)),
            "left": Condition(domain="left", equation=FixedValue(1.0, components=["v"])),
            "data": Condition(input=data_in, target=data_out),
        }

    problem = Flow()
    problem.discretise_domain(30, "random", domains=["D"])
    problem.discretise_domain(6, "grid", domains=["left"])
    weights = {"left": 3.0, "data": 0.5}
    solver = make_solver(problem, dtype=dtype, seed=2, weights=weights)
    run = from_pina_quiet(solver)
    assert run.attrs["evaluation"] == "traced"
    assert run.term_names["pina"] == ("D", "left", "data")
    got, ref = grid_against_pina(run, solver, weights, dtype)
    np.testing.assert_allclose(got, ref, rtol=rtol)


def test_untraceable_equation_or_model_falls_back_with_the_reason_and_pina_numbers():
    def squared(input_, output_):  # an operator applied to a function of the output
        w = LabelTensor(output_.extract(["u"]).as_subclass(torch.Tensor) ** 2, ["w"])
        return laplacian(w, input_, components=["w"], d=["x", "y"]) - 1.0

    def by_autograd(input_, output_):  # derivatives taken by torch.autograd directly
        u = output_.extract(["u"])
        g = torch.autograd.grad(u, input_, torch.ones_like(u), create_graph=True)[0]
        return g.as_subclass(torch.Tensor)[:, :1] - 1.0

    cases = [
        (make_solver(tutorial_poisson(squared, n=6)), "an operator is applied to something other than an output"),
        (make_solver(tutorial_poisson(by_autograd, n=6)), "tracing failed \\(RuntimeError"),
        (
            make_solver(tutorial_poisson(n=6), model=FeedForward(2, 1, 6, 2, func=torch.nn.Softplus)),
            "solver.model \\(FeedForward\\) is not a network the engine knows",
        ),
    ]
    for solver, reason in cases:
        with pytest.warns(UserWarning, match="the loss is evaluated one parameter point at a time \\(" + reason):
            run = plw.adapters.from_pina(solver)
        assert run.attrs["evaluation"].startswith("per point: ")
        assert not hasattr(run.losses["pina"], "batched_terms")
        got, ref = grid_against_pina(run, solver, WEIGHTS, torch.float32)
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-12)


def test_a_chunk_whose_equation_leaves_its_trace_is_evaluated_per_point():
    """Control flow on the values: near theta* the equation takes one path (traced), far out another."""

    def switching(input_, output_):
        u = output_.extract(["u"])
        if float(u.detach().abs().max()) > 1.0:  # a different set of operator calls
            return u - 1.0
        return laplace_equation(input_, output_)

    problem = tutorial_poisson(switching, n=6)
    solver = make_solver(problem, dtype=torch.float64, seed=4)
    run = from_pina_quiet(solver)
    assert run.attrs["evaluation"] == "traced"
    dirs = plw.random_directions(run, 2, seed=0)
    ev_far = None
    for scale in (10.0, 30.0, 100.0):  # far enough out for |u| > 1 somewhere
        far = run.params + scale * dirs.vectors[0]
        ref = pina_terms(solver, far, WEIGHTS, torch.float64)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ev_far = plw.evaluate(run, far[None])
        if any("does not follow its trace" in str(w.message) for w in caught):
            break
    else:
        pytest.fail("no parameter point took the other path")
    assert float(ev_far["loss_D"][0]) == pytest.approx(ref["D"], rel=1e-10)
    assert float(ev_far["loss"][0]) == pytest.approx(sum(ref.values()), rel=1e-10)


def test_hessian_eigenpairs_on_a_traced_run_match_a_dense_hessian():
    problem = tutorial_poisson(n=5)
    solver = make_solver(problem, model=FeedForward(2, 1, 4, 2, func=torch.nn.Tanh), dtype=torch.float64)
    run = from_pina_quiet(solver)
    assert run.attrs["evaluation"] == "traced"
    eig = plw.hessian_eigenpairs(run, n=1)
    theta = run.params.double()

    def total(t):
        terms = pina_terms_autograd(solver, t)
        return sum(w * terms[n] for n, w in WEIGHTS.items())

    with one_thread():
        H = torch.autograd.functional.hessian(total, theta)
    dense = float(torch.linalg.eigvalsh(H).abs().max())
    assert dense > 1e-2
    assert abs(float(eig.eigenvalue[0])) == pytest.approx(dense, rel=1e-8)


def pina_terms_autograd(solver, theta):
    """PINA's unweighted condition losses as differentiable functions of theta (float64)."""
    model = copy.deepcopy(solver.model).double()
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    values, off = {}, 0
    for n, s in zip(names, shapes):
        k = int(np.prod(s))
        values[n] = theta[off : off + k].reshape(s)
        off += k
    problem = solver.problem
    saved = solver._pina_models[0]

    class Functional(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, x):
            return torch.func.functional_call(self.inner, values, (x,))

    solver._pina_models[0] = Functional()
    out = {}
    try:
        for name, cond in problem.conditions.items():
            pts = _cast(problem.discretised_domains[cond.domain], torch.float64)
            c = Condition(input=pts, equation=cond.equation)
            with torch.enable_grad():
                out[name] = solver._compute_condition_loss(c, {"input": pts}, 0).as_subclass(torch.Tensor)
    finally:
        solver._pina_models[0] = saved
    return out
