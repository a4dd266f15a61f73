"""PINNacle's problem shapes written with the installed DeepXDE, through ``from_deepxde``'s traced path.

PINNacle (Hao et al., NeurIPS 2024) builds its problems on DeepXDE: a 2-D domain with holes (Poisson2D_Classic),
a time-dependent nonlinear equation (Burgers1D), a second derivative in time with a condition on u_t
(Wave1D), a system of three outputs with a point condition (NS2D_LidDriven). Each is written here with
``dde.geometry``, ``dde.grad`` and ``dde.icbc`` as PINNacle's classes write them (its own classes need its
vendored DeepXDE), on a small network (FNN 2-16-16-16-m tanh, a few hundred points) so the tests are fast.
For each: the run takes the traced path, carries the jet channels said below, and its 2-D landscape equals
DeepXDE's own loss (``model.outputs_losses_train`` with the grid point's parameters written into a copy of
``model.net``) at several grid points, in float32; in float64 every term equals DeepXDE's to 1e-10.
"""

from __future__ import annotations

import copy
import json
import os

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.pde.derivatives import JetSpec, SecondOrder


@pytest.fixture(scope="module")
def dde():
    os.environ["DDE_BACKEND"] = "pytorch"  # before the import: DeepXDE then reads no config file and writes none
    import deepxde

    assert deepxde.backend.backend_name == "pytorch"
    return deepxde


def _model(dde, data, n_out: int, width: int = 16):
    net = dde.nn.FNN([2] + [width] * 3 + [n_out], "tanh", "Glorot normal")
    model = dde.Model(data, net)
    model.compile("adam", lr=1e-3, verbose=0)
    model.train(iterations=5, display_every=10**9, verbose=0)
    return model


def poisson_classic(dde):
    """Poisson2D_Classic: -laplacian u = 0 on [-0.5, 0.5]^2 less four disks of radius 0.1, u = 1 on the outer
    edges, u = 0 on the disks' edges (the Laplacian as two ``dde.grad.hessian`` calls)."""
    rect = dde.geometry.Rectangle([-0.5, -0.5], [0.5, 0.5])
    geom = rect
    for cx, cy in ((0.3, 0.3), (-0.3, 0.3), (0.3, -0.3), (-0.3, -0.3)):
        geom = geom - dde.geometry.Disk([cx, cy], 0.1)

    def pde(x, y):
        return -dde.grad.hessian(y, x, i=0, j=0) - dde.grad.hessian(y, x, i=1, j=1)

    bcs = [
        dde.icbc.DirichletBC(geom, lambda x: np.ones((len(x), 1)), lambda x, on: on and rect.on_boundary(x)),
        dde.icbc.DirichletBC(geom, lambda x: np.zeros((len(x), 1)), lambda x, on: on and not rect.on_boundary(x)),
    ]
    return _model(dde, dde.data.PDE(geom, pde, bcs, 300, 100, train_distribution="pseudo"), 1)


def burgers(dde):
    """Burgers1D: u_t + u u_x = (0.01 / pi) u_xx on [-1, 1] x [0, 1], u(x, 0) = -sin(pi x), u(+-1, t) = 0."""

    def pde(x, y):
        u_x = dde.grad.jacobian(y, x, i=0, j=0)
        u_t = dde.grad.jacobian(y, x, i=0, j=1)
        u_xx = dde.grad.hessian(y, x, i=0, j=0)
        return u_t + y * u_x - 0.01 / np.pi * u_xx

    geomtime = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1), dde.geometry.TimeDomain(0, 1))
    bc = dde.icbc.DirichletBC(geomtime, lambda x: np.zeros((len(x), 1)), lambda _, on: on)
    ic = dde.icbc.IC(geomtime, lambda x: -np.sin(np.pi * x[:, 0:1]), lambda _, on: on)
    data = dde.data.TimePDE(geomtime, pde, [bc, ic], num_domain=250, num_boundary=40, num_initial=60)
    return _model(dde, data, 1)


def wave(dde):
    """Wave1D: u_tt = 4 u_xx on [0, 1] x [0, 1], u(x, 0) = sin(pi x) + sin(4 pi x) / 2, u_t(x, 0) = 0 (an
    ``OperatorBC``), u = 0 at x = 0 and 1."""

    def pde(x, y):
        return dde.grad.hessian(y, x, i=1, j=1) - 4.0 * dde.grad.hessian(y, x, i=0, j=0)

    geomtime = dde.geometry.GeometryXTime(dde.geometry.Interval(0, 1), dde.geometry.TimeDomain(0, 1))
    bc = dde.icbc.DirichletBC(geomtime, lambda x: np.zeros((len(x), 1)), lambda _, on: on)
    ic = dde.icbc.IC(
        geomtime, lambda x: np.sin(np.pi * x[:, 0:1]) + 0.5 * np.sin(4 * np.pi * x[:, 0:1]), lambda _, on: on
    )
    ic_t = dde.icbc.OperatorBC(
        geomtime, lambda x, y, _: dde.grad.jacobian(y, x, i=0, j=1), lambda x, _: np.isclose(x[1], 0)
    )
    data = dde.data.TimePDE(geomtime, pde, [bc, ic, ic_t], num_domain=250, num_boundary=40, num_initial=60)
    return _model(dde, data, 1)


def lid_driven(dde):
    """NS2D_LidDriven: steady Navier-Stokes at Re = 100 on [0, 1]^2 in (u, v, p), the lid u = 4x(1 - x) at
    y = 1, u = v = 0 on the other walls, v = 0 on the lid, p(0, 0) = 0 (a ``PointSetBC``)."""
    nu = 0.01

    def pde(x, y):
        u, v = y[:, 0:1], y[:, 1:2]
        u_x, u_y = dde.grad.jacobian(y, x, i=0, j=0), dde.grad.jacobian(y, x, i=0, j=1)
        v_x, v_y = dde.grad.jacobian(y, x, i=1, j=0), dde.grad.jacobian(y, x, i=1, j=1)
        p_x, p_y = dde.grad.jacobian(y, x, i=2, j=0), dde.grad.jacobian(y, x, i=2, j=1)
        u_xx, u_yy = dde.grad.hessian(y, x, component=0, i=0, j=0), dde.grad.hessian(y, x, component=0, i=1, j=1)
        v_xx, v_yy = dde.grad.hessian(y, x, component=1, i=0, j=0), dde.grad.hessian(y, x, component=1, i=1, j=1)
        return [
            u * u_x + v * u_y + p_x - nu * (u_xx + u_yy),
            u * v_x + v * v_y + p_y - nu * (v_xx + v_yy),
            u_x + v_y,
        ]

    geom = dde.geometry.Rectangle([0, 0], [1, 1])

    def lid(x, on):
        return on and np.isclose(x[1], 1)

    def walls(x, on):
        return on and not np.isclose(x[1], 1)

    bcs = [
        dde.icbc.DirichletBC(geom, lambda x: 4 * x[:, 0:1] * (1 - x[:, 0:1]), lid, component=0),
        dde.icbc.DirichletBC(geom, lambda x: np.zeros((len(x), 1)), walls, component=0),
        dde.icbc.DirichletBC(geom, lambda x: np.zeros((len(x), 1)), lambda _, on: on, component=1),
        dde.icbc.PointSetBC(np.zeros((1, 2), dtype=np.float32), np.zeros((1, 1), dtype=np.float32), component=2),
    ]
    return _model(dde, dde.data.PDE(geom, pde, bcs, 300, 80), 3)


def _laplacian_jet(n_first=2):
    return JetSpec(2, tuple(range(n_first)), (SecondOrder(((0, 0, 1.0), (1, 1, 1.0))),))


SHAPES = {
    # name: (builder, the jet channels the trace carries)
    # u_xx + u_yy read one by one, used only summed: one Laplacian channel, the fused value/gradient/Laplacian jet
    "poisson_classic": (poisson_classic, _laplacian_jet()),
    # u_x, u_t, u_xx: one second partial, nothing to sum
    "burgers": (burgers, JetSpec(2, (0, 1), (SecondOrder.partial(0, 0),))),
    # u_tt - 4 u_xx is no function of u_xx + u_tt: the summed channel does not give DeepXDE's loss, and
    # each partial keeps its channel
    "wave": (wave, JetSpec(2, (0, 1), (SecondOrder.partial(0, 0), SecondOrder.partial(1, 1)))),
    # u and v read their pure second partials, used summed (the viscous term); p reads none
    "lid_driven": (lid_driven, _laplacian_jet()),
}


def deepxde_terms(model, theta: torch.Tensor) -> np.ndarray:
    """DeepXDE's own weighted loss terms with theta written into a copy of model.net, in theta's dtype."""
    net = copy.deepcopy(model.net).to(theta.dtype)
    torch.nn.utils.vector_to_parameters(theta.detach().clone(), net.parameters())
    x = model.data.train_x.astype(np.float64 if theta.dtype == torch.float64 else np.float32)
    saved, model.net = model.net, net
    try:
        with torch.enable_grad():
            losses = model.outputs_losses_train(x, model.data.train_y, None)[1]
    finally:
        model.net = saved
    return losses.detach().numpy().astype(np.float64)


def grid_theta(ds, i: int, j: int) -> torch.Tensor:
    c, D = torch.as_tensor(ds.center.values), torch.as_tensor(ds.directions.values)
    return c + float(ds.alpha[i]) * D[0] + float(ds.beta[j]) * D[1]


GRID_POINTS = [(2, 2), (0, 0), (4, 1), (1, 3)]


@pytest.mark.parametrize("name", list(SHAPES))
def test_pinnacle_shape_is_traced_and_its_grid_equals_deepxdes_loss(dde, name):
    build, spec = SHAPES[name]
    dde.config.set_random_seed(0)
    model = build(dde)
    run = plw.adapters.from_deepxde(model)
    assert run.attrs["evaluation"] == "traced"
    assert run.losses["deepxde"].spec == spec
    ds = plw.landscape(run, plw.random_directions(run, 2, seed=1), resolution=5, span=0.5, progress=False)
    names = run.term_names["deepxde"]
    totals = []
    for i, j in GRID_POINTS:
        own = deepxde_terms(model, grid_theta(ds, i, j).float())
        totals.append(own.sum())
        got = [float(ds[f"loss_{t}"][i, j]) for t in names]
        np.testing.assert_allclose(got, own, rtol=3e-5, atol=3e-6 * own.sum(), err_msg=f"{name} at {(i, j)}")
        assert float(ds.loss[i, j]) == pytest.approx(own.sum(), rel=3e-5)
    assert max(totals) > 1.5 * min(totals)  # the grid points are apart: the comparison tests something
    # float64: every term to DeepXDE's within 1e-10 (the summed channel included)
    thetas = torch.stack([grid_theta(ds, i, j) for i, j in GRID_POINTS[:2]]).double()
    ev = plw.evaluate(run, thetas, dtype=torch.float64)
    for k in range(2):
        own = deepxde_terms(model, thetas[k])
        got = [float(ev[f"loss_{t}"][k]) for t in names]
        np.testing.assert_allclose(got, own, rtol=1e-10, atol=1e-12 * own.sum(), err_msg=name)


def test_a_sum_the_loss_does_not_use_alone_keeps_one_channel_per_partial(dde):
    """u_xx + u_yy read, but u_xx also used on its own: the summed channel would change the loss, so the
    trace carries both partials and still equals DeepXDE's loss."""
    dde.config.set_random_seed(0)
    model = poisson_classic(dde)

    def pde(x, y):
        u_xx = dde.grad.hessian(y, x, i=0, j=0)
        return -u_xx - dde.grad.hessian(y, x, i=1, j=1) + 0.5 * torch.tanh(u_xx)

    model.data.pde = pde
    run = plw.adapters.from_deepxde(model)
    assert run.attrs["evaluation"] == "traced"
    assert run.losses["deepxde"].spec == JetSpec(2, (0, 1), (SecondOrder.partial(0, 0), SecondOrder.partial(1, 1)))
    theta = run.params.double()
    ev = plw.evaluate(run, theta[None], dtype=torch.float64)
    own = deepxde_terms(model, theta)
    np.testing.assert_allclose([float(ev[f"loss_{t}"][0]) for t in run.term_names["deepxde"]], own, rtol=1e-10)


def test_subsampled_terms_of_a_time_dependent_problem_equal_deepxdes_residuals_on_the_kept_rows(dde):
    """Burgers1D (TimePDE, a DirichletBC and an IC): each term of landscape(subsample=40) is DeepXDE's mean
    squared error over the kept rows of its set, computed from DeepXDE's own residuals on every row."""
    dde.config.set_random_seed(0)
    model = burgers(dde)
    run = plw.adapters.from_deepxde(model)
    ds = plw.landscape(run, plw.random_directions(run, 2, seed=1), resolution=5, span=0.5, subsample=40, progress=False)
    loss = run.losses["deepxde"]
    sets = loss._sets()  # (name, first row, rows): each condition's, then the pde's
    assert [name for name, _, _ in sets] == ["dirichletbc_0", "ic_1", "pde"]
    assert json.loads(ds.attrs["subsample_points"]) == {name: [min(40, n), n] for name, _, n in sets}
    assert "estimate on" in ds.loss.attrs["long_name"]
    rows = run.objective().subsample(40, int(ds.attrs["subsample_seed"])).fn._rows.numpy()
    for i, j in GRID_POINTS:
        net = copy.deepcopy(model.net).double()
        torch.nn.utils.vector_to_parameters(grid_theta(ds, i, j).double(), net.parameters())
        residuals = loss.loss.residuals(net)  # each term = sum of squares: r = error / sqrt(rows)
        for name, start, n in sets:
            kept = rows[(rows >= start) & (rows < start + n)] - start
            expected = n * float((residuals[name][kept].detach() ** 2).mean())
            assert float(ds[f"loss_{name}"][i, j]) == pytest.approx(expected, rel=2e-5, abs=1e-9), (name, i, j)
    # the run's own loss is untouched: the full grid still equals DeepXDE's loss at a grid point
    full = plw.landscape(run, plw.random_directions(run, 2, seed=1), resolution=5, span=0.5, progress=False)
    assert float(full.loss[1, 3]) == pytest.approx(deepxde_terms(model, grid_theta(full, 1, 3).float()).sum(), rel=3e-5)


def test_a_point_set_condition_cannot_be_subsampled_and_says_why(dde):
    dde.config.set_random_seed(0)
    run = plw.adapters.from_deepxde(lid_driven(dde))
    with pytest.raises(ValueError, match=r"subsample=0\.5 .*a PointSetBC cannot be subsampled"):
        plw.landscape(run, resolution=3, progress=False, subsample=0.5)
    # the widget's preview stays on every point, and says so
    w = plw.LandscapeWidget(run, compute=False)
    try:
        s = w.panel_settings()[0]
        w._computer.cost_per_point[(s.run, s.formulation)] = 0.05
        plan = w._computer.preview_plan(s, largest=11, budget_s=0.08)
        assert plan is not None and plan.subsample is None
        assert plan.note == "on all points (this loss's points cannot be subsampled)"
    finally:
        w.close()


def test_a_subsample_asked_again_is_the_same_copy_and_stays_out_of_a_pickle(dde):
    # the widget asks for its preview's subsample at every change: the rows are drawn once per size and seed
    import cloudpickle

    dde.config.set_random_seed(0)
    run = plw.adapters.from_deepxde(burgers(dde))
    loss = run.losses["deepxde"]
    a, b, c = loss.subsample(40, 0), loss.subsample(40, 0), loss.subsample(40, 1)
    assert a is b and c is not a and not np.array_equal(a._rows.numpy(), c._rows.numpy())
    copy_ = cloudpickle.loads(cloudpickle.dumps(run)).losses["deepxde"]
    assert copy_._subsets == {} and copy_.subsample(40, 0)._rows.tolist() == a._rows.tolist()
