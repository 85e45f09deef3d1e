"""Closed-form regularised inverse filters on the FFT domain, and GCV for their weight.

``x = F^-1[ conj(H) Y / (|H|^2 + lam * R) ]`` with ``R = 1`` (Wiener with a constant noise-to-signal ratio)
or ``R = |D|^2`` (Tikhonov with a gradient penalty, i.e. the Laplacian ``D^T D``). Shared by the Wiener and
Tikhonov solvers and used as the preconditioner of the boundary-aware Tikhonov solver.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize

__all__ = ["regularised_inverse", "gcv_weight", "discrepancy_weight", "gradient_energy", "half_spectrum_weights",
           "data_power"]


def regularised_inverse(problem, lam: float, reg_abs2, data=None):
    """Apply the regularised inverse filter to ``data`` (default: the extended observation)."""
    return problem.blur.solve_normal(problem.extended() if data is None else data, reg_abs2, lam,
                                     back_project=True)


def half_spectrum_weights(domain) -> np.ndarray:
    """Multiplicity of each rfft coefficient in the full spectrum (interior columns appear twice)."""
    n = domain[-1]
    weights = np.full(n // 2 + 1, 2.0)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    return weights


def data_power(problem) -> np.ndarray:
    """``sum_c |F[extend(y_c)]|^2``: the extended data's power spectrum summed over channels (host float64).

    Computed one channel at a time (a channel's transform equals its slice of the batched one, and the
    channels are added in the order a sum over the channel axis adds them, so the values are the same):
    the colour spectrum and its float64 copy are never held whole, which is what set the Wiener filter's
    peak memory on a 12-megapixel photo.
    """
    bk = problem.backend
    extended = problem.extended()
    total = None
    for c in range(problem.channels):
        spectrum = problem.blur.to_spectrum(extended[c:c + 1])
        power = np.asarray(bk.to_numpy(bk.abs2(spectrum)), dtype=np.float64)[0]
        del spectrum
        if total is None:
            total = power  # a fresh array (abs2's result): safe to accumulate into
        else:
            total += power
        del power
    return total


def _spectra(problem, reg_abs2):
    """Host copies of |H|^2, the data power spectrum summed over channels, and R, in float64."""
    bk = problem.backend
    otf_abs2 = np.asarray(bk.to_numpy(problem.blur.otf_abs2), dtype=np.float64)
    power = data_power(problem)
    reg = np.asarray(bk.to_numpy(reg_abs2), dtype=np.float64)
    return otf_abs2, power, reg


def discrepancy_weight(problem, reg_abs2, sigma: float, bounds=(1e-8, 1e2)) -> float:
    """Weight at which the residual ``||A x_lam - y||`` equals the noise level (Morozov's principle).

    The residual grows monotonically with ``lam``, so the root is unique; it is found by bisection on
    ``log10(lam)`` with the residual evaluated in Fourier space (Parseval), one pass per trial.
    """
    otf_abs2, power, reg = _spectra(problem, reg_abs2)
    weights = half_spectrum_weights(problem.domain)
    pixels = float(np.prod(problem.domain)) * problem.channels
    target = sigma**2

    def excess(log_lam):
        lam = 10.0**log_lam
        gain = lam * reg / (otf_abs2 + lam * reg)
        mean_square = np.sum(weights * gain**2 * power) / (pixels * np.prod(problem.domain))
        return mean_square - target

    lo, hi = np.log10(bounds[0]), np.log10(bounds[1])
    if excess(lo) >= 0:
        return float(bounds[0])
    if excess(hi) <= 0:
        return float(bounds[1])
    return float(10.0 ** scipy.optimize.brentq(excess, lo, hi, xtol=1e-3))


def gradient_energy(problem) -> float:
    """Estimate the sharp image's mean squared gradient (per pixel, summed over axes) from blurred data.

    Natural images have a roughly flat gradient power spectrum, so its level can be read off the
    frequencies the PSF passes well (``|H|^2 >= 1/2``) after removing the noise floor and undoing the
    blur there. Low frequencies dominate that band, so the estimate runs high (2-5x on scikit-image's
    samples); rules that use it are calibrated with that bias in.
    """
    reg_abs2 = problem.gradient.transfer_abs2(np.float64)
    otf_abs2, power, reg = _spectra(problem, reg_abs2)
    pixels = float(np.prod(problem.domain))
    passed = (otf_abs2 >= 0.5) & (reg > 0)
    weights = np.broadcast_to(half_spectrum_weights(problem.domain), otf_abs2.shape)[passed]
    signal = np.maximum(power[passed] / (pixels * problem.channels) - problem.noise_sigma**2, 0.0)
    level = signal * reg[passed] / otf_abs2[passed]
    return float(np.sum(weights * level) / max(np.sum(weights), 1e-30))


def gcv_weight(problem, reg_abs2, bounds=(1e-8, 1e1)) -> float:
    """Regularisation weight minimising generalised cross-validation (Golub, Heath & Wahba 1979).

    ``GCV(lam) = ||(I - A_lam) y||^2 / tr(I - A_lam)^2`` with the influence matrix ``A_lam`` diagonal in
    Fourier space (``|H|^2 / (|H|^2 + lam R)``). Needs no noise estimate; evaluated on the extended data.
    """
    otf_abs2, power, reg = _spectra(problem, reg_abs2)
    weights = half_spectrum_weights(problem.domain)
    channels = problem.channels

    def gcv(log_lam):
        lam = 10.0 ** log_lam
        residual_gain = lam * reg / (otf_abs2 + lam * reg)
        numerator = np.sum(weights * residual_gain**2 * power)
        trace = np.sum(weights * np.broadcast_to(residual_gain, power.shape)) * channels
        return numerator / trace**2

    lo, hi = np.log10(bounds[0]), np.log10(bounds[1])
    grid = np.linspace(lo, hi, 37)
    values = [gcv(v) for v in grid]
    best = int(np.argmin(values))
    left, right = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    if right > left:
        result = scipy.optimize.minimize_scalar(gcv, bounds=(left, right), method="bounded",
                                                options={"xatol": 1e-3})
        return float(10.0 ** result.x)
    return float(10.0 ** grid[best])
