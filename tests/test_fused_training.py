"""Training's fused step: the loss gradient from the engine's jets and the reverse sweep equals autograd's,
training with it ends where training with autograd does, and networks it cannot take fall back with a
reason."""

import math

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.engine import _native as native
from pinn_landscape_widget.engine.fused_loss import FusedLoss, fused_reason
from pinn_landscape_widget.engine.mlp import MLP
from pinn_landscape_widget.engine.objective import Objective

from .conftest import DEFINED, QUICK, VALUE_CASES, case_id


def _problem(name, kw):
    return DEFINED[name](**kw) if name in DEFINED else plw.get_problem(name, **kw)


def _theta(net, dtype, seed):
    """A parameter point away from the initialisation's zero biases (every term of the backward pass live)."""
    gen = torch.Generator().manual_seed(seed)
    theta = net.init(seed, dtype=torch.float64)
    return (theta + 0.2 * torch.randn(theta.shape, generator=gen, dtype=torch.float64)).to(dtype).contiguous()


def _autograd_gradient(problem, net, form, theta64):
    """The loss and its gradient by autograd through the differentiable jets, in float64."""
    obj = Objective(problem, net, form, "cpu", torch.float64)
    t = theta64.clone().requires_grad_(True)
    loss = obj.loss(t[None])[0]
    (g,) = torch.autograd.grad(loss, t)
    return float(loss.detach()), g


def _check(problem, form, dtype, activation="tanh", tol=None, out_dim=None):
    net = MLP(problem.dim, 12, 2, activation, out_dim=len(problem.unknowns))
    obj = Objective(problem, net, form, "cpu", dtype)
    assert fused_reason(obj) is None
    theta = _theta(net, dtype, 1)
    fused = FusedLoss(obj, theta)
    tol = tol or (1e-10 if dtype == torch.float64 else 1e-5)
    # twice, the parameters changed in place in between: the passes in C keep their arrays between steps
    for step in range(2):
        terms, loss, grad = fused()
        want_loss, want = _autograd_gradient(problem, net, form, theta.double())
        assert grad.dtype == dtype and grad.shape == theta.shape
        assert abs(float(loss) - want_loss) <= tol * abs(want_loss)
        assert math.isclose(sum(float(v) for v in terms.values()), float(loss), rel_tol=10 * tol)
        err = float((grad.double() - want).norm() / want.norm())
        assert err < tol, f"step {step}: relative gradient error {err:.2e} ({fused.method})"
        theta.add_(0.05 * torch.randn(theta.shape, generator=torch.Generator().manual_seed(step), dtype=dtype))
    return fused


@pytest.mark.parametrize("case", VALUE_CASES, ids=case_id)
def test_fused_gradient_equals_float64_autograd(case):
    name, kw, form = case
    fused = _check(_problem(name, kw), form, torch.float64)
    assert fused.method == "torch"


@pytest.mark.parametrize("case", VALUE_CASES, ids=case_id)
def test_fused_gradient_in_float32_equals_float64_autograd(case):
    name, kw, form = case
    fused = _check(_problem(name, kw), form, torch.float32)
    # a tanh MLP in float32 on the CPU runs in C for every derivative set and number of outputs
    assert fused.method == ("C" if native.library() is not None else "torch")


@pytest.mark.parametrize(
    "case", [("poisson1d", dict(n_points=64), "strong"), ("poisson2d", dict(n_points=64), "deep_ritz")]
)
def test_fused_gradient_without_the_c_kernels(case, monkeypatch):
    """The pure-torch passes where the C library is off: the same gradient."""
    monkeypatch.setattr(native, "_LIB", None)
    monkeypatch.setattr(native, "_TRIED", True)
    name, kw, form = case
    fused = _check(_problem(name, kw), form, torch.float32)
    assert fused.method == "torch"


ACTIVATION_CASES = [("poisson1d", dict(n_points=64), "strong"), ("mixed", {}, "strong"), ("system", {}, "strong")]


@pytest.mark.parametrize("activation", ["sin", "gelu", "silu"])
@pytest.mark.parametrize("case", ACTIVATION_CASES[:1] if QUICK else ACTIVATION_CASES, ids=case_id)
def test_fused_gradient_of_every_activation(case, activation):
    name, kw, form = case
    _check(_problem(name, kw), form, torch.float64, activation)


def test_training_with_the_fused_step_ends_where_autograd_does():
    """Same steps, same start: the final losses agree to optimiser noise (float32 sums in another order)."""
    kw = dict(width=16, depth=2, steps=(150, 30), progress=False, coefficients=dict(n_points=128))
    fused = plw.train("poisson1d", "strong", **kw)
    ref = plw.train("poisson1d", "strong", gradient="autograd", **kw)
    assert fused.history.attrs["gradient"].startswith("fused")
    assert ref.history.attrs["gradient"].startswith("autograd")
    a, b = fused.history.loss.values, ref.history.loss.values
    assert len(a) == len(b) == 181
    assert a[-1] < 1e-2 * a[0]  # it trained
    assert abs(a[-1] - b[-1]) <= 0.05 * b[-1]
    # early on, before float32 differences grow, the curves are the same to rounding
    np.testing.assert_allclose(a[:20], b[:20], rtol=1e-4)


def test_training_a_defined_system_with_the_fused_step_ends_where_autograd_does():
    kw = dict(width=12, depth=2, optimizer="adam", steps=100, lr=3e-3, progress=False)
    problem = DEFINED["system"]()
    fused = plw.train(problem, "strong", **kw)
    ref = plw.train(problem, "strong", gradient="autograd", **kw)
    assert fused.history.attrs["gradient"] == "fused (torch)"
    a, b = fused.history.loss.values, ref.history.loss.values
    assert a[-1] < 0.5 * a[0]
    assert abs(a[-1] - b[-1]) <= 0.02 * b[-1]


class _Residual(torch.nn.Module):
    """A network the engine does not recognise as a plain MLP (a skip connection)."""

    def __init__(self):
        super().__init__()
        self.inp, self.hidden, self.out = torch.nn.Linear(1, 8), torch.nn.Linear(8, 8), torch.nn.Linear(8, 1)

    def forward(self, x):
        h = torch.tanh(self.inp(x))
        return self.out(h + torch.tanh(self.hidden(h)))


def test_an_unrecognised_network_falls_back_to_autograd_with_its_reason():
    torch.manual_seed(0)
    run = plw.train(
        "poisson1d", "strong", model=_Residual(), optimizer="adam", steps=30, lr=1e-2, progress=False,
        coefficients=dict(n_points=32),
    )  # fmt: skip
    how = run.history.attrs["gradient"]
    assert how.startswith("autograd: ") and "not a plain MLP" in how and "\n" not in how
    assert run.history.loss.values[-1] < run.history.loss.values[0]
    with pytest.raises(ValueError, match="FusedLoss: the network"):
        FusedLoss(run.objective(), run.params.clone())


def test_a_recognised_sequential_runs_fused():
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    run = plw.train("poisson1d", "strong", model=seq, optimizer="adam", steps=5, progress=False)
    assert run.history.attrs["gradient"] == f"fused ({'C' if native.library() is not None else 'torch'})"


def test_gradient_argument_is_checked():
    with pytest.raises(ValueError, match=r"gradient must be one of \['auto', 'autograd'\], got 'fast'"):
        plw.train("poisson1d", steps=1, gradient="fast", progress=False)


def test_the_error_is_computed_at_the_recorded_steps_only():
    run = plw.train(
        "poisson1d", "strong", width=8, depth=2, optimizer="adam", steps=25, record_every=10, progress=False,
        coefficients=dict(n_points=32),
    )  # fmt: skip
    err = run.history.rel_l2_error.values
    assert run.trajectory_steps == [0, 10, 20, 25]
    recorded = set(run.trajectory_steps)
    for step, e in enumerate(err):
        assert np.isfinite(e) == (step in recorded), step
    obj = run.objective()
    for k, step in enumerate(run.trajectory_steps):
        want = float(obj.rel_l2_error(run.trajectory[k][None])[0])
        assert math.isclose(err[step], want, rel_tol=1e-5)
