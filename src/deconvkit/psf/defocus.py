"""Out-of-focus blur: a uniform disk with exact pixel-area anti-aliasing (``fspecial('disk')``)."""

from __future__ import annotations

import math

import numpy as np

from ._registry import Param, check_scalar, register_psf

__all__ = ["defocus"]


def _quadrant_area(x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
    """Area of the disk of ``radius`` (centred at 0) inside the rectangle between (0, 0) and (x, y), signed.

    It is an antiderivative in both x and y of the disk's indicator, so the area inside any axis-aligned
    rectangle is a 2-D difference of it. For ``x, y >= 0`` it is the integral over ``[0, x']`` of
    ``min(y', sqrt(r^2 - t^2))`` with ``x' = min(x, r)``, ``y' = min(y, r)``, in closed form.
    """
    sign = np.sign(x) * np.sign(y)
    x = np.minimum(np.abs(x), radius)
    y = np.minimum(np.abs(y), radius)
    r2 = radius * radius

    def circle_integral(t):  # integral of sqrt(r^2 - s^2) for s from 0 to t
        return 0.5 * (t * np.sqrt(np.clip(r2 - t * t, 0.0, None)) + r2 * np.arcsin(np.clip(t / radius, -1, 1)))

    # Beyond x_cross the circle is below the rectangle's top edge y.
    x_cross = np.minimum(np.sqrt(np.clip(r2 - y * y, 0.0, None)), x)
    area = x_cross * y + circle_integral(x) - circle_integral(x_cross)
    return sign * area


@register_psf("defocus", aliases=("disk",), params=[
    Param("radius", float, help="disk radius in pixels"),
])
def defocus(radius) -> np.ndarray:
    """Uniform disk of ``radius`` pixels; each pixel weighs the exact area of its square inside the disk.

    Parameters
    ----------
    radius : float
        Disk radius in pixels, > 0 and <= 1000.

    Returns
    -------
    psf : (k, k) float64 ndarray
        ``k = 2 * ceil(radius - 0.5) + 1``, the smallest odd square holding the disk (as MATLAB's
        ``fspecial('disk')``; a ring of all-zero pixels would only cost FFT padding), centred at
        ``k // 2``, summing to 1. Radii up to 0.5 give a 1x1 delta.

    Notes
    -----
    Areas come from the closed-form integral of the circle over each pixel square, exact to rounding.
    MATLAB's ``fspecial('disk')`` approximates some pixels (the centre gets ``min(pi r^2, pi/2)`` and
    edge pixels cut by the circle twice are approximated), so values can differ from it by a few percent
    on those pixels.

    Examples
    --------
    >>> psf = defocus(1.0)
    >>> psf.shape, round(float(psf.sum()), 12), bool(np.allclose(psf, psf.T))
    ((3, 3), 1.0, True)
    """
    radius = check_scalar(radius, "defocus radius")
    half = max(0, math.ceil(radius - 0.5))
    if half == 0:
        # The whole disk lies in the centre pixel: a delta. (Computing it would divide the disk's area by
        # itself, which underflows to 0 / 0 = NaN for radii near 1e-300.)
        return np.ones((1, 1))
    edges = np.arange(-half - 0.5, half + 1.0)
    area = _quadrant_area(edges[:, None], edges[None, :], radius)
    pixels = area[1:, 1:] - area[:-1, 1:] - area[1:, :-1] + area[:-1, :-1]
    pixels = np.clip(pixels, 0.0, None)  # rounding can leave -1e-16 outside the disk
    return pixels / pixels.sum()
