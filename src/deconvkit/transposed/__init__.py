"""Transposed convolution -- what deep learning calls "deconvolution" -- exact, explained, verified.

A convolution layer is a sparse matrix ``C`` acting on the flattened input (:func:`conv_matrix`); a
transposed convolution multiplies by ``C^T``, mapping the small map back to the large one with overlapping
contributions summed. It restores the *shape*, not the values: it is not an inverse, and it is not image
deconvolution (which undoes a blur; see :mod:`deconvkit.solvers`). The blur's adjoint, though, *is* a
transposed convolution (see docs/transposed.md).

Everything here is NumPy only and follows ``torch.nn.functional.conv{1,2,3}d`` /
``conv_transpose{1,2,3}d`` exactly: argument order, weight layouts, output sizes and errors.
"""

from .arithmetic import (
    PADDING_NAMES,
    ConvolutionError,
    ConvolutionTypeError,
    adjoint_output_padding,
    conv_output_size,
    conv_transpose_output_size,
    input_shape,
    output_padding_for,
    output_shape,
)
from .functional import __all__ as _functional_api
from .functional import (
    conv,
    conv1d,
    conv2d,
    conv3d,
    conv_matrix,
    conv_transpose,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    overlap_map,
)
from .operator import ConvOperator

__all__ = [
    *_functional_api,
    "ConvOperator",
    "output_shape",
    "input_shape",
    "output_padding_for",
    "adjoint_output_padding",
    "conv_output_size",
    "conv_transpose_output_size",
    "ConvolutionError",
    "ConvolutionTypeError",
    "PADDING_NAMES",
]
