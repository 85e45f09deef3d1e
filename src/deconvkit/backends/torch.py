"""PyTorch array backend: the solvers' method set on torch tensors, on the CPU or a CUDA GPU.

Every solver works on ``problem.backend`` only (see :class:`deconvkit.backends.NumpyBackend` for the method
set), so the same solver code runs here unchanged: ``deconvkit.deconvolve(image, psf, backend="cuda")``
(or ``"torch"`` for the CPU), or pass a ``torch.Tensor`` as ``image`` and the backend follows its device
and the result comes back as a tensor on that device.

What stays on the host: input validation, the noise estimate and the smooth extension of the data onto
the FFT domain are computed once with NumPy at setup and copied to the device once; OTFs are built on the
host and transformed on the device once (cached). Inside the iterations nothing leaves the device except
what a stopping rule needs (one scalar per iteration for Richardson-Lucy's discrepancy rule and the CG
residual; none with a fixed number of iterations). Scalars such as inner products are returned as 0-d
tensors so that step lengths computed from them stay on the device.

Registered names (in :mod:`deconvkit.backends`): ``"torch"`` (CPU) and ``"cuda"`` (``device="cuda"``).
Importing this module never fails without PyTorch; creating a backend then raises a precise error.
"""

from __future__ import annotations

import numpy as np

from .._shared import DeconvkitError, tensor_device
from ._config import configured_workers
from .numpy import NumpyBackend

try:
    import torch
except ImportError:  # pragma: no cover - torch is an optional extra
    torch = None

__all__ = ["TorchBackend", "tensor_device", "torch_available"]


def torch_available() -> bool:
    return torch is not None


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer))


def _binary(name):
    """``torch.<name>(x, y[, out=])`` as a static method (torch rejects ``out=None`` on some builds)."""
    def op(x, y, out=None):
        fn = getattr(torch, name)
        return fn(x, y) if out is None else fn(x, y, out=out)
    op.__name__ = name
    return staticmethod(op)


def _unary(name):
    def op(x):
        return getattr(torch, name)(x)
    op.__name__ = name
    return staticmethod(op)


def _extremum(name, clamp_side):
    """``np.maximum``-like: a Python number on either side becomes a ``torch.clamp`` bound."""
    def op(x, y, out=None):
        if _is_number(x):
            x, y = y, x
        if _is_number(y):
            kwargs = {clamp_side: float(y)}
            return torch.clamp(x, **kwargs) if out is None else torch.clamp(x, **kwargs, out=out)
        fn = getattr(torch, name)
        return fn(x, y) if out is None else fn(x, y, out=out)
    op.__name__ = name
    return staticmethod(op)


class TorchBackend:
    """The :class:`~deconvkit.fft.NumpyBackend` method set on ``torch`` tensors.

    Parameters
    ----------
    device : str or torch.device
        ``"cpu"`` (default) or ``"cuda"`` / ``"cuda:1"`` ...
    threads : int, optional
        PyTorch's intra-op thread count (a process-wide setting) for the CPU transforms. Default: the
        workers configured with :func:`deconvkit.backends.config` / ``DECONVKIT_WORKERS`` (applied at
        each transform, as the NumPy backend reads them), else PyTorch's own default (all cores).
    """

    name = "torch"

    def __init__(self, device="cpu", threads: int | None = None):
        if torch is None:
            raise DeconvkitError("backend 'torch'/'cuda' needs PyTorch: pip install deconvkit[torch]")
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise DeconvkitError("backend 'cuda' was requested but torch.cuda.is_available() is False "
                                 "(no GPU, or a CPU-only PyTorch build); use backend='torch' for the CPU")
        self.device = device
        self.cache_key = f"torch:{device}"
        self._threads = None if threads is None else int(threads)
        if threads is not None:
            torch.set_num_threads(self._threads)

    @property
    def workers(self) -> int:
        """Threads the CPU transforms run on (see ``threads``)."""
        workers = self._threads if self._threads is not None else configured_workers()
        return torch.get_num_threads() if workers is None else workers

    def _use_workers(self):
        """Apply the configured workers to PyTorch before a CPU transform (a GPU has no thread count)."""
        if self.device.type == "cpu":
            workers = self.workers
            if torch.get_num_threads() != workers:
                torch.set_num_threads(workers)

    # --- dtypes --------------------------------------------------------------------------------------
    _DTYPES = {}

    @classmethod
    def torch_dtype(cls, dtype):
        """Map a NumPy dtype (or a torch dtype) to the torch dtype."""
        if dtype is None or isinstance(dtype, torch.dtype):
            return dtype
        if not cls._DTYPES:
            cls._DTYPES.update({np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64,
                                np.dtype(np.complex64): torch.complex64,
                                np.dtype(np.complex128): torch.complex128,
                                np.dtype(np.float16): torch.float16, np.dtype(np.bool_): torch.bool,
                                np.dtype(np.int64): torch.int64, np.dtype(np.int32): torch.int32})
        return cls._DTYPES[np.dtype(dtype)]

    # --- transforms over the trailing ``ndim`` axes -------------------------------------------------
    def rfftn(self, x, shape, out=None):
        self._use_workers()
        dims = tuple(range(-len(shape), 0))
        return torch.fft.rfftn(x, s=tuple(shape), dim=dims, out=out)

    def irfftn(self, spectrum, shape, out=None, overwrite=False):
        self._use_workers()
        dims = tuple(range(-len(shape), 0))
        return torch.fft.irfftn(spectrum, s=tuple(shape), dim=dims, out=out)

    # --- conversion ----------------------------------------------------------------------------------
    def asarray(self, x, dtype=None):
        dtype = self.torch_dtype(dtype)
        if isinstance(x, torch.Tensor):
            return x.to(device=self.device, dtype=dtype)
        if not isinstance(x, np.ndarray) or not x.flags.writeable:
            x = np.array(x)  # torch.as_tensor warns on read-only arrays; scalars/lists become arrays
        return torch.as_tensor(x, dtype=dtype, device=self.device)

    @staticmethod
    def to_numpy(x) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            return x.detach().cpu().numpy()
        return np.asarray(x)

    @staticmethod
    def item(x) -> float:
        return float(x.item()) if isinstance(x, torch.Tensor) else float(x)

    def zeros(self, shape, dtype):
        return torch.zeros(tuple(shape), dtype=self.torch_dtype(dtype), device=self.device)

    def empty(self, shape, dtype):
        return torch.empty(tuple(shape), dtype=self.torch_dtype(dtype), device=self.device)

    def full(self, shape, value, dtype):
        return torch.full(tuple(shape), float(value), dtype=self.torch_dtype(dtype), device=self.device)

    @staticmethod
    def copy(x):
        return x.clone()

    # --- in-place friendly arithmetic ----------------------------------------------------------------
    multiply = _binary("mul")
    add = _binary("add")
    subtract = _binary("sub")
    divide = _binary("div")

    # --- element-wise --------------------------------------------------------------------------------
    abs = _unary("abs")
    sqrt = _unary("sqrt")
    exp = _unary("exp")
    log = _unary("log")
    sign = _unary("sign")
    conj = _unary("conj")

    @staticmethod
    def real(x):
        return torch.real(x) if x.is_complex() else x

    @staticmethod
    def where(condition, x, y):
        return torch.where(condition, x, y)

    maximum = _extremum("maximum", "min")
    minimum = _extremum("minimum", "max")

    @staticmethod
    def clip(x, lo, hi, out=None):
        if _is_number(x):
            return float(min(max(x, lo), hi))
        return torch.clamp(x, lo, hi, out=out) if out is not None else torch.clamp(x, lo, hi)

    @staticmethod
    def abs2(z):
        """|z|^2 of a complex tensor, without the square root."""
        if not z.is_complex():
            return z * z
        return z.real * z.real + z.imag * z.imag

    # --- reductions (0-d tensors: they stay on the device) -------------------------------------------
    @staticmethod
    def sum(x, axis=None):
        return torch.sum(x) if axis is None else torch.sum(x, dim=axis)

    @staticmethod
    def vdot(x, y):
        """Real part of ``<x, y>`` as a 0-d tensor (no temporary array, no host synchronisation)."""
        x, y = x.reshape(-1), y.reshape(-1)
        if x.is_complex() or y.is_complex():
            return torch.real(torch.vdot(x.to(torch.promote_types(x.dtype, y.dtype)),
                                         y.to(torch.promote_types(x.dtype, y.dtype))))
        return torch.dot(x, y)

    @staticmethod
    def norm(x):
        return torch.linalg.vector_norm(x)

    # --- shifts along the trailing axes (finite differences) -----------------------------------------
    @staticmethod
    def stack(arrays, axis):
        return torch.stack(list(arrays), dim=axis)

    @staticmethod
    def roll(x, shift, axis):
        return torch.roll(x, shifts=shift, dims=axis)

    def rfft_frequencies(self, shape, dtype):
        """Per-axis frequency grids (radians) broadcastable to the rfftn spectrum of ``shape``."""
        return [self.asarray(grid) for grid in NumpyBackend.rfft_frequencies(shape, dtype)]

    # --- image filtering and resampling (NumpyBackend's scipy.ndimage methods, same weights) ----------
    def gaussian_filter(self, x, sigma, mode="nearest"):
        """scipy's Gaussian (weights ``exp(-t^2 / 2 sigma^2)`` for ``|t| <= int(4 sigma + 0.5)``, summing
        to 1) along every axis in turn, edges replicated (``mode="nearest"`` only)."""
        if mode != "nearest":
            raise DeconvkitError(f"torch gaussian_filter supports mode='nearest' only, got {mode!r}")
        radius = int(4.0 * float(sigma) + 0.5)
        t = np.arange(-radius, radius + 1)
        weights = np.exp(-0.5 / float(sigma) ** 2 * t * t)
        weights = (weights / weights.sum()).tolist()
        for axis in range(x.ndim):
            n = x.shape[axis]
            # replicated edges: source index of each padded position, clamped into the axis
            index = torch.as_tensor(np.clip(np.arange(-radius, n + radius), 0, n - 1), device=self.device)
            padded = torch.index_select(x, axis, index)
            total = None
            for j, w in enumerate(weights):
                term = w * torch.narrow(padded, axis, j, n)
                total = term if total is None else total + term
            x = total
        return x

    def resample(self, x, coords, mode="nearest"):
        """Bilinear samples on a grid, as :meth:`NumpyBackend.resample`: one interpolation matrix per
        axis (its weights taken from ``scipy.ndimage.map_coordinates`` on the host, so the edge rules are
        scipy's), applied by matrix products on the device."""
        for axis, positions in enumerate(coords):
            n = x.shape[axis]
            positions = np.asarray(positions, dtype=np.float64)
            matrix = NumpyBackend.resample(np.eye(n), [positions, np.arange(n, dtype=np.float64)], mode=mode)
            matrix = self.asarray(matrix, dtype=x.dtype)
            x = torch.movedim(torch.tensordot(matrix, x, dims=([1], [axis])), 0, axis)
        return x

    def _window_extremum(self, x, size, mode, sign):
        if mode != "wrap":
            raise DeconvkitError(f"torch minimum/maximum_filter support mode='wrap' only, got {mode!r}")
        size = int(size)
        if size % 2 == 0:
            raise DeconvkitError(f"window size must be odd, got {size}")
        r = size // 2
        for axis in range(x.ndim):  # separable: a square window's extremum is the per-axis extremum
            n = x.shape[axis]
            index = torch.as_tensor(np.arange(-r, n + r) % n, device=self.device)
            padded = torch.index_select(x, axis, index)
            windows = padded.unfold(axis, size, 1)
            x = windows.amax(dim=-1) if sign > 0 else windows.amin(dim=-1)
        return x

    def minimum_filter(self, x, size, mode="wrap"):
        """Minimum over ``size``-wide (odd) centred windows, periodic edges (``mode="wrap"`` only)."""
        return self._window_extremum(x, size, mode, -1)

    def maximum_filter(self, x, size, mode="wrap"):
        """Maximum over ``size``-wide (odd) centred windows, periodic edges (``mode="wrap"`` only)."""
        return self._window_extremum(x, size, mode, 1)
