"""Upsampling building blocks: unpooling with switches, bilinear-initialised transposed convolution,
resize-convolution, pixel shuffle and the fixed (parameter-free) upsamplers used as baselines.

Every upsampler takes ``output_size`` (the spatial size of the encoder feature map it mirrors), because
max pooling floors odd sizes and the decoder has to land exactly on the skip size again.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._shared import DeconvkitError

__all__ = [
    "SwitchMaxPool2d",
    "SwitchMaxUnpool2d",
    "ZeroFillUnpool2d",
    "FixedUpsample",
    "bilinear_kernel",
    "bilinear_init",
    "BilinearConvTranspose2d",
    "ResizeConv",
    "PixelShuffleUp",
    "conv_bn_relu",
]


def _check_factor(factor) -> int:
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise DeconvkitError(f"factor must be an integer >= 1, got {factor!r}")
    return int(factor)


def _fit(x: torch.Tensor, size) -> torch.Tensor:
    """Crop or zero-pad the last two axes of ``x`` (at the bottom/right) to ``size``."""
    if size is None:
        return x
    height, width = int(size[0]), int(size[1])
    x = x[..., :height, :width]
    pad_h, pad_w = height - x.shape[-2], width - x.shape[-1]
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x


class SwitchMaxPool2d(nn.Module):
    """Max pooling that also returns its *switches* (the flat ``h * W + w`` index of every maximum).

    The switches are what lets :class:`SwitchMaxUnpool2d` put each value back where it came from
    (Zeiler & Fergus 2014; Noh et al. 2015).

    Parameters
    ----------
    kernel_size : int
        Pooling window, also the stride.
    """

    def __init__(self, kernel_size: int = 2):
        super().__init__()
        self.kernel_size = _check_factor(kernel_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.max_pool2d(x, self.kernel_size, self.kernel_size, return_indices=True)


class SwitchMaxUnpool2d(nn.Module):
    """Unpooling with switches: each value goes back to the position its max came from; the rest are 0.

    Parameters
    ----------
    kernel_size : int
        The pooling window of the matching :class:`SwitchMaxPool2d`.
    """

    def __init__(self, kernel_size: int = 2):
        super().__init__()
        self.kernel_size = _check_factor(kernel_size)

    def forward(self, x: torch.Tensor, indices: torch.Tensor, output_size=None) -> torch.Tensor:
        size = None if output_size is None else tuple(int(s) for s in output_size)[-2:]
        return F.max_unpool2d(x, indices, self.kernel_size, self.kernel_size, output_size=size)


class ZeroFillUnpool2d(nn.Module):
    """Unpooling without switches: each value goes to the top-left corner of its block, the rest are 0.

    This is the "fixed zero-filling" upsampler of the DeconvNet paper's discussion. Followed by a learned
    convolution it becomes a transposed convolution, so on its own it is the parameter-free baseline.
    """

    def __init__(self, factor: int = 2):
        super().__init__()
        self.factor = _check_factor(factor)

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        f = self.factor
        batch, channels, height, width = x.shape
        out = x.new_zeros(batch, channels, height * f, width * f)
        out[..., ::f, ::f] = x
        return _fit(out, None if output_size is None else tuple(output_size)[-2:])


class FixedUpsample(nn.Module):
    """Parameter-free upsampling by ``factor``: ``mode="nearest"`` (block replication) or ``"zero-fill"``."""

    def __init__(self, factor: int, mode: str = "nearest"):
        super().__init__()
        if mode not in ("nearest", "zero-fill"):
            raise DeconvkitError(f"mode must be 'nearest' or 'zero-fill', got {mode!r}")
        self.factor = _check_factor(factor)
        self.mode = mode
        self.zero_fill = ZeroFillUnpool2d(self.factor)

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        size = None if output_size is None else tuple(output_size)[-2:]
        if self.mode == "zero-fill":
            return self.zero_fill(x, size)
        out = F.interpolate(x, scale_factor=self.factor, mode="nearest")
        return _fit(out, size)


def bilinear_kernel(factor: int) -> np.ndarray:
    """The FCN bilinear upsampling kernel for an integer ``factor`` (Long, Shelhamer & Darrell 2015).

    Size ``2 * factor - factor % 2``; used as a stride-``factor`` transposed convolution with padding
    ``factor // 2`` it reproduces bilinear interpolation with half-pixel centres (PyTorch's
    ``align_corners=False``) away from the border.

    Returns
    -------
    ndarray, float64, shape (size, size)
        Separable tent ``(1 - |i - c| / factor)`` outer itself, centre ``c = (size - 1) / 2``.
    """
    factor = _check_factor(factor)
    size = 2 * factor - factor % 2
    centre = (size - 1) / 2
    tent = 1.0 - np.abs(np.arange(size) - centre) / factor
    return np.outer(tent, tent)


def bilinear_init(layer: nn.ConvTranspose2d) -> nn.ConvTranspose2d:
    """Initialise a square-kernel transposed convolution as per-channel bilinear upsampling (in place).

    Channel ``c`` is upsampled from input channel ``c`` only (the weight is "diagonal"); for a grouped
    layer with one channel per group every group gets the kernel. The factor is the layer's stride,
    and the kernel size must be ``2 * stride - stride % 2``.

    Returns
    -------
    nn.ConvTranspose2d
        ``layer``, for chaining.
    """
    if not isinstance(layer, nn.ConvTranspose2d):
        raise DeconvkitError(f"layer must be a torch.nn.ConvTranspose2d, got {type(layer).__name__}")
    stride = layer.stride[0]
    if layer.stride[1] != stride:
        raise DeconvkitError(f"layer.stride must be equal on both axes for bilinear_init, got {layer.stride}")
    expected = 2 * stride - stride % 2
    if tuple(layer.kernel_size) != (expected, expected):
        raise DeconvkitError(
            f"layer.kernel_size must be ({expected}, {expected}) for stride {stride}, got {layer.kernel_size}")
    in_channels, out_per_group = layer.weight.shape[:2]
    per_group_in = in_channels // layer.groups
    if per_group_in != out_per_group and not (per_group_in == 1 and out_per_group == 1):
        raise DeconvkitError(
            f"bilinear_init needs as many output as input channels per group, got weight shape "
            f"{tuple(layer.weight.shape)} with groups={layer.groups}")
    kernel = torch.as_tensor(bilinear_kernel(stride), dtype=layer.weight.dtype)
    with torch.no_grad():
        layer.weight.zero_()
        for channel in range(in_channels):
            layer.weight[channel, channel % out_per_group] = kernel
        if layer.bias is not None:
            layer.bias.zero_()
    return layer


class BilinearConvTranspose2d(nn.Module):
    """Learned transposed convolution, stride ``factor``, initialised to bilinear upsampling (FCN style).

    Parameters
    ----------
    in_channels, out_channels : int
        With ``out_channels == in_channels`` (the default) the layer starts as exact per-channel bilinear
        interpolation; otherwise it starts from PyTorch's default initialisation.
    factor : int
        Upsampling factor; kernel size ``2 * factor - factor % 2`` and padding ``factor // 2``.
    learnable : bool
        ``False`` freezes the bilinear kernel (fixed bilinear upsampling).
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, factor: int = 2,
                 learnable: bool = True, bias: bool = False):
        super().__init__()
        factor = _check_factor(factor)
        out_channels = in_channels if out_channels is None else out_channels
        self.factor = factor
        self.deconv = nn.ConvTranspose2d(in_channels, out_channels, 2 * factor - factor % 2, stride=factor,
                                         padding=factor // 2, bias=bias)
        if out_channels == in_channels:
            bilinear_init(self.deconv)
        self.deconv.weight.requires_grad_(learnable)

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        return _fit(self.deconv(x), None if output_size is None else tuple(output_size)[-2:])


class ResizeConv(nn.Module):
    """Resize-convolution: fixed nearest or bilinear upsampling followed by a learned 3x3 convolution.

    Odena, Dumoulin & Olah (2016) recommend it over transposed convolution because it cannot produce
    checkerboard artefacts (every output pixel sees the same number of kernel taps).
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, factor: int = 2,
                 mode: str = "nearest"):
        super().__init__()
        if mode not in ("nearest", "bilinear"):
            raise DeconvkitError(f"mode must be 'nearest' or 'bilinear', got {mode!r}")
        self.factor = _check_factor(factor)
        self.mode = mode
        out_channels = in_channels if out_channels is None else out_channels
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if output_size is None:
            size = (x.shape[-2] * self.factor, x.shape[-1] * self.factor)
        else:
            size = tuple(int(s) for s in tuple(output_size)[-2:])
        extra = {} if self.mode == "nearest" else {"align_corners": False}
        return self.conv(F.interpolate(x, size=size, mode=self.mode, **extra))


class PixelShuffleUp(nn.Module):
    """Sub-pixel convolution: a 3x3 convolution to ``factor**2`` times the channels, then pixel shuffle.

    Initialised with ICNR (Aitken et al. 2017): all ``factor**2`` sub-pixel kernels start equal, so the
    layer starts as nearest upsampling + convolution and has no checkerboard at initialisation.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, factor: int = 2):
        super().__init__()
        self.factor = _check_factor(factor)
        out_channels = in_channels if out_channels is None else out_channels
        self.conv = nn.Conv2d(in_channels, out_channels * self.factor ** 2, 3, padding=1, bias=False)
        self.shuffle = nn.PixelShuffle(self.factor)
        with torch.no_grad():
            base = torch.empty(out_channels, in_channels, 3, 3)
            nn.init.kaiming_uniform_(base, a=math.sqrt(5))
            # PixelShuffle reads output channel c * f^2 + k as sub-pixel k of channel c.
            self.conv.weight.copy_(base.repeat_interleave(self.factor ** 2, dim=0))

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        return _fit(self.shuffle(self.conv(x)), None if output_size is None else tuple(output_size)[-2:])


def conv_bn_relu(in_channels: int, out_channels: int, transposed: bool = False) -> nn.Sequential:
    """3x3 convolution (or stride-1 transposed convolution, DeconvNet's "deconvolution layer"), BN, ReLU.

    A stride-1 transposed convolution with padding 1 is a convolution with the kernel flipped and its
    channel axes swapped, so both choices have the same parameters and receptive field.
    """
    layer_type = nn.ConvTranspose2d if transposed else nn.Conv2d
    return nn.Sequential(layer_type(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))
