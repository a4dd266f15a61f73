"""diagnose(run): every quantity against an independent plain-autograd computation on run.objective().terms."""

import math

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw

from .conftest import VALUE_CASES, case_id, small_run

F64 = torch.float64


@pytest.fixture(scope="module")
def run():
    # two terms: the strong residual and the boundary penalty
    return plw.train(
        "poisson1d",
        "strong",
        width=8,
        depth=1,
        steps=(40, 0),
        record_every=10,
        progress=False,
        coefficients=dict(boundary="penalty", n_points=64),
    )


@pytest.fixture(scope="module", params=[None, F64], ids=["c-float32", "autograd-float64"])
def ds(request, run):
    # the default: a float32 run of our tanh MLP goes through the C passes in float32; dtype=float64: autograd
    out = plw.diagnose(run, dtype=request.param)
    assert out.attrs["dtype"] == out.attrs["product_dtype"] == ("float32" if request.param is None else "float64")
    assert ("passes in C" in out.attrs["products"]) == (request.param is None)
    return out


def _rtol(ds):
    """float32 quantities agree with float64 autograd to float32 rounding, accumulated over the points."""
    return 1e-6 if ds.attrs["dtype"] == "float64" else 2e-5


def _grads(run, theta):
    """{term: (loss, dL/dtheta)} by plain autograd, each term on its own graph, in float64."""
    obj = run.objective(dtype=F64)
    out = {}
    for t in obj.term_names:
        th = theta.detach().to(F64).clone().requires_grad_(True)
        val = obj.terms(th[None])[t][0]
        (g,) = torch.autograd.grad(val, th)
        out[t] = (float(val.detach()), g)
    return out


def test_coords_match_the_trajectory(run, ds):
    assert ds.step.values.tolist() == run.trajectory_steps == [0, 10, 20, 30, 40]
    assert ds.checkpoint.values.tolist() == list(range(len(run.trajectory_steps)))
    assert ds.term.values.tolist() == run.objective().term_names == ["residual", "boundary"]
    sub = plw.diagnose(run, checkpoints=[10, 40], hessian=False)
    assert sub.step.values.tolist() == [10, 40] and sub.checkpoint.values.tolist() == [1, 4]
    three = plw.diagnose(run, checkpoints=3, hessian=False)
    assert three.step.values.tolist() == [0, 20, 40]


def test_losses_grad_norms_cosines_and_imbalance_match_autograd(run, ds):
    rtol = _rtol(ds)
    for k, row in enumerate(ds.checkpoint.values):
        ref = _grads(run, run.trajectory[int(row)])
        names = list(ref)
        for j, t in enumerate(names):
            loss, g = ref[t]
            np.testing.assert_allclose(ds["loss"].values[k, j], loss, rtol=rtol)
            np.testing.assert_allclose(ds.grad_norm.values[k, j], float(g.norm()), rtol=rtol)
            # per layer: our MLP's layers are [W0 (8), b0 (8)] and [W1 (8), b1 (1)]
            np.testing.assert_allclose(ds.grad_norm_layer.values[k, j, 0], float(g[:16].norm()), rtol=rtol)
            np.testing.assert_allclose(ds.grad_norm_layer.values[k, j, 1], float(g[16:].norm()), rtol=rtol)
            for j2, t2 in enumerate(names):
                g2 = ref[t2][1]
                want = float(g @ g2 / (g.norm() * g2.norm()))
                np.testing.assert_allclose(ds.grad_cosine.values[k, j, j2], want, rtol=rtol)
            rest = sum(ref[u][1] for u in names if u != t)
            np.testing.assert_allclose(
                ds.cosine.values[k, j], float(g @ rest / (g.norm() * rest.norm())), rtol=rtol, atol=1e-12
            )
        g_res, g_bc = ref["residual"][1], ref["boundary"][1]
        assert np.isnan(ds.imbalance.values[k, 0])  # the reference term
        np.testing.assert_allclose(ds.imbalance.values[k, 1], float(g_res.abs().max() / g_bc.abs().mean()), rtol=rtol)
    assert ds.imbalance.attrs["reference_term"] == "residual"
    for name in ("loss", "grad_norm", "grad_cosine", "cosine", "imbalance", "hessian_top_eigenvalue"):
        assert ds[name].attrs["definition"]
    assert "2001.04536" in ds.imbalance.attrs["source"]


def test_top_eigenvalue_matches_a_dense_hessian(run, ds):
    k = 2
    theta = run.trajectory[int(ds.checkpoint.values[k])].detach().to(F64)
    obj = run.objective(dtype=F64)
    for j, t in enumerate(obj.term_names):
        H = torch.autograd.functional.hessian(lambda th, t=t: obj.terms(th[None])[t][0], theta)
        want = float(torch.linalg.eigvalsh(H)[-1])
        np.testing.assert_allclose(ds.hessian_top_eigenvalue.values[k, j], want, rtol=1e-4)


def test_summary_states_imbalance_and_stall(ds):
    s = ds.attrs["summary"]
    assert "largest gradient imbalance: lambda_boundary" in s
    worst = float(np.nanmax(ds.imbalance.values))
    assert f"{worst:.3g}" in s
    assert "stopped decreasing" in s or "kept decreasing" in s
    if worst <= 10 and "kept decreasing" in s:
        assert s.startswith("nothing stands out")


def test_one_checkpoint_from_model_run():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1)).to(F64)
    x = torch.linspace(0, 1, 16, dtype=F64)[:, None]
    xb = torch.tensor([[0.0], [1.0]], dtype=F64)

    def loss_fn(m):
        return {"fit": ((m(x) - torch.sin(x)) ** 2).mean(), "edge": 10.0 * (m(xb) ** 2).mean()}

    run = plw.from_model(model, loss_fn)
    ds = plw.diagnose(run)
    assert ds.sizes["step"] == 1 and "one checkpoint only" in ds.attrs["notes"]
    assert ds.term.values.tolist() == ["fit", "edge"]
    theta = run.trajectory[-1].detach().clone().requires_grad_(True)
    terms = run.objective().terms(theta[None])
    g_fit = torch.autograd.grad(terms["fit"][0], theta, retain_graph=True)[0]
    g_edge = torch.autograd.grad(terms["edge"][0], theta)[0]
    np.testing.assert_allclose(ds.grad_norm.values[0], [float(g_fit.norm()), float(g_edge.norm())], rtol=1e-6)
    np.testing.assert_allclose(ds.imbalance.values[0, 1], float(g_fit.abs().max() / g_edge.abs().mean()), rtol=1e-6)
    assert "loss trend: needs at least two" in ds.attrs["summary"]
    assert np.isfinite(ds.hessian_top_eigenvalue.values).all()


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(checkpoints=0), ["checkpoints", "[1, 5]", "0"]),
        (dict(checkpoints=9), ["checkpoints", "[1, 5]", "9"]),
        (dict(checkpoints=[10, 15]), ["checkpoints", "not recorded: [15]", "[0, 10, 20, 30, 40]"]),
        (dict(checkpoints=[]), ["checkpoints", "empty"]),
        (dict(checkpoints="all"), ["checkpoints", "'all'", "list of recorded steps"]),
        (dict(hessian="yes"), ["hessian", "'yes'", "True or False"]),
        (dict(ntk="yes"), ["ntk", "'yes'", "True or False"]),
        (dict(ntk_max_entries=0), ["ntk_max_entries", "positive integer", "0"]),
        (dict(formulation="weak-ish"), ["formulation", "weak-ish", "strong"]),
        (dict(ntk_method="svd"), ["ntk_method", "'svd'", "matrix-free"]),
        (dict(probes=1), ["probes", "1"]),
        (dict(time_slices=1), ["time_slices", "1"]),
        (dict(causality_epsilon=0.0), ["causality_epsilon", "0"]),
    ],
)
def test_bad_arguments_name_argument_value_and_allowed(run, kwargs, words):
    with pytest.raises(ValueError) as err:
        plw.diagnose(run, **kwargs)
    for w in words:
        assert w in str(err.value)


def _model_run(edge_weight, two_terms=True):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1)).to(F64)
    x = torch.linspace(0, 1, 16, dtype=F64)[:, None]
    xb = torch.tensor([[0.0], [1.0]], dtype=F64)

    def loss_fn(m):
        fit = ((m(x) - torch.sin(x)) ** 2).mean()
        return {"fit": fit, "edge": edge_weight * (m(xb) ** 2).mean()} if two_terms else fit

    return plw.from_model(model, loss_fn)


def test_summary_flags_an_imbalance_above_10_and_says_nothing_stands_out_otherwise():
    calm = plw.diagnose(_model_run(10.0), hessian=False)
    assert float(calm.imbalance.values[0, 1]) < 10
    assert calm.attrs["summary"].startswith("nothing stands out")
    skewed = plw.diagnose(_model_run(1e-4), hessian=False)
    assert float(skewed.imbalance.values[0, 1]) > 10
    s = skewed.attrs["summary"]
    assert "nothing stands out" not in s and "Above 10" in s and "lambda_edge" in s
    single = plw.diagnose(_model_run(1.0, two_terms=False), hessian=False)
    assert single.term.values.tolist() == ["total"] and np.isnan(single.imbalance.values).all()
    assert single.attrs["summary"].startswith("nothing stands out")


def test_stall_is_the_first_step_after_which_the_loss_never_drops_1_percent_more():
    from pinn_landscape_widget.analysis.diagnostics import _stall

    steps = np.arange(6)
    assert _stall(steps, np.array([10.0, 5.0, 2.0, 1.995, 1.99, 1.99])) == 2
    assert _stall(steps, np.array([10.0, 8.0, 6.0, 4.0, 2.0, 1.0])) == 5  # still decreasing at the end
    assert _stall(steps[:1], np.array([1.0])) is None


# --- the neural tangent kernel (Wang, Yu & Perdikaris 2022) -------------------------------------------------


def _tiny(formulation="strong"):
    return plw.train(
        "poisson1d",
        formulation,
        width=6,
        depth=1,
        steps=(20, 0),
        record_every=10,
        progress=False,
        coefficients=dict(boundary="penalty", n_points=32),
    )


@pytest.fixture(scope="module")
def tiny():
    return _tiny()


def test_residual_vectors_square_to_the_objective_terms(tiny):
    obj = tiny.objective(dtype=F64)
    for row in range(len(tiny.trajectory_steps)):
        theta = tiny.trajectory[row].detach().to(F64)
        rv = obj.residual_vectors(theta[None])
        terms = obj.terms(theta[None])
        assert list(rv) == obj.term_names == ["residual", "boundary"]
        assert rv["residual"].shape == (32,) and rv["boundary"].shape == (2,)
        for t in obj.term_names:
            np.testing.assert_allclose(float((rv[t] ** 2).sum()), float(terms[t][0]), rtol=1e-10)
    # differentiable in the parameters: the gradient of sum(r^2) is the term's gradient
    th = tiny.trajectory[-1].detach().to(F64).clone().requires_grad_(True)
    (g,) = torch.autograd.grad((obj.residual_vectors(th)["boundary"] ** 2).sum(), th)
    (g_ref,) = torch.autograd.grad(obj.terms(th[None])["boundary"][0], th)
    np.testing.assert_allclose(g.numpy(), g_ref.numpy(), rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="one parameter point"):
        obj.residual_vectors(torch.stack([th.detach(), th.detach()]))


def test_deep_ritz_residual_vectors_leave_the_energy_out():
    run = _tiny("deep_ritz")
    obj = run.objective(dtype=F64)
    theta = run.trajectory[-1].detach().to(F64)
    rv = obj.residual_vectors(theta)
    assert "energy" in obj.term_names and list(rv) == ["boundary"]
    np.testing.assert_allclose(
        float((rv["boundary"] ** 2).sum()), float(obj.terms(theta[None])["boundary"][0]), rtol=1e-10
    )


def test_ntk_trace_eigenvalues_and_weights_match_a_full_autograd_jacobian(tiny):
    ds = plw.diagnose(tiny, hessian=False)
    # small Jacobians: formed exactly, in float64, whatever dtype the products have
    assert ds.attrs["ntk_methods"] == "residual: exact, boundary: exact" and "exact: in float64" in ds.attrs["ntk"]
    assert "2007.14527" in ds.attrs["ntk"]
    obj = tiny.objective(dtype=F64)
    for k, row in enumerate(ds.checkpoint.values):
        theta = tiny.trajectory[int(row)].detach().to(F64)
        traces = []
        for j, t in enumerate(obj.term_names):
            J = torch.autograd.functional.jacobian(lambda th, t=t: obj.residual_vectors(th)[t], theta)  # [N_t, P]
            assert J.shape == ((32 if t == "residual" else 2), theta.numel())
            K = J @ J.T
            traces.append(float(torch.trace(K)))
            np.testing.assert_allclose(ds.ntk_trace.values[k, j], traces[-1], rtol=1e-8)
            want = torch.linalg.eigvalsh(K).flip(0).numpy()
            n_top = min(3, K.shape[0])
            np.testing.assert_allclose(ds.ntk_top_eigenvalues.values[k, j, :n_top], want[:n_top], rtol=1e-8)
            assert np.isnan(ds.ntk_top_eigenvalues.values[k, j, n_top:]).all()  # the boundary kernel is 2 x 2
            if t == "boundary":  # 2 x 2 and well conditioned: both eigenvalues far above the cutoff
                np.testing.assert_allclose(ds.ntk_condition_number.values[k, j], want[0] / want[1], rtol=1e-8)
            else:  # rank-deficient (u'' does not see the output bias): the cutoff keeps the condition finite
                cond = ds.ntk_condition_number.values[k, j]
                assert np.isfinite(cond) and cond >= want[0] / want[2]
        for j in range(len(traces)):
            np.testing.assert_allclose(ds.ntk_weight.values[k, j], sum(traces) / traces[j], rtol=1e-8)
    for name in ("ntk_trace", "ntk_top_eigenvalues", "ntk_condition_number", "ntk_weight"):
        assert ds[name].attrs["definition"] and "2007.14527" in ds[name].attrs["source"]
    w = ds.ntk_weight.values[-1]
    assert f"lambda_residual = {w[0]:.3g}, lambda_boundary = {w[1]:.3g}" in ds.attrs["summary"]
    assert "the residual term converges slowest" in ds.attrs["summary"]  # tr(K_boundary) >> tr(K_residual) here
    assert "eps" in ds.ntk_condition_number.attrs["cutoff"]


def test_ntk_memory_budget_keeps_the_trace_exact_and_skips_what_does_not_fit(tiny):
    full = plw.diagnose(tiny, checkpoints=1, hessian=False)
    # 100 entries: J_boundary (2 x 19) fits, J_residual (32 x 19) and R (19 x 19) do not; rows come one by one
    small = plw.diagnose(tiny, checkpoints=1, hessian=False, ntk_max_entries=100, ntk_method="exact")
    np.testing.assert_allclose(small.ntk_trace.values, full.ntk_trace.values, rtol=1e-12)
    assert np.isnan(small.ntk_top_eigenvalues.values[0, 0]).all()
    np.testing.assert_allclose(
        small.ntk_top_eigenvalues.values[0, 1, :2], full.ntk_top_eigenvalues.values[0, 1, :2], rtol=1e-10
    )
    assert "residual: eigenvalues skipped" in small.attrs["notes"] and "trace exact" in small.attrs["notes"]
    # 1200 entries: R (19 x 19) fits, built chunk by chunk from J_residual's rows: the same spectrum
    mid = plw.diagnose(tiny, checkpoints=1, hessian=False, ntk_max_entries=1200, ntk_method="exact")
    np.testing.assert_allclose(mid.ntk_top_eigenvalues.values, full.ntk_top_eigenvalues.values, rtol=1e-8)
    assert "skipped" not in mid.attrs["notes"]


def test_ntk_is_nan_with_the_reason_without_per_point_residuals():
    dr = plw.diagnose(_tiny("deep_ritz"), hessian=False)
    for name in ("ntk_trace", "ntk_top_eigenvalues", "ntk_condition_number", "ntk_weight"):
        assert np.isnan(dr[name].values).all()
    assert "not computed" in dr.attrs["ntk"] and "'deep_ritz'" in dr.attrs["ntk"] and "energy" in dr.attrs["ntk"]
    fm = plw.diagnose(_model_run(10.0), hessian=False)
    assert np.isnan(fm.ntk_trace.values).all() and np.isnan(fm.ntk_weight.values).all()
    assert "not computed" in fm.attrs["ntk"] and "from_model" in fm.attrs["ntk"]
    off = plw.diagnose(_model_run(10.0), hessian=False, ntk=False)
    assert "ntk_trace" not in off and off.attrs["ntk"].startswith("not asked")


@pytest.mark.parametrize(
    "case",
    [c for c in VALUE_CASES if c[2] == "strong" and c[0] in ("system", "mixed", "kovasznay2d", "wave1d")],
    ids=case_id,
)
def test_residual_vectors_square_to_the_terms_on_every_strong_problem(case):
    # systems (a list residual concatenated into one term, or one term per equation), several conditions,
    # rate and periodic misfits, hard ansatz
    run = small_run(*case, dtype=F64, steps=2)
    obj = run.objective(dtype=F64)
    theta = run.trajectory[-1].detach().to(F64)
    rv = obj.residual_vectors(theta)
    terms = obj.terms(theta[None])
    assert list(rv) == obj.term_names
    for t in obj.term_names:
        assert rv[t].dim() == 1
        np.testing.assert_allclose(float((rv[t] ** 2).sum()), float(terms[t][0]), rtol=1e-10)
    if case[0] == "system":  # two equations, one term: both residual vectors, concatenated
        assert rv["residual"].numel() == 2 * obj.interior.x.shape[0]


def test_ntk_of_a_torch_module_run_matches_its_autograd_jacobian():
    # train(model=...) runs through ModuleNetwork (input derivatives by torch.func.jvp): vmap over vjp still applies
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(1, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    run = plw.train(
        "poisson1d",
        "strong",
        model=m,
        steps=(5, 0),
        record_every=5,
        progress=False,
        coefficients=dict(boundary="penalty", n_points=16),
    )
    ds = plw.diagnose(run, checkpoints=1, hessian=False)
    obj = run.objective(dtype=F64)
    theta = run.trajectory[-1].detach().to(F64)
    for j, t in enumerate(obj.term_names):
        J = torch.autograd.functional.jacobian(lambda th, t=t: obj.residual_vectors(th)[t], theta)
        np.testing.assert_allclose(ds.ntk_trace.values[0, j], float((J * J).sum()), rtol=1e-8)
        want = torch.linalg.eigvalsh(J @ J.T).flip(0).numpy()[:2]
        np.testing.assert_allclose(ds.ntk_top_eigenvalues.values[0, j, :2], want, rtol=1e-8)


def _full_jacobian_ntk(run, theta, term):
    obj = run.objective(dtype=F64)
    J = torch.autograd.functional.jacobian(lambda th: obj.residual_vectors(th)[term], theta.to(F64))
    return J @ J.T


def test_matrix_free_ntk_on_the_c_passes_matches_the_full_jacobian_with_an_exact_trace(tiny):
    # float32 products J_t v and J_t^T w on the engine's passes in C; the trace from the rows' norms, exact
    free = plw.diagnose(tiny, hessian=False, ntk_method="matrix-free")
    assert free.attrs["ntk_methods"] == "residual: matrix-free, boundary: matrix-free"
    assert "passes in C" in free.attrs["products"] and (free.ntk_trace_stderr.values == 0).all()
    assert np.isnan(free.ntk_condition_number.values).all()
    for k, row in enumerate(free.checkpoint.values):
        theta = tiny.trajectory[int(row)].detach()
        for j, t in enumerate(free.term.values):
            K = _full_jacobian_ntk(tiny, theta, str(t))
            want = torch.linalg.eigvalsh(K).flip(0).numpy()
            n = min(3, K.shape[0])
            # Lanczos to 1e-5 of the largest eigenvalue: the third of the residual kernel is ~100x smaller
            np.testing.assert_allclose(free.ntk_top_eigenvalues.values[k, j, :n], want[:n], rtol=1e-3)
            np.testing.assert_allclose(free.ntk_top_eigenvalues.values[k, j, 0], want[0], rtol=1e-5)
            np.testing.assert_allclose(free.ntk_trace.values[k, j], float(torch.trace(K)), rtol=1e-5)


def test_matrix_free_ntk_matches_the_full_jacobian_and_its_trace_estimate_is_within_its_error(tiny):
    exact = plw.diagnose(tiny, hessian=False)
    assert exact.attrs["ntk_methods"] == "residual: exact, boundary: exact"  # 32 x 19 and 2 x 19: small
    assert (exact.ntk_trace_stderr.values == 0).all()
    # float64 autograd products: the trace by Hutchinson's estimate
    free = plw.diagnose(tiny, hessian=False, ntk_method="matrix-free", probes=64, dtype=F64)
    assert free.attrs["ntk_methods"] == "residual: matrix-free, boundary: matrix-free"
    assert np.isnan(free.ntk_condition_number.values).all()
    for k, row in enumerate(free.checkpoint.values):
        theta = tiny.trajectory[int(row)].detach()
        for j, t in enumerate(free.term.values):
            K = _full_jacobian_ntk(tiny, theta, str(t))
            want = torch.linalg.eigvalsh(K).flip(0).numpy()
            n = min(3, K.shape[0])
            np.testing.assert_allclose(free.ntk_top_eigenvalues.values[k, j, :n], want[:n], rtol=1e-5)
            tr, se = free.ntk_trace.values[k, j], free.ntk_trace_stderr.values[k, j]
            assert se > 0 and abs(tr - float(torch.trace(K))) <= 4 * se
    # the estimate's error falls with the probes (about 1 / sqrt(probes)): 8 probes, then 64
    few = plw.diagnose(tiny, checkpoints=1, hessian=False, ntk_method="matrix-free", probes=8, dtype=F64)
    assert float(few.ntk_trace_stderr.values[0, 0]) > 1.5 * float(free.ntk_trace_stderr.values[-1, 0])


@pytest.mark.parametrize("dtype", [None, F64], ids=["c-float32", "autograd-float64"])
def test_hessian_trace_is_exact_for_small_networks_and_hutchinson_within_its_error_above(tiny, monkeypatch, dtype):
    from pinn_landscape_widget.analysis import diagnostics

    ds = plw.diagnose(tiny, checkpoints=2, ntk=False, dtype=dtype)
    rtol = 1e-8 if dtype == F64 else 1e-5  # float32 products: accurate to about 1e-6 of ||H||
    obj = tiny.objective(dtype=F64)
    dense = {}
    for k, row in enumerate(ds.checkpoint.values):
        theta = tiny.trajectory[int(row)].detach().to(F64)
        for j, t in enumerate(obj.term_names):
            H = torch.autograd.functional.hessian(lambda th, t=t: obj.terms(th[None])[t][0], theta)
            dense[k, j] = float(torch.trace(H))
            np.testing.assert_allclose(ds.hessian_trace.values[k, j], dense[k, j], rtol=rtol)
    assert (ds.hessian_trace_stderr.values == 0).all() and "exact" in ds.hessian_trace.attrs["definition"]
    monkeypatch.setattr(diagnostics, "HESSIAN_EXACT_P", 0)
    est = plw.diagnose(tiny, checkpoints=2, ntk=False, probes=200, dtype=dtype)
    assert "Hutchinson" in est.hessian_trace.attrs["definition"]
    for (k, j), want in dense.items():
        se = est.hessian_trace_stderr.values[k, j]
        assert se > 0 and abs(est.hessian_trace.values[k, j] - want) <= 4 * se


@pytest.fixture(scope="module")
def convection():
    return plw.train(
        "convection1d",
        "strong",
        width=8,
        depth=1,
        steps=(20, 0),
        record_every=10,
        progress=False,
        coefficients=dict(beta=5.0, n_points=200),
    )


def test_residual_per_time_slice_and_causal_weights_match_autograd_on_the_points(convection):
    ds = plw.diagnose(convection, hessian=False, ntk=False, time_slices=4, causality_epsilon=2.0)
    np.testing.assert_allclose(ds.t.values, [0.125, 0.375, 0.625, 0.875])
    x, w = convection.problem.quadrature()
    x, w = x.to(F64), w.to(F64)
    beta = convection.problem.coefficients["beta"]
    for k, row in enumerate(ds.checkpoint.values):
        model = convection.model_at(convection.trajectory[int(row)].detach()).to(F64)
        xr_ = x.clone().requires_grad_(True)
        u = model(xr_).reshape(-1)
        (du,) = torch.autograd.grad(u.sum(), xr_)
        r = du[:, 1] + beta * du[:, 0]  # u_t + beta u_x
        want = []
        for i in range(4):
            m = (x[:, 1] >= i / 4) & ((x[:, 1] < (i + 1) / 4) if i < 3 else True)
            want.append(float((w[m] * r[m].detach() ** 2).sum() / w[m].sum()))
        np.testing.assert_allclose(ds.residual_time_slice.values[k], want, rtol=1e-6)
        cum = np.concatenate([[0.0], np.cumsum(want)[:-1]])
        np.testing.assert_allclose(ds.causal_weight.values[k], np.exp(-2.0 * cum), rtol=1e-6)
    assert "2203.07404" in ds.residual_time_slice.attrs["source"]
    assert "residual over time" in ds.attrs["summary"] and "min_i w_i" in ds.attrs["summary"]


def test_no_time_slices_without_time_or_per_point_residuals(run):
    assert "residual_time_slice" not in plw.diagnose(run, checkpoints=1, hessian=False, ntk=False)
    assert "residual_time_slice" not in plw.diagnose(_model_run(10.0), hessian=False, ntk=False)


# --- the fast path: the engine's passes in C (float32) ------------------------------------------------------


def test_residual_jacobian_products_and_exact_trace_match_the_full_jacobian():
    from pinn_landscape_widget.analysis._jacobian import ResidualJacobian, applies

    run = plw.train(
        "poisson1d",
        "strong",
        width=8,
        depth=2,
        steps=(20, 0),
        record_every=10,
        progress=False,
        coefficients=dict(boundary="penalty", n_points=300),
    )
    obj32, obj = run.objective(dtype=torch.float32), run.objective(dtype=F64)
    assert applies(obj32) and not applies(obj)
    theta = run.trajectory[-1]
    jac = ResidualJacobian(obj32, theta, threads=2)  # 300 points: the C passes split them over two threads
    assert jac.terms == ["residual", "boundary"] and jac.sizes == {"residual": 300, "boundary": 2}
    gen = torch.Generator().manual_seed(1)
    for t in jac.terms:
        J = torch.autograd.functional.jacobian(lambda th, t=t: obj.residual_vectors(th)[t], theta.to(F64))
        v = torch.randn(J.shape[1], generator=gen, dtype=F64)
        w = torch.randn(J.shape[0], generator=gen, dtype=F64)
        np.testing.assert_allclose(
            jac.matvec(t, v).double().numpy(), (J @ v).numpy(), rtol=1e-4, atol=1e-5 * float((J @ v).abs().max())
        )
        np.testing.assert_allclose(
            jac.rmatvec(t, w).double().numpy(), (J.T @ w).numpy(), rtol=1e-4, atol=1e-5 * float((J.T @ w).abs().max())
        )
        g = jac.gram(t, v).double()
        np.testing.assert_allclose(g.numpy(), (J.T @ (J @ v)).numpy(), rtol=1e-4, atol=1e-5 * float(g.abs().max()))
        np.testing.assert_allclose(jac.trace(t), float((J * J).sum()), rtol=1e-5)


def test_residual_jacobian_leaves_a_term_that_pairs_points_to_autograd():
    # a periodic condition's misfit u(0, t) - u(1, t) reads two points per row: not one row per point
    from pinn_landscape_widget.analysis._jacobian import ResidualJacobian

    run = plw.train(
        "convection1d",
        "strong",
        width=6,
        depth=1,
        steps=(5, 0),
        record_every=5,
        progress=False,
        coefficients=dict(beta=1.0, n_points=64),
    )
    obj32 = run.objective(dtype=torch.float32)
    jac = ResidualJacobian(obj32, run.trajectory[-1], threads=1)
    periodic = [t for t in obj32.term_names if t not in jac.terms]
    assert "residual" in jac.terms and periodic, (obj32.term_names, jac.terms)
    ds = plw.diagnose(run, checkpoints=1, hessian=False, ntk_method="matrix-free")
    obj = run.objective(dtype=F64)
    theta = run.trajectory[-1].detach().to(F64)
    for j, t in enumerate(ds.term.values):
        J = torch.autograd.functional.jacobian(lambda th, t=str(t): obj.residual_vectors(th)[t], theta)
        want = torch.linalg.eigvalsh(J @ J.T).flip(0).numpy()
        np.testing.assert_allclose(ds.ntk_top_eigenvalues.values[0, j, 0], want[0], rtol=1e-5)
        se = ds.ntk_trace_stderr.values[0, j]
        assert (se == 0) == (str(t) in jac.terms)  # exact on the C passes, Hutchinson's estimate on autograd


def test_top_eigenvalues_with_warm_starts_match_dense_matrices_at_every_checkpoint(run):
    ds = plw.diagnose(run, ntk_method="matrix-free")
    obj = run.objective(dtype=F64)
    for k, row in enumerate(ds.checkpoint.values):
        theta = run.trajectory[int(row)].detach().to(F64)
        for j, t in enumerate(obj.term_names):
            H = torch.autograd.functional.hessian(lambda th, t=t: obj.terms(th[None])[t][0], theta)
            np.testing.assert_allclose(
                ds.hessian_top_eigenvalue.values[k, j], float(torch.linalg.eigvalsh(H)[-1]), rtol=1e-4
            )
            K = _full_jacobian_ntk(run, theta, t)
            np.testing.assert_allclose(
                ds.ntk_top_eigenvalues.values[k, j, 0], float(torch.linalg.eigvalsh(K)[-1]), rtol=1e-5
            )


def test_without_the_c_kernels_the_default_is_float64_autograd(run, kernels):
    ds = plw.diagnose(run, checkpoints=1)
    if kernels == "torch":
        assert ds.attrs["dtype"] == ds.attrs["product_dtype"] == "float64" and "autograd" in ds.attrs["products"]
    else:
        assert ds.attrs["dtype"] == "float32" and "passes in C" in ds.attrs["products"]
    theta = run.trajectory[-1].detach().to(F64)
    ref = _grads(run, theta)
    np.testing.assert_allclose(ds.grad_norm.values[0], [float(ref[t][1].norm()) for t in ref], rtol=_rtol(ds))


def test_a_term_with_zero_gradient_is_explained_not_left_as_bare_inf_and_nan():
    # a penalty weight 0: loss 0 and gradient exactly 0
    ds = plw.diagnose(_model_run(0.0), hessian=False)
    assert ds.grad_norm.values[0, 1] == 0 and ds["loss"].values[0, 1] == 0
    assert np.isinf(ds.imbalance.values[0, 1]) and np.isnan(ds.grad_cosine.values[0, 0, 1])
    for text in (ds.attrs["zero_gradient"], ds.imbalance.attrs["zero_gradient"], ds.attrs["notes"]):
        assert "term 'edge' has a zero gradient at 1 of 1 checkpoints (steps 0)" in text
        assert "penalty weight is 0" in text and "divides by 0 (inf)" in text and "NaN" in text
    s = ds.attrs["summary"]
    assert s.startswith("term 'edge' has a zero gradient") and "lambda_edge = inf at" not in s
    # a term that does not read the network: a nonzero constant loss
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).to(F64)
    x = torch.linspace(0, 1, 8, dtype=F64)[:, None]
    run = plw.from_model(model, lambda m: {"fit": (m(x) ** 2).mean(), "offset": 0.0 * m(x).sum() + 2.5})
    ds = plw.diagnose(run, hessian=False)
    assert ds.grad_norm.values[0, 1] == 0 and ds.grad_norm.values[0, 0] > 0
    assert "term 'offset' has a zero gradient" in ds.attrs["summary"]
    assert "its loss (2.5 at step 0) does not change with the parameters" in ds.attrs["summary"]
    # the reference term itself: the others' ratios are 0, said so
    run = plw.from_model(model, lambda m: {"still": 0.0 * m(x).sum(), "fit": (m(x) ** 2).mean()})
    ds = plw.diagnose(run, hessian=False)
    assert ds.imbalance.values[0, 1] == 0
    assert "other terms' imbalance lambda (max|grad L_still| / mean|grad L_term|) is 0" in ds.attrs["zero_gradient"]
    # no zero gradient: nothing said
    assert plw.diagnose(_model_run(10.0), hessian=False).attrs["zero_gradient"] == ""


def _squares_run(all_squares=True):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1)).to(F64)
    x = torch.linspace(0, 1, 16, dtype=F64)[:, None]
    xb = torch.tensor([[0.0], [1.0]], dtype=F64)

    def loss(m):  # -u'' = sin(x) on 16 points, u = 0 at both ends, written as a PINN loss is written
        xx = x.clone().requires_grad_(True)
        u = m(xx)[:, 0]
        (ux,) = torch.autograd.grad(u.sum(), xx, create_graph=True)
        (uxx,) = torch.autograd.grad(ux[:, 0].sum(), xx, create_graph=True)
        res = (uxx[:, 0] + torch.sin(x[:, 0])) / 16**0.5  # a mean of squares
        edge = plw.squares(m(xb)) if all_squares else (m(xb) ** 2).sum()
        return {"residual": plw.squares(res), "boundary": edge}

    return plw.from_model(model, loss)


@pytest.mark.parametrize("method", ["exact", "matrix-free"])
def test_ntk_of_a_from_model_loss_given_as_squares_matches_its_full_jacobian(method):
    run = _squares_run()
    ds = plw.diagnose(run, hessian=False, ntk_method=method, probes=400)
    obj = run.objective()
    theta = run.params.detach()
    assert obj.has_residual_vectors and "computed per least-squares term" in ds.attrs["ntk"]
    traces = []
    for j, t in enumerate(["residual", "boundary"]):
        J = torch.autograd.functional.jacobian(lambda th, t=t: obj.residual_vectors(th)[t], theta)
        assert J.shape == ((16 if t == "residual" else 2), theta.numel())
        np.testing.assert_allclose(float((obj.residual_vectors(theta)[t].detach() ** 2).sum()), ds["loss"].values[0, j])
        want = torch.linalg.eigvalsh(J @ J.T).flip(0).numpy()
        n = min(3, J.shape[0])
        np.testing.assert_allclose(ds.ntk_top_eigenvalues.values[0, j, :n], want[:n], rtol=1e-6)
        traces.append(float((J * J).sum()))
        tr, se = ds.ntk_trace.values[0, j], ds.ntk_trace_stderr.values[0, j]
        if method == "exact":
            np.testing.assert_allclose(tr, traces[-1], rtol=1e-10)
        else:  # autograd products: Hutchinson's estimate, within its error
            assert se > 0 and abs(tr - traces[-1]) <= 4 * se
    if method == "exact":
        np.testing.assert_allclose(ds.ntk_weight.values[0], [sum(traces) / t for t in traces], rtol=1e-10)


def test_ntk_of_a_from_model_loss_with_a_scalar_term_says_how_to_get_it():
    ds = plw.diagnose(_squares_run(all_squares=False), hessian=False)
    assert np.isnan(ds.ntk_trace.values).all()
    assert "not computed" in ds.attrs["ntk"] and "plw.squares(r)" in ds.attrs["ntk"]
    with pytest.raises(ValueError, match=r"squares takes a non-empty floating-point tensor of residuals, got int"):
        plw.squares(3)
    with pytest.raises(ValueError, match=r"got a torch.int64 tensor of shape \(2,\)"):
        plw.squares(torch.tensor([1, 2]))


def test_per_term_gradients_on_the_general_c_passes_match_autograd():
    # heat: first partials (x, t) and u_xx, three terms: FusedLoss.term_gradients runs the general C passes
    # (NativeJets) forward once and backward once per term; each term's gradient against float64 autograd
    from pinn_landscape_widget.engine.fused_loss import FusedLoss

    heat = plw.define_problem(
        "heat_diag",
        {"x": (0.0, 1.0), "t": (0.0, 1.0)},
        residual=lambda u, kappa: u.t - kappa * u.xx,
        coefficients={"kappa": 0.1},
        conditions=[plw.initial(lambda x: torch.sin(math.pi * x)), plw.dirichlet("x")],
        n_points=256,
    )
    run = plw.train(heat, "strong", width=8, depth=2, steps=(20, 0), record_every=10, progress=False)
    for theta in (run.trajectory[0], run.params):
        fused = FusedLoss(run.objective(), theta.detach().clone().contiguous())
        assert fused.method == "C"
        values, grads = fused.term_gradients()
        ref = _grads(run, theta)
        assert list(grads) == list(ref) and len(ref) == 3
        for t, (loss, g) in ref.items():
            np.testing.assert_allclose(float(values[t]), loss, rtol=2e-5)
            np.testing.assert_allclose(
                grads[t].double().numpy(), g.numpy(), rtol=2e-4, atol=2e-5 * float(g.abs().max())
            )
