"""The convolution layer as a :class:`~deconvkit.operators.LinearOperator` (forward: conv, adjoint: its
transpose), so the same adjoint checks and solvers apply to it as to the restoration blur operators."""

from __future__ import annotations

import numpy as np

from .._shared import DeconvkitError, float_dtype
from ..operators import LinearOperator
from .arithmetic import adjoint_output_padding
from .functional import _validate, conv_kernel, conv_matrix, conv_transpose_kernel

__all__ = ["ConvOperator"]


class ConvOperator(LinearOperator):
    """``A = conv(., weight, stride, padding, dilation, groups)`` on inputs of ``input_shape``.

    ``A.adjoint`` is the transposed convolution cropped back onto ``input_shape``: for integer padding this is
    ``conv_transpose(y, weight, stride=..., padding=..., output_padding=a)`` with ``a`` from
    :func:`~deconvkit.transposed.adjoint_output_padding`; for ``padding="same"`` (asymmetric) it crops the
    extra zero from the same side that ``conv`` padded.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C_in, *spatial)`` or ``(N, C_in, *spatial)``. Any further leading axes of the arrays passed to
        :meth:`forward` / :meth:`adjoint` are treated as extra batch axes.
    weight : array_like
        ``(C_out, C_in / groups, *kernel_size)``.
    stride, padding, dilation, groups
        As in :func:`~deconvkit.transposed.conv`.
    dtype : dtype, optional
        Working dtype (default: from the weight, float32 stays float32).

    Examples
    --------
    >>> from deconvkit.testing import dottest
    >>> op = ConvOperator((2, 9, 9), np.ones((3, 2, 3, 3)), stride=2, padding=1)
    >>> op.shape_out
    (3, 5, 5)
    >>> bool(dottest(op) < 1e-10)
    True
    """

    def __init__(self, input_shape, weight, stride=1, padding=0, dilation=1, groups=1, dtype=None):
        weight = np.asarray(weight)
        dtype = float_dtype(weight.dtype if dtype is None else dtype)
        ndim = weight.ndim - 2
        input_shape = tuple(int(n) for n in input_shape)
        if ndim not in (1, 2, 3) or len(input_shape) not in (ndim + 1, ndim + 2):
            raise DeconvkitError(
                f"input_shape must be (C_in, *spatial) or (N, C_in, *spatial) matching a weight of shape "
                f"{weight.shape}, got {input_shape}")
        # validated exactly as conv() validates a call (zero-stride stand-in input: nothing allocated)
        probe = np.broadcast_to(np.zeros((), dtype), (1,) + input_shape[-ndim - 1:])
        call = _validate(probe, weight.astype(dtype), None, ndim, transposed=False, groups=groups,
                         stride=stride, padding=padding, dilation=dilation, name="conv")
        self.weight = np.ascontiguousarray(call.weight, dtype=dtype)
        self.ndim_spatial = ndim
        self.groups = groups
        self.geometry = call.geo
        out_spatial = call.out_shape
        output_shape = input_shape[:-ndim - 1] + (self.weight.shape[0],) + out_spatial
        super().__init__(input_shape, output_shape, dtype)
        self.padding = padding

    @property
    def output_padding(self) -> tuple[int, ...]:
        """The ``output_padding`` a public ``conv_transpose`` call needs to be this operator's adjoint."""
        geo = self.geometry
        return adjoint_output_padding(self.shape_in[-self.ndim_spatial:], self.weight.shape[2:], geo.stride,
                                      geo.pad_before, geo.dilation)

    def _apply(self, array, shape_from, shape_to, kernel):
        """Run ``kernel`` with every axis before (channels, *spatial) folded into one batch axis."""
        lead = array.shape[:array.ndim - len(shape_from)]
        core = shape_from[-self.ndim_spatial - 1:]
        flat = np.ascontiguousarray(array, dtype=self.dtype).reshape((-1,) + core)
        result = kernel(flat, self.weight, self.geometry, self.groups, shape_to[-self.ndim_spatial:])
        return result.reshape(lead + shape_to)

    def _forward(self, x):
        return self._apply(x, self.shape_in, self.shape_out, conv_kernel)

    def _adjoint(self, y):
        return self._apply(y, self.shape_out, self.shape_in, conv_transpose_kernel)

    def matrix(self):
        """The sparse matrix of the operator (:func:`~deconvkit.transposed.conv_matrix`)."""
        geo = self.geometry
        padding = self.padding if isinstance(self.padding, str) else geo.pad_before
        return conv_matrix(self.shape_in, self.weight, geo.stride, padding, geo.dilation, self.groups)

    def __repr__(self):
        geo = self.geometry
        return (f"ConvOperator({self.shape_in} -> {self.shape_out}, kernel {self.weight.shape[2:]}, "
                f"stride {geo.stride}, padding {self.padding!r}, dilation {geo.dilation}, groups {self.groups})")
