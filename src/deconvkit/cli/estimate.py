"""``deconvkit estimate``: estimate a blurred image's PSF (blind) and optionally save it.

``deconvkit deblur IN -o OUT`` without ``--psf`` (:mod:`deconvkit.cli.deblur`) runs the same estimation
through :func:`deconvkit.blind.deblur`.
"""

from __future__ import annotations

import argparse
import sys

from ._common import check_image_shape, check_outputs, emit_json, progress_bar, write_psf

COMMAND = "estimate"
HELP = "estimate the PSF of a blurred image (blind)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..blind import MODELS

    parser.description = (
        "Estimate the blur PSF from the blurred image alone. The PSF is centred at k//2, in "
        "convolution orientation, and sums to 1; '-o psf.png' writes it scaled to its peak "
        "(16-bit), '-o psf.npy' or '.tif' writes the exact float values. Colour images are "
        "estimated on their luminance.")
    parser.add_argument("input", help="blurred image (PNG, JPEG, TIFF, NPY)")
    parser.add_argument("--model", default="auto", choices=MODELS,
                        help="PSF model; 'auto' (default) chooses by evidence and reports which")
    parser.add_argument("--size", type=int, default=None,
                        help="largest PSF size in pixels (odd); default about 12%% of the shorter side")
    parser.add_argument("-o", "--output", help="write the PSF to this file (.png, .tif, .npy)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--json", action="store_true", help="print what was estimated as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary line")


def _summary(psf, estimated: dict, output: str | None) -> str:
    details = ", ".join(f"{key}={estimated[key]:.2f}" for key in ("length", "angle", "radius", "sigma")
                        if key in estimated)
    where = f", wrote {output}" if output else ""
    return (f"{estimated['model']} PSF {psf.shape[0]}x{psf.shape[1]}"
            f"{' (' + details + ')' if details else ''}, {estimated['time_s']:.1f} s{where}")


def run(args: argparse.Namespace) -> int:
    from .. import io
    from ..blind import estimate_psf

    check_outputs([args.input], [args.output], args.overwrite)
    full, info = io.read_image(args.input)
    image, _, channel_axis = io.split_alpha(full, info)  # the PSF is estimated from colour, never alpha
    check_image_shape(image, channel_axis, args.input)
    with progress_bar("estimate", args.quiet) as progress:
        psf, estimated = estimate_psf(image, model=args.model, size=args.size,
                                      channel_axis=channel_axis, progress=progress)
    if args.output:
        write_psf(args.output, psf, overwrite=args.overwrite)
    if args.json:
        emit_json({"input": args.input, "output": args.output, "shape": list(psf.shape), **estimated})
    elif not args.quiet:
        print(_summary(psf, estimated, args.output), file=sys.stderr)
    return 0
