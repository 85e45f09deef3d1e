"""Tikhonov deconvolution: regularised least squares with a gradient (Laplacian) penalty."""

from __future__ import annotations

import numpy as np

from .._shared import DeconvkitError
from ._base import register_solver
from ._closed_form import gcv_weight, gradient_energy, regularised_inverse
from ._linalg import SEQUENTIAL_CHANNELS_FROM, conjugate_gradient

# lam_opt / (sigma^2 / gradient_energy): median 2.7 (range 0.65-7.5) over 20 cases, scikit-image's
# camera/astronaut/coins/moon x Gaussian/motion/defocus PSFs x noise 0.2-2 %, oracle-tuned (not Levin data).
NOISE_RULE_FACTOR = 2.7


def automatic_weight(problem, reg_abs2) -> float:
    """GCV, but only within a factor 4 of a noise-based rule.

    GCV alone picks the best weight when the PSF passes a good share of frequencies, but its curve goes
    flat for strongly smoothing PSFs (Gaussian, large defocus) and its minimum then drifts to absurdly
    small weights. The Gaussian-prior MAP weight ``sigma^2 / E|grad x|^2`` (with the sharp image's gradient
    energy estimated from the data) never does that, but is only right to a factor of a few; together they
    are robust.
    """
    sigma = problem.noise_sigma
    rule = NOISE_RULE_FACTOR * max(sigma, 1e-6) ** 2 / max(gradient_energy(problem), 1e-12)
    return gcv_weight(problem, reg_abs2, bounds=(rule / 4, rule * 4))


@register_solver(
    "tikhonov",
    boundary="unknown",
    summary="regularised least squares, min ||Ax-y||^2 + lam ||grad x||^2 (boundary-aware CG)",
    params={
        "lam": "regularisation weight; when omitted, generalised cross-validation within a factor 4 of "
               "the noise-based rule 2.7 sigma^2 / E|grad x|^2",
        "iterations": "maximum conjugate-gradient iterations (boundary='unknown' only; default 100)",
        "tol": "relative residual at which CG stops (default 1e-4)",
    },
)
def tikhonov(problem, *, lam=None, iterations=100, tol=1e-4):
    """Minimise ``||A x - y||^2 + lam ||D x||^2``; ``D^T D`` is the discrete Laplacian.

    On a periodic or padded domain the minimiser is a closed-form filter. With the exact camera model
    (``boundary="unknown"``, ``A = M K``) the normal equations ``(K^T M K + lam D^T D) x = K^T M^T y`` are
    solved by conjugate gradients preconditioned with that closed-form filter, which makes CG converge in
    a few tens of iterations.
    """
    bk = problem.backend
    reg_abs2 = problem.gradient.transfer_abs2(problem.dtype)
    if lam is None:
        lam, rule = automatic_weight(problem, reg_abs2), "gcv+noise"
    else:
        lam, rule = float(lam), "given"
        if not lam > 0:
            raise DeconvkitError(f"lam must be > 0, got {lam}")
    info = {"lam": lam, "lam_rule": rule}
    start = regularised_inverse(problem, lam, reg_abs2)
    if not problem.masked:
        return start, info
    problem.release_extended()  # only the weight and the start needed it; CG does not

    blur = problem.blur
    mask = problem.mask
    # Filters built once for every CG step (each a spectrum-sized array for one channel, shared by all):
    # the same values the one-shot operator methods compute per call, applied in place.
    penalty = lam * reg_abs2
    preconditioner = blur.normal_transfer(reg_abs2, lam)

    def apply_normal(x):
        # (K^T M K + lam D^T D) x, with the Laplacian applied in the Fourier basis of K; every spectrum is
        # a temporary, so it is multiplied in place and consumed by the inverse transform (at 12 MP each
        # of them is an image-sized allocation fewer)
        spectrum = blur.to_spectrum(x)
        predicted = blur.from_spectrum(blur.forward_spectrum(spectrum), overwrite=True)
        predicted *= mask
        back = blur.to_spectrum(predicted)
        del predicted
        back = blur.adjoint_spectrum(back, in_place=True)  # K^T: spectrum * conj(H)
        spectrum *= penalty
        back += spectrum
        del spectrum
        return blur.from_spectrum(back, overwrite=True)

    def precondition(r):
        # the closed-form filter (K^T K + lam D^T D)^-1, as solve_normal computes it
        spectrum = blur.to_spectrum(r)
        spectrum /= preconditioner
        return blur.from_spectrum(spectrum, overwrite=True)

    # the right-hand side is not kept here: CG frees it once the first residual is formed; colour
    # channels of a large image are iterated one at a time (same result, a third of the temporaries)
    sequential = problem.channels > 1 and int(np.prod(problem.domain)) >= SEQUENTIAL_CHANNELS_FROM
    x, used, residual = conjugate_gradient(apply_normal, problem.adjoint(problem.data), start,
                                           precondition=precondition, tol=float(tol),
                                           max_iter=int(iterations), backend=bk, callback=problem.progress,
                                           sequential=sequential)
    info.update(iterations=used, cg_relative_residual=residual)
    return x, info
