"""A configurable DeconvNet (Noh, Hong & Han, ICCV 2015) with interchangeable decoders.

The encoder is VGG-like: ``len(widths)`` stages of ``convs_per_stage[i]`` 3x3 conv + BN + ReLU layers,
each followed by 2x2 max pooling that keeps its switches. The decoder mirrors it. Every decoder has the
*same* refinement layers (the mirror of the encoder convolutions); they differ only in how resolution is
restored:

================  =====================================================================  =========
decoder           upsampling                                                             learned?
================  =====================================================================  =========
``deconvnet``     unpool with the encoder's switches, then 3x3 "deconvolution" layers    yes
``fcn-bilinear``  stride-2 transposed convolution initialised bilinear, then 3x3 convs   yes
``resize-conv``   nearest upsampling + 3x3 convolution, then 3x3 convs                   yes
``pixel-shuffle`` 3x3 convolution to 4x channels + pixel shuffle, then 3x3 convs         yes
``nearest``       refinement at the coarse scale, then fixed nearest upsampling          no
``zero-fill``     refinement at the coarse scale, then fixed zero-fill (top-left)        no
================  =====================================================================  =========

For the two fixed decoders the refinement layers run *before* the upsampling, so that the parameter
count matches the learned ones: a learned layer after a zero-fill or nearest upsampler would itself be a
learned upsampler (zero filling followed by a convolution *is* a transposed convolution).
"""

from __future__ import annotations

import torch
from torch import nn

from .._shared import DeconvkitError
from .config import DECODERS, FIXED_DECODERS, LEARNED_DECODERS, PRESETS
from .layers import (
    BilinearConvTranspose2d,
    FixedUpsample,
    PixelShuffleUp,
    ResizeConv,
    SwitchMaxPool2d,
    SwitchMaxUnpool2d,
    conv_bn_relu,
)

__all__ = ["DeconvNet", "DECODERS", "LEARNED_DECODERS", "FIXED_DECODERS", "PRESETS"]

class _DecoderStage(nn.Module):
    """One decoder stage: a learned (or switch-based) upsampler followed by the refinement layers."""

    def __init__(self, upsample: nn.Module, refine: nn.Sequential):
        super().__init__()
        self.upsample = upsample
        self.refine = refine

    def forward(self, x, indices, output_size):
        if isinstance(self.upsample, SwitchMaxUnpool2d):
            x = self.upsample(x, indices, output_size)
        else:
            x = self.upsample(x, output_size)
        return self.refine(x)


class DeconvNet(nn.Module):
    """Encoder-decoder segmentation network with a choice of upsampling decoder.

    Parameters
    ----------
    num_classes : int
        Number of output channels (class scores per pixel).
    in_channels : int
        Image channels.
    decoder : str
        One of :data:`DECODERS` (see the module docstring).
    preset : str
        Encoder shape from :data:`PRESETS`, used when ``widths`` is not given. Default "vgg16".
    widths : sequence of int, optional
        Channels of each encoder stage (the depth is ``len(widths)``; the network downsamples by
        ``2 ** depth``).
    convs_per_stage : int or sequence of int, optional
        3x3 convolutions per encoder stage (and per mirrored decoder stage). Default 2.

    Notes
    -----
    Inputs of any size >= ``2 ** depth`` work; the output has the input's spatial size.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, decoder: str = "deconvnet",
                 preset: str = "vgg16", widths=None, convs_per_stage=None):
        super().__init__()
        if decoder not in DECODERS:
            raise DeconvkitError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
        if widths is None:
            if preset not in PRESETS:
                raise DeconvkitError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
            widths, default_convs = PRESETS[preset]
            convs_per_stage = default_convs if convs_per_stage is None else convs_per_stage
        widths = tuple(int(w) for w in widths)
        if not widths or min(widths) < 1:
            raise DeconvkitError(f"widths must be a non-empty sequence of positive integers, got {widths}")
        if convs_per_stage is None:
            convs_per_stage = 2
        if isinstance(convs_per_stage, int):
            convs_per_stage = (convs_per_stage,) * len(widths)
        convs_per_stage = tuple(int(n) for n in convs_per_stage)
        if len(convs_per_stage) != len(widths) or min(convs_per_stage) < 1:
            raise DeconvkitError(f"convs_per_stage must hold one integer >= 1 per stage ({len(widths)}), "
                                 f"got {convs_per_stage}")
        if num_classes < 2:
            raise DeconvkitError(f"num_classes must be >= 2, got {num_classes}")
        self.decoder_name = decoder
        self.widths = widths
        self.convs_per_stage = convs_per_stage
        self.num_classes = int(num_classes)

        self.encoder = nn.ModuleList()
        channels = in_channels
        for width, count in zip(widths, convs_per_stage):
            layers = []
            for _ in range(count):
                layers.append(conv_bn_relu(channels, width))
                channels = width
            self.encoder.append(nn.Sequential(*layers))
        self.pool = SwitchMaxPool2d(2)

        self.decoder = nn.ModuleList()
        transposed = decoder == "deconvnet"
        for stage in reversed(range(len(widths))):
            width = widths[stage]
            out_width = widths[stage - 1] if stage > 0 else widths[0]
            refine = nn.Sequential(*[
                conv_bn_relu(width, out_width if i == convs_per_stage[stage] - 1 else width, transposed)
                for i in range(convs_per_stage[stage])])
            self.decoder.append(_DecoderStage(self._upsampler(decoder, width), refine))
        self.fixed_upsample = (FixedUpsample(2 ** len(widths), decoder) if decoder in FIXED_DECODERS
                               else None)
        self.classifier = nn.Conv2d(widths[0], num_classes, 1)

    @staticmethod
    def _upsampler(decoder: str, channels: int) -> nn.Module:
        if decoder == "deconvnet":
            return SwitchMaxUnpool2d(2)
        if decoder == "fcn-bilinear":
            return BilinearConvTranspose2d(channels, factor=2)
        if decoder == "resize-conv":
            return ResizeConv(channels, factor=2, mode="nearest")
        if decoder == "pixel-shuffle":
            return PixelShuffleUp(channels, factor=2)
        return nn.Identity()  # fixed decoders refine first and upsample once at the end

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        input_size = x.shape[-2:]
        minimum = 2 ** len(self.widths)
        if min(input_size) < minimum:
            raise DeconvkitError(f"input spatial size {tuple(input_size)} is smaller than the network's "
                                 f"downsampling factor {minimum}")
        sizes, switches = [], []
        for stage in self.encoder:
            x = stage(x)
            sizes.append(x.shape[-2:])
            x, indices = self.pool(x)
            switches.append(indices)
        for stage, indices, size in zip(self.decoder, reversed(switches), reversed(sizes)):
            if self.fixed_upsample is None:
                x = stage(x, indices, size)
            else:
                x = stage.refine(x)
        if self.fixed_upsample is not None:
            x = self.fixed_upsample(x, input_size)
        return self.classifier(x)

    def extra_repr(self) -> str:
        return f"decoder={self.decoder_name!r}, widths={self.widths}, convs_per_stage={self.convs_per_stage}"
