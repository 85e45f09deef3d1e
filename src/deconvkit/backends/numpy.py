"""The NumPy backend: NumPy arrays, transforms by ``scipy.fft`` (or PyTorch's CPU FFT, ``fft="torch"``).

Workers and FFT engine default to the scoped configuration of :mod:`deconvkit.backends._config`
(:func:`deconvkit.backends.config`), read at each call, so ``with config(workers=2):`` applies to
backends created before the block too.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from .._shared import DeconvkitError
from ._config import FFT_ENGINES, current_fft_engine, current_workers

__all__ = ["NumpyBackend"]


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



class NumpyBackend:
    """Array operations used by the solvers, on NumPy arrays with ``scipy.fft``.

    Every solver touches arrays only through ``+ - * /``, slicing, and these methods, so a backend with the
    same methods (PyTorch, see :mod:`deconvkit.backends.torch`) runs the same solver code unchanged.
    """

    name = "numpy"

    def __init__(self, workers: int | None = None, fft: str | None = None):
        if fft is not None and fft not in FFT_ENGINES:
            raise DeconvkitError(f"fft must be one of {FFT_ENGINES}, got {fft!r}")
        self._workers = workers
        self._fft = fft

    @property
    def workers(self) -> int:
        return current_workers() if self._workers is None else self._workers

    @property
    def fft_engine(self) -> str:
        return current_fft_engine() if self._fft is None else self._fft

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

    # --- image filtering and resampling (the blind estimator's pyramid and dark-channel prior) ---------
    @staticmethod
    def gaussian_filter(x, sigma, mode="nearest"):
        """``scipy.ndimage.gaussian_filter`` (truncated at 4 sigma) over every axis of ``x``."""
        import scipy.ndimage  # here: it costs start-up for every caller that never filters

        return scipy.ndimage.gaussian_filter(x, sigma, mode=mode)

    @staticmethod
    def resample(x, coords, mode="nearest"):
        """Bilinear samples of ``x`` on the grid of per-axis positions ``coords`` (one 1-D host array per
        axis, in pixels): ``scipy.ndimage.map_coordinates(order=1)``, ``mode`` ``"nearest"`` or
        ``"constant"`` (zero outside, no interpolation beyond the edges)."""
        import scipy.ndimage

        grid = np.meshgrid(*coords, indexing="ij")
        return scipy.ndimage.map_coordinates(x, grid, order=1, mode=mode, cval=0.0)

    @staticmethod
    def minimum_filter(x, size, mode="wrap"):
        """Minimum over ``size``-wide (odd) centred windows on every axis (``scipy.ndimage``)."""
        import scipy.ndimage

        return scipy.ndimage.minimum_filter(x, size, mode=mode)

    @staticmethod
    def maximum_filter(x, size, mode="wrap"):
        """Maximum over ``size``-wide (odd) centred windows on every axis (``scipy.ndimage``)."""
        import scipy.ndimage

        return scipy.ndimage.maximum_filter(x, size, mode=mode)
