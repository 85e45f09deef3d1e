"""Shared machinery of the microscope PSF models: the scalar diffraction integral and pixel-integrated sampling.

All three microscope models (:mod:`~deconvkit.psf.widefield`, :mod:`~deconvkit.psf.gibson_lanni`,
:mod:`~deconvkit.psf.confocal`) are the scalar Kirchhoff integral over the pupil radius ``rho`` in [0, 1]::

    h(r, z) = | int_0^rho_max  J0(k NA r rho) exp(i W(rho, z)) rho d rho |^2,     k = 2 pi / wavelength,

and differ only in the pupil phase ``W`` (paraxial defocus for Born-Wolf, the Gibson-Lanni optical path
difference otherwise). Lengths are in micrometres, in sample space.

How it is evaluated: ``J0`` does not depend on ``z``, so the integral for every radius and every plane is one
matrix product ``B @ E`` with ``B[r, j] = w_j rho_j J0(k NA r_i rho_j)`` (Gauss-Legendre nodes) and
``E[j, z] = exp(i W(rho_j, z))``. The radial profile is evaluated on a fine radius grid, interpolated onto a
lateral grid ``oversample`` times finer than the pixels and averaged over each pixel's ``oversample x oversample``
sub-pixels: the camera pixel integrates the light over its area (point-sampling at the pixel centre would
make a sub-pixel-wide Airy core too peaked). Axially the planes are point-sampled: a plane of a z-stack is a
focus position, not an interval.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special

from .._shared import DeconvkitError
from ._registry import check_scalar

__all__ = ["slash_floats", "slash_ints", "check_spacing", "check_size", "check_oversample", "pupil_profile",
           "pixel_integrated", "default_size", "centred_planes", "MAX_ELEMENTS"]

# Above this many voxels a PSF is almost surely a unit mistake (spacing in nm instead of micrometres).
MAX_ELEMENTS = 2**25

# The radial profile is sampled this many times finer than a sub-pixel before interpolation; linear
# interpolation of the smooth Airy pattern at that step is accurate to far below the 1e-3 used in tests.
_RADIAL_STEPS_PER_SUBPIXEL = 4


def _slash_values(text: str, convert, what: str) -> tuple:
    parts = [p.strip() for p in str(text).split("/")]
    if not parts or any(not p for p in parts):
        raise ValueError
    return tuple(convert(p) for p in parts)


def slash_floats(text) -> tuple:
    """CLI value ``0.2/0.065/0.065`` -> ``(0.2, 0.065, 0.065)``; ``/`` because ``,`` separates parameters."""
    return _slash_values(text, float, "float")


slash_floats.__name__ = "dz/dy/dx"


def slash_ints(text) -> tuple:
    """CLI value ``31/65/65`` -> ``(31, 65, 65)``."""
    def to_int(part):
        value = float(part)
        if not value.is_integer():
            raise ValueError
        return int(value)
    return _slash_values(text, to_int, "int")


slash_ints.__name__ = "nz/ny/nx"


def check_spacing(spacing, model: str) -> tuple[float, ...]:
    """``spacing`` as a tuple ``(dy, dx)`` or ``(dz, dy, dx)`` of positive micrometres.

    One value means a 2-D PSF with square pixels. Values above 100 um are rejected: they are almost surely
    nanometres.
    """
    if spacing is None:
        raise DeconvkitError(f"PSF {model} needs the voxel spacing in micrometres: spacing=(dz, dy, dx) for 3-D "
                             f"or (dy, dx) for 2-D (CLI: spacing=0.2/0.065/0.065)")
    values = tuple(np.atleast_1d(np.asarray(spacing, dtype=object)).tolist())
    if len(values) == 1:
        values = values * 2
    if len(values) not in (2, 3):
        raise DeconvkitError(f"PSF {model} spacing={spacing!r} must have 2 values (dy, dx) or 3 (dz, dy, dx)")
    return tuple(check_scalar(v, f"PSF {model} spacing (micrometres)", maximum=100.0) for v in values)


def check_size(size, ndim: int, model: str) -> tuple[int, ...] | None:
    if size is None:
        return None
    values = tuple(np.atleast_1d(np.asarray(size, dtype=object)).tolist())
    if len(values) == 1:
        values = values * ndim
    if len(values) != ndim:
        raise DeconvkitError(f"PSF {model} size={size!r} needs 1 or {ndim} values (one per axis of spacing)")
    for k in values:
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1 or k % 2 == 0:
            raise DeconvkitError(f"PSF {model} size={size!r}: each size must be a positive odd integer "
                                 "(odd so the centre is a voxel)")
    if math.prod(values) > MAX_ELEMENTS:
        raise DeconvkitError(f"PSF {model} of shape {values} is too large (more than {MAX_ELEMENTS} voxels)")
    return tuple(int(k) for k in values)


def check_oversample(oversample, model: str) -> int:
    if (not isinstance(oversample, (int, np.integer)) or isinstance(oversample, bool) or not 1 <= oversample <= 15
            or oversample % 2 == 0):
        raise DeconvkitError(f"PSF {model} oversample={oversample!r} must be an odd integer from 1 to 15 "
                             "(odd so that a sub-pixel sits on the pixel centre)")
    return int(oversample)


def check_optics(model: str, na, wavelength, **indices) -> tuple[float, float, dict]:
    """Validate NA, wavelength (um) and refractive indices; return them as floats."""
    na = check_scalar(na, f"PSF {model} na", maximum=2.0)
    wavelength = check_scalar(wavelength, f"PSF {model} wavelength (micrometres)", maximum=20.0)
    if wavelength > 5 or wavelength < 0.1:
        raise DeconvkitError(f"PSF {model} wavelength={wavelength!r} is outside 0.1 to 5 micrometres; "
                             "give it in micrometres (0.52, not 520)")
    checked = {name: check_scalar(value, f"PSF {model} {name}", minimum=1.0, inclusive=True, maximum=4.0)
               for name, value in indices.items()}
    return na, wavelength, checked


def default_size(spacing, na: float, wavelength: float, n: float) -> tuple[int, ...]:
    """An odd shape holding the PSF's core and the defocus cone to three axial FWHMs each side (3-D), or
    five Airy radii (2-D).

    Axial half-extent: 3 x the non-paraxial axial FWHM ``0.88 lambda / (n - sqrt(n^2 - NA^2))``. Lateral
    half-extent: two Airy radii plus the radius of the geometric light cone at that defocus
    (``z tan(asin(NA / n))``), so that the outer planes keep most of their (defocused) light.
    """
    sine = min(na / n, 0.999)
    axial_fwhm = 0.88 * wavelength / (n - math.sqrt(n * n - (sine * n) ** 2))
    half_z = 3 * axial_fwhm
    if len(spacing) == 2:  # in focus: five Airy radii (the rings' energy falls off as 1 / r)
        return tuple(2 * math.ceil(5 * 0.61 * wavelength / na / d) + 1 for d in spacing)
    half_xy = 2 * 0.61 * wavelength / na + half_z * sine / math.sqrt(1 - sine * sine)
    lateral = [2 * math.ceil(half_xy / d) + 1 for d in spacing[-2:]]
    return (2 * math.ceil(half_z / spacing[0]) + 1, *lateral)


def centred_planes(nz: int, dz: float) -> np.ndarray:
    """Axial positions of ``nz`` planes, ``dz`` apart, the middle one (index nz // 2) at 0."""
    return (np.arange(nz) - nz // 2) * dz


def _nodes(order: int, rho_max: float):
    x, w = np.polynomial.legendre.leggauss(order)
    return 0.5 * rho_max * (x + 1.0), 0.5 * rho_max * w


def pupil_profile(radii, phase, *, na: float, wavelength: float, rho_max: float = 1.0,
                  phase_span: float = 0.0) -> np.ndarray:
    """``|int_0^rho_max J0(k NA r rho) exp(i W(rho, z)) rho d rho|^2`` for each radius and plane.

    Parameters
    ----------
    radii : 1-D array
        Radial distances in micrometres.
    phase : callable
        ``phase(rho)`` -> array ``(len(rho), n_planes)`` of pupil phases in radians.
    phase_span : float
        The largest phase variation across the pupil over all planes (radians): with the Bessel function's
        ``k NA r_max`` it sets the number of quadrature nodes (Gauss-Legendre converges once there are
        clearly more nodes than half the total phase, in radians).

    Returns
    -------
    ndarray (len(radii), n_planes), not normalised.
    """
    k = 2 * np.pi / wavelength
    radii = np.asarray(radii, dtype=np.float64)
    total_phase = k * na * float(radii.max(initial=0.0)) * rho_max + phase_span
    order = int(min(4000, 64 + total_phase))
    rho, weight = _nodes(order, rho_max)
    bessel = scipy.special.j0(k * na * radii[:, None] * rho[None, :]) * (weight * rho)[None, :]
    field = bessel @ np.exp(1j * phase(rho))
    return field.real**2 + field.imag**2


def _lateral_radii(shape_yx, spacing_yx, oversample: int, pad=(0, 0)) -> np.ndarray:
    """Radii (um) of the sub-pixel centres of a ``shape_yx`` grid (plus ``pad`` pixels each side)."""
    axes = []
    for n, d, p in zip(shape_yx, spacing_yx, pad):
        count = (n + 2 * p) * oversample
        # sub-pixel centres: pixel i covers [i - 1/2, i + 1/2]; the centre pixel n // 2 + p is at 0
        sub = (np.arange(count) + 0.5) / oversample - 0.5 - (n // 2 + p)
        axes.append(sub * d)
    return np.hypot(axes[0][:, None], axes[1][None, :])


def subpixel_planes(profile_fn, nz_positions, shape_yx, spacing_yx, oversample: int, pad=(0, 0)):
    """The PSF on the sub-pixel grid: ``(n_planes, ny*s, nx*s)`` (with ``pad`` pixels around).

    ``profile_fn(radii_1d) -> (len(radii), n_planes)`` evaluates the radial profile.
    """
    radii = _lateral_radii(shape_yx, spacing_yx, oversample, pad)
    step = min(spacing_yx) / oversample / _RADIAL_STEPS_PER_SUBPIXEL
    grid = np.arange(0.0, radii.max() + 2 * step, step)
    profile = profile_fn(grid)  # (len(grid), n_planes)
    # linear interpolation of each plane's profile at every sub-pixel radius
    position = radii / step
    index = np.minimum(position.astype(np.int64), len(grid) - 2)
    frac = position - index
    planes = profile[index] * (1 - frac)[..., None] + profile[index + 1] * frac[..., None]
    return np.moveaxis(planes, -1, 0)


def bin_subpixels(planes: np.ndarray, oversample: int) -> np.ndarray:
    """Average each pixel's ``oversample x oversample`` sub-pixels: the pixel-integrated intensity."""
    nz, hy, hx = planes.shape
    s = oversample
    return planes.reshape(nz, hy // s, s, hx // s, s).mean(axis=(2, 4))


def pixel_integrated(profile_fn, spacing, size, oversample: int) -> np.ndarray:
    """Sample a radially symmetric PSF on a grid of ``size`` voxels, integrated over each pixel, sum 1.

    ``profile_fn(radii, z_positions) -> (len(radii), len(z))``; 2-D spacing gives the in-focus plane only.
    """
    if len(spacing) == 2:
        z = np.zeros(1)
        shape_yx = size
    else:
        z = centred_planes(size[0], spacing[0])
        shape_yx = size[1:]
    planes = subpixel_planes(lambda r: profile_fn(r, z), len(z), shape_yx, spacing[-2:], oversample)
    psf = bin_subpixels(planes, oversample)
    if len(spacing) == 2:
        psf = psf[0]
    return normalised(psf)


def normalised(psf: np.ndarray) -> np.ndarray:
    total = psf.sum()
    if not np.isfinite(total) or total <= 0:
        raise DeconvkitError("the microscope PSF has no energy on this grid; check spacing and size")
    return psf / total
