"""The fused float32 tanh kernels of ``_native/jets.c``: built with the system C compiler at first use,
cached on disk, called through ctypes on tensors' memory.

Why C and not torch: on a CPU a grid chunk is its batched matmuls plus ~25 elementwise passes over the
activations, and those passes cost ~40% of the time (a profile of the reference grid). One fused pass per
layer removes most of that. Why at first use and not at install: the build is one small file (~0.3 s) with
``-march=native`` for the machine that runs it; no compiler means torch's kernels, not an error.

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

SOURCE = Path(__file__).with_name("_native") / "jets.c"
# -ffp-contract=off: no fused multiply-adds, so the vector loop and its scalar remainder round alike
FLAGS = ["-O3", "-march=native", "-fopenmp-simd", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math",
         "-fPIC", "-shared"]

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


def _build(compiler: str) -> Path:
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode() + _cpu_signature().encode()).hexdigest()
    target = cache_dir() / f"jets-{key[:16]}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # build beside the target and rename: concurrent builders (dask workers) never see a partial file
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        subprocess.run([compiler, *FLAGS, str(SOURCE), "-o", tmp], check=True, capture_output=True, text=True,
                       timeout=120)
        os.replace(tmp, target)
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
            warnings.warn("no C compiler found: landscapes use torch's elementwise kernels (slower on CPU)",
                          RuntimeWarning, stacklevel=3)
            return None
        try:
            lib = ctypes.CDLL(str(_build(compiler)))
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or exc
            warnings.warn(f"building the fused CPU kernels failed ({detail}); landscapes use torch's kernels",
                          RuntimeWarning, stacklevel=3)
            return None
        i64, ptr = ctypes.c_int64, ctypes.c_void_p
        lib.plw_tanh_layer.argtypes = [ptr] * 7 + [i64] * 5
        lib.plw_tanh_layer.restype = ctypes.c_int
        _LIB = lib
        return _LIB


MAX_INPUT_DIM = 3  # jets.c has kernels for d = 1, 2, 3


def supports(params: torch.Tensor, x: torch.Tensor, d: int, order: int) -> bool:
    """Whether ``tanh_layer`` can evaluate this chunk: float32 on the CPU, derivatives wanted (order 1 or 2;
    values alone are few and go to torch's tanh), d <= 3, and the kernels built."""
    return (params.device.type == "cpu" and params.dtype == torch.float32 and x.dtype == torch.float32
            and 1 <= order <= 2 and 1 <= d <= MAX_INPUT_DIM and library() is not None)


def tanh_layer(h: torch.Tensor, bias: torch.Tensor, d: int, order: int, *, xt: torch.Tensor | None = None,
               w: torch.Tensor | None = None, w_out: torch.Tensor | None = None,
               b_out: torch.Tensor | None = None) -> torch.Tensor | None:
    """One tanh layer in place on unit-major activations h [K, W, C, N], C = 1 + d (+ 1 for order 2); see
    jets.c for the arithmetic.

    bias [K, W]; for the first layer also the points transposed, xt [d, N], and the (scaled) weights
    w [K, W, d]; for the last hidden layer the output row w_out [K, W] and bias b_out [K]: then the network's
    output jet [K, C, N] is returned and h is left as it was. All contiguous float32 CPU tensors (check
    ``supports`` first).
    """
    K, W, C, N = h.shape
    if C != 1 + d + (order >= 2):
        raise ValueError(f"h has {C} channels; input dimension {d} and order {order} need {1 + d + (order >= 2)}")
    want = dict(bias=(K, W), xt=(d, N), w=(K, W, d), w_out=(K, W), b_out=(K,))
    for name, t in dict(h=h, bias=bias, xt=xt, w=w, w_out=w_out, b_out=b_out).items():
        if t is None:
            continue
        if not (t.is_contiguous() and t.dtype == torch.float32 and t.device.type == "cpu"):
            raise ValueError(f"native.tanh_layer: {name} must be a contiguous float32 CPU tensor")
        if name in want and tuple(t.shape) != want[name]:  # the C code trusts these sizes
            raise ValueError(f"native.tanh_layer: {name} has shape {tuple(t.shape)}, expected {want[name]}")
    if (xt is None) != (w is None) or (w_out is None) != (b_out is None):
        raise ValueError("native.tanh_layer: give xt with w (first layer) and w_out with b_out (last layer)")
    out = torch.empty((K, C, N), dtype=torch.float32) if w_out is not None else None
    ptr = lambda t: None if t is None else t.data_ptr()  # noqa: E731
    status = library().plw_tanh_layer(h.data_ptr(), bias.data_ptr(), ptr(xt), ptr(w), ptr(w_out), ptr(b_out),
                                      ptr(out), K, N, W, d, order)
    if status != 0:
        raise ValueError(f"no fused kernel for input dimension {d} and order {order}")
    return out
