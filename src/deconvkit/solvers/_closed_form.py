"""Closed-form regularised inverse filters on the FFT domain, and GCV for their weight.

``x = F^-1[ conj(H) Y / (|H|^2 + lam * R) ]`` with ``R = 1`` (Wiener with a constant noise-to-signal ratio)
or ``R = |D|^2`` (Tikhonov with a gradient penalty, i.e. the Laplacian ``D^T D``). Shared by the Wiener and
Tikhonov solvers and used as the preconditioner of the boundary-aware Tikhonov solver.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize

__all__ = ["regularised_inverse", "gcv_weight", "discrepancy_weight", "gradient_energy", "half_spectrum_weights",
           "data_power", "compact_data_power", "half_spectrum_slabs"]


def regularised_inverse(problem, lam: float, reg_abs2, data=None, *, release_extended=False):
    """Apply the regularised inverse filter to ``data`` (default: the extended observation).

    With ``release_extended`` (and no ``data``) the cached extended data are transformed and then dropped
    before the filter is applied, so the extension is not held through the inverse transform (one
    domain-sized array fewer at the peak of a one-shot filter; same values).
    """
    if data is None and release_extended:
        spectrum = problem.blur.to_spectrum(problem.extended())
        problem.release_extended()
        return problem.blur.solve_normal(spectrum, reg_abs2, lam, back_project=True, spectral_in=True,
                                         consume=True)
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
    return np.asarray(compact_data_power(problem), dtype=np.float64)


def compact_data_power(problem, keep_extension=True) -> np.ndarray:
    """:func:`data_power` in the smallest dtype that holds its values exactly: for one channel the
    power in the working precision (``|F|^2`` of a float32 problem is float32, and its float64 copy,
    which :func:`data_power` returns, adds no information), else float64. Half the memory of a float64
    spectrum for a grey image or a stack. ``keep_extension=False``: the extended data are made for this
    call only (when not cached already) and not kept."""
    bk = problem.backend
    extended = problem.extended(cache=keep_extension or problem.extension_cached)
    total = None
    for c in range(problem.channels):
        spectrum = problem.blur.to_spectrum(extended[c:c + 1])
        power = bk.to_numpy(_abs2(bk, spectrum))[0]
        del spectrum
        if problem.channels == 1:
            return power
        if total is None:
            total = np.array(power, dtype=np.float64)  # a fresh array: safe to accumulate into
        else:
            total += power
        del power
    return total


def _abs2(bk, spectrum):
    """``bk.abs2(spectrum)``; on NumPy with one temporary fewer (the same sum of the same products)."""
    if not isinstance(spectrum, np.ndarray):
        return bk.abs2(spectrum)
    power = spectrum.real * spectrum.real
    power += spectrum.imag * spectrum.imag
    return power


def half_spectrum_slabs(shape, budget: int = 1 << 20):
    """Index tuples cutting an rfft grid of ``shape`` into slabs of its first axis of about ``budget``
    values: element-wise passes over host spectra are made slab by slab, so that their float64
    temporaries are a slab, not a domain-sized array each."""
    row = int(np.prod(shape[1:]))
    step = max(1, budget // max(row, 1))
    return [(slice(start, min(start + step, shape[0])),) for start in range(0, shape[0], step)]


def _spectra(problem, reg_abs2):
    """Host copies of |H|^2, the data power spectrum summed over channels, and R, in float64."""
    bk = problem.backend
    otf_abs2 = np.asarray(bk.to_numpy(problem.blur.otf_abs2), dtype=np.float64)
    power = data_power(problem)
    reg = np.asarray(bk.to_numpy(reg_abs2), dtype=np.float64)
    return otf_abs2, power, reg


def discrepancy_weight(problem, reg_abs2, sigma: float, bounds=(1e-8, 1e2), spectra=None) -> float:
    """Weight at which the residual ``||A x_lam - y||`` equals the noise level (Morozov's principle).

    The residual grows monotonically with ``lam``, so the root is unique; it is found by bisection on
    ``log10(lam)`` with the residual evaluated in Fourier space (Parseval), one pass per trial.

    ``spectra`` (optional): ``(|H|^2, data power, R)`` already on the host (any float dtype that holds
    the values exactly, e.g. :func:`compact_data_power`; ``R`` may be a float), instead of computing
    them again. Each trial's terms are formed slab by slab into one float64 buffer and summed whole,
    which gives the same sum as the whole-array expression with one float64 spectrum instead of four.
    """
    otf_abs2, power, reg = _spectra(problem, reg_abs2) if spectra is None else spectra
    weights = half_spectrum_weights(problem.domain)
    pixels = float(np.prod(problem.domain)) * problem.channels
    target = sigma**2
    terms = np.empty(otf_abs2.shape, dtype=np.float64)
    slabs = half_spectrum_slabs(otf_abs2.shape)
    reg_is_array = np.ndim(reg) > 0
    if reg_is_array:
        reg = np.broadcast_to(reg, otf_abs2.shape)  # sliced like the spectra below

    def excess(log_lam):
        lam = 10.0**log_lam
        for part in slabs:
            reg_part = np.asarray(reg[part], dtype=np.float64) if reg_is_array else reg
            gain = lam * reg_part / (np.asarray(otf_abs2[part], dtype=np.float64) + lam * reg_part)
            terms[part] = weights * gain**2 * np.asarray(power[part], dtype=np.float64)
        mean_square = np.sum(terms) / (pixels * np.prod(problem.domain))
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
