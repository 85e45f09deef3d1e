"""deconvkit.solvers.rl_tv against Richardson-Lucy and the Dey et al. 2006 update."""

import numpy as np
import pytest
import scipy.ndimage

import deconvkit


def test_rl_tv_with_zero_weight_is_richardson_lucy(rng):
    y = deconvkit.blur(rng.random((20, 20)) + 0.1, deconvkit.psf.gaussian(1.2), boundary="periodic")
    a = deconvkit.deconvolve(y, deconvkit.psf.gaussian(1.2), method="rl_tv", lam=0.0, iterations=10)
    b = deconvkit.deconvolve(y, deconvkit.psf.gaussian(1.2), method="richardson_lucy", iterations=10)
    assert np.allclose(a, b)


def test_rl_tv_one_step_matches_dey_formula(rng):
    """One unaccelerated periodic RL-TV step against the formula of Dey et al. 2006 written out here."""
    shape = (12, 12)
    psf = np.ones((3, 3)) / 9
    y = scipy.ndimage.convolve(rng.random(shape) + 0.2, psf, mode="wrap")
    lam, eps = 0.01, 1e-3
    x0 = y.copy()  # deconvkit starts from the (here periodic = unchanged) observation
    conv = scipy.ndimage.convolve(x0, psf, mode="wrap")
    back = scipy.ndimage.correlate(y / conv, psf, mode="wrap")
    gx = np.roll(x0, -1, 1) - x0
    gy = np.roll(x0, -1, 0) - x0
    smoothing = eps * (y.max() - y.min())
    mag = np.sqrt(gx**2 + gy**2 + smoothing**2)
    div = (gx / mag - np.roll(gx / mag, 1, 1)) + (gy / mag - np.roll(gy / mag, 1, 0))
    expected = x0 * back / (1 - lam * div)
    ours = deconvkit.deconvolve(y, psf, method="rl_tv", lam=lam, eps=eps, iterations=1, accelerate=False,
                                boundary="periodic")
    assert np.allclose(ours, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("shape", [(2, 10, 12), (1, 6, 7, 8)])
def test_in_place_tv_gradient_matches_the_divergence_formula(rng, shape):
    """The buffer-reusing penalty against ``-lam div(grad x / |grad x|_eps)`` written with np.roll, per
    channel (first axis), in 2-D and 3-D."""
    from deconvkit.backends import get_backend
    from deconvkit.solvers.rl_tv import _TVGradient

    x = rng.random(shape)
    lam, smoothing = 0.03, 1e-2
    d = len(shape) - 1
    grads = [np.roll(x, -1, 1 + i) - x for i in range(d)]
    mag = np.sqrt(sum(g**2 for g in grads) + smoothing**2)
    expected = -lam * sum((g / mag) - np.roll(g / mag, 1, 1 + i) for i, g in enumerate(grads))
    ours = _TVGradient(get_backend("numpy"), d, lam, smoothing)(x)
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-14)


def test_rl_tv_runs_on_torch_as_on_numpy(rng):
    pytest.importorskip("torch")
    y = deconvkit.blur(rng.random((48, 40)) + 0.1, deconvkit.psf.gaussian(1.2), boundary="valid", noise=0.01,
                     rng=1)
    kwargs = dict(method="rl_tv", iterations=6)
    a = deconvkit.deconvolve(y, deconvkit.psf.gaussian(1.2), **kwargs)
    b = deconvkit.deconvolve(y, deconvkit.psf.gaussian(1.2), backend="torch", **kwargs)
    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("channels", [1, 3])
def test_rl_tv_working_memory_stays_within_nine_domain_arrays(rng, channels):
    """The TV gradient computed in slabs: about 8 domain-sized float32 arrays at peak (RL's own step: the
    estimate, its Biggs-Andrews memory, the sensitivity, the update and its denominator), where the
    whole-domain gradient buffer took 10 and the out-of-place gradient 14; counted by tracemalloc as
    test_backends counts plain RL, grey and colour."""
    from _helpers import traced_domain_arrays
    from deconvkit._shared import check_psf

    image = (rng.random((channels, 192, 160)) + 0.1).astype(np.float32)
    psf = check_psf(deconvkit.psf.gaussian(2.0), 2, np.float32)
    arrays, _info = traced_domain_arrays("rl_tv", image, psf, iterations=6)
    assert arrays <= 9, arrays


@pytest.mark.parametrize("shape", [(3, 37, 29), (1, 1, 9), (1, 2, 9), (2, 3, 5), (1, 7, 6, 5), (2, 1, 4, 4)])
@pytest.mark.parametrize("slab_values", [1, 40, None])
def test_tv_gradient_in_slabs_is_the_whole_domain_arithmetic_bit_for_bit(rng, shape, slab_values):
    """Slabs of one row, of a few rows and the default, against the whole-domain float32 arithmetic in
    the same order (np.roll differences, |g|_eps, divergence summed over the axes): equal bits, also for
    a first axis of length 1 or 2 where the halo rows wrap onto the slab itself."""
    from deconvkit.backends import get_backend
    from deconvkit.solvers.rl_tv import _TVGradient

    x = rng.random(shape).astype(np.float32)
    lam, smoothing = 0.03, 1e-3
    d = len(shape) - 1
    grads = [np.roll(x, -1, 1 + i) - x for i in range(d)]
    magnitude = grads[0] * grads[0]
    for g in grads[1:]:
        magnitude += g * g
    magnitude = np.sqrt(magnitude + np.float32(smoothing**2))
    grads = [g / magnitude for g in grads]
    expected = np.roll(grads[0], 1, 1) - grads[0]
    for i, g in enumerate(grads[1:], start=1):
        expected += np.roll(g, 1, 1 + i) - g
    expected *= np.float32(lam)
    kwargs = {} if slab_values is None else {"slab_values": slab_values}
    ours = _TVGradient(get_backend("numpy"), d, lam, smoothing, **kwargs)(x)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, expected)
