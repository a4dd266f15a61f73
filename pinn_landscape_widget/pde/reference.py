"""Reference solutions for the standard PINN benchmarks, computed by the package itself (nothing is downloaded).

- :class:`GridReference`: a solution known on a tensor-product grid, evaluated anywhere in its box by
  multilinear interpolation.
- Burgers (Raissi et al. 2019): :func:`burgers_cole_hopf` (the exact Cole-Hopf solution at any point) and
  :func:`burgers_reference` (it on a grid).
- Allen-Cahn (Raissi et al. 2019): :func:`allen_cahn_reference`, Fourier spectral in x, ETDRK4 in time.
- Reaction and reaction-diffusion (Krishnapriyan et al. 2021): :func:`reaction_exact` (closed form) and
  :func:`reaction_diffusion_reference` (Strang splitting of exact steps).

Gridded references are computed once per parameter set, kept in memory and in
``cache_dir()/"reference"`` as ``.npz`` files (reloaded when valid, recomputed when missing or corrupt).
Every accuracy stated in a docstring here is checked by ``tests/test_reference.py`` against an independent
method. All values are float64.
"""

from __future__ import annotations

import functools
import logging
import math
import zipfile

import numpy as np
import torch

from .._cache import cache_dir
from .._checks import check_finite, check_int

_LOG = logging.getLogger(__name__)

F64 = torch.float64
FORMAT_VERSION = 1  # bump when a cached file's layout or the numerical method changes

BURGERS_NU = 0.01 / math.pi
BURGERS_NU_RANGE = (5e-4, 0.3)
BURGERS_N_QUAD = 256
ALLEN_CAHN_D_RANGE = (5e-5, 1.0)
ALLEN_CAHN_A_RANGE = (0.0, 10.0)
REACTION_NU_RANGE = (0.0, 10.0)
REACTION_RHO_RANGE = (-20.0, 20.0)

_BOX_TOL = 1e-9  # points this far outside a box (relative to its width) count as on its edge


# --- argument checks -------------------------------------------------------------------------------------


def _check_range(name: str, value, lo: float, hi: float, *, open_lo: bool = False) -> float:
    value = check_finite(name, value)
    if value > hi or value < lo or (open_lo and value == lo):
        left = "(" if open_lo else "["
        raise ValueError(f"{name} must be a number in {left}{lo:g}, {hi:g}], got {value!r}")
    return value


def _as_f64(obj, label: str) -> torch.Tensor:
    """A float64 tensor (on obj's device when obj is a tensor) or a ValueError naming ``label``."""
    if isinstance(obj, torch.Tensor):
        if obj.is_complex() or obj.dtype == torch.bool:
            raise ValueError(f"{label} must hold real numbers, got a tensor of dtype {obj.dtype}")
        return obj.detach().to(F64)
    try:
        arr = np.asarray(obj, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{label} must be an array of real numbers, got {type(obj).__name__}") from exc
    return torch.from_numpy(arr.copy())


def _points(points, names: tuple[str, ...]) -> torch.Tensor:
    pts = _as_f64(points, "points")
    d = len(names)
    if pts.ndim != 2 or pts.shape[1] != d:
        cols = ", ".join(names)
        raise ValueError(f"points must have shape [N, {d}] (columns {cols}), got {tuple(pts.shape)}")
    if not bool(torch.isfinite(pts).all()):
        row = int((~torch.isfinite(pts)).any(1).nonzero()[0])
        raise ValueError(f"points must be finite; row {row} is {pts[row].tolist()}")
    return pts


def _clamp_to_box(pts: torch.Tensor, names, lows, highs) -> torch.Tensor:
    """Points inside the box (within a tiny tolerance, then clamped onto it), else a ValueError."""
    cols = []
    for j, (name, lo, hi) in enumerate(zip(names, lows, highs)):
        p = pts[:, j]
        tol = _BOX_TOL * (hi - lo)
        outside = (p < lo - tol) | (p > hi + tol)
        if bool(outside.any()):
            row = int(outside.nonzero()[0])
            raise ValueError(
                f"points[:, {j}] ({name}) must lie in [{lo:g}, {hi:g}]; {int(outside.sum())} point(s) lie outside, "
                f"e.g. row {row} with {name} = {float(p[row])!r}"
            )
        cols.append(p.clamp(lo, hi))
    return torch.stack(cols, 1)


# --- the grid container ----------------------------------------------------------------------------------


class GridReference:
    """A solution known on a tensor-product grid, evaluated anywhere in the grid's box.

    ``axes`` maps each coordinate name to a 1-D strictly increasing array (at least 2 points), in the order
    of the columns of the points it will be called with, e.g. ``{"x": xs, "t": ts}``. ``values`` is one
    array shaped like the grid (``[len(xs), len(ts)]``, one unknown, called ``u``) or a dict
    unknown-name -> such array (several unknowns). ``attrs`` is optional provenance (method, parameters,
    accuracy) of plain str/number values.

    ``ref(points)`` with points ``[N, d]`` returns ``[N]`` (one unknown) or ``[N, m]`` (a dict of m, in the
    dict's order), float64, on the points' device, by multilinear interpolation: exact at grid nodes and
    for functions linear in each coordinate separately; for a smooth u the error is at most
    ``sum_k h_k^2 / 8 * max|d^2 u / d x_k^2|`` (h_k the largest spacing of axis k). Points further than
    1e-9 of an axis' length outside the box are a ValueError.

    Plain data (tensors, tuples, a dict): it pickles.
    """

    def __init__(self, axes: dict, values, *, attrs: dict | None = None):
        if not isinstance(axes, dict) or not axes:
            raise ValueError(f"axes must be a non-empty dict name -> 1-D increasing array, got {type(axes).__name__}")
        names, grids = [], []
        for name, axis in axes.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"axis names must be non-empty strings, got {name!r}")
            a = _as_f64(axis, f"axes[{name!r}]").cpu().contiguous()
            if a.ndim != 1 or a.numel() < 2:
                raise ValueError(f"axes[{name!r}] must be 1-D with at least 2 points, got shape {tuple(a.shape)}")
            if not bool(torch.isfinite(a).all()):
                raise ValueError(f"axes[{name!r}] must be finite, got NaN or infinite entries")
            step = a[1:] - a[:-1]
            if bool((step <= 0).any()):
                i = int((step <= 0).nonzero()[0])
                raise ValueError(
                    f"axes[{name!r}] must be strictly increasing; entry {i} is {float(a[i])!r} "
                    f"and entry {i + 1} is {float(a[i + 1])!r}"
                )
            names.append(name)
            grids.append(a)
        shape = tuple(a.numel() for a in grids)

        single = not isinstance(values, dict)
        named = {"u": values} if single else values
        if not named:
            raise ValueError("values must be an array or a non-empty dict unknown-name -> array")
        columns = []
        for unknown, arr in named.items():
            if not isinstance(unknown, str) or not unknown:
                raise ValueError(f"unknown names must be non-empty strings, got {unknown!r}")
            label = "values" if single else f"values[{unknown!r}]"
            v = _as_f64(arr, label).cpu()
            if tuple(v.shape) != shape:
                dims = ", ".join(f"{n}: {s}" for n, s in zip(names, shape))
                raise ValueError(f"{label} must have the grid's shape {shape} ({dims}), got {tuple(v.shape)}")
            bad = ~torch.isfinite(v)
            if bool(bad.any()):
                where = tuple(int(i) for i in bad.nonzero()[0])
                raise ValueError(f"{label} must be finite; {int(bad.sum())} NaN/infinite entries, first at {where}")
            columns.append(v.reshape(-1))

        self._names = tuple(names)
        self._axes = tuple(grids)
        self._shape = shape
        self._unknowns = tuple(named)
        self._single = single
        self._data = torch.stack(columns, 1).contiguous()  # [prod(shape), m], C order of the grid
        self.attrs = dict(attrs or {})

    # what the grid is
    @property
    def names(self) -> tuple[str, ...]:
        """Coordinate names, in the order of the points' columns."""
        return self._names

    @property
    def unknowns(self) -> tuple[str, ...]:
        return self._unknowns

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def axes(self) -> dict[str, torch.Tensor]:
        """name -> a copy of the axis (float64)."""
        return {n: a.clone() for n, a in zip(self._names, self._axes)}

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        return {n: (float(a[0]), float(a[-1])) for n, a in zip(self._names, self._axes)}

    @property
    def values(self):
        """A copy of the grid values: one tensor shaped like the grid, or a dict unknown -> tensor."""
        grids = [self._data[:, k].reshape(self._shape).clone() for k in range(len(self._unknowns))]
        return grids[0] if self._single else dict(zip(self._unknowns, grids))

    def grid_points(self) -> torch.Tensor:
        """All grid nodes as points ``[prod(shape), d]``, in the order of ``values.reshape(-1)``."""
        mesh = torch.meshgrid(*self._axes, indexing="ij")
        return torch.stack([m.reshape(-1) for m in mesh], 1)

    def __call__(self, points) -> torch.Tensor:
        pts = _points(points, self._names)
        device = pts.device
        lows = [float(a[0]) for a in self._axes]
        highs = [float(a[-1]) for a in self._axes]
        pts = _clamp_to_box(pts, self._names, lows, highs)

        # per axis: the cell index i (a[i] <= p <= a[i+1]) and the fraction within it
        cells, fracs = [], []
        for j, axis in enumerate(self._axes):
            a = axis.to(device)
            p = pts[:, j].contiguous()
            i = (torch.searchsorted(a, p, right=True) - 1).clamp(0, a.numel() - 2)
            fracs.append((p - a[i]) / (a[i + 1] - a[i]))
            cells.append(i)
        strides = [math.prod(self._shape[j + 1 :]) for j in range(len(self._shape))]
        data = self._data.to(device)

        out = torch.zeros(pts.shape[0], data.shape[1], dtype=F64, device=device)
        for corner in range(2 ** len(cells)):
            index = torch.zeros_like(cells[0])
            weight = torch.ones_like(fracs[0])
            for j, (i, f) in enumerate(zip(cells, fracs)):
                upper = (corner >> j) & 1
                index = index + (i + upper) * strides[j]
                weight = weight * (f if upper else 1 - f)
            out += weight[:, None] * data[index]
        return out[:, 0] if self._single else out

    def __repr__(self) -> str:
        dims = ", ".join(
            f"{n}: {s} points in [{lo:g}, {hi:g}]"
            for n, s, (lo, hi) in zip(self._names, self._shape, self.bounds.values())
        )
        return f"GridReference({dims}; unknowns {', '.join(self._unknowns)})"


# --- the on-disk cache -----------------------------------------------------------------------------------


def _cache_path(kind: str, key: dict):
    parts = "_".join(f"{k}={v!r}" for k, v in key.items())
    return cache_dir() / "reference" / f"{kind}_{parts}_v{FORMAT_VERSION}.npz"


def _key_text(kind: str, key: dict) -> str:
    return f"{kind} v{FORMAT_VERSION} " + " ".join(f"{k}={v!r}" for k, v in key.items())


def _load(path, key_text: str, axes: tuple[str, ...]) -> GridReference | None:
    """The cached grid at ``path`` when it is complete and was made for ``key_text``, else None."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key_text:
                return None
            grid = {n: z[f"axis_{n}"] for n in axes}
            values = z["values"]
        return GridReference(grid, values)
    except (
        OSError,
        KeyError,
        ValueError,
        EOFError,
        zipfile.BadZipFile,
    ) as exc:  # truncated, foreign or corrupt: recompute it
        _LOG.info("reference cache %s unreadable (%s: %s); recomputing", path, type(exc).__name__, exc)
        return None


def _save(path, key_text: str, ref: GridReference) -> None:
    """Write atomically (temporary file, then rename); a cache that cannot be written is only a lost speed-up."""
    token = f"{int(np.random.default_rng().integers(1 << 62)):x}"
    tmp = path.with_name(f"{path.name}.{token}.tmp")
    arrays = {f"axis_{n}": a.numpy() for n, a in ref.axes.items()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as fh:
            np.savez(fh, key=np.array(key_text), values=ref.values.numpy(), **arrays)  # type: ignore[arg-type]
        tmp.replace(path)
    except OSError as exc:
        _LOG.info("reference cache %s not written (%s); it will be recomputed next time", path, exc)
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def _cached_grid(kind: str, key: dict, axes: tuple[str, ...], compute, attrs: dict) -> GridReference:
    path = _cache_path(kind, key)
    key_text = _key_text(kind, key)
    ref = _load(path, key_text, axes)
    if ref is None:
        ref = compute()
        _save(path, key_text, ref)
    ref.attrs.update(attrs)
    return ref


def _clear_memory_caches() -> None:
    """Forget the in-memory references (the files stay); for tests and after changing the cache directory."""
    for fn in (_burgers_grid, _allen_cahn_grid, _reaction_diffusion_grid):
        fn.cache_clear()


# --- Burgers ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _hermite_rule(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gauss-Hermite nodes and log-weights (weight exp(-z^2)); numpy's rule is finite up to n = 340."""
    z, w = np.polynomial.hermite.hermgauss(n)
    return torch.from_numpy(z), torch.from_numpy(np.log(w))


def burgers_cole_hopf(points, nu: float = BURGERS_NU, n_quad: int = BURGERS_N_QUAD) -> torch.Tensor:
    """Exact solution of the viscous Burgers equation u_t + u u_x = nu u_xx, x in [-1, 1], t in [0, 1],
    u(x, 0) = -sin(pi x), u(+-1, t) = 0 (the benchmark of Raissi et al. 2019), at ``points`` [N, 2]
    (columns x, t). Returns [N] float64.

    Cole-Hopf transformation with the integrals evaluated by Gauss-Hermite quadrature (Basdevant et al.
    1986): with eta = sqrt(4 nu t) z and f(y) = exp(-cos(pi y) / (2 pi nu)),

        u(x, t) = -sum_i w_i sin(pi (x - eta_i)) f(x - eta_i) / sum_i w_i f(x - eta_i),

    the exponents shifted by their maximum so that nothing overflows (f spans e^(+-1/(2 pi nu))).
    t = 0 returns -sin(pi x) exactly.

    Accuracy (absolute, on the whole box, the shock at x = 0 included): with the default n_quad = 256,
    below 2e-14 for every nu in [5e-4, 0.3] (nu is restricted to that range), 3e-15 at the default
    nu = 0.01/pi; checked against a dense direct quadrature in eta (no Gauss-Hermite substitution) and
    against n_quad = 340. Fewer nodes miss the peaks of the integrand at small nu and large t: n_quad = 200
    gives 9e-12 at nu = 5e-4, n_quad = 128 only 0.1 there; at the default nu, n_quad = 100 suffices (4e-15).
    """
    nu = _check_range("nu", nu, *BURGERS_NU_RANGE)
    n_quad = check_int("n_quad", n_quad, 16, 340)
    pts = _clamp_to_box(_points(points, ("x", "t")), ("x", "t"), (-1.0, 0.0), (1.0, 1.0))
    x, t = pts[:, 0], pts[:, 1]
    z, log_w = (v.to(pts.device) for v in _hermite_rule(n_quad))

    out = -torch.sin(math.pi * x)  # t = 0
    moving = (t > 0).nonzero().squeeze(1)
    chunk = max(1, (1 << 21) // n_quad)  # bounds the [rows, n_quad] work arrays
    for start in range(0, moving.numel(), chunk):
        rows = moving[start : start + chunk]
        y = x[rows, None] - torch.sqrt(4 * nu * t[rows, None]) * z
        expo = log_w - torch.cos(math.pi * y) / (2 * math.pi * nu)
        p = torch.exp(expo - expo.amax(1, keepdim=True))
        out[rows] = -(torch.sin(math.pi * y) * p).sum(1) / p.sum(1)
    return out


def burgers_reference(nu: float = BURGERS_NU, nx: int = 256, nt: int = 101) -> GridReference:
    """The Burgers solution of :func:`burgers_cole_hopf` on the grid x = linspace(-1, 1, nx),
    t = linspace(0, 1, nt), as a :class:`GridReference` over (x, t).

    Node values carry the accuracy of :func:`burgers_cole_hopf` (< 2e-14) and agree with a Fourier
    spectral solve of the PDE to 6e-11 relative L2, 9e-10 max (tests). Between nodes the linear
    interpolation error dominates, large near the shock (|u_x| reaches 152 at t = 0.51 for the default nu):
    on the default 256 x 101 grid up to 0.09 within 0.05 of x = 0, 1.2e-3 elsewhere, 7e-3 relative L2.
    Computed once per parameter set (0.3 to 1.5 s for the default grid on 2 busy cores), kept in memory
    and in ``cache_dir()/"reference"``.
    """
    nu = _check_range("nu", nu, *BURGERS_NU_RANGE)
    nx = check_int("nx", nx, 3, 4097)
    nt = check_int("nt", nt, 2, 2001)
    return _burgers_grid(nu, nx, nt)


@functools.lru_cache(maxsize=8)
def _burgers_grid(nu: float, nx: int, nt: int) -> GridReference:
    def compute():
        xs = torch.linspace(-1.0, 1.0, nx, dtype=F64)
        ts = torch.linspace(0.0, 1.0, nt, dtype=F64)
        u = burgers_cole_hopf(torch.cartesian_prod(xs, ts), nu, BURGERS_N_QUAD)
        return GridReference({"x": xs, "t": ts}, u.reshape(nx, nt))

    key = dict(nu=nu, nx=nx, nt=nt, n_quad=BURGERS_N_QUAD)
    attrs = dict(problem="burgers", nu=nu, method=f"Cole-Hopf, Gauss-Hermite n={BURGERS_N_QUAD}")
    return _cached_grid("burgers", key, ("x", "t"), compute, attrs)


# --- periodic Fourier solvers ----------------------------------------------------------------------------


def _fine_size(nx: int, n_min: int) -> int:
    """The smallest multiple of nx that is at least n_min: solve on it, keep every (N / nx)-th node."""
    return nx * max(1, math.ceil(n_min / nx))


def _substeps(nt: int, dt_max: float) -> int:
    return max(1, math.ceil((1.0 / (nt - 1)) / dt_max - 1e-9))


def _periodic_grid(solution: torch.Tensor, lo: float, hi: float, nt: int) -> GridReference:
    """[nx, nt] node values on [lo, hi) -> a GridReference on [lo, hi] (the end repeats the start)."""
    nx = solution.shape[0]
    xs = lo + (hi - lo) * torch.arange(nx + 1, dtype=F64) / nx
    xs[-1] = hi
    ts = torch.linspace(0.0, 1.0, nt, dtype=F64)
    return GridReference({"x": xs, "t": ts}, torch.cat([solution, solution[:1]], 0))


def _allen_cahn_initial_modes(n: int) -> torch.Tensor:
    """rfft-scaled Fourier coefficients of u0 = x^2 cos(pi x) on the n nodes x_j = -1 + 2 j / n, from the
    exact cosine series u0 = a_0 / 2 + sum_m a_m cos(m pi x), a_m = I(m - 1) + I(m + 1) with
    I(k) = int_0^1 x^2 cos(k pi x) dx = 2 (-1)^k / (k pi)^2 (I(0) = 1/3).

    u0 has a kink at x = +-1 (u0' = -+2 there): its samples alias O(1/n^2) of the high modes onto the low
    ones, which the dynamics keeps; the truncated exact series does not (at n = 2048 the solution's error
    drops from 8e-6 to 1e-11)."""
    m = torch.arange(n // 2 + 1, dtype=F64)
    sign = 1 - 2 * (m % 2)  # (-1)^m, exactly

    def integral(k, parity):
        safe = torch.where(k == 0, torch.ones_like(k), k)
        return torch.where(k == 0, torch.full_like(k, 1 / 3), 2 * parity / (math.pi * safe) ** 2)

    a = integral((m - 1).abs(), -sign) + integral(m + 1, -sign)
    # cos(m pi x_j) = Re(e^{-i m pi} e^{2 pi i m j / n}); both halves of the spectrum give n a_m / 2 (once for
    # m = 0, and the Nyquist mode of an even n is split between +-n/2)
    return (n * a / 2 * sign).to(torch.complex128)


def _etdrk4_coefficients(lin: torch.Tensor, h: float, n_contour: int = 32):
    """ETDRK4 coefficients of Cox & Matthews (2002) for the diagonal linear part ``lin``, computed by the
    contour integrals of Kassam & Trefethen (2005): each phi-function is averaged over points on a circle of
    radius 1 around h*lin (upper half; the real part of the mean is exact for real lin), which avoids the
    cancellation of the explicit formulas for small |h lin|."""
    r = torch.exp(1j * math.pi * (torch.arange(1, n_contour + 1, dtype=F64) - 0.5) / n_contour)
    lr = h * lin.to(torch.complex128)[:, None] + r[None, :]
    e_lr = torch.exp(lr)

    def mean(f):
        return h * torch.real(f.mean(1))

    q = mean((torch.exp(lr / 2) - 1) / lr)
    f1 = mean((-4 - lr + e_lr * (4 - 3 * lr + lr**2)) / lr**3)
    f2 = mean((2 + lr + e_lr * (lr - 2)) / lr**3)
    f3 = mean((-4 - 3 * lr - lr**2 + e_lr * (4 - lr)) / lr**3)
    return torch.exp(h * lin), torch.exp(h * lin / 2), q, f1, f2, f3


def allen_cahn_reference(d: float = 1e-4, a: float = 5.0, nx: int = 512, nt: int = 201) -> GridReference:
    """Allen-Cahn u_t - d u_xx + a u^3 - a u = 0, x in [-1, 1] periodic, t in [0, 1], u(x, 0) = x^2 cos(pi x)
    (the data set of Raissi et al. 2019 uses d = 1e-4, a = 5, 512 x 201 points), as a
    :class:`GridReference` over (x, t): x = -1 + 2 j / nx for j = 0..nx (both ends, u(1) = u(-1)),
    t = linspace(0, 1, nt).

    Fourier pseudo-spectral in x, exponential time differencing RK4 in time (ETDRK4, Cox & Matthews 2002,
    coefficients by the contour integrals of Kassam & Trefethen 2005) with linear part a - d k^2 and
    nonlinear part -a u^3. The solve runs on N = a multiple of nx, at least 2048 and with at least 6 nodes
    per interface width sqrt(2 d / a), with the exact Fourier coefficients of u0 (its samples alias the
    kink at x = +-1); time step <= 1e-3 (<= 5e-3 / a for a > 5).

    Accuracy at the nodes, for the defaults (tests): against the same scheme at N = 8192, 2e-7 at
    t = 0.005 and 0.01 (the first instants of smoothing the kink of u0 at x = +-1), below 4e-11 from
    t = 0.015 on; against Fourier + classical RK4 (N = 1024) 3e-10 for t >= 0.1; sixth-order finite
    differences + RK4 converge to it at second order (1e-5 at 2048 points, 2.6e-6 at 4096, t = 0.1).
    Between nodes the linear interpolation error dominates: the interfaces are 0.006 wide, so on the default
    grid interpolating in x alone errs by up to 0.012 (5e-4 relative L2). 0.8 to 2 s for the defaults.
    """
    d = _check_range("d", d, *ALLEN_CAHN_D_RANGE)
    a = _check_range("a", a, *ALLEN_CAHN_A_RANGE)
    nx = check_int("nx", nx, 16, 8192)
    nt = check_int("nt", nt, 2, 2001)
    return _allen_cahn_grid(d, a, nx, nt)


@functools.lru_cache(maxsize=8)
def _allen_cahn_grid(d: float, a: float, nx: int, nt: int) -> GridReference:
    n_min = 2048 if a == 0 else max(2048, math.ceil(12 / math.sqrt(2 * d / a)))
    n = _fine_size(nx, n_min)
    sub = _substeps(nt, 1e-3 * min(1.0, 5.0 / a) if a > 0 else 1e-3)

    def compute():
        h = 1.0 / ((nt - 1) * sub)
        x = -1 + 2 * torch.arange(n, dtype=F64) / n
        k = math.pi * torch.arange(n // 2 + 1, dtype=F64)
        e, e2, q, f1, f2, f3 = _etdrk4_coefficients(a - d * k**2, h)

        def nonlinear(v):
            return -a * torch.fft.rfft(torch.fft.irfft(v, n) ** 3)

        out = torch.empty(nx, nt, dtype=F64)
        out[:, 0] = (x**2 * torch.cos(math.pi * x))[:: n // nx]
        v = _allen_cahn_initial_modes(n)
        for i in range(1, nt):
            for _ in range(sub):
                nv = nonlinear(v)
                va = e2 * v + q * nv
                na = nonlinear(va)
                vb = e2 * v + q * na
                nb = nonlinear(vb)
                vc = e2 * va + q * (2 * nb - nv)
                nc = nonlinear(vc)
                v = e * v + f1 * nv + 2 * f2 * (na + nb) + f3 * nc
            out[:, i] = torch.fft.irfft(v, n)[:: n // nx]
        return _periodic_grid(out, -1.0, 1.0, nt)

    key = dict(d=d, a=a, nx=nx, nt=nt, n=n, sub=sub)
    attrs = dict(problem="allen_cahn", d=d, a=a, method=f"Fourier N={n}, ETDRK4 dt=1/{(nt - 1) * sub}")
    return _cached_grid("allen_cahn", key, ("x", "t"), compute, attrs)


# --- reaction and reaction-diffusion ---------------------------------------------------------------------


def _reaction_initial(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(-((x - math.pi) ** 2) / (2 * (math.pi / 4) ** 2))


def reaction_exact(points, rho: float) -> torch.Tensor:
    """Exact solution of the reaction equation u_t - rho u (1 - u) = 0, x in [0, 2 pi], t in [0, 1],
    u(x, 0) = h(x) = exp(-(x - pi)^2 / (2 (pi/4)^2)) (Krishnapriyan et al. 2021), at ``points`` [N, 2]
    (columns x, t). Returns [N] float64.

    u = h e^(rho t) / (h e^(rho t) + 1 - h), evaluated as the logistic function of
    log h - log(1 - h) + rho t, which neither overflows for large rho t nor loses h near 0 or 1: agrees
    with the textbook formula to 1e-14 where that one is finite (tests), and stays in [0, 1] for any rho.
    """
    rho = check_finite("rho", rho)
    pts = _clamp_to_box(_points(points, ("x", "t")), ("x", "t"), (0.0, 0.0), (2 * math.pi, 1.0))
    x, t = pts[:, 0], pts[:, 1]
    log_h = -((x - math.pi) ** 2) / (2 * (math.pi / 4) ** 2)
    return torch.sigmoid(log_h - torch.log1p(-torch.exp(log_h)) + rho * t)


def reaction_diffusion_reference(
    nu: float, rho: float, nx: int = 256, nt: int = 101, substeps: int | None = None
) -> GridReference:
    """Reaction-diffusion u_t - nu u_xx - rho u (1 - u) = 0, x in [0, 2 pi] periodic, t in [0, 1],
    u(x, 0) = exp(-(x - pi)^2 / (2 (pi/4)^2)) (Krishnapriyan et al. 2021), as a :class:`GridReference` over
    (x, t): x = 2 pi j / nx for j = 0..nx (both ends), t = linspace(0, 1, nt). nu = 0 is pure reaction,
    rho = 0 the heat equation.

    Strang splitting (Strang 1968) of the two exact flows, as that paper's code splits them: half a step of
    the logistic ODE (u <- u / (u + (1 - u) e^(-rho dt / 2))), a full step of diffusion exact in Fourier
    space (multiply mode k by e^(-nu k^2 dt)), half a logistic step. Second order in dt. ``substeps``
    splitting steps per output interval (default: dt <= 2.5e-4); solved on N = a multiple of nx, at least
    4096, from the samples of u0 (whose periodic extension has a small kink at x = 0: spatial error O(N^-2)).

    Accuracy at the nodes (tests): splitting error at the default dt, min(2.5e-4, 1e-3 / sqrt(nu |rho|)),
    below 5e-8 (extrapolated from dt-halving, which cuts the change by 4.00); spatial error (against
    N = 8192) 4e-10 for nu = 3, rho = 5, 3e-6 for nu = 1e-3, rho = 10 (the kink sharpens where diffusion
    is weak); nu = 0 equals :func:`reaction_exact` to 7e-14 (rounding over the steps); rho = 0 matches the
    heat equation's exact Fourier series to 6e-9 (nu = 0.1) and 2e-9 (nu = 1) for t >= 0.01. Interpolating
    the default grid in x costs up to 1e-4 (nu = 3, rho = 5). 1 to 2.5 s for the defaults.
    """
    nu = _check_range("nu", nu, *REACTION_NU_RANGE)
    rho = _check_range("rho", rho, *REACTION_RHO_RANGE)
    nx = check_int("nx", nx, 16, 8192)
    nt = check_int("nt", nt, 2, 2001)
    # Strang's error here is ~0.05 nu |rho| dt^2 (measured): this dt keeps it below ~5e-8
    dt_max = 2.5e-4 if nu * abs(rho) == 0 else min(2.5e-4, 1e-3 / math.sqrt(nu * abs(rho)))
    sub = _substeps(nt, dt_max) if substeps is None else check_int("substeps", substeps, 1, 100_000)
    return _reaction_diffusion_grid(nu, rho, nx, nt, sub)


@functools.lru_cache(maxsize=8)
def _reaction_diffusion_grid(nu: float, rho: float, nx: int, nt: int, sub: int) -> GridReference:
    n = _fine_size(nx, 4096)

    def compute():
        dt = 1.0 / ((nt - 1) * sub)
        u = _reaction_initial(2 * math.pi * torch.arange(n, dtype=F64) / n)
        decay = torch.exp(-nu * torch.arange(n // 2 + 1, dtype=F64) ** 2 * dt)
        q = math.exp(-rho * dt / 2)

        def react(v):
            return v / (v + (1 - v) * q)

        def diffuse(v):
            return torch.fft.irfft(decay * torch.fft.rfft(v), n) if nu > 0 else v

        out = torch.empty(nx, nt, dtype=F64)
        out[:, 0] = u[:: n // nx]
        for i in range(1, nt):
            for _ in range(sub):
                u = react(diffuse(react(u)))
            out[:, i] = u[:: n // nx]
        return _periodic_grid(out, 0.0, 2 * math.pi, nt)

    key = dict(nu=nu, rho=rho, nx=nx, nt=nt, n=n, sub=sub)
    attrs = dict(problem="reaction_diffusion", nu=nu, rho=rho, method=f"Strang splitting N={n}, dt=1/{(nt - 1) * sub}")
    return _cached_grid("reaction_diffusion", key, ("x", "t"), compute, attrs)
