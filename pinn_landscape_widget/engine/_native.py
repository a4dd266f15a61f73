"""The fused float32 tanh network kernels of ``csrc/jets.c`` and ``csrc/rop.c``: built with the system C
compiler at first use, cached on disk, called through ctypes on tensors' memory.

Why C and not torch: on a CPU a grid chunk is K networks at the same points. torch runs it as batched
matmuls (MKL: 60-70 GFLOP/s per core here on 50 x 50 products) plus ~25 elementwise passes over the
activations; the C kernel keeps a block of points in cache through every layer, with register-tiled
matmuls (~100 GFLOP/s per core here) and the chain rule applied per tile. Why at first use and not at
install: the library is built with ``-march=native`` for the machine that runs it (about 30 s, once per CPU
and compiler); wherever it cannot be used, torch's kernels compute the same results.

Where it runs. By default on Linux x86-64, the platform it is tested on, with a C compiler that has OpenMP
(gcc, or clang with libomp). Elsewhere (macOS, Windows, ARM), without a compiler, or with a compiler
without OpenMP (Apple clang), one ``NativeKernelsWarning`` per process says that the fast CPU path is off
and why, and torch's kernels run. ``PLW_NATIVE=1`` tries the C path on any platform; ``PLW_NATIVE=0``
turns it off without a warning; any other value is an error.

The cache (``~/.cache/pinn-landscape-widget/kernels``, or under ``$XDG_CACHE_HOME``) is keyed by
everything the generated code depends on: the sources, the flags, the compiler (its resolved path and
``--version``), what its ``-march=native`` selects on this CPU (the compiler's own ``-###`` dry run, which
spells out the chosen -march, -mtune and features), and the OS's description of the CPU. A home directory
shared between machines then never hands one CPU's build to another. A library is loaded only from a
directory and a file that belong to the user and that nobody else can write (checked on the open file, so
the path cannot be swapped in between); a directory that fails the check is not used (the build goes to a
private temporary directory, with a warning), a file that fails it, or that does not load, is rebuilt.
Every library reports its interface (``csrc/abi.h``: a version number and the constants below), checked
at load: a library that disagrees is rebuilt once, and then not used.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import stat
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

import torch

from .. import _cache

NATIVE_DIR = Path(__file__).with_name("csrc")
# one library; the headers (abi.h, vec.h, tiles.h, team.h) are in the cache key too
SOURCES = [NATIVE_DIR / "jets.c", NATIVE_DIR / "rop.c", NATIVE_DIR / "train.c"]
# -ffp-contract=off: fused multiply-adds only where the C files write them out
# -fopenmp: rop.c's and train.c's passes run in OpenMP teams, on the libgomp torch has loaded (see rop.c)
FLAGS = [
    "-O3",
    "-march=native",
    "-fopenmp",
    "-ffp-contract=off",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-fPIC",
    "-shared",
    "-pthread",
]

# The interface this module and engine/jet_adjoint.py are written against. The library reports its own values
# (csrc/abi.h, jets.c, rop.c) and is used only where every one agrees.
ABI_VERSION = 4
MAX_INPUT_DIM = 3  # jets.c has kernels for d = 1, 2, 3
PLAN_FIELDS = 18  # int64 fields of a layer's record in rop.c's plan (its F_N)
TRAIN_PLAN_FIELDS = 8  # int64 fields of a layer's record in train.c's plan (its T_N)
MAX_SHARES = 64  # the most threads a rop.c or train.c pass may be split over
INTERFACE = {
    "plw_abi_version": ABI_VERSION,
    "plw_max_input_dim": MAX_INPUT_DIM,
    "plw_plan_fields": PLAN_FIELDS,
    "plw_train_plan_fields": TRAIN_PLAN_FIELDS,
    "plw_max_shares": MAX_SHARES,
}

ENV = "PLW_NATIVE"
# (platform.system(), platform.machine()) where the C path is on by default: where it is tested
TESTED_PLATFORMS = {("Linux", "x86_64")}
BUILD_TIMEOUT_S = 600  # gcc -O3 takes ~30 s of CPU here; a loaded shared machine can take many times that

_LOCK = threading.Lock()
_LIB: ctypes.CDLL | None = None
_TRIED = False  # set, under _LOCK, only once _LIB is final: the library, or None for good
# /proc/self/fd/N of every library loaded through it: the dynamic loader matches an already-loaded library
# by the name it was opened with, so N must never name another file in this process
_PINNED_FDS: list[int] = []


def _fresh_lock_in_child() -> None:
    # a fork while another thread builds would leave the child's lock held for ever; the child decides anew
    global _LOCK
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_lock_in_child)


class NativeKernelsWarning(RuntimeWarning):
    """The fused C kernels are not used in this process (or not cached), and why; results are the same."""


class _Unusable(Exception):
    """The C path cannot be used in this process; the message says why, in one clause."""


class _BadLibrary(Exception):
    """A library file that must not be, or cannot be, used; it is rebuilt."""


def _mode() -> str:
    """``PLW_NATIVE`` read: "auto" (unset or empty: the C path on tested platforms), "on" (1: on any
    platform) or "off" (0)."""
    value = os.environ.get(ENV, "")
    if value == "":
        return "auto"
    if value in ("0", "1"):
        return "off" if value == "0" else "on"
    raise ValueError(
        f"{ENV}={value!r} is not allowed: use {ENV}=1 (use the fused C kernels, even on an untested platform), "
        f"{ENV}=0 (torch's kernels only) or leave it unset (the C kernels where tested: Linux on x86-64)"
    )


def _host() -> tuple[str, str]:
    return platform.system(), platform.machine()


def _untested_platform() -> str | None:
    """Why the C path is off by default here, or None on a tested platform."""
    host = _host()
    if host in TESTED_PLATFORMS:
        return None
    return f"{' '.join(filter(None, host)) or 'this platform'} is not a tested platform ({ENV}=1 tries it)"


def kernel_dir() -> Path:
    """Where built libraries are kept: ``kernels/`` in the package's per-user cache directory."""
    return _cache.cache_dir() / "kernels"


def _run(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    # a fixed directory and locale: clang's dry run names the working directory, and messages are translated
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=os.path.abspath(os.sep),
        stdin=subprocess.DEVNULL,
        env={**os.environ, "LC_ALL": "C"},
    )


def _first_error(stderr: str) -> str:
    lines = [ln.strip() for ln in (stderr or "").splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    line = (errors or lines or ["no message"])[0]
    return line if len(line) <= 300 else line[:297] + "..."


def _find_compiler() -> str:
    """The C compiler: $CC, else cc, else gcc on PATH (the path it is run by; the key resolves links)."""
    cc = os.environ.get("CC")
    if cc:
        path = shutil.which(cc)
        if path is None:
            raise _Unusable(f"CC={cc!r} is not an executable C compiler")
        return path
    path = shutil.which("cc") or shutil.which("gcc")
    if path is None:
        raise _Unusable("no C compiler found (looked for $CC, cc and gcc on PATH)")
    return path


def _compiler_facts(compiler: str, flags: list[str]) -> tuple[str, str]:
    """(identity, target) of a compiler: its resolved path and ``--version`` output; and its dry run
    (``-###``) with the target flags, where -march=native appears as the -march, -mtune and feature flags
    (gcc) or the -target-cpu and -target-feature list (clang) it selects on this CPU."""
    target_flags = [f for f in flags if f.startswith("-m")]
    try:
        version = _run([compiler, "--version"])
        dry = _run([compiler, *target_flags, "-###", "-E", "-x", "c", os.devnull])
    except (OSError, subprocess.SubprocessError) as exc:
        raise _Unusable(f"the C compiler {compiler} does not run ({exc})") from None
    if version.returncode != 0 or dry.returncode != 0 or not (dry.stdout + dry.stderr).strip():
        raise _Unusable(
            f"the C compiler {compiler} cannot say what {' '.join(target_flags)} selects on this CPU "
            f"(its --version or -### dry run failed: {_first_error(version.stderr + dry.stderr)})"
        )
    return "\n".join([os.path.realpath(compiler), version.stdout, version.stderr]), dry.stdout + dry.stderr


_CPUINFO_KEYS = {"model name", "flags", "Features", "CPU implementer", "CPU architecture", "CPU variant", "CPU part"}


def _cpu_description() -> str:
    """The OS's description of the CPU (Linux: /proc/cpuinfo's model and feature lines, over all cores),
    in case a compiler's dry run does not spell out what -march=native selects."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    lines = set()
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() in _CPUINFO_KEYS:
            lines.add(f"{name.strip()}: {' '.join(value.split())}")
    return "\n".join([*_host(), platform.processor(), *sorted(lines)])


def _sources() -> dict[str, bytes]:
    """Every file the build reads: the C files and the headers they include."""
    return {p.name: p.read_bytes() for p in sorted(NATIVE_DIR.iterdir()) if p.suffix in (".c", ".h")}


def _build_key(identity: str, target: str, flags: list[str], sources: dict[str, bytes], cpu: str) -> str:
    """The cache key of a build: a hash of everything its code depends on (see the module docstring)."""
    h = hashlib.sha256()
    parts = [b"plw-kernels", identity.encode(), target.encode(), "\0".join(flags).encode(), cpu.encode()]
    for name, code in sorted(sources.items()):
        parts += [name.encode(), code]
    for part in parts:  # length-prefixed: no two different lists of parts hash the same bytes
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def _who(st: os.stat_result, path: Path, kind: str) -> str | None:
    """Why a file or directory with this stat must not hold or be a library we load, or None."""
    if not hasattr(os, "geteuid"):
        return "file ownership cannot be checked on this system"
    if st.st_uid != os.geteuid():
        return f"the {kind} {path} belongs to user id {st.st_uid}, not to this user (id {os.geteuid()})"
    if st.st_mode & 0o022:
        return f"the {kind} {path} is writable by other users (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _build_dir() -> tuple[Path, bool]:
    """The directory to build in, and whether it is the cache: ``kernel_dir()`` (created 0700) when it
    belongs to this user and nobody else can write it, else a private temporary directory (warned)."""
    where = kernel_dir()
    try:
        where.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        where.mkdir(mode=0o700, exist_ok=True)
        st = os.stat(where)
        problem = _who(st, where, "cache directory") if stat.S_ISDIR(st.st_mode) else f"{where} is not a directory"
    except OSError as exc:
        problem = f"the cache directory {where} cannot be created ({exc.strerror})"
    if problem is None:
        return where, True
    warnings.warn(
        f"the fused CPU kernels are not cached: {problem}. They are built for this process in a private "
        f"temporary directory (make {where} yours and private, e.g. chmod 700, to keep them)",
        NativeKernelsWarning,
        stacklevel=4,
    )
    return Path(tempfile.mkdtemp(prefix="plw-kernels-")), False


def _interface_problem(lib: ctypes.CDLL) -> str | None:
    """Where a loaded library's interface differs from the one this package is written against."""
    wrong = []
    for name, want in INTERFACE.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            return f"it has no {name}() (built from other sources)"
        fn.argtypes, fn.restype = [], ctypes.c_int64
        got = fn()
        if got != want:
            wrong.append(f"{name}() = {got}, expected {want}")
    return f"its interface differs ({', '.join(wrong)})" if wrong else None


def _loader_name(fd: int, path: Path) -> str:
    """The name the dynamic loader opens: the open file itself where the system names it (Linux), else path."""
    by_fd = f"/proc/self/fd/{fd}"
    return by_fd if os.path.exists(by_fd) else str(path)


def _open(path: Path) -> ctypes.CDLL:
    """The library at path, loaded only if it is a regular file of this user's that nobody else can write,
    and reports the expected interface; else ``_BadLibrary``. The checks are made on the opened file, and
    on Linux the loader reads that same open file (/proc/self/fd), so a path swapped in between is never
    loaded."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _BadLibrary(f"{path} cannot be opened ({exc.strerror})") from None
    pinned = False
    try:
        st = os.fstat(fd)
        problem = _who(st, path, "library") if stat.S_ISREG(st.st_mode) else f"{path} is not a regular file"
        if problem:
            raise _BadLibrary(problem)
        name = _loader_name(fd, path)
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            raise _BadLibrary(f"{path} does not load ({exc})") from None
        if name != str(path):
            _PINNED_FDS.append(fd)
            pinned = True
    finally:
        if not pinned:
            os.close(fd)
    problem = _interface_problem(lib)
    if problem:
        raise _BadLibrary(f"{path}: {problem}")
    return lib


_OPENMP_PROBE = "#include <omp.h>\nint plw_openmp_probe(void) { return omp_get_max_threads(); }\n"


def _has_openmp(compiler: str, where: Path) -> bool:
    """Whether the compiler builds a shared library with -fopenmp (Apple clang and a clang without libomp
    do not)."""
    probe = Path(tempfile.mkdtemp(prefix=".openmp-probe-", dir=where))
    try:
        (probe / "probe.c").write_text(_OPENMP_PROBE)
        cmd = [compiler, "-fopenmp", "-fPIC", "-shared", str(probe / "probe.c"), "-o", str(probe / "probe.so")]
        return _run(cmd).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def _compile(compiler: str, flags: list[str], where: Path) -> Path:
    """A fresh build in where, under a name no other build uses (mode 0700)."""
    fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=where)
    os.close(fd)
    try:
        proc = _run([compiler, *flags, *map(str, SOURCES), "-o", tmp], timeout=BUILD_TIMEOUT_S)
        if proc.returncode != 0:
            if "-fopenmp" in flags and not _has_openmp(compiler, where):
                raise _Unusable(f"the C compiler {compiler} has no OpenMP (-fopenmp fails), which the kernels need")
            raise _Unusable(f"building them with {compiler} failed: {_first_error(proc.stderr)}")
        os.chmod(tmp, 0o700)  # the linker's mode follows the umask, which may let the group write
    except (OSError, subprocess.SubprocessError) as exc:
        _remove(tmp)
        raise _Unusable(f"building them with {compiler} failed: {exc}") from None
    except BaseException:
        _remove(tmp)
        raise
    return Path(tmp)


def _remove(path) -> None:
    # a failed link may already have removed its output
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _cached_path(compiler: str) -> Path:
    """Where the build for this compiler, CPU, flags and sources is cached."""
    identity, target = _compiler_facts(compiler, FLAGS)
    return kernel_dir() / f"plw-{_build_key(identity, target, FLAGS, _sources(), _cpu_description())[:32]}.so"


def _load() -> ctypes.CDLL:
    """The library for this machine: from the cache if a usable build is there, else built (once: a build
    that does not load or reports another interface is not used) and then cached."""
    compiler = _find_compiler()
    name = _cached_path(compiler).name
    where, cached = _build_dir()
    try:
        if cached and os.path.lexists(where / name):
            try:
                return _open(where / name)
            except _BadLibrary:
                pass  # not ours, writable by others, corrupt or stale: replaced by a fresh build below
        built = _compile(compiler, FLAGS, where)
        try:
            # by its own unique name: a loader that opens by path may hold a stale library under the cached one
            lib = _open(built)
        except _BadLibrary as exc:
            _remove(built)
            raise _Unusable(f"the library just built is not usable: {exc}") from None
        if cached:
            os.replace(built, where / name)  # atomic: concurrent processes see the old file or the new one
        return lib
    finally:
        if not cached:
            shutil.rmtree(where, ignore_errors=True)  # the loaded library stays mapped


def _configure(lib: ctypes.CDLL) -> ctypes.CDLL:
    """The argument and result types of the kernels, once the CPU is known to have fused multiply-adds."""
    if not lib.plw_hardware_fma():
        raise _Unusable("this CPU has no fused multiply-add instruction")
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    lib.plw_tanh_mlp.argtypes = [ptr, i64, i64, ptr, i64, i64, i64, ptr, i64, ptr]
    lib.plw_tanh_mlp.restype = ctypes.c_int
    lib.plw_tanh_mlp_jet.argtypes = [ptr, i64, i64, ptr, i64, i64, ptr, i64, i64, ptr, i64, ptr, ptr, ptr, ptr]
    lib.plw_tanh_mlp_jet.restype = ctypes.c_int
    lib.plw_tanh_mlp_grad.argtypes = [ptr, i64, i64, ptr, i64, i64, ptr, i64, ptr]
    lib.plw_tanh_mlp_grad.restype = ctypes.c_int
    for name in (
        "plw_rop_setup_forward",
        "plw_rop_setup_backward",
        "plw_rop_setup_gradient",
        "plw_rop_forward",
        "plw_rop_backward",
        "plw_rop_product",
        "plw_train_forward",
        "plw_train_gradient",
    ):
        getattr(lib, name).restype = ctypes.c_int  # see engine/jet_adjoint.py
    lib.plw_rop_setup_forward.argtypes = [ptr, i64, i64, i64, i64, i64, ptr, ptr, i64]
    lib.plw_rop_setup_backward.argtypes = [ptr, i64, i64, i64, i64, i64, ptr, i64]
    lib.plw_rop_setup_gradient.argtypes = [ptr, i64, i64, i64, i64, i64, ptr, ptr, ptr, i64, i64]
    lib.plw_rop_forward.argtypes = [ptr, i64, i64, i64, i64, i64, ptr, ptr, i64]
    lib.plw_rop_backward.argtypes = [ptr, i64, i64, i64, i64, i64, ptr, ptr, ptr, ptr, ptr, i64, i64]
    lib.plw_rop_product.argtypes = [ptr, i64, i64, i64, i64, i64, ptr, ptr, ptr, ptr, ptr, ptr, ptr, i64, i64]
    lib.plw_train_forward.argtypes = [ptr, i64, i64, i64, i64, ptr, ptr, ptr, i64, ptr, ptr, i64]
    lib.plw_train_gradient.argtypes = [ptr, i64, i64, i64, i64, ptr, ptr, ptr, i64, ptr, ptr, ptr, ptr, i64, i64]
    return lib


def library() -> ctypes.CDLL | None:
    """The loaded kernels, built on the first call; None where they are off (``PLW_NATIVE=0``, silently) or
    cannot be used (one ``NativeKernelsWarning`` says why). Thread-safe: concurrent first calls wait for
    the one build and all get the same answer. Raises ValueError for a ``PLW_NATIVE`` value other than
    0 or 1."""
    global _LIB, _TRIED
    if _TRIED:
        return _LIB
    with _LOCK:
        if _TRIED:
            return _LIB
        lib = None
        setting = _mode()  # an invalid value raises here, and again on every call, until it is fixed
        try:
            why = _untested_platform() if setting == "auto" else None
            if why:
                raise _Unusable(why)
            if setting != "off":
                lib = _configure(_load())
        except (_Unusable, OSError, subprocess.SubprocessError) as exc:
            warnings.warn(
                f"pinn-landscape-widget's fast CPU path (fused C kernels) is off: {exc}. torch's kernels run "
                f"instead: the same results to float32 rounding, about half as fast on a CPU ({ENV}=0 chooses "
                "this silently)",
                NativeKernelsWarning,
                stacklevel=2,
            )
        _LIB = lib
        _TRIED = True
        return _LIB


def loaded() -> ctypes.CDLL:
    """The loaded kernels, for a caller that has checked they apply (``applies``, ``library() is not None``);
    RuntimeError where they are off."""
    lib = library()
    if lib is None:
        raise RuntimeError("the fused C kernels are not loaded; check library() (or applies()) before calling them")
    return lib


MAX_INPUT_DIM = 3  # jets.c has kernels for d = 1, 2, 3


def applies(activation: str, device, dtype, d: int, order: int) -> bool:
    """Whether ``tanh_mlp`` will evaluate a tanh network's jets: float32 on the CPU, derivatives wanted
    (order 1 or 2; values alone are few and go to torch's tanh), d <= 3, and the kernels built."""
    return (
        activation == "tanh"
        and torch.device(device).type == "cpu"
        and dtype == torch.float32
        and 1 <= order <= 2
        and 1 <= d <= MAX_INPUT_DIM
        and library() is not None
    )


def supports(params: torch.Tensor, x: torch.Tensor, d: int, order: int) -> bool:
    """``applies`` for the tensors of one chunk (tanh assumed)."""
    return x.dtype == params.dtype and applies("tanh", params.device, params.dtype, d, order)


# what plw_tanh_mlp_jet accepts: first partials, second-order channels and their terms in all
MAX_FIRST, MAX_SECOND, MAX_TERMS = 3, 3, 12


def jet_applies(activation: str, device, dtype, spec) -> bool:
    """Whether ``tanh_mlp_jet`` will evaluate a tanh network's jet for this JetSpec (any first partials and
    second-order channels, any number of outputs): as ``applies``, and the recipe within jets.c's limits."""
    return (
        1 <= len(spec.first) <= MAX_FIRST
        and len(spec.second) <= MAX_SECOND
        and sum(len(f.terms) for f in spec.second) <= MAX_TERMS
        and applies(activation, device, dtype, spec.dim, spec.order)
    )


def tanh_mlp_jet(params: torch.Tensor, x: torch.Tensor, spec, layers) -> torch.Tensor:
    """The output jet [K, m, C, N] of a tanh MLP with m outputs for a ``JetSpec``: channel 0 the value, then
    the first partials ``spec.first``, then the second-order channels ``spec.second``, at the points x [N, d]
    for each parameter row of params [K, P]. Check ``jet_applies`` first; layers as for ``tanh_mlp``."""
    K, N, d = params.shape[0], x.shape[0], x.shape[1]
    lay = _layout(params, x, layers, any_outputs=True)
    position = {i: c for c, i in enumerate(spec.first)}
    counts = [len(f.terms) for f in spec.second] or [0]
    terms = [v for f in spec.second for i, j, _ in f.terms for v in (position[i], position[j])] or [0, 0]
    coefs = [float(c) for f in spec.second for _, _, c in f.terms] or [0.0]
    first_t = torch.tensor(spec.first, dtype=torch.int64)
    counts_t = torch.tensor(counts, dtype=torch.int64)
    terms_t = torch.tensor(terms, dtype=torch.int64)
    coefs_t = torch.tensor(coefs, dtype=torch.float32)
    m = int(lay[-1, 2])
    out = torch.empty((K, m, spec.n_channels, N), dtype=torch.float32)
    params, xt = params.contiguous(), x.T.contiguous()
    status = loaded().plw_tanh_mlp_jet(
        params.data_ptr(), params.shape[1], K, xt.data_ptr(), N, d, lay.data_ptr(), lay.shape[0],
        len(spec.first), first_t.data_ptr(), len(spec.second), counts_t.data_ptr(), terms_t.data_ptr(),
        coefs_t.data_ptr(), out.data_ptr(),
    )  # fmt: skip
    if status == -1:
        raise ValueError(f"no fused kernel for the jet {spec} of a network with input dimension {d}")
    if status != 0:
        raise MemoryError("native.tanh_mlp_jet: could not allocate its scratch memory")
    return out


def _layout(params: torch.Tensor, x: torch.Tensor, layers, any_outputs: bool = False) -> torch.Tensor:
    """The layers as jets.c reads them, [L, 4] = (weight offset, bias offset, out, in), after checking every
    size the C code trusts: each layer chains to the next and lies inside a parameter row."""
    if params.dim() != 2 or x.dim() != 2:
        raise ValueError(
            f"native.tanh_mlp: params must be [K, P] and x [N, d], got {tuple(params.shape)} and {tuple(x.shape)}"
        )
    for name, t in dict(params=params, x=x).items():
        if not (t.dtype == torch.float32 and t.device.type == "cpu"):
            raise ValueError(f"native.tanh_mlp: {name} must be a float32 CPU tensor")
    P, d = params.shape[1], x.shape[1]
    if len(layers) < 2 or (layers[-1][2][0] != 1 and not any_outputs):
        raise ValueError("native.tanh_mlp: need at least one hidden layer and one output")
    layout, width_in = [], d
    for n, (ws, bs, (o, i)) in enumerate(layers):
        if i != width_in or ws.stop - ws.start != o * i or bs.stop - bs.start != o or max(ws.stop, bs.stop) > P:
            raise ValueError(
                f"native.tanh_mlp: layer {n} ({o} x {i}, weights {ws}, biases {bs}) does not fit "
                f"input dimension {d} and {P} parameters"
            )
        layout.append((ws.start, bs.start, o, i))
        width_in = o
    return torch.tensor(layout, dtype=torch.int64)


def tanh_mlp_grad(params: torch.Tensor, x: torch.Tensor, layers) -> torch.Tensor:
    """The value and input gradient [K, 1 + d, N] of a tanh MLP with one output, as ``tanh_mlp`` with order
    1 computes them, by reverse mode: two streams through the matmuls rather than d + 1, faster for d >= 2
    (the same numbers up to the order of the sums in the gradient)."""
    lay = _layout(params, x, layers)
    K, P = params.shape
    N, d = x.shape
    params, xt = params.contiguous(), x.T.contiguous()
    out = torch.empty((K, 1 + d, N), dtype=torch.float32)
    status = loaded().plw_tanh_mlp_grad(
        params.data_ptr(), P, K, xt.data_ptr(), N, d, lay.data_ptr(), lay.shape[0], out.data_ptr()
    )
    if status == -1:
        raise ValueError(f"no fused kernel for input dimension {d}")
    if status != 0:
        raise MemoryError("native.tanh_mlp_grad: could not allocate its scratch memory")
    return out


def tanh_mlp(params: torch.Tensor, x: torch.Tensor, order: int, layers) -> torch.Tensor:
    """The output jet [K, C, N] (value, d gradient components, and the Laplacian for order 2) of a tanh MLP
    at the points x [N, d] for each parameter row of params [K, P]; see jets.c for the arithmetic.

    layers: per layer (weight slice, bias slice, (out, in)) into a parameter row, as ``MLP.param_slices``;
    the last is the linear output layer with one output. Check ``supports`` first.
    """
    lay = _layout(params, x, layers)
    K, P = params.shape
    N, d = x.shape
    params, xt = params.contiguous(), x.T.contiguous()
    out = torch.empty((K, 1 + d + (order >= 2), N), dtype=torch.float32)
    status = loaded().plw_tanh_mlp(
        params.data_ptr(), P, K, xt.data_ptr(), N, d, order, lay.data_ptr(), lay.shape[0], out.data_ptr()
    )
    if status == -1:
        raise ValueError(f"no fused kernel for input dimension {d} and order {order}")
    if status != 0:
        raise MemoryError("native.tanh_mlp: could not allocate its scratch memory")
    return out
