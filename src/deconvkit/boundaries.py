"""Boundary handling: real images are not periodic.

Three strategies, chosen per solver (see ``docs/solvers.md``):

``"unknown"``
    The exact camera model. The sharp image is estimated on an *extended* domain (image + PSF support - 1,
    rounded up to a fast FFT size); the data term only looks at the observed window. Nothing is assumed
    about the scene outside the frame, so a ``boundary="valid"`` blur restores without ringing. Used by the
    iterative solvers (Richardson-Lucy with Bertero-Boccacci normalisation; Tikhonov, TV and
    hyper-Laplacian through a masked data term).
``"pad"``
    For one-shot closed-form filters (Wiener): the image is mirrored into a margin of at least the PSF size
    and the margin is blended into a low-pass copy so that the padded image is smooth *across the periodic
    seam* (an edge taper). The FFT then sees no jump, which is what causes ringing; errors stay in the margin.
``"periodic"``
    No extension: the data are assumed circular (synthetic tests, or data that really are periodic).
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from ._shared import DeconvkitError
from .fft import fast_shape

__all__ = ["STRATEGIES", "plan_domain", "smooth_extend"]

STRATEGIES = ("unknown", "pad", "periodic")


def plan_domain(shape, psf_shape, strategy: str):
    """Return ``(domain_shape, offset)``: the FFT domain and where the observed image sits in it."""
    shape, psf_shape = tuple(shape), tuple(psf_shape)
    if strategy not in STRATEGIES:
        raise DeconvkitError(f"boundary strategy must be one of {STRATEGIES}, got {strategy!r}")
    if strategy == "periodic":
        return shape, (0,) * len(shape)
    if strategy == "unknown":
        # pixels [offset, offset + n) are observed; a convolution on the domain never wraps into them
        domain = fast_shape([n + k - 1 for n, k in zip(shape, psf_shape)])
        offset = tuple(k - 1 - k // 2 for k in psf_shape)
        return domain, offset
    # "pad": a margin of at least the PSF size (and 8 px) on each side keeps the seam away from the image
    margins = [max(k, 8) for k in psf_shape]
    domain = fast_shape([n + 2 * m for n, m in zip(shape, margins)])
    offset = tuple((p - n) // 2 for p, n in zip(domain, shape))
    return domain, offset


def _taper_profile(n: int, size: int, offset: int) -> np.ndarray:
    """1 on the observed window, falling to 0 (raised cosine) at the point of the margin farthest from it."""
    profile = np.ones(size)
    gap = size - n
    if gap <= 0:
        return profile
    positions = np.arange(size)
    # circular distance from the window, measured into the margin
    after = (positions - (offset + n - 1)) % size
    before = (offset - positions) % size
    distance = np.minimum(after, before).astype(float)
    outside = (positions < offset) | (positions >= offset + n)
    half = gap / 2.0 + 0.5
    profile[outside] = np.cos(0.5 * np.pi * np.minimum(distance[outside] / half, 1.0)) ** 2
    return profile


def smooth_extend(data: np.ndarray, domain, offset) -> np.ndarray:
    """Extend ``data`` (shape ``(C, *shape)``) onto ``domain`` without a jump across the periodic seam.

    Mirror-pad, then cross-fade the margin into a heavily low-passed (circularly smooth) copy.
    """
    spatial = data.shape[1:]
    d = len(spatial)
    pads = [(0, 0)] + [(o, p - n - o) for n, p, o in zip(spatial, domain, offset)]
    mirrored = np.pad(data, pads, mode="symmetric")
    if tuple(domain) == tuple(spatial):
        return mirrored
    axes = tuple(range(1, d + 1))
    spectrum = scipy.fft.rfftn(mirrored, axes=axes)
    margin = min(p - n for n, p in zip(spatial, domain))
    sigma = max(margin / 4.0, 1.0)
    gauss = 1.0
    for i, n in enumerate(domain):
        freqs = scipy.fft.rfftfreq(n) if i == d - 1 else scipy.fft.fftfreq(n)
        shape = [1] * (d + 1)
        shape[i + 1] = freqs.size
        gauss = gauss * np.exp(-2 * (np.pi * sigma * freqs) ** 2).reshape(shape)
    # filters in the data's precision: float64 factors would silently promote a float32 problem to
    # complex128 / float64 here (twice the FFT time and memory)
    spectrum *= gauss.astype(mirrored.dtype, copy=False)
    lowpass = scipy.fft.irfftn(spectrum, s=domain, axes=axes, overwrite_x=True)
    weight = 1.0
    for i, (n, p, o) in enumerate(zip(spatial, domain, offset)):
        shape = [1] * (d + 1)
        shape[i + 1] = p
        weight = weight * _taper_profile(n, p, o).astype(mirrored.dtype).reshape(shape)
    mirrored -= lowpass
    mirrored *= weight
    mirrored += lowpass
    return mirrored
