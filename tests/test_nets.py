"""The batched jet kernels against autograd on the plain torch module, for every activation."""

import pytest
import torch

from pinn_landscape_widget.engine.mlp import ACTIVATIONS, MLP, reused_buffers


def autograd_jet(net, theta, x):
    """Value, gradient [d, N] and Laplacian of the reference module at one parameter vector (float64)."""
    model = net.module(theta.double())
    x = x.double().clone().requires_grad_(True)
    u = model(x)[:, 0]
    g = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    lap = sum(torch.autograd.grad(g[:, k].sum(), x, retain_graph=True)[0][:, k] for k in range(x.shape[1]))
    return u.detach(), g.detach().T, lap.detach()


def _params(net, K, seed):
    gen = torch.Generator().manual_seed(seed)
    base = net.init(seed)
    # biases away from zero and a spread of weight scales, so saturated and linear units both occur
    return torch.stack([base * (0.5 + k) + 0.3 * torch.randn(base.shape, generator=gen) for k in range(K)])


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("d", [1, 2, 3, 4])  # 4: past the fused kernels' d <= 3, torch's path
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_in_place_and_differentiable_kernels_match_autograd(activation, d, depth, kernels):
    net = MLP(in_dim=d, width=9, depth=depth, activation=activation)
    params = _params(net, 3, seed=d + depth)
    x = torch.rand(40, d, generator=torch.Generator().manual_seed(1)) * 2 - 1
    ref = [autograd_jet(net, params[k], x) for k in range(3)]
    for order in (0, 1, 2):
        with torch.no_grad():
            fast = net.jets(params, x, order)  # the in-place kernel
        slow = net.jets(params, x, order, functional=True)
        for jet in (fast, slow):
            for k, (u, g, lap) in enumerate(ref):
                torch.testing.assert_close(jet.value[k].double(), u, rtol=1e-5, atol=1e-5)
                if order >= 1:
                    torch.testing.assert_close(jet.grad[k].double(), g, rtol=1e-5, atol=1e-5)
                else:
                    assert jet.grad is None
                if order >= 2:
                    torch.testing.assert_close(jet.lap[k].double(), lap, rtol=1e-4, atol=1e-4)
                else:
                    assert jet.lap is None


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_float64_in_place_kernel_is_exact_to_rounding(activation):
    net = MLP(in_dim=1, width=16, depth=3, activation=activation)
    params = _params(net, 2, seed=5).double()
    x = torch.linspace(0, 1, 33, dtype=torch.float64)[:, None]
    with torch.no_grad():
        jet = net.jets(params, x, 2)
    for k in range(2):
        u, g, lap = autograd_jet(net, params[k], x)
        torch.testing.assert_close(jet.value[k], u, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(jet.grad[k], g, rtol=1e-11, atol=1e-11)
        torch.testing.assert_close(jet.lap[k], lap, rtol=1e-10, atol=1e-10)


def test_reused_buffers_give_identical_results_and_never_alias_them(kernels):
    """Inside reused_buffers the work arrays persist between calls: a second call, and calls with other
    shapes in between, must not change the first call's results or each other's."""
    net = MLP(in_dim=2, width=11, depth=3, activation="tanh")
    p1, p2 = _params(net, 4, seed=1), _params(net, 4, seed=2)
    x, xb = torch.rand(30, 2), torch.rand(7, 2)
    with torch.no_grad():
        fresh1, fresh2, freshb = net.jets(p1, x, 2), net.jets(p2, x, 2), net.jets(p1, xb, 0)
        with reused_buffers():
            a = net.jets(p1, x, 2)
            kept = a.value.clone(), a.grad.clone(), a.lap.clone()
            b = net.jets(p2, x, 2)
            c = net.jets(p1, xb, 0)
            a2 = net.jets(p1, x, 2)
    for got, want in [
        (a.value, kept[0]),
        (a.grad, kept[1]),
        (a.lap, kept[2]),
        (a.value, fresh1.value),
        (a.lap, fresh1.lap),
        (b.lap, fresh2.lap),
        (b.grad, fresh2.grad),
        (c.value, freshb.value),
        (a2.lap, fresh1.lap),
    ]:
        assert torch.equal(got, want)
    assert not torch.equal(a.lap, b.lap)
