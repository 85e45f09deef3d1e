"""Richardson-Lucy for photon-counting data: a camera offset inside the Poisson model, and a stopping rule.

The microscopist's RL. Camera data are ``y = b + photons / gain + read noise``, ``b`` a constant offset
(the sCMOS/CCD baseline, plus any uniform background light). Subtracting ``b`` and clipping at zero, what
plain RL needs since its data must be non-negative, biases every dark voxel upwards: the clipped noise has
a positive mean, and RL faithfully restores that bias as a haze. Here ``b`` stays in the model. With the
read noise (and background shot noise) turned into Poisson counts by Snyder's shifted-Poisson
approximation, ``gain (y - b) + s ~ Poisson(gain H x + s)`` with ``s = (gain sigma)^2``, and the update is::

    x <- x * H^T( (y - b + shift) / (H x + shift) ) / H^T 1,     shift = gain sigma^2 (data units)

which keeps ``x >= 0`` while clipping almost nothing. For pure background light (``sigma^2 = b / gain``) it
is Bertero & Boccacci's RL with background, ``y ~ Poisson(H x + b)``: ``x <- x H^T(y / (H x + b)) / H^T 1``.

The iteration count is not a parameter: with the gain known (or estimated by :func:`estimate_poisson_noise`
from the data's mean-variance relation), iterations stop at the Poisson discrepancy principle of Bertero et
al. 2010 (the mean Poisson deviance per voxel, in photon counts, reaches 1), or earlier when the
log-likelihood stops improving (a relative change below ``tol``), and ``info["stop_rule"]`` says which.

Works in any dimension; anisotropic voxels need no special handling here, only a PSF sampled at the data's
spacing (:mod:`deconvkit.psf` ``widefield``/``gibson_lanni``/``confocal``, or :func:`deconvkit.microscopy.restore`).

References
----------
.. [1] M. Bertero, P. Boccacci, G. Talenti, R. Zanella and L. Zanni, "A discrepancy principle for Poisson
   data", Inverse Problems 26 (2010).
.. [2] D. L. Snyder, A. M. Hammoud and R. L. White, "Image recovery from data acquired with a
   charge-coupled-device camera", JOSA A 10 (1993).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from .._shared import DeconvkitError
from ._base import register_solver
from .richardson_lucy import _outside_window

__all__ = ["poisson_rl", "estimate_poisson_noise", "shot_noise_share"]

# Stop when the log-likelihood's relative improvement in one iteration falls below this (a plateau).
DEFAULT_TOL = 1e-4
MAX_ITERATIONS = 500

# The noise fit drops the largest 2 % of squared coefficients (surviving edges); for Gaussian noise the mean
# of the kept squares is E[Z^2 | |Z| < z] = 1 - 2 z phi(z) / P(|Z| < z) of the full variance, undone below.
_KEEP = 0.98
# (the standard library's normal distribution: scipy.stats at import would slow every CLI start-up)
_Z = NormalDist().inv_cdf(0.5 + _KEEP / 2)
_TRIMMED_MEAN = 1.0 - 2.0 * _Z * NormalDist().pdf(_Z) / _KEEP


def _haar_all_high(stack: np.ndarray):
    """Finest-scale all-high Haar coefficients and block means over each non-overlapping 2^d block.

    The all-high coefficient (the signed sum ``sum(+-y) / 2^d``) cancels a signal linear in each axis, so on
    blurred (Nyquist-sampled) microscopy data it is almost pure noise; its variance is the mean noise
    variance of the block's voxels divided by ``2^d``.
    """
    d = stack.ndim
    cut = stack[tuple(slice(0, (n // 2) * 2) for n in stack.shape)]
    coefficient = np.zeros(tuple(n // 2 for n in cut.shape))
    mean = np.zeros_like(coefficient)
    for corner in np.ndindex(*(2,) * d):
        piece = cut[tuple(slice(c, None, 2) for c in corner)]
        coefficient += (-1) ** sum(corner) * piece
        mean += piece
    return coefficient / 2**d, mean / 2**d, 2**d


def estimate_poisson_noise(data, background: float = 0.0, *, bins: int = 32) -> tuple[float, float]:
    """Estimate the gain (photons per data unit) and read-noise std of Poisson-Gaussian data.

    Fits the camera's mean-variance line ``var = (mean - background) / gain + sigma_read^2`` to the
    variance of the finest all-high Haar coefficients against the local block mean, in ``bins`` groups of
    equal population (weighted least squares; the variance of a group is a trimmed mean of squares so that
    the few surviving edges do not dominate). This is the recipe of Foi et al. 2008 reduced to its first
    scale.

    Parameters
    ----------
    data : ndarray
        Observed image or volume in data units (raw counts, or scaled to [0, 1]).
    background : float
        The camera offset in the same units.

    Returns
    -------
    gain, read_sigma : float
        Photons per data unit, and the read-noise standard deviation in data units (0 when the fit finds
        none).

    Raises
    ------
    DeconvkitError
        When the variance does not grow with the mean (not photon-limited data, or too few voxels).
    """
    data = np.asarray(data, dtype=np.float64)
    coefficient, mean, blocks = _haar_all_high(data)
    coefficient, mean = coefficient.ravel(), mean.ravel()
    if mean.size < 8 * bins:
        raise DeconvkitError(f"too few voxels ({data.size}) to estimate the Poisson noise; give gain=")
    order = np.argsort(mean)
    groups = np.array_split(order, bins)
    means, variances, weights = [], [], []
    for group in groups:
        squares = np.sort(coefficient[group] ** 2)
        kept = squares[: max(1, int(_KEEP * len(squares)))]
        variances.append(kept.mean() / _TRIMMED_MEAN * blocks)
        means.append(mean[group].mean())
        weights.append(len(group))
    means, variances, weights = map(np.asarray, (means, variances, weights))
    if not variances.max() > 0 or not np.ptp(means) > 0:
        raise DeconvkitError("the data is flat (no variance or no range of means): not photon-limited "
                             "data whose noise can be measured; give gain= explicitly")
    # weighted least squares: a group's variance estimate has a standard error proportional to itself
    weights = weights / np.maximum(variances, 1e-12 * variances.max()) ** 2
    design = np.stack([means - background, np.ones_like(means)], axis=1)
    slope, intercept = np.linalg.lstsq(design * np.sqrt(weights)[:, None], variances * np.sqrt(weights),
                                       rcond=None)[0]
    if not slope > 0:
        raise DeconvkitError("the data's variance does not grow with its mean, so it is not photon-limited "
                             "(or the background is wrong); give gain= explicitly")
    return float(1.0 / slope), float(math.sqrt(max(intercept, 0.0)))


def shot_noise_share(data, background: float = 0.0) -> float:
    """How photon-limited ``data`` is: the shot-noise share of the variance at its bright end, in [0, 1].

    With the mean-variance line of :func:`estimate_poisson_noise`, ``var = (mean - background) / gain +
    read^2``, the share is ``s / (s + read^2)`` with ``s = (p99 - background) / gain`` at the data's 99th
    percentile: near 1 when photon counting dominates (fluorescence, astronomy at low flux), near 0 for
    Gaussian noise of one level; 0 when the variance does not grow with the mean at all (no fit).
    """
    try:
        gain, read = estimate_poisson_noise(data, background)
    except DeconvkitError:
        return 0.0
    shot = max(float(np.percentile(data, 99)) - float(background), 0.0) / gain
    total = shot + read**2
    return float(shot / total) if total > 0 else 0.0


def _deviance(bk, observed, predicted, gain, n):
    """Mean Poisson deviance per voxel in photon counts: ``(2/N) sum g [y ln(y/mu) - y + mu]`` (``y``, ``mu``
    in data units with the shift, so ``g y`` and ``g mu`` are the shifted counts)."""
    # written in place on one temporary (the same operations, in the same order, as
    # ``observed * log(max(observed, 1e-30) / predicted) - observed + predicted``)
    terms = bk.maximum(observed, 1e-30)
    terms /= predicted
    if isinstance(terms, np.ndarray):
        np.log(terms, out=terms)  # in place: the torch backend's log takes no out=, NumPy's saves a temporary
    else:
        terms = bk.log(terms)
    terms *= observed
    terms -= observed
    terms += predicted
    return 2.0 * gain * bk.item(bk.sum(terms)) / n


@register_solver(
    "poisson_rl",
    boundary="unknown",
    summary="Richardson-Lucy with the camera offset in the Poisson model; stops by the Poisson discrepancy "
            "principle (no iteration count)",
    params={
        "background": "constant camera offset / background in data units, kept inside the Poisson model "
                      "(default 0)",
        "gain": "photons per data unit; default: estimated from the data's mean-variance relation (if that "
                "fails, only the plateau rule stops the iterations; info['noise_note'] says so)",
        "read_noise": "read-noise std in data units (shifted-Poisson); default: estimated with the gain",
        "iterations": "a fixed count instead of the stopping rule (default: discrepancy / plateau)",
        "tau": "discrepancy target: mean Poisson deviance per voxel (default 1)",
        "tol": f"plateau rule: stop when the log-likelihood improves by less than this, relatively "
               f"(default {DEFAULT_TOL:g})",
        "accelerate": "Biggs-Andrews extrapolation (default True)",
    },
)
def poisson_rl(problem, *, background=0.0, gain=None, read_noise=None, iterations=None, tau=1.0, tol=DEFAULT_TOL,
               accelerate=True):
    """Offset-aware Richardson-Lucy; see the module notes. Returns ``(x, info)`` on the problem's domain.

    ``x`` is the background-free object (photon flux in data units); ``info`` holds ``iterations``,
    ``stop_rule`` (``"discrepancy"``, ``"plateau"``, ``"fixed"`` or ``"max_iterations"``), the final
    ``deviance``, ``gain`` and ``read_noise`` (estimated or given) and ``background``.
    """
    bk = problem.backend
    try:
        background = float(background)
    except (TypeError, ValueError):
        raise DeconvkitError(f"background must be a number (data units), got {background!r}") from None
    if not math.isfinite(background):
        raise DeconvkitError(f"background must be finite, got {background!r}")
    host = problem.host_data
    estimated, noise_note = False, None
    if gain is None:
        try:
            gain_est, read_est = estimate_poisson_noise(host[0] if host.shape[0] == 1 else host, background)
        except DeconvkitError as exc:
            # Without a gain the deviance has no scale, so there is no discrepancy target; the plateau rule
            # (a relative change) still works, and info says why it was used.
            noise_note = f"gain unknown ({exc}); stopped by the plateau rule only"
            gain_est, read_est = 1.0, 0.0
        gain = gain_est
        read_noise = read_est if read_noise is None else read_noise
        estimated = noise_note is None
    gain = float(gain)
    read_noise = 0.0 if read_noise is None else float(read_noise)
    if not (math.isfinite(gain) and gain > 0):
        raise DeconvkitError(f"gain must be > 0 (photons per data unit), got {gain!r}")
    if not (math.isfinite(read_noise) and read_noise >= 0):
        raise DeconvkitError(f"read_noise must be >= 0, got {read_noise!r}")
    if not tau > 0 or not tol >= 0:
        raise DeconvkitError(f"tau must be > 0 and tol >= 0, got tau={tau!r}, tol={tol!r}")
    fixed = iterations is not None
    max_iter = int(iterations) if fixed else MAX_ITERATIONS
    if max_iter < 0:
        raise DeconvkitError(f"iterations must be >= 0, got {iterations}")

    # The noise model, in photon counts: z = gain (y - b) ~ Poisson(gain H x) + N(0, (gain sigma)^2), where
    # sigma (read_noise) also absorbs the shot noise of a uniform background light. Snyder's shifted Poisson
    # turns the Gaussian part into Poisson: z + s ~ Poisson(gain H x + s), s = (gain sigma)^2 counts. In data
    # units the RL ratio is (y - b + shift) / (H x + shift), shift = gain sigma^2. With only background light
    # (sigma^2 = b / gain) it is y / (H x + b), the classical RL with background; with only an electronic
    # offset and no read noise, (y - b) / H x, whose numerator is then never negative.
    shift = gain * read_noise**2
    observed = problem.observed()

    def shifted_data():
        """``max(y - b + shift, 0)``. The clip touches only the tail where read noise pushes ``y - b`` below
        ``-shift`` (under 2.5 % of the dark voxels at one read-noise std of shift, none without read
        noise); subtract-and-clip at 0 clips half. Rebuilt in every iteration instead of kept, so that it
        is not alive during the transforms (pocketfft's inverse holds an untraced spectrum-sized buffer):
        one data-sized array fewer at the loop's peak, for one element-wise pass per iteration."""
        data = observed - background
        data += shift
        return bk.maximum(data, 0.0, out=data)

    floor_level = shift
    if floor_level <= 0:
        # no read noise: a tiny positive floor keeps the ratio finite where the prediction is 0
        floor_level = 1e-9 * max(float(host.max()) - background, 1e-30)
    n = float(np.prod(observed.shape))

    sensitivity = problem.adjoint(bk.full(observed.shape, 1.0, problem.dtype))
    sensitivity = bk.maximum(sensitivity, 1e-6, out=sensitivity)
    # A flat start (the data's mean flux): iterations then add detail from coarse to fine and the deviance
    # falls from above the target, which the discrepancy rule needs; starting from the data itself would
    # meet the target at once (blurring noisy data already smooths part of its noise away).
    level = max(float(np.mean(host)) - background, 1e-6 * max(float(host.max()) - background, 1e-30))
    estimate = bk.full((problem.channels,) + tuple(problem.domain), level, problem.dtype)

    # A x = M K x and A^T r = K^T M^T r written as RL's loop writes them (the same values as
    # problem.forward / problem.adjoint: the same spectrum products, in place, and a zero-filled border)
    blur = problem.blur
    window = problem.window.window if problem.masked else (Ellipsis,)
    border = _outside_window(tuple(problem.domain), window) if problem.masked else []

    previous = None
    # Biggs-Andrews memory, in buffers that live for the whole run (the same arithmetic as the out-of-place
    # form, so results are unchanged, at about half the peak memory): the last step x_k - x_{k-1}, the last
    # update direction g and the buffer of the extrapolated point (which then holds the new g)
    step = direction = point_buffer = alpha = None
    stop_rule = "fixed" if fixed else "max_iterations"
    deviance = float("nan")
    used = 0
    for used in range(1, max_iter + 1):
        point = estimate
        if alpha is not None:
            if point_buffer is None:
                point_buffer = bk.empty(estimate.shape, estimate.dtype)
            point = bk.multiply(step, alpha, out=point_buffer)
            point = bk.add(point, estimate, out=point)
            point = bk.maximum(point, 0.0, out=point)
        # the prediction K x on the domain; the data term's window of it is a view, and the ratio is
        # written into that view, so the back-projection needs no zero-filled copy
        blurred = blur.convolve(point)
        predicted = blurred[window]
        predicted += floor_level
        predicted = bk.maximum(predicted, 1e-30, out=predicted)
        data = shifted_data()
        if not fixed:
            deviance = _deviance(bk, data, predicted, gain, n)
            if deviance <= tau and noise_note is None:
                stop_rule = "discrepancy"
                estimate = point
                break
            if previous is not None and previous - deviance < tol * deviance:
                stop_rule = "plateau"
                estimate = point
                break
            previous = deviance
        bk.divide(data, predicted, out=predicted)
        del data
        for slab in border:  # A^T = K^T M^T: the ratio is zero outside the observed window
            blurred[slab] = 0
        spectrum = blur.to_spectrum(blurred)
        del blurred, predicted  # freed before the inverse transform: one domain-sized array less at peak
        updated = blur.convolve_spectrum(spectrum, adjoint=True)
        del spectrum
        updated *= point
        updated /= sensitivity
        if accelerate:
            # g = updated - point, into the point's buffer when there is one (the point is not needed again)
            change = bk.subtract(updated, point, out=point) if point is not estimate else updated - point
            if direction is not None:
                alpha = bk.item(bk.vdot(change, direction)) / (bk.item(bk.vdot(direction, direction)) + 1e-300)
                alpha = min(max(alpha, 0.0), 1.0)
            if point is not estimate:  # the old g's buffer becomes the next point's buffer
                point_buffer = direction
            direction = change
            if step is None:
                step = bk.empty(estimate.shape, estimate.dtype)
            step = bk.subtract(updated, estimate, out=step)
        del point
        estimate = updated
        problem.progress(used, max_iter)
    info = {"iterations": used, "stop_rule": stop_rule, "deviance": deviance, "tau": tau,
            "gain": None if noise_note else gain, "read_noise": None if noise_note else read_noise,
            "noise_estimated": estimated, "background": background, "accelerated": bool(accelerate)}
    if noise_note:
        info["noise_note"] = noise_note
    return estimate, info
