"""Shared test helpers: small PSFs and scenes, and independent dense references (scipy.ndimage /
np.roll, not deconvkit's FFT layer) used by several solver test modules."""

import numpy as np
import scipy.ndimage


def gaussian_psf(sigma, size):
    r = np.arange(size) - size // 2
    g = np.exp(-0.5 * (r / sigma) ** 2)
    psf = np.outer(g, g)
    return psf / psf.sum()


def smooth_scene(rng, shape):
    """A band-limited random scene (so that restoration errors are about the method, not aliasing)."""
    from scipy.ndimage import gaussian_filter

    scene = gaussian_filter(rng.random(shape), 1.0)
    return (scene - scene.min()) / np.ptp(scene)


def dense_circular_convolution(psf, shape):
    """Matrix of circular convolution with ``psf`` (centre k//2) on ``shape``, column by column."""
    n = int(np.prod(shape))
    matrix = np.empty((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1.0
        matrix[:, j] = scipy.ndimage.convolve(e.reshape(shape), psf, mode="wrap").ravel()
    return matrix


def dense_gradient(shape):
    """Periodic forward differences along each axis, stacked: (ndim * n, n)."""
    n = int(np.prod(shape))
    blocks = []
    eye = np.eye(n).reshape((n,) + tuple(shape))
    for axis in range(len(shape)):
        blocks.append((np.roll(eye, -1, axis=axis + 1) - eye).reshape(n, n).T)
    return np.vstack(blocks)


def dense_crop(domain, shape, offset):
    n_in = int(np.prod(domain))
    index = np.arange(n_in).reshape(domain)[tuple(slice(o, o + m) for o, m in zip(offset, shape))].ravel()
    matrix = np.zeros((index.size, n_in))
    matrix[np.arange(index.size), index] = 1.0
    return matrix


def tv_objective(A, D, y, lam, x, ndim):
    g = (D @ x).reshape(ndim, -1)
    return 0.5 * np.sum((A @ x - y) ** 2) + lam * np.sum(np.sqrt(np.sum(g**2, axis=0)))


def pdhg_tv(A, D, y, lam, ndim, iterations=20000):
    """Chambolle-Pock for ``min 1/2||Ax-y||^2 + lam * sum_pixels ||(Dx)_pixel||_2`` (dense, many steps)."""
    n = A.shape[1]
    norm = np.linalg.norm(D, 2)
    tau = sigma = 0.99 / norm
    solve = np.linalg.inv(np.eye(n) + tau * A.T @ A)
    x = np.zeros(n)
    x_bar = x.copy()
    p = np.zeros(D.shape[0])
    aty = A.T @ y
    for _ in range(iterations):
        p = (p + sigma * D @ x_bar).reshape(ndim, -1)
        p = p / np.maximum(1.0, np.sqrt(np.sum(p**2, axis=0)) / lam)
        p = p.ravel()
        x_new = solve @ (x - tau * D.T @ p + tau * aty)
        x_bar = 2 * x_new - x
        x = x_new
    return x


def traced_domain_arrays(method, image, psf, **options):
    """One call of the registered solver ``method`` on ``Problem(image, psf, "unknown", noise_sigma=0.01)``:
    ``(peak, info)`` with the peak traced memory (tracemalloc) in domain-sized float32 arrays of all the
    image's channels. The OTF cache is emptied first, because the OTF is part of the working set."""
    import tracemalloc

    from deconvkit.fft import otf_cache
    from deconvkit.solvers import SOLVERS, Problem

    channels = image.shape[0]
    otf_cache._store.clear()
    domain_bytes = int(np.prod(Problem(image, psf, "unknown", noise_sigma=0.01).domain)) * 4 * channels
    tracemalloc.start()
    try:
        _x, info = SOLVERS[method].func(Problem(image, psf, "unknown", noise_sigma=0.01), **options)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / domain_bytes, info
