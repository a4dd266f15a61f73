"""Scratch tensors carved from flat buffers that outlive the object using them, for the next one.

Why: a Hessian operator keeps a few dozen arrays of (points x width) numbers, and each product makes as
many again. Fresh from the allocator, arrays of this size come as new pages from the OS (glibc hands freed
memory at the top of the heap back, and serves large blocks by mmap), and on a CPU the page faults cost
about as much as the arithmetic: a Deep Ritz top-2 eigenpair run takes 17 ms on fresh arrays and 12.5 ms
with glibc told to keep its memory. A workspace hands out views into a few large buffers; a product's
scratch is given back at its end (``scope``), and the buffers go to a small pool when the workspace is
collected, so the next operator finds its memory already mapped.
"""

from __future__ import annotations

import collections
import contextlib
import math
import threading
import weakref

import torch

CHUNK_ELEMENTS = 1 << 20  # the smallest buffer allocated
POOL_BYTES = 256 << 20  # most memory kept for reuse, over all devices and dtypes
_ALIGN = 16  # elements: every view starts on a 64-byte boundary (float32)

_POOL: dict[tuple, list[torch.Tensor]] = {}
_POOL_LOCK = threading.Lock()
# buffers of collected workspaces, not yet in the pool: a finalizer may run inside any allocation, in the
# garbage collector, even while this thread holds _POOL_LOCK, so it only appends here (no lock) and the pool
# takes them in under its lock
_RETURNED: collections.deque = collections.deque()


def _take_returned() -> None:
    """Move the returned buffers into the pool, keeping it under POOL_BYTES; call with _POOL_LOCK held."""
    while _RETURNED:
        device, dtype, buffers = _RETURNED.popleft()
        free = _POOL.setdefault((device, dtype), [])
        free.extend(buffers)
        free.sort(key=torch.Tensor.numel, reverse=True)
        held = sum(b.numel() * b.element_size() for bufs in _POOL.values() for b in bufs)
        while free and held > POOL_BYTES:
            held -= free[-1].numel() * free[-1].element_size()
            free.pop()


def _take_buffer(device, dtype, n: int) -> torch.Tensor:
    with _POOL_LOCK:
        _take_returned()
        free = _POOL.get((device, dtype), [])
        fits = [b for b in free if b.numel() >= n]
        if fits:
            buf = min(fits, key=torch.Tensor.numel)
            free.remove(buf)
            return buf
    return torch.empty(max(n, CHUNK_ELEMENTS), dtype=dtype, device=device)


def _give_back(device, dtype, buffers: list[torch.Tensor]) -> None:
    """A collected workspace's finalizer: no lock here (see _RETURNED)."""
    _RETURNED.append((device, dtype, buffers))


class Workspace:
    """Views into flat buffers of one device and dtype, handed out in order (a bump allocator)."""

    def __init__(self, device, dtype, owner=None):
        self.device, self.dtype = torch.device(device), dtype
        self._buffers: list[torch.Tensor] = []
        self._at = (0, 0)  # (buffer index, offset)
        # the buffers go back to the pool when the owner (default: this workspace) is collected; nothing
        # carved from them may outlive it
        weakref.finalize(owner if owner is not None else self, _give_back, self.device, dtype, self._buffers)

    def empty(self, *shape: int) -> torch.Tensor:
        n = math.prod(shape)
        i, off = self._at
        while i < len(self._buffers) and off + n > self._buffers[i].numel():
            i, off = i + 1, 0
        if i == len(self._buffers):
            self._buffers.append(_take_buffer(self.device, self.dtype, n))
        self._at = (i, off + -(-n // _ALIGN) * _ALIGN)
        return self._buffers[i][off : off + n].view(shape)

    def zeros(self, *shape: int) -> torch.Tensor:
        return self.empty(*shape).zero_()

    @contextlib.contextmanager
    def scope(self):
        """Views handed out inside the block are reused after it: nothing made inside may be kept."""
        at = self._at
        try:
            yield self
        finally:
            self._at = at
