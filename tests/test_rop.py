"""Hessian-vector products by the R-operator (rop.py) against autograd's double backward through the
same loss code, and against the dense Hessian: every problem x formulation x term, in float64."""

import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget import rop
from pinn_landscape_widget.hessian import HessianOperator

from .conftest import PROBLEM_FORMULATIONS, case_id

_RUNS = {}


def run_for(name, kw, form, activation="tanh"):
    """Float64, deep and wide enough that every layer rule (first, hidden, output) and the Laplacian's
    third and fourth tanh derivatives take part; trained a little, so no activation is trivially small."""
    key = (name, tuple(sorted(kw.items())), form, activation)
    if key not in _RUNS:
        _RUNS[key] = plw.train(name, form, width=16, depth=3, activation=activation, steps=40, optimizer="adam",
                               lr=1e-2, progress=False, dtype=torch.float64, device="cpu", problem_params=kw)
    return _RUNS[key]


def double_backward_operator(run, term, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(rop, "applies", lambda objective: False)
        op = HessianOperator(run, term=term)
    assert op.method == "double backward"
    return op


@pytest.mark.parametrize("case", PROBLEM_FORMULATIONS, ids=case_id)
def test_r_operator_products_equal_double_backward_for_every_term(case, monkeypatch):
    name, kw, form = case
    run = run_for(name, kw, form)
    gen = torch.Generator().manual_seed(0)
    for term in [None, *run.objective(dtype=torch.float64).term_names]:
        fast = HessianOperator(run, term=term)
        assert fast.method == "r-operator"
        ref = double_backward_operator(run, term, monkeypatch)
        assert abs(fast.loss - ref.loss) <= 1e-12 * max(1.0, abs(ref.loss))
        for _ in range(2):
            v = torch.randn(fast.n, generator=gen, dtype=torch.float64)
            want = ref.matvec(v)
            got = fast.matvec(v)
            assert (got - want).abs().max() <= 1e-11 * want.abs().max(), (term, (got - want).abs().max())


def test_r_operator_dense_matrix_is_the_autograd_hessian():
    """Independent of our autograd path too: the dense Hessian by torch.autograd.functional.hessian."""
    run = plw.train("poisson2d", "strong", width=6, depth=2, steps=30, optimizer="adam", lr=1e-2, progress=False,
                    dtype=torch.float64, device="cpu", problem_params=dict(n_points=64, boundary="penalty"))
    obj = run.objective(dtype=torch.float64)
    H = torch.autograd.functional.hessian(lambda t: obj.loss(t[None])[0], run.params.double())
    op = HessianOperator(run)
    assert op.method == "r-operator"
    torch.testing.assert_close(op.dense(), H, rtol=1e-10, atol=1e-10)


def test_other_activations_use_the_double_backward(monkeypatch):
    run = run_for("poisson1d", dict(n_points=64), "strong", activation="sin")
    op = HessianOperator(run)
    assert op.method == "double backward"
    ds = plw.hessian_eigenpairs(run, 1, "largest")
    assert ds.attrs["hvp_method"] == "double backward"


def test_float32_products_agree_with_float64():
    run = run_for("poisson1d", dict(n_points=64), "deep_ritz")
    v = torch.randn(run.n_params, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    want = HessianOperator(run).matvec(v)
    got = HessianOperator(run, dtype=torch.float32).matvec(v.float()).double()
    assert (got - want).abs().max() <= 1e-4 * want.abs().max()
