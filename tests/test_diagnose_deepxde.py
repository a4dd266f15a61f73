"""diagnose's neural tangent kernel on DeepXDE runs (``plw.adapters.from_deepxde``) against DeepXDE's own numbers.

DeepXDE's Poisson 1-D example (examples/pinn_forward/Poisson_Dirichlet_1d.py: -u'' = pi^2 sin(pi x) on
[-1, 1], u(+-1) = 0) on few points and a small FNN (1-8-8-1 tanh, 97 parameters). The residual vectors must
square to DeepXDE's own weighted terms (``model.outputs_losses_train`` with the parameters written into a copy
of ``model.net``), on the traced and the per-point path; diagnose's NTK per term must equal J J^T, J the full
autograd Jacobian of residuals written here from DeepXDE's pde function and its condition's ``bc.error``. A loss
that is not DeepXDE's mean squared error leaves the NTK NaN, with the reason.
"""

from __future__ import annotations

import copy
import math
import os

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw

F64 = torch.float64
TERMS = ["pde", "dirichletbc_0"]


@pytest.fixture(scope="module")
def dde():
    os.environ["DDE_BACKEND"] = "pytorch"  # before the import: DeepXDE then reads no config file and writes none
    import deepxde

    assert deepxde.backend.backend_name == "pytorch"
    return deepxde


def poisson_1d(dde, *, regularization=None, data_class=None, seed=0, **compile_kw):
    """DeepXDE's example as written, 12 domain points and the 2 ends (14 pde points, 2 condition points)."""
    dde.config.set_random_seed(seed)

    def pde(x, y):
        dy_xx = dde.grad.hessian(y, x)
        return -dy_xx - np.pi**2 * torch.sin(np.pi * x)

    def func(x):
        return np.sin(np.pi * x)

    geom = dde.geometry.Interval(-1, 1)
    bc = dde.icbc.DirichletBC(geom, func, lambda _, on_boundary: on_boundary)
    data = (data_class or dde.data.PDE)(geom, pde, bc, 12, 2, solution=func, num_test=50)
    net = dde.nn.FNN([1, 8, 8, 1], "tanh", "Glorot uniform", regularization=regularization)
    model = dde.Model(data, net)
    model.compile("adam", lr=1e-3, verbose=0, **compile_kw)
    return model


def deepxde_terms(model, theta: torch.Tensor) -> list[float]:
    """DeepXDE's own weighted loss terms (``outputs_losses_train``) with theta written into a float64 copy of
    model.net."""
    net = copy.deepcopy(model.net).to(F64)
    torch.nn.utils.vector_to_parameters(theta.detach().to(F64).clone(), net.parameters())
    saved = model.net
    model.net = net
    try:
        with torch.enable_grad():
            losses = model.outputs_losses_train(model.data.train_x.astype(np.float64), model.data.train_y, None)[1]
    finally:
        model.net = saved
    return losses.detach().tolist()


def reference_residuals(dde, model, theta: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each term's residual vector at theta [P] (float64), from DeepXDE's pde function and its condition's
    ``bc.error`` called here: the pde's residual on the points after the condition's, the condition's misfit
    on its points, each times sqrt(w / N). DeepXDE multiplies a term by ``torch.as_tensor(loss_weights)``:
    Python floats become float32, so w is the float32 weight."""
    net = copy.deepcopy(model.net).to(F64)
    values, start = {}, 0
    for name, p in net.named_parameters():
        values[name] = theta[start : start + p.numel()].view(p.shape)
        start += p.numel()
    data = model.data
    x = torch.as_tensor(data.train_x).to(F64).requires_grad_(True)
    y = torch.func.functional_call(net, values, (x,))
    n_bc = data.num_bcs[0]
    try:
        f = data.pde(x, y)[n_bc:]
        e = data.bcs[0].error(data.train_x, x, y, 0, n_bc)
    finally:
        dde.grad.clear()
    w = [1.0, 1.0] if model.loss_weights is None else [float(np.float32(v)) for v in model.loss_weights]
    return {
        "pde": f.reshape(-1) * math.sqrt(w[0] / f.numel()),
        "dirichletbc_0": e.reshape(-1) * math.sqrt(w[1] / e.numel()),
    }


def points(run, n: int) -> torch.Tensor:
    """theta* and n - 1 points around it, float64."""
    gen = torch.Generator().manual_seed(0)
    theta = run.params.detach().to(F64)
    off = 0.3 * theta.abs().mean() * torch.randn(n - 1, theta.numel(), generator=gen, dtype=F64)
    return torch.cat([theta[None], theta + off])


@pytest.mark.parametrize(
    "trace, loss",
    [(True, "MSE"), (False, "MSE"), (True, ["MSE", "mean squared error"])],
    ids=["traced", "per-point", "list-of-mse"],
)
def test_residual_vectors_square_to_deepxdes_own_weighted_terms(dde, trace, loss):
    model = poisson_1d(dde, loss=loss, loss_weights=[0.1, 10.0])
    run = plw.adapters.from_deepxde(model, trace=trace)
    assert run.attrs["evaluation"] == ("traced" if trace else "per point: trace=False")
    obj = run.objective(dtype=F64)
    assert obj.has_residual_vectors and obj.why_no_residual_vectors is None and obj.formulation.least_squares
    for theta in points(run, 3):
        rv = obj.residual_vectors(theta)
        assert list(rv) == TERMS and rv["pde"].shape == (14,) and rv["dirichletbc_0"].shape == (2,)
        got = [float((rv[t].detach() ** 2).sum()) for t in TERMS]
        np.testing.assert_allclose(got, deepxde_terms(model, theta), rtol=1e-10, atol=0)
        # the vectors themselves: DeepXDE's pde residual and condition misfit times sqrt(w / N), point by point
        ref = reference_residuals(dde, model, theta)
        for t in TERMS:
            a, b = rv[t].detach().numpy(), ref[t].detach().numpy()
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * np.abs(b).max())
    # differentiable in the parameters: the gradient of sum(r^2) is that of DeepXDE's term
    th = run.params.detach().to(F64).clone().requires_grad_(True)
    for t in TERMS:
        (g,) = torch.autograd.grad((obj.residual_vectors(th)[t] ** 2).sum(), th)
        (g_ref,) = torch.autograd.grad(obj.terms(th[None])[t][0], th)
        assert float(g_ref.norm()) > 0
        np.testing.assert_allclose(g.numpy(), g_ref.numpy(), rtol=1e-9, atol=1e-12 * float(g_ref.abs().max()))


@pytest.mark.parametrize("trace", [True, False], ids=["traced", "per-point"])
def test_ntk_per_term_equals_jjt_of_deepxdes_residuals(dde, trace):
    model = poisson_1d(dde, loss_weights=[0.1, 10.0])
    rec = plw.adapters.DeepXDERecorder(every=5)
    model.train(iterations=10, display_every=10**9, verbose=0, callbacks=[rec])
    run = plw.adapters.from_deepxde(model, recorder=rec, trace=trace)
    ds = plw.diagnose(run, hessian=False)
    assert ds.attrs["dtype"] == "float64" and ds.term.values.tolist() == TERMS
    assert ds.attrs["ntk"].startswith("computed per least-squares term")
    assert ds.attrs["ntk_methods"] == "pde: exact, dirichletbc_0: exact"
    assert ds.sizes["step"] == 3  # steps 0, 5, 10
    for k, row in enumerate(ds.checkpoint.values):
        theta = run.trajectory[int(row)].detach().to(F64)
        traces = []
        for j, t in enumerate(TERMS):
            J = torch.autograd.functional.jacobian(lambda th, t=t: reference_residuals(dde, model, th)[t], theta)
            assert J.shape == ((14 if t == "pde" else 2), 97)
            K = J @ J.T
            traces.append(float(torch.trace(K)))
            np.testing.assert_allclose(ds.ntk_trace.values[k, j], traces[-1], rtol=1e-8)
            want = torch.linalg.eigvalsh(K).flip(0).numpy()
            n = min(3, K.shape[0])
            np.testing.assert_allclose(ds.ntk_top_eigenvalues.values[k, j, :n], want[:n], rtol=1e-8)
            if t == "dirichletbc_0":  # 2 x 2, both eigenvalues far above the cutoff
                assert np.isnan(ds.ntk_top_eigenvalues.values[k, j, 2])
                np.testing.assert_allclose(ds.ntk_condition_number.values[k, j], want[0] / want[1], rtol=1e-8)
        np.testing.assert_allclose(ds.ntk_weight.values[k], [sum(traces) / tr for tr in traces], rtol=1e-8)
        # the terms diagnose reports are DeepXDE's own
        np.testing.assert_allclose(ds["loss"].values[k], deepxde_terms(model, theta), rtol=1e-10)
    assert "NTK weights lambda_t" in ds.attrs["summary"]


def test_matrix_free_ntk_of_a_deepxde_run_matches_the_full_jacobian(dde):
    model = poisson_1d(dde, loss_weights=[0.1, 10.0])
    run = plw.adapters.from_deepxde(model)
    ds = plw.diagnose(run, hessian=False, ntk_method="matrix-free", probes=400)
    theta = run.params.detach().to(F64)
    for j, t in enumerate(TERMS):
        J = torch.autograd.functional.jacobian(lambda th, t=t: reference_residuals(dde, model, th)[t], theta)
        want = torch.linalg.eigvalsh(J @ J.T).flip(0).numpy()
        n = min(3, J.shape[0])
        np.testing.assert_allclose(ds.ntk_top_eigenvalues.values[0, j, :n], want[:n], rtol=1e-6)
        tr, se = ds.ntk_trace.values[0, j], ds.ntk_trace_stderr.values[0, j]
        assert se > 0 and abs(tr - float((J * J).sum())) <= 4 * se  # Hutchinson's estimate, within its error


@pytest.mark.parametrize(
    "kw, words",
    [
        (
            dict(loss="MAE"),
            [
                "mean_absolute_error for term 'pde', mean_absolute_error for term 'dirichletbc_0'",
                "not its mean squared",
            ],
        ),
        (dict(loss=["MSE", "MAE"]), ["loss function is mean_absolute_error for term 'dirichletbc_0' (compile"]),
        (dict(regularization=("l1", 1e-3)), ["L1 regularizer (regularization=('l1', 0.001))", "'l1'"]),
        (dict(loss_weights=[1.0, -2.0]), ["loss_weights gives term 'dirichletbc_0' -2", "not a sum of squares"]),
        (
            dict(data_class="doubled"),
            ["DoubledPDE loss code returns 2 terms from 2 calls", "not each call's value as one term"],
        ),
    ],
    ids=["mae", "mse-and-mae", "l1", "negative-weight", "scaled-terms"],
)
def test_a_loss_that_is_not_a_mean_of_squares_leaves_the_ntk_nan_with_the_reason(dde, kw, words):
    if kw.get("data_class") == "doubled":

        class DoubledPDE(dde.data.PDE):
            def losses_train(self, *args, **kwargs):
                return [2 * v for v in super().losses_train(*args, **kwargs)]

        kw = dict(data_class=DoubledPDE)
    model = poisson_1d(dde, **kw)
    if "data_class" in kw:  # another data class: the per-point path
        with pytest.warns(UserWarning, match="model.data is a DoubledPDE"):
            run = plw.adapters.from_deepxde(model)
    else:
        run = plw.adapters.from_deepxde(model)
        assert run.attrs["evaluation"] == "traced"
    obj = run.objective()
    assert not obj.has_residual_vectors and not obj.formulation.least_squares
    ds = plw.diagnose(run, hessian=False)
    for name in ("ntk_trace", "ntk_top_eigenvalues", "ntk_condition_number", "ntk_weight"):
        assert np.isnan(ds[name].values).all()
    why = ds.attrs["ntk"]
    assert why.startswith("not computed: ") and "mean squared error" in why
    for w in words:
        assert w in why
    with pytest.raises(ValueError, match="has_residual_vectors is False"):
        obj.residual_vectors(run.params)
    # the rest of diagnose reads DeepXDE's terms as before
    assert np.isfinite(ds.grad_norm.values).all()
    np.testing.assert_allclose(ds["loss"].values[0], deepxde_terms(model, run.params), rtol=1e-10)


@pytest.mark.parametrize("name", ["diffusion_1d", "poisson_2d", "neumann_1d", "system_2d"])
def test_residual_vectors_square_to_deepxdes_terms_on_its_other_examples(dde, name):
    """Time-dependent data with an initial condition, a 2-D Laplacian with loss weights, a Neumann condition, a
    system of two outputs (two pde terms, a condition per component, weights [1, 2, 3, 4])."""
    from .test_deepxde_traced import deepxde_terms as own_terms
    from .test_deepxde_traced import make

    model = make(dde, name, width=8)
    run = plw.adapters.from_deepxde(model)
    obj = run.objective(dtype=F64)
    assert obj.has_residual_vectors
    for theta in points(run, 2):
        rv = obj.residual_vectors(theta)
        assert tuple(rv) == run.term_names["deepxde"]
        got = [float((r.detach() ** 2).sum()) for r in rv.values()]
        np.testing.assert_allclose(got, own_terms(model, theta), rtol=1e-10, atol=0)
