"""Choosing the solver per image: candidates ranked by Stein's unbiased risk estimate on one central crop.

``method="auto"`` first tunes the TV weight by SURE (:func:`deconvkit.solvers.auto.sure_weight`); this
module scores the other candidates on the *same* crop, with the *same* random probe and finite-difference
step, so that their risks are comparable with TV's, and ranks them. Each candidate costs two short solves
of the crop (the data and the probed data), whatever the image size.

The risk is the prediction risk ``E||A x(y) - A x_true||^2 / n`` estimated by
``(||A x(y) - y||^2 - n s^2 + 2 s^2 div_y A x(y)) / n`` (Stein 1981; Monte-Carlo divergence, Ramani, Blu &
Unser 2008). An estimator whose parameter is itself chosen from the data (RL's iteration count by the
discrepancy principle, Tikhonov's weight by GCV) is differentiated with that parameter held at the value
chosen for ``y``: the divergence of a piecewise-constant choice is zero almost everywhere.

Candidates and their automatic settings (the same as ``method=<name>`` without parameters, except that the
iterative ones are shortened on the crop):

* ``tv``: the SURE-chosen weight (scored by the weight search itself);
* ``hyper_laplacian``: its noise rule, ``alpha = 2/3``, 5 iterations per continuation step;
* ``richardson_lucy``: the discrepancy-principle stop (at most 200 iterations);
* ``tikhonov``: the GCV weight within a factor 4 of its noise rule (the closed-form candidate).
"""

from __future__ import annotations

import numpy as np

from ._base import SOLVERS, Problem
from ._splitting import saturation_weight

__all__ = ["CANDIDATES", "SureCrop", "rank_candidates", "choose", "solve_candidate"]

CANDIDATES = ("tv", "hyper_laplacian", "richardson_lucy", "tikhonov")
# A candidate replaces TV only if its estimated risk is lower by this fraction: SURE's Monte-Carlo
# divergence (one probe) has a few per cent of scatter, and TV is the measured default on the Levin
# captures and the sweep, so a tie keeps it.
SWITCH_MARGIN = 0.15
# ... plus this many noise variances (risks near zero: flat scenes, where the prediction risk of a linear
# solver and of TV differ by less than its own error; a 64 px sky crop of the cameraman otherwise went to
# Tikhonov, 0.35 dB below TV)
SWITCH_MARGIN_SIGMA2 = 0.05
# inner iterations per continuation step of the hyper-Laplacian on the crop (the full solve uses 10)
_HL_INNER = 5


class SureCrop:
    """A crop of the data, its probed copy and the pixel weights SURE is computed with.

    Parameters
    ----------
    data : ndarray (C, *shape)
        The cropped observation.
    problem : Problem
        The full problem (PSF, backend, noise level, progress callback).
    params : dict
        ``saturation`` is read from it (saturated pixels are left out of the risk).
    seed : int
        Seed of the probe; :func:`deconvkit.solvers.auto.sure_weight` uses 0, and the same value here
        makes the risks comparable.
    """

    def __init__(self, data, problem, params, *, seed=0):
        self.data = data
        self.sigma = sigma = problem.noise_sigma
        self.backend = problem.backend
        self.sub = Problem(data, problem.psf, "unknown", backend=problem.backend, noise_sigma=sigma,
                           progress=problem.progress)
        self.probe = np.random.default_rng(seed).standard_normal(data.shape).astype(data.dtype)
        self.delta = 0.1 * sigma  # the same step as the TV weight search
        self.perturbed = Problem(data + self.delta * self.probe, problem.psf, "unknown",
                                 backend=problem.backend, noise_sigma=sigma, progress=problem.progress)
        weight = saturation_weight(self.sub, params.get("saturation"))
        self.keep = (np.ones(data.shape[1:], dtype=data.dtype) if weight is None
                     else self.backend.to_numpy(weight)[0])
        self.count = float(self.keep.sum()) * data.shape[0]

    def risk(self, solve):
        """SURE of ``solve``: a function ``solve(problem, fixed)`` returning ``(x, fixed)``.

        ``fixed`` is None for the data and, for the probed data, whatever the first call returned (the
        data-driven parameters to hold fixed).
        """
        bk = self.backend
        x, fixed = solve(self.sub, None)
        prediction = bk.to_numpy(self.sub.forward(x))
        moved = bk.to_numpy(self.perturbed.forward(solve(self.perturbed, fixed)[0]))
        residual = float((((prediction - self.data) * self.keep) ** 2).sum())
        divergence = float((self.probe * self.keep * (moved - prediction)).sum()) / self.delta
        sigma2 = self.sigma**2
        return (residual - self.count * sigma2 + 2 * sigma2 * divergence) / self.count


def _hyper_laplacian(params):
    def solve(problem, fixed):
        x, _ = SOLVERS["hyper_laplacian"].func(problem, inner=_HL_INNER, nonneg=params.get("nonneg", False),
                                               saturation=params.get("saturation", "auto"))
        return x, None
    return solve


def _richardson_lucy(problem, fixed):
    x, info = SOLVERS["richardson_lucy"].func(problem, iterations=fixed)
    return x, info["iterations"]


def _tikhonov(problem, fixed):
    x, info = SOLVERS["tikhonov"].func(problem, lam=fixed)
    return x, info["lam"]


def rank_candidates(crop, params, tv_risk):
    """Score every candidate on ``crop`` (a :class:`SureCrop`); return ``[(name, risk), ...]`` best first.

    ``tv_risk`` is TV's risk at its chosen weight from the weight search on the same crop and probe.
    """
    solvers = {"hyper_laplacian": _hyper_laplacian(params), "richardson_lucy": _richardson_lucy,
               "tikhonov": _tikhonov}
    risks = {"tv": float(tv_risk)}
    for name, solve in solvers.items():
        risks[name] = crop.risk(solve)
    return sorted(risks.items(), key=lambda item: item[1])


def choose(ranking, sigma, margin=SWITCH_MARGIN):
    """The chosen candidate: the best, unless TV's risk is within ``margin`` (relative) plus
    ``SWITCH_MARGIN_SIGMA2 * sigma^2`` of it; then TV."""
    best, best_risk = ranking[0]
    tv_risk = dict(ranking)["tv"]
    if best != "tv" and tv_risk - best_risk <= margin * abs(tv_risk) + SWITCH_MARGIN_SIGMA2 * sigma**2:
        return "tv"
    return best


def solve_candidate(problem, name, params, iterations=None):
    """Solve the whole ``problem`` with candidate ``name`` at its automatic setting (full iterations)."""
    if name == "hyper_laplacian":
        return SOLVERS[name].func(problem, nonneg=params.get("nonneg", False),
                                  saturation=params.get("saturation", "auto"))
    extra = {} if iterations is None else {"iterations": int(iterations)}
    return SOLVERS[name].func(problem, **extra)
