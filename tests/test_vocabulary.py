"""One vocabulary across the public API (docs/api.md, "Vocabulary"): one name and one default per concept, the
same argument order, and the old spellings still working for a release with a warning naming the new one."""

import dataclasses
import inspect

import pytest
import torch

import pinn_landscape_widget as plw


def _public_callables():
    for name in plw.__all__:
        obj = getattr(plw, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            if not dataclasses.is_dataclass(obj):  # a record's fields (TrainResult.device) are data, not options
                yield name, obj
            if inspect.isclass(obj):
                for mname, member in vars(obj).items():
                    if inspect.isfunction(member) and not mname.startswith("_"):
                        yield f"{name}.{mname}", member


def _signature(obj):
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):
        return None


# (parameter, allowed default): one default per argument
DEFAULTS = {"device": None, "dtype": None, "progress": None}
RETIRED = {"problem_params", "log", "cmap", "k"}  # old spellings: kept only through renamed_arguments


def test_one_default_and_one_order_for_device_dtype_progress():
    bad = []
    for name, obj in _public_callables():
        sig = _signature(obj)
        if sig is None:
            continue
        params = sig.parameters
        for arg, default in DEFAULTS.items():
            if arg in params and params[arg].default is not default:
                # a method of a run (TrainResult.objective) takes them positionally without a default
                if params[arg].default is inspect.Parameter.empty and "." in name:
                    continue
                bad.append(f"{name}({arg}={params[arg].default!r}): the default must be {default!r}")
        names = list(params)
        if "device" in names and "dtype" in names and names.index("device") > names.index("dtype"):
            bad.append(f"{name}: dtype comes before device")
        for arg in ("device", "dtype"):
            if arg in params and "." not in name and params[arg].kind is not inspect.Parameter.KEYWORD_ONLY:
                bad.append(f"{name}: {arg} is not keyword-only")
        retired = RETIRED & set(names)
        if retired:
            bad.append(f"{name}: retired names {sorted(retired)} in the signature")
    assert not bad, "\n".join(bad)


def test_span_means_a_half_width_wherever_it_is_an_argument(poisson_run):
    dirs = plw.random_directions(poisson_run, 2, seed=1)
    ds = plw.landscape(poisson_run, dirs, span=0.3, resolution=5, progress=False)
    assert float(ds.alpha.min()) == pytest.approx(-0.3) and float(ds.alpha.max()) == pytest.approx(0.3)
    sweep = plw.landscape_sweep({"a": poisson_run}, (1,), span=0.3, resolution=5, progress=False)
    assert sweep.alpha.values == pytest.approx(ds.alpha.values)
    # the sweep's plane equals the single landscape's (same seed, same normalisation, same half-width)
    assert sweep.loss.sel(run="a", seed=1).squeeze().values == pytest.approx(ds.loss.values, rel=1e-5)


def test_hessian_eigenpairs_old_k_warns_and_gives_the_same_pairs(poisson_run):
    new = plw.hessian_eigenpairs(poisson_run, n=1, max_steps=40)
    with pytest.warns(FutureWarning, match=r"hessian_eigenpairs\(k=...\) is deprecated.*use n="):
        old = plw.hessian_eigenpairs(poisson_run, k=1, max_steps=40)
    assert float(old.eigenvalue[0]) == pytest.approx(float(new.eigenvalue[0]), rel=1e-10)
    with pytest.raises(TypeError, match="both k="):
        plw.hessian_eigenpairs(poisson_run, k=1, n=1)


def test_hessian_operator_takes_device_and_dtype_by_keyword(poisson_run):
    op = plw.HessianOperator(poisson_run, None, None, device="cpu", dtype=torch.float64)
    assert op.dtype == torch.float64 and op.device.type == "cpu"
    with pytest.raises(TypeError):
        plw.HessianOperator(poisson_run, None, None, None, torch.float64)  # formulation/dtype by position
