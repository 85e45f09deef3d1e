"""Calibrate the final non-blind pass of blind deblurring on synthetic camera shake (never on Levin).

A blind PSF estimate is never exact, and the error of the kernel acts on the restoration like extra,
image-shaped noise: the weight chosen for the estimated sensor noise alone under-regularises. This script
measures by how much, on data disjoint from the Levin evaluation: the calibration images of
``nonblind_sweep.py`` (``chelsea``, ``coffee``, ``rocket``, ``clock``, ``brick``; 256 px grey crops)
blurred (``boundary="valid"``) with random camera-shake trajectories (:func:`shake_kernel`, seeded),
plus Gaussian noise and 8-bit rounding. For each case it estimates the PSF with
``deconvkit.estimate_psf(model="general")`` and restores with ``method="auto"`` at several multiples of
the calibrated TV weight, scoring PSNR on the aligned interior (15-px crop, as the Levin scoring).

Usage::

    python benchmarks/blind_calibrate.py --estimates est.npz          # estimate (slow) and sweep
    python benchmarks/blind_calibrate.py --estimates est.npz --reuse  # sweep cached estimates only
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nonblind_sweep import CALIBRATION_IMAGES, sample_image  # noqa: E402

SCALES = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0)


def shake_kernel(size: int, rng: np.random.Generator, samples: int = 4000) -> np.ndarray:
    """A random camera-shake PSF: a smooth random-walk trajectory (heading that drifts, speed that
    varies) rasterised with bilinear weights onto a ``size x size`` grid, centred on its centroid."""
    heading = rng.uniform(0, 2 * np.pi)
    turn = rng.normal(0, 2.0 / samples ** 0.5, samples).cumsum()  # curvature drifts along the path
    speed = np.exp(rng.normal(0, 0.6 / samples ** 0.5, samples).cumsum())  # the hand slows and speeds
    angle = heading + np.cumsum(turn) * (4.0 / samples)
    path = np.stack([np.cumsum(speed * np.sin(angle)), np.cumsum(speed * np.cos(angle))], axis=1)
    path -= path.mean(axis=0)
    extent = np.abs(path).max()
    path *= rng.uniform(0.35, 0.48) * (size - 1) / max(extent, 1e-12)
    path += size // 2
    kernel = np.zeros((size, size))
    base = np.floor(path).astype(int)
    frac = path - base
    for dy in (0, 1):
        for dx in (0, 1):
            w = (frac[:, 0] if dy else 1 - frac[:, 0]) * (frac[:, 1] if dx else 1 - frac[:, 1])
            np.add.at(kernel, (np.clip(base[:, 0] + dy, 0, size - 1), np.clip(base[:, 1] + dx, 0, size - 1)), w)
    return kernel / kernel.sum()


def cases(noise_levels=(0.005, 0.01), kernels_per_image=4, seed=7):
    """(name, sharp, blurred, true psf) for each calibration image x kernel, noise levels alternating."""
    import deconvkit

    rng = np.random.default_rng(seed)
    out = []
    for image_name in CALIBRATION_IMAGES:
        sharp = sample_image(image_name, 256 + 32)
        for k in range(kernels_per_image):
            size = int(rng.choice([13, 17, 21, 25]))
            psf = shake_kernel(size, rng)
            noise = noise_levels[k % len(noise_levels)]
            blurred = deconvkit.blur(sharp, psf, boundary="valid")
            blurred = blurred + rng.normal(0, noise, blurred.shape)
            blurred = np.round(np.clip(blurred, 0, 1) * 255) / 255
            # the sharp reference for the observed frame: the valid part of the sharp image
            h = size // 2
            reference = sharp[h:sharp.shape[0] - h, h:sharp.shape[1] - h]
            out.append((f"{image_name}_k{k}_s{size}_n{noise}", reference, blurred, psf))
    return out


def main(argv=None):
    import deconvkit
    from deconvkit.metrics import levin_score

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--estimates", required=True, help=".npz cache of estimated PSFs")
    parser.add_argument("--reuse", action="store_true", help="only sweep the PSFs already in --estimates")
    parser.add_argument("--only", nargs="*", help="case-name prefixes to run (e.g. to split over cores)")
    parser.add_argument("--scales", default=",".join(str(s) for s in SCALES))
    parser.add_argument("--json", help="write per-case PSNRs here")
    args = parser.parse_args(argv)
    scales = [float(s) for s in args.scales.split(",")]
    cache = dict(np.load(args.estimates)) if Path(args.estimates).exists() else {}
    rows = []
    for name, reference, blurred, true_psf in cases():
        if args.only and not any(name.startswith(p) for p in args.only):
            continue
        if name not in cache:
            if args.reuse:
                continue
            try:
                cache[name], _ = deconvkit.estimate_psf(blurred, model="general")
            except deconvkit.DeconvkitError as exc:  # e.g. too little structure left: not a calibration case
                print(f"{name}: skipped ({exc})", flush=True)
                continue
            np.savez(args.estimates, **cache)
        row = {"case": name}
        for label, psf in (("blind", cache[name]), ("true", true_psf)):
            for scale in scales:
                restored = deconvkit.deconvolve(blurred, psf, method="auto", weight_rule="calibrated",
                                                lam_scale=scale)
                row[f"{label}_{scale}"] = levin_score(restored, reference).psnr
        rows.append(row)
        print(name, " ".join(f"{k}={v:.2f}" for k, v in row.items() if k != "case"), flush=True)
    for label in ("blind", "true"):
        means = {s: float(np.mean([r[f"{label}_{s}"] for r in rows])) for s in scales}
        best = max(means, key=means.get)
        print(f"{label}: " + "  ".join(f"x{s}: {m:.2f}" for s, m in means.items()) + f"  best x{best}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
