"""Widefield microscope PSF, Born & Wolf scalar model (paraxial defocus), in physical units."""

from __future__ import annotations

import numpy as np

from .._shared import DeconvkitError
from ._optics import (
    check_optics,
    check_oversample,
    check_size,
    check_spacing,
    default_size,
    pixel_integrated,
    pupil_profile,
    slash_floats,
    slash_ints,
)
from ._registry import Param, register_psf

__all__ = ["widefield"]


@register_psf("widefield", aliases=("born_wolf",), params=[
    Param("na", float, help="numerical aperture of the objective"),
    Param("wavelength", float, help="emission wavelength in micrometres (0.52 for GFP)"),
    Param("ni", float, 1.515, help="refractive index of the immersion medium (and, in this model, the sample)"),
    Param("spacing", slash_floats, help="voxel spacing in micrometres, dz/dy/dx (3-D) or dy/dx (2-D)"),
    Param("size", slash_ints, None, help="odd shape nz/ny/nx; auto: 3 axial FWHMs and the light cone each side"),
    Param("oversample", int, 3, help="odd sub-pixels per pixel and axis for the pixel integration"),
])
def widefield(na, wavelength, ni=1.515, spacing=None, size=None, oversample=3) -> np.ndarray:
    """Widefield (Born-Wolf) PSF sampled at ``spacing`` micrometres and integrated over each pixel.

    The scalar Born & Wolf model of a well-corrected objective focused in a medium of index ``ni``::

        h(r, z) = | int_0^1 J0(k NA r rho) exp(-i k z NA^2 rho^2 / (2 ni)) rho d rho |^2,  k = 2 pi / wavelength

    In focus it is the Airy pattern ``(2 J1(v) / v)^2`` with ``v = k NA r`` (lateral FWHM ``0.514 wavelength
    / NA``); on the axis it is ``sinc^2`` with its first zeros at ``z = +-2 ni wavelength / NA^2`` (axial FWHM
    ``1.77 ni wavelength / NA^2``). The defocus phase is paraxial, which makes the model symmetric in ``z``
    and slightly elongates the axial extent at high NA; :func:`~deconvkit.psf.gibson_lanni` uses the exact
    phase and models refractive-index mismatch.

    Parameters
    ----------
    na : float
        Numerical aperture, below ``ni``.
    wavelength : float
        Emission wavelength in micrometres (vacuum).
    ni : float, default 1.515
        Refractive index of the immersion medium (oil 1.515, water 1.333, air 1.0).
    spacing : sequence of float
        Voxel spacing in micrometres: ``(dz, dy, dx)`` gives a 3-D PSF, ``(dy, dx)`` the in-focus 2-D one.
        CLI: ``spacing=0.2/0.065/0.065``.
    size : int or sequence of int, optional
        Odd shape, one value per axis of ``spacing`` (CLI ``size=31/65/65``). Default: see
        :func:`deconvkit.psf._optics.default_size`.
    oversample : int, default 3
        Odd number of sub-pixels per pixel along y and x whose intensities are averaged (the pixel
        integral). Planes are point-sampled axially: a z-stack's plane is a focus position.

    Returns
    -------
    psf : float64 ndarray, centred at ``k // 2`` on each axis, summing to 1.

    Examples
    --------
    >>> psf = widefield(na=1.4, wavelength=0.52, spacing=(0.2, 0.065, 0.065), size=(9, 33, 33))
    >>> psf.shape, bool(abs(psf.sum() - 1) < 1e-12), tuple(map(int, np.unravel_index(psf.argmax(), psf.shape)))
    ((9, 33, 33), True, (4, 16, 16))
    """
    na, wavelength, indices = check_optics("widefield", na, wavelength, ni=ni)
    ni = indices["ni"]
    if na >= ni:
        raise DeconvkitError(f"PSF widefield na={na:g} must be below the immersion index ni={ni:g}")
    spacing = check_spacing(spacing, "widefield")
    oversample = check_oversample(oversample, "widefield")
    size = check_size(size, len(spacing), "widefield") or default_size(spacing, na, wavelength, ni)
    k = 2 * np.pi / wavelength

    def profile(radii, z):
        coefficient = -k * na**2 / (2 * ni)
        return pupil_profile(radii, lambda rho: coefficient * np.outer(rho**2, z), na=na, wavelength=wavelength,
                             phase_span=abs(coefficient) * float(np.abs(z).max()))

    return pixel_integrated(profile, spacing, size, oversample)
