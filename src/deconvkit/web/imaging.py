"""Turning uploads into arrays and arrays into downloads, with the web app's limits.

Every file the client sends is written under a name chosen here (``image.png``, ``psf.tif``) inside the
job's temporary folder and read with :mod:`deconvkit.io`, so the bit depth and format are known and kept;
nothing the client names (file names, paths) is ever used as a path.
"""

from __future__ import annotations

import base64
import io as _bytes_io
import math
import os

import numpy as np

from ..errors import DeconvkitError, InputError, OutputError, ResourceError

# InputError is the library's own class (deconvkit.errors.InputError), re-exported so the web modules raise
# one error type with the CLI and the API; the web adds only the two kinds HTTP answers differently.
__all__ = ["InputError", "UnsupportedType", "TooLarge", "HTTP_STATUS", "http_status", "sniff", "decode_image",
           "decode_psf", "encode_like", "reduce", "display_png", "psf_png", "data_url", "EXTENSIONS"]

# The image types accepted (by content, not by the name or the declared type) and the extension each is
# stored under. NPY and NPZ are not images: a browser never sends them, and np.load is not an image decoder.
EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "tiff": ".tif"}
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
)
# A PSF wider than this many pixels per side is not a PSF but a mistaken upload.
MAX_PSF_SIDE = 1001


class UnsupportedType(InputError):
    """An upload that is not a PNG, JPEG or TIFF image (by its content): HTTP 415."""


class TooLarge(InputError, ResourceError):
    """An upload over the byte or pixel limit: input the client can fix, and a resource limit (HTTP 413)."""


# The HTTP status of every refused request, chosen by the error's class in this one place (the app's only
# DeconvkitError handler reads it): the first row the error is an instance of wins, so the most specific
# class comes first. ResourceError covers TooLarge and the library's MemoryLimitError (work too large for
# this server); an OutputError in the web app is the server failing to write its own temporary file (disk
# full), not something the client can fix. Everything else (InputError, PSFError, ParameterError) is 400.
HTTP_STATUS = (
    (UnsupportedType, 415),
    (ResourceError, 413),
    (OutputError, 500),
    (DeconvkitError, 400),
)


def http_status(exc: DeconvkitError) -> int:
    """The HTTP status a refused request is answered with (see :data:`HTTP_STATUS`).

    >>> http_status(TooLarge("big")), http_status(InputError("bad")), http_status(UnsupportedType("gif"))
    (413, 400, 415)
    """
    return next(status for cls, status in HTTP_STATUS if isinstance(exc, cls))


def sniff(data: bytes) -> str | None:
    """The image type of ``data`` by its first bytes (``png``, ``jpeg``, ``tiff``) or None."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return None


def _probe_pixels(path: str, fmt: str) -> int:
    """Rows x columns from the file header, before the pixels are decoded (a small file may decode huge)."""
    if fmt == "tiff":
        import tifffile

        with tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise InputError("no readable images")
            shape = tif.series[0].shape
            axes = tif.series[0].axes
        return math.prod(n for n, axis in zip(shape, axes) if axis not in "S")
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # the web app's own limit is checked below instead of Pillow's warning
    with Image.open(path) as handle:
        width, height = handle.size
    return width * height


def _store(data: bytes, workdir: str, role: str, what: str, max_bytes: int) -> tuple[str, str]:
    if not data:
        raise InputError(f"the {what} file is empty")
    if len(data) > max_bytes:
        raise TooLarge(f"the {what} file is {len(data) / 2**20:.1f} MiB; the limit is "
                       f"{max_bytes / 2**20:.1f} MiB")
    fmt = sniff(data[:8])
    if fmt is None:
        raise UnsupportedType(f"the {what} file is not a PNG, JPEG or TIFF image")
    path = os.path.join(workdir, role + EXTENSIONS[fmt])
    with open(path, "wb") as handle:
        handle.write(data)
    return path, fmt


def decode_image(data: bytes, workdir: str, *, max_bytes: int, max_pixels: int):
    """Check and decode an uploaded image.

    Returns
    -------
    image : ndarray
        2-D grey or ``(rows, cols, channels)`` colour, float (see :func:`deconvkit.io.read_image`).
    info : deconvkit.io.ImageInfo
        Format and stored dtype, for writing the result alike.

    Raises
    ------
    TooLarge, UnsupportedType, InputError
        Over the byte or pixel limit; not an accepted type; corrupt, or not a single 2-D image.
    """
    from .. import io

    path, fmt = _store(data, workdir, "image", "image", max_bytes)
    try:
        pixels = _probe_pixels(path, fmt)
    except Exception as exc:
        raise InputError(f"the image is not a valid {fmt.upper()} file (corrupt or truncated): "
                         f"{_reason(exc)}") from exc
    if pixels > max_pixels:
        raise TooLarge(f"the image has {pixels / 1e6:.1f} million pixels; the limit is "
                       f"{max_pixels / 1e6:.1f} million")
    try:
        image, info = io.read_image(path)
    except ResourceError as exc:  # a header promising more than fits: too large, not corrupt
        raise TooLarge(_reason(exc)) from exc
    except DeconvkitError as exc:
        raise InputError(f"the image is not a valid {fmt.upper()} file (corrupt or truncated): "
                         f"{_reason(exc)}") from exc
    if not (image.ndim == 2 or (image.ndim == 3 and info.channel_axis == -1 and image.shape[-1] <= 4)):
        raise InputError(f"the image has shape {image.shape}; the web app takes one 2-D grey or colour "
                         "image (use the command line for stacks)")
    if min(image.shape[:2]) < 8:
        raise InputError(f"the image is {image.shape[1]}x{image.shape[0]} pixels; at least 8x8 is needed")
    return image, info


def decode_psf(data: bytes, workdir: str, *, max_bytes: int) -> np.ndarray:
    """Check and load an uploaded PSF file (grey or colour image, normalised to sum 1)."""
    from .. import psf as psf_models

    path, fmt = _store(data, workdir, "psf", "PSF", max_bytes)
    try:
        if _probe_pixels(path, fmt) > MAX_PSF_SIDE**2:
            raise TooLarge(f"the PSF file is larger than {MAX_PSF_SIDE}x{MAX_PSF_SIDE} pixels")
        kernel = psf_models.load(path, name="the PSF file")
    except TooLarge:
        raise
    except DeconvkitError as exc:  # also the library's InputError/PSFError: their text names the temp path
        raise InputError(_reason(exc)) from exc
    except Exception as exc:
        raise InputError(f"the PSF file is not a valid {fmt.upper()} file: {_reason(exc)}") from exc
    if kernel.ndim != 2:
        raise InputError(f"the PSF file holds a {kernel.ndim}-D array; a 2-D PSF is needed")
    return kernel


def _reason(exc: BaseException) -> str:
    """The error's message with the temporary folder left out (it means nothing to the client)."""
    import re

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"\S*deconvkit-web-\S*?(image|psf)\.(png|jpg|tif)", r"the \1 file", text)


def encode_like(array: np.ndarray, info) -> tuple[bytes, str]:
    """Encode ``array`` in the format and bit depth of the upload described by ``info``.

    Returns the file's bytes and its extension.
    """
    from .. import io

    return io.encode_image(array, info.format, like=info), EXTENSIONS[info.format]


def reduce(array: np.ndarray, max_side: int) -> np.ndarray:
    """Block mean by the smallest integer factor that brings the longer side to at most ``max_side``."""
    factor = math.ceil(max(array.shape[:2]) / max_side)
    if factor <= 1:
        return array
    rows, cols = (array.shape[0] // factor) * factor, (array.shape[1] // factor) * factor
    trimmed = array[:rows, :cols]
    shape = (rows // factor, factor, cols // factor, factor) + array.shape[2:]
    return trimmed.reshape(shape).mean(axis=(1, 3), dtype=np.float32)


def display_png(array: np.ndarray, max_side: int, value_range=(0.0, 1.0)) -> bytes:
    """An 8-bit PNG of ``array`` for the page: downscaled, mapped from ``value_range``, alpha dropped."""
    import imageio.v3 as iio

    small = reduce(np.asarray(array), max_side)
    if small.ndim == 3 and small.shape[-1] in (2, 4):
        small = small[..., :-1]
    if small.ndim == 3 and small.shape[-1] == 1:
        small = small[..., 0]
    low, high = value_range
    scaled = (small.astype(np.float32) - low) / max(high - low, 1e-12)
    pixels = np.rint(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)
    return iio.imwrite("<bytes>", pixels, extension=".png")


def psf_png(kernel: np.ndarray) -> bytes:
    """The PSF as an 8-bit PNG scaled to its peak (the page enlarges it without smoothing)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    return display_png(kernel / kernel.max(), max(kernel.shape))


def psf_tiff(kernel: np.ndarray) -> bytes:
    """The PSF as a float32 TIFF: exact, and readable back as a PSF upload."""
    import tifffile

    buffer = _bytes_io.BytesIO()
    tifffile.imwrite(buffer, np.asarray(kernel, dtype=np.float32), photometric="minisblack")
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def display_range(image: np.ndarray, info) -> tuple[float, float]:
    """Integer files map [0, 1] to black-white; float files their own range (they may be in any units)."""
    if info.dtype.kind in "iu":
        return (-1.0 if info.dtype.kind == "i" else 0.0), 1.0
    low, high = float(np.min(image)), float(np.max(image))
    return low, (high if high > low else low + 1.0)
