"""The widget on a dask.distributed cluster: which client, and the grid drawn as its tiles land.

With ``LandscapeWidget(run, client=...)`` every grid the widget computes (previews, full grids, precomputed
slices) is split into tiles evaluated on the cluster's workers (``landscape(client=)``); the widget's
worker thread waits on the tiles, never the kernel's main thread. Each tile that lands is drawn at once:
the panel shows the grid so far, the cells still on the cluster as gaps, and says how many points are
pending (``TileStream``). A newer request abandons the grid at the next poll and its queued tiles are
cancelled on the cluster. If the client goes away mid-grid, the panel gets an error status and shows again
the picture it had before the first tile.
"""

from __future__ import annotations

import time

from .._optional import require

TILES_PER_WORKER = 4  # tiles a grid is cut into per worker: each one a step of the picture
TILE_DRAW_INTERVAL_S = 0.25  # a landed tile is drawn at most this often (the last one always)


def check_client(client):
    """``client`` itself when it is a running synchronous ``distributed.Client``, None for None; else an error
    naming the argument."""
    if client is None:
        return None
    distributed = require("distributed", "distributed", "LandscapeWidget(client=...)")
    if not isinstance(client, distributed.Client):
        raise TypeError(
            f"client must be None or a dask distributed.Client (e.g. distributed.Client(distributed.LocalCluster("
            f"n_workers=os.cpu_count(), threads_per_worker=1))), got {type(client).__name__}: {client!r}"
        )
    if client.asynchronous:
        raise ValueError(
            "client must be a synchronous distributed.Client (asynchronous=False), got an asynchronous one"
        )
    if client.status != "running":
        raise ValueError(f"client must be a running distributed.Client, got one whose status is {client.status!r}")
    return client


def tile_size_for(client, n_points: int) -> int:
    """Points per tile: about ``TILES_PER_WORKER`` tiles per worker, so that the picture fills in steps."""
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    return max(1, -(-n_points // (TILES_PER_WORKER * n_workers)))


def cluster_arguments(client, n_points: int, on_partial) -> dict:
    """``landscape``'s arguments for a grid of ``n_points`` points on ``client`` (none without a client)."""
    if client is None:
        return {}
    return {"client": client, "tile_size": tile_size_for(client, n_points), "_on_partial": on_partial}


class TileStream:
    """Draws a panel's grid as its tiles land, and puts the panel's earlier picture back if the grid fails.

    Parameters
    ----------
    publish : callable
        ``publish(payload)`` draws a payload in the panels of this grid's settings.
    make_payload : callable
        ``make_payload(ds)`` is the payload of a (partial) landscape Dataset.
    before : dict or None
        What the panel showed before the first tile (drawn again by ``restore``).
    check : callable
        Called before each drawing; it raises to abandon the grid (a newer request).
    """

    def __init__(self, publish, make_payload, before: dict | None, check):
        self._publish = publish
        self._make_payload = make_payload
        self._before = before
        self._check = check
        self._last = -float("inf")
        self.drawn = 0  # partial pictures drawn

    def __call__(self, ds) -> None:
        self._check()
        done, total = int(ds.attrs["points_done"]), int(ds.attrs["points_total"])
        now = time.monotonic()
        if done < total and now - self._last < TILE_DRAW_INTERVAL_S:
            return
        if done == total:
            return  # the full grid is drawn with its trajectory and final status by the widget
        self._last = now
        payload = self._make_payload(ds)
        payload["pending"] = total - done
        payload["message"] = ""
        self._publish(payload)
        self.drawn += 1

    def restore(self) -> None:
        """Draw again what the panel showed before the first tile (when a tile was drawn)."""
        if self.drawn and self._before is not None:
            self._publish(self._before)
