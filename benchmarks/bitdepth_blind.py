"""Blind deblurring of the same content stored at different bit depths: 8-bit PNG, 12-bit data in uint16
and uint32 TIFFs, 16-bit TIFF (issue 13: 12-bit containers lost 2.4-19 dB because the intensity scale came
from the container type).

For each Levin 2009 capture, the 8-bit content is stored each way, read back with deconvkit.io.read_image
(the intensity scale from the data) and restored with deconvkit.deblur (blind); the score is Levin's
(metrics.levin_score). The "container scale" column reads the 12-bit uint16 file the old way (divided by
65535) to show the loss the data-derived scale removes; its result is scaled back to [0, 1] for scoring.

Usage::

    OMP_NUM_THREADS=1 DECONVKIT_WORKERS=1 python benchmarks/bitdepth_blind.py --captures 1_1 2_3 3_5 4_8
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
LEVIN = ROOT.parent / "shared" / "data" / "levin09"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", nargs="+", default=["1_1", "2_3", "3_5", "4_8"],
                        help="image_kernel pairs of the Levin set")
    args = parser.parse_args(argv)
    if not (LEVIN / "gt").is_dir():
        print(f"Levin data not found at {LEVIN}", file=sys.stderr)
        return 1
    import imageio.v3 as iio
    import tifffile

    from deconvkit import deblur, io
    from deconvkit.metrics import levin_score

    print("| capture | 8-bit PNG | 12-bit in uint16 | 12-bit in uint32 | 16-bit TIFF | 12-bit, container scale |")
    print("| --- | --- | --- | --- | --- | --- |")
    totals = np.zeros(5)
    with tempfile.TemporaryDirectory() as folder:
        for capture in args.captures:
            image_index, kernel_index = capture.split("_")
            sharp = iio.imread(LEVIN / "gt" / f"im{image_index}.png").astype(np.float64) / 255
            blurred8 = iio.imread(LEVIN / "blurred" / f"im{image_index}_kernel{kernel_index}.png")
            content = blurred8.astype(np.float64) / 255
            paths = {"png8": os.path.join(folder, "b.png"), "u16_12": os.path.join(folder, "b12.tif"),
                     "u32_12": os.path.join(folder, "b12_32.tif"), "u16": os.path.join(folder, "b16.tif")}
            iio.imwrite(paths["png8"], blurred8)
            tifffile.imwrite(paths["u16_12"], np.rint(content * 4095).astype(np.uint16))
            tifffile.imwrite(paths["u32_12"], np.rint(content * 4095).astype(np.uint32))
            tifffile.imwrite(paths["u16"], np.rint(content * 65535).astype(np.uint16))
            scores = []
            for key in ("png8", "u16_12", "u32_12", "u16"):
                image, _ = io.read_image(paths[key], dtype=np.float64)
                scores.append(levin_score(deblur(image).image, sharp).psnr)
            old = tifffile.imread(paths["u16_12"]).astype(np.float64) / 65535  # the container's scale
            scores.append(levin_score(deblur(old).image * (65535 / 4095), sharp).psnr)
            totals += scores
            print(f"| im{image_index}_kernel{kernel_index} | " + " | ".join(f"{s:.2f}" for s in scores) + " |")
    mean = totals / len(args.captures)
    print("| mean | " + " | ".join(f"{s:.2f}" for s in mean) + " |")
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    sys.exit(code)
