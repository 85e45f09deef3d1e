"""``auto``'s solver ranking (``solvers/_selection.py``) against the true error on cases with a known answer."""

import numpy as np
import pytest

import deconvkit
from deconvkit.solvers import Problem, _selection
from deconvkit.solvers._selection import SureCrop, _standard_error, choose
from deconvkit.synthetic import cartoon, star_field


def psnr(estimate, reference):
    return float(10 * np.log10(1.0 / np.mean((estimate - reference) ** 2)))


def case(sharp, psf, sigma, seed=3):
    blurred = deconvkit.blur(sharp, psf, boundary="valid", noise=sigma, rng=seed)
    ky, kx = psf.shape
    return blurred, sharp[ky // 2:ky // 2 + blurred.shape[0], kx // 2:kx // 2 + blurred.shape[1]]


def true_scores(blurred, psf, reference, names):
    scores = {name: psnr(deconvkit.deconvolve(blurred, psf, method=name), reference) for name in names}
    scores["tv"] = psnr(deconvkit.deconvolve(blurred, psf, solver_rule="tv"), reference)  # TV as auto tunes it
    return scores


def smooth_gaussian_field(rng, shape, level=2e-4):
    """A Gaussian field with spectrum ``level |D|^-4``: a Gaussian prior, for which the linear (Wiener /
    Tikhonov-type) estimate is the MMSE one, so a linear candidate must beat TV."""
    grids = np.meshgrid(*[2 * np.pi * np.fft.fftfreq(n) for n in shape], indexing="ij")
    grad_abs2 = sum(2 - 2 * np.cos(w) for w in grids)
    spectrum = np.where(grad_abs2 > 0, level / np.maximum(grad_abs2, 1e-30) ** 2, 0.0)
    return 0.5 + np.real(np.fft.ifftn(np.fft.fftn(rng.standard_normal(shape)) * np.sqrt(spectrum)))


def test_cartoon_picks_a_sparse_gradient_prior_and_ranks_as_the_true_error():
    # piecewise-flat shapes: the two sparse-gradient priors (TV, hyper-Laplacian) are truly best, by far;
    # the ranking puts them first, in the true order, and auto uses one of them (TV unless the
    # hyper-Laplacian when its risk clears the switch rule; measured here 37.6 vs 34.7 dB)
    psf = deconvkit.psf.motion(9, 30)
    blurred, reference = case(cartoon((128, 128), rng=2), psf, 0.01)
    _, info = deconvkit.deconvolve(blurred, psf, return_info=True)
    assert info["method"] in ("tv", "hyper_laplacian")
    assert set(dict(info["ranking"])) == set(_selection.CANDIDATES)
    order = [name for name, _ in info["ranking"]]
    scores = true_scores(blurred, psf, reference, ["hyper_laplacian", "richardson_lucy", "tikhonov", "wiener"])
    assert order[:2] == sorted(["tv", "hyper_laplacian"], key=scores.get, reverse=True)
    assert min(scores["tv"], scores["hyper_laplacian"]) > max(scores[m] for m in order[2:]) + 3


def auto_scores(blurred, psf, reference):
    """True PSNR of every candidate solved as ``auto`` would solve it (``solver_rule=<name>``)."""
    return {name: psnr(deconvkit.deconvolve(blurred, psf, solver_rule=name), reference)
            for name in _selection.CANDIDATES}


def test_star_field_auto_picks_the_truly_best_and_keeps_the_peaks():
    # point sources on a dark sky: the true PSNRs (against the sharp field) decide which candidate is
    # best; it is one of the non-negative, point-preserving ones (measured: TV with its SURE weight and
    # non-negativity; RL's discrepancy stop leaves it under-iterated), and auto's choice scores within
    # 0.1 dB of it, with the ranking reported
    sharp = star_field((128, 128), density=0.01, seeing=0.4, background=0.01, rng=5)
    psf = deconvkit.psf.gaussian(1.5)
    blurred, reference = case(sharp, psf, 0.005)
    restored, info = deconvkit.deconvolve(blurred, psf, return_info=True)
    scores = auto_scores(blurred, psf, reference)
    best = max(scores, key=scores.get)
    assert best in ("tv", "hyper_laplacian", "richardson_lucy")
    assert info["method"] in ("tv", "hyper_laplacian", "richardson_lucy")
    assert psnr(restored, reference) >= scores[best] - 0.1
    assert set(dict(info["ranking"])) == set(_selection.CANDIDATES)
    assert set(info["ranking_standard_error"]) == set(_selection.CANDIDATES)
    # the ranking puts the chosen method above the linear ones that spread a star's light, and the chosen
    # result keeps more of the brightest stars' peaks than they do
    order = [name for name, _ in info["ranking"]]
    assert order.index(info["method"]) < min(order.index("tikhonov"), order.index("wiener"))
    peaks = np.argsort(reference.ravel())[-10:]
    kept = {name: float(np.mean(x.ravel()[peaks] / reference.ravel()[peaks]))
            for name, x in (("auto", restored),
                            *((m, deconvkit.deconvolve(blurred, psf, solver_rule=m)) for m in ("tikhonov", "wiener")))}
    assert kept["auto"] > max(kept["tikhonov"], kept["wiener"])


def test_fine_texture_switches_to_the_truly_better_method(levin_dir):
    """microaneurysms (a fine-texture class-evaluation image) with Levin kernel 4 at 2% noise: TV's
    piecewise-flat prior is not the best model; auto must leave TV for a candidate that the true PSNRs
    rank above it (measured: Tikhonov +0.5 dB)."""
    import zlib

    from skimage import data

    sharp = data.microaneurysms() / 255.0
    psf = np.load(levin_dir / "psfs.npz")["psf4"]
    # the case of ``benchmarks/nonblind_sweep.py --selection evaluation`` (same noise seed)
    blurred = deconvkit.blur(sharp, psf, boundary="valid", noise=0.02,
                             rng=zlib.crc32(b"microaneurysms/levin4/1"))
    ky, kx = psf.shape
    reference = sharp[ky // 2:ky // 2 + blurred.shape[0], kx // 2:kx // 2 + blurred.shape[1]]
    restored, info = deconvkit.deconvolve(blurred, psf, return_info=True)
    scores = auto_scores(blurred, psf, reference)
    assert max(scores.values()) > scores["tv"] + 0.2  # the premise: TV is truly not the best here
    assert info["method"] != "tv"
    assert psnr(restored, reference) > scores["tv"] + 0.2
    assert psnr(restored, reference) >= max(scores.values()) - 0.15


def test_gaussian_field_picks_a_linear_solver_that_beats_tv(rng):
    # 256 px: on 128 px the gap (Tikhonov/Wiener +2.2 dB) is 2.3 standard errors, below the switch rule
    sharp = smooth_gaussian_field(np.random.default_rng(0), (256, 256))
    psf = deconvkit.psf.gaussian(1.5)
    blurred, reference = case(sharp, psf, 0.01)
    restored, info = deconvkit.deconvolve(blurred, psf, return_info=True)
    assert info["method"] in ("tikhonov", "wiener")
    tv = psnr(deconvkit.deconvolve(blurred, psf, solver_rule="tv"), reference)
    assert psnr(restored, reference) > tv + 1.0


@pytest.mark.parametrize("eps, margin", [(None, 0), (0.01, 0), (None, 6), (0.01, 6)])
def test_projected_sure_of_a_linear_solver_matches_its_true_risk(eps, margin):
    """For a fixed linear estimator SURE is unbiased; on one realisation it must land within the spread
    of the true weighted risk (computed from the noiseless data) over realisations. With a margin, the
    risk of the predictions away from the crop's border only."""
    sharp = smooth_gaussian_field(np.random.default_rng(1), (96, 96))
    psf = deconvkit.psf.gaussian(1.2)
    clean = deconvkit.blur(sharp, psf, boundary="valid")
    sigma = 0.02
    estimates, truths = [], []
    for seed in range(4):
        y = clean + np.random.default_rng(10 + seed).normal(0, sigma, clean.shape)
        problem = Problem(y[None], psf, "unknown", noise_sigma=sigma)
        crop = SureCrop(y[None], problem, {"saturation": None}, eps=eps, probes=2, margin=margin)
        if margin:
            assert crop.count == np.prod([n - 2 * margin for n in y.shape])  # the kept predictions

        def solve(p, fixed):
            x, _ = deconvkit.solvers.SOLVERS["tikhonov"].func(p, lam=3e-3, tol=1e-8, iterations=300)
            return p.backend.to_numpy(p.forward(x)), None

        risk, _ = crop.risk(solve)
        prediction, _ = solve(crop.sub, None)
        truths.append(float(np.sum(crop._weigh(prediction - clean[None]) ** 2)) / crop.count)
        estimates.append(risk)
    # the mean of four unbiased estimates against the mean true risk
    assert abs(np.mean(estimates) - np.mean(truths)) < 0.15 * np.mean(truths)


def test_scoring_other_estimates_from_the_same_solves_matches_crops_built_for_them():
    # rank_candidates' variants re-score stored predictions; each must equal the risk that a crop built
    # with that projection, margin and probe count computes from its own solves
    sharp = smooth_gaussian_field(np.random.default_rng(2), (64, 64))
    psf = deconvkit.psf.gaussian(1.0)
    y = deconvkit.blur(sharp, psf, boundary="valid", noise=0.01, rng=4)
    problem = Problem(y[None], psf, "unknown", noise_sigma=0.01)

    def solve(p, fixed):
        x, _ = deconvkit.solvers.SOLVERS["tikhonov"].func(p, lam=3e-3)
        return p.backend.to_numpy(p.forward(x)), None

    shared = SureCrop(y[None], problem, {"saturation": None}, eps=0.01, probes=3)
    solved = shared.predictions(solve)
    for eps, margin, probes in [(0.01, 0, 3), (None, 4, 2), (1e-3, 2, 1)]:
        own = SureCrop(y[None], problem, {"saturation": None}, eps=eps, probes=probes, margin=margin)
        expected, _ = own.risk(solve)
        risk, _ = shared.score(*solved, eps=eps, margin=margin, probes=probes)
        assert risk == pytest.approx(expected, rel=1e-9)
        assert shared.kept_count(margin) == own.count


def test_choose_keeps_tv_unless_the_gap_is_clear():
    margin, sigmas = _selection.SWITCH_MARGIN, _selection.SWITCH_SIGMAS
    gap = 2 * margin  # the best candidate's risk is 2 margins below TV's (of 1.0)
    ranking = [("wiener", 1.0 - gap), ("tv", 1.0), ("tikhonov", 1.2)]
    clear = gap / (2 * sigmas)  # a standard error that puts the gap at 2 x the required errors
    assert choose(ranking, {"wiener": clear, "tv": 0.0, "tikhonov": clear}) == "wiener"
    assert choose(ranking, {"wiener": 2 * gap / sigmas, "tv": 0.0, "tikhonov": clear}) == "tv"  # too few errors
    assert choose([("wiener", 1.0 - 0.5 * margin), ("tv", 1.0)], {"wiener": 1e-6, "tv": 0.0}) == "tv"  # margin
    assert choose([("tv", 1.0), ("wiener", 1.1)], {"wiener": 1e-6, "tv": 0.0}) == "tv"
    # the thresholds are parameters: with none, the best-ranked candidate always wins
    assert choose([("wiener", 0.99), ("tv", 1.0)], {"wiener": 1.0, "tv": 0.0}, margin=0, sigmas=0) == "wiener"
    # RL is ranked but does not replace TV: the best of the others is tested against the rule instead
    assert "richardson_lucy" not in _selection.SWITCHABLE
    errors = {"richardson_lucy": 1e-6, "wiener": 1e-6, "tikhonov": 1e-6, "tv": 0.0}
    ranking = [("richardson_lucy", 0.5), ("wiener", 0.95), ("tv", 1.0), ("tikhonov", 1.1)]
    assert choose(ranking, errors) == "tv"  # Wiener, the best switchable one, is within the margin
    assert choose([("richardson_lucy", 0.5), ("wiener", 0.6), ("tv", 1.0)], errors) == "wiener"
    assert choose(ranking, errors, switchable=_selection.CANDIDATES[1:]) == "richardson_lucy"


def test_standard_error_of_blocks_against_the_sample_formula(rng):
    # independent pixels: the block estimate agrees with the textbook std / sqrt(n) of the mean
    terms = rng.normal(0, 1, (1, 256, 256))
    expected = 1.0 / np.sqrt(terms.size)
    assert _standard_error(terms, terms.size) == pytest.approx(expected, rel=0.2)
    assert _standard_error(terms[:, :40, :40], 1600) == np.inf  # too few blocks to tell


def test_auto_rejects_a_bad_solver_rule():
    with pytest.raises(deconvkit.DeconvkitError, match="solver_rule"):
        deconvkit.deconvolve(np.ones((32, 32)), np.ones((3, 3)) / 9, solver_rule="best")
