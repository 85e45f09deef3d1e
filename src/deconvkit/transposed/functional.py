"""Convolution and transposed convolution in NumPy with the exact semantics of ``torch.nn.functional``.

``conv`` is what deep learning calls a convolution (a cross-correlation: the kernel is *not* flipped).
Written as a matrix ``C`` acting on the flattened input (:func:`conv_matrix`), ``conv_transpose`` is the
product with ``C^T``: every input pixel scatters a copy of the kernel, scaled by its value, into the output,
``stride`` pixels apart, and overlapping copies add up.

Fast paths (no Python loop per pixel or per group, no ``np.add.at``), chosen per layer shape
(:func:`_choose_conv`, :func:`_choose_conv_transpose`; docs/transposed.md section 7):

* ``shift`` (stride-1 ``conv``; stride-1 ``conv_transpose`` as the correlation with the flipped kernel): the
  padded input is flattened, so each kernel tap reads one contiguous shifted block; depthwise layers make
  the last axis' shifted copies and one stacked product per block of planes, then add the other axes' taps;
  others do one channels-last BLAS product per tap, over cache-sized blocks.
  No im2col buffer, so dilation and 3-D cost no memory blow-up.
* ``im2col`` (strided ``conv``): for each kernel tap one strided slice of the input is copied into a column
  buffer; one batched BLAS matrix product with the weights then gives every output pixel.
* ``col2im`` (strided ``conv_transpose`` with many channels per group, stride >= kernel, dilation, tiny
  inputs): one BLAS product ``W^T @ x`` gives, for every input pixel, its scaled kernel copy; each tap's
  plane is added, as one contiguous shifted block, into one of the ``s^d`` stride phases of the output,
  and the phases are interleaved at the end. Within one tap the destinations are distinct, so ``+=`` is
  exact.
* ``phase`` (strided depthwise or 3-D ``conv_transpose``): each of the ``s^d`` output phases is a stride-1
  correlation with a reversed sub-kernel, computed by ``shift``.

Padding is never materialised by im2col/col2im (each tap's slice is clipped to the positions inside the
input or the cropped output, :func:`_tap_window`); ``shift`` pads one copy of the input.
"""

from __future__ import annotations

import itertools
import math
import numbers
from typing import NamedTuple

import numpy as np
import scipy.linalg.blas
import scipy.sparse

from .._shared import DeconvkitError, float_dtype
from .arithmetic import (
    PADDING_NAMES,
    ConvolutionError,
    ConvolutionTypeError,
    Geometry,
    _labelled,
    _torch_axes,
    check_output_padding,
    conv_output_size,
    conv_transpose_spatial_shape,
    output_padding_for,
    resolve_padding,
    tap_offsets,
)

__all__ = [
    "conv",
    "conv_transpose",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_matrix",
    "overlap_map",
]


# ----------------------------------------------------------------------------------------------------
# validation: PyTorch's checks, in PyTorch's order, with its wording
# ----------------------------------------------------------------------------------------------------
# torch's names for dtypes: ScalarType names (weight mismatch) and C++ type names (bias mismatch).
_SCALAR_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int",
                 "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool", "complex64": "ComplexFloat",
                 "complex128": "ComplexDouble", "uint16": "UInt16", "uint32": "UInt32", "uint64": "UInt64"}
_CPP_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int",
              "int32": "int", "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
              "bool": "bool", "complex64": "c10::complex<float>", "complex128": "c10::complex<double>",
              "uint16": "unsigned short", "uint32": "unsigned int", "uint64": "unsigned long"}


def _numeric_array(value, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind not in "biufc":
        raise ConvolutionTypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    return array


def _shape_list(shape) -> str:
    return "[" + ", ".join(str(n) for n in shape) + "]"


def _argument_list(value, name: str, ndim: int) -> list[int]:
    """An int or int sequence as PyTorch's argument parser passes it on: an int becomes ``ndim`` copies."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return [int(value)] * ndim
    try:
        values = list(value)
    except TypeError:
        values = None
    if values is None or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
        raise ConvolutionTypeError(f"{name} must be an int or a tuple of {ndim} ints, got {value!r}")
    return [int(v) for v in values]


def _broadcast(values: list[int], name: str, dim: int) -> tuple[int, ...]:
    """PyTorch's ``expand_param_if_needed``: one value per spatial axis of the *weight*."""
    if len(values) == 1:
        return (values[0],) * dim
    if len(values) != dim:
        raise ConvolutionError(
            f"expected {name} to be a single integer value or a list of {dim} values to match the convolution "
            f"dimensions, but got {name}={_shape_list(values)}")
    return tuple(values)


def _view_2d(shape, ndim: int) -> tuple[int, ...]:
    """The shape PyTorch reports for a 1-D convolution's tensor, which it runs as 2-D (dummy height 1)."""
    shape = tuple(shape)
    return shape[:2] + (1,) + shape[2:] if ndim == 1 else shape


class _Call(NamedTuple):
    """A validated call: batched input, weight, bias, geometry and dtypes."""

    x: np.ndarray            # (N, C_in, *S), the caller's dtype
    weight: np.ndarray
    bias: np.ndarray | None
    batched: bool
    geo: Geometry
    out_shape: tuple[int, ...]
    work: np.dtype           # dtype of the arithmetic
    out_dtype: np.dtype      # dtype returned
    empty: bool              # zero batch or zero input channels: no arithmetic at all
    groups: int
    out_channels: int


def _validate(x, weight, bias, ndim, *, transposed, groups, stride, padding, dilation, output_padding=0,
              name) -> _Call:
    """Check a call the way ``torch.nn.functional.conv*`` does, in the same order, with the same messages.

    The order matters when several things are wrong at once (it decides which message is shown), so it
    follows PyTorch's code path: its argument parser (types), ``batchify`` (input rank), ``_convolution_same``
    (``padding="same"``), ``_convolution`` (weight rank, groups, argument lengths), ``check_shape_forward``
    (signs, weight/input rank, groups, channels, bias shape, kernel fit), then the CPU kernels' own checks
    (empty spatial input, zero kernel, zero dilation, ``output_padding``, output size) and last the dtypes.
    """
    x = _numeric_array(x, "input")
    weight = _numeric_array(weight, "weight")
    bias = None if bias is None else _numeric_array(bias, "bias")
    if ndim is None:
        ndim = weight.ndim - 2
        if ndim not in (1, 2, 3):
            raise ConvolutionError(
                f"weight must have 3, 4 or 5 dimensions (C, C, *kernel) for a 1-D, 2-D or 3-D convolution, "
                f"got weight of size {_shape_list(weight.shape)}")
    label = f"{name}{ndim}d"
    # -- argument types (PyTorch's argument parser raises TypeError before looking at any tensor)
    if isinstance(padding, str) and transposed:
        raise ConvolutionTypeError(f"{label}(): argument 'padding' must be tuple of ints, not str")
    stride_list = _argument_list(stride, "stride", ndim)
    dilation_list = _argument_list(dilation, "dilation", ndim)
    padding_list = None if isinstance(padding, str) else _argument_list(padding, "padding", ndim)
    output_padding_list = _argument_list(output_padding, "output_padding", ndim)
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool):
        raise ConvolutionTypeError(f"groups must be an int, got {groups!r}")
    groups = int(groups)
    # -- input rank (batchify)
    if x.ndim not in (ndim + 1, ndim + 2):
        raise ConvolutionError(
            f"Expected {ndim + 1}D (unbatched) or {ndim + 2}D (batched) input to {label}, but got input of "
            f"size: {_shape_list(x.shape)}")
    batched = x.ndim == ndim + 2
    bx = x if batched else x[np.newaxis]
    if isinstance(padding, str) and padding not in PADDING_NAMES:
        raise ConvolutionError(f"Invalid padding string: {padding!r}")
    if padding == "same":   # _convolution_same
        if weight.ndim < 3:
            raise ConvolutionError("weight should have at least three dimensions")
        if groups <= 0:
            raise ConvolutionError("non-positive groups is not supported")
        if weight.ndim != bx.ndim:
            raise ConvolutionError(
                f"Expected {weight.ndim}-dimensional input for {weight.ndim}-dimensional weight"
                f"{_shape_list(weight.shape)}, but got {bx.ndim}-dimensional input of size "
                f"{_shape_list(bx.shape)} instead")
        dim = weight.ndim - 2
        for values, what in ((stride_list, "stride"), (dilation_list, "dilation")):
            if len(values) not in (1, dim):
                raise ConvolutionError(f"{what} cannot broadcast to {dim} dimensions")
        if any(s != 1 for s in stride_list):
            raise ConvolutionError("padding='same' is not supported for strided convolutions")
    # -- _convolution
    if weight.ndim < 3:
        raise ConvolutionError("weight should have at least three dimensions")
    if groups <= 0:
        raise ConvolutionError("non-positive groups is not supported")
    dim = weight.ndim - 2
    stride = _broadcast(stride_list, "stride", dim)
    if padding_list is not None:
        padding_list = _broadcast(padding_list, "padding", dim)
    dilation = _broadcast(dilation_list, "dilation", dim)
    output_padding = _broadcast(output_padding_list, "output_padding", dim) if transposed else (0,) * dim
    kernel = tuple(weight.shape[2:])
    if padding_list is None:
        before, after = resolve_padding(padding, kernel, (1,) * dim, dilation)
    else:
        before = after = tuple(padding_list)
    # -- check_shape_forward
    if min(before + after) < 0:
        raise ConvolutionError("negative padding is not supported")
    if min(output_padding) < 0:
        raise ConvolutionError("negative output_padding is not supported")
    if min(stride) <= 0:
        raise ConvolutionError("non-positive stride is not supported")
    if min(dilation) < 0:
        raise ConvolutionError("dilation should be greater than zero")
    if weight.ndim != bx.ndim:
        raise ConvolutionError(
            f"Expected {weight.ndim}-dimensional input for {weight.ndim}-dimensional weight "
            f"{_shape_list(weight.shape)}, but got {bx.ndim}-dimensional input of size {_shape_list(bx.shape)} "
            "instead")
    if weight.shape[0] < groups:
        raise ConvolutionError(
            f"Given groups={groups}, expected weight to be at least {groups} at dimension 0, but got weight of "
            f"size {_shape_list(weight.shape)} instead")
    if weight.shape[0] % groups:
        # (the doubled bracket is PyTorch's own wording)
        raise ConvolutionError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got "
            f"weight of size [{_shape_list(weight.shape)}] instead")
    in_channels = weight.shape[0] if transposed else weight.shape[1] * groups
    if bx.shape[1] != in_channels:
        what = "transposed=1" if transposed else f"groups={groups}"
        raise ConvolutionError(
            f"Given {what}, weight of size {_shape_list(weight.shape)}, expected input"
            f"{_shape_list(bx.shape)} to have {in_channels} channels, but got {bx.shape[1]} channels instead")
    out_channels = weight.shape[1] * groups if transposed else weight.shape[0]
    if bias is not None and bias.shape != (out_channels,):
        prefix = "transposed=1, " if transposed else ""
        raise ConvolutionError(
            f"Given {prefix}weight of size {_shape_list(weight.shape)}, expected bias to be 1-dimensional with "
            f"{out_channels} elements, but got bias of size {_shape_list(bias.shape)} instead")
    spatial = bx.shape[2:]
    if not transposed:
        padded = tuple(n + b + a for n, b, a in zip(spatial, before, after))
        effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        if any(e > n for e, n in zip(effective, padded)):
            raise ConvolutionError(
                f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). Kernel size: "
                f"({' x '.join(map(str, effective))}). Kernel size can't be greater than actual input size")
    # -- the CPU kernels' own checks
    empty = bx.shape[0] == 0 or bx.shape[1] == 0
    if not empty and 0 in spatial:
        raise ConvolutionError("Only zero batch or zero channel inputs are supported, but got input shape: "
                               + _shape_list(_view_2d(bx.shape, dim)))
    if min(kernel) <= 0 or (transposed and weight.shape[1] == 0):
        if dim == 3 and transposed:
            raise ConvolutionError(
                "non-empty 5D (n_output_plane x n_input_plane x kernel_depth x kernel_height x kernel_width) "
                f"tensor expected for weight, but got: {_shape_list(weight.shape)}")
        if min(kernel) <= 0 and dim == 3:
            raise ConvolutionError(
                f"kernel size should be greater than zero, but got: {' x '.join(map(str, kernel))} (TxHxW)")
        if min(kernel) <= 0:
            raise ConvolutionError("kernel size should be greater than zero, but got "
                                   + _labelled("kernel", kernel, dim, 1))
        raise ConvolutionError("non-empty 2D or 4D weight tensor expected, but got: "
                               + _shape_list(_view_2d(weight.shape, dim)))
    if min(dilation) <= 0:
        if transposed:
            shown = _labelled("dilation", dilation, dim, 1, sep=", ")
        else:
            shown = _shape_list(_torch_axes(dilation, dim, 1))
        raise ConvolutionError(f"dilation should be greater than zero, but got {shown}")
    geo = Geometry(stride, before, after, dilation)
    if transposed:
        output_padding = check_output_padding(output_padding, geo)
        out_shape = conv_transpose_spatial_shape(spatial, kernel, geo, output_padding)
    else:
        out_shape = tuple(conv_output_size(n, k, s, b, d, a) for n, k, s, b, a, d in
                          zip(spatial, kernel, stride, before, after, dilation))
    work, out_dtype = _dtypes(bx, weight, bias, transposed)
    return _Call(bx, weight, bias, batched, geo, out_shape, work, out_dtype, empty, groups, out_channels)


def _dtypes(x, weight, bias, transposed):
    """``(work dtype, output dtype)`` under PyTorch's rule: input, weight and bias share one dtype.

    Deliberate differences (docs/transposed.md): complex and bool tensors are refused (deconvkit is a
    real-valued library; PyTorch computes complex convolutions and has no bool kernel), and an integer *input*
    with a floating-point weight is promoted to the weight's dtype (images arrive as uint8; PyTorch raises).
    float16 is computed in float32 and returned as float16; integers are computed exactly in int64 and
    returned in their own dtype, wrapping on overflow as PyTorch's integer kernels do.
    """
    for array, what in ((x, "input"), (weight, "weight")):
        if array.dtype.kind in "cb":
            kind = "complex" if array.dtype.kind == "c" else "bool"
            raise ConvolutionTypeError(
                f"{what} of dtype {array.dtype}: {kind} convolutions are not supported by deconvkit (pass a "
                "real integer or floating-point array)")
    dtype = x.dtype
    if dtype.kind in "iu" and weight.dtype.kind == "f":
        dtype = weight.dtype

    def weight_check():
        if weight.dtype != dtype:
            raise ConvolutionError(f"expected scalar type {_SCALAR_NAMES.get(dtype.name, dtype.name)} but found "
                                   f"{_SCALAR_NAMES.get(weight.dtype.name, weight.dtype.name)}")

    def bias_check():
        if bias is not None and bias.dtype != dtype:
            raise ConvolutionError(f"Input type ({_CPP_NAMES.get(dtype.name, dtype.name)}) and bias type "
                                   f"({_CPP_NAMES.get(bias.dtype.name, bias.dtype.name)}) should be the same")

    # PyTorch's CPU convolution checks the bias first, its transposed convolution the weight first.
    for check in ((weight_check, bias_check) if transposed else (bias_check, weight_check)):
        check()
    if dtype.kind in "iu":
        return np.dtype(np.int64), dtype
    return float_dtype(dtype), dtype


def _run(call: _Call, kernel) -> np.ndarray:
    """Cast, run ``kernel(x, weight, geo, groups, out_shape)``, add the bias, cast back, unbatch."""
    n_batch = call.x.shape[0]
    if call.empty:
        # PyTorch's "empty" path: zero input channels give zero output channels (not C_out copies of the bias).
        channels = 0 if call.x.shape[1] == 0 else call.out_channels
        out = np.zeros((n_batch, channels) + call.out_shape, dtype=call.out_dtype)
    else:
        x = np.ascontiguousarray(call.x, dtype=call.work)
        weight = np.ascontiguousarray(call.weight, dtype=call.work)
        out = kernel(x, weight, call.geo, call.groups, call.out_shape)
        if call.bias is not None:
            out += call.bias.astype(call.work).reshape((1, -1) + (1,) * (out.ndim - 2))
        out = out.astype(call.out_dtype, copy=False)
    return out if call.batched else out[0]


# ----------------------------------------------------------------------------------------------------
# the two kernels (work on batched, validated arrays)
# ----------------------------------------------------------------------------------------------------
def _tap_window(offset: int, stride: int, strided_count: int, dense_length: int):
    """Slices linking a strided grid to a dense axis for one kernel tap.

    Strided position ``j`` (``0 <= j < strided_count``) meets dense position ``offset + j * stride``. Returns
    ``(strided_slice, dense_slice)`` restricted to the ``j`` whose dense position is inside
    ``[0, dense_length)``, or ``None`` when no position is. For a convolution the strided grid is the output
    and the dense axis the (unpadded) input; for a transposed convolution it is the other way round.
    """
    first = max(0, -(offset // stride))  # smallest j with offset + j * stride >= 0 (ceil division)
    last = min(strided_count - 1, (dense_length - 1 - offset) // stride)
    if first > last:
        return None
    start = offset + first * stride
    return slice(first, last + 1), slice(start, offset + last * stride + 1, stride)


def _tap_windows(tap, geo: Geometry, strided_shape, dense_shape):
    """Per-axis :func:`_tap_window` for one tap; ``None`` if the tap touches nothing."""
    strided, dense = [], []
    for t, s, b, d, m, n in zip(tap, geo.stride, geo.pad_before, geo.dilation, strided_shape, dense_shape):
        window = _tap_window(int(t) * d - b, s, m, n)
        if window is None:
            return None
        strided.append(window[0])
        dense.append(window[1])
    return (Ellipsis, *strided), (Ellipsis, *dense)


# The column buffers (im2col / col2im) are filled one batch chunk at a time so that they stay near this size:
# a few MiB keeps them partly in cache between the BLAS product and the additions, and bounds peak memory.
COLUMN_BUFFER_ELEMENTS = 2**21


# Below this many input pixels per image, BLAS products one image wide are too narrow to be efficient.
SMALL_MAP_PIXELS = 1024


def _batch_chunks(n_batch: int, per_item: int):
    step = max(1, COLUMN_BUFFER_ELEMENTS // max(per_item, 1))
    return [slice(start, min(start + step, n_batch)) for start in range(0, n_batch, step)]


def _im2col_conv(x, weight, geo: Geometry, groups: int, out_shape) -> np.ndarray:
    """im2col convolution of batched ``x`` (N, C_in, *S) -> (N, C_out, *out_shape)."""
    n_batch, in_channels = x.shape[:2]
    out_channels, in_per_group = weight.shape[:2]
    kernel = weight.shape[2:]
    taps = math.prod(kernel)
    pixels = math.prod(out_shape)
    plan = [(index, _tap_windows(tap, geo, out_shape, x.shape[2:]))
            for index, tap in enumerate(tap_offsets(kernel))]
    matrix = weight.reshape(groups, out_channels // groups, in_per_group * taps)
    out = np.empty((n_batch, out_channels) + tuple(out_shape), dtype=x.dtype)
    for chunk in _batch_chunks(n_batch, in_channels * taps * pixels):
        part = x[chunk]
        columns = np.zeros((len(part), in_channels, taps) + tuple(out_shape), dtype=x.dtype)
        for index, windows in plan:
            if windows is not None:
                out_window, in_window = windows
                columns[:, :, index][out_window] = part[in_window]
        columns = columns.reshape(len(part), groups, in_per_group * taps, pixels)
        np.matmul(matrix, columns, out=out[chunk].reshape(len(part), groups, out_channels // groups, pixels))
    return out


def _transpose_plan(kernel, geo: Geometry, spatial, out_shape):
    """For each kernel tap that reaches the output: ``(tap index, phase, source slices, target slices)``.

    Sub-pixel bookkeeping: tap ``t`` sends input pixel ``j`` to output ``o = j s + t d - pad_before``. Writing
    ``t d - pad_before = shift * s + phase`` (``0 <= phase < s``), that is position ``q = j + shift`` of the
    *phase* sub-grid ``o = q s + phase``: one contiguous block, shifted by ``shift``, in one of the ``s^d``
    phase grids.
    """
    plan = []
    for index, tap in enumerate(tap_offsets(kernel)):
        phase, source, target = [], [], []
        for t, s, b, d, n, o in zip(tap, geo.stride, geo.pad_before, geo.dilation, spatial, out_shape):
            shift, r = divmod(int(t) * d - b, s)
            grid = len(range(r, o, s))          # size of this phase's sub-grid along the axis
            first, stop = max(0, -shift), min(n, grid - shift)
            if first >= stop:
                break
            phase.append(r)
            source.append(slice(first, stop))
            target.append(slice(first + shift, stop + shift))
        else:
            plan.append((index, tuple(phase), (Ellipsis, *source), (Ellipsis, *target)))
    return plan


def _col2im_conv_transpose(x, weight, geo: Geometry, groups: int, out_shape) -> np.ndarray:
    """col2im transposed convolution of batched ``x`` (N, C_in, *S) -> (N, C_out, *out_shape).

    The output is the window ``[pad_before, pad_before + out_shape)`` of the full scatter, so the same code
    serves PyTorch's symmetric padding plus ``output_padding`` and the asymmetric adjoint of ``"same"``.
    Each tap's plane of ``W^T @ x`` is added as a contiguous shifted block into its stride phase
    (:func:`_transpose_plan`; SIMD-friendly additions instead of strided ones), and each phase grid is
    interleaved into the output once at the end (the pixel-shuffle step).
    """
    n_batch, in_channels = x.shape[:2]
    out_per_group = weight.shape[1]
    out_channels = groups * out_per_group
    kernel = weight.shape[2:]
    taps = math.prod(kernel)
    in_per_group = in_channels // groups
    spatial = x.shape[2:]
    pixels = math.prod(spatial)
    plan = _transpose_plan(kernel, geo, spatial, out_shape)
    matrix = weight.reshape(groups, in_per_group, out_per_group * taps).transpose(0, 2, 1)
    out = np.zeros((n_batch, out_channels) + tuple(out_shape), dtype=x.dtype)
    unit_stride = all(s == 1 for s in geo.stride)
    for chunk in _batch_chunks(n_batch, out_channels * taps * pixels):
        part = x[chunk].reshape(-1, groups, in_per_group, pixels)
        if pixels < SMALL_MAP_PIXELS:
            # Small maps (a generator's first layers): one product over the whole batch chunk,
            # (C_out k^d, C_in) @ (C_in, n * pixels), instead of n products only `pixels` columns wide.
            wide = np.ascontiguousarray(part.transpose(1, 2, 0, 3)).reshape(groups, in_per_group, -1)
            columns = np.matmul(matrix, wide).reshape((groups, out_per_group, taps, len(part)) + tuple(spatial))
            columns = np.moveaxis(columns, 3, 0).reshape((len(part), out_channels, taps) + tuple(spatial))
        else:
            columns = np.matmul(matrix, part).reshape((len(part), out_channels, taps) + tuple(spatial))
        target_out = out[chunk]
        phases = {}
        for index, phase, source, target in plan:
            if phase not in phases:
                phases[phase] = target_out if unit_stride else np.zeros(
                    (len(part), out_channels) + tuple(len(range(r, o, s)) for r, o, s in
                                                      zip(phase, out_shape, geo.stride)), dtype=x.dtype)
            phases[phase][target] += columns[:, :, index][source]
        if not unit_stride:
            for phase, grid in phases.items():
                target_out[(Ellipsis, *(slice(r, None, s) for r, s in zip(phase, geo.stride)))] = grid
    return out


# ----------------------------------------------------------------------------------------------------
# stride-1 correlation by flat shifts (no im2col), and the transposed convolution built from it
# ----------------------------------------------------------------------------------------------------
# Working-set targets for the blocked loops below. Channels-last products: a block of flat positions whose
# input rows take about SHIFT_BLOCK_BYTES (64 KiB: the block and its accumulator stay in L1/L2 across all
# taps' products) but at least SHIFT_MIN_ROWS positions (fewer makes each BLAS call too short: with 128-256
# channels, 64-row blocks were 15% slower). Measured on the issue-17 layers against 128 KiB - 512 KiB blocks
# (docs/benchmarks_transposed.md). Depthwise: the shifted copies and partial sums of a block of planes.
SHIFT_BLOCK_BYTES = 2**16
SHIFT_MIN_ROWS = 512
DEPTHWISE_BLOCK_ELEMENTS = 2**19


def _pad_or_crop(x, before, after):
    """``x`` zero-padded by ``before``/``after`` on each spatial axis; negative amounts crop instead."""
    spatial = x.shape[2:]
    sizes = tuple(n + b + a for n, b, a in zip(spatial, before, after))
    out = np.zeros(x.shape[:2] + sizes, dtype=x.dtype)
    source, target = [], []
    for n, b, size in zip(spatial, before, sizes):
        start, stop = max(0, -b), min(n, size - b)
        if start >= stop:
            return out
        source.append(slice(start, stop))
        target.append(slice(start + b, stop + b))
    out[(Ellipsis, *target)] = x[(Ellipsis, *source)]
    return out


def _shift_offsets(kernel, dilation, strides):
    """Flat offset of every tap (C order) in an array whose flattened spatial strides are ``strides``."""
    return [sum(int(t) * d * st for t, d, st in zip(tap, dilation, strides)) for tap in tap_offsets(kernel)]


def _shift_correlate(x, weight, before, after, dilation, groups, contiguous=True) -> np.ndarray:
    """Stride-1 convolution (cross-correlation) of batched ``x`` with any padding (negative: cropping).

    The padded input is flattened per channel; output pixel ``q`` (in the padded grid's flat coordinates) is
    ``sum_t W_t x[q + offset_t]``, so every tap reads one *contiguous* shifted block and nothing is copied
    into an im2col buffer (whose size is ``prod(kernel)`` times the input: 27x for a 3x3x3 kernel). The
    positions that wrap around a row are computed and thrown away when the valid window is cropped at the
    end (``(padded - out) / padded`` extra work per axis, small for small kernels).

    * one input channel per group (depthwise): :func:`_depthwise_shift`;
    * otherwise: channels-last, :func:`_channels_last_correlate`.
    """
    if weight.shape[1] == 1:
        out = _depthwise_shift(x, weight, before, after, dilation)
        return np.ascontiguousarray(out) if contiguous else out
    unpadded = not any(before) and not any(after) and x.flags.c_contiguous
    xp = x if unpadded else _pad_or_crop(x, before, after)
    # channels-last: (N, *P, C_in); the flat shift then also runs across the batch (the rows that straddle
    # two images are among the discarded ones)
    out = _channels_last_correlate(np.ascontiguousarray(np.moveaxis(xp, 1, -1)), weight, dilation, groups)
    out_shape = tuple(n - d * (k - 1) for n, k, d in zip(xp.shape[2:], weight.shape[2:], dilation))
    out = np.moveaxis(out[(slice(None), *(slice(0, o) for o in out_shape))], -1, 1)
    return np.ascontiguousarray(out) if contiguous else out


def _channels_last_correlate(cl, weight, dilation, groups) -> np.ndarray:
    """The stride-1 correlation of a channels-last, already padded ``cl`` (N, *P, C_in): (N, *P, C_out),
    valid in its leading ``P - d (k - 1)`` corner only (the rest is scratch from the flat shifts).

    Per block of flat output positions, one BLAS product ``(block, C_in/g) @ (C_in/g, C_out/g)`` per kernel
    tap, accumulated in place (a taller, better-shaped product for BLAS than im2col's ``C_out x (C_in k^d)``
    when channels are few, and no column buffer).
    """
    n_batch = cl.shape[0]
    padded = cl.shape[1:-1]
    in_channels = cl.shape[-1]
    kernel = weight.shape[2:]
    out_channels, in_per_group = weight.shape[:2]
    out_per_group = out_channels // groups
    out_shape = tuple(n - d * (k - 1) for n, k, d in zip(padded, kernel, dilation))
    flat = math.prod(padded)
    strides = [math.prod(padded[i + 1:]) for i in range(len(padded))]
    offsets = _shift_offsets(kernel, dilation, strides)
    taps = len(offsets)
    # one past the last valid output position, in flat padded coordinates
    span = sum((o - 1) * st for o, st in zip(out_shape, strides)) + 1
    cl = cl.reshape(n_batch * flat, groups, in_per_group)
    # Blocks of flat output positions, per image [n * flat, n * flat + span): the padded rows after an
    # image's last valid output are never computed (6% of the work for a 64x64 map padded to 68x68), and the
    # blocks are made even so that none is a short, inefficient remainder.
    rows = max(SHIFT_MIN_ROWS, SHIFT_BLOCK_BYTES // (cl.itemsize * max(in_channels, out_channels)))
    count = -(-span // rows)
    rows = -(-span // count)
    blocks = [(n * flat + start, n * flat + min(start + rows, span)) for n in range(n_batch)
              for start in range(0, span, rows)]
    matrices = np.ascontiguousarray(
        weight.reshape(groups, out_per_group, in_per_group, taps).transpose(3, 0, 2, 1))  # (taps, g, Cg, Cog)
    out = np.empty((n_batch * flat, groups, out_per_group), dtype=cl.dtype)
    if groups == 1 and cl.dtype in (np.float32, np.float64):
        # BLAS accumulates in place (beta = 1), which saves the separate add pass per tap (measured
        # 15-20% faster). Row-major (size, C_out) blocks are column-major (C_out, size) for BLAS.
        gemm = scipy.linalg.blas.sgemm if cl.dtype == np.float32 else scipy.linalg.blas.dgemm
        flat_out_t = out.reshape(n_batch * flat, out_channels).T     # (C_out, rows), Fortran order
        flat_in_t = cl.reshape(n_batch * flat, in_channels).T        # (C_in, rows), Fortran order
        transposed_taps = [np.asfortranarray(matrices[t, 0].T) for t in range(taps)]   # (C_out, C_in)
        # Thousands of small products: the wrapper is called with positional arguments (keywords cost
        # 1.5 us more per call, 10-20% of a 512-row product) and checked for working in place only once.
        in_place = None
        for start, stop in blocks:
            acc = flat_out_t[:, start:stop]
            for t, offset in enumerate(offsets):
                # gemm(alpha, a, b, beta, c, trans_a, trans_b, overwrite_c)
                result = gemm(1.0, transposed_taps[t], flat_in_t[:, start + offset:stop + offset], float(t > 0),
                              acc, 0, 0, 1)
                if in_place is None:
                    in_place = np.may_share_memory(result, acc)
                if not in_place:   # a wrapper that copied instead of updating in place
                    acc[...] = result
        return out.reshape((n_batch,) + tuple(padded) + (out_channels,))
    tmp = np.empty((groups, rows, out_per_group), dtype=cl.dtype)
    for start, stop in blocks:
        size = stop - start
        acc = out[start:stop].transpose(1, 0, 2)                          # (g, size, Cog) view
        part = tmp[:, :size]
        for t, offset in enumerate(offsets):
            source = cl[start + offset:stop + offset].transpose(1, 0, 2)   # (g, size, Cg) view
            if groups == 1:
                np.matmul(source[0], matrices[t, 0], out=acc[0] if t == 0 else part[0])
            else:
                np.matmul(source, matrices[t], out=acc if t == 0 else part)
            if t:
                acc += part
    return out.reshape((n_batch,) + tuple(padded) + (out_channels,))


def _grid_view(rows, offset, out_shape, strides):
    """``rows`` (..., flat) read from flat position ``offset`` as the grid ``out_shape`` of a padded array
    with flat ``strides`` (a view)."""
    item = rows.itemsize
    return np.lib.stride_tricks.as_strided(rows[..., offset:], shape=rows.shape[:-1] + tuple(out_shape),
                                           strides=rows.strides[:-1] + tuple(st * item for st in strides))


def _depthwise_shift(x, weight, before, after, dilation, into=None) -> np.ndarray:
    """Stride-1 correlation of batched ``x`` (N, C, *S) with one input channel per group (depthwise), any
    padding (negative: cropping); returns a (non-contiguous) view of the result.

    ``into=(array, grid)``: write the result into ``array[(..., *grid)]`` instead (``array`` C-contiguous,
    ``grid`` one slice per spatial axis, e.g. a stride phase of a transposed convolution's output), with the
    last addition writing there directly -- no result array and no separate strided copy.

    Split every kernel tap into an *inner* offset (along the last axis, ``k_last`` of them) and an *outer*
    one (the other axes, ``prod(kernel[:-1])``). Per block of (image, channel) rows, the product's operand
    holds ``k_last`` zero-padded copies of each plane, written straight from ``x`` (no separate padding
    pass), copy ``j`` placed so that one row stride apart it reads as the plane shifted by ``j`` taps. One
    stacked product ``H = W @ [X_0; ...; X_{k_last-1}]`` with the ``(C_out/g * outer, k_last)`` weights gives
    every row's 1-D correlations along the last axis, and ``out = sum_outer H_outer``, each shifted by its
    outer offset, is a few contiguous flat additions. Measured on 8x64x64x64, 3x3 (docs/benchmarks_transposed.md):
    copying all ``prod(kernel)`` shifted rows into the product (9 copies) was 25-40% slower, one multiply
    and one add per tap (17 passes) slower still.
    """
    n_batch, channels = x.shape[:2]
    spatial = x.shape[2:]
    padded = tuple(n + b + a for n, b, a in zip(spatial, before, after))
    kernel = weight.shape[2:]
    out_shape = tuple(n - d * (k - 1) for n, k, d in zip(padded, kernel, dilation))
    out_per_group = weight.shape[0] // channels
    flat = math.prod(padded)
    strides = [math.prod(padded[i + 1:]) for i in range(len(padded))]
    span = sum((o - 1) * st for o, st in zip(out_shape, strides)) + 1   # one past the last valid output
    k_last, d_last = kernel[-1], dilation[-1]
    outer = _shift_offsets(kernel[:-1], dilation[:-1], strides[:-1]) if len(kernel) > 1 else [0]
    n_outer = len(outer)
    h_span = span + max(outer)                 # H must cover every outer shift of the output span
    rows = x.reshape((n_batch * channels,) + tuple(spatial))
    # (C * C_out/g, 1, *kernel[:-1], k_last) -> per channel (C_out/g * outer, k_last)
    weights = weight.reshape(channels, out_per_group * n_outer, k_last)
    if into is None:
        out = np.empty((n_batch * channels, out_per_group, flat), dtype=x.dtype)
    else:
        destination = into[0].reshape((n_batch * channels, out_per_group) + into[0].shape[2:])
        destination = destination[(slice(None), slice(None), *into[1])]
        out = np.empty((1, out_per_group, flat), dtype=x.dtype) if n_outer == 1 else None
    step = max(1, min(len(rows), DEPTHWISE_BLOCK_ELEMENTS // (h_span * max(k_last, out_per_group * n_outer))))
    # copy j of a plane starts at j * (L - d_last), so at row stride L it reads as the plane shifted by j taps
    row_length = flat + d_last
    buffer = np.zeros((step, k_last * row_length), dtype=x.dtype)
    operand = np.lib.stride_tricks.as_strided(buffer, shape=(step, k_last, h_span),
                                              strides=(buffer.strides[0], row_length * x.itemsize, x.itemsize))
    source, target = [], []
    for n, b, size in zip(spatial, before, padded):   # the part of x inside the padded grid (the rest stays 0)
        first, last = max(0, -b), min(n, size - b)
        if first >= last:   # cropped away entirely: every output is 0
            if into is not None:
                destination[...] = 0
                return into[0]
            return np.zeros((n_batch, channels * out_per_group) + out_shape, dtype=x.dtype)
        source.append(slice(first, last))
        target.append(slice(first + b, last + b))
    source, target = (slice(None), *source), (slice(None), *target)
    planes = [buffer[:, j * (row_length - d_last):j * (row_length - d_last) + flat].reshape((step,) + padded)[target]
              for j in range(k_last)]
    partial = np.empty((step, out_per_group, n_outer, h_span), dtype=x.dtype) if n_outer > 1 else None
    for start in range(0, len(rows), step):
        stop = min(start + step, len(rows))
        m = stop - start
        for plane in planes:
            plane[:m] = rows[start:stop][source]
        matrices = weights[np.arange(start, stop) % channels]
        if into is not None:
            # every addition on grid views (the valid outputs only), the last one into the destination
            if n_outer == 1:
                flat_result = np.matmul(matrices, operand[:m])
                destination[start:stop] = _grid_view(flat_result, 0, out_shape, strides)
                continue
            h = partial[:m]
            np.matmul(matrices, operand[:m], out=h.reshape(m, out_per_group * n_outer, h_span))
            views = [_grid_view(h[:, :, i], outer[i], out_shape, strides) for i in range(n_outer)]
            if n_outer == 2:
                np.add(views[0], views[1], out=destination[start:stop])
                continue
            total = np.add(views[0], views[1])
            for view in views[2:-1]:
                total += view
            np.add(total, views[-1], out=destination[start:stop])
            continue
        result = out[start:stop, :, :span]
        if n_outer == 1:
            np.matmul(matrices, operand[:m], out=result)
            continue
        h = partial[:m]
        np.matmul(matrices, operand[:m], out=h.reshape(m, out_per_group * n_outer, h_span))
        np.add(h[:, :, 0, outer[0]:outer[0] + span], h[:, :, 1, outer[1]:outer[1] + span], out=result)
        for i in range(2, n_outer):
            np.add(result, h[:, :, i, outer[i]:outer[i] + span], out=result)
    if into is not None:
        return into[0]
    out = out.reshape((n_batch, channels * out_per_group) + tuple(padded))
    return out[(Ellipsis, *(slice(0, o) for o in out_shape))]


def _as_correlation_weight(weight, groups):
    """Transposed-convolution weight ``(C_in, C_out/g, *k)`` -> the flipped correlation weight
    ``(C_out, C_in/g, *k)`` whose stride-1 correlation is the transposed convolution."""
    in_channels, out_per_group = weight.shape[:2]
    kernel = weight.shape[2:]
    in_per_group = in_channels // groups
    w = weight.reshape((groups, in_per_group, out_per_group) + kernel).swapaxes(1, 2)
    w = w.reshape((groups * out_per_group, in_per_group) + kernel)
    return w[(Ellipsis, *(slice(None, None, -1),) * len(kernel))]


def _phase_conv_transpose(x, weight, geo: Geometry, groups: int, out_shape) -> np.ndarray:
    """Transposed convolution as ``prod(stride)`` stride-1 correlations, one per output phase (dilation 1).

    Along one axis, output ``o = q s + r`` receives input ``j`` through tap ``t`` when
    ``j s + t - p = q s + r``: only the taps ``t = t0 + s u`` with ``t0 = (r + p) mod s`` and the inputs
    ``j = q + c - u`` with ``c = (r + p - t0) / s``. So phase ``r`` is a stride-1 correlation of the input
    with the reversed sub-kernel ``w[t0::s]``, padded by ``len(sub-kernel) - 1 - c`` in front. No
    kernel-sized column buffer is built and every multiply-add lands on its own output pixel.
    """
    n_batch = x.shape[0]
    out_channels = weight.shape[1] * groups
    kernel = weight.shape[2:]
    spatial = x.shape[2:]
    # every output pixel belongs to a phase with at least one tap unless some stride exceeds the kernel
    covered = all(s <= k for s, k in zip(geo.stride, kernel))
    out = (np.empty if covered else np.zeros)((n_batch, out_channels) + tuple(out_shape), dtype=x.dtype)
    flipped = _as_correlation_weight(weight, groups)        # reversed in every axis
    plans = []
    for phase in itertools.product(*(range(s) for s in geo.stride)):
        before, after, taps, grid = [], [], [], []
        for r, s, p, k, n, o in zip(phase, geo.stride, geo.pad_before, kernel, spatial, out_shape):
            length = len(range(r, o, s))
            t0 = (r + p) % s
            sub = len(range(t0, k, s))
            if length == 0 or sub == 0:
                break
            c = (r + p - t0) // s
            b = sub - 1 - c
            before.append(b)
            after.append(length + sub - 1 - n - b)
            # w[t0::s] reversed is a slice of the fully reversed kernel
            last = t0 + s * (sub - 1)
            taps.append(slice(k - 1 - last, k - t0, s))
            grid.append(slice(r, None, s))
        else:
            plans.append((before, after, taps, grid))
    if not plans:
        return out
    if weight.shape[0] == groups:
        # depthwise: each phase pads x itself and its last addition writes straight into the phase's grid
        for before, after, taps, grid in plans:
            sub_weight = np.ascontiguousarray(flipped[(Ellipsis, *taps)])
            _depthwise_shift(x, sub_weight, before, after, (1,) * len(kernel), into=(out, grid))
        return out
    # Pad once, by the most any phase needs, and read each phase's output as a window of its correlation
    # over that common padded input (instead of one padded copy of the input per phase).
    most_before = [max(0, *(plan[0][i] for plan in plans)) for i in range(len(kernel))]
    most_after = [max(0, *(plan[1][i] for plan in plans)) for i in range(len(kernel))]
    # Channels-last once: every phase's products read the same channels-last input, and write their grid
    # of a channels-last output (C_out contiguous), transposed back once at the end (instead of one
    # conversion and one transposing strided copy per phase).
    cl = np.ascontiguousarray(np.moveaxis(_pad_or_crop(x, most_before, most_after), 1, -1))
    out_cl = (np.empty if covered else np.zeros)((n_batch,) + tuple(out_shape) + (out_channels,), dtype=x.dtype)
    for before, _after, taps, grid in plans:
        sub_weight = np.ascontiguousarray(flipped[(Ellipsis, *taps)])
        full = _channels_last_correlate(cl, sub_weight, (1,) * len(kernel), groups)
        window = tuple(slice(m - b, m - b + len(range(g.start, o, g.step)))
                       for m, b, g, o in zip(most_before, before, grid, out_shape))
        out_cl[(slice(None), *grid)] = full[(slice(None), *window)]
    return np.ascontiguousarray(np.moveaxis(out_cl, -1, 1))


def _choose_conv(weight, geo: Geometry, groups: int) -> str:
    """Algorithm for a convolution: ``"pointwise"`` (1x1 kernel, stride 1, no padding: one BLAS product),
    ``"shift"`` (stride 1) or ``"im2col"`` (strided)."""
    if all(s == 1 for s in geo.stride):
        if all(k == 1 for k in weight.shape[2:]) and not any(geo.pad_before) and not any(geo.pad_after):
            return "pointwise"
        return "shift"
    return "im2col"


def _pointwise_conv(x, weight, groups: int) -> np.ndarray:
    """1x1 convolution: ``(C_out/g, C_in/g) @ (C_in/g, pixels)`` per image and group, in NCHW directly."""
    n_batch, in_channels = x.shape[:2]
    out_channels = weight.shape[0]
    matrices = weight.reshape(groups, out_channels // groups, in_channels // groups)
    out = np.matmul(matrices, x.reshape(n_batch, groups, in_channels // groups, -1))
    return out.reshape((n_batch, out_channels) + x.shape[2:])


def _choose_conv_transpose(weight, geo: Geometry, groups: int, pixels: int) -> str:
    """Algorithm for a transposed convolution (measured choices: docs/benchmarks_transposed.md).

    * tiny input maps (under 256 pixels): ``"col2im"``, one BLAS product over the whole batch;
    * stride 1: ``"shift"`` -- the flipped-kernel correlation;
    * stride >= kernel on every axis (the kernel copies never overlap) or many channels per group:
      ``"col2im"`` -- one BLAS product ``W^T x`` gives every scattered kernel copy at once, added into its
      stride phase (no overlap: each copy is one block per tap);
    * few input channels per group (depthwise) or 3-D: ``"phase"`` -- one stride-1 correlation per stride
      phase, where the depthwise multiply-add or the channels-last products apply.
    """
    kernel = weight.shape[2:]
    if pixels < SMALL_MAP_PIXELS // 4:
        # a few input pixels (a generator's 1x1 or 4x4 start): one product gives every kernel copy
        return "col2im"
    if all(s == 1 for s in geo.stride):
        return "shift"
    if any(d != 1 for d in geo.dilation) or all(s >= k for s, k in zip(geo.stride, kernel)):
        return "col2im"
    in_per_group = weight.shape[0] // groups
    if in_per_group <= 4 or len(kernel) == 3:
        return "phase"
    return "col2im"


def conv_kernel(x, weight, geo: Geometry, groups: int, out_shape) -> np.ndarray:
    """Convolution of batched, validated ``x`` (N, C_in, *S) -> (N, C_out, *out_shape)."""
    method = _choose_conv(weight, geo, groups)
    if method == "pointwise":
        return _pointwise_conv(x, weight, groups)
    if method == "shift":
        return _shift_correlate(x, weight, geo.pad_before, geo.pad_after, geo.dilation, groups)
    return _im2col_conv(x, weight, geo, groups, out_shape)


def conv_transpose_kernel(x, weight, geo: Geometry, groups: int, out_shape) -> np.ndarray:
    """Transposed convolution of batched, validated ``x`` (N, C_in, *S) -> (N, C_out, *out_shape): the
    window ``[pad_before, pad_before + out_shape)`` of the full scatter."""
    method = _choose_conv_transpose(weight, geo, groups, math.prod(x.shape[2:]))
    if method == "shift":
        kernel = weight.shape[2:]
        before = [d * (k - 1) - p for k, d, p in zip(kernel, geo.dilation, geo.pad_before)]
        after = [o - n - b + d * (k - 1) for o, n, b, k, d in zip(out_shape, x.shape[2:], before, kernel,
                                                                    geo.dilation)]
        flipped = np.ascontiguousarray(_as_correlation_weight(weight, groups))
        return _shift_correlate(x, flipped, before, after, geo.dilation, groups)
    if method == "phase":
        return _phase_conv_transpose(x, weight, geo, groups, out_shape)
    return _col2im_conv_transpose(x, weight, geo, groups, out_shape)


# ----------------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------------
def conv(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, _ndim=None):
    """N-D convolution (cross-correlation), like ``torch.nn.functional.conv{1,2,3}d``.

    Parameters
    ----------
    x : array_like
        ``(N, C_in, *spatial)`` or unbatched ``(C_in, *spatial)``, with 1, 2 or 3 spatial axes.
    weight : array_like
        ``(C_out, C_in / groups, *kernel_size)``; its dimensionality picks 1-D, 2-D or 3-D.
    bias : array_like, optional
        ``(C_out,)``, added to every output pixel of its channel.
    stride, padding, dilation : int or tuple of int
        As in PyTorch. ``padding`` may also be ``"valid"`` or ``"same"`` (stride 1 only; an odd total
        padding puts the extra zero at the end), and deconvkit's extra ``"half"`` / ``"full"``.
    groups : int
        Split the channels into ``groups`` independent convolutions.

    Returns
    -------
    numpy.ndarray
        ``(N, C_out, *out)`` (unbatched input: ``(C_out, *out)``), float32 for float32/float16 input,
        float64 otherwise; ``out = floor((i + 2p - d (k - 1) - 1) / s) + 1`` per axis.

    Raises
    ------
    ConvolutionError
        For the arguments PyTorch rejects, with its message (a ``RuntimeError`` and a ``ValueError``).

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 4, 4)
    >>> conv(x, np.ones((1, 1, 3, 3)))[0]
    array([[45., 54.],
           [81., 90.]])
    """
    call = _validate(x, weight, bias, _ndim, transposed=False, groups=groups, stride=stride, padding=padding,
                     dilation=dilation, name="conv")
    return _run(call, conv_kernel)


def conv_transpose(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *,
                   output_size=None, _ndim=None):
    """N-D transposed convolution, like ``torch.nn.functional.conv_transpose{1,2,3}d``.

    The adjoint of :func:`conv` with the same weight, stride, padding, dilation and groups: each input pixel
    scatters its scaled kernel into the output (``stride`` apart, overlaps summed), then ``padding`` pixels
    are cropped from both ends of every axis and ``output_padding`` extra pixels kept at the end.

    Parameters
    ----------
    x : array_like
        ``(N, C_in, *spatial)`` or unbatched ``(C_in, *spatial)``.
    weight : array_like
        ``(C_in, C_out / groups, *kernel_size)`` (PyTorch's transposed layout).
    bias : array_like, optional
        ``(C_out,)``.
    stride, padding, output_padding, dilation : int or tuple of int
        As in PyTorch; ``output_padding`` must be smaller than ``stride`` or ``dilation`` on each axis.
    groups : int
    output_size : tuple of int, optional
        Solve for ``output_padding`` instead (like ``ConvTranspose2d.forward(x, output_size=...)``); the
        spatial sizes, optionally preceded by the batch/channel sizes.

    Returns
    -------
    numpy.ndarray
        ``(N, C_out, *out)`` with ``out = (i - 1) s - 2p + d (k - 1) + output_padding + 1``.

    Examples
    --------
    The classic 1-D case: input [1, 2], kernel [3, 4], stride 2 -- two non-overlapping kernel copies.

    >>> conv_transpose(np.array([[1.0, 2.0]]), np.array([[[3.0, 4.0]]]), stride=2)
    array([[3., 4., 6., 8.]])
    """
    if output_size is not None:
        # nn.ConvTranspose*d.forward solves for output_padding in Python, before the convolution's own checks
        spatial_x = np.shape(x)[-(np.ndim(weight) - 2):] if np.ndim(weight) > 2 else np.shape(x)
        output_padding = output_padding_for(spatial_x, output_size, np.shape(weight)[2:], stride, padding,
                                            dilation)
    call = _validate(x, weight, bias, _ndim, transposed=True, groups=groups, stride=stride, padding=padding,
                     dilation=dilation, output_padding=output_padding, name="conv_transpose")
    return _run(call, conv_transpose_kernel)


def _fixed_dimension(function, ndim, name):
    def wrapper(*args, **kwargs):
        return function(*args, _ndim=ndim, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = (f"{ndim}-D :func:`{function.__name__}` (the input must have {ndim} spatial axes, like "
                       f"``torch.nn.functional.{name}``).")
    return wrapper


conv1d = _fixed_dimension(conv, 1, "conv1d")
conv2d = _fixed_dimension(conv, 2, "conv2d")
conv3d = _fixed_dimension(conv, 3, "conv3d")
conv_transpose1d = _fixed_dimension(conv_transpose, 1, "conv_transpose1d")
conv_transpose2d = _fixed_dimension(conv_transpose, 2, "conv_transpose2d")
conv_transpose3d = _fixed_dimension(conv_transpose, 3, "conv_transpose3d")


def conv_matrix(input_shape, weight, stride=1, padding=0, dilation=1, groups=1) -> scipy.sparse.csr_array:
    """The convolution as a sparse matrix ``C``: ``conv(x) == (C @ x.ravel()).reshape(out_shape)``.

    ``C.T @ y.ravel()`` is then the transposed convolution of ``y`` back onto ``input_shape`` (the
    ``output_padding`` that recovers ``input_shape`` is :func:`~deconvkit.transposed.adjoint_output_padding`).

    Parameters
    ----------
    input_shape : tuple of int
        ``(C_in, *spatial)`` or ``(N, C_in, *spatial)``; the batch acts block-diagonally.
    weight, stride, padding, dilation, groups
        As in :func:`conv`.

    Returns
    -------
    scipy.sparse.csr_array
        Shape ``(prod(out_shape), prod(input_shape))``, rows and columns in C order of the arrays. Built
        with one vectorised index computation per kernel tap.

    Examples
    --------
    >>> conv_matrix((1, 4), np.array([[[3.0, 4.0]]]), stride=2).toarray()
    array([[3., 4., 0., 0.],
           [0., 0., 3., 4.]])
    """
    input_shape = tuple(int(n) for n in input_shape)
    weight = _numeric_array(weight, "weight")
    ndim = weight.ndim - 2
    if len(input_shape) not in (ndim + 1, ndim + 2) or min(input_shape, default=0) < 1:
        raise DeconvkitError(
            f"input_shape must be (C_in, *spatial) or (N, C_in, *spatial) with {ndim} positive spatial sizes "
            f"for a weight of shape {weight.shape}, got {input_shape}")
    x_shape = input_shape if len(input_shape) == ndim + 2 else (1,) + input_shape
    # Validate exactly as conv() would, on a zero-stride stand-in of the input's shape (nothing allocated).
    call = _validate(np.broadcast_to(np.zeros((), weight.dtype), x_shape), weight, None, ndim, transposed=False,
                     groups=groups, stride=stride, padding=padding, dilation=dilation, name="conv")
    weight = weight.astype(float_dtype(weight.dtype), copy=False)
    kernel = weight.shape[2:]
    geo = call.geo
    spatial = x_shape[2:]
    out_shape = call.out_shape
    n_batch, in_channels = x_shape[:2]
    out_channels, in_per_group = weight.shape[:2]
    out_per_group = out_channels // groups
    out_pixels, in_pixels = math.prod(out_shape), math.prod(spatial)

    # channel bookkeeping shared by every tap: output channel co reads input channel g*in_per_group + ci
    co = np.arange(out_channels)[:, None]
    ci = np.arange(in_per_group)[None, :]
    in_channel = (co // out_per_group) * in_per_group + ci                  # (C_out, C_in/groups)
    batch = np.arange(n_batch)[:, None, None, None]

    rows, cols, values = [], [], []
    for index, tap in enumerate(tap_offsets(kernel)):
        windows = _tap_windows(tap, geo, out_shape, spatial)
        if windows is None:
            continue
        out_window, in_window = windows
        out_grid = np.arange(out_pixels).reshape(out_shape)[out_window].ravel()
        in_grid = np.arange(in_pixels).reshape(spatial)[in_window].ravel()
        row = (batch * out_channels + co[..., None]) * out_pixels + out_grid                # (N, C_out, 1, m)
        col = (batch * in_channels + in_channel[..., None]) * in_pixels + in_grid           # (N, C_out, Cg, m)
        value = weight.reshape(out_channels, in_per_group, -1)[:, :, index][..., None]      # (C_out, Cg, 1)
        row, col, value = np.broadcast_arrays(row, col, value)
        rows.append(row.ravel())
        cols.append(col.ravel())
        values.append(value.ravel())
    n_rows = n_batch * out_channels * out_pixels if len(input_shape) == ndim + 2 else out_channels * out_pixels
    n_cols = math.prod(input_shape)
    if not rows:
        return scipy.sparse.csr_array((n_rows, n_cols), dtype=weight.dtype)
    matrix = scipy.sparse.coo_array(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n_rows, n_cols))
    return matrix.tocsr()


def overlap_map(kernel_size, stride, input_size=None, padding=0, dilation=1, output_padding=0) -> np.ndarray:
    """How many (input pixel, kernel tap) pairs a transposed convolution sums at each output pixel.

    With a kernel of all ones and an input of all ones, the transposed convolution's output *is* this count.
    Where ``kernel_size`` is not divisible by ``stride`` the count alternates in the interior (e.g. 1, 2, 1,
    2 for k=3, s=2): the "checkerboard artifact" of Odena et al. (2016) of a learnt upsampling layer.

    Parameters
    ----------
    kernel_size, stride, padding, dilation, output_padding : int or tuple of int
        The transposed convolution's parameters; the number of axes is taken from the longest.
    input_size : int or tuple of int, optional
        Spatial input size; default: enough pixels (``ceil(k d / s) + 2``) to show the interior pattern.

    Returns
    -------
    numpy.ndarray of int64
        The spatial output of the transposed convolution.

    Examples
    --------
    >>> overlap_map(3, 2, input_size=4)
    array([1, 1, 2, 1, 2, 1, 2, 1, 1])
    """
    ndim = max(len(v) if isinstance(v, (tuple, list)) else 1
               for v in (kernel_size, stride, input_size, padding, dilation, output_padding))
    kernel = tuple(np.broadcast_to(np.asarray(kernel_size), (ndim,)).tolist())
    if input_size is None:
        strides = np.broadcast_to(np.asarray(stride), (ndim,))
        dilations = np.broadcast_to(np.asarray(dilation), (ndim,))
        input_size = tuple(-(-k * d // max(int(s), 1)) + 2 for k, s, d in zip(kernel, strides, dilations))
    sizes = tuple(np.broadcast_to(np.asarray(input_size), (ndim,)).tolist())
    if min(kernel) < 1 or min(sizes) < 1:
        raise DeconvkitError(f"kernel_size and input_size must be positive, got {kernel} and {sizes}")
    ones = np.ones((1, 1) + sizes)
    weight = np.ones((1, 1) + kernel)
    counts = conv_transpose(ones, weight, stride=stride, padding=padding, output_padding=output_padding,
                            dilation=dilation)
    # the sums of ones are exact small integers in float64
    return np.rint(counts[0, 0]).astype(np.int64)
