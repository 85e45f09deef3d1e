"""Reading and writing images (PNG, JPEG, TIFF, NPY) with bit depth kept and atomic, no-clobber writes.

Conventions
-----------
* :func:`read_image` returns ``(array, info)``. Integer images are scaled to float in [0, 1] (signed integers
  to [-1, 1], the most negative value of a full-range signed type one step below) by dividing by their
  *intensity scale* (:func:`intensity_scale`): the dtype's maximum for 8-bit
  data, and for wider integers the smallest common sensor range that holds the data (8, 10, 12, 14, 16, 20,
  24, 32... bits), so 12-bit camera data in a uint16 or uint32 TIFF reads as [0, 1] like any other image,
  and int64 arrays (NumPy's default integer) keep their values. Float images are returned as float,
  unscaled. The array is float32 for data of up to 16 bits and for float16/float32 files (float32 holds them
  exactly), float64 for wider integers and float64 files. ``info`` (:class:`ImageInfo`) remembers the stored
  dtype, the scale and whether the last channel is alpha.
* :func:`write_image` with ``like=info`` writes in the input's bit depth *and scale*: a 12-bit image comes
  back as 12-bit values. Conversion of floats to an integer dtype multiplies by the scale, rounds and clips;
  this is the ONLY place values are clipped. Integer arrays are written as they are when they fit the
  target dtype. Floats are written as floats to TIFF and NPY; PNG and JPEG cannot store floats, so a float
  image goes to the source bit depth (``like``) or to uint8.
* :func:`encode_image` makes the bytes :func:`write_image` would write, in memory (for an HTTP response or
  an upload), and :func:`decode_image` reads such bytes back as :func:`read_image` reads the file.
* Colour images have their channel axis last: ``(rows, cols, channels)``, and TIFF stacks are
  ``(pages, rows, cols[, channels])``. Planar TIFFs are moved to channels-last on read; palette images are
  expanded to RGB; CMYK JPEGs and TIFFs are converted to RGB (``info.mode`` says ``"CMYK"``).
* Alpha is data, not colour: ``info.alpha`` says the last channel is alpha; :func:`split_alpha` takes it
  aside before processing and :func:`merge_alpha` puts it back, so it is written back untouched.
* Writes go to a short hidden temporary file (``.deconvkit-PID-XXXXXXXX.tmp``) in the destination folder,
  then are renamed into place, so a crash or an error never leaves a partial file, and an existing file is
  never replaced unless ``overwrite=True``. The temporary file is removed on errors, Ctrl-C, SIGTERM and
  SIGHUP; one left by a run killed with SIGKILL is removed by the next write into that folder.
* Voxel spacing (micrometres, one value per spatial axis: ``(dz, dy, dx)`` or ``(dy, dx)``) is read from
  OME-TIFF (``PhysicalSizeX/Y/Z``) and ImageJ TIFF (resolution tags, ``spacing``, ``unit``) metadata into
  ``ImageInfo.spacing``, and written back as ImageJ metadata (uint8/uint16/float32 grey data, which Fiji
  opens directly) or OME-XML (other dtypes, colour). :func:`read_volume` insists on knowing it.
* Problems raise the precise :mod:`deconvkit.errors` class with one line naming the path:
  :class:`~deconvkit.errors.InputError` for files that cannot be read (a missing file is an
  :class:`~deconvkit.errors.InputNotFoundError`, also a :class:`FileNotFoundError`),
  :class:`~deconvkit.errors.OutputError` for files that cannot be written (disk full included), and
  :class:`~deconvkit.errors.MemoryLimitError` for data over the in-memory limit. The underlying library
  error is chained, not lost.
"""

from __future__ import annotations

import dataclasses
import errno
import math
import os
import re
import secrets
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

# The intensity rule lives in _shared so that deconvolve() on an integer array and read_image() of the same
# integers in a file divide by the same scale; io re-exports it as part of its documented API.
from ._shared import MAX_PIXELS, intensity_scale
from .errors import (
    DeconvkitError,
    InputError,
    InputNotFoundError,
    MemoryLimitError,
    OutputError,
    OutputExistsError,
    OutputFolderError,
    OutputIsFolderError,
    OutputPermissionError,
    OutputWriteError,
    ParameterError,
)

__all__ = ["ImageInfo", "read_image", "read_volume", "write_image", "encode_image", "decode_image", "read_psf",
           "FORMATS", "intensity_scale", "split_alpha", "merge_alpha", "AlphaSplit", "check_output_path",
           "remove_stale_temporaries", "tiff_spacing", "JpegCompression", "jpeg_compression"]

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
    "tiff": ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
             "float16", "float32", "float64"),
    "npy": ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
            "float16", "float32", "float64"),
}

# Files are created 0600 by mkstemp; give the final file the permissions a plain open() would.
_UMASK = os.umask(0)
os.umask(_UMASK)


@dataclass(frozen=True)
class JpegCompression:
    """What a JPEG file says about its own compression (read by :func:`jpeg_compression`).

    Attributes
    ----------
    tables : tuple of tuple of int
        The quantisation tables (64 steps each, row-major over the 8x8 DCT frequencies, in 8-bit grey
        levels), in the file's table order: table 0 serves the luminance (or grey), table 1 the chroma.
    subsampling : int
        Pillow's code for the chroma subsampling: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0, -1 = other/unknown.
    mode : str
        The decoded Pillow mode (``"L"``, ``"RGB"``, ``"CMYK"``...).
    orientation : int
        The EXIF orientation (1 = as stored) that :func:`read_image` applied to the pixels.
    """

    tables: tuple
    subsampling: int
    mode: str
    orientation: int = 1


def jpeg_compression(path) -> JpegCompression | None:
    """The quantisation tables, subsampling and orientation of a JPEG file; ``None`` if it has no tables.

    Only the header is read (Pillow decodes nothing until the pixels are asked for).
    """
    from PIL import Image, JpegImagePlugin

    with Image.open(os.fspath(path)) as opened:
        tables = getattr(opened, "quantization", None)
        if not tables:
            return None
        orientation = int(opened.getexif().get(0x0112, 1) or 1)
        return JpegCompression(tuple(tuple(int(v) for v in tables[key]) for key in sorted(tables)),
                               int(JpegImagePlugin.get_sampling(opened)), opened.mode, orientation)


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
    scale : float or None
        The stored value that was read as 1.0 (:func:`intensity_scale`); ``None`` for float data.
    alpha : bool
        The last channel is alpha (RGBA, grey+alpha); see :func:`split_alpha`.
    mode : str
        The file's colour model when it was converted on read (``"CMYK"``, ``"palette"``), else ``""``.
    spacing : tuple of float or None
        Voxel spacing in micrometres per spatial axis (``(dz, dy, dx)`` for a stack, ``(dy, dx)`` for an
        image), from OME or ImageJ TIFF metadata; ``None`` when the file does not say.
    jpeg : JpegCompression or None
        A JPEG's quantisation tables, chroma subsampling and EXIF orientation (:func:`jpeg_compression`),
        which :func:`deconvkit.noise.input_noise_sigma` needs; ``None`` for other formats.
    """

    path: str
    format: str
    dtype: np.dtype
    shape: tuple
    channel_axis: int | None = None
    scale: float | None = None
    alpha: bool = False
    mode: str = ""
    spacing: tuple | None = None
    jpeg: JpegCompression | None = None

    @property
    def bit_depth(self) -> int:
        """Bits of the storage dtype (16 for 12-bit data in a uint16 file)."""
        return self.dtype.itemsize * 8

    @property
    def significant_bits(self) -> int:
        """Bits the data uses (12 for 12-bit data in a uint16 file); the storage bits for float data."""
        if self.scale is None:
            return self.bit_depth
        return int(round(math.log2(self.scale + 1)))


class AlphaSplit(NamedTuple):
    """:func:`split_alpha`'s result: the colour part, the alpha channel (or None) and the colour's axis."""

    colour: np.ndarray
    alpha: np.ndarray | None
    channel_axis: int | None


def split_alpha(image: np.ndarray, info: ImageInfo) -> AlphaSplit:
    """Take the alpha channel aside, so that only colour is processed.

    Parameters
    ----------
    image : ndarray
        As returned by :func:`read_image` (channels last).
    info : ImageInfo
        Its info; ``info.alpha`` says whether the last channel is alpha.

    Returns
    -------
    AlphaSplit
        ``colour`` (grey+alpha gives a 2-D grey image), ``alpha`` (``(..., 1)``, or ``None`` without alpha)
        and ``channel_axis`` to process ``colour`` with (``-1`` for colour, ``None`` for grey).

    Examples
    --------
    >>> rgba = np.zeros((4, 5, 4)); rgba[..., 3] = 1
    >>> info = ImageInfo("x.png", "png", np.dtype("uint8"), rgba.shape, -1, 255.0, alpha=True)
    >>> colour, alpha, axis = split_alpha(rgba, info)
    >>> colour.shape, alpha.shape, axis
    ((4, 5, 3), (4, 5, 1), -1)
    >>> merge_alpha(colour, alpha).shape
    (4, 5, 4)
    """
    if not info.alpha or image.ndim < 3 or image.shape[-1] < 2:
        return AlphaSplit(image, None, info.channel_axis)
    colour, alpha = image[..., :-1], image[..., -1:]
    if colour.shape[-1] == 1:
        return AlphaSplit(colour[..., 0], alpha, None)
    return AlphaSplit(colour, alpha, -1)


def merge_alpha(colour: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Put back the alpha channel that :func:`split_alpha` took aside (``alpha=None`` returns ``colour``).

    The colour part is cast to the alpha's dtype if they differ, so the alpha values stay exactly as read.
    """
    if alpha is None:
        return colour
    colour = np.asarray(colour)
    if colour.ndim == alpha.ndim - 1:
        colour = colour[..., np.newaxis]
    if colour.shape[:-1] != alpha.shape[:-1]:
        raise ParameterError(f"colour of shape {colour.shape} does not match alpha of shape {alpha.shape}")
    return np.concatenate([colour.astype(alpha.dtype, copy=False), alpha], axis=-1)


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


def _to_float(data: np.ndarray, dtype=None, scale: float | None = None) -> np.ndarray:
    """Integers divided by their intensity scale (:func:`intensity_scale` unless given); floats unscaled."""
    if data.dtype == bool:
        data = data.astype(np.uint8) * np.uint8(255)
    if dtype is None:
        wide = data.dtype.itemsize > (2 if data.dtype.kind in "iu" else 4)
        dtype = np.float64 if wide else np.float32
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ParameterError(f"dtype={dtype} must be a float dtype")
    if data.dtype.kind in "iu":
        scale = intensity_scale(data) if scale is None else scale
        # Divide in float64 when the integers are wide: float32 would round them before the division.
        work = np.dtype(np.float64 if data.dtype.itemsize > 2 else dtype)
        return (data.astype(work) / work.type(scale)).astype(dtype, copy=False)
    return data.astype(dtype, copy=False)


def _read_png_16bit_colour(path: str) -> np.ndarray:
    # Pillow (imageio's PNG plugin) silently reduces 16-bit colour PNGs to 8 bits; OpenCV does not.
    try:
        import cv2
    except ImportError:
        raise InputError(
            f"{path} is a 16-bit colour PNG, which needs OpenCV to read without losing bits "
            "(pip install opencv-python-headless), or save it as TIFF") from None
    # (the chunk structure was checked by _read_pillow: libpng prints its complaints to stderr itself)
    data = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if data is None:
        raise InputError(f"cannot read {path}: OpenCV could not decode it")
    if data.ndim == 3:  # OpenCV orders colour channels BGR(A)
        data = data[..., [2, 1, 0, 3][:data.shape[-1]]]
    return data


def _check_png_chunks(path: str) -> None:
    """Every chunk complete with a correct CRC, up to IEND; else an InputError naming the first problem."""
    import zlib

    with open(path, "rb") as handle:
        content = handle.read()
    position = 8
    while True:
        if position + 12 > len(content):
            raise InputError(f"cannot read {path} as PNG: truncated (no IEND chunk)")
        length = int.from_bytes(content[position:position + 4], "big")
        kind = content[position + 4:position + 8]
        end = position + 12 + length
        if end > len(content):
            raise InputError(f"cannot read {path} as PNG: truncated {kind.decode('latin-1')!r} chunk")
        stored = int.from_bytes(content[end - 4:end], "big")
        if zlib.crc32(content[position + 4:end - 4]) != stored:
            raise InputError(f"cannot read {path} as PNG: {kind.decode('latin-1')!r} chunk fails its CRC check")
        if kind == b"IEND":
            return
        position = end


def _png_is_16bit_colour(path: str) -> bool:
    with open(path, "rb") as handle:
        header = handle.read(26)
    # IHDR follows the 8-byte signature: length, type, width, height, then bit depth and colour type.
    return len(header) == 26 and header[12:16] == b"IHDR" and header[24] == 16 and header[25] in (2, 4, 6)


def _read_tiff(path: str) -> tuple[np.ndarray, int | None, bool, str, tuple | None]:
    import logging

    import tifffile

    # tifffile logs damaged-file details to stderr itself; the InputError raised below says it once.
    tiff_logger = logging.getLogger("tifffile")
    level = tiff_logger.level
    tiff_logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tifffile warns on odd tags too; the data is what matters
            return _read_tiff_series(path, tifffile)
    finally:
        tiff_logger.setLevel(level)


def _read_tiff_series(path: str, tifffile) -> tuple[np.ndarray, int | None, bool, str, tuple | None]:
    with tifffile.TiffFile(path) as tif:
        series = tif.series
        if not series:
            raise InputError(f"cannot read {path}: not a valid TIFF file (no readable images)")
        first = series[0]
        _check_size(path, first.shape, len(series))
        page = first.pages[0] if first.pages else tif.pages[0]
        photometric = int(getattr(page, "photometric", 1))
        extrasamples = tuple(int(e) for e in getattr(page, "extrasamples", ()) or ())
        colormap = getattr(page, "colormap", None)
        same = [s for s in series if s.shape == first.shape and s.dtype == first.dtype]
        if len(series) > 1 and len(same) == len(series) and len(first.shape) == 2:
            # Pages written one by one (no stack metadata) appear as one series each: stack them.
            data, axes = np.stack([s.asarray() for s in series]), "I" + first.axes
        else:
            if len(series) > 1:
                warnings.warn(f"{path}: holds {len(series)} image series of different shapes; read the first",
                              stacklevel=4)
            data, axes = first.asarray(), first.axes
        spacing = None
        if axes == first.axes:  # one series (a stack of page-by-page series has no spacing metadata)
            try:
                spacing = _tiff_spacing(tif, axes)
            except Exception:  # metadata is advisory: a malformed tag must not make the pixels unreadable
                spacing = None
    channel_axis, alpha, mode = None, False, ""
    if "S" in axes:  # samples per pixel (colour), planar or not: always last
        data = np.moveaxis(data, axes.index("S"), -1)
        channel_axis = -1
        # ExtraSamples 1 and 2 are associated and unassociated alpha; 0 ("unspecified") is left as data.
        alpha = bool(extrasamples) and extrasamples[-1] in (1, 2)
    if photometric == 3 and colormap is not None and channel_axis is None:  # PALETTE: indices -> RGB
        data, channel_axis, mode = _expand_palette(path, data, np.asarray(colormap)), -1, "palette"
    elif photometric == 5 and channel_axis is not None and data.shape[-1] - int(alpha) == 4:  # SEPARATED
        data, mode = _cmyk_to_rgb(data, alpha), "CMYK"
    return data, channel_axis, alpha, mode, spacing


# Length units as OME and ImageJ spell them, in micrometres.
_UNITS = {"um": 1.0, "µm": 1.0, "μm": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
          "micrometre": 1.0, "\\u00b5m": 1.0, "nm": 1e-3, "nanometer": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6}


def _to_micrometres(value, unit) -> float | None:
    factor = _UNITS.get(str(unit).strip().lower()) if unit is not None else None
    if factor is None or value is None:
        return None
    number = float(value) * factor
    return number if math.isfinite(number) and number > 0 else None


def tiff_spacing(tif, axes: str) -> tuple | None:
    """Voxel spacing (um) per spatial axis of the series, or None unless every one of them is known.

    ``tif`` is an open ``tifffile.TiffFile`` and ``axes`` its series' axes (``tif.series[0].axes``); only
    the header is read, so lazy readers (``deconvkit.scale``) get the spacing :func:`read_image` reports.

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


_tiff_spacing = tiff_spacing  # the earlier private name, kept for callers


def _expand_palette(path: str, indices: np.ndarray, colormap: np.ndarray) -> np.ndarray:
    if indices.dtype.kind not in "iu" or colormap.ndim != 2 or colormap.shape[0] != 3:
        raise InputError(f"cannot read {path}: malformed TIFF palette")
    if indices.size and int(indices.max()) >= colormap.shape[1]:
        raise InputError(f"cannot read {path}: TIFF palette index out of range")
    rgb = np.moveaxis(colormap[:, indices], 0, -1)
    # TIFF palettes are 16-bit; most hold 8-bit colours stored as value * 257, which are 8-bit data.
    if rgb.dtype == np.uint16 and not (rgb % 257).any():
        return (rgb // 257).astype(np.uint8)
    return rgb


def _cmyk_to_rgb(data: np.ndarray, alpha: bool) -> np.ndarray:
    """Ink coverage to RGB, ``R = (1 - C)(1 - K)``: the conversion Pillow and most viewers apply without an
    ICC profile. Integer data stays integer of the same dtype; alpha is carried over unchanged."""
    inks = data[..., :4]
    if data.dtype.kind in "iu":
        top = np.iinfo(data.dtype).max
        white = top - inks.astype(np.float64)
        rgb = np.rint(white[..., :3] * white[..., 3:4] / top).astype(data.dtype)
    else:
        white = 1.0 - inks
        rgb = (white[..., :3] * white[..., 3:4]).astype(data.dtype)
    return np.concatenate([rgb, data[..., 4:]], axis=-1) if alpha else rgb


def _check_size(path: str, shape, count: int = 1) -> None:
    # Checked before decoding, so a huge file fails fast instead of exhausting memory.
    elements = math.prod(shape) * count
    if elements > MAX_PIXELS:
        raise MemoryLimitError(f"{path} holds {elements} values, more than the in-memory limit {MAX_PIXELS}; "
                               "crop or split it into tiles before reading")


def _check_pillow_size(path: str) -> None:
    """The in-memory limit for PNG/JPEG, from the header before decoding, in place of Pillow's own guard.

    Pillow calls any image over 179 million pixels a "decompression bomb" (an error, which read as a corrupt
    file, exit 3, for a real 15000x15000 panorama) and warns above 89 million; the limit that matters is
    deconvkit's: :data:`MAX_PIXELS` values, refused with :class:`MemoryLimitError` like TIFF and NPY.
    """
    from PIL import Image

    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < MAX_PIXELS:
        # Pillow warns above this and refuses above twice this: ours is checked below for everything up to it
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                width, height = opened.size
                bands = len(opened.getbands())
    except Image.DecompressionBombError as exc:  # over 2 * MAX_PIXELS pixels: over our limit too
        raise MemoryLimitError(f"{path} holds more values than the in-memory limit {MAX_PIXELS} "
                               f"({_first_line(exc)}); crop or split it into tiles before reading") from exc
    _check_size(path, (height, width), bands)


def _read_pillow(path: str, fmt: str) -> tuple[np.ndarray, int | None, bool, str]:
    mode = ""
    wide = fmt == "png" and _png_is_16bit_colour(path)
    if wide:
        # libpng (OpenCV's reader) prints its complaints about a damaged file to stderr itself, and
        # OpenCV then returns None: check the chunk structure first, so a damaged file gives our one line.
        _check_png_chunks(path)
    _check_pillow_size(path)
    if wide:
        data = _read_png_16bit_colour(path)
    elif fmt == "jpeg":
        data, mode = _read_jpeg(path)
    else:
        data, mode = _read_png(path)
    channel_axis = -1 if data.ndim == 3 else None
    # PNG holds grey, grey+alpha, RGB or RGBA: two or four channels always mean alpha.
    alpha = fmt == "png" and data.ndim == 3 and data.shape[-1] in (2, 4)
    return data, channel_axis, alpha, mode


def _read_png(path: str) -> tuple[np.ndarray, str]:
    import imageio.v3 as iio
    from PIL import Image

    with Image.open(path) as opened:
        if opened.mode in ("P", "PA"):
            # Expand the palette ourselves: imageio drops a palette's transparency (tRNS), losing the alpha.
            transparent = opened.mode == "PA" or "transparency" in opened.info
            return np.asarray(opened.convert("RGBA" if transparent else "RGB")), "palette"
    # imageio reads every other PNG mode (bilevel, 16-bit grey, LA, RGBA) with its bit depth kept.
    return iio.imread(path, plugin="pillow"), ""


def _read_jpeg(path: str) -> tuple[np.ndarray, str]:
    from PIL import Image, ImageOps

    with Image.open(path) as opened:
        # The EXIF orientation is applied, so the output (written without EXIF) looks the same.
        image = ImageOps.exif_transpose(opened)
        mode = image.mode
        if mode == "CMYK":
            # Pillow undoes Adobe's inverted CMYK when decoding; convert() then gives what viewers show.
            image = image.convert("RGB")
        elif mode not in ("L", "RGB"):
            image = image.convert("RGB")
        data = np.asarray(image)
    return data, ("CMYK" if mode == "CMYK" else "")


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
        Integer data divided by its intensity scale (:func:`intensity_scale`) to [0, 1] (signed: [-1, 1]);
        float data as stored. Colour channels last; palettes expanded, CMYK converted to RGB; an alpha
        channel is kept as the last channel (``info.alpha``; see :func:`split_alpha`).
    info : ImageInfo
        The stored dtype, scale, alpha flag and format, for :func:`write_image` ``like=``.

    Raises
    ------
    InputNotFoundError
        ``path`` does not exist (also a :class:`FileNotFoundError`).
    InputError
        A folder, an unsupported format, or a corrupt file (the message names the path).
    MemoryLimitError
        The file holds more values than the in-memory limit, or its decoding runs out of memory.

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
        raise InputNotFoundError(f"no such file: {path}")
    if os.path.isdir(path):
        raise InputError(f"{path} is a folder, not an image file")
    try:
        fmt = _sniff(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {_first_line(exc)}") from exc
    if fmt is None:
        expected = _format_from_extension(path)
        if expected is None:
            raise InputError(
                f"cannot read {path}: unsupported image format (supported: {_supported_extensions()})")
        raise InputError(f"cannot read {path}: not a valid {expected.upper()} file (corrupt or empty)")
    alpha, mode, spacing = False, "", None
    try:
        if fmt == "tiff":
            data, channel_axis, alpha, mode, spacing = _read_tiff(path)
        elif fmt == "npy":
            mapped = np.load(path, mmap_mode="r", allow_pickle=False)
            _check_size(path, mapped.shape)
            data, channel_axis = np.array(mapped), None
            del mapped
        else:
            data, channel_axis, alpha, mode = _read_pillow(path, fmt)
    except DeconvkitError:
        raise
    except MemoryError as exc:  # a header promising more than fits: one line, not a traceback
        raise MemoryLimitError(f"cannot read {path}: it does not fit in memory") from exc
    except Exception as exc:  # every decoder has its own exception types; report them in one line
        raise InputError(f"cannot read {path} as {fmt.upper()}: {_first_line(exc)}") from exc
    data = np.asarray(data)
    if data.dtype.kind not in "biuf" or data.size == 0:
        raise InputError(f"cannot read {path}: unsupported pixel data (dtype {data.dtype}, shape {data.shape})")
    if data.dtype.kind == "f" and data.dtype.itemsize > 8:
        data = data.astype(np.float64)  # float128 has no use here and no writer
    stored = np.dtype(np.uint8) if data.dtype == bool else data.dtype
    scale = intensity_scale(data)
    image = _to_float(data, dtype, scale)
    jpeg = jpeg_compression(path) if fmt == "jpeg" else None
    return image, ImageInfo(path, fmt, stored, image.shape, channel_axis, scale, alpha, mode, spacing, jpeg)


def _spatial_ndim(shape, channel_axis) -> int:
    return len(shape) - (channel_axis is not None)


def _check_spacing_values(spacing, ndim: int, what: str) -> tuple:
    values = tuple(np.atleast_1d(np.asarray(spacing, dtype=object)).tolist())
    if len(values) != ndim:
        raise ParameterError(f"{what}={spacing!r} needs {ndim} values (one per spatial axis, "
                             f"{'(dz, dy, dx)' if ndim == 3 else '(dy, dx)'} in micrometres)")
    out = []
    for v in values:
        try:
            number = float(v)
        except (TypeError, ValueError):
            raise ParameterError(f"{what}={spacing!r}: {v!r} is not a number") from None
        if not math.isfinite(number) or number <= 0:
            raise ParameterError(f"{what}={spacing!r}: every spacing must be finite and > 0")
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
        The file has no spacing metadata and none was given (:class:`~deconvkit.errors.InputError`), or
        ``spacing`` has the wrong length (:class:`~deconvkit.errors.ParameterError`).
    """
    image, info = read_image(path, dtype=dtype)
    ndim = _spatial_ndim(image.shape, info.channel_axis)
    if spacing is not None:
        chosen = _check_spacing_values(spacing, ndim, "spacing")
    elif info.spacing is not None:
        chosen = info.spacing
    else:
        raise InputError(
            f"{info.path}: the voxel spacing is unknown (no OME-TIFF PhysicalSize or ImageJ resolution/spacing "
            f"metadata); pass spacing={'(dz, dy, dx)' if ndim == 3 else '(dy, dx)'} in micrometres")
    return image, dataclasses.replace(info, spacing=chosen)


def _output_dtype(fmt: str, array: np.ndarray, like, dtype) -> np.dtype:
    """The dtype to store: ``dtype``, else the source's (``like``), else the array's, fitted to the format."""
    if dtype is not None:
        chosen = np.dtype(dtype)
        if chosen.name not in _ALLOWED_DTYPES[fmt]:
            raise OutputError(
                f"dtype={chosen} cannot be written as {fmt.upper()}; allowed: {', '.join(_ALLOWED_DTYPES[fmt])}")
        return chosen
    source = np.dtype(getattr(like, "dtype", like)) if like is not None else array.dtype
    if source == np.dtype(bool):
        source = np.dtype(np.uint8)
    if source.name in _ALLOWED_DTYPES[fmt]:
        return source
    if fmt == "png" and source.kind in "iu":
        return np.dtype(np.uint16)  # keep as many bits as PNG can
    if fmt in ("tiff", "npy"):  # only exotic dtypes (float128) get here
        return np.dtype(np.float64 if source.kind == "f" else np.int64)
    return np.dtype(np.uint8)


def _target_scale(target: np.dtype, like) -> float:
    """The stored value 1.0 maps to: the source's scale when writing ``like`` it in its own dtype (12-bit
    data goes back as 12-bit values), else the target dtype's maximum."""
    scale = getattr(like, "scale", None)
    if scale is not None and np.dtype(getattr(like, "dtype", None)) == target:
        return float(scale)
    return float(np.iinfo(target).max)


# values converted per block from floats to an integer type (float64 working memory: 8 MB)
_CONVERT_BLOCK = 1 << 20


def _convert(array: np.ndarray, target: np.dtype, like=None) -> np.ndarray:
    if array.dtype == target:
        return array
    if target.kind == "f":
        return _to_float(array, target)
    info = np.iinfo(target)
    if array.dtype.kind in "biu":
        data = array.astype(np.uint8) * np.uint8(255) if array.dtype == bool else array
        low, high = int(data.min()), int(data.max())
        if info.min <= low and high <= info.max:
            return data.astype(target)  # integers that fit are written as they are, never rescaled
        if low < 0 and info.min == 0:
            raise OutputError(f"the image holds negative integers (down to {low}), which {target} cannot "
                              "store; write a signed TIFF/NPY or convert the data first")
        # Too wide for the target: rescale the data's intensity range onto the target's.
        values = data.astype(np.float64) / intensity_scale(data)
        return np.rint(np.clip(values, -1.0 if info.min < 0 else 0.0, 1.0) * info.max).astype(target)
    if not np.isfinite(array).all():
        raise OutputError(f"the image contains NaN or Inf values, which {target} cannot store; "
                          "write a float TIFF or clean the data first")
    scale = _target_scale(target, like)
    # Signed types: [-1, 1], and one step below for the most negative value (-128 of int8 reads as
    # -128/127), so that full-range signed data round trips.
    low = max(-(scale + 1.0) if info.min < 0 else 0.0, info.min)
    # In float64 (the rounding of values * scale must not depend on the input's float type), one block of
    # at most _CONVERT_BLOCK values at a time: whole-image float64 temporaries of a 12 MP colour result
    # were 0.3 GB each and set the CLI's peak memory (docs/benchmarks.md, memory per method).
    flat = np.ascontiguousarray(array).reshape(-1)
    out = np.empty(flat.shape, dtype=target)
    work = np.empty(min(flat.size, _CONVERT_BLOCK), dtype=np.float64)
    for start in range(0, flat.size, _CONVERT_BLOCK):
        block = flat[start:start + _CONVERT_BLOCK]
        values = work[:block.size]
        np.multiply(block, scale, out=values, dtype=np.float64)
        np.rint(values, out=values)
        np.clip(values, low, scale, out=values)
        out[start:start + block.size] = values
    return out.reshape(array.shape)


def _check_shape(fmt: str, array: np.ndarray, what: str) -> None:
    if fmt in ("png", "jpeg"):
        channels = (1, 3) if fmt == "jpeg" else (1, 2, 3, 4)
        if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in channels)):
            raise OutputError(
                f"cannot {what}: {fmt.upper()} holds one 2-D image with {channels} channels (last axis), "
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


class _binary_output:
    """``target`` opened for binary writing when it is a path; a binary stream (``io.BytesIO``) as it is."""

    def __init__(self, target):
        self.target = target
        self.handle = None

    def __enter__(self):
        if hasattr(self.target, "write"):
            return self.target
        self.handle = open(self.target, "wb")
        return self.handle

    def __exit__(self, *exc_info):
        if self.handle is not None:
            self.handle.close()


def _encode(tmp, fmt: str, data: np.ndarray, channel_axis, spacing=None, alpha: bool | None = None) -> None:
    """Encode ``data`` into ``tmp``: a file whose name has no image extension (so the format is explicit),
    or a binary stream (:func:`encode_image`).

    ``alpha``: the last channel is (True) or is not (False) alpha; ``None`` when unknown, where TIFF takes
    tifffile's default (a fourth RGB channel is unassociated alpha, as in PNG).
    """
    if fmt == "npy":
        with _binary_output(tmp) as handle:
            np.save(handle, data, allow_pickle=False)
    elif fmt == "tiff":
        import tifffile

        colour = channel_axis is not None and data.ndim >= 3 and data.shape[-1] in (3, 4)
        kwargs = {}
        if alpha and channel_axis is not None and data.ndim >= 3 and data.shape[-1] in (2, 4):
            kwargs["extrasamples"] = ("unassalpha",)
            colour = data.shape[-1] == 4
        elif alpha is False and colour and data.shape[-1] == 4:
            kwargs["extrasamples"] = ("unspecified",)  # a fourth channel that was not alpha stays data
        if kwargs and not colour:  # grey+alpha: tell tifffile the last axis is samples
            kwargs["planarconfig"] = "contig"
        if spacing is not None:
            kwargs.update(_tiff_spacing_kwargs(data, colour, spacing))
        tifffile.imwrite(tmp, data, photometric="rgb" if colour else "minisblack", **kwargs)
    elif fmt == "png" and data.dtype == np.uint16 and data.ndim == 3 and data.shape[-1] > 1:
        try:
            import cv2
        except ImportError:
            raise OutputError("writing a 16-bit colour PNG needs OpenCV (pip install "
                              "opencv-python-headless); write .tif or pass dtype='uint8'") from None
        if data.shape[-1] >= 3:
            data = data[..., [2, 1, 0, 3][:data.shape[-1]]]  # OpenCV expects BGR(A)
        ok, encoded = cv2.imencode(".png", np.ascontiguousarray(data))
        if not ok:
            raise OutputError("OpenCV could not encode the PNG")
        with _binary_output(tmp) as handle:
            handle.write(encoded.tobytes())
    else:
        import imageio.v3 as iio

        if data.ndim == 3 and data.shape[-1] == 1:
            data = data[..., 0]
        kwargs = {"quality": 95} if fmt == "jpeg" else {}
        iio.imwrite(tmp, data, plugin="pillow", extension=FORMATS[fmt][0], **kwargs)


def check_output_path(path, *, overwrite: bool = False, extensions="images") -> str:
    """Check, before any work, that ``path`` can be written by :func:`write_image`; return it as a str.

    Checks that ``path`` names a file, its extension, that the folder exists and is writable, that ``path``
    is not a folder, that its name fits the file system and, unless ``overwrite``, that it does not exist
    yet. The CLI runs this for every output before it computes (``deconvkit.cli._common.check_outputs``
    adds the same-file checks against the inputs and the other outputs).

    Parameters
    ----------
    path : path-like
    overwrite : bool
        An existing file may be replaced.
    extensions : "images", tuple of str or None
        Accepted extensions (lower case, with the dot): ``"images"`` (default) those :func:`write_image`
        writes (:data:`FORMATS`); a tuple for a caller that writes the file itself; ``None`` accepts any.

    Raises
    ------
    OutputError
        Unknown extension, no file name, a name over 255 bytes. The subclasses say the rest and are also
        the matching built-ins: :class:`~deconvkit.errors.OutputFolderError` (:class:`FileNotFoundError`),
        :class:`~deconvkit.errors.OutputIsFolderError` (:class:`IsADirectoryError`),
        :class:`~deconvkit.errors.OutputPermissionError` (:class:`PermissionError`) and
        :class:`~deconvkit.errors.OutputExistsError` (:class:`FileExistsError`).
    """
    path = os.fspath(path)
    if not os.path.basename(path):
        raise OutputError(f"cannot write {path!r}: it names no file")
    if extensions == "images":
        extensions = tuple(e for names in FORMATS.values() for e in names)
    if extensions is not None and os.path.splitext(path)[1].lower() not in extensions:
        raise OutputError(f"cannot write {path}: unknown extension (supported: {', '.join(extensions)})")
    if os.path.isdir(path):
        raise OutputIsFolderError(f"cannot write {path}: it is a folder")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputFolderError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPermissionError(f"cannot write {path}: folder {folder} is not writable")
    if len(os.path.basename(path).encode()) > 255:
        raise OutputError(f"cannot write {path}: the file name is longer than 255 bytes")
    if os.path.lexists(path) and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass overwrite=True (CLI: --overwrite) to replace it")
    return path


class _Prepared(NamedTuple):
    data: np.ndarray  # in the stored dtype
    channel_axis: int | None
    alpha: bool | None  # None: unknown (the encoder's default)
    spacing: tuple | None


def _prepare(fmt: str, array, like, dtype, spacing, path: str | None) -> _Prepared:
    """What :func:`write_image` (``path``) and :func:`encode_image` (``path=None``) encode: the array checked
    for the format, converted to the stored dtype, with its channel axis, alpha flag and spacing."""
    what = f"write {path}" if path is not None else f"encode the image as {fmt.upper()}"
    array = np.asarray(array)
    if array.dtype.kind not in "biuf" or array.size == 0:
        raise OutputError(f"cannot {what}: need a non-empty real array, got dtype {array.dtype} "
                          f"and shape {array.shape}")
    _check_shape(fmt, array, what)
    target = _output_dtype(fmt, array, like, dtype)
    try:
        data = _convert(array, target, like)
    except OutputError as exc:
        raise OutputError(f"cannot {what}: {exc}") from None
    same_shape = like is not None and getattr(like, "shape", None) == array.shape
    if same_shape:
        channel_axis = like.channel_axis
    else:  # a last axis of 3 or 4 is colour; stacks have their image width last
        channel_axis = -1 if array.ndim in (3, 4) and array.shape[-1] in (3, 4) else None
    # Whether the last channel is alpha, when the source said (None: unknown, the encoder's default).
    alpha = bool(like.alpha) if same_shape and isinstance(like, ImageInfo) else None
    if spacing is not None:
        spacing = _check_spacing_values(spacing, _spatial_ndim(array.shape, channel_axis), "spacing")
        if fmt != "tiff":
            where, hint = (f"{path}: ", "write .tif") if path is not None else ("", "encode as TIFF")
            warnings.warn(f"{where}{fmt.upper()} cannot store the voxel spacing; {hint} to keep it", stacklevel=3)
            spacing = None
    elif fmt == "tiff" and same_shape:
        spacing = getattr(like, "spacing", None)
    return _Prepared(data, channel_axis, alpha, spacing)


def write_image(path, array, *, like=None, dtype=None, overwrite: bool = False, spacing=None) -> None:
    """Write ``array`` to a PNG, JPEG, TIFF or NPY file (chosen by the extension), atomically.

    Parameters
    ----------
    path : str or path-like
        Destination; its folder must exist.
    array : ndarray
        Float image (values in [0, 1] map to the full integer range, or to the source's scale with
        ``like``), or integer data, written as is when it fits the target dtype. Colour channels last;
        TIFF and NPY also take stacks.
    like : ImageInfo or dtype, optional
        Write with this stored dtype (the input's bit depth) and, for an :class:`ImageInfo`, its intensity
        scale and alpha flag, fitted to the format: PNG keeps 8/16 bits, JPEG is always 8-bit, a float
        source written to PNG/JPEG becomes uint8.
    dtype : dtype, optional
        Explicit stored dtype; overrides ``like``. Must be one the format can hold (PNG: uint8/uint16,
        JPEG: uint8, TIFF/NPY: 8-64-bit integers and float16/32/64).
    overwrite : bool, default False
        Replace an existing file. Without it an existing ``path`` raises
        :class:`~deconvkit.errors.OutputExistsError` (a :class:`FileExistsError`).
    spacing : sequence of float, optional
        Voxel spacing in micrometres per spatial axis, stored in TIFF metadata (ImageJ or OME, see the
        module notes). Default: ``like.spacing`` when ``like`` describes an array of this shape, so a
        restored stack keeps its input's spacing. Other formats cannot store it (a warning if given).

    Raises
    ------
    OutputError
        See :func:`check_output_path`; also a disk that is full (``path`` left as it was), and data the
        format cannot hold.

    Notes
    -----
    Conversion of floats to integers rounds ``clip(x, 0, 1) * scale`` (``[-1, 1]`` for signed types);
    integers too wide for the target are rescaled from their :func:`intensity_scale`; floats are written
    unclipped, and NaN/Inf only to float formats. JPEG is written at quality 95; 16-bit colour PNG needs
    OpenCV (Pillow has no such mode). The data is encoded into a short hidden temporary file next to
    ``path`` and renamed over it only when complete; on any error, Ctrl-C, SIGTERM or SIGHUP the temporary
    file is removed and ``path`` is left as it was. Temporary files of killed runs (SIGKILL) are removed by
    the next process's first write into the folder (:func:`remove_stale_temporaries`).
    """
    path = check_output_path(path, overwrite=overwrite)
    fmt = _format_from_extension(path)
    folder = os.path.dirname(os.path.abspath(path))
    data, channel_axis, alpha, spacing = _prepare(fmt, array, like, dtype, spacing, path)
    _check_free_space(path, folder, fmt, data)

    # Leftovers of killed runs predate this process: cleaning each folder once per process is enough, and
    # keeps a batch writing thousands of files into one folder from rescanning it for every file.
    if folder not in _CLEANED_FOLDERS:
        remove_stale_temporaries(folder)
        _CLEANED_FOLDERS.add(folder)
    tmp = _new_temporary_name(folder)
    # The name is registered and the signal handler installed *before* the file exists, and the file is
    # removed before the handler goes: a SIGTERM at any moment finds nothing of ours left behind.
    with _removed_on_signal(tmp):
        _create_exclusive(tmp, path)  # outside the try: if it fails, the name may be someone else's file
        try:
            try:
                # alpha only when set: _encode's (tmp, fmt, data, channel_axis, spacing) form is what hooks
                # and tests replace.
                _encode(tmp, fmt, data, channel_axis, spacing, **({} if alpha is None else {"alpha": alpha}))
            except OSError as exc:
                raise _output_os_error(path, exc) from exc
            except MemoryError:
                raise
            except OutputError as exc:
                raise OutputError(f"cannot write {path}: {exc}") from exc
            except Exception as exc:
                full = _find_errno(exc, (errno.ENOSPC, errno.EDQUOT, errno.EFBIG))
                if full is not None:
                    raise _output_os_error(path, full) from exc
                raise OutputError(f"cannot write {path} as {fmt.upper()}: {_first_line(exc)}") from exc
            os.chmod(tmp, 0o666 & ~_UMASK)
            _move_into_place(tmp, path, overwrite)
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass


def _format_from_name(format) -> str:
    """``"png"``, ``"jpeg"``, ``"tiff"``, ``"npy"`` or one of their extensions (``".jpg"``, ``"tif"``...)."""
    name = str(format).lower()
    for fmt, extensions in FORMATS.items():
        if name == fmt or name in extensions or "." + name in extensions:
            return fmt
    raise ParameterError(f"format={format!r} is not an image format deconvkit writes; allowed: "
                         f"{', '.join(FORMATS)} or an extension ({_supported_extensions()})")


def encode_image(array, format, *, like=None, dtype=None, spacing=None) -> bytes:
    """Encode ``array`` as the bytes of a PNG, JPEG, TIFF or NPY file, by :func:`write_image`'s rules.

    The bytes are those :func:`write_image` would write to a file of that format (same stored dtype,
    scaling, rounding, clipping, alpha and spacing metadata), made in memory: for an HTTP response or an
    upload, where a file would only be read back.

    Parameters
    ----------
    array : ndarray
        As for :func:`write_image`: a float image in [0, 1] (or the source's scale with ``like``), or
        integer data written as is when it fits; colour channels last; TIFF and NPY also take stacks.
    format : str
        ``"png"``, ``"jpeg"``, ``"tiff"`` or ``"npy"``, or an extension (``".png"``, ``".jpg"``, ``"tif"``...).
    like, dtype, spacing
        As for :func:`write_image`.

    Returns
    -------
    bytes
        The encoded file.

    Raises
    ------
    ParameterError
        An unknown ``format``.
    OutputError
        Data the format cannot hold (shape, dtype, NaN/Inf to an integer type), or an encoder failure.

    See Also
    --------
    decode_image : the bytes back to ``(array, info)``, as :func:`read_image` reads a file.

    Examples
    --------
    >>> data = encode_image(np.linspace(0, 1, 12).reshape(3, 4), "png", dtype="uint16")
    >>> data[:4]
    b'\\x89PNG'
    >>> image, info = decode_image(data)
    >>> info.format, info.dtype, float(image[-1, -1])
    ('png', dtype('uint16'), 1.0)
    """
    import io as _byte_streams

    fmt = _format_from_name(format)
    data, channel_axis, alpha, spacing = _prepare(fmt, array, like, dtype, spacing, None)
    stream = _byte_streams.BytesIO()
    try:
        _encode(stream, fmt, data, channel_axis, spacing, **({} if alpha is None else {"alpha": alpha}))
    except MemoryError:
        raise
    except OutputError as exc:
        raise OutputError(f"cannot encode the image as {fmt.upper()}: {exc}") from exc
    except Exception as exc:
        raise OutputError(f"cannot encode the image as {fmt.upper()}: {_first_line(exc)}") from exc
    return stream.getvalue()


def decode_image(data, *, dtype=None) -> tuple[np.ndarray, ImageInfo]:
    """Decode the bytes of a PNG, JPEG, TIFF or NPY file, as :func:`read_image` reads the file.

    The format is found from the first bytes. The decoders read files, so the bytes go through a private
    temporary file (in :func:`tempfile.gettempdir`), removed before this returns.

    Parameters
    ----------
    data : bytes-like
    dtype : float dtype, optional
        As for :func:`read_image`.

    Returns
    -------
    image : ndarray
    info : ImageInfo
        As from :func:`read_image`, with ``info.path`` ``"<bytes>"``.

    Raises
    ------
    InputError
        Not one of the four formats, or corrupt (the message says "the data" where :func:`read_image`'s
        names the file).
    MemoryLimitError
        More values than the in-memory limit.
    """
    import tempfile

    data = bytes(data)
    fmt = next((name for magic, name in _MAGIC if data.startswith(magic)), None)
    if fmt is None:
        raise InputError("cannot decode the data: it is not a PNG, JPEG, TIFF or NPY file (by its first bytes)")
    with tempfile.TemporaryDirectory(prefix="deconvkit-decode-") as folder:
        path = os.path.join(folder, "image" + FORMATS[fmt][0])
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            image, info = read_image(path, dtype=dtype)
        except DeconvkitError as exc:
            raise type(exc)(str(exc).replace(path, "the data")) from exc
    return image, dataclasses.replace(info, path="<bytes>")


def _new_temporary_name(folder: str) -> str:
    return os.path.join(folder, f"{_TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}{_TEMP_SUFFIX}")


def _create_exclusive(tmp: str, path: str) -> None:
    # O_EXCL: a name clash (a 1 in 2**32 chance) fails rather than sharing another writer's file.
    try:
        handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise _output_os_error(path, exc) from exc
    os.close(handle)


def _find_errno(exc: BaseException, codes) -> OSError | None:
    """The first OSError with one of ``codes`` in ``exc``'s chain (encoders wrap the OS error)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in codes:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _output_os_error(path: str, exc: OSError) -> OutputError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputWriteError(f"cannot write {path}: no space left on the device (nothing was written)")
    if exc.errno == errno.EFBIG:
        return OutputWriteError(
            f"cannot write {path}: file too large for the file system or the process limit (nothing was written)")
    if exc.errno is None and re.search(r"requested and \d+ written", str(exc)):
        # NumPy reports a short write (disk full, file-size limit) without an errno.
        return OutputWriteError(f"cannot write {path}: the write stopped short: no space left on the device "
                                "or a file-size limit reached (nothing was written)")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputPermissionError(f"cannot write {path}: {exc.strerror or exc}")
    return OutputWriteError(f"cannot write {path}: {exc.strerror or _first_line(exc)}")


def _check_free_space(path: str, folder: str, fmt: str, data: np.ndarray) -> None:
    # TIFF and NPY are written uncompressed, so their size is known: refuse before writing anything
    # rather than fill the disk. Compressed formats are caught by ENOSPC during the write.
    if fmt not in ("tiff", "npy"):
        return
    try:
        free = os.statvfs(folder)
    except (OSError, AttributeError):  # pragma: no cover - platforms without statvfs
        return
    available = free.f_bavail * free.f_frsize
    needed = data.nbytes + 65536
    if needed > available:
        raise OutputError(f"cannot write {path}: it needs about {needed / 2**20:.1f} MiB and the device has "
                          f"{available / 2**20:.1f} MiB free")


def _move_into_place(tmp: str, path: str, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        # A hard link fails if ``path`` appeared meanwhile, where a rename would silently replace it.
        os.link(tmp, path)
    except FileExistsError:
        raise OutputExistsError(
            f"{path} already exists; pass overwrite=True (CLI: --overwrite) to replace it") from None
    except OSError:  # file systems without hard links
        if os.path.exists(path):
            raise OutputExistsError(f"{path} already exists; pass overwrite=True to replace it") from None
        os.replace(tmp, path)


# -- temporary files: short names that are never mistaken for output, removed on signals and after kills --

# ``.deconvkit-PID-XXXXXXXX.tmp``: hidden, no image extension (a ``*.tif`` glob never picks one up), short
# (an output name of 250 characters still fits), and it names the writing process so a later run can tell
# a live writer's file from a dead one's.
_TEMP_PREFIX = ".deconvkit-"
_TEMP_SUFFIX = ".tmp"
_TEMP_PATTERN = re.compile(r"^\.deconvkit-(\d+)-[A-Za-z0-9_]+\.tmp$")
# Before version 0.2 temporary files were ``.NAME.XXXXXXXX.tmpEXT``; removed only when clearly abandoned.
_LEGACY_PATTERN = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp(\.[A-Za-z]+)?$")
# A dead writer's file may be removed once it has not changed for this long (a file system shared with
# another machine or container could hold a live writer whose PID we cannot see); anything untouched for
# STALE_AFTER_S is abandoned whoever wrote it.
DEAD_WRITER_GRACE_S = 10.0
STALE_AFTER_S = 24 * 3600.0

_LIVE_TEMPORARIES: set[str] = set()
_CLEANED_FOLDERS: set[str] = set()
_LIVE_LOCK = threading.Lock()
_HANDLED_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_PREVIOUS_HANDLERS: dict[int, object] = {}
_INSTALLED = [0]  # nesting depth of _removed_on_signal in the main thread


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, or a platform without signal 0: assume alive
    return True


def remove_stale_temporaries(folder, *, now: float | None = None) -> list[str]:
    """Remove temporary files that killed deconvkit writers left in ``folder``; return their paths.

    A file ``.deconvkit-PID-XXXXXXXX.tmp`` is removed when process PID is gone and the file has not changed
    for :data:`DEAD_WRITER_GRACE_S` seconds, or when it has not changed for :data:`STALE_AFTER_S` (a day).
    Files of live writers are left alone. :func:`write_image` calls this before its first write into a
    folder (once per process and folder).
    """
    now = time.time() if now is None else now
    removed = []
    own = os.getpid()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith("."):
            continue
        match = _TEMP_PATTERN.match(entry.name)
        legacy = match is None and _LEGACY_PATTERN.match(entry.name) is not None
        if match is None and not legacy:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if match is not None:
            pid = int(match.group(1))
            with _LIVE_LOCK:
                live_here = entry.path in _LIVE_TEMPORARIES
            dead = pid != own and not _pid_alive(pid)
            stale = age > STALE_AFTER_S or (dead and age > DEAD_WRITER_GRACE_S)
        else:
            stale = age > 3600.0  # an old-style name: only when clearly abandoned
            live_here = False
        if stale and not live_here:
            try:
                os.unlink(entry.path)
                removed.append(entry.path)
            except OSError:
                pass
    return removed


def _remove_live_temporaries() -> None:
    with _LIVE_LOCK:
        paths = list(_LIVE_TEMPORARIES)
    for tmp in paths:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _on_signal(signum, frame):
    """Remove the temporary files being written, then do what the signal would have done."""
    _remove_live_temporaries()
    previous = _PREVIOUS_HANDLERS.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        # The default action (terminate): restore it and re-deliver, so the exit status says "killed by
        # SIGTERM" exactly as without this handler.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


class _removed_on_signal:
    """Context manager: ``tmp`` is removed if SIGTERM/SIGHUP arrives while it is being written.

    Python runs signal handlers only in the main thread, so the handler is installed only there (and only
    around the write, so the application's own handlers are back as soon as the write ends). A write in
    another thread still registers its file, which a signal arriving during a main-thread write removes too;
    otherwise a leftover is removed by the next write into the folder.
    """

    def __init__(self, tmp: str):
        self.tmp = tmp
        self.installed = False

    def __enter__(self):
        with _LIVE_LOCK:
            _LIVE_TEMPORARIES.add(self.tmp)
        if threading.current_thread() is threading.main_thread():
            if _INSTALLED[0] == 0:
                try:
                    for signum in _HANDLED_SIGNALS:
                        _PREVIOUS_HANDLERS[signum] = signal.signal(signum, _on_signal)
                except (ValueError, OSError):  # pragma: no cover - embedded interpreters
                    pass
            _INSTALLED[0] += 1
            self.installed = True
        return self

    def __exit__(self, *exc_info):
        if self.installed:
            _INSTALLED[0] -= 1
            if _INSTALLED[0] == 0:
                for signum, previous in list(_PREVIOUS_HANDLERS.items()):
                    try:
                        signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
                    except (ValueError, OSError):  # pragma: no cover
                        pass
                _PREVIOUS_HANDLERS.clear()
        with _LIVE_LOCK:
            _LIVE_TEMPORARIES.discard(self.tmp)
        return False


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
