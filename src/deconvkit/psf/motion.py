"""Linear motion blur with MATLAB ``fspecial('motion', len, theta)`` semantics."""

from __future__ import annotations

import math

import numpy as np

from .._shared import DeconvkitError
from ._registry import Param, check_scalar, register_psf

__all__ = ["motion"]


@register_psf("motion", params=[
    Param("length", float, help="blur length in pixels (<= 1: no blur)"),
    Param("angle", float, 0.0, help="degrees counter-clockwise from +x (image right); 90 is up"),
])
def motion(length, angle=0.0) -> np.ndarray:
    """Linear motion blur of ``length`` pixels at ``angle`` degrees, as MATLAB ``fspecial('motion')``.

    The kernel is a segment of ``length`` pixels through the centre, drawn one pixel wide and anti-aliased:
    a pixel at distance ``d`` from the segment gets weight ``max(0, 1 - d)``, where ``d`` is the distance to
    the segment's line, or to its nearest end point for pixels at least ``(length - 1) / 2`` from the centre.
    Along the axes this is exactly the pixel-integrated box of width ``length`` (so fractional lengths blur
    the end pixels partially); at other angles it is MATLAB's bilinear-style anti-aliasing.

    Parameters
    ----------
    length : float
        Length of the motion in pixels, > 0 and <= 1000. Lengths <= 1 give the identity (a 1x1 delta).
    angle : float, default 0
        Direction in degrees, counter-clockwise from the +x axis (image right). Image rows grow downwards,
        so ``angle=90`` is vertical and ``angle=45`` runs from bottom-left to top-right (the anti-diagonal
        of the array). Only ``angle mod 180`` matters: motion blur has no direction sign.

    Returns
    -------
    psf : (k, k) float64 ndarray
        Odd square array (MATLAB's possibly non-square result zero-padded around its centre), centred at
        ``k // 2``, summing to 1.

    Notes
    -----
    Differences from MATLAB: the result is padded to a square, and MATLAB's ``eps`` guards (which give
    pixels at distance exactly 1 a weight of about 2e-16) are left out, so those pixels are exactly 0.

    Examples
    --------
    >>> motion(3, 0)
    array([[0.        , 0.        , 0.        ],
           [0.33333333, 0.33333333, 0.33333333],
           [0.        , 0.        , 0.        ]])
    >>> motion(5, 90)[:, 2]
    array([0.2, 0.2, 0.2, 0.2, 0.2])
    """
    length = check_scalar(length, "motion length")
    try:
        angle = float(angle)
    except (TypeError, ValueError):
        raise DeconvkitError(f"motion angle must be a number in degrees, got {angle!r}") from None
    if not math.isfinite(angle):
        raise DeconvkitError(f"motion angle={angle!r} must be finite (degrees)")

    length = max(1.0, length)
    half = (length - 1.0) / 2.0
    phi = math.radians(angle % 180.0)
    cos_phi, sin_phi = math.cos(phi), math.sin(phi)
    x_sign = 1 if cos_phi >= 0 else -1
    eps = np.finfo(np.float64).eps
    # Extent of one half of the kernel (MATLAB's sx, sy): the end point plus one pixel of line width;
    # the eps term keeps 0 and 90 degrees from growing a spurious all-zero row or column.
    extent_x = abs(math.trunc(half * cos_phi + x_sign - length * eps))
    extent_y = math.trunc(half * sin_phi + 1.0 - length * eps)

    x, y = np.meshgrid(x_sign * np.arange(extent_x + 1.0), np.arange(extent_y + 1.0))
    across = y * cos_phi - x * sin_phi  # signed distance from the segment's line
    along = x * cos_phi + y * sin_phi  # position along the line (MATLAB writes (x + across*sin)/cos)
    beyond_end = (np.hypot(x, y) >= half) & (np.abs(across) <= 1.0)
    distance = np.abs(across)
    distance[beyond_end] = np.hypot(across[beyond_end], half - np.abs(along[beyond_end]))
    quadrant = np.clip(1.0 - distance, 0.0, None)

    # The quadrant holds the half segment going down-right from the centre; the other half is its
    # 180-degree rotation. Flipping rows then makes positive angles point up, as in image coordinates.
    rows, cols = 2 * extent_y + 1, 2 * extent_x + 1
    kernel = np.zeros((rows, cols))
    kernel[:extent_y + 1, :extent_x + 1] = quadrant[::-1, ::-1]
    kernel[extent_y:, extent_x:] = quadrant
    if cos_phi > 0:
        kernel = kernel[::-1]
    size = max(rows, cols)
    pad_rows, pad_cols = (size - rows) // 2, (size - cols) // 2
    kernel = np.pad(kernel, ((pad_rows, pad_rows), (pad_cols, pad_cols)))
    return kernel / kernel.sum()
