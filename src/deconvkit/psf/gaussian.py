"""n-D Gaussian blur, pixel-integrated so that small sigmas are right."""

from __future__ import annotations

import math
from functools import reduce

import numpy as np
from scipy.special import ndtr

from .._shared import DeconvkitError
from ._registry import MAX_PSF_EXTENT, Param, check_scalar, register_psf

__all__ = ["gaussian", "TRUNCATE"]

# Default half-width in sigmas: the mass beyond 3.5 sigma is 5e-4 per axis, below what a deconvolution can
# tell apart from noise, and the kernel stays small.
TRUNCATE = 3.5

# Above this many elements a Gaussian PSF is almost surely a mistake (a 3-D sigma of hundreds of pixels).
_MAX_ELEMENTS = 2**27


def _axis_weights(sigma: float, size: int) -> np.ndarray:
    """Integral of the unit-mass 1-D Gaussian over each pixel ``[i - 0.5, i + 0.5]``, centre at size // 2."""
    offsets = np.abs(np.arange(size) - size // 2)
    if sigma == 0:
        return (offsets == 0).astype(np.float64)
    # Both bounds on the lower tail: the difference of two small numbers keeps its precision far out.
    return ndtr((0.5 - offsets) / sigma) - ndtr((-0.5 - offsets) / sigma)


def _per_axis(value, ndim: int, name: str) -> tuple:
    values = tuple(np.atleast_1d(np.asarray(value, dtype=object)).tolist())
    if len(values) == 1:
        values = values * ndim
    if len(values) != ndim:
        raise DeconvkitError(f"gaussian {name} has {len(values)} values, expected 1 or ndim={ndim}")
    return values


@register_psf("gaussian", params=[
    Param("sigma", float, help="standard deviation in pixels; several values: one per axis",
          sequence=True),
    Param("size", int, None, help="odd size per axis; auto: 2*ceil(3.5*sigma)+1", sequence=True),
    Param("ndim", int, None, help="number of dimensions; auto: len(sigma), or 2"),
])
def gaussian(sigma, size=None, ndim=None) -> np.ndarray:
    """Pixel-integrated n-D Gaussian PSF, anisotropic if ``sigma`` is a sequence.

    Each pixel holds the Gaussian's integral over its square (a product of ``erf`` differences), not the
    density at its centre, so a sigma well below a pixel still gives a correct, normalised kernel. The
    result's variance along an axis is therefore about ``sigma**2 + 1/12`` (a Gaussian convolved with the
    pixel box), slightly less when truncated.

    Parameters
    ----------
    sigma : float or sequence of float
        Standard deviation(s) in pixels, >= 0 and <= 500; one value for all axes or one per axis (row
        axis first). A sigma of 0 gives no blur along that axis.
    size : int or sequence of int, optional
        Odd kernel size per axis. Default ``2 * ceil(3.5 * sigma) + 1``: covers +-3.5 sigma, leaving out
        about 5e-4 of the mass per axis before renormalisation.
    ndim : int, optional
        Number of dimensions; defaults to ``len(sigma)`` for a sequence, else 2.

    Returns
    -------
    psf : float64 ndarray of shape ``size``, centred at ``k // 2`` on each axis, summing to 1.

    Examples
    --------
    >>> gaussian(1.0).shape, gaussian([1.0, 0.0]).shape, gaussian(0.5, ndim=3).shape
    ((9, 9), (9, 1), (5, 5, 5))
    """
    if ndim is None:
        ndim = len(sigma) if np.ndim(sigma) else 2
    if not isinstance(ndim, (int, np.integer)) or isinstance(ndim, bool) or not 1 <= ndim <= 8:
        raise DeconvkitError(f"gaussian ndim={ndim!r} must be an integer from 1 to 8")
    sigmas = [check_scalar(s, "gaussian sigma", inclusive=True, maximum=MAX_PSF_EXTENT / 2)
              for s in _per_axis(sigma, ndim, "sigma")]
    if size is None:
        sizes = [2 * math.ceil(TRUNCATE * s) + 1 for s in sigmas]
    else:
        sizes = []
        for k in _per_axis(size, ndim, "size"):
            if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1 or k % 2 == 0:
                raise DeconvkitError(f"gaussian size={size!r}: each size must be a positive odd integer "
                                     "(odd so the centre is a pixel)")
            sizes.append(int(k))
    if math.prod(sizes) > _MAX_ELEMENTS:
        raise DeconvkitError(f"gaussian PSF of shape {tuple(sizes)} is too large "
                             f"(more than {_MAX_ELEMENTS} elements); use a smaller sigma or size")
    axes = [_axis_weights(s, k) for s, k in zip(sigmas, sizes)]
    kernel = reduce(np.multiply.outer, axes)
    return kernel / kernel.sum()
