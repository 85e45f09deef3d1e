"""Peak memory of the in-memory solvers per voxel of their FFT domain (the constants in deconvkit.memory).

For every registered method, on a 2-D and a 3-D float32 problem, the peak of Python-visible allocations
(``tracemalloc``: NumPy registers its buffers with it) during ``deconvkit.deconvolve`` is divided by the
FFT domain's voxel count times the item size. The input array itself is excluded (allocated before the
trace starts). Run::

    OMP_NUM_THREADS=1 DECONVKIT_WORKERS=1 PYTHONPATH=src python benchmarks/scale_memory.py

``--tiles``: the real peak of one tile task of :mod:`deconvkit.scale` (read its region from a Zarr store,
solve it with explicit parameters, keep its chunk) for Wiener, Richardson-Lucy and TV, each in a fresh
process: the resident-set peak (sampled every 2 ms) and the traced peak above the process's state after a
warm-up, against the tile planner's per-task model (:func:`deconvkit.scale._tiling.plan_chunks`).
"""

from __future__ import annotations

import argparse
import tracemalloc

import numpy as np

import deconvkit
from deconvkit.boundaries import plan_domain
from deconvkit.fft import otf_cache
from deconvkit.psf import gaussian
from deconvkit.solvers import SOLVERS


def measure(method, shape, psf, iterations=5):
    rng = np.random.default_rng(0)
    image = deconvkit.blur(rng.random(shape).astype(np.float32), psf) + np.float32(0.01) * \
        rng.standard_normal(shape).astype(np.float32)
    image = image.astype(np.float32)
    spec = SOLVERS[method]
    params = {"iterations": iterations} if "iterations" in spec.params else {}
    strategy = "unknown" if method == "auto" else spec.boundary
    domain, _ = plan_domain(shape, psf.shape, strategy)
    # a small warm-up solve first: lazy imports inside the first call are not the solve's memory
    deconvkit.deconvolve(image[tuple(slice(0, 4 * k) for k in psf.shape)], psf, method=method, **params)
    otf_cache._store.clear()  # a cached OTF from an earlier case would be missing from the peak
    tracemalloc.start()
    deconvkit.deconvolve(image, psf, method=method, **params)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / (np.prod(domain) * image.itemsize)


def one_tile(method, chunk, depth, iterations=5):
    """One tile task in this process; prints ``model rss traced`` in bytes (run by :func:`tiles`)."""
    import functools
    import math
    import os
    import shutil
    import tempfile
    import threading
    import time

    import psutil
    import zarr

    from deconvkit.memory import estimate_peak
    from deconvkit.scale import _region_tile, _solve_tile
    from deconvkit.scale._io import ZarrRegionReader

    psf = gaussian(0.5, ndim=3).astype(np.float32)
    shape = tuple(c + 2 * d for c, d in zip(chunk, depth))  # an interior tile: margins on every side
    shape = tuple(s + c for s, c in zip(shape, chunk))       # room for one tile on either side
    folder = tempfile.mkdtemp(prefix="deconvkit-tile-mem-")
    store = zarr.open_array(os.path.join(folder, "in.zarr"), mode="w", shape=shape, chunks=(40, 64, 64),
                            dtype="float32")
    store[:] = np.random.default_rng(0).random(shape, dtype=np.float32)
    params = {"nsr": 0.01} if method == "wiener" else {"iterations": iterations}
    if method == "richardson_lucy":
        params["accelerate"] = False
    if method == "tv":
        params["lam"] = 0.01
    tile = functools.partial(_solve_tile, psf=psf, method=method, strategy=SOLVERS[method].boundary,
                             noise_sigma=0.01, offset=0.0, work_dtype=np.dtype(np.float32), params=params)
    reader = ZarrRegionReader(os.path.join(folder, "in.zarr"))
    sizes = tuple((c // 2 + d, c, s - c - c // 2 - d) for c, d, s in zip(chunk, depth, shape))
    location = [(sz[0], sz[0] + sz[1]) for sz in sizes]
    info = {None: {"array-location": location}}
    task = functools.partial(_region_tile, reader, shape=shape, depth=depth, axis=None, scale=0,
                             work_dtype=np.dtype(np.float32), tile=tile)
    # warm-up on a small tile (imports; a warm-up at full size would leave its freed pages in the heap
    # for the measured call to reuse, hiding them from the RSS), then the OTF cache emptied
    small = tuple(min(8, c) for c in chunk)
    small_info = {None: {"array-location": [(a, a + c) for (a, _), c in zip(location, small)]}}
    task(block_info=small_info)
    otf_cache._store.clear()
    process = psutil.Process()
    base = process.memory_info().rss
    peak, running = [base], [True]

    def sample():
        while running[0]:
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    tracemalloc.start()
    kept = task(block_info=info)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    running[0] = False
    sampler.join()
    tile_shape = tuple(c + 2 * d for c, d in zip(chunk, depth))
    model = estimate_peak(tile_shape, psf.shape, method, "float32") + (math.prod(tile_shape) + kept.size) * 4
    shutil.rmtree(folder, ignore_errors=True)
    print(model, peak[0] - base, traced)


def tiles(chunk=(40, 120, 120), depth=(0, 13, 13)):
    import subprocess
    import sys

    print(f"one interior tile task: chunk {chunk} + overlap {depth} per side, read from Zarr, float32; "
          "model = solver estimate + block as read + kept chunk")
    print(f"{'method':<16}{'model MB':>10}{'RSS peak MB':>13}{'traced MB':>11}{'RSS/model':>11}")
    for method in ("wiener", "richardson_lucy", "tv"):
        out = subprocess.run([sys.executable, __file__, "--one", method, ",".join(map(str, chunk)),
                              ",".join(map(str, depth))], capture_output=True, text=True, check=True).stdout
        model, rss, traced = (int(v) for v in out.split()[-3:])
        print(f"{method:<16}{model / 1e6:>10.0f}{rss / 1e6:>13.0f}{traced / 1e6:>11.0f}{rss / model:>11.2f}",
              flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", action="store_true", help="real peak of one tile task per method")
    parser.add_argument("--chunk", default="40,120,120", help="--tiles: chunk without overlap")
    parser.add_argument("--depth", default="0,13,13", help="--tiles: overlap per side")
    parser.add_argument("--one", nargs=3, metavar=("METHOD", "CHUNK", "DEPTH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        method, chunk, depth = args.one
        one_tile(method, tuple(map(int, chunk.split(","))), tuple(map(int, depth.split(","))))
        return
    if args.tiles:
        tiles(tuple(map(int, args.chunk.split(","))), tuple(map(int, args.depth.split(","))))
        return
    cases = {"2-D 384x384, gaussian sigma 2": ((384, 384), gaussian(2.0)),
             "3-D 48x96x96, gaussian sigma 1.5": ((48, 96, 96), gaussian(1.5, ndim=3))}
    print(f"{'method':<18}" + "".join(f"{name:>36}" for name in cases))
    for method in sorted(SOLVERS):
        row = [measure(method, shape, psf) for shape, psf in cases.values()]
        print(f"{method:<18}" + "".join(f"{value:>36.1f}" for value in row))
    print("(peak traced bytes / (FFT-domain voxels * 4 bytes); input excluded)")


if __name__ == "__main__":
    main()
