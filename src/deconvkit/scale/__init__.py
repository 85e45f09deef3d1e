"""Scale-out: arrays larger than memory, tiled with Dask, on threads, processes or a Dask cluster.

:func:`deconvolve` and :func:`blur` take a dask array, a NumPy array, or the path of a Zarr store or a
(OME-)TIFF file (opened lazily), and return a dask array, or write the result chunk by chunk into a Zarr
store or TIFF file given as ``output=``. Each tile is solved by the in-memory
:func:`deconvkit.deconvolve` with a margin of its neighbours' data (a file: one task per tile reading its
own region; an array: :func:`dask.array.map_overlap`), so
results agree with the whole-array call away from the array's outer border (docs/scale.md states how
closely, measured). Automatic parameters are decided once for the whole array
(:mod:`deconvkit.scale._params`), tile sizes follow a memory budget (:mod:`deconvkit.scale._tiling`), and
the graph runs on any Dask scheduler (:mod:`deconvkit.scale._compute`). :func:`run_batch` restores many
files (``deconvkit batch``).

Needs the ``dask`` extra: ``pip install 'deconvkit[dask]'`` (dask[array], distributed, zarr).
"""

from __future__ import annotations

import functools
import os

import numpy as np

from .._shared import DeconvkitError, check_psf, float_dtype, intensity_scale, scale_for_peak

try:
    import dask
    import dask.array  # noqa: F401
except ImportError as _exc:  # pragma: no cover - depends on the install
    raise ImportError("deconvkit.scale needs Dask: pip install 'deconvkit[dask]'") from _exc

__all__ = ["deconvolve", "blur", "run_batch", "TiledResult"]


def __getattr__(name):
    if name == "run_batch":
        from .batch import run_batch

        return run_batch
    raise AttributeError(f"module 'deconvkit.scale' has no attribute {name!r}")


class TiledResult:
    """What :func:`deconvolve` decided: ``method``/``params`` given to every tile, ``chunks``, ``depth``."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def __repr__(self):
        return "TiledResult(" + ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items()
                                          if k != "sample_info") + ")"


def _solve_tile(block, *, psf, method, strategy, noise_sigma, offset, work_dtype, params, channels=False):
    """One tile (with its margin) through the in-memory solver, with the decided parameters
    (``channels``: the block's last axis holds every colour channel, solved together)."""
    from ..solvers import deconvolve as solve

    data = block.astype(work_dtype, copy=False)
    if offset:
        data = data + work_dtype.type(offset)
    restored = solve(data, psf, method=method, boundary=strategy, noise_sigma=noise_sigma,
                     channel_axis=-1 if channels else None, **params)
    if offset:
        restored -= work_dtype.type(offset)
    return restored


def _blur_tile(block, *, psf, mode, noise, entropy, work_dtype, channels=False, block_info=None):
    from ..forward import blur as blur_whole

    blurred = blur_whole(block.astype(work_dtype, copy=False), psf, boundary=mode,
                         channel_axis=-1 if channels else None)
    if noise:
        index = tuple(block_info[0]["chunk-location"]) if block_info else (0,)
        rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=index))
        blurred = blurred + rng.normal(0.0, noise, blurred.shape).astype(work_dtype)
    return blurred


def _prepare(array, chunks, channels=False):
    from ._io import open_lazy

    lazy, meta = open_lazy(array, chunks)
    if lazy.ndim - channels not in (2, 3):
        hint = "" if channels else " (colour: give channel_axis=)"
        what = "2-D and 3-D arrays plus the channel_axis" if channels else "2-D and 3-D arrays"
        raise DeconvkitError(f"deconvkit.scale handles {what}, got shape {lazy.shape}{hint}")
    if lazy.dtype.kind in "iu":
        # the integer input rule of deconvkit.deconvolve (the intensity scale taken from the data: 12-bit
        # values in uint16 are divided by 4095, see _shared.intensity_scale), with the dtype
        # deconvkit.io.read_image gives a file (float32 up to 16 bits) and the one deconvolve gives an
        # array (float64), so a tiled result has the dtype the in-memory call on the same input has. The
        # peak costs one read pass over the data (8-bit data need none: its scale is always 255).
        wide = lazy.dtype.itemsize > 2 or "path" not in meta
        target = np.float64 if wide else np.float32
        meta["intensity_scale"] = _lazy_intensity_scale(lazy)
        lazy = lazy.astype(target) / target(meta["intensity_scale"])
    return lazy, meta


def _lazy_intensity_scale(lazy) -> float:
    """:func:`deconvkit._shared.intensity_scale` of a lazy integer array (one reduction pass)."""
    if lazy.dtype == bool or lazy.dtype.itemsize == 1 or lazy.size == 0:
        return intensity_scale(np.empty(0, lazy.dtype))  # these scales come from the dtype alone
    top, bottom = dask.compute(lazy.max(), lazy.min())
    peak = int(top) if lazy.dtype.kind == "u" else max(int(top), -int(bottom))
    return scale_for_peak(lazy.dtype, peak)


def deconvolve(array, psf, method="auto", *, channel_axis=None, memory_budget=None, chunks=None, output=None,
               progress=None, scheduler=None, noise_sigma=None, boundary=None, overlap=None, overwrite=False,
               return_info=False, **params):
    """Deconvolve an array of any size tile by tile; the result matches :func:`deconvkit.deconvolve`.

    Parameters
    ----------
    array : dask.array.Array, ndarray, or path
        2-D or 3-D data. A path names a Zarr store (an OME-Zarr group's level ``"0"`` is used) or a TIFF
        (first series, read region by region). Integers are divided by the intensity scale the data
        show (the integer input rule of :func:`deconvkit.deconvolve`; one read pass finds the peak):
        files become float32 as :func:`deconvkit.io.read_image` reads them, arrays float64 as
        ``deconvolve`` makes them.
    psf : ndarray
        The PSF (as for :func:`deconvkit.deconvolve`), with the spatial dimensionality.
    method : str
        Any registered method. ``"auto"`` is decided once (TV with its SURE-chosen weight on a central
        sample) and the tiles solve that TV problem. Richardson-Lucy runs unaccelerated unless
        ``accelerate=True`` is given: the Biggs-Andrews step is a global scalar, so accelerated tiles
        would not agree with each other.
    channel_axis : int, optional
        Axis of colour channels (a 2-D or 3-D image plus channels). Channels are never split across
        tiles: every tile holds all of them and solves them together with shared parameters, as
        ``deconvkit.deconvolve(..., channel_axis=)`` does; the result keeps the input's axis order
        (a TIFF ``output`` stores the channels as samples, last).
    memory_budget : int or str, optional
        Bytes for the tiles solved at once (``"4GB"`` accepted); default: 60% of the smallest worker's
        ``memory_limit`` on a distributed cluster (shared by its threads), else available memory.
    chunks : tuple of int, optional
        Tile size without overlap (overrides the budget). A dask input keeps its chunks if neither is
        given and they fit the budget.
    output : path, optional
        Write the result to this Zarr store (``.zarr``) or TIFF file (``.tif``) chunk by chunk and return
        the path; otherwise a lazy dask array is returned.
    progress : callable, optional
        ``progress(done, total)`` after each finished tile (only when ``output`` is given: a lazy
        result is computed by the caller).
    scheduler : str or distributed.Client, optional
        ``"threads"``, ``"processes"``, ``"synchronous"``, a ``Client`` or a ``tcp://host:port`` address;
        default: the current default Client if there is one, else Dask's default.
    noise_sigma : float, optional
        Noise level; default: estimated once from the central sample.
    boundary : str, optional
        Boundary strategy of every tile; default: the method's own. Interior tiles see their margin as
        an unknown continuation; the array's outer border is handled as the whole-array call does.
    overlap : float or tuple of int, optional
        Overlap per side: a multiple of the PSF extent (float) or pixels per axis; default: the measured
        factor of :data:`deconvkit.scale._tiling.OVERLAP_FACTORS`.
    overwrite : bool
        Replace an existing ``output``.
    return_info : bool
        Also return a :class:`TiledResult` with the decisions.
    **params
        Method parameters, passed to every tile (with the decided ones).

    Returns
    -------
    dask.array.Array or str
        The lazy result (float32 for float32/16 input, float64 otherwise) or the ``output`` path.
    """
    from ..memory import parse_bytes
    from ._compute import concurrency, resolve_client
    from ._params import decide_parameters
    from ._tiling import overlap_depth, plan_chunks

    lazy, meta = _prepare(array, None, channels=channel_axis is not None)
    axis = _channel_axis(channel_axis, lazy.ndim)
    if axis is not None:
        # channels last inside: the tiles cut the spatial axes only, each tile holds every channel
        lazy = dask.array.moveaxis(lazy, axis, -1)
    spatial = lazy.shape[:-1] if axis is not None else lazy.shape
    channels = lazy.shape[-1] if axis is not None else 1
    dtype = float_dtype(lazy.dtype)
    psf = check_psf(psf, len(spatial), dtype, spatial)
    if noise_sigma is not None and not noise_sigma >= 0:
        raise DeconvkitError(f"noise_sigma must be >= 0, got {noise_sigma}")
    if output is not None:
        _check_output(output, overwrite)
    client = resolve_client(scheduler)
    tile_method, tile_params, sigma, decided = decide_parameters(lazy, psf, method, params, noise_sigma,
                                                                 boundary, channels=axis is not None)
    strategy = decided["boundary"]
    if overlap is None or isinstance(overlap, (int, float)) and not isinstance(overlap, bool):
        depth = overlap_depth(tile_method, psf.shape, None if overlap is None else float(overlap))
    else:
        depth = tuple(int(d) for d in overlap)
        if len(depth) != len(spatial) or min(depth) < 0:
            raise DeconvkitError(f"overlap must be a factor or {len(spatial)} non-negative ints, got {overlap}")
    depth = tuple(min(d, n) for d, n in zip(depth, spatial))
    workers, pool = concurrency(client, scheduler)
    budget = parse_bytes(memory_budget) if memory_budget is not None else pool
    if chunks is None:
        if budget is None:
            budget = 2 * 10**9  # no way to tell the memory: a conservative 2 GB pool
        chunks = plan_chunks(spatial, psf.shape, tile_method, depth, budget, workers, dtype.itemsize,
                             strategy, channels)
    chunks = tuple(int(c) for c in chunks)
    if len(chunks) != len(spatial):
        raise DeconvkitError(f"chunks must give {len(spatial)} spatial sizes (channels are never split), "
                             f"got {chunks}")
    chunks = tuple(min(c, n) for c, n in zip(chunks, spatial))
    if min(chunks) < 1:
        raise DeconvkitError(f"chunks must be positive, got {chunks}")
    sizes = _chunk_sizes(spatial, chunks, psf.shape) + (((channels,),) if axis is not None else ())
    full_depth = depth + ((0,) if axis is not None else ())
    if "path" in meta:
        # a file: every tile task reads its own region, margin included, and nothing else. With
        # map_overlap each input chunk would be held until all its neighbours' tiles have run (measured:
        # most of a 40 x 768^2 stack held at once, docs/benchmarks_scale.md); independent tasks hold only
        # the tiles being solved, and the written ones are released at once
        from ._io import region_reader

        result = _region_tiles(region_reader(meta), sizes, full_depth, axis, psf, tile_method, strategy, sigma,
                               decided["offset"], dtype, tile_params, meta.get("intensity_scale", 0))
    else:
        lazy = lazy.rechunk(sizes)
        result = _map_tiles(lazy, full_depth, psf, tile_method, strategy, sigma, decided["offset"], dtype,
                            tile_params, channels=axis is not None)
    if axis is not None and not (output is not None and _is_tiff(output)):
        result = dask.array.moveaxis(result, -1, axis)
    info = TiledResult(method=tile_method, params=tile_params, noise_sigma=sigma, boundary=strategy,
                       chunks=chunks, depth=depth, tiles=result.npartitions, memory_budget=budget,
                       concurrent_tiles=workers, offset=decided["offset"], sample_info=decided["sample_info"],
                       spacing=meta.get("spacing"), channel_axis=axis)
    if output is None:
        return (result, info) if return_info else result
    _write(result, output, client, scheduler, progress, overwrite, meta.get("spacing"), channels=axis is not None)
    return (os.fspath(output), info) if return_info else os.fspath(output)


def _channel_axis(channel_axis, ndim):
    """``channel_axis`` as a non-negative axis of an array of ``ndim`` (2-D or 3-D plus channels), or None."""
    if channel_axis is None:
        return None
    if isinstance(channel_axis, bool) or not isinstance(channel_axis, (int, np.integer)):
        raise DeconvkitError(f"channel_axis must be an int or None, got {channel_axis!r}")
    if ndim not in (3, 4):
        raise DeconvkitError(f"channel_axis needs a 2-D or 3-D image plus a channel axis (3 or 4 axes), "
                             f"got {ndim} axes")
    if not -ndim <= channel_axis < ndim:
        raise DeconvkitError(f"channel_axis {channel_axis} is out of range for {ndim} axes")
    return int(channel_axis) % ndim


def _move_item(items, source, destination):
    items = list(items)
    items.insert(destination, items.pop(source))
    return tuple(items)


def _is_tiff(output):
    from ._io import is_tiff_path

    return is_tiff_path(os.fspath(output))


def _chunk_sizes(shape, chunks, psf_shape):
    """Regular chunks, with a remainder shorter than the PSF merged into the chunk before it (a sliver
    tile would be smaller than its PSF; only that last task writes the Zarr chunks it spans)."""
    sizes = []
    for n, c, k in zip(shape, chunks, psf_shape):
        axis = [c] * (n // c) + ([n % c] if n % c else [])
        if len(axis) > 1 and axis[-1] < k:
            axis[-2] += axis.pop()
        sizes.append(tuple(axis))
    return tuple(sizes)


def _map_tiles(lazy, depth, psf, method, strategy, sigma, offset, dtype, params, channels=False):
    # a partial of a module-level function: picklable for processes and remote workers, and tokenised
    # by value so the graph's names are deterministic
    tile = functools.partial(_solve_tile, psf=psf, method=method, strategy=strategy, noise_sigma=sigma,
                             offset=offset, work_dtype=dtype, params=params, channels=channels)
    return lazy.map_overlap(tile, depth=depth, boundary="none", trim=True, dtype=dtype,
                            meta=np.empty((0,) * lazy.ndim, dtype))


def _region_tile(reader, *, shape, depth, axis, scale, work_dtype, tile, block_info=None):
    """Read one tile with its margin from ``reader`` (file axis order), solve it, keep its own part."""
    location = block_info[None]["array-location"]  # this tile's voxels, channels last
    lows = [max(a - d, 0) for (a, _), d in zip(location, depth)]
    region = tuple(slice(lo, min(b + d, n)) for lo, (_, b), d, n in zip(lows, location, depth, shape))
    file_region = region if axis is None else _move_item(region, -1, axis)
    block = np.asarray(reader[file_region])
    if axis is not None:
        block = np.moveaxis(block, axis, -1)
    if scale:
        block = block.astype(work_dtype) / work_dtype.type(scale)  # the integer input rule, as _prepare
    restored = tile(block)
    del block
    keep = tuple(slice(a - lo, b - lo) for (a, b), lo in zip(location, lows))
    # a copy: a view would keep the whole tile, margin included, alive until the result is written
    return np.array(restored[keep], copy=True)


def _region_tiles(reader, sizes, depth, axis, psf, method, strategy, sigma, offset, dtype, params, scale):
    """The tiled result as independent tasks, one per tile, each reading its region of ``reader``."""
    channels = axis is not None
    tile = functools.partial(_solve_tile, psf=psf, method=method, strategy=strategy, noise_sigma=sigma,
                             offset=offset, work_dtype=dtype, params=params, channels=channels)
    shape = tuple(sum(c) for c in sizes)
    name = f"deconvkit-tiles-{dask.base.tokenize(reader, sizes, depth, axis, tile)}"
    return dask.array.map_blocks(
        _region_tile, reader=reader, shape=shape, depth=depth, axis=axis, scale=scale, work_dtype=dtype,
        tile=tile, chunks=sizes, dtype=dtype, meta=np.empty((0,) * len(sizes), dtype), name=name)


def _check_output(output, overwrite):
    from ._io import is_tiff_path

    path = os.fspath(output)
    if not (is_tiff_path(path) or path.rstrip("/\\").lower().endswith(".zarr")):
        raise DeconvkitError(f"output {path} must be a Zarr store (.zarr) or a TIFF file (.tif, .tiff)")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path}: folder {folder} does not exist")


def _write(result, output, client, scheduler, progress, overwrite, spacing, channels=False):
    from ._compute import compute_tiles
    from ._io import create_zarr, is_tiff_path, write_tiff, write_zarr_block

    path = os.fspath(output)
    if is_tiff_path(path):
        # a TIFF is one sequential stream: slabs of tiles are computed in parallel, written in order
        total = result.npartitions
        per_slab = total // result.numblocks[0]

        def slab_progress(done, slabs):
            if progress is not None:
                progress(done * per_slab, total)

        if client is not None:
            with _as_default(client):
                write_tiff(path, result, overwrite=overwrite, spacing=spacing, progress_slab=slab_progress,
                           channels=channels)
        else:
            with dask.config.set(scheduler=scheduler) if scheduler else _nullcontext():
                write_tiff(path, result, overwrite=overwrite, spacing=spacing, progress_slab=slab_progress,
                           channels=channels)
        return
    regular = tuple(c[0] for c in result.chunks)
    create_zarr(path, result.shape, regular, result.dtype, overwrite=overwrite, spacing=spacing)
    markers = result.map_blocks(write_zarr_block, path, dtype=np.uint8, chunks=(1,) * result.ndim,
                                name=f"deconvkit-write-{dask.base.tokenize(result, path)}")
    compute_tiles(markers, client, scheduler, progress)


def _nullcontext():
    import contextlib

    return contextlib.nullcontext()


def _as_default(client):
    return client.as_current()


def blur(array, psf, *, boundary="reflect", noise=0.0, seed=None, channel_axis=None, chunks=None, output=None,
         progress=None, scheduler=None, overwrite=False):
    """The forward model of :func:`deconvkit.blur`, tiled: same values as the whole-array call.

    ``boundary`` is "reflect", "zero" or "periodic" ("valid" changes the shape: crop the result instead).
    Noise (``noise`` std, Gaussian) is drawn per tile from ``seed`` and the tile's index: reproducible
    and independent of the scheduler, but not the same numbers as a whole-array call.
    ``channel_axis`` (as in :func:`deconvolve` and :func:`deconvkit.blur`): every channel is blurred with
    the same PSF, tiles cut the spatial axes only, ``chunks`` gives the spatial tile sizes, and the result
    keeps the input's axis order (a TIFF ``output`` stores the channels as samples, last).
    """
    from ._compute import resolve_client

    if boundary not in ("reflect", "zero", "periodic"):
        raise DeconvkitError(f"deconvkit.scale.blur boundary must be 'reflect', 'zero' or 'periodic', got "
                             f"{boundary!r}")
    if not (np.isfinite(noise) and noise >= 0):
        raise DeconvkitError(f"noise must be a finite value >= 0, got {noise}")
    lazy, meta = _prepare(array, None, channels=channel_axis is not None)
    axis = _channel_axis(channel_axis, lazy.ndim)
    if axis is not None:
        lazy = dask.array.moveaxis(lazy, axis, -1)  # channels last inside, as deconvolve does
    spatial = lazy.shape[:-1] if axis is not None else lazy.shape
    dtype = float_dtype(lazy.dtype)
    psf = check_psf(psf, len(spatial), dtype, spatial)
    if output is not None:
        _check_output(output, overwrite)
    whole_channels = {lazy.ndim - 1: -1} if axis is not None else {}
    if chunks is not None:
        chunks = tuple(int(c) for c in chunks)
        if len(chunks) != len(spatial) or min(chunks) < 1:
            raise DeconvkitError(f"chunks must give {len(spatial)} positive spatial sizes"
                                 f"{' (channels are never split)' if axis is not None else ''}, got {chunks}")
        lazy = lazy.rechunk(tuple(min(c, n) for c, n in zip(chunks, spatial)) + ((-1,) if axis is not None else ()))
    elif lazy.chunksize == lazy.shape and lazy.size > 2**24:
        lazy = lazy.rechunk({**{i: "auto" for i in range(len(spatial))}, **whole_channels})
    elif whole_channels:
        lazy = lazy.rechunk(whole_channels)  # a tile holds every channel
    # a full PSF extent per spatial side: more than the k // 2 the blur reaches; none across channels
    depth = tuple(k for k in psf.shape) + ((0,) if axis is not None else ())
    entropy = np.random.SeedSequence(seed).entropy

    # periodic: dask wraps the margin around, and the tile's own periodic blur only touches the margin;
    # reflect/zero: the outer border is the tile's own border, handled as the whole-array call does
    # noise is drawn on the margin too (harmless: it is cut away, every kept voxel gets one draw)
    tile = functools.partial(_blur_tile, psf=psf, mode=boundary, noise=float(noise), entropy=entropy,
                             work_dtype=dtype, channels=axis is not None)
    result = lazy.map_overlap(tile, depth=depth, boundary="periodic" if boundary == "periodic" else "none",
                              trim=True, dtype=dtype, meta=np.empty((0,) * lazy.ndim, dtype))
    if axis is not None and not (output is not None and _is_tiff(output)):
        result = dask.array.moveaxis(result, -1, axis)
    if output is None:
        return result
    _write(result, output, resolve_client(scheduler), scheduler, progress, overwrite, meta.get("spacing"),
           channels=axis is not None)
    return os.fspath(output)
