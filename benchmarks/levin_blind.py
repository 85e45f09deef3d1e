"""Blind deconvolution on the Levin et al. (2009) real camera-shake captures.

For each of the 32 blurred images: estimate the PSF and restore with :func:`deconvkit.deblur` (what
``deconvkit deblur`` runs: ``method="auto"`` with the blind weight factor), and restore again with the
*true* PSF and :func:`deconvkit.deconvolve` (``method="auto"``, the best non-blind result). Both are
scored against the sharp image as ``../shared/data/levin09/README.md`` says (15-px border crop, best
sub-pixel shift within +-5 px, PSNR and SSIM); the error ratio is
``||x_blind - x|| / ||x_truePSF - x||``.

Run (one core, as the timing target says)::

    OMP_NUM_THREADS=1 DECONVKIT_WORKERS=1 taskset -c 0 python benchmarks/levin_blind.py [--images 1_1 2_3] [--json]
    python benchmarks/levin_blind.py --save est.npz --figure docs/img/levin_blind_psfs.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

LEVIN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "levin09"


def _score(restored, sharp):
    from deconvkit.metrics import levin_score

    result = levin_score(restored, sharp)
    return {"psnr": result.psnr, "ssim": result.ssim, "error": float(np.sqrt(result.ssd))}


def main(argv=None):
    import imageio.v3 as iio

    import deconvkit

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", nargs="*", help="subset like 1_1 4_8 (image_kernel); default all 32")
    parser.add_argument("--model", default="general", help="estimate_psf model (default general)")
    parser.add_argument("--size", type=int, default=None, help="kernel size (default: automatic)")
    parser.add_argument("--method", default="auto", help="non-blind method for both restorations")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.add_argument("--save", help="save estimated PSFs to this .npz")
    parser.add_argument("--figure", help="save a PNG of every estimated PSF beside the true one")
    parser.add_argument("--from-npz", nargs="*", default=None,
                        help="with --figure: only draw the figure from PSFs saved earlier with --save")
    args = parser.parse_args(argv)
    if not (LEVIN / "psfs.npz").exists():
        print(f"Levin data not found at {LEVIN}", file=sys.stderr)
        return 1
    true_psfs = np.load(LEVIN / "psfs.npz")
    if args.figure and args.from_npz:
        estimates = {}
        for path in args.from_npz:
            estimates.update(np.load(path))
        save_psf_figure(args.figure, estimates, true_psfs)
        return 0
    pairs = [(i, j) for i in range(1, 5) for j in range(1, 9)]
    if args.images:
        pairs = [tuple(int(v) for v in name.split("_")) for name in args.images]
    rows, estimates = [], {}
    for i, j in pairs:
        sharp = iio.imread(LEVIN / "gt" / f"im{i}.png").astype(np.float64) / 255.0
        blurred = iio.imread(LEVIN / "blurred" / f"im{i}_kernel{j}.png").astype(np.float64) / 255.0
        true_psf = true_psfs[f"psf{j}"]
        start = time.perf_counter()
        result = deconvkit.deblur(blurred, psf_model=args.model, psf_size=args.size, method=args.method)
        restored, psf, info = result.image, result.psf, result.params["psf"]
        elapsed = time.perf_counter() - start
        reference = deconvkit.deconvolve(blurred, true_psf, method=args.method)
        blind = _score(restored, sharp)
        oracle = _score(reference, sharp)
        row = {"image": f"{i}_{j}", "psnr": blind["psnr"], "ssim": blind["ssim"],
               "true_psf_psnr": oracle["psnr"], "true_psf_ssim": oracle["ssim"],
               "error_ratio": blind["error"] / oracle["error"], "time_s": elapsed,
               "model": info.get("model"), "size": int(psf.shape[0])}
        rows.append(row)
        estimates[f"im{i}_kernel{j}"] = psf
        if not args.json:
            print(f"{row['image']:>5}  blind {row['psnr']:6.2f} dB  SSIM {row['ssim']:.3f}  "
                  f"true-PSF {row['true_psf_psnr']:6.2f} dB  ratio {row['error_ratio']:5.2f}  "
                  f"{row['time_s']:5.1f} s  size {row['size']}", flush=True)
    summary = {
        "images": len(rows),
        "mean_psnr": float(np.mean([r["psnr"] for r in rows])),
        "mean_ssim": float(np.mean([r["ssim"] for r in rows])),
        "mean_true_psf_psnr": float(np.mean([r["true_psf_psnr"] for r in rows])),
        "mean_error_ratio": float(np.mean([r["error_ratio"] for r in rows])),
        "ratio_le_2": int(sum(r["error_ratio"] <= 2 for r in rows)),
        "ratio_le_3": int(sum(r["error_ratio"] <= 3 for r in rows)),
        "mean_time_s": float(np.mean([r["time_s"] for r in rows])),
        "max_time_s": float(np.max([r["time_s"] for r in rows])),
    }
    if args.save:
        np.savez(args.save, **estimates)
    if args.figure:
        save_psf_figure(args.figure, estimates, true_psfs)
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary}, indent=1))
    else:
        print(f"mean: blind {summary['mean_psnr']:.2f} dB (SSIM {summary['mean_ssim']:.3f}), true PSF "
              f"{summary['mean_true_psf_psnr']:.2f} dB, error ratio {summary['mean_error_ratio']:.2f}, "
              f"ratio<=2 on {summary['ratio_le_2']}/{summary['images']}, <=3 on {summary['ratio_le_3']}, "
              f"time {summary['mean_time_s']:.1f} s (max {summary['max_time_s']:.1f})")
    return 0


def save_psf_figure(path, estimates, true_psfs):
    """One row per sharp image, one column per kernel: the estimate, and the true PSF in the first row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = sorted({int(name[2]) for name in estimates})
    fig, axes = plt.subplots(len(images) + 1, 8, figsize=(8 * 1.2, (len(images) + 1) * 1.3))
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    for j in range(1, 9):
        true = true_psfs[f"psf{j}"]
        axes[0, j - 1].imshow(true / true.max(), cmap="gray", interpolation="nearest")
        axes[0, j - 1].set_title(f"true k{j}", fontsize=8)
        for row, i in enumerate(images, start=1):
            estimate = estimates.get(f"im{i}_kernel{j}")
            if estimate is not None:
                axes[row, j - 1].imshow(estimate / estimate.max(), cmap="gray", interpolation="nearest")
            if j == 1:
                axes[row, 0].set_ylabel(f"im{i}", fontsize=8)
    fig.suptitle("Levin et al. 2009: true PSFs (top) and deconvkit's blind estimates", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
