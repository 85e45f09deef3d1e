"""deconvkit.solvers.hyper_laplacian: the proximal map against brute force, restoration."""

import numpy as np
import pytest

import deconvkit
from deconvkit.solvers.hyper_laplacian import hyper_laplacian_shrink


@pytest.mark.parametrize("alpha", [0.5, 2.0 / 3.0, 0.8, 0.3, 1.0])
@pytest.mark.parametrize("tau", [0.02, 0.3, 1.5])
def test_hyper_laplacian_shrink_matches_brute_force(alpha, tau):
    v = np.linspace(-3, 3, 121)
    grid = np.linspace(-3.5, 3.5, 35001)
    cost = tau * np.abs(grid[None]) ** alpha + 0.5 * (grid[None] - v[:, None]) ** 2
    brute_cost = cost.min(axis=1)
    w = hyper_laplacian_shrink(v, alpha, tau)
    ours_cost = tau * np.abs(w) ** alpha + 0.5 * (w - v) ** 2
    # never worse than the fine grid (up to its resolution), and the same minimiser away from ties
    assert np.all(ours_cost <= brute_cost + 1e-8)
    brute_w = grid[np.argmin(cost, axis=1)]
    sorted_cost = np.sort(cost, axis=1)
    # where the two best local minima are nearly tied the argmin may flip; elsewhere the points agree
    w_zero_cost = 0.5 * v**2
    untied = np.abs(ours_cost - w_zero_cost) > 1e-6
    assert np.allclose(w[untied], brute_w[untied], atol=4e-4)
    assert sorted_cost.shape[0] == v.size


def test_hyper_laplacian_shrink_float32_and_shape():
    v = np.random.default_rng(0).normal(size=(2, 2, 5, 6)).astype(np.float32)
    w = hyper_laplacian_shrink(v, 2.0 / 3.0, 0.1)
    assert w.dtype == np.float32 and w.shape == v.shape


@pytest.mark.parametrize("alpha", [0.5, 2.0 / 3.0, 0.8])
def test_hyper_laplacian_restores_valid_blur_2d(camera, alpha):
    sharp = camera[100:228, 100:228]
    psf = deconvkit.psf.motion(9, 30)
    y = deconvkit.blur(sharp, psf, boundary="valid", noise=0.01, rng=3)
    k = psf.shape[0] // 2
    reference = sharp[k:k + y.shape[0], k:k + y.shape[1]]
    x = deconvkit.deconvolve(y, psf, method="hyper_laplacian", alpha=alpha)
    error = lambda e: np.sqrt(np.mean((e - reference) ** 2))  # noqa: E731
    # the blurred image itself is a weak but honest baseline; a working prior beats it clearly
    assert error(x) < 0.7 * error(y)


@pytest.mark.parametrize("alpha", [0.5, 2.0 / 3.0, 0.8])
def test_hyper_laplacian_shrink_float32_stacked_gradient_matches_brute_force(alpha):
    """float32 stacked gradients (C, ndim, *shape), as the splitting passes them (only the candidates
    above the hard threshold are converted to float64): each value's minimiser against a fine grid,
    zero below the threshold (exactly, with the sign of zero aside)."""
    rng = np.random.default_rng(5)
    tau = 0.2
    v = (rng.normal(size=(2, 2, 6, 7)) * 0.8).astype(np.float32)
    w = hyper_laplacian_shrink(v, alpha, tau)
    assert w.dtype == np.float32 and w.shape == v.shape
    flat = v.astype(np.float64).ravel()
    grid = np.linspace(-4, 4, 80001)
    cost = tau * np.abs(grid[None]) ** alpha + 0.5 * (grid[None] - flat[:, None]) ** 2
    ours = w.astype(np.float64).ravel()
    ours_cost = tau * np.abs(ours) ** alpha + 0.5 * (ours - flat) ** 2
    assert np.all(ours_cost <= cost.min(axis=1) + 1e-6)
    untied = np.abs(ours_cost - 0.5 * flat**2) > 1e-5
    np.testing.assert_allclose(ours[untied], grid[np.argmin(cost, axis=1)][untied], atol=2e-4)
    threshold = (2 - alpha) / (2 - 2 * alpha) * (2 * tau * (1 - alpha)) ** (1 / (2 - alpha))
    assert np.all(ours[np.abs(flat) < threshold] == 0)
    assert np.count_nonzero(ours) > 0 and np.count_nonzero(ours == 0) > 0
