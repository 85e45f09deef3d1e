"""deconvkit.solvers (the ``deconvolve`` entry point): every method, dtypes, channels, info, clipping
and input validation."""

import numpy as np
import pytest

import deconvkit
from _helpers import gaussian_psf, smooth_scene
from deconvkit import DeconvkitError
from deconvkit.solvers import SOLVERS, available_methods


@pytest.mark.parametrize("method", sorted(SOLVERS))
def test_delta_psf_is_the_identity(rng, method):
    image = smooth_scene(rng, (32, 30)) + 0.1
    delta = np.zeros((3, 3))
    delta[1, 1] = 1
    restored = deconvkit.deconvolve(image, delta, method=method, noise_sigma=1e-4)
    np.testing.assert_allclose(restored, image, atol=2e-3)


@pytest.mark.parametrize("method", ["wiener", "tikhonov", "richardson_lucy", "auto"])
def test_valid_blur_restores_without_boundary_ringing(camera, method):
    psf = np.zeros((13, 13))
    psf[6, :] = 1.0 / 13  # horizontal motion: the classic ringing case at left/right borders
    sharp = camera[100:356, 100:356]
    blurred = deconvkit.blur(sharp, psf, boundary="valid", noise=0.005, rng=0)
    truth = sharp[6:-6, 6:-6]
    restored = deconvkit.deconvolve(blurred, psf, method=method)
    band = np.zeros(truth.shape, bool)
    band[:, :12] = band[:, -12:] = True
    def rms(error):
        return np.sqrt(np.mean(error**2))

    border_error = rms((restored - truth)[band])
    # ringing from the frame's edge would make the border band much worse than the interior
    assert border_error < 1.5 * rms((restored - truth)[~band])
    periodic = deconvkit.deconvolve(blurred, psf, method="wiener", nsr=1e-3, boundary="periodic")
    assert rms((periodic - truth)[band]) > 3 * border_error


@pytest.mark.parametrize("dtype,expected", [(np.float32, np.float32), (np.float16, np.float32),
                                            (np.float64, np.float64), (np.uint8, np.float64)])
@pytest.mark.parametrize("method", ["wiener", "tikhonov", "richardson_lucy"])
def test_dtype_policy_and_shape(rng, dtype, expected, method):
    image = (smooth_scene(rng, (24, 20)) * (200 if dtype == np.uint8 else 1)).astype(dtype)
    params = {} if method == "wiener" else {"iterations": 3}
    restored = deconvkit.deconvolve(image, gaussian_psf(1.0, 5), method=method, **params)
    assert restored.dtype == expected
    assert restored.shape == image.shape


@pytest.mark.parametrize("method", ["tv", "hyper_laplacian", "rl_tv", "auto"])
def test_float32_in_float32_out(rng, method):
    y = deconvkit.blur(rng.random((32, 32)), deconvkit.psf.gaussian(1.0), boundary="valid").astype(np.float32)
    x = deconvkit.deconvolve(y, deconvkit.psf.gaussian(1.0), method=method, iterations=5)\
        if method != "hyper_laplacian" else deconvkit.deconvolve(y, deconvkit.psf.gaussian(1.0), method=method)
    assert x.dtype == np.float32 and x.shape == y.shape


def test_colour_channels_share_parameters_and_3d_works(rng):
    psf = gaussian_psf(1.0, 5)
    rgb = np.stack([smooth_scene(rng, (40, 36)) for _ in range(3)], axis=-1)
    blurred = deconvkit.blur(rgb, psf, channel_axis=-1, noise=0.01, rng=3)
    restored, info = deconvkit.deconvolve(blurred, psf, method="tikhonov", channel_axis=-1, return_info=True,
                                          tol=1e-9, iterations=1000)
    assert restored.shape == rgb.shape
    single = deconvkit.deconvolve(blurred[..., 1], psf, method="tikhonov", lam=info["lam"], tol=1e-9,
                                  iterations=1000)
    np.testing.assert_allclose(restored[..., 1], single, atol=1e-4)
    volume = np.stack([smooth_scene(rng, (20, 22)) for _ in range(10)])
    psf3 = np.einsum("i,jk->ijk", [0.25, 0.5, 0.25], psf)
    out = deconvkit.deconvolve(deconvkit.blur(volume, psf3), psf3, method="richardson_lucy", iterations=5)
    assert out.shape == volume.shape


def test_return_info_reports_what_was_used(rng):
    image = smooth_scene(rng, (32, 32))
    for method in ("wiener", "tikhonov", "richardson_lucy"):
        _, info = deconvkit.deconvolve(image, gaussian_psf(1.0, 5), method=method, return_info=True)
        assert info["method"] == method
        assert info["boundary"] in ("unknown", "pad", "periodic")
        assert info["time_s"] >= 0
    _, info = deconvkit.deconvolve(image, gaussian_psf(1.0, 5), method="wiener", return_info=True)
    assert info["nsr"] > 0 and info["nsr_rule"].startswith("Wiener")
    _, info = deconvkit.deconvolve(image, gaussian_psf(1.0, 5), method="richardson_lucy", return_info=True)
    assert info["iterations"] >= 1 and info["noise_sigma"] > 0


def test_nothing_is_clipped_unless_asked(rng):
    image = smooth_scene(rng, (32, 32))
    psf = gaussian_psf(1.5, 9)
    blurred = deconvkit.blur(image, psf)
    restored = deconvkit.deconvolve(blurred, psf, method="wiener", nsr=1e-4)
    clipped = deconvkit.deconvolve(blurred, psf, method="wiener", nsr=1e-4, clip=True)
    assert restored.min() < blurred.min() or restored.max() > blurred.max()
    assert clipped.min() >= blurred.min() and clipped.max() <= blurred.max()


@pytest.mark.parametrize("psf,message", [
    (np.zeros((3, 3)), "positive sum"),
    (np.full((3, 3), np.nan), "NaN"),
    (np.ones((40, 3)), "larger than the image"),
    (np.ones((3, 3, 3)), "must be 2-D"),
    (np.ones((0, 3)), "empty"),
])
def test_bad_psf_raises_precise_errors(rng, psf, message):
    with pytest.raises(DeconvkitError, match=message):
        deconvkit.deconvolve(rng.random((32, 32)), psf, method="wiener")


def test_bad_image_and_method_raise_precise_errors(rng):
    psf = gaussian_psf(1.0, 3)
    image = rng.random((16, 16))
    image[3, 3] = np.inf
    with pytest.raises(DeconvkitError, match="NaN or Inf"):
        deconvkit.deconvolve(image, psf)
    with pytest.raises(DeconvkitError, match="must be 2-D or 3-D"):
        deconvkit.deconvolve(np.ones(16), np.ones(3))
    with pytest.raises(DeconvkitError, match="unknown method 'magic'; available: .*wiener"):
        deconvkit.deconvolve(rng.random((16, 16)), psf, method="magic")
    with pytest.raises(DeconvkitError, match="unknown parameter"):
        deconvkit.deconvolve(rng.random((16, 16)), psf, method="wiener", iterations=3)
    with pytest.raises(DeconvkitError, match=r"nsr=-1 is not valid \(out of range\); allowed: a finite number "
                                             r"from 0"):  # the typed table gives the range
        deconvkit.deconvolve(rng.random((16, 16)), psf, method="wiener", nsr=-1)
    assert "wiener" in available_methods()


@pytest.mark.parametrize("method", ["wiener", "richardson_lucy"])
def test_the_result_does_not_keep_the_padded_domain_alive(method):
    # the solvers work on a padded domain and the result is its crop; a view would keep the whole padded
    # array (and its memory) alive for as long as the caller holds the result
    image = np.random.default_rng(0).random((120, 150)).astype(np.float32)
    restored = deconvkit.deconvolve(image, deconvkit.psf.gaussian(1.5), method=method)
    assert restored.shape == image.shape and restored.dtype == np.float32
    assert restored.base is None or restored.base.nbytes == restored.nbytes
