"""Fast deconvolution with a hyper-Laplacian gradient prior (Krishnan & Fergus, NIPS 2009).

``min_x 1/2 ||W^(1/2)(K x - y)||^2 + lam * sum |D x|^alpha`` with ``0 < alpha <= 1`` by half-quadratic
splitting (``w = D x``) and a continuation on the splitting penalty ``beta``; the ``x``-step is one FFT
solve, the ``w``-step a pixel-wise 1-D minimisation solved in closed form for ``alpha = 1/2`` (a cubic) and
``alpha = 2/3`` (a quartic), by safeguarded Newton iterations for other ``alpha`` and by soft thresholding
for ``alpha = 1``. The boundary-aware data splitting is shared with TV (:mod:`._splitting`).
"""

from __future__ import annotations

import numpy as np

from .._shared import DeconvkitError
from ._base import register_solver
from ._splitting import geometric_schedule, saturation_weight, solve_split

__all__ = ["hyper_laplacian_shrink"]


def _largest_real_root_depressed_cubic(p, q):
    """Largest real root of ``t^3 + p t + q = 0`` (element-wise; Cardano or the trigonometric form)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    discriminant = (q / 2) ** 2 + (p / 3) ** 3
    root = np.empty(np.broadcast(p, q).shape)
    one = discriminant >= 0
    # one real root (Cardano)
    s = np.sqrt(np.where(one, discriminant, 0.0))
    root_one = np.cbrt(-q / 2 + s) + np.cbrt(-q / 2 - s)
    # three real roots (p < 0): the largest is k = 0 of the trigonometric form
    safe_p = np.where(one, -1.0, p)
    amplitude = 2 * np.sqrt(-safe_p / 3)
    cosine = np.clip(3 * q / (safe_p * amplitude), -1.0, 1.0)
    root_three = amplitude * np.cos(np.arccos(cosine) / 3)
    root[...] = np.where(one, root_one, root_three)
    return root


def _positive_stationary_point(magnitude, alpha, tau):
    """Largest ``w > 0`` with ``tau * alpha * w^(alpha-1) + w - |v| = 0`` (NaN where there is none)."""
    if alpha == 0.5:
        # w = t^2:  t^3 - |v| t + tau/2 = 0
        p, q = -magnitude, np.full_like(magnitude, tau / 2)
        exists = 27 * q**2 < 4 * magnitude**3
        t = _largest_real_root_depressed_cubic(np.where(exists, p, -1.0), np.where(exists, q, 0.0))
        return np.where(exists & (t > 0), t**2, np.nan)
    if alpha == 2.0 / 3.0:
        # w = t^3:  t^4 - |v| t + 2 tau / 3 = 0, solved by Ferrari's resolvent m^3 - r m - v^2/8 = 0
        r = 2 * tau / 3
        m = _largest_real_root_depressed_cubic(np.full_like(magnitude, -r), -(magnitude**2) / 8)
        m = np.maximum(m, 1e-300)
        b = magnitude / (2 * np.sqrt(2 * m))
        inner = 4 * b - 2 * m
        t = (np.sqrt(2 * m) + np.sqrt(np.maximum(inner, 0.0))) / 2
        return np.where(inner >= 0, t**3, np.nan)
    # general alpha: g(w) = tau alpha w^(alpha-1) + w - |v| is convex on w > 0; Newton from w = |v|
    # (where g > 0) descends monotonically onto the larger root when one exists.
    w = magnitude.copy()
    valid = magnitude > 0
    for _ in range(30):
        safe = np.where(valid, np.maximum(w, 1e-300), 1.0)
        g = tau * alpha * safe ** (alpha - 1) + safe - magnitude
        slope = tau * alpha * (alpha - 1) * safe ** (alpha - 2) + 1.0
        valid &= slope > 0
        w = np.where(valid, safe - g / np.where(valid, slope, 1.0), w)
        valid &= w > 0
    g = tau * alpha * np.maximum(w, 1e-300) ** (alpha - 1) + w - magnitude
    ok = valid & (np.abs(g) <= 1e-6 * np.maximum(magnitude, 1e-12))
    return np.where(ok, w, np.nan)


def hyper_laplacian_shrink(v, alpha, tau):
    """``argmin_w tau * |w|^alpha + 1/2 (w - v)^2`` element-wise (the ``w``-subproblem of Krishnan & Fergus).

    Parameters
    ----------
    v : ndarray
    alpha : float
        Exponent in ``(0, 1]``; 1/2 and 2/3 use the closed-form roots, 1 is soft thresholding.
    tau : float
        Weight (``lam / beta`` in the splitting).
    """
    v = np.asarray(v)
    if alpha == 1.0:
        return np.sign(v) * np.maximum(np.abs(v) - tau, 0.0)
    # |v| is exact in v's dtype, so the roots below see the same float64 magnitudes as if the whole
    # array were converted; only the candidates are, which keeps the temporaries of a 12-megapixel
    # solve at a fraction of the domain instead of four float64 copies of the stacked gradient.
    magnitude = np.abs(v)
    # Below this magnitude the minimiser is exactly 0 (the l_p hard threshold); most gradients of an
    # image are there, so the roots are only computed for the rest. 0.99: margin for rounding. The bound
    # is a NumPy float64 so that a float32 magnitude is compared in float64 (a Python float would be
    # rounded to float32 first).
    threshold = (2 - alpha) / (2 - 2 * alpha) * (2 * tau * (1 - alpha)) ** (1 / (2 - alpha))
    candidates = np.flatnonzero(magnitude > np.float64(0.99 * threshold))
    del magnitude
    flat = v.reshape(-1)
    picked = flat[candidates]
    mag = np.abs(picked).astype(np.float64)
    w = _positive_stationary_point(mag, alpha, tau)
    has = np.isfinite(w) & (w > 0) & (w <= mag * (1 + 1e-12))
    w = np.where(has, w, 0.0)
    # keep the stationary point only where it beats w = 0 (the cost is non-convex)
    cost_w = tau * w**alpha + 0.5 * (w - mag) ** 2
    w = np.where(has & (cost_w < 0.5 * mag**2), w, 0.0)
    # everywhere else the minimiser is 0
    result = np.zeros(v.shape, dtype=v.dtype)
    result.reshape(-1)[candidates] = (np.sign(picked) * w).astype(v.dtype, copy=False)
    return result


def default_lam(sigma, alpha):
    """Prior weight from the noise level, calibrated on scikit-image sample images (not the Levin set);
    see ``benchmarks/nonblind_sweep.py --calibrate``."""
    return float(np.clip(0.8 * max(sigma, 1e-4) ** 1.6, 1e-7, 1.0))


# Krishnan & Fergus's continuation step: the penalty beta grows by this factor per stage.
BETA_FACTOR = 2 * np.sqrt(2)


@register_solver(
    "hyper_laplacian",
    boundary="unknown",
    summary="hyper-Laplacian gradient prior |grad x|^alpha (Krishnan & Fergus 2009), half-quadratic "
            "splitting, boundary-aware",
    params={
        "lam": "prior weight (data term 1/2||Ax-y||^2); default from the estimated noise level",
        "alpha": "gradient exponent in (0, 1]; default 2/3 (1/2 and 2/3 closed form)",
        "beta_range": "(first, last) splitting penalty relative to lam; default (1, 256)",
        "beta_factor": "continuation factor; default 2*sqrt(2)",
        "inner": "iterations per penalty value; default 10",
        "nonneg": "constrain x >= 0 (default False)",
        "saturation": "'auto' (default): give clipped highlights zero weight; None: off; or a level",
    },
)
def hyper_laplacian(problem, *, lam=None, alpha=2.0 / 3.0, beta_range=(1.0, 256.0),
                    beta_factor=BETA_FACTOR, inner=10, nonneg=False, saturation="auto"):
    alpha = float(alpha)
    if not 0 < alpha <= 1:
        raise DeconvkitError(f"alpha must be in (0, 1], got {alpha}")
    if abs(alpha - 2.0 / 3.0) < 1e-9:
        alpha = 2.0 / 3.0
    rule = "given"
    if lam is None:
        lam, rule = default_lam(problem.noise_sigma, alpha), "noise"
    lam = float(lam)
    if not lam > 0:
        raise DeconvkitError(f"lam must be > 0, got {lam}")
    lo, hi = (float(b) for b in beta_range)
    if not 0 < lo <= hi:
        raise DeconvkitError(f"beta_range must be 0 < first <= last, got {beta_range}")
    if not beta_factor > 1:
        raise DeconvkitError(f"beta_factor must be > 1, got {beta_factor}")
    betas = [lam * b for b in geometric_schedule(lo, hi, float(beta_factor))]
    weight = saturation_weight(problem, saturation)

    def prox(v, tau):
        return hyper_laplacian_shrink(v, alpha, tau)

    x, info = solve_split(problem, prox, lam, betas=betas, inner=int(inner), nonneg=bool(nonneg),
                          dual_prior=False, weight=weight, mu=None)
    info.update(lam=lam, lam_rule=rule, alpha=alpha, saturated_pixels=0 if weight is None else
                int(weight.size - np.count_nonzero(weight)), nonneg=bool(nonneg))
    return x, info
