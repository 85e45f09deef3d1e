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
* ``hyper_laplacian``: its noise rule, ``alpha = 2/3`` (its full iteration schedule);
* ``richardson_lucy``: the discrepancy-principle stop (at most 200 iterations); ranked and reported, but
  not among the candidates that may replace TV (:data:`SWITCHABLE`);
* ``tikhonov``: the GCV weight within a factor 4 of its noise rule (the closed-form candidate).
"""

from __future__ import annotations

import numpy as np

from ..fft import filter_spectrum, otf_abs2
from ._base import SOLVERS, Problem
from ._splitting import saturation_weight
from .tv import TV_SHORT_ITERATIONS

__all__ = ["CANDIDATES", "SureCrop", "rank_candidates", "choose", "solve_candidate"]

CANDIDATES = ("tv", "hyper_laplacian", "richardson_lucy", "tikhonov", "wiener")
# A candidate replaces TV only if its estimated risk is lower by SWITCH_MARGIN of TV's risk and by
# SWITCH_SIGMAS standard errors of the difference: TV is the measured default on the Levin captures and
# the sweep, so a near tie keeps it. Fitted (``python benchmarks/nonblind_sweep.py --fit-switch``) on 52
# calibration cases that are no evaluation image (chelsea, coffee, grass, gravel, three star fields of their
# own seeds and densities; 5 PSFs; 0.2-2% noise): the most conservative rule of a 7 x 8 grid within 0.01
# dB of the best mean PSNR. Over 2 errors nothing switched there; at 1-1.5 errors and margins up to 10%
# the switches were right (Tikhonov on chelsea, +0.15 / +0.31 dB) and one was wrong at 1.0 error and 4%
# (Tikhonov on a star field, -0.24 dB), which the margin excludes. The previous 3.5 errors (set by hand on
# development cases) switched on none of the 24 class-evaluation cases.
SWITCH_MARGIN = 0.10
SWITCH_SIGMAS = 1.5
# The candidates that may replace TV; RL is ranked and reported but never replaces it. Measured (2026-12-02,
# docs/benchmarks.md): RL with its discrepancy stop was truly best in none of the calibration or evaluation
# cases (on star fields TV beats it by 0.6-13 dB), but its projected risk can come out far below TV's where
# its error lies in the PSF's stop band, which no data-domain risk sees: on `cell` with the defocus disk at
# 0.5% noise RL ranked first by 28% and 5 standard errors (with a border margin) and was 0.47 dB below TV.
SWITCHABLE = ("hyper_laplacian", "tikhonov", "wiener")
# random probes of the ranking's divergence estimates
PROBES = 2
# blocks (pixels per axis) over which per-pixel SURE terms are summed to estimate a difference's scatter
_BLOCK = 16
_MIN_BLOCKS = 16
# inner iterations per continuation step of the hyper-Laplacian on the crop: its full count (with 5, its
# crop solution was 1.9 dB worse on a cartoon and ranked below TV although the full solve beats TV)
_HL_INNER = 10
# Regularisation of the partial inverse W = conj(H) / (|H|^2 + eps) that maps the prediction error to
# an image-domain error where the PSF passes the signal (the projected risk); None: prediction risk.
PROJECTION_EPS = 0.01
# ADMM iterations of the TV candidate on the crop (as in the weight search)
_TV_ITERATIONS = TV_SHORT_ITERATIONS


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
        Seed of the first probe (:func:`deconvkit.solvers.auto.sure_weight` uses 0); probe ``j`` uses
        ``seed + j``.
    probes : int
        Random probes averaged in the divergence: its Monte-Carlo error dominates a risk difference.
    eps : float or None
        Regularisation of the partial inverse ``W`` (projected risk); None: the prediction risk.
    """

    def __init__(self, data, problem, params, *, seed=0, eps=None, probes=1, margin=0):
        self.data = data
        self.sigma = sigma = problem.noise_sigma
        self.backend = problem.backend
        self.sub = Problem(data, problem.psf, "unknown", backend=problem.backend, noise_sigma=sigma,
                           progress=problem.progress)
        self.probes = [np.random.default_rng(seed + j).standard_normal(data.shape).astype(data.dtype)
                       for j in range(int(probes))]
        self.delta = 0.1 * sigma  # the same step as the TV weight search
        self.perturbed = [Problem(data + self.delta * probe, problem.psf, "unknown", backend=problem.backend,
                                  noise_sigma=sigma, progress=problem.progress) for probe in self.probes]
        weight = saturation_weight(self.sub, params.get("saturation"))
        self.keep = (np.ones(data.shape[1:], dtype=data.dtype) if weight is None
                     else self.backend.to_numpy(weight)[0])
        self._saturation_keep = self.keep
        self._psf = problem.psf
        self._scorers = {}
        self.eps, self.margin = eps, int(margin)
        self.keep, self.count, self._weight_abs2, self._trace, self._probes_weighed, self._data_weighed = \
            self._scorer(eps, self.margin, len(self.probes))

    def _scorer(self, eps, margin, probes):
        """What scoring with the projection ``eps``, a border ``margin`` and the first ``probes`` probes
        needs (cached): the kept pixels, their count, ``|W|^2``, the noise term's trace, the weighed probes
        and data."""
        key = (eps, margin, probes)
        if key not in self._scorers:
            keep = self._saturation_keep
            if margin > 0:  # predictions within `margin` of the crop's border are left out of the risk
                keep = np.zeros_like(keep)
                inner = tuple(slice(margin, n - margin) for n in keep.shape)
                keep[inner] = self._saturation_keep[inner]
            count = float(keep.sum()) * self.data.shape[0]
            weight_abs2 = _partial_inverse_abs2(self._psf, self.data.shape[1:], eps)
            # tr(M W^T W M) / n: the diagonal of the circulant W^T W is its mean transfer function
            trace = float(weight_abs2.mean()) if eps is not None else 1.0
            weigh = self._weigher(keep, weight_abs2)
            self._scorers[key] = (keep, count, weight_abs2, trace,
                                  [weigh(probe.astype(np.float64)) for probe in self.probes[:probes]],
                                  weigh(self.data.astype(np.float64)))
        return self._scorers[key]

    @staticmethod
    def _weigher(keep, weight_abs2):
        """``r -> W M r`` (W: periodic partial inverse filter on the crop grid, |W| only: the phase of
        ``W`` cancels in every inner product below; M: the kept pixels)."""
        if weight_abs2 is None:
            return lambda r: r * keep
        magnitude = np.sqrt(weight_abs2)
        return lambda r: filter_spectrum(r * keep, magnitude, tuple(range(1, r.ndim)))

    def _weigh(self, r):
        return self._weigher(self.keep, self._weight_abs2)(r)

    def kept_count(self, margin=None):
        """The number of values the risk is averaged over with a border ``margin`` (default: this crop's)."""
        margin = self.margin if margin is None else int(margin)
        return self._scorer(None, margin, 0)[1]

    def predictions(self, solve):
        """The predictions of ``solve`` (see :meth:`risk`) for the data and for each probed copy."""
        prediction, fixed = solve(self.sub, None)
        return prediction, [solve(perturbed, fixed)[0] for perturbed in self.perturbed]

    def risk(self, solve):
        """SURE of ``solve``: a function ``solve(problem, fixed)`` returning ``(prediction, fixed)``, the
        estimate's prediction of the data (a host array shaped as the data). Returns the risk and its
        per-pixel terms.

        ``fixed`` is None for the data and, for the probed data, whatever the first call returned (the
        data-driven parameters to hold fixed).
        """
        return self.score(*self.predictions(solve))

    def score(self, prediction, moved, *, eps="same", margin=None, probes=None):
        """SURE from the predictions for the data and the probed data (:meth:`predictions`), with this
        crop's projection, margin and probes or others (to compare risk estimates on the same solves)."""
        eps = self.eps if eps == "same" else eps
        margin = self.margin if margin is None else int(margin)
        probes = len(self.probes) if probes is None else int(probes)
        keep, count, weight_abs2, trace, probes_weighed, data_weighed = self._scorer(eps, margin, probes)
        weigh = self._weigher(keep, weight_abs2)
        weighted = weigh(prediction.astype(np.float64))
        error = weighted - data_weighed
        sigma2 = self.sigma**2
        # per-pixel terms (weighted domain) whose sum over the kept pixels' count is the risk; their local
        # scatter measures how well two candidates' risks are separated (see :func:`_standard_error`)
        terms = error**2
        for change, probe in zip(moved[:probes], probes_weighed):
            change = weigh(change.astype(np.float64)) - weighted
            terms += (2 * sigma2 / self.delta / probes) * probe * change
        terms -= trace * sigma2 * count / terms.size  # the noise term, spread evenly
        return float(terms.sum()) / count, terms


def _partial_inverse_abs2(psf, shape, eps):
    """``|W|^2`` of the partial inverse ``W = conj(H) / (|H|^2 + eps)`` on the rfft grid of ``shape``
    (``H``: the PSF's periodic transfer function there), so that ``W A`` is the identity where the PSF
    passes the signal and a low-pass elsewhere."""
    if eps is None:
        return None
    transfer_abs2 = otf_abs2(np.asarray(psf, dtype=np.float64), shape)
    return transfer_abs2 / (transfer_abs2 + eps) ** 2


def _predict(problem, x):
    return problem.backend.to_numpy(problem.forward(x))


def _tv(lam, params):
    def solve(problem, fixed):
        rest = {k: v for k, v in params.items() if k != "iterations"}
        x, _ = SOLVERS["tv"](problem, lam=lam, iterations=_TV_ITERATIONS, **rest)
        return _predict(problem, x), None
    return solve


def _hyper_laplacian(params):
    def solve(problem, fixed):
        x, _ = SOLVERS["hyper_laplacian"](problem, inner=_HL_INNER, nonneg=params.get("nonneg", False),
                                               saturation=params.get("saturation", "auto"))
        return _predict(problem, x), None
    return solve


def _richardson_lucy(problem, fixed):
    x, info = SOLVERS["richardson_lucy"](problem, iterations=fixed)
    return _predict(problem, x), info["iterations"]


def _tikhonov(problem, fixed):
    x, info = SOLVERS["tikhonov"](problem, lam=fixed)
    return _predict(problem, x), info["lam"]


def _padded(problem):
    """The same data as a ``"pad"`` problem (the Wiener filter's own boundary strategy)."""
    return Problem(problem.host_data, problem.psf, "pad", backend=problem.backend,
                   noise_sigma=problem.noise_sigma, progress=problem.progress)


def _wiener(problem, fixed):
    pad = _padded(problem)
    if fixed is None:
        x, info = SOLVERS["wiener"](pad)
        fixed = (info["nsr"], info["nsr_exponent"])
    else:
        x, _ = SOLVERS["wiener"](pad, nsr=fixed[0], nsr_exponent=fixed[1])
    # its prediction of the data: the filtered image blurred on its own (padded) domain, cut to the frame
    return pad.backend.to_numpy(pad.crop(pad.blur.forward(x))), fixed


def rank_candidates(crop, params, tv_lam, *, variants=None):
    """Score every candidate on ``crop`` (a :class:`SureCrop`); return ``[(name, risk), ...]`` best first
    and each candidate's standard error against TV.

    ``tv_lam`` is TV's weight chosen by the weight search. ``variants`` (benchmarks only): a dict
    ``name -> {"eps": ..., "margin": ..., "probes": ...}`` of other risk estimates computed from the same
    solves; then a third value is returned, ``{name: (ranking, errors)}``.
    """
    solvers = {"tv": _tv(tv_lam, params), "hyper_laplacian": _hyper_laplacian(params),
               "richardson_lucy": _richardson_lucy, "tikhonov": _tikhonov, "wiener": _wiener}
    solved = {name: crop.predictions(solve) for name, solve in solvers.items()}

    def rank(**options):
        risks, terms = {}, {}
        for name, (prediction, moved) in solved.items():
            risks[name], terms[name] = crop.score(prediction, moved, **options)
        count = crop.kept_count(options.get("margin"))
        errors = {name: _standard_error(terms[name] - terms["tv"], count) for name in terms}
        return sorted(risks.items(), key=lambda item: item[1]), errors

    ranking, errors = rank()
    if variants is None:
        return ranking, errors
    return ranking, errors, {name: rank(**options) for name, options in variants.items()}


def _standard_error(difference, count):
    """Standard error of ``difference.sum() / count`` (the per-pixel SURE terms of one candidate minus
    TV's) from the scatter of their sums over blocks of ``_BLOCK`` pixels per axis.

    Most of SURE's error in a risk *difference* is the Monte-Carlo divergence (one probe): on a 96 px crop,
    four probes moved TV's risk between 0.001 and 0.04 noise variances while Tikhonov's stayed near 0.01.
    Both it and the noise term are sums of per-pixel products that are correlated over a few PSF widths
    only, so the block sums are nearly independent and their scatter estimates the error.
    """
    spatial = difference.shape[1:]
    side = _BLOCK if len(spatial) == 2 else max(2, _BLOCK // 2)
    blocks = [n // side for n in spatial]
    if min(blocks) < 1 or int(np.prod(blocks)) < _MIN_BLOCKS:
        # too few blocks for their scatter to mean anything (a 60 px crop: 9): TV is kept. On such a sky
        # crop of the cameraman Tikhonov's risk came out 3.6 "standard errors" below TV's, its PSNR
        # 0.35 dB below.
        return float("inf")
    trimmed = difference[(slice(None),) + tuple(slice(0, b * side) for b in blocks)].sum(axis=0)
    shape = []
    for b in blocks:
        shape += [b, side]
    sums = trimmed.reshape(shape).sum(axis=tuple(range(1, 2 * len(blocks), 2))).ravel()
    # the total over the whole crop has the variance of one block sum times the number of blocks
    scale = float(np.prod(spatial)) / float(np.prod(blocks) * side ** len(blocks))
    return float(np.sqrt(sums.size * scale) * sums.std(ddof=1)) / count


def choose(ranking, errors, margin=SWITCH_MARGIN, sigmas=SWITCH_SIGMAS, switchable=SWITCHABLE):
    """The chosen candidate: the best of TV and the ``switchable`` candidates, unless its risk is not
    clearly below TV's: by less than ``margin`` of TV's risk or than ``sigmas`` standard errors of the
    difference; then TV."""
    best, best_risk = next((name, risk) for name, risk in ranking if name == "tv" or name in switchable)
    tv_risk = dict(ranking)["tv"]
    gap = tv_risk - best_risk
    if best != "tv" and (gap <= margin * abs(tv_risk) or gap <= sigmas * errors[best]):
        return "tv"
    return best


def solve_candidate(problem, name, params, iterations=None):
    """Solve the whole ``problem`` with candidate ``name`` at its automatic setting (full iterations)."""
    if name == "hyper_laplacian":
        return SOLVERS[name](problem, nonneg=params.get("nonneg", False),
                                  saturation=params.get("saturation", "auto"))
    if name == "wiener":  # solved on its own padded domain, then placed in the problem's frame
        pad = _padded(problem)
        x, info = SOLVERS[name](pad)
        return problem.window.adjoint(pad.crop(x)), info
    extra = {} if iterations is None else {"iterations": int(iterations)}
    return SOLVERS[name](problem, **extra)
