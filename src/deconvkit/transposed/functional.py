"""Convolution and transposed convolution in NumPy with the exact semantics of ``torch.nn.functional``.

``conv`` is what deep learning calls a convolution (a cross-correlation: the kernel is *not* flipped).
Written as a matrix ``C`` acting on the flattened input (:func:`conv_matrix`), ``conv_transpose`` is the
product with ``C^T``: every input pixel scatters a copy of the kernel, scaled by its value, into the output,
``stride`` pixels apart, and overlapping copies add up.

Fast paths (no Python loop per pixel, no ``np.add.at``):

* ``conv``: im2col. For each kernel tap (a loop over ``prod(kernel_size)`` taps only) one strided slice of
  the input is copied into a column buffer; one batched BLAS matrix product with the weights then gives
  every output pixel.
* ``conv_transpose``: col2im. One batched BLAS product ``W^T @ x`` gives, for every input pixel, its scaled
  kernel copy; then each tap's plane is added, as one contiguous shifted block, into one of the ``s^d``
  stride phases of the output (the sub-pixel decomposition), and the phases are interleaved at the end.
  Within one tap the destinations are distinct, so plain ``+=`` is exact.

Padding is never materialised: each tap's slice is clipped to the positions that fall inside the input (for
``conv``, :func:`_tap_window`) or inside the cropped output (for ``conv_transpose``).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import scipy.sparse

from .._shared import DeconvkitError, float_dtype
from .arithmetic import (
    ConvolutionError,
    ConvolutionTypeError,
    Geometry,
    check_output_padding,
    conv_spatial_shape,
    conv_transpose_spatial_shape,
    geometry,
    output_padding_for,
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
# validation
# ----------------------------------------------------------------------------------------------------
def _real_array(value, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise ConvolutionTypeError(f"{name} must be a real numeric array, got dtype {array.dtype}")
    return array


def _shape_list(shape) -> str:
    return "[" + ", ".join(str(n) for n in shape) + "]"


def _prepare(x, weight, bias, ndim, *, transposed, groups, name):
    """Validate and cast the tensors (PyTorch's checks and wording); return
    ``(x as (N, C, *S), weight, bias, batched, ndim)`` in the working dtype of ``x``."""
    x = _real_array(x, "input")
    weight = _real_array(weight, "weight")
    if ndim is None:
        ndim = weight.ndim - 2
        if ndim not in (1, 2, 3):
            raise ConvolutionError(
                f"weight must have 3, 4 or 5 dimensions (C, C, *kernel) for a 1-D, 2-D or 3-D convolution, "
                f"got weight of size {_shape_list(weight.shape)}")
    label = f"{name}{ndim}d"
    if x.ndim not in (ndim + 1, ndim + 2):
        raise ConvolutionError(
            f"Expected {ndim + 1}D (unbatched) or {ndim + 2}D (batched) input to {label}, but got input of "
            f"size: {_shape_list(x.shape)}")
    if weight.ndim != ndim + 2:
        # PyTorch infers the dimensionality from the weight and then complains about the stride length.
        raise ConvolutionError(
            f"expected stride to be a single integer value or a list of {weight.ndim - 2} values to match the "
            f"convolution dimensions, but got weight of size {_shape_list(weight.shape)} for {label}")
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool):
        raise ConvolutionTypeError(f"groups must be an int, got {groups!r}")
    if groups <= 0:
        raise ConvolutionError("non-positive groups is not supported")
    if weight.shape[0] % groups:
        raise ConvolutionError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got "
            f"weight of size [{_shape_list(weight.shape)}] instead")
    if not transposed and weight.shape[0] == 0:
        raise ConvolutionError(
            f"Given groups={groups}, expected weight to be at least 1 at dimension 0, but got weight of size "
            f"{_shape_list(weight.shape)} instead")
    kernel = tuple(weight.shape[2:])
    if min(kernel) <= 0:
        names = ("height", "width") if ndim <= 2 else ("depth", "height", "width")
        shown = ((1,) + kernel) if ndim == 1 else kernel
        raise ConvolutionError("kernel size should be greater than zero, but got "
                               + " ".join(f"kernel_{a}: {k}" for a, k in zip(names, shown)))
    batched = x.ndim == ndim + 2
    batch_x = x if batched else x[np.newaxis]
    in_channels = weight.shape[0] if transposed else weight.shape[1] * groups
    if batch_x.shape[1] != in_channels:
        what = "transposed=1" if transposed else f"groups={groups}"
        raise ConvolutionError(
            f"Given {what}, weight of size {_shape_list(weight.shape)}, expected input"
            f"{_shape_list(batch_x.shape)} to have {in_channels} channels, but got {batch_x.shape[1]} channels "
            "instead")
    out_channels = weight.shape[1] * groups if transposed else weight.shape[0]
    dtype = float_dtype(x.dtype)
    if bias is not None:
        bias = _real_array(bias, "bias")
        if bias.shape != (out_channels,):
            prefix = "transposed=1, " if transposed else ""
            raise ConvolutionError(
                f"Given {prefix}weight of size {_shape_list(weight.shape)}, expected bias to be 1-dimensional "
                f"with {out_channels} elements, but got bias of size {_shape_list(bias.shape)} instead")
        bias = bias.astype(dtype, copy=False)
    batch_x = np.ascontiguousarray(batch_x, dtype=dtype)
    weight = np.ascontiguousarray(weight, dtype=dtype)
    return batch_x, weight, bias, batched, ndim


def _finish(out, bias, batched):
    if bias is not None:
        out += bias.reshape((1, -1) + (1,) * (out.ndim - 2))
    return out if batched else out[0]


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


def _batch_chunks(n_batch: int, per_item: int):
    step = max(1, COLUMN_BUFFER_ELEMENTS // max(per_item, 1))
    return [slice(start, min(start + step, n_batch)) for start in range(0, n_batch, step)]


def conv_kernel(x, weight, geo: Geometry, groups: int, out_shape) -> np.ndarray:
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


def conv_transpose_kernel(x, weight, geo: Geometry, groups: int, out_shape) -> np.ndarray:
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
    x, weight, bias, batched, ndim = _prepare(x, weight, bias, _ndim, transposed=False, groups=groups,
                                              name="conv")
    kernel = weight.shape[2:]
    geo = geometry(ndim, kernel, stride, padding, dilation)
    out_shape = conv_spatial_shape(x.shape[2:], kernel, geo)
    return _finish(conv_kernel(x, weight, geo, groups, out_shape), bias, batched)


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
    x, weight, bias, batched, ndim = _prepare(x, weight, bias, _ndim, transposed=True, groups=groups,
                                              name="conv_transpose")
    kernel = weight.shape[2:]
    geo = geometry(ndim, kernel, stride, padding, dilation, transposed=True)
    if output_size is not None:
        output_padding = output_padding_for(x.shape[2:], output_size, kernel, geo.stride, geo.pad_before,
                                            geo.dilation)
    output_padding = check_output_padding(output_padding, geo)
    out_shape = conv_transpose_spatial_shape(x.shape[2:], kernel, geo, output_padding)
    return _finish(conv_transpose_kernel(x, weight, geo, groups, out_shape), bias, batched)


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
    weight = _real_array(weight, "weight")
    ndim = weight.ndim - 2
    if len(input_shape) not in (ndim + 1, ndim + 2) or min(input_shape, default=0) < 1:
        raise DeconvkitError(
            f"input_shape must be (C_in, *spatial) or (N, C_in, *spatial) with {ndim} positive spatial sizes "
            f"for a weight of shape {weight.shape}, got {input_shape}")
    x_shape = input_shape if len(input_shape) == ndim + 2 else (1,) + input_shape
    # Validate channels/groups exactly as conv() would, on a one-pixel stand-in carrying the channel count.
    _prepare(np.zeros(x_shape[:2] + (1,) * ndim), weight, None, ndim, transposed=False, groups=groups,
             name="conv")
    weight = weight.astype(float_dtype(weight.dtype), copy=False)
    kernel = weight.shape[2:]
    geo = geometry(ndim, kernel, stride, padding, dilation)
    spatial = x_shape[2:]
    out_shape = conv_spatial_shape(spatial, kernel, geo)
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
