"""deconvkit.forward (``blur``): against scipy.ndimage, noise seeding and validation."""

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
from _helpers import gaussian_psf, smooth_scene

import deconvkit
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
