"""``method="auto"``: pick a solver and its parameters from the data alone (never from a sharp image).

The choice, measured on the Levin et al. 2009 captures and a synthetic sweep (``docs/benchmarks.md``):

* the solver is isotropic TV (:mod:`.tv`): on both benchmarks it beats the hyper-Laplacian prior, Tikhonov,
  Wiener and Richardson-Lucy at their own automatic settings, and it is convex, so its result does not
  depend on a continuation schedule;
* the boundary strategy is ``"unknown"`` (exact camera model: the frame sees a larger scene);
* the noise level is estimated once from the blurred data and shared by all channels
  (:func:`deconvkit.noise.estimate_noise`);
* the TV weight is ``lam = a * sigma^b``, a rule fitted on scikit-image sample images that are *not* the
  Levin captures nor the evaluation images of the synthetic sweep
  (``python benchmarks/nonblind_sweep.py --calibrate``);
* clipped highlights get zero data weight (``saturation="auto"``), so they do not ring;
* the solution is constrained to be non-negative when the data are intensities: when no pixel lies more
  than four noise deviations below zero (a non-negative image plus the estimated noise). The constraint is
  physics, not a tuned parameter; it removes the dark undershoot next to bright edges (+0.14 dB on the
  Levin captures, docs/benchmarks.md). Signed data (e.g. background-subtracted) leave it off.

Every choice is returned in ``info`` (``deconvolve(..., return_info=True)``).
"""

from __future__ import annotations

from ._base import SOLVERS, register_solver
from .tv import default_tv_lam


@register_solver(
    "auto",
    boundary="unknown",
    summary="choose the solver and its parameters automatically (reported in info): TV, noise-calibrated "
            "weight, unknown boundaries, saturation mask, non-negativity for intensity data",
    params={"iterations": "override the solver's iteration count (default: the solver's own)"},
    iterative=True,
)
def auto(problem, *, iterations=None):
    sigma = problem.noise_sigma
    lam = default_tv_lam(sigma)
    params = {"lam": lam, "saturation": "auto", "nonneg": looks_non_negative(problem)}
    if iterations is not None:
        params["iterations"] = int(iterations)
    x, info = SOLVERS["tv"].func(problem, **params)
    info.update(method="tv", chosen_by="auto", lam_rule="calibrated lam = a * sigma^b (noise estimate)",
                noise_sigma_estimate=sigma)
    return x, info


def looks_non_negative(problem) -> bool:
    """True when the data are consistent with a non-negative image plus the estimated noise."""
    lowest = min(float(channel.min()) for channel in problem._host_data)
    return lowest >= -4.0 * problem.noise_sigma
