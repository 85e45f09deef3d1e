"""Shared validation, dtype policy, the integer-input rule and channel-axis handling.

Every public function casts once at entry with :func:`float_dtype` and validates with the helpers here, so
error messages name the parameter, the value and what is allowed, in one consistent wording.

Integer input rule (:func:`as_float_image`, used by :func:`deconvkit.blur`, :func:`deconvkit.deconvolve`,
:func:`deconvkit.estimate_psf` and so :func:`deconvkit.deblur`): an image given as an integer NumPy array
is divided by its *intensity scale* (:func:`intensity_scale`), the same rule :func:`deconvkit.io.read_image`
applies to integer files, so ``deconvolve(array)`` and ``deconvkit deblur array.npy`` see the same [0, 1]
values, the scale the parameter defaults (noise levels, weights) are meant for:

* 8-bit data (uint8, int8) is divided by the dtype's maximum (255, 127);
* wider integers (uint16, int16, uint32, int32, int64 - NumPy's default integer - ...) by the smallest of
  ``2**bits - 1`` for 8, 10, 12, 14, 16, 20, 24, 32, 48 and 64 bits that holds the largest magnitude in
  the data: 12-bit camera values in a uint16 or int64 array are divided by 4095, 8-bit values held in
  int64 by 255, full-range uint16 data by 65535. The container says little about the intensity range.

Signed data comes out in [-1, 1]. The result is float64 in that scale; it is not converted back to integers.
Float and boolean arrays, and Python sequences, are taken as the values they hold.
"""

from __future__ import annotations

import sys

import numpy as np

from .errors import DeconvkitError, InputError, MemoryLimitError, ParameterError, PSFError

__all__ = [
    "DeconvkitError",
    "float_dtype",
    "as_float_array",
    "as_float_image",
    "scale_for_peak",
    "intensity_scale",
    "check_psf",
    "move_channels_first",
    "restore_channel_axis",
    "MAX_PIXELS",
]

# A sanity cap for one image/stack (about 4 GiB of float32): beyond it a whole-array FFT solve is not
# what the user wants, and the error says so before any memory is allocated.
MAX_PIXELS = 2**30

# Sensor and file bit depths an integer image is scaled by, smallest first (see intensity_scale).
_COMMON_BITS = (8, 10, 12, 14, 16, 20, 24, 32, 48, 64)

# The same bound as deconvkit.psf.normalise applies to PSF files: measured PSFs carry small negative values
# from background subtraction, but one whose negative lobes hold more than this fraction of its positive
# mass is not a PSF (an edge filter, a difference of images) and would make the solvers diverge.
NEGATIVE_MASS_TOLERANCE = 0.01


def float_dtype(dtype) -> np.dtype:
    """Working dtype for an input dtype: float32 and float16 -> float32, everything else -> float64.

    This is scikit-image's ``_supported_float_type`` rule: float32 is accurate enough for deconvolution and
    twice as fast, so it is preserved; integers are promoted to float64 because they carry no precision hint.

    >>> float_dtype(np.float32), float_dtype(np.uint8), float_dtype(np.float16)
    (dtype('float32'), dtype('float64'), dtype('float32'))
    """
    dtype = np.dtype(dtype)
    if dtype in (np.float16, np.float32):
        return np.dtype(np.float32)
    if dtype.kind == "c":
        raise InputError(f"complex input (dtype {dtype}) is not supported; pass a real array")
    return np.dtype(np.float64)


def as_float_array(array, name: str = "image", *, ndim: tuple[int, ...] | None = None,
                   dtype=None, error: type[DeconvkitError] = InputError) -> np.ndarray:
    """Validate ``array`` and return it as a float array (no copy when already of the right dtype).

    Raises ``error`` (:class:`~deconvkit.errors.InputError` unless told, :class:`~deconvkit.errors.PSFError`
    for PSFs) for empty, non-finite, wrongly-dimensioned or degenerate input, and
    :class:`~deconvkit.errors.MemoryLimitError` for absurdly large input.
    """
    if not isinstance(array, np.ndarray):
        try:
            array = np.asarray(array)
        except Exception as exc:  # pragma: no cover - exotic objects
            raise error(f"{name} must be array-like, got {type(array).__name__}") from exc
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise error(f"{name} must be a real numeric array, got dtype {array.dtype}")
    if array.size == 0:
        raise error(f"{name} is empty (shape {array.shape})")
    if ndim is not None and array.ndim not in ndim:
        allowed = " or ".join(f"{d}-D" for d in ndim)
        raise error(f"{name} must be {allowed}, got {array.ndim}-D with shape {array.shape}")
    if array.size > MAX_PIXELS:
        raise MemoryLimitError(
            f"{name} has {array.size} elements, more than the in-memory limit {MAX_PIXELS}; "
            "split it into tiles (or a smaller region) and process them separately")
    out = array.astype(dtype or float_dtype(array.dtype), copy=False)
    if not np.isfinite(out).all():
        raise error(f"{name} contains NaN or Inf values")
    return out


def intensity_scale(data: np.ndarray) -> float | None:
    """The stored value that means "full intensity" (1.0) for integer image data; ``None`` for floats.

    8-bit data (and bilevel, stored as 0/255) uses the dtype's maximum. Wider integers use the smallest of
    8, 10, 12, 14, 16, 20, 24, 32, 48 and 64 bits (``2**bits - 1``, capped at the dtype's maximum) that holds
    the largest magnitude in the data: cameras store 10-, 12- and 14-bit data in 16-bit containers, and
    int64 is only NumPy's default, so the container says little about the intensity range. Reading and
    writing ``like=`` the same info use the same scale, so round trips stay exact whatever is chosen.

    Examples
    --------
    >>> intensity_scale(np.array([0, 4095], np.uint16)), intensity_scale(np.array([0, 4096], np.uint16))
    (4095.0, 16383.0)
    >>> intensity_scale(np.arange(256)), intensity_scale(np.array([0, 3], np.uint8))
    (255.0, 255.0)
    """
    if data.dtype == bool:
        return 255.0
    if data.dtype.kind not in "iu":
        return None
    if data.dtype.itemsize == 1 or data.size == 0:
        return float(np.iinfo(data.dtype).max)
    peak = int(data.max())
    if data.dtype.kind == "i":
        peak = max(peak, -int(data.min()))
    return scale_for_peak(data.dtype, peak)


def scale_for_peak(dtype, peak: int) -> float:
    """:func:`intensity_scale` for integer data of ``dtype`` whose largest magnitude is ``peak`` (for callers
    that find the peak themselves, e.g. in one pass over a lazy array)."""
    dtype = np.dtype(dtype)
    top = np.iinfo(dtype).max
    if dtype.itemsize == 1:
        return float(top)
    for bits in _COMMON_BITS:
        scale = min(2**bits - 1, top)
        if peak <= scale:
            return float(scale)
    return float(top)  # pragma: no cover - every value fits the dtype's maximum


def as_float_image(image, name: str = "image", *, ndim: tuple[int, ...] | None = None) -> np.ndarray:
    """:func:`as_float_array` for an image, with the integer input rule (see the module docstring).

    >>> as_float_image(np.array([[0, 51, 255]], dtype=np.uint8))
    array([[0. , 0.2, 1. ]])
    >>> as_float_image(np.array([[0, 819, 4095]]))  # int64 holding 12-bit values: divided by 4095
    array([[0. , 0.2, 1. ]])
    """
    integers = isinstance(image, (np.ndarray, np.generic)) and np.asarray(image).dtype.kind in "iu"
    out = as_float_array(image, name, ndim=ndim)  # validated first: the scale needs a non-empty array
    if integers:
        # as_float_array made a fresh float64 array from the integers: dividing in place costs no copy
        out /= intensity_scale(np.asarray(image))
    return out


def check_negative_mass(psf: np.ndarray, name: str = "psf") -> tuple[float, float]:
    """The positive and negative mass of a float PSF; a :class:`PSFError` when the negative values hold
    more than :data:`NEGATIVE_MASS_TOLERANCE` of the positive mass.

    One check and one message for :func:`check_psf` (arrays given to the API) and
    :func:`deconvkit.psf.normalise` (PSF files), so the two cannot drift apart.
    """
    positive = float(psf[psf > 0].sum())
    negative = float(-psf[psf < 0].sum())
    if positive > 0 and negative > NEGATIVE_MASS_TOLERANCE * positive:
        raise PSFError(
            f"{name} has negative values holding {negative / positive:.1%} of its positive mass "
            f"(at most {NEGATIVE_MASS_TOLERANCE:.0%} is allowed); is it really a PSF?")
    return positive, negative


def check_psf(psf, ndim: int, dtype, image_shape: tuple[int, ...] | None = None,
              name: str = "psf") -> np.ndarray:
    """Validate a PSF for a ``ndim``-D image and return it normalised to sum 1 in ``dtype``.

    The PSF may have fewer dimensions than the image only if it is then broadcast by the caller; here it
    must match ``ndim`` exactly. A zero-sum PSF cannot be normalised and is rejected rather than guessed at,
    and so is one whose negative values hold more than 1 % of its positive mass (smaller negative values,
    typical of background subtraction, are kept as given).
    """
    psf = as_float_array(psf, name, dtype=np.float64, error=PSFError)
    if psf.ndim != ndim:
        raise PSFError(f"{name} must be {ndim}-D to match the image, got shape {psf.shape}")
    check_negative_mass(psf, name)
    total = psf.sum()
    if not np.isfinite(total) or abs(total) < 1e-12:
        raise PSFError(f"{name} sums to {total:g}; a PSF must have a positive sum")
    if total < 0:
        raise PSFError(f"{name} sums to {total:g}; a PSF must have a positive sum")
    if image_shape is not None and any(k > n for k, n in zip(psf.shape, image_shape)):
        raise PSFError(f"{name} shape {psf.shape} is larger than the image shape {tuple(image_shape)}")
    return (psf / total).astype(dtype, copy=False)


def move_channels_first(image: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """Return a view with channels on axis 0 (a length-1 axis is added for grey images)."""
    if channel_axis is None:
        return image[np.newaxis]
    if not -image.ndim <= channel_axis < image.ndim:
        raise ParameterError(f"channel_axis={channel_axis} is out of range for an image of shape {image.shape}")
    return np.moveaxis(image, channel_axis, 0)


def restore_channel_axis(stack: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """Inverse of :func:`move_channels_first`."""
    if channel_axis is None:
        return stack[0]
    return np.moveaxis(stack, 0, channel_axis)


def tensor_device(obj):
    """The ``torch.device`` of ``obj`` if it is a torch tensor, else ``None``.

    Never imports torch: a tensor can only exist if its caller already imported it, and importing torch
    costs seconds at every CLI start.
    """
    module = sys.modules.get("torch")
    if module is not None and isinstance(obj, module.Tensor):
        return obj.device
    return None


def staged_progress(progress, stage: str, *, announce_only: bool = False):
    """A ``(done, total)`` callback that also names the ``stage`` to ``progress`` when it takes one.

    Long runs (blind deblurring of a photo) go through several stages, each with its own count; a
    callback with a ``stage`` keyword (the CLI's bar) shows which one is running, and a plain
    ``progress(done, total)`` keeps working unchanged. With ``announce_only`` (a stage that has no count
    of its own) a plain callback is not called at all, so its counts stay one consistent sequence.
    """
    if progress is None:
        return lambda done, total: None
    import inspect

    try:
        parameters = inspect.signature(progress).parameters.values()
        named = any(p.name == "stage" or p.kind is p.VAR_KEYWORD for p in parameters)
    except (TypeError, ValueError):  # builtins without a signature
        named = False
    if not named:
        return (lambda done, total: None) if announce_only else progress
    return lambda done, total: progress(done, total, stage=stage)
