"""The work behind the endpoints: restoration, blind estimation and previews, on decoded arrays.

Each function takes the job (for progress and cancellation) and returns plain data; the app turns it into
responses. Colour images are restored with their channels together (``channel_axis=-1``, one shared
weight so no colour fringes); an alpha channel is set aside and put back unchanged.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np

from . import imaging

__all__ = ["restore", "estimate", "preview", "check_params", "jsonable", "describe_image", "parse_region"]

# deconvolve() keywords a client may set besides the method's own parameters.
_GENERAL_PARAMS = ("boundary", "noise_sigma", "clip")


def jsonable(value):
    """``info`` dicts hold NumPy scalars, tuples and arrays; JSON needs plain values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist()) if value.size <= 64 else f"<array {value.shape}>"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def check_params(method: str, params) -> dict:
    """Validate the client's parameters for ``method`` before any work is queued."""
    from ..solvers import SOLVERS

    if method not in SOLVERS:
        raise imaging.InputError(f"unknown method {method!r}; available: {', '.join(sorted(SOLVERS))}")
    if not isinstance(params, dict):
        raise imaging.InputError(f"params must be a JSON object, got {type(params).__name__}")
    allowed = (*SOLVERS[method].params, *_GENERAL_PARAMS)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise imaging.InputError(f"method {method!r} has no parameter(s) {', '.join(unknown)}; "
                                 f"valid: {', '.join(allowed)}")
    checked = {}
    for key, value in params.items():
        if isinstance(value, list):  # JSON has no tuples; deconvkit takes pairs like beta_range as tuples
            value = tuple(value)
        if isinstance(value, (dict, tuple)) and not all(isinstance(v, (int, float)) for v in value):
            raise imaging.InputError(f"parameter {key}={value!r} must be a number, string, boolean or "
                                     "a list of numbers")
        checked[key] = value
    return checked


def _split_alpha(image: np.ndarray):
    """(colour, alpha): grey+alpha and RGBA keep their last channel aside."""
    if image.ndim == 3 and image.shape[-1] in (2, 4):
        return image[..., :-1], image[..., -1:]
    return image, None


def _merge_alpha(colour: np.ndarray, alpha) -> np.ndarray:
    return colour if alpha is None else np.concatenate([colour, alpha.astype(colour.dtype)], axis=-1)


def _channel_axis(image):
    return -1 if image.ndim == 3 else None


def _deconvolve(image, kernel, method, params, progress):
    from ..solvers import deconvolve

    colour, alpha = _split_alpha(image)
    restored, info = deconvolve(colour, kernel, method, channel_axis=_channel_axis(colour),
                                return_info=True, progress=progress, **params)
    return _merge_alpha(restored, alpha), info


def _input_noise(image, info) -> dict:
    """``{"noise_sigma": ...}`` for a JPEG upload (its quantisation tables give the level, see
    :func:`deconvkit.noise.input_noise_sigma`), else ``{}``; the client's own value takes precedence."""
    from ..noise import input_noise_sigma

    colour, _ = _split_alpha(image)
    sigma = input_noise_sigma(colour, info)
    return {} if sigma is None else {"noise_sigma": sigma}


def _estimate(image, model, size, progress):
    from ..blind import estimate_psf

    colour, _ = _split_alpha(image)
    return estimate_psf(colour, model=model, size=size, channel_axis=_channel_axis(colour), progress=progress)


def restore(job, workdir, image, info, kernel, method, params, display_size) -> dict:
    """Full-resolution restoration; blind (estimate, then restore) when ``kernel`` is None."""
    from ..blind import BLIND_LAM_SCALE

    psf_info = None
    start = 0.0
    if kernel is None:
        job.progress(0, 1000, "estimating PSF")
        kernel, psf_info = _estimate(image, "auto", None, job.phased("estimating PSF", 0.0, 0.5))
        start = 0.5
        if method == "auto":  # as deconvkit.deblur: an estimated PSF's error acts as extra noise
            params = {"weight_rule": "calibrated", "lam_scale": BLIND_LAM_SCALE, **params}
    job.progress(round(1000 * start), 1000, "restoring")
    params = {**_input_noise(image, info), **params}
    restored, used = _deconvolve(image, kernel, method, params, job.phased("restoring", start, 1.0))
    job.progress(1000, 1000, "encoding")
    data, extension = imaging.encode_like(restored, info)
    value_range = imaging.display_range(image, info)
    return {"data": data, "extension": extension, "format": info.format,
            "display": imaging.display_png(restored, display_size, value_range),
            "psf_png": imaging.psf_png(kernel), "params": jsonable(used),
            "psf": jsonable(psf_info) if psf_info is not None else None,
            "spec": _spec(psf_info)}


def _spec(psf_info):
    """The model spec of a parametric estimate, so the page can set its sliders to it."""
    from .catalog import spec_from_estimate

    return spec_from_estimate(psf_info) if psf_info else None


def parse_region(text):
    """``"[x, y, width, height]"`` (JSON) -> a tuple of four ints, or None for no text."""
    if text is None or not text.strip():
        return None
    try:
        box = json.loads(text)
    except json.JSONDecodeError:
        box = None
    if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, int) and not isinstance(v, bool)
                                                            for v in box)):
        raise imaging.InputError(f"region must be a JSON list [x, y, width, height] of integers, got {text!r}")
    if box[0] < 0 or box[1] < 0 or box[2] < 32 or box[3] < 32:
        raise imaging.InputError(f"region {box}: x and y must be >= 0, width and height >= 32 pixels")
    return tuple(box)


def estimate(job, workdir, image, model, size, region=None) -> dict:
    """Blind PSF estimation, on the whole image or on ``region`` (x, y, width, height: a part with sharp
    structure is enough, and much faster than a 12 MP frame). The PSF comes back as a PNG (to show) and
    a float32 TIFF (to reuse)."""
    from ..blind import MODELS

    if model not in MODELS:
        raise imaging.InputError(f"blind model must be one of {', '.join(MODELS)}, got {model!r}")
    rows, cols = image.shape[:2]
    x, y, w, h = region if region is not None else (0, 0, cols, rows)
    x, y = min(x, max(cols - 32, 0)), min(y, max(rows - 32, 0))
    w, h = min(w, cols - x), min(h, rows - y)
    job.progress(0, 1000, "estimating PSF")
    part = np.ascontiguousarray(image[y:y + h, x:x + w])
    kernel, info = _estimate(part, model, size, job.phased("estimating PSF", 0.0, 1.0))
    return {"psf_png": imaging.psf_png(kernel), "psf_tiff": imaging.psf_tiff(kernel),
            "params": jsonable(info), "spec": _spec(info), "shape": list(kernel.shape),
            "region": [int(x), int(y), int(w), int(h)]}


def _rescale_psf(kernel: np.ndarray, factor: int) -> np.ndarray:
    """The PSF of the image reduced by ``factor``: the kernel resampled by 1/factor, odd-sized, sum 1."""
    from skimage.transform import rescale

    small = rescale(kernel, 1.0 / factor, anti_aliasing=True, order=1, mode="constant")
    small = np.clip(small, 0.0, None)
    pad = [(0, 1 - n % 2) for n in small.shape]  # odd sizes keep the centre on a pixel
    small = np.pad(small, pad)
    if small.sum() <= 0:
        small = np.zeros((1, 1)) + 1.0
    return small / small.sum()


def preview(job, workdir, image, info, kernel, method, params, *, mode, x, y, size, config,
            cache=None) -> dict:
    """A fast look at the result: the chosen method on a full-resolution loupe region or on a downscaled
    copy of the whole image, with iterative methods capped at ``config.preview_iterations``.

    ``cache`` (a dict kept with an uploaded image) keeps the downscaled copies between previews.
    """
    from ..solvers import SOLVERS

    started = time.perf_counter()
    size = int(min(max(size or config.preview_size, 16), config.preview_size))
    rows, cols = image.shape[:2]
    if mode == "loupe":
        h, w = min(size, rows), min(size, cols)
        top = int(min(max(y, 0), rows - h))
        left = int(min(max(x, 0), cols - w))
        region = image[top:top + h, left:left + w]
        scale = 1
        used_kernel = kernel
        box = [left, top, w, h]
    elif mode == "fit":
        scale = max(1, math.ceil(max(rows, cols) / size))
        if cache is not None and size in cache:
            region = cache[size]
        else:
            region = imaging.reduce(image, size)
            if cache is not None:
                cache[size] = region
        used_kernel = _rescale_psf(kernel, scale) if scale > 1 else kernel
        box = [0, 0, cols, rows]
    else:
        raise imaging.InputError(f"preview mode must be 'loupe' or 'fit', got {mode!r}")
    region = np.ascontiguousarray(region, dtype=np.float32 if image.dtype == np.float32 else image.dtype)
    params = dict(params)
    if mode == "loupe":  # full-resolution pixels: a JPEG's level holds for them (a reduced copy has less)
        if cache is not None and "input_noise" in cache:
            noise = cache["input_noise"]
        else:
            noise = _input_noise(image, info)
            if cache is not None:
                cache["input_noise"] = noise
        params = {**noise, **params}
    if "iterations" in SOLVERS[method].params and "iterations" not in params:
        params["iterations"] = config.preview_iterations
    if "weight_rule" in SOLVERS[method].params and "weight_rule" not in params:
        params["weight_rule"] = "calibrated"  # SURE runs the solver several times; too slow to preview
    restored, used = _deconvolve(region, used_kernel, method, params, job.progress)
    value_range = imaging.display_range(image, info)
    display = max(region.shape[:2])
    return {"before": imaging.data_url(imaging.display_png(region, display, value_range)),
            "after": imaging.data_url(imaging.display_png(restored, display, value_range)),
            "region": box, "scale": scale, "params": jsonable(used), "mode": mode,
            "preview_params": jsonable(params), "time_s": time.perf_counter() - started}


def describe_image(image, info) -> dict:
    return {"width": int(image.shape[1]), "height": int(image.shape[0]),
            "channels": int(image.shape[2]) if image.ndim == 3 else 1, "format": info.format,
            "dtype": str(info.dtype), "bit_depth": info.bit_depth}


