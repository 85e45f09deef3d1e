"""``deconvkit demo``: blur a bundled image and restore it with every registered method."""

from __future__ import annotations

import argparse
import os

import numpy as np

from ._common import emit_json, progress_bar

COMMAND = "demo"
HELP = "blur a bundled image and restore it with every method"

DEMO_PSF = "motion:length=15,angle=30"
DEMO_NOISE = 0.01


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("-o", "--output", default="deconvkit-demo", help="output folder")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier demo output in the folder")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quiet", action="store_true")


def demo_case():
    """The bundled example: scikit-image's camera, a 15 px motion blur at 30 degrees, 1 % noise, camera-like
    (``valid``) boundary. Returns ``(sharp_crop, blurred, psf)`` with ``sharp_crop`` aligned to ``blurred``."""
    from skimage import data

    from ..forward import blur
    from ..psf import parse

    sharp = data.camera().astype(np.float32) / np.float32(255)
    psf = parse(DEMO_PSF)
    blurred = blur(sharp, psf, boundary="valid", noise=DEMO_NOISE, rng=0)
    margin = [(k - 1 - k // 2, k // 2) for k in psf.shape]
    crop = tuple(slice(a, n - b) for (a, b), n in zip(margin, sharp.shape, strict=True))
    return sharp[crop], blurred, psf


def _comparison_png(path, panels, overwrite):
    """Side-by-side panels with captions (Pillow, which imageio already depends on)."""
    from PIL import Image, ImageDraw

    from .. import io

    tiles = []
    for caption, image in panels:
        tile = Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)).convert("RGB")
        canvas = Image.new("RGB", (tile.width, tile.height + 22), "white")
        canvas.paste(tile, (0, 22))
        ImageDraw.Draw(canvas).text((4, 4), caption, fill="black")
        tiles.append(canvas)
    columns = 3
    rows = -(-len(tiles) // columns)
    width, height = tiles[0].size
    sheet = Image.new("RGB", (columns * width, rows * height), "white")
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % columns) * width, (i // columns) * height))
    io.write_image(path, np.asarray(sheet), dtype="uint8", overwrite=overwrite)


def _check_folder(out: str, overwrite: bool) -> None:
    """Fail before any work: the folder must be creatable and hold no earlier demo output (unless --overwrite)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise NotADirectoryError(f"cannot write the demo into {out}: it is a file")
    os.makedirs(out, exist_ok=True)
    if not os.access(out, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write the demo into {out}: the folder is not writable")
    if not overwrite and any(name.endswith(".png") for name in os.listdir(out)):
        raise FileExistsError(f"{out} already holds demo output; pass --overwrite or choose another -o")


def _print_table(rows, out: str) -> None:
    print(f"deconvkit demo: camera 512x512, PSF {DEMO_PSF}, noise {DEMO_NOISE}, camera-like boundary")
    print(f"{'method':<18}{'PSNR dB':>9}{'SSIM':>8}{'time s':>9}  chosen")
    for row in rows:
        chosen = row["params"].get("method", "") if row["method"] == "auto" else ""
        print(f"{row['method']:<18}{row['psnr']:>9.2f}{row['ssim']:>8.3f}{row['time_s']:>9.3f}  {chosen}")
    print(f"images and comparison.png written to {out}/")


def run(args: argparse.Namespace) -> int:
    from .. import io
    from ..metrics import psnr, ssim
    from ..solvers import available_methods, deconvolve

    out = args.output
    _check_folder(out, args.overwrite)
    sharp, blurred, psf = demo_case()
    rows = [{"method": "blurred input", "psnr": psnr(sharp, blurred), "ssim": ssim(sharp, blurred),
             "time_s": 0.0, "params": {}}]
    panels = [("sharp", sharp), (f"blurred {psnr(sharp, blurred):.2f} dB", blurred)]
    io.write_image(os.path.join(out, "sharp.png"), sharp, dtype="uint8", overwrite=True)
    io.write_image(os.path.join(out, "blurred.png"), blurred, dtype="uint8", overwrite=True)
    io.write_image(os.path.join(out, "psf.png"), psf / psf.max(), dtype="uint8", overwrite=True)
    for method in sorted(available_methods()):
        with progress_bar(method, args.quiet) as progress:
            restored, info = deconvolve(blurred, psf, method=method, return_info=True, progress=progress)
        row = {"method": method, "psnr": psnr(sharp, restored), "ssim": ssim(sharp, restored),
               "time_s": info["time_s"], "params": info}
        rows.append(row)
        panels.append((f"{method} {row['psnr']:.2f} dB", restored))
        io.write_image(os.path.join(out, f"{method}.png"), restored, dtype="uint8", overwrite=True)
    _comparison_png(os.path.join(out, "comparison.png"), panels, overwrite=True)
    if args.json:
        emit_json({"output": out, "psf": DEMO_PSF, "noise": DEMO_NOISE, "results": rows})
    else:
        _print_table(rows, out)
    return 0
