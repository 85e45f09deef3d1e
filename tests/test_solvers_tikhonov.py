"""deconvkit.solvers.tikhonov against dense least squares."""

import numpy as np

import deconvkit


def test_tikhonov_matches_dense_least_squares_with_unknown_boundary(rng):
    """Minimiser of ||valid_conv(x) - y||^2 + lam ||grad x||^2 built densely with scipy.signal."""
    shape, psf = (9, 8), rng.random((3, 3))
    psf /= psf.sum()
    y = rng.random(shape)
    lam = 0.05
    restored = deconvkit.deconvolve(y, psf, method="tikhonov", lam=lam, tol=1e-10, iterations=500)
    # The solver's domain is the fast FFT size of the extended shape (11, 10) -> check what it used
    from deconvkit.boundaries import plan_domain

    domain, offset = plan_domain(shape, psf.shape, "unknown")
    n = int(np.prod(domain))
    basis = np.eye(n).reshape((n,) + domain)
    window = (slice(offset[0], offset[0] + shape[0]), slice(offset[1], offset[1] + shape[1]))

    def circular(b):  # y[m] = sum_j psf[j] b[m - j + k//2], by explicit shifts
        return sum(psf[j] * np.roll(b, (j[0] - 1, j[1] - 1), axis=(0, 1)) for j in np.ndindex(3, 3))

    # data term: circular convolution on the domain, read on the observed window
    A = np.array([circular(b)[window].ravel() for b in basis]).T
    D = []
    for axis in range(2):
        for b in basis:
            D.append((np.roll(b, -1, axis) - b).ravel())
    D = np.array(D)
    x = np.linalg.solve(A.T @ A + lam * D.T @ D, A.T @ y.ravel()).reshape(domain)
    np.testing.assert_allclose(restored, x[window], atol=1e-6)
