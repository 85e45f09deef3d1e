"""deconvkit._shared: the integer input rule, the same for blur, deconvolve, estimate_psf and deblur."""

from __future__ import annotations

import numpy as np
import pytest

import deconvkit
from deconvkit._shared import as_float_image, integer_scale
from deconvkit.psf import gaussian, motion


@pytest.fixture(scope="module")
def blurred_uint8():
    from skimage import data

    sharp = data.camera()[150:278, 150:278] / 255.0
    blurred = deconvkit.blur(sharp, motion(9, 30), boundary="valid", noise=0.005, rng=0)
    return np.round(np.clip(blurred, 0, 1) * 255).astype(np.uint8)


def test_integer_scale_and_as_float_image():
    assert [integer_scale(t) for t in (np.uint8, np.uint16, np.int16, np.int32, np.float32, bool)] == [
        255.0, 65535.0, 32767.0, 2147483647.0, 1.0, 1.0]
    data = np.array([[0, 32768, 65535]], dtype=np.uint16)
    out = as_float_image(data)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, data.astype(np.float64) / 65535.0)
    np.testing.assert_array_equal(as_float_image([[0, 2, 255]]), [[0.0, 2.0, 255.0]])  # a list holds values
    floats = np.array([[0.0, 3.0]], dtype=np.float32)
    assert as_float_image(floats) is floats  # floats pass through, unscaled and uncopied


def test_deblur_of_uint8_matches_deblur_of_the_same_floats(blurred_uint8):
    from_int = deconvkit.deblur(blurred_uint8, psf_model="motion")
    from_float = deconvkit.deblur(blurred_uint8 / 255.0, psf_model="motion")
    np.testing.assert_array_equal(from_int.psf, from_float.psf)
    assert from_int.image.dtype == np.float64
    np.testing.assert_array_equal(from_int.image, from_float.image)
    assert from_int.params["deconvolve"]["lam"] == from_float.params["deconvolve"]["lam"]
    assert 0.0 < from_int.image.mean() < 1.0  # in the [0, 1] scale, not [0, 255]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_deconvolve_blur_and_estimate_scale_integers_by_their_range(rng, dtype):
    scale = float(np.iinfo(dtype).max)
    stored = np.round(rng.random((32, 36)) * scale).astype(dtype)
    as_floats = stored / scale
    psf = gaussian(1.0)
    for method, params in (("wiener", {}), ("tikhonov", {"iterations": 20})):
        np.testing.assert_array_equal(deconvkit.deconvolve(stored, psf, method=method, **params),
                                      deconvkit.deconvolve(as_floats, psf, method=method, **params))
    np.testing.assert_array_equal(deconvkit.blur(stored, psf, noise=0.01, rng=2),
                                  deconvkit.blur(as_floats, psf, noise=0.01, rng=2))


def test_estimate_psf_scales_uint16_like_uint8(blurred_uint8):
    wide = blurred_uint8.astype(np.uint16) * np.uint16(257)  # the same image in 16 bits (257 = 65535 / 255)
    psf_8, info_8 = deconvkit.estimate_psf(blurred_uint8, model="gaussian")
    psf_16, info_16 = deconvkit.estimate_psf(wide, model="gaussian")
    np.testing.assert_allclose(psf_16, psf_8, rtol=1e-9, atol=1e-12)
    assert info_8["sigma"] == pytest.approx(info_16["sigma"], rel=1e-9)
