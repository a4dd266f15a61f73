"""DeepXDE models on the batched engine (``from_deepxde``'s traced path) against DeepXDE's own loss.

DeepXDE's forward examples as its documentation writes them (the pde with ``dde.grad.hessian`` /
``dde.grad.jacobian`` and elementwise torch, ``dde.icbc`` conditions, ``dde.data.PDE`` / ``TimePDE``), on
small networks (1-20-20-1, 2-20-20-1). The traced run's terms must equal, at several parameter points, in
float32 and float64, both the per-point path (``trace=False``: DeepXDE's compiled loss, one point at a
time) and DeepXDE's ``outputs_losses_train`` called directly with the parameters written into ``model.net``.
Models the trace cannot follow fall back with a warning and still give DeepXDE's numbers.
"""

from __future__ import annotations

import copy
import os
import warnings

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw

RTOL = {torch.float32: 1e-5, torch.float64: 1e-10}


@pytest.fixture(scope="module")
def dde():
    os.environ["DDE_BACKEND"] = "pytorch"  # before the import: DeepXDE then reads no config file and writes none
    import deepxde

    assert deepxde.backend.backend_name == "pytorch"
    return deepxde


# ------------------------------------------------------------------------------ DeepXDE's examples, as written


def poisson_1d(dde, width=20, activation="tanh", **compile_kw):
    """examples/pinn_forward/Poisson_Dirichlet_1d.py: -u'' = pi^2 sin(pi x) on [-1, 1], u(+-1) = 0."""

    def pde(x, y):
        dy_xx = dde.grad.hessian(y, x)
        return -dy_xx - np.pi**2 * torch.sin(np.pi * x)

    def boundary(x, on_boundary):
        return on_boundary

    def func(x):
        return np.sin(np.pi * x)

    geom = dde.geometry.Interval(-1, 1)
    bc = dde.icbc.DirichletBC(geom, func, boundary)
    data = dde.data.PDE(geom, pde, bc, 16, 2, solution=func, num_test=100)
    net = dde.nn.FNN([1] + [width] * 2 + [1], activation, "Glorot uniform")
    model = dde.Model(data, net)
    model.compile("adam", lr=0.001, verbose=0, **compile_kw)
    return model


def diffusion_1d(dde, width=20):
    """examples/pinn_forward/diffusion_1d.py: u_t = u_xx - e^-t (sin(pi x) - pi^2 sin(pi x)), Dirichlet and IC."""

    def pde(x, y):
        dy_t = dde.grad.jacobian(y, x, i=0, j=1)
        dy_xx = dde.grad.hessian(y, x, i=0, j=0)
        return (
            dy_t
            - dy_xx
            + torch.exp(-x[:, 1:]) * (torch.sin(np.pi * x[:, 0:1]) - np.pi**2 * torch.sin(np.pi * x[:, 0:1]))
        )

    def func(x):
        return np.sin(np.pi * x[:, 0:1]) * np.exp(-x[:, 1:])

    geom = dde.geometry.Interval(-1, 1)
    timedomain = dde.geometry.TimeDomain(0, 1)
    geomtime = dde.geometry.GeometryXTime(geom, timedomain)
    bc = dde.icbc.DirichletBC(geomtime, func, lambda _, on_boundary: on_boundary)
    ic = dde.icbc.IC(geomtime, func, lambda _, on_initial: on_initial)
    data = dde.data.TimePDE(
        geomtime, pde, [bc, ic], num_domain=40, num_boundary=20, num_initial=10, solution=func, num_test=100
    )
    net = dde.nn.FNN([2] + [width] * 2 + [1], "tanh", "Glorot normal")
    model = dde.Model(data, net)
    model.compile("adam", lr=0.001, verbose=0)
    return model


def poisson_2d(dde, width=20):
    """-(u_xx + u_yy) = 2 pi^2 sin(pi x) sin(pi y) on the unit square, u = 0 on its boundary."""

    def pde(x, y):
        dy_xx = dde.grad.hessian(y, x, i=0, j=0)
        dy_yy = dde.grad.hessian(y, x, i=1, j=1)
        return -dy_xx - dy_yy - 2 * np.pi**2 * torch.sin(np.pi * x[:, 0:1]) * torch.sin(np.pi * x[:, 1:2])

    def func(x):
        return np.sin(np.pi * x[:, 0:1]) * np.sin(np.pi * x[:, 1:2])

    geom = dde.geometry.Rectangle([0, 0], [1, 1])
    bc = dde.icbc.DirichletBC(geom, func, lambda _, on_boundary: on_boundary)
    data = dde.data.PDE(geom, pde, bc, num_domain=60, num_boundary=24, solution=func, num_test=50)
    net = dde.nn.FNN([2] + [width] * 2 + [1], "sin", "Glorot uniform")
    model = dde.Model(data, net)
    model.compile("adam", lr=0.001, loss_weights=[1.0, 10.0], verbose=0)
    return model


def neumann_1d(dde, width=20):
    """examples/pinn_forward/Poisson_Dirichlet_Neumann_1d.py: u'' = 2, u(-1) = 0, u'(1) = 4."""

    def pde(x, y):
        dy_xx = dde.grad.hessian(y, x)
        return dy_xx - 2

    def boundary_l(x, on_boundary):
        return on_boundary and dde.utils.isclose(x[0], -1)

    def boundary_r(x, on_boundary):
        return on_boundary and dde.utils.isclose(x[0], 1)

    def func(x):
        return (x + 1) ** 2

    geom = dde.geometry.Interval(-1, 1)
    bc_l = dde.icbc.DirichletBC(geom, func, boundary_l)
    bc_r = dde.icbc.NeumannBC(geom, lambda X: 2 * (X + 1), boundary_r)
    data = dde.data.PDE(geom, pde, [bc_l, bc_r], 16, 2, solution=func, num_test=100)
    net = dde.nn.FNN([1] + [width] * 2 + [1], "tanh", "Glorot uniform")
    model = dde.Model(data, net)
    model.compile("adam", lr=0.001, verbose=0)
    return model


def periodic_robin_1d(dde, width=20):
    """examples/pinn_forward/Poisson_periodic_1d.py (a Dirichlet and a periodic condition, also on the
    slope), plus a Robin condition, measured points (PointSetBC), an operator condition (OperatorBC) and an
    L1 regularizer; GELU."""

    def pde(x, y):
        dy_xx = dde.grad.hessian(y, x)
        return -dy_xx - np.pi**2 * torch.sin(np.pi * x)

    def boundary_l(x, on_boundary):
        return on_boundary and dde.utils.isclose(x[0], -1)

    def boundary_r(x, on_boundary):
        return on_boundary and dde.utils.isclose(x[0], 1)

    def func(x):
        return np.sin(np.pi * x)

    geom = dde.geometry.Interval(-1, 1)
    bc1 = dde.icbc.DirichletBC(geom, func, boundary_l)
    bc2 = dde.icbc.PeriodicBC(geom, 0, boundary_r)
    bc3 = dde.icbc.PeriodicBC(geom, 0, boundary_r, derivative_order=1)
    bc4 = dde.icbc.RobinBC(geom, lambda X, y: torch.as_tensor(np.pi * np.cos(np.pi * X)) - 0.5 * y, boundary_r)
    xs = np.linspace(-0.9, 0.9, 5)[:, None].astype(np.float32)
    bc5 = dde.icbc.PointSetBC(xs, func(xs))
    bc6 = dde.icbc.OperatorBC(geom, lambda x, y, _: dde.grad.jacobian(y, x) - np.pi * torch.cos(np.pi * x), boundary_l)
    data = dde.data.PDE(geom, pde, [bc1, bc2, bc3, bc4, bc5, bc6], 16, 2, solution=func, num_test=100)
    net = dde.nn.FNN([1] + [width] * 2 + [1], "gelu", "Glorot uniform", regularization=("l1", 1e-3))
    model = dde.Model(data, net)
    model.compile("adam", lr=0.001, loss_weights=[1, 2, 3, 0.5, 1, 4, 2], verbose=0)
    return model


def system_2d(dde, width=20):
    """Two outputs (u, v), a pde returning two residuals, conditions on each component, SiLU:
    u_x - v = 0, v_x + u_yy - u = 0 on [0, 1] x [0, 2]."""

    def pde(x, y):
        u_x = dde.grad.jacobian(y, x, i=0, j=0)
        v_x = dde.grad.jacobian(y, x, i=1, j=0)
        u_yy = dde.grad.hessian(y, x, component=0, i=1, j=1)
        u_xy = dde.grad.hessian(y, x, component=0, i=0, j=1)
        return [u_x - y[:, 1:2], v_x + u_yy - y[:, 0:1] + 0.1 * u_xy * torch.tanh(y[:, 1:2])]

    geom = dde.geometry.Rectangle([0, 0], [1, 2])
    bc_u = dde.icbc.DirichletBC(geom, lambda x: np.cos(x[:, 1:2]), lambda _, on: on, component=0)
    bc_v = dde.icbc.NeumannBC(geom, lambda x: 0 * x[:, :1], lambda _, on: on, component=1)
    data = dde.data.PDE(geom, pde, [bc_u, bc_v], num_domain=40, num_boundary=16)
    net = dde.nn.FNN([2] + [width] * 2 + [2], "silu", "Glorot uniform")
    model = dde.Model(data, net)
    model.compile("adam", lr=0.001, loss_weights=[1, 2, 3, 4], verbose=0)
    return model


EXAMPLES = {
    "poisson_1d": poisson_1d,
    "diffusion_1d": diffusion_1d,
    "poisson_2d": poisson_2d,
    "neumann_1d": neumann_1d,
    "periodic_robin_1d": periodic_robin_1d,
    "system_2d": system_2d,
}


def make(dde, name, seed=0, **kw):
    dde.config.set_random_seed(seed)
    return EXAMPLES[name](dde, **kw)


def points(run, n, dtype, seed=0):
    """theta* and n - 1 points around it (the loss changes by O(1) there)."""
    gen = torch.Generator().manual_seed(seed)
    theta = run.params.double()
    off = 0.2 * theta.abs().mean() * torch.randn(n - 1, theta.numel(), generator=gen, dtype=torch.float64)
    return torch.cat([theta[None], theta + off]).to(dtype)


def deepxde_terms(model, theta: torch.Tensor) -> np.ndarray:
    """DeepXDE's own weighted loss terms (``outputs_losses_train``) with theta written into a copy of
    model.net, in theta's dtype (DeepXDE's points cast to it)."""
    net = copy.deepcopy(model.net).to(theta.dtype)
    torch.nn.utils.vector_to_parameters(theta.detach().clone(), net.parameters())
    x = model.data.train_x.astype(np.float64 if theta.dtype == torch.float64 else np.float32)
    saved = model.net
    model.net = net
    try:
        with torch.enable_grad():
            losses = model.outputs_losses_train(x, model.data.train_y, None)[1]
    finally:
        model.net = saved
    return losses.detach().numpy().astype(np.float64)


def assert_terms_close(got, want, dtype):
    """Each term within rtol of itself; a term below 1% of the whole loss within rtol of 1% of the loss."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    tol = RTOL[dtype] * np.maximum(np.abs(want), 1e-2 * np.abs(want).sum())
    assert (np.abs(got - want) <= tol).all(), (got.tolist(), want.tolist(), dtype)


# ----------------------------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_traced_terms_equal_deepxdes_loss_at_several_points(dde, name):
    model = make(dde, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a traced run warns of nothing
        run = plw.adapters.from_deepxde(model)
    assert run.attrs["evaluation"] == "traced"
    ref = plw.adapters.from_deepxde(model, trace=False)
    assert ref.attrs["evaluation"] == "per point: trace=False"
    names = run.term_names["deepxde"]
    assert names == ref.term_names["deepxde"]
    for dtype in (torch.float32, torch.float64):
        P = points(run, 3, dtype)
        traced = plw.evaluate(run, P, dtype=dtype)
        per_point = plw.evaluate(ref, P, dtype=dtype)
        got = np.stack([traced[f"loss_{t}"].numpy() for t in names], axis=1)
        for k in range(P.shape[0]):
            own = deepxde_terms(model, P[k])
            assert_terms_close(got[k], own, dtype)
            assert_terms_close(got[k], [float(per_point[f"loss_{t}"][k]) for t in names], dtype)
        np.testing.assert_allclose(traced["loss"].numpy(), got.sum(1), rtol=RTOL[dtype])
        if model.data.soln is not None:
            np.testing.assert_allclose(traced["rel_l2_error"].numpy(), per_point["rel_l2_error"].numpy(), rtol=1e-5)
        # the terms move off theta*: the points test something
        assert (np.abs(got[1:] - got[0]) > 1e-2 * np.abs(got[0])).any()


def test_traced_grid_equals_the_per_point_grid(dde):
    model = make(dde, "diffusion_1d", seed=2)
    run = plw.adapters.from_deepxde(model)
    ref = plw.adapters.from_deepxde(model, trace=False)
    kw = dict(resolution=5, span=0.5, progress=False)
    ds, ds_ref = plw.landscape(run, **kw), plw.landscape(ref, **kw)
    np.testing.assert_allclose(ds.directions.values, ds_ref.directions.values)
    for var in ("loss", "loss_pde", "loss_dirichletbc_0", "loss_ic_1"):
        np.testing.assert_allclose(ds[var].values, ds_ref[var].values, rtol=1e-5, atol=1e-6 * float(ds.loss.max()))


def test_fnn_parameter_order_is_the_mlps_layout(dde):
    """theta (model.net.named_parameters order) is the MLP's flat vector as it is: the map is the identity
    and the MLP's reference module computes model.net's outputs."""
    model = make(dde, "system_2d")
    traced = plw.adapters.from_deepxde(model).losses["deepxde"]
    assert traced.identity
    theta = torch.nn.utils.parameters_to_vector(model.net.parameters()).detach()
    assert torch.equal(traced.index, torch.arange(theta.numel()))
    x = torch.rand(7, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(traced.mlp.module(theta)(x), model.net(x), rtol=1e-6, atol=1e-6)


def test_a_parameter_subset_spans_the_traced_landscape(dde):
    model = make(dde, "poisson_1d")
    chosen = ["linears.1.weight", "linears.2.bias"]
    run = plw.adapters.from_deepxde(model, trainable=chosen)
    ref = plw.adapters.from_deepxde(model, trainable=chosen, trace=False)
    assert run.attrs["evaluation"] == "traced" and not run.losses["deepxde"].identity
    assert run.n_params == 20 * 20 + 1
    P = points(run, 3, torch.float64)
    a, b = plw.evaluate(run, P, dtype=torch.float64), plw.evaluate(ref, P, dtype=torch.float64)
    np.testing.assert_allclose(a["loss"].numpy(), b["loss"].numpy(), rtol=1e-10)
    # the old keyword: a FutureWarning naming the new one, the same run
    with pytest.warns(FutureWarning, match=r"from_deepxde\(params=\.\.\.\) is deprecated .* use trainable= instead"):
        old = plw.adapters.from_deepxde(model, params=chosen)
    assert old.n_params == run.n_params and old.attrs["evaluation"] == "traced"
    np.testing.assert_array_equal(plw.evaluate(old, P, dtype=torch.float64)["loss"].numpy(), a["loss"].numpy())


def _fallback(dde, model, match):
    with pytest.warns(UserWarning, match=r"one parameter point at a time: " + match):
        run = plw.adapters.from_deepxde(model)
    assert run.attrs["evaluation"].startswith("per point: ")
    assert run.losses["deepxde"].__class__.__name__ == "DeepXDELoss"
    P = points(run, 3, torch.float64)
    ev = plw.evaluate(run, P, dtype=torch.float64)
    for k in range(3):
        own = deepxde_terms(model, P[k])
        np.testing.assert_allclose([float(ev[f"loss_{t}"][k]) for t in run.term_names["deepxde"]], own, rtol=1e-12)
    return run


def test_data_dependent_control_flow_falls_back_with_the_reason(dde):
    model = make(dde, "poisson_1d")

    def pde(x, y):
        dy_xx = dde.grad.hessian(y, x)
        if (y > 0).all():  # a branch on the network's values: vmap cannot batch it
            return dy_xx
        return -dy_xx - np.pi**2 * torch.sin(np.pi * x)

    model.data.pde = pde
    run = _fallback(dde, model, r"DeepXDE's loss cannot be evaluated batched \(RuntimeError")
    assert "data-dependent control flow" in run.attrs["evaluation"]


def test_an_output_transform_falls_back_with_the_reason(dde):
    model = make(dde, "poisson_1d")
    model.net.apply_output_transform(lambda x, y: (1 - x**2) * y)
    run = _fallback(dde, model, r"model.net has an output transform")
    with pytest.raises(ValueError, match=r"trace must be True or False, got 'yes'"):
        plw.adapters.from_deepxde(model, trace="yes")
    assert run.attrs["evaluation"] == "per point: model.net has an output transform (apply_output_transform)"


def test_a_derivative_of_a_slice_of_y_falls_back(dde):
    model = make(dde, "system_2d")

    def pde(x, y):
        u = y[:, 0:1]
        return dde.grad.jacobian(u, x, i=0, j=0) - y[:, 1:2]

    model.data.pde = pde
    model.compile("adam", lr=0.001, loss_weights=[1, 1, 1], verbose=0)
    _fallback(dde, model, r"dde.grad.jacobian was called on a tensor other than the network's outputs")


def test_an_unknown_activation_falls_back(dde):
    model = make(dde, "poisson_1d", activation="relu")
    _fallback(dde, model, r"model.net's activation \(relu\) is not one the engine's MLP has")


def test_hessian_tools_differentiate_deepxdes_loss_on_a_traced_run(dde):
    model = make(dde, "neumann_1d", width=5)
    run = plw.adapters.from_deepxde(model)
    assert run.attrs["evaluation"] == "traced"
    loss = run.losses["deepxde"]
    net64 = copy.deepcopy(model.net).double()
    names = [n for n, _ in net64.named_parameters()]
    shapes = [p.shape for _, p in net64.named_parameters()]

    class Functional(torch.nn.Module):  # model.net at the parameters theta, through functional_call
        def __init__(self, theta):
            super().__init__()
            self.theta = theta
            self.register_parameter("_anchor", torch.nn.Parameter(torch.zeros((), dtype=torch.float64)))

        def forward(self, x):
            values, off = {}, 0
            for n, s in zip(names, shapes):
                values[n] = self.theta[off : off + s.numel()].view(s)
                off += s.numel()
            return torch.func.functional_call(net64, values, (x,))

    def total(theta):  # DeepXDE's loss, differentiable in theta
        return sum(loss(Functional(theta)).values())

    theta = run.params.double()
    dense = torch.autograd.functional.hessian(total, theta)
    top = float(torch.linalg.eigvalsh(dense)[-1])
    eig = plw.hessian_eigenpairs(run, n=1)
    assert float(eig.eigenvalue[0]) == pytest.approx(top, rel=1e-8)


def test_the_trace_propagates_exactly_the_partials_the_pde_and_conditions_read(dde):
    from pinn_landscape_widget.pde.derivatives import JetSpec, SecondOrder

    spec = plw.adapters.from_deepxde(make(dde, "diffusion_1d")).losses["deepxde"].spec
    assert spec == JetSpec(2, (0, 1), (SecondOrder.partial(0, 0),))  # u_t, u_xx (u_x to form u_xx)
    spec = plw.adapters.from_deepxde(make(dde, "system_2d")).losses["deepxde"].spec
    # u_x, v_x, u_yy, u_xy, and the Neumann condition's whole gradient of v
    assert spec == JetSpec(2, (0, 1), (SecondOrder.partial(0, 1), SecondOrder.partial(1, 1)))


def test_a_recompile_with_other_weights_reaches_the_traced_run(dde):
    model = make(dde, "neumann_1d")
    run = plw.adapters.from_deepxde(model)
    model.compile("adam", lr=0.001, loss_weights=[0.5, 7.0, 3.0], verbose=0)
    P = points(run, 2, torch.float64)
    ev = plw.evaluate(run, P, dtype=torch.float64)
    for k in range(2):
        got = [float(ev[f"loss_{t}"][k]) for t in run.term_names["deepxde"]]
        assert_terms_close(got, deepxde_terms(model, P[k]), torch.float64)


def test_batched_terms_from_two_threads_equal_one_call(dde):
    """thread_safe: grid chunks call batched_terms from several threads (jets in parallel, DeepXDE's loss code
    one chunk at a time behind the lock)."""
    from concurrent.futures import ThreadPoolExecutor

    model = make(dde, "poisson_2d")
    run = plw.adapters.from_deepxde(model)
    loss = run.losses["deepxde"]
    assert loss.thread_safe
    P = points(run, 8, torch.float32)
    with torch.no_grad():
        whole = loss.batched_terms(P)
        with ThreadPoolExecutor(2) as ex:
            parts = list(ex.map(loss.batched_terms, [P[:4], P[4:]] * 4))
    for i in range(0, 8, 2):
        for t in run.term_names["deepxde"]:
            got = torch.cat([parts[i][t], parts[i + 1][t]])
            torch.testing.assert_close(got, whole[t], rtol=1e-5, atol=0)


def test_a_traced_run_pickles_while_another_thread_is_inside_deepxdes_loss_code(dde):
    # dask pickles the run in its own thread; the readers then hold vmap's batched tensors, which torch
    # cannot pickle: they stay out of the pickle, and the unpickled loss evaluates as the original
    import cloudpickle

    run = plw.adapters.from_deepxde(make(dde, "poisson_2d"))
    loss = run.losses["deepxde"]
    thetas = points(run, 3, torch.float32)
    want = loss.batched_terms(thetas)

    def inside(parts):
        loss.readers.parts = parts  # as batched_terms' vmap sets it for one parameter point
        return cloudpickle.dumps(run)

    blob = torch.func.vmap(inside, out_dims=None)(torch.ones(3, 4))
    loss.readers.parts = None
    copy_ = cloudpickle.loads(blob)
    got = copy_.losses["deepxde"].batched_terms(thetas)
    for t in want:
        np.testing.assert_allclose(got[t].numpy(), want[t].numpy(), rtol=1e-6, err_msg=t)
