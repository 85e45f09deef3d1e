"""``deconvkit transposed explain``: print ``C``, ``C @ x``, ``C^T @ y`` and the outputs step by step.

With no options it walks through the two classic examples (Dumoulin & Visin's 4x4 input and 3x3 kernel,
and the 1-D input [1, 2] with kernel [3, 4] and stride 2); with options it explains one configuration.
The explaining itself is :mod:`deconvkit.transposed.explain`; this module turns options into a
:class:`~deconvkit.transposed.explain.Case`.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from ..._shared import DeconvkitError
from ...transposed.explain import MAX_INPUT_PIXELS, Case, classic_cases, draw, explain
from .._common import check_outputs

COMMAND = "explain"
HELP = "print C, C @ x, C^T @ y and the outputs step by step"

_CASE_OPTIONS = ("dim", "input_size", "kernel_size", "stride", "padding", "output_padding", "dilation",
                 "input", "kernel", "mode")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Explain a convolution / transposed convolution step by step. With no options: the "
        "classic 4x4 * 3x3 -> 2x2 -> 4x4 case and the 1-D [1, 2] * [3, 4], stride 2 -> "
        "[3, 4, 6, 8] case. Sizes default to a 4-pixel input and a 3-pixel kernel per axis "
        "(conv mode) or 2 and 2 (transpose mode), stride 1, no padding, dilation 1.")
    parser.add_argument("--mode", choices=("conv", "transpose"),
                        help="conv: x is the convolution's input; transpose: x is the transposed "
                             "convolution's input (default: transpose if --output-padding is given)")
    parser.add_argument("--dim", type=int, choices=(1, 2, 3), help="number of spatial axes")
    parser.add_argument("--input-size", help="spatial input size, e.g. 4 or 4,4 (random integer values)")
    parser.add_argument("--kernel-size", help="kernel size, e.g. 3 or 3,3 (random integer values)")
    parser.add_argument("--input", help="explicit input values: '1,2' (1-D) or '1,2;3,4' (2-D rows)")
    parser.add_argument("--kernel", help="explicit kernel values, same syntax as --input")
    parser.add_argument("--stride", help="stride, e.g. 2 or 2,1")
    parser.add_argument("--padding", help="zero padding on both sides, e.g. 1")
    parser.add_argument("--output-padding", help="extra output pixels at the end (transpose mode)")
    parser.add_argument("--dilation", help="spacing between kernel taps")
    parser.add_argument("--seed", type=int, default=0, help="seed for random input/kernel values (default 0)")
    parser.add_argument("--png", metavar="FILE", help="also draw C and the overlap map to FILE")


def _int_tuple(text: str | None, name: str, ndim: int | None, default: int) -> tuple[int, ...] | None:
    if text is None:
        return None if ndim is None else (default,) * ndim
    parts = [p for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise DeconvkitError(f"--{name} must be integers separated by commas, got {text!r}") from None
    if not values:
        raise DeconvkitError(f"--{name} is empty")
    if ndim is not None:
        if len(values) == 1:
            values = values * ndim
        elif len(values) != ndim:
            raise DeconvkitError(f"--{name} has {len(values)} values but the case is {ndim}-D: {text!r}")
    return values


def _parse_values(text: str, name: str) -> np.ndarray:
    """``"1,2,3"`` (1-D), ``"1,2;3,4"`` (2-D rows) or ``"1,2;3,4|5,6;7,8"`` (3-D planes)."""
    try:
        planes = [[[float(v) for v in row.split(",") if v.strip()] for row in plane.split(";") if row.strip()]
                  for plane in text.split("|")]
        array = np.array(planes, dtype=float)
    except ValueError:
        raise DeconvkitError(
            f"--{name} must be numbers: '1,2,3' (1-D), '1,2;3,4' (2-D rows) or '1,2;3,4|5,6;7,8' (3-D), "
            f"with rows of equal length; got {text!r}") from None
    if array.size == 0:
        raise DeconvkitError(f"--{name} is empty")
    if not np.isfinite(array).all():
        raise DeconvkitError(f"--{name} contains NaN or Inf: {text!r}")
    ndim = 1 if len(planes) == 1 and len(planes[0]) == 1 else (2 if len(planes) == 1 else 3)
    return array.reshape(array.shape[3 - ndim:])


def case_from_args(args) -> Case:
    """Build the :class:`Case` described by the command-line options."""
    given_x = _parse_values(args.input, "input") if args.input is not None else None
    given_k = _parse_values(args.kernel, "kernel") if args.kernel is not None else None
    candidates = [a.ndim for a in (given_x, given_k) if a is not None]
    for text in (args.input_size, args.kernel_size, args.stride, args.padding, args.dilation, args.output_padding):
        if text is not None and len([p for p in text.replace("x", ",").split(",") if p.strip()]) > 1:
            candidates.append(len([p for p in text.replace("x", ",").split(",") if p.strip()]))
    ndim = args.dim or (candidates[0] if candidates else 2)
    if ndim not in (1, 2, 3):
        raise DeconvkitError(f"--dim must be 1, 2 or 3, got {ndim}")
    if any(c != ndim for c in candidates):
        raise DeconvkitError(f"the options describe arrays of different dimensionality {sorted(set(candidates))} "
                             f"(--dim {ndim})")
    mode = args.mode or ("transpose" if args.output_padding is not None else "conv")
    if mode == "conv" and args.output_padding is not None:
        raise DeconvkitError("--output-padding applies to --mode transpose; in conv mode the adjoint's "
                             "output_padding is computed (it is the one that recovers the input size)")
    rng = np.random.default_rng(args.seed)
    if given_x is None:
        size = _int_tuple(args.input_size, "input-size", ndim, 4 if mode == "conv" else 2)
        if min(size) < 1:
            raise DeconvkitError(f"--input-size must be positive, got {args.input_size!r}")
        if math.prod(size) > MAX_INPUT_PIXELS:
            raise DeconvkitError(f"--input-size {size} has {math.prod(size)} pixels; explain is for small cases "
                                 f"(at most {MAX_INPUT_PIXELS})")
        given_x = rng.integers(0, 10, size).astype(float)
    elif args.input_size is not None:
        raise DeconvkitError("give either --input or --input-size, not both")
    if given_x.size > MAX_INPUT_PIXELS:
        raise DeconvkitError(f"--input has {given_x.size} values; explain is for small cases "
                             f"(at most {MAX_INPUT_PIXELS})")
    if given_k is None:
        size = _int_tuple(args.kernel_size, "kernel-size", ndim, 3 if mode == "conv" else 2)
        if min(size) < 1:
            raise DeconvkitError(f"--kernel-size must be positive, got {args.kernel_size!r}")
        given_k = rng.integers(0, 4, size).astype(float)
    elif args.kernel_size is not None:
        raise DeconvkitError("give either --kernel or --kernel-size, not both")
    output_padding = _int_tuple(args.output_padding, "output-padding", ndim, 0) if mode == "transpose" else None
    return Case("Your configuration", mode, given_x, given_k,
                _int_tuple(args.stride, "stride", ndim, 1), _int_tuple(args.padding, "padding", ndim, 0),
                _int_tuple(args.dilation, "dilation", ndim, 1), output_padding)


def run(args: argparse.Namespace) -> int:
    # --png has always replaced an existing file and taken any format matplotlib writes (there is no
    # --overwrite option here); its folder is still checked before any work.
    check_outputs([], [args.png], overwrite=True, extensions=None)
    configured = any(getattr(args, name) is not None for name in _CASE_OPTIONS)
    cases = [case_from_args(args)] if configured else classic_cases()
    if not configured:
        print("Transposed convolution (deep learning's 'deconvolution') step by step: a convolution is a matrix C")
        print("acting on the flattened input; the transposed convolution multiplies by C^T.\n")
    figures = []
    for case in cases:
        text, arrays = explain(case)
        print(text + "\n")
        figures.append(arrays)
    if args.png:
        draw(figures, args.png)
        print(f"wrote {args.png}")
    return 0
