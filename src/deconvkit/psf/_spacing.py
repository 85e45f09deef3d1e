"""Resampling a PSF to another voxel spacing, and loading a measured PSF at the data's spacing."""

from __future__ import annotations

import math

import numpy as np
import scipy.ndimage

from .._shared import DeconvkitError
from ._optics import check_spacing
from ._registry import normalise

__all__ = ["resample", "load_measured"]


def resample(psf, spacing, target) -> np.ndarray:
    """Resample a PSF sampled at ``spacing`` onto a grid of ``target`` spacing (same units), sum 1.

    The output keeps the physical extent, with an odd size per axis and the centre voxel ``k // 2`` still
    on the PSF's centre. Values are interpolated linearly (non-negative, no ringing), after a centred box
    average ``target / spacing`` input voxels wide on the lateral axes that get coarser: a camera pixel integrates
    over its area, so a finer PSF must be averaged, not point-sampled, onto larger pixels (the planes of a
    z-stack are focus positions and are interpolated).

    Parameters
    ----------
    psf : ndarray (2-D or 3-D)
    spacing, target : sequence of float
        Voxel spacing of ``psf`` and of the data, one value per axis (``(dz, dy, dx)``).

    Returns
    -------
    ndarray (float64), summing to 1.

    Examples
    --------
    >>> resample(np.ones((3, 5, 5)), (0.2, 0.1, 0.1), (0.1, 0.1, 0.1)).shape
    (5, 5, 5)
    """
    psf = normalise(psf)
    spacing = check_spacing(spacing, "resample (psf)") if psf.ndim > 1 else spacing
    target = check_spacing(target, "resample (target)")
    if len(spacing) != psf.ndim or len(target) != psf.ndim:
        raise DeconvkitError(f"PSF of shape {psf.shape} needs {psf.ndim} spacing values, got spacing={spacing} "
                             f"and target={target}")
    if np.allclose(spacing, target, rtol=1e-6, atol=0):
        return psf
    for axis in range(psf.ndim - 2, psf.ndim):
        factor = target[axis] / spacing[axis]
        if factor > 1.0 + 1e-6:
            psf = scipy.ndimage.convolve1d(psf, _box(factor), axis=axis, mode="constant")
    sizes, coordinates = [], []
    for n, s_in, s_out in zip(psf.shape, spacing, target):
        half = math.floor((n // 2) * s_in / s_out + 1e-9)
        sizes.append(2 * half + 1)
        coordinates.append((np.arange(2 * half + 1) - half) * s_out / s_in + n // 2)
    if math.prod(sizes) > 2**27:
        raise DeconvkitError(f"resampling the PSF of shape {psf.shape} to spacing {target} gives {tuple(sizes)} "
                             "voxels; is one spacing in nanometres and the other in micrometres?")
    grid = np.meshgrid(*coordinates, indexing="ij")
    out = scipy.ndimage.map_coordinates(psf, grid, order=1, mode="constant", cval=0.0)
    return normalise(out, "resampled psf")


def _box(width: float) -> np.ndarray:
    """Centred box ``width`` input pixels wide: each tap is the overlap of ``[-width/2, width/2]`` with that
    pixel (odd length, so the average does not shift the PSF, as an even-sized ``uniform_filter`` would)."""
    half = math.ceil(width / 2 - 0.5)
    centres = np.arange(-half, half + 1)
    overlap = np.clip(np.minimum(centres + 0.5, width / 2) - np.maximum(centres - 0.5, -width / 2), 0.0, None)
    return overlap / overlap.sum()


def load_measured(path, spacing, *, psf_spacing=None) -> np.ndarray:
    """Read a measured PSF file and resample it to the data's voxel ``spacing``.

    The PSF's own spacing comes from its OME-TIFF or ImageJ metadata (see :func:`deconvkit.io.read_volume`)
    unless given as ``psf_spacing``; without either it is unknown and a :class:`DeconvkitError` says so,
    rather than a silent assumption that the bead stack was recorded at the data's spacing.
    """
    from ..io import read_volume

    data, info = read_volume(path, spacing=psf_spacing, dtype=np.float64)
    if info.channel_axis is not None:
        raise DeconvkitError(f"PSF file {path} has colour channels; a measured PSF has one value per voxel")
    target = check_spacing(spacing, "load_measured (data)")
    if len(target) != data.ndim:
        raise DeconvkitError(f"PSF file {path} is {data.ndim}-D but the data spacing {target} has "
                             f"{len(target)} values")
    return resample(data, info.spacing, target)
