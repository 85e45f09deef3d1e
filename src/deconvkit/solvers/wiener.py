"""Wiener deconvolution: the classic DFT filter, with its noise-to-signal ratio from a fitted signal spectrum."""

from __future__ import annotations

from .._shared import DeconvkitError
from ._base import register_solver
from ._closed_form import regularised_inverse
from ._nsr import spectrum_shape, wiener_nsr


@register_solver(
    "wiener",
    boundary="pad",
    summary="Wiener filter, noise-to-signal ratio from a fitted signal spectrum (closed form; mirror + taper boundary)",
    params={"nsr": "constant noise-to-signal power ratio; when omitted, the Wiener ratio noise power / "
                   "signal spectrum, with the spectrum fitted to the data as a power law (solvers/_nsr.py)",
            "nsr_exponent": "with nsr given: the ratio is nsr * |D(f)|^(2 nsr_exponent) (default 0, constant); "
                            "info reports the fitted exponent so a result can be reproduced"},
)
def wiener(problem, *, nsr=None, nsr_exponent=0.0):
    """``X = conj(H) Y / (|H|^2 + nsr)`` on the padded, edge-tapered domain.

    With ``nsr`` omitted the ratio is frequency-dependent, ``N / S(f) = nsr |D(f)|^(2p)``, with the signal
    spectrum ``S`` fitted to the data (:func:`._nsr.wiener_nsr`; ``p = 0`` is a constant ratio). A
    data-fit rule (the discrepancy principle used before) collapses on noise-free data and with a PSF
    wider than the real blur; this one does not look at the fit.
    """
    if nsr is None:
        nsr, reg_abs2, info = wiener_nsr(problem)
    else:
        nsr, exponent = float(nsr), float(nsr_exponent)
        if not nsr >= 0:
            raise DeconvkitError(f"nsr must be >= 0, got {nsr}")
        if not 0 <= exponent <= 4:
            raise DeconvkitError(f"nsr_exponent must be in [0, 4], got {nsr_exponent}")
        reg_abs2 = spectrum_shape(problem, exponent)
        info = {"nsr": nsr, "nsr_exponent": exponent, "nsr_rule": "given"}
    if not isinstance(reg_abs2, float):
        reg_abs2 = problem.backend.asarray(reg_abs2, dtype=problem.dtype)
    # the extension is only the filter's input: dropped once transformed (the filter's peak memory)
    return regularised_inverse(problem, nsr, reg_abs2, release_extended=True), info
