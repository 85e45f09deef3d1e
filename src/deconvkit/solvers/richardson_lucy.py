"""Richardson-Lucy deconvolution, accelerated (Biggs & Andrews 1997), boundary-aware, optionally damped.

Performance notes (see ``docs/benchmarks.md`` (speed)): an iteration is two real FFT pairs plus a handful of
element-wise passes written with ``out=`` into arrays that live for the whole run, so the working set is
at most about 8 domain-sized float32 arrays (estimate, last step, last update direction, extrapolated
point, sensitivity, OTF, and two transients of the FFTs) and float32 input stays float32 throughout.
The loop only uses backend methods, in-place operators and slicing, so the same code runs on NumPy and on
PyTorch tensors (CPU or CUDA) without host round trips: the Biggs-Andrews step length stays a backend
scalar (a 0-d tensor on torch).
"""

from __future__ import annotations

import math

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


def _outside_window(domain, window):
    """Index tuples that together cover every domain pixel outside ``window`` (slabs, one per side)."""
    slabs = []
    d = len(domain)
    for axis, (n, part) in enumerate(zip(domain, window[1:])):
        for piece in (slice(0, part.start), slice(part.stop, n)):
            if piece.stop > piece.start:
                index = [slice(None)] * d
                index[axis] = piece
                slabs.append((Ellipsis,) + tuple(index))
    return slabs


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
)
def richardson_lucy(problem, *, iterations=None, accelerate=True, damping=None, x0="observed", eps=None):
    """Multiplicative RL updates ``x <- x * A^T(y / A x) / A^T 1``.

    See :func:`run_richardson_lucy` (shared with RL-TV).
    """
    return run_richardson_lucy(problem, iterations=iterations, accelerate=accelerate, damping=damping, x0=x0,
                               eps=eps)


def run_richardson_lucy(problem, *, iterations=None, accelerate=True, damping=None, x0="observed", eps=None,
                        penalty_gradient=None):
    """Multiplicative RL updates ``x <- x * A^T(y / A x) / (A^T 1 + penalty_gradient(x))``.

    ``penalty_gradient`` (optional) is the gradient of a regulariser added to the Poisson likelihood, as in
    RL-TV (Dey et al. 2006), evaluated at the current iterate ("one-step-late").

    ``A^T 1`` (Bertero & Boccacci 2005) is what makes the update exact with the unknown-boundary model:
    pixels outside the frame are only partly seen, and dividing by how much they are seen keeps them from
    being under- or over-estimated. Negative data (noise around a dark background) are handled by a
    constant offset, which passes through the blur unchanged since the PSF sums to 1.

    The Biggs-Andrews extrapolation ``y_k = x_k + alpha_k (x_k - x_{k-1})`` uses
    ``alpha_k = <g_{k-1}, g_{k-2}> / <g_{k-2}, g_{k-2}>`` (clipped to [0, 1]) where ``g`` is the change one
    RL step made to its starting point; the inner product is taken as soon as ``g_{k-1}`` exists, so only
    one ``g`` is kept.
    """
    bk = problem.backend
    observed = problem.observed()
    host_observed = bk.to_numpy(observed)  # once, at setup (a no-op view on NumPy)
    low = float(host_observed.min())
    offset = -low if low < 0 else 0.0
    if offset:
        observed = observed + offset  # one image-sized copy, only for data with negative values
    scale = float(host_observed.max()) + offset
    del host_observed
    floor = (1e-12 if eps is None else float(eps)) * scale
    if not floor > 0:
        # All-zero data: a floor relative to the range is 0, and 0 / 0 made the result NaN. The smallest
        # normal number keeps the ratio y / Ax = 0, so the estimate stays 0, the exact answer.
        floor = float(np.finfo(problem.dtype).tiny)

    domain = tuple(problem.domain)
    sensitivity = problem.adjoint(bk.full(observed.shape, 1.0, problem.dtype))
    sensitivity = bk.maximum(sensitivity, 1e-6, out=sensitivity)

    if isinstance(x0, str):
        if x0 != "observed":
            raise DeconvkitError(f"x0 must be 'observed' or a number, got {x0!r}")
        if problem.masked:
            estimate = problem.extended(cache=False)  # not the data term: no need to keep it around
            if offset:
                estimate += offset
        else:
            estimate = bk.copy(observed)  # observed already includes the offset
        estimate = bk.maximum(estimate, floor, out=estimate)
    else:
        estimate = bk.full((problem.channels,) + domain, float(x0) + offset, problem.dtype)

    sigma = problem.noise_sigma
    fixed = iterations is not None
    max_iter = int(iterations) if fixed else 200
    if max_iter < 0:
        raise DeconvkitError(f"iterations must be >= 0, got {iterations}")
    threshold = None if damping is None else float(damping) * max(sigma, 1e-12)

    blur = problem.blur
    # the OTF of a PSF symmetric about its centre is real: half the memory, a cheaper product, and the
    # adjoint needs no conjugate
    real_otf = blur.transfer_is_real
    window = problem.window.window if problem.masked else (Ellipsis,)
    border = _outside_window(domain, window) if problem.masked else []
    n_obs = float(np.prod(observed.shape))

    step = None          # x_k - x_{k-1}
    direction = None     # g_{k-1}: the change the last RL step made to its starting point
    point_buffer = None  # y_k, the extrapolated point (reused; holds g_k briefly)
    alpha = None         # Biggs-Andrews step length for the next iteration (a backend scalar)
    used = 0
    residual_rms = float("nan")
    for used in range(1, max_iter + 1):
        if alpha is not None:
            if point_buffer is None:
                point_buffer = bk.empty(estimate.shape, estimate.dtype)
            point = bk.multiply(step, alpha, out=point_buffer)
            point = bk.add(point, estimate, out=point)
            point = bk.maximum(point, floor, out=point)
        else:
            point = estimate

        # forward model: the prediction on the domain; the ratio is written into the same buffer
        ratio = blur.convolve(point, real_transfer=real_otf)
        predicted = ratio[window]
        predicted = bk.maximum(predicted, floor, out=predicted)
        if not fixed:
            residual_rms = bk.norm(predicted - observed) / math.sqrt(n_obs)
        if threshold is None:
            bk.divide(observed, predicted, out=predicted)
        else:
            predicted[...] = _damped_ratio(bk, observed, predicted, observed / predicted, threshold)
        for slab in border:  # A^T = K^T M^T: the ratio is zero outside the observed window
            ratio[slab] = 0

        # back-projection and the multiplicative update: updated = point * A^T(ratio) / A^T 1
        spectrum = blur.to_spectrum(ratio)
        del ratio, predicted  # freed before the inverse transform: one domain-sized array less at peak
        updated = blur.convolve_spectrum(spectrum, adjoint=True, real_transfer=real_otf)
        del spectrum
        updated = bk.multiply(updated, point, out=updated)
        if penalty_gradient is None:
            updated = bk.divide(updated, sensitivity, out=updated)
        else:  # one-step-late penalty (RL-TV); kept >= 0.1 A^T 1 so that the update stays multiplicative
            denominator = bk.maximum(sensitivity + penalty_gradient(point), 0.1 * sensitivity)
            updated = bk.divide(updated, denominator, out=updated)

        if accelerate:
            if step is None:
                step = bk.empty(estimate.shape, estimate.dtype)
            step = bk.subtract(updated, estimate, out=step)
            # g_k = updated - point; without extrapolation the point was the estimate, so g_k is the step
            new_direction = step if point is estimate else bk.subtract(updated, point, out=point)
            if direction is None:
                direction = bk.copy(new_direction)
            else:
                alpha = bk.vdot(new_direction, direction) / (bk.vdot(direction, direction) + 1e-30)
                alpha = bk.clip(alpha, 0.0, 1.0)
                if new_direction is step:
                    direction[...] = step
                else:  # swap: the old g buffer becomes the next point's buffer
                    direction, point_buffer = new_direction, direction
        estimate = updated
        problem.progress(used, max_iter)
        if not fixed and bk.item(residual_rms) <= sigma:
            break
    info = {"iterations": used, "accelerated": bool(accelerate), "stop_rule": "fixed" if fixed else
            "discrepancy", "damping": damping, "offset": offset}
    if not fixed:
        info["residual_rms"] = float(bk.item(residual_rms))
    if offset:
        estimate -= offset
    return estimate, info
