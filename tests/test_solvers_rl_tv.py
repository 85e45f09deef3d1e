"""deconvkit.solvers.rl_tv against Richardson-Lucy and the Dey et al. 2006 update."""

import numpy as np
import scipy.ndimage

import deconvkit


def test_rl_tv_with_zero_weight_is_richardson_lucy(rng):
    y = deconvkit.blur(rng.random((20, 20)) + 0.1, deconvkit.psf.gaussian(1.2), boundary="periodic")
    a = deconvkit.deconvolve(y, deconvkit.psf.gaussian(1.2), method="rl_tv", lam=0.0, iterations=10)
    b = deconvkit.deconvolve(y, deconvkit.psf.gaussian(1.2), method="richardson_lucy", iterations=10)
    assert np.allclose(a, b)


def test_rl_tv_one_step_matches_dey_formula(rng):
    """One unaccelerated periodic RL-TV step against the formula of Dey et al. 2006 written out here."""
    shape = (12, 12)
    psf = np.ones((3, 3)) / 9
    y = scipy.ndimage.convolve(rng.random(shape) + 0.2, psf, mode="wrap")
    lam, eps = 0.01, 1e-3
    x0 = y.copy()  # deconvkit starts from the (here periodic = unchanged) observation
    conv = scipy.ndimage.convolve(x0, psf, mode="wrap")
    back = scipy.ndimage.correlate(y / conv, psf, mode="wrap")
    gx = np.roll(x0, -1, 1) - x0
    gy = np.roll(x0, -1, 0) - x0
    smoothing = eps * (y.max() - y.min())
    mag = np.sqrt(gx**2 + gy**2 + smoothing**2)
    div = (gx / mag - np.roll(gx / mag, 1, 1)) + (gy / mag - np.roll(gy / mag, 1, 0))
    expected = x0 * back / (1 - lam * div)
    ours = deconvkit.deconvolve(y, psf, method="rl_tv", lam=lam, eps=eps, iterations=1, accelerate=False,
                                boundary="periodic")
    assert np.allclose(ours, expected, rtol=1e-6, atol=1e-9)
