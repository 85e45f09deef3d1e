"""Benchmark deconvkit.transposed.conv_transpose (NumPy) against PyTorch CPU and naive scatter loops.

Typical decoder (upsampling) layers, float32, N=8, 64 -> 32 channels, 64x64 -> 128x128:

* k=4, s=2, p=1                (the DCGAN / U-Net "deconvolution")
* k=3, s=2, p=1, output_padding=1

Both libraries get the same number of threads: NumPy's BLAS through OPENBLAS_NUM_THREADS /
OMP_NUM_THREADS / MKL_NUM_THREADS (set below, before NumPy is imported) and ``torch.set_num_threads``. The
two are timed alternately (interleaved, first runner alternating) and medians reported, because the machine
may be shared. Naive references:

* ``scalar scatter``: a Python loop over every input element (n, c_in, y, x) adding ``x * w[c_in]`` into the
  output -- the textbook definition. Far too slow at full size, so it is timed at two reduced input sizes,
  checked to scale linearly with the number of input elements, and extrapolated.
* ``pixel scatter``: a Python loop over input pixels (y, x) only, the batch and channels vectorised (one
  small matrix product per pixel). Timed at full size.

Usage::

    python benchmarks/transposed.py [--threads 2] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import sys

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for BLAS and torch")
parser.add_argument("--repeats", type=int, default=7, help="interleaved timing rounds (median reported)")
parser.add_argument("--quick", action="store_true", help="smaller naive references (for a smoke test)")
ARGS = parser.parse_args()
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = str(ARGS.threads)

import ctypes  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from deconvkit.transposed import conv_transpose  # noqa: E402

torch.set_num_threads(ARGS.threads)

CASES = [
    dict(name="k=4 s=2 p=1", kernel=4, stride=2, padding=1, output_padding=0),
    dict(name="k=3 s=2 p=1 op=1", kernel=3, stride=2, padding=1, output_padding=1),
]
BATCH, C_IN, C_OUT, SIZE = 8, 64, 32, 64


def blas_threads() -> str:
    """Ask the OpenBLAS that NumPy loaded how many threads it uses (best effort, via /proc/self/maps)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return "unknown"
    for path in sorted(paths):
        library = ctypes.CDLL(path)
        for symbol in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                       "openblas_get_num_threads"):
            function = getattr(library, symbol, None)
            if function is not None:
                return f"{function()} (OpenBLAS, {os.path.basename(path)})"
    return "unknown"


def naive_scalar_scatter(x, weight, stride, padding, output_padding):
    n_batch, in_channels, height, width = x.shape
    k = weight.shape[-1]
    full = [(n - 1) * stride + k + output_padding for n in (height, width)]
    out = np.zeros((n_batch, weight.shape[1], *full), dtype=x.dtype)
    for n in range(n_batch):
        for c in range(in_channels):
            for i in range(height):
                for j in range(width):
                    out[n, :, i * stride:i * stride + k, j * stride:j * stride + k] += x[n, c, i, j] * weight[c]
    return out[:, :, padding:full[0] - padding, padding:full[1] - padding]


def naive_pixel_scatter(x, weight, stride, padding, output_padding):
    n_batch, in_channels, height, width = x.shape
    k = weight.shape[-1]
    full = [(n - 1) * stride + k + output_padding for n in (height, width)]
    out = np.zeros((n_batch, weight.shape[1], *full), dtype=x.dtype)
    matrix = weight.reshape(in_channels, -1)
    for i in range(height):
        for j in range(width):
            block = (x[:, :, i, j] @ matrix).reshape(n_batch, weight.shape[1], k, k)
            out[:, :, i * stride:i * stride + k, j * stride:j * stride + k] += block
    return out[:, :, padding:full[0] - padding, padding:full[1] - padding]


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> int:
    print(f"threads: numpy BLAS {blas_threads()}, torch {torch.get_num_threads()} "
          f"(requested {ARGS.threads}); cpu_count {os.cpu_count()}")
    print(f"numpy {np.__version__}, torch {torch.__version__}, python {sys.version.split()[0]}")
    print(f"float32, N={BATCH}, {C_IN}->{C_OUT} channels, {SIZE}x{SIZE} input; median of {ARGS.repeats} "
          "interleaved rounds\n")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, C_IN, SIZE, SIZE)).astype(np.float32)
    rows = []
    for case in CASES:
        k, s, p, op = case["kernel"], case["stride"], case["padding"], case["output_padding"]
        weight = (rng.standard_normal((C_IN, C_OUT, k, k)) * 0.05).astype(np.float32)
        x_t, w_t = torch.from_numpy(x), torch.from_numpy(weight)
        args = dict(stride=s, padding=p, output_padding=op)

        def ours():
            return conv_transpose(x, weight, **args)

        def theirs():
            with torch.no_grad():
                return torch.nn.functional.conv_transpose2d(x_t, w_t, **args)

        ours(), theirs()  # warm-up (allocations, torch's kernel selection)
        ours_times, torch_times = [], []
        for round_ in range(ARGS.repeats):
            order = [(ours, ours_times), (theirs, torch_times)]
            for function, store in (order if round_ % 2 == 0 else order[::-1]):
                seconds, result = timed(function)
                store.append(seconds)
        out, reference = ours(), theirs().numpy()
        error = np.abs(out - reference).max() / np.abs(reference).max()
        t_ours, t_torch = float(np.median(ours_times)), float(np.median(torch_times))

        pixel_seconds, pixel_out = timed(lambda: naive_pixel_scatter(x, weight, s, p, op))
        assert np.allclose(pixel_out, reference, atol=1e-4 * np.abs(reference).max())

        # scalar scatter: two reduced sizes (batch 1, all channels), linear in the number of input elements
        sizes = (4, 8) if ARGS.quick else (8, 16)
        per_element = []
        for size in sizes:
            small = x[:1, :, :size, :size]
            seconds, small_out = timed(lambda: naive_scalar_scatter(small, weight, s, p, op))
            expected = conv_transpose(small, weight, **args)
            assert np.allclose(small_out, expected, atol=1e-4 * np.abs(expected).max())
            per_element.append(seconds / small.size)
        scalar_seconds = per_element[-1] * x.size
        rows.append((case["name"], t_ours, t_torch, pixel_seconds, scalar_seconds, per_element, error))
        print(f"{case['name']}: output {tuple(out.shape)}, max relative difference to torch {error:.2e}")
        print(f"  deconvkit (NumPy)   {t_ours * 1e3:9.1f} ms")
        print(f"  PyTorch CPU         {t_torch * 1e3:9.1f} ms   deconvkit / torch = {t_ours / t_torch:.2f}x")
        print(f"  naive pixel loop    {pixel_seconds * 1e3:9.1f} ms   speed-up {pixel_seconds / t_ours:.1f}x "
              "(timed at full size)")
        print(f"  naive scalar loop   {scalar_seconds * 1e3:9.1f} ms   speed-up {scalar_seconds / t_ours:.0f}x "
              f"(extrapolated; per-element cost {per_element[0] * 1e6:.2f} us at {sizes[0]}x{sizes[0]}, "
              f"{per_element[1] * 1e6:.2f} us at {sizes[1]}x{sizes[1]})\n")
    print("| layer | deconvkit ms | torch ms | deconvkit/torch | naive pixel loop ms (x) | "
          "naive scalar loop ms, extrapolated (x) |")
    print("|---|---|---|---|---|---|")
    for name, t_ours, t_torch, pixel, scalar, _, _ in rows:
        print(f"| {name} | {t_ours * 1e3:.1f} | {t_torch * 1e3:.1f} | {t_ours / t_torch:.2f} | "
              f"{pixel * 1e3:.0f} ({pixel / t_ours:.1f}x) | {scalar * 1e3:.0f} ({scalar / t_ours:.0f}x) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
