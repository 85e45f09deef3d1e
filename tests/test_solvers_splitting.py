"""deconvkit.solvers._splitting: half-quadratic energy, saturation mask, channel splitting, options."""

import numpy as np
import pytest

import deconvkit
from _helpers import dense_circular_convolution, dense_gradient
from deconvkit.solvers._base import Problem
from deconvkit.solvers._splitting import solve_split
from deconvkit.solvers.hyper_laplacian import hyper_laplacian_shrink
from deconvkit.solvers.tv import isotropic_shrink


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
    # float32 rounding: ducc0 (the default engine with deconvkit[fast]) rounds a channel transformed alone
    # and in a batch differently (pocketfft does not); 1.3e-6 seen on these ~1.4-valued pixels
    np.testing.assert_allclose(sequential, batched, rtol=0, atol=5e-6)


def test_split_relaxation_outside_its_range_is_refused():
    problem = Problem(np.zeros((1, 16, 16)), deconvkit.psf.gaussian(1.0), "unknown")
    with pytest.raises(deconvkit.DeconvkitError, match="relaxation"):
        solve_split(problem, lambda v, t: v, 0.01, betas=[0.1], relaxation=2.0)
