"""``deconvkit deblur``: restore a blurred image with a known PSF, or blind (PSF estimated) without ``--psf``."""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from ._common import (
    check_image_shape,
    check_outputs,
    emit_json,
    parse_psf_argument,
    parse_settings,
    progress_bar,
    psf_for_input,
    write_psf,
)

COMMAND = "deblur"
HELP = "restore a blurred image (known PSF, or blind without --psf)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Methods, PSF models and boundary names come from their registries, never listed here.
    from ..blind import MODELS
    from ..boundaries import DECONVOLVE_BOUNDARIES
    from ..solvers import available_methods

    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("input", help="blurred image (PNG, JPEG, TIFF, NPY)")
    parser.add_argument("-o", "--output", required=True, help="restored image path")
    parser.add_argument("--psf", help="PSF spec (motion:length=15,angle=30, defocus:radius=6, gaussian:sigma=2, "
                                      "widefield:na=1.4,wavelength=0.52: microscope models are sampled at the "
                                      "input's metadata voxel spacing unless the spec gives spacing=dz/dy/dx) "
                                      "or PSF file (a TIFF with spacing metadata is resampled to the input's); "
                                      "omit to estimate it (blind)")
    parser.add_argument("--method", default="auto", choices=sorted(available_methods()), help="non-blind method")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="method parameter (repeatable)")
    parser.add_argument("--boundary", choices=DECONVOLVE_BOUNDARIES,
                        help="boundary model: valid (camera: the scene beyond the frame is estimated; alias "
                             "unknown), reflect (mirror and taper; alias pad) or periodic (default: the "
                             "method's own)")
    parser.add_argument("--clip", action="store_true", help="clip the result to the input's range")
    parser.add_argument("--dtype", default="same", choices=("same", "uint8", "uint16", "float32"),
                        help="stored dtype of the output (default: the input's bit depth)")
    parser.add_argument("--psf-model", default="auto", choices=MODELS, help="blind: PSF model to estimate")
    parser.add_argument("--psf-size", type=int, help="blind: PSF size in pixels")
    parser.add_argument("--save-psf", metavar="FILE", help="blind: write the estimated PSF")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--json", action="store_true", help="print the parameters used as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or messages")


def _psf_file(spec: str | None) -> str | None:
    """The PSF argument when it names a file (then it is an input that no output may replace)."""
    return spec if spec is not None and os.path.exists(spec) else None


def run(args: argparse.Namespace) -> int:
    from .. import io
    from ..solvers import deconvolve

    # `--psf ''` (an unset shell variable) is a mistake, never a request for blind estimation: only an
    # absent --psf means blind, and parse('') refuses the empty spec.
    blind = args.psf is None
    save_psf = args.save_psf if blind else None  # only a blind run has a PSF to save
    check_outputs([args.input, _psf_file(args.psf)], [args.output, save_psf], args.overwrite)
    settings = parse_settings(args.set, method=args.method)
    # A bad spec fails before the image is read; a microscope model (it takes a voxel spacing) is built
    # after, at the input's metadata spacing when the spec gives none.
    known = None if blind else parse_psf_argument(args.psf)
    full, info = io.read_image(args.input)
    # Alpha is not colour: restore the colour channels only and put the alpha back untouched.
    image, alpha, channel_axis = io.split_alpha(full, info)
    check_image_shape(image, channel_axis, args.input)
    psf, psf_spacing = (None, None) if blind else psf_for_input(args.psf, known, image.shape, channel_axis, info)
    if not blind:
        # A JPEG's noise reads 2-3x too low by the wavelet estimate (its quantisation removed the finest
        # frequencies), which makes every method under-regularise: use its tables instead.
        from ..noise import with_input_noise

        settings = with_input_noise(settings, image, info)
    started = time.perf_counter()
    with progress_bar("deblur", args.quiet) as progress:
        if not blind:
            restored, used = deconvolve(image, psf, method=args.method, channel_axis=channel_axis,
                                        boundary=args.boundary, clip=args.clip, return_info=True,
                                        progress=progress, **settings)
            estimated = None
        else:
            from ..blind import deblur

            result = deblur(image, psf_model=args.psf_model, psf_size=args.psf_size,
                            channel_axis=channel_axis, progress=progress, method=args.method, **settings)
            restored, used, estimated = result.image, dict(result.params), result.psf
            if args.clip:
                restored = np.clip(restored, float(image.min()), float(image.max()))
    restored = io.merge_alpha(restored, alpha)
    if args.dtype == "same":
        io.write_image(args.output, restored, like=info, overwrite=args.overwrite)
    else:
        io.write_image(args.output, restored, dtype=args.dtype, overwrite=args.overwrite)
    if save_psf:
        write_psf(save_psf, estimated, overwrite=args.overwrite)
    if args.json:
        extra = {"spacing": info.spacing} if info.spacing is not None else {}
        if psf is not None and not blind:
            extra["psf_shape"] = list(psf.shape)
        if psf_spacing is not None:
            extra["psf_resampled_from"] = psf_spacing
        emit_json({"input": args.input, "output": args.output, "psf": "estimated" if blind else args.psf,
                   "shape": list(image.shape), "total_time_s": time.perf_counter() - started, **used, **extra})
    elif not args.quiet:
        chosen = used.get("method", args.method)
        print(f"wrote {args.output} ({chosen}, {time.perf_counter() - started:.2f} s)", file=sys.stderr)
    return 0
