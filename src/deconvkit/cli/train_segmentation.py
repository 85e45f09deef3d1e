"""``deconvkit train-segmentation``: train a DeconvNet-style model and report mIoU on a held-out split.

This module imports without PyTorch (discovery imports every subcommand); torch is imported in :func:`run`.
"""

from __future__ import annotations

import argparse
import math
import sys

from .._shared import DeconvkitError
from ..nn.config import DECODERS, PRESETS, TrainConfig
from ._common import emit_json, integer_at_least

COMMAND = "train-segmentation"
HELP = "train a DeconvNet-style segmentation model (needs deconvkit[torch])"

_DEFAULTS = TrainConfig()
_POSITIVE = integer_at_least(1, "count")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Train an encoder-decoder segmentation network whose decoder upsamples with switch "
        "unpooling + deconvolution (DeconvNet), a learned bilinear-initialised transposed "
        "convolution, resize-convolution, pixel shuffle, or fixed nearest / zero-fill "
        "upsampling. Checkpoints go to --out after every epoch; mIoU and pixel accuracy on "
        "the held-out split are printed at the end.")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", metavar="DIR",
                        help="PASCAL-VOC-layout directory (JPEGImages/, SegmentationClass/, "
                             "ImageSets/Segmentation/{train,val}.txt)")
    source.add_argument("--synthetic", action="store_true",
                        help="train on the seeded synthetic shapes set (the default)")
    parser.add_argument("--decoder", choices=DECODERS, default=_DEFAULTS.decoder,
                        help=f"upsampling decoder (default {_DEFAULTS.decoder})")
    parser.add_argument("--preset", choices=tuple(PRESETS), default=_DEFAULTS.preset,
                        help="encoder shape: tiny/small train on a CPU, vgg16 is DeconvNet's "
                             f"(default {_DEFAULTS.preset})")
    parser.add_argument("--epochs", type=_POSITIVE, default=_DEFAULTS.epochs,
                        help=f"epochs in total, counting resumed ones (default {_DEFAULTS.epochs})")
    parser.add_argument("--batch-size", type=_POSITIVE, default=_DEFAULTS.batch_size)
    parser.add_argument("--lr", type=float, default=_DEFAULTS.lr,
                        help=f"peak learning rate of AdamW (default {_DEFAULTS.lr:g})")
    parser.add_argument("--image-size", type=_POSITIVE, default=_DEFAULTS.image_size,
                        help=f"synthetic image side / VOC crop size in pixels (default {_DEFAULTS.image_size})")
    parser.add_argument("--train-size", type=_POSITIVE, default=_DEFAULTS.train_size,
                        help=f"synthetic training images (default {_DEFAULTS.train_size})")
    parser.add_argument("--val-size", type=_POSITIVE, default=_DEFAULTS.val_size,
                        help=f"synthetic held-out images (default {_DEFAULTS.val_size})")
    parser.add_argument("--num-classes", type=_POSITIVE, default=None,
                        help="classes in --data (default 21, PASCAL VOC)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=_POSITIVE, default=None,
                        help="CPU threads for PyTorch (default: PyTorch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", metavar="DIR", default="segmentation-run",
                        help="directory for checkpoint.pt (default ./segmentation-run)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from DIR/checkpoint.pt up to --epochs (other settings must match)")
    parser.add_argument("--json", action="store_true",
                        help="print the scores as one JSON object on the last line of stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no per-epoch lines")


def _config(args) -> TrainConfig:
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise DeconvkitError(f"--lr must be a positive number, got {args.lr}")
    return TrainConfig(decoder=args.decoder, preset=args.preset, epochs=args.epochs,
                       batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                       data=args.data, num_classes=args.num_classes, image_size=args.image_size,
                       train_size=args.train_size, val_size=args.val_size)


def _class_names(config) -> tuple:
    if config.data is None:
        from ..nn.data import SYNTHETIC_CLASSES

        return SYNTHETIC_CLASSES
    return ()


def _print_report(config: TrainConfig, result: dict) -> None:
    print(f"decoder {config.decoder}, preset {config.preset}, {result['parameters']} parameters, "
          f"{result['epochs_run']} epoch(s) in {result['train_seconds']:.1f} s")
    print(f"held-out mIoU {result['miou']:.4f}, pixel accuracy {result['pixel_accuracy']:.4f}")
    names = _class_names(config)
    for index, iou in enumerate(result["per_class_iou"]):
        label = names[index] if index < len(names) else str(index)
        print(f"  IoU {label:>12}: " + ("n/a" if iou is None else f"{iou:.4f}"))
    print(f"checkpoint: {result['checkpoint']}")


def run(args: argparse.Namespace) -> int:
    try:
        import torch
    except ImportError:
        raise DeconvkitError("PyTorch is required: pip install 'deconvkit[torch]'") from None
    from ..nn.train import train_segmentation

    config = _config(args)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    progress = not args.quiet and sys.stderr.isatty()
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    result = train_segmentation(config, out_dir=args.out, resume=args.resume, progress=progress, log=log)
    result.pop("model")
    if args.json:
        emit_json(result)
    else:
        _print_report(config, result)
    return 0
