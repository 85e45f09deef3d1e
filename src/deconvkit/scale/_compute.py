"""Running a tiled graph on whichever Dask scheduler the user has, reporting each finished tile.

No scheduler of our own: a ``dask.distributed.Client`` (given, addressed as ``tcp://host:port``, or
already the default client) runs the tiles as futures and :func:`distributed.as_completed` reports them;
otherwise the local threads/processes/synchronous scheduler runs them and a
:class:`dask.callbacks.Callback` counts the finished tasks of the tile layer.
"""

from __future__ import annotations

__all__ = ["resolve_client", "compute_tiles", "concurrency"]

# Share of a worker's memory_limit given to its tiles: dask starts spilling at 60% ("target") and the
# interpreter, libraries and the graph's own buffers live in the rest.
WORKER_FRACTION = 0.6

LOCAL_SCHEDULERS = ("threads", "processes", "synchronous", "sync", "single-threaded")


def resolve_client(scheduler):
    """The distributed Client to use, or None for a local scheduler."""
    if scheduler is not None and not isinstance(scheduler, str):
        return scheduler  # a Client
    if isinstance(scheduler, str) and scheduler not in LOCAL_SCHEDULERS:
        from distributed import Client

        return Client(scheduler)
    if scheduler is None:
        try:
            from distributed import default_client

            return default_client()
        except (ImportError, ValueError):
            return None
    return None


def concurrency(client, scheduler) -> tuple[int, int | None]:
    """``(tiles solved at once per memory pool, memory of that pool in bytes or None)``.

    On a cluster the pool is one worker (:data:`WORKER_FRACTION` of its ``memory_limit``, shared by its
    threads); locally it is this machine (available memory, shared by the scheduler's workers).
    """
    import os

    if client is not None:
        workers = client.scheduler_info().get("workers", {})
        if workers:
            smallest = min(workers.values(),
                           key=lambda w: (w.get("memory_limit") or 0) / max(w.get("nthreads", 1), 1))
            limit = smallest.get("memory_limit") or None
            budget = int(WORKER_FRACTION * limit) if limit else None
            return max(int(smallest.get("nthreads", 1)), 1), budget
        return 1, None
    from ..memory import available_memory

    if scheduler in ("synchronous", "sync", "single-threaded"):
        return 1, available_memory()
    import dask

    workers = dask.config.get("num_workers", None) or os.cpu_count() or 1
    return int(workers), available_memory()


def compute_tiles(markers, client, scheduler, progress=None):
    """Compute ``markers`` (one tiny block per tile, each written out by its task)."""
    total = markers.npartitions
    if client is not None:
        from distributed import as_completed, futures_of

        persisted = client.persist(markers)
        futures = futures_of(persisted)
        done = 0
        for future in as_completed(futures):
            future.result()  # re-raise a tile's error here, with its traceback
            done += 1
            if progress is not None:
                progress(done, total)
        del persisted, futures
        return
    from dask.callbacks import Callback

    name = markers.name
    state = {"done": 0}

    class _TileProgress(Callback):
        def _posttask(self, key, result, dsk, status, worker_id):
            if isinstance(key, tuple) and key and key[0] == name:
                state["done"] += 1
                if progress is not None:
                    progress(state["done"], total)

    local = None if scheduler is None else ("sync" if scheduler == "single-threaded" else scheduler)
    with _TileProgress():
        markers.compute(scheduler=local)
