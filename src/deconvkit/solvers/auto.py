"""``method="auto"``: pick a solver and its parameters from the data alone (never from a sharp image).

The choice, measured on the Levin et al. 2009 captures and a synthetic sweep (``docs/benchmarks.md``):

* the solver is isotropic TV (:mod:`.tv`) by default: on both benchmarks it beats the hyper-Laplacian prior,
  Tikhonov, Wiener and Richardson-Lucy at their own automatic settings, and it is convex, so its result
  does not depend on a continuation schedule; per image, a candidate whose projected SURE on the same crop
  is clearly lower (a margin and a number of standard errors fitted on calibration images,
  :mod:`._selection`) replaces it (RL is ranked but never replaces it: ``_selection.SWITCHABLE``), and
  the ranking is reported in ``info["ranking"]``;
* the boundary strategy is ``"unknown"`` (exact camera model: the frame sees a larger scene);
* the noise level is estimated once from the blurred data and shared by all channels
  (:func:`deconvkit.noise.estimate_noise`);
* the TV weight starts from ``lam = a * sigma^b``, a rule fitted on scikit-image sample images that are
  *not* the Levin captures nor the evaluation images of the synthetic sweep
  (``python benchmarks/nonblind_sweep.py --calibrate``). That rule is right on average but not per image
  (a smooth, finely textured image such as ``moon`` wants twice the weight of a cartoon-like one), so by
  default (``weight_rule="sure"``) the weight is then chosen per image among multiples of the rule by
  Stein's unbiased risk estimate of the prediction error (:func:`sure_weight`);
* clipped highlights get zero data weight (``saturation="auto"``), so they do not ring;
* the solution is constrained to be non-negative when the data are intensities: when no pixel lies more
  than four noise deviations below zero (a non-negative image plus the estimated noise). The constraint is
  physics, not a tuned parameter; it removes the dark undershoot next to bright edges (+0.14 dB on the
  Levin captures, docs/benchmarks.md). Signed data (e.g. background-subtracted) leave it off.

Every choice is returned in ``info`` (``deconvolve(..., return_info=True)``).
"""

from __future__ import annotations

import math

import numpy as np

from .._shared import DeconvkitError
from . import _selection
from ._base import Problem, get_solver, register_solver
from ._selection import CANDIDATES, SureCrop, choose, rank_candidates, solve_candidate
from ._splitting import saturation_weight
from .tv import TV_ITERATIONS, TV_SHORT_ITERATIONS, default_tv_lam

__all__ = ["sure_weight", "looks_non_negative"]

WEIGHT_RULES = ("sure", "calibrated")
# "sure": ranked per image; a candidate's name: always that candidate at the setting auto would use
SOLVER_RULES = ("sure",) + CANDIDATES
# Multiples of the calibrated weight that SURE may pick: sqrt(2)^k for integer k in [-4, 4] (0.25x-4x),
# counted in whole steps so that rounding cannot end the walk early.
_SURE_STEP = math.sqrt(2.0)
_SURE_MAX_STEPS = 4
# SURE is evaluated on a crop of at most this many pixels per spatial axis (2-D; 3-D: the cube root of
# the same pixel count): the "unknown" boundary model makes any crop a consistent problem of its own,
# and a 256 px crop holds enough structure to rank the weights while keeping the cost independent of
# the image size.
_SURE_PIXELS = 256 * 256
# ADMM iterations of each SURE solve: half the solver's own count. SURE only has to rank the candidate
# weights, and a half-converged solution ranks them as the converged one does (measured on the
# synthetic sweep and Levin, docs/solvers.md). The final solve then runs the solver's full count.
_SURE_ITERATIONS = TV_SHORT_ITERATIONS


@register_solver(
    "auto",
    boundary="unknown",
    summary="choose the solver and its parameters automatically (reported in info): TV, noise-calibrated "
            "weight refined per image by SURE, unknown boundaries, saturation mask, non-negativity for "
            "intensity data",
    params={"iterations": "override the solver's iteration count (default: the solver's own)",
            "weight_rule": "'sure' (default): choose the TV weight per image by SURE among multiples of "
                           "the calibrated rule; 'calibrated': the rule alone (faster)",
            "lam_scale": "multiply the chosen weight (default 1; deconvkit.deblur raises it because an "
                         "estimated PSF's error acts as extra noise; TV is then kept)",
            "solver_rule": "'sure' (default): rank TV, hyper-Laplacian, RL, Tikhonov and Wiener by a "
                           "projected SURE on the same crop and use the best of TV, hyper-Laplacian, "
                           "Tikhonov and Wiener when it clears the switch rule (info['ranking']); a "
                           "candidate's name ('tv', 'hyper_laplacian', 'richardson_lucy', 'tikhonov', "
                           "'wiener'): always that one, solved as auto would solve it"},
)
def auto(problem, *, iterations=None, weight_rule="sure", lam_scale=1.0, solver_rule="sure"):
    if weight_rule not in WEIGHT_RULES:
        raise DeconvkitError(f"weight_rule must be one of {WEIGHT_RULES}, got {weight_rule!r}")
    if solver_rule not in SOLVER_RULES:
        raise DeconvkitError(f"solver_rule must be one of {SOLVER_RULES}, got {solver_rule!r}")
    if not lam_scale > 0:
        raise DeconvkitError(f"lam_scale must be > 0, got {lam_scale}")
    sigma = problem.noise_sigma
    params = {"saturation": "auto", "nonneg": looks_non_negative(problem)}
    if iterations is not None:
        params["iterations"] = int(iterations)
    if solver_rule not in ("sure", "tv"):
        return _solve_chosen(problem, solver_rule, params, iterations, sigma, {})
    lam = default_tv_lam(sigma)
    extra, solved = {}, None
    if weight_rule == "sure" and sigma > 0:
        scale, extra, solved = sure_weight(problem, lam, params)
        lam *= scale
        if solver_rule == "sure" and lam_scale == 1:
            crop = SureCrop(_central_crop(problem), problem, params, eps=_selection.PROJECTION_EPS,
                             probes=_selection.PROBES)
            ranking, errors = rank_candidates(crop, params, lam)
            extra["ranking"] = [[name, risk] for name, risk in ranking]
            extra["ranking_standard_error"] = errors
            chosen = choose(ranking, errors)
            if chosen != "tv":
                return _solve_chosen(problem, chosen, params, iterations, sigma, extra)
    if solved is not None and lam_scale == 1:  # the crop was the whole image, solved in full already
        x, info = solved
    else:
        x, info = get_solver("tv")(problem, lam=lam * float(lam_scale), **params)
    lam *= float(lam_scale)
    info.update(method="tv", chosen_by="auto", lam_rule="calibrated lam = a * sigma^b (noise estimate)"
                + (", times the SURE-chosen factor" if extra else ""),
                lam_scale=float(lam_scale), noise_sigma_estimate=sigma, **extra)
    return x, info


def _solve_chosen(problem, chosen, params, iterations, sigma, extra):
    """The whole problem solved by the non-TV candidate ``chosen``, with auto's report."""
    x, info = solve_candidate(problem, chosen, params, iterations)
    # whether the result is constrained to x >= 0 (RL is by construction; the linear ones not)
    nonneg = chosen == "richardson_lucy" or (chosen == "hyper_laplacian" and params["nonneg"])
    info.update(method=chosen, chosen_by="auto", noise_sigma_estimate=sigma, nonneg=nonneg, **extra)
    return x, info


def _central_crop(problem):
    """The observed data cut to at most ``_SURE_PIXELS`` pixels (central crop, every spatial axis
    shrunk by the same factor but kept at least four PSF extents wide)."""
    shape = problem.shape
    ndim = len(shape)
    side = _SURE_PIXELS ** (1.0 / ndim)
    slices = [slice(None)]
    for n, k in zip(shape, problem.psf.shape):
        m = min(n, max(int(side), 4 * k))
        start = (n - m) // 2
        slices.append(slice(start, start + m))
    return np.ascontiguousarray(problem.host_data[tuple(slices)])


def sure_weight(problem, lam, params, *, seed=0):
    """Pick a multiple of the TV weight ``lam`` by SURE; return ``(factor, info, solved)``.

    ``solved`` is the TV solution ``(x, info)`` at the chosen weight when the crop was the whole image and
    the SURE solves ran the full iteration count (``x`` is then on ``problem``'s own domain), else None.

    For Gaussian noise of variance ``s^2``, the prediction risk ``E||A x(y) - A x_true||^2`` of an
    estimator is estimated without the truth by ``||A x(y) - y||^2 - n s^2 + 2 s^2 div_y(A x(y))``
    (Stein 1981); the divergence is estimated with one random probe ``b`` and a finite difference
    (Ramani, Blu & Unser 2008): ``b . (A x(y + e b) - A x(y)) / e``. Both solves use the same
    deterministic probe, so the result is deterministic. Starting at the calibrated weight, the search
    walks by factors of sqrt(2) in the direction where SURE decreases and stops at its first minimum.
    Saturated pixels (zero data weight) are left out of both terms.
    """
    data = _central_crop(problem)
    sigma = problem.noise_sigma
    # each SURE solve reports its own iterations to the caller's progress callback (a bar restarts per
    # solve), so a user sees the search working rather than a stalled bar
    sub = Problem(data, problem.psf, "unknown", backend=problem.backend, noise_sigma=sigma,
                  progress=problem.progress)
    probe = np.random.default_rng(seed).standard_normal(data.shape).astype(data.dtype)
    delta = 0.1 * sigma  # small against the noise, large against float32 rounding of the solution
    perturbed = Problem(data + delta * probe, problem.psf, "unknown", backend=problem.backend,
                        noise_sigma=sigma, progress=problem.progress)
    bk = problem.backend
    weight = saturation_weight(sub, params.get("saturation"))
    keep = np.ones(data.shape[1:], dtype=data.dtype) if weight is None else bk.to_numpy(weight)[0]
    count = float(keep.sum()) * data.shape[0]
    solver = get_solver("tv")  # the validated entry point, as deconvolve calls it
    full_count = params.get("iterations", TV_ITERATIONS)
    params = {**params, "iterations": min(int(full_count), _SURE_ITERATIONS)}
    # the crop is the whole image and solved in full: the chosen solve is the answer, keep them
    whole = (tuple(data.shape[1:]) == tuple(problem.shape) and problem.strategy == "unknown"
             and params["iterations"] == int(full_count))
    cache, solutions = {}, {}

    def risk(factor):
        if factor not in cache:
            solution = solver(sub, lam=lam * factor, **params)
            if whole:
                solutions[factor] = solution
            prediction = bk.to_numpy(sub.forward(solution[0]))
            moved = bk.to_numpy(perturbed.forward(solver(perturbed, lam=lam * factor, **params)[0]))
            residual = float((((prediction - data) * keep) ** 2).sum())
            divergence = float((probe * keep * (moved - prediction)).sum()) / delta
            cache[factor] = (residual - count * sigma**2 + 2 * sigma**2 * divergence) / count
        return cache[factor]

    def factor_of(steps):
        return _SURE_STEP ** steps

    direction = 1 if risk(factor_of(1)) < risk(factor_of(0)) else -1
    steps = 1 if direction > 0 else 0
    while (abs(steps + direction) <= _SURE_MAX_STEPS
           and risk(factor_of(steps + direction)) < risk(factor_of(steps))):
        steps += direction
    factor = factor_of(steps)
    return factor, {"lam_sure_factor": factor, "sure_crop": list(data.shape[1:]),
                    "sure_risk": {f"{f:.3g}": r for f, r in sorted(cache.items())}}, \
        solutions.get(factor)


def looks_non_negative(problem) -> bool:
    """True when the data are consistent with a non-negative image plus the estimated noise."""
    lowest = min(float(channel.min()) for channel in problem.host_data)
    return lowest >= -4.0 * problem.noise_sigma
