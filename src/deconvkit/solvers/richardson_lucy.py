"""Richardson-Lucy deconvolution, accelerated (Biggs & Andrews 1997), boundary-aware, optionally damped.

Performance notes (see ``docs/benchmarks.md`` (speed)): an iteration is two real FFT pairs plus a handful of
element-wise passes written with ``out=`` into arrays that live for the whole run, so the working set is
at most about 8 domain-sized float32 arrays (estimate, last step, last update direction, extrapolated
point, sensitivity, OTF, and two transients of the FFTs) and float32 input stays float32 throughout.
The loop only uses backend methods, in-place operators and slicing, so the same code runs on NumPy and on
PyTorch tensors (CPU or CUDA) without host round trips: the Biggs-Andrews step length stays a backend
scalar (a 0-d tensor on torch). The set-up adds no transform beyond the OTF (``A^T 1`` comes from the PSF
and the window's geometry, one array shared by the channels) and makes the noise estimate only for the
stopping rule or damping (docs/benchmarks.md, "Richardson-Lucy: ... time to quality").
"""

from __future__ import annotations

import math

import numpy as np

from .._shared import DeconvkitError
from ._base import register_solver

# The stopping rule (residuals as mean squares per observed pixel, in units of the noise variance sigma^2):
# stop at the first iteration whose residual is at the noise level (<= 1, the discrepancy principle) *and*
# that lowered it by less than PLATEAU. Stopping as soon as the residual reaches the noise level ended
# 0.28-0.53 dB (mean) below the best iterate: the best iterates fit the data to 0.55-0.95 sigma, lower the
# more signal there is above the noise, which a fixed target below 1 cannot follow (a target of 0.8 lost up
# to 5.6 dB on noisy smooth images). While an iteration still removes more than PLATEAU sigma^2 per pixel
# of misfit it is mostly fitting signal. PLATEAU was chosen on calibration images (scikit-image's chelsea,
# coffee, rocket, clock, brick: 60 traces, 3 Levin kernels x 0.5-5% noise; mean loss to the best iterate
# 0.28 -> 0.12 dB) and checked on the Levin captures and the sweep's images; see docs/benchmarks.md
# ("Richardson-Lucy stopping rule").
PLATEAU = 0.15


def _stop(previous, current):
    """The default stopping rule on consecutive mean squared residuals in units of ``sigma^2``."""
    return previous is not None and current <= 1.0 and previous - current < PLATEAU


def _damped_ratio(bk, observed, predicted, ratio, threshold):
    """White (1994) damping, as MATLAB's ``deconvlucy`` DAMPAR: where the data already fit to within about
    ``threshold`` (in noise units), the update ratio is pulled to 1 so noise is not amplified."""
    safe_observed = bk.maximum(observed, 1e-12)
    divergence = 2.0 * (observed * bk.log(safe_observed / predicted) - observed + predicted) / threshold**2
    divergence = bk.minimum(bk.maximum(divergence, 0.0), 1.0)
    order = 10
    weight = divergence ** (order - 1) * ((order - 1) - (order - 2) * divergence)
    return 1.0 + weight * (ratio - 1.0)


def _sensitivity(problem):
    """``A^T 1`` on the host, from the PSF and the window's geometry instead of two FFTs.

    Without a window (``A = K``) every pixel sees the whole PSF: ``K^T 1 = sum(psf)``, a scalar. With the
    unknown boundary (``A = M K``), ``K^T M^T 1`` is the PSF correlated with the window's indicator, which
    is a product of one indicator per axis: ``s[j] = sum_p psf[p] prod_a seen_a[(j_a + p_a - c_a) mod n_a]``
    (``c = k // 2``, the PSF's centre). Along each axis the 0/1 rows ``seen_a[(j_a + p - c_a) mod n_a]``
    (over ``p``) form a few runs of equal rows (all ones inside, all zeros far outside, one row per step
    of the ramps at the window's edges), so the PSF is contracted with one row per run only (a core of
    about ``prod(2 k_a + 3)`` sums, in float64) and the domain is filled from the core by index: one pass
    over the domain instead of an rfft/irfft pair and two image-sized fills (on a 2160^2 domain about
    10x less time, one thread). Unlike the FFT route it is exact where no observed pixel sees the PSF
    (0, not rounding noise), and it is one array for all channels instead of one per channel.
    """
    psf = np.asarray(problem.psf, dtype=np.float64)
    if not problem.masked:
        return float(psf.sum())
    core, rows_of = psf, []
    for n, size, start, k in zip(problem.domain, problem.shape, problem.offset, psf.shape):
        seen = np.zeros(n)
        seen[start:start + size] = 1.0
        taps = seen[(np.arange(n)[:, None] + (np.arange(k) - k // 2)[None, :]) % n]  # n x k
        # runs of equal consecutive rows (an all-ones run inside, all-zeros runs outside, one row per step
        # of the ramps): a row-wise np.unique would find the same few rows, at the cost of a lexsort
        new_run = np.ones(n, dtype=bool)
        np.any(taps[1:] != taps[:-1], axis=1, out=new_run[1:])
        distinct = taps[new_run]
        rows_of.append(np.cumsum(new_run) - 1)
        # contracts the core's leading (PSF) axis with the distinct rows; the new axis goes last, so after
        # every axis the core is laid out as the domain, one entry per combination of distinct rows
        core = np.tensordot(core, distinct, axes=([0], [1]))
    core = core.astype(problem.dtype)
    for axis, row_of in enumerate(rows_of):  # expand one axis at a time (the last expansion is the big one)
        core = np.take(core, row_of, axis=axis)
    return core


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
        "iterations": "number of iterations; default: stop once the residual is at the noise level "
                      "(discrepancy principle) and an iteration lowers it by less than 0.15 sigma^2 per "
                      "pixel, at most 200; info['stop_rule'] says which ended the run",
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

    The pieces: :class:`_RLSetup` (what every iteration shares), :meth:`_RLSetup.step` (one iteration on
    an :class:`_RLState`) and the stopping rule here.
    """
    setup = _RLSetup(problem, accelerate=accelerate, damping=damping, eps=eps,
                     penalty_gradient=penalty_gradient)
    state = setup.start(x0)
    fixed = iterations is not None
    max_iter = int(iterations) if fixed else 200
    if max_iter < 0:
        raise DeconvkitError(f"iterations must be >= 0, got {iterations}")
    sigma = None if fixed else problem.noise_sigma  # a fixed count needs no noise estimate
    used = 0
    # what ended the run, reported as it happened: a cap reached before the rule was met is
    # "max_iterations", not "discrepancy" (the vocabulary of poisson_rl)
    stop_rule = "fixed" if fixed else "max_iterations"
    previous = None  # the last iteration's mean squared residual, in units of sigma^2
    for used in range(1, max_iter + 1):
        setup.step(state, measure=not fixed)
        problem.progress(used, max_iter)
        if not fixed:
            current = (problem.backend.item(state.residual_rms) / max(sigma, 1e-300)) ** 2
            if _stop(previous, current):
                stop_rule = "discrepancy"
                break
            previous = current
    info = {"iterations": used, "accelerated": bool(accelerate), "stop_rule": stop_rule, "damping": damping,
            "offset": setup.offset}
    if not fixed:
        info["residual_rms"] = float(problem.backend.item(state.residual_rms))
    return setup.finish(state), info


class _RLState:
    """The iterate: the estimate and the Biggs-Andrews memory (last step, last update direction, the
    extrapolated point's buffer and the next step length), and the last residual."""

    __slots__ = ("estimate", "step", "direction", "point_buffer", "alpha", "residual_rms")


class _RLSetup:
    """What every iteration shares: the data with its offset, the floor, the sensitivity ``A^T 1``, the
    window and the damping threshold; :meth:`step` is one iteration written with ``out=`` updates into
    arrays that live for the whole run.

    The Biggs-Andrews extrapolation ``y_k = x_k + alpha_k (x_k - x_{k-1})`` uses
    ``alpha_k = <g_{k-1}, g_{k-2}> / <g_{k-2}, g_{k-2}>`` (clipped to [0, 1]) where ``g`` is the change one
    RL step made to its starting point; the inner product is taken as soon as ``g_{k-1}`` exists, so only
    one ``g`` is kept.
    """

    def __init__(self, problem, *, accelerate, damping, eps, penalty_gradient):
        self.problem = problem
        bk = problem.backend
        observed = problem.observed()
        host_observed = bk.to_numpy(observed)  # once, at setup (a no-op view on NumPy)
        low = float(host_observed.min())
        # Data with negative values are shifted by a constant (see run_richardson_lucy). The shifted data
        # are formed slab by slab where they are used (:meth:`_shifted_slabs`), not kept: on a stack that
        # copy was an image-sized array held for the whole run (4 bytes per value of the peak).
        self.offset = offset = -low if low < 0 else 0.0
        scale = float(host_observed.max()) + offset
        del host_observed
        floor = (1e-12 if eps is None else float(eps)) * scale
        if not floor > 0:
            # All-zero data: a floor relative to the range is 0, and 0 / 0 made the result NaN. The smallest
            # normal number keeps the ratio y / Ax = 0, so the estimate stays 0, the exact answer.
            floor = float(np.finfo(problem.dtype).tiny)
        self.observed, self.floor = observed, floor
        self.domain = domain = tuple(problem.domain)
        sensitivity = _sensitivity(problem)
        self.sensitivity, self.unseen = None, None
        if problem.masked:
            # Pixels that (almost) no observed pixel sees are left as they start: their update
            # A^T(ratio) / A^T 1 is FFT rounding noise over ~0 (at 1e-6 of the PSF's weight in float32 it
            # is off by ~10%, and it compounds), which grew without bound there and, through the
            # Biggs-Andrews step length (an inner product over the whole domain), made the restored frame
            # depend on the FFT engine's rounding (1e-3 of the range after 3 iterations, scipy vs torch).
            barely_seen = math.sqrt(float(np.finfo(problem.dtype).eps))
            unseen = np.flatnonzero(sensitivity < barely_seen)
            if unseen.size:
                self.unseen = bk.asarray(unseen)
            np.maximum(sensitivity, barely_seen, out=sensitivity)
            self.sensitivity = bk.asarray(sensitivity[None])
        elif float(np.asarray(sensitivity, problem.dtype)) != 1.0:  # the PSF sums to 1: usually no division
            self.sensitivity = max(sensitivity, 1e-6)
        self.accelerate = bool(accelerate)
        self.penalty_gradient = penalty_gradient
        # the noise estimate (a sort of every Haar coefficient) is only made when something needs it
        self.threshold = None if damping is None else float(damping) * max(problem.noise_sigma, 1e-12)
        # the OTF of a PSF symmetric about its centre is real: half the memory, a cheaper product, and the
        # adjoint needs no conjugate
        self.real_otf = problem.blur.transfer_is_real
        self.window = problem.window.window if problem.masked else (Ellipsis,)
        self.border = _outside_window(domain, self.window) if problem.masked else []
        self.n_obs = float(np.prod(observed.shape))

    def start(self, x0):
        """The first iterate: the data (extended over the domain) or a constant, floored."""
        problem, bk = self.problem, self.problem.backend
        offset, floor = self.offset, self.floor
        if isinstance(x0, str):
            if x0 != "observed":
                raise DeconvkitError(f"x0 must be 'observed' or a number, got {x0!r}")
            if problem.masked:
                estimate = problem.extended(cache=False)  # not the data term: no need to keep it around
                if offset:
                    estimate += offset
            else:
                estimate = bk.copy(self.observed)
                if offset:
                    estimate += offset
            estimate = bk.maximum(estimate, floor, out=estimate)
        else:
            estimate = bk.full((problem.channels,) + self.domain, float(x0) + offset, problem.dtype)
        state = _RLState()
        state.estimate = estimate
        state.step = None          # x_k - x_{k-1}
        state.direction = None     # g_{k-1}: the change the last RL step made to its starting point
        state.point_buffer = None  # y_k, the extrapolated point (reused; holds g_k briefly)
        state.alpha = None         # Biggs-Andrews step length for the next iteration (a backend scalar)
        state.residual_rms = float("nan")
        return state

    def step(self, state, *, measure):
        """One RL iteration (extrapolated when accelerating); with ``measure`` the RMS residual of the
        point it started from is stored in ``state.residual_rms`` (a backend scalar)."""
        bk, blur = self.problem.backend, self.problem.blur
        floor, observed, window, real_otf = self.floor, self.observed, self.window, self.real_otf
        estimate = state.estimate
        if state.alpha is not None:
            if state.point_buffer is None:
                state.point_buffer = bk.empty(estimate.shape, estimate.dtype)
            point = bk.multiply(state.step, state.alpha, out=state.point_buffer)
            point = bk.add(point, estimate, out=point)
            point = bk.maximum(point, floor, out=point)
        else:
            point = estimate

        # forward model: the prediction on the domain; the ratio is written into the same buffer
        ratio = blur.convolve(point, real_transfer=real_otf)
        predicted = ratio[window]
        predicted = bk.maximum(predicted, floor, out=predicted)
        offset = self.offset
        if measure:
            if offset:
                difference = bk.empty(predicted.shape, predicted.dtype)
                for index, shifted in self._shifted_slabs():
                    difference[index] = predicted[index] - shifted
            else:
                difference = predicted - observed
            state.residual_rms = bk.norm(difference) / math.sqrt(self.n_obs)
            del difference
        if self.threshold is not None:
            shifted = observed + offset if offset else observed  # damping: a rarely used option
            predicted[...] = _damped_ratio(bk, shifted, predicted, shifted / predicted, self.threshold)
            del shifted
        elif offset:
            for index, shifted in self._shifted_slabs():
                bk.divide(shifted, predicted[index], out=predicted[index])
        else:
            bk.divide(observed, predicted, out=predicted)
        for slab in self.border:  # A^T = K^T M^T: the ratio is zero outside the observed window
            ratio[slab] = 0

        # back-projection and the multiplicative update: updated = point * A^T(ratio) / A^T 1
        spectrum = blur.to_spectrum(ratio)
        del ratio, predicted  # freed before the inverse transform: one domain-sized array less at peak
        updated = blur.convolve_spectrum(spectrum, adjoint=True, real_transfer=real_otf)
        del spectrum
        updated = bk.multiply(updated, point, out=updated)
        sensitivity = self.sensitivity
        if self.penalty_gradient is None:
            if sensitivity is not None:
                updated = bk.divide(updated, sensitivity, out=updated)
        else:  # one-step-late penalty (RL-TV); kept >= 0.1 A^T 1 so that the update stays multiplicative
            if sensitivity is None:
                sensitivity = 1.0
            denominator = self.penalty_gradient(point)
            denominator += sensitivity  # in place: the penalty's buffer is not needed again
            denominator = bk.maximum(denominator, 0.1 * sensitivity, out=denominator)
            updated = bk.divide(updated, denominator, out=updated)
            del denominator
        if self.unseen is not None:  # unseen pixels keep their value (see __init__)
            channels = updated.shape[0]
            updated.reshape(channels, -1)[:, self.unseen] = point.reshape(channels, -1)[:, self.unseen]

        if self.accelerate:
            if state.step is None:
                state.step = bk.empty(estimate.shape, estimate.dtype)
            step = state.step = bk.subtract(updated, estimate, out=state.step)
            # g_k = updated - point; without extrapolation the point was the estimate, so g_k is the step
            new_direction = step if point is estimate else bk.subtract(updated, point, out=point)
            direction = state.direction
            if direction is None:
                state.direction = bk.copy(new_direction)
            else:
                alpha = bk.vdot(new_direction, direction) / (bk.vdot(direction, direction) + 1e-30)
                state.alpha = bk.clip(alpha, 0.0, 1.0)
                if new_direction is step:
                    direction[...] = step
                else:  # swap: the old g buffer becomes the next point's buffer
                    state.direction, state.point_buffer = new_direction, direction
        state.estimate = updated

    def _shifted_slabs(self, values=1 << 20):
        """``(index, observed[index] + offset)`` over slabs of about ``values`` values along the channel
        and first spatial axes: elementwise the same numbers as the whole shifted array."""
        observed, offset = self.observed, self.offset
        channels, rows = observed.shape[0], observed.shape[1]
        per_row = max(1, int(np.prod(observed.shape[2:])))
        step = max(1, values // per_row)
        for channel in range(channels):
            for start in range(0, rows, step):
                index = (channel, slice(start, min(start + step, rows)))
                yield index, observed[index] + offset

    def finish(self, state):
        """The estimate without the offset (in place)."""
        estimate = state.estimate
        if self.offset:
            estimate -= self.offset
        return estimate
