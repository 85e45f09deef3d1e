"""Peak memory of the in-memory solvers per voxel of their FFT domain (the constants in deconvkit.memory).

For every registered method, on a 2-D and a 3-D float32 problem, the peak of Python-visible allocations
(``tracemalloc``: NumPy registers its buffers with it) during ``deconvkit.deconvolve`` is divided by the
FFT domain's voxel count times the item size. The input array itself is excluded (allocated before the
trace starts). Run::

    OMP_NUM_THREADS=1 DECONVKIT_WORKERS=1 PYTHONPATH=src python benchmarks/scale_memory.py
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    cases = {"2-D 384x384, gaussian sigma 2": ((384, 384), gaussian(2.0)),
             "3-D 48x96x96, gaussian sigma 1.5": ((48, 96, 96), gaussian(1.5, ndim=3))}
    print(f"{'method':<18}" + "".join(f"{name:>36}" for name in cases))
    for method in sorted(SOLVERS):
        row = [measure(method, shape, psf) for shape, psf in cases.values()]
        print(f"{method:<18}" + "".join(f"{value:>36.1f}" for value in row))
    print("(peak traced bytes / (FFT-domain voxels * 4 bytes); input excluded)")


if __name__ == "__main__":
    main()
