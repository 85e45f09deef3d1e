"""Parametric PSF estimation from the blurred image's spectrum.

A blur multiplies the image spectrum by the OTF, so ``log|Y|^2 = log|X|^2 + log|K|^2`` (plus noise). The
sharp image's log-spectrum is smooth and nearly isotropic (a power law in frequency), so what is left
after removing the radial trend is dominated by the OTF's own pattern:

* linear motion of length ``L`` at angle ``a``: parallel dark lines (zeros of a sinc) perpendicular to the
  motion, spaced ``N / L`` frequency bins apart;
* defocus of radius ``R``: dark rings (zeros of ``J1(2 pi R rho) / rho``) about ``1 / (2R)`` apart;
* Gaussian: no zeros, only a faster-than-power-law fall-off.

Each estimator sweeps its parameters over a coarse grid (motion: the length for each candidate stripe
angle found in the detrended spectrum; defocus and Gaussian: the radius or sigma), then refines on finer
grids, scoring each candidate PSF built by :mod:`deconvkit.psf` itself against the data (motion: the
correlation of the anisotropic log-spectra; defocus, Gaussian: the ring-power fit), so the estimate is
exact for the model the library uses.
"""

from __future__ import annotations

import math

import numpy as np

from ..fft import filter_spectrum, frequencies, otf_abs2, periodic_component, power_spectrum
from ..noise import estimate_noise

__all__ = ["Spectrum", "estimate_motion", "estimate_defocus", "estimate_gaussian"]


_MAX_TILE = 256


def _tile_starts(length, tile):
    """Start offsets of tiles of ``tile`` pixels overlapping by half and covering ``length``."""
    if length <= tile:
        return [0]
    count = int(math.ceil((length - tile) / (tile / 2))) + 1
    return [int(round(i * (length - tile) / (count - 1))) for i in range(count)]


class Spectrum:
    """The blurred image's log power spectrum on a square grid, and helpers to compare candidate PSFs.

    Parameters
    ----------
    image : 2-D float array
    max_size : int
        Largest PSF extent considered (pixels); bounds the parameter sweeps.
    """

    def __init__(self, image: np.ndarray, max_size: int):
        image = np.asarray(image, dtype=np.float64)
        self.noise = estimate_noise(image)
        # Large images: average the periodograms of overlapping tiles (Welch). Every tile shows the
        # same OTF zeros, the image's own spectral noise averages out, and the cost stops growing.
        # Square tiles, no zero-padding: padding would add a seam (a bright cross) to the spectrum.
        n = min(min(image.shape), _MAX_TILE)
        self.n = n
        power = np.zeros((n, n))
        tiles = 0
        for top in _tile_starts(image.shape[0], n):
            for left in _tile_starts(image.shape[1], n):
                tile = image[top:top + n, left:left + n]
                periodic = periodic_component(tile - tile.mean())  # no edge-jump cross in the spectrum
                power += power_spectrum(periodic)
                tiles += 1
        power /= tiles
        pixels = n * n
        noise_power = max(self.noise, 1e-6) ** 2 * pixels
        self.log_power = np.log(power + noise_power)
        self.power = power
        self.noise_power = noise_power
        fy = frequencies(n)[:, None]
        fx = frequencies(n)[None, :]
        self.rho = np.hypot(fy, fx)
        self.ring = np.minimum((self.rho * n).round().astype(int), n)
        # use frequencies where the radially averaged power stands clearly above the noise floor
        radial = self._radial_mean(np.log(power + 1e-30))
        above = np.nonzero(radial > math.log(8 * noise_power))[0]
        limit = above[above > 2].max() if np.any(above > 2) else n // 2
        limit = int(min(limit, n // 2))
        self.band = (self.ring >= 3) & (self.ring <= max(limit, 8))
        self.band_limit = limit
        self.max_size = int(max_size)
        lag = frequencies(n) * n  # the "frequencies" of a spectrum are spatial lags
        self._highpass_transfer = 1 - np.exp(-2 * (np.pi * 3.0 / n) ** 2 * (lag[:, None] ** 2 + lag[None, :] ** 2))
        self._rings = np.arange(2, n // 2 + 1)
        self._log_ring_power = np.log(self._radial_mean(power)[self._rings])
        log_rho = np.log(self._rings / n)
        self._design = np.stack([np.ones_like(log_rho), log_rho, log_rho ** 2], axis=1)
        self._ring_noise = noise_power
        self._rss_unblurred = None
        self.detrended = self._highpass(self._anisotropic(self.log_power))

    # --- radial statistics ---------------------------------------------------------------------------
    def _radial_mean(self, values):
        counts = np.bincount(self.ring.ravel(), minlength=self.n + 1)
        sums = np.bincount(self.ring.ravel(), weights=values.ravel(), minlength=self.n + 1)
        return sums / np.maximum(counts, 1)

    def _anisotropic(self, values):
        """``values`` minus their mean over each frequency ring (removes the isotropic image fall-off)."""
        return values - self._radial_mean(values)[self.ring]

    def _highpass(self, values):
        """Remove variations broader than a few bins (image anisotropy), keep the OTF's sharp zeros.

        A circular Gaussian high-pass (sigma 3 bins) over the frequency plane, applied by FFT.
        """
        return filter_spectrum(values, self._highpass_transfer, real=False)

    def radial_profile(self, values):
        return self._radial_mean(values)

    def log_otf(self, psf):
        """Expected log power spectrum of the data if ``psf`` were the blur: ``log(|K|^2 S + noise)``.

        ``S(rho)``, the sharp image's radial power, is ring mean of the data's signal power divided by
        the ring mean of ``|K|^2``; the noise floor makes the model's zeros as shallow as the data's
        are at each frequency, so weak high frequencies do not dominate the fit.
        """
        transfer_abs2 = otf_abs2(psf, (self.n, self.n), real=False)
        signal = np.maximum(self._radial_mean(self.power) - self.noise_power, 1e-3 * self.noise_power)
        sharp = signal / np.maximum(self._radial_mean(transfer_abs2), 1e-12)
        return np.log(transfer_abs2 * sharp[self.ring] + self.noise_power)

    # --- fit scores ----------------------------------------------------------------------------------
    def anisotropic_score(self, psf):
        """Correlation (over the usable band) of the anisotropic log-spectra of image and PSF."""
        model = self._highpass(self._anisotropic(self.log_otf(psf)))
        return _correlation(self.detrended[self.band], model[self.band])

    def radial_fit(self, psf, terms=3):
        """Residual of the best fit of the ring-averaged power by ``S(rho) |K|^2(rho) + noise``.

        ``S`` is a smooth sharp-image spectrum, ``log S`` a polynomial in ``log rho`` with ``terms``
        coefficients, fitted by Gauss-Newton for this PSF. Ring averages of the power (and of ``|K|^2``
        the same way) are nearly noise-free, the noise floor makes the model's ring zeros exactly as
        shallow as the data's, and the residual is a log-likelihood: smaller is a better PSF.
        Returns ``(rss, rss_of_no_blur)``.
        """
        transfer_abs2 = otf_abs2(psf, (self.n, self.n), real=False)
        kernel_power = self.radial_profile(transfer_abs2)[self._rings]
        rss = _fit_power_law(self._log_ring_power, self._design[:, :terms], kernel_power, self._ring_noise)
        if self._rss_unblurred is None:
            self._rss_unblurred = _fit_power_law(self._log_ring_power, self._design[:, :terms],
                                                 np.ones_like(kernel_power), self._ring_noise)
        return rss, self._rss_unblurred

    def radial_score(self, psf):
        """Fraction of the no-blur model's residual that ``psf`` explains (1 = perfect, 0 = no better)."""
        rss, unblurred = self.radial_fit(psf)
        return 1.0 - rss / unblurred if unblurred > 0 else 0.0


def _fit_power_law(log_power, design, kernel_power, noise, iterations=15):
    """Gauss-Newton fit of ``log_power ~ log(exp(design @ c) * kernel_power + noise)``; returns the RSS."""
    coef, *_ = np.linalg.lstsq(design, log_power - np.log(kernel_power + 1e-3), rcond=None)
    rss = np.inf
    for _ in range(iterations):
        signal = np.exp(np.clip(design @ coef, -700, 700)) * kernel_power
        model = signal + noise
        residual = log_power - np.log(model)
        rss = float((residual * residual).sum())
        jacobian = (signal / model)[:, None] * design
        step, *_ = np.linalg.lstsq(jacobian, residual, rcond=None)
        coef = coef + step
        if np.abs(step).max() < 1e-6:
            break
    signal = np.exp(np.clip(design @ coef, -700, 700)) * kernel_power
    residual = log_power - np.log(signal + noise)
    return min(rss, float((residual * residual).sum()))


def _correlation(a, b):
    a = a - a.mean()
    b = b - b.mean()
    denominator = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def _argmax_grid(score, grid):
    values = [score(*p) for p in grid]
    best = int(np.argmax(values))
    return grid[best], values[best]


def _stripe_angles(spectrum: Spectrum, count=2, separation=10.0):
    """Candidate motion angles: directions along which the detrended log-spectrum is striped.

    Motion blur's OTF depends only on the frequency component along the motion, ``f . u``; averaging
    the detrended log-spectrum over lines of constant ``f . u`` keeps the stripes only when ``u`` is the
    motion direction, so the variance of that 1-D profile peaks there (a Radon transform of the
    log-spectrum, without needing the length). Returns the ``count`` best angles (degrees) at least
    ``separation`` apart.
    """
    n = spectrum.n
    lag = frequencies(n) * n
    fy, fx = lag[:, None], lag[None, :]
    band = spectrum.band
    values = spectrum.detrended[band]
    angles = np.arange(0.0, 180.0, 1.0)
    scores = []
    for angle in angles:
        phi = math.radians(angle)
        # image rows grow downwards: the motion vector is (cos, -sin) in (x, y) = (col, row)
        along = np.round(fx * math.cos(phi) - fy * math.sin(phi))[band].astype(int) + n
        counts = np.bincount(along)
        sums = np.bincount(along, weights=values)
        used = counts > 0
        scores.append(float((sums[used] ** 2 / counts[used]).sum() / counts[used].sum()))
    order = np.argsort(scores)[::-1]
    chosen = []
    for idx in order:
        if all(min(abs(angles[idx] - c), 180 - abs(angles[idx] - c)) >= separation for c in chosen):
            chosen.append(float(angles[idx]))
        if len(chosen) == count:
            break
    return chosen


def estimate_motion(spectrum: Spectrum):
    """Linear motion ``(length, angle)`` maximising the anisotropic spectral fit.

    Angle candidates come from :func:`_stripe_angles`; for each, the length is swept over the whole
    range, then both are refined jointly on finer grids. Returns ``(psf, params, score)``.
    """
    from ..psf import motion

    score = lambda length, angle: spectrum.anisotropic_score(motion(length, angle))  # noqa: E731
    best, best_value = None, -np.inf
    lengths = np.arange(2.0, max(spectrum.max_size, 3) + 1e-9, 0.5)
    for angle in _stripe_angles(spectrum):
        cand, value = _argmax_grid(score, [(length, angle) for length in lengths])
        if value > best_value:
            best, best_value = cand, value
    length, angle = best
    for step, span in ((1.0, 2), (0.25, 4)):
        offsets = np.arange(-span, span + 1) * step
        grid = [(max(length + dl, 2.0), angle + da) for dl in offsets for da in offsets]
        (length, angle), best_value = _argmax_grid(score, grid)
    angle = angle % 180.0
    return motion(length, angle), {"length": float(length), "angle": float(angle)}, best_value


def estimate_defocus(spectrum: Spectrum):
    """Defocus disk radius minimising the ring-power fit residual (:meth:`Spectrum.radial_fit`).

    Returns ``(psf, params, score)``; ``score`` is the fraction of the no-blur model's residual explained.
    """
    from ..psf import defocus

    score = lambda radius: spectrum.radial_score(defocus(radius))  # noqa: E731
    grid = [(r,) for r in np.arange(0.75, max(spectrum.max_size / 2, 1.0) + 1e-9, 0.5)]
    (radius,), value = _argmax_grid(score, grid)
    for step in (0.1, 0.02):
        grid = [(r,) for r in np.arange(max(radius - 4 * step, 0.6), radius + 4 * step + 1e-9, step)]
        (radius,), value = _argmax_grid(score, grid)
    radius = float(radius)
    return defocus(radius), {"radius": radius}, value


def estimate_gaussian(spectrum: Spectrum):
    """Gaussian sigma minimising the same ring-power fit as :func:`estimate_defocus`.

    Returns ``(psf, params, score)``. A Gaussian has no zeros, so sigma is fixed by the fall-off beyond a
    power law, weaker evidence than defocus rings: the sharp image's spectrum is modelled with two terms
    (a pure power law) so that its curvature is not confused with the Gaussian's.
    """
    from ..psf import gaussian

    score = lambda sigma: -spectrum.radial_fit(gaussian(sigma), terms=2)[0]  # noqa: E731
    grid = list(np.arange(0.3, max(spectrum.max_size / 4, 0.6), 0.25))
    sigma, _ = _argmax_grid(score, [(g,) for g in grid])
    for step in (0.05, 0.01):
        grid = np.arange(max(sigma[0] - 5 * step, 0.3), sigma[0] + 5 * step + 1e-9, step)
        sigma, _ = _argmax_grid(score, [(g,) for g in grid])
    sigma = float(sigma[0])
    rss, unblurred = spectrum.radial_fit(gaussian(sigma), terms=2)
    return gaussian(sigma), {"sigma": sigma}, 1.0 - rss / unblurred if unblurred > 0 else 0.0
