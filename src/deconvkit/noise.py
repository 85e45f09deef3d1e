"""Noise estimation from a single (blurred) image, never looking at the sharp image."""

from __future__ import annotations

import itertools
import math

import numpy as np

__all__ = ["estimate_noise", "grouped_median"]

# median(|N(0,1)|): converts a median absolute deviation into a standard deviation.
_MAD_TO_SIGMA = 0.6744897501960817


def grouped_median(values, *, overwrite: bool = False) -> float:
    """Median of non-negative ``values`` that may be quantised, interpolated within the median's class.

    8-bit images make the finest wavelet coefficients multiples of 0.5/255, so a plain median of their
    magnitudes can only take a few values: on the Levin captures it returns the same 0.5 grey level for
    every image. Treating each distinct value as a class spanning half-way to its neighbours and
    interpolating linearly inside the class that holds the middle rank (the textbook median of grouped
    data) recovers a continuous estimate; for continuous data it reduces to the ordinary median.
    ``overwrite=True`` lets it sort and round a float64 ``values`` in place.
    """
    values = np.ravel(np.asarray(values, dtype=np.float64))
    if overwrite:
        values.sort()  # the caller's scratch array: sorted and rounded in place (one copy less)
    else:
        values = np.sort(values)
    n = values.size
    if n == 0:
        return 0.0
    # merge values that differ only by floating-point rounding (k / 255 computed in different orders)
    tolerance = 1e-9 * max(float(values[-1]), 1e-300)
    np.divide(values, tolerance, out=values)
    np.round(values, out=values)
    np.multiply(values, tolerance, out=values)
    # the distinct levels and their counts, read off the sorted values (rounding kept them sorted); what
    # np.unique returns, without its sorted copy of all the values
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.not_equal(values[1:], values[:-1], out=starts[1:])
    if starts.all():  # no ties: nothing to interpolate; the median of sorted values is its middle
        middle = n // 2
        return float(values[middle] if n % 2 else (values[middle - 1] + values[middle]) / 2.0)
    first = np.flatnonzero(starts)  # index of each level's first value; the levels' counts are its gaps
    del starts
    count = first.size
    if count == 1:
        return float(values[0])

    def level(i):
        return values[first[i]]

    def mid(i):  # half-way between level i and level i + 1: the classes' edges
        return (level(i + 1) + level(i)) / 2

    # the class holding rank n / 2: the first whose cumulative count (first[k + 1], or n) reaches it
    k = min(int(np.searchsorted(first[1:], n / 2.0)), count - 1)
    lower = max(level(0) - (mid(0) - level(0)), 0.0) if k == 0 else mid(k - 1)
    upper = mid(k) if k < count - 1 else level(count - 1) + (level(count - 1) - mid(count - 2))
    end = first[k + 1] if k < count - 1 else n
    fraction = (n / 2.0 - first[k]) / (end - first[k])
    return float(lower + fraction * (upper - lower))


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
    # No float64 copy of the image: the Haar sums take each pixel times +-1 (exact in any float type) into
    # a float64 accumulator, so the coefficients are those of the float64 image; and the magnitudes of all
    # alignments go into one array that the median then sorts in place. Same values as pooling copies,
    # about half the memory (this ran at the start of every solve, at 40-90 bytes per value).
    image = np.asarray(image)
    if image.dtype.kind not in "biuf":
        image = np.asarray(image, dtype=np.float64)
    if channel_axis is not None:
        channels = np.moveaxis(image, channel_axis, 0)
        return float(np.median([estimate_noise(c) for c in channels]))
    shifts = [shift for shift in itertools.product((0, 1), repeat=image.ndim)
              if all(n - s >= 2 for n, s in zip(image.shape, shift))]
    sizes = [math.prod((n - s) // 2 for n, s in zip(image.shape, shift)) for shift in shifts]
    magnitudes = np.empty(sum(sizes), dtype=np.float64)
    start = 0
    for shift, size in zip(shifts, sizes):
        detail = _haar_finest_detail(image[tuple(slice(s, None) for s in shift)])
        np.abs(detail.ravel(), out=magnitudes[start:start + size])
        start += size
        del detail
    return grouped_median(magnitudes, overwrite=True) / _MAD_TO_SIGMA
