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


def solve_split(problem, prox, lam, *, betas, inner=1, mu=None, nonneg=False, dual_prior=True,
                weight=None, x0=None, objective=None):
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
        ``objective(x)`` evaluated after every iteration and recorded in ``info["objective"]``.
    """
    bk = problem.backend
    domain = problem.domain
    dtype = problem.dtype
    blur = problem.blur
    grad = problem.gradient
    grad_abs2 = grad.transfer_abs2(dtype)

    # data weight on the whole domain
    if problem.masked or weight is not None:
        window_weight = weight if weight is not None else bk.full(problem.shape, 1.0, dtype)
        if problem.masked:
            data_weight = problem.window.adjoint(bk.asarray(window_weight))
            weighted_data = problem.window.adjoint(problem.data * window_weight)
        else:
            data_weight = problem.window.adjoint(bk.asarray(window_weight))
            # outside the window the extended data stay trusted with weight 1
            outside = 1.0 - problem.mask
            data_weight = data_weight + outside
            extended = problem.extended()
            weighted_data = extended * data_weight
        split_data = True
    else:
        split_data = False
        data_spectrum = blur.adjoint_spectrum(blur.to_spectrum(problem.target()), transfer_first=True)

    x = problem.extended() if x0 is None else x0
    if split_data:
        mu = float(mu if mu is not None else 1.0)
        kx = problem.blur.forward(x)
        u = kx
        du = bk.zeros(x.shape, dtype)
    nu = float(betas[0]) if nonneg else 0.0
    if nonneg:
        v = bk.maximum(x, 0.0)
        dv = bk.zeros(x.shape, dtype)
    dx = grad.forward(x)
    z = prox(dx, lam / float(betas[0]))
    dz = bk.zeros(dx.shape, dtype) if dual_prior else None

    history = []
    total = len(betas) * inner
    done = 0
    previous_beta = float(betas[0])
    for beta in betas:
        beta = float(beta)
        if dual_prior and beta != previous_beta:
            dz = dz * (previous_beta / beta)  # scaled dual: keep the unscaled multiplier fixed
        if nonneg and beta != previous_beta:
            dv = dv * (nu / beta)
            nu = beta
        previous_beta = beta
        for _ in range(inner):
            # x-update: one FFT-diagonal solve
            prior_target = z - dz if dual_prior else z
            spatial = beta * grad.adjoint(prior_target)
            if nonneg:
                spatial = spatial + nu * (v - dv)
            spectrum = blur.to_spectrum(spatial)
            if split_data:
                spectrum = spectrum + blur.adjoint_spectrum(blur.to_spectrum(u - du), weight=mu,
                                                                transfer_first=True)
                spectrum = blur.solve_normal(spectrum, grad_abs2, beta, weight=mu, shift=nu,
                                             spectral_in=True, spectral_out=True)
            else:
                spectrum = blur.solve_normal(spectrum + data_spectrum, grad_abs2, beta, shift=nu,
                                             spectral_in=True, spectral_out=True)
            x = blur.from_spectrum(spectrum)
            dx = grad.forward(x)
            # prior
            z = prox(dx + dz if dual_prior else dx, lam / beta)
            if dual_prior:
                dz = dz + dx - z
            # data split: pixel-wise weighted least squares
            if split_data:
                kx = blur.from_spectrum(blur.forward_spectrum(spectrum))
                u = (weighted_data + mu * (kx + du)) / (data_weight + mu)
                du = du + kx - u
            if nonneg:
                v = bk.maximum(x + dv, 0.0)
                dv = dv + x - v
            done += 1
            problem.progress(done, total)
            if objective is not None:
                history.append(float(objective(x)))
    if nonneg:
        x = v
    info = {"iterations": total, "beta_final": float(betas[-1])}
    if split_data:
        info["mu"] = mu
    if objective is not None:
        info["objective"] = history
    return x, info


def geometric_schedule(start, stop, factor):
    """``start, start*factor, ...`` up to and including ``stop``."""
    count = max(int(np.ceil(np.log(stop / start) / np.log(factor))), 0) + 1
    return [min(start * factor**i, stop) for i in range(count)]
