"""Names and settings of :mod:`deconvkit.nn` that do not need PyTorch (the CLI reads them without it)."""

from __future__ import annotations

import dataclasses
import math

from .._shared import DeconvkitError

__all__ = ["DECODERS", "LEARNED_DECODERS", "FIXED_DECODERS", "PRESETS", "TrainConfig"]

LEARNED_DECODERS = ("deconvnet", "fcn-bilinear", "resize-conv", "pixel-shuffle")
FIXED_DECODERS = ("nearest", "zero-fill")
DECODERS = LEARNED_DECODERS + FIXED_DECODERS

#: Encoder shapes: (widths, convs per stage). "vgg16" is the VGG16 convolutional trunk DeconvNet uses
#: (without the fc6/fc7 layers); "small" and "tiny" train on a CPU in minutes.
PRESETS = {
    "vgg16": ((64, 128, 256, 512, 512), (2, 2, 3, 3, 3)),
    "small": ((16, 32, 64), (2, 2, 2)),
    "tiny": ((8, 16, 32), (1, 1, 1)),
}


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run (saved in the checkpoint and checked on resume).

    ``data=None`` trains on :class:`~deconvkit.nn.data.SyntheticShapes` with ``train_size`` / ``val_size``
    images of ``image_size`` pixels; otherwise ``data`` is a PASCAL-VOC-layout directory whose ``train``
    and ``val`` lists are used, with square crops of ``image_size``.
    """

    decoder: str = "deconvnet"
    preset: str = "small"
    epochs: int = 8
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "cpu"
    data: str | None = None
    num_classes: int | None = None
    image_size: int = 96
    train_size: int = 384
    val_size: int = 96
    balance_classes: bool = True

    def validate(self) -> TrainConfig:
        if self.decoder not in DECODERS:
            raise DeconvkitError(f"decoder must be one of {', '.join(DECODERS)}, got {self.decoder!r}")
        if self.preset not in PRESETS:
            raise DeconvkitError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        for name in ("epochs", "batch_size", "image_size", "train_size", "val_size"):
            value = getattr(self, name)
            minimum = 0 if name == "epochs" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise DeconvkitError(f"{name} must be an integer >= {minimum}, got {value!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise DeconvkitError(f"lr must be a positive number, got {self.lr!r}")
        if self.device not in ("cpu", "cuda"):
            raise DeconvkitError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        import torch

        if self.device == "cuda" and not torch.cuda.is_available():
            raise DeconvkitError("device 'cuda' was requested but PyTorch sees no CUDA GPU; use --device cpu")
        return self
