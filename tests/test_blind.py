"""Blind PSF estimation: parametric fits recover known synthetic blurs, the general estimator recovers a
camera-shake-like kernel, and the public API behaves (errors, determinism, colour, progress, CLI).

References are the true PSFs the images were blurred with (never earlier outputs of the estimator).
"""


import numpy as np
import pytest

import deconvkit
from deconvkit import DeconvkitError
from deconvkit.blind import deblur, estimate_psf, psf_similarity
from deconvkit.psf import defocus, gaussian, motion


def _images():
    from skimage import color, data

    return {
        "camera": data.camera() / 255.0,
        "astronaut": color.rgb2gray(data.astronaut()),
        "coins": data.coins() / 255.0,
    }


IMAGES = _images()


def _blurred(name, psf, noise, seed=0):
    # "valid": the camera sees a larger scene, so the frame's borders are blurred like its interior
    return deconvkit.blur(IMAGES[name], psf, boundary="valid", noise=noise, rng=seed)


def _angle_error(a, b):
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)


def _grid(first, second, third, default):
    """All combinations; those not in ``default`` are marked slow (the full grid runs with -m slow)."""
    cases = []
    for a in first:
        for b in second:
            for c in third:
                marks = () if (a, b, c) in default else (pytest.mark.slow,)
                cases.append(pytest.param(a, b, c, marks=marks))
    return cases


@pytest.mark.parametrize("name,noise,blur", _grid(
    sorted(IMAGES), [0.005, 0.01], [(15, 30.0), (23, 117.0)],
    default={("camera", 0.01, (15, 30.0)), ("coins", 0.005, (23, 117.0))}))
def test_motion_parameters_recovered(name, noise, blur):
    length, angle = blur
    blurred = _blurred(name, motion(length, angle), noise)
    psf, info = estimate_psf(blurred, model="motion")
    assert info["model"] == "motion"
    assert abs(info["length"] - length) <= 1.0
    assert _angle_error(info["angle"], angle) <= 2.0
    np.testing.assert_allclose(psf, motion(info["length"], info["angle"]), atol=1e-12)


@pytest.mark.parametrize("name,noise,radius", _grid(
    sorted(IMAGES), [0.005, 0.01], [3.0, 4.0, 7.5],
    default={("astronaut", 0.01, 4.0), ("coins", 0.005, 7.5)}))
def test_defocus_radius_recovered(name, noise, radius):
    blurred = _blurred(name, defocus(radius), noise)
    psf, info = estimate_psf(blurred, model="defocus")
    assert info["model"] == "defocus"
    assert abs(info["radius"] - radius) <= 0.5


@pytest.mark.parametrize("name,noise,sigma", _grid(
    sorted(IMAGES), [0.005, 0.01], [1.5, 3.0], default={("camera", 0.01, 1.5)}))
def test_gaussian_sigma_recovered(name, noise, sigma):
    blurred = _blurred(name, gaussian(sigma), noise)
    _, info = estimate_psf(blurred, model="gaussian")
    assert abs(info["sigma"] - sigma) <= 0.15 * sigma


def _shake_kernel(size=21):
    """A camera-shake-like PSF: a smooth curved trajectory, splatted bilinearly (analytic, no estimator)."""
    t = np.linspace(0.0, 1.0, 400)
    x = 7.0 * np.sin(1.6 * np.pi * t) - 3.0 * t
    y = 16.0 * (t - 0.5) + 2.0 * np.cos(3.0 * np.pi * t)
    kernel = np.zeros((size, size))
    for yy, xx in zip(y + size // 2, x + size // 2):
        y0, x0 = int(np.floor(yy)), int(np.floor(xx))
        fy, fx = yy - y0, xx - x0
        for dy, dx, w in ((0, 0, (1 - fy) * (1 - fx)), (1, 0, fy * (1 - fx)), (0, 1, (1 - fy) * fx),
                          (1, 1, fy * fx)):
            kernel[y0 + dy, x0 + dx] += w
    return kernel / kernel.sum()


@pytest.fixture(scope="module")
def shake_case():
    truth = _shake_kernel()
    sharp = IMAGES["camera"][96:416, 96:416]
    blurred = deconvkit.blur(sharp, truth, boundary="valid", noise=0.002, rng=1)
    margin = truth.shape[0] // 2
    return sharp[margin:-margin, margin:-margin], blurred, truth


def test_general_kernel_close_to_truth(shake_case):
    sharp, blurred, truth = shake_case
    psf, info = estimate_psf(blurred, model="general", size=25)
    assert info["model"] == "general"
    assert psf.min() >= 0 and psf.sum() == pytest.approx(1.0)
    assert psf_similarity(psf, truth) > 0.8
    from deconvkit.metrics import levin_score

    blind = deconvkit.deconvolve(blurred, psf, method="tikhonov")
    oracle = deconvkit.deconvolve(blurred, truth, method="tikhonov")
    blind_ssd = levin_score(blind, sharp, border=15).ssd
    oracle_ssd = levin_score(oracle, sharp, border=15).ssd
    assert np.sqrt(blind_ssd / oracle_ssd) < 2.0  # Levin et al.'s "nearly as good as the true PSF"


def test_refine_kernel_sharpens_a_smeared_estimate_given_the_scene(shake_case):
    """With the true scene as the restoration, the least-squares refinement must pull a smeared kernel
    back to the true one (the reference is the kernel that made the data)."""
    import scipy.ndimage

    from deconvkit.blind._general import refine_kernel

    sharp, blurred, truth = shake_case
    smeared = scipy.ndimage.gaussian_filter(truth, 1.5)
    smeared /= smeared.sum()
    refined = refine_kernel(blurred, smeared, sharp)
    assert refined.min() >= 0 and refined.sum() == pytest.approx(1.0)
    assert psf_similarity(smeared, truth) < 0.8
    assert psf_similarity(refined, truth) > 0.95


def test_estimate_is_centred_normalised_and_deterministic(shake_case):
    _, blurred, _ = shake_case
    first, _ = estimate_psf(blurred, model="general", size=25)
    second, _ = estimate_psf(blurred.copy(), model="general", size=25)
    np.testing.assert_array_equal(first, second)
    k = first.shape[0]
    assert first.shape[0] == first.shape[1] and k % 2 == 1
    rows, cols = np.indices(first.shape)
    assert abs((rows * first).sum() - k // 2) <= 0.5
    assert abs((cols * first).sum() - k // 2) <= 0.5


def test_progress_reports_every_level(shake_case):
    _, blurred, _ = shake_case
    calls = []
    estimate_psf(blurred, model="general", size=15, progress=lambda done, total: calls.append((done, total)))
    totals = {t for _, t in calls}
    assert len(totals) == 1 and calls[-1][0] == calls[-1][1] and len(calls) == calls[-1][1] >= 3
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


@pytest.mark.parametrize("image", [np.full((128, 128), 0.4),
                                   np.random.default_rng(0).normal(0.5, 0.01, (128, 128))],
                         ids=["flat", "pure-noise"])
def test_too_little_structure_is_a_clear_error(image):
    with pytest.raises(DeconvkitError, match="too little structure"):
        estimate_psf(image)


@pytest.mark.parametrize("name, psf, noise", [("clock", defocus(6), 0.02), ("moon", motion(25, 30), 0.01)])
def test_heavily_blurred_noisy_image_still_has_structure(name, psf, noise):
    """A wide blur spreads every edge over many pixels, so at full resolution its gradient sinks below 4x
    the noise (6 and 24 such pixels here); the check also looks at 2x/4x block means, where the edges show."""
    from skimage import data

    from deconvkit.blind import _check_structure

    blurred = deconvkit.blur(getattr(data, name)()[:256, :256] / 255.0, psf, boundary="valid", noise=noise,
                             rng=0)
    estimated = _check_structure(blurred, 25)  # does not raise
    assert 0.8 * noise < estimated < 1.25 * noise


def test_invalid_arguments():
    blurred = _blurred("camera", motion(9, 0), 0.005)
    with pytest.raises(DeconvkitError, match="model"):
        estimate_psf(blurred, model="shake")
    with pytest.raises(DeconvkitError, match="size"):
        estimate_psf(blurred, size=2)
    with pytest.raises(DeconvkitError, match="too small"):
        estimate_psf(blurred[:40, :40], size=31)


def test_colour_estimated_on_luminance_and_every_channel_restored():
    from skimage import data

    rgb = data.astronaut()[100:356, 150:406] / 255.0
    psf_true = motion(11, 60)
    blurred = deconvkit.blur(rgb, psf_true, boundary="valid", noise=0.003, rng=2, channel_axis=-1)
    result = deblur(blurred, psf_model="motion", channel_axis=-1, method="wiener")
    assert result.image.shape == blurred.shape
    assert result.params["psf"]["model"] == "motion"
    assert abs(result.params["psf"]["length"] - 11) <= 1
    # every channel restored with the same PSF (and the shared, jointly estimated NSR) as a grey
    # restoration of that channel
    nsr = result.params["deconvolve"]["nsr"]
    channel = deconvkit.deconvolve(blurred[..., 1], result.psf, method="wiener", nsr=nsr,
                                   nsr_exponent=result.params["deconvolve"]["nsr_exponent"])
    np.testing.assert_allclose(result.image[..., 1], channel, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("truth,expected", [(motion(17, 50), "motion"), (defocus(6), "defocus")],
                         ids=["motion", "defocus"])
def test_auto_chooses_the_parametric_model_that_fits(truth, expected):
    blurred = _blurred("camera", truth, 0.005)
    psf, info = estimate_psf(blurred)
    assert info["model"] == expected
    assert psf_similarity(psf, truth) > 0.95


@pytest.mark.slow
def test_auto_keeps_general_for_camera_shake(shake_case):
    _, blurred, truth = shake_case
    psf, info = estimate_psf(blurred, size=25)
    assert info["model"] == "general"
    assert psf_similarity(psf, truth) > 0.8


@pytest.mark.slow
@pytest.mark.data
def test_levin_real_capture_nearly_as_good_as_true_psf(levin_dir):
    import imageio.v3 as iio

    from deconvkit.metrics import levin_score

    sharp = iio.imread(levin_dir / "gt" / "im1.png") / 255.0
    blurred = iio.imread(levin_dir / "blurred" / "im1_kernel3.png") / 255.0
    truth = np.load(levin_dir / "psfs.npz")["psf3"]
    psf, _ = estimate_psf(blurred, model="general")
    assert psf_similarity(psf, truth) > 0.8
    blind = levin_score(deconvkit.deconvolve(blurred, psf, method="tikhonov"), sharp).ssd
    oracle = levin_score(deconvkit.deconvolve(blurred, truth, method="tikhonov"), sharp).ssd
    assert np.sqrt(blind / oracle) < 3.0


def test_residual_check_flags_wrong_psfs_but_not_the_true_one(shake_case):
    """The fallback trigger: re-blurring a restoration made with the true PSF reproduces the data within
    the noise; a PSF of the wrong shape does not. (A delta passes too: the check catches wrong blurs, not
    missing ones, which is why it only decides whether to try the fallbacks.)"""
    from deconvkit.blind import _RESIDUAL_LIMIT, _residual_ratio
    from deconvkit.noise import estimate_noise

    _, blurred, truth = shake_case
    noise = estimate_noise(blurred)
    assert _residual_ratio(blurred, truth, noise) < _RESIDUAL_LIMIT
    for wrong in (motion(15, 0), gaussian(2.0)):
        assert _residual_ratio(blurred, wrong, noise) > 3 * _RESIDUAL_LIMIT


def test_general_estimator_uses_the_configured_fft_workers(monkeypatch):
    import scipy.fft

    import deconvkit.backends as backends
    from deconvkit.blind._general import estimate_general
    from deconvkit.psf import motion

    rng = np.random.default_rng(0)
    sharp = scipy.ndimage.gaussian_filter(rng.random((72, 72)), 1.0)
    blurred = deconvkit.blur(sharp, motion(5, 20), boundary="valid")
    with backends.config(workers=1, fft="scipy"):  # compared bit for bit with the 2-thread run below
        one, _ = estimate_general(blurred, 7)
    # these 72x72 transforms are below the backend's one-thread size (SERIAL_BELOW): lift it, so that the
    # configured workers are what reaches scipy
    monkeypatch.setattr(deconvkit.backends.numpy, "SERIAL_BELOW", 0)
    seen = []
    for name in ("rfftn", "irfftn"):
        original = getattr(scipy.fft, name)

        def recording(*args, _original=original, **kwargs):
            seen.append(kwargs.get("workers"))
            return _original(*args, **kwargs)
        monkeypatch.setattr(scipy.fft, name, recording)
    with backends.config(workers=2, fft="scipy"):
        two, _ = estimate_general(blurred, 7)
    # every transform of the estimator's loops runs on the configured 2 threads; the only calls without
    # ``workers`` are boundaries.smooth_extend's (once per pyramid level, not yet on the backend)
    assert seen.count(2) > 10 * seen.count(None) and set(seen) <= {2, None}
    np.testing.assert_array_equal(one, two)  # threads split independent 1-D transforms: same bits


def test_select_region_finds_the_structured_part_of_a_large_frame():
    from deconvkit.blind._region import region_side, select_region

    rng = np.random.default_rng(0)
    frame = np.full((2000, 2600), 0.3)
    frame[1100:1900, 1500:2300] = rng.random((800, 800)) > 0.5  # the only edges
    rows, cols = select_region(frame, 27)
    side = region_side(frame.shape, 27)
    assert (rows.stop - rows.start, cols.stop - cols.start) == (side, side) == (1024, 1024)
    assert rows.start <= 1100 and rows.stop >= 1900 and cols.start <= 1500 and cols.stop >= 2300
    small = np.zeros((300, 400))
    assert select_region(small, 27) == (slice(0, 300), slice(0, 400))


def test_blind_progress_names_each_stage_when_the_callback_takes_one(camera):
    from deconvkit.blind._general import pyramid_sizes
    from deconvkit.psf import motion

    blurred = deconvkit.blur(camera[:160, :160], motion(9, 20), boundary="valid", noise=0.005, rng=0)
    calls, plain = [], []
    result = deconvkit.deblur(blurred, psf_size=13,
                              progress=lambda d, t, stage=None: calls.append((d, t, stage)))
    deconvkit.deblur(blurred, psf_size=13, progress=lambda d, t: plain.append((d, t)))
    stages = [stage for _, _, stage in calls]
    levels = len(pyramid_sizes(13)[0])
    named = [f"PSF: pyramid level {i}/{levels}" for i in range(1, levels + 1)]
    assert stages[0] == named[0] and stages[-1] == "restoring"
    first = [stages.index(name) for name in named + ["PSF: residual check"]]
    assert first == sorted(first)  # each level is named before the next, then the residual check
    assert result.params["psf"]["model"] == "general" and result.params["psf"].get("refined")
    assert stages.index("PSF: refinement") < stages.index("restoring")
    # the plain callback sees one estimation count: every level and step once, in order, ending full
    estimation = plain[:levels + 2]
    assert [d for d, _ in estimation] == list(range(1, levels + 3))
    assert {t for _, t in estimation} == {levels + 2}
    assert len(plain) > levels + 2  # and then the restoration's own count


def test_estimate_leaves_no_otfs_of_its_own_in_the_cache(camera, monkeypatch):
    """The estimate's per-iteration OTFs used to stay in the LRU cache through the restoration that
    follows (about 100 MB for a 1024x1024 window); entries the caller had are kept (the cache is made large
    enough here that the estimate's own entries evict none of them)."""
    from deconvkit.fft import otf_cache
    from deconvkit.operators import PeriodicConvolution
    from deconvkit.psf import motion

    blurred = deconvkit.blur(camera[:160, :160], motion(9, 20), boundary="valid", noise=0.005, rng=0)
    monkeypatch.setattr(otf_cache, "maxsize", 10_000)
    PeriodicConvolution(gaussian(1.0), (64, 64))  # the caller's own entry
    before = set(otf_cache._store)
    assert before
    estimate_psf(blurred, size=13)
    assert set(otf_cache._store) == before


class _Terminal:
    """A stand-in for a terminal's stderr: the CLI draws its progress bar only on a tty."""

    def __init__(self):
        self.text = []

    def isatty(self):
        return True

    def write(self, text):
        self.text.append(text)
        return len(text)

    def flush(self):
        pass


def test_cli_progress_bar_names_the_blind_stages(tmp_path, camera, monkeypatch):
    from deconvkit import io
    from deconvkit.cli import main
    from deconvkit.psf import motion

    blurred = deconvkit.blur(camera[:160, :160], motion(9, 20), boundary="valid", noise=0.005, rng=0)
    source = tmp_path / "blurred.png"
    io.write_image(source, blurred, dtype="uint8")
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["deblur", str(source), "-o", str(tmp_path / "out.png"), "--psf-size", "13"]) == 0
    drawn = "".join(terminal.text)
    positions = [drawn.find(stage) for stage in ("PSF: pyramid level 1/", "PSF: residual check",
                                                  "PSF: refinement", "restoring")]
    assert -1 not in positions and positions == sorted(positions), drawn[-2000:]


@pytest.mark.slow
def test_blind_on_a_large_frame_estimates_on_a_window_and_finds_the_kernel():
    from pathlib import Path

    from skimage import data

    levin = Path(__file__).resolve().parents[2] / "shared" / "data" / "levin09" / "psfs.npz"
    psf = np.load(levin)["psf2"] if levin.exists() else deconvkit.psf.motion(13, 30)
    tiles = [data.camera() / 255.0, data.astronaut().mean(axis=2) / 255.0, data.coins() / 255.0]
    sharp = np.block([[tiles[0], tiles[1], tiles[0][::-1]], [tiles[1][:, ::-1], tiles[0][:, ::-1], tiles[1]],
                      [tiles[0][::-1], tiles[1][::-1], tiles[0]]])[:1400, :1500]
    blurred = deconvkit.blur(sharp, psf, boundary="valid", noise=0.01, rng=1)
    estimate, info = deconvkit.estimate_psf(blurred, size=25)
    assert "region" in info  # estimated on a window, not the whole frame
    assert deconvkit.blind.psf_similarity(estimate, psf) > 0.8  # 0.84 measured (Levin kernel 2, 1% noise)


@pytest.mark.slow
def test_a_parametric_choice_on_a_large_frame_still_reports_its_window():
    from skimage import data

    sharp = np.tile(data.camera() / 255.0, (3, 3))[:1100, :1300]
    blurred = deconvkit.blur(sharp, deconvkit.psf.motion(11, 30), boundary="valid", noise=0.005, rng=3)
    for model in ("motion", "auto"):
        _, info = deconvkit.estimate_psf(blurred, size=15, model=model, refine=False)
        assert "region" in info and info["size_searched"] == 15, (model, info["model"])


# --- the estimator on the torch backend: the same kernel as NumPy, the configured workers ----------------
# The reference is the NumPy backend's estimate (scipy.fft + scipy.ndimage), an independent implementation
# of every array step (MKL/pocketfft-in-torch FFTs, torch filters): equal to float64 rounding, grown by the
# estimator's hard thresholds to ~1e-7 at most, so "float32 tolerance" (1e-4 relative) must hold.

@pytest.fixture
def one_worker():
    """One FFT thread for the torch comparisons: on a loaded machine PyTorch's spin-waiting threads make
    small transforms many times slower (PyTorch's thread count is process-wide: restored afterwards)."""
    torch = pytest.importorskip("torch")
    import deconvkit.backends as backends

    before = torch.get_num_threads()
    with backends.config(workers=1):
        yield
    torch.set_num_threads(before)


def _small_shake(camera):
    sharp = camera[200:328, 180:308]
    kernel = _shake_kernel()[::2, ::2]  # 11 x 11, curved
    return deconvkit.blur(sharp, kernel / kernel.sum(), boundary="valid", noise=0.003, rng=2)


def _assert_same_kernel(theirs, ours):
    assert theirs.shape == ours.shape
    np.testing.assert_array_equal(theirs > 0, ours > 0)  # the same support
    assert np.linalg.norm(theirs - ours) / np.linalg.norm(ours) < 1e-4


@pytest.mark.torch
def test_torch_backend_estimates_the_numpy_kernel(camera, one_worker):
    pytest.importorskip("torch")
    blurred = _small_shake(camera)
    ours, our_info = estimate_psf(blurred, model="general", size=13)
    theirs, their_info = estimate_psf(blurred, model="general", size=13, backend="torch")
    assert isinstance(theirs, np.ndarray) and theirs.dtype == np.float64
    _assert_same_kernel(theirs, ours)
    assert their_info["refined"] and their_info["kernel_sizes"] == our_info["kernel_sizes"]
    assert their_info["residual_ratio"] == pytest.approx(our_info["residual_ratio"], rel=1e-4)


@pytest.mark.torch
def test_torch_backend_uses_the_configured_workers(camera, monkeypatch):
    """Every transform of the estimate (its own loops and its non-blind restorations) runs with the
    workers of the ``config`` block: a spy on PyTorch's FFTs records the thread count at each call. The
    thread count itself is a spy too (really running 3 threads on a loaded machine only costs time)."""
    torch = pytest.importorskip("torch")
    import deconvkit.backends as backends

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    threads = {"n": 1}
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads["n"])
    monkeypatch.setattr(torch, "set_num_threads", lambda n: threads.update(n=int(n)))
    seen = []
    for name in ("rfftn", "irfftn"):
        original = getattr(torch.fft, name)

        def recording(*args, _original=original, **kwargs):
            seen.append(threads["n"])
            return _original(*args, **kwargs)
        monkeypatch.setattr(torch.fft, name, recording)
    blurred = _small_shake(camera)[:96, :96]
    try:
        with backends.config(workers=3):
            three, _ = estimate_psf(blurred, model="general", size=7, backend="torch")
        threes, seen[:] = list(seen), []
        with backends.config(workers=2):
            two, _ = estimate_psf(blurred, model="general", size=7, backend="torch")
    finally:
        monkeypatch.undo()
        torch.set_num_threads(before)
    assert len(threes) > 100 and set(threes) == {3}
    assert len(seen) > 100 and set(seen) == {2}
    np.testing.assert_array_equal(two, three)  # the thread count is not a real one here: same bits


@pytest.mark.torch
def test_deblur_on_torch_matches_numpy(camera, one_worker):
    pytest.importorskip("torch")
    blurred = _small_shake(camera)
    ours = deblur(blurred, psf_size=13)
    theirs = deblur(blurred, psf_size=13, backend="torch")
    _assert_same_kernel(theirs.psf, ours.psf)
    assert isinstance(theirs.image, np.ndarray) and theirs.image.shape == blurred.shape
    assert np.linalg.norm(theirs.image - ours.image) / np.linalg.norm(ours.image) < 1e-4
    assert theirs.params["psf"]["model"] == ours.params["psf"]["model"]


def test_unknown_or_unavailable_backend_is_refused_before_any_work(camera):
    blurred = _small_shake(camera)
    with pytest.raises(DeconvkitError, match="unknown backend"):
        estimate_psf(blurred, backend="tpu")
    try:
        import torch
    except ImportError:
        return
    if not torch.cuda.is_available():
        with pytest.raises(DeconvkitError, match="cuda"):
            estimate_psf(blurred, backend="cuda")


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize("case", ["levin-uint8-auto", "shake-general", "colour"])
def test_torch_backend_estimates_the_numpy_kernel_on_real_and_larger_cases(case, shake_case, levin_dir,
                                                                            one_worker):
    pytest.importorskip("torch")
    if case == "levin-uint8-auto":
        import imageio.v3 as iio

        image, kwargs = iio.imread(levin_dir / "blurred" / "im1_kernel2.png"), {}
    elif case == "shake-general":
        image, kwargs = shake_case[1], {"model": "general", "size": 25}
    else:
        from skimage import data

        sharp = data.astronaut()[100:356, 100:356] / 255.0
        image = deconvkit.blur(sharp, motion(9, 120), boundary="valid", noise=0.01, rng=3, channel_axis=-1)
        kwargs = {"channel_axis": -1}
    ours, our_info = estimate_psf(image, **kwargs)
    theirs, their_info = estimate_psf(image, backend="torch", **kwargs)
    assert their_info["model"] == our_info["model"]
    _assert_same_kernel(theirs, ours)
