"""A convolution as a matrix ``C``, and the transposed convolution as ``C^T``, explained step by step.

:func:`explain` turns a :class:`Case` into the text that ``deconvkit transposed explain`` prints
(:mod:`deconvkit.cli.transposed.explain`), and :func:`draw` draws ``C`` and the overlap map. Every number
printed is computed twice -- through the sparse matrix and through the fast :func:`~deconvkit.transposed.conv`
/ :func:`~deconvkit.transposed.conv_transpose` -- and the two are shown to agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._shared import DeconvkitError

__all__ = ["Case", "classic_cases", "explain", "draw", "MAX_INPUT_PIXELS", "MAX_PRINTED_MATRIX_SIDE"]

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
    """The two textbook examples (values chosen to be readable, results computed)."""
    return [
        Case("A 4x4 input and a 3x3 kernel give a 2x2 output; C^T maps it back to 4x4",
             "conv", np.arange(1.0, 17.0).reshape(4, 4),
             # the kernel of Dumoulin & Visin's Figure 1.1
             np.array([[0.0, 1.0, 2.0], [2.0, 2.0, 0.0], [0.0, 1.0, 2.0]]), (1, 1), (0, 0), (1, 1)),
        Case("1-D transposed convolution: input [1, 2], kernel [3, 4], stride 2 gives [3, 4, 6, 8]",
             "transpose", np.array([1.0, 2.0]), np.array([3.0, 4.0]), (2,), (0,), (1,), (0,)),
    ]


# ----------------------------------------------------------------------------------------------------
# formatting
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
                                                  case.padding, case.dilation, strict=True)):
        if case.mode == "conv":
            lines.append(f"axis {axis}: o = floor((i + 2p - d(k-1) - 1) / s) + 1 = "
                         f"floor(({i} + {2 * p} - {d * (k - 1)} - 1) / {s}) + 1 = {o}")
        else:
            a = output_padding[axis]
            lines.append(f"axis {axis}: o = (i - 1) s - 2p + d(k-1) + output_padding + 1 = "
                         f"({i} - 1)*{s} - {2 * p} + {d * (k - 1)} + {a} + 1 = {o}")
    return lines


# ----------------------------------------------------------------------------------------------------
# set-up: the geometry every step reads
# ----------------------------------------------------------------------------------------------------
@dataclass
class _Geometry:
    """What the steps share: the fast result, the large (convolution-input) shape and ``C``."""

    weight: np.ndarray
    params: dict
    output_padding: tuple[int, ...]
    big_shape: tuple[int, ...]   # input shape of the convolution C
    rows_shape: tuple[int, ...]  # output shape of C (before keeping only x's rows in transpose mode)
    matrix: object               # scipy.sparse matrix C
    y: np.ndarray | None = None  # conv mode: conv(x, w)


def _geometry(case: Case) -> _Geometry:
    from . import adjoint_output_padding, conv, conv_matrix, conv_transpose, output_shape

    x, kernel = case.x, case.kernel
    weight = kernel[np.newaxis, np.newaxis]
    params = dict(stride=case.stride, padding=case.padding, dilation=case.dilation)
    y = None
    if case.mode == "conv":
        y = conv(x[np.newaxis], weight, **params)[0]
        output_padding = adjoint_output_padding(x.shape, kernel.shape, **params)
        big_shape = tuple(x.shape)
    else:
        output_padding = case.output_padding
        big_shape = conv_transpose(x[np.newaxis], weight, output_padding=output_padding, **params)[0].shape
    matrix = conv_matrix((1,) + tuple(big_shape), weight, **params)
    rows_shape = output_shape(big_shape, kernel.shape, **params)
    if case.mode == "transpose" and rows_shape != x.shape:
        # output_padding >= stride (allowed when it is < dilation): the convolution of the large shape has
        # extra outputs that no input of the transposed convolution feeds; C keeps the rows of x's pixels.
        keep = np.ravel_multi_index(np.indices(x.shape).reshape(x.ndim, -1), rows_shape)
        matrix = matrix[keep]
    return _Geometry(weight, params, output_padding, tuple(big_shape), rows_shape, matrix, y)


# ----------------------------------------------------------------------------------------------------
# steps: each returns its lines of text
# ----------------------------------------------------------------------------------------------------
def _step_sizes(case: Case, g: _Geometry) -> list[str]:
    x = case.x
    if case.mode == "conv":
        lines = [f"\nStep 1. Output size of the convolution ({_shape_text(x.shape)} -> {_shape_text(g.y.shape)}):"]
        formula = _size_formula(case, x.shape, g.y.shape, None)
    else:
        lines = [f"\nStep 1. Output size of the transposed convolution "
                 f"({_shape_text(x.shape)} -> {_shape_text(g.big_shape)}):"]
        formula = _size_formula(case, x.shape, g.big_shape, g.output_padding)
    return lines + _indent("\n".join(formula)).splitlines()


def _step_inputs(case: Case, g: _Geometry) -> list[str]:
    x, kernel = case.x, case.kernel
    if case.mode == "conv":
        return [f"\nStep 2. The input x ({_shape_text(x.shape)}):", _indent(_fmt(x)),
                f"and the kernel w ({_shape_text(kernel.shape)}), used without flipping (cross-correlation, "
                "as in PyTorch):", _indent(_fmt(kernel))]
    return [f"\nStep 2. The input x of the transposed convolution ({_shape_text(x.shape)}):", _indent(_fmt(x)),
            f"and the kernel w ({_shape_text(kernel.shape)}):", _indent(_fmt(kernel)),
            f"The transposed convolution is C^T, where C is the convolution of an input of size "
            f"{_shape_text(g.big_shape)} with the same kernel, stride, padding and dilation (it maps "
            f"{_shape_text(g.big_shape)} -> {_shape_text(g.rows_shape)}"
            + (f"; only the rows of the {_shape_text(x.shape)} pixels that x feeds are kept)."
               if g.rows_shape != x.shape else ")."),
            f"output_padding {tuple(g.output_padding)} picks which of the input sizes that give "
            f"{_shape_text(x.shape)} is meant (the floor in the size formula loses it)."]


def _step_matrix(g: _Geometry) -> list[str]:
    rows, cols = g.matrix.shape
    lines = [f"\nStep 3. The matrix C ({rows} x {cols}; row r = output pixel r, column c = input pixel c, "
             f"both flattened in C order; {g.matrix.nnz} non-zeros):"]
    if max(rows, cols) <= MAX_PRINTED_MATRIX_SIDE:
        lines.append(_indent(_fmt(g.matrix.toarray())))
    else:
        lines.append(f"    (too large to print: more than {MAX_PRINTED_MATRIX_SIDE} rows or columns)")
    return lines


def _steps_conv_products(case: Case, g: _Geometry) -> list[str]:
    """Steps 4-5 of conv mode: ``C @ x`` is the convolution, ``C^T @ y`` the transposed one."""
    from . import conv_transpose

    x, y = case.x, g.y
    flat = g.matrix @ x.ravel()
    back = g.matrix.T @ y.ravel()
    fast = conv_transpose(y[np.newaxis], g.weight, output_padding=g.output_padding, **g.params)[0]
    return [f"\nStep 4. C @ x.ravel() = {_fmt(flat)}",
            f"reshaped to the output y ({_shape_text(y.shape)}):", _indent(_fmt(flat.reshape(y.shape))),
            f"conv(x, w) computed directly agrees: max |difference| = "
            f"{np.abs(flat.reshape(y.shape) - y).max():g}",
            f"\nStep 5. C^T @ y.ravel() maps y back to {_shape_text(x.shape)} (a transposed convolution):",
            _indent(_fmt(back.reshape(x.shape))),
            f"conv_transpose(y, w, output_padding={tuple(g.output_padding)}) agrees: max |difference| = "
            f"{np.abs(back.reshape(x.shape) - fast).max():g}",
            "C^T restores the shape, not the values: C^T C x != x. Undoing a blur (image deconvolution) "
            "needs a solver, see deconvkit.deconvolve."]


def _steps_transpose_products(case: Case, g: _Geometry) -> list[str]:
    """Step 4 of transpose mode: ``C^T @ x`` is the transposed convolution (read as a scatter in 1-D)."""
    from . import conv_transpose

    x, kernel = case.x, case.kernel
    back = g.matrix.T @ x.ravel()
    result = conv_transpose(x[np.newaxis], g.weight, output_padding=g.output_padding, **g.params)[0]
    lines = [f"\nStep 4. C^T @ x.ravel() = {_fmt(back)}",
             f"reshaped to the output ({_shape_text(result.shape)}):",
             _indent(_fmt(back.reshape(result.shape))),
             f"conv_transpose(x, w) computed directly agrees: max |difference| = "
             f"{np.abs(back.reshape(result.shape) - result).max():g}"]
    if x.ndim == 1:
        lines.append("Read it as a scatter: every input pixel adds a scaled copy of the kernel, stride apart:")
        for j, value in enumerate(x):
            start = j * case.stride[0] - case.padding[0]
            lines.append(f"    x[{j}] = {value:g} adds {_fmt(value * kernel)} at output position {start} "
                         f"(taps {case.dilation[0]} apart)")
    lines.append(f"C @ output has the input's shape again: {_shape_text(x.shape)}")
    return lines


def _step_overlap(case: Case, g: _Geometry) -> tuple[list[str], np.ndarray]:
    from . import overlap_map

    overlap = overlap_map(case.kernel.shape, case.stride,
                          input_size=(g.y.shape if case.mode == "conv" else case.x.shape),
                          padding=case.padding, dilation=case.dilation, output_padding=g.output_padding)
    step = 6 if case.mode == "conv" else 5
    return [f"\nStep {step}. Overlap map of the transposed convolution (how many kernel taps add up in each "
            "output pixel; uneven counts are the checkerboard artefact of kernel sizes not divisible by the stride):",
            _indent(_fmt(overlap))], overlap


def explain(case: Case) -> tuple[str, dict]:
    """The step-by-step text for one case, and the arrays a figure needs (``matrix``, ``overlap``, ``title``)."""
    g = _geometry(case)
    out = [f"== {case.title} ==",
           f"kernel {_shape_text(case.kernel.shape)}, stride {case.stride}, padding {case.padding}, "
           f"dilation {case.dilation}"]
    out += _step_sizes(case, g)
    out += _step_inputs(case, g)
    out += _step_matrix(g)
    out += _steps_conv_products(case, g) if case.mode == "conv" else _steps_transpose_products(case, g)
    overlap_lines, overlap = _step_overlap(case, g)
    out += overlap_lines
    return "\n".join(out), {"matrix": g.matrix, "overlap": overlap, "title": case.title}


# ----------------------------------------------------------------------------------------------------
# figure
# ----------------------------------------------------------------------------------------------------
def draw(figures: list[dict], path: str) -> None:
    """Draw ``C`` and the overlap map of each explained case (the dicts :func:`explain` returns) to ``path``."""
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
        _draw_matrix(figure, figure.add_subplot(len(figures), 2, 2 * row + 1), item["matrix"])
        _draw_overlap(figure, figure.add_subplot(len(figures), 2, 2 * row + 2), item["overlap"])
    figure.suptitle("; ".join(item["title"] for item in figures), fontsize=9)
    figure.savefig(path, dpi=100)


def _draw_matrix(figure, axes, matrix) -> None:
    if max(matrix.shape) <= 400:
        dense = matrix.toarray()
        image = axes.imshow(np.ma.masked_equal(dense, 0), cmap="viridis", interpolation="nearest")
        figure.colorbar(image, ax=axes, shrink=0.8)
    else:
        axes.spy(matrix, markersize=0.5)
    axes.set_title(f"C ({matrix.shape[0]} x {matrix.shape[1]}); C^T is the transposed conv.", fontsize=9)
    axes.set_xlabel("input pixel (flattened)")
    axes.set_ylabel("output pixel (flattened)")


def _draw_overlap(figure, axes, overlap) -> None:
    if overlap.ndim == 1:
        axes.bar(np.arange(overlap.size), overlap)
        axes.set_xlabel("output pixel")
    else:
        shown = overlap if overlap.ndim == 2 else overlap[overlap.shape[0] // 2]
        image = axes.imshow(shown, cmap="magma", interpolation="nearest", vmin=0)
        figure.colorbar(image, ax=axes, shrink=0.8)
    axes.set_title("overlap map of the transposed convolution", fontsize=9)
