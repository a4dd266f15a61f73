"""Your own PINN: any torch module as the network of a problem, a run from your own model and loss
(``from_model``), and the ``Recorder`` for your own training loop, each checked against an independent
evaluation (parameters written into a copy of the module, derivatives by autograd)."""

import math
import warnings

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.engine.mlp import MLP
from pinn_landscape_widget.engine.module_network import ModuleNetwork

from .autograd_reference import reference_terms

F64 = torch.float64


class FourierFeatures(torch.nn.Module):
    """A Fourier-feature network with a trainable frequency matrix (not an MLP: the torch.func path)."""

    def __init__(self, d=1, m=6, width=12, out=1, dtype=torch.float32):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.B = torch.nn.Parameter(torch.randn(d, m, generator=g, dtype=dtype))
        self.body = torch.nn.Sequential(torch.nn.Linear(2 * m, width), torch.nn.Tanh(), torch.nn.Linear(width, out)).to(
            dtype
        )

    def forward(self, x):
        z = x @ self.B
        return self.body(torch.cat([torch.sin(z), torch.cos(z)], dim=-1))


class ResidualBlockNet(torch.nn.Module):
    """A small ResNet-style module with a SiLU (whose second derivative has no forward-mode rule in torch:
    the autograd fallback)."""

    def __init__(self, d=2, width=10):
        super().__init__()
        self.inp = torch.nn.Linear(d, width)
        self.block = torch.nn.Linear(width, width)
        self.out = torch.nn.Linear(width, 1)

    def forward(self, x):
        h = torch.tanh(self.inp(x))
        h = h + torch.nn.functional.silu(self.block(h))
        return self.out(h)


def _grid_vs_reference(run, dtype, rtol):
    dirs = plw.random_directions(run, 2, seed=4)
    ds = plw.landscape(run, dirs, span=0.5, resolution=3, progress=False)
    for i, a in enumerate(ds.alpha.values):
        for j, b in enumerate(ds.beta.values):
            theta = run.params.double() + float(a) * dirs.vectors[0].double() + float(b) * dirs.vectors[1].double()
            ref, size, _ = reference_terms(run, theta.to(dtype), run.formulation)
            for key, val in ref.items():
                assert abs(float(ds[key].values[i, j]) - val) <= rtol * max(size[key], abs(val)), (key, a, b)
    return ds


def test_a_plain_tanh_sequential_is_recognised_and_runs_on_the_mlp_engine():
    seq = torch.nn.Sequential(
        torch.nn.Linear(1, 12), torch.nn.Tanh(), torch.nn.Linear(12, 12), torch.nn.Tanh(), torch.nn.Linear(12, 1)
    )
    theta0 = torch.nn.utils.parameters_to_vector(seq.parameters()).detach().clone()
    run = plw.train("poisson1d", "strong", model=seq, steps=(5, 0), progress=False, coefficients=dict(n_points=64))
    assert isinstance(run.net, MLP) and (run.net.width, run.net.depth, run.net.activation) == (12, 2, "tanh")
    assert torch.equal(run.trajectory[0], theta0)
    # the same start through our MLP gives the same training, bit for bit
    ours = plw.train(
        "poisson1d",
        "strong",
        width=12,
        depth=2,
        steps=(5, 0),
        progress=False,
        init_params=theta0,
        coefficients=dict(n_points=64),
    )
    assert torch.equal(ours.params, run.params)
    # and the recognised module's own forward equals the engine's at the trained parameters
    x = torch.linspace(0, 1, 9)[:, None]
    seq2 = run.net.module(run.params)
    torch.testing.assert_close(run.model_at(run.params)(x), torch.sin(math.pi * x[:, 0]) * seq2(x)[:, 0])


@pytest.mark.parametrize("dtype,rtol", [(torch.float32, 1e-5), (F64, 1e-11)], ids=["f32", "f64"])
def test_any_module_on_a_defined_problem_matches_autograd_on_a_copy_of_the_module(dtype, rtol):
    prob = plw.get_problem("poisson1d", n_points=48, boundary="penalty")
    run = plw.train(
        prob, "strong", model=FourierFeatures(dtype=dtype), steps=(8, 0), lr=1e-2, progress=False, dtype=dtype
    )
    assert isinstance(run.net, ModuleNetwork)
    ds = _grid_vs_reference(run, dtype, rtol)
    assert float(ds.loss.sel(alpha=0.0, beta=0.0)) == float(plw.evaluate(run, run.params)["loss"][0])
    # and the torch.func path a GPU takes (vmap over parameter points, forward-mode derivatives)
    run.net.vmap_on_cpu = True
    _grid_vs_reference(run, dtype, rtol)
    assert run.net.mode == "vmap"
    obj = run.objective()
    P = run.params[None] + 0.1 * torch.randn((3, run.n_params), dtype=dtype, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = obj.evaluate(P)
        spec, x = obj.interior.spec, obj.interior.x
        chans = torch.func.vmap(lambda th: run.net._channels(th, x, spec))(P)
        loop = run.net._channels_autograd(P[1], x, spec)
    for c in range(spec.n_channels):
        torch.testing.assert_close(chans[c][1], loop[c], rtol=100 * rtol, atol=100 * rtol * float(loop[c].abs().max()))
    assert torch.isfinite(want["loss"]).all()
    ritz = plw.landscape(run, resolution=3, span=0.3, formulation="deep_ritz", progress=False)
    assert np.isfinite(ritz.loss.values).all()


def test_a_module_with_second_derivatives_forward_mode_lacks_matches_autograd():
    prob = plw.get_problem("heat1d", n_points=36)
    run = plw.train(prob, "strong", model=ResidualBlockNet().double(), steps=(3, 0), progress=False, dtype=F64)
    _grid_vs_reference(run, F64, 1e-11)
    # the GPU's vmap path cannot take this module (SiLU's second derivative has no forward-mode rule in
    # torch): it falls back to autograd per parameter point, with a warning, and the numbers stay right
    run.net.vmap_on_cpu = True
    with pytest.warns(RuntimeWarning, match="cannot be batched with torch.func.vmap"):
        _grid_vs_reference(run, F64, 1e-11)
    assert run.net.mode == "loop"


def test_hessian_of_a_module_run_matches_the_dense_hessian():
    prob = plw.get_problem("poisson1d", n_points=32)
    run = plw.train(
        prob, "deep_ritz", model=FourierFeatures(m=3, width=6, dtype=F64), steps=(5, 0), progress=False, dtype=F64
    )
    obj = run.objective(dtype=F64)
    H = torch.autograd.functional.hessian(lambda th: obj.loss(th[None])[0], run.params.double())
    want = torch.linalg.eigvalsh(H)
    got = plw.hessian_eigenpairs(run, 1, "both")
    assert abs(float(got.eigenvalue[0]) - float(want[-1])) < 1e-8 * float(want.abs().max())
    assert abs(float(got.eigenvalue[1]) - float(want[0])) < 1e-8 * float(want.abs().max())


def test_buffers_are_held_fixed_and_the_user_is_told():
    class Normed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(1, 8)
            self.bn = torch.nn.BatchNorm1d(8)
            self.out = torch.nn.Linear(8, 1)

        def forward(self, x):
            return self.out(torch.tanh(self.bn(self.lin(x))))

    m = Normed()
    m.bn.running_mean.fill_(0.3)
    with pytest.warns(UserWarning, match=r"buffers .* held at their current values.*\(bn\).*eval mode"):
        run = plw.train("poisson1d", "strong", model=m, steps=(2, 0), progress=False, coefficients=dict(n_points=16))
    # theta spans the weights only; the running statistics are not parameters and stay as they were
    assert run.n_params == sum(p.numel() for p in m.parameters())
    assert float(run.net.fixed["bn.running_mean"][0]) == pytest.approx(0.3)


# --- from_model ------------------------------------------------------------------------------------------------


def _poisson_losses(dtype):
    x = torch.linspace(0, 1, 40, dtype=dtype)[:, None]
    f = math.pi**2 * torch.sin(math.pi * x[:, 0])
    xb = torch.tensor([[0.0], [1.0]], dtype=dtype)

    def strong(model):
        xx = x.clone().requires_grad_(True)
        u = model(xx)[:, 0]
        ux = torch.autograd.grad(u.sum(), xx, create_graph=True)[0][:, 0]
        uxx = torch.autograd.grad(ux.sum(), xx, create_graph=True)[0][:, 0]
        return {"residual": ((uxx + f) ** 2).mean(), "boundary": 10 * (model(xb) ** 2).mean()}

    def energy(model):
        xx = x.clone().requires_grad_(True)
        u = model(xx)[:, 0]
        ux = torch.autograd.grad(u.sum(), xx, create_graph=True)[0][:, 0]
        return (0.5 * ux**2 - f * u).mean() + 100 * (model(xb) ** 2).mean()

    return x, strong, energy


def _model(dtype, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(1, 10), torch.nn.Tanh(), torch.nn.Linear(10, 10), torch.nn.Tanh(), torch.nn.Linear(10, 1)
    ).to(dtype)


@pytest.mark.parametrize("dtype,rtol", [(torch.float32, 1e-6), (F64, 1e-12)], ids=["f32", "f64"])
def test_from_model_grid_equals_the_loss_on_a_copy_of_the_module(dtype, rtol):
    x, strong, energy = _poisson_losses(dtype)
    model = _model(dtype)
    run = plw.from_model(
        model, {"strong": strong, "energy": energy}, points=x, exact=lambda p: torch.sin(math.pi * p[:, 0])
    )
    assert run.formulations == ["strong", "energy"] and run.dtype == dtype
    dirs = plw.random_directions(run, 2, seed=1)
    ds = plw.landscape(run, dirs, span=0.4, resolution=3, progress=False)
    # the user's call and the grid run the same arithmetic on different thread counts (torch's GEMMs may
    # round differently then, by CPU): equal within rounding, never asserted bit for bit
    centre = {k: v.detach() for k, v in strong(model).items()}
    assert float(ds.loss_residual.sel(alpha=0.0, beta=0.0)) == pytest.approx(float(centre["residual"]), rel=rtol)
    assert float(ds.loss.sel(alpha=0.0, beta=0.0)) == pytest.approx(
        float(centre["residual"] + centre["boundary"]), rel=rtol
    )
    copy = _model(dtype, seed=5)  # the independent evaluation: parameters written into another module
    for i, a in enumerate(ds.alpha.values):
        for j, b in enumerate(ds.beta.values):
            theta = run.params + float(a) * dirs.vectors[0] + float(b) * dirs.vectors[1]
            torch.nn.utils.vector_to_parameters(theta, copy.parameters())
            want = strong(copy)
            for term in ("residual", "boundary"):
                got = float(ds[f"loss_{term}"].values[i, j])
                assert abs(got - float(want[term])) <= rtol * abs(float(want[term])), (term, a, b)
            u = copy(x).detach()[:, 0]
            ex = torch.sin(math.pi * x[:, 0])
            assert float(ds.rel_l2_error.values[i, j]) == pytest.approx(
                float(torch.linalg.norm(u - ex) / torch.linalg.norm(ex)), rel=10 * rtol
            )
    e = plw.landscape(run, dirs, span=0.4, resolution=3, formulation="energy", progress=False)
    assert float(e.loss.sel(alpha=0.0, beta=0.0)) == pytest.approx(float(energy(model)), rel=rtol, abs=rtol)


def test_from_model_hessian_matches_dense_autograd_hessian():
    x, strong, _ = _poisson_losses(F64)
    model = _model(F64)
    run = plw.from_model(model, strong)
    flat = run.params.clone()

    def loss_at(theta):
        return sum(run.objective().terms(theta[None]).values())[0]

    H = torch.autograd.functional.hessian(loss_at, flat)
    evals, evecs = torch.linalg.eigh(H)
    got = plw.hessian_eigenpairs(run, 2, "largest")
    for k in range(2):
        assert abs(float(got.eigenvalue[k]) - float(evals[-1 - k])) <= 1e-8 * float(evals.abs().max())
    v = torch.as_tensor(got.eigenvector.values[0])
    assert abs(float(v @ evecs[:, -1])) == pytest.approx(1.0, abs=1e-8)
    # H v by the operator equals the dense product
    op = plw.HessianOperator(run)
    w = torch.randn(flat.numel(), dtype=F64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(op.matvec(w), H @ w, rtol=1e-9, atol=1e-9)


def test_a_recorder_made_run_gives_the_same_pca_plane_as_train():
    trained = plw.train(
        "poisson1d",
        "strong",
        width=10,
        depth=2,
        steps=(60, 0),
        record_every=5,
        progress=False,
        dtype=F64,
        coefficients=dict(n_points=40),
    )
    module = trained.model_at(trained.trajectory[0]).net  # the plain Sequential inside the PINN model
    rec = plw.Recorder(module, every=5)
    final = trained.trajectory_steps[-1]
    for step in range(1, final + 1):  # replay the run's parameters into a loop of our own
        if step in trained.trajectory_steps:
            k = trained.trajectory_steps.index(step)
            torch.nn.utils.vector_to_parameters(trained.trajectory[k], module.parameters())
        rec.step(loss=float(trained.history.loss[step - 1]))
    run = plw.from_model(module, lambda m: (m(torch.rand(4, 1, dtype=F64)) ** 2).mean(), recorder=rec)
    assert run.trajectory_steps == trained.trajectory_steps
    torch.testing.assert_close(run.trajectory, trained.trajectory)
    a, b = plw.pca_directions(trained), plw.pca_directions(run)
    torch.testing.assert_close(a.vectors, b.vectors, rtol=1e-12, atol=1e-12)
    assert a.attrs["explained_variance_ratio"] == pytest.approx(b.attrs["explained_variance_ratio"], rel=1e-12)
    np.testing.assert_allclose(run.history.loss.values[:-1], trained.history.loss.values[:final], rtol=0)


def test_recorder_memory_stays_bounded_and_evenly_spaced(tmp_path):
    model = _model(torch.float32)
    rec = plw.Recorder(model, every=1, max_snapshots=8)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    for _ in range(100):
        opt.zero_grad()
        loss = (model(torch.ones(3, 1)) ** 2).mean()
        loss.backward()
        opt.step()
        rec.step(loss=loss)
    steps = rec.snapshot_steps
    assert len(steps) <= 8 and steps[0] == 0
    assert len(set(np.diff(steps))) == 1  # evenly spaced
    traj, tsteps = rec.finish()
    assert tsteps[-1] == 100 and torch.equal(traj[-1], torch.nn.utils.parameters_to_vector(model.parameters()).double())
    spill = plw.Recorder(model, every=10, spill_to=tmp_path / "traj.bin")
    for _ in range(50):
        spill.step(loss=1.0)
    assert (
        spill.trajectory.shape == (6, rec.n_params) and (tmp_path / "traj.bin").stat().st_size == 6 * rec.n_params * 8
    )
    assert len(rec.history().step) == 100


def test_trainable_selects_which_parameters_span_the_landscape():
    x, strong, _ = _poisson_losses(F64)
    model = _model(F64)
    with pytest.warns(UserWarning, match=r"unselected parameters are held at their current values \(0, 2\)"):
        run = plw.from_model(model, strong, trainable=lambda name, p: name.startswith("4."))  # the output layer only
    assert run.n_params == 11
    ds = plw.landscape(run, resolution=3, progress=False)
    centre = sum(strong(model).values()).detach()
    assert float(ds.loss.sel(alpha=0.0, beta=0.0)) == pytest.approx(float(centre), rel=1e-12)
    with pytest.raises(ValueError, match="trainable selects no parameters of the model"):
        plw.from_model(model, strong, trainable=lambda name, p: False)
    with pytest.raises(ValueError, match=r"trainable names \['nope'\] are not float parameters of the model"):
        plw.from_model(model, strong, trainable=["nope"])


def _output_layer(name, p):
    return name.startswith("4.")


def test_the_old_keyword_params_warns_and_selects_the_same_parameters():
    x, strong, _ = _poisson_losses(F64)
    model = _model(F64)
    with pytest.warns(UserWarning, match="unselected parameters"):
        new = plw.from_model(model, strong, trainable=_output_layer)
    with pytest.warns(FutureWarning, match=r"from_model\(params=\.\.\.\) is deprecated .* use trainable= instead"):
        old = plw.from_model(model, strong, params=_output_layer)
    assert old.n_params == new.n_params == 11 and torch.equal(old.params, new.params)
    # a point off theta*: the output layer moved, written into a copy of the model by hand
    theta = new.params + 0.05 * torch.arange(11, dtype=F64)
    copy = _model(F64)
    copy.load_state_dict(model.state_dict())
    with torch.no_grad():
        copy[4].weight.copy_(theta[:10].reshape(1, 10))
        copy[4].bias.copy_(theta[10:])
    want = float(sum(strong(copy).values()))
    assert float(plw.evaluate(new, theta)["loss"][0]) == pytest.approx(want, rel=1e-12)
    assert float(plw.evaluate(old, theta)["loss"][0]) == float(plw.evaluate(new, theta)["loss"][0])
    with pytest.raises(TypeError, match=r"from_model\(\) got both params= \(the old name\) and trainable="):
        plw.from_model(model, strong, params=_output_layer, trainable=_output_layer)
    # both warnings point at the caller's line, not into the package
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plw.from_model(model, strong, params=_output_layer)
    assert sorted((w.category.__name__, w.filename) for w in caught) == [
        ("FutureWarning", __file__),
        ("UserWarning", __file__),
    ]

    # Recorder: the same rename, the same snapshots
    recs = [plw.Recorder(model, every=1, trainable=_output_layer)]
    with pytest.warns(FutureWarning, match=r"Recorder\(params=\.\.\.\) is deprecated .* use trainable= instead"):
        recs.append(plw.Recorder(model, every=1, params=_output_layer))
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        loss = sum(strong(model).values())
        loss.backward()
        opt.step()
        for rec in recs:
            rec.step(loss=loss)
    new_traj, old_traj = recs[0].finish()[0], recs[1].finish()[0]
    assert new_traj.shape == (4, 11) and torch.equal(new_traj, old_traj)
    assert torch.equal(new_traj[-1, :10], model[4].weight.detach().reshape(-1))
    run = plw.from_model(model, strong, trainable=_output_layer, recorder=recs[1])  # same selection: accepted
    assert torch.equal(run.trajectory, new_traj)


def test_device_and_dtype_default_to_the_models_and_come_after_the_other_keywords():
    import inspect

    x, strong, _ = _poisson_losses(F64)
    model = _model(F64)
    run = plw.from_model(model, strong)
    assert run.device == next(model.parameters()).device and run.dtype == F64
    assert run.objective().device == run.device
    problem_run = plw.from_model(_model(F64), "poisson1d")
    assert problem_run.device == torch.device("cpu") and problem_run.dtype == F64
    for fn in (plw.from_model, plw.train, plw.adapters.from_deepxde, plw.adapters.from_pina, plw.evaluate):
        params = inspect.signature(fn).parameters
        if "device" not in params:
            continue
        names = list(params)
        assert names.index("device") + 1 == names.index("dtype"), fn.__name__
        for name in ("device", "dtype"):
            assert params[name].kind is inspect.Parameter.KEYWORD_ONLY and params[name].default is None, (fn, name)


def test_train_makes_float32_networks_on_cuda_when_present_else_the_cpu():
    want = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    runs = [
        plw.train("poisson1d", steps=0, width=4, depth=1, progress=False, problem_params=dict(n_points=16)),
        plw.train(
            "poisson1d", steps=0, width=4, depth=1, progress=False, problem_params=dict(n_points=16), device="auto"
        ),
    ]
    for run in runs:
        assert run.device == want and run.dtype == torch.float32 and run.params.dtype == torch.float32
    assert torch.equal(runs[0].params.cpu(), runs[1].params.cpu())
    # the initialisation in float32: Glorot-normal draws in float64, rounded
    assert torch.equal(runs[0].params.cpu(), MLP(1, 4, 1).init(0, dtype=torch.float64).float())


def test_a_nan_loss_at_some_points_is_nan_in_the_grid():
    model = _model(F64)

    def loss(m):
        w = m[4].weight
        return torch.where(w.sum() > 0, torch.nan, 1.0) + (m(torch.ones(2, 1, dtype=F64)) ** 2).sum()

    run = plw.from_model(model, loss)
    d = torch.zeros(2, run.n_params, dtype=F64)
    d[0, -11:-1] = 1.0  # alpha moves the output weights' sum through zero
    d[1, 0] = 1.0
    s = float(model[4].weight.sum())
    ds = plw.landscape(run, d, span=(-abs(s) - 1, abs(s) + 1), resolution=5, progress=False)
    assert np.isnan(ds.loss.values).any() and np.isfinite(ds.loss.values).any()


@pytest.mark.parametrize(
    "loss,match",
    [
        (lambda m: m(torch.ones(3, 1, dtype=F64)), r"loss 'loss': term 'total' must be a scalar, got shape \(3, 1\)"),
        (
            lambda m: 3.0,
            r"loss 'loss' must return a scalar tensor or a non-empty dict of named scalar tensors, got float",
        ),
        (
            lambda m: m(torch.ones(1, 1, dtype=F64)).sum().detach(),
            r"loss 'loss' has no gradient path to the model's parameters",
        ),
        (lambda m: {1: m(torch.ones(1, 1, dtype=F64)).sum()}, r"returned a dict with key 1; keys must be strings"),
    ],
)
def test_bad_losses_are_clear_errors(loss, match):
    with pytest.raises(ValueError, match=match):
        plw.from_model(_model(F64), loss)


def test_other_bad_input_is_a_clear_error():
    class NoParams(torch.nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(ValueError, match="the model has no float parameters"):
        plw.from_model(NoParams(), lambda m: m(torch.ones(1)).sum())
    with pytest.raises(ValueError, match="model must be a torch.nn.Module, got str"):
        plw.from_model("net", lambda m: 0)
    a, b = _model(F64), _model(F64, seed=1)
    rec = plw.Recorder(a)
    with pytest.raises(ValueError, match="recorder was made for a different model"):
        plw.from_model(b, lambda m: (m(torch.ones(1, 1, dtype=F64)) ** 2).sum(), recorder=rec)
    a[0] = torch.nn.Linear(1, 10).double()  # parameters replaced under the recorder
    with pytest.raises(ValueError, match="the model's parameters are not the ones this Recorder was made for"):
        rec.step(loss=1.0)
    with pytest.raises(ValueError, match="Recorder.step: loss must be a scalar"):
        plw.Recorder(b).step(loss=torch.ones(3))


def test_a_custom_landscape_round_trips_through_netcdf(tmp_path):
    x, strong, _ = _poisson_losses(F64)
    run = plw.from_model(_model(F64), strong, points=x, exact=lambda p: torch.sin(math.pi * p[:, 0]))
    ds = plw.landscape(run, resolution=5, progress=False)
    ds.to_netcdf(tmp_path / "c.nc")
    import xarray as xr

    back = xr.load_dataset(tmp_path / "c.nc")
    xr.testing.assert_identical(back, ds)
    assert ds.attrs["formulation"] == "loss" and ds.attrs["problem"] == "model"
    snap = plw.solution_snapshot(run, resolution=11)
    np.testing.assert_allclose(snap.u_exact.values, np.sin(math.pi * snap.x.values), atol=1e-12)
