"""The NumPy backend: NumPy arrays, transforms by ducc0 or ``scipy.fft`` (or PyTorch's CPU FFT).

Workers and FFT engine default to the scoped configuration of :mod:`deconvkit.backends._config`
(:func:`deconvkit.backends.config`), read at each call, so ``with config(workers=2):`` applies to
backends created before the block too. The engine ``"auto"`` (the default) is ducc0 when it is installed
(extra ``deconvkit[fast]``), pocketfft (``scipy.fft``) otherwise; :func:`real_forward` /
:func:`real_inverse` are the one place where either is called for real transforms.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.fft

from ._config import _check_engine, _ducc_fft, _resolve_engine, current_fft_engine, current_workers

__all__ = ["NumpyBackend", "real_forward", "real_inverse", "fft_threads"]

# Below this many real values per call (about 724^2) a transform runs on one thread, whatever the workers
# setting: starting and joining threads for a small transform costs more than it saves on a busy machine.
# Measured with `benchmarks/fft_engines.py --thread-cutoff` (docs/benchmarks_fft.md, "Wired in"): on the
# 2-core VM at load 11, two threads were 1.3-23x slower than one for both engines up to 512^2, scipy also
# at 720^2, and break-even or faster only at 1080^2.
SERIAL_BELOW = 1 << 19


def fft_threads(workers: int, size: int) -> int:
    """Threads for a transform of ``size`` real values: ``workers`` (``< 1``, as scipy's -1: all cores), or
    1 below :data:`SERIAL_BELOW`."""
    if size < SERIAL_BELOW:
        return 1
    workers = int(workers)
    return workers if workers >= 1 else (os.cpu_count() or 1)


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


# ducc0 computes in the input's precision only; scipy.fft promotes float16 to float32 and integers / bools
# to float64 first, and the ducc path does the same so that both engines return the same dtypes
_DUCC_REAL = {np.dtype(np.float32): np.complex64, np.dtype(np.float64): np.complex128}
_DUCC_COMPLEX = {np.dtype(np.complex64): np.float32, np.dtype(np.complex128): np.float64}


def _ducc_input(x: np.ndarray):
    """``x`` in a dtype ducc0 transforms (as scipy would promote it), or ``None`` for scipy to handle
    (long double, complex input: scipy's own result or error)."""
    if x.dtype in _DUCC_REAL:
        return x
    if x.dtype == np.float16:
        return x.astype(np.float32)
    if x.dtype.kind in "biu":
        return x.astype(np.float64)
    return None


def _fit_to(x: np.ndarray, axes, shape) -> np.ndarray:
    """``x`` zero-padded / cropped to ``shape`` on ``axes`` (what scipy's ``s=`` does; ducc0 has no ``s``)."""
    target = list(x.shape)
    for axis, n in zip(axes, shape):
        target[axis] = n
    fitted = np.zeros(target, dtype=x.dtype)
    common = [slice(None)] * x.ndim
    for axis, n in zip(axes, shape):
        common[axis] = slice(0, min(n, x.shape[axis]))
    fitted[tuple(common)] = x[tuple(common)]
    return fitted


def _usable_out(out, shape, dtype, source) -> bool:
    """``out`` can receive the result directly: right shape and dtype, no overlap with the input."""
    return (out is not None and tuple(out.shape) == tuple(shape) and out.dtype == dtype
            and out.flags.writeable and not np.may_share_memory(out, source))


def _deliver(result, out):
    """The result, copied into ``out`` when one was given (and not written directly)."""
    if out is None or result is out:
        return result
    out[...] = result
    return out


def real_forward(x, axes, shape=None, *, workers: int, engine: str = "scipy", out=None):
    """Real FFT of ``x`` over ``axes``, zero-padded / cropped to ``shape`` there (``x``'s sizes by default).

    ``engine`` ``"ducc"`` or ``"scipy"`` (pocketfft); the same dtypes either way (float32 -> complex64,
    float64, integers -> complex128). ``out``: the spectrum is written there (directly by ducc0 when it
    has the result's shape and dtype, else copied) and returned.
    """
    x = np.asarray(x)
    axes = tuple(a % x.ndim for a in axes)
    shape = tuple(x.shape[a] for a in axes) if shape is None else tuple(int(n) for n in shape)
    threads = fft_threads(workers, x.size)
    ducc = _ducc_fft() if engine == "ducc" else None
    source = _ducc_input(x) if ducc is not None else None
    if source is None or x.size == 0 or len(axes) != len(shape):
        return _deliver(scipy.fft.rfftn(x, s=shape, axes=axes, workers=threads), out)
    if tuple(source.shape[a] for a in axes) != shape:
        source = _fit_to(source, axes, shape)
    result_shape = list(source.shape)
    result_shape[axes[-1]] = shape[-1] // 2 + 1
    direct = _usable_out(out, result_shape, _DUCC_REAL[source.dtype], source)
    result = ducc.r2c(source, axes=axes, nthreads=threads, out=out if direct else None)
    return _deliver(result, out)


def real_inverse(spectrum, axes, shape, *, workers: int, engine: str = "scipy", out=None, overwrite=False):
    """Inverse of :func:`real_forward`: real output of ``shape`` on ``axes``.

    ``overwrite=True`` lets the transform destroy ``spectrum`` (a temporary): pocketfft then saves a copy
    only in some cases, ducc0 keeps the peak at input + output. ducc0 runs when the spectrum already has
    the shape ``shape`` implies (``shape[-1] // 2 + 1`` on the last axis); any other case goes to scipy,
    which crops / zero-pads it.
    """
    spectrum = np.asarray(spectrum)
    axes = tuple(a % spectrum.ndim for a in axes)
    shape = tuple(int(n) for n in shape)
    threads = fft_threads(workers, spectrum.size * 2)
    ducc = _ducc_fft() if engine == "ducc" else None
    expected = shape[:-1] + (shape[-1] // 2 + 1,)
    if (ducc is None or spectrum.dtype not in _DUCC_COMPLEX or spectrum.size == 0
            or tuple(spectrum.shape[a] for a in axes) != expected):
        return _deliver(scipy.fft.irfftn(spectrum, s=shape, axes=axes, workers=threads, overwrite_x=overwrite),
                        out)
    result_shape = list(spectrum.shape)
    result_shape[axes[-1]] = shape[-1]
    direct = _usable_out(out, result_shape, _DUCC_COMPLEX[spectrum.dtype], spectrum)
    # inorm=2: divide by the product of the transformed sizes, scipy's norm="backward"
    result = ducc.c2r(spectrum, axes=axes, lastsize=shape[-1], forward=False, inorm=2, nthreads=threads,
                      out=out if direct else None,
                      allow_overwriting_input=bool(overwrite and spectrum.flags.writeable))
    return _deliver(result, out)


class NumpyBackend:
    """Array operations used by the solvers, on NumPy arrays (transforms by ducc0 or ``scipy.fft``).

    Every solver touches arrays only through ``+ - * /``, slicing, and these methods, so a backend with the
    same methods (PyTorch, see :mod:`deconvkit.backends.torch`) runs the same solver code unchanged.
    """

    name = "numpy"

    def __init__(self, workers: int | None = None, fft: str | None = None):
        self._workers = workers
        # checked now: an unknown name, or "ducc" without ducc0, fails here rather than at the first transform
        self._fft = None if fft is None else _check_engine(fft)

    @property
    def workers(self) -> int:
        return current_workers() if self._workers is None else self._workers

    @property
    def fft_engine(self) -> str:
        """``"scipy"``, ``"ducc"`` or ``"torch"`` (an ``"auto"`` setting resolved)."""
        return current_fft_engine() if self._fft is None else _resolve_engine(self._fft)

    # --- transforms over the trailing ``ndim`` axes -------------------------------------------------
    def rfftn(self, x, shape, out=None):
        """Real FFT over the trailing ``len(shape)`` axes (zero-padding ``x`` up to ``shape``).

        float32 in -> complex64 out. With ``out`` (a reused spectrum buffer) the result is written there
        and ``out`` is returned: ducc0 writes into it directly (no allocation, no page faults on a large
        array), the other engines copy their result into it.
        """
        engine = self.fft_engine
        if engine == "torch":
            return _deliver(_torch_transform(False, x, shape, self.workers), out)
        return real_forward(x, tuple(range(-len(shape), 0)), shape, workers=self.workers, engine=engine, out=out)

    def irfftn(self, spectrum, shape, out=None, overwrite=False):
        """Inverse of :meth:`rfftn` (real output of ``shape`` on the trailing axes; into ``out`` if given).

        ``overwrite=True`` lets the transform destroy ``spectrum`` (saves a spectrum-sized temporary
        inside the engine); use it only on a temporary.
        """
        engine = self.fft_engine
        if engine == "torch":
            return _deliver(_torch_transform(True, spectrum, shape, self.workers), out)
        return real_inverse(spectrum, tuple(range(-len(shape), 0)), shape, workers=self.workers, engine=engine,
                            out=out, overwrite=overwrite)

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
