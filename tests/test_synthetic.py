"""Synthetic scenes (``deconvkit.synthetic``): their statistics against the laws they are drawn from."""

import numpy as np
import pytest

from deconvkit import DeconvkitError
from deconvkit.synthetic import cartoon, star_field, star_magnitudes


def test_star_magnitudes_follow_the_euclidean_counts():
    # N(<m) ~ 10^(0.6 m) on [0, 6]: the CDF is (10^(0.6 m) - 1) / (10^3.6 - 1); Kolmogorov-Smirnov
    from scipy import stats

    mags = star_magnitudes(20000, 6.0, rng=0)
    assert mags.min() >= 0 and mags.max() <= 6
    result = stats.kstest(mags, lambda m: (10 ** (0.6 * np.asarray(m)) - 1) / (10**3.6 - 1))
    assert result.pvalue > 0.01
    # each magnitude bin holds 10^0.6 = 3.98 times the previous one's stars
    counts, _ = np.histogram(mags, bins=[2, 3, 4, 5, 6])
    np.testing.assert_allclose(counts[1:] / counts[:-1], 10**0.6, rtol=0.15)


def test_star_field_conserves_each_stars_flux():
    # one star away from the border: its pixel-integrated Gaussian sums to peak / (peak pixel's share)
    from scipy.special import erf

    image = star_field((64, 64), density=1 / 4096, seeing=0.7, background=0.0, brightest=0.5, rng=1)
    share = erf(0.5 / (np.sqrt(2) * 0.7)) ** 2
    total = image.sum()
    assert total == pytest.approx(0.5 / share, rel=1e-3)


def test_star_field_is_deterministic_and_checks_its_input():
    np.testing.assert_array_equal(star_field((64, 64), rng=3), star_field((64, 64), rng=3))
    with pytest.raises(DeconvkitError):
        star_field((8, 8, 8))
    with pytest.raises(DeconvkitError):
        star_field((32, 32), seeing=0)


def test_cartoon_is_piecewise_constant():
    image = cartoon((128, 128), rng=1)
    assert len(np.unique(image)) <= 25  # background + one level per shape
    gradient = np.abs(np.diff(image, axis=0))
    assert np.mean(gradient > 0) < 0.1  # edges only
    with pytest.raises(DeconvkitError):
        cartoon((4, 4))
