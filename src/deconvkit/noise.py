"""Noise estimation from a single (blurred) image, never looking at the sharp image."""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["estimate_noise"]

# median(|N(0,1)|): converts a median absolute deviation into a standard deviation.
_MAD_TO_SIGMA = 0.6744897501960817


def estimate_noise(image, *, channel_axis=None) -> float:
    """Estimate the standard deviation of additive white Gaussian noise.

    Uses the finest-scale "all-high" Haar wavelet band (differences along every axis) and the median
    absolute deviation (Donoho & Johnstone 1994). Blur removes almost all image energy from that band, so on
    blurred images it sees mostly noise; the median ignores the few edges that survive.

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
    d = image.ndim
    even = tuple(slice(0, (n // 2) * 2) for n in image.shape)
    image = image[even]
    detail = np.zeros(tuple(n // 2 for n in image.shape))
    for corner in itertools.product((0, 1), repeat=d):
        sign = -1.0 if sum(corner) % 2 else 1.0
        detail += sign * image[tuple(slice(c, None, 2) for c in corner)]
    # orthonormal Haar: each coefficient is the signed sum of 2^d pixels divided by 2^(d/2)
    detail /= 2.0 ** (d / 2)
    return float(np.median(np.abs(detail)) / _MAD_TO_SIGMA)
