"""Sparse-gradient priors (TV, hyper-Laplacian, RL-TV) and ``method="auto"`` against independent references."""

import numpy as np
import pytest
import scipy.ndimage
import scipy.optimize

import deconvkit
from deconvkit.boundaries import plan_domain
from deconvkit.solvers._base import Problem
from deconvkit.solvers._splitting import solve_split
from deconvkit.solvers.hyper_laplacian import hyper_laplacian_shrink
from deconvkit.solvers.tv import isotropic_shrink

# ----------------------------------------------------------------------------------------------------------
# independent dense references (built with scipy.ndimage / np.roll, not deconvkit's FFT layer)


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


# ----------------------------------------------------------------------------------------------------------
# proximal maps


@pytest.mark.parametrize("alpha", [0.5, 2.0 / 3.0, 0.8, 0.3, 1.0])
@pytest.mark.parametrize("tau", [0.02, 0.3, 1.5])
def test_hyper_laplacian_shrink_matches_brute_force(alpha, tau):
    v = np.linspace(-3, 3, 121)
    grid = np.linspace(-3.5, 3.5, 35001)
    cost = tau * np.abs(grid[None]) ** alpha + 0.5 * (grid[None] - v[:, None]) ** 2
    brute_cost = cost.min(axis=1)
    w = hyper_laplacian_shrink(v, alpha, tau)
    ours_cost = tau * np.abs(w) ** alpha + 0.5 * (w - v) ** 2
    # never worse than the fine grid (up to its resolution), and the same minimiser away from ties
    assert np.all(ours_cost <= brute_cost + 1e-8)
    brute_w = grid[np.argmin(cost, axis=1)]
    sorted_cost = np.sort(cost, axis=1)
    # where the two best local minima are nearly tied the argmin may flip; elsewhere the points agree
    w_zero_cost = 0.5 * v**2
    untied = np.abs(ours_cost - w_zero_cost) > 1e-6
    assert np.allclose(w[untied], brute_w[untied], atol=4e-4)
    assert sorted_cost.shape[0] == v.size


def test_hyper_laplacian_shrink_float32_and_shape():
    v = np.random.default_rng(0).normal(size=(2, 2, 5, 6)).astype(np.float32)
    w = hyper_laplacian_shrink(v, 2.0 / 3.0, 0.1)
    assert w.dtype == np.float32 and w.shape == v.shape


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


# ----------------------------------------------------------------------------------------------------------
# TV deconvolution against a generic convex solver


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


# ----------------------------------------------------------------------------------------------------------
# hyper-Laplacian: monotone energy for half-quadratic splitting at a fixed penalty


def test_half_quadratic_energy_decreases(rng):
    """At fixed beta, HQS alternates exact minimisations of
    E(x, z) = 1/2||Kx - y||^2 + lam sum|z|^alpha + beta/2 ||z - Dx||^2, so min_z E(x_k, z) never increases."""
    shape = (24, 24)
    psf = deconvkit.psf.gaussian(1.5)
    y = deconvkit.blur(rng.random(shape), psf, boundary="periodic", noise=0.02, rng=1)
    problem = Problem(y[None], psf / psf.sum(), "periodic")
    lam, beta, alpha = 0.01, 0.3, 2.0 / 3.0
    A = dense_circular_convolution(psf / psf.sum(), shape)
    D = dense_gradient(shape)

    def reduced_energy(x):
        v = (D @ x[0].ravel())
        z = hyper_laplacian_shrink(v, alpha, lam / beta)
        return (0.5 * np.sum((A @ x[0].ravel() - y.ravel()) ** 2) + lam * np.sum(np.abs(z) ** alpha)
                + 0.5 * beta * np.sum((z - v) ** 2))

    _, info = solve_split(problem, lambda v, t: hyper_laplacian_shrink(v, alpha, t), lam, betas=[beta], inner=30,
                          dual_prior=False, objective=reduced_energy)
    energies = np.array(info["objective"])
    assert np.all(np.diff(energies) <= 1e-9 * abs(energies[0]))
    assert energies[-1] < energies[0]


@pytest.mark.parametrize("alpha", [0.5, 2.0 / 3.0, 0.8])
def test_hyper_laplacian_restores_valid_blur_2d(camera, alpha):
    sharp = camera[100:228, 100:228]
    psf = deconvkit.psf.motion(9, 30)
    y = deconvkit.blur(sharp, psf, boundary="valid", noise=0.01, rng=3)
    k = psf.shape[0] // 2
    reference = sharp[k:k + y.shape[0], k:k + y.shape[1]]
    x = deconvkit.deconvolve(y, psf, method="hyper_laplacian", alpha=alpha)
    error = lambda e: np.sqrt(np.mean((e - reference) ** 2))  # noqa: E731
    # the blurred image itself is a weak but honest baseline; a working prior beats it clearly
    assert error(x) < 0.7 * error(y)


# ----------------------------------------------------------------------------------------------------------
# RL-TV


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


# ----------------------------------------------------------------------------------------------------------
# auto, dtypes, 3-D, colour, saturation


@pytest.mark.parametrize("method", ["tv", "hyper_laplacian", "rl_tv", "auto"])
def test_float32_in_float32_out(rng, method):
    y = deconvkit.blur(rng.random((32, 32)), deconvkit.psf.gaussian(1.0), boundary="valid").astype(np.float32)
    x = deconvkit.deconvolve(y, deconvkit.psf.gaussian(1.0), method=method, iterations=5)\
        if method != "hyper_laplacian" else deconvkit.deconvolve(y, deconvkit.psf.gaussian(1.0), method=method)
    assert x.dtype == np.float32 and x.shape == y.shape


def test_auto_reports_its_choices(camera):
    y = deconvkit.blur(camera[:96, :96], deconvkit.psf.gaussian(1.5), boundary="valid", noise=0.02, rng=0)
    x, info = deconvkit.deconvolve(y, deconvkit.psf.gaussian(1.5), return_info=True)
    assert info["method"] == "tv" and info["chosen_by"] == "auto"
    assert info["boundary"] == "unknown"
    assert info["lam"] > 0 and info["iterations"] > 0
    # the noise it reports is the one it estimated, and it is in the right range
    assert 0.015 < info["noise_sigma"] < 0.03


@pytest.mark.parametrize("name", ["moon", "camera"])
def test_auto_sure_tracks_the_true_prediction_risk(name):
    """SURE (no sharp image) against the true prediction error ``mean (A x - A x_true)^2`` computed with
    the noiseless data, for every weight the search visited; the weight it picks is (nearly) the best."""
    from skimage import data

    from deconvkit.solvers import SOLVERS
    from deconvkit.solvers.tv import default_tv_lam

    sharp = getattr(data, name)()[100:230, 100:230] / 255.0
    psf = deconvkit.psf.motion(9, 30)
    clean = deconvkit.blur(sharp, psf, boundary="valid")
    sigma = 0.02
    y = clean + np.random.default_rng(1).normal(0, sigma, clean.shape)
    _, info = deconvkit.deconvolve(y, psf, noise_sigma=sigma, return_info=True)
    assert len(info["sure_risk"]) >= 3 and info["sure_crop"] == list(y.shape)
    problem = Problem(y[None], psf, "unknown", noise_sigma=sigma)
    true_risk = {}
    for factor, estimate in info["sure_risk"].items():
        x, _ = SOLVERS["tv"].func(problem, lam=default_tv_lam(sigma) * float(factor), nonneg=True)
        true_risk[factor] = float(np.mean((problem.forward(x)[0] - clean) ** 2))
        assert abs(estimate - true_risk[factor]) < 0.25 * true_risk[factor]
    chosen = min(info["sure_risk"], key=info["sure_risk"].get)
    assert abs(float(chosen) - info["lam_sure_factor"]) < 1e-2
    assert true_risk[chosen] <= 1.05 * min(true_risk.values())


def test_auto_sure_raises_the_weight_for_fine_texture(camera):
    """The calibrated rule under-regularises smooth, finely textured images (moon) and suits cartoon-like
    ones (the cameraman); SURE moves the weight up for the first and not for the second."""
    from skimage import data

    psf = deconvkit.psf.motion(9, 30)
    factors = {}
    for name, sharp in (("moon", data.moon()[100:230, 100:230] / 255.0), ("camera", camera[100:230, 180:310])):
        y = deconvkit.blur(sharp, psf, boundary="valid", noise=0.01, rng=3)
        _, info = deconvkit.deconvolve(y, psf, return_info=True)
        factors[name] = info["lam_sure_factor"]
        _, calibrated = deconvkit.deconvolve(y, psf, weight_rule="calibrated", return_info=True)
        assert "lam_sure_factor" not in calibrated
        assert info["lam"] == pytest.approx(calibrated["lam"] * info["lam_sure_factor"])
    assert factors["moon"] > 1.0 and factors["camera"] < factors["moon"]


def test_auto_reports_progress_through_the_sure_search_and_the_final_solve(camera):
    calls = []
    y = deconvkit.blur(camera[:64, :64], deconvkit.psf.gaussian(1.0), boundary="valid", noise=0.01, rng=0)
    _, info = deconvkit.deconvolve(y, deconvkit.psf.gaussian(1.0), progress=lambda d, t: calls.append((d, t)),
                                   return_info=True)
    from deconvkit.solvers import _selection
    from deconvkit.solvers.auto import _SURE_ITERATIONS
    from deconvkit.solvers.tv import TV_ITERATIONS

    # every SURE solve of the weight search, to its end, and the TV candidate's solves in the ranking
    sure_solves = 2 * len(info["sure_risk"]) + 1 + _selection.PROBES
    assert info["method"] == "tv"
    assert sum(1 for d, t in calls if d == t == _SURE_ITERATIONS) == sure_solves
    assert calls[-1] == (info["iterations"], info["iterations"]) == (TV_ITERATIONS, TV_ITERATIONS)  # final


def test_auto_sure_walks_to_the_end_of_its_range(monkeypatch):
    """When the starting weight is far too small, the walk must go all the way to 4x (a rounding slip once
    ended it at 2.83x: sqrt(2)^5 is a hair above 4)."""
    import deconvkit.solvers.auto as auto_module

    real_rule = auto_module.default_tv_lam
    from skimage import data

    # moon wants about twice the rule (see above): starting from a tenth of it, the best is beyond 4x
    monkeypatch.setattr(auto_module, "default_tv_lam", lambda sigma: 0.1 * real_rule(sigma))
    psf = deconvkit.psf.motion(9, 30)
    y = deconvkit.blur(data.moon()[100:230, 100:230] / 255.0, psf, boundary="valid", noise=0.01, rng=3)
    _, info = deconvkit.deconvolve(y, psf, return_info=True)
    assert info["lam_sure_factor"] == pytest.approx(4.0)
    assert list(info["sure_risk"]) == ["1", "1.41", "2", "2.83", "4"]


def test_auto_rejects_bad_weight_options(camera):
    y = camera[:32, :32]
    with pytest.raises(deconvkit.DeconvkitError, match="weight_rule"):
        deconvkit.deconvolve(y, np.ones((3, 3)) / 9, weight_rule="gcv")
    with pytest.raises(deconvkit.DeconvkitError, match="lam_scale"):
        deconvkit.deconvolve(y, np.ones((3, 3)) / 9, lam_scale=0)


def test_auto_constrains_intensities_but_not_signed_data(camera):
    psf = deconvkit.psf.motion(9, 20)
    intensities = deconvkit.blur(camera[:96, :96], psf, boundary="valid", noise=0.01, rng=0)
    # TV's constraint (on this smooth sky crop the solver ranking picks Wiener, which has none)
    x, info = deconvkit.deconvolve(intensities, psf, solver_rule="tv", return_info=True)
    assert info["nonneg"] is True
    assert x.min() >= -1e-6  # the projection is exact in the last ADMM step's x-iterate
    # the same data shifted well below zero (e.g. background-subtracted): no constraint
    signed = intensities - 1.0  # values -0.26 ... -0.14
    x_signed, info = deconvkit.deconvolve(signed, psf, solver_rule="tv", return_info=True)
    assert info["nonneg"] is False
    assert x_signed.min() < -0.1


def test_auto_3d_same_code_path(rng):
    volume = np.zeros((20, 28, 28))
    volume[7:13, 8:20, 10:16] = 1.0
    psf = deconvkit.psf.gaussian((1.0, 1.2, 1.2), size=(5, 7, 7), ndim=3)
    y = deconvkit.blur(volume, psf, boundary="valid", noise=0.01, rng=2)
    x, info = deconvkit.deconvolve(y, psf, return_info=True)
    k = [s // 2 for s in psf.shape]
    reference = volume[k[0]:k[0] + y.shape[0], k[1]:k[1] + y.shape[1], k[2]:k[2] + y.shape[2]]
    assert x.shape == y.shape and info["method"] == "tv"
    assert np.sqrt(np.mean((x - reference) ** 2)) < 0.7 * np.sqrt(np.mean((y - reference) ** 2))


def test_colour_channels_share_parameters(camera):
    grey = camera[:64, :64]
    rgb = np.stack([grey, 0.8 * grey, 0.6 * grey + 0.1], axis=-1)
    psf = deconvkit.psf.gaussian(1.2)
    y = deconvkit.blur(rgb, psf, boundary="valid", noise=0.01, rng=0, channel_axis=-1)
    x, info = deconvkit.deconvolve(y, psf, channel_axis=-1, return_info=True)
    assert x.shape == y.shape and np.isscalar(info["lam"])
    # each channel restored with the shared weight (and constraint) equals restoring it alone with them
    single = deconvkit.deconvolve(y[..., 1], psf, method="tv", lam=info["lam"], nonneg=info["nonneg"])
    assert np.allclose(x[..., 1], single, atol=1e-6)


def test_saturation_mask_reduces_ringing(camera):
    """A clipped highlight rings without the mask; with it the pixels around the light are restored."""
    sharp = 0.6 * camera[:96, :96].copy()
    sharp[40:46, 40:46] = 6.0  # a light far brighter than the sensor's range
    psf = deconvkit.psf.motion(9, 0)
    y = np.clip(deconvkit.blur(sharp, psf, boundary="valid", noise=0.005, rng=0), 0, 1)
    k = psf.shape[0] // 2
    reference = sharp[k:k + y.shape[0], k:k + y.shape[1]]
    near = np.zeros(y.shape, bool)
    near[20:60, 15:70] = True
    near[30:50, 30:55] = False  # judge the surroundings, not the unrecoverable light itself
    errors = {}
    for saturation in (None, "auto"):
        x = deconvkit.deconvolve(y, psf, method="tv", lam=2e-4, saturation=saturation)
        errors[saturation] = np.sqrt(np.mean((x - reference)[near] ** 2))
    assert errors["auto"] < 0.7 * errors[None]


def test_saturation_auto_ignores_unclipped_eight_bit_ties(camera):
    """Ties at the maximum of an 8-bit image that does not reach full scale are not a clipped highlight."""
    from deconvkit.solvers._splitting import saturation_weight

    y = np.round(0.7 * camera[:64, :64] * 255) / 255
    y[30:32, 30:32] = y.max()  # four pixels tie for a maximum well below full scale: nothing is clipped
    assert saturation_weight(Problem(y[None], np.ones((3, 3)) / 9, "unknown"), "auto") is None
    clipped = np.minimum(y * 2.5, 1.0)
    weight = saturation_weight(Problem(clipped[None], np.ones((3, 3)) / 9, "unknown"), "auto")
    assert weight is not None and weight[0][clipped >= 0.98].max() == 0


def test_split_solves_colour_channels_one_at_a_time_with_the_batched_result(monkeypatch):
    """Large colour problems are solved channel by channel (memory); the result must be the batched one."""
    from deconvkit.solvers import _splitting

    rng = np.random.default_rng(3)
    psf = deconvkit.psf.gaussian(1.2)
    y = rng.random((3, 40, 48)).astype(np.float32)
    problem = Problem(y, psf, "unknown")
    prox = lambda v, t: isotropic_shrink(problem.backend, v, t)  # noqa: E731
    options = dict(betas=[0.02, 0.05], inner=4, nonneg=True, mu=0.1, relaxation=1.7)
    batched, _ = solve_split(problem, prox, 0.005, **options)
    monkeypatch.setattr(_splitting, "_SEQUENTIAL_CHANNELS_FROM", 1)
    calls = []
    problem.progress = lambda done, total: calls.append((done, total))
    sequential, _ = solve_split(problem, prox, 0.005, **options)
    assert calls[-1] == (3 * 8, 3 * 8)  # progress counts every channel's iterations
    np.testing.assert_allclose(sequential, batched, rtol=0, atol=1e-6)


def test_split_relaxation_outside_its_range_is_refused():
    problem = Problem(np.zeros((1, 16, 16)), deconvkit.psf.gaussian(1.0), "unknown")
    with pytest.raises(deconvkit.DeconvkitError, match="relaxation"):
        solve_split(problem, lambda v, t: v, 0.01, betas=[0.1], relaxation=2.0)
