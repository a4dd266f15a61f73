"""Reference solutions (pde/reference.py), each checked against a method that shares no code with it.

- GridReference: exact on multilinear functions, the predicted O(h^2) error on a smooth one, errors, pickle.
- Burgers: Cole-Hopf by Gauss-Hermite vs a dense direct quadrature of the Cole-Hopf integrals (no
  substitution), vs a Fourier pseudo-spectral solve of the PDE (integrating-factor RK4), the maximum slope
  published by Basdevant et al. (1986), a finite-difference residual, initial and boundary values.
- Allen-Cahn: Fourier + ETDRK4 vs Fourier + classical RK4 and vs sixth-order finite differences + RK4, a
  finite-difference residual, symmetry, initial values.
- Reaction(-diffusion): closed form vs the textbook formula and the ODE; Strang splitting vs the closed form
  (nu = 0), vs the heat equation's exact Fourier series (rho = 0), second-order convergence in dt, a
  finite-difference residual.
- The cache (memory and disk, corrupt files) and argument errors.

The independent solvers below are plain numpy, written for these tests only.
"""

import math
import pickle

import numpy as np
import pytest
import torch

from pinn_landscape_widget.pde import reference as ref
from pinn_landscape_widget.pde.reference import (
    GridReference,
    allen_cahn_reference,
    burgers_cole_hopf,
    burgers_reference,
    reaction_diffusion_reference,
    reaction_exact,
)

F64 = torch.float64
NU = 0.01 / math.pi


@pytest.fixture(autouse=True, scope="module")
def private_cache(tmp_path_factory):
    """Every reference these tests compute goes to a temporary cache, never the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))
    ref._clear_memory_caches()
    yield
    ref._clear_memory_caches()
    mp.undo()


def tensor(a):
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def grid_points(xs, ts):
    X, T = np.meshgrid(xs, ts, indexing="ij")
    return tensor(np.stack([X.ravel(), T.ravel()], 1))


def rel_l2(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


# --- GridReference ---------------------------------------------------------------------------------------


def test_interpolation_is_exact_on_multilinear_functions():
    rng = np.random.default_rng(0)
    xs = np.sort(rng.uniform(-1, 2, 7))
    ys = np.sort(rng.uniform(0, 1, 5))
    zs = np.array([0.0, 0.1, 0.5, 2.0])

    def f(x, y, z):  # linear in each coordinate separately, with every cross term
        return 1.5 - 2 * x + 3 * y - z + 0.7 * x * y - 1.3 * x * z + 2.1 * y * z + 0.9 * x * y * z

    X, Y, Z = np.meshgrid(xs, ys, zs, indexing="ij")
    g = GridReference({"x": xs, "y": ys, "z": zs}, f(X, Y, Z))
    p = np.stack([rng.uniform(xs[0], xs[-1], 500), rng.uniform(ys[0], ys[-1], 500), rng.uniform(0, 2, 500)], 1)
    got = g(tensor(p)).numpy()
    assert got.shape == (500,)
    assert np.abs(got - f(*p.T)).max() < 1e-13
    # the nodes themselves, the box corners included
    assert torch.equal(g(g.grid_points()), torch.as_tensor(f(X, Y, Z)).reshape(-1))


def test_interpolation_error_is_the_bilinear_error_of_a_smooth_function():
    # f = sin(x) cos(2 t): at a cell centre the bilinear error is (hx^2 f_xx + ht^2 f_tt) / 8 + O(h^4)
    f = lambda x, t: np.sin(x) * np.cos(2 * t)
    errors = []
    for n in (21, 41, 81):
        xs, ts = np.linspace(0, 3, n), np.linspace(0, 1, n)
        hx, ht = xs[1] - xs[0], ts[1] - ts[0]
        g = GridReference({"x": xs, "t": ts}, f(*np.meshgrid(xs, ts, indexing="ij")))
        cx, ct = (xs[:-1] + xs[1:]) / 2, (ts[:-1] + ts[1:]) / 2
        p = grid_points(cx, ct).numpy()
        err = g(tensor(p)).numpy() - f(*p.T)
        predicted = (hx**2 * -f(*p.T) + ht**2 * -4 * f(*p.T)) / 8
        big = np.abs(predicted) > 0.1 * np.abs(predicted).max()
        assert np.abs(err[big] / predicted[big] - 1).max() < 0.02
        # and anywhere, the bound sum_k h_k^2 / 8 max|f_kk|
        q = np.random.default_rng(n).uniform([0, 0], [3, 1], (2000, 2))
        assert np.abs(g(tensor(q)).numpy() - f(*q.T)).max() <= (hx**2 * 1 + ht**2 * 4) / 8
        errors.append(np.abs(err).max())
    assert 3.8 < errors[0] / errors[1] < 4.2 and 3.8 < errors[1] / errors[2] < 4.2


def test_several_unknowns_come_back_as_columns_in_dict_order():
    xs, ts = np.linspace(0, 1, 5), np.linspace(0, 2, 3)
    X, T = np.meshgrid(xs, ts, indexing="ij")
    g = GridReference({"x": xs, "t": ts}, {"v": X + T, "w": X * T, "p": 2 + 0 * X})
    p = tensor([[0.3, 0.7], [1.0, 2.0], [0.0, 0.0]])
    got = g(p)
    assert got.shape == (3, 3) and g.unknowns == ("v", "w", "p")
    expect = torch.stack([p[:, 0] + p[:, 1], p[:, 0] * p[:, 1], torch.full((3,), 2.0, dtype=F64)], 1)
    assert torch.allclose(got, expect, atol=1e-15)
    assert set(g.values) == {"v", "w", "p"} and g.values["w"].shape == (5, 3)


def test_points_outside_the_box_name_the_coordinate_and_range():
    g = GridReference({"x": np.linspace(-1, 1, 4), "t": np.linspace(0, 1, 3)}, np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"points\[:, 1\] \(t\) must lie in \[0, 1\].*t = 1\.5"):
        g(tensor([[0.0, 0.5], [0.2, 1.5]]))
    with pytest.raises(ValueError, match=r"\(x\) must lie in \[-1, 1\]"):
        g(tensor([[-1.001, 0.5]]))
    # within the tiny tolerance a point counts as on the edge
    assert g(tensor([[1 + 1e-12, 1 + 1e-12], [-1 - 1e-12, -1e-12]])).tolist() == [0.0, 0.0]


def test_bad_grids_and_points_are_clear_errors():
    xs, ts = np.linspace(0, 1, 4), np.linspace(0, 1, 3)
    with pytest.raises(ValueError, match=r"axes\['x'\] must be strictly increasing; entry 1"):
        GridReference({"x": [0.0, 0.5, 0.5, 1.0], "t": ts}, np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"axes\['t'\] must be 1-D with at least 2 points"):
        GridReference({"x": xs, "t": [0.0]}, np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"values must have the grid's shape \(4, 3\) \(x: 4, t: 3\), got \(3, 4\)"):
        GridReference({"x": xs, "t": ts}, np.zeros((3, 4)))
    bad = np.zeros((4, 3))
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"values\['u2'\] must be finite; 1 NaN/infinite entries, first at \(2, 1\)"):
        GridReference({"x": xs, "t": ts}, {"u1": np.zeros((4, 3)), "u2": bad})
    with pytest.raises(ValueError, match="axes must be a non-empty dict"):
        GridReference([xs, ts], np.zeros((4, 3)))
    g = GridReference({"x": xs, "t": ts}, np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"points must have shape \[N, 2\] \(columns x, t\), got \(5, 3\)"):
        g(torch.zeros(5, 3, dtype=F64))
    with pytest.raises(ValueError, match="points must be finite; row 1"):
        g(tensor([[0.0, 0.0], [np.nan, 0.5]]))


def test_grid_reference_pickles():
    xs, ts = np.linspace(-1, 1, 9), np.linspace(0, 1, 4)
    g = GridReference({"x": xs, "t": ts}, np.cos(xs)[:, None] * ts[None, :] ** 2, attrs={"problem": "demo"})
    h = pickle.loads(pickle.dumps(g))
    p = tensor(np.random.default_rng(1).uniform([-1, 0], [1, 1], (50, 2)))
    assert torch.equal(g(p), h(p)) and h.attrs == {"problem": "demo"} and h.names == ("x", "t")
    assert "GridReference(x: 9 points in [-1, 1], t: 4 points in [0, 1]" in repr(h)


# --- Burgers: independent methods ------------------------------------------------------------------------


def burgers_direct_quadrature(x, t, nu):
    """The Cole-Hopf integrals in eta, trapezoid rule on a fine uniform grid (spectrally accurate for these
    smooth, fast-decaying integrands); no Gauss-Hermite substitution, exponents shifted by their maximum."""
    s = 4 * nu * t
    b = 1 / (2 * math.pi * nu)
    half = math.sqrt(s * (2 * b + 60))  # beyond: the Gaussian beats the e^(2b) range of f by e^-60
    step = min(math.sqrt(s) / 30, 0.02 * math.sqrt(nu), 1e-3)
    eta = np.arange(-half, half + step, step)
    y = np.asarray(x)[:, None] - eta[None, :]
    e = -(eta**2) / s - b * np.cos(np.pi * y)
    w = np.exp(e - e.max(1, keepdims=True))
    return -(np.sin(np.pi * y) * w).sum(1) / w.sum(1)


def burgers_spectral(n, dt, t_out, nu, x_eval):
    """Fourier pseudo-spectral solve of u_t + (u^2/2)_x = nu u_xx on the periodic [-1, 1) (the odd 2-periodic
    extension of the Dirichlet problem) with integrating-factor RK4 (Lawson 1967), evaluated at x_eval by
    trigonometric interpolation; returns [len(x_eval), len(t_out)]."""
    xj = -1 + 2 * np.arange(n) / n
    m = np.arange(n // 2 + 1)
    k = np.pi * m
    ik = 1j * k
    ik[-1] = 0
    e_half, e_full = np.exp(-nu * k**2 * dt / 2), np.exp(-nu * k**2 * dt)

    def nonlinear(v):
        return -0.5 * ik * np.fft.rfft(np.fft.irfft(v, n) ** 2)

    basis = np.exp(1j * np.pi * np.outer(np.asarray(x_eval) + 1, m))
    weights = np.where((m == 0) | (m == n // 2), 1.0, 2.0) / n
    v = np.fft.rfft(-np.sin(np.pi * xj))
    steps = [round(t / dt) for t in t_out]
    out = []
    for s in range(steps[-1] + 1):
        if s in steps:
            out.append(np.real(basis @ (weights * v)))
        if s == steps[-1]:
            break
        a = nonlinear(v)
        b = nonlinear(e_half * (v + dt / 2 * a))
        c = nonlinear(e_half * v + dt / 2 * b)
        d = nonlinear(e_full * v + dt * e_half * c)
        v = e_full * v + dt / 6 * (e_full * a + 2 * e_half * (b + c) + d)
    return np.stack(out, 1)


@pytest.mark.parametrize("nu,tol", [(NU, 1e-14), (5e-4, 1e-13), (0.3, 1e-13)])
def test_burgers_cole_hopf_matches_a_direct_quadrature(nu, tol):
    """Gauss-Hermite (default n_quad = 256) vs the dense direct quadrature, at the shock too, at the nu
    range's ends and the default (measured: 1e-15 to 2e-14)."""
    x = np.concatenate([np.linspace(-1, 1, 41), np.linspace(-0.02, 0.02, 21)])
    worst = 0.0
    for t in (0.05, 0.3, 1 / math.pi, 0.56, 0.75, 1.0):
        got = burgers_cole_hopf(grid_points(x, [t]), nu).numpy()
        worst = max(worst, np.abs(got - burgers_direct_quadrature(x, t, nu)).max())
    assert worst < tol


def test_burgers_cole_hopf_needs_enough_nodes():
    # the check above can fail: 32 nodes miss the peaks of the integrand at t = 1
    x = np.linspace(-0.1, 0.1, 11)
    few = burgers_cole_hopf(grid_points(x, [1.0]), NU, n_quad=32).numpy()
    assert np.abs(few - burgers_direct_quadrature(x, 1.0, NU)).max() > 1e-4


def test_burgers_steepest_slope_is_the_published_one():
    """Basdevant et al. (1986): max |u_x| = 152.00516 at x = 0, t = 1.6037 / pi (nu = 0.01/pi)."""
    h = 1e-6
    ts = np.linspace(1.6027, 1.6047, 21) / math.pi
    p = grid_points([-h, h], ts)
    u = burgers_cole_hopf(p).numpy().reshape(2, -1)
    slope = (u[1] - u[0]) / (2 * h)
    i = np.argmax(np.abs(slope))
    assert abs(abs(slope[i]) - 152.00516) < 2e-4
    assert abs(ts[i] * math.pi - 1.6037) <= 1e-4


def test_burgers_reference_agrees_with_a_spectral_pde_solver():
    """The 256 x 101 reference vs the PDE solved by Fourier + integrating-factor RK4 (N = 1024, dt = 5e-4):
    measured relative L2 2e-8, max 3e-7 (at the shock), max 4e-8 for |x| > 0.05."""
    g = burgers_reference()
    xs, ts = g.axes["x"].numpy(), g.axes["t"].numpy()
    spectral = burgers_spectral(1024, 5e-4, ts, NU, xs)
    u = g.values.numpy()
    away = np.abs(xs) > 0.05
    assert rel_l2(u, spectral) < 1e-7
    assert np.abs(u - spectral).max() < 1e-6
    assert np.abs(u - spectral)[away].max() < 2e-7


@pytest.mark.slow
def test_burgers_reference_agrees_with_a_fine_spectral_pde_solver():
    """As above with N = 2048, dt = 1.25e-4: measured relative L2 3e-11, max 4e-10."""
    g = burgers_reference()
    xs, ts = g.axes["x"].numpy(), g.axes["t"].numpy()
    spectral = burgers_spectral(2048, 1.25e-4, ts, NU, xs)
    u = g.values.numpy()
    assert rel_l2(u, spectral) < 1e-10
    assert np.abs(u - spectral).max() < 2e-9


def fd4(u, h, axis):
    """Fourth-order central first and second derivatives along axis, on the interior (2 nodes trimmed)."""
    s = lambda i: np.take(u, np.arange(2 + i, u.shape[axis] - 2 + i), axis=axis)
    d1 = (-s(2) + 8 * s(1) - 8 * s(-1) + s(-2)) / (12 * h)
    d2 = (-s(2) + 16 * s(1) - 30 * s(0) + 16 * s(-1) - s(-2)) / (12 * h**2)
    return s(0), d1, d2


def test_burgers_residual_by_finite_differences():
    """u_t + u u_x - nu u_xx by fourth-order differences (h = 1e-4) at 2880 points, 960 of them within 0.02 of
    the shock: max |residual| below 1e-6 of the largest term (max |u u_x| ~ max |nu u_xx| ~ 57 at these
    points); measured 4e-8."""
    h = 1e-4
    xc = np.concatenate([np.linspace(-0.98, 0.98, 161), np.linspace(-0.02, 0.02, 80)])
    tc = np.array([0.05, 0.2, 1 / math.pi, 0.5, 0.75, 0.99])
    offsets = h * np.arange(-2, 3)
    ux = burgers_cole_hopf(grid_points((xc[:, None] + offsets).ravel(), tc)).numpy()
    ux = ux.reshape(len(xc), 5, len(tc))
    ut = burgers_cole_hopf(grid_points(xc, (tc[:, None] + offsets).ravel())).numpy()
    ut = ut.reshape(len(xc), len(tc), 5)
    u, u_x, u_xx = (v[:, 0] for v in fd4(ux, h, 1))
    _, u_t, _ = (v[..., 0] for v in fd4(ut, h, 2))
    residual = u_t + u * u_x - NU * u_xx
    scale = np.abs(u * u_x).max()
    assert scale > 50
    assert np.abs(residual).max() < 1e-6 * scale


def test_burgers_initial_and_boundary_values():
    g = burgers_reference()
    xs, u = g.axes["x"], g.values
    assert torch.equal(u[:, 0], -torch.sin(math.pi * xs))  # t = 0 exactly
    assert u[0].abs().max() < 1e-15 and u[-1].abs().max() < 1e-15  # u(+-1, t) = 0
    # and the formula tends to the initial data as t -> 0
    x = np.linspace(-1, 1, 101)
    assert np.abs(burgers_cole_hopf(grid_points(x, [1e-9])).numpy() + np.sin(np.pi * x)).max() < 1e-8
    # the solution is odd in x
    assert torch.allclose(u, -u.flip(0), atol=1e-14, rtol=0)


# --- Allen-Cahn ------------------------------------------------------------------------------------------


def allen_cahn_fourier_rk4(n, dt, t_out, d=1e-4, a=5.0):
    """Fourier pseudo-spectral in x, the classical explicit RK4 for everything (no exponential integrator);
    initial modes: the cosine coefficients of u0 by Gauss-Legendre quadrature (samples would alias the kink
    at x = +-1). Returns the nodal values x_j = -1 + 2 j / n at t_out, [n, len(t_out)]."""
    m = np.arange(n // 2 + 1)
    modes = n / 2 * cosine_coefficients(m) * np.cos(np.pi * m)  # rfft scaling, nodes shifted by -1
    k2 = (np.pi * np.arange(n // 2 + 1)) ** 2

    def rhs(v):
        u = np.fft.irfft(v, n)
        return -d * k2 * v + np.fft.rfft(a * (u - u**3))

    steps = [round(t / dt) for t in t_out]
    out, v = [], modes
    for s in range(steps[-1] + 1):
        if s in steps:
            out.append(np.fft.irfft(v, n))
        if s == steps[-1]:
            break
        k1 = rhs(v)
        k2_ = rhs(v + dt / 2 * k1)
        k3 = rhs(v + dt / 2 * k2_)
        k4 = rhs(v + dt * k3)
        v = v + dt / 6 * (k1 + 2 * k2_ + 2 * k3 + k4)
    return np.stack(out, 1)


def allen_cahn_finite_differences(n, dt, t_out, d=1e-4, a=5.0):
    """Sixth-order central differences on n periodic nodes, classical RK4, initial values sampled at the
    nodes. Returns [n, len(t_out)] at x_j = -1 + 2 j / n."""
    x = -1 + 2 * np.arange(n) / n
    h = 2 / n
    c = np.array([1 / 90, -3 / 20, 3 / 2, -49 / 18, 3 / 2, -3 / 20, 1 / 90]) * d / h**2

    def rhs(u):
        p = np.concatenate([u[-3:], u, u[:3]])
        lap = sum(c[i] * p[i : i + n] for i in range(7))
        return lap + a * (u - u**3)

    steps = [round(t / dt) for t in t_out]
    out, u = [], x**2 * np.cos(np.pi * x)
    for s in range(steps[-1] + 1):
        if s in steps:
            out.append(u.copy())
        if s == steps[-1]:
            break
        k1 = rhs(u)
        k2 = rhs(u + dt / 2 * k1)
        k3 = rhs(u + dt / 2 * k2)
        k4 = rhs(u + dt * k3)
        u = u + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return np.stack(out, 1)


def cosine_coefficients(m):
    """a_m = int_{-1}^{1} x^2 cos(pi x) cos(m pi x) dx by composite Gauss-Legendre (64 panels of 32 nodes: the
    integrand is entire, and m <= 1024 turns at most 16 radians per panel)."""
    z0, w0 = np.polynomial.legendre.leggauss(32)
    left = np.linspace(-1, 1, 65)[:-1]
    z = (left[:, None] + (z0 + 1) / 64).ravel()
    w = np.tile(w0 / 64, 64)
    return (w * z**2 * np.cos(np.pi * z)) @ np.cos(np.pi * np.outer(z, m))


def test_allen_cahn_initial_modes_are_the_exact_cosine_series():
    n = 256
    m = np.arange(n // 2 + 1)
    quadrature = n / 2 * cosine_coefficients(m) * np.cos(np.pi * m)
    exact = ref._allen_cahn_initial_modes(n).numpy()
    assert np.abs(exact.imag).max() == 0
    assert np.abs(exact.real - quadrature).max() < 1e-12 * n
    # and the series sums to u0 where u0 is smooth (away from the kink at x = +-1)
    x = np.linspace(-0.5, 0.5, 11)
    series = quadrature[0] / n + 2 / n * (quadrature[1:-1] * np.cos(np.pi * np.outer(x + 1, m[1:-1]))).sum(1)
    assert np.abs(series - x**2 * np.cos(np.pi * x)).max() < 1e-4


def test_allen_cahn_agrees_with_fourier_rk4():
    """ETDRK4 reference (N = 2048) vs Fourier + classical RK4 (N = 1024, dt = 2e-3) at the 512 x 10 nodes
    t = 0.1, ..., 1: measured max 2e-10."""
    g = allen_cahn_reference()
    t_out = np.linspace(0, 1, 11)
    other = allen_cahn_fourier_rk4(1024, 2e-3, t_out)[::2]
    u = g.values.numpy()[:-1, ::20]
    assert np.abs(u[:, 1:] - other[:, 1:]).max() < 1e-9
    assert np.abs(u[:, -1]).max() > 0.9  # the interfaces have formed: not a trivial comparison


def test_allen_cahn_agrees_with_finite_differences():
    """ETDRK4 reference vs sixth-order finite differences on 2048 nodes + RK4 (dt = 1e-3), which share neither
    the space nor the time discretisation, at the 512 x 11 nodes. The differences sample the kink of u0 at
    x = +-1, an O(h^2) error that decays as the solution settles to -1 there: measured max 1.1e-5 (t = 0.1),
    4.5e-8 at t = 1."""
    g = allen_cahn_reference()
    t_out = np.linspace(0, 1, 11)
    other = allen_cahn_finite_differences(2048, 1e-3, t_out)[::4]
    u = g.values.numpy()[:-1, ::20]
    error = np.abs(u - other).max(0)
    assert error.max() < 2e-5 and error[-1] < 1e-7


@pytest.mark.slow
def test_allen_cahn_finite_differences_converge_to_the_reference():
    """Doubling the finite-difference grid (2048 -> 4096 nodes) cuts the difference to the reference by 4 at
    every output time (second order: the sampled kink), down to 3e-9 at t = 0.6 (measured)."""
    g = allen_cahn_reference()
    t_out = np.linspace(0, 1, 11)
    u = g.values.numpy()[:-1, ::20]
    coarse = np.abs(u - allen_cahn_finite_differences(2048, 1e-3, t_out)[::4]).max(0)[1:8]
    fine = np.abs(u - allen_cahn_finite_differences(4096, 1e-3, t_out)[::8]).max(0)[1:8]
    assert np.all((3.8 < coarse / fine) & (coarse / fine < 4.2))


@pytest.mark.slow
def test_allen_cahn_converges_in_space():
    """N = 2048 (the default) vs N = 8192 at the 512 x 201 nodes: below 1e-10 from t = 0.015 on (measured
    4e-11), below 1e-6 at t = 0.005 and 0.01, where the initial kink is being smoothed (measured 2e-7)."""
    coarse = allen_cahn_reference()
    fine = allen_cahn_reference(nx=8192, nt=201)
    error = (coarse.values - fine.values[::16]).abs().max(0).values
    late = coarse.axes["t"] >= 0.015
    assert float(error[late].max()) < 1e-10 and float(error.max()) < 1e-6


def test_allen_cahn_residual_by_finite_differences():
    """u_t - d u_xx + a u^3 - a u by fourth-order differences on a 2048 x 1001 reference, t >= 0.05 (before
    that, the initial kink at x = +-1 is not resolved by any grid): max |residual| below 1e-4 of the size of
    the terms (max |a u^3 - a u| ~ 1.9); measured 2.5e-5."""
    d, a = 1e-4, 5.0
    g = allen_cahn_reference(nx=2048, nt=1001)
    u = g.values.numpy()
    dx, dt = 2 / 2048, 1e-3
    periodic = np.concatenate([u[-3:-1], u, u[1:3]], 0)  # u[-1] repeats u[0]
    _, _, u_xx = fd4(periodic, dx, 0)
    u_xx = u_xx[:, 2:-2]
    uu, u_t, _ = fd4(u, dt, 1)
    late = g.axes["t"].numpy()[2:-2] >= 0.05
    residual = (u_t - d * u_xx + a * uu**3 - a * uu)[:, late]
    scale = np.abs(a * uu**3 - a * uu).max()
    assert scale > 1
    assert np.abs(residual).max() < 1e-4 * scale


def test_allen_cahn_without_reaction_is_the_heat_equation():
    # a = 0 leaves u_t = d u_xx: each cosine mode of u0 decays by e^(-d (m pi)^2 t) (exact; t >= 0.25, where
    # 200 modes reach e^-900); measured max 3e-14
    d = 0.01
    g = allen_cahn_reference(d=d, a=0.0, nx=64, nt=5)
    m = np.arange(200)
    a_m = cosine_coefficients(m)
    a_m[0] /= 2
    xs, ts = g.axes["x"].numpy(), g.axes["t"].numpy()[1:]
    series = np.cos(np.pi * np.outer(xs, m)) @ (a_m[:, None] * np.exp(-d * np.outer((np.pi * m) ** 2, ts)))
    assert np.abs(g.values.numpy()[:, 1:] - series).max() < 1e-13


def test_allen_cahn_initial_values_symmetry_and_periodicity():
    g = allen_cahn_reference()
    xs, u = g.axes["x"], g.values
    assert torch.allclose(u[:, 0], xs**2 * torch.cos(math.pi * xs), atol=1e-15, rtol=0)
    assert torch.equal(u[0], u[-1])  # both ends of the periodic axis
    assert torch.allclose(u, u.flip(0), atol=1e-12, rtol=0)  # u0 even -> u even


# --- reaction and reaction-diffusion ---------------------------------------------------------------------


def initial_h(x):
    return np.exp(-((x - np.pi) ** 2) / (2 * (np.pi / 4) ** 2))


@pytest.mark.parametrize("rho", [-3.0, 0.0, 1.0, 5.0, 20.0])
def test_reaction_exact_is_the_logistic_formula(rho):
    x = np.linspace(0, 2 * np.pi, 33)
    t = np.linspace(0, 1, 9)
    p = grid_points(x, t).numpy()
    h, e = initial_h(p[:, 0]), np.exp(rho * p[:, 1])
    textbook = h * e / (h * e + 1 - h)
    got = reaction_exact(tensor(p), rho).numpy()
    assert np.abs(got - textbook).max() < 1e-14


def test_reaction_exact_solves_the_ode_and_survives_large_rho():
    rho, dt = 5.0, 1e-4
    x = np.linspace(0, 2 * np.pi, 17)
    t = np.array([0.1, 0.5, 0.9])
    u = reaction_exact(grid_points(x, (t[:, None] + dt * np.arange(-2, 3)).ravel()), rho).numpy()
    u0, u_t, _ = fd4(u.reshape(len(x), len(t), 5), dt, 2)
    assert np.abs(u_t[..., 0] - rho * u0[..., 0] * (1 - u0[..., 0])).max() < 1e-9
    big = reaction_exact(grid_points(x, [0.0, 0.5, 1.0]), 2000.0)
    assert bool(torch.isfinite(big).all()) and float(big.min()) >= 0 and float(big.max()) <= 1
    assert float(big.reshape(17, 3)[:, 2].min()) > 1 - 1e-12


def test_reaction_diffusion_without_diffusion_is_the_exact_reaction():
    g = reaction_diffusion_reference(0.0, 5.0, nx=128, nt=11)
    # every step is an exact logistic step: only rounding (4000 steps) separates them; measured 7e-14
    assert torch.allclose(g.values.reshape(-1), reaction_exact(g.grid_points(), 5.0), atol=2e-13, rtol=0)


def heat_fourier_series(x, t, nu):
    """Heat equation from the periodic extension of h on [0, 2 pi]: exact Fourier coefficients of that
    extension by Gauss-Legendre quadrature (h is entire on the interval), each mode decaying by e^(-nu k^2 t)."""
    k_max = math.ceil(math.sqrt(40 / (nu * min(t))))  # e^(-nu k^2 t) < e^-40 beyond
    z, w = np.polynomial.legendre.leggauss(2 * k_max + 100)
    xq, wq = np.pi * (z + 1), np.pi * w
    k = np.arange(-k_max, k_max + 1)
    c = (wq * initial_h(xq)) @ np.exp(-1j * np.outer(xq, k)) / (2 * np.pi)
    return np.real(np.exp(1j * np.outer(x, k)) @ (c[:, None] * np.exp(-nu * np.outer(k**2, t))))


@pytest.mark.parametrize("nu", [0.1, 1.0])
def test_reaction_diffusion_without_reaction_is_the_heat_equation(nu):
    """rho = 0 vs the exact Fourier series of the heat equation, t >= 0.01 (the series converges slowly at
    t = 0, where the reference holds the samples of h exactly). The reference diffuses the samples of h, whose
    periodic extension has a kink at x = 0: an O(N^-2) error, largest at small nu t: measured max 6e-9
    (nu = 0.1), 2e-9 (nu = 1)."""
    g = reaction_diffusion_reference(nu, 0.0, nx=256, nt=101)
    xs, ts = g.axes["x"].numpy(), g.axes["t"].numpy()
    exact = heat_fourier_series(xs, ts[1:], nu)
    u = g.values.numpy()
    assert np.abs(u[:, 1:] - exact).max() < 1e-8
    assert np.abs(u[:, 0] - initial_h(xs)).max() < 1e-15


@pytest.mark.parametrize("nu,rho", [(3.0, 5.0), (5.0, 10.0), (1e-2, 10.0)])
def test_reaction_diffusion_converges_at_second_order_in_dt(nu, rho):
    """Halving dt cuts the change by 4 (Strang splitting is second order); extrapolated, the error at the
    default dt, min(2.5e-4, 1e-3 / sqrt(nu |rho|)), is below 5e-8 (measured 2e-8 to 4e-8)."""
    runs = [reaction_diffusion_reference(nu, rho, nx=64, nt=11, substeps=s).values.numpy() for s in (25, 50, 100)]
    change = [np.abs(runs[0] - runs[1]).max(), np.abs(runs[1] - runs[2]).max()]
    assert 3.6 < change[0] / change[1] < 4.4
    error_at_1e3 = change[1] / 3  # Richardson: the error of the dt = 1e-3 run
    default_dt = min(2.5e-4, 1e-3 / math.sqrt(nu * abs(rho)))
    assert error_at_1e3 * (default_dt / 1e-3) ** 2 < 5e-8


def test_reaction_diffusion_residual_by_finite_differences():
    """u_t - nu u_xx - rho u (1 - u) by fourth-order differences on a 1024 x 1001 reference (nu = 3, rho = 5):
    t >= 0.05 (before, the kink of the initial data at x = 0 is not resolved): below 1e-6 of the size of the
    terms (max |nu u_xx| ~ 4.9); measured 1.2e-7."""
    nu, rho = 3.0, 5.0
    g = reaction_diffusion_reference(nu, rho, nx=1024, nt=1001)
    u = g.values.numpy()
    periodic = np.concatenate([u[-3:-1], u, u[1:3]], 0)
    _, _, u_xx = fd4(periodic, 2 * np.pi / 1024, 0)
    uu, u_t, _ = fd4(u, 1e-3, 1)
    late = g.axes["t"].numpy()[2:-2] >= 0.05
    residual = (u_t - nu * u_xx[:, 2:-2] - rho * uu * (1 - uu))[:, late]
    scale = np.abs(nu * u_xx).max()
    assert scale > 1
    assert np.abs(residual).max() < 1e-6 * scale


@pytest.mark.parametrize("nu,rho,tol", [(3.0, 5.0, 1e-9), (1e-3, 10.0, 1e-5)])
def test_reaction_diffusion_converges_in_space(nu, rho, tol):
    """N = 4096 (what nx = 256 solves on) vs N = 8192 with the same dt, at the 256 x 3 nodes: measured 3e-10
    for nu = 3, rho = 5 and 1e-6 for nu = 1e-3, rho = 10 (where the kink of the initial data stays sharp)."""
    coarse = reaction_diffusion_reference(nu, rho, nx=256, nt=3, substeps=100).values.numpy()
    fine = reaction_diffusion_reference(nu, rho, nx=8192, nt=3, substeps=100).values.numpy()[::32]
    assert np.abs(coarse - fine).max() < tol


# --- the cache -------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    ref._clear_memory_caches()
    yield tmp_path / "pinn-landscape-widget" / "reference"
    ref._clear_memory_caches()


def count_calls(monkeypatch, name):
    calls = []
    original = getattr(ref, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(ref, name, counted)
    return calls


def test_a_second_call_is_served_from_memory_then_from_the_file(fresh_cache, monkeypatch):
    calls = count_calls(monkeypatch, "burgers_cole_hopf")
    first = burgers_reference(nx=33, nt=5)
    assert len(calls) == 1
    files = list(fresh_cache.glob("burgers_*.npz"))
    assert len(files) == 1 and not list(fresh_cache.glob("*.tmp"))
    assert burgers_reference(nx=33, nt=5) is first and len(calls) == 1  # memory
    ref._clear_memory_caches()
    again = burgers_reference(nx=33, nt=5)
    assert len(calls) == 1  # the file, no recomputation
    assert again is not first and torch.equal(again.values, first.values)
    assert torch.equal(again.axes["x"], first.axes["x"]) and again.attrs["problem"] == "burgers"
    # other parameters are another file
    burgers_reference(nx=33, nt=6)
    assert len(calls) == 2 and len(list(fresh_cache.glob("burgers_*.npz"))) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign", "nan"])
def test_a_damaged_cache_file_is_recomputed(fresh_cache, monkeypatch, damage):
    expected = reaction_diffusion_reference(1.0, 2.0, nx=16, nt=3, substeps=4)
    path = next(fresh_cache.glob("reaction_diffusion_*.npz"))
    if damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "foreign":  # a valid file made for other parameters, under this name
        other = reaction_diffusion_reference(1.0, 3.0, nx=16, nt=3, substeps=4)
        assert not torch.equal(other.values, expected.values)
        next(p for p in fresh_cache.glob("reaction_diffusion_*rho=3.0*.npz")).replace(path)
    else:
        with np.load(path) as z:
            arrays = dict(z)
        arrays["values"][3, 1] = np.nan
        with path.open("wb") as fh:
            np.savez(fh, **arrays)
    ref._clear_memory_caches()
    calls = count_calls(monkeypatch, "_reaction_initial")
    again = reaction_diffusion_reference(1.0, 2.0, nx=16, nt=3, substeps=4)
    assert len(calls) == 1 and torch.equal(again.values, expected.values)
    ref._clear_memory_caches()
    reaction_diffusion_reference(1.0, 2.0, nx=16, nt=3, substeps=4)
    assert len(calls) == 1  # the rewritten file is valid again


def test_an_unwritable_cache_only_costs_time(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    ref._clear_memory_caches()
    try:
        g = burgers_reference(nx=9, nt=3)
        assert torch.equal(g.values[:, 0], -torch.sin(math.pi * g.axes["x"]))
    finally:
        ref._clear_memory_caches()


def test_allen_cahn_is_cached_too(fresh_cache, monkeypatch):
    first = allen_cahn_reference(nx=16, nt=3, d=1e-2, a=1.0)
    ref._clear_memory_caches()
    calls = count_calls(monkeypatch, "_etdrk4_coefficients")
    assert torch.equal(allen_cahn_reference(nx=16, nt=3, d=1e-2, a=1.0).values, first.values)
    assert not calls


# --- bad arguments ---------------------------------------------------------------------------------------


P = torch.zeros(3, 2, dtype=F64)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: burgers_cole_hopf(P, nu=0.0), r"nu must be a number in \[0.0005, 0.3\], got 0.0"),
        (lambda: burgers_cole_hopf(P, nu=-1.0), r"nu must be a number in \[0.0005, 0.3\], got -1.0"),
        (lambda: burgers_cole_hopf(P, nu=float("nan")), "nu must be a finite number, got nan"),
        (lambda: burgers_cole_hopf(P, nu="0.01"), "nu must be a finite number, got '0.01'"),
        (lambda: burgers_cole_hopf(P, n_quad=4), r"n_quad must be an integer in \[16, 340\], got 4"),
        (lambda: burgers_cole_hopf(P, n_quad=400), r"n_quad must be an integer in \[16, 340\], got 400"),
        (lambda: burgers_cole_hopf(tensor([[0.0, 2.0]])), r"points\[:, 1\] \(t\) must lie in \[0, 1\]"),
        (lambda: burgers_cole_hopf(tensor([[0.0, 0.5, 1.0]])), r"points must have shape \[N, 2\]"),
        (lambda: burgers_reference(nx=2), r"nx must be an integer in \[3, 4097\], got 2"),
        (lambda: burgers_reference(nt=1.5), r"nt must be an integer in \[2, 2001\], got 1.5"),
        (lambda: burgers_reference(nu=1.0), r"nu must be a number in \[0.0005, 0.3\], got 1.0"),
        (lambda: allen_cahn_reference(d=0.0), r"d must be a number in \[5e-05, 1\], got 0.0"),
        (lambda: allen_cahn_reference(a=-5.0), r"a must be a number in \[0, 10\], got -5.0"),
        (lambda: allen_cahn_reference(nx=8), r"nx must be an integer in \[16, 8192\], got 8"),
        (lambda: allen_cahn_reference(nt=10**6), r"nt must be an integer in \[2, 2001\], got 1000000"),
        (lambda: reaction_exact(P, rho=float("inf")), "rho must be a finite number, got inf"),
        (lambda: reaction_exact(tensor([[7.0, 0.5]]), rho=1.0), r"points\[:, 0\] \(x\) must lie in \[0, 6.28319\]"),
        (lambda: reaction_diffusion_reference(-1.0, 1.0), r"nu must be a number in \[0, 10\], got -1.0"),
        (lambda: reaction_diffusion_reference(1.0, float("nan")), "rho must be a finite number, got nan"),
        (lambda: reaction_diffusion_reference(1.0, 100.0), r"rho must be a number in \[-20, 20\], got 100.0"),
        (lambda: reaction_diffusion_reference(1.0, 1.0, substeps=0), r"substeps must be an integer in \[1, 100000\]"),
        (lambda: reaction_diffusion_reference(1.0, 1.0, nx=True), r"nx must be an integer in \[16, 8192\], got True"),
    ],
)
def test_bad_arguments_are_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
