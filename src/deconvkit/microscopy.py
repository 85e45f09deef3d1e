"""Microscopy glue: a PSF at the data's voxel spacing, and one call that restores an anisotropic volume.

:func:`microscope_psf` turns what a microscopist has (a model spec without a spacing, a bead-stack file
with its own spacing, an array) into a PSF sampled at the data's spacing; :func:`restore` then
deconvolves with it. The napari widget (:mod:`deconvkit.napari`) and ``benchmarks/microscopy.py`` use these.
"""

from __future__ import annotations

import os

import numpy as np

from . import psf as psf_module
from ._shared import DeconvkitError
from .psf._optics import check_spacing

__all__ = ["microscope_psf", "restore", "fit_psf"]


def microscope_psf(psf, spacing, *, psf_spacing=None) -> np.ndarray:
    """A PSF sampled at the data's voxel ``spacing`` (micrometres, ``(dz, dy, dx)`` or ``(dy, dx)``).

    Parameters
    ----------
    psf : str or path-like or ndarray
        * A model spec: ``widefield:na=1.4,wavelength=0.52`` gets ``spacing`` added when it has none (a
          spec that gives its own spacing is used as is, so say what you mean).
        * A PSF file (a measured bead stack): resampled from its metadata spacing, or ``psf_spacing``, to
          ``spacing`` (:func:`deconvkit.psf.load_measured`).
        * An array: resampled from ``psf_spacing`` if given, else taken to be at ``spacing`` already.
    spacing : sequence of float
    psf_spacing : sequence of float, optional
        The spacing of a PSF file or array, when its metadata lacks it.

    Returns
    -------
    ndarray (float64) summing to 1.
    """
    spacing = check_spacing(spacing, "data")
    if isinstance(psf, np.ndarray):
        if psf_spacing is None:
            return psf_module.normalise(psf)
        return psf_module.resample(psf, psf_spacing, spacing)
    text = os.fspath(psf) if isinstance(psf, os.PathLike) else psf
    if not isinstance(text, str):
        raise DeconvkitError(f"psf must be a spec, a path or an array, got {type(psf).__name__}")
    spec = psf_module.parse_spec(text)
    if spec is not None and any(p.name == "spacing" for p in spec[0].params):
        return psf_module.parse(text, spacing=spacing)  # a spacing= in the spec wins over the data's
    if os.path.exists(text):
        return psf_module.load_measured(text, spacing, psf_spacing=psf_spacing)
    return psf_module.parse(text)  # other models (gaussian, ...) are in voxels; errors name the spec


def fit_psf(psf: np.ndarray, shape) -> np.ndarray:
    """Crop a centred PSF to at most ``shape`` (odd sizes, centre kept) and renormalise.

    A widefield PSF's default extent holds its defocus cone and can exceed a small volume; the solvers need
    the PSF no larger than the data.
    """
    slices = []
    for k, n in zip(psf.shape, shape):
        keep = min(k, n if n % 2 else n - 1)
        start = k // 2 - keep // 2
        slices.append(slice(start, start + keep))
    cropped = psf[tuple(slices)]
    return cropped / cropped.sum()


def restore(volume, psf, *, spacing, method: str = "auto", psf_spacing=None, progress=None, **params):
    """Deconvolve an image or volume with a PSF at its voxel ``spacing``; returns ``(restored, info)``.

    Parameters
    ----------
    volume : ndarray, 2-D or 3-D
    psf : str, path or ndarray
        See :func:`microscope_psf`.
    spacing : sequence of float
        Voxel spacing in micrometres, one value per axis of ``volume``.
    method : str, default "auto"
        Any registered solver (``poisson_rl`` for photon-counting data with a camera offset).
    psf_spacing, progress, **params
        As in :func:`microscope_psf` and :func:`deconvkit.deconvolve` (e.g. ``background=`` for
        ``poisson_rl``).

    Returns
    -------
    restored : ndarray, the shape of ``volume``.
    info : dict
        The solver's info plus ``spacing`` and ``psf_shape``.
    """
    from .solvers import deconvolve

    volume = np.asarray(volume)
    spacing = check_spacing(spacing, "data")
    if len(spacing) != volume.ndim:
        raise DeconvkitError(f"spacing {spacing} has {len(spacing)} values for a {volume.ndim}-D volume "
                             f"of shape {volume.shape}")
    kernel = fit_psf(microscope_psf(psf, spacing, psf_spacing=psf_spacing), volume.shape)
    if kernel.ndim != volume.ndim:
        raise DeconvkitError(f"the PSF is {kernel.ndim}-D but the volume is {volume.ndim}-D")
    restored, info = deconvolve(volume, kernel, method=method, return_info=True, progress=progress, **params)
    info.update(spacing=spacing, psf_shape=kernel.shape)
    return restored, info
