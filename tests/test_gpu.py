"""CUDA: the same numbers on the GPU. Skipped (and reported as skipped) where no CUDA device is present."""

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_auto_device_is_cuda_and_training_runs_there():
    run = plw.train("poisson1d", "strong", width=20, depth=2, steps=(100, 20), progress=False)
    assert run.device.type == "cuda" and run.params.device.type == "cuda"
    assert float(run.history.loss[-1]) < float(run.history.loss[0])


@pytest.mark.parametrize(
    "name,form",
    [("poisson1d", "strong"), ("poisson1d", "deep_ritz"), ("poisson2d", "strong"), ("convection1d", "strong")],
)
def test_gpu_grid_equals_cpu_grid(name, form):
    run = plw.train(
        name,
        form,
        width=16,
        depth=2,
        steps=20,
        optimizer="adam",
        progress=False,
        device="cpu",
        dtype=torch.float64,
        coefficients=dict(n_points=256),
    )
    dirs = plw.random_directions(run, 2, seed=0)
    cpu = plw.landscape(run, dirs, resolution=9, progress=False, device="cpu")
    gpu = plw.landscape(run, dirs, resolution=9, progress=False, device="cuda")
    assert gpu.attrs["device"].startswith("cuda")
    np.testing.assert_allclose(gpu.loss.values, cpu.loss.values, rtol=1e-10)
    gpu32 = plw.landscape(run, dirs, resolution=9, progress=False, device="cuda", dtype=torch.float32)
    np.testing.assert_allclose(gpu32.loss.values, cpu.loss.values, rtol=2e-3)


def test_gpu_center_equals_evaluate_to_rounding():
    # Exact on the CPU (tests/test_landscape_values.py). cuBLAS picks its bmm kernel by batch size, so on a
    # GPU a point evaluated alone and the same point inside a 1681-point chunk agree to float32 rounding
    # (seen on an H200: 1.3e-7 relative), not bit for bit.
    run = plw.train("poisson1d", "strong", width=50, depth=3, steps=(50, 0), progress=False)
    ds = plw.landscape(run, resolution=41, progress=False)
    ref = plw.evaluate(run, run.params)
    assert float(ds.loss.sel(alpha=0.0, beta=0.0)) == pytest.approx(float(ref["loss"][0]), rel=1e-6)


def test_tf32_setting_does_not_change_landscape():
    run = plw.train("poisson1d", "strong", width=50, depth=3, steps=(50, 0), progress=False)
    a = plw.landscape(run, resolution=11, progress=False)
    old = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = True
        b = plw.landscape(run, resolution=11, progress=False)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    np.testing.assert_array_equal(a.loss.values, b.loss.values)


def test_compiled_gpu_grid_matches_eager():
    run = plw.train("poisson1d", "strong", width=50, depth=3, steps=(50, 0), progress=False)
    dirs = plw.random_directions(run, 2, seed=0)
    eager = plw.landscape(run, dirs, resolution=41, progress=False)
    fused = plw.landscape(run, dirs, resolution=41, progress=False, compile=True, chunk_size=500)
    np.testing.assert_allclose(fused.loss.values, eager.loss.values, rtol=2e-4)


@pytest.mark.parametrize("name", ["heat1d", "wave1d", "kovasznay2d", "burgers1d"])
def test_gpu_grid_of_defined_problems_equals_cpu_grid(name):
    """The general jet path (any partials, several outputs) on the GPU equals the CPU's."""
    run = plw.train(
        name,
        "strong",
        width=16,
        depth=2,
        steps=10,
        optimizer="adam",
        progress=False,
        device="cpu",
        dtype=torch.float64,
        coefficients=dict(n_points=256),
    )
    dirs = plw.random_directions(run, 2, seed=0)
    cpu = plw.landscape(run, dirs, resolution=7, progress=False, device="cpu")
    gpu = plw.landscape(run, dirs, resolution=7, progress=False, device="cuda")
    np.testing.assert_allclose(gpu.loss.values, cpu.loss.values, rtol=1e-10)


def test_gpu_grid_of_any_module_uses_vmap_and_equals_cpu_grid():
    class FourierFeatures(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.B = torch.nn.Parameter(
                torch.randn(1, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
            )
            self.body = torch.nn.Sequential(torch.nn.Linear(16, 20), torch.nn.Tanh(), torch.nn.Linear(20, 1)).double()

        def forward(self, x):
            z = x @ self.B
            return self.body(torch.cat([torch.sin(z), torch.cos(z)], -1))

    run = plw.train(
        "poisson1d",
        "strong",
        model=FourierFeatures(),
        steps=(10, 0),
        progress=False,
        device="cpu",
        dtype=torch.float64,
        coefficients=dict(n_points=128),
    )
    dirs = plw.random_directions(run, 2, seed=0)
    cpu = plw.landscape(run, dirs, resolution=7, progress=False, device="cpu")
    gpu = plw.landscape(run, dirs, resolution=7, progress=False, device="cuda")
    assert run.net.mode == "vmap"
    np.testing.assert_allclose(gpu.loss.values, cpu.loss.values, rtol=1e-10)
