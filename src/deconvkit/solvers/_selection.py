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
* ``richardson_lucy``: the discrepancy-principle stop (at most 200 iterations);
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

    def __init__(self, data, problem, params, *, seed=0, eps=None, probes=1):
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
        self.count = float(self.keep.sum()) * data.shape[0]
        self.eps = eps
        self._weight_abs2 = _partial_inverse_abs2(problem.psf, data.shape[1:], eps)
        # tr(M W^T W M) / n: the diagonal of the circulant W^T W is its mean transfer function
        self._trace = float(self._weight_abs2.mean()) if eps is not None else 1.0
        self._probes_weighed = [self._weigh(probe.astype(np.float64)) for probe in self.probes]
        self._data_weighed = self._weigh(data.astype(np.float64))

    def _weigh(self, r):
        """``W M r`` (W: periodic partial inverse filter on the crop grid, |W| only: the phase of ``W``
        cancels in every inner product below; M: the kept pixels)."""
        if self.eps is None:
            return r * self.keep
        return filter_spectrum(r * self.keep, np.sqrt(self._weight_abs2), tuple(range(1, r.ndim)))

    def risk(self, solve):
        """SURE of ``solve``: a function ``solve(problem, fixed)`` returning ``(prediction, fixed)``, the
        estimate's prediction of the data (a host array shaped as the data). Returns the risk and its
        per-pixel terms.

        ``fixed`` is None for the data and, for the probed data, whatever the first call returned (the
        data-driven parameters to hold fixed).
        """
        prediction, fixed = solve(self.sub, None)
        weighted = self._weigh(prediction.astype(np.float64))
        error = weighted - self._data_weighed
        sigma2 = self.sigma**2
        # per-pixel terms (weighted domain) whose sum over the kept pixels' count is the risk; their local
        # scatter measures how well two candidates' risks are separated (see :func:`_standard_error`)
        terms = error**2
        for perturbed, probe in zip(self.perturbed, self._probes_weighed):
            change = self._weigh(solve(perturbed, fixed)[0].astype(np.float64)) - weighted
            terms += (2 * sigma2 / self.delta / len(self.probes)) * probe * change
        terms -= self._trace * sigma2 * self.count / terms.size  # the noise term, spread evenly
        return float(terms.sum()) / self.count, terms


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


def rank_candidates(crop, params, tv_lam):
    """Score every candidate on ``crop`` (a :class:`SureCrop`); return ``[(name, risk), ...]`` best first.

    ``tv_lam`` is TV's weight chosen by the weight search.
    """
    solvers = {"tv": _tv(tv_lam, params), "hyper_laplacian": _hyper_laplacian(params),
               "richardson_lucy": _richardson_lucy, "tikhonov": _tikhonov, "wiener": _wiener}
    risks, terms = {}, {}
    for name, solve in solvers.items():
        risks[name], terms[name] = crop.risk(solve)
    ranking = sorted(risks.items(), key=lambda item: item[1])
    errors = {name: _standard_error(terms[name] - terms["tv"], crop.count) for name in terms}
    return ranking, errors


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


def choose(ranking, errors, margin=SWITCH_MARGIN, sigmas=SWITCH_SIGMAS):
    """The chosen candidate: the best, unless its risk is not clearly below TV's: by less than
    ``margin`` of TV's risk or than ``sigmas`` standard errors of the difference; then TV."""
    best, best_risk = ranking[0]
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
