"""``deconvkit transposed explain``: a convolution as a matrix ``C``, and the transposed convolution as ``C^T``.

With no options it walks through the two classic examples (Dumoulin & Visin's 4x4 input and 3x3 kernel,
and the 1-D input [1, 2] with kernel [3, 4] and stride 2); with options it explains one configuration.
Every number printed is computed twice -- through the sparse matrix and through the fast
:func:`~deconvkit.transposed.conv` / :func:`~deconvkit.transposed.conv_transpose` -- and the two are checked
to agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._shared import DeconvkitError

# Cases larger than this are not "explained" (nobody reads a 5000-pixel printout) and the dense matrix is
# printed only when it fits on a screen.
MAX_INPUT_PIXELS = 4096
MAX_PRINTED_MATRIX_SIDE = 40


@dataclass
class Case:
    """One configuration to explain. ``mode`` is ``"conv"`` (``x`` is the convolution's input, which
    ``C^T`` maps back to) or ``"transpose"`` (``x`` is the transposed convolution's input)."""

    title: str
    mode: str
    x: np.ndarray
    kernel: np.ndarray
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    output_padding: tuple[int, ...] | None = None


def classic_cases() -> list[Case]:
    """The two textbook examples of the issue (values chosen to be readable, results computed)."""
    return [
        Case("A 4x4 input and a 3x3 kernel give a 2x2 output; C^T maps it back to 4x4",
             "conv", np.arange(1.0, 17.0).reshape(4, 4),
             # the kernel of Dumoulin & Visin's Figure 1.1
             np.array([[0.0, 1.0, 2.0], [2.0, 2.0, 0.0], [0.0, 1.0, 2.0]]), (1, 1), (0, 0), (1, 1)),
        Case("1-D transposed convolution: input [1, 2], kernel [3, 4], stride 2 gives [3, 4, 6, 8]",
             "transpose", np.array([1.0, 2.0]), np.array([3.0, 4.0]), (2,), (0,), (1,), (0,)),
    ]


# ----------------------------------------------------------------------------------------------------
# parsing
# ----------------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------------
# explaining
# ----------------------------------------------------------------------------------------------------
def _fmt(array) -> str:
    return np.array2string(np.asarray(array), max_line_width=160, threshold=10_000,
                           formatter={"float_kind": lambda v: f"{v:g}"})


def _shape_text(shape) -> str:
    return "x".join(str(n) for n in shape)


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _size_formula(case: Case, in_shape, out_shape, output_padding) -> list[str]:
    lines = []
    for axis, (i, o, k, s, p, d) in enumerate(zip(in_shape, out_shape, case.kernel.shape, case.stride,
                                                  case.padding, case.dilation)):
        if case.mode == "conv":
            lines.append(f"axis {axis}: o = floor((i + 2p - d(k-1) - 1) / s) + 1 = "
                         f"floor(({i} + {2 * p} - {d * (k - 1)} - 1) / {s}) + 1 = {o}")
        else:
            a = output_padding[axis]
            lines.append(f"axis {axis}: o = (i - 1) s - 2p + d(k-1) + output_padding + 1 = "
                         f"({i} - 1)*{s} - {2 * p} + {d * (k - 1)} + {a} + 1 = {o}")
    return lines


def explain(case: Case) -> tuple[str, dict]:
    """The step-by-step text for one case, and the arrays a figure needs (``matrix``, ``overlap``)."""
    from . import adjoint_output_padding, conv, conv_matrix, conv_transpose, output_shape, overlap_map

    x, kernel = case.x, case.kernel
    weight = kernel[np.newaxis, np.newaxis]
    params = dict(stride=case.stride, padding=case.padding, dilation=case.dilation)
    out = [f"== {case.title} ==",
           f"kernel {_shape_text(kernel.shape)}, stride {case.stride}, padding {case.padding}, "
           f"dilation {case.dilation}"]
    if case.mode == "conv":
        y = conv(x[np.newaxis], weight, **params)[0]
        output_padding = adjoint_output_padding(x.shape, kernel.shape, **params)
        out.append(f"\nStep 1. Output size of the convolution ({_shape_text(x.shape)} -> {_shape_text(y.shape)}):")
        out += _indent("\n".join(_size_formula(case, x.shape, y.shape, None))).splitlines()
    else:
        output_padding = case.output_padding
        big_shape = conv_transpose(x[np.newaxis], weight, output_padding=output_padding, **params)[0].shape
        out.append(f"\nStep 1. Output size of the transposed convolution "
                   f"({_shape_text(x.shape)} -> {_shape_text(big_shape)}):")
        out += _indent("\n".join(_size_formula(case, x.shape, big_shape, output_padding))).splitlines()
    big_shape = x.shape if case.mode == "conv" else big_shape
    matrix = conv_matrix((1,) + tuple(big_shape), weight, **params)
    rows_shape = output_shape(big_shape, kernel.shape, **params)
    if case.mode == "transpose" and rows_shape != x.shape:
        # output_padding >= stride (allowed when it is < dilation): the convolution of the large shape has
        # extra outputs that no input of the transposed convolution feeds; C keeps the rows of x's pixels.
        keep = np.ravel_multi_index(np.indices(x.shape).reshape(x.ndim, -1), rows_shape)
        matrix = matrix[keep]
    if case.mode == "conv":
        out += [f"\nStep 2. The input x ({_shape_text(x.shape)}):", _indent(_fmt(x)),
                f"and the kernel w ({_shape_text(kernel.shape)}), used without flipping (cross-correlation, "
                "as in PyTorch):", _indent(_fmt(kernel))]
    else:
        out += [f"\nStep 2. The input x of the transposed convolution ({_shape_text(x.shape)}):", _indent(_fmt(x)),
                f"and the kernel w ({_shape_text(kernel.shape)}):", _indent(_fmt(kernel)),
                f"The transposed convolution is C^T, where C is the convolution of an input of size "
                f"{_shape_text(big_shape)} with the same kernel, stride, padding and dilation (it maps "
                f"{_shape_text(big_shape)} -> {_shape_text(rows_shape)}"
                + (f"; only the rows of the {_shape_text(x.shape)} pixels that x feeds are kept)."
                   if rows_shape != x.shape else ")."),
                f"output_padding {tuple(output_padding)} picks which of the input sizes that give "
                f"{_shape_text(x.shape)} is meant (the floor in the size formula loses it)."]
    rows, cols = matrix.shape
    out.append(f"\nStep 3. The matrix C ({rows} x {cols}; row r = output pixel r, column c = input pixel c, "
               f"both flattened in C order; {matrix.nnz} non-zeros):")
    if max(rows, cols) <= MAX_PRINTED_MATRIX_SIDE:
        out.append(_indent(_fmt(matrix.toarray())))
    else:
        out.append(f"    (too large to print: more than {MAX_PRINTED_MATRIX_SIDE} rows or columns)")

    if case.mode == "conv":
        flat = matrix @ x.ravel()
        out += [f"\nStep 4. C @ x.ravel() = {_fmt(flat)}",
                f"reshaped to the output y ({_shape_text(y.shape)}):", _indent(_fmt(flat.reshape(y.shape))),
                f"conv(x, w) computed directly agrees: max |difference| = "
                f"{np.abs(flat.reshape(y.shape) - y).max():g}"]
        back = matrix.T @ y.ravel()
        fast = conv_transpose(y[np.newaxis], weight, output_padding=output_padding, **params)[0]
        out += [f"\nStep 5. C^T @ y.ravel() maps y back to {_shape_text(x.shape)} (a transposed convolution):",
                _indent(_fmt(back.reshape(x.shape))),
                f"conv_transpose(y, w, output_padding={tuple(output_padding)}) agrees: max |difference| = "
                f"{np.abs(back.reshape(x.shape) - fast).max():g}",
                "C^T restores the shape, not the values: C^T C x != x. Undoing a blur (image deconvolution) "
                "needs a solver, see deconvkit.deconvolve."]
        result = fast
    else:
        back = matrix.T @ x.ravel()
        result = conv_transpose(x[np.newaxis], weight, output_padding=output_padding, **params)[0]
        out += [f"\nStep 4. C^T @ x.ravel() = {_fmt(back)}",
                f"reshaped to the output ({_shape_text(result.shape)}):",
                _indent(_fmt(back.reshape(result.shape))),
                f"conv_transpose(x, w) computed directly agrees: max |difference| = "
                f"{np.abs(back.reshape(result.shape) - result).max():g}"]
        if x.ndim == 1:
            out.append("Read it as a scatter: every input pixel adds a scaled copy of the kernel, stride apart:")
            for j, value in enumerate(x):
                start = j * case.stride[0] - case.padding[0]
                out.append(f"    x[{j}] = {value:g} adds {_fmt(value * kernel)} at output position {start} "
                           f"(taps {case.dilation[0]} apart)")
        out.append(f"C @ output has the input's shape again: {_shape_text(x.shape)}")
    overlap = overlap_map(kernel.shape, case.stride, input_size=(y.shape if case.mode == "conv" else x.shape),
                          padding=case.padding, dilation=case.dilation, output_padding=output_padding)
    step = 6 if case.mode == "conv" else 5
    out += [f"\nStep {step}. Overlap map of the transposed convolution (how many kernel taps add up in each "
            "output pixel; uneven counts are the checkerboard artefact of kernel sizes not divisible by the stride):",
            _indent(_fmt(overlap))]
    return "\n".join(out), {"matrix": matrix, "overlap": overlap, "title": case.title}


def _draw(figures: list[dict], path: str) -> None:
    # Imported here so that `deconvkit --help` and the text output need no matplotlib; the Agg canvas is
    # used directly so no global backend is switched.
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is in the test extras
        raise DeconvkitError("--png needs matplotlib (pip install 'deconvkit[plot]')") from None
    figure = Figure(figsize=(10, 3.6 * len(figures)), layout="constrained")
    FigureCanvasAgg(figure)
    for row, item in enumerate(figures):
        matrix_axes = figure.add_subplot(len(figures), 2, 2 * row + 1)
        matrix = item["matrix"]
        if max(matrix.shape) <= 400:
            dense = matrix.toarray()
            image = matrix_axes.imshow(np.ma.masked_equal(dense, 0), cmap="viridis", interpolation="nearest")
            figure.colorbar(image, ax=matrix_axes, shrink=0.8)
        else:
            matrix_axes.spy(matrix, markersize=0.5)
        matrix_axes.set_title(f"C ({matrix.shape[0]} x {matrix.shape[1]}); C^T is the transposed conv.",
                              fontsize=9)
        matrix_axes.set_xlabel("input pixel (flattened)")
        matrix_axes.set_ylabel("output pixel (flattened)")
        overlap_axes = figure.add_subplot(len(figures), 2, 2 * row + 2)
        overlap = item["overlap"]
        if overlap.ndim == 1:
            overlap_axes.bar(np.arange(overlap.size), overlap)
            overlap_axes.set_xlabel("output pixel")
        else:
            shown = overlap if overlap.ndim == 2 else overlap[overlap.shape[0] // 2]
            image = overlap_axes.imshow(shown, cmap="magma", interpolation="nearest", vmin=0)
            figure.colorbar(image, ax=overlap_axes, shrink=0.8)
        overlap_axes.set_title("overlap map of the transposed convolution", fontsize=9)
    figure.suptitle("; ".join(item["title"] for item in figures), fontsize=9)
    figure.savefig(path, dpi=100)


def run_explain(args) -> int:
    configured = any(getattr(args, name) is not None for name in
                     ("dim", "input_size", "kernel_size", "stride", "padding", "output_padding", "dilation",
                      "input", "kernel", "mode"))
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
        _draw(figures, args.png)
        print(f"wrote {args.png}")
    return 0


def register(subparsers) -> None:
    """Add ``deconvkit transposed explain`` to the top-level command line."""
    parser = subparsers.add_parser(
        "transposed", help="transposed convolution (deep learning's 'deconvolution'), explained",
        description="Transposed convolution: a convolution as a matrix C, and its transpose C^T.")
    actions = parser.add_subparsers(dest="transposed_action", metavar="ACTION")
    explain_parser = actions.add_parser(
        "explain", help="print C, C @ x, C^T @ y and the outputs step by step",
        description="Explain a convolution / transposed convolution step by step. With no options: the "
                    "classic 4x4 * 3x3 -> 2x2 -> 4x4 case and the 1-D [1, 2] * [3, 4], stride 2 -> "
                    "[3, 4, 6, 8] case. Sizes default to a 4-pixel input and a 3-pixel kernel per axis "
                    "(conv mode) or 2 and 2 (transpose mode), stride 1, no padding, dilation 1.")
    explain_parser.add_argument("--mode", choices=("conv", "transpose"),
                                help="conv: x is the convolution's input; transpose: x is the transposed "
                                     "convolution's input (default: transpose if --output-padding is given)")
    explain_parser.add_argument("--dim", type=int, choices=(1, 2, 3), help="number of spatial axes")
    explain_parser.add_argument("--input-size", help="spatial input size, e.g. 4 or 4,4 (random integer values)")
    explain_parser.add_argument("--kernel-size", help="kernel size, e.g. 3 or 3,3 (random integer values)")
    explain_parser.add_argument("--input", help="explicit input values: '1,2' (1-D) or '1,2;3,4' (2-D rows)")
    explain_parser.add_argument("--kernel", help="explicit kernel values, same syntax as --input")
    explain_parser.add_argument("--stride", help="stride, e.g. 2 or 2,1")
    explain_parser.add_argument("--padding", help="zero padding on both sides, e.g. 1")
    explain_parser.add_argument("--output-padding", help="extra output pixels at the end (transpose mode)")
    explain_parser.add_argument("--dilation", help="spacing between kernel taps")
    explain_parser.add_argument("--seed", type=int, default=0, help="seed for random input/kernel values (default 0)")
    explain_parser.add_argument("--png", metavar="FILE", help="also draw C and the overlap map to FILE")
    explain_parser.set_defaults(func=run_explain)

    def usage(args):
        parser.print_help()
        return 0

    parser.set_defaults(func=usage)
