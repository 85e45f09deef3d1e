"""deconvkit.solvers.auto (``method="auto"``): choices, SURE against the true risk, constraints, 3-D, colour."""

import numpy as np
import pytest

import deconvkit
from deconvkit.solvers._base import Problem


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


@pytest.mark.parametrize("name", ["tikhonov", "richardson_lucy"])
def test_auto_solver_rule_names_one_candidate(camera, name):
    """``solver_rule=<candidate>`` skips the ranking and solves that candidate as auto would: here the
    same as calling the method itself (same unknown boundary, same noise estimate)."""
    psf = deconvkit.psf.gaussian(1.5)
    y = deconvkit.blur(camera[:80, :80], psf, boundary="valid", noise=0.01, rng=0)
    x, info = deconvkit.deconvolve(y, psf, solver_rule=name, return_info=True)
    assert info["method"] == name and info["chosen_by"] == "auto" and "ranking" not in info
    assert np.allclose(x, deconvkit.deconvolve(y, psf, method=name), atol=1e-6)
