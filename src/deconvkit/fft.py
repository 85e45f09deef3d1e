"""The FFT/OTF layer: one place where every solver gets its transforms and transfer functions.

Conventions
-----------
* A PSF of size ``k`` along an axis has its centre at index ``k // 2`` (MATLAB's ``psf2otf`` centring; for
  odd sizes this is also ``scipy.signal.convolve(..., mode="same")``). Convolution, not correlation:
  ``y[n] = sum_j psf[j] * x[n - j + k // 2]``.
* Solvers use *real* FFTs over the trailing ``ndim`` axes, so a leading axis (colour channels, a batch) is
  transformed in one call. OTFs are computed once per (PSF, padded shape, dtype) and cached.
* The array backend is pluggable (:func:`get_backend`): NumPy + ``scipy.fft`` (all cores by default) here,
  PyTorch (CPU or CUDA) in :mod:`deconvkit.backends`. Solvers are written once against the small method set
  of :class:`NumpyBackend`.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict

import numpy as np
import scipy.fft

from ._shared import DeconvkitError

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
]


def _default_workers() -> int:
    env = os.environ.get("DECONVKIT_WORKERS")
    if env:
        return int(env)
    return os.cpu_count() or 1


_WORKERS = _default_workers()


_FFT_ENGINES = ("scipy", "torch")
_FFT_ENGINE = os.environ.get("DECONVKIT_FFT", "scipy")


def set_fft_engine(engine: str) -> None:
    """Choose the FFT library behind the NumPy backend: ``"scipy"`` (pocketfft, the default) or
    ``"torch"`` (PyTorch's CPU FFT, MKL on x86 builds, called zero-copy on the NumPy arrays).

    Arrays stay NumPy arrays either way; only the transforms change. Results agree to rounding. Which is
    faster depends on the size and the machine: see ``benchmarks/speed.py`` and
    ``docs/benchmarks.md`` (speed). Also settable with the environment variable ``DECONVKIT_FFT``.
    """
    global _FFT_ENGINE
    if engine not in _FFT_ENGINES:
        raise DeconvkitError(f"fft engine must be one of {_FFT_ENGINES}, got {engine!r}")
    _FFT_ENGINE = engine


def _torch_transform(inverse: bool, array: np.ndarray, shape, workers: int) -> np.ndarray:
    """``rfftn``/``irfftn`` over the trailing axes with PyTorch, sharing memory with NumPy both ways."""
    import torch

    if torch.get_num_threads() != workers:
        torch.set_num_threads(workers)
    if not array.flags.writeable:  # torch.from_numpy needs a writeable buffer
        array = array.copy()
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    dims = tuple(range(-len(shape), 0))
    transform = torch.fft.irfftn if inverse else torch.fft.rfftn
    return transform(tensor, s=tuple(shape), dim=dims).numpy()


def set_workers(workers: int | None) -> None:
    """Set the number of FFT threads used by the NumPy backend (``None`` or -1: all cores)."""
    global _WORKERS
    _WORKERS = (os.cpu_count() or 1) if workers in (None, -1) else int(workers)


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
    return scipy.fft.fftn(psf_to_origin(psf, shape), workers=_WORKERS)


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
    kernel = scipy.fft.ifftn(otf, workers=_WORKERS).real
    kernel = np.roll(kernel, [k // 2 for k in psf_shape], axis=tuple(range(otf.ndim)))
    return kernel[tuple(slice(0, k) for k in psf_shape)]


class NumpyBackend:
    """Array operations used by the solvers, on NumPy arrays with ``scipy.fft``.

    Every solver touches arrays only through ``+ - * /``, slicing, and these methods, so a backend with the
    same methods (PyTorch, see :mod:`deconvkit.backends`) runs the same solver code unchanged.
    """

    name = "numpy"

    def __init__(self, workers: int | None = None, fft: str | None = None):
        if fft is not None and fft not in _FFT_ENGINES:
            raise DeconvkitError(f"fft must be one of {_FFT_ENGINES}, got {fft!r}")
        self._workers = workers
        self._fft = fft

    @property
    def workers(self) -> int:
        return _WORKERS if self._workers is None else self._workers

    @property
    def fft_engine(self) -> str:
        return _FFT_ENGINE if self._fft is None else self._fft

    # --- transforms over the trailing ``ndim`` axes -------------------------------------------------
    def rfftn(self, x, shape, out=None):
        """Real FFT over the trailing ``len(shape)`` axes (zero-padding ``x`` up to ``shape``).

        float32 in -> complex64 out. ``out`` is accepted for interface compatibility with backends that
        can write into a preallocated spectrum; ``scipy.fft`` always returns a fresh array.
        """
        if self.fft_engine == "torch":
            return _torch_transform(False, x, shape, self.workers)
        axes = tuple(range(-len(shape), 0))
        return scipy.fft.rfftn(x, s=shape, axes=axes, workers=self.workers)

    def irfftn(self, spectrum, shape, out=None, overwrite=False):
        """Inverse of :meth:`rfftn` (real output of ``shape`` on the trailing axes).

        ``overwrite=True`` lets the transform destroy ``spectrum`` (saves one spectrum-sized copy inside
        pocketfft); use it only on a temporary.
        """
        if self.fft_engine == "torch":
            result = _torch_transform(True, spectrum, shape, self.workers)
        else:
            axes = tuple(range(-len(shape), 0))
            result = scipy.fft.irfftn(spectrum, s=shape, axes=axes, workers=self.workers,
                                      overwrite_x=overwrite)
        if out is not None:
            out[...] = result
            return out
        return result

    # --- conversion ----------------------------------------------------------------------------------
    def asarray(self, x, dtype=None):
        return np.asarray(x, dtype=dtype)

    def to_numpy(self, x) -> np.ndarray:
        return np.asarray(x)

    @staticmethod
    def item(x) -> float:
        """A Python float from a backend scalar (a host synchronisation on GPU backends)."""
        return float(x)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)

    def empty(self, shape, dtype):
        return np.empty(shape, dtype=dtype)

    def full(self, shape, value, dtype):
        return np.full(shape, value, dtype=dtype)

    def copy(self, x):
        return x.copy()

    # --- in-place friendly arithmetic (``out=`` reuses a buffer: no allocation, no page faults) ------
    multiply = staticmethod(np.multiply)
    add = staticmethod(np.add)
    subtract = staticmethod(np.subtract)
    divide = staticmethod(np.divide)

    # --- element-wise (``maximum``/``minimum`` take ``out=``, as every ufunc) ---------------------------
    abs = staticmethod(np.abs)
    sqrt = staticmethod(np.sqrt)
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    sign = staticmethod(np.sign)
    conj = staticmethod(np.conj)
    real = staticmethod(np.real)
    where = staticmethod(np.where)
    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)

    @staticmethod
    def clip(x, lo, hi, out=None):
        if isinstance(x, (int, float)):
            # a Python scalar stays a Python float: np.clip would return np.float64, which (NEP 50)
            # would silently upcast float32 arrays it multiplies
            return float(min(max(x, lo), hi))
        return np.clip(x, lo, hi, out=out)

    @staticmethod
    def abs2(z):
        """|z|^2 of a complex array, without the square root."""
        return z.real * z.real + z.imag * z.imag

    # --- reductions ----------------------------------------------------------------------------------
    @staticmethod
    def sum(x, axis=None):
        return np.sum(x, axis=axis)

    @staticmethod
    def vdot(x, y) -> float:
        """Real part of ``<x, y>`` as a backend scalar (a Python float here, a 0-d tensor on torch).

        Backend scalars combine with arrays without changing their dtype and with Python numbers
        through ``+ - * /``; use :meth:`item` where a Python float is really needed (a host sync on GPU).
        """
        return float(np.vdot(x, y).real)

    @staticmethod
    def norm(x) -> float:
        """Euclidean norm of all elements, as a backend scalar (see :meth:`vdot`)."""
        return float(np.linalg.norm(np.ravel(x)))

    # --- shifts along the trailing axes (finite differences) -----------------------------------------
    @staticmethod
    def stack(arrays, axis):
        return np.stack(arrays, axis=axis)

    @staticmethod
    def roll(x, shift, axis):
        return np.roll(x, shift, axis=axis)

    @staticmethod
    def rfft_frequencies(shape, dtype):
        """Per-axis frequency grids (radians) broadcastable to the rfftn spectrum of ``shape``."""
        grids = []
        d = len(shape)
        for i, n in enumerate(shape):
            freqs = (scipy.fft.rfftfreq(n) if i == d - 1 else scipy.fft.fftfreq(n)) * 2 * np.pi
            view = [1] * d
            view[i] = freqs.size
            grids.append(freqs.astype(dtype).reshape(view))
        return grids


_BACKENDS: dict[str, object] = {"numpy": NumpyBackend}


def register_backend(name: str, factory) -> None:
    """Register a backend factory under ``name`` (used by :mod:`deconvkit.backends`)."""
    _BACKENDS[name] = factory


def get_backend(name: str | object | None = "numpy", **kwargs):
    """Return a backend instance by name ("numpy", or "torch"/"cuda" once :mod:`deconvkit.backends` is
    importable), or pass an instance through."""
    if name is None:
        name = "numpy"
    if not isinstance(name, str):
        return name
    if name not in _BACKENDS:
        try:  # optional backends register themselves on import
            from . import backends  # noqa: F401
        except ImportError:
            pass
    if name not in _BACKENDS:
        raise DeconvkitError(f"unknown backend {name!r}; available: {sorted(_BACKENDS)}")
    return _BACKENDS[name](**kwargs)


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


otf_cache = OTFCache()
