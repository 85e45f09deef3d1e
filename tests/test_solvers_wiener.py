"""deconvkit.solvers.wiener against an exact inverse."""

import numpy as np

import deconvkit
from _helpers import gaussian_psf


def test_wiener_inverts_noiseless_periodic_blur(rng):
    sharp = rng.random((64, 48))
    psf = gaussian_psf(0.8, 7)
    blurred = deconvkit.blur(sharp, psf, boundary="periodic")
    restored = deconvkit.deconvolve(blurred, psf, method="wiener", nsr=0.0, boundary="periodic")
    assert np.abs(restored - sharp).max() < 1e-6
