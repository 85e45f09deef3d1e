"""Lazy inputs and chunk-by-chunk outputs: Zarr stores and (OME-)TIFF files, never read whole.

Every reader is a small picklable object that opens its file inside the task that reads a region, so
the same graph runs on threads, processes and remote workers (an open file handle would not travel).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from .._shared import DeconvkitError

__all__ = ["open_lazy", "is_tiff_path", "is_zarr_path", "region_reader", "write_zarr_block", "create_zarr",
           "write_tiff"]

_TIFF_SUFFIXES = (".tif", ".tiff", ".ome.tif", ".ome.tiff", ".btf")


def is_tiff_path(path) -> bool:
    return str(path).lower().endswith(_TIFF_SUFFIXES)


def is_zarr_path(path) -> bool:
    text = str(path).rstrip("/\\").lower()
    return text.endswith(".zarr") or (os.path.isdir(str(path)) and (
        any(os.path.exists(os.path.join(str(path), name)) for name in (".zarray", "zarr.json", ".zgroup"))))


class TiffRegionReader:
    """``reader[index]`` reads one region of the first series of a TIFF through tifffile's Zarr view
    (tiles and strips are decoded on demand; an uncompressed file is read with no decoding at all)."""

    def __init__(self, path):
        import tifffile

        self.path = os.fspath(path)
        try:
            with tifffile.TiffFile(self.path) as tif:
                series = tif.series[0]
                self.shape = tuple(series.shape)
                self.dtype = np.dtype(series.dtype)
                self.axes = series.axes
                self.spacing = _tiff_spacing(tif)
        except (OSError, IndexError, ValueError, tifffile.TiffFileError) as exc:
            raise DeconvkitError(f"cannot read {self.path} as TIFF: {exc}") from exc
        self.ndim = len(self.shape)

    def __getitem__(self, index):
        import tifffile
        import zarr

        store = tifffile.imread(self.path, aszarr=True, series=0, level=0)
        try:
            return np.asarray(zarr.open(store, mode="r")[index])
        finally:
            store.close()

    def __reduce__(self):  # re-read the header on the worker rather than trusting a pickled copy
        return (TiffRegionReader, (self.path,))

    def __dask_tokenize__(self):
        return ("deconvkit-tiff", self.path, os.path.getmtime(self.path))


class ZarrRegionReader:
    """``reader[index]`` reads one region of the Zarr array at ``path`` (opened inside the task: an open
    store does not travel to a process or a remote worker, a path does)."""

    def __init__(self, path):
        import zarr

        self.path = os.fspath(path)
        node = zarr.open_array(self.path, mode="r")
        self.shape, self.dtype, self.ndim = tuple(node.shape), np.dtype(node.dtype), node.ndim

    def __getitem__(self, index):
        import zarr

        return np.asarray(zarr.open_array(self.path, mode="r")[index])

    def __reduce__(self):
        return (ZarrRegionReader, (self.path,))

    def __dask_tokenize__(self):
        return ("deconvkit-zarr", self.path, os.path.getmtime(self.path))


def region_reader(meta):
    """The region reader of a file opened by :func:`open_lazy` (``meta["path"]``)."""
    path = meta["path"]
    return TiffRegionReader(path) if is_tiff_path(path) else ZarrRegionReader(path)


def _tiff_spacing(tif) -> dict:
    """Voxel spacing in micrometres (``{"z", "y", "x", "unit": "um"}``) as :func:`deconvkit.io.read_image`
    reads it: OME ``PhysicalSize*`` or ImageJ resolution tags and ``spacing``; empty unless every spatial
    axis is known (a default resolution of 1 per unit-less pixel is not a spacing)."""
    from ..io import tiff_spacing

    try:
        values = tiff_spacing(tif, tif.series[0].axes)
    except Exception:  # noqa: BLE001 - metadata is advisory, as in read_image: a malformed tag keeps the pixels
        values = None
    if not values:
        return {}
    return dict(zip("zyx"[3 - len(values):], (float(v) for v in values)), unit="um")


def zarr_spacing(array) -> dict:
    """The spacing a Zarr array written by :func:`create_zarr` carries in its attributes."""
    spacing = dict(array.attrs.get("deconvkit_spacing") or {})
    return {k: (v if k == "unit" else float(v)) for k, v in spacing.items()}


def open_lazy(source, chunks=None):
    """``source`` (dask array, NumPy array, Zarr path, TIFF path) as a dask array and its metadata."""
    import dask.array as da
    from dask.base import tokenize

    meta = {}
    if isinstance(source, da.Array):
        array = source
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such file or store: {path}")
        if is_tiff_path(path):
            reader = TiffRegionReader(path)
            meta = {"spacing": reader.spacing, "axes": reader.axes, "path": path, "source": source}
            array = da.from_array(reader, chunks=chunks or "auto", asarray=True, lock=False,
                                  name=f"deconvkit-tiff-{tokenize(path, os.path.getmtime(path), chunks)}")
            chunks = None
        elif is_zarr_path(path):
            import zarr

            try:
                node = zarr.open(path, mode="r")
            except Exception as exc:
                raise DeconvkitError(f"cannot open {path} as a Zarr store: {exc}") from exc
            if not hasattr(node, "shape"):  # a group: OME-Zarr keeps full resolution in "0"
                if "0" not in node:
                    raise DeconvkitError(f"{path} is a Zarr group without an array '0' (OME-Zarr level 0)")
                path = os.path.join(path, "0")
            array = da.from_zarr(path, chunks=chunks) if chunks is not None else da.from_zarr(path)
            chunks = None
            meta = {"path": path, "source": source, "spacing": zarr_spacing(zarr.open_array(path, mode="r"))}
        else:
            raise DeconvkitError(f"cannot open {path} lazily: expected a .zarr store or a .tif/.tiff file")
    elif isinstance(source, np.ndarray) or hasattr(source, "__array__"):
        array = da.from_array(np.asarray(source), chunks=chunks or "auto")
        chunks = None
    else:
        raise DeconvkitError(f"array must be a dask array, a NumPy array or a path, got {type(source).__name__}")
    if array.ndim not in (2, 3, 4):  # 4: a 3-D stack with channels (the caller checks channel_axis)
        raise DeconvkitError(f"deconvkit.scale handles 2-D and 3-D arrays, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise DeconvkitError(f"array must be real numeric, got dtype {array.dtype}")
    if chunks is not None:
        array = array.rechunk(chunks)
    return array, meta


# --- outputs ------------------------------------------------------------------------------------------

def create_zarr(path, shape, chunks, dtype, overwrite=False, spacing=None):
    """An empty Zarr array whose chunks are the dask chunks (each task then owns whole Zarr chunks, so
    parallel writers never share one); ``spacing`` (the input's) is kept in its attributes."""
    import zarr

    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    array = zarr.open_array(path, mode="w", shape=tuple(shape), chunks=tuple(chunks), dtype=dtype)
    if spacing:
        array.attrs["deconvkit_spacing"] = dict(spacing)
    return array


def write_zarr_block(block, path, block_info=None):
    """Write one output block into its region of the Zarr array at ``path``; return a 1-voxel marker."""
    import zarr

    location = block_info[0]["array-location"]
    region = tuple(slice(a, b) for a, b in location)
    zarr.open_array(os.fspath(path), mode="r+")[region] = block
    return np.ones((1,) * block.ndim, dtype=np.uint8)


def write_tiff(path, array, *, overwrite=False, spacing=None, progress_slab=None, channels=False):
    """Write a dask array to a TIFF one slab of chunks (along the first axis) at a time, atomically.

    A 3-D array becomes a multi-page (ImageJ hyperstack) TIFF; pages are produced slab by slab, so memory
    holds one slab of the result (a 2-D array is assembled whole: use Zarr for 2-D beyond memory).
    ``channels``: the last axis holds colour channels, stored as samples of each page (an RGB TIFF for
    3 or 4 channels; ImageJ files cannot hold float colour, so such a file is a plain TIFF with the
    spacing in its resolution tags only).
    ``progress_slab(done, total)`` is called after each slab.
    """
    import tifffile

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    bounds = np.cumsum((0,) + array.chunks[0])
    slabs = list(zip(bounds[:-1], bounds[1:]))

    def pages():
        for i, (a, b) in enumerate(slabs):
            slab = np.asarray(array[a:b].compute())
            if progress_slab is not None:
                progress_slab(i + 1, len(slabs))
            if array.ndim == 2 + channels:
                yield slab
            else:
                yield from slab

    kwargs = {}
    spacing = spacing or {}
    if "x" in spacing and "y" in spacing:
        kwargs["resolution"] = (1.0 / spacing["x"], 1.0 / spacing["y"])
    metadata = {"axes": "ZYX" if array.ndim == 3 else "YX"}
    if "z" in spacing and array.ndim == 3:
        metadata["spacing"] = spacing["z"]
    if "unit" in spacing:
        metadata["unit"] = spacing["unit"]
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.close(handle)
    try:
        if channels:
            photometric = "rgb" if array.shape[-1] in (3, 4) else "minisblack"
            pieces = pages()
            data = np.concatenate(list(pieces), axis=0) if array.ndim == 3 else pieces
            tifffile.imwrite(tmp, data, shape=array.shape, dtype=array.dtype, photometric=photometric,
                             planarconfig="contig", extrasamples=("unassalpha",) if array.shape[-1] == 4 else None,
                             metadata={"axes": ("ZYXS" if array.ndim == 4 else "YXS")}, **kwargs)
        elif path.lower().endswith((".ome.tif", ".ome.tiff")):
            # OME-TIFF out for OME-TIFF names: the spacing as PhysicalSize*, pages streamed as for ImageJ
            axes = "ZYX" if array.ndim == 3 else "YX"
            ome = {"axes": axes}
            for axis in axes:
                if axis.lower() in spacing:
                    ome[f"PhysicalSize{axis}"] = spacing[axis.lower()]
                    ome[f"PhysicalSize{axis}Unit"] = "\u00b5m"
            data = np.concatenate(list(pages()), axis=0) if array.ndim == 2 else pages()
            tifffile.imwrite(tmp, data, shape=array.shape, dtype=array.dtype, ome=True, metadata=ome)
        elif array.ndim == 2:
            # a single-page TIFF is written in one piece (ImageJ files are not tiled): a 2-D result
            # larger than memory belongs in a Zarr store
            tifffile.imwrite(tmp, np.concatenate(list(pages()), axis=0), imagej=True, metadata=metadata,
                             **kwargs)
        else:
            tifffile.imwrite(tmp, pages(), shape=array.shape, dtype=array.dtype, imagej=True,
                             metadata=metadata, **kwargs)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
