"""Your own PINN written the way tutorials write it: float32 data captured by the loss, points made with
requires_grad once, a loss that (by mistake) reads a global model. Every tool either works on such code,
with numbers checked against an independent dense computation, or says what to change."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget._checks import show_progress

# tutorial-style globals: float32 points with requires_grad set once, the source, the boundary points
torch.manual_seed(0)
X = torch.linspace(0, 1, 32)[:, None].requires_grad_(True)
F = (math.pi**2) * torch.sin(math.pi * X.detach())
XB = torch.tensor([[0.0], [1.0]])


def _net(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
    ).to(dtype)


def tutorial_loss(model):
    u = model(X)
    ux = torch.autograd.grad(u.sum(), X, create_graph=True)[0]
    uxx = torch.autograd.grad(ux.sum(), X, create_graph=True)[0]
    return {"residual": ((uxx + F) ** 2).mean(), "boundary": (model(XB) ** 2).mean()}


@pytest.fixture(scope="module")
def trained():
    model = _net()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(60):
        opt.zero_grad()
        sum(tutorial_loss(model).values()).backward()
        opt.step()
    return model


class _LossOf(torch.nn.Module):
    """The loss as a module of the model, so torch.func substitutes the model's parameters."""

    def __init__(self, model, loss):
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self):
        return sum(self.loss(self.model).values())


def _dense_hessian(model, loss, theta, dtype):
    """The loss Hessian at theta by torch.autograd.functional.hessian (independent of our operator)."""
    bound = _LossOf(_net(dtype=dtype), loss)
    names = [n for n, _ in bound.named_parameters()]
    shapes = [p.shape for _, p in bound.named_parameters()]

    def f(t):
        params, off = {}, 0
        for n, s in zip(names, shapes):
            k = math.prod(s)
            params[n] = t[off : off + k].view(s)
            off += k
        with torch.enable_grad():
            return torch.func.functional_call(bound, params, ())

    return torch.autograd.functional.hessian(f, theta.to(dtype), create_graph=False)


def test_float32_tutorial_loss_hessian_in_the_models_dtype_matches_a_dense_hessian(trained):
    run = plw.from_model(trained, tutorial_loss)
    assert run.dtype == torch.float32
    ds = plw.hessian_eigenpairs(run, 2)
    assert ds.attrs["dtype"] == "float32"  # the loss captures float32 data: computed in the model's dtype
    H = _dense_hessian(trained, tutorial_loss, run.params, torch.float32).double()
    want = torch.linalg.eigvalsh(0.5 * (H + H.T)).flip(0)[:2]
    assert ds.eigenvalue.values == pytest.approx(want.numpy(), rel=2e-3)
    spec = plw.hessian_spectrum(run, n_vectors=2, n_steps=16, n_trace_samples=30)
    assert spec.attrs["lambda_max"] == pytest.approx(float(want[0]), rel=2e-3)
    assert abs(spec.attrs["trace_hutchinson"] - float(torch.trace(H))) <= 5 * spec.attrs["trace_hutchinson_stderr"]
    dirs = plw.hessian_directions(run, 2)
    v = torch.as_tensor(dirs.vectors[0], dtype=torch.float64)
    assert float(v @ H @ v) == pytest.approx(float(want[0]), rel=2e-3)


def test_float64_asked_with_float32_captured_data_names_the_tensors_and_the_way_out(trained):
    run = plw.from_model(trained, tutorial_loss)
    with pytest.raises(ValueError) as e:
        plw.hessian_eigenpairs(run, 1, dtype=torch.float64)
    msg = str(e.value)
    assert "dtype=float64" in msg and "X (float32)" in msg and "F (float32)" in msg and "XB (float32)" in msg
    assert "dtype=None" in msg and ".double()" in msg
    with pytest.raises(ValueError, match=r"curvature_map: dtype=float64 needs a loss that can run in float64"):
        plw.curvature_map(run, resolution=3, dtype="float64", progress=False)


def test_float64_data_gives_float64_hessians_by_default():
    x = torch.linspace(0, 1, 16, dtype=torch.float64)[:, None]

    def loss(model):  # written to follow the model's dtype
        xx = x.to(next(model.parameters()).dtype).requires_grad_(True)
        u = model(xx)
        ux = torch.autograd.grad(u.sum(), xx, create_graph=True)[0]
        return (ux - torch.cos(xx)).pow(2).mean()

    model = _net(dtype=torch.float32)  # a float32 model, float64 data it casts: float64 curvature is honoured
    run = plw.from_model(model, loss)
    assert run.float64_blockers() == []
    ds = plw.hessian_eigenpairs(run, 1)
    assert ds.attrs["dtype"] == "float64"
    H = _dense_hessian(model, lambda m: {"l": loss(m)}, run.params, torch.float64)
    assert float(ds.eigenvalue[0]) == pytest.approx(float(torch.linalg.eigvalsh(H)[-1]), rel=1e-8)


def test_curvature_along_a_1d_slice_of_an_input_derivative_loss_matches_the_dense_hessian(trained):
    run = plw.from_model(trained, tutorial_loss)
    d = plw.random_directions(run, 1, seed=3)
    ds = plw.landscape(run, d, span=0.5, resolution=5, curvature=True, progress=False)
    v = d.vectors[0].double()
    for a in (-0.5, 0.0, 0.25):
        theta = run.params.double() + a * v
        H = _dense_hessian(trained, tutorial_loss, theta, torch.float32).double()
        assert float(ds.curvature.sel(alpha=a)) == pytest.approx(float(v @ H @ v), rel=2e-3, abs=1e-4)


def test_curvature_map_of_a_float32_tutorial_loss_runs_in_float32(trained):
    run = plw.from_model(trained, tutorial_loss)
    ds = plw.curvature_map(run, resolution=3, span=0.2, progress=False)
    assert ds.attrs["hessian_dtype"] == "float32"
    H = _dense_hessian(trained, tutorial_loss, run.params, torch.float32).double()
    ev = torch.linalg.eigvalsh(0.5 * (H + H.T))
    assert float(ds.lambda_max.sel(alpha=0.0, beta=0.0)) == pytest.approx(float(ev[-1]), rel=2e-3)


def test_a_loss_that_reads_a_global_model_is_refused_with_the_fix(trained):
    def global_loss(model):  # the argument is ignored: every landscape of it would be flat
        u = trained(X)
        ux = torch.autograd.grad(u.sum(), X, create_graph=True)[0]
        uxx = torch.autograd.grad(ux.sum(), X, create_graph=True)[0]
        return ((uxx + F) ** 2).mean()

    with pytest.raises(ValueError, match=r"loss 'loss' gives the same value .* does not read the model it is given"):
        plw.from_model(trained, global_loss)


def test_pca_without_a_trajectory_tells_a_model_user_to_pass_the_recorder(trained):
    run = plw.from_model(trained, tutorial_loss)
    with pytest.raises(
        ValueError, match=r"pass the Recorder of the training loop: plw.from_model\(\.\.\., recorder=rec\)"
    ):
        plw.pca_directions(run)
    built_in = plw.train("poisson1d", "strong", steps=3, width=4, depth=1, record_every=10, progress=False)
    with pytest.raises(ValueError, match=r"plw.train\(\.\.\., record_every=\.\.\.\) with a smaller value"):
        plw.pca_directions(built_in)


def test_progress_bars_only_where_someone_watches(capsys):
    assert show_progress(True) is True and show_progress(False) is False
    assert show_progress(None) is False  # pytest's captured stderr is not a terminal, and no kernel runs
    with pytest.raises(ValueError, match=r"progress must be True, False or None .*, got 'yes'"):
        show_progress("yes")
    plw.landscape(plw.from_model(_net(), tutorial_loss), resolution=3)
    assert "landscape" not in capsys.readouterr().err


def test_your_own_loop_on_a_defined_problem_runs_on_the_engine_and_matches_autograd():
    """from_model(model, problem): a model trained in the user's own loop, the loss a problem's own."""
    from pinn_landscape_widget.engine.mlp import MLP
    from tests.autograd_reference import reference_terms

    heat = plw.define_problem(
        "heat_user",
        domain={"x": (0, 1), "t": (0, 1)},
        residual=lambda u: u.t - 0.1 * u.xx,
        conditions=[plw.initial(lambda x: torch.sin(math.pi * x)), plw.dirichlet("x")],
        n_points=64,
    )
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(2, 10), torch.nn.Tanh(), torch.nn.Linear(10, 10), torch.nn.Tanh(), torch.nn.Linear(10, 1)
    )
    rec = plw.Recorder(model, every=2)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    xt = torch.rand(64, 2, requires_grad=True)  # the user's own loop and loss, as a tutorial writes them
    for _ in range(6):
        opt.zero_grad()
        u = model(xt)
        g = torch.autograd.grad(u.sum(), xt, create_graph=True)[0]
        uxx = torch.autograd.grad(g[:, 0].sum(), xt, create_graph=True)[0][:, 0]
        loss = ((g[:, 1] - 0.1 * uxx) ** 2).mean()
        loss.backward()
        opt.step()
        rec.step(loss=loss)
    run = plw.from_model(model, heat, recorder=rec)
    assert isinstance(run.net, MLP) and run.optimizer == "user"  # recognised: the fused engine evaluates it
    assert run.trajectory.shape[0] >= 4 and plw.pca_directions(run).vectors.shape == (2, run.n_params)
    dirs = plw.random_directions(run, 2, seed=4)
    ds = plw.landscape(run, dirs, span=0.5, resolution=3, progress=False)
    for i, a in enumerate(ds.alpha.values):
        for j, b in enumerate(ds.beta.values):
            theta = run.params.double() + float(a) * dirs.vectors[0].double() + float(b) * dirs.vectors[1].double()
            ref, size, _ = reference_terms(run, theta.float(), "strong")
            for key, val in ref.items():
                assert abs(float(ds[key].values[i, j]) - val) <= 1e-5 * max(size[key], abs(val)), (key, a, b)
    assert float(run.history.loss[-1]) == pytest.approx(float(plw.evaluate(run, run.params)["loss"][0]), rel=1e-6)
    with pytest.raises(ValueError, match=r"allowed formulations for it: \[.strong.\]"):
        plw.from_model(model, heat, formulation="deep_ritz")
    # arguments only loss functions use are refused with a problem, not silently dropped
    with pytest.raises(ValueError, match=r"from_model\(model, 'heat_user'\).*points=, name= would be ignored"):
        plw.from_model(model, heat, points=xt.detach(), name="mine")
    with pytest.raises(ValueError, match=r"trainable= would be ignored"):
        plw.from_model(model, "poisson1d", trainable=["0.weight"])
    with pytest.raises(ValueError, match=r"formulation='strong' applies to a problem's loss"):
        plw.from_model(model, tutorial_loss, formulation="strong")


def test_a_loss_that_is_nan_at_some_grid_points_gives_nan_there_and_numbers_elsewhere(trained):
    def sqrt_loss(model):  # NaN wherever the mean output is negative: a user's loss with a domain error
        return torch.sqrt(model(X).mean()) + (model(XB) ** 2).mean()

    model = copy.deepcopy(trained)
    with torch.no_grad():
        model[-1].bias += 1.0 - model(X).mean()  # mean output 1 at theta*: finite at the centre
    run = plw.from_model(model, sqrt_loss)
    d = torch.zeros(1, run.n_params)
    d[0, -1] = 1.0  # the output bias: the loss is NaN for alpha < -1
    ds = plw.landscape(run, d, span=2.0, resolution=9, progress=False)
    alpha = ds.alpha.values
    assert np.isnan(ds.loss.values[alpha < -1.0]).all() and np.isfinite(ds.loss.values[alpha > -1.0]).all()
    want = [float(sqrt_loss(run.model_at(run.params + a * d[0]))) for a in alpha[alpha > -1.0]]
    assert ds.loss.values[alpha > -1.0] == pytest.approx(want, rel=1e-5)


def test_a_loss_holding_tensors_on_another_device_is_refused_before_anything_runs(trained):
    elsewhere = torch.empty(4, 1, device="meta")  # stands for a CUDA tensor on a machine without one

    def loss(model):
        return (model(X) ** 2).mean() + 0 * elsewhere.sum()

    with pytest.raises(
        ValueError, match=r"device='cpu', but loss 'loss' holds tensors elsewhere \(elsewhere on meta\)"
    ):
        plw.from_model(trained, loss)
