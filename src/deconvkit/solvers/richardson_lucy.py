"""Richardson-Lucy deconvolution, accelerated (Biggs & Andrews 1997), boundary-aware, optionally damped."""

from __future__ import annotations

import numpy as np

from .._shared import DeconvkitError
from ._base import register_solver


def _damped_ratio(bk, observed, predicted, ratio, threshold):
    """White (1994) damping, as MATLAB's ``deconvlucy`` DAMPAR: where the data already fit to within about
    ``threshold`` (in noise units), the update ratio is pulled to 1 so noise is not amplified."""
    safe_observed = bk.maximum(observed, 1e-12)
    divergence = 2.0 * (observed * bk.log(safe_observed / predicted) - observed + predicted) / threshold**2
    divergence = bk.minimum(bk.maximum(divergence, 0.0), 1.0)
    order = 10
    weight = divergence ** (order - 1) * ((order - 1) - (order - 2) * divergence)
    return 1.0 + weight * (ratio - 1.0)


@register_solver(
    "richardson_lucy",
    boundary="unknown",
    summary="Richardson-Lucy (Poisson maximum likelihood), Biggs-Andrews accelerated, non-negative",
    params={
        "iterations": "number of iterations; default: stop when the residual reaches the noise level "
                      "(discrepancy principle), at most 200",
        "accelerate": "Biggs-Andrews vector extrapolation (default True)",
        "damping": "White damping threshold in noise standard deviations (default: off)",
        "x0": "starting image: 'observed' (default) or a constant value",
        "eps": "floor for the predicted image before division (default 1e-12 of the data range)",
    },
    iterative=True,
)
def richardson_lucy(problem, *, iterations=None, accelerate=True, damping=None, x0="observed", eps=None):
    """Multiplicative RL updates ``x <- x * A^T(y / A x) / A^T 1``.

    ``A^T 1`` (Bertero & Boccacci 2005) is what makes the update exact with the unknown-boundary model:
    pixels outside the frame are only partly seen, and dividing by how much they are seen keeps them from
    being under- or over-estimated. Negative data (noise around a dark background) are handled by a
    constant offset, which passes through the blur unchanged since the PSF sums to 1.
    """
    bk = problem.backend
    observed = problem.observed()
    low = float(bk.to_numpy(observed).min())
    offset = -low if low < 0 else 0.0
    observed = observed + offset if offset else observed
    scale = float(bk.to_numpy(observed).max())
    floor = (1e-12 if eps is None else float(eps)) * scale

    sensitivity = problem.adjoint(bk.full(observed.shape, 1.0, problem.dtype))
    sensitivity = bk.maximum(sensitivity, 1e-6)

    if isinstance(x0, str):
        if x0 != "observed":
            raise DeconvkitError(f"x0 must be 'observed' or a number, got {x0!r}")
        estimate = problem.extended() + offset
        estimate = bk.maximum(estimate, floor)
    else:
        estimate = bk.full((problem.channels,) + tuple(problem.domain), float(x0) + offset, problem.dtype)

    sigma = problem.noise_sigma
    fixed = iterations is not None
    max_iter = int(iterations) if fixed else 200
    if max_iter < 0:
        raise DeconvkitError(f"iterations must be >= 0, got {iterations}")
    threshold = None if damping is None else float(damping) * max(sigma, 1e-12)

    previous = estimate
    step_prev = step_prevprev = None
    used = 0
    residual_rms = float("nan")
    n_obs = float(np.prod(observed.shape))
    for used in range(1, max_iter + 1):
        point = estimate
        alpha = 0.0
        if accelerate and step_prevprev is not None:
            alpha = bk.vdot(step_prev, step_prevprev) / (bk.vdot(step_prevprev, step_prevprev) + 1e-30)
            alpha = min(max(alpha, 0.0), 1.0)
            point = bk.maximum(estimate + alpha * (estimate - previous), floor)
        predicted = bk.maximum(problem.forward(point), floor)
        ratio = observed / predicted
        if threshold is not None:
            ratio = _damped_ratio(bk, observed, predicted, ratio, threshold)
        updated = point * problem.adjoint(ratio) / sensitivity
        step_prevprev, step_prev = step_prev, updated - point
        previous, estimate = estimate, updated
        problem.progress(used, max_iter)
        if not fixed:
            residual_rms = bk.norm(predicted - observed) / np.sqrt(n_obs)
            if residual_rms <= sigma:
                break
    info = {"iterations": used, "accelerated": bool(accelerate), "stop_rule": "fixed" if fixed else
            "discrepancy", "damping": damping, "offset": offset}
    if not fixed:
        info["residual_rms"] = residual_rms
    return estimate - offset if offset else estimate, info
