"""The automatic Wiener NSR (``solvers/_nsr.py``) against scikit-image's ``wiener(balance=0.05)``.

Inputs: scikit-image's own ``test_wiener`` and ``test_unsupervised_wiener`` recipes (camera, 5x5 box PSF,
``convolve2d(..., 'same')`` with its zero-filled frame, noise 0.1 x the data's std, their seeds), the same
blur without noise, a noise-free camera-like ``boundary="valid"`` blur, and PSFs wider than the real blur.
PSNR (peak 1) against the sharp image (for ``valid`` blurs: the aligned crop). scikit-image clips its
output to [-1, 1] by default; deconvkit never clips.

Usage::

    python benchmarks/wiener_nsr.py
"""

from __future__ import annotations

import sys

import numpy as np


def psnr(estimate, reference):
    return float(10 * np.log10(1.0 / np.mean((estimate - reference) ** 2)))


def cases():
    import skimage
    from scipy.signal import convolve2d

    import deconvkit
    from deconvkit.psf import gaussian

    sharp = skimage.img_as_float(skimage.data.camera())
    box = np.ones((5, 5)) / 25
    same = convolve2d(sharp, box, "same")
    np.random.seed(0)
    test_wiener = same + 0.1 * same.std() * np.random.standard_normal(same.shape)
    unsupervised = same + 0.1 * same.std() * np.random.RandomState(16829302).standard_normal(same.shape)

    def valid(psf, sigma):
        blurred = deconvkit.blur(sharp, psf, boundary="valid", noise=sigma, rng=1)
        ky, kx = (k // 2 for k in psf.shape)
        return blurred, sharp[ky:ky + blurred.shape[0], kx:kx + blurred.shape[1]]

    box_clean, box_ref = valid(box, 0.0)
    g_noisy, g_ref = valid(gaussian(1.5), 0.01)
    g_clean, g_clean_ref = valid(gaussian(1.5), 0.0)
    yield "test_wiener (box 5, 'same', noise)", test_wiener, box, sharp
    yield "test_unsupervised_wiener", unsupervised, box, sharp
    yield "noise-free box 5, valid", box_clean, box, box_ref
    yield "noise-free box 5, 'same' (zero frame)", same, box, sharp
    yield "gaussian 1.5, 1% noise", g_noisy, gaussian(1.5), g_ref
    yield "  PSF too wide: gaussian 2.2", g_noisy, gaussian(2.2), g_ref
    yield "noise-free gaussian 1.5, PSF 1.7", g_clean, gaussian(1.7), g_clean_ref
    yield "noise-free gaussian 1.5, PSF 2.2", g_clean, gaussian(2.2), g_clean_ref
    yield "noise-free box 5, PSF box 7", box_clean, np.ones((7, 7)) / 49, box_ref


def main(argv=None):
    from skimage.restoration import wiener as sk_wiener

    import deconvkit

    print(f"{'case':40s} {'deconvkit':>9s} {'range':>14s} {'nsr':>8s} {'p':>5s} {'skimage 0.05':>12s} "
          f"{'blurred':>8s}")
    for name, blurred, psf, reference in cases():
        restored, info = deconvkit.deconvolve(blurred, psf, method="wiener", return_info=True)
        theirs = sk_wiener(blurred, psf / psf.sum(), balance=0.05)
        crop = blurred if blurred.shape == reference.shape else None
        print(f"{name:40s} {psnr(restored, reference):9.2f} [{restored.min():5.2f},{restored.max():5.2f}] "
              f"{info['nsr']:8.1e} {info['nsr_exponent']:5.2f} {psnr(theirs, reference):12.2f} "
              f"{psnr(crop, reference) if crop is not None else float('nan'):8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
