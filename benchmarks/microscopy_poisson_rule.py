"""Evidence for a rule ``auto`` could use on fluorescence data: is the noise photon-limited (Poisson-like)?

``deconvkit.solvers.poisson.estimate_poisson_noise`` fits the camera's mean-variance line
``var = mean / gain + read^2``. The *shot share* is the shot-noise part of the variance at the data's 99th
percentile, ``(p99 / gain) / (p99 / gain + read^2)``: near 1 when photon counting dominates, near 0 (or no
fit: the variance does not grow with the mean) for Gaussian noise. This script prints it for the phantoms of
``benchmarks/microscopy.py`` as ``auto`` sees them there (``(y - offset) / max``) and for a blurred
photograph with Gaussian noise, the data ``auto`` was calibrated on.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/microscopy_poisson_rule.py
"""

from __future__ import annotations

import numpy as np
import scipy.signal
import skimage.data
import skimage.filters

from deconvkit import psf
from deconvkit.errors import DeconvkitError
from deconvkit.solvers.poisson import estimate_poisson_noise, shot_noise_share
from microscopy import OFFSET, READ, SPACING, beads, filaments


def shot_share(data) -> str:
    try:
        gain, read = estimate_poisson_noise(data)
    except DeconvkitError:
        return "no fit (variance does not grow with the mean) | 0"
    return f"{gain:.3g} / {read:.3g} | {shot_noise_share(data):.2f}"


def main():
    shape = (16, 64, 64)
    kernel = psf.widefield(na=1.4, wavelength=0.52, ni=1.515, spacing=SPACING, size=(15, 63, 63))
    print("| data | gain / read noise (fit) | shot share at p99 |")
    print("| --- | --- | --- |")
    for name in ("beads", "filaments"):
        rng = np.random.default_rng([0, ("beads", "filaments").index(name)])
        unit = beads(rng, shape)[0] if name == "beads" else filaments(rng, shape)
        blurred = scipy.signal.fftconvolve(unit, kernel, mode="same")
        for photons in (20, 100, 1000):
            clean = np.maximum(blurred * photons / blurred.max(), 0)
            y = rng.poisson(clean) + OFFSET + rng.normal(0, READ, shape)
            top = np.clip(y - OFFSET, 0, None).max()
            print(f"| {name} {shape}, {photons} photons | {shot_share((y - OFFSET) / top)} |")
    photo = skimage.filters.gaussian(skimage.data.camera() / 255.0, 2)
    rng = np.random.default_rng(1)
    for sigma in (0.005, 0.01, 0.03):
        print(f"| camera 512x512, Gaussian blur 2, noise {sigma} | "
              f"{shot_share(photo + rng.normal(0, sigma, photo.shape))} |")


if __name__ == "__main__":
    main()
