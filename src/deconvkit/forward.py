"""The forward model: blur an image with a PSF, with a boundary rule and noise."""

from __future__ import annotations

import numpy as np

from ._shared import DeconvkitError, as_float_image, check_psf, move_channels_first, restore_channel_axis
from .boundaries import canonical_boundary
from .operators import convolution

__all__ = ["blur"]


def blur(image, psf, *, boundary="reflect", noise=0.0, poisson=None, rng=None, channel_axis=None):
    """Simulate ``y = psf * x + n``.

    Parameters
    ----------
    image : ndarray
        Sharp 2-D or 3-D image (optionally with channels on ``channel_axis``). An integer array is scaled
        to [0, 1] by its dtype's maximum first (the integer input rule of :mod:`deconvkit._shared`).
    psf : ndarray
        PSF with the image's spatial dimensionality, centre at ``k // 2``; normalised to sum 1.
    boundary : {"reflect", "periodic", "zero", "valid"}
        How the scene continues beyond the frame: mirrored, wrapped, black, or ``"valid"`` — only the
        pixels the PSF fully covers are returned (shape ``n - k + 1``), which is what a camera records of a
        larger scene. The inverse side's older names are accepted as aliases: ``"unknown"`` = ``"valid"``,
        ``"pad"`` = ``"reflect"`` (see :mod:`deconvkit.boundaries`).
    noise : float
        Standard deviation of additive white Gaussian noise (image units).
    poisson : float, optional
        If given, photon counting noise at this many photons per unit intensity (applied before the
        Gaussian noise): ``y = Poisson(poisson * Ax) / poisson``.
    rng : int or numpy.random.Generator, optional
        Seed or generator for reproducible noise.
    channel_axis : int, optional
        Axis of colour channels (each blurred with the same PSF).

    Returns
    -------
    blurred : ndarray
        Same dtype rule as :func:`deconvkit.deconvolve` (float64, in [0, 1] scale, for integer input);
        shape as ``image`` except for ``"valid"``.
    """
    image = as_float_image(image, "image", ndim=(2, 3) if channel_axis is None else (3, 4))
    boundary = canonical_boundary(boundary)
    if not (np.isfinite(noise) and noise >= 0):
        raise DeconvkitError(f"noise must be a finite value >= 0, got {noise}")
    stack = move_channels_first(image, channel_axis)
    psf = check_psf(psf, stack.ndim - 1, image.dtype, stack.shape[1:])
    operator = convolution(psf, stack.shape[1:], boundary, image.dtype)
    blurred = np.asarray(operator.forward(np.ascontiguousarray(stack)))
    generator = np.random.default_rng(rng)
    if poisson is not None:
        if not poisson > 0:
            raise DeconvkitError(f"poisson must be > 0 photons per unit, got {poisson}")
        if blurred.min() < 0:
            raise DeconvkitError("Poisson noise needs a non-negative image")
        blurred = generator.poisson(blurred * poisson) / poisson
    if noise:
        blurred = blurred + generator.normal(0.0, noise, blurred.shape)
    return restore_channel_axis(blurred.astype(image.dtype, copy=False), channel_axis)
