"""Where to estimate a PSF on a large image: the window whose edges constrain a kernel best.

A camera-shake PSF is one kernel for the whole frame (the model every estimator here assumes), so it can be
estimated on a part of the frame: the cost of the coarse-to-fine estimator grows with the pixel count, and
a 12-megapixel photo holds far more edges than a kernel of 65x65 unknowns needs. What a window must hold is
edges in *every* direction (an edge constrains the kernel only across itself), so windows are ranked by the
smaller eigenvalue of their summed gradient structure tensor, computed on a block-averaged copy (cheap,
and it averages the noise away), with clipped highlights left out (their edges are not blurred copies of
the scene).
"""

from __future__ import annotations

import numpy as np

__all__ = ["region_side", "select_region"]

# Side of the estimation window: at least this many pixels, and at least this many kernel extents.
_MIN_SIDE = 1024
_KERNEL_EXTENTS = 12


def region_side(shape, size: int) -> int:
    """Side of the (square, where the image allows) window used for a kernel of ``size``."""
    return int(max(_MIN_SIDE, _KERNEL_EXTENTS * int(size)))


def select_region(grey: np.ndarray, size: int) -> tuple[slice, slice]:
    """The window (row and column slices) of side :func:`region_side` (cut to the image along a shorter
    axis) with the best-conditioned edges. Returns the whole image when it is no larger than the window.
    """
    side = region_side(grey.shape, size)
    rows, cols = grey.shape
    if rows <= side and cols <= side:
        return slice(0, rows), slice(0, cols)
    height, width = min(rows, side), min(cols, side)
    import scipy.ndimage

    factor = max(1, side // 128)  # rank on a copy with about 128 blocks per window side
    h, w = rows // factor * factor, cols // factor * factor
    coarse = grey[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
    high = float(grey.max())
    clipped = coarse >= high - 0.02 * max(high - float(grey.min()), 1e-12)
    gy, gx = np.gradient(coarse)
    usable = ~scipy.ndimage.binary_dilation(clipped, iterations=2)
    gy, gx = gy * usable, gx * usable
    window = (max(height // factor, 1), max(width // factor, 1))
    # summed structure tensor over every window position (box sums via uniform_filter, origin top-left)
    origin = tuple(-(w // 2) for w in window)
    sums = [scipy.ndimage.uniform_filter(a, window, mode="constant", origin=origin)
            for a in (gx * gx, gy * gy, gx * gy)]
    sxx, syy, sxy = sums
    smallest = 0.5 * (sxx + syy) - np.sqrt(0.25 * (sxx - syy) ** 2 + sxy ** 2)
    # only windows that lie inside the image
    valid = smallest[: coarse.shape[0] - window[0] + 1, : coarse.shape[1] - window[1] + 1]
    top, left = np.unravel_index(int(np.argmax(valid)), valid.shape)
    top = min(int(top) * factor, rows - height)
    left = min(int(left) * factor, cols - width)
    return slice(top, top + height), slice(left, left + width)
