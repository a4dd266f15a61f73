"""diagnose's neural tangent kernel on PINA runs (``plw.adapters.from_pina``) against PINA's own numbers.

PINA's Poisson tutorial (``tests/test_pina_traced.py``: Laplacian of u = sin(pi x) sin(pi y) on the unit
square, u = 0 on the four sides ``g1``..``g4``, weight 10 there; a 2-8-8-1 tanh ``FeedForward``, 105
parameters; 100 interior and 10 points a side). The residual vectors must square to PINA's own weighted
condition losses (``solver._compute_condition_loss`` on a float64 copy of the model, times the weight); diagnose's
NTK per term must equal J J^T, J the full autograd Jacobian of residuals written here from the problem's
equation (the Laplacian by double autograd, minus the forcing; u on the sides), each times sqrt(w / N). A loss
that is not a sum of squares leaves the NTK NaN, with the reason.
"""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pina
import pina.solver
import pytest
import torch
from pina import Condition, LabelTensor
from pina.domain import CartesianDomain
from pina.equation import Equation
from pina.loss import LpLoss
from pina.model import FeedForward
from pina.problem import SpatialProblem
from pina.weighting import ScalarWeighting

import pinn_landscape_widget as plw

from .test_pina_traced import WEIGHTS, make_solver, pina_terms, tutorial_poisson

F64 = torch.float64
TERMS = ["g1", "g2", "g3", "g4", "D"]


def build(*, solver_class=None, loss=None, weights=WEIGHTS, mean=False, per_point=False, dtype=F64, **kw):
    """The tutorial's solver (a float64 model by default) and its run; ``mean``: the weighting averages the conditions;
    ``per_point``: a softplus network, which the adapter does not trace."""
    problem = tutorial_poisson()
    model = FeedForward(2, 1, 8, 2, func=torch.nn.Softplus) if per_point else None
    base = make_solver(problem, model=model, dtype=dtype)
    solver = (solver_class or pina.solver.PhysicsInformedSingleModelSolver)(
        problem, base.model, weighting=ScalarWeighting(weights), loss=loss, **kw
    )
    if mean:  # what a weighting made with aggregator="mean" holds
        solver.weighting.aggregator_fn = torch.mean
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = plw.adapters.from_pina(solver)
    return solver, run


def points(run, n: int) -> torch.Tensor:
    """theta* and n - 1 points around it, float64."""
    gen = torch.Generator().manual_seed(0)
    theta = run.params.detach().to(F64)
    off = 0.3 * theta.abs().mean() * torch.randn(n - 1, theta.numel(), generator=gen, dtype=F64)
    return torch.cat([theta[None], theta + off])


def reference_residuals(solver, theta: torch.Tensor, weights=WEIGHTS, n_avg: int = 1) -> dict[str, torch.Tensor]:
    """Each condition's residual vector at theta [P] (float64), written from the problem's equation: on ``D``
    u_xx + u_yy - sin(pi x) sin(pi y) (autograd twice), on a side u itself; each times sqrt(w / (n_avg N))."""
    net = copy.deepcopy(solver.model).to(F64)
    values, start = {}, 0
    for name, p in net.named_parameters():
        values[name] = theta[start : start + p.numel()].view(p.shape)
        start += p.numel()
    out = {}
    for t in TERMS:
        pts = solver.problem.discretised_domains[t].extract(["x", "y"]).as_subclass(torch.Tensor)
        x = pts.to(F64).clone().requires_grad_(True)
        u = torch.func.functional_call(net, values, (x,))[:, 0]
        if t == "D":
            (g,) = torch.autograd.grad(u.sum(), x, create_graph=True)
            uxx = torch.autograd.grad(g[:, 0].sum(), x, create_graph=True)[0][:, 0]
            uyy = torch.autograd.grad(g[:, 1].sum(), x, create_graph=True)[0][:, 1]
            r = uxx + uyy - torch.sin(math.pi * x[:, 0]) * torch.sin(math.pi * x[:, 1])
        else:
            r = u
        out[t] = r * math.sqrt(weights[t] / (n_avg * r.numel()))
    return out


@pytest.mark.parametrize(
    "kw",
    [dict(), dict(per_point=True), dict(mean=True)],
    ids=["traced", "per-point", "mean-aggregator"],
)
def test_residual_vectors_square_to_pinas_own_weighted_condition_losses(kw):
    solver, run = build(**kw)
    assert run.attrs["evaluation"].startswith("per point" if kw.get("per_point") else "traced")
    n_avg = 5 if kw.get("mean") else 1
    obj = run.objective(dtype=F64)
    assert obj.has_residual_vectors and obj.why_no_residual_vectors is None and obj.formulation.least_squares
    for theta in points(run, 3):
        rv = obj.residual_vectors(theta)
        assert list(rv) == TERMS and rv["D"].shape == (100,) and rv["g1"].shape == (10,)
        got = {t: float((rv[t].detach() ** 2).sum()) for t in TERMS}
        own = pina_terms(solver, theta, WEIGHTS, F64)  # PINA's condition losses times the weights
        np.testing.assert_allclose([got[t] for t in TERMS], [own[t] / n_avg for t in TERMS], rtol=1e-10, atol=0)
        if n_avg > 1:  # the terms add up to PINA's aggregate: the mean of the weighted condition losses
            assert math.isclose(
                sum(got.values()), float(torch.mean(torch.tensor(list(own.values()), dtype=F64))), rel_tol=1e-10
            )
        ref = reference_residuals(solver, theta, n_avg=n_avg)
        for t in TERMS:
            a, b = rv[t].detach().numpy(), ref[t].detach().numpy()
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * np.abs(b).max())
    # differentiable in the parameters: the gradient of sum(r^2) is that of PINA's term
    th = run.params.detach().to(F64).clone().requires_grad_(True)
    for t in ("g1", "D"):
        (g,) = torch.autograd.grad((obj.residual_vectors(th)[t] ** 2).sum(), th)
        (g_ref,) = torch.autograd.grad(obj.terms(th[None])[t][0], th)
        assert float(g_ref.norm()) > 0
        np.testing.assert_allclose(g.numpy(), g_ref.numpy(), rtol=1e-9, atol=1e-12 * float(g_ref.abs().max()))


def test_sum_reduction_residuals_are_the_residuals_times_the_root_of_the_weight():
    solver, run = build(per_point=True, loss=torch.nn.MSELoss(reduction="sum"))
    obj = run.objective(dtype=F64)
    theta = points(run, 2)[1]
    rv = obj.residual_vectors(theta)
    own = pina_terms(solver, theta, WEIGHTS, F64)
    ref = reference_residuals(solver, theta)
    for t in TERMS:
        np.testing.assert_allclose(float((rv[t].detach() ** 2).sum()), own[t], rtol=1e-10)
        n = ref[t].numel()  # the reference is scaled for the mean: times sqrt(N) for the sum
        np.testing.assert_allclose(rv[t].detach().numpy(), ref[t].detach().numpy() * math.sqrt(n), rtol=1e-9)


def test_two_column_residuals_and_data_misfits_are_flattened_over_all_their_entries():
    """Two outputs: an equation with a two-column residual ([N, 2]: N points, 2 entries each) and input-target
    data ([7, 2]); PINA's mean runs over all 2 N entries, so r = residual.flatten() * sqrt(w / 2N)."""
    gen = torch.Generator().manual_seed(5)
    data_in = LabelTensor(torch.rand(7, 2, generator=gen, dtype=F64), ["x", "t"])
    data_out = LabelTensor(torch.rand(7, 2, generator=gen, dtype=F64), ["u", "v"])

    def system(input_, output_):
        u, v = output_.extract(["u"]).as_subclass(torch.Tensor), output_.extract(["v"]).as_subclass(torch.Tensor)
        x = input_.extract(["x"]).as_subclass(torch.Tensor)
        return LabelTensor(torch.cat([u - torch.sin(x), u * v], 1), ["r1", "r2"])

    class Pair(SpatialProblem):
        output_variables = ["u", "v"]
        spatial_domain = CartesianDomain({"x": [0, 1], "t": [0, 1]})
        domains = {"D": CartesianDomain({"x": [0, 1], "t": [0, 1]})}
        conditions = {
            "D": Condition(domain="D", equation=Equation(system)),
            "data": Condition(input=data_in, target=data_out),
        }

    problem = Pair()
    problem.discretise_domain(12, "random", domains=["D"])
    weights = {"D": 2.0, "data": 0.5}
    solver = make_solver(problem, dtype=F64, seed=2, weights=weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = plw.adapters.from_pina(solver)
    obj = run.objective(dtype=F64)
    net = copy.deepcopy(solver.model).to(F64)
    for theta in points(run, 2):
        rv = obj.residual_vectors(theta)
        own = pina_terms(solver, theta, weights, F64)
        assert rv["D"].shape == (24,) and rv["data"].shape == (14,)
        for t in ("D", "data"):
            np.testing.assert_allclose(float((rv[t].detach() ** 2).sum()), own[t], rtol=1e-10)
        torch.nn.utils.vector_to_parameters(theta.clone(), net.parameters())
        with torch.no_grad():
            pts = problem.discretised_domains["D"]  # the model sees the columns in their stored order
            y = net(pts.as_subclass(torch.Tensor).to(F64))
            x = pts.extract(["x"]).as_subclass(torch.Tensor).to(F64)[:, 0]
            eq = torch.stack([y[:, 0] - torch.sin(x), y[:, 0] * y[:, 1]], 1)
            # the model sees the problem's input variables in its order (PINA's data batches are made so)
            inp = data_in.extract(list(problem.input_variables)).as_subclass(torch.Tensor)
            misfit = net(inp) - data_out.as_subclass(torch.Tensor)
        np.testing.assert_allclose(rv["D"].detach().numpy(), (eq.reshape(-1) * math.sqrt(2.0 / 24)).numpy(), rtol=1e-9)
        want = (misfit.reshape(-1) * math.sqrt(0.5 / 14)).numpy()
        np.testing.assert_allclose(rv["data"].detach().numpy(), want, rtol=1e-9)


@pytest.mark.parametrize("method", ["exact", "matrix-free"])
def test_ntk_per_term_equals_jjt_of_the_problems_residuals(method):
    solver, run = build()
    assert run.attrs["evaluation"] == "traced"
    theta = run.params.detach().to(F64)
    kw = dict(ntk_method="matrix-free", probes=400) if method == "matrix-free" else {}
    ds = plw.diagnose(run, hessian=False, **kw)
    assert ds.attrs["dtype"] == "float64" and ds.term.values.tolist() == TERMS
    assert ds.attrs["ntk"].startswith("computed per least-squares term")
    traces = []
    for j, t in enumerate(TERMS):
        J = torch.autograd.functional.jacobian(
            lambda th, t=t: reference_residuals(solver, th)[t], theta, vectorize=True
        )
        assert J.shape == ((100 if t == "D" else 10), 105)
        K = J @ J.T
        traces.append(float(torch.trace(K)))
        want = torch.linalg.eigvalsh(K).flip(0).numpy()
        if method == "exact":
            np.testing.assert_allclose(ds.ntk_trace.values[0, j], traces[-1], rtol=1e-8)
            np.testing.assert_allclose(ds.ntk_top_eigenvalues.values[0, j, :3], want[:3], rtol=1e-8)
        else:
            np.testing.assert_allclose(ds.ntk_top_eigenvalues.values[0, j, :1], want[:1], rtol=1e-6)
            tr, se = ds.ntk_trace.values[0, j], ds.ntk_trace_stderr.values[0, j]
            assert se > 0 and abs(tr - traces[-1]) <= 4 * se  # Hutchinson's estimate, within its error
    if method == "exact":
        np.testing.assert_allclose(ds.ntk_weight.values[0], [sum(traces) / tr for tr in traces], rtol=1e-8)
    # the terms diagnose reports are PINA's own
    own = pina_terms(solver, theta, WEIGHTS, F64)
    np.testing.assert_allclose(ds["loss"].values[0], [own[t] for t in TERMS], rtol=1e-10)


@pytest.mark.slow  # PINA's Lightning Trainer
def test_ntk_at_recorded_checkpoints_of_pinas_trainer(tmp_path):
    """Trained a few full-batch steps by PINA's Trainer with a PinaRecorder: at every recorded checkpoint the
    NTK per term is J J^T of the equation's residuals (the Trainer's split may order the points otherwise,
    which a kernel's trace and eigenvalues do not see)."""
    solver, _ = build(dtype=torch.float32)  # PINA's Trainer feeds the float32 points as they are
    rec = plw.adapters.PinaRecorder(every=2)
    trainer = pina.Trainer(
        solver,
        max_epochs=4,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        callbacks=[rec],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train()
        run = plw.adapters.from_pina(solver, recorder=rec)
    ds = plw.diagnose(run, hessian=False)
    assert ds.sizes["step"] == 3 and ds.attrs["ntk_methods"].startswith("g1: exact")
    for k, row in enumerate(ds.checkpoint.values):
        theta = run.trajectory[int(row)].detach().to(F64)
        if k:
            assert float((theta - run.trajectory[0].to(F64)).norm()) > 0  # the checkpoints differ
        for j, t in enumerate(TERMS):
            J = torch.autograd.functional.jacobian(
                lambda th, t=t: reference_residuals(solver, th)[t], theta, vectorize=True
            )
            K = J @ J.T
            np.testing.assert_allclose(ds.ntk_trace.values[k, j], float(torch.trace(K)), rtol=1e-8)
            want = torch.linalg.eigvalsh(K).flip(0).numpy()
            np.testing.assert_allclose(ds.ntk_top_eigenvalues.values[k, j, :3], want[:3], rtol=1e-8)


@pytest.mark.parametrize(
    "kw, words",
    [
        (dict(loss=LpLoss()), ["the solver's loss is LpLoss, not torch.nn.MSELoss"]),
        (dict(loss=torch.nn.L1Loss()), ["the solver's loss is L1Loss, not torch.nn.MSELoss"]),
        (
            dict(solver_class=pina.solver.GradientPhysicsInformedSingleModelSolver, regularized_conditions=["D"]),
            [
                "a GradientPhysicsInformedSingleModelSolver adds a regularization",
                "squared gradient of the residual) (_regularize_condition_loss)",
                "not known as sums of squares",
            ],
        ),
        (dict(weights={**WEIGHTS, "g2": -1.0}), ["the weighting gives condition 'g2' -1", "not a sum of squares"]),
    ],
    ids=["lp-loss", "l1-loss", "gradient-enhanced", "negative-weight"],
)
def test_a_loss_that_is_not_a_sum_of_squares_leaves_the_ntk_nan_with_the_reason(kw, words):
    solver, run = build(**kw)
    obj = run.objective()
    assert not obj.has_residual_vectors and not obj.formulation.least_squares
    ds = plw.diagnose(run, hessian=False)
    for name in ("ntk_trace", "ntk_top_eigenvalues", "ntk_condition_number", "ntk_weight"):
        assert np.isnan(ds[name].values).all()
    why = ds.attrs["ntk"]
    assert why.startswith("not computed: ") and "PINA runs (plw.adapters.from_pina)" in why
    for w in words:
        assert w in why
    with pytest.raises(ValueError, match="has_residual_vectors is False"):
        obj.residual_vectors(run.params)
    # the rest of diagnose reads PINA's terms as before
    assert np.isfinite(ds.grad_norm.values).all()
    weights = kw.get("weights", WEIGHTS)
    own = pina_terms(solver, run.params.detach().to(F64), weights, F64)
    # (pina_terms' conditions are unnamed, so a gradient-enhanced solver adds its penalty to none of them;
    # PINA's training, and the run, add it to D)
    same = TERMS[:4] if "regularized_conditions" in kw else TERMS
    np.testing.assert_allclose(ds["loss"].values[0, : len(same)], [own[t] for t in same], rtol=1e-10)
