"""The fused C kernels (engine/_native.py, csrc/jets.c): the whole network's jet against float64 autograd,
accurate over the whole float range, bit-identical wherever a point or a parameter row sits, and a failed
build falls back to torch with a warning. How the library is built, cached and loaded: test_native_build.py."""

import platform
import warnings

import pytest
import torch

from pinn_landscape_widget.engine import _native as native
from pinn_landscape_widget.engine.mlp import MLP


@pytest.fixture
def lib():
    out = native.library()
    assert out is not None, "the fused C kernels did not build"
    return out


def _reference(net: MLP, params: torch.Tensor, x: torch.Tensor, order: int):
    """The output jet in float64 by autograd, from the same float32 parameters and points."""
    out = []
    for theta in params.double():
        xs = x.double().clone().requires_grad_(True)
        u = net.module(theta)(xs)[:, 0]
        (g,) = torch.autograd.grad(u.sum(), xs, create_graph=True)
        chans = [u.detach(), *g.T.detach()]
        if order == 2:
            lap = sum(torch.autograd.grad(g[:, i].sum(), xs, retain_graph=True)[0][:, i] for i in range(x.shape[1]))
            chans.append(lap.detach())
        out.append(torch.stack(chans))
    return torch.stack(out)


@pytest.mark.parametrize(
    "d,order,depth,width",
    [
        (1, 2, 3, 50),
        (1, 1, 3, 50),
        (2, 2, 2, 13),
        (3, 1, 1, 7),
        (3, 2, 4, 6),
        (2, 1, 2, 50),
        (1, 2, 2, 12),
        (1, 1, 2, 12),
        (2, 1, 3, 24),
    ],
)
def test_the_whole_jet_matches_float64_autograd(lib, d, order, depth, width):
    """Value, input gradient and Laplacian of the network output, for widths that fill the register tiles
    exactly and widths that leave a remainder, at more points than a block, the last block partial."""
    net = MLP(d, width, depth, "tanh")
    gen = torch.Generator().manual_seed(d * 10 + depth)
    params = torch.stack([net.init(seed=s) for s in range(3)])
    params = params + 0.3 * torch.randn(params.shape, generator=gen)  # nonzero biases too
    x = torch.rand(301, d, generator=gen) * 2 - 1
    got = native.tanh_mlp(params, x, order, net.param_slices())
    ref = _reference(net, params, x, order)
    assert got.shape == ref.shape == (3, 1 + d + (order == 2), 301)
    scale = ref.abs().amax(dim=(0, 2), keepdim=True)  # per channel
    assert ((got.double() - ref).abs() <= 2e-6 * scale).all(), ((got.double() - ref).abs() / scale).max()


def _single_unit(bias: torch.Tensor, weight: float, x: float, order: int = 2):
    """A 1-1-1 network per parameter row with output weight 1: the output jet is one tanh unit's,
    a(y) with y = weight * x + bias, exactly as the kernel forms it."""
    net = MLP(1, 1, 1, "tanh")
    K = bias.numel()
    params = torch.zeros(K, net.n_params)
    (ws, bs, _), (wo, bo, _) = net.param_slices()
    params[:, ws] = weight
    params[:, bs] = bias[:, None]
    params[:, wo] = 1.0
    return native.tanh_mlp(params, torch.full((1, 1), x), order, net.param_slices())[:, :, 0]


def test_tanh_chain_rule_matches_float64_over_the_whole_range(lib):
    """tanh(z) and its derivatives from |z| = 1e-8 to 1e4 (saturation, the linear region, tiny z)."""
    mag = torch.logspace(-8, 4, 2000, dtype=torch.float64)
    z = torch.cat([mag, -mag]).float()
    out = _single_unit(z, 0.5, 0.0).double()  # y = 0 * 0.5 + z; dy/dx = 0.5
    t = torch.tanh(z.double())
    t1 = 1 - t * t
    torch.testing.assert_close(out[:, 0], t, rtol=0, atol=3e-7)
    # the derivative is formed from a in float32, (1 - a^2)/2: absolute error ~ float32's epsilon, large
    # relative error only where it is itself below ~1e-6 (saturated units), as in torch's path
    assert ((out[:, 1] - 0.5 * t1).abs() <= 3e-7 + 1e-6 * t1).all()
    ref_l = -2 * t * t1 * 0.25
    assert ((out[:, 2] - ref_l).abs() <= 3e-7 + 1e-6 * ref_l.abs()).all()


def test_infinities_saturate_and_nan_propagates(lib):
    bias = torch.tensor([float("inf"), float("-inf"), float("nan"), 200.0, -200.0, 0.0])
    out = _single_unit(bias, 0.5, 0.0)
    value, grad = out[:, 0], out[:, 1]
    assert value[0] == 1 and value[1] == -1 and torch.isnan(value[2]) and value[3] == 1 and value[4] == -1
    assert value[5] == 0 and grad[0] == 0 and grad[1] == 0 and grad[5] == 0.5


def test_values_do_not_depend_on_where_they_sit(lib):
    """The same parameter row at another row of a chunk of another size, and the same input point at
    another position among another number of points, give the same bits (padding, never a remainder)."""
    gen = torch.Generator().manual_seed(1)
    for d, order in [(1, 2), (2, 1), (3, 2)]:
        net = MLP(d, 50, 2, "tanh")
        theta = net.init(seed=3) + 0.2 * torch.randn(net.n_params, generator=gen)
        point = torch.rand(d, generator=gen)
        results = []
        for K, N, k, n in [(1, 1, 0, 0), (3, 17, 2, 16), (2, 40, 1, 5), (5, 1000, 3, 999), (4, 257, 0, 256)]:
            params = torch.randn(K, net.n_params, generator=gen) * 0.3
            x = torch.rand(N, d, generator=gen)
            params[k], x[n] = theta, point
            results.append(native.tanh_mlp(params, x, order, net.param_slices())[k, :, n])
        for r in results[1:]:
            assert torch.equal(r, results[0])


def test_a_failed_build_falls_back_to_torch_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.setattr(native, "_LIB", None)
    monkeypatch.setattr(native, "_TRIED", False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no cached build to find
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    with pytest.warns(native.NativeKernelsWarning, match="fast CPU path .* is off: the C compiler .*false"):
        assert native.library() is None
    params, x = torch.zeros(1, 10), torch.zeros(3, 1)
    assert not native.supports(params, x, 1, 2)
    assert not list(tmp_path.rglob("*.so"))


@pytest.mark.integration  # compiles the kernels for a baseline x86-64 CPU (the real compiler, ~30 s)
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="builds for a baseline x86-64 CPU")
def test_a_cpu_without_fused_multiply_add_uses_torch(monkeypatch, tmp_path):
    """Without an FMA instruction every fmaf is a libm call (~100x slower than torch): not used."""
    monkeypatch.setattr(native, "_LIB", None)
    monkeypatch.setattr(native, "_TRIED", False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(native, "FLAGS", [f if f != "-march=native" else "-march=x86-64" for f in native.FLAGS])
    with pytest.warns(RuntimeWarning, match="no fused multiply-add instruction"):
        assert native.library() is None
    assert not native.applies("tanh", "cpu", torch.float32, 1, 2)


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setattr(native, "_LIB", None)
    monkeypatch.setattr(native, "_TRIED", False)
    monkeypatch.setenv("PLW_NATIVE", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert native.library() is None


def test_the_build_is_cached(lib, monkeypatch):
    """A second process finds the built library by its key and runs no compiler build."""
    path = native._cached_path(native._find_compiler())
    assert path.is_file() and path.parent == native.kernel_dir()

    def no_build(*a, **k):
        raise AssertionError("compiled again")

    monkeypatch.setattr(native, "_compile", no_build)
    monkeypatch.setattr(native, "_LIB", None)
    monkeypatch.setattr(native, "_TRIED", False)
    assert native.library() is not None


def test_wrong_shapes_are_refused_before_reaching_c(lib):
    net = MLP(1, 5, 2, "tanh")
    layers = net.param_slices()
    params, x = torch.zeros(2, net.n_params), torch.zeros(7, 1)
    with pytest.raises(ValueError, match="does not fit input dimension 2"):
        native.tanh_mlp(params, torch.zeros(7, 2), 2, layers)
    with pytest.raises(ValueError, match=f"{net.n_params - 1} parameters"):
        native.tanh_mlp(params[:, :-1], x, 2, layers)
    with pytest.raises(ValueError, match="float32 CPU"):
        native.tanh_mlp(params.double(), x, 2, layers)
    with pytest.raises(ValueError, match="must be \\[K, P\\]"):
        native.tanh_mlp(params[0], x, 2, layers)
    with pytest.raises(ValueError, match="no fused kernel for input dimension 1 and order 3"):
        native.tanh_mlp(params, x, 3, layers)
    with pytest.raises(ValueError, match="at least one hidden layer"):
        native.tanh_mlp(params, x, 2, layers[-1:])


# ---- any jet: chosen partials, mixed second derivatives, several outputs (plw_tanh_mlp_jet) --------------


def _reference_jet(net: MLP, params: torch.Tensor, x: torch.Tensor, spec):
    """[K, m, C, N] in float64 by autograd: the value, the first partials spec.first and each second-order
    channel as its sum of coef * d^2 u / dx_i dx_j, computed one partial at a time."""
    out = []
    for theta in params.double():
        xs = x.double().clone().requires_grad_(True)
        u = net.module(theta)(xs)
        outputs = []
        for k in range(u.shape[1]):
            (g,) = torch.autograd.grad(u[:, k].sum(), xs, create_graph=True)
            chans = [u[:, k].detach(), *(g[:, i].detach() for i in spec.first)]
            for form in spec.second:
                q = torch.zeros(x.shape[0], dtype=torch.float64)
                for i, j, c in form.terms:
                    q = q + c * torch.autograd.grad(g[:, i].sum(), xs, retain_graph=True)[0][:, j].detach()
                chans.append(q)
            outputs.append(torch.stack(chans))
        out.append(torch.stack(outputs))
    return torch.stack(out)


def _specs():
    from pinn_landscape_widget.pde.derivatives import JetSpec, SecondOrder

    xx, tt, xt = SecondOrder.partial(0, 0), SecondOrder.partial(1, 1), SecondOrder.partial(0, 1)
    return [
        # (input dim, outputs, width, depth, spec): the built-in problems' shapes, and the odd ones
        (2, 1, 50, 3, JetSpec.build(2, (1,))),  # u_t (reaction)
        (2, 1, 50, 3, JetSpec.build(2, (1,), (xx,))),  # u_t, u_xx (heat, Burgers, Allen-Cahn)
        (2, 1, 13, 2, JetSpec.build(2, (0, 1), (tt, xx))),  # u_tt, u_xx (wave)
        (2, 3, 24, 3, JetSpec.classic(2, 2)),  # u, v, p with gradient and Laplacian (Kovasznay)
        (2, 2, 7, 1, JetSpec.build(2, (), (xt,))),  # a mixed partial only
        (3, 1, 6, 4, JetSpec.build(3, (2,), (SecondOrder(((0, 0, -0.5), (0, 2, 2.0))),))),  # coefficients
        (1, 2, 12, 2, JetSpec.classic(1, 2)),
    ]


@pytest.mark.parametrize("d,m,width,depth,spec", _specs())
def test_any_jet_matches_float64_autograd(lib, d, m, width, depth, spec):
    net = MLP(d, width, depth, "tanh", out_dim=m)
    assert native.jet_applies("tanh", "cpu", torch.float32, spec)
    gen = torch.Generator().manual_seed(width + depth)
    params = torch.stack([net.init(seed=s) for s in range(3)]) + 0.3 * torch.randn(3, net.n_params, generator=gen)
    x = torch.rand(301, d, generator=gen) * 2 - 1
    got = native.tanh_mlp_jet(params, x, spec, net.param_slices())
    ref = _reference_jet(net, params, x, spec)
    assert got.shape == ref.shape == (3, m, spec.n_channels, 301)
    scale = ref.abs().amax(dim=(0, 3), keepdim=True)  # per output and channel
    assert ((got.double() - ref).abs() <= 3e-6 * scale).all(), ((got.double() - ref).abs() / scale).max()
    # and through the network's jets, as the engine calls it
    jet = net.jets(params, x, spec)
    assert torch.equal(jet.value(m - 1), got[:, m - 1, 0])


def test_any_jet_equals_the_classic_kernel_bit_for_bit(lib):
    """For the value/gradient/Laplacian layout both kernels do the same operations in the same order."""
    from pinn_landscape_widget.pde.derivatives import JetSpec

    gen = torch.Generator().manual_seed(5)
    for d, order in [(1, 1), (1, 2), (2, 1), (2, 2), (3, 2)]:
        net = MLP(d, 50, 3, "tanh")
        params = torch.randn(2, net.n_params, generator=gen) * 0.3
        x = torch.rand(700, d, generator=gen)
        classic = native.tanh_mlp(params, x, order, net.param_slices())
        anyjet = native.tanh_mlp_jet(params, x, JetSpec.classic(d, order), net.param_slices())[:, 0]
        assert torch.equal(classic, anyjet)


def test_any_jet_values_do_not_depend_on_where_they_sit(lib):
    from pinn_landscape_widget.pde.derivatives import JetSpec, SecondOrder

    gen = torch.Generator().manual_seed(2)
    spec = JetSpec.build(2, (1,), (SecondOrder.partial(0, 0),))
    net = MLP(2, 50, 2, "tanh", out_dim=2)
    theta = net.init(seed=3) + 0.2 * torch.randn(net.n_params, generator=gen)
    point = torch.rand(2, generator=gen)
    results = []
    for K, N, k, n in [(1, 1, 0, 0), (3, 17, 2, 16), (5, 1000, 3, 999), (4, 257, 0, 256)]:
        params = torch.randn(K, net.n_params, generator=gen) * 0.3
        x = torch.rand(N, 2, generator=gen)
        params[k], x[n] = theta, point
        results.append(native.tanh_mlp_jet(params, x, spec, net.param_slices())[k, :, :, n])
    for r in results[1:]:
        assert torch.equal(r, results[0])


def test_any_jet_limits_go_to_torch(lib):
    from pinn_landscape_widget.pde.derivatives import JetSpec, SecondOrder

    assert not native.jet_applies("tanh", "cpu", torch.float32, JetSpec.build(2))  # values only
    assert not native.jet_applies("tanh", "cpu", torch.float64, JetSpec.classic(2, 2))
    four = tuple(SecondOrder.partial(i, j) for i, j in [(0, 0), (0, 1), (1, 1), (0, 2)])
    assert not native.jet_applies("tanh", "cpu", torch.float32, JetSpec.build(3, (), four))
    with pytest.raises(ValueError, match="float32 CPU"):
        net = MLP(2, 5, 2, "tanh")
        native.tanh_mlp_jet(torch.zeros(1, net.n_params, dtype=torch.float64), torch.zeros(3, 2), JetSpec.classic(2, 1),
                            net.param_slices())  # fmt: skip


@pytest.mark.parametrize("d,depth,width", [(2, 3, 50), (3, 2, 13), (2, 1, 7), (1, 2, 12), (2, 4, 6)])
def test_value_and_gradient_by_reverse_mode_match_float64_autograd(lib, d, depth, width):
    """plw_tanh_mlp_grad: the value bit-equal to the forward kernel's, the gradient to autograd, at more points
    than a block; and each point's numbers independent of its position and of the chunk."""
    net = MLP(d, width, depth, "tanh")
    gen = torch.Generator().manual_seed(d + 7 * depth)
    params = torch.stack([net.init(seed=s) for s in range(3)]) + 0.3 * torch.randn(3, net.n_params, generator=gen)
    x = torch.rand(301, d, generator=gen) * 2 - 1
    got = native.tanh_mlp_grad(params, x, net.param_slices())
    ref = _reference(net, params, x, 1)
    assert got.shape == ref.shape == (3, 1 + d, 301)
    scale = ref.abs().amax(dim=(0, 2), keepdim=True)
    assert ((got.double() - ref).abs() <= 2e-6 * scale).all(), ((got.double() - ref).abs() / scale).max()
    assert torch.equal(got[:, 0], native.tanh_mlp(params, x, 1, net.param_slices())[:, 0])
    again = native.tanh_mlp_grad(torch.cat([params[2:], params[:2]]), torch.cat([x[100:], x[:100]]), net.param_slices())
    assert torch.equal(again[0, :, :201], got[2, :, 100:])
