"""Hessian-vector products by the R-operator (rop.py) against autograd's double backward through the
same loss code, and against the dense Hessian: every problem x formulation x term, in float64."""

import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.analysis import _rop as rop
from pinn_landscape_widget.analysis.curvature import HessianOperator
from pinn_landscape_widget.engine import _native as native

from .conftest import PROBLEM_FORMULATIONS, case_id

_RUNS = {}


def run_for(name, kw, form, activation="tanh"):
    """Float64, deep and wide enough that every layer rule (first, hidden, output) and the Laplacian's
    third and fourth tanh derivatives take part; trained a little, so no activation is trivially small."""
    key = (name, tuple(sorted(kw.items())), form, activation)
    if key not in _RUNS:
        _RUNS[key] = plw.train(
            name,
            form,
            width=16,
            depth=3,
            activation=activation,
            steps=40,
            optimizer="adam",
            lr=1e-2,
            progress=False,
            dtype=torch.float64,
            device="cpu",
            coefficients=kw,
        )
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
    run = plw.train(
        "poisson2d",
        "strong",
        width=6,
        depth=2,
        steps=30,
        optimizer="adam",
        lr=1e-2,
        progress=False,
        dtype=torch.float64,
        device="cpu",
        coefficients=dict(n_points=64, boundary="penalty"),
    )
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


# --- the R-passes in C (float32 CPU: csrc/rop.c) -------------------------------------------------------


def _point_sets(d, order, depth, width, n, seed, threads=2):
    """The same network and points as a float64 and a float32 _PointSet, after a backward pass from random
    output adjoints; the float32 one runs its passes (the setup's, on ``threads``) in C."""
    from pinn_landscape_widget.engine._workspace import Workspace
    from pinn_landscape_widget.engine.mlp import MLP

    net = MLP(d, width, depth, "tanh")
    gen = torch.Generator().manual_seed(seed)
    theta = (net.init(seed=seed) + 0.3 * torch.randn(net.n_params, generator=gen)).double()
    x = (torch.rand(n, d, generator=gen) * 2 - 1).double()
    sets = [
        rop._PointSet(net, theta.to(dtype), x.to(dtype), order, Workspace("cpu", dtype), t)
        for dtype, t in ((torch.float64, None), (torch.float32, threads))
    ]
    Yb = torch.randn(sets[0].Y.shape, generator=gen, dtype=torch.float64)
    for ps in sets:
        ps.backward(Yb.to(ps.Y.dtype).contiguous())
    return sets, theta, Yb, gen


SHAPES = [
    (1, 1, 3, 50, 1000),
    (1, 2, 3, 50, 301),
    (2, 2, 2, 13, 37),
    (3, 1, 1, 7, 300),
    (3, 2, 4, 6, 129),
    (2, 0, 2, 24, 200),
    (1, 0, 1, 5, 1),
    (2, 1, 3, 17, 16),
]


@pytest.mark.parametrize("d,order,depth,width,n", SHAPES)
def test_setup_passes_in_c_equal_the_float64_setup(d, order, depth, width, n):
    """The setup's forward jet, adjoints and R-coefficients from C (rop.c's setup passes) against rop's
    torch setup in float64, array by array, on 1, 2 and 3 threads."""
    if native.library() is None:
        pytest.fail("the fused C kernels did not build")
    for threads in (1, 2, 3):
        (ref, fast), *_ = _point_sets(d, order, depth, width, n, seed=d + 10 * depth + n, threads=threads)
        pairs = [("Y", ref.Y, fast.Y), ("H out", ref.H, fast.H)]
        for i, (a, b) in enumerate(zip(ref.layers, fast.layers)):
            for name in ("H", "s1", "s2Gy", "lap_ry", "Yb", "c_ry", "c_rgy", "LAbs2"):
                want, got = getattr(a, name), getattr(b, name)
                assert (want is None) == (got is None), (i, name)
                if want is not None:
                    pairs.append((f"layer {i} {name}", want, got))
        for name, want, got in pairs:
            scale = want.abs().max().clamp_min(1e-30)
            err = float((got.double() - want).abs().max() / scale)
            assert err <= 2e-5, (threads, name, err)


@pytest.mark.parametrize("d,order,depth,width,n", SHAPES)
def test_passes_in_c_equal_the_float64_passes(d, order, depth, width, n):
    """R{Y} and R{J^T Yb} from C against rop's torch passes in float64: every channel rule (value, gradient,
    Laplacian), widths that fill the register tiles and widths that leave remainders, point counts that
    are and are not whole vectors, on 1, 2 and 3 threads."""
    if native.library() is None:
        pytest.fail("the fused C kernels did not build")
    (ref, fast), theta, Yb, gen = _point_sets(d, order, depth, width, n, seed=d + 10 * depth + n)
    v = torch.randn(theta.numel(), generator=gen, dtype=torch.float64)
    RYb = torch.randn(ref.Y.shape, generator=gen, dtype=torch.float64)
    RY_ref, cache = ref.r_forward(v)
    want = torch.zeros(theta.numel(), dtype=torch.float64)
    ref.r_backward(v, Yb, RYb, cache, want)
    # a whole product in one call: R{Yb} from per-point blocks in Y-space, B[c, c', p]
    B = torch.randn((ref.C, ref.C, n), generator=gen, dtype=torch.float64)
    want_whole = torch.zeros(theta.numel(), dtype=torch.float64)
    ref.r_backward(v, Yb, torch.einsum("abn,bn->an", B, RY_ref).contiguous(), cache, want_whole)

    def close(got, want, threads):
        for w_s, b_s, _ in ref.slices:  # per parameter tensor
            for s in (w_s, b_s):
                err = (got[s].double() - want[s]).abs().max() / want[s].abs().max().clamp_min(1e-30)
                assert err <= 5e-5, (threads, s, float(err))

    for threads in (1, 2, 3):
        with fast.ws.scope():
            RY = fast.r_forward_native(v.float(), threads).double()
            got = torch.zeros(theta.numel())
            fast.r_backward_native(v.float(), Yb.float().contiguous(), RYb.float().contiguous(), got, threads)
            whole = torch.zeros(theta.numel())
            fast.product_native(v.float(), Yb.float().contiguous(), B.float().contiguous(), whole, threads)
        scale = RY_ref.abs().amax(dim=1, keepdim=True)  # per channel
        assert ((RY - RY_ref).abs() <= 2e-5 * scale).all(), (threads, ((RY - RY_ref).abs() / scale).max())
        close(got, want, threads)
        close(whole, want_whole, threads)


@pytest.mark.parametrize("case", PROBLEM_FORMULATIONS, ids=case_id)
def test_float32_operator_in_c_equals_float64_for_every_problem(case):
    """The whole product (C passes and the loss's part by autograd) in float32 against float64."""
    name, kw, form = case
    run = run_for(name, kw, form)
    fast, ref = HessianOperator(run, dtype=torch.float32), HessianOperator(run)
    assert fast.native and not ref.native
    gen = torch.Generator().manual_seed(1)
    with fast.parallel():
        for _ in range(2):
            v = torch.randn(fast.n, generator=gen, dtype=torch.float64)
            want, got = ref.matvec(v), fast.matvec(v).double()
            assert (got - want).abs().max() <= 1e-4 * want.abs().max(), float(
                (got - want).abs().max() / want.abs().max()
            )


def _dense_y_space_hessian(hvp):
    """d^2 l / dY^2 over every leaf's entries (row 0 of the loss's graph), one unit probe at a time (no
    per-point structure assumed)."""
    sizes = [leaf[0].numel() for leaf in hvp._leaves]
    cols = []
    for j in range(sum(sizes)):
        e = torch.zeros(sum(sizes), dtype=hvp._leaves[0].dtype)
        e[j] = 1
        probes = [
            torch.cat([p.view(leaf[0].shape)[None], leaf.new_zeros(leaf[1:].shape)])
            for p, leaf in zip(torch.split(e, sizes), hvp._leaves)
        ]
        cols.append(torch.cat([h[0].reshape(-1) for h in hvp._y_space_hvp(probes)]))
    return torch.stack(cols, 1)


@pytest.mark.parametrize(
    "name,kw,form,per_point",
    [
        ("poisson1d", dict(n_points=24, boundary="penalty"), "strong", True),
        ("poisson2d", dict(n_points=16, boundary="penalty"), "deep_ritz", True),
        ("convection1d", dict(n_points=16, beta=10.0), "strong", False),  # periodic: couples boundary points
    ],
)
def test_y_space_blocks_are_the_loss_hessian_where_it_is_per_point(name, kw, form, per_point):
    """The per-point blocks a whole product in C uses, against the dense Hessian of the loss in Y-space:
    block diagonal over points and point sets, and equal to it, where the loss is a sum over points; no
    blocks (products keep their autograd step) where the loss couples points."""
    run = run_for(name, kw, form)
    op = HessianOperator(run, dtype=torch.float32)
    hvp = op._products[0].__self__
    dense = _dense_y_space_hessian(hvp)
    if not per_point:
        assert hvp._blocks is None
        return
    assert hvp._blocks is not None
    blockwise = torch.zeros_like(dense)
    at = 0
    for B, ps in zip(hvp._blocks, hvp.sets.values()):
        C, n = ps.C, B.shape[2]
        for p in range(n):
            idx = at + torch.arange(C) * n + p  # leaf entries [C, n] flattened
            blockwise[idx[:, None], idx[None, :]] = B[:, :, p]
        at += C * n
    scale = dense.abs().max()
    assert (blockwise - dense).abs().max() <= 1e-5 * scale, float((blockwise - dense).abs().max() / scale)


def test_c_passes_survive_a_fork():
    """A forked child (multiprocessing's or dask's fork start method) has none of the parent's OpenMP
    threads, though libgomp's pool says otherwise: its products must run on its own thread, not wait for
    the parent's workers for ever."""
    import multiprocessing as mp

    run = run_for("poisson1d", {}, "deep_ritz")
    op = HessianOperator(run, dtype=torch.float32)
    v = torch.randn(op.n, generator=torch.Generator().manual_seed(2))
    with op.parallel():
        want = op.matvec(v)  # helpers now exist in this process
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_product_in_child, (run, v)).get(timeout=120)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6 * float(want.abs().max()))


def _product_in_child(run, v):
    op = HessianOperator(run, dtype=torch.float32)
    with op.parallel():
        return op.matvec(v)
