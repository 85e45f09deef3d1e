"""Total-variation deconvolution: ADMM with a boundary-aware data splitting, and RL-TV for Poisson data."""

from __future__ import annotations

import numpy as np

from .._shared import DeconvkitError
from ._base import register_solver
from ._splitting import saturation_weight, solve_split

__all__ = ["isotropic_shrink", "tv_norm"]


def isotropic_shrink(bk, v, tau):
    """Prox of ``tau * sum_pixels ||v_pixel||_2`` for a stacked gradient ``v`` of shape ``(C, ndim, ...)``:
    shrink each pixel's gradient vector towards 0 by ``tau`` (isotropic TV)."""
    magnitude = bk.sqrt(bk.sum(v * v, axis=1))[:, None]
    scale = bk.maximum(magnitude - tau, 0.0) / bk.maximum(magnitude, 1e-30)
    return v * scale


def tv_norm(bk, gradient):
    """Isotropic TV ``sum ||grad x||_2`` of a stacked gradient."""
    return float(bk.to_numpy(bk.sqrt(bk.sum(gradient * gradient, axis=1))).sum())


TV_ITERATIONS = 150  # ADMM iterations by default: converged to well below a visible change


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
        "iterations": "ADMM iterations (default 150)",
        "rho": "ADMM penalty of the gradient split relative to lam (default 10)",
        "nonneg": "constrain x >= 0 (default False)",
        "saturation": "'auto' (default): give clipped highlights zero weight; None: off; or a level",
    },
    iterative=True,
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
                          dual_prior=True, weight=weight)
    info.update(lam=lam, lam_rule=rule, nonneg=bool(nonneg),
                saturated_pixels=0 if weight is None else int(weight.size - np.count_nonzero(weight)))
    return x, info


@register_solver(
    "rl_tv",
    boundary="unknown",
    summary="Richardson-Lucy with total-variation regularisation (Dey et al. 2006), for Poisson data",
    params={
        "lam": "TV weight in the Poisson log-likelihood; default 0.2 x the estimated noise std (0.002 at 1% "
               "noise, the value Dey et al. use)",
        "iterations": "number of iterations; default: discrepancy principle as richardson_lucy, at most 200",
        "accelerate": "Biggs-Andrews vector extrapolation (default True)",
        "eps": "smoothing of |grad x| in the TV gradient, relative to the data range (default 1e-3)",
    },
    iterative=True,
)
def rl_tv(problem, *, lam=None, iterations=None, accelerate=True, eps=1e-3):
    """``x <- x * A^T(y / A x) / (A^T 1 + lam * D^T(D x / |D x|_eps))``: the one-step-late RL-TV update of
    Dey et al. 2006 (``-div(grad x / |grad x|)`` is ``D^T(D x / |D x|)``), with the unknown-boundary
    normalisation of :func:`~deconvkit.solvers.richardson_lucy.run_richardson_lucy`."""
    from .richardson_lucy import run_richardson_lucy

    bk = problem.backend
    rule = "given"
    if lam is None:
        # scale with the noise so that clean data are barely regularised
        lam, rule = 0.2 * problem.noise_sigma, "noise"
    lam = float(lam)
    if not lam >= 0:
        raise DeconvkitError(f"lam must be >= 0, got {lam}")
    data = problem.host_data
    smoothing = float(eps) * max(float(data.max() - data.min()), 1e-12)
    grad = problem.gradient

    def penalty_gradient(x):
        g = grad.forward(x)
        magnitude = bk.sqrt(bk.sum(g * g, axis=1) + smoothing**2)[:, None]
        return lam * grad.adjoint(g / magnitude)

    x, info = run_richardson_lucy(problem, iterations=iterations, accelerate=accelerate,
                                  penalty_gradient=penalty_gradient)
    info.update(lam=lam, lam_rule=rule)
    return x, info
