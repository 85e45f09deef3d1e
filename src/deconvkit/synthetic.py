"""Synthetic test scenes with known statistics: star fields and cartoons.

Used by the benchmarks and tests to check that ``method="auto"`` picks a prior that suits the image class
(point sources vs piecewise-flat shapes) on scenes that are not among any calibration images.
"""

from __future__ import annotations

import numpy as np

from ._shared import DeconvkitError

__all__ = ["star_field", "star_magnitudes", "cartoon"]


def star_field(shape=(256, 256), *, density=0.004, brightest=0.9, faintest_mag=6.0, seeing=0.6,
               background=0.02, rng=None):
    """Stars on a flat sky, with a realistic (Euclidean) magnitude distribution.

    Star counts grow as ``N(<m) ~ 10^(0.6 m)`` (uniform density in Euclidean space), so magnitudes are drawn
    from that law between 0 and ``faintest_mag`` and shifted so that the brightest star drawn is magnitude
    0, with the ``brightest`` peak; a star of magnitude ``m`` has flux ``10^(-0.4 m)`` relative to it.
    Each star is a Gaussian of std ``seeing`` pixels (the
    atmosphere's and optics' blur before the PSF to be removed; < 1 px: nearly points) at a uniformly
    random sub-pixel position, rendered exactly by integrating over each pixel.

    Parameters
    ----------
    shape : tuple of int
        Image shape (2-D).
    density : float
        Stars per pixel.
    brightest : float
        Peak value of a magnitude-0 star (above the background).
    faintest_mag : float
        Faintest magnitude drawn (6: fluxes down to 0.4 % of the brightest).
    seeing : float
        Gaussian std of each star, in pixels.
    background : float
        Sky level.
    rng : numpy Generator or int, optional

    Returns
    -------
    ndarray (float64)
    """
    from scipy.special import erf

    if len(shape) != 2 or min(shape) < 1:
        raise DeconvkitError(f"star_field needs a 2-D shape, got {shape}")
    if not seeing > 0 or not density > 0:
        raise DeconvkitError("seeing and density must be > 0")
    rng = np.random.default_rng(rng)
    count = max(1, int(round(density * shape[0] * shape[1])))
    mags = star_magnitudes(count, faintest_mag, rng)
    mags -= mags.min()  # the brightest star drawn gets the ``brightest`` peak
    flux = 10.0 ** (-0.4 * mags)
    positions = rng.random((count, 2)) * np.array(shape)
    image = np.full(shape, float(background))
    # the peak of a pixel-integrated Gaussian centred on a pixel, to scale the brightest star's peak
    edge = 0.5 / (np.sqrt(2) * seeing)
    peak_integral = erf(edge) ** 2
    radius = int(np.ceil(4 * seeing)) + 1
    for (cy, cx), f in zip(positions, flux):
        y0, x0 = int(cy), int(cx)
        ys = np.arange(max(y0 - radius, 0), min(y0 + radius + 1, shape[0]))
        xs = np.arange(max(x0 - radius, 0), min(x0 + radius + 1, shape[1]))
        scale = np.sqrt(2) * seeing
        py = 0.5 * (erf((ys + 1 - cy) / scale) - erf((ys - cy) / scale))
        px = 0.5 * (erf((xs + 1 - cx) / scale) - erf((xs - cx) / scale))
        image[np.ix_(ys, xs)] += brightest * f / peak_integral * np.outer(py, px)
    return image


def star_magnitudes(count, faintest_mag, rng=None):
    """``count`` magnitudes on ``[0, faintest_mag]`` with Euclidean counts ``N(<m) ~ 10^(0.6 m)``
    (inverse-CDF sampling)."""
    rng = np.random.default_rng(rng)
    u = rng.random(int(count))
    top = 10.0 ** (0.6 * float(faintest_mag))
    return np.log10(1 + u * (top - 1)) / 0.6


def cartoon(shape=(256, 256), *, shapes=24, rng=None):
    """Piecewise-constant image: random discs and rectangles of random grey levels on a grey background
    (the class TV's prior describes exactly)."""
    if len(shape) != 2 or min(shape) < 8:
        raise DeconvkitError(f"cartoon needs a 2-D shape of at least 8 px, got {shape}")
    rng = np.random.default_rng(rng)
    image = np.full(shape, 0.4)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    for i in range(int(shapes)):
        level = rng.uniform(0.1, 0.9)
        cy, cx = rng.random(2) * np.array(shape)
        size = rng.uniform(0.04, 0.2) * min(shape)
        if i % 2:
            inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= size**2
        else:
            inside = (np.abs(yy - cy) <= size) & (np.abs(xx - cx) <= 0.6 * size)
        image[inside] = level
    return image
