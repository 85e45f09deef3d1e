"""Does learning the upsampling pay? The same encoder with every deconvkit.nn decoder, same data and budget.

Trains :class:`deconvkit.nn.DeconvNet` (one encoder shape for all) with each decoder on the seeded
synthetic shapes set (textured blobs plus 1-2.5 px lines), for the same number of steps, with 3 seeds,
on the CPU, and prints the held-out mIoU (mean, standard deviation, min-max) per decoder, the IoU of the
thin "line" class, parameters and CPU seconds per run. Runs are interleaved (seed-major) so that load
from other processes spreads over all decoders.

Usage::

    python benchmarks/segmentation.py                 # ~5 min on 2 shared cores
    python benchmarks/segmentation.py --seeds 0 --epochs 2 --train-size 64   # smoke test
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from deconvkit.nn import DECODERS, LEARNED_DECODERS, SYNTHETIC_CLASSES, TrainConfig, train_segmentation

LINE = SYNTHETIC_CLASSES.index("line")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoders", default=",".join(DECODERS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-size", type=int, default=256)
    parser.add_argument("--val-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on a shared 2-core machine 2 threads spin and are "
                             "several times slower)")
    parser.add_argument("--json", metavar="FILE", help="also write all runs to FILE")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    decoders = args.decoders.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]

    runs = []
    wall_start = time.perf_counter()
    for seed in seeds:
        for decoder in decoders:
            config = TrainConfig(decoder=decoder, preset=args.preset, epochs=args.epochs, seed=seed,
                                 batch_size=args.batch_size, lr=args.lr, image_size=args.image_size,
                                 train_size=args.train_size, val_size=args.val_size)
            cpu = time.process_time()
            result = train_segmentation(config)
            cpu = time.process_time() - cpu
            runs.append({"decoder": decoder, "seed": seed, "miou": result["miou"],
                         "line_iou": result["per_class_iou"][LINE], "pixel_accuracy": result["pixel_accuracy"],
                         "parameters": result["parameters"], "cpu_seconds": cpu,
                         "train_seconds": result["train_seconds"]})
            print(f"seed {seed} {decoder:>13}: mIoU {result['miou']:.3f}  line IoU "
                  f"{result['per_class_iou'][LINE] or 0:.3f}  ({cpu:.1f} s CPU)", file=sys.stderr, flush=True)
    wall = time.perf_counter() - wall_start

    print(f"\nDeconvNet preset {args.preset!r}, synthetic {args.image_size}px, {args.train_size} train / "
          f"{args.val_size} held-out images, {args.epochs} epochs x batch {args.batch_size}, lr {args.lr:g}, "
          f"seeds {seeds}, torch {torch.__version__}, {args.threads} thread(s)")
    header = (f"{'decoder':>13} {'learned':>7} {'params':>7} {'mIoU mean':>9} {'std':>6} {'min-max':>13} "
              f"{'line IoU':>8} {'pix acc':>7} {'CPU s/run':>9}")
    print(header)
    print("-" * len(header))
    summary = {}
    for decoder in decoders:
        mine = [r for r in runs if r["decoder"] == decoder]
        mious = [r["miou"] for r in mine]
        summary[decoder] = statistics.fmean(mious)
        spread = statistics.stdev(mious) if len(mious) > 1 else 0.0
        print(f"{decoder:>13} {'yes' if decoder in LEARNED_DECODERS else 'no':>7} {mine[0]['parameters']:>7} "
              f"{summary[decoder]:>9.3f} {spread:>6.3f} {min(mious):>6.3f}-{max(mious):.3f} "
              f"{statistics.fmean(r['line_iou'] or 0 for r in mine):>8.3f} "
              f"{statistics.fmean(r['pixel_accuracy'] for r in mine):>7.3f} "
              f"{statistics.fmean(r['cpu_seconds'] for r in mine):>9.1f}")
    fixed = [d for d in ("nearest", "zero-fill") if d in summary]
    for learned in (d for d in ("deconvnet", "fcn-bilinear") if d in summary):
        for baseline in fixed:
            print(f"{learned} - {baseline}: {summary[learned] - summary[baseline]:+.3f} mIoU")
    print(f"total wall time {wall:.0f} s")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"args": vars(args), "runs": runs, "wall_seconds": wall}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
