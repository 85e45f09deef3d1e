"""Convolution arithmetic: output/input sizes in both directions, argument checks with PyTorch's wording.

Notation follows Dumoulin & Visin, "A guide to convolution arithmetic for deep learning" (2016), extended
with dilation ``d`` as PyTorch does. Along one axis, an input of size ``i`` convolved with a kernel of size
``k`` (effective size ``d (k - 1) + 1``), stride ``s`` and zero padding ``p`` on both sides gives

    o = floor((i + 2p - d (k - 1) - 1) / s) + 1

and the transposed convolution of that ``o`` goes back to

    i' = (o - 1) s - 2p + d (k - 1) + 1 + a,   with  a = (i + 2p - d (k - 1) - 1) mod s

The floor loses ``a``: every input size in ``[i - a, i - a + s - 1]`` gives the same ``o``, so the
transposed direction needs ``output_padding = a`` to know which one was meant (PyTorch requires
``output_padding < max(stride, dilation)``).

The special paddings of the guide are accepted by name: ``"valid"`` (no padding, ``p = 0``), ``"half"``
(``p = d (k - 1) // 2``, the output keeps the input size for odd kernels and stride 1), ``"full"``
(``p = d (k - 1)``, every partial overlap is kept) and PyTorch's ``"same"`` (stride 1 only; for even
effective kernels the extra zero goes on the right, as ``torch.nn.functional.conv*d(padding="same")``).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .._shared import DeconvkitError

__all__ = [
    "ConvolutionError",
    "ConvolutionTypeError",
    "conv_output_size",
    "conv_transpose_output_size",
    "output_shape",
    "input_shape",
    "output_padding_for",
    "adjoint_output_padding",
    "PADDING_NAMES",
]

PADDING_NAMES = ("valid", "same", "half", "full")

# PyTorch names the spatial axes in its messages; 1-D convolutions are run as 2-D with a dummy height axis,
# which is why its 1-D messages mention a height (we reproduce that so the messages match word for word).
_AXIS_NAMES = {2: ("height", "width"), 3: ("depth", "height", "width")}


class ConvolutionError(DeconvkitError, RuntimeError):
    """Invalid convolution arguments.

    A :class:`~deconvkit.DeconvkitError` (so the CLI reports it as a one-line error) *and* a
    ``RuntimeError``, the exception type PyTorch raises for the same mistakes, so code written against
    ``torch.nn.functional`` catches it unchanged.
    """


class ConvolutionTypeError(DeconvkitError, TypeError):
    """An argument of the wrong type (PyTorch raises ``TypeError`` for these, e.g. ``stride=1.5``)."""


class Geometry(NamedTuple):
    """Validated per-axis parameters of one convolution (all tuples have one entry per spatial axis)."""

    stride: tuple[int, ...]
    pad_before: tuple[int, ...]
    pad_after: tuple[int, ...]
    dilation: tuple[int, ...]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def expand(value, name: str, ndim: int) -> tuple[int, ...]:
    """One int per spatial axis from an int or a sequence of ``1`` or ``ndim`` ints (PyTorch's rule)."""
    if _is_int(value):
        return (int(value),) * ndim
    try:
        values = tuple(value)
    except TypeError:
        raise ConvolutionTypeError(
            f"{name} must be an int or a tuple of {ndim} ints, got {value!r} ({type(value).__name__})"
        ) from None
    if not all(_is_int(v) for v in values):
        raise ConvolutionTypeError(f"{name} must be an int or a tuple of {ndim} ints, got {value!r}")
    if len(values) == 1:
        return (int(values[0]),) * ndim
    if len(values) != ndim:
        raise ConvolutionError(
            f"expected {name} to be a single integer value or a list of {ndim} values to match the "
            f"convolution dimensions, but got {name}={list(values)}")
    return tuple(int(v) for v in values)


def _torch_axes(values, ndim: int, fill: int) -> tuple[int, ...]:
    """Values as PyTorch reports them: 1-D gets a dummy leading axis holding ``fill``."""
    return ((fill,) + tuple(values)) if ndim == 1 else tuple(values)


def _labelled(name: str, values, ndim: int, fill: int, sep: str = " ") -> str:
    padded = _torch_axes(values, ndim, fill)
    return sep.join(f"{name}_{axis}: {v}" for axis, v in zip(_AXIS_NAMES[len(padded)], padded))


def _check_kernel(kernel_size, ndim):
    kernel = expand(kernel_size, "kernel_size", ndim)
    if min(kernel) <= 0:
        raise ConvolutionError(
            "kernel size should be greater than zero, but got " + _labelled("kernel", kernel, ndim, 1))
    return kernel


def resolve_padding(padding, kernel, stride, dilation) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(pad_before, pad_after)`` for an int, a tuple or one of :data:`PADDING_NAMES`."""
    ndim = len(kernel)
    if isinstance(padding, str):
        extent = tuple(d * (k - 1) for k, d in zip(kernel, dilation))
        if padding == "valid":
            return (0,) * ndim, (0,) * ndim
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ConvolutionError("padding='same' is not supported for strided convolutions")
            before = tuple(e // 2 for e in extent)
            return before, tuple(e - b for e, b in zip(extent, before))
        if padding == "half":
            half = tuple(e // 2 for e in extent)
            return half, half
        if padding == "full":
            return extent, extent
        raise ConvolutionError(f"Invalid padding string: {padding!r} (allowed: {', '.join(PADDING_NAMES)})")
    pad = expand(padding, "padding", ndim)
    if min(pad) < 0:
        raise ConvolutionError("negative padding is not supported")
    return pad, pad


def geometry(ndim, kernel, stride, padding, dilation, *, transposed=False) -> Geometry:
    """Validate stride/padding/dilation for a convolution with spatial ``kernel`` sizes."""
    stride = expand(stride, "stride", ndim)
    if isinstance(padding, str) and transposed:
        raise ConvolutionTypeError(
            f"conv_transpose{ndim}d(): argument 'padding' must be tuple of ints, not str ({padding!r})")
    dilation = expand(dilation, "dilation", ndim)
    if isinstance(padding, str):
        expand(0, "padding", ndim)
    else:
        expand(padding, "padding", ndim)  # length check before the value checks, as PyTorch orders them
    if min(stride) <= 0:
        raise ConvolutionError("non-positive stride is not supported")
    if min(dilation) <= 0:
        if transposed:
            message = _labelled("dilation", dilation, ndim, 1, sep=", ")
        else:
            message = str(list(_torch_axes(dilation, ndim, 1)))
        raise ConvolutionError(f"dilation should be greater than zero, but got {message}")
    before, after = resolve_padding(padding, kernel, stride, dilation)
    return Geometry(stride, before, after, dilation)


def check_output_padding(output_padding, geo: Geometry) -> tuple[int, ...]:
    """Validate ``output_padding`` against stride and dilation, with PyTorch's exact message."""
    ndim = len(geo.stride)
    output_padding = expand(output_padding, "output_padding", ndim)
    if min(output_padding) < 0:
        raise ConvolutionError("negative output_padding is not supported")
    if any(op >= s and op >= d for op, s, d in zip(output_padding, geo.stride, geo.dilation)):
        raise ConvolutionError(
            "output padding must be smaller than either stride or dilation, but got "
            + " ".join([_labelled("output_padding", output_padding, ndim, 0),
                        _labelled("stride", geo.stride, ndim, 1),
                        _labelled("dilation", geo.dilation, ndim, 1)]))
    return output_padding


def _size_list(values) -> str:
    return " x ".join(str(v) for v in values)


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1, pad_after: int | None = None) -> int:
    """Output length of a convolution along one axis: ``floor((i + 2p - d (k - 1) - 1) / s) + 1``."""
    pad_after = padding if pad_after is None else pad_after
    return (size + padding + pad_after - dilation * (kernel_size - 1) - 1) // stride + 1


def conv_transpose_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution: ``(i - 1) s - 2p + d (k - 1) + output_padding + 1``."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1


def conv_spatial_shape(spatial, kernel, geo: Geometry) -> tuple[int, ...]:
    """Output spatial shape of a convolution; raises PyTorch's error when the kernel does not fit."""
    padded = tuple(n + b + a for n, b, a in zip(spatial, geo.pad_before, geo.pad_after))
    effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, geo.dilation))
    if any(e > n for e, n in zip(effective, padded)):
        raise ConvolutionError(
            f"Calculated padded input size per channel: ({_size_list(padded)}). Kernel size: "
            f"({_size_list(effective)}). Kernel size can't be greater than actual input size")
    return tuple(conv_output_size(n, k, s, b, d, a) for n, k, s, b, a, d in
                 zip(spatial, kernel, geo.stride, geo.pad_before, geo.pad_after, geo.dilation))


def conv_transpose_spatial_shape(spatial, kernel, geo: Geometry, output_padding) -> tuple[int, ...]:
    """Output spatial shape of a transposed convolution; raises PyTorch's error when it is empty."""
    shape = tuple(conv_transpose_output_size(n, k, s, p, op, d) for n, k, s, p, op, d in
                  zip(spatial, kernel, geo.stride, geo.pad_before, output_padding, geo.dilation))
    if min(shape) <= 0:
        ndim = len(spatial)
        raise ConvolutionError(
            f"Given input size per channel: ({_size_list(_torch_axes(spatial, ndim, 1))}). Calculated "
            f"output size per channel: ({_size_list(_torch_axes(shape, ndim, 1))}). Output size is too small")
    return shape


def _spatial_args(shape, kernel_size):
    shape = (int(shape),) if _is_int(shape) else tuple(int(n) for n in shape)
    if _is_int(kernel_size):
        kernel_size = (int(kernel_size),) * len(shape)
    return shape, _check_kernel(kernel_size, len(shape))


def output_shape(input_shape, kernel_size, stride=1, padding=0, dilation=1, *, transposed=False,
                 output_padding=0) -> tuple[int, ...]:
    """Spatial output shape of a convolution (or, with ``transposed=True``, a transposed convolution).

    Parameters
    ----------
    input_shape : int or tuple of int
        Spatial input size(s) only (no batch or channel axis).
    kernel_size, stride, padding, dilation : int or tuple of int
        As in ``torch.nn.Conv*d``; ``padding`` may also be ``"valid"``, ``"same"``, ``"half"`` or
        ``"full"`` for a convolution.
    transposed : bool
        Compute the transposed convolution's output size instead.
    output_padding : int or tuple of int
        Only for ``transposed=True``: the ``a`` of the guide, added on one side.

    Examples
    --------
    >>> output_shape((4, 4), 3)                      # no padding, unit stride: 4 - 3 + 1
    (2, 2)
    >>> output_shape(5, 3, stride=2, padding=1)      # (5 + 2 - 3) // 2 + 1
    (3,)
    >>> output_shape(3, 3, stride=2, padding=1, transposed=True, output_padding=1)
    (6,)
    """
    shape, kernel = _spatial_args(input_shape, kernel_size)
    ndim = len(shape)
    geo = geometry(ndim, kernel, stride, padding, dilation, transposed=transposed)
    if transposed:
        return conv_transpose_spatial_shape(shape, kernel, geo, check_output_padding(output_padding, geo))
    if any(expand(output_padding, "output_padding", ndim)):
        raise ConvolutionError("output_padding only applies to transposed convolutions (transposed=True)")
    return conv_spatial_shape(shape, kernel, geo)


def input_shape(output_shape, kernel_size, stride=1, padding=0, dilation=1, *, transposed=False):
    """Invert :func:`output_shape`: which spatial input sizes produce ``output_shape``.

    For a convolution the answer is not unique when ``stride > 1``: every size in
    ``range(i_min, i_min + stride)`` gives the same output (the guide's ``a = (i + 2p - k) mod s`` is
    lost by the floor). Returns one ``range`` per axis.

    For a transposed convolution the input size is unique and the missing ``a`` is supplied as
    ``output_padding``; returns ``(input_sizes, output_padding)``, two tuples of ints. Raises
    :class:`ConvolutionError` if no input size and valid ``output_padding`` give ``output_shape``.

    Examples
    --------
    >>> input_shape(2, 3, stride=2)         # 5 and 6 both give 2 outputs
    (range(5, 7),)
    >>> input_shape(6, 3, stride=2, padding=1, transposed=True)
    ((3,), (1,))
    """
    shape, kernel = _spatial_args(output_shape, kernel_size)
    ndim = len(shape)
    geo = geometry(ndim, kernel, stride, padding, dilation, transposed=transposed)
    if not transposed:
        ranges = []
        for o, k, s, b, a, d in zip(shape, kernel, geo.stride, geo.pad_before, geo.pad_after, geo.dilation):
            if o < 1:
                raise ConvolutionError(f"output size must be positive, got {shape}")
            smallest = max((o - 1) * s + d * (k - 1) + 1 - b - a, 1)
            largest = (o - 1) * s + d * (k - 1) + 1 - b - a + s - 1
            if largest < 1:
                raise ConvolutionError(f"no input size gives output size {o} with padding {b}+{a}")
            ranges.append(range(smallest, largest + 1))
        return tuple(ranges)
    sizes, paddings = [], []
    for o, k, s, p, d in zip(shape, kernel, geo.stride, geo.pad_before, geo.dilation):
        i, a = divmod(o + 2 * p - d * (k - 1) - 1, s)
        sizes.append(i + 1)
        paddings.append(a)
    if min(sizes) < 1:
        raise ConvolutionError(f"no input size gives a transposed-convolution output of {shape}")
    check_output_padding(tuple(paddings), geo)
    return tuple(sizes), tuple(paddings)


def output_padding_for(input_size, output_size, kernel_size, stride=1, padding=0, dilation=1):
    """The ``output_padding`` that makes a transposed convolution produce ``output_size``.

    This is what ``torch.nn.ConvTranspose*d.forward(x, output_size=...)`` does: ``input_size`` and
    ``output_size`` are spatial sizes (``output_size`` may also include the batch/channel axes, which are
    ignored). Raises ``ValueError`` (a :class:`~deconvkit.DeconvkitError`) with PyTorch's message when
    ``output_size`` is outside ``[minimum, minimum + stride - 1]``.

    >>> output_padding_for((32, 32), (64, 64), 3, stride=2, padding=1)
    (1, 1)
    """
    sizes, kernel = _spatial_args(input_size, kernel_size)
    ndim = len(sizes)
    requested = (int(output_size),) if _is_int(output_size) else tuple(int(n) for n in output_size)
    if len(requested) in (ndim + 1, ndim + 2):
        requested = requested[len(requested) - ndim:]
    if len(requested) != ndim:
        raise DeconvkitError(
            f"ConvTranspose{ndim}D: output_size must have {ndim} spatial elements, got {list(requested)}")
    geo = geometry(ndim, kernel, stride, padding, dilation, transposed=True)
    minimum = [conv_transpose_output_size(i, k, s, p, 0, d) for i, k, s, p, d in
               zip(sizes, kernel, geo.stride, geo.pad_before, geo.dilation)]
    maximum = [m + s - 1 for m, s in zip(minimum, geo.stride)]
    if any(not lo <= n <= hi for n, lo, hi in zip(requested, minimum, maximum)):
        raise DeconvkitError(
            f"requested an output size of {list(requested)}, but valid sizes range from {minimum} to "
            f"{maximum} (for an input of {list(sizes)})")
    return tuple(n - lo for n, lo in zip(requested, minimum))


def adjoint_output_padding(input_size, kernel_size, stride=1, padding=0, dilation=1) -> tuple[int, ...]:
    """``a = (i + 2p - d (k - 1) - 1) mod s``: the ``output_padding`` that makes ``conv_transpose`` the
    exact adjoint of a convolution of an input of ``input_size`` (it maps back onto the same shape).

    >>> adjoint_output_padding(6, 3, stride=2, padding=1)
    (1,)
    """
    sizes, kernel = _spatial_args(input_size, kernel_size)
    geo = geometry(len(sizes), kernel, stride, padding, dilation, transposed=True)
    return tuple((i + 2 * p - d * (k - 1) - 1) % s for i, k, s, p, d in
                 zip(sizes, kernel, geo.stride, geo.pad_before, geo.dilation))


def tap_offsets(kernel) -> np.ndarray:
    """All kernel tap multi-indices in C order, shape ``(prod(kernel), ndim)``."""
    return np.indices(kernel).reshape(len(kernel), -1).T
