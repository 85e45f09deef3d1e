"""Reading and writing images (PNG, JPEG, TIFF, NPY) with bit depth kept and atomic, no-clobber writes.

Conventions
-----------
* :func:`read_image` returns ``(array, info)``. Integer images are scaled to float in [0, 1] (signed integers
  to [-1, 1]) by dividing by the dtype's maximum; float images are returned as float, unscaled. The array is
  float32 for data of up to 16 bits and for float16/float32 files (float32 holds them exactly), float64 for
  32-bit integers and float64 files. ``info`` (:class:`ImageInfo`) remembers the stored dtype.
* :func:`write_image` with ``like=info`` writes in the input's bit depth. Conversion to an integer dtype
  multiplies by the dtype's maximum, rounds and clips; this is the ONLY place values are clipped. Floats are
  written as floats to TIFF and NPY; PNG and JPEG cannot store floats, so a float image goes to the source
  bit depth (``like``) or to uint8.
* Colour images have their channel axis last: ``(rows, cols, channels)``, and TIFF stacks are
  ``(pages, rows, cols[, channels])``. Planar TIFFs are moved to channels-last on read.
* Writes go to a temporary file in the destination folder, then are renamed into place, so a crash or an
  error never leaves a partial file, and an existing file is never replaced unless ``overwrite=True``.
* Voxel spacing (micrometres, one value per spatial axis: ``(dz, dy, dx)`` or ``(dy, dx)``) is read from
  OME-TIFF (``PhysicalSizeX/Y/Z``) and ImageJ TIFF (resolution tags, ``spacing``, ``unit``) metadata into
  ``ImageInfo.spacing``, and written back as ImageJ metadata (uint8/uint16/float32 grey data, which Fiji
  opens directly) or OME-XML (other dtypes, colour). :func:`read_volume` insists on knowing it.
* Problems with a file raise :class:`~deconvkit.DeconvkitError` (or :class:`FileNotFoundError`) with one
  line naming the path; the underlying library error is chained, not lost.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np

from ._shared import MAX_PIXELS, DeconvkitError

__all__ = ["ImageInfo", "read_image", "read_volume", "write_image", "read_psf", "FORMATS"]

# Format name -> file extensions (the first is the canonical one).
FORMATS = {
    "png": (".png",),
    "jpeg": (".jpg", ".jpeg"),
    "tiff": (".tif", ".tiff"),
    "npy": (".npy",),
}

# The first bytes of each format, so a file is decoded by what it is, not by what its name says.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"\x93NUMPY", "npy"),
)

_ALLOWED_DTYPES = {
    "png": ("uint8", "uint16"),
    "jpeg": ("uint8",),
    "tiff": ("uint8", "uint16", "uint32", "int8", "int16", "int32", "float16", "float32", "float64"),
    "npy": ("uint8", "uint16", "uint32", "int8", "int16", "int32", "float16", "float32", "float64"),
}

# Files are created 0600 by mkstemp; give the final file the permissions a plain open() would.
_UMASK = os.umask(0)
os.umask(_UMASK)


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`read_image` learned about a file; pass it as ``like=`` to write in the same format.

    Attributes
    ----------
    path : str
    format : str
        ``png``, ``jpeg``, ``tiff`` or ``npy``.
    dtype : numpy.dtype
        The dtype stored in the file (bilevel images count as uint8).
    shape : tuple of int
        Shape of the returned array (channels last).
    channel_axis : int or None
        ``-1`` for colour (or grey+alpha) images, ``None`` for single-channel images and stacks.
    spacing : tuple of float or None
        Voxel spacing in micrometres per spatial axis (``(dz, dy, dx)`` for a stack, ``(dy, dx)`` for an
        image), from OME or ImageJ TIFF metadata; ``None`` when the file does not say.
    """

    path: str
    format: str
    dtype: np.dtype
    shape: tuple
    channel_axis: int | None = None
    spacing: tuple | None = None

    @property
    def bit_depth(self) -> int:
        return self.dtype.itemsize * 8


def _format_from_extension(path: str) -> str | None:
    suffix = os.path.splitext(path)[1].lower()
    for name, extensions in FORMATS.items():
        if suffix in extensions:
            return name
    return None


def _supported_extensions() -> str:
    return ", ".join(e for extensions in FORMATS.values() for e in extensions)


def _first_line(exc: BaseException) -> str:
    """One line saying why: the root cause's message (imageio wraps the decoder's error in generic ones)."""
    seen = set()
    while (exc.__cause__ or exc.__context__) is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line.split(" <_io.")[0][:200]


def _sniff(path: str) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(8)
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def _to_float(data: np.ndarray, dtype=None) -> np.ndarray:
    """Integers divided by their dtype maximum; floats unscaled."""
    if data.dtype == bool:
        data = data.astype(np.uint8) * np.uint8(255)
    if dtype is None:
        wide = data.dtype.itemsize > (2 if data.dtype.kind in "iu" else 4)
        dtype = np.float64 if wide else np.float32
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise DeconvkitError(f"dtype={dtype} must be a float dtype")
    if data.dtype.kind in "iu":
        return data.astype(dtype) / dtype.type(np.iinfo(data.dtype).max)
    return data.astype(dtype, copy=False)


def _read_png_16bit_colour(path: str) -> np.ndarray:
    # Pillow (imageio's PNG plugin) silently reduces 16-bit colour PNGs to 8 bits; OpenCV does not.
    try:
        import cv2
    except ImportError:
        raise DeconvkitError(
            f"{path} is a 16-bit colour PNG, which needs OpenCV to read without losing bits "
            "(pip install opencv-python-headless), or save it as TIFF") from None
    data = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if data is None:
        raise DeconvkitError(f"cannot read {path}: OpenCV could not decode it")
    if data.ndim == 3:  # OpenCV orders colour channels BGR(A)
        data = data[..., [2, 1, 0, 3][:data.shape[-1]]]
    return data


def _png_is_16bit_colour(path: str) -> bool:
    with open(path, "rb") as handle:
        header = handle.read(26)
    # IHDR follows the 8-byte signature: length, type, width, height, then bit depth and colour type.
    return len(header) == 26 and header[12:16] == b"IHDR" and header[24] == 16 and header[25] in (2, 4, 6)


def _read_tiff(path: str) -> tuple[np.ndarray, int | None, tuple | None]:
    import logging

    import tifffile

    # tifffile logs damaged-file details to stderr itself; the DeconvkitError raised below says it once.
    tiff_logger = logging.getLogger("tifffile")
    level = tiff_logger.level
    tiff_logger.setLevel(logging.CRITICAL)
    try:
        return _read_tiff_series(path, tifffile)
    finally:
        tiff_logger.setLevel(level)


def _read_tiff_series(path: str, tifffile) -> tuple[np.ndarray, int | None, tuple | None]:
    with tifffile.TiffFile(path) as tif:
        series = tif.series
        if not series:
            raise DeconvkitError(f"cannot read {path}: not a valid TIFF file (no readable images)")
        first = series[0]
        _check_size(path, first.shape, len(series))
        same = [s for s in series if s.shape == first.shape and s.dtype == first.dtype]
        if len(series) > 1 and len(same) == len(series) and len(first.shape) == 2:
            # Pages written one by one (no stack metadata) appear as one series each: stack them.
            return np.stack([s.asarray() for s in series]), None, None
        if len(series) > 1:
            warnings.warn(f"{path}: holds {len(series)} image series of different shapes; read the first",
                          stacklevel=3)
        data = first.asarray()
        axes = first.axes
        try:
            spacing = _tiff_spacing(tif, axes)
        except Exception:  # metadata is advisory: a malformed tag must not make the pixels unreadable
            spacing = None
    channel_axis = None
    if "S" in axes:  # samples per pixel (colour), planar or not: always last
        data = np.moveaxis(data, axes.index("S"), -1)
        channel_axis = -1
    return data, channel_axis, spacing


# Length units as OME and ImageJ spell them, in micrometres.
_UNITS = {"um": 1.0, "µm": 1.0, "μm": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
          "micrometre": 1.0, "\\u00b5m": 1.0, "nm": 1e-3, "nanometer": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6}


def _to_micrometres(value, unit) -> float | None:
    factor = _UNITS.get(str(unit).strip().lower()) if unit is not None else None
    if factor is None or value is None:
        return None
    number = float(value) * factor
    return number if math.isfinite(number) and number > 0 else None


def _tiff_spacing(tif, axes: str) -> tuple | None:
    """Voxel spacing (um) per spatial axis of the series, or None unless every one of them is known.

    Only files whose series is an image (``YX``) or a z-stack (``ZYX``), colour or not, get a spacing: for
    time series or multi-channel hyperstacks the axes the solvers would see are not spatial.
    """
    spatial = axes.replace("S", "")
    if spatial not in ("YX", "ZYX"):
        return None
    sizes: dict[str, float | None] = {}
    if tif.is_ome and tif.ome_metadata:
        import xml.etree.ElementTree as ET

        root = ET.fromstring(tif.ome_metadata)
        pixels = next((e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Pixels"), None)
        if pixels is None:
            return None
        for axis in spatial:
            sizes[axis] = _to_micrometres(pixels.get(f"PhysicalSize{axis}"),
                                          pixels.get(f"PhysicalSize{axis}Unit", "µm"))
    elif tif.is_imagej:
        meta = tif.imagej_metadata or {}
        unit = meta.get("unit")
        page = tif.pages[0]
        for axis, tag in (("X", "XResolution"), ("Y", "YResolution")):
            resolution = page.tags.get(tag)
            if resolution is None:
                return None
            numerator, denominator = resolution.value
            sizes[axis] = _to_micrometres(denominator / numerator if numerator else None, unit)
        if "Z" in spatial:
            sizes["Z"] = _to_micrometres(meta.get("spacing"), unit)
    else:
        return None
    values = tuple(sizes.get(axis) for axis in spatial)
    return None if any(v is None for v in values) else values


def _check_size(path: str, shape, count: int = 1) -> None:
    # Checked before decoding, so a huge file fails fast instead of exhausting memory.
    elements = math.prod(shape) * count
    if elements > MAX_PIXELS:
        raise DeconvkitError(f"{path} holds {elements} values, more than the in-memory limit {MAX_PIXELS}; "
                             "crop or split it into tiles before reading")


def _read_pillow(path: str, fmt: str) -> tuple[np.ndarray, int | None]:
    import imageio.v3 as iio

    if fmt == "png" and _png_is_16bit_colour(path):
        data = _read_png_16bit_colour(path)
    else:
        # rotate=True applies the EXIF orientation, so the output (written without EXIF) looks the same.
        data = iio.imread(path, plugin="pillow", rotate=fmt == "jpeg")
    return data, (-1 if data.ndim == 3 else None)


def read_image(path, *, dtype=None) -> tuple[np.ndarray, ImageInfo]:
    """Read a PNG, JPEG, TIFF (including multi-page stacks) or NPY file as a float array.

    Parameters
    ----------
    path : str or path-like
    dtype : float dtype, optional
        Float dtype of the result. Default: float32 for data of up to 16 bits and float16/32 files,
        float64 otherwise.

    Returns
    -------
    image : ndarray
        Integer data scaled to [0, 1] (signed: [-1, 1]); float data as stored. Colour channels last.
    info : ImageInfo
        The stored dtype and format, for :func:`write_image` ``like=``.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    DeconvkitError
        A folder, an unsupported format, or a corrupt file (the message names the path).

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "ramp.png")
    >>> write_image(path, np.linspace(0, 1, 12).reshape(3, 4))
    >>> image, info = read_image(path)
    >>> image.dtype, info.dtype, float(image.max())
    (dtype('float32'), dtype('uint8'), 1.0)
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if os.path.isdir(path):
        raise DeconvkitError(f"{path} is a folder, not an image file")
    try:
        fmt = _sniff(path)
    except OSError as exc:
        raise DeconvkitError(f"cannot read {path}: {_first_line(exc)}") from exc
    if fmt is None:
        expected = _format_from_extension(path)
        if expected is None:
            raise DeconvkitError(
                f"cannot read {path}: unsupported image format (supported: {_supported_extensions()})")
        raise DeconvkitError(f"cannot read {path}: not a valid {expected.upper()} file (corrupt or empty)")
    try:
        spacing = None
        if fmt == "tiff":
            data, channel_axis, spacing = _read_tiff(path)
        elif fmt == "npy":
            mapped = np.load(path, mmap_mode="r", allow_pickle=False)
            _check_size(path, mapped.shape)
            data, channel_axis = np.array(mapped), None
            del mapped
        else:
            data, channel_axis = _read_pillow(path, fmt)
    except (DeconvkitError, MemoryError):
        raise
    except Exception as exc:  # every decoder has its own exception types; report them in one line
        raise DeconvkitError(f"cannot read {path} as {fmt.upper()}: {_first_line(exc)}") from exc
    data = np.asarray(data)
    if data.dtype.kind not in "biuf" or data.size == 0:
        raise DeconvkitError(f"cannot read {path}: unsupported pixel data (dtype {data.dtype}, shape {data.shape})")
    stored = np.dtype(np.uint8) if data.dtype == bool else data.dtype
    image = _to_float(data, dtype)
    return image, ImageInfo(path, fmt, stored, image.shape, channel_axis, spacing)


def _spatial_ndim(shape, channel_axis) -> int:
    return len(shape) - (channel_axis is not None)


def _check_spacing_values(spacing, ndim: int, what: str) -> tuple:
    values = tuple(np.atleast_1d(np.asarray(spacing, dtype=object)).tolist())
    if len(values) != ndim:
        raise DeconvkitError(f"{what}={spacing!r} needs {ndim} values (one per spatial axis, "
                             f"{'(dz, dy, dx)' if ndim == 3 else '(dy, dx)'} in micrometres)")
    out = []
    for v in values:
        try:
            number = float(v)
        except (TypeError, ValueError):
            raise DeconvkitError(f"{what}={spacing!r}: {v!r} is not a number") from None
        if not math.isfinite(number) or number <= 0:
            raise DeconvkitError(f"{what}={spacing!r}: every spacing must be finite and > 0")
        out.append(number)
    return tuple(out)


def read_volume(path, *, spacing=None, dtype=None) -> tuple[np.ndarray, ImageInfo]:
    """Read an image or z-stack together with its voxel spacing, which must be known.

    Like :func:`read_image`, but ``info.spacing`` is guaranteed: taken from the file's OME-TIFF or ImageJ
    metadata, or from ``spacing`` (which overrides the file). Use it where the spacing matters (a physical
    PSF, an anisotropic solver); :func:`read_image` reads the same pixels without insisting.

    Parameters
    ----------
    path : str or path-like
    spacing : sequence of float, optional
        Voxel spacing in micrometres, ``(dz, dy, dx)`` for a stack or ``(dy, dx)`` for an image.
    dtype : float dtype, optional
        As in :func:`read_image`.

    Returns
    -------
    image : ndarray
    info : ImageInfo
        With ``spacing`` set.

    Raises
    ------
    DeconvkitError
        The file has no spacing metadata and none was given, or ``spacing`` has the wrong length.
    """
    image, info = read_image(path, dtype=dtype)
    ndim = _spatial_ndim(image.shape, info.channel_axis)
    if spacing is not None:
        chosen = _check_spacing_values(spacing, ndim, "spacing")
    elif info.spacing is not None:
        chosen = info.spacing
    else:
        raise DeconvkitError(
            f"{info.path}: the voxel spacing is unknown (no OME-TIFF PhysicalSize or ImageJ resolution/spacing "
            f"metadata); pass spacing={'(dz, dy, dx)' if ndim == 3 else '(dy, dx)'} in micrometres")
    return image, dataclasses.replace(info, spacing=chosen)


def _output_dtype(fmt: str, array: np.ndarray, like, dtype) -> np.dtype:
    """The dtype to store: ``dtype``, else the source's (``like``), else the array's, fitted to the format."""
    if dtype is not None:
        chosen = np.dtype(dtype)
        if chosen.name not in _ALLOWED_DTYPES[fmt]:
            raise DeconvkitError(
                f"dtype={chosen} cannot be written as {fmt.upper()}; allowed: {', '.join(_ALLOWED_DTYPES[fmt])}")
        return chosen
    source = np.dtype(getattr(like, "dtype", like)) if like is not None else array.dtype
    if source == bool:
        source = np.dtype(np.uint8)
    if source.name in _ALLOWED_DTYPES[fmt]:
        return source
    if fmt == "png" and source.kind in "iu":
        return np.dtype(np.uint16)  # keep as many bits as PNG can
    if fmt in ("tiff", "npy"):  # only exotic dtypes (float128, int64) get here
        return np.dtype(np.float64 if source.kind == "f" else np.int32)
    return np.dtype(np.uint8)


def _convert(array: np.ndarray, target: np.dtype) -> np.ndarray:
    if array.dtype == target:
        return array
    if target.kind == "f":
        return _to_float(array, target)
    values = _to_float(array, np.float64) if array.dtype.kind in "biu" else array.astype(np.float64)
    if not np.isfinite(values).all():
        raise DeconvkitError(f"the image contains NaN or Inf values, which {target} cannot store; "
                             "write a float TIFF or clean the data first")
    info = np.iinfo(target)
    low = -1.0 if info.min < 0 else 0.0
    return np.rint(np.clip(values, low, 1.0) * info.max).astype(target)


def _check_shape(fmt: str, array: np.ndarray, path: str) -> None:
    if fmt in ("png", "jpeg"):
        channels = (1, 3) if fmt == "jpeg" else (1, 2, 3, 4)
        if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in channels)):
            raise DeconvkitError(
                f"cannot write {path}: {fmt.upper()} holds one 2-D image with {channels} channels (last axis), "
                f"got shape {array.shape}; write stacks to .tif")


def _tiff_spacing_kwargs(data: np.ndarray, colour: bool, spacing) -> dict:
    """tifffile keywords storing ``spacing`` (um): ImageJ metadata where ImageJ can hold the data (grey
    uint8/uint16/float32, what Fiji reads without Bio-Formats), OME-XML otherwise."""
    spatial = data.ndim - colour
    axes = ("ZYX" if spatial == 3 else "YX") + ("S" if colour else "")
    dy, dx = spacing[-2:]
    if not colour and data.dtype.name in ("uint8", "uint16", "float32"):
        metadata = {"axes": axes, "unit": "um"}
        if spatial == 3:
            metadata["spacing"] = spacing[0]
        return {"imagej": True, "resolution": (1.0 / dx, 1.0 / dy), "metadata": metadata}
    metadata = {"axes": axes, "PhysicalSizeX": dx, "PhysicalSizeXUnit": "µm", "PhysicalSizeY": dy,
                "PhysicalSizeYUnit": "µm"}
    if spatial == 3:
        metadata.update(PhysicalSizeZ=spacing[0], PhysicalSizeZUnit="µm")
    return {"ome": True, "metadata": metadata}


def _encode(tmp: str, fmt: str, data: np.ndarray, channel_axis, spacing=None) -> None:
    if fmt == "npy":
        np.save(tmp, data, allow_pickle=False)
    elif fmt == "tiff":
        import tifffile

        colour = channel_axis is not None and data.ndim >= 3 and data.shape[-1] in (3, 4)
        extra = _tiff_spacing_kwargs(data, colour, spacing) if spacing is not None else {}
        tifffile.imwrite(tmp, data, photometric="rgb" if colour else "minisblack", **extra)
    elif fmt == "png" and data.dtype == np.uint16 and data.ndim == 3 and data.shape[-1] > 1:
        try:
            import cv2
        except ImportError:
            raise DeconvkitError("writing a 16-bit colour PNG needs OpenCV (pip install "
                                 "opencv-python-headless); write .tif or pass dtype='uint8'") from None
        if data.shape[-1] >= 3:
            data = data[..., [2, 1, 0, 3][:data.shape[-1]]]  # OpenCV expects BGR(A)
        if not cv2.imwrite(tmp, np.ascontiguousarray(data)):
            raise DeconvkitError("OpenCV could not encode the PNG")
    else:
        import imageio.v3 as iio

        if data.ndim == 3 and data.shape[-1] == 1:
            data = data[..., 0]
        kwargs = {"quality": 95} if fmt == "jpeg" else {}
        iio.imwrite(tmp, data, plugin="pillow", extension=FORMATS[fmt][0], **kwargs)


def write_image(path, array, *, like=None, dtype=None, overwrite: bool = False, spacing=None) -> None:
    """Write ``array`` to a PNG, JPEG, TIFF or NPY file (chosen by the extension), atomically.

    Parameters
    ----------
    path : str or path-like
        Destination; its folder must exist.
    array : ndarray
        Float image (values in [0, 1] map to the full integer range), or integer data written as is when
        the target dtype matches. Colour channels last; TIFF and NPY also take stacks.
    like : ImageInfo or dtype, optional
        Write with this stored dtype (the input's bit depth), fitted to the format: PNG keeps 8/16 bits,
        JPEG is always 8-bit, a float source written to PNG/JPEG becomes uint8.
    dtype : dtype, optional
        Explicit stored dtype; overrides ``like``. Must be one the format can hold (PNG: uint8/uint16,
        JPEG: uint8, TIFF/NPY: 8-32-bit integers and float16/32/64).
    overwrite : bool, default False
        Replace an existing file. Without it an existing ``path`` raises :class:`FileExistsError`.
    spacing : sequence of float, optional
        Voxel spacing in micrometres per spatial axis, stored in TIFF metadata (ImageJ or OME, see the
        module notes). Default: ``like.spacing`` when ``like`` describes an array of this shape, so a
        restored stack keeps its input's spacing. Other formats cannot store it (a warning if given).

    Notes
    -----
    Conversion to integers rounds ``clip(x, 0, 1) * max`` (``[-1, 1]`` for signed types); floats are
    written unclipped, and NaN/Inf only to float formats. JPEG is written at quality 95; 16-bit colour PNG
    needs OpenCV (Pillow has no such mode). The data is encoded into a temporary file next to ``path`` and renamed over it only
    when complete; on any error the temporary file is removed and ``path`` is left as it was.
    """
    path = os.fspath(path)
    fmt = _format_from_extension(path)
    if fmt is None:
        raise DeconvkitError(f"cannot write {path}: unknown extension (supported: {_supported_extensions()})")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot write {path}: it is a folder")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True (CLI: --overwrite) to replace it")
    array = np.asarray(array)
    if array.dtype.kind not in "biuf" or array.size == 0:
        raise DeconvkitError(f"cannot write {path}: need a non-empty real array, got dtype {array.dtype} "
                             f"and shape {array.shape}")
    _check_shape(fmt, array, path)
    target = _output_dtype(fmt, array, like, dtype)
    data = _convert(array, target)
    if like is not None and getattr(like, "shape", None) == array.shape:
        channel_axis = like.channel_axis
    else:  # a last axis of 3 or 4 is colour; stacks have their image width last
        channel_axis = -1 if array.ndim in (3, 4) and array.shape[-1] in (3, 4) else None
    if spacing is not None:
        spacing = _check_spacing_values(spacing, _spatial_ndim(array.shape, channel_axis), "spacing")
        if fmt != "tiff":
            warnings.warn(f"{path}: {fmt.upper()} cannot store the voxel spacing; write .tif to keep it",
                          stacklevel=2)
            spacing = None
    elif fmt == "tiff" and like is not None and getattr(like, "shape", None) == array.shape:
        spacing = getattr(like, "spacing", None)

    suffix = FORMATS[fmt][0] if fmt == "npy" else os.path.splitext(path)[1]
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=f".tmp{suffix}")
    os.close(handle)
    try:
        try:
            _encode(tmp, fmt, data, channel_axis, spacing)
        except (OSError, MemoryError):
            raise
        except DeconvkitError as exc:
            raise DeconvkitError(f"cannot write {path}: {exc}") from exc
        except Exception as exc:
            raise DeconvkitError(f"cannot write {path} as {fmt.upper()}: {_first_line(exc)}") from exc
        os.chmod(tmp, 0o666 & ~_UMASK)
        _move_into_place(tmp, path, overwrite)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _move_into_place(tmp: str, path: str, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        # A hard link fails if ``path`` appeared meanwhile, where a rename would silently replace it.
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists; pass overwrite=True (CLI: --overwrite) to replace it")
    except OSError:  # file systems without hard links
        if os.path.exists(path):
            raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it") from None
        os.replace(tmp, path)


def read_psf(path) -> np.ndarray:
    """Read a PSF file as a float64 array (not normalised; :func:`deconvkit.psf.load` does that).

    Colour files are averaged over their colour channels, and an alpha channel is dropped, since a PSF
    has one value per pixel.
    """
    image, info = read_image(path, dtype=np.float64)
    if info.channel_axis is not None:
        channels = image.shape[-1]
        colour = image[..., : 3 if channels >= 3 else 1]  # drop alpha (4th channel, or 2nd of grey+alpha)
        image = colour.mean(axis=-1)
    return image
