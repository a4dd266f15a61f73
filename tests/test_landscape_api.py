"""landscape(): directions, schema, NetCDF round trip, reproducibility, bad input, overflow, CLI."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import xarray as xr

import pinn_landscape_widget as plw

from .conftest import small_run


@pytest.fixture(scope="module")
def run():
    return small_run("poisson1d", dict(n_points=64, boundary="penalty"), "strong")


def _rows(run, vec):
    for ws, bs, (o, i) in run.net.param_slices():
        yield vec[ws].view(o, i), vec[bs]


def test_filter_normalization_matches_row_norms(run):
    d = plw.random_directions(run, 2, seed=5, normalization="filter", bias="zero")
    for k in range(2):
        for (dw, db), (tw, _tb) in zip(_rows(run, d.vectors[k]), _rows(run, run.params)):
            torch.testing.assert_close(dw.norm(dim=1), tw.norm(dim=1), rtol=1e-5, atol=1e-7)
            assert torch.count_nonzero(db) == 0


def test_filter_normalized_biases_match_magnitudes(run):
    d = plw.random_directions(run, 1, seed=5, normalization="filter", bias="filter")
    for (_dw, db), (_tw, tb) in zip(_rows(run, d.vectors[0]), _rows(run, run.params)):
        torch.testing.assert_close(db.abs(), tb.abs(), rtol=1e-5, atol=1e-7)


def test_layer_normalization_matches_tensor_norms(run):
    d = plw.random_directions(run, 1, seed=2, normalization="layer", bias="filter")
    for (dw, db), (tw, tb) in zip(_rows(run, d.vectors[0]), _rows(run, run.params)):
        assert abs(float(dw.norm() - tw.norm())) < 1e-5 * float(tw.norm())
        assert abs(float(db.norm() - tb.norm())) < 1e-5 * float(tb.norm()) + 1e-7


def test_orthogonalized_directions_are_orthogonal(run):
    d = plw.random_directions(run, 2, seed=1, orthogonalize=True).vectors.double()
    assert abs(float(d[0] @ d[1])) < 1e-6 * float(d[0].norm() * d[1].norm())


def test_same_seed_gives_same_directions_and_grid(run):
    a = plw.random_directions(run, 2, seed=11)
    b = plw.random_directions(run, 2, seed=11)
    c = plw.random_directions(run, 2, seed=12)
    assert torch.equal(a.vectors, b.vectors) and not torch.equal(a.vectors, c.vectors)
    ga = plw.landscape(run, a, resolution=5, progress=False)
    gb = plw.landscape(run, b, resolution=5, progress=False)
    np.testing.assert_array_equal(ga.loss.values, gb.loss.values)


def test_dataset_schema(run):
    ds = plw.landscape(run, resolution=7, span=0.5, progress=False)
    assert ds.loss.dims == ("alpha", "beta") and ds.loss.shape == (7, 7)
    assert set(ds.data_vars) >= {"loss", "loss_residual", "loss_boundary", "rel_l2_error", "center", "directions"}
    np.testing.assert_array_equal(ds.alpha.values, np.array([-0.5, -1 / 3, -1 / 6, 0, 1 / 6, 1 / 3, 0.5]))
    assert ds.alpha.values[3] == 0.0
    np.testing.assert_allclose(ds.loss.values, ds.loss_residual.values + ds.loss_boundary.values, rtol=1e-6)
    for key in (
        "problem",
        "formulation",
        "direction_kind",
        "normalization",
        "seed",
        "span",
        "resolution",
        "n_params",
        "dtype",
        "device",
        "package_version",
        "loss_center",
    ):
        assert key in ds.attrs, key
    assert ds.attrs["problem"] == "poisson1d" and ds.attrs["n_params"] == run.n_params
    assert json.loads(ds.attrs["problem_options"])["boundary"] == "penalty"
    assert ds.attrs["direction_kind"] == "random" and ds.attrs["normalization"] == "filter"


def test_deep_ritz_landscape_carries_energy_reference():
    r = small_run("poisson1d", dict(n_points=64), "deep_ritz")
    ds = plw.landscape(r, resolution=3, progress=False)
    assert ds.attrs["energy_reference"] == pytest.approx(-(math.pi**2) / 4)
    # a strong run can be looked at through the Deep Ritz loss, on the same directions
    s = small_run("poisson1d", dict(n_points=64), "strong")
    ds2 = plw.landscape(s, resolution=3, formulation="deep_ritz", progress=False)
    assert ds2.attrs["formulation"] == "deep_ritz" and ds2.attrs["trained_formulation"] == "strong"
    assert "loss_energy" in ds2


def test_netcdf_round_trip_is_exact(run, tmp_path):
    ds = plw.landscape(run, resolution=9, progress=False)
    path = tmp_path / "grid.nc"
    ds.to_netcdf(path)
    back = xr.open_dataset(path).load()
    xr.testing.assert_identical(ds, back)
    assert back.attrs == ds.attrs
    for name in ds.data_vars:
        assert back[name].dtype == ds[name].dtype
        np.testing.assert_array_equal(back[name].values, ds[name].values)


def test_overflow_is_stored_not_raised():
    r = small_run("poisson1d", dict(n_points=64), "strong")
    d = plw.random_directions(r, 2, seed=0, normalization="none")
    ds = plw.landscape(r, d, span=1e30, resolution=5, progress=False)
    vals = ds.loss.values
    assert not np.isfinite(vals).all()  # the far corners overflow ...
    assert np.isfinite(vals[2, 2])  # ... the centre does not


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(resolution=0), r"resolution must be an integer in \[3, 1025\], got 0"),
        (dict(resolution=5000), r"resolution must be an integer in \[3, 1025\], got 5000"),
        (dict(resolution=2.5), r"resolution must be an integer in \[3, 1025\], got 2.5"),
        (dict(span=0), r"span must be a finite number > 0 or a pair \(lo, hi\) with lo < hi, got 0"),
        (dict(span=float("nan")), r"span must be a finite number > 0 or a pair \(lo, hi\) with lo < hi, got nan"),
        (dict(span=(1.0, -1.0)), r"span must be .* got \(1.0, -1.0\)"),
        (dict(formulation="galerkin"), r"formulation must be one of \['strong', 'deep_ritz'\], got 'galerkin'"),
        (dict(device="gpu"), r"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'"),
        (dict(chunk_size=0), r"chunk_size must be an integer in \[1, inf\], got 0"),
    ],
)
def test_bad_landscape_arguments_are_clear_errors(run, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plw.landscape(run, progress=False, **kwargs)


def test_bad_directions_are_clear_errors(run):
    P = run.n_params
    with pytest.raises(ValueError, match=rf"directions must have shape \[1, {P}\] or \[2, {P}\], got \(2, 5\)"):
        plw.landscape(run, torch.ones(2, 5), progress=False)
    with pytest.raises(ValueError, match=r"directions must have shape .* got \(3, "):
        plw.landscape(run, torch.ones(3, P), progress=False)
    with pytest.raises(ValueError, match=r"directions \[1\] are all zero"):
        plw.landscape(run, torch.stack([torch.ones(P), torch.zeros(P)]), progress=False)
    with pytest.raises(ValueError, match=r"directions contain NaN or inf"):
        plw.landscape(run, torch.full((1, P), float("nan")), progress=False)
    with pytest.raises(ValueError, match=r"normalization must be one of \['filter', 'layer', 'none'\], got 'unit'"):
        plw.random_directions(run, normalization="unit")
    with pytest.raises(ValueError, match=rf"n must be an integer in \[1, {P}\], got 0"):
        plw.random_directions(run, n=0)


def test_evaluate_rejects_wrong_length(run):
    with pytest.raises(ValueError, match=rf"params must have shape \[K, {run.n_params}\] .* got \(2, 3\)"):
        plw.evaluate(run, torch.zeros(2, 3))


def test_evaluate_many_points_matches_one_at_a_time(run):
    P = run.params[None] + 0.05 * torch.randn(6, run.n_params, generator=torch.Generator().manual_seed(0))
    many = plw.evaluate(run, P, chunk_size=4)
    for k in range(6):
        one = plw.evaluate(run, P[k])
        for key in many:
            assert float(many[key][k]) == pytest.approx(float(one[key][0]), rel=1e-6)


@pytest.mark.integration  # the CLI in a fresh interpreter
def test_cli_compute_writes_netcdf(tmp_path):
    out = tmp_path / "f.nc"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pinn_landscape_widget.cli",
            "compute",
            "--problem",
            "poisson1d",
            "--formulation",
            "deep_ritz",
            "--resolution",
            "5",
            "--steps",
            "20",
            "--width",
            "8",
            "--depth",
            "1",
            "--param",
            "n_points=64",
            "--quiet",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out.resolve()}" in proc.stdout and "poisson1d/deep_ritz" in proc.stdout
    ds = xr.open_dataset(out)
    assert ds.loss.shape == (5, 5) and ds.attrs["formulation"] == "deep_ritz"


@pytest.mark.integration  # the CLI in a fresh interpreter
def test_cli_bad_argument_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pinn_landscape_widget.cli",
            "compute",
            "--problem",
            "heat",
            "--out",
            str(tmp_path / "x.nc"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "problem must be one of ['poisson1d', 'poisson2d', 'convection1d', " in proc.stderr
    assert "or a Problem from plw.define_problem, got 'heat'" in proc.stderr


@pytest.mark.slow
def test_201_grid_of_reference_workload_stays_under_2_gib(tmp_path):
    """Peak RSS of a fresh process computing the 201 x 201 reference grid."""
    code = (
        "import resource, torch, pinn_landscape_widget as plw\n"
        "torch.set_num_threads(2)\n"
        "run = plw.train('poisson1d', 'strong', steps=(5, 0), progress=False)\n"
        "ds = plw.landscape(run, resolution=201, progress=False)\n"
        "assert ds.loss.shape == (201, 201)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    peak_kib = int(proc.stdout.strip().splitlines()[-1])
    assert peak_kib < 2 * 2**20, f"peak RSS {peak_kib / 2**20:.2f} GiB"


@pytest.mark.slow
def test_poisson2d_10k_points_201_grid_stays_within_the_memory_budget(budget_mib=128, overhead_mib=256):
    """In a fresh process, the landscape raises the peak RSS by at most its budget plus a fixed overhead (the
    grid's chunks, the engine's buffers, the result); measured from the peak before the call (torch, the
    training), so what the process held before does not count."""
    code = (
        "import resource, torch, pinn_landscape_widget as plw\n"
        "torch.set_num_threads(2)\n"
        "run = plw.train('poisson2d', 'strong', width=8, depth=2, steps=2, progress=False,\n"
        "                coefficients=dict(n_points=10_000))\n"
        "assert run.problem.quadrature()[0].shape[0] == 10_000\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"ds = plw.landscape(run, resolution=201, progress=False, memory_budget={budget_mib} * 2**20)\n"
        "assert ds.loss.shape == (201, 201) and ds.attrs['chunk_size'] >= 1\n"
        "print(ds.attrs['chunk_size'], before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    chunk, before_kib, peak_kib = map(int, proc.stdout.split()[-3:])
    growth_mib = (peak_kib - before_kib) / 2**10
    assert growth_mib < budget_mib + overhead_mib, (
        f"peak RSS grew {growth_mib:.0f} MiB (from {before_kib / 2**20:.2f} GiB) with chunk {chunk}; {proc.stderr}"
    )


@pytest.mark.slow
def test_compiled_grid_matches_the_eager_grid():
    run = small_run("poisson1d", dict(n_points=64), "strong")
    d = plw.random_directions(run, 2, seed=0)
    eager = plw.landscape(run, d, resolution=9, progress=False)
    fused = plw.landscape(run, d, resolution=9, progress=False, compile=True, chunk_size=20)  # 81 = 4 x 20 + 1
    np.testing.assert_allclose(fused.loss.values, eager.loss.values, rtol=1e-5)
