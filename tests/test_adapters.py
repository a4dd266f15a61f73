"""plw.adapters against the real DeepXDE (PyTorch backend) and PINA, on a tiny 1-D Poisson problem.

u'' = -pi^2 sin(pi x) on [0, 1], u(0) = 0, u(1) = 1 (exact u = sin(pi x) + x), a 1-10-10-1 tanh network
(141 parameters), about 60 points, 120 optimizer steps in each library. Every loss the adapters
give is checked against the library's own numbers (DeepXDE's loss history, PINA's logged condition losses
and its condition loss function) and against the same loss written out by hand below, in float64, whose
dense Hessian checks the top eigenvalue of ``plw.hessian_eigenpairs``.

The libraries are imported in fixtures (a missing one fails these tests: CI installs both through the
``test`` extra), DeepXDE with ``DDE_BACKEND=pytorch`` set first, so it reads no config and writes none.
"""

from __future__ import annotations

import copy
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.models.recorder import Recorder

WEIGHT_BC = 10.0
STEPS = 120


def exact_np(x):
    return np.sin(np.pi * x) + x


def flat(module) -> torch.Tensor:
    return torch.nn.utils.parameters_to_vector(module.parameters()).detach().clone()


def poisson_loss_by_hand(net, theta, x_pde, x_left, x_right, g_left, g_right):
    """mean (u'' + pi^2 sin(pi x))^2 + 10 mean (u - g)^2 on each boundary, with net's parameters set to theta,
    by plain autograd (no library code); returns (total, residual term, [boundary terms])."""
    params, off = {}, 0
    for name, p in net.named_parameters():
        params[name] = theta[off : off + p.numel()].view_as(p)
        off += p.numel()
    x = x_pde.clone().requires_grad_(True)
    u = torch.func.functional_call(net, params, (x,))
    (ux,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    (uxx,) = torch.autograd.grad(ux.sum(), x, create_graph=True)
    residual = ((uxx + math.pi**2 * torch.sin(math.pi * x)) ** 2).mean()
    bcs = []
    for xb, g in ((x_left, g_left), (x_right, g_right)):
        if xb.shape[0]:
            bcs.append(WEIGHT_BC * ((torch.func.functional_call(net, params, (xb,)) - g) ** 2).mean())
    return residual + sum(bcs), residual, bcs


def corner_by_hand(ds, run, loss_by_hand) -> tuple[float, float]:
    """(grid value, loss written by hand) at alpha = beta = 0.5: theta* + (d1 + d2) / 2 from the grid's own
    directions, the hand-written loss in float64."""
    theta = run.params.double() + 0.5 * torch.from_numpy(ds.directions.values).double().sum(0)
    value = loss_by_hand(theta)
    value = value[0] if isinstance(value, tuple) else value
    return float(ds.loss.sel(alpha=0.5, beta=0.5)), float(value.detach())


def top_eigenvalue_dense(f, theta) -> float:
    H = torch.autograd.functional.hessian(f, theta)
    assert torch.allclose(H, H.T, atol=1e-10 * H.abs().max())
    return float(torch.linalg.eigvalsh(H)[-1])


# --------------------------------------------------------------------------------------------------- DeepXDE


@pytest.fixture(scope="module")
def dde():
    os.environ["DDE_BACKEND"] = "pytorch"  # before the import: DeepXDE then reads no config file and writes none
    import deepxde

    assert deepxde.backend.backend_name == "pytorch"
    return deepxde


def dde_problem(dde, seed=0):
    dde.config.set_random_seed(seed)

    def pde(x, y):
        return dde.grad.hessian(y, x) + np.pi**2 * torch.sin(np.pi * x)

    geom = dde.geometry.Interval(0, 1)
    bc = dde.icbc.DirichletBC(geom, exact_np, lambda x, on_boundary: on_boundary)
    data = dde.data.PDE(geom, pde, bc, num_domain=60, num_boundary=2, solution=exact_np, num_test=20)
    net = dde.nn.FNN([1, 10, 10, 1], "tanh", "Glorot uniform")
    return dde.Model(data, net)


@pytest.fixture(scope="module")
def dde_trained(dde):
    """A DeepXDE model trained STEPS Adam steps with a DeepXDERecorder, and the parameters at each step a plain
    DeepXDE callback saw (independent of the recorder)."""
    model = dde_problem(dde)
    model.compile("adam", lr=3e-3, loss_weights=[1.0, WEIGHT_BC], verbose=0)

    class Thetas(dde.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.at = {}

        def on_train_begin(self):
            self.at[self.model.train_state.step] = flat(self.model.net)

        def on_epoch_end(self):
            self.at[self.model.train_state.step] = flat(self.model.net)

    rec, seen = plw.adapters.DeepXDERecorder(every=20), Thetas()
    losshistory, _ = model.train(iterations=STEPS, display_every=40, callbacks=[rec, seen], verbose=0)
    run = plw.adapters.from_deepxde(model, recorder=rec)
    return model, rec, seen.at, losshistory, run


def dde_by_hand(model, dtype=torch.float64):
    """(net copy, loss(theta)) of DeepXDE's problem above, written out by hand: boundary points are
    train_x[:2] (DeepXDE puts them first), residual points the rest, targets computed as DeepXDE does (from
    the float32 points)."""
    x = model.data.train_x
    n_bc = model.data.num_bcs[0]
    xb = torch.from_numpy(x[:n_bc]).to(dtype)
    gb = torch.from_numpy(exact_np(x[:n_bc])).to(dtype)
    x_pde = torch.from_numpy(x[n_bc:]).to(dtype)
    net = copy.deepcopy(model.net).to(dtype)

    def loss(theta):
        # DeepXDE's one Dirichlet term is the mean over both boundary points
        total, residual, (bc,) = poisson_loss_by_hand(net, theta, x_pde, xb, xb[:0], gb, gb[:0])
        return total

    return net, loss


@pytest.mark.slow  # trains in the library (one fixture per library, shared by its tests)
def test_deepxde_grid_center_equals_deepxde_loss_terms(dde_trained):
    model, _, _, losshistory, run = dde_trained
    assert run.term_names == {"deepxde": ("pde", "dirichletbc_0")}
    ds = plw.landscape(run, resolution=5, span=0.5, progress=False)
    center = ds.sel(alpha=0.0, beta=0.0)
    last = np.asarray(losshistory.loss_train[-1], dtype=np.float32)  # DeepXDE's weighted terms at theta*
    assert losshistory.steps[-1] == STEPS
    # the traced run (DeepXDE's loss code on the engine's jets) within float32 rounding of DeepXDE's numbers
    assert run.attrs["evaluation"] == "traced"
    assert float(center.loss_pde) == pytest.approx(float(last[0]), rel=1e-5)
    assert float(center.loss_dirichletbc_0) == pytest.approx(float(last[1]), rel=1e-5)
    assert float(center.loss) == pytest.approx(float(np.float32(last[0]) + np.float32(last[1])), rel=1e-5)
    # DeepXDE's compiled loss one point at a time (the code DeepXDE ran, on single-threaded torch ops, which
    # may round differently from DeepXDE's multi-threaded call on some CPUs): equal to float32 rounding
    per_point = plw.adapters.from_deepxde(model, trace=False)
    own = plw.evaluate(per_point, run.params)
    assert [float(own["loss_pde"][0]), float(own["loss_dirichletbc_0"][0])] == pytest.approx(last.tolist(), rel=2e-6)
    # the loss written out by hand agrees in float64, at the center and off it
    _, by_hand = dde_by_hand(model)
    grid, ref = corner_by_hand(ds, run, by_hand)
    assert grid == pytest.approx(ref, rel=1e-5) and abs(ref - float(center.loss)) > 1e-3 * ref
    theta = flat(model.net).to(torch.float64)
    ev = plw.evaluate(run, run.params.to(torch.float64), dtype=torch.float64)
    assert float(ev["loss"][0]) == pytest.approx(float(by_hand(theta).detach()), rel=1e-12)
    # the solution panel's numbers: u against DeepXDE's `solution=` on the training points
    u = model.predict(model.data.train_x)
    ref = exact_np(model.data.train_x)
    assert float(ev["rel_l2_error"][0]) == pytest.approx(np.linalg.norm(u - ref) / np.linalg.norm(ref), rel=1e-5)
    assert run.problem.input_names == ("x",) and run.problem.domain == ((0.0, 1.0),)


@pytest.mark.slow  # trains in the library (one fixture per library, shared by its tests)
def test_deepxde_recorded_trajectory_and_history_are_deepxdes(dde_trained):
    model, rec, seen, losshistory, run = dde_trained
    assert run.trajectory_steps == list(range(0, STEPS + 1, 20))
    for k, step in enumerate(run.trajectory_steps):
        assert torch.equal(run.trajectory[k], seen[step].to(run.dtype))
    # at each step DeepXDE evaluated its loss, the history holds its terms, and the adapter's loss at the
    # recorded parameters of that step gives them again
    recorded = dict(zip(run.trajectory_steps, run.trajectory))
    for step, terms in zip(losshistory.steps, losshistory.loss_train):
        terms = np.asarray(terms, dtype=np.float64)
        row = run.history.sel(step=step)
        assert [float(row.loss_pde), float(row.loss_dirichletbc_0)] == terms.tolist()
        if step in recorded:
            ev = plw.evaluate(run, recorded[step])
            got = [float(ev["loss_pde"][0]), float(ev["loss_dirichletbc_0"][0])]
            assert got == pytest.approx(terms.tolist(), rel=1e-5)
    assert np.isnan(run.history.loss_pde.sel(step=1))  # DeepXDE computed no loss there
    assert run.history.sizes["step"] == STEPS + 1


@pytest.mark.slow  # trains in the library (one fixture per library, shared by its tests)
def test_deepxde_pca_directions_from_the_recorded_trajectory(dde_trained):
    _, _, seen, _, run = dde_trained
    dirs = plw.pca_directions(run, 2)
    # PCA of the parameters a plain DeepXDE callback saw at the same steps, by numpy
    thetas = np.stack([seen[s].double().numpy() for s in range(0, STEPS + 1, 20)])
    M = thetas[:-1] - thetas[-1]
    _, S, Vt = np.linalg.svd(M - M.mean(0), full_matrices=False)
    ratio = S**2 / (S**2).sum()
    assert dirs.attrs["explained_variance_ratio"] == pytest.approx(ratio[:2].tolist(), rel=1e-6)
    for i in range(2):
        assert abs(float(dirs.vectors[i].double() @ torch.from_numpy(Vt[i]))) == pytest.approx(1.0, abs=1e-5)
    ds = plw.landscape(run, dirs, resolution=3, progress=False)
    assert ds.sizes["step"] == len(run.trajectory_steps)


@pytest.mark.slow  # trains in the library (one fixture per library, shared by its tests)
def test_deepxde_hessian_top_eigenvalue_matches_a_dense_hessian(dde_trained):
    model, _, _, _, run = dde_trained
    eig = plw.hessian_eigenpairs(run, n=1)
    _, by_hand = dde_by_hand(model)
    dense = top_eigenvalue_dense(by_hand, flat(model.net).to(torch.float64))
    assert dense > 1.0
    assert float(eig.eigenvalue[0]) == pytest.approx(dense, rel=1e-8)


def test_deepxde_refuses_an_uncompiled_model_another_backend_and_other_objects(dde, monkeypatch):
    model = dde_problem(dde, seed=1)
    with pytest.raises(ValueError, match=r"not compiled; call model.compile"):
        plw.adapters.from_deepxde(model)
    subclassed = type("MyModel", (dde.Model,), {})(model.data, model.net)  # a user's subclass is a deepxde.Model
    with pytest.raises(ValueError, match=r"not compiled; call model.compile"):
        plw.adapters.from_deepxde(subclassed)
    model.compile("adam", lr=1e-3)
    with pytest.raises(ValueError, match=r"must be a deepxde.Model, got Sequential"):
        plw.adapters.from_deepxde(torch.nn.Sequential(torch.nn.Linear(1, 1)))
    with pytest.raises(ValueError, match=r"must be a plw.adapters.DeepXDERecorder .*got int"):
        plw.adapters.from_deepxde(model, recorder=3)
    with pytest.raises(ValueError, match=r"DeepXDERecorder has recorded nothing yet"):
        plw.adapters.from_deepxde(model, recorder=plw.adapters.DeepXDERecorder())
    # one process has one DeepXDE backend (fixed at import): the check reads it
    monkeypatch.setattr(dde.backend, "backend_name", "tensorflow")
    with pytest.raises(ValueError, match=r"'tensorflow' backend; it needs the 'pytorch' backend .*DDE_BACKEND=pytorch"):
        plw.adapters.from_deepxde(model)


# ------------------------------------------------------------------------------------------------------ PINA


@pytest.fixture(scope="module")
def pina():
    import pina
    import pina.solver  # noqa: F401

    return pina


def pina_problem(pina, n=60):
    """A fresh problem class each time: PINA's Trainer rewrites the class's conditions dict."""
    from pina.domain import CartesianDomain
    from pina.equation import Equation
    from pina.equation.zoo import FixedValue
    from pina.operator import laplacian
    from pina.problem import SpatialProblem

    def poisson(input_, output_):
        return laplacian(output_, input_, components=["u"], d=["x"]) + torch.pi**2 * torch.sin(
            torch.pi * input_.extract(["x"])
        )

    class Poisson1D(SpatialProblem):
        output_variables = ["u"]
        spatial_domain = CartesianDomain({"x": [0, 1]})
        domains = {"D": spatial_domain, "left": CartesianDomain({"x": 0.0}), "right": CartesianDomain({"x": 1.0})}
        conditions = {
            "left": pina.Condition(domain="left", equation=FixedValue(0.0)),
            "right": pina.Condition(domain="right", equation=FixedValue(1.0)),
            "D": pina.Condition(domain="D", equation=Equation(poisson)),
        }

        def solution(self, pts):
            x = pts.extract(["x"])
            return torch.sin(torch.pi * x) + x

    problem = Poisson1D()
    problem.discretise_domain(n=n, mode="grid", domains="D")
    problem.discretise_domain(n=1, mode="grid", domains=["left", "right"])
    return problem


def pina_solver(pina, problem, seed=0):
    from pina.model import FeedForward
    from pina.weighting import ScalarWeighting

    torch.manual_seed(seed)
    model = FeedForward(1, 1, inner_size=10, n_layers=2, func=torch.nn.Tanh)
    weights = ScalarWeighting(weights={"D": 1.0, "left": WEIGHT_BC, "right": WEIGHT_BC})
    return pina.solver.PhysicsInformedSingleModelSolver(problem=problem, model=model, weighting=weights)


@pytest.fixture(scope="module")
def pina_trained(pina, tmp_path_factory):
    """A PINA solver trained STEPS full-batch epochs with a PinaRecorder, and what a plain Lightning callback
    saw: the parameters before each step and PINA's logged condition losses of that step."""
    import lightning

    class Logged(lightning.pytorch.Callback):
        def __init__(self):
            self.at = {}

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.step, self.theta = trainer.global_step, flat(pl_module.model)

        def on_train_epoch_end(self, trainer, pl_module):
            self.at[self.step] = (self.theta, {k: float(v) for k, v in trainer.callback_metrics.items()})

    problem = pina_problem(pina)
    solver = pina_solver(pina, problem)
    rec, logged = plw.adapters.PinaRecorder(every=20), Logged()
    trainer = pina.Trainer(
        solver,
        max_epochs=STEPS,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path_factory.mktemp("lightning")),
        callbacks=[rec, logged],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train()
    run = plw.adapters.from_pina(solver, recorder=rec)
    return solver, trainer, rec, logged.at, run


def pina_by_hand(problem, net, dtype=torch.float64):
    pts = {k: v.as_subclass(torch.Tensor).to(dtype) for k, v in problem.discretised_domains.items()}
    one = torch.ones(1, 1, dtype=dtype)
    net = copy.deepcopy(net).to(dtype)

    def loss(theta):
        return poisson_loss_by_hand(net, theta, pts["D"], pts["left"], pts["right"], 0 * one, one)

    return net, loss


@pytest.mark.slow  # trains in the library (one fixture per library, shared by its tests)
def test_pina_grid_center_equals_pina_condition_losses(pina_trained):
    solver, trainer, _, _, run = pina_trained
    assert run.term_names == {"pina": ("left", "right", "D")}
    ds = plw.landscape(run, resolution=5, span=0.5, progress=False)
    center = ds.sel(alpha=0.0, beta=0.0)
    # PINA's own condition loss at theta*, on the Trainer's training points of each condition
    split = trainer.data_module.split_idxs
    weights = {"D": 1.0, "left": WEIGHT_BC, "right": WEIGHT_BC}
    own = {}
    for name, cond in solver.problem.conditions.items():
        batch = dict(cond.data[split[name]["train"]].to_batch())
        with torch.enable_grad():
            own[name] = weights[name] * float(solver._compute_condition_loss(cond, batch, 0).detach())
    # the run is traced (the engine's fused jets, not PINA's autograd): equal to float32 rounding
    assert run.attrs["evaluation"] == "traced"
    for name, value in own.items():
        assert float(center[f"loss_{name}"]) == pytest.approx(value, rel=1e-5, abs=1e-12)
    assert float(center.loss) == pytest.approx(sum(own.values()), rel=1e-5)
    # and the loss written out by hand, in float64, at the center and off it
    _, by_hand = pina_by_hand(solver.problem, solver.model)
    grid, ref = corner_by_hand(ds, run, by_hand)
    assert grid == pytest.approx(ref, rel=1e-5) and abs(ref - float(center.loss)) > 1e-3 * ref
    theta = flat(solver.model).to(torch.float64)
    total, residual, (left, right) = by_hand(theta)
    ev = plw.evaluate(run, run.params.to(torch.float64), dtype=torch.float64)
    for name, value in (("loss", total), ("loss_D", residual), ("loss_left", left), ("loss_right", right)):
        assert float(ev[name][0]) == pytest.approx(float(value.detach()), rel=1e-12, abs=1e-15)
    x = torch.linspace(0, 1, 60, dtype=torch.float64)[:, None]
    assert run.problem.input_names == ("x",) and run.problem.unknowns == ("u",)
    assert torch.allclose(run.problem.exact(x), torch.sin(torch.pi * x[:, 0]) + x[:, 0])


@pytest.mark.slow  # trains in the library (one fixture per library, shared by its tests)
def test_pina_recorded_trajectory_and_history_match_its_logs(pina_trained):
    _, _, _, logged, run = pina_trained
    assert run.trajectory_steps == list(range(0, STEPS + 1, 20))
    weights = {"D": 1.0, "left": WEIGHT_BC, "right": WEIGHT_BC}
    recorded = dict(zip(run.trajectory_steps, run.trajectory))
    for step in (0, 1, STEPS // 2, STEPS - 1):
        theta, metrics = logged[step]
        row = run.history.sel(step=step)
        assert float(row.loss) == pytest.approx(metrics["train_loss"], rel=1e-6)
        for name, w in weights.items():
            assert float(row[f"loss_{name}"]) == pytest.approx(w * metrics[f"{name}_loss"], rel=1e-6)
        if step in recorded:
            assert torch.equal(recorded[step], theta)
        # PINA's logged losses of that step, again from the adapter at the parameters of that step
        ev = plw.evaluate(run, theta)  # traced: float32 rounding of the engine's jets
        for name, w in weights.items():
            assert float(ev[f"loss_{name}"][0]) == pytest.approx(w * metrics[f"{name}_loss"], rel=1e-5)
    dirs = plw.pca_directions(run, 2)
    thetas = np.stack([logged[s][0].double().numpy() for s in range(0, STEPS, 20)] + [run.params.double().numpy()])
    M = thetas[:-1] - thetas[-1]
    _, S, _ = np.linalg.svd(M - M.mean(0), full_matrices=False)
    assert dirs.attrs["explained_variance_ratio"] == pytest.approx((S[:2] ** 2 / (S**2).sum()).tolist(), rel=1e-6)


@pytest.mark.slow  # trains in the library (one fixture per library, shared by its tests)
def test_pina_hessian_top_eigenvalue_matches_a_dense_hessian(pina_trained):
    solver, _, _, _, run = pina_trained
    eig = plw.hessian_eigenpairs(run, n=1)
    _, by_hand = pina_by_hand(solver.problem, solver.model)
    dense = top_eigenvalue_dense(lambda t: by_hand(t)[0], flat(solver.model).to(torch.float64))
    assert dense > 1.0
    assert float(eig.eigenvalue[0]) == pytest.approx(dense, rel=1e-8)


def test_pina_before_any_trainer_evaluates_the_discretised_domains(pina):
    problem = pina_problem(pina, n=20)
    solver = pina_solver(pina, problem, seed=3)
    run = plw.adapters.from_pina(solver)
    _, by_hand = pina_by_hand(problem, solver.model)
    total, residual, (left, right) = by_hand(flat(solver.model).to(torch.float64))
    ev = plw.evaluate(run, run.params.to(torch.float64), dtype=torch.float64)
    assert [float(ev[k][0]) for k in ("loss_left", "loss_right", "loss_D")] == pytest.approx(
        [float(left.detach()), float(right.detach()), float(residual.detach())], rel=1e-12
    )
    assert type(problem.conditions["D"]).__name__ == "DomainEquationCondition"  # the problem is left as it was


def test_pina_refuses_rba_several_models_missing_points_and_other_objects(pina):
    from pina.model import FeedForward

    problem = pina_problem(pina, n=10)
    rba = pina.solver.RBAPhysicsInformedSingleModelSolver(problem, FeedForward(1, 1, 10, 2))
    with pytest.raises(ValueError, match=r"RBAPhysicsInformedSingleModelSolver updates its residual-based attention"):
        plw.adapters.from_pina(rba)
    ensemble = pina.solver.PhysicsInformedEnsembleSolver(problem, [FeedForward(1, 1, 10, 2), FeedForward(1, 1, 10, 2)])
    with pytest.raises(ValueError, match=r"PhysicsInformedEnsembleSolver has 2 models; a landscape spans"):
        plw.adapters.from_pina(ensemble)
    with pytest.raises(ValueError, match=r"solver must be a PINA solver .*got Linear"):
        plw.adapters.from_pina(torch.nn.Linear(1, 1))
    bare = pina_problem(pina, n=10)
    bare.discretised_domains.pop("left")
    with pytest.raises(ValueError, match=r"condition 'left': its domain 'left' has no points; call problem.discretise"):
        plw.adapters.from_pina(pina_solver(pina, bare))


# ----------------------------------------------------------------------------------------------- no library


def test_recorder_record_follows_a_library_step_counter():
    model = torch.nn.Linear(2, 1).double()
    rec = Recorder(model, every=4, start=2)
    rec.record(2, loss=5.0, a=4.0)
    for step in (3, 4, 5):
        with torch.no_grad():
            model.weight += 1.0
        rec.record(step)
    rec.record(5, loss=1.0)
    rec.record(5, a=0.5)  # adds to the row of step 5
    with torch.no_grad():
        model.weight += 1.0
    rec.record(11)  # passes 8 (L-BFGS-like jump): one snapshot, of the parameters now
    traj, steps = rec.finish()
    assert steps == [2, 4, 11]
    assert traj[:, 0].tolist() == [traj[0, 0].item(), traj[0, 0].item() + 2, traj[0, 0].item() + 4]
    h = rec.history()
    # rows 0..10: the losses of steps 2 and 5; none for the others (from_model adds the last, step 11)
    assert h.sizes["step"] == 11 and list(h.data_vars) == ["loss", "loss_a"]
    assert h.loss.values[[2, 5]].tolist() == [5.0, 1.0] and h.loss_a.values[[2, 5]].tolist() == [4.0, 0.5]
    assert np.isnan(np.delete(h.loss.values, [2, 5])).all()
    with pytest.raises(ValueError, match="step must not decrease, got 7 after 11"):
        rec.record(7)


def test_adapters_import_neither_library_and_name_the_extras():
    code = """
import sys
import pinn_landscape_widget as plw
plw.adapters.from_deepxde, plw.adapters.from_pina
assert not {"deepxde", "pina", "lightning"} & set(sys.modules), sorted({"deepxde", "pina", "lightning"} & set(sys.modules))
try:
    plw.adapters.from_deepxde(object())
except ValueError as e:
    assert "must be a deepxde.Model, got object" in str(e), e
sys.modules["deepxde"] = None
sys.modules["pina"] = None
sys.modules["lightning"] = None
for call in (lambda: plw.adapters.DeepXDERecorder, lambda: plw.adapters.from_pina(object()), lambda: plw.adapters.PinaRecorder):
    try:
        call()
    except ImportError as e:
        print(e)
    else:
        raise AssertionError("no ImportError")
"""
    env = {**os.environ, "PYTHONPATH": str(plw.__file__).rsplit(os.sep, 2)[0]}
    env.pop("DDE_BACKEND", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("plw.adapters.DeepXDERecorder needs the 'deepxde' package")
    assert 'pip install "pinn-landscape-widget[deepxde]"' in lines[0]
    assert lines[1].startswith("plw.adapters.from_pina needs the 'pina' package")
    assert lines[2].startswith("plw.adapters.PinaRecorder needs the 'lightning' package")
    assert all('[pina]"' in line for line in lines[1:])
