"""Metrics: PSNR against its formula and scikit-image, and the Levin score-up-to-shift protocol against a
brute-force search with scipy.ndimage.map_coordinates (and on the real Levin data when present)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import scipy.ndimage as ndi
from skimage import metrics as skmetrics

from deconvkit import DeconvkitError, metrics
from deconvkit.io import read_image


def smooth_image(shape, seed=0, sigma=2.0):
    rng = np.random.default_rng(seed)
    image = ndi.gaussian_filter(rng.random(shape), sigma)
    return (image - image.min()) / (image.max() - image.min())


def test_psnr_formula_and_skimage():
    reference = np.zeros((10, 10))
    assert math.isclose(metrics.psnr(reference, reference + 0.1), 20.0, rel_tol=1e-12)  # MSE 0.01
    assert math.isclose(metrics.psnr(reference, reference + 0.2, data_range=2.0), 20.0, rel_tol=1e-12)
    rng = np.random.default_rng(3)
    a, b = rng.random((20, 30)), rng.random((20, 30))
    expected = skmetrics.peak_signal_noise_ratio(a, b, data_range=1.0)
    assert math.isclose(metrics.psnr(a, b), expected, rel_tol=1e-12)
    assert metrics.psnr(a, a) == math.inf
    # Integer images are scaled by their dtype maximum: 8-bit data compares like its float version.
    a8, b8 = (a * 255).astype(np.uint8), (b * 255).astype(np.uint8)
    assert math.isclose(metrics.psnr(a8, b8), metrics.psnr(a8 / 255, b8 / 255), rel_tol=1e-12)
    with pytest.raises(DeconvkitError, match="shape"):
        metrics.psnr(a, b[:-1])


def test_ssim_wraps_skimage():
    a = smooth_image((40, 50))
    b = a + np.random.default_rng(1).normal(0, 0.05, a.shape)
    assert metrics.ssim(a, a) == 1.0
    expected = skmetrics.structural_similarity(a, b, data_range=1.0)
    assert math.isclose(metrics.ssim(a, b), expected, rel_tol=1e-12)
    colour = np.stack([a, a[::-1], a[:, ::-1]], axis=-1)
    noisy = np.stack([b, b[::-1], b[:, ::-1]], axis=-1)
    value = metrics.ssim(colour, noisy, channel_axis=-1)
    assert 0 < value < 1
    with pytest.raises(DeconvkitError, match="ssim"):
        metrics.ssim(a[:5, :5], b[:5, :5])


def brute_force_ssd(restored, sharp, maxshift, step, border):
    """SSD at every shift by interpolating the restored image with map_coordinates (bilinear)."""
    rows, cols = sharp.shape[0] - 2 * border, sharp.shape[1] - 2 * border
    crop = sharp[border:border + rows, border:border + cols]
    grid_y, grid_x = np.mgrid[border:border + rows, border:border + cols].astype(float)
    shifts = np.arange(-maxshift, maxshift + step / 2, step)
    ssd = np.empty((shifts.size, shifts.size))
    for i, dy in enumerate(shifts):
        for j, dx in enumerate(shifts):
            sampled = ndi.map_coordinates(restored, [grid_y + dy, grid_x + dx], order=1, mode="nearest")
            ssd[i, j] = ((sampled - crop) ** 2).sum()
    return shifts, ssd


@pytest.mark.parametrize("maxshift,step,border", [(3, 0.25, 6), (2, 0.5, 2), (1.5, 0.25, 4), (2, 1.0, 3)])
def test_levin_search_equals_exhaustive_interpolation(maxshift, step, border):
    sharp = smooth_image((48, 41), seed=2)
    blurred = ndi.gaussian_filter(sharp, 1.3)
    restored = ndi.shift(blurred, (0.6, -1.1), order=3) + np.random.default_rng(5).normal(0, 0.01, sharp.shape)
    shifts, ssd = brute_force_ssd(restored, sharp, maxshift, step, border)
    score = metrics.levin_score(restored, sharp, maxshift=maxshift, step=step, border=border)
    i, j = np.unravel_index(np.argmin(ssd), ssd.shape)
    assert score.shift == (shifts[i], shifts[j])
    assert math.isclose(score.ssd, ssd.min(), rel_tol=1e-10)
    # The closed-form SSD surface equals the interpolated one at every shift.
    fractions = np.arange(int(1 / step) + 1) * step
    max_int = math.ceil(maxshift)
    padded = np.pad(restored, ((0, 1), (0, 1)), mode="edge")
    crop = sharp[border:-border or None, border:-border or None]
    surface = metrics._ssd_all_shifts(padded, crop, border, max_int, fractions)
    for a, dy in enumerate(shifts):
        for b, dx in enumerate(shifts):
            iy, ix = min(math.floor(dy), max_int - 1), min(math.floor(dx), max_int - 1)
            fy, fx = round((dy - iy) / step), round((dx - ix) / step)
            assert math.isclose(surface[iy + max_int, fy, ix + max_int, fx], ssd[a, b], rel_tol=1e-9, abs_tol=1e-9)


def test_levin_recovers_known_subpixel_shift():
    sharp = smooth_image((120, 110), seed=4, sigma=3.0)
    restored = ndi.shift(sharp, (1.25, -2.5), order=3, mode="nearest")
    score = metrics.levin_score(restored, sharp)
    assert score.shift == (1.25, -2.5)
    assert score.psnr > 45 and score.ssim > 0.999
    unshifted = metrics.levin_score(sharp, sharp)
    assert unshifted.psnr == math.inf and unshifted.ssd == 0 and unshifted.shift == (0.0, 0.0)
    assert unshifted.as_dict()["ssim"] == 1.0
    # PSNR on the aligned crop equals the plain PSNR of the crop against the re-aligned image.
    aligned = ndi.shift(restored, (-1.25, 2.5), order=1)
    assert abs(score.psnr - metrics.psnr(sharp[15:-15, 15:-15], aligned[15:-15, 15:-15])) < 0.5


def test_levin_integer_input_and_errors():
    sharp = smooth_image((60, 60))
    as8 = np.rint(sharp * 255).astype(np.uint8)
    assert metrics.levin_score(as8, sharp).psnr > 50  # 8-bit quantisation only
    with pytest.raises(DeconvkitError, match="shape"):
        metrics.levin_score(sharp[:-1], sharp)
    with pytest.raises(DeconvkitError, match="2-D"):
        metrics.levin_score(np.stack([sharp] * 3, -1), np.stack([sharp] * 3, -1))
    with pytest.raises(DeconvkitError, match="maxshift"):
        metrics.levin_score(sharp, sharp, maxshift=6, border=5)
    with pytest.raises(DeconvkitError, match="step"):
        metrics.levin_score(sharp, sharp, step=0.3)
    with pytest.raises(DeconvkitError, match="leaves nothing"):
        metrics.levin_score(sharp[:20, :20], sharp[:20, :20], border=10)


def test_error_ratio():
    blind = metrics.LevinScore(psnr=20.0, ssim=0.5, ssd=4.0, shift=(0.0, 0.0))
    true_psf = metrics.LevinScore(psnr=26.0, ssim=0.8, ssd=1.0, shift=(0.0, 0.0))
    assert metrics.error_ratio(blind, true_psf) == 2.0
    assert metrics.error_ratio(blind, true_psf, squared=True) == 4.0
    assert metrics.error_ratio(9.0, 1.0) == 3.0
    with pytest.raises(DeconvkitError):
        metrics.error_ratio(1.0, 0.0)


@pytest.mark.data
def test_levin_dataset_scores(levin_dir):
    scores, times = [], []
    for i in range(1, 5):
        sharp, _ = read_image(levin_dir / "gt" / f"im{i}.png")
        assert metrics.levin_score(sharp, sharp).psnr == math.inf
        for j in range(1, 9):
            blurred, _ = read_image(levin_dir / "blurred" / f"im{i}_kernel{j}.png")
            start = time.perf_counter()
            score = metrics.levin_score(blurred, sharp)
            times.append(time.perf_counter() - start)
            scores.append(score)
            assert 17 < score.psnr < 31, (i, j, score)
            assert all(abs(s) <= 5 for s in score.shift)
    assert 20 < np.mean([s.psnr for s in scores]) < 28
    assert np.median(times) < 1.0
