"""The fused C kernels (native.py, _native/jets.c): accurate over the whole float range, bit-identical
wherever a value sits in an array, and a failed build falls back to torch with a warning."""

import warnings

import pytest
import torch

from pinn_landscape_widget import native


@pytest.fixture
def lib():
    out = native.library()
    assert out is not None, "the fused C kernels did not build"
    return out


def _hidden(y: torch.Tensor, g: torch.Tensor, lap: torch.Tensor, bias: torch.Tensor):
    """Run one hidden tanh layer (order 2, d = 1) on values given as [K, N, W] (points, then units) and
    return them the same way; the kernel's layout is unit-major, h [K, W, C, N]."""
    h = torch.stack([y, g, lap], 1).permute(0, 3, 1, 2).contiguous()
    native.tanh_layer(h, bias.contiguous(), 1, 2)
    return tuple(h[:, :, c].transpose(1, 2) for c in range(3))


def test_tanh_chain_rule_matches_float64_over_the_whole_range(lib):
    """a = tanh(y / 2) with a' = (1 - a^2)/2, from -1e4 to 1e4 (saturation, the linear region, tiny y)."""
    K, N, W = 2, 41, 50
    gen = torch.Generator().manual_seed(0)
    mag = torch.logspace(-8, 4, K * N * W // 2, dtype=torch.float64)
    y = torch.cat([mag, -mag])[torch.randperm(K * N * W, generator=gen)].reshape(K, N, W).float()
    g = torch.randn(K, N, W, generator=gen)
    lap = torch.randn(K, N, W, generator=gen)
    bias = torch.zeros(K, W)
    a, ga, la = _hidden(y, g, lap, bias)
    t = torch.tanh(y.double() / 2)
    a1 = (1 - t * t) / 2
    torch.testing.assert_close(a.double(), t, rtol=0, atol=3e-7)
    # a' is formed from a in float32, (1 - a^2)/2: absolute error ~ float32's epsilon, large relative
    # error only where a' itself is below ~1e-6 (saturated units), as in torch's path
    ref_g = a1 * g.double()
    assert ((ga.double() - ref_g).abs() <= 3e-7 * g.double().abs() + 1e-6 * ref_g.abs()).all()
    ref_l = a1 * (lap.double() - t * g.double() ** 2)
    scale = lap.double().abs() + g.double() ** 2
    assert ((la.double() - ref_l).abs() <= 5e-7 * scale + 1e-6 * ref_l.abs()).all()


def test_infinities_saturate_and_nan_propagates(lib):
    y = torch.tensor([float("inf"), float("-inf"), float("nan"), 200.0, -200.0, 0.0] * 3).reshape(1, 3, 6)
    a, ga, _ = _hidden(y, torch.ones_like(y), torch.zeros_like(y), torch.zeros(1, 6))
    row = a[0, 0]
    assert row[0] == 1 and row[1] == -1 and torch.isnan(row[2]) and row[3] == 1 and row[4] == -1 and row[5] == 0
    assert ga[0, 0, 0] == 0 and ga[0, 0, 5] == 0.5


def test_values_do_not_depend_on_where_they_sit(lib):
    """The same unit at another row, another point of the chunk or in a chunk of another size gives the
    same bits (the vector loop and its remainder must round alike)."""
    gen = torch.Generator().manual_seed(1)
    W = 50
    row = [torch.randn(W, generator=gen) * 4 for _ in range(3)]
    bias = torch.randn(W, generator=gen)
    results = []
    for K, N, k, n in [(1, 1, 0, 0), (3, 17, 2, 16), (2, 40, 1, 5), (5, 33, 3, 32)]:
        y, g, lap = (torch.randn(K, N, W, generator=gen) for _ in range(3))
        for arr, r in zip((y, g, lap), row):
            arr[k, n] = r
        out = _hidden(y, g, lap, bias.expand(K, W))
        results.append(torch.stack([o[k, n] for o in out]))
    for r in results[1:]:
        assert torch.equal(r, results[0])


def test_a_failed_build_falls_back_to_torch_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.setattr(native, "_LIB", None)
    monkeypatch.setattr(native, "_TRIED", False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no cached build to find
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    with pytest.warns(RuntimeWarning, match="building the fused CPU kernels failed"):
        assert native.library() is None
    params, x = torch.zeros(1, 10), torch.zeros(3, 1)
    assert not native.supports(params, x, 1, 2)
    assert not list(tmp_path.rglob("*.so"))


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setattr(native, "_LIB", None)
    monkeypatch.setattr(native, "_TRIED", False)
    monkeypatch.setenv("PLW_NATIVE", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert native.library() is None


def test_the_build_is_cached(lib, monkeypatch):
    """A second process finds the built library by its key and runs no compiler."""
    compiler = native.os.environ.get("CC") or native.shutil.which("cc") or native.shutil.which("gcc")
    path = native._build(compiler)
    assert path.exists() and path.parent == native.cache_dir()

    def no_compiler(*a, **k):
        raise AssertionError("compiled again")

    monkeypatch.setattr(native.subprocess, "run", no_compiler)
    assert native._build(compiler) == path


def test_wrong_shapes_are_refused_before_reaching_c(lib):
    h = torch.zeros(2, 5, 3, 7)
    with pytest.raises(ValueError, match="bias has shape"):
        native.tanh_layer(h, torch.zeros(2, 4), 1, 2)
    with pytest.raises(ValueError, match="xt has shape"):
        native.tanh_layer(h, torch.zeros(2, 5), 1, 2, xt=torch.zeros(1, 6), w=torch.zeros(2, 5, 1))
    with pytest.raises(ValueError, match="channels"):
        native.tanh_layer(h, torch.zeros(2, 5), 1, 1)
    with pytest.raises(ValueError, match="contiguous float32"):
        native.tanh_layer(h, torch.zeros(2, 5, dtype=torch.float64), 1, 2)
    with pytest.raises(ValueError, match="give xt with w"):
        native.tanh_layer(h, torch.zeros(2, 5), 1, 2, xt=torch.zeros(1, 7))
