"""Training's fused step: the loss gradient from the engine's jets and the reverse sweep equals autograd's,
training with it ends where training with autograd does, and networks it cannot take fall back with a
reason."""

import math
import threading

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.engine import _native as native
from pinn_landscape_widget.engine._workspace import Workspace
from pinn_landscape_widget.engine.fused_loss import FusedLoss, fused_reason
from pinn_landscape_widget.engine.jet_adjoint import NativeJets
from pinn_landscape_widget.engine.mlp import MLP
from pinn_landscape_widget.engine.objective import Objective
from pinn_landscape_widget.pde.derivatives import JetSpec, SecondOrder

from .conftest import DEFINED, QUICK, VALUE_CASES, case_id


def _problem(name, kw):
    return DEFINED[name](**kw) if name in DEFINED else plw.get_problem(name, **kw)


def _theta(net, dtype, seed):
    """A parameter point away from the initialisation's zero biases (every term of the backward pass live)."""
    gen = torch.Generator().manual_seed(seed)
    theta = net.init(seed, dtype=torch.float64)
    return (theta + 0.2 * torch.randn(theta.shape, generator=gen, dtype=torch.float64)).to(dtype).contiguous()


def _autograd_gradient(problem, net, form, theta64):
    """The loss and its gradient by autograd through the differentiable jets, in float64."""
    obj = Objective(problem, net, form, "cpu", torch.float64)
    t = theta64.clone().requires_grad_(True)
    loss = obj.loss(t[None])[0]
    (g,) = torch.autograd.grad(loss, t)
    return float(loss.detach()), g


def _check(problem, form, dtype, activation="tanh", tol=None, threads=None):
    net = MLP(problem.dim, 12, 2, activation, out_dim=len(problem.unknowns))
    obj = Objective(problem, net, form, "cpu", dtype)
    assert fused_reason(obj) is None
    theta = _theta(net, dtype, 1)
    fused = FusedLoss(obj, theta, threads)
    tol = tol or (1e-10 if dtype == torch.float64 else 1e-5)
    # twice, the parameters changed in place in between: the passes in C keep their arrays between steps
    for step in range(2):
        terms, loss, grad = fused()
        want_loss, want = _autograd_gradient(problem, net, form, theta.double())
        assert grad.dtype == dtype and grad.shape == theta.shape
        assert abs(float(loss) - want_loss) <= tol * abs(want_loss)
        assert math.isclose(sum(float(v) for v in terms.values()), float(loss), rel_tol=10 * tol)
        err = float((grad.double() - want).norm() / want.norm())
        assert err < tol, f"step {step}: relative gradient error {err:.2e} ({fused.method})"
        theta.add_(0.05 * torch.randn(theta.shape, generator=torch.Generator().manual_seed(step), dtype=dtype))
    return fused


@pytest.mark.parametrize("case", VALUE_CASES, ids=case_id)
def test_fused_gradient_equals_float64_autograd(case):
    name, kw, form = case
    fused = _check(_problem(name, kw), form, torch.float64)
    assert fused.method == "torch"


@pytest.mark.parametrize("case", VALUE_CASES, ids=case_id)
def test_fused_gradient_in_float32_equals_float64_autograd(case):
    name, kw, form = case
    fused = _check(_problem(name, kw), form, torch.float32)
    # a tanh MLP in float32 on the CPU runs in C for every derivative set and number of outputs
    assert fused.method == ("C" if native.library() is not None else "torch")


@pytest.mark.parametrize(
    "case", [("poisson1d", dict(n_points=64), "strong"), ("poisson2d", dict(n_points=64), "deep_ritz")]
)
def test_fused_gradient_without_the_c_kernels(case, monkeypatch):
    """The pure-torch passes where the C library is off: the same gradient."""
    monkeypatch.setattr(native, "_LIB", None)
    monkeypatch.setattr(native, "_TRIED", True)
    name, kw, form = case
    fused = _check(_problem(name, kw), form, torch.float32)
    assert fused.method == "torch"


ACTIVATION_CASES = [("poisson1d", dict(n_points=64), "strong"), ("mixed", {}, "strong"), ("system", {}, "strong")]


@pytest.mark.parametrize("activation", ["sin", "gelu", "silu"])
@pytest.mark.parametrize("case", ACTIVATION_CASES[:1] if QUICK else ACTIVATION_CASES, ids=case_id)
def test_fused_gradient_of_every_activation(case, activation):
    name, kw, form = case
    _check(_problem(name, kw), form, torch.float64, activation)


def test_training_with_the_fused_step_ends_where_autograd_does():
    """Same steps, same start: the final losses agree to optimiser noise (float32 sums in another order)."""
    kw = dict(width=16, depth=2, steps=(150, 30), progress=False, coefficients=dict(n_points=128))
    fused = plw.train("poisson1d", "strong", **kw)
    ref = plw.train("poisson1d", "strong", gradient="autograd", **kw)
    assert fused.history.attrs["gradient"].startswith("fused")
    assert ref.history.attrs["gradient"].startswith("autograd")
    a, b = fused.history.loss.values, ref.history.loss.values
    assert len(a) == len(b) == 181
    assert a[-1] < 1e-2 * a[0]  # it trained
    assert abs(a[-1] - b[-1]) <= 0.05 * b[-1]
    # early on, before float32 differences grow, the curves are the same to rounding
    np.testing.assert_allclose(a[:20], b[:20], rtol=1e-4)


class _Residual(torch.nn.Module):
    """A network the engine does not recognise as a plain MLP (a skip connection)."""

    def __init__(self):
        super().__init__()
        self.inp, self.hidden, self.out = torch.nn.Linear(1, 8), torch.nn.Linear(8, 8), torch.nn.Linear(8, 1)

    def forward(self, x):
        h = torch.tanh(self.inp(x))
        return self.out(h + torch.tanh(self.hidden(h)))


def test_an_unrecognised_network_falls_back_to_autograd_with_its_reason():
    torch.manual_seed(0)
    run = plw.train(
        "poisson1d", "strong", model=_Residual(), optimizer="adam", steps=30, lr=1e-2, progress=False,
        coefficients=dict(n_points=32),
    )  # fmt: skip
    how = run.history.attrs["gradient"]
    assert how.startswith("autograd: ") and "not a plain MLP" in how and "\n" not in how
    assert run.history.loss.values[-1] < run.history.loss.values[0]
    with pytest.raises(ValueError, match="FusedLoss: the network"):
        FusedLoss(run.objective(), run.params.clone())


def test_a_recognised_sequential_runs_fused():
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    run = plw.train("poisson1d", "strong", model=seq, optimizer="adam", steps=5, progress=False)
    assert run.history.attrs["gradient"] == f"fused ({'C' if native.library() is not None else 'torch'})"


def test_gradient_argument_is_checked():
    with pytest.raises(ValueError, match=r"gradient must be one of \['auto', 'autograd'\], got 'fast'"):
        plw.train("poisson1d", steps=1, gradient="fast", progress=False)


def test_the_error_is_computed_at_the_recorded_steps_only():
    run = plw.train(
        "poisson1d", "strong", width=8, depth=2, optimizer="adam", steps=25, record_every=10, progress=False,
        coefficients=dict(n_points=32),
    )  # fmt: skip
    err = run.history.rel_l2_error.values
    assert run.trajectory_steps == [0, 10, 20, 25]
    recorded = set(run.trajectory_steps)
    for step, e in enumerate(err):
        assert np.isfinite(e) == (step in recorded), step
    obj = run.objective()
    for k, step in enumerate(run.trajectory_steps):
        want = float(obj.rel_l2_error(run.trajectory[k][None])[0])
        assert math.isclose(err[step], want, rel_tol=1e-5)


# --- the passes in C for any jet and any number of outputs (csrc/train.c) -----------------------------------


def _autograd_jet_gradient(net, theta64, x64, spec, Yb64):
    """J^T Yb by float64 autograd, independent of the engine's jets: the network written out from its
    parameter layout, every input derivative by torch.autograd.grad with create_graph."""
    theta = theta64.clone().requires_grad_(True)
    x = x64.clone().requires_grad_(True)
    h = x
    slices = net.param_slices()
    for w_s, b_s, (o, i) in slices[:-1]:
        h = torch.tanh(h @ theta[w_s].view(o, i).T + theta[b_s])
    w_s, b_s, (m, i) = slices[-1]
    u = h @ theta[w_s].view(m, i).T + theta[b_s]  # [n, m]
    channels = []
    for k in range(m):
        (g,) = torch.autograd.grad(u[:, k].sum(), x, create_graph=True)
        hess = {}
        for a in {i for form in spec.second for t in form.terms for i in t[:2]}:
            (hess[a],) = torch.autograd.grad(g[:, a].sum(), x, create_graph=True)
        rows = [u[:, k]] + [g[:, a] for a in spec.first]
        rows += [sum(c * hess[a][:, b] for a, b, c in form.terms) for form in spec.second]
        channels.append(torch.stack(rows))
    Y = torch.stack(channels)  # [m, C, n]
    (grad,) = torch.autograd.grad((Y * Yb64).sum(), theta)
    return Y.detach(), grad


def _spec(dim, first=(), second=()):
    return JetSpec.build(dim, first, [SecondOrder(tuple(t)) for t in second])


JET_CASES = {
    # a time derivative and a pure second one in x: u_t - k u_xx (inputs x, t)
    "heat_like": (2, 1, _spec(2, first=(1,), second=[[(0, 0, 1.0)]])),
    # a mixed second derivative beside pure ones: u_xx + u_yy + 0.5 u_xy as three channels
    "mixed": (2, 1, _spec(2, second=[[(0, 0, 1.0)], [(0, 1, 1.0)], [(1, 1, 1.0)]])),
    # a system with first derivatives only
    "system_first": (2, 2, _spec(2, first=(0, 1))),
    # a second-order system, one channel a weighted mixed form, in 3-D, one input not differentiated
    "system_second": (3, 3, _spec(3, first=(0,), second=[[(0, 0, 2.0), (0, 2, -0.5)], [(2, 2, 1.0)]])),
    # the Laplacian, as one form of d terms
    "laplacian": (3, 1, JetSpec.classic(3, 2)),
    "laplacian_system": (2, 2, JetSpec.classic(2, 2)),
    "value_only": (2, 2, JetSpec(2)),
}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", JET_CASES, ids=str)
def test_native_jets_equal_float64_autograd(case, threads):
    """NativeJets' output jet and J^T Yb in float32, against float64 autograd through the network written
    out, at 300 points (with 2 threads: two shares of the points, the last one not whole vectors)."""
    if native.library() is None:
        pytest.skip("the C kernels are not built here")
    dim, m, spec = JET_CASES[case]
    net = MLP(dim, 12, 3, "tanh", out_dim=m)
    theta = _theta(net, torch.float32, 3)
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(300, dim, generator=gen)
    passes = NativeJets(net, theta, x, spec, Workspace(torch.device("cpu"), torch.float32), threads)
    assert passes._shares() == threads
    Yb = torch.randn(m, spec.n_channels, 300, generator=gen)
    want_Y, want = _autograd_jet_gradient(net, theta.double(), x.double(), spec, Yb.double())
    assert passes.Y.shape == want_Y.shape
    assert float((passes.Y.double() - want_Y).norm() / want_Y.norm()) < 1e-5
    grad = torch.full_like(theta, 0.5)  # the gradient is added into what is there
    passes.add_gradient(Yb, grad)
    err = float((grad.double() - 0.5 - want).norm() / want.norm())
    assert err < 1e-5, f"relative gradient error {err:.2e}"
    # the same arrays at new parameters (a training step after the optimiser's in-place update)
    theta.add_(0.1 * torch.randn(theta.shape, generator=gen))
    passes.rerun_forward()
    want_Y, want = _autograd_jet_gradient(net, theta.double(), x.double(), spec, Yb.double())
    grad.zero_()
    passes.add_gradient(Yb, grad)
    assert float((passes.Y.double() - want_Y).norm() / want_Y.norm()) < 1e-5
    assert float((grad.double() - want).norm() / want.norm()) < 1e-5


def _heat():
    return plw.define_problem(
        "heat",
        {"x": (0.0, 1.0), "t": (0.0, 1.0)},
        residual=lambda u, kappa: u.t - kappa * u.xx,
        coefficients={"kappa": 0.1},
        conditions=[plw.initial(lambda x: torch.sin(math.pi * x)), plw.dirichlet("x")],
        n_points=300,
    )


def _mixed2d():
    return plw.define_problem(
        "mixed2d",
        {"x": (0.0, 1.0), "y": (0.0, 1.0)},
        residual=lambda u, f: u.xx + u.yy + 0.5 * u.xy - f,
        source=lambda x, y: torch.sin(math.pi * x) * torch.cos(y),
        conditions=[plw.dirichlet()],
        n_points=300,
    )


def _wave_system():
    return plw.define_problem(
        "wave_system",
        {"x": (0.0, 1.0), "t": (0.0, 1.0)},
        residual=lambda u, v: {"u_equation": u.t - v.x, "v_equation": v.t - u.x},
        unknowns=("u", "v"),
        conditions=[plw.initial({"u": lambda x: torch.sin(math.pi * x), "v": 0.0}), plw.dirichlet("x", unknowns="u")],
        n_points=300,
    )


def _laplacian_system():
    return plw.define_problem(
        "laplacian_system",
        {"x": (0.0, 1.0), "y": (0.0, 1.0)},
        residual=lambda u, v: [u.laplacian - v, v.laplacian + u * v - 1.0],
        unknowns=("u", "v"),
        conditions=[plw.dirichlet(weight=2.0)],
        n_points=300,
    )


DEFINED_CASES = {
    "heat": _heat,
    "mixed2d": _mixed2d,
    "wave_system": _wave_system,
    "second_order_system": lambda: DEFINED["system"](n_points=300),
    "laplacian_system": _laplacian_system,
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("case", DEFINED_CASES, ids=str)
def test_fused_gradient_of_defined_problems_equals_float64_autograd(case, dtype):
    """Defined problems whose jets are not value/gradient/Laplacian of one output: in float32 on the C path
    (two threads share the points), in float64 on the torch path; the loss gradient against float64
    autograd through the objective's differentiable jets."""
    fused = _check(DEFINED_CASES[case](), "strong", dtype, threads=2)
    assert fused.method == ("C" if dtype == torch.float32 and native.library() is not None else "torch")
    if fused.method == "C":
        assert any(isinstance(p, NativeJets) and p._shares() == 2 for p in fused._sets.values())


def test_fused_gradient_of_a_defined_problem_without_the_c_kernels(monkeypatch):
    """Where the C library is off, float32 runs the torch passes: the same gradient."""
    monkeypatch.setattr(native, "_LIB", None)
    monkeypatch.setattr(native, "_TRIED", True)
    assert _check(_mixed2d(), "strong", torch.float32).method == "torch"


@pytest.mark.parametrize("case", ["second_order_system", "heat", "mixed2d"], ids=str)
def test_training_a_defined_problem_with_the_fused_step_ends_where_autograd_does(case):
    kw = dict(width=12, depth=2, optimizer="adam", steps=100, lr=3e-3, progress=False)
    problem = DEFINED_CASES[case]()
    fused = plw.train(problem, "strong", **kw)
    ref = plw.train(problem, "strong", gradient="autograd", **kw)
    assert fused.history.attrs["gradient"] == f"fused ({'C' if native.library() is not None else 'torch'})"
    a, b = fused.history.loss.values, ref.history.loss.values
    assert a[-1] < 0.5 * a[0]
    assert abs(a[-1] - b[-1]) <= 0.02 * b[-1]


_IN_CHILD: list = []  # the FusedLoss the forked child calls (a fork inherits it; it cannot be pickled)


def _fused_step_in_child():
    return _IN_CHILD[0]()[2]


def test_the_c_training_passes_survive_a_fork():
    """A forked child has none of the parent's OpenMP threads: the training passes it inherits run on its
    own thread (as rop.c's do) and give the parent's gradient, not wait for the parent's workers for ever.
    (The FusedLoss is made in the parent: torch's own parallel ops hang in such a child.)"""
    import multiprocessing as mp

    problem = _mixed2d()
    net = MLP(problem.dim, 12, 2, "tanh")
    theta = _theta(net, torch.float32, 1)
    fused = FusedLoss(Objective(problem, net, "strong", "cpu", torch.float32), theta, threads=2)
    assert fused.method == "C" or native.library() is None
    want = fused()[2]  # an OpenMP team now exists in this process
    _IN_CHILD[:] = [fused]
    try:
        with mp.get_context("fork").Pool(1) as pool:
            got = pool.apply_async(_fused_step_in_child).get(timeout=120)
    finally:
        _IN_CHILD.clear()
    torch.testing.assert_close(got, want, rtol=1e-6, atol=0.0)


def test_a_workspace_collected_while_another_takes_a_buffer_does_not_deadlock():
    # a workspace's finalizer runs wherever the garbage collector does, also inside _take_buffer while this
    # thread holds the pool's lock (seen as a hung test run): it must not take that lock itself
    import gc

    from pinn_landscape_widget.engine import _workspace

    class Owner:
        pass

    owner = Owner()
    owner.cycle = owner  # freed only by the collector
    ptr = Workspace("cpu", torch.float32, owner=owner).empty(10).data_ptr()
    del owner
    done = threading.Event()

    def take():
        with _workspace._POOL_LOCK:  # as _take_buffer holds it when the collector runs
            gc.collect()
        done.set()

    t = threading.Thread(target=take, daemon=True)
    t.start()
    t.join(10)
    assert done.is_set(), "the finalizer waited for the pool's lock its own thread held"
    # and the returned buffer reaches the pool, for the next workspace
    with _workspace._POOL_LOCK:
        _workspace._take_returned()
        pooled = [b.data_ptr() for b in _workspace._POOL.get((torch.device("cpu"), torch.float32), [])]
        held = sum(b.numel() * b.element_size() for bufs in _workspace._POOL.values() for b in bufs)
    assert ptr in pooled or held > _workspace.POOL_BYTES - 4 * _workspace.CHUNK_ELEMENTS  # or the pool was full
