"""deconvkit.solvers.richardson_lucy against scikit-image and its own unaccelerated/undamped form."""

import numpy as np
import scipy.signal

import deconvkit
from _helpers import gaussian_psf, smooth_scene


def test_unaccelerated_rl_matches_scikit_image_iterates(rng):
    from skimage.restoration import richardson_lucy as skimage_rl

    image = np.zeros((48, 40))
    image[12:36, 10:30] = smooth_scene(rng, (24, 20)) + 0.2  # zero border: boundary rules agree
    psf = gaussian_psf(1.2, 5)
    blurred = scipy.signal.convolve(image, psf, mode="same", method="direct")
    for iterations in (1, 5, 15):
        ours = deconvkit.deconvolve(blurred, psf, method="richardson_lucy", iterations=iterations,
                                    accelerate=False, x0=0.5, boundary="periodic")
        reference = skimage_rl(blurred, psf, num_iter=iterations, clip=False)
        np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-9 * reference.max())


def test_accelerated_rl_reaches_lower_residual_in_the_same_iterations(rng):
    sharp = smooth_scene(rng, (64, 64)) + 0.1
    psf = gaussian_psf(2.0, 11)
    blurred = deconvkit.blur(sharp, psf, boundary="periodic")
    kwargs = dict(method="richardson_lucy", iterations=20, boundary="periodic")
    plain = deconvkit.deconvolve(blurred, psf, accelerate=False, **kwargs)
    fast = deconvkit.deconvolve(blurred, psf, accelerate=True, **kwargs)

    def residual(x):
        return np.linalg.norm(deconvkit.blur(x, psf, boundary="periodic") - blurred)

    assert residual(fast) < 0.5 * residual(plain)


def test_rl_damping_reduces_noise_amplification(rng):
    sharp = smooth_scene(rng, (64, 64)) + 0.2
    psf = gaussian_psf(1.5, 9)
    blurred = deconvkit.blur(sharp, psf, boundary="valid", noise=0.02, rng=2)
    truth = sharp[4:-4, 4:-4]
    plain = deconvkit.deconvolve(blurred, psf, method="richardson_lucy", iterations=150)
    damped = deconvkit.deconvolve(blurred, psf, method="richardson_lucy", iterations=150, damping=3.0)
    assert np.linalg.norm(damped - truth) < np.linalg.norm(plain - truth)
