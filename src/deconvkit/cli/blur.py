"""``deconvkit blur``: simulate a blurred, noisy image (the forward model, :func:`deconvkit.blur`)."""

from __future__ import annotations

import argparse

import numpy as np

from ..errors import ParameterError
from ._common import (
    check_image_shape,
    check_outputs,
    emit_json,
    integer_at_least,
    parse_psf_argument,
    psf_for_input,
)

COMMAND = "blur"
HELP = "simulate a blurred, noisy image"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..boundaries import BLUR_BOUNDARIES

    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("input")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--psf", required=True,
                        help="PSF spec or file; microscope models (widefield:na=1.4,wavelength=0.52) are sampled "
                             "at the input's metadata voxel spacing unless the spec gives spacing=dz/dy/dx, and a "
                             "PSF TIFF with spacing metadata is resampled to the input's (as in deblur)")
    parser.add_argument("--noise", type=float, default=0.0, help="Gaussian noise std (image in [0, 1])")
    parser.add_argument("--seed", type=integer_at_least(0, "seed"), default=None,
                        help="random seed for the noise (an integer >= 0)")
    parser.add_argument("--boundary", default="reflect", choices=BLUR_BOUNDARIES)
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    import os

    from .. import io
    from ..forward import blur

    psf_file = args.psf if os.path.exists(args.psf) else None
    check_outputs([args.input, psf_file], [args.output], args.overwrite)
    if not args.noise >= 0 or not np.isfinite(args.noise):
        raise ParameterError(f"--noise {args.noise} is not valid; allowed: a finite number >= 0")
    known = parse_psf_argument(args.psf)  # a bad spec fails before the image is read
    full, info = io.read_image(args.input)
    image, alpha, channel_axis = io.split_alpha(full, info)  # alpha is not blurred: it goes back untouched
    check_image_shape(image, channel_axis, args.input)
    psf, psf_spacing = psf_for_input(args.psf, known, image.shape, channel_axis, info)
    blurred = blur(image, psf, boundary=args.boundary, noise=args.noise, rng=args.seed,
                   channel_axis=channel_axis)
    io.write_image(args.output, io.merge_alpha(blurred, alpha), like=info, overwrite=args.overwrite)
    if args.json:
        extra = {"spacing": info.spacing} if info.spacing is not None else {}
        if psf_spacing is not None:
            extra["psf_resampled_from"] = psf_spacing
        emit_json({"input": args.input, "output": args.output, "psf": args.psf, "noise": args.noise,
                   "seed": args.seed, "boundary": args.boundary, "shape": list(blurred.shape),
                   "psf_shape": list(psf.shape), **extra})
    return 0
