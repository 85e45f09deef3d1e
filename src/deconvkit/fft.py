"""The FFT/OTF layer: one place where every solver gets its transforms and transfer functions.

Conventions
-----------
* A PSF of size ``k`` along an axis has its centre at index ``k // 2`` (MATLAB's ``psf2otf`` centring; for
  odd sizes this is also ``scipy.signal.convolve(..., mode="same")``). Convolution, not correlation:
  ``y[n] = sum_j psf[j] * x[n - j + k // 2]``.
* Solvers use *real* FFTs over the trailing ``ndim`` axes, so a leading axis (colour channels, a batch) is
  transformed in one call. OTFs are computed once per (PSF, padded shape, dtype) and cached.
* The array backend is pluggable (:func:`deconvkit.backends.get_backend`, re-exported here): NumPy
  arrays with ducc0 (extra ``deconvkit[fast]``) or ``scipy.fft`` transforms (all cores by default), or
  PyTorch (CPU or CUDA), all in :mod:`deconvkit.backends`, which imports nothing from this module. The
  real-FFT helpers here (:func:`filter_spectrum`, :func:`power_spectrum` with ``real=True``) follow the
  same engine choice; the complex DFTs (OTFs, small blind-estimation grids) stay on ``scipy.fft``.
  Solvers are written once against the small method set of :class:`~deconvkit.backends.NumpyBackend`.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import OrderedDict

import numpy as np
import scipy.fft

from . import backends as _backends
from ._shared import DeconvkitError
from .backends import NumpyBackend, get_backend, register_backend  # noqa: F401  (re-exported)
from .backends.numpy import real_forward, real_inverse

__all__ = [
    "psf2otf",
    "otf2psf",
    "psf_to_origin",
    "fast_shape",
    "NumpyBackend",
    "get_backend",
    "register_backend",
    "set_workers",
    "set_fft_engine",
    "frequencies",
    "to_spectrum",
    "from_spectrum",
    "power_spectrum",
    "otf_abs2",
    "filter_spectrum",
    "periodic_component",
]


def set_workers(workers: int | None) -> None:
    """Alias of :func:`deconvkit.backends.set_workers` (FFT threads; ``None`` or -1: all cores)."""
    _backends.set_workers(workers)


def set_fft_engine(engine: str) -> None:
    """Alias of :func:`deconvkit.backends.set_fft_engine` (``"auto"``, ``"scipy"``, ``"ducc"`` or ``"torch"``)."""
    _backends.set_fft_engine(engine)


def fast_shape(shape) -> tuple[int, ...]:
    """Smallest shape >= ``shape`` whose sizes are fast for real FFTs (``scipy.fft.next_fast_len``)."""
    return tuple(scipy.fft.next_fast_len(int(n), real=True) for n in shape)


def psf_to_origin(psf: np.ndarray, shape) -> np.ndarray:
    """Zero-pad ``psf`` to ``shape`` and roll its centre (index ``k // 2``) to the origin.

    Along each axis the PSF must fit in ``shape``. The result is the circular-convolution kernel whose DFT
    is the OTF.
    """
    psf = np.asarray(psf)
    shape = tuple(int(s) for s in shape)
    if psf.ndim != len(shape):
        raise DeconvkitError(f"psf is {psf.ndim}-D but the OTF shape {shape} is {len(shape)}-D")
    if any(k > s for k, s in zip(psf.shape, shape)):
        raise DeconvkitError(f"psf shape {psf.shape} does not fit in the OTF shape {shape}")
    padded = np.zeros(shape, dtype=psf.dtype)
    padded[tuple(slice(0, k) for k in psf.shape)] = psf
    return np.roll(padded, [-(k // 2) for k in psf.shape], axis=tuple(range(psf.ndim)))


def psf2otf(psf, shape=None) -> np.ndarray:
    """Optical transfer function: the full complex DFT of the PSF padded to ``shape`` and centred at 0.

    Same semantics as MATLAB's ``psf2otf``: the PSF centre (index ``k // 2`` on each axis) is moved to the
    origin so that the OTF of a symmetric PSF is real.

    Parameters
    ----------
    psf : ndarray
        Point-spread function (any real dtype).
    shape : tuple of int, optional
        Output shape, at least ``psf.shape`` on every axis. Defaults to ``psf.shape``.

    Returns
    -------
    otf : complex ndarray of ``shape``

    Examples
    --------
    >>> otf = psf2otf(np.ones((3, 3)) / 9, (8, 8))
    >>> otf.shape, bool(np.allclose(otf.imag, 0, atol=1e-12)), float(otf[0, 0].real)
    ((8, 8), True, 1.0)
    """
    psf = np.asarray(psf)
    shape = psf.shape if shape is None else tuple(shape)
    return scipy.fft.fftn(psf_to_origin(psf, shape), workers=_backends.current_workers())


def otf2psf(otf, psf_shape=None) -> np.ndarray:
    """Inverse of :func:`psf2otf`: the real PSF of size ``psf_shape`` whose padded DFT is ``otf``.

    >>> psf = np.random.default_rng(0).random((5, 3))
    >>> bool(np.allclose(otf2psf(psf2otf(psf, (16, 16)), psf.shape), psf))
    True
    """
    otf = np.asarray(otf)
    psf_shape = otf.shape if psf_shape is None else tuple(psf_shape)
    if len(psf_shape) != otf.ndim or any(k > s for k, s in zip(psf_shape, otf.shape)):
        raise DeconvkitError(f"psf_shape {psf_shape} does not fit in the OTF shape {otf.shape}")
    kernel = scipy.fft.ifftn(otf, workers=_backends.current_workers()).real
    kernel = np.roll(kernel, [k // 2 for k in psf_shape], axis=tuple(range(otf.ndim)))
    return kernel[tuple(slice(0, k) for k in psf_shape)]


def frequencies(n: int, real: bool = False) -> np.ndarray:
    """DFT sample frequencies (cycles per sample) of an axis of length ``n``: ``scipy.fft.fftfreq``, or
    ``rfftfreq`` with ``real=True`` (the last axis of a real-FFT spectrum)."""
    return scipy.fft.rfftfreq(n) if real else scipy.fft.fftfreq(n)


def to_spectrum(x, shape, backend=None):
    """Real FFT over the trailing ``len(shape)`` axes through the array backend (zero-padding to ``shape``).

    For operators defined by a spectrum that is not a PSF's OTF (e.g. the blind kernel update, where the
    "PSF" is the latent image); a PSF's operator is :class:`deconvkit.operators.PeriodicConvolution`.
    """
    backend = get_backend(backend) if not isinstance(backend, NumpyBackend) else backend
    return backend.rfftn(x, tuple(shape))


def from_spectrum(spectrum, shape, backend=None, overwrite=False):
    """Inverse of :func:`to_spectrum` (``overwrite=True`` lets it destroy a temporary ``spectrum``)."""
    backend = get_backend(backend) if not isinstance(backend, NumpyBackend) else backend
    return backend.irfftn(spectrum, tuple(shape), overwrite=overwrite)


def _axes(x, axes):
    return tuple(range(np.ndim(x))) if axes is None else tuple(axes)


def _host_engine() -> str:
    """Engine of the real transforms on host arrays here: ducc0 when it is the configured engine, else
    pocketfft (the ``"torch"`` engine serves the backend's trailing-axes pairs only)."""
    return "ducc" if _backends.current_fft_engine() == "ducc" else "scipy"


def power_spectrum(x, axes=None, real: bool = False) -> np.ndarray:
    """``|DFT(x)|^2`` over ``axes`` (all by default): the full complex DFT, or the real-FFT half grid with
    ``real=True``. Host arrays; no normalisation (divide by the pixel count for a periodogram)."""
    x = np.asarray(x)
    axes = _axes(x, axes)
    workers = _backends.current_workers()
    if real:
        spectrum = real_forward(x, axes, workers=workers, engine=_host_engine())
    else:
        spectrum = scipy.fft.fftn(x, axes=axes, workers=workers)
    return np.abs(spectrum) ** 2


def otf_abs2(psf, shape, real: bool = True) -> np.ndarray:
    """``|H|^2`` of ``psf`` on the periodic grid of ``shape`` (real-FFT half grid unless ``real=False``)."""
    return power_spectrum(psf_to_origin(np.asarray(psf), shape), real=real)


def filter_spectrum(x, transfer, axes=None, *, real: bool = True, shape=None, divide: bool = False):
    """Apply a Fourier-domain filter: ``IDFT(DFT(x) * transfer)`` over ``axes`` (all by default).

    Parameters
    ----------
    x : ndarray
        Host array.
    transfer : ndarray
        Transfer function broadcastable to the spectrum (the real-FFT half grid with ``real=True``, the
        full grid otherwise), in the precision wanted: a float64 transfer promotes a float32 spectrum.
    real : bool
        Real FFT pair (real ``x``, real result). With ``False`` the full complex DFT is used and the real
        part of the result returned (for transfer functions without the Hermitian symmetry).
    shape : tuple of int, optional
        Output sizes along ``axes`` for the real inverse (``x``'s sizes by default).
    divide : bool
        Divide the spectrum by ``transfer`` instead (an inverse filter; ``transfer`` must be non-zero,
        ``inf`` entries zero those frequencies).
    """
    x = np.asarray(x)
    axes = _axes(x, axes)
    workers = _backends.current_workers()
    engine = _host_engine()
    if real:
        spectrum = real_forward(x, axes, workers=workers, engine=engine)
    else:
        spectrum = scipy.fft.fftn(x, axes=axes, workers=workers)
    # the spectrum is a temporary: filter it in place and let the inverse transform destroy it
    if divide:
        spectrum /= transfer
    else:
        spectrum *= transfer
    if real:
        shape = tuple(x.shape[a] for a in axes) if shape is None else tuple(shape)
        return real_inverse(spectrum, axes, shape, workers=workers, engine=engine, overwrite=True)
    return scipy.fft.ifftn(spectrum, axes=axes, workers=workers, overwrite_x=True).real


def periodic_component(image: np.ndarray) -> np.ndarray:
    """Moisan's periodic + smooth decomposition of a 2-D image: the periodic part, without a jump across
    the frame's edges.

    Those jumps would add a bright cross to the spectrum; unlike a window, removing the smooth part (the
    solution of a Poisson equation driven by the edge jumps, solved in the Fourier basis) does not smear
    the spectrum's zeros.
    """
    image = np.asarray(image)
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
    smooth = scipy.fft.fft2(boundary, workers=_backends.current_workers()) / denominator
    smooth[0, 0] = 0.0  # the smooth part has zero mean
    return image - scipy.fft.ifft2(smooth, workers=_backends.current_workers()).real


class OTFCache:
    """Small LRU cache of OTFs keyed by (PSF bytes, padded shape, dtype, backend).

    Iterative solvers, parameter searches and per-channel runs reuse the same OTF instead of re-transforming
    the PSF (scikit-image's Richardson-Lucy re-transforms it every iteration).
    """

    def __init__(self, maxsize: int = 16):
        self.maxsize = maxsize
        self._store: OrderedDict = OrderedDict()

    def get(self, psf: np.ndarray, shape, backend, dtype):
        psf = np.ascontiguousarray(psf)
        key = (hashlib.sha1(psf.tobytes()).hexdigest(), psf.shape, psf.dtype.str, tuple(shape),
               np.dtype(dtype).str, getattr(backend, "cache_key", backend.name))
        if key in self._store:
            self._store.move_to_end(key)
            return self._store[key]
        kernel = psf_to_origin(psf.astype(dtype, copy=False), shape)
        otf = backend.rfftn(backend.asarray(kernel), tuple(shape))
        self._store[key] = otf
        if len(self._store) > self.maxsize:
            self._store.popitem(last=False)
        return otf

    @contextlib.contextmanager
    def transient(self):
        """A block whose new entries are dropped when it ends; entries that were there before are kept.

        For work that builds many one-off convolutions (a blind estimate's kernel updates) and must not
        leave their spectra alive for what follows. Cached or not, an OTF has the same values.
        """
        before = set(self._store)
        try:
            yield self
        finally:
            for key in [key for key in self._store if key not in before]:
                del self._store[key]


otf_cache = OTFCache()
