"""deconvkit.transposed against PyTorch, brute-force dense scatters and the sparse conv matrix.

References used here, none of them deconvkit's own fast path:
* ``torch.nn.functional.conv{1,2,3}d`` / ``conv_transpose{1,2,3}d`` and torch autograd,
* hand-written Python scatter / gather loops over pixels (``_naive_*`` below),
* the adjoint identity ``<C x, y> == <x, C^T y>``.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from deconvkit import DeconvkitError
from deconvkit.operators import convolution
from deconvkit.testing import dottest
from deconvkit.transposed import (
    ConvolutionError,
    ConvOperator,
    adjoint_output_padding,
    conv,
    conv2d,
    conv_matrix,
    conv_transpose,
    conv_transpose1d,
    input_shape,
    output_padding_for,
    output_shape,
    overlap_map,
)

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------------------------------
# independent references
# ----------------------------------------------------------------------------------------------------
def _naive_conv_transpose(x, weight, stride, padding, output_padding, dilation, groups):
    """Scatter loop over every input pixel and tap: out[o*s... ] += x * w (batched, channels first)."""
    n_batch, in_channels = x.shape[:2]
    out_per_group = weight.shape[1]
    kernel = weight.shape[2:]
    in_per_group = in_channels // groups
    full = [(n - 1) * s + d * (k - 1) + 1 + op for n, s, d, k, op in
            zip(x.shape[2:], stride, dilation, kernel, output_padding)]
    out = np.zeros((n_batch, groups * out_per_group, *full))
    for b, c in itertools.product(range(n_batch), range(in_channels)):
        g = c // in_per_group
        for j in itertools.product(*(range(n) for n in x.shape[2:])):
            for t in itertools.product(*(range(k) for k in kernel)):
                o = tuple(jj * s + tt * d for jj, s, tt, d in zip(j, stride, t, dilation))
                for co in range(out_per_group):
                    out[(b, g * out_per_group + co) + o] += x[(b, c) + j] * weight[(c, co) + t]
    crop = tuple(slice(p, n - p) for p, n in zip(padding, full))
    return out[(slice(None), slice(None)) + crop]


def _torch(name):
    torch = pytest.importorskip("torch")
    return torch, getattr(torch.nn.functional, name)


def _assert_close(ours, reference, dtype):
    reference = np.asarray(reference, dtype=np.float64)
    assert ours.shape == reference.shape
    scale = max(np.abs(reference).max(initial=0.0), 1.0)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(ours, reference, rtol=0, atol=tolerance * scale)


# ----------------------------------------------------------------------------------------------------
# strategies
# ----------------------------------------------------------------------------------------------------
@st.composite
def layer_configs(draw, transposed=True, valid=True):
    """A random layer: dims, channels, groups, kernel, stride, padding, dilation, output padding, input."""
    ndim = draw(st.integers(1, 3))
    small = 4 if ndim == 3 else 7
    axes = st.lists
    groups = draw(st.integers(1, 3))
    in_channels = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 2))
    kernel = tuple(draw(axes(st.integers(1, 4 if ndim < 3 else 3), min_size=ndim, max_size=ndim)))
    stride = tuple(draw(axes(st.integers(1, 3), min_size=ndim, max_size=ndim)))
    dilation = tuple(draw(axes(st.integers(1, 3), min_size=ndim, max_size=ndim)))
    spatial = tuple(draw(axes(st.integers(1, small), min_size=ndim, max_size=ndim)))
    padding = tuple(draw(axes(st.integers(0, 3), min_size=ndim, max_size=ndim)))
    if valid:
        output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    else:
        output_padding = tuple(draw(axes(st.integers(0, 3), min_size=ndim, max_size=ndim)))
    if transposed and valid:
        assume(all((n - 1) * s - 2 * p + d * (k - 1) + op + 1 >= 1 for n, s, p, d, k, op in
                   zip(spatial, stride, padding, dilation, kernel, output_padding)))
    if not transposed and valid:
        assume(all(n + 2 * p >= d * (k - 1) + 1 for n, p, d, k in zip(spatial, padding, dilation, kernel)))
    return dict(ndim=ndim, groups=groups, in_channels=in_channels, out_channels=out_channels, kernel=kernel,
                stride=stride, dilation=dilation, spatial=spatial, padding=padding,
                output_padding=output_padding, batched=draw(st.booleans()), bias=draw(st.booleans()),
                dtype=draw(st.sampled_from([np.float32, np.float64])), seed=draw(st.integers(0, 2**16)))


def _tensors(cfg, transposed):
    rng = np.random.default_rng(cfg["seed"])
    lead = (2,) if cfg["batched"] else ()
    x = rng.standard_normal(lead + (cfg["in_channels"],) + cfg["spatial"]).astype(cfg["dtype"])
    if transposed:
        w_shape = (cfg["in_channels"], cfg["out_channels"] // cfg["groups"]) + cfg["kernel"]
    else:
        w_shape = (cfg["out_channels"], cfg["in_channels"] // cfg["groups"]) + cfg["kernel"]
    weight = rng.standard_normal(w_shape).astype(cfg["dtype"])
    bias = rng.standard_normal(cfg["out_channels"]).astype(cfg["dtype"]) if cfg["bias"] else None
    return x, weight, bias


def _as_torch(torch, *arrays):
    return [None if a is None else torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]


# ----------------------------------------------------------------------------------------------------
# agreement with PyTorch
# ----------------------------------------------------------------------------------------------------
@PROPERTY
@given(layer_configs(transposed=True))
def test_conv_transpose_matches_torch(cfg):
    torch, reference = _torch(f"conv_transpose{cfg['ndim']}d")
    x, weight, bias = _tensors(cfg, transposed=True)
    args = dict(stride=cfg["stride"], padding=cfg["padding"], output_padding=cfg["output_padding"],
                groups=cfg["groups"], dilation=cfg["dilation"])
    expected = reference(*_as_torch(torch, x, weight, bias), **args).numpy()
    ours = conv_transpose(x, weight, bias, **args)
    assert ours.dtype == cfg["dtype"]
    _assert_close(ours, expected, cfg["dtype"])


@PROPERTY
@given(layer_configs(transposed=False), st.sampled_from(["int", "tuple", "same", "valid"]))
def test_conv_matches_torch(cfg, padding_kind):
    torch, reference = _torch(f"conv{cfg['ndim']}d")
    x, weight, bias = _tensors(cfg, transposed=False)
    padding = {"int": cfg["padding"][0], "tuple": cfg["padding"], "same": "same", "valid": "valid"}[padding_kind]
    stride = (1,) * cfg["ndim"] if padding_kind == "same" else cfg["stride"]
    if padding_kind == "valid":
        assume(all(n >= d * (k - 1) + 1 for n, d, k in zip(cfg["spatial"], cfg["dilation"], cfg["kernel"])))
    if padding_kind == "int":
        assume(all(n + 2 * padding >= d * (k - 1) + 1 for n, d, k in
                   zip(cfg["spatial"], cfg["dilation"], cfg["kernel"])))
    args = dict(stride=stride, padding=padding, dilation=cfg["dilation"], groups=cfg["groups"])
    with warnings.catch_warnings():
        # torch warns that padding="same" with an even kernel copies the input; irrelevant here
        warnings.simplefilter("ignore", UserWarning)
        expected = reference(*_as_torch(torch, x, weight, bias), **args).numpy()
    ours = conv(x, weight, bias, **args)
    assert ours.dtype == cfg["dtype"]
    _assert_close(ours, expected, cfg["dtype"])


@PROPERTY
@given(layer_configs(transposed=False))
def test_conv_transpose_is_the_autograd_gradient_of_conv(cfg):
    torch, reference = _torch(f"conv{cfg['ndim']}d")
    x, weight, _ = _tensors(cfg, transposed=False)
    args = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"])
    x_t = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    y_t = reference(x_t, torch.from_numpy(weight.astype(np.float64)), **args)
    upstream = np.random.default_rng(cfg["seed"] + 1).standard_normal(tuple(y_t.shape))
    y_t.backward(torch.from_numpy(upstream))
    a = adjoint_output_padding(cfg["spatial"], cfg["kernel"], cfg["stride"], cfg["padding"], cfg["dilation"])
    ours = conv_transpose(upstream, weight.astype(np.float64), stride=cfg["stride"], padding=cfg["padding"],
                          output_padding=a, groups=cfg["groups"], dilation=cfg["dilation"])
    _assert_close(ours, x_t.grad.numpy(), np.float64)


@PROPERTY
@given(layer_configs(transposed=True, valid=False))
def test_invalid_arguments_fail_like_torch(cfg):
    """Random (often invalid) configurations: same outcome as PyTorch, same exception type and message."""
    torch, reference = _torch(f"conv_transpose{cfg['ndim']}d")
    x, weight, bias = _tensors(cfg, transposed=True)
    args = dict(stride=cfg["stride"], padding=cfg["padding"], output_padding=cfg["output_padding"],
                groups=cfg["groups"], dilation=cfg["dilation"])
    try:
        expected = reference(*_as_torch(torch, x, weight, bias), **args).numpy()
    except RuntimeError as torch_error:
        with pytest.raises(RuntimeError) as ours:
            conv_transpose(x, weight, bias, **args)
        assert isinstance(ours.value, DeconvkitError)
        torch_message = str(torch_error).splitlines()[0]
        # PyTorch's argument checks have fixed wording, which we reproduce; a few invalid shapes instead
        # reach a backend (oneDNN: "could not construct a memory descriptor ...") whose wording we do not copy.
        if torch_message.startswith(TORCH_CHECK_PREFIXES):
            assert str(ours.value) == torch_message
    else:
        if 0 in expected.shape[-cfg["ndim"]:]:
            # torch's oneDNN path (float32, groups > 1) skips the size check and returns an empty tensor
            # where its float64 path raises; we always raise, as the documented check does.
            with pytest.raises(RuntimeError, match="Output size is too small"):
                conv_transpose(x, weight, bias, **args)
            return
        _assert_close(conv_transpose(x, weight, bias, **args), expected, cfg["dtype"])


TORCH_CHECK_PREFIXES = ("output padding must be", "Given input size", "Calculated padded", "negative ",
                        "non-positive", "dilation should", "Given groups", "Given transposed", "expected ",
                        "kernel size should")

INVALID_CASES = [
    # (function name, input shape, weight shape, keyword arguments)
    ("conv_transpose2d", (1, 4, 5, 5), (4, 2, 3, 3), dict(stride=2, output_padding=2)),
    ("conv_transpose1d", (1, 4, 5), (4, 2, 3), dict(stride=2, output_padding=2)),
    ("conv_transpose3d", (1, 2, 3, 3, 3), (2, 1, 2, 2, 2), dict(stride=2, dilation=2, output_padding=2)),
    ("conv_transpose2d", (1, 4, 5, 5), (4, 2, 3, 3), dict(stride=(2, 1), output_padding=(1, 1))),
    ("conv_transpose2d", (1, 4, 5, 5), (4, 2, 3, 3), dict(padding=-1)),
    ("conv_transpose2d", (1, 4, 5, 5), (4, 2, 3, 3), dict(output_padding=-1)),
    ("conv_transpose2d", (1, 4, 5, 5), (4, 2, 3, 3), dict(stride=0)),
    ("conv_transpose2d", (1, 4, 5, 5), (4, 2, 3, 3), dict(dilation=0)),
    ("conv_transpose2d", (1, 4, 5, 5), (4, 2, 3, 3), dict(padding=5)),
    ("conv_transpose2d", (1, 3, 5, 5), (3, 2, 3, 3), dict(groups=2)),
    ("conv_transpose2d", (1, 4, 5, 5), (3, 2, 3, 3), {}),
    ("conv_transpose2d", (5, 5), (4, 2, 3, 3), {}),
    ("conv_transpose2d", (1, 4, 5, 5), (4, 2, 3, 3), dict(stride=(1, 1, 1))),
    ("conv_transpose2d", (1, 4, 5, 5), (4, 2, 3, 3), dict(output_padding=(1, 1, 1))),
    ("conv2d", (1, 4, 5, 5), (2, 4, 3, 3), dict(padding=-1)),
    ("conv2d", (1, 4, 5, 5), (2, 4, 3, 3), dict(stride=0)),
    ("conv2d", (1, 4, 5, 5), (2, 4, 3, 3), dict(dilation=0)),
    ("conv2d", (1, 4, 5, 5), (2, 4, 3, 3), dict(groups=0)),
    ("conv2d", (1, 4, 5, 5), (3, 2, 3, 3), dict(groups=2)),
    ("conv2d", (1, 4, 5, 5), (2, 3, 3, 3), {}),
    ("conv2d", (1, 4, 5, 5), (2, 4, 7, 7), {}),
    ("conv2d", (1, 4, 5, 5), (2, 4, 3, 3), dict(padding="same", stride=2)),
    ("conv2d", (1, 4, 5, 5), (2, 4, 3, 3), dict(padding="foo")),
    ("conv2d", (5, 5), (2, 4, 3, 3), {}),
    ("conv2d", (1, 4, 5, 5), (2, 4, 3, 3), dict(stride=1.5)),
    ("conv1d", (1, 4, 2), (4, 4, 3), {}),
]


@pytest.mark.parametrize("name, x_shape, w_shape, kwargs", INVALID_CASES)
def test_invalid_arguments_raise_the_same_exception_type_as_torch(name, x_shape, w_shape, kwargs):
    torch, reference = _torch(name)
    import deconvkit.transposed as transposed

    ours = getattr(transposed, name)
    with pytest.raises(Exception) as torch_error:
        reference(torch.zeros(x_shape), torch.zeros(w_shape), **kwargs)
    with pytest.raises(type(torch_error.value)) as our_error:
        ours(np.zeros(x_shape, np.float32), np.zeros(w_shape, np.float32), **kwargs)
    assert isinstance(our_error.value, DeconvkitError)  # so the CLI reports it as a one-line error
    if "output_padding" in kwargs and "must be smaller" in str(torch_error.value):
        assert str(our_error.value) == str(torch_error.value)


def test_output_size_helper_matches_torch_module():
    torch = pytest.importorskip("torch")
    layer = torch.nn.ConvTranspose2d(2, 3, kernel_size=3, stride=2, padding=1, bias=False)
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5)).astype(np.float32)
    weight = layer.weight.detach().numpy()
    for size in ([9, 9], [10, 9], [1, 3, 10, 10]):
        expected = layer(torch.from_numpy(x), output_size=size).detach().numpy()
        _assert_close(conv_transpose(x, weight, stride=2, padding=1, output_size=size), expected, np.float32)
    with pytest.raises(ValueError) as torch_error:
        layer(torch.from_numpy(x), output_size=[12, 12])
    with pytest.raises(ValueError) as our_error:
        output_padding_for((5, 5), (12, 12), 3, stride=2, padding=1)
    prefix = str(torch_error.value).split(" (for")[0]
    assert str(our_error.value).startswith(prefix)


def test_output_shape_matches_torch_for_every_guide_case():
    """Dumoulin & Visin's relationships (no/half/full padding, strides, dilation), checked by running torch."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for i, k, s, d in itertools.product(range(1, 9), range(1, 5), range(1, 4), range(1, 3)):
        for name in ("valid", "half", "full", 0, 1, 2):
            p = {"valid": 0, "half": d * (k - 1) // 2, "full": d * (k - 1)}.get(name, name)
            if i + 2 * p < d * (k - 1) + 1:
                with pytest.raises(ConvolutionError):
                    output_shape(i, k, s, name, d)
                continue
            (o,) = output_shape(i, k, s, name, d)
            assert o == F.conv1d(torch.zeros(1, 1, i), torch.zeros(1, 1, k), stride=s, padding=p,
                                 dilation=d).shape[-1]
            if name == "valid" and s == 1 and d == 1:
                assert o == i - k + 1                              # relationship 1
            if name == "half" and s == 1 and d == 1 and k % 2:
                assert o == i                                      # relationship 2
            if name == "full" and s == 1 and d == 1:
                assert o == i + k - 1                              # relationship 3
            a = (i + 2 * p - d * (k - 1) - 1) % s                  # the lost remainder (relationship 14)
            assert adjoint_output_padding(i, k, s, p, d) == (a,)
            if a < max(s, d):
                back = output_shape(o, k, s, p, d, transposed=True, output_padding=a)
                assert back == (i,)
                assert back[0] == F.conv_transpose1d(torch.zeros(1, 1, o), torch.zeros(1, 1, k), stride=s,
                                                     padding=p, output_padding=a, dilation=d).shape[-1]


@PROPERTY
@given(st.integers(1, 12), st.integers(1, 4), st.integers(1, 3), st.integers(0, 3), st.integers(1, 3))
def test_input_shape_inverts_output_shape(o, k, s, p, d):
    # brute force over input sizes: exactly the sizes in the returned range give o outputs
    try:
        (candidates,) = input_shape(o, k, s, p, d)
    except ConvolutionError:
        candidates = range(0)
    brute = [i for i in range(1, (o + 2) * s + d * k + 2)
             if i + 2 * p >= d * (k - 1) + 1 and output_shape(i, k, s, p, d) == (o,)]
    assert list(candidates) == brute
    # transposed: unique input size plus the output_padding that reaches o exactly
    try:
        sizes, output_padding = input_shape(o, k, s, p, d, transposed=True)
    except ConvolutionError:
        return
    assert output_shape(sizes, k, s, p, d, transposed=True, output_padding=output_padding) == (o,)


# ----------------------------------------------------------------------------------------------------
# adjointness and the sparse matrix
# ----------------------------------------------------------------------------------------------------
@PROPERTY
@given(layer_configs(transposed=False))
def test_conv_matrix_is_conv_and_its_transpose_is_conv_transpose(cfg):
    x, weight, _ = _tensors(cfg, transposed=False)
    x = x.astype(np.float64)
    weight = weight.astype(np.float64)
    args = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"])
    matrix = conv_matrix(x.shape, weight, groups=cfg["groups"], **args)
    y = conv(x, weight, groups=cfg["groups"], **args)
    np.testing.assert_allclose((matrix @ x.ravel()).reshape(y.shape), y, atol=1e-12)
    probe = np.random.default_rng(cfg["seed"]).standard_normal(y.shape)
    # <C x, y> == <x, C^T y>
    np.testing.assert_allclose(np.vdot(matrix @ x.ravel(), probe.ravel()),
                               np.vdot(x.ravel(), matrix.T @ probe.ravel()), rtol=1e-10, atol=1e-10)
    a = adjoint_output_padding(cfg["spatial"], cfg["kernel"], **args)
    back = conv_transpose(probe, weight, output_padding=a, groups=cfg["groups"], **args)
    np.testing.assert_allclose(matrix.T @ probe.ravel(), back.ravel(), atol=1e-12)


@PROPERTY
@given(layer_configs(transposed=False), st.sampled_from(["int", "same"]))
def test_conv_operator_passes_dottest(cfg, padding_kind):
    x, weight, _ = _tensors(cfg, transposed=False)
    padding = "same" if padding_kind == "same" else cfg["padding"]
    stride = 1 if padding_kind == "same" else cfg["stride"]
    op = ConvOperator(x.shape, weight, stride=stride, padding=padding, dilation=cfg["dilation"],
                      groups=cfg["groups"])
    assert op.dtype == cfg["dtype"]
    dottest(op, rng=cfg["seed"])
    dottest(op, rng=cfg["seed"], batch=(2,))
    # the adjoint equals the sparse matrix's transpose (column-by-column reference)
    y = np.random.default_rng(cfg["seed"]).standard_normal(op.shape_out)
    np.testing.assert_allclose(op.adjoint(y).ravel(), op.matrix().T @ y.ravel(),
                               atol=1e-4 if cfg["dtype"] == np.float32 else 1e-12)
    if padding_kind == "int":
        public = conv_transpose(y, weight.astype(np.float64), stride=stride, padding=padding,
                                output_padding=op.output_padding, groups=cfg["groups"], dilation=cfg["dilation"])
        np.testing.assert_allclose(op.adjoint(y), public, atol=1e-4 if cfg["dtype"] == np.float32 else 1e-12)


def test_conv_transpose_equals_naive_scatter_loop():
    rng = np.random.default_rng(3)
    for ndim, stride, padding, output_padding, dilation, groups in [
            (1, (3,), (1,), (2,), (1,), 1), (2, (2, 1), (1, 0), (1, 0), (1, 2), 2), (3, (2, 2, 1), (0, 1, 0),
                                                                                     (1, 0, 0), (1, 1, 2), 1)]:
        x = rng.standard_normal((2, 2 * groups) + (3,) * ndim)
        weight = rng.standard_normal((2 * groups, 2) + (2,) * ndim)
        expected = _naive_conv_transpose(x, weight, stride, padding, output_padding, dilation, groups)
        ours = conv_transpose(x, weight, stride=stride, padding=padding, output_padding=output_padding,
                              groups=groups, dilation=dilation)
        np.testing.assert_allclose(ours, expected, atol=1e-12)


@pytest.mark.parametrize("kernel, stride", [((4, 4), (2, 2)), ((3, 5), (2, 3)), ((2, 3), (3, 1))])
def test_strided_transpose_is_interleaved_stride_one_transposes(kernel, stride):
    """The sub-pixel view of docs/transposed.md: output phase r of a stride-s transposed convolution is a
    stride-1 transposed convolution with the sub-kernel w[r::s] (torch gives the strided reference)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 5, 4))
    weight = rng.standard_normal((3, 2) + kernel)
    expected = torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(weight),
                                                    stride=stride).numpy()
    for phase in itertools.product(*(range(s) for s in stride)):
        sub_kernel = weight[(Ellipsis, *(slice(r, None, s) for r, s in zip(phase, stride)))]
        grid = expected[(Ellipsis, *(slice(r, None, s) for r, s in zip(phase, stride)))]
        if sub_kernel.size == 0:
            np.testing.assert_array_equal(grid, 0)
            continue
        part = conv_transpose(x, sub_kernel)
        assert part.shape == grid.shape            # (n - 1) + len(w[r::s]) pixels on each axis
        np.testing.assert_allclose(part, grid, atol=1e-12)


def test_classic_examples_by_hand():
    # 1-D: input [1, 2], kernel [3, 4], stride 2 -> each input pixel drops a scaled kernel copy, 2 apart
    x, kernel, stride = [1.0, 2.0], [3.0, 4.0], 2
    expected = np.zeros((len(x) - 1) * stride + len(kernel))
    for j, value in enumerate(x):
        for t, tap in enumerate(kernel):
            expected[j * stride + t] += value * tap
    assert expected.tolist() == [3.0, 4.0, 6.0, 8.0]
    out = conv_transpose1d(np.array([[x]]), np.array([[kernel]]), stride=stride)
    assert out.tolist() == [[expected.tolist()]]
    matrix = conv_matrix((1, 4), np.array([[kernel]]), stride=stride).toarray()
    assert matrix.tolist() == [[3, 4, 0, 0], [0, 0, 3, 4]]
    # 2-D: 4x4 input, 3x3 kernel -> 2x2 output (a 4x16 matrix), and back to 4x4 through C^T
    image = np.arange(16.0).reshape(4, 4)
    w = np.arange(9.0).reshape(3, 3) - 4
    dense = np.zeros((4, 16))
    for oy, ox, ty, tx in itertools.product(range(2), range(2), range(3), range(3)):
        dense[oy * 2 + ox, (oy + ty) * 4 + (ox + tx)] = w[ty, tx]
    np.testing.assert_array_equal(conv_matrix((1, 4, 4), w[None, None]).toarray(), dense)
    y = conv2d(image[None], w[None, None])[0]
    np.testing.assert_allclose(y.ravel(), dense @ image.ravel())
    back = conv_transpose(y[None], w[None, None])[0]
    assert back.shape == (4, 4)
    np.testing.assert_allclose(back.ravel(), dense.T @ y.ravel())


@pytest.mark.parametrize("kernel, stride, size, padding, dilation", [
    (3, 2, 5, 0, 1), (4, 2, 4, 1, 1), (3, 1, 4, 0, 2), ((3, 2), (2, 3), (3, 4), (1, 0), 1),
    ((2, 3, 3), 2, (2, 2, 3), 0, (1, 2, 1)), (5, 3, 3, 2, 1)])
def test_overlap_map_matches_brute_force_counting(kernel, stride, size, padding, dilation):
    ndim = max(len(v) if isinstance(v, tuple) else 1 for v in (kernel, stride, size, padding, dilation))
    k, s, n, p, d = (v if isinstance(v, tuple) else (v,) * ndim for v in (kernel, stride, size, padding, dilation))
    full = [(ni - 1) * si + di * (ki - 1) + 1 for ni, si, di, ki in zip(n, s, d, k)]
    counts = np.zeros(full, dtype=int)
    for j in itertools.product(*(range(m) for m in n)):
        for t in itertools.product(*(range(m) for m in k)):
            counts[tuple(jj * ss + tt * dd for jj, ss, tt, dd in zip(j, s, t, d))] += 1
    expected = counts[tuple(slice(pp, f - pp) for pp, f in zip(p, full))]
    np.testing.assert_array_equal(overlap_map(kernel, stride, size, padding, dilation), expected)


def test_overlap_map_shows_checkerboard_only_when_stride_does_not_divide_kernel():
    interior = overlap_map(3, 2, input_size=8)[3:-3]
    assert set(interior.tolist()) == {1, 2}                  # uneven: checkerboard
    assert set(overlap_map(4, 2, input_size=8)[3:-3].tolist()) == {2}   # even coverage


# ----------------------------------------------------------------------------------------------------
# image deconvolution's blur vs transposed convolution
# ----------------------------------------------------------------------------------------------------
def test_restoration_blur_adjoint_is_a_transposed_convolution():
    rng = np.random.default_rng(7)
    psf = rng.random((5, 3))
    psf /= psf.sum()
    shape = (12, 9)
    blur = convolution(psf, shape, "valid")
    image = rng.standard_normal(shape)
    observed = rng.standard_normal(blur.shape_out)
    # deep learning's conv is a correlation: the blur (a true convolution) is conv with the flipped PSF
    flipped = psf[::-1, ::-1][None, None]
    np.testing.assert_allclose(blur.forward(image), conv(image[None], flipped)[0], atol=1e-12)
    np.testing.assert_allclose(blur.T.forward(observed), conv_transpose(observed[None], flipped)[0], atol=1e-12)


# ----------------------------------------------------------------------------------------------------
# dtype, shapes, run-time independence from torch
# ----------------------------------------------------------------------------------------------------
def test_float32_in_float32_out_and_unbatched_input():
    x = np.ones((2, 5, 5), np.float32)
    weight = np.ones((2, 3, 3, 3), np.float32)
    out = conv_transpose(x, weight, stride=2)
    assert out.dtype == np.float32 and out.shape == (3, 11, 11)
    assert conv(np.ones((3, 4, 4), np.uint8), np.ones((1, 3, 2, 2))).dtype == np.float64
    np.testing.assert_array_equal(out, conv_transpose(x[None], weight, stride=2)[0])


def test_module_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, numpy as np, deconvkit.transposed as t; "
            "t.conv_transpose(np.ones((1, 1, 2)), np.ones((1, 1, 2)), stride=2); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_conv_matrix_rejects_bad_input_shape():
    with pytest.raises(DeconvkitError, match="input_shape"):
        conv_matrix((4, 4), np.ones((1, 1, 3, 3)))
    with pytest.raises(ConvolutionError, match="channels"):
        conv_matrix((2, 4, 4), np.ones((1, 1, 3, 3)))
    assert math.prod(conv_matrix((2, 1, 4, 4), np.ones((1, 1, 3, 3))).shape) == (2 * 4) * (2 * 16)


# The fast paths (docs/transposed.md section 7) with their block sizes shrunk so that every layer runs
# through several blocks, partial last blocks included: depthwise (last-axis copies + outer-tap additions,
# with a depth multiplier, dilation, cropping), phase-wise depthwise and 3-D transposed convolutions (each
# phase added or written into its output grid), and the channels-last products (per-image blocks).
FAST_PATH_CASES = [
    ("conv", (2, 6, 13, 11), (6, 1, 3, 3), dict(padding=1, groups=6)),
    ("conv", (2, 4, 12, 10), (8, 1, 3, 5), dict(padding=(2, 1), dilation=(2, 1), groups=4)),
    ("conv", (1, 3, 7, 6, 9), (3, 1, 3, 2, 3), dict(padding=1, groups=3)),
    ("conv", (2, 3, 40), (6, 1, 4), dict(padding=3, dilation=2, groups=3)),
    ("conv_transpose", (2, 4, 9, 8), (4, 1, 5, 5), dict(padding=3, groups=4)),            # stride 1, cropping
    ("conv_transpose", (2, 4, 17, 16), (4, 2, 4, 4), dict(stride=2, padding=1, groups=4)),  # phase, depthwise
    ("conv_transpose", (1, 3, 16, 18), (3, 1, 3, 5), dict(stride=(2, 3), padding=(1, 2), output_padding=(1, 0),
                                                          groups=3)),
    ("conv_transpose", (2, 5, 6, 7, 8), (5, 4, 4, 4, 3), dict(stride=2, padding=1)),        # phase, 3-D
    ("conv_transpose", (1, 3, 7, 8, 9), (3, 1, 4, 4, 4), dict(stride=2, padding=1, groups=3)),
    ("conv", (2, 5, 12, 14), (7, 5, 5, 5), dict(padding=2)),                                 # channels-last
    ("conv", (2, 6, 12, 14), (8, 3, 3, 3), dict(padding=2, dilation=2, groups=2)),
    ("conv", (2, 4, 9, 8, 10), (3, 4, 3, 3, 3), dict(padding=1)),
    ("conv_transpose", (2, 6, 16, 15), (6, 5, 5, 5), dict(padding=2)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", FAST_PATH_CASES, ids=lambda case: f"{case[0]}{case[1]}{case[2]}")
def test_fast_paths_match_torch_across_blocks(case, dtype, monkeypatch):
    torch = pytest.importorskip("torch")
    from deconvkit.transposed import functional

    monkeypatch.setattr(functional, "DEPTHWISE_BLOCK_ELEMENTS", 2**9)
    monkeypatch.setattr(functional, "SHIFT_BLOCK_BYTES", 2**8)
    monkeypatch.setattr(functional, "SHIFT_MIN_ROWS", 37)
    monkeypatch.setattr(functional, "SMALL_MAP_PIXELS", 4)      # keep small maps off the col2im shortcut
    name, x_shape, w_shape, kwargs = case
    rng = np.random.default_rng(17)
    x = rng.standard_normal(x_shape).astype(dtype)
    weight = rng.standard_normal(w_shape).astype(dtype)
    ndim = len(x_shape) - 2
    ours = (conv if name == "conv" else conv_transpose)(x, weight, **kwargs)
    expected = getattr(torch.nn.functional, f"{name}{ndim}d")(torch.from_numpy(x), torch.from_numpy(weight),
                                                              **kwargs).numpy()
    assert ours.shape == expected.shape and ours.dtype == dtype
    scale = np.abs(expected).max()
    np.testing.assert_allclose(ours, expected, atol=(1e-12 if dtype == np.float64 else 2e-6) * scale)
