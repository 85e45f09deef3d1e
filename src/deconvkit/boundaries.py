"""Boundary handling: real images are not periodic.

One vocabulary names how the scene continues beyond the frame, for the forward model (:func:`deconvkit.blur`),
the solvers (:func:`deconvkit.deconvolve`), the CLI and the docs (:func:`canonical_boundary`):

``"valid"``
    A camera: the frame is a window onto a larger scene. ``blur`` returns only the pixels the PSF fully
    covers; ``deconvolve`` estimates the scene beyond the frame (strategy ``"unknown"`` below).
``"reflect"``
    The scene is mirrored at the frame. ``blur`` mirrors; ``deconvolve`` mirrors and tapers (``"pad"``).
``"periodic"``
    The scene wraps around, on both sides.
``"zero"``
    The scene is black beyond the frame (forward model only).

The older names ``"unknown"`` (= ``"valid"``) and ``"pad"`` (= ``"reflect"``) are accepted everywhere as
aliases. Internally the inverse side keeps its strategy names (:data:`STRATEGIES`, what the solvers'
``boundary`` defaults and ``info["boundary"]`` say); ``info["boundary_model"]`` is the model name.

Three strategies, chosen per solver (see ``docs/solvers.md``):

``"unknown"``
    The exact camera model. The sharp image is estimated on an *extended* domain (image + PSF support - 1,
    rounded up to a fast FFT size); the data term only looks at the observed window. Nothing is assumed
    about the scene outside the frame, so a ``boundary="valid"`` blur restores without ringing. Used by the
    iterative solvers (Richardson-Lucy with Bertero-Boccacci normalisation; Tikhonov, TV and
    hyper-Laplacian through a masked data term).
``"pad"``
    For one-shot closed-form filters (Wiener): the image is mirrored into a margin of at least the PSF size
    and the margin is blended into a low-pass copy so that the padded image is smooth *across the periodic
    seam* (an edge taper). The FFT then sees no jump, which is what causes ringing; errors stay in the margin.
``"periodic"``
    No extension: the data are assumed circular (synthetic tests, or data that really are periodic).
"""

from __future__ import annotations

import numpy as np

from .errors import ParameterError
from .fft import fast_shape, filter_spectrum, frequencies

__all__ = ["STRATEGIES", "plan_domain", "smooth_extend", "BLUR_BOUNDARIES", "DECONVOLVE_BOUNDARIES",
           "ALIASES", "canonical_boundary", "boundary_strategy", "boundary_model"]

STRATEGIES = ("unknown", "pad", "periodic")

# --- the boundary vocabulary (the one place that maps names; forward model, deconvolve and CLI use it) ---
# Model names each side implements, canonical first; the old inverse-side names stay accepted as aliases.
BLUR_MODELS = ("reflect", "periodic", "zero", "valid")
DECONVOLVE_MODELS = ("valid", "reflect", "periodic")
ALIASES = {"unknown": "valid", "pad": "reflect"}
# Every spelling each side accepts (what the CLI offers as choices).
BLUR_BOUNDARIES = BLUR_MODELS
DECONVOLVE_BOUNDARIES = DECONVOLVE_MODELS + tuple(ALIASES)
# model name -> the inverse side's strategy (plan_domain, the solvers)
_STRATEGY_OF = {"valid": "unknown", "reflect": "pad", "periodic": "periodic"}


def _accepted(models) -> str:
    aliases = ", ".join(f"{a!r} = {m!r}" for a, m in ALIASES.items() if m in models)
    return ", ".join(repr(m) for m in models) + (f" (aliases: {aliases})" if aliases else "")


def canonical_boundary(name, models=BLUR_MODELS) -> str:
    """The canonical model name for ``name`` (an alias is resolved), checked against ``models``.

    >>> canonical_boundary("unknown"), canonical_boundary("pad"), canonical_boundary("zero")
    ('valid', 'reflect', 'zero')
    """
    canonical = ALIASES.get(name, name) if isinstance(name, str) else name
    if canonical not in models:
        raise ParameterError(f"boundary must be one of {_accepted(models)}, got {name!r}")
    return canonical


def boundary_strategy(name) -> str:
    """The inverse side's strategy for a boundary name :func:`deconvkit.deconvolve` accepts.

    >>> boundary_strategy("valid"), boundary_strategy("unknown"), boundary_strategy("reflect")
    ('unknown', 'unknown', 'pad')
    """
    return _STRATEGY_OF[canonical_boundary(name, DECONVOLVE_MODELS)]


def boundary_model(strategy: str) -> str:
    """The model name of an inverse-side strategy (``"unknown"`` -> ``"valid"``, ``"pad"`` -> ``"reflect"``)."""
    return canonical_boundary(strategy, DECONVOLVE_MODELS)


def plan_domain(shape, psf_shape, strategy: str):
    """Return ``(domain_shape, offset)``: the FFT domain and where the observed image sits in it."""
    shape, psf_shape = tuple(shape), tuple(psf_shape)
    if strategy not in STRATEGIES:
        raise ParameterError(f"boundary strategy must be one of {STRATEGIES}, got {strategy!r}")
    if strategy == "periodic":
        return shape, (0,) * len(shape)
    if strategy == "unknown":
        # pixels [offset, offset + n) are observed; a convolution on the domain never wraps into them
        domain = fast_shape([n + k - 1 for n, k in zip(shape, psf_shape)])
        offset = tuple(k - 1 - k // 2 for k in psf_shape)
        return domain, offset
    # "pad": a margin of at least the PSF size (and 8 px) on each side keeps the seam away from the image
    margins = [max(k, 8) for k in psf_shape]
    domain = fast_shape([n + 2 * m for n, m in zip(shape, margins)])
    offset = tuple((p - n) // 2 for p, n in zip(domain, shape))
    return domain, offset


def _taper_profile(n: int, size: int, offset: int) -> np.ndarray:
    """1 on the observed window, falling to 0 (raised cosine) at the point of the margin farthest from it."""
    profile = np.ones(size)
    gap = size - n
    if gap <= 0:
        return profile
    positions = np.arange(size)
    # circular distance from the window, measured into the margin
    after = (positions - (offset + n - 1)) % size
    before = (offset - positions) % size
    distance = np.minimum(after, before).astype(float)
    outside = (positions < offset) | (positions >= offset + n)
    half = gap / 2.0 + 0.5
    profile[outside] = np.cos(0.5 * np.pi * np.minimum(distance[outside] / half, 1.0)) ** 2
    return profile


def _slabs(n: int, row: int, budget: int = 1 << 20):
    """Slices of ``range(n)`` along a leading axis whose slabs (``row`` values per index) hold about
    ``budget`` values: the working size of element-wise passes that would otherwise build whole-domain
    temporaries."""
    step = max(1, budget // max(row, 1))
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def _low_pass_transfer(domain, sigma: float, dtype) -> np.ndarray:
    """The Gaussian ``exp(-2 (pi sigma f)^2)`` on the rfft grid of ``domain``, in ``dtype``.

    The product of the per-axis factors is formed in float64 and rounded once, as the whole-grid float64
    product would be, but slab by slab along the first axis: the float64 grid (as large as a float32
    domain array) is never held.
    """
    d = len(domain)
    factors = []
    for i, n in enumerate(domain):
        freqs = frequencies(n, real=i == d - 1)
        view = [1] * d
        view[i] = freqs.size
        factors.append(np.exp(-2 * (np.pi * sigma * freqs) ** 2).reshape(view))
    grid = tuple(f.shape[i] for i, f in enumerate(factors))
    transfer = np.empty(grid, dtype=dtype)
    for part in _slabs(grid[0], int(np.prod(grid[1:]))):
        product = 1.0
        for i, factor in enumerate(factors):
            product = product * (factor[part] if i == 0 else factor)
        transfer[part] = product
    return transfer


def smooth_extend(data: np.ndarray, domain, offset) -> np.ndarray:
    """Extend ``data`` (shape ``(C, *shape)``) onto ``domain`` without a jump across the periodic seam.

    Mirror-pad, then cross-fade the margin into a heavily low-passed (circularly smooth) copy.

    Memory: the result, the low-passed copy and the transform's own working arrays; the low-pass transfer
    function is held in the data's precision and the cross-fade weights (a product of per-axis profiles)
    are applied slab by slab, so neither a float64 grid nor a domain-sized weight array is built (same
    values as forming them whole).
    """
    spatial = data.shape[1:]
    d = len(spatial)
    pads = [(0, 0)] + [(o, p - n - o) for n, p, o in zip(spatial, domain, offset)]
    mirrored = np.pad(data, pads, mode="symmetric")
    if tuple(domain) == tuple(spatial):
        return mirrored
    axes = tuple(range(1, d + 1))
    margin = min(p - n for n, p in zip(spatial, domain))
    sigma = max(margin / 4.0, 1.0)
    # filters in the data's precision: float64 factors would silently promote a float32 problem to
    # complex128 / float64 here (twice the FFT time and memory)
    lowpass = filter_spectrum(mirrored, _low_pass_transfer(domain, sigma, mirrored.dtype), axes, shape=domain)
    profiles = []
    for i, (n, p, o) in enumerate(zip(spatial, domain, offset)):
        shape = [1] * (d + 1)
        shape[i + 1] = p
        profiles.append(_taper_profile(n, p, o).astype(mirrored.dtype).reshape(shape))
    # mirrored = (mirrored - lowpass) * weight + lowpass, with weight = 1.0 * profile_0 * profile_1 ...
    # (the same products, in the same order, as the whole weight array), one slab of the first axis at a time
    for part in _slabs(domain[0], int(np.prod(domain[1:])) * data.shape[0]):
        weight = 1.0
        for i, profile in enumerate(profiles):
            weight = weight * (profile[:, part] if i == 0 else profile)
        slab, low = mirrored[:, part], lowpass[:, part]
        slab -= low
        slab *= weight
        slab += low
    return mirrored
