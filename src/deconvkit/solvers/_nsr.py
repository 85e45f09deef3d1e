"""The automatic noise-to-signal ratio of the Wiener filter: the Wiener rule with a fitted signal spectrum.

The Wiener filter that minimises the mean squared error is ``X = conj(H) Y / (|H|^2 + N(f) / S(f))``
(noise power ``N``, signal power ``S``). A constant NSR assumes a flat signal spectrum; natural images have
``S(f)`` falling roughly as ``|f|^-2`` to ``|f|^-3``, so any single constant either leaves noise in the high
frequencies or blurs the low ones (on scikit-image's ``test_wiener`` input the *best* constant NSR scores
23.5 dB, below scikit-image's Laplacian-regularised ``wiener(balance=0.05)`` at 25.25 dB).

Here the signal spectrum is modelled as a power law in the finite-difference transfer function,
``S(f) = c |D(f)|^(-2p)`` (``|D|^2 = sum_axes 2 - 2 cos w``; ``p = 0`` is a white signal, ``p = 1`` the
classic natural-image spectrum), and ``c``, ``p`` are fitted from the blurred data on the frequencies the
PSF passes well (``|H|^2 >= 1/2``) and where the data stand clearly above the noise floor: there
``|Y|^2 / n - s^2 ~ |H|^2 S``. The NSR is then the Wiener (Bayes) value ``N / S = (s^2 / c) |D|^(2p)``, with
no search: for a white signal it *is* the oracle ``s^2 / S`` (tested analytically in
``tests/test_solvers_nsr.py``).

Why not a data-fit rule: Morozov's discrepancy principle, SURE of the prediction and GCV all choose the
weight from how well ``H x`` fits ``y``; on noise-free data or with a PSF wider than the real blur the fit
keeps improving as the weight falls, so they drive it to its floor (the old rule: 14.3 dB on noise-free
data, values of +-700 with a too-wide PSF). The spectrum rule does not look at the fit, so a mis-specified
PSF only changes ``c`` a little.

Floors, so that the ratio never collapses: the noise power used is at least ``NOISE_FLOOR`` of the data's
range squared (no real data are cleaner than a ~12-bit quantisation), and at least the *model error* read
off the PSF's spectrum: the mean data power on the frequencies where the fitted model says the data hold
only noise (see :func:`wiener_nsr`). The exponent is kept in ``[0, 2]``.
"""

from __future__ import annotations

import numpy as np

from .._params import MAX_NSR
from ._closed_form import compact_data_power, discrepancy_weight, half_spectrum_slabs, half_spectrum_weights

__all__ = ["NOISE_FLOOR", "fit_signal_spectrum", "spectrum_shape", "wiener_nsr"]

# Relative noise floor: 2^-12 of the data range (a 12-bit quantisation step is 2^-12 / sqrt(12) rms;
# the floor is a little above it because the noise-free model error of real data is never smaller).
NOISE_FLOOR = 2.0 ** -12
# The PSF must pass this much power at a frequency for the data there to show the signal's spectrum.
_PASSBAND = 0.5
# ... and the data must stand this far above the noise power (else the fit reads the noise floor).
_ABOVE_NOISE = 4.0
_MAX_EXPONENT = 2.0
_STOPBAND = 0.1
# Where the data power does not exceed the noise's, the signal there is taken as this fraction of the noise
# power, not as zero: in the fallback fit (too few frequencies above the noise: a sparse star field) the
# geometric mean of zeros made the level 1e-160 and the NSR 1e+160, so the filter returned a constant.
_UNSEEN_SIGNAL = 0.1


def fit_signal_spectrum(otf_abs2, power, grad_abs2, sigma, spectrum_weights=None):
    """Fit ``S(f) = c |D(f)|^(-2p)`` to a data power spectrum; return ``(c, p, frequencies_used)``.

    Parameters
    ----------
    otf_abs2, grad_abs2 : ndarray
        ``|H|^2`` and ``|D|^2`` on the (real-FFT) frequency grid.
    power : ndarray
        ``|Y|^2 / n`` per frequency, averaged over channels (a white noise of std ``s`` has power ``s^2``).
    sigma : float
        Noise standard deviation.
    spectrum_weights : ndarray, optional
        Multiplicity of each coefficient in the full spectrum (rfft grids count interior columns twice).

    Notes
    -----
    Least squares in log-log over the usable frequencies; the level ``c`` is the weighted geometric mean
    of ``(power - s^2) |D|^(2p) / |H|^2``. Falls back to ``p = 1`` (and ``c`` from all passed
    frequencies) when fewer than 8 frequencies are usable.
    """
    weights = np.ones_like(power) if spectrum_weights is None else np.broadcast_to(spectrum_weights,
                                                                                   power.shape)
    noise = sigma**2
    passed = (otf_abs2 >= _PASSBAND) & (grad_abs2 > 0)
    usable = passed & (power > _ABOVE_NOISE * noise)
    if np.count_nonzero(usable) < 8:
        usable, exponent = passed, 1.0
    else:
        x = np.log(grad_abs2[usable])
        y = np.log(np.maximum(power[usable] - noise, 1e-300) / otf_abs2[usable])
        w = weights[usable]
        slope = np.polyfit(x, y, 1, w=np.sqrt(w))[0] if np.ptp(x) > 0 else -1.0
        exponent = float(np.clip(-slope, 0.0, _MAX_EXPONENT))
    signal = np.maximum(power[usable] - noise, _UNSEEN_SIGNAL * noise + 1e-300) / otf_abs2[usable]
    w = weights[usable]
    log_level = np.sum(w * (np.log(signal) + exponent * np.log(grad_abs2[usable]))) / np.sum(w)
    return float(np.exp(log_level)), exponent, int(np.count_nonzero(usable))


def spectrum_shape(problem, exponent):
    """``|D(f)|^(2 exponent)`` on the problem's rfft grid (host float64), or the float 1.0 for exponent 0."""
    if exponent == 0:
        return 1.0
    grad_abs2 = np.asarray(problem.backend.to_numpy(problem.gradient.transfer_abs2(np.float64)),
                           dtype=np.float64)
    return grad_abs2 ** float(exponent)


def wiener_nsr(problem, sigma=None):
    """The automatic NSR of :func:`deconvkit.solvers.wiener.wiener`: ``(nsr, reg_abs2, info)``.

    The filter is ``conj(H) Y / (|H|^2 + nsr * reg_abs2)`` with ``reg_abs2 = |D|^(2p)`` (a host float64
    array on the problem's rfft grid, or 1.0 for ``p = 0``) and ``nsr = s_eff^2 / c``. ``s_eff`` is the
    noise estimate, kept above :data:`NOISE_FLOOR` times the data's range and raised to the model error
    when that is larger: the mean data power on the frequencies where the fitted blurred signal
    ``|H|^2 c |D|^-2p`` is below the noise power. With the right PSF those frequencies hold noise (plus a
    little signal); with a PSF wider than the real blur, or data blurred with a zero-filled frame, they
    hold the signal the model cannot explain, which the filter would otherwise amplify as if it were
    signal.
    """
    bk = problem.backend
    sigma = problem.noise_sigma if sigma is None else float(sigma)
    data = problem.host_data
    span = float(data.max() - data.min())
    floor = NOISE_FLOOR * max(span, 1e-12)
    sigma_eff = max(float(sigma), floor)
    # Memory (a 64x1024x1024 stack's spectra are 0.4 GB each in float64): |H|^2 and the raw data power
    # are kept in the working precision, which holds their values exactly (every use below converts to
    # float64, as the float64 copies held before did), the per-pixel power is formed slab by slab
    # (half_spectrum_slabs) and never held whole; same values as the whole-array expressions.
    otf_abs2 = np.asarray(bk.to_numpy(problem.blur.otf_abs2))
    scale = float(problem.channels), float(np.prod(problem.domain))
    # the extension is transformed here and not kept (the filter extends the data again when it needs them,
    # after these spectra are gone), unless something had cached it already
    raw_power = compact_data_power(problem, keep_extension=False)
    grad_abs2 = np.asarray(bk.to_numpy(problem.gradient.transfer_abs2(np.float64)), dtype=np.float64)
    weights = np.broadcast_to(half_spectrum_weights(problem.domain), otf_abs2.shape)
    slabs = half_spectrum_slabs(otf_abs2.shape)

    def power_of(part):
        """The channel mean of the power spectrum per pixel on a slab (the same two divisions)."""
        return np.asarray(raw_power[part], dtype=np.float64) / scale[0] / scale[1]

    # The fit only looks at the passband (|H|^2 >= 1/2 and |D|^2 > 0): given the passband's values in
    # order, fit_signal_spectrum selects exactly the frequencies it would select on the whole grid
    passed = []
    for part in slabs:
        keep = (otf_abs2[part] >= _PASSBAND) & (grad_abs2[part] > 0)
        passed.append((otf_abs2[part][keep], power_of(part)[keep], grad_abs2[part][keep], weights[part][keep]))
    passed = [np.concatenate(column) for column in zip(*passed)]
    passed_otf, passed_power, passed_grad, passed_weights = passed
    level, exponent, used = fit_signal_spectrum(passed_otf, passed_power, passed_grad, sigma_eff, passed_weights)
    # model error as noise: where the model says the data hold only noise (the blurred signal spectrum
    # below the noise power), the data power above the noise is what the blur model cannot explain;
    # their powers are gathered, in order, into one buffer (the mean of the same values)
    quiet_power = np.empty(otf_abs2.size, dtype=np.float64)
    count = 0
    for part in slabs:
        grad_part = grad_abs2[part]
        model = (np.asarray(otf_abs2[part], dtype=np.float64) * level
                 * np.where(grad_part > 0, grad_part, np.inf) ** -exponent)
        piece = power_of(part)[(model < sigma_eff**2) & (grad_part > 0)]
        quiet_power[count:count + piece.size] = piece
        count += piece.size
    del model, piece, grad_part, keep  # grad_part is a view: it would keep grad_abs2 alive below
    unexplained = float(np.mean(quiet_power[:count])) if count >= 8 else 0.0
    del quiet_power
    if unexplained > sigma_eff**2:
        sigma_eff = float(np.sqrt(unexplained))
        level, exponent, used = fit_signal_spectrum(passed_otf, passed_power, passed_grad, sigma_eff,
                                                    passed_weights)
    del passed, passed_otf, passed_power, passed_grad, passed_weights
    bayes = sigma_eff**2 / max(level, 1e-300)
    reg_abs2 = 1.0 if exponent == 0 else grad_abs2 ** float(exponent)  # spectrum_shape(problem, exponent)
    del grad_abs2
    # Morozov's principle on the shaped filter, with the floored noise: on real captures (8-bit, measured
    # PSFs) the Bayes value under-regularises 3-10x (Levin: 30.4 dB against 32.2 for the old constant-NSR
    # discrepancy rule); the data-fit rule alone collapses without noise. The larger of the two is used.
    morozov = discrepancy_weight(problem, reg_abs2, sigma_eff, spectra=(otf_abs2, raw_power, reg_abs2))
    # Capped at the largest NSR a caller may pass (MAX_NSR), so the reported value reproduces the result
    # and SURE's re-run of the Wiener candidate inside "auto" is accepted: on data with no fitted signal
    # (pure noise) the Bayes value was about 1e255 and "auto" failed with a ParameterError.
    nsr = min(max(bayes, morozov), MAX_NSR)
    info = {"nsr": float(nsr), "nsr_rule": "Wiener: noise power / fitted signal spectrum c |D|^-2p"
            + (", raised to the discrepancy principle" if morozov > bayes else ""),
            "nsr_bayes": float(bayes), "nsr_discrepancy": float(morozov),
            "nsr_exponent": exponent, "signal_spectrum_level": level,
            "signal_spectrum_frequencies": used, "nsr_noise_sigma": sigma_eff,
            "nsr_noise_floored": bool(sigma_eff > sigma)}
    return float(nsr), reg_abs2, info
