"""Variable splitting for gradient-prior deconvolution (shared by TV and hyper-Laplacian solvers).

Solves ``min_x 1/2 ||W^(1/2) (K x - y)||^2 + lam * R(D x)  [+ indicator(x >= 0)]`` on the FFT domain, where
``K`` is the periodic blur, ``D`` the periodic gradient and ``W`` a pixel-wise data weight: the observed
window (the "unknown" boundary strategy: pixels outside the frame carry no data) times a mask of
trusted pixels (saturated pixels get weight 0, so clipped highlights do not ring).

Splitting (Almeida & Figueiredo 2013, "Deconvolving images with unknown boundaries using ADMM")::

    u = K x   (data term, solved pixel-wise:  u = (W y + mu (K x + du)) / (W + mu))
    z = D x   (prior, a proximal map:         z = prox_{lam R / beta}(D x + dz))
    v = x     (non-negativity, a projection:  v = max(x + dv, 0); optional)

and the ``x``-update ``(mu |H|^2 + beta |D|^2 + nu) X = F[mu K^T(u - du) + beta D^T(z - dz) + nu (v - dv)]``
is diagonal in Fourier space. When every pixel of the domain carries data with weight 1 (the "pad" and
"periodic" strategies without saturation) ``u`` is not needed and the data term enters the ``x``-update
exactly: ``(|H|^2 + beta |D|^2 + nu) X = conj(H) Y + ...``.

The prior penalty ``beta`` follows a continuation schedule. With ``dual_prior=True`` the prior split is a
proper ADMM (scaled dual ``dz``, rescaled when ``beta`` changes): convergent for convex priors (TV). With
``dual_prior=False`` it is half-quadratic splitting as in Krishnan & Fergus 2009: ``beta`` grows until ``z``
and ``D x`` agree, which is what keeps a non-convex prior out of poor local minima.
"""

from __future__ import annotations

import numpy as np

from .._shared import DeconvkitError

__all__ = ["solve_split", "saturation_weight"]


# Full-scale values of common encodings (float/8/10/12/14/16-bit, as read or divided by the maximum): a
# clipped sensor writes exactly one of these.
_FULL_SCALE = (1.0, 255.0, 1023.0, 4095.0, 16383.0, 65535.0)


def saturation_weight(problem, saturation):
    """Pixel weights on the observed window: 0 where the data are clipped, else 1; ``None`` if none are.

    ``saturation="auto"`` decides that the data are clipped when their maximum sits exactly at a full-scale
    value (1.0, 255, 1023, 4095, 16383 or 65535) on at least four pixels: a clipped highlight is a plateau at
    the top of the encoding, whereas an unclipped 8-bit image merely has a few pixels that tie for its
    maximum. It then flags the pixels within 2% of the maximum (sensors compress the last few percent
    before they clip), grown by one pixel since neighbours of a clipped pixel are usually partly clipped.
    A float flags values ``>= saturation``.
    """
    if saturation is None or saturation is False:
        return None
    data = problem.host_data
    high = float(data.max())
    low = float(data.min())
    if saturation == "auto":
        at_full_scale = any(abs(high - level) <= 1e-6 * level for level in _FULL_SCALE)
        if not at_full_scale or np.count_nonzero(data >= high - 1e-6 * max(high, 1e-12)) < 4:
            return None
        clipped = data >= high - 0.02 * max(high - low, 1e-12)
    else:
        clipped = data >= float(saturation)
    # shared across channels: a highlight clipped in one channel is unreliable in all
    clipped = clipped.any(axis=0, keepdims=True)
    if not clipped.any():
        return None
    import scipy.ndimage

    grown = scipy.ndimage.binary_dilation(clipped[0], iterations=1)[np.newaxis]
    return (~grown).astype(problem.dtype)


# Channels of a colour image are solved one after another once a channel's domain holds at least this
# many values: the channels share no unknowns (the priors act per channel; the data weight and the
# parameters are shared), so the result is the same, and only one channel's splitting variables (about
# ten domain-sized arrays) are alive at a time. Small problems (SURE crops) keep the batched transforms.
_SEQUENTIAL_CHANNELS_FROM = 1 << 20


def solve_split(problem, prox, lam, *, betas, inner=1, mu=None, nonneg=False, dual_prior=True,
                weight=None, x0=None, objective=None, relaxation=1.0):
    """Run the splitting iterations; return ``(x, info)``.

    Parameters
    ----------
    problem : Problem
    prox : callable
        ``prox(v, tau)`` -> ``argmin_z tau * R(z) + 1/2 ||z - v||^2`` for the stacked gradient ``v``
        (shape ``(C, ndim, *domain)``).
    lam : float
        Prior weight (the data term has weight 1/2).
    betas : sequence of float
        Prior penalties, one per stage (continuation).
    inner : int
        Iterations per stage.
    mu : float, optional
        Penalty of the data split ``u = K x`` (default 1.0); used only when the data term is weighted
        (masked window or pixel weights).
    nonneg : bool
        Constrain ``x >= 0``.
    dual_prior : bool
        ADMM (True) or half-quadratic splitting (False) on the prior split.
    weight : array, optional
        Pixel weights on the observed window (e.g. from :func:`saturation_weight`).
    x0 : array, optional
        Starting image on the domain (default: the smoothly extended data).
    objective : callable, optional
        ``objective(x)`` evaluated after every iteration (on the channels being solved) and recorded in
        ``info["objective"]``.
    relaxation : float
        Over-relaxation ``alpha`` of every split (Eckstein & Bertsekas 1992; 1 = plain ADMM): the
        constraint images ``D x``, ``K x`` and ``x`` enter the split updates as
        ``alpha * (new) + (1 - alpha) * (previous split variable)``. Values in 1.5-1.8 typically halve
        the iterations ADMM needs; the fixed point is the same.
    """
    setup = _SplitSetup(problem, prox, lam, mu=mu, nonneg=nonneg, dual_prior=dual_prior, weight=weight,
                        relaxation=relaxation)
    channels = problem.channels
    per_channel = int(np.prod(problem.domain))
    groups = ([slice(c, c + 1) for c in range(channels)]
              if channels > 1 and per_channel >= _SEQUENTIAL_CHANNELS_FROM and x0 is None
              else [slice(0, channels)])
    total = len(groups) * len(betas) * inner
    done = 0
    history = []
    result = None
    for group in groups:
        state = setup.start(group, x0, float(betas[0]))
        for beta in betas:
            setup.set_penalty(state, float(beta))
            for _ in range(inner):
                setup.step(state)
                done += 1
                problem.progress(done, total)
                if objective is not None:
                    history.append(float(objective(state.x)))
        solved = state.solution()
        if len(groups) == 1:
            result = solved
        else:
            if result is None:
                result = problem.backend.empty((channels,) + tuple(problem.domain), problem.dtype)
            result[group] = solved
        del state, solved
    info = {"iterations": len(betas) * inner, "beta_final": float(betas[-1])}
    if setup.split_data:
        info["mu"] = setup.mu
    if relaxation != 1.0:
        info["relaxation"] = float(relaxation)
    if objective is not None:
        info["objective"] = history
    return result, info


class _SplitState:
    """The iterate of one channel group: ``x`` and each split's variable and scaled dual."""

    __slots__ = ("target", "x", "z", "dz", "u", "du", "v", "dv", "beta", "nu", "solver")

    def solution(self):
        return self.v if self.v is not None else self.x


class _SplitSetup:
    """What every iteration shares: the data weights, the filters, the prox; :meth:`step` is one
    iteration of the splitting, written with in-place updates (each saved temporary is a domain-sized
    array per channel, which is what bounds a 12-megapixel solve's memory)."""

    def __init__(self, problem, prox, lam, *, mu, nonneg, dual_prior, weight, relaxation):
        bk = problem.backend
        self.problem, self.prox, self.lam = problem, prox, float(lam)
        self.nonneg, self.dual_prior = bool(nonneg), bool(dual_prior)
        self.alpha = float(relaxation)
        if not 0 < self.alpha < 2:
            raise DeconvkitError(f"relaxation must be in (0, 2), got {relaxation}")
        self.grad_abs2 = problem.gradient.transfer_abs2(problem.dtype)
        self.split_data = problem.masked or weight is not None
        self.mu = float(mu if mu is not None else 1.0) if self.split_data else 1.0
        if self.split_data:
            self.window_weight = weight if weight is not None else bk.full(problem.shape, 1.0, problem.dtype)
            # one data weight for every channel (a clipped pixel is distrusted in all of them)
            data_weight = problem.window.adjoint(bk.asarray(self.window_weight))
            if not problem.masked:  # outside the window the extended data stay trusted with weight 1
                data_weight = data_weight + (1.0 - problem.mask)
            self.data_weight_plus_mu = data_weight + self.mu
            self.data_weight = data_weight if not problem.masked else None

    def _extended(self, group):
        from ..boundaries import smooth_extend

        problem = self.problem
        if group == slice(0, problem.channels):
            return problem.extended(cache=False)
        return problem.backend.asarray(smooth_extend(problem.host_data[group], problem.domain,
                                                     problem.offset))

    def start(self, group, x0, beta):
        problem, bk = self.problem, self.problem.backend
        blur, grad = problem.blur, problem.gradient
        state = _SplitState()
        x = self._extended(group) if x0 is None else x0
        if self.split_data:
            if problem.masked:
                state.target = problem.window.adjoint(problem.data[group] * self.window_weight)
            else:  # the extended data, weighted
                extended = x if x0 is None else self._extended(group)
                state.target = extended * self.data_weight
            state.u = blur.forward(x)
            state.du = bk.zeros(x.shape, problem.dtype)
        else:
            target = problem.window.adjoint(problem.data[group]) if problem.masked else x
            state.target = blur.adjoint_spectrum(blur.to_spectrum(target), transfer_first=True)
            state.u = state.du = None
        state.nu = beta if self.nonneg else 0.0
        if self.nonneg:
            state.v = bk.maximum(x, 0.0)
            state.dv = bk.zeros(x.shape, problem.dtype)
        else:
            state.v = state.dv = None
        state.z = self.prox(grad.forward(x), self.lam / beta)
        state.dz = bk.zeros(state.z.shape, problem.dtype) if self.dual_prior else None
        state.x = x
        state.beta = beta
        state.solver = None
        return state

    def set_penalty(self, state, beta):
        """Enter a continuation stage: rescale the scaled duals (the unscaled multipliers stay fixed) and
        rebuild the x-update's filters."""
        if beta != state.beta:
            if self.dual_prior:
                state.dz *= state.beta / beta
            if self.nonneg:
                state.dv *= state.nu / beta
                state.nu = beta
            state.beta = beta
            state.solver = None
        if state.solver is None:
            state.solver = self.problem.blur.normal_solver(
                self.grad_abs2, beta, weight=self.mu if self.split_data else 1.0, shift=state.nu)

    def step(self, state):
        problem = self.problem
        bk, blur, grad = problem.backend, problem.blur, problem.gradient
        a, beta, nu = self.alpha, state.beta, state.nu
        # x-update: one Fourier-diagonal solve
        spatial = grad.adjoint(state.z - state.dz if self.dual_prior else state.z)
        spatial *= beta
        if self.nonneg:
            spatial += nu * (state.v - state.dv)
        spectrum = blur.to_spectrum(spatial)
        del spatial
        if self.split_data:
            spectrum = state.solver(spectrum, blur.to_spectrum(state.u - state.du))
        else:
            spectrum = state.solver(spectrum, back_projected=state.target)
        state.x = x = blur.from_spectrum(spectrum)
        # prior split: z = prox(D x + dz), dz += D x - z (over-relaxed D x)
        t = grad.forward(x)
        if a != 1.0:
            t *= a
            t += (1.0 - a) * state.z
        if self.dual_prior:
            t += state.dz
            state.z = self.prox(t, self.lam / beta)
            t -= state.z
            state.dz = t
        else:
            state.z = self.prox(t, self.lam / beta)
        del t
        # data split: pixel-wise weighted least squares
        if self.split_data:
            kx = blur.from_spectrum(blur.forward_spectrum(spectrum, in_place=True), overwrite=True)
            del spectrum
            if a != 1.0:
                kx *= a
                kx += (1.0 - a) * state.u
            kx += state.du
            state.u = (state.target + self.mu * kx) / self.data_weight_plus_mu
            kx -= state.u
            state.du = kx
        else:
            del spectrum
        if self.nonneg:
            if a != 1.0:
                xh = x * a
                xh += (1.0 - a) * state.v
                xh += state.dv
            else:
                xh = x + state.dv
            state.v = bk.maximum(xh, 0.0)
            xh -= state.v
            state.dv = xh


def geometric_schedule(start, stop, factor):
    """``start, start*factor, ...`` up to and including ``stop``."""
    count = max(int(np.ceil(np.log(stop / start) / np.log(factor))), 0) + 1
    return [min(start * factor**i, stop) for i in range(count)]
