"""The batched jet kernels against autograd on the plain torch module: every activation, classic and
arbitrary derivative sets (single partials, mixed partials, weighted combinations), one or several outputs."""

import pytest
import torch

from pinn_landscape_widget.engine.mlp import ACTIVATIONS, MLP, reused_buffers
from pinn_landscape_widget.pde.derivatives import JetSpec, SecondOrder


def autograd_derivatives(net, theta, x):
    """Per output k: value [N], gradient [d, N] and Hessian [d, d, N] of the reference module (float64)."""
    model = net.module(theta.double())
    x = x.double().clone().requires_grad_(True)
    out = model(x)
    res = []
    for k in range(out.shape[1]):
        u = out[:, k]
        g = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
        H = torch.stack(
            [torch.autograd.grad(g[:, i].sum(), x, retain_graph=True)[0].T for i in range(x.shape[1])]
        )  # [i, j, N]
        res.append((u.detach(), g.detach().T, H.detach()))
    return res


def expected_channels(spec, u, g, H):
    chans = [u] + [g[i] for i in spec.first]
    for form in spec.second:
        chans.append(sum(c * H[i, j] for i, j, c in form.terms))
    return chans


def _params(net, K, seed, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    base = net.init(seed, dtype=dtype)
    # biases away from zero and a spread of weight scales, so saturated and linear units both occur
    return torch.stack([base * (0.5 + k) + 0.3 * torch.randn(base.shape, generator=gen, dtype=dtype) for k in range(K)])


def _specs(d):
    specs = [JetSpec.classic(d, o) for o in (0, 1, 2)]
    if d >= 2:
        specs += [
            JetSpec.build(d, [1], [SecondOrder.partial(0, 0)]),  # u_t and u_xx (heat)
            JetSpec.build(d, [], [SecondOrder.partial(0, 1)]),  # u_xt alone (its first partials come along)
            JetSpec.build(d, [0], [SecondOrder.partial(0, 0), SecondOrder.partial(1, 1), SecondOrder.partial(0, 1)]),
            JetSpec.build(d, [], [SecondOrder(((0, 0, 2.0), (0, 1, -1.5)))]),  # a weighted combination
            JetSpec.build(d, [d - 1], []),  # one first partial only
        ]
    return specs


def _check(jet, spec, ref, rtol):
    for k_out, per_point in enumerate(ref):
        for k, (u, g, H) in enumerate(per_point):
            want = expected_channels(spec, u, g, H)
            got = jet.parts[k_out]
            assert len(got) == spec.n_channels
            for c, w in enumerate(want):
                torch.testing.assert_close(
                    got[c][k].double(), w, rtol=rtol, atol=rtol, msg=f"output {k_out} channel {c}"
                )


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("d", [1, 2, 3, 4])  # 4: past the fused kernels' d <= 3, torch's path
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_in_place_and_differentiable_kernels_match_autograd(activation, d, depth, kernels):
    net = MLP(in_dim=d, width=9, depth=depth, activation=activation)
    params = _params(net, 3, seed=d + depth)
    x = torch.rand(40, d, generator=torch.Generator().manual_seed(1)) * 2 - 1
    ref = [[r[0] for r in (autograd_derivatives(net, params[k], x) for k in range(3))]]
    for spec in _specs(d):
        with torch.no_grad():
            fast = net.jets(params, x, spec)  # the in-place kernel (the fused C one for tanh, classic specs)
        slow = net.jets(params, x, spec, functional=True)
        for jet in (fast, slow):
            _check(jet, spec, ref, 1e-4)


@pytest.mark.parametrize("activation", ["tanh", "sin"])
@pytest.mark.parametrize("out_dim", [2, 3])
def test_several_outputs_match_autograd(activation, out_dim):
    net = MLP(in_dim=2, width=10, depth=2, activation=activation, out_dim=out_dim)
    params = _params(net, 2, seed=out_dim, dtype=torch.float64)
    x = torch.rand(25, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    per = [autograd_derivatives(net, params[k], x) for k in range(2)]
    ref = [[per[k][o] for k in range(2)] for o in range(out_dim)]
    for spec in _specs(2):
        with torch.no_grad():
            fast = net.jets(params, x, spec)
        slow = net.jets(params, x, spec, functional=True)
        assert fast.n_outputs == slow.n_outputs == out_dim
        for jet in (fast, slow):
            _check(jet, spec, ref, 1e-10)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_float64_in_place_kernel_is_exact_to_rounding(activation):
    net = MLP(in_dim=1, width=16, depth=3, activation=activation)
    params = _params(net, 2, seed=5).double()
    x = torch.linspace(0, 1, 33, dtype=torch.float64)[:, None]
    with torch.no_grad():
        jet = net.jets(params, x, 2)
    ref = [[r[0] for r in (autograd_derivatives(net, params[k], x) for k in range(2))]]
    _check(jet, JetSpec.classic(1, 2), ref, 1e-10)


def test_fused_kernel_equals_the_general_path_it_replaces(kernels):
    """The fused C kernel (classic specs, float32 tanh) and the general torch kernel agree to float32
    rounding on the same inputs (the general path computes what a non-classic spec would)."""
    net = MLP(in_dim=2, width=20, depth=3, activation="tanh")
    params = _params(net, 4, seed=9)
    x = torch.rand(64, 2, generator=torch.Generator().manual_seed(2))
    spec = JetSpec.classic(2, 2)
    with torch.no_grad():
        fast = net.jets(params, x, spec)
        # the same channels in another order are not classic: the general in-place kernel computes them
        general = net.jets(params, x, JetSpec.build(2, [0, 1], [SecondOrder.laplacian(2), SecondOrder.partial(0, 1)]))
    for c in range(spec.n_channels):
        scale = float(general.parts[0][c].abs().max())  # float32 rounding relative to the channel's size
        torch.testing.assert_close(fast.parts[0][c], general.parts[0][c], rtol=1e-5, atol=1e-4 * scale)


def test_reused_buffers_give_identical_results_and_never_alias_them(kernels):
    """Inside reused_buffers the work arrays persist between calls: a second call, and calls with other
    shapes in between, must not change the first call's results or each other's."""
    net = MLP(in_dim=2, width=11, depth=3, activation="tanh")
    p1, p2 = _params(net, 4, seed=1), _params(net, 4, seed=2)
    x, xb = torch.rand(30, 2), torch.rand(7, 2)
    heat = JetSpec.build(2, [1], [SecondOrder.partial(0, 0)])
    with torch.no_grad():
        fresh1, fresh2, freshb, freshh = (
            net.jets(p1, x, 2),
            net.jets(p2, x, 2),
            net.jets(p1, xb, 0),
            net.jets(p1, x, heat),
        )
        with reused_buffers():
            a = net.jets(p1, x, 2)
            kept = [t.clone() for t in a.parts[0]]
            b = net.jets(p2, x, 2)
            c = net.jets(p1, xb, 0)
            h = net.jets(p1, x, heat)
            a2 = net.jets(p1, x, 2)
    pairs = (
        list(zip(a.parts[0], kept)) + list(zip(a.parts[0], fresh1.parts[0])) + list(zip(b.parts[0], fresh2.parts[0]))
    )
    pairs += list(zip(c.parts[0], freshb.parts[0])) + list(zip(a2.parts[0], fresh1.parts[0]))
    pairs += list(zip(h.parts[0], freshh.parts[0]))
    for got, want in pairs:
        assert torch.equal(got, want)
    assert not torch.equal(a.parts[0][3], b.parts[0][3])
