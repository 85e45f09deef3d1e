"""Wiener deconvolution with a constant noise-to-signal ratio (the classic DFT recipe, done carefully)."""

from __future__ import annotations

from ._base import register_solver
from ._closed_form import gcv_weight, regularised_inverse


@register_solver(
    "wiener",
    boundary="pad",
    summary="Wiener filter, constant noise-to-signal ratio (closed form, one FFT pair)",
    params={"nsr": "noise-to-signal power ratio; estimated by generalised cross-validation when omitted"},
)
def wiener(problem, *, nsr=None):
    """``X = conj(H) Y / (|H|^2 + nsr)`` on the padded, edge-tapered domain.

    With ``nsr`` omitted it is chosen by generalised cross-validation, which needs no noise estimate and
    no sharp image.
    """
    if nsr is None:
        nsr, rule = gcv_weight(problem, 1.0), "gcv"
    else:
        nsr, rule = float(nsr), "given"
        if not nsr >= 0:
            from .._shared import DeconvkitError

            raise DeconvkitError(f"nsr must be >= 0, got {nsr}")
    return regularised_inverse(problem, nsr, 1.0), {"nsr": nsr, "nsr_rule": rule}
