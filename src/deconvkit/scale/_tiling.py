"""How far tiles overlap, and how large they are: the two numbers that make tiling invisible and bounded.

Overlap
    A tile is deconvolved together with a margin of its neighbours' data, and only its own part is kept.
    The kept part agrees with the whole-array result when the margin is wider than the distance over
    which the solver lets data influence the result. That distance is a multiple of the PSF's extent
    per method, measured with ``benchmarks/scale.py --overlap`` (docs/scale.md): the smallest multiple at
    which tiled and whole-array float32 results agree to 1e-4 away from the outer border, on blurred
    noisy textures, 2-D and 3-D, rounded up with a safety step.
Tile size
    The in-memory solver's peak is :func:`deconvkit.memory.estimate_peak`; a tile (with its margin) is
    made as large as a memory budget allows for the number of tiles solved at once, plus what a worker
    process keeps between tiles: the OTF cache (:data:`deconvkit.fft.otf_cache`, up to
    ``maxsize`` spectra, one per distinct tile shape), counted once per process. Each tile task reads its
    own region and writes or returns only its kept part (:func:`deconvkit.scale._region_tiles`), so no
    other tile's data is held; ``benchmarks/scale_memory.py --tiles`` and ``benchmarks/scale.py --stack``
    measure the real peak against this model (docs/benchmarks_scale.md).
"""

from __future__ import annotations

import math

from .._shared import DeconvkitError
from ..boundaries import plan_domain

__all__ = ["OVERLAP_FACTORS", "overlap_depth", "plan_chunks"]

# Overlap per axis = factor * PSF extent on that axis (at least MIN_DEPTH pixels). Measured, see module
# docstring; the methods without a measurement get the largest factor.
OVERLAP_FACTORS = {
    "wiener": 2.5,           # needed 1.5-2.0
    "tikhonov": 3.0,         # not measured (its CG stops on a global residual): as RL
    "richardson_lucy": 3.0,  # needed 1.5-2.0 (up to 122 iterations)
    "rl_tv": 3.0,            # not measured: as RL
    "tv": 3.5,               # needed 2.0-3.0 (150 ADMM iterations)
    "hyper_laplacian": 3.5,  # not measured: as TV
}
MIN_DEPTH = 8


def overlap_depth(method: str, psf_shape, factor: float | None = None) -> tuple[int, ...]:
    """Overlap (pixels per side) on each spatial axis for ``method`` and a PSF of ``psf_shape``."""
    if factor is None:
        factor = OVERLAP_FACTORS.get(method, max(OVERLAP_FACTORS.values()))
    if not factor >= 0:
        raise DeconvkitError(f"overlap factor must be >= 0, got {factor}")
    return tuple(max(int(math.ceil(factor * k)), MIN_DEPTH) for k in psf_shape)


def plan_chunks(shape, psf_shape, method: str, depth, budget: int, concurrent: int = 1,
                itemsize: int = 4, boundary: str | None = None, channels: int = 1) -> tuple[int, ...]:
    """Chunk shape (without overlap) whose tile fits ``budget / concurrent`` bytes at the solver's peak,
    chosen to solve as few voxels as possible per voxel kept.

    Every margin is solved twice (once by each neighbour), so the work is
    ``prod(n + 2 d (tiles - 1))`` over the axes (the array's outer border has no margin). Candidates are
    a common side length on some axes and the full extent on the others (a short axis, such as the z of
    a thin stack, is best not cut at all); the cheapest one that fits is returned. A chunk is never
    smaller than its overlap (a tile would then be mostly margin).
    """
    import itertools

    from ..memory import estimate_peak

    concurrent = max(int(concurrent), 1)
    dtype = "float32" if itemsize <= 4 else "float64"

    def peak(chunk):
        """Bytes of the pool: ``concurrent`` tiles at their peak plus the process's OTF cache."""
        tile = [min(c + 2 * d, n) for c, d, n in zip(chunk, depth, shape)]
        # besides the solver's peak (its input included) a task holds the block as read (before the
        # conversion to the working dtype) and its kept output chunk (a copy, handed to the writer)
        solve = estimate_peak(tile, psf_shape, method, dtype, boundary, channels)
        task = solve + (math.prod(tile) + math.prod(chunk)) * channels * itemsize
        return concurrent * task + otf_cache_bytes(shape, chunk, depth, psf_shape, boundary, itemsize, method)

    def work(chunk):
        return math.prod(n + 2 * d * (math.ceil(n / c) - 1) for n, c, d in zip(shape, chunk, depth))

    smallest = tuple(min(n, max(d, k)) for n, d, k in zip(shape, depth, psf_shape))
    if peak(smallest) > budget:
        raise DeconvkitError(
            f"a memory budget of {budget / 1e6:.0f} MB for {concurrent} concurrent tile(s) is too small: the "
            f"smallest useful tile {smallest} (overlap {tuple(depth)}) needs {peak(smallest) / 1e6:.0f} MB; "
            "give more memory per worker, fewer threads per worker, or explicit chunks=")
    best = smallest
    for full in itertools.product((False, True), repeat=len(shape)):
        def chunk_of(side, full=full):
            return tuple(n if whole else max(min(side, n), s) for n, s, whole in zip(shape, smallest, full))

        if peak(chunk_of(1)) > budget:
            continue  # the full axes alone do not fit
        lo, hi = 1, max(shape)
        while lo < hi:  # peak() grows with the side: bisection for the largest that fits
            mid = (lo + hi + 1) // 2
            if peak(chunk_of(mid)) <= budget:
                lo = mid
            else:
                hi = mid - 1
        candidate = chunk_of(lo)
        if (work(candidate), -math.prod(candidate)) < (work(best), -math.prod(best)):
            best = candidate
    return best


def otf_cache_bytes(shape, chunk, depth, psf_shape, boundary, itemsize: int = 4, method: str = "wiener") -> int:
    """Bytes the OTF cache of one process can hold while tiles of ``chunk`` are solved: one real-FFT
    spectrum per distinct tile shape (first, interior and last tiles differ by their margins; at most
    four lengths per axis), up to the cache's ``maxsize``, each bounded by the largest tile's."""
    from ..boundaries import boundary_strategy
    from ..fft import otf_cache
    from ..solvers import SOLVERS

    if boundary is None:
        spec = SOLVERS.get(method)
        boundary = spec.boundary if spec is not None else "unknown"
    tile = [min(c + 2 * d, n) for c, d, n in zip(chunk, depth, shape)]
    domain = plan_domain(tile, psf_shape, boundary_strategy(boundary))[0]
    spectrum = math.prod(domain[:-1]) * (domain[-1] // 2 + 1) * 2 * itemsize
    shapes = math.prod(min(math.ceil(n / c), 4) for n, c in zip(shape, chunk))
    return min(shapes, otf_cache.maxsize) * spectrum


def tile_domain_voxels(chunk, depth, psf_shape, boundary) -> int:
    """FFT-domain voxels of one tile (for reporting)."""
    tile = [c + 2 * d for c, d in zip(chunk, depth)]
    return math.prod(plan_domain(tile, psf_shape, boundary)[0])
