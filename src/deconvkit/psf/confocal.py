"""Confocal (point-scanning) microscope PSF: excitation times pinhole-filtered emission, in physical units."""

from __future__ import annotations

import math

import numpy as np
import scipy.signal

from .._shared import DeconvkitError
from ._optics import (
    bin_subpixels,
    check_oversample,
    check_size,
    check_spacing,
    default_size,
    normalised,
)
from ._registry import Param, check_scalar, register_psf
from .gibson_lanni import optics_from, optics_params, sample_gibson_lanni

__all__ = ["confocal"]


def _pinhole_disk(radius_um: float, spacing_yx, oversample: int, pad) -> np.ndarray:
    """Unit-sum disk of ``radius_um`` on the sub-pixel grid, ``2 * pad * oversample + 1`` sub-pixels wide."""
    axes = [(np.arange(2 * p * oversample + 1) - p * oversample) * d / oversample for p, d in zip(pad, spacing_yx)]
    inside = np.hypot(axes[0][:, None], axes[1][None, :]) <= radius_um
    return inside / inside.sum()


@register_psf("confocal", params=optics_params(size_help="odd shape nz/ny/nx; auto: from the emission PSF",
                                               after_wavelength=[
    Param("excitation", float, help="excitation wavelength in micrometres"),
    Param("pinhole", float, 1.0, help="pinhole diameter in Airy units (1.22 wavelength / na in the sample)"),
]))
def confocal(na, wavelength, excitation, pinhole=1.0, ni=1.515, ns=None, depth=0.0, spacing=None, size=None,
             oversample=3) -> np.ndarray:
    """Confocal PSF ``h_ex(x) * (h_em conv P)(x)`` sampled at ``spacing`` micrometres, pixel-integrated.

    A point-scanning confocal microscope excites with the focused laser (``h_ex``, the scalar PSF at the
    excitation wavelength) and detects through a pinhole ``P`` (a disk in the sample's coordinates) what the
    objective images of the emission (``h_em``); the system PSF is their product. Both are the Gibson-Lanni
    scalar model (:func:`~deconvkit.psf.gibson_lanni`, aberration-free with the default matched indices).
    The pinhole tends to a point (``pinhole -> 0``, lateral FWHM ``0.37 lambda / NA`` for equal
    wavelengths) or to the widefield excitation PSF (``pinhole`` of many Airy units).

    Parameters
    ----------
    na, wavelength, ni, ns, depth, spacing, size, oversample
        As in :func:`~deconvkit.psf.gibson_lanni`; ``wavelength`` is the emission wavelength.
    excitation : float
        Excitation wavelength in micrometres (0.488 for GFP).
    pinhole : float, default 1
        Pinhole diameter in Airy units, 1 AU = ``1.22 wavelength / na`` in the sample (the back-projected
        pinhole; divide its physical size by the magnification). 0 is a point detector.

    Returns
    -------
    psf : float64 ndarray, ``size`` voxels, centred, summing to 1.
    """
    common = dict(ni=ni, ns=ns, depth=depth, ni0=None, ng=1.515, ng0=None, tg=170.0, tg0=None, ti0=150.0)
    emission = optics_from("confocal", na, wavelength, **common)
    excitation_optics = optics_from("confocal", na, excitation, **common)
    pinhole = check_scalar(pinhole, "PSF confocal pinhole (Airy units)", inclusive=True, maximum=100.0)
    spacing = check_spacing(spacing, "confocal")
    oversample = check_oversample(oversample, "confocal")
    size = check_size(size, len(spacing), "confocal") or default_size(
        spacing, emission.na * emission.rho_max, wavelength, emission.ns)
    radius = pinhole * 0.61 * wavelength / emission.na
    if radius > 0 and radius * oversample < 0.5 * min(spacing[-2:]):
        radius = 0.0  # narrower than a sub-pixel: a point detector on this grid
    pad = tuple(math.ceil(radius / d) for d in spacing[-2:])
    if math.prod(s + 2 * p for s, p in zip(size[-2:], pad)) * oversample**2 > 2**26:
        raise DeconvkitError(f"PSF confocal pinhole={pinhole:g} AU is too large for this grid; use a smaller "
                             "pinhole or the widefield excitation PSF")
    # Both PSFs focused alike, the centre plane on the brightest plane of the emission PSF.
    origin = emission.peak_focus()
    planes_ex = sample_gibson_lanni(excitation_optics, spacing, size, oversample, origin=origin)
    planes_em = sample_gibson_lanni(emission, spacing, size, oversample, origin=origin, pad=pad)
    if radius > 0:
        disk = _pinhole_disk(radius, spacing[-2:], oversample, pad)
        planes_em = scipy.signal.fftconvolve(planes_em, disk[None], mode="valid", axes=(1, 2))
        planes_em = np.maximum(planes_em, 0.0)  # FFT round-off leaves tiny negatives far from the axis
    psf = bin_subpixels(planes_ex * planes_em, oversample)
    return normalised(psf[0] if len(spacing) == 2 else psf)

