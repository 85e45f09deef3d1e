"""Parametric PSF estimation from the blurred image's spectrum.

A blur multiplies the image spectrum by the OTF, so ``log|Y|^2 = log|X|^2 + log|K|^2`` (plus noise). The
sharp image's log-spectrum is smooth and nearly isotropic (a power law in frequency), so what is left
after removing the radial trend is dominated by the OTF's own pattern:

* linear motion of length ``L`` at angle ``a``: parallel dark lines (zeros of a sinc) perpendicular to the
  motion, spaced ``N / L`` frequency bins apart;
* defocus of radius ``R``: dark rings (zeros of ``J1(2 pi R rho) / rho``) about ``1 / (2R)`` apart;
* Gaussian: no zeros, only a faster-than-power-law fall-off.

Each estimator finds a coarse guess from the power cepstrum (the inverse FFT of the log spectrum, where
periodic zeros become a negative peak at distance ``L``, or a ring at radius ``2R``), then refines it by
maximising the correlation between the image's detrended log-spectrum and that of the candidate PSF built
by :mod:`deconvkit.psf` itself, so the estimate is exact for the model the library uses.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
import scipy.ndimage

from ..fft import fast_shape, psf_to_origin
from ..noise import estimate_noise

__all__ = ["Spectrum", "estimate_motion", "estimate_defocus", "estimate_gaussian"]


_MAX_TILE = 256


def _tile_starts(length, tile):
    """Start offsets of tiles of ``tile`` pixels overlapping by half and covering ``length``."""
    if length <= tile:
        return [0]
    count = int(math.ceil((length - tile) / (tile / 2))) + 1
    return [int(round(i * (length - tile) / (count - 1))) for i in range(count)]


def _periodic_component(image: np.ndarray) -> np.ndarray:
    """Moisan's periodic + smooth decomposition: the periodic part has no jump across the frame's edges.

    Those jumps would add a bright cross to the spectrum that looks like motion along the axes; unlike a
    window, removing the smooth part does not smear the OTF's zeros.
    """
    rows, cols = image.shape
    boundary = np.zeros_like(image)
    boundary[0, :] += image[-1, :] - image[0, :]
    boundary[-1, :] -= image[-1, :] - image[0, :]
    boundary[:, 0] += image[:, -1] - image[:, 0]
    boundary[:, -1] -= image[:, -1] - image[:, 0]
    q = np.arange(rows)[:, None]
    r = np.arange(cols)[None, :]
    denominator = 2 * np.cos(2 * np.pi * q / rows) + 2 * np.cos(2 * np.pi * r / cols) - 4
    denominator[0, 0] = 1.0
    smooth = scipy.fft.fft2(boundary) / denominator
    smooth[0, 0] = 0.0
    return image - scipy.fft.ifft2(smooth).real


class Spectrum:
    """The blurred image's log power spectrum on a square grid, and helpers to compare candidate PSFs.

    Parameters
    ----------
    image : 2-D float array
    max_size : int
        Largest PSF extent considered (pixels); bounds the cepstrum search.
    """

    def __init__(self, image: np.ndarray, max_size: int):
        image = np.asarray(image, dtype=np.float64)
        self.noise = estimate_noise(image)
        # Large images: average the periodograms of overlapping tiles (Welch). Every tile shows the
        # same OTF zeros, the image's own spectral noise averages out, and the cost stops growing.
        n = fast_shape([min(max(image.shape), _MAX_TILE)])[0]
        self.n = n
        power = np.zeros((n, n))
        tiles = 0
        for top in _tile_starts(image.shape[0], n):
            for left in _tile_starts(image.shape[1], n):
                tile = image[top:top + n, left:left + n]
                periodic = _periodic_component(tile - tile.mean())
                padded = np.zeros((n, n))
                # zero-padding a non-square tile keeps bins isotropic; the periodic part has no seam
                padded[:tile.shape[0], :tile.shape[1]] = periodic
                power += np.abs(scipy.fft.fft2(padded)) ** 2
                tiles += 1
        power /= tiles
        pixels = min(image.shape[0], n) * min(image.shape[1], n)
        noise_power = max(self.noise, 1e-6) ** 2 * pixels
        self.log_power = np.log(power + noise_power)
        self.power = power
        self.noise_power = noise_power
        fy = scipy.fft.fftfreq(n)[:, None]
        fx = scipy.fft.fftfreq(n)[None, :]
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
        lag = scipy.fft.fftfreq(n) * n  # the "frequencies" of a spectrum are spatial lags
        self._highpass_transfer = 1 - np.exp(-2 * (np.pi * 3.0 / n) ** 2 * (lag[:, None] ** 2 + lag[None, :] ** 2))
        self.detrended = self._highpass(self._anisotropic(self.log_power))
        # smooth power-law model of the blurred image's signal power (for isotropic fits' noise floor)
        lo, hi = 3, max(limit, 8)
        rings = np.arange(lo, hi + 1)
        signal = np.maximum(self._radial_mean(power)[lo:hi + 1] - noise_power, 1e-3 * noise_power)
        coef = np.polyfit(np.log(rings), np.log(signal), 1)
        self.smooth_signal = np.exp(np.polyval(coef, np.log(np.maximum(self.ring, 1))))

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
        return scipy.fft.ifft2(scipy.fft.fft2(values) * self._highpass_transfer).real

    def radial_profile(self, values):
        return self._radial_mean(values)

    def log_otf(self, psf):
        """Expected log power spectrum of the data if ``psf`` were the blur: ``log(|K|^2 S + noise)``.

        ``S(rho)``, the sharp image's radial power, is ring mean of the data's signal power divided by
        the ring mean of ``|K|^2``; the noise floor makes the model's zeros as shallow as the data's
        are at each frequency, so weak high frequencies do not dominate the fit.
        """
        otf_abs2 = np.abs(scipy.fft.fft2(psf_to_origin(psf, (self.n, self.n)))) ** 2
        signal = np.maximum(self._radial_mean(self.power) - self.noise_power, 1e-3 * self.noise_power)
        sharp = signal / np.maximum(self._radial_mean(otf_abs2), 1e-12)
        return np.log(otf_abs2 * sharp[self.ring] + self.noise_power)

    def cepstrum(self):
        return scipy.fft.ifft2(self.log_power).real

    # --- fit scores ----------------------------------------------------------------------------------
    def anisotropic_score(self, psf):
        """Correlation (over the usable band) of the anisotropic log-spectra of image and PSF."""
        model = self._highpass(self._anisotropic(self.log_otf(psf)))
        return _correlation(self.detrended[self.band], model[self.band])

    def radial_score(self, psf):
        """Correlation of detrended radial log-spectra (for isotropic PSFs)."""
        lo, hi = 3, max(self.band_limit, 8)
        data = _detrend(self.radial_profile(self.log_power)[lo:hi + 1])
        otf_abs2 = np.abs(scipy.fft.fft2(psf_to_origin(psf, (self.n, self.n)))) ** 2
        log_model = np.log(otf_abs2 * self.smooth_signal + self.noise_power)
        model = _detrend(self.radial_profile(log_model)[lo:hi + 1])
        return _correlation(data, model)


def _correlation(a, b):
    a = a - a.mean()
    b = b - b.mean()
    denominator = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def _detrend(profile):
    """Remove a smooth trend (quadratic in log-frequency) so that only the OTF's ripples remain."""
    x = np.log(np.arange(profile.size) + 3.0)
    design = np.stack([np.ones_like(x), x, x * x], axis=1)
    coef, *_ = np.linalg.lstsq(design, profile, rcond=None)
    return profile - design @ coef


def _argmax_grid(score, grid):
    values = [score(*p) for p in grid]
    best = int(np.argmax(values))
    return grid[best], values[best]


def estimate_motion(spectrum: Spectrum):
    """Linear motion ``(length, angle)`` maximising the anisotropic spectral fit.

    Returns ``(psf, params, score)``.
    """
    from ..psf import motion

    n = spectrum.n
    cep = scipy.fft.fftshift(spectrum.cepstrum())
    centre = n // 2
    y, x = np.indices(cep.shape) - centre
    radius = np.hypot(y, x)
    search = (radius >= 3) & (radius <= spectrum.max_size)
    candidates = np.where(search, cep, np.inf)
    # Coarse: a handful of the most negative cepstral points (periodic zeros -> negative peak at L).
    order = np.argsort(candidates.ravel())[:6]
    starts = []
    for idx in order:
        py, px = np.unravel_index(idx, cep.shape)
        dy, dx = py - centre, px - centre
        starts.append((float(np.hypot(dy, dx)), math.degrees(math.atan2(-dy, dx)) % 180.0))
    # Also a coarse angle sweep at the cepstral lengths, in case image texture dominates the cepstrum.
    score = lambda length, angle: spectrum.anisotropic_score(motion(length, angle))  # noqa: E731
    best, best_value = None, -np.inf
    for length, angle in starts:
        for cand_len in (length, length + 1):
            value = score(cand_len, angle)
            if value > best_value:
                best, best_value = (cand_len, angle), value
    sweep_lengths = sorted({round(s[0]) for s in starts[:2]} | {best[0]})
    sweep = [(ln, a) for ln in sweep_lengths for a in np.arange(0.0, 180.0, 3.0)]
    cand, value = _argmax_grid(score, sweep)
    if value > best_value:
        best, best_value = cand, value
    # Refine: angle then length then both, on shrinking grids.
    length, angle = best
    for step, span in ((1.0, 3), (0.25, 4)):
        offsets = np.arange(-span, span + 1) * step
        grid = [(max(length + dl, 2.0), angle + da) for dl in offsets for da in offsets]
        (length, angle), best_value = _argmax_grid(score, grid)
    angle = angle % 180.0
    return motion(length, angle), {"length": float(length), "angle": float(angle)}, best_value


def estimate_defocus(spectrum: Spectrum):
    """Defocus disk radius maximising the radial spectral fit. Returns ``(psf, params, score)``."""
    from ..psf import defocus

    cep = spectrum.cepstrum()
    profile = spectrum.radial_profile(cep)
    hi = min(2 * spectrum.max_size, profile.size - 1)
    # periodic ring zeros 1/(2R) apart -> a negative cepstral ring at radius about 2R
    coarse = [0.5 * r for r in np.argsort(profile[4:hi + 1])[:3] + 4]
    score = lambda radius: spectrum.radial_score(defocus(radius))  # noqa: E731
    grid = sorted({float(r) for c in coarse for r in np.arange(max(c - 2, 1.0), c + 2.01, 0.5)}
                  | {float(r) for r in np.arange(1.0, spectrum.max_size / 2 + 0.01, 1.0)})
    values = [score(r) for r in grid]
    radius = grid[int(np.argmax(values))]
    for step in (0.25, 0.05):
        grid = np.arange(max(radius - 4 * step, 0.6), radius + 4 * step + 1e-9, step)
        values = [score(r) for r in grid]
        radius = float(grid[int(np.argmax(values))])
    return defocus(radius), {"radius": radius}, max(values)


def estimate_gaussian(spectrum: Spectrum):
    """Gaussian sigma from the spectrum's fall-off beyond a power law. Returns ``(psf, params, score)``.

    ``log |Y(rho)|^2 = a + b log(rho) - 4 pi^2 sigma^2 rho^2`` is fitted by least squares over the band
    where the signal stands above the noise; the power-law part models the sharp image.
    """
    from ..psf import gaussian

    lo, hi = 3, max(spectrum.band_limit, 8)
    rho = np.arange(lo, hi + 1) / spectrum.n
    profile = spectrum.radial_profile(spectrum.log_power)[lo:hi + 1]
    design = np.stack([np.ones_like(rho), np.log(rho), -4 * np.pi ** 2 * rho ** 2], axis=1)
    coef, *_ = np.linalg.lstsq(design, profile, rcond=None)
    sigma = math.sqrt(max(coef[2], 0.0))
    sigma = float(min(max(sigma, 0.3), spectrum.max_size / 4))
    fitted = design @ coef
    score = _correlation(_detrend(profile), _detrend(fitted))
    return gaussian(sigma), {"sigma": sigma}, score
