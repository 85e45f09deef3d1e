"""Blind deconvolution: estimate the PSF from the blurred image alone, then restore.

:func:`estimate_psf` returns a PSF (centre at ``k // 2``, convolution orientation, sum 1) and a dict
saying what was estimated; :func:`deblur` estimates and restores in one call. Models:

``"motion"``, ``"defocus"``, ``"gaussian"``
    Parametric blurs fitted to the blurred image's spectrum (:mod:`._parametric`): fast, and exact when
    the blur really is of that kind. The PSF is built by :mod:`deconvkit.psf`.
``"general"``
    Any blur, e.g. camera shake: coarse-to-fine alternating estimation with an L0 gradient prior
    (:mod:`._general`). When a restoration with the estimate does not re-blur to the data within the
    noise, the estimator is rerun with a dark-channel prior and the best-fitting kernel is kept; the
    kept kernel gets one least-squares refinement against a full restoration (``refine=True``).
``"auto"`` (default)
    Runs the general estimator and the parametric fits, and keeps a parametric PSF only when it agrees
    with the general estimate (aligned normalised cross-correlation) and fits the spectrum well: then the exact model
    is better than the noisier free-form kernel. ``info["model"]`` says which was chosen and
    ``info["evidence"]`` why.

See ``docs/blind.md`` for the method and ``docs/benchmarks.md`` for results on real camera shake.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from .._shared import DeconvkitError, as_float_array, as_float_image, move_channels_first, staged_progress
from ..backends import get_backend
from ..fft import otf_cache
from ..noise import estimate_noise
from ._general import centre_psf, estimate_general, pyramid_sizes, refine_kernel
from ._parametric import Spectrum, estimate_defocus, estimate_gaussian, estimate_motion
from ._region import select_region

__all__ = ["estimate_psf", "deblur", "BlindResult", "MODELS", "default_psf_size", "psf_similarity"]

MODELS = ("auto", "general", "motion", "defocus", "gaussian")

# Rec. 709 luma weights: blur is estimated on luminance, where edges of all channels show.
_LUMA = np.array([0.2126, 0.7152, 0.0722])


@dataclasses.dataclass
class BlindResult:
    """Result of :func:`deblur`: the restored ``image``, the estimated ``psf``, and ``params`` (what was
    estimated and which non-blind method restored it)."""

    image: np.ndarray
    psf: np.ndarray
    params: dict


def default_psf_size(shape) -> int:
    """Kernel support searched when ``size`` is not given: about 12% of the shorter side, odd, 9..65.

    Real camera shake rarely exceeds a tenth of the frame; the estimate is cropped to its support
    afterwards. The estimate does depend on the searched size (on the Levin captures a fixed 25 or 35
    moves single images by several dB either way, docs/benchmarks.md), so pass ``size`` when it is known.
    """
    size = int(round(0.12 * min(shape)))
    size = min(max(size, 9), 65)
    return size + (size % 2 == 0)


def psf_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two PSFs at their best relative shift (1 = same up to a shift)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    denominator = np.linalg.norm(a) * np.linalg.norm(b)
    if denominator == 0:
        return 0.0
    import scipy.signal  # here, not at module level: it costs CLI start-up for every subcommand

    return float(scipy.signal.correlate(a, b, mode="full", method="direct").max() / denominator)


def _luminance(image, channel_axis):
    image = as_float_array(image, "image", ndim=(2,) if channel_axis is None else (3,))
    stack = move_channels_first(image, channel_axis).astype(np.float64)
    if stack.shape[0] == 1:
        grey = stack[0]
    elif stack.shape[0] in (3, 4):  # RGB or RGBA: alpha carries no blur information
        grey = np.tensordot(_LUMA, stack[:3], axes=1)
    else:
        grey = stack.mean(axis=0)
    return image, grey


def _block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    rows, cols = (n // factor * factor for n in image.shape)
    return image[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor).mean(axis=(1, 3))


def _check_structure(grey: np.ndarray, size: int) -> float:
    """Raise if the image cannot constrain a PSF; return its noise estimate.

    An edge is a gradient clearly above the noise. A large blur spreads each edge over many pixels, so at
    full resolution its per-pixel gradient can sink below a moderate noise level although the edge is
    plain to see; the test therefore also looks at 2x and 4x block means, where white noise drops by the
    factor and an edge's gradient per (coarse) pixel grows by it. Pure noise passes at no scale.
    """
    if min(grey.shape) < max(2 * size + 1, 16):
        raise DeconvkitError(
            f"image shape {grey.shape} is too small to estimate a {size}x{size} PSF; it needs at least "
            f"{max(2 * size + 1, 16)} pixels per side (pass a smaller size)")
    span = float(grey.max() - grey.min())
    noise = estimate_noise(grey)
    flat = span <= 1e-12 * max(1.0, float(np.abs(grey).max()))
    counts = []
    for factor in (1, 2, 4):
        if flat or min(grey.shape) // factor < 16:
            break
        coarse = _block_mean(grey, factor) if factor > 1 else grey
        gy, gx = np.gradient(coarse)
        magnitude = np.hypot(gy, gx)
        # an edge is a gradient clearly above both the noise and the rounding of the data
        edges = int((magnitude > max(4.0 * noise / factor, 1e-3 * span, 1e-12)).sum())
        counts.append(edges)
        if edges >= max(50 / factor ** 2, 0.002 * coarse.size):
            return noise
    raise DeconvkitError(
        "image has too little structure to estimate a PSF (it is flat or pure noise: "
        f"{max(counts, default=0)} edge pixels above the noise level {noise:.3g}); pass a known psf to "
        "deconvkit.deconvolve instead")


def _crop_to_support(psf: np.ndarray, margin: int = 1) -> np.ndarray:
    """Smallest odd square, centred at ``k // 2``, that holds every non-zero value (plus ``margin``)."""
    rows, cols = np.nonzero(psf > 0)
    if rows.size == 0:
        return psf
    c = psf.shape[0] // 2
    reach = int(max(np.abs(rows - c).max(), np.abs(cols - c).max())) + margin
    reach = min(reach, c)
    return psf[c - reach:c + reach + 1, c - reach:c + reach + 1]


# Alternative general-estimator settings tried when the first estimate fails the residual check:
# the dark-channel prior (Pan et al. 2016) at two weights. It changes which edges drive the kernel and
# rescues estimates caught in a blurry local minimum, but on average it is worse, so it is not the default.
_FALLBACKS = ({"dark": 4e-3}, {"dark": 1e-3})
# A restoration with a right PSF re-blurs to the data within the noise; on the 32 Levin captures the
# residual power is <= 0.65 sigma^2 for every good estimate and >= 0.76 sigma^2 for the three failures.
_RESIDUAL_LIMIT = 0.7
# The final non-blind pass multiplies the calibrated TV weight by this factor: an estimated PSF's error
# acts on the restoration as extra, image-shaped noise that the sensor-noise estimate does not see. 2.5
# lies in the flat optimum of the mean PSNR on synthetic camera shake of images disjoint from the Levin
# captures (``python benchmarks/blind_calibrate.py``; the measured table is in docs/blind.md). SURE cannot
# choose it: it scores the fit assuming the PSF is exact, so with an estimated PSF it prefers the smallest.
BLIND_LAM_SCALE = 2.5


def _residual_ratio(grey: np.ndarray, psf: np.ndarray, noise: float, backend=None) -> float:
    """Mean squared re-blur residual of a non-blind restoration with ``psf``, in units of the noise
    variance (away from the frame's border). Never looks at anything but the blurred image."""
    from ..forward import blur
    from ..solvers import deconvolve

    # the calibrated weight alone: the limit below was measured with it, and SURE would cost 8 solves
    restored = deconvolve(grey, psf, method="auto", weight_rule="calibrated", backend=backend)
    residual = blur(restored, psf, boundary="zero") - grey  # the border is cropped below
    h = psf.shape[0]
    inner = residual[h:-h, h:-h] if min(grey.shape) > 4 * h else residual
    return float(np.mean(inner ** 2)) / max(noise ** 2, 1e-12)


def _choose_model(spectrum, general):
    """Pick a parametric model that the general estimate and the spectrum both support, or None.

    Evidence per model: ``agreement`` (aligned normalised cross-correlation with the general kernel)
    and a spectral test: for motion the anisotropic spectral fit, for defocus the ring zeros (the
    defocus fit's residual must be at least 3x smaller than the best Gaussian's; a disk's zeros are
    what no smooth blur can explain). Thresholds were set on synthetic blurs of scikit-image samples
    and on the 32 Levin captures, which are real camera shake and must stay "general".
    """
    evidence = {}
    fits = {}
    for name, fit in (("motion", estimate_motion), ("defocus", estimate_defocus),
                      ("gaussian", estimate_gaussian)):
        candidate, params, score = fit(spectrum)
        fits[name] = (candidate, params)
        evidence[name] = {"agreement": psf_similarity(general, candidate), "spectral_fit": score, **params}
    gauss_rss = spectrum.radial_fit(fits["gaussian"][0], terms=3)[0]
    defocus_rss = spectrum.radial_fit(fits["defocus"][0], terms=3)[0]
    evidence["defocus"]["ring_zero_evidence"] = gauss_rss / max(defocus_rss, 1e-300)
    accepted = {
        "motion": evidence["motion"]["agreement"] >= 0.8 and evidence["motion"]["spectral_fit"] >= 0.2,
        "defocus": (evidence["defocus"]["agreement"] >= 0.75
                    and evidence["defocus"]["ring_zero_evidence"] >= 3.0),
        "gaussian": evidence["gaussian"]["agreement"] >= 0.9,
    }
    candidates = [name for name in accepted if accepted[name]]
    if not candidates:
        return None, evidence
    best = max(candidates, key=lambda name: evidence[name]["agreement"])
    return (best, *fits[best]), evidence


def _refine(grey: np.ndarray, psf: np.ndarray, backend=None) -> np.ndarray:
    """The general estimate after one least-squares update against its own final restoration
    (:func:`._general.refine_kernel`; the restoration is the one :func:`deblur` would return)."""
    from ..solvers import deconvolve

    restored = deconvolve(grey, psf, method="auto", weight_rule="calibrated", lam_scale=BLIND_LAM_SCALE,
                          backend=backend)
    return _crop_to_support(refine_kernel(grey, psf, restored, backend=backend))


_PARAMETRIC = {"motion": estimate_motion, "defocus": estimate_defocus, "gaussian": estimate_gaussian}


def estimate_psf(image, model="auto", size=None, channel_axis=None, progress=None, refine=True, backend=None):
    """Estimate the blur PSF of an image, with no knowledge of the sharp image.

    Parameters
    ----------
    image : ndarray
        Blurred 2-D image, or colour with ``channel_axis``; float in about [0, 1]. Integer arrays are
        scaled to [0, 1] by their intensity scale (the integer input rule of :mod:`deconvkit._shared`,
        the same for :func:`deconvkit.deconvolve`, so :func:`deblur` estimates and restores in one scale).
    model : {"auto", "general", "motion", "defocus", "gaussian"}
        PSF model; ``"auto"`` picks one by evidence (see the module docstring).
    size : int, optional
        Largest PSF extent in pixels (odd). Default: :func:`default_psf_size`, and the returned general
        PSF is cropped to its support.
    channel_axis : int, optional
        Colour axis; the PSF is estimated on the luminance.
    progress : callable, optional
        ``progress(done, total)`` after each pyramid level / fitting stage.
    refine : bool
        General model: finish with one kernel update against a full restoration (default True; on
        the Levin captures +0.3 dB, on synthetic shake of other images +0.15 dB, docs/benchmarks.md).
    backend : str, optional
        Array backend of the general estimator and its non-blind restorations: ``"numpy"`` (default),
        ``"torch"`` (PyTorch on the CPU) or ``"cuda"``; the same kernel to rounding (see
        :mod:`._general` for what stays on the host). The parametric fits run on the host.

    Returns
    -------
    psf : ndarray (k, k), float64
        Non-negative, sums to 1, centred at ``k // 2`` (centroid within half a pixel).
    info : dict
        ``model`` (the one used), its parameters (``length``/``angle``, ``radius``, ``sigma``),
        ``size``, ``time_s``, and for ``"auto"`` the ``evidence`` (agreement of each parametric fit with
        the general estimate).

    Raises
    ------
    DeconvkitError
        Unknown model or backend, bad size, or an image with too little structure (flat or pure noise).

    Examples
    --------
    >>> import numpy as np, deconvkit
    >>> from deconvkit.psf import motion
    >>> from skimage import data
    >>> blurred = deconvkit.blur(data.camera() / 255.0, motion(15, 30), boundary="valid")
    >>> psf, info = deconvkit.estimate_psf(blurred, model="motion")
    >>> round(info["length"]), round(info["angle"])
    (15, 30)
    """
    # Every kernel update builds a convolution with a new kernel, and the OTF cache keeps the last 16: after
    # an estimate it held 16 complex128 spectra of the last pyramid levels' domains (about 100 MB for a
    # 1024x1024 window and a 65-pixel kernel, 3 bytes per value of a 12 MP colour photo) that nothing uses
    # again, alive through the whole-image restoration that follows in deblur: dropped when it ends.
    with otf_cache.transient():
        setup = _EstimateSetup.build(image, model, size, channel_axis, progress, refine, backend)
        if setup.model in _PARAMETRIC:
            psf, info = _fit_parametric(setup)
        else:
            psf, info = _fit_general(setup)
        return _finish(setup, psf, info)


@dataclasses.dataclass
class _EstimateSetup:
    """What every stage of one estimate shares: the validated grey image (cropped to its estimation
    window), the searched ``size``, the ``noise`` estimate, the array ``backend``, the caller's
    ``progress`` with the first stage's ``report``, and the ``info`` started so far."""

    grey: np.ndarray
    size: int
    noise: float
    model: str
    refine: bool
    backend: object
    progress: object
    report: object
    info: dict
    started: float

    @classmethod
    def build(cls, image, model, size, channel_axis, progress, refine, backend):
        """Validate the arguments (before any work) and choose the estimation window."""
        started = time.perf_counter()
        if model not in MODELS:
            raise DeconvkitError(f"model must be one of {MODELS}, got {model!r}")
        backend = get_backend(backend)  # an unknown or unavailable backend is refused here
        _, grey = _luminance(as_float_image(image), channel_axis)  # the integer input rule of _shared
        size = _searched_size(size, grey.shape)
        noise = _check_structure(grey, size)
        report = staged_progress(progress, "PSF: spectral fit" if model in _PARAMETRIC else "PSF: pyramid levels")
        info: dict = {"size_searched": size}
        # one kernel for the whole frame: a large frame is estimated on its best-conditioned window
        rows, cols = select_region(grey, size)
        if (rows.stop - rows.start, cols.stop - cols.start) != grey.shape:
            grey = np.ascontiguousarray(grey[rows, cols])
            info["region"] = [rows.start, rows.stop, cols.start, cols.stop]
        return cls(grey, size, noise, model, bool(refine), backend, progress, report, info, started)


def _searched_size(size, shape) -> int:
    if size is None:
        return default_psf_size(shape)
    if isinstance(size, bool) or not float(size).is_integer() or int(size) < 3:
        raise DeconvkitError(f"size must be an integer >= 3 (pixels), got {size!r}")
    return int(size) + (int(size) % 2 == 0)


def _fit_parametric(setup):
    """The spectral fit of the one parametric model asked for."""
    psf, params, score = _PARAMETRIC[setup.model](Spectrum(setup.grey, setup.size))
    setup.report(1, 1)
    return psf, {**setup.info, "model": setup.model, **params, "spectral_fit": score}


def _checked_general(setup, options, progress=None):
    """One general estimate (``options`` for :func:`._general.estimate_general`), cropped to its support,
    with its residual ratio."""
    kernel, info = estimate_general(setup.grey, setup.size, progress=progress, backend=setup.backend, **options)
    kernel = _crop_to_support(kernel)
    return kernel, info, _residual_ratio(setup.grey, kernel, setup.noise, setup.backend)


def _fit_general(setup):
    """General estimate (with the fallbacks when it fails the residual check), then for ``"auto"`` the
    parametric model the evidence supports, else the refined general kernel."""
    # progress: pyramid levels + one step for the residual check (and fallbacks) + (auto) one for the fits.
    # A callback that takes ``stage`` is told each stage as it starts (the bar names what is running); a
    # plain callback sees one count, after each level and step, as before.
    extra = 2 if setup.model == "auto" else 1
    levels = len(pyramid_sizes(setup.size)[0])
    total = levels + extra
    after_check = "PSF: parametric fits" if setup.model == "auto" else (
        "PSF: refinement" if setup.refine else "PSF: residual check")

    def announce(stage, done):
        staged_progress(setup.progress, stage, announce_only=True)(done, total)

    def level_progress(done, count):
        following = f"PSF: pyramid level {done + 1}/{count}" if done < count else "PSF: residual check"
        staged_progress(setup.progress, following)(done, count + extra)

    announce(f"PSF: pyramid level 1/{levels}", 0)
    general, general_info, ratio = _checked_general(setup, {}, level_progress)
    general_info["residual_ratio"] = ratio
    if ratio > _RESIDUAL_LIMIT:
        # the first estimate does not explain the data: try the fallbacks, keep the best-fitting one
        for number, options in enumerate(_FALLBACKS, 1):
            label = f"PSF: fallback {number}/{len(_FALLBACKS)}"
            announce(label, levels)
            candidate, candidate_info, candidate_ratio = _checked_general(
                setup, options, lambda done, count, label=label: announce(
                    f"{label}, pyramid level {min(done + 1, count)}/{count}", levels))
            if candidate_ratio < ratio:
                general, ratio = candidate, candidate_ratio
                general_info = {**candidate_info, "residual_ratio": ratio, "fallback": options}
    staged_progress(setup.progress, after_check)(levels + 1, total)
    info = setup.info
    if setup.model == "auto":
        # the evidence thresholds were set on the unrefined general estimate: compare with that one
        chosen, evidence = _choose_model(Spectrum(setup.grey, setup.size), general)
        staged_progress(setup.progress, "PSF: refinement" if chosen is None and setup.refine
                        else "PSF: parametric fits")(total, total)
        if chosen is not None:
            name, psf, params = chosen
            return psf, {**info, "model": name, **params, "evidence": evidence, "general": general_info}
        info = {**info, "evidence": evidence}
    if setup.refine:  # only a free-form kernel needs it; a parametric PSF is exact when it fits
        announce("PSF: refinement", total)
        general = _refine(setup.grey, general, setup.backend)
        general_info["refined"] = True
    return general, {**info, "model": "general", **general_info}


def _finish(setup, psf, info):
    """Centre and normalise the kept PSF; complete ``info``."""
    psf = centre_psf(np.asarray(psf, dtype=np.float64))
    psf = psf / psf.sum()
    info["size"] = int(psf.shape[0])
    info["time_s"] = time.perf_counter() - setup.started
    return psf, info


def deblur(image, *, psf_model="auto", psf_size=None, channel_axis=None, progress=None, **params):
    """Blind deconvolution: estimate the PSF (:func:`estimate_psf`), then restore every channel with it.

    Parameters
    ----------
    image : ndarray
        Blurred 2-D image or colour image with ``channel_axis``.
    psf_model, psf_size
        Passed to :func:`estimate_psf` as ``model`` and ``size``.
    channel_axis : int, optional
        Colour axis; the PSF comes from the luminance and is applied to every channel.
    progress : callable, optional
        ``progress(done, total)`` during the estimation and the restoration; a callback that takes a
        ``stage`` keyword is also told the stage (pyramid levels, residual check, refinement, restoring).
    **params
        Passed to :func:`deconvkit.deconvolve` (``method="auto"`` by default, ``noise_sigma``,
        ``backend``, which the estimate runs on too, ...). With
        ``method="auto"`` the TV weight is the calibrated rule times :data:`BLIND_LAM_SCALE` (unless
        ``weight_rule``/``lam_scale`` are given): stronger than for a known PSF, because the estimate's
        error acts as extra noise.

    Returns
    -------
    BlindResult
        ``.image`` (same shape and dtype rule as :func:`deconvkit.deconvolve`), ``.psf``, ``.params``
        (``{"method": non-blind method used, "psf": estimate info, "deconvolve": non-blind info}``).
    """
    from ..memory import check_fits  # the final solve is the peak: refuse before estimating anything
    from ..solvers import deconvolve

    check_fits(image, (psf_size or 1,) * 2, params.get("method", "auto"), channel_axis=channel_axis)
    psf, psf_info = estimate_psf(image, model=psf_model, size=psf_size, channel_axis=channel_axis,
                                 progress=progress, backend=params.get("backend"))
    _return_freed_memory()  # the estimate's freed temporaries, before the whole-image solve peaks
    params.setdefault("method", "auto")
    if params["method"] == "auto":
        params.setdefault("weight_rule", "calibrated")
        params.setdefault("lam_scale", BLIND_LAM_SCALE)
    staged_progress(progress, "restoring", announce_only=True)(0, 1)  # named before the solver's set-up
    restored, info = deconvolve(image, psf, channel_axis=channel_axis, return_info=True,
                                progress=staged_progress(progress, "restoring"), **params)
    return BlindResult(restored, psf, {"method": info.get("method"), "psf": psf_info, "deconvolve": info})



def _return_freed_memory() -> None:
    """Give the C allocator's free heap pages back to the system (glibc ``malloc_trim``; elsewhere nothing).

    The estimate allocates and frees thousands of window-sized arrays (9 MB for a 1024x1024 window). Once
    glibc has freed a memory-mapped block it serves blocks up to that size from its heap, and freed heap
    pages stay resident until trimmed; the whole-image restoration's arrays are larger and are mapped
    anew, so without a trim the estimate's freed pages would add to the restoration's peak. Values are
    unaffected.
    """
    import ctypes
    import ctypes.util

    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or None).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc (macOS, Windows, musl): nothing to trim
        return
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
