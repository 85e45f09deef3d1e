"""Noise estimation against known noise levels (the truth is the std of the noise we add)."""

import numpy as np
import pytest

import deconvkit
from deconvkit.noise import estimate_noise, grouped_median


@pytest.mark.parametrize("sigma", [0.001, 0.01, 0.1])
def test_pure_noise_2d_and_3d(sigma):
    rng = np.random.default_rng(0)
    assert estimate_noise(rng.normal(0, sigma, (256, 256))) == pytest.approx(sigma, rel=0.03)
    assert estimate_noise(rng.normal(0, sigma, (40, 40, 40))) == pytest.approx(sigma, rel=0.03)


@pytest.mark.parametrize("sigma", [0.005, 0.01, 0.02, 0.05])
def test_blurred_image(camera, sigma):
    y = deconvkit.blur(camera[:256, :256], deconvkit.psf.gaussian(2.0), boundary="valid", noise=sigma, rng=1)
    # texture leaks a little into the finest band: a slight over-estimate, never an under-estimate
    assert sigma * 0.97 < estimate_noise(y) < sigma * 1.15


def test_grouped_median_is_the_median_for_continuous_data():
    values = np.abs(np.random.default_rng(2).normal(size=10001))
    assert grouped_median(values) == pytest.approx(np.median(values), rel=1e-7)


def test_grouped_median_recovers_quantised_normal():
    """|N(0, s)| rounded to a grid as coarse as s/1.5: the plain median is stuck on a grid value, the
    grouped median is within a few percent of the continuous one (0.6745 s', where s'^2 = s^2 + 1/12 counts
    the rounding error as noise)."""
    rng = np.random.default_rng(3)
    s = 1.5
    values = np.abs(np.round(rng.normal(0, s, 200001)))
    assert np.median(values) == 1.0  # on the grid, 26% low
    assert grouped_median(values) == pytest.approx(0.6745 * np.hypot(s, np.sqrt(1 / 12)), rel=0.05)


def test_eight_bit_quantised_image_gives_continuous_estimates(camera):
    """8-bit data: the estimate follows the noise level instead of sticking to half a grey level."""
    estimates = []
    for sigma_grey in (0.8, 1.2, 1.6, 2.0):
        y = deconvkit.blur(camera[:256, :256], deconvkit.psf.gaussian(2.0), boundary="valid",
                           noise=sigma_grey / 255, rng=4)
        quantised = np.round(np.clip(y, 0, 1) * 255) / 255
        # quantisation adds its own uniform noise of variance 1/12 grey level^2
        truth = np.hypot(sigma_grey, np.sqrt(1 / 12)) / 255
        estimates.append(estimate_noise(quantised))
        assert estimates[-1] == pytest.approx(truth, rel=0.12)
    assert np.all(np.diff(estimates) > 0)


def test_channels_share_the_median():
    rng = np.random.default_rng(5)
    stack = np.stack([rng.normal(0, s, (128, 128)) for s in (0.01, 0.02, 0.03)], axis=-1)
    assert estimate_noise(stack, channel_axis=-1) == pytest.approx(0.02, rel=0.05)


def _textbook_grouped_median(values):
    """The median of grouped data written out with np.unique: classes half-way between distinct levels,
    linear interpolation inside the class holding rank n / 2."""
    levels, counts = np.unique(np.asarray(values, dtype=np.float64), return_counts=True)
    n = counts.sum()
    if levels.size == n:
        return float(np.median(values))
    if levels.size == 1:
        return float(levels[0])
    edges = np.concatenate([[max(levels[0] - (levels[1] - levels[0]) / 2, 0.0)], (levels[1:] + levels[:-1]) / 2,
                            [levels[-1] + (levels[-1] - levels[-2]) / 2]])
    cumulative = np.cumsum(counts)
    k = min(int(np.searchsorted(cumulative, n / 2.0)), levels.size - 1)
    below = cumulative[k] - counts[k]
    return float(edges[k] + (n / 2.0 - below) / counts[k] * (edges[k + 1] - edges[k]))


@pytest.mark.parametrize("seed", range(6))
def test_grouped_median_matches_the_textbook_formula(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(2, 3000))
    quantised = np.round(np.abs(rng.normal(0, 3, size))) / 255  # few distinct levels, many ties
    for values in (quantised, quantised[: max(1, size // 2) * 2 - 1], np.full(5, 0.25), rng.random(size)):
        # to the merging tolerance (values within 1e-9 of the largest are one level)
        assert grouped_median(values) == pytest.approx(_textbook_grouped_median(values), rel=1e-8, abs=1e-12)
        scratch = np.array(values, dtype=np.float64)
        assert grouped_median(scratch, overwrite=True) == grouped_median(values)


def test_noise_estimate_makes_no_image_sized_float64_copies():
    # the estimate runs before every solve on the whole image: its working memory (one float64 array of
    # the pooled coefficients, sorted in place, plus index arrays) must stay a few image sizes, not the
    # 24 float32 image sizes the pooled copies took (12 MP: 1.1 GB)
    import tracemalloc

    image = np.random.default_rng(0).random((600, 700)).astype(np.float32)
    tracemalloc.start()
    try:
        estimate_noise(image)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * image.nbytes
