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
    "Sum",
    "Scaled",
    "Adjoint",
    "PeriodicConvolution",
    "NormalSolver",
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

    Supports ``A @ B`` (composition), ``A + B`` / ``A - B`` (sum), ``c * A`` (scaling by a real number),
    ``A @ x`` (application), ``A.T`` (adjoint) and ``A.todense()``; the adjoint of every combination is
    exact because it is built from the parts' adjoints.
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
    def T(self) -> LinearOperator:
        return Adjoint(self)

    H = T

    def __matmul__(self, other):
        if isinstance(other, LinearOperator):
            return Composed(self, other)
        return self.forward(other)

    def __add__(self, other):
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return Sum(self, other)

    def __sub__(self, other):
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return Sum(self, Scaled(-1.0, other))

    def __neg__(self):
        return Scaled(-1.0, self)

    def __mul__(self, scale):
        if not _is_real_number(scale):
            return NotImplemented
        return Scaled(scale, self)

    __rmul__ = __mul__

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


def _is_real_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


class Sum(LinearOperator):
    """``A + B + ...``: every term maps the same input shape to the same output shape."""

    def __init__(self, *terms: LinearOperator):
        flat = []
        for term in terms:
            flat.extend(term.terms if isinstance(term, Sum) else [term])
        first = flat[0]
        for term in flat[1:]:
            if term.shape_in != first.shape_in or term.shape_out != first.shape_out:
                raise DeconvkitError(f"cannot add {first!r} and {term!r}: shapes differ")
        super().__init__(first.shape_in, first.shape_out, np.result_type(*(t.dtype for t in flat)))
        self.terms = tuple(flat)

    def _forward(self, x):
        total = self.terms[0]._forward(x)
        for term in self.terms[1:]:
            total = total + term._forward(x)
        return total

    def _adjoint(self, y):
        total = self.terms[0]._adjoint(y)
        for term in self.terms[1:]:
            total = total + term._adjoint(y)
        return total


class Scaled(LinearOperator):
    """``c * A`` for a real number ``c`` (so the adjoint is ``c * A^T``)."""

    def __init__(self, scale, op: LinearOperator):
        if not _is_real_number(scale):
            raise DeconvkitError(f"operators scale by real numbers only, got {scale!r}")
        super().__init__(op.shape_in, op.shape_out, op.dtype)
        self.scale, self.op = float(scale), op

    def _forward(self, x):
        return self.scale * self.op._forward(x)

    def _adjoint(self, y):
        return self.scale * self.op._adjoint(y)


class PeriodicConvolution(LinearOperator):
    """Circular convolution with ``psf`` on a periodic domain of ``shape`` (the OTF layer's operator).

    The operator is diagonal in the real-FFT basis, so besides :meth:`forward` / :meth:`adjoint` it owns
    the spectral side of every solver: the transform pair (:meth:`to_spectrum`, :meth:`from_spectrum`),
    multiplication by its transfer function or its conjugate (:meth:`forward_spectrum`,
    :meth:`adjoint_spectrum`), and the one Fourier-diagonal solve
    ``(w |H|^2 + lam R + s)^-1`` (:meth:`solve_normal`) behind Wiener, Tikhonov (and its CG
    preconditioner) and the TV / hyper-Laplacian splitting. No solver touches ``rfftn`` or the OTF itself.

    Attributes
    ----------
    otf : array
        The real-FFT transfer function ``H`` (cached per PSF/shape/dtype/backend).
    """

    def __init__(self, psf, shape, dtype=np.float64, backend=None):
        super().__init__(shape, shape, dtype)
        self.backend = get_backend(backend) if not isinstance(backend, NumpyBackend) else backend
        self.psf = np.asarray(psf)
        self.otf = otf_cache.get(self.psf, self.shape_in, self.backend, dtype)
        self._otf_abs2 = None
        self._adjoint_otf = None

    # --- the spectral view ---------------------------------------------------------------------------
    def to_spectrum(self, x, out=None):
        """Real FFT over the trailing axes of the domain (a leading channel axis is transformed along).

        ``out``: a spectrum buffer to write into and return (reused across iterations it saves a large
        allocation per call; ducc0 writes into it directly, see :meth:`NumpyBackend.rfftn`)."""
        return self.backend.rfftn(x, self.shape_in, out=out)

    def from_spectrum(self, spectrum, overwrite=False, out=None):
        """Inverse of :meth:`to_spectrum`; ``overwrite=True`` lets it destroy a temporary ``spectrum``;
        ``out``: a domain-sized buffer to write into and return."""
        return self.backend.irfftn(spectrum, self.shape_in, out=out, overwrite=overwrite)

    def forward_spectrum(self, spectrum, in_place=False):
        """``H * spectrum``: the operator applied in the Fourier basis (``in_place``: into ``spectrum``)."""
        if in_place:
            spectrum *= self.otf
            return spectrum
        return spectrum * self.otf

    def adjoint_spectrum(self, spectrum, weight=None, transfer_first=False, in_place=False):
        """``spectrum * conj(H)`` (times ``weight``, a scalar folded into the transfer function first).

        ``transfer_first=True`` computes ``conj(H) * spectrum`` instead: the same product, but NumPy's
        complex multiply uses fused multiply-adds, so the operand order changes the last bit, and the
        non-convex hyper-Laplacian iterations amplify that to visible differences. The splitting solver
        keeps the order it was validated with. ``in_place`` (no ``weight``, not ``transfer_first``):
        into ``spectrum``, the same product, with ``conj(H)`` kept on the operator for the next call
        (iterative solvers call it every step; at 12 MP each spectrum is a large allocation).
        """
        if in_place:
            if weight is not None or transfer_first:
                raise ValueError("in_place takes neither weight nor transfer_first")
            if self._adjoint_otf is None:
                self._adjoint_otf = self.backend.conj(self.otf)
            spectrum *= self._adjoint_otf
            return spectrum
        transfer = self.backend.conj(self.otf)
        if weight is not None:
            transfer = weight * transfer
        return transfer * spectrum if transfer_first else spectrum * transfer

    @property
    def otf_abs2(self):
        """``|H|^2``, the transfer function of ``K^T K`` (computed once per operator)."""
        if self._otf_abs2 is None:
            self._otf_abs2 = self.backend.abs2(self.otf)
        return self._otf_abs2

    def normal_transfer(self, regulariser=None, lam=0.0, weight=1.0, shift=0.0):
        """``w |H|^2 + lam R + s``: the transfer function of ``w K^T K + lam Q + s I`` for an operator
        ``Q`` with transfer function ``R`` (e.g. ``D^T D``, :meth:`Gradient.transfer_abs2`)."""
        total = self.otf_abs2 if weight == 1 else weight * self.otf_abs2
        if regulariser is not None:
            total = total + lam * regulariser
        return total + shift if shift else total

    def solve_normal(self, rhs, regulariser=None, lam=0.0, *, weight=1.0, shift=0.0, back_project=False,
                     spectral_in=False, spectral_out=False, consume=False):
        """Solve ``(w K^T K + lam Q + s I) x = b`` exactly, by one division in the Fourier basis.

        Parameters
        ----------
        rhs : array
            ``b`` on the domain, or its spectrum with ``spectral_in=True``. With ``back_project=True``
            it is ``y`` and the right-hand side is ``K^T y`` (the regularised inverse filter
            ``conj(H) Y / (|H|^2 + lam R)``).
        regulariser : array or float, optional
            ``R``, the transfer function of ``Q`` on the rfft grid (``1.0`` for the identity).
        lam, weight, shift : float
            ``lam``, ``w`` and ``s`` above.
        spectral_out : bool
            Return the solution's spectrum instead of the solution (e.g. to apply ``K`` to it next).
        consume : bool
            With ``spectral_in``: the spectrum is the caller's temporary and is overwritten (the same
            in-place products as for a spectrum computed here).
        """
        spectrum = rhs if spectral_in else self.to_spectrum(rhs)
        del rhs  # a consumed spectrum must not stay referenced here through the inverse transform
        transfer = self.normal_transfer(regulariser, lam, weight, shift)
        if (not spectral_in or consume) and isinstance(spectrum, np.ndarray) and \
                np.result_type(spectrum, self.otf, transfer) == spectrum.dtype:
            # our own temporary, and the products keep its dtype: the same products in place (spectrum *
            # conj(H), then the division), consumed by the inverse transform; two colour-spectrum-sized
            # allocations fewer at the peak of the Wiener filter and of Tikhonov's start
            if back_project:
                spectrum *= self.backend.conj(self.otf)
            spectrum /= transfer
            return spectrum if spectral_out else self.from_spectrum(spectrum, overwrite=True)
        if back_project:
            spectrum = self.adjoint_spectrum(spectrum)
        spectrum = spectrum / transfer
        return spectrum if spectral_out else self.from_spectrum(spectrum, overwrite=True)

    def normal_solver(self, regulariser=None, lam=0.0, *, weight=1.0, shift=0.0) -> NormalSolver:
        """:meth:`solve_normal` for repeated use with the same parameters: the filters are built once, and
        every solve is two in-place spectrum products (see :class:`NormalSolver`)."""
        return NormalSolver(self, regulariser, lam, weight=weight, shift=shift)

    # --- the hot-loop form ---------------------------------------------------------------------------
    @property
    def transfer_is_real(self) -> bool:
        """True when the PSF equals its point reflection about its centre (``k // 2``): its OTF is real
        (to rounding), so :meth:`convolve` may use the real part alone."""
        psf = self.psf
        if any(k % 2 == 0 for k in psf.shape):  # centre k // 2 of an even size is off-centre
            return False
        return bool(np.array_equal(psf, psf[(slice(None, None, -1),) * psf.ndim]))

    def convolve(self, x, *, adjoint=False, real_transfer=False, out=None, spectrum_buffer=None):
        """:meth:`forward` (or :meth:`adjoint`) with in-place spectrum products, for iterative loops.

        The spectrum is a temporary, so it is multiplied in place and overwritten by the inverse
        transform (two spectrum-sized allocations fewer per call). ``real_transfer=True`` multiplies by
        the real part of the OTF only (half the memory traffic, and no conjugate for the adjoint): use it
        when :attr:`transfer_is_real`. A loop that keeps ``out`` (domain-sized, ``x``'s dtype) and
        ``spectrum_buffer`` (:meth:`to_spectrum`'s shape and dtype) allocates nothing per call (with
        ducc0 the transforms write into them; ``out`` must not be ``x``).
        """
        return self.convolve_spectrum(self.to_spectrum(x, out=spectrum_buffer), adjoint=adjoint,
                                      real_transfer=real_transfer, out=out)

    def convolve_spectrum(self, spectrum, *, adjoint=False, real_transfer=False, out=None):
        """:meth:`convolve` from ``to_spectrum(x)``, which it consumes: a caller that drops ``x`` before
        this call keeps one domain-sized array fewer alive during the inverse transform. ``out``: the
        domain-sized buffer the result is written into and returned."""
        bk = self.backend
        otf = bk.real(self.otf) if real_transfer else self.otf  # a view: no copy
        if real_transfer or not adjoint:
            spectrum *= otf
        elif isinstance(spectrum, np.ndarray):
            # conj(conj(s) * h) == s * conj(h): two cheap passes instead of a persistent conjugate copy
            np.conjugate(spectrum, out=spectrum)
            spectrum *= otf
            np.conjugate(spectrum, out=spectrum)
        else:
            spectrum *= bk.conj(otf)
        return bk.irfftn(spectrum, self.shape_in, out=out, overwrite=True)

    def _forward(self, x):
        return self.from_spectrum(self.forward_spectrum(self.to_spectrum(x)))

    def _adjoint(self, y):
        return self.from_spectrum(self.adjoint_spectrum(self.to_spectrum(y)))


class NormalSolver:
    """``X = (w |H|^2 + lam R + s)^-1 (P + w conj(H) D)`` with both filters precomputed.

    The x-update of a splitting solver: ``P`` is the spectrum of the prior (and constraint) terms, ``D``
    that of the data-split target. Precomputing ``1 / (...)`` and ``w conj(H) / (...)`` makes each solve
    two in-place products and one sum instead of a division, a conjugate and three temporaries: in a
    12-megapixel solve these spectrum passes cost as much as the transforms.
    """

    def __init__(self, conv: PeriodicConvolution, regulariser=None, lam=0.0, *, weight=1.0, shift=0.0):
        self.conv = conv
        self.inverse = 1.0 / conv.normal_transfer(regulariser, lam, 1.0 if weight == 1 else weight, shift)
        self._weight = weight
        self._data_filter = None

    @property
    def data_filter(self):
        """``w conj(H) / (w |H|^2 + lam R + s)`` (built on first use: not every caller splits the data)."""
        if self._data_filter is None:
            self._data_filter = self.conv.backend.conj(self.conv.otf) * (self._weight * self.inverse)
        return self._data_filter

    def __call__(self, prior_spectrum, data_spectrum=None, back_projected=None):
        """Solve in place of ``prior_spectrum`` (returned); ``data_spectrum`` is consumed. A fixed
        right-hand side that is already back-projected (``conj(H) Y``) is added as ``back_projected``."""
        if back_projected is not None:
            prior_spectrum += back_projected
        prior_spectrum *= self.inverse
        if data_spectrum is not None:
            data_spectrum *= self.data_filter
            prior_spectrum += data_spectrum
        return prior_spectrum


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
