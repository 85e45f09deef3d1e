"""Automatic parameters decided once for the whole array, so that tiles do not differ in look.

The in-memory solvers choose what they are not given (noise level, Wiener NSR, TV weight, the
Richardson-Lucy iteration count, non-negativity, the saturation mask) from the data they see. A tile
would choose from its own data, and neighbouring tiles would differ. Here the solver is run once on a
central sample of the whole array (:data:`SAMPLE_VOXELS`), and what it chose (``info`` of
``deconvolve(..., return_info=True)``) is handed to every tile as explicit parameters. Two decisions
need the whole array, not a sample: its minimum (Richardson-Lucy shifts negative data by it; ``auto``
turns non-negativity on when no value lies 4 noise deviations below zero) and its maximum (a clipped
highlight is a plateau at full scale); they come from one reduction over the array, done only for the
methods that use them.
"""

from __future__ import annotations

import math

import numpy as np

from ..solvers import SOLVERS, get_solver

__all__ = ["SAMPLE_VOXELS", "central_sample", "decide_parameters"]

# The sample: a central crop of at most this many voxels (2-D: 512 x 512; 3-D: 64^3), each axis at least
# four PSF extents. Large enough for a stable noise estimate and the auto solvers' own crops (SURE uses
# at most 256 x 256), small enough to solve in seconds.
SAMPLE_VOXELS = 512 * 512
# the full-scale levels that :func:`deconvkit.solvers._splitting.saturation_weight` recognises
from ..solvers._splitting import _FULL_SCALE  # noqa: E402

# Methods whose result depends on a global shift of the data (RL's positivity offset).
_OFFSET_METHODS = ("richardson_lucy", "rl_tv")


def _short_sample(method: str, params: dict) -> dict:
    """Parameters that cut the sample's solve to one iteration where nothing it decides depends on the
    iterations (only its choices are used, never its result). TV and the hyper-Laplacian set their
    weight from the noise level before the first iteration and run a fixed count (TV's 150 ADMM
    iterations on the 512 x 512 sample were the largest fixed cost of the tiled path); Richardson-Lucy
    with a given count has nothing left to choose. Without a count RL's count *is* the choice (the
    discrepancy rule), so its sample runs in full, as does every other method."""
    if method == "tv":
        return {"iterations": 1}
    if method == "hyper_laplacian":
        first = float(params.get("beta_range", (1.0, 256.0))[0])
        return {"inner": 1, "beta_range": (first, first * 1.01)}  # two penalty values (first < last)
    if method == "richardson_lucy" and params.get("iterations") is not None:
        return {"iterations": 1}
    return {}


def central_sample(array, psf_shape, voxels: int = SAMPLE_VOXELS) -> np.ndarray:
    """A central crop of ``array`` (dask or NumPy) with at most about ``voxels`` voxels per channel, as
    NumPy. The crop covers the axes of ``psf_shape``; a last axis beyond them (channels) is kept whole."""
    ndim = len(psf_shape)
    side = int(voxels ** (1.0 / ndim))
    index = []
    for n, k in zip(array.shape, psf_shape):
        m = min(n, max(side, 4 * k))
        start = (n - m) // 2
        index.append(slice(start, start + m))
    sample = array[tuple(index)]
    return np.asarray(sample.compute() if hasattr(sample, "compute") else sample)


def decide_parameters(array, psf, method: str, params: dict, noise_sigma=None, boundary=None,
                      channels: bool = False):
    """Decide every automatic parameter once; return ``(tile_method, tile_params, noise_sigma, info)``.

    ``tile_params`` holds the user's ``params`` plus what the solver chose on the sample, so every tile
    solves the same problem; ``info`` is the sample solve's info plus the global statistics used.
    ``channels``: the last axis of ``array`` holds colour channels, decided on together (the noise level
    is the median over channels and the solver sees them all, as the in-memory call with
    ``channel_axis`` does).
    """
    import dask
    import dask.array as da

    from ..noise import estimate_noise
    from ..solvers import deconvolve

    get_solver(method)
    sample = central_sample(array, psf.shape)
    if noise_sigma is None:
        noise_sigma = float(estimate_noise(sample, channel_axis=-1 if channels else None))
    params = dict(params)
    # the whole array's range is needed by RL (offset), auto (non-negativity) and methods with a
    # saturation mask; one reduction pass over the data, skipped for the others (Wiener, Tikhonov)
    needs_range = (method in _OFFSET_METHODS or method == "auto"
                   or ("saturation" in SOLVERS[method].params and "saturation" not in params))
    if needs_range:
        lazy = array if isinstance(array, da.Array) else da.from_array(array)
        low, high = (float(v) for v in dask.compute(lazy.min(), lazy.max()))
    else:
        low, high = float(sample.min()), float(sample.max())
    tile_method = method
    decided = {"sample_shape": list(sample.shape), "noise_sigma": noise_sigma, "min": low, "max": high}
    saturation = None
    if any(abs(high - level) <= 1e-6 * level for level in _FULL_SCALE):
        saturation = high - 0.02 * max(high - low, 1e-12)  # as saturation_weight's "auto" flags it
    offset = 0.0
    if method in _OFFSET_METHODS and low < 0:
        # RL shifts negative data by their minimum; each tile would shift by its own. The caller
        # shifts the whole array by the global minimum instead (which is what the whole-array call does)
        offset = -low
        sample = sample + np.asarray(offset, sample.dtype)
    decided["offset"] = offset
    if method in _OFFSET_METHODS:
        # the Biggs-Andrews step length is one scalar from inner products over the whole domain, so
        # accelerated tiles would each take their own steps; unaccelerated RL is local
        params.setdefault("accelerate", False)
    short = _short_sample(method, params)
    _, info = deconvolve(sample, psf, method=method, noise_sigma=noise_sigma, boundary=boundary,
                         channel_axis=-1 if channels else None, return_info=True, **{**params, **short})
    if method == "auto":
        # auto = TV with a weight it chose (SURE on a crop, times lam_scale) and its iteration count;
        # the tiles get that TV problem, with non-negativity decided from the whole array's minimum
        # (the rule of deconvkit.solvers.auto.looks_non_negative)
        tile_method = info["method"]
        params = {"lam": info["lam"], "iterations": info["iterations"],
                  "nonneg": bool(low >= -4.0 * noise_sigma)}
        boundary = boundary or info.get("boundary")
    spec = SOLVERS[tile_method]
    for key in spec.params:
        # (a count cut short for the sample is not the tiles': they keep the user's or the default)
        if key not in params and key not in short and key in info and _is_scalar(info[key]):
            params[key] = info[key]
    if "saturation" in spec.params and "saturation" not in params:
        params["saturation"] = saturation
    decided.update({"sample_info": info, "boundary": boundary or spec.boundary})
    return tile_method, params, noise_sigma, decided


def _is_scalar(value) -> bool:
    return isinstance(value, (bool, int, float, np.generic)) and not (
        isinstance(value, float) and not math.isfinite(value))
