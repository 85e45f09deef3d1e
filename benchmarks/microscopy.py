"""Microscopy benchmark: synthetic 3-D phantoms, a widefield PSF at anisotropic spacing, Poisson noise.

Two phantoms (sub-resolution beads; a filament network like microtubules) are blurred with the Born-Wolf
widefield PSF (NA 1.4, 520 nm, oil) at 0.2 x 0.065 x 0.065 um, scaled to a peak of ``P`` photons in the
blurred image, Poisson-sampled, and recorded by an sCMOS-like camera (offset 100 counts, read noise 1.5 e-,
gain 1). Methods, all with the true PSF:

* ``poisson_rl``: deconvkit's offset-aware RL on the raw counts, ``background=100``, gain and read noise
  estimated from the data, no iteration count (Poisson discrepancy / plateau rule);
* ``richardson_lucy``: deconvkit's RL on ``clip(y - 100, 0)`` with its default discrepancy stop;
* ``auto``: deconvkit's automatic method on ``(y - 100) / max`` (its defaults assume data in about [0, 1]);
* ``skimage_rl_oracle``: ``skimage.restoration.richardson_lucy`` on ``clip(y - 100, 0)`` (scaled to [0, 1]),
  at the iteration count from ``--oracle-grid`` that maximises PSNR against the ground truth (an upper bound
  no real user gets). The grid is walked in one run of scikit-image's loop (:func:`skimage_rl_path`, its
  code reproduced so each count needs no restart; checked equal to scikit-image at the first count in every
  case), and stops two counts after the PSNR has peaked.

Scores against the ground truth in photons: PSNR (peak = the truth's maximum), SSIM (scikit-image, 3-D) and,
for the beads, the median lateral (x) and axial (z) FWHM over the beads, in micrometres, from the 1-D
profiles through each bead's brightest voxel (the true beads are 1 voxel; the blurred FWHM is the PSF's).

Usage::

    OMP_NUM_THREADS=1 DECONVKIT_WORKERS=1 python benchmarks/microscopy.py
    python benchmarks/microscopy.py --shape 16,64,64 --photons 100 --oracle-grid 5,20   # quick
    ... --phantoms beads     # one phantom per process (run two at once on two cores; same data as together)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.ndimage
import scipy.signal
from scipy.signal import convolve  # what skimage.restoration.richardson_lucy convolves with
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.restoration import richardson_lucy as skimage_rl

import deconvkit
from deconvkit import psf

SPACING = (0.2, 0.065, 0.065)
OFFSET, READ = 100.0, 1.5


def beads(rng, shape, count=40):
    """Single-voxel beads (sub-resolution: 65 nm < the 190 nm lateral FWHM), kept 8 voxels from the
    edges and 10 voxels apart, with brightness varying 0.5-1."""
    truth = np.zeros(shape)
    positions = []
    margin = np.array([6, 12, 12])
    for _ in range(100 * count):  # rejection sampling; a small volume holds fewer beads
        if len(positions) == count:
            break
        p = rng.integers(margin, np.array(shape) - margin)
        if all(np.abs(p - q).max() >= 10 for q in positions):
            positions.append(p)
            truth[tuple(p)] = rng.uniform(0.5, 1.0)
    return truth, np.array(positions)


def filaments(rng, shape, count=12):
    """Random smooth 3-D curves (persistent random walks) drawn one voxel wide, like microtubules."""
    truth = np.zeros(shape)
    for _ in range(count):
        point = rng.uniform([4, 8, 8], np.array(shape) - [4, 8, 8])
        direction = rng.normal(size=3) * [0.2, 1, 1]
        direction /= np.linalg.norm(direction)
        for _ in range(4 * max(shape)):
            direction += rng.normal(scale=0.08, size=3) * [0.2, 1, 1]
            direction /= np.linalg.norm(direction)
            point = point + 0.5 * direction
            index = np.round(point).astype(int)
            if np.any(index < 1) or np.any(index >= np.array(shape) - 1):
                break
            truth[tuple(index)] = 1.0
    return truth


def fwhm_1d(profile, step):
    p = profile - profile.min()
    if p.max() <= 0:
        return float("nan")
    p = p / p.max()
    c = int(np.argmax(p))
    r = c
    while r < len(p) - 1 and p[r] >= 0.5:
        r += 1
    left = c
    while left > 0 and p[left] >= 0.5:
        left -= 1
    if p[r] >= 0.5 or p[left] >= 0.5:
        return float("nan")
    right = r - 1 + (p[r - 1] - 0.5) / (p[r - 1] - p[r])
    lo = left + 1 - (p[left + 1] - 0.5) / (p[left + 1] - p[left])
    return (right - lo) * step


def bead_fwhm(volume, positions):
    """Median (lateral x, axial z) FWHM in um through each bead's brightest voxel within +-2 voxels."""
    lateral, axial = [], []
    for p in positions:
        z0, y0, x0 = p
        window = volume[z0 - 2:z0 + 3, y0 - 2:y0 + 3, x0 - 2:x0 + 3]
        dz, dy, dx = np.unravel_index(np.argmax(window), window.shape)
        z, y, x = z0 - 2 + dz, y0 - 2 + dy, x0 - 2 + dx
        lateral.append(fwhm_1d(volume[z, y, x - 8:x + 9], SPACING[2]))
        axial.append(fwhm_1d(volume[max(z - 6, 0):z + 7, y, x], SPACING[0]))
    return float(np.nanmedian(lateral)), float(np.nanmedian(axial))


def skimage_rl_path(image, psf, counts):
    """``{n: skimage.restoration.richardson_lucy(image, psf, num_iter=n, clip=False) for n in counts}`` from
    one run: scikit-image's loop (0.25/0.26, ``filter_epsilon=None``) line by line, copied at each count.

    scikit-image has no warm start, so a grid 5..320 would cost 635 iterations instead of 320. ``main``
    checks the first count against scikit-image itself, so a change in its algorithm cannot go unnoticed.
    """
    image = image.astype(float, copy=False)
    estimate = np.full(image.shape, 0.5)
    mirror = np.flip(psf)
    done = 0
    for n in sorted(counts):
        for _ in range(n - done):
            conv = convolve(estimate, psf, mode="same") + 1e-12
            estimate *= convolve(image / conv, mirror, mode="same")
        done = n
        yield n, estimate.copy()


def score(truth, restored):
    peak = float(truth.max())
    return (peak_signal_noise_ratio(truth, restored, data_range=peak),
            structural_similarity(truth, restored, data_range=peak))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="32,128,128")
    parser.add_argument("--photons", default="1000,100,20", help="peak photons in the blurred image")
    parser.add_argument("--oracle-grid", default="5,10,20,40,80,160,320,640")
    parser.add_argument("--phantoms", default="beads,filaments")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    shape = tuple(int(s) for s in args.shape.split(","))
    grid = [int(n) for n in args.oracle_grid.split(",")]
    kernel = psf.widefield(na=1.4, wavelength=0.52, ni=1.515, spacing=SPACING,
                           size=(shape[0] - 1 if shape[0] % 2 == 0 else shape[0], 63, 63))
    print(f"# shape {shape}, spacing {SPACING} um, PSF {kernel.shape}, camera offset {OFFSET:g}, "
          f"read noise {READ:g} e-")
    print("| phantom | photons | method | PSNR dB | SSIM | bead FWHM x / z (um) | iterations | stop | time s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.phantoms.split(","):
        # one generator per phantom: the data are the same whether the phantoms run together or apart
        rng = np.random.default_rng([args.seed, ("beads", "filaments").index(name)])
        if name == "beads":
            unit, positions = beads(rng, shape)
        else:
            unit = filaments(rng, shape)
        blurred_unit = scipy.signal.fftconvolve(unit, kernel, mode="same")
        for photons in (float(p) for p in args.photons.split(",")):
            scale = photons / blurred_unit.max()
            truth = unit * scale  # photons emitted per voxel
            clean = np.maximum(blurred_unit * scale, 0)
            y = rng.poisson(clean) + OFFSET + rng.normal(0, READ, shape)

            def report(method, restored, iterations="", stop="", seconds=0.0):
                p, s = score(truth, restored)
                f = bead_fwhm(restored, positions) if name == "beads" else None
                text = f"{f[0]:.3f} / {f[1]:.3f}" if f else ""
                # printed at once: on a loaded machine a long run's finished rows are its result so far
                print(f"| {name} | {photons:g} | {method} | {p:.2f} | {s:.3f} | {text} | {iterations} | "
                      f"{stop} | {seconds:.1f} |", flush=True)

            report("blurred input (y - offset)", y - OFFSET)
            t = time.perf_counter()
            x, info = deconvkit.deconvolve(y, kernel, method="poisson_rl", background=OFFSET, return_info=True)
            report("deconvkit poisson_rl (offset in model)", x, info["iterations"], info["stop_rule"],
                   time.perf_counter() - t)
            clipped = np.clip(y - OFFSET, 0, None)
            # auto's parameter defaults assume data scaled to about [0, 1] (see deconvolve's docstring)
            top = clipped.max()
            t = time.perf_counter()
            x, info = deconvkit.deconvolve((y - OFFSET) / top, kernel, method="auto", return_info=True)
            report(f"deconvkit auto ({info['method']})", x * top, info.get("iterations", ""), "",
                   time.perf_counter() - t)
            ranking = info.get("ranking")
            print(f"#   {name} {photons:g}: auto noise_sigma {info.get('noise_sigma')}, ranking {ranking}",
                  flush=True)
            t = time.perf_counter()
            best, path = None, []
            for n, x in skimage_rl_path(clipped / top, kernel, grid):
                if n == min(grid):  # the copied loop must be scikit-image's
                    reference = skimage_rl(clipped / top, kernel, num_iter=n, clip=False)
                    assert np.allclose(x, reference, rtol=1e-6, atol=1e-9), "skimage_rl_path != skimage"
                p = score(truth, x * top)[0]
                path.append(f"{n}:{p:.2f}")
                if best is None or p > best[0]:
                    best = (p, n, x * top)
                elif n >= 4 * best[1]:  # two counts past the peak
                    break
            seconds = time.perf_counter() - t
            report("skimage richardson_lucy (oracle iterations)", best[2], best[1], "oracle", seconds)
            print(f"#   {name} {photons:g}: skimage PSNR by iterations {' '.join(path)}", flush=True)
            # last: the slowest of the methods that need no sweep, and the least informative here
            t = time.perf_counter()
            x, info = deconvkit.deconvolve(clipped, kernel, method="richardson_lucy", return_info=True)
            report("deconvkit richardson_lucy (subtract+clip)", x, info["iterations"], info["stop_rule"],
                   time.perf_counter() - t)


if __name__ == "__main__":
    main()
