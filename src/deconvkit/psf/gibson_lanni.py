"""Widefield microscope PSF, Gibson-Lanni scalar model (refractive-index mismatch, depth, coverslip)."""

from __future__ import annotations

import math

import numpy as np

from .._shared import DeconvkitError
from ._optics import (
    bin_subpixels,
    centred_planes,
    check_optics,
    check_oversample,
    check_size,
    check_spacing,
    default_size,
    normalised,
    pupil_profile,
    slash_floats,
    slash_ints,
    subpixel_planes,
)
from ._registry import Param, check_scalar, register_psf

__all__ = ["gibson_lanni", "GibsonLanni"]


class GibsonLanni:
    """The Gibson-Lanni pupil phase of one optical set-up; shared with :func:`~deconvkit.psf.confocal`.

    The optical path difference between the actual and the design conditions of the objective
    (Gibson & Lanni 1991, in the form of Li, Xue & Blu 2017), for a point source at ``depth`` below the
    coverslip and the focal plane at ``focus`` (both micrometres into the sample)::

        OPD(rho) = depth ns c(ns) + (ti0 - focus) ni c(ni) - ti0 ni0 c(ni0) + tg ng c(ng) - tg0 ng0 c(ng0),
        c(n) = sqrt(1 - (NA rho / n)^2)

    The immersion layer's thickness changes by ``-focus`` when the focus moves ``focus`` into the sample. With
    all indices equal and ``depth = focus`` the phase vanishes and the in-focus PSF is the Airy pattern.
    Rays steeper than the critical angle of any layer cannot reach the objective, so the pupil is cut at
    ``rho_max = min(1, n_min / NA)`` (an oil objective of NA 1.4 in a water sample collects NA 1.333).
    """

    def __init__(self, na, wavelength, *, ni, ns, ni0, ng, ng0, tg, tg0, ti0, depth):
        self.na, self.wavelength = na, wavelength
        self.ni, self.ns, self.ni0, self.ng, self.ng0 = ni, ns, ni0, ng, ng0
        self.tg, self.tg0, self.ti0, self.depth = tg, tg0, ti0, depth
        self.rho_max = min(1.0, min(ns, ni, ni0, ng, ng0) / na)
        self.k = 2 * math.pi / wavelength

    def _path(self, rho, n):
        return n * np.sqrt(np.maximum(1.0 - (self.na * rho / n) ** 2, 0.0))

    def phase(self, rho, focus) -> np.ndarray:
        """``k (OPD(rho) - OPD(0))`` for each ``rho`` (rows) and focus position (columns); radians."""
        rho = np.concatenate([[0.0], np.asarray(rho, dtype=np.float64)])
        focus = np.atleast_1d(np.asarray(focus, dtype=np.float64))
        fixed = (self.depth * self._path(rho, self.ns) + self.ti0 * self._path(rho, self.ni)
                 - self.ti0 * self._path(rho, self.ni0) + self.tg * self._path(rho, self.ng)
                 - self.tg0 * self._path(rho, self.ng0))
        opd = fixed[:, None] - np.outer(self._path(rho, self.ni), focus)
        opd -= opd[:1]  # a phase constant over the pupil does not change the intensity
        return self.k * opd[1:]

    def profile(self, radii, focus) -> np.ndarray:
        focus = np.atleast_1d(np.asarray(focus, dtype=np.float64))
        probe = np.linspace(0.0, self.rho_max, 129)
        span = float(np.ptp(self.phase(probe, focus[[0, -1]]), axis=0).max())
        return pupil_profile(radii, lambda rho: self.phase(rho, focus), na=self.na, wavelength=self.wavelength,
                             rho_max=self.rho_max, phase_span=span)

    def axial_fwhm(self) -> float:
        """The non-paraxial axial FWHM estimate ``0.88 lambda / (n - sqrt(n^2 - NA_eff^2))`` with ``n = ns``."""
        n = self.ns
        na = self.na * self.rho_max
        return 0.88 * self.wavelength / (n - math.sqrt(max(n * n - na * na, 0.0)))

    def peak_focus(self) -> float:
        """Focus position (um) of the on-axis intensity maximum: with index mismatch the PSF's brightest
        plane is not at the source's depth (the focal shift), and the PSF is centred on it."""
        reach = 4 * self.axial_fwhm() + self.depth * abs(self.ni / self.ns - 1.0) * 2
        best = self.depth
        for width in (reach, reach / 20):  # coarse search, then a fine one around the coarse maximum
            focus = best + np.linspace(-width, width, 401)
            on_axis = self.profile(np.zeros(1), focus)[0]
            best = float(focus[int(np.argmax(on_axis))])
        return best


def sample_gibson_lanni(optics: GibsonLanni, spacing, size, oversample, *, origin: float, pad=(0, 0)):
    """Sub-pixel planes of ``optics`` on the voxel grid, the centre plane focused at ``origin`` um."""
    if len(spacing) == 2:
        offsets, shape_yx = np.zeros(1), size
    else:
        offsets, shape_yx = centred_planes(size[0], spacing[0]), size[1:]
    focus = origin + offsets
    return subpixel_planes(lambda r: optics.profile(r, focus), len(focus), shape_yx, spacing[-2:], oversample,
                           pad)


def optics_from(model, na, wavelength, *, ni, ns, depth, ni0, ng, ng0, tg, tg0, ti0) -> GibsonLanni:
    """Validate the Gibson-Lanni parameters of ``model`` and build its :class:`GibsonLanni`."""
    ns = ni if ns is None else ns
    ni0 = ni if ni0 is None else ni0
    ng0 = ng if ng0 is None else ng0
    tg0 = tg if tg0 is None else tg0
    na, wavelength, idx = check_optics(model, na, wavelength, ni=ni, ns=ns, ni0=ni0, ng=ng, ng0=ng0)
    if na >= idx["ni"]:
        raise DeconvkitError(f"PSF {model} na={na:g} must be below the immersion index ni={idx['ni']:g}")
    lengths = {name: check_scalar(value, f"PSF {model} {name} (micrometres)", inclusive=True, maximum=10000.0)
               for name, value in (("depth", depth), ("tg", tg), ("tg0", tg0), ("ti0", ti0))}
    return GibsonLanni(na, wavelength, **idx, **lengths)


def optics_params(*, size_help: str, after_wavelength=()) -> list[Param]:
    """The CLI rows of the optics that the Gibson-Lanni based models share (``gibson_lanni``, ``confocal``).

    Parameters
    ----------
    size_help : str
        Help of the ``size`` row (each model has its own default size).
    after_wavelength : sequence of Param
        The model's own rows placed after ``wavelength`` (the order is the spec's positional order).
    """
    return [
        Param("na", float, help="numerical aperture of the objective"),
        Param("wavelength", float, help="emission wavelength in micrometres"),
        *after_wavelength,
        Param("ni", float, 1.515, help="refractive index of the immersion medium"),
        Param("ns", float, None, help="refractive index of the sample; auto: ni (no mismatch)"),
        Param("depth", float, 0.0, help="depth of the source below the coverslip, micrometres"),
        Param("spacing", slash_floats, help="voxel spacing in micrometres, dz/dy/dx (3-D) or dy/dx (2-D)"),
        Param("size", slash_ints, None, help=size_help),
        Param("oversample", int, 3, help="odd sub-pixels per pixel and axis for the pixel integration"),
    ]


@register_psf("gibson_lanni", aliases=("gl",), params=[
    *optics_params(size_help="odd shape nz/ny/nx; auto: 3 axial FWHMs and the light cone each side"),
    Param("ni0", float, None, help="design immersion index; auto: ni"),
    Param("ng", float, 1.515, help="coverslip refractive index"),
    Param("ng0", float, None, help="design coverslip index; auto: ng"),
    Param("tg", float, 170.0, help="coverslip thickness, micrometres"),
    Param("tg0", float, None, help="design coverslip thickness; auto: tg"),
    Param("ti0", float, 150.0, help="design working distance (immersion thickness), micrometres"),
])
def gibson_lanni(na, wavelength, ni=1.515, ns=None, depth=0.0, spacing=None, size=None, oversample=3, ni0=None,
                 ng=1.515, ng0=None, tg=170.0, tg0=None, ti0=150.0, *, centre=True) -> np.ndarray:
    """Gibson-Lanni widefield PSF sampled at ``spacing`` micrometres and integrated over each pixel.

    The scalar pupil integral with the Gibson-Lanni optical path difference (see :class:`GibsonLanni`):
    unlike :func:`~deconvkit.psf.widefield` (paraxial Born-Wolf) the defocus phase is exact, and a sample
    whose refractive index ``ns`` differs from the immersion's ``ni`` makes the PSF axially asymmetric and
    longer with ``depth``, with its brightest plane shifted (the focal shift). Coverslip and immersion
    deviations from the design values (``tg`` vs ``tg0``, ``ng`` vs ``ng0``, ``ni`` vs ``ni0``) add
    spherical aberration. With matched indices it is the aberration-free scalar PSF: the Airy pattern in
    focus, axial FWHM close to ``0.88 wavelength / (n - sqrt(n^2 - NA^2))``.

    Parameters
    ----------
    na, wavelength, ni, spacing, size, oversample
        As in :func:`~deconvkit.psf.widefield` (micrometres).
    ns : float, optional
        Sample refractive index (water 1.333, cells ~1.38, mounting media 1.42-1.52); default ``ni``.
    depth : float, default 0
        Depth of the point source below the coverslip in micrometres.
    ni0, ng, ng0, tg, tg0, ti0 : float
        Design immersion index, coverslip index (actual, design), coverslip thickness (actual, design) and
        the objective's design working distance, micrometres.
    centre : bool, default True
        Put the brightest plane at the centre plane, so that deconvolving with this PSF does not shift the
        volume axially. ``False``: the centre plane is the nominal focus at ``depth``.

    Returns
    -------
    psf : float64 ndarray, ``size`` voxels (planes ordered deeper into the sample), summing to 1.

    Notes
    -----
    Plane ``i`` is the focus moved ``(i - nz // 2) * dz`` micrometres deeper into the sample. psfmodels'
    ``make_psf(model="scalar")`` (Aguet's independent implementation, used in the tests) measures its ``z``
    relative to the paraxial image of the source, ``z = focus + depth (1 - ni / ns)``; psfmodels also keeps
    the evanescent part of the pupil when ``NA > ns``, which this model cuts (the difference decays with
    depth and stays below 1 % of the peak 10 micrometres deep).

    References
    ----------
    .. [1] S. F. Gibson and F. Lanni, "Experimental test of an analytical model of aberrations in an
       oil-immersion objective lens used in three-dimensional light microscopy", JOSA A 8 (1991).
    .. [2] J. Li, F. Xue and T. Blu, "Fast and accurate three-dimensional point spread function computation
       for fluorescence microscopy", JOSA A 34 (2017).
    """
    optics = optics_from("gibson_lanni", na, wavelength, ni=ni, ns=ns, depth=depth, ni0=ni0, ng=ng, ng0=ng0,
                         tg=tg, tg0=tg0, ti0=ti0)
    spacing = check_spacing(spacing, "gibson_lanni")
    oversample = check_oversample(oversample, "gibson_lanni")
    size = check_size(size, len(spacing), "gibson_lanni") or default_size(spacing, optics.na * optics.rho_max,
                                                                          wavelength, optics.ns)
    origin = optics.peak_focus() if centre else optics.depth
    planes = sample_gibson_lanni(optics, spacing, size, oversample, origin=origin)
    psf = bin_subpixels(planes, oversample)
    return normalised(psf[0] if len(spacing) == 2 else psf)
