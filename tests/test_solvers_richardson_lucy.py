"""deconvkit.solvers.richardson_lucy against scikit-image and its own unaccelerated/undamped form."""

import numpy as np
import pytest
import scipy.signal

import deconvkit
from _helpers import dense_circular_convolution, gaussian_psf, smooth_scene


def test_unaccelerated_rl_matches_scikit_image_iterates(rng):
    from skimage.restoration import richardson_lucy as skimage_rl

    image = np.zeros((48, 40))
    image[12:36, 10:30] = smooth_scene(rng, (24, 20)) + 0.2  # zero border: boundary rules agree
    psf = gaussian_psf(1.2, 5)
    blurred = scipy.signal.convolve(image, psf, mode="same", method="direct")
    for iterations in (1, 5, 15):
        ours = deconvkit.deconvolve(blurred, psf, method="richardson_lucy", iterations=iterations,
                                    accelerate=False, x0=0.5, boundary="periodic")
        reference = skimage_rl(blurred, psf, num_iter=iterations, clip=False)
        np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-9 * reference.max())


def test_accelerated_rl_reaches_lower_residual_in_the_same_iterations(rng):
    sharp = smooth_scene(rng, (64, 64)) + 0.1
    psf = gaussian_psf(2.0, 11)
    blurred = deconvkit.blur(sharp, psf, boundary="periodic")
    kwargs = dict(method="richardson_lucy", iterations=20, boundary="periodic")
    plain = deconvkit.deconvolve(blurred, psf, accelerate=False, **kwargs)
    fast = deconvkit.deconvolve(blurred, psf, accelerate=True, **kwargs)

    def residual(x):
        return np.linalg.norm(deconvkit.blur(x, psf, boundary="periodic") - blurred)

    assert residual(fast) < 0.5 * residual(plain)


def test_rl_damping_reduces_noise_amplification(rng):
    sharp = smooth_scene(rng, (64, 64)) + 0.2
    psf = gaussian_psf(1.5, 9)
    blurred = deconvkit.blur(sharp, psf, boundary="valid", noise=0.02, rng=2)
    truth = sharp[4:-4, 4:-4]
    plain = deconvkit.deconvolve(blurred, psf, method="richardson_lucy", iterations=150)
    damped = deconvkit.deconvolve(blurred, psf, method="richardson_lucy", iterations=150, damping=3.0)
    assert np.linalg.norm(damped - truth) < np.linalg.norm(plain - truth)


def _rms_residual(x, blurred, psf):
    return float(np.sqrt(np.mean((deconvkit.blur(x, psf, boundary="periodic") - blurred) ** 2)))


def test_stop_rule_reports_the_cap_when_the_noise_level_is_never_reached(rng):
    """Bug: a run that hit its 200-iteration cap said it stopped by the discrepancy principle."""
    sharp = smooth_scene(rng, (40, 40)) + 0.1
    psf = gaussian_psf(1.5, 7)
    blurred = deconvkit.blur(sharp, psf, boundary="periodic", noise=0.01, rng=3)
    # a noise level far below the real one (1e-3 of it): no iterate's residual can get there
    x, info = deconvkit.deconvolve(blurred, psf, method="richardson_lucy", boundary="periodic", noise_sigma=1e-5,
                                   return_info=True)
    assert info["iterations"] == 200 and info["stop_rule"] == "max_iterations"
    assert info["residual_rms"] > 1e-5
    # the residual of the returned image, computed independently, is still far above the stated level
    assert _rms_residual(x, blurred, psf) > 100 * 1e-5


def test_stop_rule_reports_the_discrepancy_when_it_stopped_the_run(rng):
    sharp = smooth_scene(rng, (40, 40)) + 0.1
    psf = gaussian_psf(1.5, 7)
    blurred = deconvkit.blur(sharp, psf, boundary="periodic", noise=0.01, rng=3)
    x, info = deconvkit.deconvolve(blurred, psf, method="richardson_lucy", boundary="periodic", noise_sigma=0.01,
                                   return_info=True)
    assert info["stop_rule"] == "discrepancy" and info["iterations"] < 200
    assert info["residual_rms"] <= 0.01
    fixed = deconvkit.deconvolve(blurred, psf, method="richardson_lucy", iterations=5, return_info=True)[1]
    assert fixed["stop_rule"] == "fixed"
    rltv = deconvkit.deconvolve(blurred, psf, method="rl_tv", noise_sigma=1e-5, return_info=True)[1]
    assert rltv["stop_rule"] == "max_iterations"


def test_default_stop_is_the_first_iterate_at_the_noise_level_that_no_longer_improves_much(rng):
    """The rule, rebuilt from fixed-count runs: without acceleration iteration k starts from x_{k-1}, so its
    residual is ``rms(K x_{k-1} - y)``, computed here with the independent periodic blur."""
    from deconvkit.solvers.richardson_lucy import PLATEAU

    sharp = smooth_scene(rng, (48, 48)) + 0.2
    psf = gaussian_psf(1.5, 9)
    sigma = 0.01
    blurred = deconvkit.blur(sharp, psf, boundary="periodic", noise=sigma, rng=5)
    kwargs = dict(method="richardson_lucy", boundary="periodic", accelerate=False, clip=False, noise_sigma=sigma)
    _, info = deconvkit.deconvolve(blurred, psf, return_info=True, **kwargs)
    residuals = []  # mean squared residual of iteration k (k = 1, 2, ...) in units of sigma^2
    for k in range(1, info["iterations"] + 2):
        start = blurred if k == 1 else deconvkit.deconvolve(blurred, psf, iterations=k - 1, **kwargs)
        residuals.append(np.mean((deconvkit.blur(start, psf, boundary="periodic") - blurred) ** 2) / sigma**2)
    expected = next(k for k in range(2, len(residuals) + 1)
                    if residuals[k - 1] <= 1 and residuals[k - 2] - residuals[k - 1] < PLATEAU)
    assert info["stop_rule"] == "discrepancy" and info["iterations"] == expected


def test_default_stop_is_closer_to_the_truth_than_stopping_at_the_noise_level(rng, monkeypatch):
    """The plain discrepancy principle (PLATEAU = inf: stop as soon as the residual is at the noise level)
    stops early; the default runs on and lands nearer the sharp image."""
    from skimage import data

    from deconvkit.psf import motion
    from deconvkit.solvers import richardson_lucy as module

    sharp = data.camera()[96:224, 160:288] / 255.0  # a photo: edges and texture well above the noise
    psf = motion(11, 30)
    blurred = deconvkit.blur(sharp, psf, boundary="periodic", noise=0.003, rng=7)
    x, info = deconvkit.deconvolve(blurred, psf, method="richardson_lucy", boundary="periodic", return_info=True)
    monkeypatch.setattr(module, "PLATEAU", np.inf)
    early, early_info = deconvkit.deconvolve(blurred, psf, method="richardson_lucy", boundary="periodic",
                                             return_info=True)
    assert info["iterations"] > early_info["iterations"]
    assert np.linalg.norm(x - sharp) < np.linalg.norm(early - sharp)


def _problem(image, psf, boundary="unknown"):
    from deconvkit._shared import check_psf
    from deconvkit.solvers import Problem

    stack = np.ascontiguousarray(image[None])
    return Problem(stack, check_psf(psf, image.ndim, image.dtype, stack.shape[1:]), boundary)


def test_sensitivity_is_the_dense_adjoint_of_the_valid_model_applied_to_ones(rng):
    """A^T 1 from the PSF and window geometry (no FFT) against the dense matrix of M K, in 2-D and 3-D,
    for PSFs that are neither symmetric nor square (some taps exactly zero, as in recorded shakes)."""
    from deconvkit.solvers.richardson_lucy import _sensitivity

    for shape, psf_shape in (((9, 7), (5, 3)), ((5, 6, 4), (3, 3, 2))):
        psf = rng.random(psf_shape)
        psf.flat[0] = 0.0
        problem = _problem(rng.random(shape), psf)
        domain = problem.domain
        seen = np.zeros(domain)
        seen[problem.window.window[1:]] = 1.0
        kernel = dense_circular_convolution(problem.psf, domain)
        np.testing.assert_allclose(_sensitivity(problem), (kernel.T @ seen.ravel()).reshape(domain),
                                   rtol=1e-12, atol=1e-15)
        assert _sensitivity(_problem(rng.random(shape), psf, "pad")) == pytest.approx(1.0, abs=1e-12)


def test_pixels_no_observation_sees_keep_their_start_and_leave_the_result_independent_of_fft_rounding(rng):
    """Bug: where A^T 1 is ~0 the update was FFT rounding noise over ~0; it grew without bound there and,
    through the Biggs-Andrews step length (an inner product over the whole domain), the restored frame
    changed by 1e-3 of its range after 3 iterations between two FFT engines (scipy vs torch)."""
    from deconvkit.backends import config
    from deconvkit.solvers import richardson_lucy as module

    image = smooth_scene(rng, (150, 130)).astype(np.float32)
    psf = rng.random((15, 13)) ** 4  # a spread, asymmetric shake-like kernel
    blurred = np.clip(deconvkit.blur(image, psf, boundary="valid", noise=0.01, rng=1), 0, 1).astype(np.float32)
    results = []
    for engine in ("scipy", "torch"):
        with config(fft=engine):
            results.append(deconvkit.deconvolve(blurred, psf, method="richardson_lucy", iterations=6))
    assert np.abs(results[0] - results[1]).max() < 1e-4
    # the frozen pixels: exactly their start
    problem = _problem(blurred, psf)
    setup = module._RLSetup(problem, accelerate=True, damping=None, eps=None, penalty_gradient=None)
    state = setup.start("observed")
    start = np.array(state.estimate)
    for _ in range(4):
        setup.step(state, measure=False)
    frozen = np.asarray(setup.unseen)
    assert frozen.size > 0
    np.testing.assert_array_equal(np.asarray(state.estimate).reshape(-1)[frozen], start.reshape(-1)[frozen])


def test_a_fixed_count_makes_no_noise_estimate(rng, monkeypatch):
    """The noise estimate (a sort of all Haar coefficients, a quarter of a 4 MP run's set-up) is only made
    for the stopping rule or damping."""
    from deconvkit.solvers import _base

    image = smooth_scene(rng, (40, 40))
    psf = gaussian_psf(1.0, 5)
    reference = deconvkit.deconvolve(image, psf, method="richardson_lucy", iterations=3)

    def refuse(*args, **kwargs):
        raise AssertionError("noise estimated")

    monkeypatch.setattr(_base, "estimate_noise", refuse)
    x, info = deconvkit.deconvolve(image, psf, method="richardson_lucy", iterations=3, return_info=True)
    np.testing.assert_array_equal(x, reference)
    assert info["noise_sigma"] is None
    with pytest.raises(AssertionError, match="noise estimated"):
        deconvkit.deconvolve(image, psf, method="richardson_lucy", iterations=3, damping=2.0)


def test_negative_data_run_as_the_shifted_data_minus_the_shift(rng):
    """Data with negative values run as RL on the data plus a constant, minus that constant: the shifted
    data, now formed slab by slab where they are used instead of kept as an image-sized copy, must give
    the same numbers as restoring already shifted (non-negative) data directly; fixed count and the
    default stop (whose residual is summed from the slabs)."""
    from deconvkit._shared import check_psf
    from deconvkit.solvers import SOLVERS, Problem

    image = (rng.random((2, 96, 80)) - 0.2).astype(np.float32)
    shift = np.float32(-image.min())
    psf = check_psf(deconvkit.psf.gaussian(2.0), 2, np.float32)
    solve = SOLVERS["richardson_lucy"].func
    for kwargs in ({"iterations": 4}, {}):
        negative, info_negative = solve(Problem(image, psf, "periodic", noise_sigma=0.01), **kwargs)
        positive, info_positive = solve(Problem(image + shift, psf, "periodic", noise_sigma=0.01), **kwargs)
        assert info_negative["iterations"] == info_positive["iterations"]
        np.testing.assert_allclose(negative, positive - shift, rtol=0, atol=1e-6)
