"""Noise estimation from a single (blurred) image, never looking at the sharp image."""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["estimate_noise", "grouped_median"]

# median(|N(0,1)|): converts a median absolute deviation into a standard deviation.
_MAD_TO_SIGMA = 0.6744897501960817


def grouped_median(values) -> float:
    """Median of non-negative ``values`` that may be quantised, interpolated within the median's class.

    8-bit images make the finest wavelet coefficients multiples of 0.5/255, so a plain median of their
    magnitudes can only take a few values: on the Levin captures it returns the same 0.5 grey level for
    every image. Treating each distinct value as a class spanning half-way to its neighbours and
    interpolating linearly inside the class that holds the middle rank (the textbook median of grouped
    data) recovers a continuous estimate; for continuous data it reduces to the ordinary median.
    """
    values = np.sort(np.ravel(np.asarray(values, dtype=np.float64)))
    n = values.size
    if n == 0:
        return 0.0
    # merge values that differ only by floating-point rounding (k / 255 computed in different orders)
    tolerance = 1e-9 * max(float(values[-1]), 1e-300)
    values = np.round(values / tolerance) * tolerance
    levels, counts = np.unique(values, return_counts=True)
    if levels.size == n:  # no ties: nothing to interpolate
        return float(np.median(values))
    if levels.size == 1:
        return float(levels[0])
    mids = (levels[1:] + levels[:-1]) / 2
    lower = np.concatenate([[max(levels[0] - (mids[0] - levels[0]), 0.0)], mids])
    upper = np.concatenate([mids, [levels[-1] + (levels[-1] - mids[-1])]])
    below = np.concatenate([[0], np.cumsum(counts)[:-1]])
    k = int(np.searchsorted(np.cumsum(counts), n / 2.0))
    k = min(k, levels.size - 1)
    fraction = (n / 2.0 - below[k]) / counts[k]
    return float(lower[k] + fraction * (upper[k] - lower[k]))


def _haar_finest_detail(image: np.ndarray) -> np.ndarray:
    """Orthonormal Haar "all-high" coefficients (differences along every axis) of non-overlapping blocks."""
    d = image.ndim
    even = tuple(slice(0, (n // 2) * 2) for n in image.shape)
    image = image[even]
    detail = np.zeros(tuple(n // 2 for n in image.shape))
    for corner in itertools.product((0, 1), repeat=d):
        sign = -1.0 if sum(corner) % 2 else 1.0
        detail += sign * image[tuple(slice(c, None, 2) for c in corner)]
    # each coefficient is the signed sum of 2^d pixels divided by 2^(d/2): unit gain for white noise
    return detail / 2.0 ** (d / 2)


def estimate_noise(image, *, channel_axis=None) -> float:
    """Estimate the standard deviation of additive white Gaussian noise.

    Uses the finest-scale "all-high" Haar wavelet band (differences along every axis) and the median
    absolute deviation (Donoho & Johnstone 1994), as ``skimage.restoration.estimate_sigma`` does. Blur
    removes almost all image energy from that band, so on blurred images it sees mostly noise; the median
    ignores the few edges that survive. Two refinements over the plain recipe:

    * all four (2-D; 2^d in n-D) block alignments are pooled, quadrupling the sample;
    * the median is taken as the median of grouped data (:func:`grouped_median`), so 8-bit quantised
      images give a continuous estimate instead of a multiple of half a grey level.

    Parameters
    ----------
    image : ndarray
        2-D or 3-D image (channels on ``channel_axis``); float in any range.
    channel_axis : int, optional
        If given, the estimate is the median over channels (parameters are shared across channels).

    Returns
    -------
    sigma : float
        Estimated noise standard deviation in the image's units.
    """
    image = np.asarray(image, dtype=np.float64)
    if channel_axis is not None:
        channels = np.moveaxis(image, channel_axis, 0)
        return float(np.median([estimate_noise(c) for c in channels]))
    shifts = itertools.product((0, 1), repeat=image.ndim)
    details = [_haar_finest_detail(image[tuple(slice(s, None) for s in shift)]).ravel()
               for shift in shifts if all(n - s >= 2 for n, s in zip(image.shape, shift))]
    magnitudes = np.abs(np.concatenate(details))
    return grouped_median(magnitudes) / _MAD_TO_SIGMA
