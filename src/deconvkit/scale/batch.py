"""Restore many files: globs, folders and multi-page TIFFs, resumable, one failure never stops the rest.

:func:`run_batch` is the library side of ``deconvkit batch``. Each input file becomes one task that reads
it (:func:`deconvkit.io.read_image`), restores it in memory (:func:`deconvkit.deconvolve` with a PSF, or
:func:`deconvkit.deblur` blind) and writes ``OUT_DIR/<name>`` with :func:`deconvkit.io.write_image`, which
writes atomically (a temporary file renamed into place): an interrupted batch leaves only complete
outputs, and a rerun skips them. The tasks run in this process (``jobs=1``), on Dask's process pool
(``jobs > 1``) or on a ``dask.distributed`` cluster (``scheduler="tcp://host:port"`` or a ``Client``; the
workers must see the same paths).

A stack (multi-page TIFF, 3-D NPY) is a volume when the PSF is 3-D and a series of 2-D frames when the
PSF is 2-D or blind (each frame restored on its own, written back as a stack).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import time

import numpy as np

from .._shared import DeconvkitError
from ..errors import MemoryLimitError

__all__ = ["BatchSummary", "expand_inputs", "run_batch"]

_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy")


@dataclasses.dataclass
class BatchSummary:
    """Outcome of :func:`run_batch`: lists of input paths (``failed`` holds ``(path, message)`` pairs)."""

    done: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    failed: list = dataclasses.field(default_factory=list)
    outputs: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return len(self.done) + len(self.skipped) + len(self.failed)

    @property
    def ok(self) -> bool:
        return not self.failed

    def report(self) -> str:
        """A few lines for a terminal: counts, then one line per failure."""
        lines = [f"{len(self.done)} restored, {len(self.skipped)} skipped (already done), "
                 f"{len(self.failed)} failed, {self.seconds:.1f} s"]
        lines += [f"failed: {path}: {message}" for path, message in self.failed]
        return "\n".join(lines)


def expand_inputs(inputs) -> list[str]:
    """Files named by ``inputs``: paths, glob patterns (``**`` recursive) and folders (their image files,
    not recursive), in order, without duplicates. A pattern or path that names nothing raises."""
    files, seen = [], set()
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item) and not item.lower().endswith(".zarr"):
            found = sorted(os.path.join(item, name) for name in os.listdir(item)
                           if name.lower().endswith(_EXTENSIONS) and not name.startswith("."))
        elif glob.has_magic(item):
            found = sorted(path for path in glob.glob(item, recursive=True) if os.path.isfile(path))
        else:
            found = [item]  # a missing file is reported by its task, with the others going on
        if not found:
            raise DeconvkitError(f"no input files match {item!r}")
        for path in found:
            key = os.path.abspath(path)
            if key not in seen:
                seen.add(key)
                files.append(path)
    return files


def _output_path(path: str, output_dir: str, suffix: str) -> str:
    name = os.path.basename(path)
    stem, ext = os.path.splitext(name)
    return os.path.join(output_dir, f"{stem}{suffix}{ext}")


def restore_file(path, output, psf, method, params, overwrite=False):
    """Restore one file into ``output``; return ``(path, "done", seconds)`` or ``(path, "failed", message)``.

    Every exception is caught and returned as one line, so one bad file cannot stop a batch (a worker's
    crash or a KeyboardInterrupt is not caught).
    """
    from .. import io

    started = time.perf_counter()
    try:
        if _too_large_for_memory(path, psf, method, params):
            # what the memory guard's message promises: a file the in-memory solve cannot hold is
            # restored tile by tile, read region by region and written chunk by chunk
            from . import deconvolve as tiled_deconvolve

            tiled_deconvolve(path, psf, method, output=output, overwrite=overwrite, **params)
            return path, "done", time.perf_counter() - started
        image, info = io.read_image(path)
        if psf is not None:
            # a JPEG's level from its tables, as `deconvkit deblur` gives it (other formats: unchanged)
            from ..noise import with_input_noise

            params = with_input_noise(params, image, info)
        restored = _restore(image, info.channel_axis, psf, method, params)
        io.write_image(output, restored, like=info, overwrite=overwrite)
    except Exception as exc:  # noqa: BLE001 - reported per file, the batch goes on
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return path, "failed", f"{type(exc).__name__}: {message}" if not isinstance(
            exc, (DeconvkitError, OSError)) else message
    return path, "done", time.perf_counter() - started


def _too_large_for_memory(path, psf, method, params) -> bool:
    """Whether a TIFF or Zarr input, restored with a known PSF of its own dimensionality into a TIFF or
    Zarr output, would be refused by the in-memory guard (:func:`deconvkit.memory.check_fits`, from the
    header's shape and dtype; nothing is read). Colour, frame-by-frame and blind inputs keep the
    in-memory path (and its guard's error)."""
    from ..memory import check_fits
    from ._io import is_tiff_path, is_zarr_path, open_lazy

    if psf is None or not (is_tiff_path(path) or is_zarr_path(path)):
        return False
    lazy, _meta = open_lazy(path)
    if lazy.ndim != np.ndim(psf) or lazy.ndim not in (2, 3):
        return False
    try:
        check_fits(lazy, psf, method, params.get("boundary"))
    except MemoryLimitError:
        return True
    return False


def _restore(image, channel_axis, psf, method, params):
    from ..solvers import deconvolve

    spatial = image.ndim - (channel_axis is not None)
    psf_ndim = None if psf is None else np.ndim(psf)
    if spatial == 3 and psf_ndim != 3:
        # a stack of frames: each one restored on its own with the 2-D (or its own blind) PSF
        return np.stack([_restore(frame, channel_axis, psf, method, params) for frame in image])
    if psf is None:
        from ..blind import deblur

        return deblur(image, channel_axis=channel_axis, method=method, **params).image
    return deconvolve(image, psf, method=method, channel_axis=channel_axis, **params)


def run_batch(inputs, output_dir, *, psf=None, method="auto", params=None, jobs=1, scheduler=None,
              overwrite=False, suffix="", progress=None) -> BatchSummary:
    """Restore every file named by ``inputs`` into ``output_dir``; return a :class:`BatchSummary`.

    Parameters
    ----------
    inputs : sequence of str
        Files, glob patterns and folders (see :func:`expand_inputs`).
    output_dir : str
        Created if missing. Each output keeps its input's name (plus ``suffix``), format and bit depth.
    psf : str, ndarray or None
        PSF spec (``gaussian:sigma=2``), PSF file or array; ``None`` or ``"blind"``: estimate per image.
    method : str
        Non-blind method (also the final solver of the blind path).
    params : dict, optional
        Method parameters for every file.
    jobs : int
        Files restored at once on this machine (Dask's process pool when > 1).
    scheduler : str or distributed.Client, optional
        A ``dask.distributed`` scheduler address or Client: files become tasks on that cluster.
    overwrite : bool
        Redo and replace existing outputs (default: skip them, which is what makes a batch resumable).
    suffix : str
        Added to each output's stem.
    progress : callable, optional
        ``progress(done, total)`` after each file (skipped ones count at once).

    Returns
    -------
    BatchSummary
        ``failed`` lists each failing file with one line saying why; nothing is raised for them.
    """
    from ..psf import parse
    from ..solvers import get_solver

    started = time.perf_counter()
    get_solver(method)  # an unknown method is the user's error, before any file is touched
    if isinstance(psf, str) and psf == "blind":
        psf = None
    if psf is not None:
        psf = parse(psf)
    if int(jobs) < 1:
        raise DeconvkitError(f"jobs must be >= 1, got {jobs}")
    files = expand_inputs(inputs)
    output_dir = os.fspath(output_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise DeconvkitError(f"output folder {output_dir} is a file")
    targets = {path: _output_path(path, output_dir, suffix) for path in files}
    clashes = _clashes(targets)
    if clashes:
        raise DeconvkitError(f"inputs {clashes[0]} and {clashes[1]} would both be written to "
                             f"{targets[clashes[0]]}; give a --suffix or separate batches")
    for path, target in targets.items():
        if os.path.exists(target) and os.path.exists(path) and os.path.samefile(path, target):
            raise DeconvkitError(f"output {target} is the input file; choose another output folder")
    client = _connect(scheduler) if isinstance(scheduler, str) else scheduler  # before anything is written
    try:
        return _run(files, targets, output_dir, psf, method, params, jobs, client, overwrite, progress, started)
    finally:
        if isinstance(scheduler, str):
            client.close()


def _connect(address):
    """A Client for ``address``; an unreachable scheduler is a DeconvkitError naming it."""
    from distributed import Client

    try:
        return Client(address)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise DeconvkitError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc


def _run(files, targets, output_dir, psf, method, params, jobs, client, overwrite, progress, started):
    os.makedirs(output_dir, exist_ok=True)
    summary = BatchSummary()
    todo = []
    for path in files:
        if os.path.exists(targets[path]) and not overwrite:
            summary.skipped.append(path)
            summary.outputs[path] = targets[path]
        else:
            todo.append(path)
    total = len(files)

    def report(result):
        path, status, detail = result
        if status == "done":
            summary.done.append(path)
            summary.outputs[path] = targets[path]
        else:
            summary.failed.append((path, detail))
        if progress is not None:
            progress(summary.total, total)

    if progress is not None and summary.skipped:
        progress(len(summary.skipped), total)
    params = dict(params or {})
    if client is not None:
        _run_distributed(todo, targets, psf, method, params, overwrite, client, report)
    elif int(jobs) > 1 and len(todo) > 1:
        _run_local_pool(todo, targets, psf, method, params, overwrite, int(jobs), report)
    else:
        for path in todo:
            report(restore_file(path, targets[path], psf, method, params, overwrite))
    summary.seconds = time.perf_counter() - started
    return summary


def _clashes(targets):
    seen = {}
    for path, target in targets.items():
        if target in seen:
            return seen[target], path
        seen[target] = path
    return None


def _run_distributed(todo, targets, psf, method, params, overwrite, client, report):
    from distributed import as_completed

    futures = [client.submit(restore_file, path, targets[path], psf, method, params, overwrite,
                             key=f"deconvkit-batch-{i}-{os.path.basename(path)}", pure=False)
               for i, path in enumerate(todo)]
    for future in as_completed(futures):
        if future.status == "error":  # the worker itself died or the task could not run
            index = futures.index(future)
            report((todo[index], "failed", f"worker error: {future.exception()}"))
        else:
            report(future.result())


def _run_local_pool(todo, targets, psf, method, params, overwrite, jobs, report):
    import dask
    from dask.callbacks import Callback

    tasks = [dask.delayed(restore_file, pure=False)(path, targets[path], psf, method, params, overwrite,
                                                    dask_key_name=f"deconvkit-batch-{i}")
             for i, path in enumerate(todo)]
    names = {f"deconvkit-batch-{i}" for i in range(len(todo))}

    class _PerFile(Callback):  # runs in this process as each file's task finishes
        def _posttask(self, key, result, dsk, state, worker_id):
            if key in names:
                report(result)

    with _PerFile():
        dask.compute(*tasks, scheduler="processes", num_workers=jobs)
