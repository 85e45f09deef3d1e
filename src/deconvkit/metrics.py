"""Image quality metrics: PSNR, SSIM, and the Levin et al. (2009) score-up-to-shift protocol.

Deblurring results are only defined up to a small translation (a PSF shifted one way and the image the
other explain the same blurred photo equally well), so the Levin protocol compares images after the best
sub-pixel alignment; :func:`levin_score` implements it exactly and fast.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.signal

from ._shared import DeconvkitError

__all__ = ["psnr", "ssim", "levin_score", "LevinScore", "error_ratio"]


def _pair(reference, image, name: str = "image") -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64 of the same shape, integers scaled to [0, 1] by their dtype maximum."""
    arrays = []
    for array, label in ((reference, "reference"), (image, name)):
        array = np.asarray(array)
        if array.dtype.kind not in "biuf" or array.size == 0:
            raise DeconvkitError(f"{label} must be a non-empty real array, got dtype {array.dtype}, "
                                 f"shape {array.shape}")
        if array.dtype.kind in "iu":
            array = array / np.iinfo(array.dtype).max
        arrays.append(array.astype(np.float64, copy=False))
    if arrays[0].shape != arrays[1].shape:
        raise DeconvkitError(f"{name} shape {arrays[1].shape} differs from reference shape {arrays[0].shape}")
    return arrays[0], arrays[1]


def psnr(reference, image, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio ``10 log10(data_range**2 / MSE)`` in dB (``inf`` for identical images).

    Integer arrays are first scaled to [0, 1] by their dtype maximum, so ``data_range=1`` suits 8-bit and
    float images alike.
    """
    reference, image = _pair(reference, image)
    mse = float(np.mean((reference - image) ** 2))
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def ssim(reference, image, data_range: float = 1.0, channel_axis=None, **kwargs) -> float:
    """Structural similarity, :func:`skimage.metrics.structural_similarity` with its default settings.

    Integer arrays are first scaled to [0, 1]. Extra keyword arguments (``gaussian_weights=True``,
    ``win_size``...) are passed through.
    """
    from skimage.metrics import structural_similarity

    reference, image = _pair(reference, image)
    try:
        return float(structural_similarity(reference, image, data_range=data_range, channel_axis=channel_axis,
                                           **kwargs))
    except ValueError as exc:  # e.g. an image smaller than the 7x7 window: say so in deconvkit's terms
        raise DeconvkitError(f"ssim of images of shape {image.shape}: {exc}") from exc


class LevinScore(NamedTuple):
    """Result of :func:`levin_score`: a named tuple ``(psnr, ssim, ssd, shift)``.

    Attributes
    ----------
    psnr, ssim : float
        On the aligned, cropped images (peak 1).
    ssd : float
        Sum of squared differences there (what the alignment minimises; Levin's error measure).
    shift : tuple of float
        ``(rows, cols)`` displacement of the restored image relative to the sharp one, in the convention of
        :func:`scipy.ndimage.shift`: ``restored ~ shift(sharp, shift)``.
    """

    psnr: float
    ssim: float
    ssd: float
    shift: tuple[float, float]

    def as_dict(self) -> dict:
        return {"psnr": self.psnr, "ssim": self.ssim, "ssd": self.ssd, "shift": self.shift}


def _window_sums(values: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Sums of ``values`` over every ``rows x cols`` window (top-left corner index), via an integral image."""
    integral = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
    integral[1:, 1:] = values.cumsum(0).cumsum(1)
    return (integral[rows:, cols:] - integral[:-rows, cols:] - integral[rows:, :-cols]
            + integral[:-rows, :-cols])


def _ssd_all_shifts(restored: np.ndarray, sharp_crop: np.ndarray, border: int, max_int: int,
                    fractions: np.ndarray) -> np.ndarray:
    """SSD between ``sharp_crop`` and the bilinearly shifted restored image, for every shift on the grid.

    The shift ``s = i + f`` (integer ``i`` from ``-max_int`` to ``max_int - 1``, fraction ``f`` from
    ``fractions`` in [0, 1]) samples the restored image at ``crop coordinates + s``. Bilinear sampling is a
    4-term combination ``A = sum_k w_k R_k`` of integer-shifted windows ``R_k``, so

        SSD = sum A^2 - 2 sum A B + sum B^2,  sum A^2 = sum_{k,l} w_k w_l sum R_k R_l,

    and every ``sum R_k R_l`` and ``sum R_k B`` is a window sum or correlation precomputed for all integer
    shifts. That is the exhaustive search over all shifts, exact, in a few array operations.
    Returns an array indexed ``[iy, fy, ix, fx]``.
    """
    rows, cols = sharp_crop.shape
    # Window of restored pixels reachable: integer offsets -max_int .. max_int (+1 for the bilinear partner).
    start = border - max_int
    region = restored[start:start + rows + 2 * max_int + 1, start:start + cols + 2 * max_int + 1]
    count = 2 * max_int + 1  # integer offsets -max_int .. max_int, as indices 0 .. 2*max_int

    # Cross terms with the sharp crop for every integer offset: one FFT correlation.
    correlation = scipy.signal.fftconvolve(region, sharp_crop[::-1, ::-1], mode="valid")

    # Window sums of products of the restored image with itself at the 5 relative offsets bilinear needs.
    def products(dy, dx):
        height, width = region.shape[0] - abs(dy), region.shape[1] - abs(dx)
        if dx >= 0:
            product = region[:height, :width] * region[dy:dy + height, dx:dx + width]
        else:  # partner to the lower left: index from the partner's column
            product = region[:height, -dx:-dx + width] * region[dy:dy + height, :width]
        return _window_sums(product, rows, cols)

    same = products(0, 0)
    right = products(0, 1)
    down = products(1, 0)
    diagonal = products(1, 1)
    anti = products(1, -1)  # R[y, x+1] * R[y+1, x]

    n = count - 1  # base offsets 0 .. count-2 (each uses its +1 partner)
    base = slice(0, n)
    plus = slice(1, n + 1)
    S00 = same[base, base]
    S01 = same[base, plus]
    S10 = same[plus, base]
    S11 = same[plus, plus]
    P_right0 = right[base, base]   # R00 R01
    P_right1 = right[plus, base]   # R10 R11
    P_down0 = down[base, base]     # R00 R10
    P_down1 = down[base, plus]     # R01 R11
    P_diag = diagonal[base, base]  # R00 R11
    P_anti = anti[base, base]      # R01 R10
    C00, C01 = correlation[base, base], correlation[base, plus]
    C10, C11 = correlation[plus, base], correlation[plus, plus]

    # Broadcast to [iy, fy, ix, fx].
    fy = fractions[None, :, None, None]
    fx = fractions[None, None, None, :]
    w00, w01, w10, w11 = (1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx

    def grid(a):
        return a[:, None, :, None]

    sum_a2 = (w00**2 * grid(S00) + w01**2 * grid(S01) + w10**2 * grid(S10) + w11**2 * grid(S11)
              + 2 * w00 * w01 * grid(P_right0) + 2 * w10 * w11 * grid(P_right1)
              + 2 * w00 * w10 * grid(P_down0) + 2 * w01 * w11 * grid(P_down1)
              + 2 * w00 * w11 * grid(P_diag) + 2 * w01 * w10 * grid(P_anti))
    sum_ab = w00 * grid(C00) + w01 * grid(C01) + w10 * grid(C10) + w11 * grid(C11)
    return sum_a2 - 2 * sum_ab + float(np.vdot(sharp_crop, sharp_crop))


def _bilinear_window(restored: np.ndarray, top: int, left: int, rows: int, cols: int,
                     shift: tuple[float, float]) -> np.ndarray:
    """The restored image sampled bilinearly at ``(top + r + shift_y, left + c + shift_x)``."""
    out = []
    for s in shift:
        base = math.floor(s)
        out.append((base, s - base))
    (iy, fy), (ix, fx) = out
    r0, c0 = top + iy, left + ix

    def window(dy, dx):
        return restored[r0 + dy:r0 + dy + rows, c0 + dx:c0 + dx + cols]

    result = (1 - fy) * (1 - fx) * window(0, 0)
    if fx:
        result = result + (1 - fy) * fx * window(0, 1)
    if fy:
        result = result + fy * (1 - fx) * window(1, 0)
    if fx and fy:
        result = result + fy * fx * window(1, 1)
    return result


def levin_score(restored, sharp, *, maxshift: float = 5, step: float = 0.25, border: int = 15) -> LevinScore:
    """Score a restored image against the sharp one up to a sub-pixel shift (Levin et al. 2009).

    Both images are converted to float in [0, 1] (integers divided by their dtype maximum, floats used as
    given, no clipping). The sharp image is cropped by ``border`` pixels on each side; the restored image is
    sampled with bilinear interpolation at every shift from ``-maxshift`` to ``maxshift`` in steps of
    ``step`` on both axes (41 x 41 shifts by default), and the shift with the smallest sum of squared
    differences (SSD) is kept. PSNR (peak 1) and SSIM are reported on that aligned crop.

    The search is exhaustive and exact: all SSDs come from precomputed window sums and correlations
    (see ``_ssd_all_shifts``), about 20 ms for a 255 x 255 image rather than 1681 interpolations.

    Parameters
    ----------
    restored, sharp : 2-D arrays of the same shape
    maxshift : float, default 5
        Largest shift searched, in pixels; must be a multiple of ``step`` and at most ``border``.
    step : float, default 0.25
        Shift step in pixels; ``1 / step`` must be an integer.
    border : int, default 15

    Returns
    -------
    LevinScore
        ``psnr``, ``ssim``, ``ssd`` and the ``shift`` (rows, cols) of the restored image relative to the
        sharp one (``restored ~ scipy.ndimage.shift(sharp, shift)``).
    """
    sharp, restored = _pair(sharp, restored, "restored")
    if sharp.ndim != 2:
        raise DeconvkitError(f"levin_score needs 2-D grey images, got shape {sharp.shape}")
    if not (isinstance(border, (int, np.integer)) and border >= 0):
        raise DeconvkitError(f"border={border!r} must be a non-negative integer")
    substeps = 1.0 / step if step > 0 else 0.0
    if not (step > 0 and abs(substeps - round(substeps)) < 1e-9):
        raise DeconvkitError(f"step={step!r} must be 1/n for a positive integer n (e.g. 0.25)")
    substeps = int(round(substeps))
    max_int = int(math.ceil(maxshift))
    if not (0 <= maxshift <= border and abs(maxshift * substeps - round(maxshift * substeps)) < 1e-9):
        raise DeconvkitError(f"maxshift={maxshift!r} must be a multiple of step={step} in [0, border={border}]")
    rows, cols = sharp.shape[0] - 2 * border, sharp.shape[1] - 2 * border
    if rows < 1 or cols < 1:
        raise DeconvkitError(f"border={border} leaves nothing of an image of shape {sharp.shape}")
    sharp_crop = sharp[border:border + rows, border:border + cols]

    # The +1 partner of the largest offset may step one pixel past the border: pad with the edge value
    # (its weight is 0 there, so any finite value gives the same result).
    padded = np.pad(restored, ((0, 1), (0, 1)), mode="edge")
    fractions = np.arange(substeps + 1) / substeps  # fraction 1 == next integer with fraction 0: both kept
    best = (0.0, 0.0)
    if max_int > 0:
        ssd = _ssd_all_shifts(padded, sharp_crop, border, max_int, fractions)
        iy, fy, ix, fx = np.meshgrid(np.arange(-max_int, max_int), fractions,
                                     np.arange(-max_int, max_int), fractions, indexing="ij")
        shift_y, shift_x = iy + fy, ix + fx
        allowed = (np.abs(shift_y) <= maxshift + 1e-9) & (np.abs(shift_x) <= maxshift + 1e-9)
        ssd = np.where(allowed, ssd, np.inf)
        flat = int(np.argmin(ssd))
        best = (float(shift_y.flat[flat]), float(shift_x.flat[flat]))
    aligned = _bilinear_window(padded, border, border, rows, cols, best)
    difference = aligned - sharp_crop
    ssd_best = float(np.vdot(difference, difference))
    return LevinScore(psnr=psnr(sharp_crop, aligned), ssim=ssim(sharp_crop, aligned), ssd=ssd_best,
                      shift=best)


def error_ratio(blind_score, nonblind_score, *, squared: bool = False) -> float:
    """Levin's error ratio ``||x_blind - x|| / ||x_truePSF - x||`` from two :func:`levin_score` results.

    Each argument is a :class:`LevinScore` or its SSD as a number. A ratio <= 2 looks nearly as good as the
    true-PSF result; <= 3 is usually called acceptable. ``squared=True`` gives the ratio of SSDs instead
    (the square), which some papers report.
    """
    blind = float(getattr(blind_score, "ssd", blind_score))
    reference = float(getattr(nonblind_score, "ssd", nonblind_score))
    if not (math.isfinite(blind) and math.isfinite(reference)) or blind < 0 or reference <= 0:
        raise DeconvkitError(f"error_ratio needs finite SSDs with a positive reference, got {blind} and {reference}")
    ratio = blind / reference
    return ratio if squared else math.sqrt(ratio)
