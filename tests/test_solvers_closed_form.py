"""deconvkit.solvers._closed_form: weight rules (GCV, discrepancy) against dense / image-space references."""

import numpy as np

import deconvkit
from _helpers import gaussian_psf, smooth_scene


def test_gcv_weight_matches_dense_gcv(rng):
    """GCV(lam) = ||(I-H)y||^2 / tr(I-H)^2 with the influence matrix H built densely."""
    from deconvkit.solvers._base import Problem
    from deconvkit.solvers._closed_form import gcv_weight

    shape = (8, 9)
    psf = gaussian_psf(1.0, 5)
    y = deconvkit.blur(smooth_scene(rng, shape), psf, boundary="periodic", noise=0.02, rng=1)
    problem = Problem(y[None], psf, "periodic")
    chosen = gcv_weight(problem, 1.0)
    n = y.size
    A = np.array([deconvkit.blur(b, psf, boundary="periodic").ravel()
                  for b in np.eye(n).reshape((n,) + shape)]).T

    def gcv(lam):
        influence = A @ np.linalg.solve(A.T @ A + lam * np.eye(n), A.T)
        residual = (np.eye(n) - influence) @ y.ravel()
        return residual @ residual / np.trace(np.eye(n) - influence) ** 2

    grid = np.logspace(-8, 1, 400)
    best = grid[np.argmin([gcv(g) for g in grid])]
    assert abs(np.log10(chosen) - np.log10(best)) < 0.05


def test_wiener_discrepancy_rule_makes_the_residual_equal_the_noise(rng):
    """Morozov: at the chosen NSR the residual, computed in image space, matches the given noise level."""
    from deconvkit.solvers._base import Problem
    from deconvkit.solvers._closed_form import discrepancy_weight, regularised_inverse

    psf = gaussian_psf(1.5, 9)
    y = deconvkit.blur(smooth_scene(rng, (48, 40)), psf, boundary="periodic", noise=0.02, rng=4)
    problem = Problem(y[None], psf, "periodic")
    nsr = discrepancy_weight(problem, 1.0, 0.02)
    restored = regularised_inverse(problem, nsr, 1.0)[0]
    residual = deconvkit.blur(restored, psf, boundary="periodic") - y
    assert abs(np.sqrt(np.mean(residual**2)) - 0.02) < 0.02 * 0.01


def test_data_power_channel_by_channel_matches_numpy_fft(rng):
    """The channel-by-channel power spectrum against numpy.fft on the whole colour array."""
    from deconvkit.solvers._base import Problem
    from deconvkit.solvers._closed_form import data_power

    data = rng.random((3, 20, 23)).astype(np.float32)
    problem = Problem(data, np.ones((3, 3)) / 9, "pad")
    extended = np.asarray(problem.extended(), dtype=np.float64)
    reference = (np.abs(np.fft.rfftn(extended, axes=(1, 2))) ** 2).sum(axis=0)
    power = data_power(problem)
    assert power.dtype == np.float64 and power.shape == reference.shape
    np.testing.assert_allclose(power, reference, rtol=1e-5, atol=1e-6 * reference.max())


def test_compact_power_and_slab_wise_discrepancy_equal_the_float64_forms(rng, monkeypatch):
    """compact_data_power holds data_power's values exactly, and the discrepancy weight evaluated slab by
    slab from the compact spectra is the one of the whole float64 expression (re-implemented here)."""
    import scipy.optimize

    from deconvkit.solvers import _closed_form
    from deconvkit.solvers._base import Problem
    from deconvkit.solvers._closed_form import (
        compact_data_power,
        data_power,
        discrepancy_weight,
        half_spectrum_slabs,
        half_spectrum_weights,
    )

    psf = gaussian_psf(1.5, 7)
    y = deconvkit.blur(smooth_scene(rng, (10, 30, 28)), np.ones((3, 1, 1)) / 3, boundary="reflect")
    y = (y + rng.normal(0, 0.01, y.shape)).astype(np.float32)
    problem = Problem(y[None], psf[None] / psf.sum(), "pad")
    compact = compact_data_power(problem)
    assert compact.dtype == np.float32
    assert np.array_equal(np.asarray(compact, np.float64), data_power(problem))
    reg = problem.gradient.transfer_abs2(np.float64) ** 0.7
    otf_abs2 = np.asarray(problem.blur.otf_abs2, np.float64)
    power = data_power(problem)
    weights = half_spectrum_weights(problem.domain)
    pixels = float(np.prod(problem.domain))

    def excess(log_lam):  # the whole-array expression
        lam = 10.0**log_lam
        gain = lam * reg / (otf_abs2 + lam * reg)
        return np.sum(weights * gain**2 * power) / (pixels * np.prod(problem.domain)) - 0.01**2

    reference = float(10.0 ** scipy.optimize.brentq(excess, -8, 2, xtol=1e-3))
    monkeypatch.setattr(_closed_form, "half_spectrum_slabs", lambda shape: half_spectrum_slabs(shape, 2 * shape[1]))
    assert len(_closed_form.half_spectrum_slabs(otf_abs2.shape)) > 1
    spectra = (problem.blur.otf_abs2, compact, reg)
    assert discrepancy_weight(problem, reg, 0.01, spectra=spectra) == reference
    assert discrepancy_weight(problem, reg, 0.01) == reference
