"""CLI subcommands for restoration: ``deblur``, ``blur``, ``demo`` and ``methods``.

Methods and PSF models are discovered from their registries, never listed here.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time

import numpy as np

from ._shared import DeconvkitError

DEMO_PSF = "motion:length=15,angle=30"
DEMO_NOISE = 0.01


# --- helpers shared by the subcommands ----------------------------------------------------------------

def _method_names():
    from .solvers import available_methods

    return sorted(available_methods())


def parse_settings(pairs) -> dict:
    """``["nsr=0.01", "accelerate=false"]`` -> ``{"nsr": 0.01, "accelerate": False}``."""
    settings = {}
    for pair in pairs or ():
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise DeconvkitError(f"--set expects key=value, got {pair!r}")
        settings[key] = _convert_value(text.strip())
    return settings


def _convert_value(text: str):
    lowered = text.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _check_paths(source: str, output: str, overwrite: bool) -> None:
    """Fail before any work: never write over the input, never replace a file without --overwrite."""
    if not os.path.exists(source):
        raise FileNotFoundError(f"input file {source} does not exist")
    if os.path.exists(output) and os.path.samefile(source, output):
        raise DeconvkitError(f"output {output} is the input file; choose another output path")
    if os.path.exists(output) and not overwrite:
        raise FileExistsError(f"{output} already exists; pass --overwrite to replace it")


@contextlib.contextmanager
def progress_bar(description: str, quiet: bool):
    """A tqdm bar on stderr when it is a terminal; yields a ``progress(done, total)`` callback."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(desc=description, unit="it", leave=False, file=sys.stderr)

    def update(done, total):
        if bar.total != total:
            bar.reset(total=total)
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def _print_json(payload: dict) -> None:
    print(json.dumps(_jsonable(payload), sort_keys=True))


def write_psf(path, psf, *, overwrite=False) -> None:
    """Write a PSF: as float32 to TIFF/NPY (exact), scaled to its peak as 16-bit PNG otherwise.

    Either way :func:`deconvkit.psf.parse` reads it back normalised to sum 1.
    """
    from . import io

    psf = np.asarray(psf, dtype=np.float64)
    if path.lower().endswith((".tif", ".tiff", ".npy")):
        io.write_image(path, psf, dtype="float32", overwrite=overwrite)
    else:
        io.write_image(path, psf / psf.max(), dtype="uint16" if path.lower().endswith(".png") else None,
                       overwrite=overwrite)


# --- deblur -------------------------------------------------------------------------------------------

def run_deblur(args) -> int:
    from . import io
    from .psf import parse
    from .solvers import deconvolve

    _check_paths(args.input, args.output, args.overwrite)
    if args.save_psf and os.path.exists(args.save_psf) and not args.overwrite:
        raise FileExistsError(f"{args.save_psf} already exists; pass --overwrite to replace it")
    settings = parse_settings(args.set)
    image, info = io.read_image(args.input)
    channel_axis = info.channel_axis
    started = time.perf_counter()
    with progress_bar("deblur", args.quiet) as progress:
        if args.psf:
            psf = parse(args.psf)
            restored, used = deconvolve(image, psf, method=args.method, channel_axis=channel_axis,
                                        boundary=args.boundary, clip=args.clip, return_info=True,
                                        progress=progress, **settings)
            estimated = None
        else:
            from .blind import deblur

            result = deblur(image, psf_model=args.psf_model, psf_size=args.psf_size,
                            channel_axis=channel_axis, progress=progress, method=args.method, **settings)
            restored, psf, used, estimated = result.image, result.psf, dict(result.params), result.psf
            if args.clip:
                restored = np.clip(restored, float(image.min()), float(image.max()))
    if args.dtype == "same":
        io.write_image(args.output, restored, like=info, overwrite=args.overwrite)
    else:
        io.write_image(args.output, restored, dtype=args.dtype, overwrite=args.overwrite)
    if estimated is not None and args.save_psf:
        write_psf(args.save_psf, estimated, overwrite=args.overwrite)
    if args.json:
        _print_json({"input": args.input, "output": args.output, "psf": args.psf or "estimated",
                     "shape": list(image.shape), "total_time_s": time.perf_counter() - started, **used})
    elif not args.quiet:
        chosen = used.get("method", args.method)
        print(f"wrote {args.output} ({chosen}, {time.perf_counter() - started:.2f} s)", file=sys.stderr)
    return 0


# --- blur ---------------------------------------------------------------------------------------------

def run_blur(args) -> int:
    from . import io
    from .forward import blur
    from .psf import parse

    _check_paths(args.input, args.output, args.overwrite)
    image, info = io.read_image(args.input)
    psf = parse(args.psf)
    blurred = blur(image, psf, boundary=args.boundary, noise=args.noise, rng=args.seed,
                   channel_axis=info.channel_axis)
    io.write_image(args.output, blurred, like=info, overwrite=args.overwrite)
    if args.json:
        _print_json({"input": args.input, "output": args.output, "psf": args.psf, "noise": args.noise,
                     "seed": args.seed, "boundary": args.boundary, "shape": list(blurred.shape)})
    return 0


# --- demo ---------------------------------------------------------------------------------------------

def demo_case():
    """The bundled example: scikit-image's camera, a 15 px motion blur at 30 degrees, 1 % noise, camera-like
    (``valid``) boundary. Returns ``(sharp_crop, blurred, psf)`` with ``sharp_crop`` aligned to ``blurred``."""
    from skimage import data

    from .forward import blur
    from .psf import parse

    sharp = data.camera().astype(np.float32) / np.float32(255)
    psf = parse(DEMO_PSF)
    blurred = blur(sharp, psf, boundary="valid", noise=DEMO_NOISE, rng=0)
    margin = [(k - 1 - k // 2, k // 2) for k in psf.shape]
    crop = tuple(slice(a, n - b) for (a, b), n in zip(margin, sharp.shape))
    return sharp[crop], blurred, psf


def _comparison_png(path, panels, overwrite):
    """Side-by-side panels with captions (Pillow, which imageio already depends on)."""
    from PIL import Image, ImageDraw

    from . import io

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


def run_demo(args) -> int:
    from . import io
    from .metrics import psnr, ssim
    from .solvers import deconvolve

    out = args.output
    os.makedirs(out, exist_ok=True)
    if not args.overwrite and any(name.endswith(".png") for name in os.listdir(out)):
        raise FileExistsError(f"{out} already holds demo output; pass --overwrite or choose another -o")
    sharp, blurred, psf = demo_case()
    rows = [{"method": "blurred input", "psnr": psnr(sharp, blurred), "ssim": ssim(sharp, blurred),
             "time_s": 0.0, "params": {}}]
    panels = [("sharp", sharp), (f"blurred {psnr(sharp, blurred):.2f} dB", blurred)]
    io.write_image(os.path.join(out, "sharp.png"), sharp, dtype="uint8", overwrite=True)
    io.write_image(os.path.join(out, "blurred.png"), blurred, dtype="uint8", overwrite=True)
    io.write_image(os.path.join(out, "psf.png"), psf / psf.max(), dtype="uint8", overwrite=True)
    for method in _method_names():
        with progress_bar(method, args.quiet) as progress:
            restored, info = deconvolve(blurred, psf, method=method, return_info=True, progress=progress)
        row = {"method": method, "psnr": psnr(sharp, restored), "ssim": ssim(sharp, restored),
               "time_s": info["time_s"], "params": info}
        rows.append(row)
        panels.append((f"{method} {row['psnr']:.2f} dB", restored))
        io.write_image(os.path.join(out, f"{method}.png"), restored, dtype="uint8", overwrite=True)
    _comparison_png(os.path.join(out, "comparison.png"), panels, overwrite=True)
    if args.json:
        _print_json({"output": out, "psf": DEMO_PSF, "noise": DEMO_NOISE, "results": rows})
        return 0
    print(f"deconvkit demo: camera 512x512, PSF {DEMO_PSF}, noise {DEMO_NOISE}, camera-like boundary")
    print(f"{'method':<18}{'PSNR dB':>9}{'SSIM':>8}{'time s':>9}  chosen")
    for row in rows:
        chosen = row["params"].get("method", "") if row["method"] == "auto" else ""
        print(f"{row['method']:<18}{row['psnr']:>9.2f}{row['ssim']:>8.3f}{row['time_s']:>9.3f}  {chosen}")
    print(f"images and comparison.png written to {out}/")
    return 0


def run_methods(args) -> int:
    from .psf import available
    from .solvers import SOLVERS

    if args.json:
        _print_json({"methods": {n: {"summary": s.summary, "boundary": s.boundary, "params": s.params}
                                 for n, s in sorted(SOLVERS.items())},
                     "psf_models": {n: m.usage() for n, m in available().items()}})
        return 0
    print("methods (deconvkit deblur --method NAME --set key=value):")
    for name, spec in sorted(SOLVERS.items()):
        print(f"  {name:<17} {spec.summary}")
        for key, text in spec.params.items():
            print(f"      {key}: {text}")
    print("PSF models (--psf SPEC):")
    for name, model in available().items():
        print(f"  {model.usage()}")
    return 0


# --- registration -------------------------------------------------------------------------------------

def register(subparsers) -> None:
    methods = _method_names()
    common = dict(formatter_class=__import__("argparse").ArgumentDefaultsHelpFormatter)

    p = subparsers.add_parser("deblur", help="restore a blurred image (known PSF, or blind without --psf)",
                              **common)
    p.add_argument("input", help="blurred image (PNG, JPEG, TIFF, NPY)")
    p.add_argument("-o", "--output", required=True, help="restored image path")
    p.add_argument("--psf", help="PSF spec (motion:length=15,angle=30, defocus:radius=6, gaussian:sigma=2) "
                                 "or PSF file; omit to estimate it (blind)")
    p.add_argument("--method", default="auto", choices=methods, help="non-blind method")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="method parameter (repeatable)")
    p.add_argument("--boundary", choices=("unknown", "pad", "periodic"), help="boundary strategy "
                   "(default: the method's own)")
    p.add_argument("--clip", action="store_true", help="clip the result to the input's range")
    p.add_argument("--dtype", default="same", choices=("same", "uint8", "uint16", "float32"),
                   help="stored dtype of the output (default: the input's bit depth)")
    p.add_argument("--psf-model", default="auto", help="blind: PSF model to estimate")
    p.add_argument("--psf-size", type=int, help="blind: PSF size in pixels")
    p.add_argument("--save-psf", metavar="FILE", help="blind: write the estimated PSF")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--json", action="store_true", help="print the parameters used as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    p.set_defaults(func=run_deblur)

    p = subparsers.add_parser("blur", help="simulate a blurred, noisy image", **common)
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--psf", required=True, help="PSF spec or file")
    p.add_argument("--noise", type=float, default=0.0, help="Gaussian noise std (image in [0, 1])")
    p.add_argument("--seed", type=int, default=None, help="random seed for the noise")
    p.add_argument("--boundary", default="reflect", choices=("reflect", "periodic", "zero", "valid"))
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_blur)

    p = subparsers.add_parser("demo", help="blur a bundled image and restore it with every method", **common)
    p.add_argument("-o", "--output", default="deconvkit-demo", help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace earlier demo output in the folder")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run_demo)

    p = subparsers.add_parser("methods", help="list deconvolution methods and PSF models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_methods)
