"""deconvkit.forward (``blur``): against scipy.ndimage, noise seeding and validation."""

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal

import deconvkit
from _helpers import gaussian_psf, smooth_scene
from deconvkit import DeconvkitError


def test_blur_noise_is_seeded_and_poisson_is_supported(rng):
    image = smooth_scene(rng, (32, 32))
    psf = gaussian_psf(1.0, 5)
    a = deconvkit.blur(image, psf, noise=0.01, rng=7)
    b = deconvkit.blur(image, psf, noise=0.01, rng=7)
    np.testing.assert_array_equal(a, b)
    counts = deconvkit.blur(image, psf, poisson=100.0, rng=1) * 100
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    assert deconvkit.blur(image, psf, boundary="valid").shape == (28, 28)
    with pytest.raises(DeconvkitError, match="noise must be"):
        deconvkit.blur(image, psf, noise=-1)


# Each blur model against SciPy's direct convolution with the matching boundary mode (an asymmetric PSF, so a
# flipped kernel or an off-by-one centre would show).
@pytest.mark.parametrize("boundary,mode", [("periodic", "wrap"), ("zero", "constant"), ("reflect", "reflect")])
@pytest.mark.parametrize("shape,psf_shape", [((17, 20), (5, 3)), ((9, 10, 11), (3, 5, 3))])
def test_blur_matches_scipy_ndimage_convolve(rng, boundary, mode, shape, psf_shape):
    image = rng.random(shape)
    psf = rng.random(psf_shape)
    ours = deconvkit.blur(image, psf, boundary=boundary)
    reference = scipy.ndimage.convolve(image, psf / psf.sum(), mode=mode, cval=0.0)
    np.testing.assert_allclose(ours, reference, rtol=1e-10, atol=1e-12)


def test_valid_blur_matches_scipy_signal_and_aliases_resolve(rng):
    image = rng.random((23, 18))
    psf = rng.random((7, 5))
    reference = scipy.signal.convolve(image, psf / psf.sum(), mode="valid", method="direct")
    np.testing.assert_allclose(deconvkit.blur(image, psf, boundary="valid"), reference, rtol=1e-10, atol=1e-12)
    # the inverse side's older names are aliases of the forward models, not different models
    np.testing.assert_array_equal(deconvkit.blur(image, psf, boundary="unknown"),
                                  deconvkit.blur(image, psf, boundary="valid"))
    np.testing.assert_array_equal(deconvkit.blur(image, psf, boundary="pad"), deconvkit.blur(image, psf))
    with pytest.raises(DeconvkitError, match="boundary must be one of"):
        deconvkit.blur(image, psf, boundary="mirror")


def test_channel_axis_blurs_each_channel_alone(rng):
    rgb = rng.random((16, 3, 14))
    psf = rng.random((3, 5))
    ours = deconvkit.blur(rgb, psf, boundary="periodic", channel_axis=1)
    for c in range(3):
        reference = scipy.ndimage.convolve(rgb[:, c], psf / psf.sum(), mode="wrap")
        np.testing.assert_allclose(ours[:, c], reference, rtol=1e-10, atol=1e-12)
