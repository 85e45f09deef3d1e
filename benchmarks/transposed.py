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

Layer types (issue 17), each against ``torch.nn.functional`` in float32, plus the convolution layers of three
real decoders (each layer timed on its own, totals summed): a DCGAN generator (Radford et al. 2016, batch
16), a U-Net decoder (Ronneberger et al. 2015, padded 3x3 convolutions, width 16 at the top, 256x256
output) and a 3-D U-Net decoder (Cicek et al. 2016, width 16, 16^3 output). For every layer the script
prints the algorithm deconvkit chose, both libraries' median wall time and median CPU time (``process_time``:
on a shared machine it excludes the time the process waited for a core), and the ratios.

Usage::

    python benchmarks/transposed.py [--threads 1] [--repeats 7] [--no-naive] [--only layers|networks|decoder]
"""

from __future__ import annotations

import argparse
import os
import sys

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for BLAS and torch")
parser.add_argument("--repeats", type=int, default=7, help="interleaved timing rounds (median reported)")
parser.add_argument("--quick", action="store_true", help="smaller naive references (for a smoke test)")
parser.add_argument("--no-naive", action="store_true", help="skip the naive-loop references")
parser.add_argument("--only", choices=("decoder", "layers", "networks"), help="run one section only")
ARGS = parser.parse_args()
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = str(ARGS.threads)

import ctypes  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import deconvkit.transposed as transposed  # noqa: E402
from deconvkit.transposed import conv_transpose  # noqa: E402
from deconvkit.transposed.arithmetic import geometry  # noqa: E402
from deconvkit.transposed.functional import _choose_conv, _choose_conv_transpose  # noqa: E402

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


def decoder_layers() -> None:
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

        if ARGS.no_naive:
            print(f"{case['name']}: deconvkit {t_ours * 1e3:.1f} ms, torch {t_torch * 1e3:.1f} ms, "
                  f"ratio {t_ours / t_torch:.2f}\n")
            continue
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


# (name, function, input shape, weight shape, keyword arguments)
LAYER_TYPES = [
    ("depthwise conv2d 64ch g64 3x3", "conv2d", (8, 64, 64, 64), (64, 1, 3, 3), dict(padding=1, groups=64)),
    ("depthwise conv_transpose2d g32 k4 s2", "conv_transpose2d", (8, 32, 64, 64), (32, 1, 4, 4),
     dict(stride=2, padding=1, groups=32)),
    ("conv_transpose2d k5 s1 32->32", "conv_transpose2d", (8, 32, 64, 64), (32, 32, 5, 5), dict(padding=2)),
    ("dilated conv2d d2 32->32 3x3", "conv2d", (8, 32, 64, 64), (32, 32, 3, 3), dict(padding=2, dilation=2)),
    ("conv3d 16->16 32^3 k3", "conv3d", (2, 16, 32, 32, 32), (16, 16, 3, 3, 3), dict(padding=1)),
    ("conv_transpose3d 16->16 k4 s2", "conv_transpose3d", (2, 16, 16, 16, 16), (16, 16, 4, 4, 4),
     dict(stride=2, padding=1)),
    ("conv_transpose2d k16 s16 16->8", "conv_transpose2d", (8, 16, 16, 16), (16, 8, 16, 16), dict(stride=16)),
    ("conv_transpose2d k4 s2 p1 64->32", "conv_transpose2d", (8, 64, 64, 64), (64, 32, 4, 4),
     dict(stride=2, padding=1)),
    ("conv_transpose2d k3 s2 p1 op1 64->32", "conv_transpose2d", (8, 64, 64, 64), (64, 32, 3, 3),
     dict(stride=2, padding=1, output_padding=1)),
]


def _unet_decoder(widths, size, ndim, batch):
    """Up-convolution (k2 s2) then two padded 3x3 convolutions per stage; the first sees the skip
    concatenation (2x the channels); a 1x1 head at the end."""
    layers = []
    conv, up = f"conv{ndim}d", f"conv_transpose{ndim}d"
    for stage, (wide, narrow) in enumerate(zip(widths, widths[1:])):
        s = size * 2 ** stage
        layers.append((f"up {wide}->{narrow} k2 s2 @{s}", up, (batch, wide) + (s,) * ndim,
                       (wide, narrow) + (2,) * ndim, dict(stride=2)))
        layers.append((f"conv {wide}->{narrow} 3 @{2 * s}", conv, (batch, wide) + (2 * s,) * ndim,
                       (narrow, wide) + (3,) * ndim, dict(padding=1)))
        layers.append((f"conv {narrow}->{narrow} 3 @{2 * s}", conv, (batch, narrow) + (2 * s,) * ndim,
                       (narrow, narrow) + (3,) * ndim, dict(padding=1)))
    top = size * 2 ** (len(widths) - 1)
    layers.append((f"head {widths[-1]}->2 1x1 @{top}", conv, (batch, widths[-1]) + (top,) * ndim,
                   (2, widths[-1]) + (1,) * ndim, {}))
    return layers


NETWORKS = {
    "DCGAN generator (batch 16, 64x64 output)": [
        ("100->512 k4 s1 @1", "conv_transpose2d", (16, 100, 1, 1), (100, 512, 4, 4), {}),
        ("512->256 k4 s2 p1 @4", "conv_transpose2d", (16, 512, 4, 4), (512, 256, 4, 4), dict(stride=2, padding=1)),
        ("256->128 k4 s2 p1 @8", "conv_transpose2d", (16, 256, 8, 8), (256, 128, 4, 4), dict(stride=2, padding=1)),
        ("128->64 k4 s2 p1 @16", "conv_transpose2d", (16, 128, 16, 16), (128, 64, 4, 4), dict(stride=2, padding=1)),
        ("64->3 k4 s2 p1 @32", "conv_transpose2d", (16, 64, 32, 32), (64, 3, 4, 4), dict(stride=2, padding=1)),
    ],
    "U-Net decoder (batch 1, widths 256..16, 256x256 output)": _unet_decoder((256, 128, 64, 32, 16), 16, 2, 1),
    "3-D U-Net decoder (batch 1, widths 128..32, 16^3 output)": _unet_decoder((128, 64, 32), 4, 3, 1),
}


def algorithm(function, x_shape, weight_shape, kwargs) -> str:
    ndim = len(weight_shape) - 2
    kernel = weight_shape[2:]
    groups = kwargs.get("groups", 1)
    weight = np.empty(weight_shape, np.float32)
    if function.startswith("conv_transpose"):
        geo = geometry(ndim, kernel, kwargs.get("stride", 1), kwargs.get("padding", 0), kwargs.get("dilation", 1),
                       transposed=True)
        return _choose_conv_transpose(weight, geo, groups, int(np.prod(x_shape[2:])))
    geo = geometry(ndim, kernel, kwargs.get("stride", 1), kwargs.get("padding", 0), kwargs.get("dilation", 1))
    return _choose_conv(weight, geo, groups)


def time_layer(function, x_shape, w_shape, kwargs, rng):
    x = rng.standard_normal(x_shape).astype(np.float32)
    weight = (rng.standard_normal(w_shape) * 0.05).astype(np.float32)
    x_t, w_t = torch.from_numpy(x), torch.from_numpy(weight)

    def ours():
        return getattr(transposed, function)(x, weight, **kwargs)

    def theirs():
        with torch.no_grad():
            return getattr(torch.nn.functional, function)(x_t, w_t, **kwargs)

    out, reference = ours(), theirs().numpy()   # warm-up and check
    error = float(np.abs(out - reference).max() / max(np.abs(reference).max(), 1e-30))
    walls = {"ours": [], "torch": []}
    cpus = {"ours": [], "torch": []}
    for round_ in range(ARGS.repeats):
        order = [("ours", ours), ("torch", theirs)]
        for key, function_ in (order if round_ % 2 == 0 else order[::-1]):
            wall, cpu = time.perf_counter(), time.process_time()
            function_()
            cpus[key].append(time.process_time() - cpu)
            walls[key].append(time.perf_counter() - wall)
    med = {k: float(np.median(v)) for k, v in walls.items()}
    cpu_med = {k: float(np.median(v)) for k, v in cpus.items()}
    return med, cpu_med, error


def table(title, layers, rng) -> tuple[float, float, float, float]:
    print(f"### {title}\n")
    print("| layer | input | algorithm | deconvkit ms (CPU) | torch ms (CPU) | ratio wall | ratio CPU | "
          "max rel. diff |")
    print("|---|---|---|---|---|---|---|---|")
    totals = [0.0, 0.0, 0.0, 0.0]
    for name, function, x_shape, w_shape, kwargs in layers:
        wall, cpu, error = time_layer(function, x_shape, w_shape, kwargs, rng)
        totals = [totals[0] + wall["ours"], totals[1] + wall["torch"], totals[2] + cpu["ours"],
                  totals[3] + cpu["torch"]]
        print(f"| {name} | {'x'.join(map(str, x_shape))} | {algorithm(function, x_shape, w_shape, kwargs)} | "
              f"{wall['ours'] * 1e3:.1f} ({cpu['ours'] * 1e3:.1f}) | {wall['torch'] * 1e3:.1f} "
              f"({cpu['torch'] * 1e3:.1f}) | {wall['ours'] / wall['torch']:.2f} | {cpu['ours'] / cpu['torch']:.2f} | "
              f"{error:.1e} |", flush=True)
    print()
    return tuple(totals)


def main() -> int:
    print(f"threads: numpy BLAS {blas_threads()}, torch {torch.get_num_threads()} "
          f"(requested {ARGS.threads}); cpu_count {os.cpu_count()}")
    print(f"numpy {np.__version__}, torch {torch.__version__}, python {sys.version.split()[0]}; "
          f"medians of {ARGS.repeats} alternating rounds\n")
    if ARGS.only in (None, "decoder"):
        decoder_layers()
    rng = np.random.default_rng(1)
    if ARGS.only in (None, "layers"):
        table("Layer types (float32)", LAYER_TYPES, rng)
    if ARGS.only in (None, "networks"):
        summary = []
        for title, layers in NETWORKS.items():
            summary.append((title, table(title, layers, rng)))
        print("| network (all conv layers) | deconvkit ms (CPU) | torch ms (CPU) | ratio wall | ratio CPU |")
        print("|---|---|---|---|---|")
        for title, (ow, tw, oc, tc) in summary:
            print(f"| {title} | {ow * 1e3:.1f} ({oc * 1e3:.1f}) | {tw * 1e3:.1f} ({tc * 1e3:.1f}) | {ow / tw:.2f} | "
                  f"{oc / tc:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
