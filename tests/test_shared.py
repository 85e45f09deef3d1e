"""deconvkit._shared: the integer input rule, the same for blur, deconvolve, estimate_psf and deblur, and the
same as deconvkit.io's reading of integer files (so the API and the CLI see the same values)."""

from __future__ import annotations

import numpy as np
import pytest

import deconvkit
from deconvkit import io
from deconvkit._shared import as_float_image, intensity_scale, scale_for_peak
from deconvkit.psf import gaussian, motion


@pytest.fixture(scope="module")
def blurred_uint8():
    from skimage import data

    sharp = data.camera()[150:278, 150:278] / 255.0
    blurred = deconvkit.blur(sharp, motion(9, 30), boundary="valid", noise=0.005, rng=0)
    return np.round(np.clip(blurred, 0, 1) * 255).astype(np.uint8)


def test_scale_for_peak_and_as_float_image():
    # the smallest common bit depth holding the peak, capped at the dtype (written out by hand)
    assert [scale_for_peak(t, p) for t, p in ((np.uint8, 3), (np.uint16, 4095), (np.uint16, 4096),
                                               (np.int16, 40), (np.int64, 2**40))] == [
        255.0, 4095.0, 16383.0, 255.0, float(2**48 - 1)]
    data = np.array([[0, 32768, 65535]], dtype=np.uint16)
    out = as_float_image(data)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, data.astype(np.float64) / 65535.0)  # full-range 16-bit data
    assert io.intensity_scale is intensity_scale  # one rule, for arrays and files
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


def test_estimate_psf_scales_uint16_like_uint8(blurred_uint8):
    wide = blurred_uint8.astype(np.uint16) * np.uint16(257)  # the same image in 16 bits (257 = 65535 / 255)
    psf_8, info_8 = deconvkit.estimate_psf(blurred_uint8, model="gaussian")
    psf_16, info_16 = deconvkit.estimate_psf(wide, model="gaussian")
    np.testing.assert_allclose(psf_16, psf_8, rtol=1e-9, atol=1e-12)
    assert info_8["sigma"] == pytest.approx(info_16["sigma"], rel=1e-9)


# The documented scales, written out by hand (not computed by intensity_scale): the value that reads as 1.0.
@pytest.mark.parametrize(("dtype", "top", "scale"), [
    (np.uint8, 255, 255.0), (np.uint8, 3, 255.0),  # 8-bit data: always the dtype's maximum
    (np.int64, 255, 255.0), (np.int64, 200, 255.0),  # NumPy's default integer holding 8-bit values
    (np.int64, 4095, 4095.0), (np.uint16, 4095, 4095.0), (np.uint32, 4095, 4095.0),  # 12-bit camera data
    (np.uint16, 4096, 16383.0), (np.uint16, 65535, 65535.0), (np.int32, 40000, 65535.0),
    (np.int16, 1000, 1023.0),
])
def test_deconvolve_of_integers_equals_deconvolve_of_the_documented_floats(rng, dtype, top, scale):
    stored = np.round(rng.random((30, 34)) * top).astype(dtype)
    stored[0, 0] = top  # the largest value sets the scale
    as_floats = stored.astype(np.float64) / scale
    np.testing.assert_array_equal(as_float_image(stored), as_floats)
    psf = gaussian(1.0)
    for method, params in (("wiener", {}), ("tikhonov", {"iterations": 20}), ("richardson_lucy", {"iterations": 5})):
        np.testing.assert_array_equal(deconvkit.deconvolve(stored, psf, method=method, **params),
                                      deconvkit.deconvolve(as_floats, psf, method=method, **params))
    np.testing.assert_array_equal(deconvkit.blur(stored, psf, noise=0.01, rng=2),
                                  deconvkit.blur(as_floats, psf, noise=0.01, rng=2))


def test_int64_array_is_not_read_as_nearly_zero(rng):
    stored = np.round(rng.random((32, 32)) * 4095).astype(np.int64)  # np.array of Python ints: int64
    restored = deconvkit.deconvolve(stored, gaussian(1.0), method="wiener")
    assert 0.3 < restored.mean() < 0.7  # was about 2e-16: divided by 2**63 - 1


def test_signed_integers_are_scaled_to_minus_one_one():
    data = np.array([[-4095, 0, 2048, 4095]], dtype=np.int32)
    np.testing.assert_array_equal(as_float_image(data), data / 4095.0)


def test_the_api_and_the_cli_see_the_same_values(tmp_path, rng):
    """deconvolve(int64 array) and ``deconvkit deblur array.npy`` give the same restoration."""
    from deconvkit.cli import main

    stored = np.round(deconvkit.blur(rng.random((40, 44)), gaussian(1.2), boundary="periodic") * 4095).astype(np.int64)
    np.save(tmp_path / "in.npy", stored)
    assert main(["deblur", str(tmp_path / "in.npy"), "-o", str(tmp_path / "out.npy"), "--psf",
                 "gaussian:sigma=1.2", "--method", "wiener", "--set", "nsr=0.01", "--boundary", "periodic",
                 "--dtype", "float32", "--quiet"]) == 0
    from_cli = np.load(tmp_path / "out.npy")
    from_api = deconvkit.deconvolve(stored, deconvkit.psf.parse("gaussian:sigma=1.2"), method="wiener",
                                    nsr=0.01, boundary="periodic")
    np.testing.assert_allclose(from_cli, from_api, rtol=0, atol=1e-6)
    assert 0.2 < from_api.mean() < 0.8
