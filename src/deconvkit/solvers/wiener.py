"""Wiener deconvolution with a constant noise-to-signal ratio (the classic DFT recipe, done carefully)."""

from __future__ import annotations

from ._base import register_solver
from ._closed_form import discrepancy_weight, regularised_inverse


@register_solver(
    "wiener",
    boundary="pad",
    summary="Wiener filter, constant noise-to-signal ratio (closed form; mirror + taper boundary)",
    params={"nsr": "noise-to-signal power ratio; when omitted, chosen so the residual matches the estimated "
                   "noise (discrepancy principle)"},
)
def wiener(problem, *, nsr=None):
    """``X = conj(H) Y / (|H|^2 + nsr)`` on the padded, edge-tapered domain.

    With ``nsr`` omitted it is chosen by Morozov's discrepancy principle: the largest ratio whose residual
    ``||H x - y||`` does not exceed the estimated noise. (Generalised cross-validation, used by Tikhonov,
    under-regularises a constant-NSR filter on natural images, whose spectrum is far from flat.)
    """
    if nsr is None:
        nsr, rule = discrepancy_weight(problem, 1.0, problem.noise_sigma), "discrepancy"
    else:
        nsr, rule = float(nsr), "given"
        if not nsr >= 0:
            from .._shared import DeconvkitError

            raise DeconvkitError(f"nsr must be >= 0, got {nsr}")
    return regularised_inverse(problem, nsr, 1.0), {"nsr": nsr, "nsr_rule": rule}
