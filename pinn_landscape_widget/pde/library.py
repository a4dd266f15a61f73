"""The built-in problems: each a factory whose keyword arguments are the options users vary (the PDE's
coefficients, the points, the boundary treatment) and which returns the ``ProblemSpec`` of a
``define_problem`` call (``problem_spec`` takes define_problem's arguments).

``get_problem(name, **options)`` builds one (``problems.build_builtin``: the factory and its options travel in
the spec, so ``with_coefficients`` and pickling call the factory again); ``list_problems()`` names them. Every
option is checked and named in errors. Exact solutions where they exist; reference solutions are computed by
the package (``reference``) and cached.
"""

from __future__ import annotations

import math

import torch

from .._checks import check_choice, check_finite, check_int, check_positive
from .conditions import dirichlet, initial, initial_rate, periodic
from .problems import Problem, ProblemSpec, build_builtin, problem_spec

PI = math.pi


def _common(n_points, n_eval, sampling, seed):
    return dict(n_points=n_points, n_eval=n_eval, sampling=sampling, seed=seed)


# --- the seed paper's problems and the failure-mode problem ------------------------------------------------


def poisson1d(
    *,
    source: str = "sin",
    k: int = 1,
    n_points=1000,
    n_eval=None,
    boundary: str = "hard",
    lam: float = 100.0,
    sampling: str = "grid",
    seed: int = 0,
) -> ProblemSpec:
    """u'' + f = 0 on [0, 1], u(0) = u(1) = 0 (the paper's first problem).

    Exact solutions are sine series u* = sum_j a_j sin(k_j pi x), f = sum_j a_j (k_j pi)^2 sin(k_j pi x):
    source "sin" is one mode (frequency k), "multiscale" is sin(pi x) + 0.2 sin(4 pi x) + 0.05 sin(16 pi x).
    boundary "hard": the ansatz u = sin(pi x) N(x); "penalty": lam * (u(0)^2 + u(1)^2).
    """
    check_choice("source", source, ("sin", "multiscale"))
    k = check_int("k", k, 1, 1000)
    check_choice("boundary", boundary, ("hard", "penalty"))
    lam = check_positive("lam", lam)
    modes = [(1.0, float(k))] if source == "sin" else [(1.0, 1.0), (0.2, 4.0), (0.05, 16.0)]
    hard = boundary == "hard"
    return problem_spec(
        "poisson1d",
        {"x": (0.0, 1.0)},
        residual=lambda u, f: u.xx + f,
        energy=lambda u, f: 0.5 * u.x * u.x - f * u,
        source=lambda x: sum(a * (m * PI) ** 2 * torch.sin(m * PI * x) for a, m in modes),
        exact=lambda x: sum(a * torch.sin(m * PI * x) for a, m in modes),
        # -1/2 int f u*, and int_0^1 sin(a pi x) sin(b pi x) dx = delta_ab / 2 for integers a, b
        energy_reference=-sum(a * a * (m * PI) ** 2 for a, m in modes) / 4.0,
        conditions=[dirichlet("x", hard=hard, weight=lam)],
        ansatz=(lambda x: torch.sin(PI * x)) if hard else None,
        description="u'' + f = 0 on [0, 1], u(0) = u(1) = 0",
        **_common(n_points, n_eval, sampling, seed),
    )


def poisson2d(
    *,
    k: int = 1,
    n_points=1024,
    n_eval=None,
    boundary: str = "hard",
    lam: float = 100.0,
    sampling: str = "grid",
    seed: int = 0,
) -> ProblemSpec:
    """-Laplace(u) = f on the unit square, u = 0 on the boundary; exact u* = sin(k pi x) sin(k pi y).

    boundary "hard": the ansatz u = x(1-x) y(1-y) N(x, y); "penalty": lam * sum_faces int u^2.
    ``n_points`` is the total interior count of a square midpoint grid (rounded to a square number).
    """
    k = check_int("k", k, 1, 1000)
    check_choice("boundary", boundary, ("hard", "penalty"))
    lam = check_positive("lam", lam)
    hard = boundary == "hard"

    def exact(x, y):
        return torch.sin(k * PI * x) * torch.sin(k * PI * y)

    return problem_spec(
        "poisson2d",
        {"x": (0.0, 1.0), "y": (0.0, 1.0)},
        residual=lambda u, f: u.laplacian + f,
        energy=lambda u, f: 0.5 * (u.x * u.x + u.y * u.y) - f * u,
        source=lambda x, y: 2 * (k * PI) ** 2 * exact(x, y),
        exact=exact,
        energy_reference=-((k * PI) ** 2) / 4.0,  # -1/2 int f u* = -(k pi)^2 int sin^2 sin^2
        conditions=[dirichlet(hard=hard, weight=lam)],
        ansatz=(lambda x, y: x * (1 - x) * y * (1 - y)) if hard else None,
        description="-Laplace(u) = f on the unit square, u = 0 on the boundary",
        **_common(n_points, n_eval, sampling, seed),
    )


def convection1d(
    *,
    beta: float = 1.0,
    n_points=2500,
    n_eval=None,
    lam: float = 1.0,
    sampling: str = "grid",
    seed: int = 0,
    collocation=None,
    mean_terms: bool = False,
) -> ProblemSpec:
    """u_t + beta u_x = 0, x in [0, 2 pi] periodic, u(x, 0) = sin x, t in [0, 1]; exact sin(x - beta t).

    The failure-mode problem of Krishnapriyan et al. (2021). The initial condition and periodicity are
    penalised (terms ``initial`` and ``boundary``, weight lam), as in that paper. No energy functional.
    collocation: a number of interior points drawn from the grid's cell centres, or the points themselves;
    mean_terms: each term the mean of its squares (the layout of the papers' code, see ``ProblemSpec``)."""
    beta = check_finite("beta", beta)
    lam = check_positive("lam", lam)
    return problem_spec(
        "convection1d",
        {"x": (0.0, 2 * PI), "t": (0.0, 1.0)},
        residual=lambda u, beta: u.t + beta * u.x,
        coefficients={"beta": beta},
        exact=lambda x, t, beta: torch.sin(x - beta * t),
        conditions=[initial(lambda x: torch.sin(x), weight=lam), periodic("x", weight=lam)],
        description="u_t + beta u_x = 0 on [0, 2 pi] x [0, 1], periodic in x, u(x, 0) = sin x",
        collocation=collocation,
        mean_terms=mean_terms,
        **_common(n_points, n_eval, sampling, seed),
    )


# --- the standard PINN benchmark problems -----------------------------------------------------------------


def _gaussian_bump(x):
    # Krishnapriyan et al. (2021): h(x) = exp(-(x - pi)^2 / (2 (pi/4)^2))
    return torch.exp(-((x - PI) ** 2) / (2 * (PI / 4) ** 2))


def reaction1d(
    *,
    rho: float = 5.0,
    n_points=2500,
    n_eval=None,
    lam: float = 1.0,
    sampling: str = "grid",
    seed: int = 0,
    collocation=None,
    mean_terms: bool = False,
) -> ProblemSpec:
    """u_t - rho u (1 - u) = 0, x in [0, 2 pi] periodic, t in [0, 1], u(x, 0) = exp(-(x - pi)^2 / (pi^2/8)).

    Krishnapriyan et al. (2021); exact u = h e^{rho t} / (h e^{rho t} + 1 - h). Initial condition and
    periodicity penalised (weight lam).
    collocation: a number of interior points drawn from the grid's cell centres, or the points themselves;
    mean_terms: each term the mean of its squares (the layout of the papers' code, see ``ProblemSpec``)."""
    rho = check_finite("rho", rho)
    lam = check_positive("lam", lam)

    def exact(x, t, rho):
        h = _gaussian_bump(x)
        e = h * torch.exp(rho * t)
        return e / (e + 1 - h)

    return problem_spec(
        "reaction1d",
        {"x": (0.0, 2 * PI), "t": (0.0, 1.0)},
        residual=lambda u, rho: u.t - rho * u * (1 - u),
        coefficients={"rho": rho},
        exact=exact,
        conditions=[initial(_gaussian_bump, weight=lam), periodic("x", weight=lam)],
        description="u_t - rho u (1 - u) = 0 on [0, 2 pi] x [0, 1], periodic in x, Gaussian initial bump",
        collocation=collocation,
        mean_terms=mean_terms,
        **_common(n_points, n_eval, sampling, seed),
    )


def reaction_diffusion1d(
    *,
    nu: float = 1.0,
    rho: float = 5.0,
    n_points=2500,
    n_eval=None,
    lam: float = 1.0,
    sampling: str = "grid",
    seed: int = 0,
    collocation=None,
    mean_terms: bool = False,
) -> ProblemSpec:
    """u_t - nu u_xx - rho u (1 - u) = 0, x in [0, 2 pi] periodic, t in [0, 1], Gaussian initial bump.

    Krishnapriyan et al. (2021). Reference solution by Strang splitting of the exact reaction and Fourier
    diffusion steps (``reference.reaction_diffusion_reference``), computed once and cached.
    collocation: a number of interior points drawn from the grid's cell centres, or the points themselves;
    mean_terms: each term the mean of its squares (the layout of the papers' code, see ``ProblemSpec``)."""
    nu = check_positive("nu", nu)
    rho = check_finite("rho", rho)
    lam = check_positive("lam", lam)
    from .reference import reaction_diffusion_reference

    return problem_spec(
        "reaction_diffusion1d",
        {"x": (0.0, 2 * PI), "t": (0.0, 1.0)},
        residual=lambda u, nu, rho: u.t - nu * u.xx - rho * u * (1 - u),
        coefficients={"nu": nu, "rho": rho},
        exact=reaction_diffusion_reference(nu, rho),
        conditions=[initial(_gaussian_bump, weight=lam), periodic("x", weight=lam)],
        description="u_t - nu u_xx - rho u (1 - u) = 0 on [0, 2 pi] x [0, 1], periodic in x",
        collocation=collocation,
        mean_terms=mean_terms,
        **_common(n_points, n_eval, sampling, seed),
    )


def heat1d(
    *, diffusivity: float = 0.1, n_points=2500, n_eval=None, lam: float = 1.0, sampling: str = "grid", seed: int = 0
) -> ProblemSpec:
    """u_t - kappa u_xx = 0 on [0, 1] x [0, 1], u(0, t) = u(1, t) = 0, u(x, 0) = sin(pi x);
    exact exp(-kappa pi^2 t) sin(pi x). Conditions penalised (weight lam)."""
    kappa = check_positive("diffusivity", diffusivity)
    lam = check_positive("lam", lam)
    return problem_spec(
        "heat1d",
        {"x": (0.0, 1.0), "t": (0.0, 1.0)},
        residual=lambda u, diffusivity: u.t - diffusivity * u.xx,
        coefficients={"diffusivity": kappa},
        exact=lambda x, t, diffusivity: torch.exp(-diffusivity * PI**2 * t) * torch.sin(PI * x),
        conditions=[initial(lambda x: torch.sin(PI * x), weight=lam), dirichlet("x", weight=lam)],
        description="u_t = kappa u_xx on [0, 1] x [0, 1], u = 0 at x = 0, 1, u(x, 0) = sin(pi x)",
        **_common(n_points, n_eval, sampling, seed),
    )


def wave1d(
    *,
    c: float = 2.0,
    beta: int = 5,
    n_points=2500,
    n_eval=None,
    lam: float = 1.0,
    sampling: str = "grid",
    seed: int = 0,
    collocation=None,
    mean_terms: bool = False,
) -> ProblemSpec:
    """u_tt - c^2 u_xx = 0 on [0, 1] x [0, 1], u(0, t) = u(1, t) = 0, u(x, 0) = sin(pi x) + 0.5 sin(beta pi x),
    u_t(x, 0) = 0 (Rathore et al. 2024: c = 2, beta = 5).

    Exact u = sin(pi x) cos(c pi t) + 0.5 sin(beta pi x) cos(c beta pi t) (beta an integer). Conditions
    penalised (weight lam).
    collocation: a number of interior points drawn from the grid's cell centres, or the points themselves;
    mean_terms: each term the mean of its squares (the layout of the papers' code, see ``ProblemSpec``)."""
    c = check_positive("c", c)
    beta = check_int("beta", beta, 1, 1000)
    lam = check_positive("lam", lam)
    return problem_spec(
        "wave1d",
        {"x": (0.0, 1.0), "t": (0.0, 1.0)},
        residual=lambda u, c: u.tt - c * c * u.xx,
        coefficients={"c": c, "beta": float(beta)},
        exact=lambda x, t, c, beta: (
            torch.sin(PI * x) * torch.cos(c * PI * t) + 0.5 * torch.sin(beta * PI * x) * torch.cos(c * beta * PI * t)
        ),
        conditions=[
            initial(lambda x, beta: torch.sin(PI * x) + 0.5 * torch.sin(beta * PI * x), weight=lam),
            initial_rate(0.0, weight=lam),
            dirichlet("x", weight=lam),
        ],
        description="u_tt = c^2 u_xx on [0, 1] x [0, 1], fixed ends, two-mode initial shape, at rest",
        collocation=collocation,
        mean_terms=mean_terms,
        **_common(n_points, n_eval, sampling, seed),
    )


def burgers1d(
    *, nu: float = 0.01 / PI, n_points=2500, n_eval=None, lam: float = 1.0, sampling: str = "grid", seed: int = 0
) -> ProblemSpec:
    """u_t + u u_x - nu u_xx = 0 on [-1, 1] x [0, 1], u(x, 0) = -sin(pi x), u(+-1, t) = 0 (Raissi et al. 2019).

    Reference solution by the Cole-Hopf formula (``reference.burgers_reference``), computed once and cached.
    Conditions penalised (weight lam)."""
    nu = check_positive("nu", nu)
    lam = check_positive("lam", lam)
    from .reference import burgers_reference

    return problem_spec(
        "burgers1d",
        {"x": (-1.0, 1.0), "t": (0.0, 1.0)},
        residual=lambda u, nu: u.t + u * u.x - nu * u.xx,
        coefficients={"nu": nu},
        exact=burgers_reference(nu),
        conditions=[initial(lambda x: -torch.sin(PI * x), weight=lam), dirichlet("x", weight=lam)],
        description="u_t + u u_x = nu u_xx on [-1, 1] x [0, 1], u(x, 0) = -sin(pi x), u(+-1, t) = 0",
        **_common(n_points, n_eval, sampling, seed),
    )


def allen_cahn1d(
    *,
    d: float = 1e-4,
    a: float = 5.0,
    n_points=2500,
    n_eval=None,
    lam: float = 1.0,
    sampling: str = "grid",
    seed: int = 0,
) -> ProblemSpec:
    """u_t - d u_xx + a u^3 - a u = 0 on [-1, 1] x [0, 1], periodic in x (value and slope),
    u(x, 0) = x^2 cos(pi x) (Raissi et al. 2019: d = 1e-4, a = 5).

    Reference solution by a Fourier spectral method with ETDRK4 (``reference.allen_cahn_reference``),
    computed once and cached. Conditions penalised (weight lam)."""
    d = check_positive("d", d)
    a = check_finite("a", a)
    lam = check_positive("lam", lam)
    from .reference import allen_cahn_reference

    return problem_spec(
        "allen_cahn1d",
        {"x": (-1.0, 1.0), "t": (0.0, 1.0)},
        residual=lambda u, d, a: u.t - d * u.xx + a * u**3 - a * u,
        coefficients={"d": d, "a": a},
        exact=allen_cahn_reference(d, a),
        conditions=[
            initial(lambda x: x * x * torch.cos(PI * x), weight=lam),
            periodic("x", derivatives=True, weight=lam),
        ],
        description="u_t = d u_xx - a (u^3 - u) on [-1, 1] x [0, 1], periodic, u(x, 0) = x^2 cos(pi x)",
        **_common(n_points, n_eval, sampling, seed),
    )


def helmholtz2d(
    *,
    a1: int = 1,
    a2: int = 4,
    k: float = 1.0,
    n_points=2500,
    n_eval=None,
    boundary: str = "hard",
    lam: float = 100.0,
    sampling: str = "grid",
    seed: int = 0,
) -> ProblemSpec:
    """Laplace(u) + k^2 u = q on [-1, 1]^2, u = 0 on the boundary, exact u = sin(a1 pi x) sin(a2 pi y),
    q = (k^2 - (a1 pi)^2 - (a2 pi)^2) u* (the PINN benchmark of Wang, Teng & Perdikaris 2021).

    Energy E = int 1/2 |grad u|^2 - 1/2 k^2 u^2 + q u (its Euler-Lagrange equation is the PDE; a minimum
    while k^2 is below the first Dirichlet eigenvalue pi^2 / 2). boundary "hard": u = (1-x^2)(1-y^2) N."""
    a1 = check_int("a1", a1, 1, 1000)
    a2 = check_int("a2", a2, 1, 1000)
    k = check_finite("k", k)
    check_choice("boundary", boundary, ("hard", "penalty"))
    lam = check_positive("lam", lam)
    hard = boundary == "hard"
    lam_q = k * k - (a1 * PI) ** 2 - (a2 * PI) ** 2

    def exact(x, y):
        return torch.sin(a1 * PI * x) * torch.sin(a2 * PI * y)

    return problem_spec(
        "helmholtz2d",
        {"x": (-1.0, 1.0), "y": (-1.0, 1.0)},
        residual=lambda u, f, k: u.laplacian + k * k * u - f,
        energy=lambda u, f, k: 0.5 * (u.x * u.x + u.y * u.y) - 0.5 * k * k * u * u + f * u,
        source=lambda x, y: lam_q * exact(x, y),
        coefficients={"k": k},
        exact=exact,
        # at the solution int |grad u|^2 = -int q u + k^2 int u^2, so E* = 1/2 int q u* = lam_q / 2
        # (int sin^2(a1 pi x) sin^2(a2 pi y) over [-1, 1]^2 = 1 for integers a1, a2)
        energy_reference=0.5 * lam_q,
        conditions=[dirichlet(hard=hard, weight=lam)],
        ansatz=(lambda x, y: (1 - x * x) * (1 - y * y)) if hard else None,
        description="Laplace(u) + k^2 u = q on [-1, 1]^2, u = 0 on the boundary",
        **_common(n_points, n_eval, sampling, seed),
    )


def kovasznay2d(
    *, re: float = 20.0, n_points=2500, n_eval=None, lam: float = 1.0, sampling: str = "grid", seed: int = 0
) -> ProblemSpec:
    """Steady incompressible Navier-Stokes on [-0.5, 1] x [-0.5, 1.5] with Kovasznay's exact flow (1948):
    u = 1 - e^{l x} cos(2 pi y), v = l/(2 pi) e^{l x} sin(2 pi y), p = (1 - e^{2 l x}) / 2,
    l = Re/2 - sqrt(Re^2/4 + 4 pi^2).

    Residuals: the two momentum equations (u grad u + grad p - Laplace(u)/Re) and continuity (u_x + v_y),
    each its own term. Velocity prescribed on every face, pressure on the outflow face x = 1 (penalised)."""
    re = check_positive("re", re)
    lam = check_positive("lam", lam)
    lk = re / 2 - math.sqrt(re * re / 4 + 4 * PI * PI)

    def exact(x, y):
        e = torch.exp(lk * x)
        return {
            "u": 1 - e * torch.cos(2 * PI * y),
            "v": lk / (2 * PI) * e * torch.sin(2 * PI * y),
            "p": 0.5 * (1 - torch.exp(2 * lk * x)),
        }

    def residual(u, v, p, re):
        return {
            "momentum_x": u * u.x + v * u.y + p.x - u.laplacian / re,
            "momentum_y": u * v.x + v * v.y + p.y - v.laplacian / re,
            "continuity": u.x + v.y,
        }

    return problem_spec(
        "kovasznay2d",
        {"x": (-0.5, 1.0), "y": (-0.5, 1.5)},
        residual=residual,
        unknowns=("u", "v", "p"),
        coefficients={"re": re},
        exact=exact,
        conditions=[
            dirichlet(value={"u": lambda x, y: exact(x, y)["u"], "v": lambda x, y: exact(x, y)["v"]}, weight=lam),
            dirichlet("x", at=1.0, value={"p": lambda x, y: exact(x, y)["p"]}, weight=lam, name="pressure"),
        ],
        description="steady Navier-Stokes, Kovasznay flow, Re = 20 by default",
        **_common(n_points, n_eval, sampling, seed),
    )


_REGISTRY = {
    f.__name__: f
    for f in (
        poisson1d,
        poisson2d,
        convection1d,
        reaction1d,
        reaction_diffusion1d,
        heat1d,
        wave1d,
        burgers1d,
        allen_cahn1d,
        helmholtz2d,
        kovasznay2d,
    )
}


def list_problems() -> list[str]:
    """The names of the built-in problems, in the order of docs/problems.md.

    Returns
    -------
    list of str
        The names ``get_problem`` accepts.
    """
    return list(_REGISTRY)


def get_problem(name, **options) -> Problem:
    """A built-in problem by name, or a problem passed through (with some coefficients changed).

    Parameters
    ----------
    name : str or Problem
        One of ``list_problems()``, or a ``Problem`` (from ``define_problem`` or an earlier ``get_problem``),
        returned as it is when no ``options`` are given.
    **options
        For a built-in, its options (each checked, named in errors; docs/problems.md lists every problem's
        with their defaults): its coefficients (e.g. ``beta=30.0`` for "convection1d"), ``n_points``,
        ``n_eval``, ``sampling``, ``seed``, and where the problem has them ``boundary`` ("hard" or
        "penalty"), ``lam`` (the penalty weight), ``collocation`` and ``mean_terms`` (the papers' point
        layout). For a Problem, what its ``with_coefficients`` takes.

    Returns
    -------
    Problem
        The problem; a built-in remembers its options (``problem.options``).

    Raises
    ------
    ValueError
        For a name that is not a built-in or a Problem, an option the problem does not have (the error
        lists the allowed ones), or a value an option does not allow.
    """
    if isinstance(name, Problem):
        return name.with_coefficients(**options) if options else name
    factory = _REGISTRY.get(name) if isinstance(name, str) else None
    if factory is None:
        raise ValueError(f"problem must be one of {list_problems()} or a Problem from plw.define_problem, got {name!r}")
    return build_builtin(name, factory, options)
