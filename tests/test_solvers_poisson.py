"""Offset-aware Richardson-Lucy (solvers/poisson.py): the update against a direct NumPy/SciPy
implementation, the offset bias against subtract-and-clip on a ground-truth phantom, the stopping rule's
deviance recomputed independently, and the Poisson noise estimate on data of known gain."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
from scipy.special import xlogy

import deconvkit
from deconvkit import DeconvkitError, psf
from deconvkit.solvers.poisson import estimate_poisson_noise, shot_noise_share


def bead_phantom(rng, shape, count, amplitude):
    truth = np.zeros(shape)
    low = [2] * len(shape)
    high = [n - 2 for n in shape]
    truth[tuple(rng.integers(low, high, size=(count, len(shape))).T)] = 1.0
    return scipy.ndimage.gaussian_filter(truth, 0.8) * amplitude


def test_update_matches_a_direct_implementation(rng):
    """Background light only (read_noise^2 = b / gain): the classical x * H^T(y / (Hx + b)) / H^T 1."""
    kernel = psf.gaussian(1.5)
    truth = bead_phantom(rng, (32, 32), 6, 30.0)
    gain, b = 50.0, 0.2
    y = rng.poisson((scipy.ndimage.convolve(truth, kernel, mode="wrap") + b) * gain) / gain
    x, info = deconvkit.deconvolve(y, kernel, method="poisson_rl", background=b, gain=gain,
                                   read_noise=np.sqrt(b / gain), iterations=12, accelerate=False,
                                   boundary="periodic", return_info=True)
    ref = np.full(y.shape, y.mean() - b)  # the flat start
    flipped = kernel[::-1, ::-1]
    for _ in range(12):
        predicted = scipy.ndimage.convolve(ref, kernel, mode="wrap") + b
        ref = ref * scipy.ndimage.convolve(y / predicted, flipped, mode="wrap")
    np.testing.assert_allclose(x, ref, rtol=1e-9, atol=1e-12)
    assert info["iterations"] == 12 and info["stop_rule"] == "fixed"


def test_constant_offset_no_longer_biases_the_result(rng):
    """sCMOS-like data: 100-count baseline, 1.6 e- read noise, dark background. Subtract-and-clip lifts the
    dark voxels (the clipped read noise has a positive mean); the offset in the model does not."""
    shape = (12, 48, 48)
    kernel = psf.widefield(na=1.2, wavelength=0.52, ni=1.333, spacing=(0.3, 0.1, 0.1), size=(9, 21, 21))
    truth = bead_phantom(rng, shape, 25, 40.0)  # photons
    gain, offset, read = 1.0, 100.0, 1.6
    clean = deconvkit.blur(truth, kernel, boundary="periodic")
    y = rng.poisson(np.maximum(clean, 0)) + offset + rng.normal(0, read, shape)
    x, info = deconvkit.deconvolve(y, kernel, method="poisson_rl", background=offset, gain=gain, read_noise=read,
                                   boundary="periodic", return_info=True)
    clipped = np.clip(y - offset, 0, None)
    x_clip = deconvkit.deconvolve(clipped, kernel, method="richardson_lucy", iterations=info["iterations"],
                                  boundary="periodic")
    dark = scipy.ndimage.maximum_filter(truth, 5) < 1e-3 * truth.max()
    bias_model = (x - truth)[dark].mean()
    bias_clip = (x_clip - truth)[dark].mean()
    assert bias_clip > 0.25  # the haze: a sizeable fraction of the 1.6-count read noise
    assert abs(bias_model) < 0.3 * bias_clip
    assert np.sqrt(np.mean((x - truth) ** 2)) < np.sqrt(np.mean((x_clip - truth) ** 2))
    assert (x >= 0).all()


def test_stopping_rule_reports_the_poisson_deviance(rng):
    kernel = psf.gaussian(1.2, ndim=3)
    truth = bead_phantom(rng, (16, 32, 32), 10, 400.0) + 20.0
    gain, b = 1.0, 10.0
    y = rng.poisson(deconvkit.blur(truth, kernel, boundary="periodic")) + b
    x, info = deconvkit.deconvolve(y, kernel, method="poisson_rl", background=b, gain=gain, read_noise=0.0,
                                   boundary="periodic", return_info=True)
    assert info["stop_rule"] in ("discrepancy", "plateau")
    assert 1 < info["iterations"] < 500
    mu = deconvkit.blur(x, kernel, boundary="periodic")
    z = y - b
    deviance = 2 * np.mean(xlogy(z, z) - xlogy(z, mu) - z + mu)
    assert info["deviance"] == pytest.approx(deviance, rel=1e-6)
    if info["stop_rule"] == "discrepancy":
        assert deviance <= 1.0
    # a stricter target runs longer
    _, strict = deconvkit.deconvolve(y, kernel, method="poisson_rl", background=b, gain=gain, read_noise=0.0,
                                     boundary="periodic", tau=0.5, tol=0, return_info=True)
    assert strict["iterations"] > info["iterations"]


@pytest.mark.parametrize("gain", [20.0, 200.0, 2000.0])
def test_noise_estimate_recovers_gain_and_read_noise(rng, gain):
    mean = np.linspace(0, 1, 64)[None, None, :] * np.ones((16, 64, 64))
    read = 2.0 / gain
    y = rng.poisson(mean * gain) / gain + 0.5 + rng.normal(0, read, mean.shape)
    g, sigma = estimate_poisson_noise(y, 0.5)
    assert g == pytest.approx(gain, rel=0.1)
    assert sigma == pytest.approx(read, rel=0.2)


def test_estimated_noise_is_reported(rng):
    kernel = psf.gaussian(1.0)
    y = rng.poisson(np.linspace(5, 200, 128)[None, :] * np.ones((128, 1))) + 3.0
    _, info = deconvkit.deconvolve(y.astype(float), kernel, method="poisson_rl", background=3.0,
                                   return_info=True)
    assert info["noise_estimated"] and info["gain"] == pytest.approx(1.0, rel=0.15)


@pytest.mark.parametrize("params, match", [
    ({"background": "dark"}, "background must be a number"),
    ({"gain": -1.0}, "gain must be > 0"),
    ({"gain": 1.0, "read_noise": -1.0}, "read_noise must be >= 0"),
    ({"gain": 1.0, "tau": 0.0}, "tau must be > 0"),
    ({"gain": 1.0, "iterations": -1}, "iterations must be >= 0"),
])
def test_bad_parameters_raise(params, match):
    with pytest.raises(DeconvkitError, match=match):
        deconvkit.deconvolve(np.ones((16, 16)), psf.gaussian(1.0), method="poisson_rl", **params)


def test_unknown_gain_falls_back_to_the_plateau_rule(rng):
    y = rng.random((16, 16)) + 1.0  # too small for a noise estimate
    _, info = deconvkit.deconvolve(y, psf.gaussian(1.0), method="poisson_rl", return_info=True)
    assert info["gain"] is None and "plateau" in info["noise_note"]
    assert info["stop_rule"] in ("plateau", "max_iterations")


def test_flat_data_cannot_give_a_noise_estimate():
    with pytest.raises(DeconvkitError, match="not photon-limited"):
        estimate_poisson_noise(np.full((64, 64), 3.0))
    with pytest.raises(DeconvkitError, match="too few voxels"):
        estimate_poisson_noise(np.ones((8, 8)))


def test_shot_noise_share_separates_photon_counts_from_one_noise_level(rng):
    mean = np.linspace(0.05, 1, 64)[None, None, :] * np.ones((16, 64, 64))
    counts = rng.poisson(mean * 50) / 50  # photon-limited: variance = mean / 50
    assert shot_noise_share(counts) > 0.9
    # the same means with one Gaussian level: the variance does not grow with the mean
    assert shot_noise_share(mean + rng.normal(0, 0.05, mean.shape)) < 0.3
    # the analytic value for a known gain and read noise: (p99 / g) / (p99 / g + read^2)
    read = 0.1
    mixed = counts + rng.normal(0, read, mean.shape)
    p99 = float(np.percentile(mixed, 99))
    expected = (p99 / 50) / (p99 / 50 + read**2)
    assert shot_noise_share(mixed) == pytest.approx(expected, abs=0.08)
    assert shot_noise_share(np.full((64, 64), 3.0)) == 0.0  # no fit at all


@pytest.mark.parametrize("channels", [1, 3])
def test_working_memory_stays_within_eight_and_a_half_domain_arrays(rng, channels):
    """The loop in RL's in-place form: the estimate, its Biggs-Andrews memory (step, direction, point),
    the sensitivity, the prediction's domain buffer and the per-iteration shifted data, about 7.8
    domain-sized float32 arrays at peak with the deviance computed (10.1-10.9 with the zero-filled
    back-projection copy and the shifted data kept), counted by tracemalloc as test_backends counts
    plain RL."""
    from _helpers import traced_domain_arrays
    from deconvkit._shared import check_psf

    image = (rng.random((channels, 192, 160)) + 0.1).astype(np.float32)
    psf = check_psf(deconvkit.psf.gaussian(2.0), 2, np.float32)
    arrays, info = traced_domain_arrays("poisson_rl", image, psf, gain=100.0, read_noise=0.01)
    assert info["iterations"] > 3  # the steady state (every buffer allocated) was reached
    assert arrays <= 8.5, arrays
