"""Blind PSF estimation on the NumPy and the PyTorch CPU backends, in one process.

One synthetic camera-shake frame (scikit-image's camera, 512x512, blurred by Levin et al.'s kernel 2 when
``../shared`` is present, else a 13-px motion blur; 1% noise) is estimated with
``deconvkit.estimate_psf(model="general", size=25)`` (the pyramid, the kernel CG, the residual check and
the refinement: every step that runs on the backend) on each backend, interleaved (one call of each,
repeated), after one warm-up call each. Reported: the median time of each, the ratio torch / numpy, and
the relative L2 difference of the two kernels (they must agree to float32 tolerance).

Run (the thread count is stated in the output and applies to both backends' FFTs)::

    OMP_NUM_THREADS=1 DECONVKIT_WORKERS=1 python benchmarks/blind_backends.py [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

LEVIN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "levin09"


def main(argv=None):
    import deconvkit
    from deconvkit.backends import current_workers

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=25, help="searched kernel size (default 25)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    args = parser.parse_args(argv)
    from skimage import data

    sharp = data.camera() / 255.0
    psf = np.load(LEVIN / "psfs.npz")["psf2"] if (LEVIN / "psfs.npz").exists() else deconvkit.psf.motion(13, 30)
    blurred = deconvkit.blur(sharp, psf, boundary="reflect", noise=0.01, rng=0)
    kernels, times = {}, {"numpy": [], "torch": []}
    for backend in times:  # warm-up: imports, caches
        kernels[backend], _ = deconvkit.estimate_psf(blurred, model="general", size=args.size, backend=backend)
    for _ in range(args.repeats):
        for backend in times:
            started = time.perf_counter()
            deconvkit.estimate_psf(blurred, model="general", size=args.size, backend=backend)
            times[backend].append(time.perf_counter() - started)
    a, b = kernels["numpy"], kernels["torch"]
    result = {
        "shape": list(blurred.shape), "size": args.size, "workers": current_workers(),
        "numpy_s": statistics.median(times["numpy"]), "torch_s": statistics.median(times["torch"]),
        "kernel_rel_diff": float(np.linalg.norm(a - b) / np.linalg.norm(a)) if a.shape == b.shape else None,
        "psf_similarity_to_truth": float(deconvkit.blind.psf_similarity(a, psf)),
    }
    result["torch_over_numpy"] = result["torch_s"] / result["numpy_s"]
    if args.json:
        print(json.dumps(result))
    else:
        print(f"estimate_psf {result['shape']} size {args.size}, {result['workers']} FFT worker(s), "
              f"median of {args.repeats}")
        print(f"  numpy {result['numpy_s']:.2f} s   torch (CPU) {result['torch_s']:.2f} s   "
              f"torch/numpy {result['torch_over_numpy']:.2f}x")
        print(f"  kernels: relative L2 difference {result['kernel_rel_diff']:.2e}; "
              f"similarity to the true PSF {result['psf_similarity_to_truth']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
