"""Peak-memory estimates of the in-memory solvers, and the guard that refuses what would not fit.

The estimate is ``arrays * domain_voxels * itemsize`` plus the input: each solver's working set is a fixed
number of arrays the size of its FFT domain (image + PSF margin, rounded up to a fast FFT size, see
:func:`deconvkit.boundaries.plan_domain`). The number of arrays per method (:data:`DOMAIN_ARRAYS`) was
measured with ``tracemalloc`` on 2-D and 3-D float32 problems (``benchmarks/scale_memory.py``; the larger
of the two, rounded up) and is used twice: by :func:`check_fits` at the start of
:func:`deconvkit.deconvolve`, and by :mod:`deconvkit.scale` to size its tiles from a memory budget.

Available memory is ``MemAvailable`` (psutil, else ``/proc/meminfo``); the environment variable
``DECONVKIT_MEMORY_LIMIT`` (bytes, or with a unit: ``"8GB"``, ``"512MiB"``) overrides it, and ``0`` or
``off`` turns the guard off.
"""

from __future__ import annotations

import math
import os
import re

import numpy as np

from ._shared import DeconvkitError, float_dtype

# The library's one MemoryLimitError (a ResourceError, CLI exit 5, also a MemoryError), re-exported here
# where it is raised; a second class of the same name had been defined here, which `except
# deconvkit.MemoryLimitError` did not catch and the CLI reported with exit 2.
from .errors import MemoryLimitError

__all__ = ["MemoryLimitError", "DOMAIN_ARRAYS", "estimate_peak", "available_memory", "check_fits",
           "parse_bytes"]

# Peak traced bytes / (domain voxels * itemsize), measured with benchmarks/scale_memory.py (2-D 384^2 and
# 3-D 48x96^2, float32; 2026-12-02, after the Wiener NSR and smooth_extend memory changes): auto 33.9/34.5,
# hyper_laplacian 23.4/21.8, poisson_rl 12.0/11.7, richardson_lucy 8.0/8.0, rl_tv 11.0/12.0,
# tikhonov 11.0/11.1, tv 20.5/24.2, wiener 8.1/9.1. The count is the larger of the two rounded up, plus
# one array that tracemalloc does not see: pocketfft's inverse real transform over several axes works in
# a spectrum-sized buffer of its own (one float32 domain array). The counts before this measurement
# (RL 25, tikhonov 23, wiener 20, ...) were two to three times the real peaks, so the guard refused jobs
# that fit (a 64x1024x1024 stack's Richardson-Lucy was estimated at 9.6 GB; it needs about 3.3 GB
# above the input it has read, docs/benchmarks.md).
DOMAIN_ARRAYS = {
    "auto": 36,
    "hyper_laplacian": 25,
    "poisson_rl": 13,
    "richardson_lucy": 9,
    "rl_tv": 13,
    "tikhonov": 13,
    "tv": 26,
    "wiener": 11,
}
# a solver registered later without a measurement: assume the most expensive measured one
_UNMEASURED = max(DOMAIN_ARRAYS.values())

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text) -> int:
    """``"8GB"`` -> 8e9, ``"512MiB"`` -> 536870912, ``1e9`` -> 10**9."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if not text >= 0:
            raise DeconvkitError(f"a memory size must be >= 0, got {text}")
        return int(text)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    if not match or match.group(2).lower() not in _UNITS:
        raise DeconvkitError(f"cannot read {text!r} as a memory size (examples: 2000000000, '8GB', '512MiB')")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def estimate_peak(shape, psf_shape, method: str = "auto", dtype=np.float32, boundary=None,
                  channels: int = 1) -> int:
    """Bytes that ``deconvkit.deconvolve`` will need at its peak for an image of spatial ``shape``.

    Parameters
    ----------
    shape, psf_shape : tuple of int
        Spatial shapes of the image and the PSF.
    method : str
        Solver name (``"auto"`` counts its SURE search too).
    dtype : dtype
        The input's dtype (the working dtype follows :func:`deconvkit._shared.float_dtype`).
    boundary : str, optional
        Boundary name as :func:`deconvkit.deconvolve` takes it ("valid", "reflect", "periodic" or the
        aliases "unknown", "pad"); default the solver's own.
    channels : int
        Number of channels solved together.
    """
    from .boundaries import boundary_strategy, plan_domain

    if boundary is not None:
        boundary = boundary_strategy(boundary)  # "valid"/"reflect" or the strategy names
    if boundary is None:
        from .solvers import SOLVERS

        spec = SOLVERS.get(method)
        boundary = spec.boundary if spec is not None else "unknown"
    domain, _ = plan_domain(shape, psf_shape, boundary)
    itemsize = float_dtype(dtype).itemsize
    arrays = DOMAIN_ARRAYS.get(method, _UNMEASURED)
    voxels = math.prod(domain) * channels
    return int(arrays * voxels * itemsize + math.prod(shape) * channels * itemsize)


def available_memory() -> int | None:
    """Bytes available to this process, or None when the guard is off or it cannot be told."""
    override = os.environ.get("DECONVKIT_MEMORY_LIMIT", "").strip()
    if override:
        if override.lower() in ("0", "off", "none"):
            return None
        return parse_bytes(override)
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_fits(image, psf, method: str = "auto", boundary=None, channel_axis=None) -> None:
    """Raise :class:`MemoryLimitError` before any work when the in-memory solve would not fit.

    Only array metadata (shape, dtype) is read, so an absurdly large input is refused without being
    converted or copied. ``psf`` may be the PSF or its shape (a tuple of int: blind deconvolution knows
    only the size before estimating).
    """
    shape = tuple(np.shape(image))
    is_shape = isinstance(psf, tuple) and all(isinstance(k, int) for k in psf)
    psf_shape = psf if is_shape else tuple(np.shape(psf))
    channels = 1
    if channel_axis is not None and shape:
        channels = shape[channel_axis % len(shape)]
        shape = shape[:channel_axis % len(shape)] + shape[channel_axis % len(shape) + 1:]
    if len(shape) not in (2, 3) or len(psf_shape) != len(shape) or 0 in shape:
        return  # not a valid problem: the validation that follows says why, precisely
    limit = available_memory()
    if limit is None:
        return
    if boundary is not None:
        from .boundaries import DECONVOLVE_BOUNDARIES

        if boundary not in DECONVOLVE_BOUNDARIES:
            return  # the validation that follows names the allowed values
    try:
        dtype = np.dtype(getattr(image, "dtype", np.float64))
    except TypeError:  # a torch dtype: its solve runs in float32 or float64 as well; assume the smaller
        dtype = np.dtype(np.float32)
    needed = estimate_peak(shape, psf_shape, method, dtype, boundary, channels)
    if needed > limit:
        raise MemoryLimitError(
            f"deconvolving an image of shape {shape} with method {method!r} needs about "
            f"{needed / 1e9:.2f} GB, more than the {limit / 1e9:.2f} GB available; process it in tiles with "
            "deconvkit.scale.deconvolve (pip install 'deconvkit[dask]') or, for a TIFF or Zarr file with a "
            "known PSF, the CLI's `deconvkit batch FILE --psf SPEC -o DIR` "
            "(set DECONVKIT_MEMORY_LIMIT to change the limit)")
