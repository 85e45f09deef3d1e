"""deconvkit.solvers.tv: the isotropic shrink against scipy.optimize, TV against a dense primal-dual solver."""

import numpy as np
import pytest
import scipy.ndimage
import scipy.optimize

import deconvkit
from _helpers import (
    dense_circular_convolution,
    dense_crop,
    dense_gradient,
    pdhg_tv,
    tv_objective,
)
from deconvkit.boundaries import plan_domain
from deconvkit.solvers._base import Problem
from deconvkit.solvers._splitting import solve_split
from deconvkit.solvers.tv import isotropic_shrink


def test_isotropic_shrink_matches_scipy_minimize():
    bk = deconvkit.fft.get_backend("numpy")
    rng = np.random.default_rng(1)
    v = rng.normal(size=(1, 2, 3, 3))
    tau = 0.4
    ours = isotropic_shrink(bk, v, tau)
    for i in range(3):
        for j in range(3):
            vec = v[0, :, i, j]
            result = scipy.optimize.minimize(lambda z: tau * np.sqrt(z @ z + 1e-14) + 0.5 * np.sum((z - vec) ** 2),
                                             vec, method="Nelder-Mead",
                                             options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000})
            assert np.allclose(ours[0, :, i, j], result.x, atol=1e-5)


@pytest.mark.parametrize("relaxation", [1.0, 1.7])
@pytest.mark.parametrize("strategy", ["periodic", "unknown"])
def test_tv_matches_primal_dual_reference_2d(rng, strategy, relaxation):
    shape = (8, 8)
    psf = np.array([[0.0, 1, 0], [1, 4, 2], [0, 1, 1]])
    psf /= psf.sum()
    sharp = rng.random(shape)
    y = scipy.ndimage.convolve(sharp, psf, mode="wrap") + 0.01 * rng.normal(size=shape)
    lam = 0.02
    domain, offset = plan_domain(shape, psf.shape, strategy)
    A = dense_circular_convolution(psf, domain)
    if strategy == "unknown":
        A = dense_crop(domain, shape, offset) @ A
    D = dense_gradient(domain)
    reference = pdhg_tv(A, D, y.ravel(), lam, 2)
    restored = deconvkit.deconvolve(y, psf, method="tv", lam=lam, boundary=strategy, iterations=3000,
                                    rho=5.0, saturation=None)
    ref_objective = tv_objective(A, D, y.ravel(), lam, reference, 2)
    crop = dense_crop(domain, shape, offset)
    assert np.allclose(restored.ravel(), crop @ reference, atol=2e-3)
    # and the full-domain solution has the reference's objective value
    problem = Problem(y[None], psf, strategy)
    x, _ = solve_split(problem, lambda v, t: isotropic_shrink(problem.backend, v, t), lam, betas=[5 * lam],
                       inner=3000, relaxation=relaxation)
    ours_objective = tv_objective(A, D, y.ravel(), lam, x[0].ravel(), 2)
    assert ours_objective == pytest.approx(ref_objective, rel=1e-4)


def test_tv_matches_primal_dual_reference_3d(rng):
    shape = (4, 5, 4)
    psf = np.zeros((3, 3, 3))
    psf[1, 1, 1] = 4
    psf[0, 1, 1] = psf[2, 1, 1] = psf[1, 0, 1] = psf[1, 1, 2] = 1
    psf /= psf.sum()
    sharp = rng.random(shape)
    y = scipy.ndimage.convolve(sharp, psf, mode="wrap") + 0.01 * rng.normal(size=shape)
    lam = 0.02
    A = dense_circular_convolution(psf, shape)
    D = dense_gradient(shape)
    reference = pdhg_tv(A, D, y.ravel(), lam, 3, iterations=10000)
    restored = deconvkit.deconvolve(y, psf, method="tv", lam=lam, boundary="periodic", iterations=2000,
                                    rho=5.0, saturation=None)
    assert np.allclose(restored.ravel(), reference, atol=2e-3)


def test_tv_nonneg_is_nonnegative_and_matches_projected_reference(rng):
    shape = (8, 8)
    psf = np.ones((3, 3)) / 9
    sharp = np.zeros(shape)
    sharp[2:5, 3:6] = 1.0
    y = scipy.ndimage.convolve(sharp, psf, mode="wrap") + 0.05 * rng.normal(size=shape)
    restored = deconvkit.deconvolve(y, psf, method="tv", lam=0.01, boundary="periodic", nonneg=True,
                                    iterations=2000, saturation=None)
    assert restored.min() >= 0
    # reference: projected PDHG (non-negativity folded into the x-prox via a bound-constrained solve)
    A = dense_circular_convolution(psf, shape)
    D = dense_gradient(shape)
    g = lambda x: tv_objective(A, D, y.ravel(), 0.01, x, 2)  # noqa: E731
    ours = g(restored.ravel())
    smoothed = lambda x: 0.5 * np.sum((A @ x - y.ravel()) ** 2) + 0.01 * np.sum(  # noqa: E731
        np.sqrt(np.sum((D @ x).reshape(2, -1) ** 2, axis=0) + 1e-10))
    result = scipy.optimize.minimize(smoothed, np.clip(y.ravel(), 0, None), method="L-BFGS-B",
                                     bounds=[(0, None)] * y.size, options={"maxiter": 20000, "ftol": 1e-15,
                                                                           "gtol": 1e-12})
    assert ours <= g(result.x) + 1e-4
