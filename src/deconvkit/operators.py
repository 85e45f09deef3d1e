"""Linear operators with adjoints: the mathematical spine shared by restoration and transposed convolution.

A blur is a linear operator ``A`` (convolution with the PSF) with an adjoint ``A^T`` (correlation, i.e. a
transposed convolution). Solvers are written against ``A``, ``A^T`` and, for the closed-form ones, the OTF
of the periodic part. Operators act on the *trailing* dimensions of their input, so a leading batch axis
(colour channels) passes through every operator unchanged.

Every operator is checked by :func:`deconvkit.testing.dottest` (``<A x, y> == <x, A^T y>``) and, at tiny
sizes, against its dense matrix from :meth:`LinearOperator.todense`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from ._shared import DeconvkitError
from .fft import NumpyBackend, fast_shape, get_backend, otf_cache

__all__ = [
    "LinearOperator",
    "Composed",
    "Adjoint",
    "PeriodicConvolution",
    "Crop",
    "Pad",
    "Gradient",
    "convolution",
    "BOUNDARIES",
]

BOUNDARIES = ("reflect", "periodic", "zero", "valid")


class LinearOperator:
    """Base class: subclasses implement ``_forward`` and ``_adjoint`` on arrays whose trailing dims are
    ``shape_in`` / ``shape_out``.

    Supports ``A @ B`` (composition), ``A @ x`` (application), ``A.T`` (adjoint) and ``A.todense()``.
    """

    def __init__(self, shape_in, shape_out, dtype=np.float64):
        self.shape_in = tuple(int(s) for s in shape_in)
        self.shape_out = tuple(int(s) for s in shape_out)
        self.dtype = np.dtype(dtype)

    # subclasses -------------------------------------------------------------------------------------
    def _forward(self, x):
        raise NotImplementedError

    def _adjoint(self, y):
        raise NotImplementedError

    # public -----------------------------------------------------------------------------------------
    def _check(self, array, expected, what):
        trailing = tuple(array.shape[array.ndim - len(expected):]) if array.ndim >= len(expected) else None
        if trailing != expected:
            raise DeconvkitError(
                f"{type(self).__name__}.{what} expects trailing shape {expected}, got array of shape "
                f"{tuple(array.shape)}")

    def forward(self, x):
        self._check(x, self.shape_in, "forward")
        return self._forward(x)

    def adjoint(self, y):
        self._check(y, self.shape_out, "adjoint")
        return self._adjoint(y)

    __call__ = forward

    @property
    def T(self) -> "LinearOperator":
        return Adjoint(self)

    H = T

    def __matmul__(self, other):
        if isinstance(other, LinearOperator):
            return Composed(self, other)
        return self.forward(other)

    def todense(self) -> np.ndarray:
        """Dense matrix (rows: flattened output, columns: flattened input). Only for tiny operators."""
        n_in = int(np.prod(self.shape_in))
        if n_in > 4096:
            raise DeconvkitError(f"todense() refused: {n_in} columns is too large for a dense matrix")
        basis = np.eye(n_in, dtype=self.dtype).reshape((n_in,) + self.shape_in)
        columns = np.asarray(self.forward(basis)).reshape(n_in, -1)
        return columns.T

    def __repr__(self):
        return f"{type(self).__name__}({self.shape_in} -> {self.shape_out})"


class Adjoint(LinearOperator):
    def __init__(self, op: LinearOperator):
        super().__init__(op.shape_out, op.shape_in, op.dtype)
        self.op = op

    def _forward(self, x):
        return self.op._adjoint(x)

    def _adjoint(self, y):
        return self.op._forward(y)

    @property
    def T(self):
        return self.op


class Composed(LinearOperator):
    """``outer @ inner``: apply ``inner`` first."""

    def __init__(self, outer: LinearOperator, inner: LinearOperator):
        if outer.shape_in != inner.shape_out:
            raise DeconvkitError(
                f"cannot compose {outer!r} with {inner!r}: {inner.shape_out} != {outer.shape_in}")
        super().__init__(inner.shape_in, outer.shape_out, np.result_type(outer.dtype, inner.dtype))
        self.outer, self.inner = outer, inner

    def _forward(self, x):
        return self.outer._forward(self.inner._forward(x))

    def _adjoint(self, y):
        return self.inner._adjoint(self.outer._adjoint(y))


class PeriodicConvolution(LinearOperator):
    """Circular convolution with ``psf`` on a periodic domain of ``shape`` (the OTF layer's operator).

    ``otf`` is the real-FFT transfer function (cached per PSF/shape/dtype); closed-form solvers use it
    directly, iterative ones call :meth:`forward` / :meth:`adjoint`.
    """

    def __init__(self, psf, shape, dtype=np.float64, backend=None):
        super().__init__(shape, shape, dtype)
        self.backend = get_backend(backend) if not isinstance(backend, NumpyBackend) else backend
        self.psf = np.asarray(psf)
        self.otf = otf_cache.get(self.psf, self.shape_in, self.backend, dtype)

    def apply_spectrum(self, x, transfer):
        bk = self.backend
        return bk.irfftn(bk.rfftn(x, self.shape_in) * transfer, self.shape_in)

    def _forward(self, x):
        return self.apply_spectrum(x, self.otf)

    def _adjoint(self, y):
        return self.apply_spectrum(y, self.backend.conj(self.otf))


class Crop(LinearOperator):
    """Extract the window ``[offset, offset + shape_out)`` from the trailing axes; adjoint zero-fills."""

    def __init__(self, shape_in, shape_out, offset, dtype=np.float64, backend=None):
        super().__init__(shape_in, shape_out, dtype)
        self.offset = tuple(int(o) for o in offset)
        if any(o < 0 or o + m > n for o, m, n in zip(self.offset, self.shape_out, self.shape_in)):
            raise DeconvkitError(f"crop window {self.offset}+{self.shape_out} exceeds {self.shape_in}")
        self.window = (Ellipsis,) + tuple(slice(o, o + m) for o, m in zip(self.offset, self.shape_out))
        self.backend = get_backend(backend)

    def _forward(self, x):
        return x[self.window]

    def _adjoint(self, y):
        out = self.backend.zeros(tuple(y.shape[: y.ndim - len(self.shape_out)]) + self.shape_in, y.dtype)
        out[self.window] = y
        return out


_PAD_MODES = ("zero", "reflect", "periodic", "edge")


def _pad_index(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source index of each padded position along one axis (-1: zero)."""
    positions = np.arange(-before, n + after)
    if mode == "zero":
        return np.where((positions >= 0) & (positions < n), positions, -1)
    if mode == "periodic":
        return positions % n
    if mode == "edge":
        return np.clip(positions, 0, n - 1)
    # "reflect" in scipy.ndimage's sense (d c b a | a b c d), which NumPy calls "symmetric"
    period = 2 * n
    folded = positions % period
    return np.where(folded < n, folded, period - 1 - folded)


class Pad(LinearOperator):
    """Pad the trailing axes by ``before``/``after`` with a boundary rule; the adjoint folds the padding
    back onto the pixels it was copied from (exact, via one sparse matrix per axis)."""

    def __init__(self, shape_in, before, after, mode="reflect", dtype=np.float64):
        if mode not in _PAD_MODES:
            raise DeconvkitError(f"pad mode must be one of {_PAD_MODES}, got {mode!r}")
        shape_in = tuple(shape_in)
        shape_out = tuple(n + b + a for n, b, a in zip(shape_in, before, after))
        super().__init__(shape_in, shape_out, dtype)
        self.mode = mode
        self.matrices = []
        for n, b, a in zip(shape_in, before, after):
            index = _pad_index(n, b, a, mode)
            rows = np.flatnonzero(index >= 0)
            self.matrices.append(scipy.sparse.csr_matrix(
                (np.ones(rows.size), (rows, index[rows])), shape=(index.size, n)))

    def _apply(self, x, matrices):
        d = len(matrices)
        for axis, matrix in enumerate(matrices):
            ax = x.ndim - d + axis
            moved = np.moveaxis(x, ax, 0)
            flat = matrix @ moved.reshape(moved.shape[0], -1)
            x = np.moveaxis(np.asarray(flat, dtype=x.dtype).reshape((matrix.shape[0],) + moved.shape[1:]), 0, ax)
        return x

    def _forward(self, x):
        return self._apply(np.asarray(x), self.matrices)

    def _adjoint(self, y):
        return self._apply(np.asarray(y), [m.T.tocsr() for m in self.matrices])


class Gradient(LinearOperator):
    """Periodic forward differences along each trailing axis: ``(..., *shape) -> (..., ndim, *shape)``.

    Periodic so that ``D^T D`` is diagonalised by the FFT (the Laplacian's transfer function is
    :meth:`transfer_abs2`), which every FFT-based prior solver relies on.
    """

    def __init__(self, shape, dtype=np.float64, backend=None):
        shape = tuple(shape)
        super().__init__(shape, (len(shape),) + shape, dtype)
        self.backend = get_backend(backend)

    def _forward(self, x):
        d = len(self.shape_in)
        roll = self.backend.roll
        parts = [roll(x, -1, x.ndim - d + i) - x for i in range(d)]
        return self.backend.stack(parts, axis=-(d + 1))

    def _adjoint(self, y):
        d = len(self.shape_in)
        roll = self.backend.roll
        total = None
        for i in range(d):
            component = y[(Ellipsis, i) + (slice(None),) * d]
            term = roll(component, 1, component.ndim - d + i) - component
            total = term if total is None else total + term
        return total

    def transfer_abs2(self, dtype):
        """``|DFT(D)|^2`` summed over axes, on the rfft grid: the spectrum of ``D^T D``."""
        # built on the host (a setup step) so that np.cos never sees a device array
        grids = NumpyBackend.rfft_frequencies(self.shape_in, dtype)
        total = 0
        for w in grids:
            total = total + 2 - 2 * np.cos(w)
        return self.backend.asarray(total, dtype=dtype)


def convolution(psf, shape, boundary="reflect", dtype=np.float64, backend=None) -> LinearOperator:
    """The blur operator ``A`` for an image of ``shape`` and a ``boundary`` rule.

    * ``"periodic"``: circular convolution, output shape = ``shape``.
    * ``"reflect"`` / ``"zero"``: the image is extended (mirror / zeros) by the PSF support, convolved, and
      cropped back: output shape = ``shape``.
    * ``"valid"``: only outputs that the PSF fully overlaps (as ``scipy.signal.convolve(mode="valid")``),
      output shape = ``shape - psf.shape + 1``. This is how a camera sees a blurred scene: the pixels just
      outside the frame contribute to the frame's border.

    Built by composition (``Crop @ PeriodicConvolution @ Pad``), so its adjoint is exact for free.
    """
    psf = np.asarray(psf)
    shape = tuple(int(s) for s in shape)
    if boundary not in BOUNDARIES:
        raise DeconvkitError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    if boundary == "periodic":
        return PeriodicConvolution(psf, shape, dtype, backend)
    centre = [k // 2 for k in psf.shape]
    before = [k - 1 - c for k, c in zip(psf.shape, centre)]
    after = centre
    if boundary == "valid":
        out_shape = tuple(n - k + 1 for n, k in zip(shape, psf.shape))
        if min(out_shape) < 1:
            raise DeconvkitError(f"psf shape {psf.shape} is larger than the image shape {shape}")
        domain = fast_shape(shape)
        inner = Crop(domain, shape, (0,) * len(shape), dtype, backend).T
        conv = PeriodicConvolution(psf, domain, dtype, backend)
        return Crop(domain, out_shape, before, dtype, backend) @ conv @ inner
    padded = tuple(n + k - 1 for n, k in zip(shape, psf.shape))
    domain = fast_shape(padded)
    pad = Pad(shape, before, after, "zero" if boundary == "zero" else "reflect", dtype)
    embed = Crop(domain, padded, (0,) * len(shape), dtype, backend).T
    conv = PeriodicConvolution(psf, domain, dtype, backend)
    return Crop(domain, shape, before, dtype, backend) @ conv @ embed @ pad
