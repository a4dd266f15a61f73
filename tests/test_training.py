"""Training: convergence of the default runs, reproducibility, trajectory and history, divergence."""

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.engine.fused_loss import FusedLoss


@pytest.mark.slow  # the default network and budget (10-25 s each)
@pytest.mark.parametrize("formulation", ["strong", "deep_ritz"])
def test_default_poisson1d_run_reaches_one_percent_error(formulation):
    run = plw.train("poisson1d", formulation, progress=False, device="cpu")
    assert run.net.width == 50 and run.net.depth == 3 and run.problem.n_points == 1000
    assert float(run.history.rel_l2_error[-1]) < 1e-2
    # the recorded error is the error of the returned parameters, checked against the exact solution
    x = torch.linspace(0, 1, 2001, dtype=torch.float64)[:, None]
    u = run.model_at(run.params.double())(x).detach()
    ustar = run.problem.exact(x)
    assert float(torch.linalg.norm(u - ustar) / torch.linalg.norm(ustar)) < 1e-2


def test_same_seed_same_numbers_and_different_seed_differs():
    kw = dict(width=10, depth=2, steps=(20, 5), progress=False, device="cpu")
    a = plw.train("poisson1d", "strong", seed=7, **kw)
    b = plw.train("poisson1d", "strong", seed=7, **kw)
    c = plw.train("poisson1d", "strong", seed=8, **kw)
    assert torch.equal(a.params, b.params) and torch.equal(a.trajectory, b.trajectory)
    np.testing.assert_array_equal(a.history.loss.values, b.history.loss.values)
    assert not torch.equal(a.params, c.params)


def test_trajectory_starts_at_init_and_ends_at_solution():
    run = plw.train("poisson1d", "deep_ritz", width=10, depth=2, steps=(25, 0), record_every=10, progress=False, seed=3)
    assert run.trajectory_steps == [0, 10, 20, 25]
    assert torch.equal(run.trajectory[0], run.net.init(3))
    assert torch.equal(run.trajectory[-1], run.params)
    assert run.trajectory.shape == (4, run.n_params)


def test_history_records_every_step_with_terms_and_final_state():
    run = plw.train(
        "poisson1d",
        "strong",
        width=10,
        depth=2,
        steps=(12, 3),
        progress=False,
        coefficients=dict(boundary="penalty", n_points=100),
    )
    h = run.history
    assert list(h.step.values) == list(range(16))
    for name in ("loss", "loss_residual", "loss_boundary", "rel_l2_error"):
        assert np.isfinite(h[name].values).all(), name
    np.testing.assert_allclose(h.loss.values, h.loss_residual.values + h.loss_boundary.values, rtol=1e-5)
    # the last entry is the returned parameters' loss, as evaluate() gives it
    assert float(h.loss[-1]) == float(plw.evaluate(run, run.params)["loss"][0])
    # Adam's first entry is the loss at initialization
    assert abs(float(h.loss[0]) - float(plw.evaluate(run, run.trajectory[0])["loss"][0])) < 1e-5 * float(h.loss[0])


@pytest.mark.parametrize("optimizer,steps", [("adam", 30), ("lbfgs", 10), ("adam+lbfgs", (20, 10))])
def test_each_optimizer_lowers_the_loss(optimizer, steps):
    run = plw.train(
        "poisson1d",
        "strong",
        width=10,
        depth=2,
        optimizer=optimizer,
        steps=steps,
        lr=1e-2,
        progress=False,
        coefficients=dict(n_points=100),
    )
    assert float(run.history.loss[-1]) < 0.5 * float(run.history.loss[0])


def test_convection_small_beta_trains():
    run = plw.train(
        "convection1d",
        "strong",
        width=20,
        depth=3,
        steps=(300, 100),
        lr=3e-3,
        progress=False,
        coefficients=dict(beta=1.0, n_points=400),
    )
    assert float(run.history.rel_l2_error[-1]) < 0.2


# an overflowing rate (the loss becomes inf) on both gradients; and lr=1e6, where autograd's gradient through
# GELU's jets turns NaN at huge arguments and the parameters become non-finite (the fused step's stays
# finite there: that loss grows to ~1e27 without overflowing)
@pytest.mark.parametrize("gradient,lr", [("auto", 1e9), ("autograd", 1e9), ("autograd", 1e6)])
def test_divergence_stops_with_message_and_keeps_trajectory(gradient, lr):
    with pytest.warns(RuntimeWarning, match="training diverged at step"):
        run = plw.train(
            "poisson1d",
            "strong",
            width=10,
            depth=2,
            activation="gelu",
            optimizer="adam",
            steps=200,
            lr=lr,
            record_every=1,
            progress=False,
            coefficients=dict(n_points=50),
            gradient=gradient,
        )
    assert run.diverged and "diverged" in run.message
    assert torch.isfinite(run.params).all()
    assert torch.isfinite(run.trajectory).all()
    assert run.trajectory_steps[-1] < 200
    assert np.isfinite(run.history.loss.values).all()
    assert len(run.history.step) == run.trajectory_steps[-1] + 1
    assert torch.equal(run.trajectory[-1], run.params)
    # the kept parameters are the last state whose loss was finite, and the history says so
    # (through training's own kernel: at ~1e27 the float32 sums of the grid kernel differ by ~1%)
    if gradient == "autograd":
        theta = run.params.clone().requires_grad_(True)
        assert float(run.history.loss[-1]) == float(run.objective().loss(theta[None])[0])
    else:
        assert float(run.history.loss[-1]) == float(FusedLoss(run.objective(), run.params.clone())()[1])


def test_deep_ritz_on_convection_is_a_clear_error():
    with pytest.raises(
        ValueError,
        match=r"formulation 'deep_ritz' needs an energy functional and problem "
        r"'convection1d' has none; allowed formulations for it: \['strong'\]",
    ):
        plw.train("convection1d", "deep_ritz", progress=False)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(formulation="weak"), r"formulation must be one of \['strong', 'deep_ritz'\], got 'weak'"),
        (dict(activation="relu"), r"activation must be one of \['tanh', 'sin', 'gelu', 'silu'\], got 'relu'"),
        (dict(optimizer="sgd"), r"optimizer must be one of \['adam', 'lbfgs', 'adam\+lbfgs'\], got 'sgd'"),
        (dict(lr=0.0), r"lr must be a finite number > 0, got 0.0"),
        (dict(steps=-1), r"steps must be an integer in \[0, "),
        (dict(width=0), r"width must be an integer in \[1, 4096\], got 0"),
        (dict(device="tpu"), r"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'tpu'"),
        (dict(dtype=torch.float16), r"dtype must be torch.float32 or torch.float64"),
        (dict(optimizer="adam", steps=(1, 2)), r"steps may be a pair"),
    ],
)
def test_bad_training_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plw.train("poisson1d", progress=False, **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised when no GPU is present")
def test_missing_cuda_device_is_a_clear_error():
    with pytest.raises(ValueError, match=r"device 'cuda' was requested but no CUDA device is available"):
        plw.train("poisson1d", device="cuda", progress=False)


def test_model_at_includes_the_hard_ansatz():
    run = plw.train("poisson1d", "strong", width=8, depth=1, steps=3, progress=False)
    m = run.model_at(run.params)
    assert float(m(torch.tensor([[0.0], [1.0]])).abs().max()) < 1e-6
    with pytest.raises(ValueError, match=r"params must have shape \["):
        run.model_at(run.params[:-1])


def test_flat_adam_follows_torch_adam():
    """training's Adam (no torch.optim: its first use imports torch._dynamo) takes torch.optim.Adam's steps."""
    from pinn_landscape_widget.models._adam import FlatAdam

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(40, 40, generator=gen, dtype=torch.float64)
    target = torch.randn(40, generator=gen, dtype=torch.float64)

    def loss(theta):  # a rough quadratic with a quartic term: gradients change sign along the way
        r = a @ theta - target
        return (r**2).sum() + 0.1 * (theta**4).sum()

    start = torch.randn(40, generator=gen, dtype=torch.float64)
    ours, ref = start.clone().requires_grad_(True), start.clone().requires_grad_(True)
    flat, opt = FlatAdam(ours, lr=3e-2), torch.optim.Adam([ref], lr=3e-2)
    for _ in range(50):
        for theta, o in ((ours, flat), (ref, opt)):
            o.zero_grad(set_to_none=True)
            loss(theta).backward()
            o.step()
    assert float((ref.detach() - start).norm()) > 0.5  # the parameters moved a long way
    torch.testing.assert_close(ours.detach(), ref.detach(), rtol=1e-12, atol=1e-12)
    flat.zero_grad()
    flat.step()  # no gradient: no step, as torch.optim
    torch.testing.assert_close(ours.detach(), ref.detach(), rtol=1e-12, atol=1e-12)
