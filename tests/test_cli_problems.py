"""`pinn-landscape compute --problem` with a Problem defined in the user's own file or module, `--param` on
it, `pinn-landscape problems`, and the errors for a --problem that names nothing usable."""

import subprocess
import sys
import textwrap

import pytest
import torch
import xarray as xr

import pinn_landscape_widget as plw
from pinn_landscape_widget import cli

from .autograd_reference import reference_terms

HEAT_SOURCE = textwrap.dedent(
    """
    import math

    import torch

    import pinn_landscape_widget as plw

    heat = plw.define_problem(
        "heat",
        {"x": (0.0, 1.0), "t": (0.0, 1.0)},
        residual=lambda u, kappa: u.t - kappa * u.xx,
        coefficients={"kappa": 0.1},
        conditions=[plw.initial(lambda x: torch.sin(math.pi * x)), plw.dirichlet("x")],
        exact=lambda x, t, kappa: torch.exp(-kappa * math.pi**2 * t) * torch.sin(math.pi * x),
        n_points=64,
    )


    def make_heat(kappa=0.2):
        return heat.with_coefficients(kappa=kappa)


    def needs_an_argument(kappa):
        return heat.with_coefficients(kappa=kappa)


    def not_a_problem():
        return 42


    answer = 42
    """
)

SMALL = ["--steps", "10", "--width", "8", "--depth", "1", "--resolution", "5", "--quiet", "--threads", "2"]


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "my_pdes.py"
    path.write_text(HEAT_SOURCE)
    return path


def _center_loss_by_autograd(problem, ds):
    """The loss at the grid's centre, recomputed per point by autograd from the problem's definition."""
    run = plw.train(problem, "strong", width=8, depth=1, steps=1, progress=False, device="cpu")
    theta = torch.as_tensor(ds["center"].values)
    return reference_terms(run, theta, "strong")[0]["loss"]


def _load_file(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("_test_cli_user_file", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.integration  # the CLI in a fresh interpreter
def test_compute_takes_a_problem_from_a_file_and_varies_its_parameter(user_file, tmp_path):
    out = tmp_path / "heat.nc"
    proc = subprocess.run(
        [sys.executable, "-m", "pinn_landscape_widget.cli", "compute", "--problem", f"{user_file}:heat"]
        + ["--param", "kappa=0.3", "--out", str(out)]
        + SMALL,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "heat/strong" in proc.stdout
    ds = xr.open_dataset(out).load()
    assert ds.attrs["problem"] == "heat" and ds.loss.shape == (5, 5)
    assert '"kappa": 0.3' in ds.attrs["problem_options"]
    # the stored loss is the kappa = 0.3 loss of the stored parameters, not the kappa = 0.1 one
    mine = _load_file(user_file)
    want = _center_loss_by_autograd(mine.heat.with_coefficients(kappa=0.3), ds)
    other = _center_loss_by_autograd(mine.heat, ds)
    assert ds.attrs["loss_center"] == pytest.approx(want, rel=1e-5)
    assert abs(want - other) > 1e-3 * abs(want)


def test_compute_takes_module_attribute_and_a_function_returning_a_problem(user_file, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # `my_pdes` is importable from the current folder, as with `python -m`
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "my_pdes", raising=False)
    out = tmp_path / "f.nc"
    assert cli.main(["compute", "--problem", "my_pdes:make_heat", "--out", str(out)] + SMALL) == 0
    ds = xr.open_dataset(out).load()
    assert ds.attrs["problem"] == "heat" and '"kappa": 0.2' in ds.attrs["problem_options"]
    assert "heat/strong" in capsys.readouterr().out
    prob = cli.load_problem("my_pdes:heat")
    assert isinstance(prob, plw.Problem) and prob.coefficients == {"kappa": 0.1}
    assert cli.load_problem("poisson1d") == "poisson1d"


@pytest.mark.parametrize(
    "spec,message",
    [
        ("no_such_module_xyz:heat", "cannot import module 'no_such_module_xyz' (No module named 'no_such_module_xyz')"),
        ("missing.py:heat", "no such file"),
        ("{file}:hat", "has no attribute 'hat'; Problems defined there: ['heat']"),
        ("{file}:answer", "answer is a int, not a Problem or a function returning one"),
        ("{file}:not_a_problem", "not_a_problem() returned a int, not a Problem"),
        ("{file}:needs_an_argument", "needs_an_argument needs arguments ['kappa']"),
        ("heat", "problem must be one of ['poisson1d', 'poisson2d', 'convection1d', "),
        ("heat", "name your own Problem as module:attribute or path/to/file.py:attribute"),
    ],
)
def test_bad_problem_is_a_clear_error(user_file, tmp_path, capsys, spec, message):
    spec = spec.format(file=user_file)
    code = cli.main(["compute", "--problem", spec, "--out", str(tmp_path / "x.nc")] + SMALL)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("pinn-landscape: error: ") and message in err, err
    assert not (tmp_path / "x.nc").exists()


def test_param_a_defined_problem_does_not_have_is_a_clear_error(user_file, tmp_path, capsys):
    args = ["compute", "--problem", f"{user_file}:heat", "--param", "beta=2", "--out", str(tmp_path / "x.nc")]
    assert cli.main(args + SMALL) == 2
    assert "problem 'heat': unknown coefficient(s) ['beta']; coefficients: ['kappa']" in capsys.readouterr().err


def test_problems_lists_every_builtin_with_its_description(capsys):
    assert cli.main(["problems"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = {line.split()[0]: line for line in lines[: len(plw.list_problems())]}
    assert list(listed) == plw.list_problems()
    for name, line in listed.items():
        prob = plw.get_problem(name)
        assert line.rstrip().endswith(prob.description), line
        forms = plw.formulations.supported_formulations(prob)
        assert ", ".join(forms) in line
        assert ("deep_ritz" in line) == prob.has_energy
    assert "--problem file.py:attribute" in lines[-1]


def test_problems_with_params_shows_each_option_and_default(capsys):
    assert cli.main(["problems", "--params"]) == 0
    out = capsys.readouterr().out
    assert "options: beta=1.0, n_points=2500, n_eval=None, lam=1.0, sampling='grid', seed=0" in out
    assert "options: d=0.0001, a=5.0," in out
