"""Total-variation deconvolution: ADMM with a boundary-aware data splitting (RL-TV: :mod:`.rl_tv`)."""

from __future__ import annotations

import numpy as np

from .._shared import DeconvkitError
from ._base import register_solver
from ._splitting import saturation_weight, solve_split

__all__ = ["isotropic_shrink", "default_tv_lam", "TV_ITERATIONS"]


def isotropic_shrink(bk, v, tau):
    """Prox of ``tau * sum_pixels ||v_pixel||_2`` for a stacked gradient ``v`` of shape ``(C, ndim, ...)``:
    shrink each pixel's gradient vector towards 0 by ``tau`` (isotropic TV)."""
    magnitude = bk.sqrt(bk.sum(v * v, axis=1))[:, None]
    scale = bk.maximum(magnitude - tau, 0.0) / bk.maximum(magnitude, 1e-30)
    return v * scale


# ADMM iterations by default, and the two penalties that make so few enough. With the data-split
# penalty 0.1 (it was 1, ten to a hundred times the prior's, which slowed the data split) and
# over-relaxation 1.7, 40 iterations score as well as 150 did before on the Levin captures and the
# synthetic sweep, and stay within 0.03 dB of an 800-iteration solution on most cases
# (docs/solvers.md, "TV iterations"; measured with /benchmarks/levin.py and nonblind_sweep.py).
TV_ITERATIONS = 40
# the short solves that only rank candidate weights or solvers on a crop (auto's SURE search, the ranking)
TV_SHORT_ITERATIONS = TV_ITERATIONS // 2
TV_DATA_PENALTY = 0.1
TV_RELAXATION = 1.7


def default_tv_lam(sigma):
    """TV weight ``1.58 * sigma^1.6`` from the noise level.

    Calibrated on scikit-image sample images that are neither the Levin captures nor the sweep's evaluation
    images (chelsea, coffee, rocket; 8-bit; four PSFs; noise 0.2-5%): the rule maximising the mean PSNR over
    the calibration set (``python benchmarks/nonblind_sweep.py --calibrate --quick --quantize``). The
    exponent is below 2 (the MAP value for a fixed prior) because the best weight also grows more slowly
    than the noise variance once the image's own texture dominates the error.
    """
    return float(np.clip(1.58 * max(sigma, 1e-4) ** 1.6, 1e-7, 1.0))


@register_solver(
    "tv",
    boundary="unknown",
    summary="isotropic total variation, ADMM with data splitting for unknown boundaries "
            "(Almeida & Figueiredo 2013)",
    params={
        "lam": "TV weight (data term 1/2||Ax-y||^2); default from the estimated noise level",
        "iterations": f"ADMM iterations (default {TV_ITERATIONS})",
        "rho": "ADMM penalty of the gradient split relative to lam (default 10)",
        "nonneg": "constrain x >= 0 (default False)",
        "saturation": "'auto' (default): give clipped highlights zero weight; None: off; or a level",
    },
)
def tv(problem, *, lam=None, iterations=TV_ITERATIONS, rho=10.0, nonneg=False, saturation="auto"):
    """ADMM on ``1/2 ||W^(1/2)(K x - y)||^2 + lam TV(x)``; see :mod:`._splitting` for the splitting."""
    bk = problem.backend
    rule = "given"
    if lam is None:
        lam, rule = default_tv_lam(problem.noise_sigma), "noise"
    lam = float(lam)
    if not lam > 0:
        raise DeconvkitError(f"lam must be > 0, got {lam}")
    if int(iterations) < 1:
        raise DeconvkitError(f"iterations must be >= 1, got {iterations}")
    if not rho > 0:
        raise DeconvkitError(f"rho must be > 0, got {rho}")
    weight = saturation_weight(problem, saturation)
    x, info = solve_split(problem, lambda v, tau: isotropic_shrink(bk, v, tau), lam,
                          betas=[lam * float(rho)], inner=int(iterations), nonneg=bool(nonneg),
                          dual_prior=True, weight=weight, mu=TV_DATA_PENALTY, relaxation=TV_RELAXATION)
    info.update(lam=lam, lam_rule=rule, nonneg=bool(nonneg),
                saturated_pixels=0 if weight is None else int(weight.size - np.count_nonzero(weight)))
    return x, info
