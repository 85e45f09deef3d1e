"""deconvolve() under bad parameters and degenerate images (issue 13): the typed parameter tables refuse
nonsense with the range in the message, before any work; degenerate inputs give an answer or one error."""

from __future__ import annotations

import numpy as np
import pytest

import deconvkit
from deconvkit import InputError, ParameterError

BOX5 = np.full((5, 5), 1 / 25)


@pytest.mark.parametrize("method,params,match", [
    ("richardson_lucy", {"iterations": 10**12}, "from 1 to 100000"),
    ("richardson_lucy", {"iterations": -1}, "out of range"),
    ("richardson_lucy", {"iterations": True}, "not a number"),
    ("richardson_lucy", {"iterations": 2.5}, "not a whole number"),
    ("richardson_lucy", {"accelerate": "maybe"}, "true or false"),
    ("auto", {"iterations": 10**12}, "from 1 to 100000"),
    ("hyper_laplacian", {"inner": 10**12}, "from 1 to 1000"),
    ("tv", {"lam": float("nan")}, "not finite"),
    ("wiener", {"nsr": float("inf")}, "not finite"),
    ("wiener", {"bogus": 1}, "unknown parameter 'bogus'"),
])
def test_bad_parameters_are_refused(method, params, match):
    with pytest.raises(ParameterError, match=match):
        deconvkit.deconvolve(np.ones((16, 16)), BOX5, method=method, **params)


@pytest.mark.parametrize("sigma", [float("inf"), float("nan"), -1.0])
def test_noise_sigma_must_be_finite(sigma):
    with pytest.raises(ParameterError, match="noise_sigma"):
        deconvkit.deconvolve(np.ones((16, 16)), BOX5, method="wiener", noise_sigma=sigma)


@pytest.mark.parametrize("method", ["richardson_lucy", "rl_tv"])
@pytest.mark.parametrize("boundary", ["periodic", None])
def test_all_zero_image_restores_to_zeros(method, boundary):
    # The reproducer gave all NaN (0 / 0 in the RL ratio). The exact answer of any non-negative
    # method for a zero image is zero.
    restored = deconvkit.deconvolve(np.zeros((64, 64)), BOX5, method=method, boundary=boundary)
    assert np.isfinite(restored).all()
    np.testing.assert_array_equal(restored, 0)


@pytest.mark.parametrize("shape", [(1, 64), (64, 1)])
def test_one_pixel_wide_images_are_input_errors(shape):
    with pytest.raises(InputError, match="at least 2 pixels"):
        deconvkit.deconvolve(np.ones(shape), np.ones((1, 1)), method="wiener")


def test_pure_noise_is_restored_not_refused():
    """White noise has no signal spectrum to fit: the automatic NSR was about 1e255, over the range a caller
    may give, so "auto" (whose SURE selection re-runs Wiener with that NSR) failed with a ParameterError."""
    from deconvkit._params import MAX_NSR
    from deconvkit.psf import gaussian

    noise = np.random.default_rng(0).random((64, 64))
    restored, info = deconvkit.deconvolve(noise, gaussian(1.0), method="auto", return_info=True)
    assert np.isfinite(restored).all() and info["method"] in deconvkit.solvers.available_methods()
    filtered, info = deconvkit.deconvolve(noise, gaussian(1.0), method="wiener", return_info=True)
    # within the range a caller may give (the unseen signal is floored at a fraction of the noise power, and
    # the rule is capped at MAX_NSR besides), and the rule's own value is still reported
    assert 0 < info["nsr"] <= MAX_NSR and np.isfinite(info["nsr_bayes"])
    # the reported NSR reproduces the result, as documented
    again = deconvkit.deconvolve(noise, gaussian(1.0), method="wiener", nsr=info["nsr"],
                                 nsr_exponent=info["nsr_exponent"])
    np.testing.assert_array_equal(again, filtered)
    # no signal: the mean (of the padded frame) passes and the noise is almost all filtered out
    assert abs(filtered.mean() - noise.mean()) < 0.01 and filtered.std() < 0.05 * noise.std()


@pytest.mark.parametrize(("true", "used"), [(1.5, 2.2), (1.5, 3.0)])
def test_too_wide_psf_gives_bounded_wiener_values(camera, true, used):
    """A PSF wider than the real blur, no noise: the old discrepancy rule took its lowest NSR and returned
    values of -701..685; the spectrum rule keeps the result within a few times the data's range."""
    from deconvkit.psf import gaussian

    blurred = deconvkit.blur(camera[:192, :192], gaussian(true), boundary="valid")
    restored, info = deconvkit.deconvolve(blurred, gaussian(used), method="wiener", return_info=True)
    assert -3.0 < restored.min() and restored.max() < 4.0, (restored.min(), restored.max())
    assert info["nsr"] > 1e-5  # not collapsed to the floor
