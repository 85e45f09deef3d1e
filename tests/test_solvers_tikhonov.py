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


def test_tikhonov_colour_float32_matches_dense_normal_equations_per_channel(rng):
    """The channel-wise, in-place CG on a colour float32 image: each channel equals its own dense
    minimiser of ||valid_conv(x_c) - y_c||^2 + lam ||grad x_c||^2 (to float32 accuracy); the channels
    converge at different speeds (different data), so the joint stop is exercised."""
    from deconvkit.boundaries import plan_domain

    shape, psf = (8, 9), rng.random((3, 3))
    psf /= psf.sum()
    y = np.stack([rng.random(shape), 0.2 * rng.random(shape) + 0.4, np.outer(np.arange(8), np.ones(9)) / 8],
                 axis=-1).astype(np.float32)
    lam = 0.02
    restored = deconvkit.deconvolve(y, psf, method="tikhonov", lam=lam, tol=1e-7, iterations=300,
                                    channel_axis=-1)
    assert restored.dtype == np.float32
    domain, offset = plan_domain(shape, psf.shape, "unknown")
    n = int(np.prod(domain))
    window = (slice(offset[0], offset[0] + shape[0]), slice(offset[1], offset[1] + shape[1]))
    import scipy.signal

    basis = np.eye(n).reshape((n,) + domain)
    # valid convolution of the domain image, then the observed window: the camera model on the domain
    A = []
    for b in basis:
        wrapped = np.pad(b, 1, mode="wrap")  # circular convolution by the periodic extension
        A.append(scipy.signal.convolve(wrapped, psf, mode="valid")[window].ravel())
    A = np.array(A).T
    D = np.array([(np.roll(b, -1, axis) - b).ravel() for axis in range(2) for b in basis])
    for c in range(3):
        x = np.linalg.solve(A.T @ A + lam * D.T @ D, A.T @ y[..., c].astype(np.float64).ravel())
        np.testing.assert_allclose(restored[..., c], x.reshape(domain)[window], atol=2e-5)
