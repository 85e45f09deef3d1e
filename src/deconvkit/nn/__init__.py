"""Learnable upsampling ("deconvolution" in the deep-learning sense) in PyTorch.

This subpackage needs the optional extra ``deconvkit[torch]``. Its names are loaded lazily, so that
``import deconvkit.nn`` and ``deconvkit.nn.config`` (used by ``deconvkit train-segmentation``,
:mod:`deconvkit.cli.train_segmentation`) work without PyTorch and only touching a layer or model imports
torch.

Building blocks (:mod:`deconvkit.nn.layers`)
    :class:`SwitchMaxPool2d` / :class:`SwitchMaxUnpool2d` (max pooling that returns its switches and the
    unpooling that puts values back there), :class:`ZeroFillUnpool2d` (unpooling without switches),
    :class:`BilinearConvTranspose2d` with :func:`bilinear_init` / :func:`bilinear_kernel` (the FCN kernel),
    :class:`ResizeConv`, :class:`PixelShuffleUp`, :class:`FixedUpsample`.
Model (:mod:`deconvkit.nn.model`)
    :class:`DeconvNet` with the decoders listed in :data:`DECODERS` and encoder presets in :data:`PRESETS`
    (both in the torch-free :mod:`deconvkit.nn.config`, with :class:`TrainConfig`).
Data (:mod:`deconvkit.nn.data`)
    :class:`SyntheticShapes` (seeded, generated on the fly) and :class:`VOCSegmentation` (PASCAL-VOC layout).
Training (:mod:`deconvkit.nn.train`)
    :func:`train_segmentation`, :func:`evaluate`, :func:`segmentation_scores`.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "layers": ["SwitchMaxPool2d", "SwitchMaxUnpool2d", "ZeroFillUnpool2d", "BilinearConvTranspose2d",
               "bilinear_init", "bilinear_kernel", "ResizeConv", "PixelShuffleUp", "FixedUpsample",
               "conv_bn_relu"],
    "config": ["TrainConfig", "DECODERS", "LEARNED_DECODERS", "FIXED_DECODERS", "PRESETS"],
    "model": ["DeconvNet"],
    "data": ["SyntheticShapes", "VOCSegmentation", "SYNTHETIC_CLASSES"],
    "train": ["train_segmentation", "evaluate", "segmentation_scores", "confusion_matrix"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name):
    # Lazy so that the CLI module of this package can be imported (and report a clean error) without torch.
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    if name in _EXPORTS or name == "cli":
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'deconvkit.nn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
