"""Point-spread function models, a registry for CLI specs, and PSF file loading.

Models: :func:`motion` (MATLAB ``fspecial('motion')``), :func:`defocus` (anti-aliased disk, ``fspecial('disk')``)
and :func:`gaussian` (n-D, anisotropic, pixel-integrated); microscope PSFs in micrometres sampled at a voxel
spacing: :func:`widefield` (Born-Wolf), :func:`gibson_lanni` and :func:`confocal`. Every model returns a
float64 array centred at index ``k // 2`` on each axis and summing to 1. :func:`resample` moves a PSF to
another voxel spacing; :func:`load_measured` reads a bead-stack PSF at the data's spacing.

:func:`parse` turns a CLI spec (``motion:length=15,angle=30``, ``defocus:radius=6``, ``gaussian:sigma=2``)
or a file path into a PSF; :func:`available` lists the models and their parameters for help text.

Adding a model: create one module in this folder whose function is decorated with :func:`register_psf`.
Every module here is imported below, so the new model is found without editing this file.
"""

# ruff: noqa: I001  (the model imports below register in this order, which listings and messages show)
from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import scipy.ndimage

from .._shared import DeconvkitError
from ._registry import PSFModel, Param, available, load, normalise, parse, parse_spec, register_psf
# Registration order is the order :func:`available` lists the models in (and positional help shows).
from .motion import motion  # noqa: I001
from .defocus import defocus
from .gaussian import gaussian
from .widefield import widefield
from .gibson_lanni import gibson_lanni
from .confocal import confocal
from ._spacing import load_measured, resample


__all__ = ["motion", "defocus", "gaussian", "widefield", "gibson_lanni", "confocal", "parse", "available",
           "parse_spec", "register_psf", "load", "load_measured", "normalise", "resample", "center", "crop", "Param",
           "PSFModel"]

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")


def center(psf, *, subpixel: bool = False) -> np.ndarray:
    """Shift ``psf`` so that its centroid lies on the centre pixel ``k // 2`` (same shape, sums to 1).

    Blind estimation recovers a PSF only up to a translation (the image shifts the other way); centring
    fixes that translation so that the restored image is not shifted.

    Parameters
    ----------
    psf : ndarray
        Non-negative PSF (any number of dimensions).
    subpixel : bool, default False
        False: shift by whole pixels (the centroid ends within half a pixel of the centre; values are moved,
        not interpolated). True: shift by the exact fractional amount with linear interpolation.

    Returns
    -------
    ndarray (float64), summing to 1. Mass shifted past the border is lost and the rest renormalised; give
    the PSF a margin first if that matters.
    """
    psf = normalise(psf)
    grids = np.indices(psf.shape, dtype=np.float64)
    centroid = np.array([(g * psf).sum() for g in grids])
    shift = np.array([k // 2 for k in psf.shape]) - centroid
    if not subpixel:
        shift = np.round(shift)
    moved = scipy.ndimage.shift(psf, shift, order=1 if subpixel else 0, mode="constant", cval=0.0)
    moved = np.clip(moved, 0.0, None)
    if moved.sum() <= 0:
        raise DeconvkitError("psf lost all its mass when centred; is it mostly outside its array?")
    return moved / moved.sum()


def crop(psf, threshold: float = 0.0) -> np.ndarray:
    """Remove border rows/columns whose values are all <= ``threshold * psf.max()``, keeping the centre.

    The same number of pixels is removed on both sides of each axis, so the centre stays at ``k // 2`` and
    odd sizes stay odd. The result is renormalised to sum 1.

    >>> crop(np.pad(np.ones((3, 3)), 2)).shape
    (3, 3)
    """
    psf = normalise(psf)
    if not 0.0 <= threshold < 1.0:
        raise DeconvkitError(f"crop threshold={threshold!r} must be in [0, 1)")
    significant = psf > threshold * psf.max()
    slices = []
    for axis, size in enumerate(psf.shape):
        other = tuple(a for a in range(psf.ndim) if a != axis)
        keep = np.flatnonzero(significant.any(axis=other))
        centre = size // 2
        # Largest margin removable on both sides without cutting a significant pixel or the centre.
        margin = min(keep[0], size - 1 - keep[-1], centre, size - 1 - centre)
        slices.append(slice(margin, size - margin))
    cropped = psf[tuple(slices)]
    return cropped / cropped.sum()
