"""The fused float32 tanh network kernel of ``csrc/jets.c``: built with the system C compiler at first
use, cached on disk, called through ctypes on tensors' memory.

Why C and not torch: on a CPU a grid chunk is K networks at the same points. torch runs it as batched
matmuls (MKL: 60-70 GFLOP/s per core here on 50 x 50 products) plus ~25 elementwise passes over the
activations; the C kernel keeps a block of points in cache through every layer, with register-tiled
matmuls (~100 GFLOP/s per core here) and the chain rule applied per tile. Why at first use and not at
install: the build is one small file (~0.3 s) with ``-march=native`` for the machine that runs it; no
compiler (or no fused multiply-add instruction) means torch's kernels, not an error.

Set ``PLW_NATIVE=0`` to use torch's kernels only.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

import torch

NATIVE_DIR = Path(__file__).with_name("csrc")
SOURCES = [NATIVE_DIR / "jets.c", NATIVE_DIR / "rop.c"]  # one library; both include vec.h
# -ffp-contract=off: fused multiply-adds only where the C files write them out
# -fopenmp: rop.c's passes run in OpenMP teams, on the libgomp torch has loaded (see rop.c)
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

_LOCK = threading.Lock()
_LIB: ctypes.CDLL | None = None
_TRIED = False


def _cpu_signature() -> str:
    """What -march=native depends on: the CPU's model and flags (a cache on a shared home directory may be
    read by another machine)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
        lines = [ln for ln in info.splitlines() if ln.startswith(("model name", "flags"))][:2]
    except OSError:
        lines = []
    return "\n".join([platform.machine(), platform.processor(), *lines])


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pinn-landscape-widget"


def _build(compiler: str, flags: list[str] | None = None) -> Path:
    """The library built with ``flags`` (default FLAGS); without OpenMP if the compiler has no OpenMP
    runtime (then rop.c's passes run on the calling thread, with a warning)."""
    flags = FLAGS if flags is None else flags
    code = b"".join(p.read_bytes() for p in [*SOURCES, NATIVE_DIR / "vec.h"])
    key = hashlib.sha256(code + " ".join(flags).encode() + _cpu_signature().encode()).hexdigest()
    target = cache_dir() / f"jets-{key[:16]}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # build beside the target and rename: concurrent builders (dask workers) never see a partial file
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        subprocess.run(
            [compiler, *flags, *map(str, SOURCES), "-o", tmp], check=True, capture_output=True, text=True, timeout=120
        )
        os.replace(tmp, target)
    except subprocess.CalledProcessError:
        if "-fopenmp" not in flags:
            raise
        warnings.warn(
            "the C compiler has no OpenMP: the Hessian's C passes run on one thread", RuntimeWarning, stacklevel=4
        )
        return _build(compiler, [f if f != "-fopenmp" else "-fopenmp-simd" for f in flags])
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def library() -> ctypes.CDLL | None:
    """The loaded kernels, building them on first call; None when disabled or no build is possible (then
    a warning says why, once)."""
    global _LIB, _TRIED
    if _TRIED:
        return _LIB
    with _LOCK:
        if _TRIED:
            return _LIB
        _TRIED = True
        if os.environ.get("PLW_NATIVE", "1") == "0":
            return None
        compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            warnings.warn(
                "no C compiler found: landscapes use torch's kernels (about half as fast on CPU)",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        try:
            lib = ctypes.CDLL(str(_build(compiler)))
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or exc
            warnings.warn(
                f"building the fused CPU kernels failed ({detail}); landscapes use torch's kernels",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        if not lib.plw_hardware_fma():
            warnings.warn(
                "this CPU has no fused multiply-add instruction: landscapes use torch's kernels",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        i64, ptr = ctypes.c_int64, ctypes.c_void_p
        lib.plw_tanh_mlp.argtypes = [ptr, i64, i64, ptr, i64, i64, i64, ptr, i64, ptr]
        lib.plw_tanh_mlp.restype = ctypes.c_int
        for name in (
            "plw_rop_setup_forward",
            "plw_rop_setup_backward",
            "plw_rop_forward",
            "plw_rop_backward",
            "plw_rop_product",
        ):
            getattr(lib, name).restype = ctypes.c_int  # see rop.py
        lib.plw_rop_setup_forward.argtypes = [ptr, i64, i64, i64, i64, i64, ptr, ptr, i64]
        lib.plw_rop_setup_backward.argtypes = [ptr, i64, i64, i64, i64, i64, ptr, i64]
        lib.plw_rop_forward.argtypes = [ptr, i64, i64, i64, i64, i64, ptr, ptr, i64]
        lib.plw_rop_backward.argtypes = [ptr, i64, i64, i64, i64, i64, ptr, ptr, ptr, ptr, ptr, i64, i64]
        lib.plw_rop_product.argtypes = [ptr, i64, i64, i64, i64, i64, ptr, ptr, ptr, ptr, ptr, ptr, ptr, i64, i64]
        _LIB = lib
        return _LIB


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


def tanh_mlp(params: torch.Tensor, x: torch.Tensor, order: int, layers) -> torch.Tensor:
    """The output jet [K, C, N] (value, d gradient components, and the Laplacian for order 2) of a tanh MLP
    at the points x [N, d] for each parameter row of params [K, P]; see jets.c for the arithmetic.

    layers: per layer (weight slice, bias slice, (out, in)) into a parameter row, as ``MLP.param_slices``;
    the last is the linear output layer with one output. Check ``supports`` first.
    """
    if params.dim() != 2 or x.dim() != 2:
        raise ValueError(
            f"native.tanh_mlp: params must be [K, P] and x [N, d], got {tuple(params.shape)} and {tuple(x.shape)}"
        )
    for name, t in dict(params=params, x=x).items():
        if not (t.dtype == torch.float32 and t.device.type == "cpu"):
            raise ValueError(f"native.tanh_mlp: {name} must be a float32 CPU tensor")
    K, P = params.shape
    N, d = x.shape
    if len(layers) < 2 or layers[-1][2][0] != 1:
        raise ValueError("native.tanh_mlp: need at least one hidden layer and one output")
    # the C code trusts these sizes: every layer must chain to the next and lie inside a parameter row
    layout, width_in = [], d
    for n, (ws, bs, (o, i)) in enumerate(layers):
        if i != width_in or ws.stop - ws.start != o * i or bs.stop - bs.start != o or max(ws.stop, bs.stop) > P:
            raise ValueError(
                f"native.tanh_mlp: layer {n} ({o} x {i}, weights {ws}, biases {bs}) does not fit "
                f"input dimension {d} and {P} parameters"
            )
        layout.append((ws.start, bs.start, o, i))
        width_in = o
    params, xt = params.contiguous(), x.T.contiguous()
    lay = torch.tensor(layout, dtype=torch.int64)
    out = torch.empty((K, 1 + d + (order >= 2), N), dtype=torch.float32)
    status = library().plw_tanh_mlp(
        params.data_ptr(), P, K, xt.data_ptr(), N, d, order, lay.data_ptr(), len(layout), out.data_ptr()
    )
    if status == -1:
        raise ValueError(f"no fused kernel for input dimension {d} and order {order}")
    if status != 0:
        raise MemoryError("native.tanh_mlp: could not allocate its scratch memory")
    return out
