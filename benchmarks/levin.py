"""Levin et al. 2009 benchmark: non-blind deconvolution of the 32 real captures with the true PSFs.

Every registered deconvkit method (``deconvkit.solvers.available_methods()``, ``auto`` included) runs beside
three peers, all with parameters fixed in advance or chosen from the blurred image alone (never from the
sharp image):

* ``skimage_wiener``: ``skimage.restoration.wiener(y, psf, balance=0.01)`` (a fixed balance; the
  function's own Laplacian regulariser, periodic boundary);
* ``skimage_rl``: ``skimage.restoration.richardson_lucy(y, psf, num_iter=30)`` (a fixed iteration count,
  scikit-image's documented default is 50; 30 is a common choice for mildly noisy 8-bit photos);
* ``opencv_wiener``: the classic OpenCV DFT recipe, symmetric padding by the PSF size, ``cv2.dft``,
  ``conj(H) / (|H|^2 + NSR)`` with NSR 0.01, crop.

Scoring follows the Levin protocol (``../shared/data/levin09/README.md``): crop 15 px, best sub-pixel shift
within +-5 px in 0.25 px steps (bilinear), PSNR (peak 1) and SSIM on the aligned crop. It uses
``deconvkit.metrics.levin_score`` when that exists, else the local implementation below.

Usage::

    python benchmarks/levin.py                       # everything, averages
    python benchmarks/levin.py --methods auto,hyper_laplacian --per-image
    python benchmarks/levin.py --quick --json out.json   # 8 captures (one per PSF) while iterating
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import deconvkit
from deconvkit.solvers import available_methods

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "levin09"


# --- scoring ---------------------------------------------------------------------------------------------
def _bilinear_window(image, top, left, shape):
    """``image`` sampled at ``(top + i, left + j)`` for a fractional offset (bilinear)."""
    ti, li = int(np.floor(top)), int(np.floor(left))
    ft, fl = top - ti, left - li
    h, w = shape
    a = image[ti:ti + h, li:li + w]
    b = image[ti:ti + h, li + 1:li + 1 + w]
    c = image[ti + 1:ti + 1 + h, li:li + w]
    d = image[ti + 1:ti + 1 + h, li + 1:li + 1 + w]
    return (1 - ft) * ((1 - fl) * a + fl * b) + ft * ((1 - fl) * c + fl * d)


def local_levin_score(restored, sharp, crop=15, maxshift=5, step=0.25):
    """Levin protocol: returns ``(psnr, ssim, (dy, dx))``.

    The shift search is coarse to fine (every integer shift within ``maxshift``, then ``step`` steps
    within +-1 px of the best one), which finds the same optimum as the full grid on these smooth error
    surfaces at a twentieth of the cost.
    """
    from skimage.metrics import structural_similarity

    restored = np.asarray(restored, dtype=np.float64)
    sharp = np.asarray(sharp, dtype=np.float64)
    h, w = sharp.shape[0] - 2 * crop, sharp.shape[1] - 2 * crop
    reference = sharp[crop:crop + h, crop:crop + w]
    margin = maxshift + 2
    padded = np.pad(restored, margin, mode="edge")

    def ssd(dy, dx):
        window = _bilinear_window(padded, crop + margin + dy, crop + margin + dx, (h, w))
        return float(np.sum((window - reference) ** 2)), window

    best = min((ssd(dy, dx)[0], dy, dx) for dy in range(-maxshift, maxshift + 1)
                for dx in range(-maxshift, maxshift + 1))
    fine = np.arange(-1, 1 + 1e-9, step)
    best = min((ssd(best[1] + a, best[2] + b)[0], best[1] + a, best[2] + b) for a in fine for b in fine
                if abs(best[1] + a) <= maxshift and abs(best[2] + b) <= maxshift)
    _, window = ssd(best[1], best[2])
    mse = np.mean((window - reference) ** 2)
    psnr = 10 * np.log10(1.0 / mse)
    ssim = structural_similarity(window, reference, data_range=1.0)
    return float(psnr), float(ssim), (best[1], best[2])


def levin_score(restored, sharp):
    """(psnr, ssim) with the shared implementation when it exists."""
    try:
        from deconvkit.metrics import levin_score as shared_score
    except ImportError:
        shared_score = None
    if shared_score is not None:
        result = shared_score(restored, sharp)
        if isinstance(result, dict):
            return float(result["psnr"]), float(result["ssim"])
        return float(result[0]), float(result[1])
    psnr, ssim, _ = local_levin_score(restored, sharp)
    return psnr, ssim


# --- peers -----------------------------------------------------------------------------------------------
def skimage_wiener(blurred, psf):
    from skimage.restoration import wiener

    return wiener(blurred, psf, balance=0.01)


def skimage_rl(blurred, psf):
    from skimage.restoration import richardson_lucy

    return richardson_lucy(blurred, psf, num_iter=30, clip=False)


def opencv_wiener(blurred, psf, nsr=0.01):
    import cv2

    k = max(psf.shape)
    padded = cv2.copyMakeBorder(blurred.astype(np.float32), k, k, k, k, cv2.BORDER_REFLECT)
    kernel = np.zeros_like(padded)
    kernel[:psf.shape[0], :psf.shape[1]] = psf
    kernel = np.roll(kernel, (-(psf.shape[0] // 2), -(psf.shape[1] // 2)), axis=(0, 1))
    y = cv2.dft(padded, flags=cv2.DFT_COMPLEX_OUTPUT)
    h = cv2.dft(kernel, flags=cv2.DFT_COMPLEX_OUTPUT)
    hc = h[..., 0] - 1j * h[..., 1]
    yc = y[..., 0] + 1j * y[..., 1]
    xc = hc * yc / (np.abs(hc) ** 2 + nsr)
    x = cv2.idft(np.stack([xc.real, xc.imag], -1).astype(np.float32),
                 flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
    return x[k:-k, k:-k].astype(np.float64)


PEERS = {"skimage_wiener": skimage_wiener, "skimage_rl": skimage_rl, "opencv_wiener": opencv_wiener}


# --- driver ----------------------------------------------------------------------------------------------
def load_levin(data_dir: Path, quick: bool):
    import imageio.v3 as iio

    psfs = np.load(data_dir / "psfs.npz")
    cases = []
    for i in range(1, 5):
        sharp = iio.imread(data_dir / "gt" / f"im{i}.png").astype(np.float64) / 255.0
        if sharp.ndim == 3:
            sharp = sharp[..., 0]
        for j in range(1, 9):
            if quick and j != ((i - 1) * 2 + 1) and j != ((i - 1) * 2 + 2):
                continue  # quick: two PSFs per image, each PSF once
            blurred = iio.imread(data_dir / "blurred" / f"im{i}_kernel{j}.png").astype(np.float64) / 255.0
            if blurred.ndim == 3:
                blurred = blurred[..., 0]
            cases.append((f"im{i}_k{j}", sharp, blurred, psfs[f"psf{j}"]))
    return cases


def method_runners(selected):
    runners = {}
    for name in available_methods():
        runners[name] = (lambda m: (lambda y, k: deconvkit.deconvolve(y, k, method=m)))(name)
    runners.update(PEERS)
    if selected:
        unknown = set(selected) - set(runners)
        if unknown:
            raise SystemExit(f"unknown methods {sorted(unknown)}; available: {sorted(runners)}")
        runners = {name: runners[name] for name in selected}
    return runners


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--methods", help="comma-separated subset (deconvkit methods and peers)")
    parser.add_argument("--per-image", action="store_true", help="print every capture's score")
    parser.add_argument("--quick", action="store_true", help="8 captures (each PSF once) instead of 32")
    parser.add_argument("--json", type=Path, help="write all scores to this JSON file")
    parser.add_argument("--figure", type=Path, help="also save a PNG of a crop per method for --figure-case")
    parser.add_argument("--figure-case", default="im2_k4", help="capture shown in --figure (default: im2_k4)")
    args = parser.parse_args(argv)
    if not (args.data / "psfs.npz").exists():
        print(f"Levin data not found at {args.data}", file=sys.stderr)
        return 2
    cases = load_levin(args.data, args.quick)
    runners = method_runners(args.methods.split(",") if args.methods else None)
    results = {name: [] for name in runners}
    crops = {}
    for case, sharp, blurred, psf in cases:
        if args.figure and case == args.figure_case:
            crops["sharp"] = (sharp, None)
            crops["blurred"] = (blurred, None)
        for name, run in runners.items():
            start = time.perf_counter()
            restored = run(blurred, psf)
            elapsed = time.perf_counter() - start
            psnr, ssim = levin_score(restored, sharp)
            if args.figure and case == args.figure_case:
                crops[name] = (restored, psnr)
            results[name].append({"case": case, "psnr": psnr, "ssim": ssim, "time_s": elapsed})
            if args.per_image:
                print(f"{case:10s} {name:18s} {psnr:7.2f} dB  SSIM {ssim:.4f}  {elapsed:6.2f} s", flush=True)
    print(f"\n{len(cases)} captures, true PSFs (Levin protocol: crop 15, shift search +-5 px / 0.25 px)")
    print(f"{'method':20s} {'PSNR dB':>8s} {'SSIM':>7s} {'time s':>8s}")
    summary = {}
    for name, rows in sorted(results.items(), key=lambda item: -np.mean([r["psnr"] for r in item[1]])):
        psnr = float(np.mean([r["psnr"] for r in rows]))
        ssim = float(np.mean([r["ssim"] for r in rows]))
        seconds = float(np.median([r["time_s"] for r in rows]))
        summary[name] = {"psnr": psnr, "ssim": ssim, "median_time_s": seconds}
        print(f"{name:20s} {psnr:8.2f} {ssim:7.4f} {seconds:8.3f}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "per_image": results}, indent=1))
    if args.figure and crops:
        save_figure(args.figure, args.figure_case, crops)
    return 0


def save_figure(path, case, crops, window=(slice(60, 190), slice(60, 190))):
    """One crop per method, best PSNR first (sharp and blurred lead)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = ["sharp", "blurred"] + sorted((k for k in crops if k not in ("sharp", "blurred")),
                                          key=lambda k: -crops[k][1])
    columns = 4
    rows = -(-len(order) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3.2 * rows))
    for ax in axes.ravel():
        ax.axis("off")
    for ax, name in zip(axes.ravel(), order):
        image, score = crops[name]
        ax.imshow(np.clip(image[window], 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name if score is None else f"{name}\n{score:.2f} dB", fontsize=10)
    fig.suptitle(f"Levin et al. 2009 capture {case}, true PSF (crop)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
