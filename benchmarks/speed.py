"""Speed and memory of deconvkit's FFT-bound solvers against the Python peers, in one process.

For each size (2-D 512^2, 1024^2, 2048^2 and 3-D 64x256x256 by default) every contender runs on the same
float32 input, interleaved (one call of each, repeated), and the median of the repeats is reported:

* Richardson-Lucy, ``ITER`` iterations: ``skimage.restoration.richardson_lucy`` (``clip=False``),
  deconvkit on the NumPy/``scipy.fft`` backend and on the PyTorch CPU backend, and the *FFT floor*: the
  same number of FFT calls alone (2 ``rfftn`` + 2 ``irfftn`` per iteration on deconvkit's FFT domain,
  the same library and thread count). deconvkit's per-iteration time is ``(T(ITER) - T(0)) / ITER``
  (``T(0)``: setup only: validation, noise estimate, boundary extension, OTF).
* Wiener with a given noise-to-signal ratio (0.01): ``skimage.restoration.wiener`` (balance 0.01),
  OpenCV's DFT recipe (``cv2.dft`` with complex output, ``conj(H) / (|H|^2 + NSR)`` built per call,
  ``cv2.mulSpectrums``, ``cv2.idft``, on a symmetric padding by the PSF size; 2-D only) and deconvkit;
  with the parameter chosen automatically: ``skimage.restoration.unsupervised_wiener`` against deconvkit's
  GCV (2-D sizes up to 1024^2: the Gibbs sampler is slow).
* Tikhonov (deconvkit, ``lam`` given, boundary-aware CG) and any other registered solver
  (``deconvkit.solvers.SOLVERS``: TV, hyper-Laplacian...) at default parameters, timed alone (no peer
  solves the same model).
* Peak working memory of Richardson-Lucy (``tracemalloc``: NumPy arrays are traced; FFT libraries'
  internal scratch is not) in units of the input's size ``4N``, for deconvkit and scikit-image.

Thread counts are stated in the output: ``--threads`` sets ``scipy.fft`` workers (deconvkit), OpenCV's and
PyTorch's thread counts; scikit-image's convolutions always run on one thread.

Usage::

    python benchmarks/speed.py --quick            # small sizes, a minute or two
    python benchmarks/speed.py                    # the full table (under ~10 minutes on 2 cores)
    python benchmarks/speed.py --threads 2 --sizes 2048 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc

import numpy as np

import deconvkit
from deconvkit import fft as dkfft
from deconvkit._shared import check_psf
from deconvkit.solvers import SOLVERS
from deconvkit.solvers._base import Problem

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None
try:
    import cv2
except ImportError:  # pragma: no cover
    cv2 = None

WIENER_NSR = 0.01
CORE_METHODS = ("richardson_lucy", "wiener", "tikhonov", "auto")


# --- inputs ------------------------------------------------------------------------------------------
def gaussian_psf(shape, sigma):
    grids = np.meshgrid(*[np.arange(n) - n // 2 for n in shape], indexing="ij")
    psf = np.exp(-0.5 * sum((g / sigma) ** 2 for g in grids))
    return (psf / psf.sum()).astype(np.float32)


def make_input(shape, seed=0):
    """A positive blurred scene with mild noise (the content matters little for timing)."""
    rng = np.random.default_rng(seed)
    psf = gaussian_psf((15, 15) if len(shape) == 2 else (9, 9, 9), 2.5 if len(shape) == 2 else 1.5)
    scene = rng.random(shape, dtype=np.float32) + 0.1
    blurred = deconvkit.blur(scene, psf, boundary="periodic")
    blurred = blurred + rng.normal(0, 0.005, shape).astype(np.float32)
    return np.ascontiguousarray(blurred, dtype=np.float32), psf


def parse_size(text):
    parts = [int(p) for p in text.lower().split("x")]
    return tuple(parts * 2) if len(parts) == 1 else tuple(parts)


# --- contenders --------------------------------------------------------------------------------------
def opencv_wiener(image, psf, nsr):
    """The classic OpenCV DFT Wiener recipe (complex spectra, filter built per call, float32)."""
    kh, kw = psf.shape
    padded = cv2.copyMakeBorder(image, kh, kh, kw, kw, cv2.BORDER_REFLECT)
    rows, cols = cv2.getOptimalDFTSize(padded.shape[0]), cv2.getOptimalDFTSize(padded.shape[1])
    frame = np.zeros((rows, cols), np.float32)
    frame[: padded.shape[0], : padded.shape[1]] = padded
    kernel = np.zeros((rows, cols), np.float32)
    kernel[:kh, :kw] = psf
    kernel = np.roll(kernel, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    spectrum = cv2.dft(frame, flags=cv2.DFT_COMPLEX_OUTPUT)
    otf = cv2.dft(kernel, flags=cv2.DFT_COMPLEX_OUTPUT)
    power = otf[..., 0] ** 2 + otf[..., 1] ** 2 + nsr
    otf /= power[..., None]
    restored = cv2.idft(cv2.mulSpectrums(spectrum, otf, 0, conjB=True),
                        flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
    return restored[kh: kh + image.shape[0], kw: kw + image.shape[1]]


def fft_floor(backend, domain, iterations, channels=1):
    """The FFT calls of ``iterations`` RL iterations alone (2 rfftn + 2 irfftn each), fresh outputs."""
    x = backend.asarray(np.random.default_rng(1).random((channels,) + tuple(domain), dtype=np.float32))

    def run():
        for _ in range(iterations):
            for _ in range(2):
                spectrum = backend.rfftn(x, domain)
                backend.irfftn(spectrum, domain, overwrite=True)
    return run


def set_threads(threads):
    dkfft.set_workers(threads)
    if cv2 is not None:
        cv2.setNumThreads(threads)
    if torch is not None:
        torch.set_num_threads(threads)


def interleaved(contenders, repeats):
    """Median wall time of each callable, calls interleaved so that machine noise hits all alike."""
    times = {name: [] for name in contenders}
    for fn in contenders.values():  # warm-up (plans, caches, imports)
        fn()
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def peak_memory(fn):
    """Peak traced allocation during ``fn()`` (bytes)."""
    dkfft.otf_cache._store.clear()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- one size ----------------------------------------------------------------------------------------
def bench_size(shape, args, report):
    from skimage import restoration

    image, psf = make_input(shape)
    n_bytes = image.nbytes
    label = "x".join(map(str, shape))
    domain = Problem(image[None], check_psf(psf, image.ndim, np.float32), "unknown").domain
    it = args.iterations
    numpy_bk = dkfft.get_backend("numpy")
    rows = {"size": label, "domain": "x".join(map(str, domain)), "threads": args.threads}

    def dk_rl(iterations, backend="numpy"):
        return lambda: deconvkit.deconvolve(image, psf, method="richardson_lucy", iterations=iterations,
                                            backend=backend, noise_sigma=0.005)

    contenders = {
        "skimage_rl": lambda: restoration.richardson_lucy(image, psf, num_iter=it, clip=False),
        "deconvkit_rl": dk_rl(it),
        "deconvkit_rl_setup": dk_rl(0),
        "fft_floor": fft_floor(numpy_bk, domain, it),
    }
    if torch is not None and not args.no_torch:
        contenders["deconvkit_rl_torch"] = dk_rl(it, "torch")
        contenders["deconvkit_rl_torch_setup"] = dk_rl(0, "torch")
        contenders["fft_floor_torch"] = fft_floor(dkfft.get_backend("torch"), domain, it)
        torch_fft = dkfft.NumpyBackend(fft="torch")  # NumPy arrays, PyTorch's FFT
        contenders["deconvkit_rl_torchfft"] = dk_rl(it, torch_fft)
        contenders["deconvkit_rl_torchfft_setup"] = dk_rl(0, torch_fft)
    t = interleaved(contenders, args.repeats)
    per_iter = (t["deconvkit_rl"] - t["deconvkit_rl_setup"]) / it
    rl = {
        "iterations": it,
        "skimage_s": t["skimage_rl"],
        "deconvkit_s": t["deconvkit_rl"],
        "deconvkit_setup_s": t["deconvkit_rl_setup"],
        "skimage_ms_per_iter": 1e3 * t["skimage_rl"] / it,
        "deconvkit_ms_per_iter": 1e3 * per_iter,
        "fft_floor_ms_per_iter": 1e3 * t["fft_floor"] / it,
        "speedup_vs_skimage_total": t["skimage_rl"] / t["deconvkit_rl"],
        "speedup_vs_skimage_per_iter": (t["skimage_rl"] / it) / per_iter,
        "ratio_to_fft_floor": per_iter / (t["fft_floor"] / it),
    }
    if "deconvkit_rl_torch" in t:
        torch_iter = (t["deconvkit_rl_torch"] - t["deconvkit_rl_torch_setup"]) / it
        rl.update(torch_s=t["deconvkit_rl_torch"], torch_ms_per_iter=1e3 * torch_iter,
                  torch_fft_floor_ms_per_iter=1e3 * t["fft_floor_torch"] / it,
                  torch_ratio_to_fft_floor=torch_iter / (t["fft_floor_torch"] / it))
        engine_iter = (t["deconvkit_rl_torchfft"] - t["deconvkit_rl_torchfft_setup"]) / it
        rl.update(numpy_torchfft_s=t["deconvkit_rl_torchfft"], numpy_torchfft_ms_per_iter=1e3 * engine_iter,
                  numpy_torchfft_speedup_vs_skimage_total=t["skimage_rl"] / t["deconvkit_rl_torchfft"])
    if not args.no_memory:
        rl["deconvkit_peak_x4N"] = peak_memory(dk_rl(it)) / n_bytes
        rl["deconvkit_peak_loop_x4N"] = peak_memory(
            lambda: deconvkit.deconvolve(image, psf, method="richardson_lucy", iterations=it, x0=0.5,
                                         noise_sigma=0.005)) / n_bytes
        rl["skimage_peak_x4N"] = peak_memory(contenders["skimage_rl"]) / n_bytes
    rows["richardson_lucy"] = rl
    report(label, "richardson_lucy", rl)

    # Wiener, given NSR
    contenders = {
        "skimage_wiener": lambda: restoration.wiener(image, psf, balance=WIENER_NSR, clip=False),
        "deconvkit_wiener": lambda: deconvkit.deconvolve(image, psf, method="wiener", nsr=WIENER_NSR),
    }
    if cv2 is not None and image.ndim == 2:
        contenders["opencv_wiener"] = lambda: opencv_wiener(image, psf, WIENER_NSR)
    if torch is not None and not args.no_torch:
        contenders["deconvkit_wiener_torch"] = lambda: deconvkit.deconvolve(
            image, psf, method="wiener", nsr=WIENER_NSR, backend="torch")
    t = interleaved(contenders, args.repeats)
    wiener = {k + "_s": v for k, v in t.items()}
    if "opencv_wiener" in t:
        wiener["deconvkit_over_opencv"] = t["deconvkit_wiener"] / t["opencv_wiener"]
    wiener["skimage_over_deconvkit"] = t["skimage_wiener"] / t["deconvkit_wiener"]
    rows["wiener"] = wiener
    report(label, "wiener (nsr given)", wiener)

    # parameter chosen from the data
    auto = {"deconvkit_wiener_gcv": lambda: deconvkit.deconvolve(image, psf, method="wiener")}
    if image.ndim == 2 and np.prod(shape) <= args.unsupervised_max ** 2:
        rng = np.random.default_rng(0)
        auto["skimage_unsupervised_wiener"] = lambda: restoration.unsupervised_wiener(
            image, psf, clip=False, rng=rng)
    t = interleaved(auto, max(3, args.repeats // 2) if len(auto) > 1 else args.repeats)
    rows["wiener_auto"] = {k + "_s": v for k, v in t.items()}
    report(label, "wiener (parameter from data)", rows["wiener_auto"])

    # Tikhonov and the other registered solvers, alone
    others = {}
    for name in sorted(SOLVERS):
        if name in ("richardson_lucy", "wiener", "auto"):
            continue
        params = {"lam": 1e-3} if name == "tikhonov" else {}
        if np.prod(shape) > args.others_max ** 2 and name != "tikhonov":
            continue

        def run(name=name, params=params):
            return deconvkit.deconvolve(image, psf, method=name, noise_sigma=0.005, return_info=True,
                                        **params)
        start = time.perf_counter()
        _, info = run()
        first = time.perf_counter() - start
        repeats = args.repeats if first < 5 else 1
        times = [first]
        for _ in range(repeats - 1):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        others[name] = {"s": statistics.median(times), "repeats": len(times),
                        "iterations": info.get("iterations")}
    rows["others"] = others
    report(label, "other solvers (alone)", others)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 5 repeats, 5 iterations")
    parser.add_argument("--sizes", nargs="+", default=None,
                        help="sizes like 512 (square) or 64x256x256 (default: 512 1024 2048 64x256x256)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per contender (>= 5)")
    parser.add_argument("--iterations", type=int, default=None, help="RL iterations (default 10)")
    parser.add_argument("--threads", type=int, default=1, help="FFT / OpenCV / PyTorch threads (default 1)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch CPU backend")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc peak measurement")
    parser.add_argument("--unsupervised-max", type=int, default=1024,
                        help="largest 2-D image (pixels = this squared) for skimage's unsupervised_wiener")
    parser.add_argument("--others-max", type=int, default=1024,
                        help="largest image (pixels = this squared) for the solvers timed alone (TV, ...)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = args.sizes or ["256", "512", "16x96x96"]
        args.repeats = args.repeats or 5
        args.iterations = args.iterations or 5
        args.unsupervised_max = min(args.unsupervised_max, 256)
        args.others_max = min(args.others_max, 256)
    args.sizes = args.sizes or ["512", "1024", "2048", "64x256x256"]
    args.repeats = max(args.repeats or 5, 5)
    args.iterations = args.iterations or 10
    set_threads(args.threads)

    machine = {"python": sys.version.split()[0], "platform": platform.platform(),
               "cpu_count": os.cpu_count(), "numpy": np.__version__,
               "deconvkit_fft_workers": dkfft.NumpyBackend().workers,
               "torch_threads": torch.get_num_threads() if torch is not None else None,
               "opencv_threads": cv2.getNumThreads() if cv2 is not None else None,
               "load_average": os.getloadavg()}
    print("# machine:", json.dumps(machine))
    print(f"# threads: {args.threads} (scipy.fft workers, OpenCV, PyTorch); scikit-image: 1; "
          f"repeats: {args.repeats} (medians), RL iterations: {args.iterations}")

    def report(size, what, values):
        cells = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        print(f"{size:>12} | {what}: {cells}", flush=True)

    results = {"machine": machine, "args": vars(args), "sizes": []}
    for size in args.sizes:
        results["sizes"].append(bench_size(parse_size(size), args, report))
    results["machine"]["load_average_end"] = os.getloadavg()
    print("# load average at the end:", os.getloadavg())
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
