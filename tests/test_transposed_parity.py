"""deconvkit.transposed held to PyTorch's own convolution tests (issue 17).

The configurations below are *transcribed* (not imported: torch's internal test machinery is not a
dependency) from PyTorch 2.13's test suite; each table names the file and function it comes from:

* ``torch/testing/_internal/common_methods_invocations.py``: ``sample_inputs_conv{1,2,3}d``,
  ``sample_inputs_conv_transpose{1,2,3}d`` (every case batched and unbatched) and ``error_inputs_conv{1,2,3}d``
  (input, weight, bias, dtypes, keyword arguments and the error regex);
* ``torch/testing/_internal/common_nn.py``: the ``Conv*`` / ``ConvTranspose*`` entries of ``module_tests`` and
  ``get_new_module_tests()`` (constructor arguments resolved to the layer's weight shape, stride, padding,
  dilation, groups, output_padding; the non-zero ``padding_mode`` entries are left out: deconvkit pads with
  zeros only);
* ``torch/testing/_internal/common_modules.py``: ``module_inputs_torch_nn_ConvNd``;
* ``test/nn/test_convolution.py`` (pytorch/pytorch, not installed with torch): the special cases named in
  each test below.

Every case runs against the installed torch (the reference) and checks: values (float64 to ~1e-12, float32
to ~1e-5 of the output's scale), the output dtype, non-contiguous / channels-last / expanded layouts,
integer and float16 dtypes, the input gradient (torch autograd against deconvkit's adjoint:
``ConvOperator.adjoint`` for a convolution, ``conv`` for a transposed convolution), ``conv_matrix``, and for
errors the exception type and torch's own message regex. Where deconvkit deliberately differs, the case is
in ``DELIBERATE_DIFFERENCES`` with the reason (docs/transposed.md, "Differences from PyTorch").
"""

from __future__ import annotations

import itertools
import re
import warnings

import numpy as np
import pytest

import deconvkit.transposed as dk
from deconvkit import DeconvkitError
from deconvkit.transposed import ConvolutionError, ConvOperator, conv_matrix

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.torch


# ----------------------------------------------------------------------------------------------------
# transcribed configurations: (function, input shape, weight shape, bias shape or None, keyword arguments)
# ----------------------------------------------------------------------------------------------------
# common_methods_invocations.py, sample_inputs_conv_transpose1d / 2d / 3d
OPINFO_CONV_TRANSPOSE = [
    ("conv_transpose1d", (1, 3, 4), (3, 3, 3), (3,), dict(stride=(2,), padding=2, output_padding=(1,), groups=1)),
    ("conv_transpose1d", (2, 2, 4), (2, 2, 4), (4,),
     dict(stride=(3,), padding=(1,), output_padding=(2,), groups=2, dilation=(4,))),
    ("conv_transpose1d", (1, 1, 4), (1, 1, 4), (1,),
     dict(stride=2, padding=1, output_padding=1, groups=1, dilation=(2,))),
    ("conv_transpose1d", (1, 1, 4), (1, 2, 3), None, dict(stride=2, padding=1, output_padding=1, groups=1)),
    ("conv_transpose1d", (1, 4, 5), (4, 8, 3), None, {}),
    ("conv_transpose2d", (1, 3, 4, 4), (3, 3, 3, 3), (3,),
     dict(stride=(2, 2), padding=2, output_padding=(1, 1), groups=1)),
    ("conv_transpose2d", (2, 2, 4, 4), (2, 2, 4, 5), (4,),
     dict(stride=(3, 2), padding=(1, 2), output_padding=(2, 3), groups=2, dilation=(4, 4))),
    ("conv_transpose2d", (1, 1, 4, 5), (1, 1, 4, 3), (1,),
     dict(stride=2, padding=1, output_padding=1, groups=1, dilation=(2, 3))),
    ("conv_transpose2d", (1, 1, 4, 3), (1, 2, 3, 4), None, dict(stride=2, padding=1, output_padding=1, groups=1)),
    ("conv_transpose2d", (2, 4, 4, 4), (4, 1, 3, 3), None, dict(groups=4)),
    ("conv_transpose2d", (1, 2, 5, 5), (2, 4, 3, 3), None, {}),
    ("conv_transpose3d", (1, 3, 4, 4, 4), (3, 3, 3, 3, 3), (3,),
     dict(stride=(2, 2, 2), padding=2, output_padding=(1, 1, 1), groups=1)),
    ("conv_transpose3d", (2, 2, 4, 4, 4), (2, 2, 4, 5, 6), (4,),
     dict(stride=(3, 2, 1), padding=(1, 2, 3), output_padding=(2, 3, 1), groups=2, dilation=(4, 4, 4))),
    ("conv_transpose3d", (1, 1, 4, 5, 2), (1, 1, 4, 3, 1), (1,),
     dict(stride=2, padding=1, output_padding=1, groups=1, dilation=(2, 3, 2))),
    ("conv_transpose3d", (1, 1, 4, 3, 4), (1, 2, 3, 4, 5), None,
     dict(stride=2, padding=1, output_padding=1, groups=1)),
    ("conv_transpose3d", (1, 4, 5, 5, 5), (4, 8, 3, 3, 3), None, {}),
]

# common_methods_invocations.py, sample_inputs_conv1d / 2d / 3d
OPINFO_CONV = [
    ("conv1d", (1, 3, 4), (3, 3, 3), (3,), dict(stride=(2,), padding=2, groups=1)),
    ("conv1d", (2, 4, 8), (2, 2, 3), (2,), dict(stride=3, padding=1, groups=2, dilation=2)),
    ("conv1d", (1, 4, 5), (1, 4, 3), None, dict(stride=(2,), padding="valid")),
    ("conv1d", (2, 2, 4), (2, 1, 4), (2,), dict(stride=(1,), padding="same", groups=2, dilation=(2,))),
    ("conv1d", (1, 4, 5), (3, 4, 3), None, {}),
    ("conv2d", (1, 3, 4, 4), (3, 3, 3, 3), (3,), dict(stride=(2, 2), padding=2, groups=1)),
    ("conv2d", (2, 4, 8, 8), (2, 2, 3, 3), (2,), dict(stride=(3, 2), padding=(2, 1), groups=2, dilation=(4, 4))),
    ("conv2d", (1, 4, 5, 5), (1, 4, 2, 3), (1,), dict(stride=2, padding=1, groups=1, dilation=(2, 3))),
    ("conv2d", (1, 2, 4, 3), (4, 2, 3, 4), None, dict(stride=2, padding=1, groups=1)),
    ("conv2d", (1, 4, 5, 5), (1, 4, 2, 3), (1,), dict(stride=2, padding="valid")),
    ("conv2d", (1, 4, 5, 5), (1, 4, 2, 3), (1,), dict(stride=1, padding="same", dilation=3)),
    ("conv2d", (2, 4, 6, 6), (4, 1, 3, 3), (4,), dict(groups=4)),
    ("conv2d", (2, 4, 6, 6), (8, 1, 3, 3), (8,), dict(groups=4)),
    ("conv2d", (2, 4, 6, 6), (8, 1, 3, 3), None, dict(groups=4)),
    ("conv2d", (2, 4, 6, 6), (4, 1, 3, 3), (4,), dict(groups=4, stride=(3, 2))),
    ("conv2d", (2, 4, 6, 6), (4, 1, 3, 3), (4,), dict(groups=4, padding=(1, 1))),
    ("conv2d", (2, 4, 5, 5), (4, 1, 2, 2), (4,), dict(groups=4, dilation=(2, 2))),
    ("conv2d", (2, 4, 6, 5), (6, 2, 3, 2), (6,), dict(groups=2)),
    ("conv2d", (1, 4, 5, 5), (3, 4, 3, 3), None, {}),
    ("conv3d", (1, 1, 4, 4, 4), (1, 1, 1, 1, 1), (1,), dict(padding="same")),
    ("conv3d", (1, 1, 4, 4, 4), (1, 1, 4, 4, 4), (1,), dict(stride=(2, 2, 2))),
    ("conv3d", (1, 1, 5, 5, 5), (1, 1, 3, 3, 3), (1,), dict(dilation=2)),
    ("conv3d", (1, 1, 1, 1, 10), (1, 1, 1, 1, 4), None, dict(padding="valid")),
    ("conv3d", (1, 1, 10, 11, 12), (1, 1, 1, 2, 5), None, dict(padding="same")),
    ("conv3d", (1, 1, 10, 11, 12), (1, 1, 1, 2, 5), None, dict(padding="same", dilation=2)),
    ("conv3d", (1, 1, 10, 11, 12), (1, 1, 4, 4, 4), None, dict(padding="same", dilation=3)),
    ("conv3d", (3, 9, 3, 1, 9), (3, 3, 3, 1, 9), (3,), dict(groups=3)),
    ("conv3d", (3, 9, 3, 1, 9), (3, 3, 3, 1, 9), (3,), dict(stride=(2, 2, 2), dilation=1, groups=3)),
]

# common_nn.py, module_tests + get_new_module_tests(): (test name, function, input size, weight shape, bias,
# keyword arguments), resolved from each entry's constructor.
COMMON_NN = [
    ('Conv1d', 'conv1d', (2, 4, 10), (5, 4, 3), True, {'stride': (1,), 'padding': (0,), 'dilation': (1,), 'groups': 1}),
    ('Conv1d_stride', 'conv1d', (2, 4, 10), (5, 4, 3), True, {'stride': (2,), 'padding': (0,), 'dilation': (1,), 'groups': 1}),
    ('Conv1d_pad1', 'conv1d', (2, 4, 10), (5, 4, 3), True, {'stride': (1,), 'padding': (1,), 'dilation': (1,), 'groups': 1}),
    ('Conv1d_pad2', 'conv1d', (2, 4, 10), (5, 4, 5), True, {'stride': (1,), 'padding': (2,), 'dilation': (1,), 'groups': 1}),
    ('Conv1d_pad1size1', 'conv1d', (1, 4, 1), (4, 4, 3), True, {'stride': (1,), 'padding': (1,), 'dilation': (1,), 'groups': 1}),
    ('Conv1d_pad2size1', 'conv1d', (1, 4, 1), (4, 4, 5), True, {'stride': (1,), 'padding': (2,), 'dilation': (1,), 'groups': 1}),
    ('Conv1d_zero_batch', 'conv1d', (0, 4, 10), (5, 4, 3), True, {'stride': (1,), 'padding': (0,), 'dilation': (1,), 'groups': 1}),
    ('Conv1d_dilated', 'conv1d', (2, 4, 10), (5, 4, 3), True, {'stride': (1,), 'padding': (0,), 'dilation': (2,), 'groups': 1}),
    ('Conv1d_groups', 'conv1d', (2, 4, 6), (6, 2, 3), True, {'stride': (1,), 'padding': (0,), 'dilation': (1,), 'groups': 2}),
    ('Conv1d_pad_valid', 'conv1d', (2, 4, 10), (5, 4, 3), True, {'stride': (1,), 'padding': 'valid', 'dilation': (1,), 'groups': 1}),
    ('Conv1d_pad_same', 'conv1d', (2, 4, 10), (5, 4, 3), True, {'stride': (1,), 'padding': 'same', 'dilation': (1,), 'groups': 1}),
    ('Conv1d_pad_same2', 'conv1d', (2, 4, 10), (5, 4, 4), True, {'stride': (1,), 'padding': 'same', 'dilation': (1,), 'groups': 1}),
    ('Conv1d_pad_same_dilated', 'conv1d', (2, 4, 10), (5, 4, 4), True, {'stride': (1,), 'padding': 'same', 'dilation': (2,), 'groups': 1}),
    ('ConvTranspose1d', 'conv_transpose1d', (1, 3, 7), (3, 4, 3), True, {'stride': (3,), 'padding': (1,), 'dilation': (1,), 'groups': 1, 'output_padding': (1,)}),
    ('ConvTranspose1d_no_bias', 'conv_transpose1d', (1, 3, 6), (3, 4, 3), False, {'stride': (2,), 'padding': (1,), 'dilation': (1,), 'groups': 1, 'output_padding': (1,)}),
    ('ConvTranspose1d_dilated', 'conv_transpose1d', (1, 3, 6), (3, 4, 3), True, {'stride': (2,), 'padding': (1,), 'dilation': (2,), 'groups': 1, 'output_padding': (1,)}),
    ('ConvTranspose1d_groups', 'conv_transpose1d', (2, 4, 7), (4, 3, 3), True, {'stride': (3,), 'padding': (1,), 'dilation': (1,), 'groups': 2, 'output_padding': (1,)}),
    ('Conv2d', 'conv2d', (2, 3, 7, 5), (4, 3, 3, 2), True, {'stride': (1, 1), 'padding': (0, 0), 'dilation': (1, 1), 'groups': 1}),
    ('Conv2d_strided', 'conv2d', (2, 3, 6, 6), (4, 3, 3, 3), True, {'stride': (2, 2), 'padding': (0, 0), 'dilation': (1, 1), 'groups': 1}),
    ('Conv2d_padding', 'conv2d', (2, 3, 6, 6), (4, 3, 3, 3), True, {'stride': (2, 2), 'padding': (1, 1), 'dilation': (1, 1), 'groups': 1}),
    ('Conv2d_dilated', 'conv2d', (2, 3, 8, 8), (2, 3, 3, 3), True, {'stride': (2, 2), 'padding': (1, 1), 'dilation': (2, 2), 'groups': 1}),
    ('Conv2d_no_bias', 'conv2d', (2, 3, 6, 5), (4, 3, 3, 2), False, {'stride': (1, 1), 'padding': (0, 0), 'dilation': (1, 1), 'groups': 1}),
    ('Conv2d_zero_batch', 'conv2d', (0, 3, 7, 5), (4, 3, 3, 2), True, {'stride': (1, 1), 'padding': (0, 0), 'dilation': (1, 1), 'groups': 1}),
    ('Conv2d_groups', 'conv2d', (2, 4, 6, 5), (6, 2, 3, 2), True, {'stride': (1, 1), 'padding': (0, 0), 'dilation': (1, 1), 'groups': 2}),
    ('Conv2d_groups_thnn', 'conv2d', (2, 4, 6, 5), (6, 2, 3, 2), True, {'stride': (1, 1), 'padding': (0, 0), 'dilation': (1, 1), 'groups': 2}),
    ('Conv2d_pad_valid', 'conv2d', (2, 2, 6, 5), (4, 2, 3, 4), True, {'stride': (1, 1), 'padding': 'valid', 'dilation': (1, 1), 'groups': 1}),
    ('Conv2d_pad_same', 'conv2d', (2, 2, 6, 5), (4, 2, 3, 4), True, {'stride': (1, 1), 'padding': 'same', 'dilation': (1, 1), 'groups': 1}),
    ('Conv2d_pad_same_dilated', 'conv2d', (2, 2, 6, 5), (4, 2, 3, 4), True, {'stride': (1, 1), 'padding': 'same', 'dilation': (2, 2), 'groups': 1}),
    ('ConvTranspose2d', 'conv_transpose2d', (1, 3, 7, 6), (3, 4, 3, 3), True, {'stride': (3, 2), 'padding': (1, 1), 'dilation': (1, 1), 'groups': 1, 'output_padding': (1, 1)}),
    ('ConvTranspose2d_dilated', 'conv_transpose2d', (1, 3, 6, 7), (3, 4, 3, 3), False, {'stride': (2, 3), 'padding': (1, 1), 'dilation': (2, 2), 'groups': 1, 'output_padding': (1, 1)}),
    ('ConvTranspose2d_no_bias', 'conv_transpose2d', (1, 3, 6, 7), (3, 4, 3, 3), False, {'stride': (2, 3), 'padding': (1, 1), 'dilation': (1, 1), 'groups': 1, 'output_padding': (1, 1)}),
    ('ConvTranspose2d_groups', 'conv_transpose2d', (1, 2, 4, 5), (2, 2, 2, 3), True, {'stride': (1, 1), 'padding': (0, 0), 'dilation': (1, 1), 'groups': 2, 'output_padding': (0, 0)}),
    ('Conv2d_depthwise', 'conv2d', (2, 4, 6, 6), (4, 1, 3, 3), True, {'stride': (1, 1), 'padding': (0, 0), 'dilation': (1, 1), 'groups': 4}),
    ('Conv2d_depthwise_with_multiplier', 'conv2d', (2, 4, 6, 6), (8, 1, 3, 3), True, {'stride': (1, 1), 'padding': (0, 0), 'dilation': (1, 1), 'groups': 4}),
    ('Conv2d_depthwise_strided', 'conv2d', (2, 4, 6, 6), (4, 1, 3, 3), True, {'stride': (2, 2), 'padding': (0, 0), 'dilation': (1, 1), 'groups': 4}),
    ('Conv2d_depthwise_padded', 'conv2d', (2, 4, 6, 6), (4, 1, 3, 3), True, {'stride': (1, 1), 'padding': (1, 1), 'dilation': (1, 1), 'groups': 4}),
    ('Conv2d_depthwise_dilated', 'conv2d', (2, 4, 5, 5), (4, 1, 2, 2), True, {'stride': (1, 1), 'padding': (0, 0), 'dilation': (2, 2), 'groups': 4}),
    ('Conv3d', 'conv3d', (1, 2, 4, 5, 4), (3, 2, 2, 3, 2), True, {'stride': (1, 1, 1), 'padding': (0, 0, 0), 'dilation': (1, 1, 1), 'groups': 1}),
    ('Conv3d_no_bias', 'conv3d', (1, 2, 3, 4, 5), (3, 2, 2, 3, 4), False, {'stride': (1, 1, 1), 'padding': (0, 0, 0), 'dilation': (1, 1, 1), 'groups': 1}),
    ('Conv3d_1x1x1_no_bias', 'conv3d', (1, 2, 3, 4, 5), (3, 2, 1, 1, 1), False, {'stride': (1, 1, 1), 'padding': (0, 0, 0), 'dilation': (1, 1, 1), 'groups': 1}),
    ('Conv3d_stride', 'conv3d', (2, 3, 5, 5, 5), (4, 3, 2, 2, 2), True, {'stride': (2, 2, 2), 'padding': (0, 0, 0), 'dilation': (1, 1, 1), 'groups': 1}),
    ('Conv3d_stride_padding', 'conv3d', (2, 3, 5, 5, 5), (4, 3, 2, 2, 2), True, {'stride': (2, 2, 2), 'padding': (1, 1, 1), 'dilation': (1, 1, 1), 'groups': 1}),
    ('Conv3d_zero_batch', 'conv3d', (0, 3, 3, 4, 5), (4, 3, 2, 3, 4), True, {'stride': (1, 1, 1), 'padding': (0, 0, 0), 'dilation': (1, 1, 1), 'groups': 1}),
    ('Conv3d_groups', 'conv3d', (1, 2, 4, 5, 4), (4, 1, 3, 3, 3), True, {'stride': (1, 1, 1), 'padding': (0, 0, 0), 'dilation': (1, 1, 1), 'groups': 2}),
    ('Conv3d_dilated', 'conv3d', (2, 3, 5, 5, 5), (4, 3, 2, 2, 2), True, {'stride': (1, 1, 1), 'padding': (0, 0, 0), 'dilation': (2, 2, 2), 'groups': 1}),
    ('Conv3d_dilated_strided', 'conv3d', (2, 3, 5, 5, 5), (4, 3, 2, 2, 2), True, {'stride': (2, 2, 2), 'padding': (0, 0, 0), 'dilation': (2, 2, 2), 'groups': 1}),
    ('Conv3d_pad_valid', 'conv3d', (2, 3, 6, 5, 4), (4, 3, 2, 3, 4), True, {'stride': (1, 1, 1), 'padding': 'valid', 'dilation': (1, 1, 1), 'groups': 1}),
    ('Conv3d_pad_same', 'conv3d', (2, 3, 6, 5, 4), (4, 3, 2, 3, 4), True, {'stride': (1, 1, 1), 'padding': 'same', 'dilation': (1, 1, 1), 'groups': 1}),
    ('Conv3d_pad_same_dilated', 'conv3d', (2, 3, 6, 5, 4), (4, 3, 2, 3, 4), True, {'stride': (1, 1, 1), 'padding': 'same', 'dilation': (2, 2, 2), 'groups': 1}),
    ('ConvTranspose3d', 'conv_transpose3d', (1, 2, 4, 5, 4), (2, 3, 2, 3, 2), True, {'stride': (1, 1, 1), 'padding': (0, 0, 0), 'dilation': (1, 1, 1), 'groups': 1, 'output_padding': (0, 0, 0)}),
    ('ConvTranspose3d_dilated', 'conv_transpose3d', (1, 2, 4, 5, 4), (2, 3, 2, 3, 2), True, {'stride': (1, 1, 1), 'padding': (0, 0, 0), 'dilation': (2, 2, 2), 'groups': 1, 'output_padding': (0, 0, 0)}),
    ('Conv1d_zeros_stride2_pad2', 'conv1d', (2, 2, 4), (3, 2, 3), True, {'stride': (2,), 'padding': (1,), 'dilation': (1,), 'groups': 1}),
    ('Conv2d_zeros_stride2_pad2', 'conv2d', (2, 2, 4, 4), (3, 2, 3, 3), True, {'stride': (2, 2), 'padding': (1, 2), 'dilation': (1, 1), 'groups': 1}),
    ('Conv3d_zeros_stride2_pad2', 'conv3d', (2, 2, 4, 4, 4), (3, 2, 3, 3, 3), True, {'stride': (2, 2, 2), 'padding': (1, 2, 3), 'dilation': (1, 1, 1), 'groups': 1}),
]

# common_modules.py, module_inputs_torch_nn_ConvNd: kernel 3, C_in 4, C_out 5, input (2, 4, 3, 4, 5)[:N + 2]
# with and without batch; padding {} and {"padding": "same"} (the latter not for transposed layers).
COMMON_MODULES = [
    (f"conv{'_transpose' if transposed else ''}{n}d", (2, 4) + tuple(i + 3 for i in range(n)),
     ((4, 5) if transposed else (5, 4)) + (3,) * n, (5,), kwargs)
    for n in (1, 2, 3) for transposed in (False, True)
    for kwargs in ([{}] if transposed else [{}, {"padding": "same"}])
]


def _value_cases():
    """Every transcribed configuration, batched as given and (for the OpInfo ones) also unbatched."""
    cases = []
    for source, table in (("opinfo", OPINFO_CONV + OPINFO_CONV_TRANSPOSE), ("modules", COMMON_MODULES)):
        for i, (name, x_shape, w_shape, b_shape, kwargs) in enumerate(table):
            cases.append(pytest.param(name, x_shape, w_shape, b_shape, kwargs, id=f"{source}{i}-{name}"))
            cases.append(pytest.param(name, x_shape[1:], w_shape, b_shape, kwargs,
                                      id=f"{source}{i}-{name}-unbatched"))
    for label, name, x_shape, w_shape, has_bias, kwargs in COMMON_NN:
        b_shape = ((w_shape[1] * kwargs["groups"],) if name.startswith("conv_transpose") else (w_shape[0],)) \
            if has_bias else None
        cases.append(pytest.param(name, x_shape, w_shape, b_shape, kwargs, id=f"nn-{label}"))
    return cases


VALUE_CASES = _value_cases()


# ----------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------
def _tensors(x_shape, w_shape, b_shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind in "iu":
        make = lambda shape: rng.integers(-4, 5, shape).astype(dtype)
    else:
        make = lambda shape: rng.standard_normal(shape).astype(dtype)
    return make(x_shape), make(w_shape), None if b_shape is None else make(b_shape)


def _torch_call(name, x, w, b, kwargs, **extra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # padding="same" with even kernels copies the input
        return getattr(F, name)(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(w)),
                                None if b is None else torch.from_numpy(b), **kwargs, **extra)


def _close(ours, expected, dtype):
    expected = np.asarray(expected)
    assert ours.shape == expected.shape
    scale = max(float(np.abs(expected.astype(np.float64)).max(initial=0.0)), 1.0)
    tolerance = {np.float64: 1e-12, np.float32: 1e-5, np.float16: 2e-3}[np.dtype(dtype).type]
    np.testing.assert_allclose(ours.astype(np.float64), expected.astype(np.float64), rtol=0,
                               atol=tolerance * scale)


# ----------------------------------------------------------------------------------------------------
# values, dtypes, layouts
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, x_shape, w_shape, b_shape, kwargs", VALUE_CASES)
def test_values_and_dtype_match_torch(name, x_shape, w_shape, b_shape, kwargs, dtype):
    x, w, b = _tensors(x_shape, w_shape, b_shape, dtype)
    expected = _torch_call(name, x, w, b, kwargs).numpy()
    ours = getattr(dk, name)(x, w, b, **kwargs)
    assert ours.dtype == expected.dtype
    _close(ours, expected, dtype)


@pytest.mark.parametrize("name, x_shape, w_shape, b_shape, kwargs", VALUE_CASES[::3])
def test_layouts_give_identical_results(name, x_shape, w_shape, b_shape, kwargs):
    """Non-contiguous input (every other element of a larger array), channels-last memory, an expanded
    (zero-stride) weight and a reversed-stride bias give exactly the contiguous result."""
    x, w, b = _tensors(x_shape, w_shape, b_shape, np.float64, seed=1)
    reference = getattr(dk, name)(x, w, b, **kwargs)
    function = getattr(dk, name)
    strided = np.zeros(x.shape[:-1] + (2 * x.shape[-1],))[..., ::2]
    strided[...] = x
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(function(strided, w, b, **kwargs), reference)
    channels_last = np.ascontiguousarray(np.moveaxis(x, -len(w_shape) + 1, -1))
    channels_last = np.moveaxis(channels_last, -1, -len(w_shape) + 1)
    np.testing.assert_array_equal(function(channels_last, w, b, **kwargs), reference)
    expanded = np.broadcast_to(w[:1], w.shape)
    np.testing.assert_allclose(function(x, expanded, b, **kwargs),
                               function(x, np.ascontiguousarray(expanded), b, **kwargs), rtol=0, atol=0)
    if b is not None:
        np.testing.assert_array_equal(function(x, w, b[::-1].copy()[::-1], **kwargs), reference)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float16])
@pytest.mark.parametrize("name, x_shape, w_shape, b_shape, kwargs",
                         [c for c in VALUE_CASES if "opinfo" in c.id])
def test_integer_and_half_dtypes_match_torch(name, x_shape, w_shape, b_shape, kwargs, dtype):
    """torch's CPU kernels keep integer and float16 dtypes; so does deconvkit (integers exactly)."""
    x, w, b = _tensors(x_shape, w_shape, b_shape, dtype)
    try:
        expected = _torch_call(name, x, w, b, kwargs).numpy()
    except (RuntimeError, NotImplementedError) as error:   # pragma: no cover - depends on the torch build
        pytest.skip(f"torch has no {np.dtype(dtype)} kernel here: {error}")
    ours = getattr(dk, name)(x, w, b, **kwargs)
    assert ours.dtype == expected.dtype == dtype
    if np.dtype(dtype).kind == "i":
        np.testing.assert_array_equal(ours, expected)
    else:
        _close(ours, expected, dtype)


# ----------------------------------------------------------------------------------------------------
# autograd and conv_matrix
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, x_shape, w_shape, b_shape, kwargs", VALUE_CASES)
def test_input_gradient_is_the_adjoint(name, x_shape, w_shape, b_shape, kwargs):
    x, w, b = _tensors(x_shape, w_shape, b_shape, np.float64, seed=2)
    x_t = torch.from_numpy(x).requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        y_t = getattr(F, name)(x_t, torch.from_numpy(w), None if b is None else torch.from_numpy(b), **kwargs)
    upstream = np.random.default_rng(3).standard_normal(tuple(y_t.shape))
    y_t.backward(torch.from_numpy(upstream))
    args = {k: v for k, v in kwargs.items() if k != "output_padding"}
    if name.startswith("conv_transpose"):
        # the transposed convolution's adjoint is the convolution with the same arguments
        # (cropped to the input: with output_padding >= stride the convolution of the output is longer)
        ndim = len(w_shape) - 2
        ours = getattr(dk, f"conv{ndim}d")(upstream, w, **args)
        ours = ours[(Ellipsis, *(slice(0, n) for n in x_shape[-ndim:]))]
    else:
        op = ConvOperator(x_shape, w, stride=args.get("stride", 1), padding=args.get("padding", 0),
                          dilation=args.get("dilation", 1), groups=args.get("groups", 1))
        ours = op.adjoint(upstream)
    _close(ours, x_t.grad.numpy(), np.float64)


@pytest.mark.parametrize("name, x_shape, w_shape, b_shape, kwargs", VALUE_CASES)
def test_conv_matrix_reproduces_the_operator(name, x_shape, w_shape, b_shape, kwargs):
    x, w, _ = _tensors(x_shape, w_shape, None, np.float64, seed=4)
    if 0 in x_shape:
        pytest.skip("conv_matrix needs a non-empty input shape")
    args = {k: v for k, v in kwargs.items() if k != "output_padding"}
    if name.startswith("conv_transpose"):
        out = getattr(dk, name)(x, w, **kwargs)
        ndim = len(w_shape) - 2
        # C^T for the convolution of an input of the transposed convolution's output shape
        try:
            matrix = conv_matrix(out.shape, w, **args)
        except ConvolutionError:
            pytest.skip("no convolution maps this output shape back onto the input (output_padding >= stride)")
        if matrix.shape[0] != x.size:
            pytest.skip("output_padding >= stride: the convolution of the output has another size")
        np.testing.assert_allclose(matrix.T @ x.ravel(), out.ravel(), atol=1e-12 * max(1, np.abs(out).max()))
        assert ndim in (1, 2, 3)
    else:
        expected = _torch_call(name, x, w, None, kwargs).numpy()
        matrix = conv_matrix(x_shape, w, **args)
        np.testing.assert_allclose((matrix @ x.ravel()).reshape(expected.shape), expected,
                                   atol=1e-12 * max(1, np.abs(expected).max()))


# ----------------------------------------------------------------------------------------------------
# errors: common_methods_invocations.py, error_inputs_conv1d / 2d / 3d
# (function, input shape, input dtype, weight shape, weight dtype, bias shape, bias dtype, kwargs, regex)
# ----------------------------------------------------------------------------------------------------
f64, i64, c128 = np.float64, np.int64, np.complex128
OPINFO_ERRORS = [
    ("conv1d", (1, 1, 4), i64, (1, 1, 2), i64, (1,), f64, {}, "should be the same"),
    ("conv1d", (1, 1, 4), f64, (1, 1, 2), f64, (1,), c128, {}, "should be the same"),
    ("conv1d", (1, 1, 4), f64, (1, 2, 2), f64, (1,), f64, dict(stride=(-1,)), "non-positive stride is not supported"),
    ("conv1d", (1, 1, 4), f64, (1, 2, 2), f64, (1,), f64, dict(padding=(-1,)), "negative padding is not supported"),
    ("conv1d", (1, 1, 4), f64, (1, 1, 2), f64, (1,), f64, dict(dilation=(-1,)),
     "dilation should be greater than zero"),
    ("conv1d", (1, 1, 4), f64, (1, 2), f64, (1,), f64, {}, "weight should have at least three dimensions"),
    ("conv1d", (2, 2, 4), f64, (2, 2, 2), f64, (2,), f64, dict(padding="same", groups=3),
     "expected weight to be at least 3 at dimension 0"),
    ("conv1d", (2, 2, 4), f64, (2, 2, 2), f64, (2,), f64, dict(groups=3),
     "expected weight to be at least 3 at dimension 0"),
    ("conv1d", (2, 2, 4), f64, (2, 2, 2), f64, (2,), f64, dict(padding="same", groups=-1),
     "non-positive groups is not supported"),
    ("conv1d", (2, 2, 4), f64, (2, 2, 2), f64, (2,), f64, dict(padding="same", groups=0),
     "non-positive groups is not supported"),
    ("conv2d", (2, 4, 4), i64, (3, 2, 3, 3), i64, (3,), f64, {}, "should be the same"),
    ("conv2d", (2, 4, 4), f64, (3, 2, 3, 3), f64, (3,), c128, {}, "should be the same"),
    ("conv2d", (1, 1, 4, 4), f64, (1, 2, 2, 3), f64, (1,), f64, dict(stride=(-1,)),
     "non-positive stride is not supported"),
    ("conv2d", (1, 1, 4, 3), f64, (1, 2, 2, 4), f64, (1,), f64, dict(padding=(-1,)),
     "negative padding is not supported"),
    ("conv2d", (1, 1, 4, 2), f64, (1, 1, 2, 5), f64, (1,), f64, dict(dilation=(-1,)),
     "dilation should be greater than zero"),
    ("conv2d", (1, 1, 4, 3), f64, (1, 2, 2), f64, (1,), f64, dict(padding="same"),
     "Expected 3-dimensional input for 3-dimensional weight"),
    ("conv2d", (2, 2, 4, 3), f64, (2, 2, 1, 3), f64, (2,), f64, dict(groups=3),
     "expected weight to be at least 3 at dimension 0"),
    ("conv2d", (2, 2, 4, 3), f64, (2, 2, 1, 3), f64, (2,), f64, dict(padding="same", groups=3),
     "expected weight to be at least 3 at dimension 0"),
    ("conv2d", (2, 2, 4, 5), f64, (2, 2, 1, 4), f64, (2,), f64, dict(padding="same", groups=-1),
     "non-positive groups is not supported"),
    ("conv2d", (2, 2, 4, 3), f64, (2, 2, 4, 3), f64, (2,), f64, dict(padding="same", groups=0),
     "non-positive groups is not supported"),
    ("conv3d", (1, 1, 4, 4, 4), i64, (1, 1, 2, 2, 2), i64, (1,), f64, {}, "should be the same"),
    ("conv3d", (1, 1, 4, 4, 4), f64, (1, 1, 2, 2, 2), f64, (1,), c128, {}, "should be the same"),
    ("conv3d", (1, 1, 4, 4, 4), f64, (1, 1, 2, 2, 2), f64, (1,), f64, dict(stride=(-1,)),
     "non-positive stride is not supported"),
    ("conv3d", (1, 1, 4, 4, 4), f64, (1, 1, 2, 2, 2), f64, (1,), f64, dict(padding=(-1,)),
     "negative padding is not supported"),
    ("conv3d", (1, 1, 4, 4, 4), f64, (1, 1, 2, 2, 2), f64, (1,), f64, dict(dilation=(-1,)),
     "dilation should be greater than zero"),
    ("conv3d", (1, 1, 3, 4, 5), f64, (1, 1, 4, 3), f64, (1,), f64, dict(padding="same"),
     "Expected 4-dimensional input for 4-dimensional weight"),
    ("conv3d", (2, 2, 3, 4, 5), f64, (2, 2, 4, 3, 3), f64, (2,), f64, dict(groups=3),
     "expected weight to be at least 3 at dimension 0"),
    ("conv3d", (2, 2, 3, 4, 5), f64, (2, 2, 4, 3, 3), f64, (2,), f64, dict(padding="same", groups=3),
     "expected weight to be at least 3 at dimension 0"),
    ("conv3d", (2, 2, 3, 4, 5), f64, (2, 2, 4, 3, 3), f64, (2,), f64, dict(padding="same", groups=0),
     "non-positive groups is not supported"),
    ("conv3d", (18, 27, 9, 1, 9), f64, (9, 9, 9, 1, 9), f64, (9,), f64, dict(stride=2, padding="same", groups=3),
     "padding='same' is not supported for strided convolutions"),
]

# test/nn/test_convolution.py (same columns; regex None: the test only asserts RuntimeError)
f32 = np.float32
TEST_CONVOLUTION_ERRORS = [
    # test_invalid_conv1d
    ("conv1d", (1, 3, 4), f32, (33, 3, 10), f32, (33,), f32, {},
     r"Calculated padded input size per channel: \(4\). Kernel size: \(10\). Kernel size can\'t be greater "
     r"than actual input size"),
    ("conv1d", (1, 3, 4), f32, (6, 3, 3), f32, (6,), f32, dict(stride=-1), "non-positive stride is not supported"),
    # test_invalid_conv2d
    ("conv2d", (1, 1, 4, 4), f32, (1, 1, 3, 3), f32, (1,), f32, dict(dilation=2, stride=2), None),
    ("conv2d", (1, 3, 1, 1), f32, (33, 3, 10, 10), f32, (33,), f32, {},
     r"Calculated padded input size per channel: \(1 x 1\). Kernel size: \(10 x 10\). Kernel size can\'t be "
     r"greater than actual input size"),
    ("conv2d", (1, 3, 4, 4), f32, (6, 3, 4, 4), f32, (6,), f32, dict(stride=-1), "non-positive stride is not supported"),
    ("conv2d", (1, 3, 4, 4), f32, (6, 3, 4, 4), f32, (6,), f32, dict(stride=0), "non-positive stride is not supported"),
    # test_invalid_conv3d
    ("conv3d", (1, 1, 4, 4, 4), f32, (1, 1, 3, 3, 3), f32, (1,), f32, dict(dilation=2, stride=2), None),
    ("conv3d", (1, 1, 4, 4, 4), f32, (1, 1, 3, 3, 3), f32, (1,), f32, dict(stride=-2),
     "non-positive stride is not supported"),
    # test_mismatch_shape_conv2d
    ("conv2d", (1, 10, 1, 28, 28), f32, (6, 1, 5, 5), f32, None, None, {},
     r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got input of size: \[1, 10, 1, 28, 28\]"),
    # test_Conv2d_inconsistent_types
    # (torch words it "expected scalar type Float but found Double" or, on its oneDNN path, "Input type
    # (torch.FloatTensor) and weight type (torch.DoubleTensor) should be the same ..."; both name the dtypes)
    ("conv2d", (4, 1, 7, 7), f32, (1, 1, 3, 3), f64, None, None, {}, r"Float.*Double"),
    # test_conv_empty_channel: Conv1d(0, 8, 2, stride=2) / Conv2d(0, 33, 3, stride=2) on one input channel
    ("conv1d", (2, 1, 0), f32, (8, 0, 2), f32, (8,), f32, dict(stride=2), "Given groups=1, weight"),
    ("conv2d", (2, 1, 40, 0), f32, (33, 0, 3, 3), f32, (33,), f32, dict(stride=2), "Given groups=1, weight"),
    # test_conv_shapecheck (should_raise=True), batch 3
    ("conv1d", (3, 1, 2), f32, (1, 1, 3), f32, (1,), f32, {}, None),
    ("conv1d", (3, 1, 2), f32, (1, 1, 3), f32, (1,), f32, dict(stride=2), None),
    ("conv2d", (3, 1, 2, 2), f32, (1, 1, 3, 3), f32, (1,), f32, {}, None),
    ("conv3d", (3, 1, 2, 2, 2), f32, (1, 1, 3, 3, 3), f32, (1,), f32, {}, None),
] + [
    # test_conv_modules_raise_error_on_incorrect_input_size: Conv*(3, 8, 3) / ConvTranspose*(3, 8, 3) on
    # inputs of shape (3,) * dims for the invalid dims
    (name, (3,) * dims, f32, w_shape, f32, None, None, {}, None)
    for name, w_shape, bad in [("conv1d", (8, 3, 3), (1, 4)), ("conv_transpose1d", (3, 8, 3), (1, 4)),
                               ("conv2d", (8, 3, 3, 3), (2, 5)), ("conv_transpose2d", (3, 8, 3, 3), (2, 5)),
                               ("conv3d", (8, 3, 3, 3, 3), (3, 6)), ("conv_transpose3d", (3, 8, 3, 3, 3), (3, 6))]
    for dims in bad
]

# The cases of issue 17 (found by an earlier run of this comparison), with torch's message as the regex.
ISSUE_ERRORS = [
    ("conv_transpose1d", (2, 0, 7), f64, (0, 4, 3), f64, None, None, {},
     r"^Given groups=1, expected weight to be at least 1 at dimension 0, but got weight of size \[0, 4, 3\] "
     r"instead$"),
    ("conv2d", (1, 3, 7, 7), f32, (4, 3, 3, 3), f64, None, None, {}, r"^expected scalar type Float but found Double$"),
    ("conv2d", (1, 3, 7, 7), f32, (4, 3, 3, 3), f32, (4,), f64, {},
     r"^Input type \(float\) and bias type \(double\) should be the same$"),
    ("conv2d", (1, 3, 7, 7), f32, (4, 2, 3, 3), f32, None, None, dict(stride=-1),
     r"^non-positive stride is not supported$"),
    ("conv_transpose2d", (1, 3, 7, 7), f32, (2, 2, 3, 3), f32, None, None, dict(stride=-1),
     r"^non-positive stride is not supported$"),
    ("conv2d", (1, 3, 7, 7), f32, (4, 1, 3, 3), f32, None, None, dict(groups=3),
     r"^Given groups=3, expected weight to be divisible by 3 at dimension 0, but got weight of size "
     r"\[\[4, 1, 3, 3\]\] instead$"),
    ("conv1d", (2, 2, 4), f32, (2, 2, 2), f32, None, None, dict(groups=3),
     r"^Given groups=3, expected weight to be at least 3 at dimension 0, but got weight of size \[2, 2, 2\] "
     r"instead$"),
    ("conv1d", (1, 3, 7), f32, (4, 3), f32, None, None, {}, r"^weight should have at least three dimensions$"),
    ("conv1d", (1, 3, 7), f32, (4, 3, 3, 3), f32, None, None, {},
     r"^Expected 4-dimensional input for 4-dimensional weight \[4, 3, 3, 3\], but got 3-dimensional input of "
     r"size \[1, 3, 7\] instead$"),
    ("conv2d", (1, 1, 4, 3), f32, (1, 2, 2), f32, None, None, {},
     r"^expected stride to be a single integer value or a list of 1 values to match the convolution "
     r"dimensions, but got stride=\[1, 1\]$"),
    ("conv2d", (1, 3, 7, 7), f32, (4, 3, 3, 3), f32, (4,), np.complex64, {},
     r"^Input type \(float\) and bias type \(c10::complex<float>\) should be the same$"),
    ("conv_transpose2d", (1, 2, 0, 4), f64, (2, 3, 2, 2), f64, None, None, {},
     r"^Only zero batch or zero channel inputs are supported, but got input shape: \[1, 2, 0, 4\]$"),
    ("conv_transpose1d", (1, 2, 4), f64, (2, 0, 2), f64, None, None, {},
     r"^non-empty 2D or 4D weight tensor expected, but got: \[2, 0, 1, 2\]$"),
    ("conv2d", (1, 2, 4, 4), f32, (2, 2, 2, 2), f32, None, None, dict(dilation=0),
     r"^dilation should be greater than zero, but got \[0, 0\]$"),
    ("conv2d", (1, 2, 4, 4), f32, (2, 2, 3, 3), f32, None, None, dict(padding="same", stride=(1, 1, 1)),
     r"^stride cannot broadcast to 2 dimensions$"),
    ("conv2d", (1, 2, 4, 4), f32, (2, 2, 3, 3), f32, None, None, dict(padding=(1, 1, 1)),
     r"^expected padding to be a single integer value or a list of 2 values to match the convolution "
     r"dimensions, but got padding=\[1, 1, 1\]$"),
]


def _error_cases():
    cases = []
    for label, table in (("opinfo", OPINFO_ERRORS), ("test_convolution", TEST_CONVOLUTION_ERRORS),
                         ("issue17", ISSUE_ERRORS)):
        for i, row in enumerate(table):
            cases.append(pytest.param(*row, id=f"{label}{i}-{row[0]}"))
    return cases


@pytest.mark.parametrize("name, x_shape, x_dtype, w_shape, w_dtype, b_shape, b_dtype, kwargs, regex", _error_cases())
def test_errors_match_torch(name, x_shape, x_dtype, w_shape, w_dtype, b_shape, b_dtype, kwargs, regex):
    x = np.ones(x_shape, x_dtype)
    w = np.ones(w_shape, w_dtype)
    b = None if b_shape is None else np.ones(b_shape, b_dtype)
    with pytest.raises(Exception) as torch_error:
        _torch_call(name, x, w, b, kwargs)
    with pytest.raises(type(torch_error.value)) as our_error:
        getattr(dk, name)(x, w, b, **kwargs)
    assert isinstance(our_error.value, DeconvkitError)   # the CLI reports it as one line
    if regex is not None:
        assert re.search(regex, str(torch_error.value).splitlines()[0]), "transcribed regex no longer matches torch"
        assert re.search(regex, str(our_error.value)), str(our_error.value)
    else:
        # no regex in torch's test: the first line of torch's own message is reproduced
        assert str(our_error.value) == str(torch_error.value).splitlines()[0]


# ----------------------------------------------------------------------------------------------------
# test/nn/test_convolution.py: special cases with values
# ----------------------------------------------------------------------------------------------------
def test_conv2d_discontiguous_weight():
    """test_conv2d_discontiguous_weight (pytorch issue 55781): a [:, :, :, ::2] weight view."""
    x = np.ones((64, 16, 16, 16), np.float32)
    weight = np.arange(0, 1.0, 1 / 2.0**10, dtype=np.float32).reshape(32, 16, 1, 2)[:, :, :, ::2]
    assert not weight.flags.c_contiguous
    assert dk.conv2d(x, weight).sum(dtype=np.float64) == 4186112.0


@pytest.mark.parametrize("shape, kernel, dilation", [
    ((1, 1, 20), (10,), 1), ((1, 1, 20), (10,), 2),                                   # test_Conv1d_module_same_padding
    ((1, 1, 9, 20), (5, 10), 1), ((1, 1, 9, 20), (3, 4), (1, 2)),                     # test_Conv2d_module_same_padding
    ((1, 1, 4, 4, 4), (2, 3, 4), 1), ((1, 1, 4, 4, 4), (2, 3, 4), (3, 2, 1)),         # test_Conv3d_module_same_padding
])
def test_same_padding_modules(shape, kernel, dilation):
    x, w, b = _tensors(shape, (1, 1) + kernel, (1,), np.float32, seed=5)
    name = f"conv{len(kernel)}d"
    expected = _torch_call(name, x, w, b, dict(padding="same", dilation=dilation)).numpy()
    ours = getattr(dk, name)(x, w, b, padding="same", dilation=dilation)
    assert ours.shape == x.shape
    _close(ours, expected, np.float32)


def test_conv_transpose2d_output_size():
    """test_ConvTranspose2d_output_size: ConvTranspose2d(3, 4, 3, 3, 0, 2) on (2, 3, 6, 6)."""
    x, w, b = _tensors((2, 3, 6, 6), (3, 4, 3, 3), (4,), np.float32, seed=6)
    layer = torch.nn.ConvTranspose2d(3, 4, 3, 3, 0, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w))
        layer.bias.copy_(torch.from_numpy(b))
    for h, w_ in itertools.product(range(15, 22), repeat=2):
        if 18 <= h <= 20 and 18 <= w_ <= 20:
            out = dk.conv_transpose2d(x, w, b, stride=3, output_padding=2, output_size=(h, w_))
            assert out.shape[2:] == (h, w_)
            with torch.no_grad():
                _close(out, layer(torch.from_numpy(x), output_size=(h, w_)).numpy(), np.float32)
        else:
            with pytest.raises(ValueError):
                dk.conv_transpose2d(x, w, b, stride=3, output_padding=2, output_size=(h, w_))


def test_conv_transpose2d_output_size_downsample_upsample():
    """test_ConvTranspose2d_output_size_downsample_upsample: conv then transposed conv with
    output_size=input shape restores the shape (a subset of the sizes; every k, d, s, p of the test)."""
    for h, w, k, d, s, p in itertools.product((13, 18, 23), (13, 16), range(2, 5), range(1, 5), range(1, 4),
                                               range(3)):
        down = dk.output_shape((h, w), k, s, p, d)
        padding = dk.output_padding_for(down, (2, 3, h, w), k, s, p, d)
        assert dk.output_shape(down, k, s, p, d, transposed=True, output_padding=padding) == (h, w)
    x, wd, _ = _tensors((2, 3, 13, 16), (2, 3, 3, 3), None, np.float64, seed=7)
    wu = np.random.default_rng(8).standard_normal((2, 3, 3, 3))
    y = dk.conv2d(x, wd, stride=2, padding=1, dilation=2)
    out = dk.conv_transpose2d(y, wu, stride=2, padding=1, dilation=2, output_size=x.shape)
    conv = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, dilation=2, bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(wu))
        expected = conv(torch.from_numpy(y), output_size=x.shape).numpy()
    assert out.shape == x.shape
    _close(out, expected, np.float64)


@pytest.mark.parametrize("x_shape, output_size", [
    ((1, 15, 13), (1, 240, 200)),
    pytest.param((1, 15, 13, 13), (1, 240, 200, 200), marks=pytest.mark.slow)])
def test_conv_transpose_with_output_size_and_no_batch_dim(x_shape, output_size):
    """test_conv_transpose_with_output_size_and_no_batch_dim: ConvTransposeNd(1, 1, 16, stride=16, padding=7)."""
    ndim = len(x_shape) - 1
    x, w, _ = _tensors(x_shape, (1, 1) + (16,) * ndim, None, np.float32, seed=9)
    out = getattr(dk, f"conv_transpose{ndim}d")(x, w, stride=16, padding=7, output_size=output_size)
    assert out.shape == output_size
    layer = getattr(torch.nn, f"ConvTranspose{ndim}d")(1, 1, 16, stride=16, padding=7, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w))
        _close(out, layer(torch.from_numpy(x), output_size=output_size).numpy(), np.float32)


def test_conv_transpose3d_correct_output_size():
    """test_ConvTranspose3d_correct_output_size: a 5-D output_size."""
    out = dk.conv_transpose3d(np.ones((1, 2, 1, 1, 1)), np.ones((2, 2, 2, 2, 2)), output_size=(1, 2, 2, 2, 2))
    assert out.shape == (1, 2, 2, 2, 2)


@pytest.mark.parametrize("x_shape, w_shape, groups", [
    ((2, 4, 6, 6), (4, 2, 3, 3), 2),          # test_Conv2d_groups_nobias
    ((2, 4, 6, 6), (16, 2, 3, 3), 2),         # test_Conv2d_groups_nobias_v2
    ((2, 4, 6, 6, 6), (16, 2, 3, 3, 3), 2),   # test_Conv3d_groups_nobias / _wbias
])
def test_grouped_convolution_is_the_concatenation_of_its_groups(x_shape, w_shape, groups):
    x, w, b = _tensors(x_shape, w_shape, (w_shape[0],), np.float32, seed=10)
    name = f"conv{len(w_shape) - 2}d"
    ours = getattr(dk, name)(x, w, b, groups=groups)
    half_in, half_out = x_shape[1] // 2, w_shape[0] // 2
    parts = [getattr(dk, name)(x[:, i * half_in:(i + 1) * half_in], w[i * half_out:(i + 1) * half_out],
                               b[i * half_out:(i + 1) * half_out]) for i in range(2)]
    np.testing.assert_allclose(ours, np.concatenate(parts, axis=1), atol=1e-5)
    _close(ours, _torch_call(name, x, w, b, dict(groups=groups)).numpy(), np.float32)


@pytest.mark.parametrize("ndim", [1, 2, pytest.param(3, marks=pytest.mark.slow)])
def test_grad_conv_input(ndim):
    """run_grad_conv_test (test_grad_conv{1,2,3}d_input): torch autograd's input gradient against
    deconvkit's transposed convolution with the adjoint output_padding."""
    for (k, size), batch, stride, padding, has_bias in itertools.product(
            [(3, 6), (3, 7), (4, 9)], [1, 2], [1, 2], [0, 1, 2], [True, False]):
        x, w, b = _tensors((batch, 2) + (size,) * ndim, (3, 2) + (k,) * ndim, (3,) if has_bias else None,
                           np.float64, seed=k * size + stride)
        x_t = torch.from_numpy(x).requires_grad_(True)
        y_t = getattr(F, f"conv{ndim}d")(x_t, torch.from_numpy(w), None if b is None else torch.from_numpy(b),
                                         stride=stride, padding=padding)
        upstream = np.random.default_rng(padding).standard_normal(tuple(y_t.shape))
        y_t.backward(torch.from_numpy(upstream))
        a = dk.adjoint_output_padding((size,) * ndim, k, stride, padding)
        ours = dk.conv_transpose(upstream, w, stride=stride, padding=padding, output_padding=a)
        _close(ours, x_t.grad.numpy(), np.float64)


@pytest.mark.parametrize("name, x_shape, w_shape", [
    ("conv1d", (2, 0, 15), (8, 0, 2)), ("conv2d", (2, 0, 50, 100), (33, 0, 3, 3)),
    ("conv3d", (2, 0, 50, 20, 40), (33, 0, 3, 3, 3))])
def test_conv_empty_channel(name, x_shape, w_shape):
    """test_conv_empty_channel: zero input channels give zero output channels (torch's shape exactly)."""
    x, w, b = _tensors(x_shape, w_shape, (w_shape[0],), np.float32)
    expected = _torch_call(name, x, w, b, dict(stride=2))
    ours = getattr(dk, name)(x, w, b, stride=2)
    assert ours.shape == tuple(expected.shape) and ours.dtype == np.float32


# ----------------------------------------------------------------------------------------------------
# deliberate differences (docs/transposed.md, "Differences from PyTorch")
# ----------------------------------------------------------------------------------------------------
def _outcome(function):
    try:
        result = function()
    except Exception as error:
        return type(error), str(error).splitlines()[0]
    return "ok", np.asarray(result).dtype


DELIBERATE_DIFFERENCES = [
    # (label, function name, x (shape, dtype), w (shape, dtype), bias (shape, dtype) or None, kwargs,
    #  deconvkit's documented outcome: an exception type or the output dtype)
    ("complex tensors are refused (deconvkit is real-valued)", "conv2d", ((1, 2, 4, 4), np.complex128),
     ((2, 2, 3, 3), np.complex128), None, {}, TypeError),
    ("bool tensors are refused (torch: NotImplementedError)", "conv2d", ((1, 2, 4, 4), np.bool_),
     ((2, 2, 3, 3), np.bool_), None, {}, TypeError),
    ("an integer input is promoted to a floating weight's dtype (images are uint8)", "conv2d",
     ((1, 2, 4, 4), np.uint8), ((2, 2, 3, 3), np.float64), None, {}, np.float64),
    ("a transposed convolution's bias must have the input's dtype (torch's oneDNN path casts it)",
     "conv_transpose2d", ((1, 3, 7, 7), np.float32), ((3, 4, 3, 3), np.float32), ((4,), np.float64), {},
     RuntimeError),
    ("an empty input still gets the dtype checks (torch skips them)", "conv2d", ((0, 2, 4, 4), np.float32),
     ((4, 2, 2, 2), np.float64), None, {}, RuntimeError),
    ("an empty input still gets the argument checks (torch skips them)", "conv_transpose2d",
     ((0, 2, 4, 4), np.float32), ((2, 2, 2, 2), np.float32), None, dict(output_padding=1), RuntimeError),
]


@pytest.mark.parametrize("label, name, x_spec, w_spec, b_spec, kwargs, ours_expected", DELIBERATE_DIFFERENCES,
                         ids=[row[0][:40] for row in DELIBERATE_DIFFERENCES])
def test_deliberate_differences(label, name, x_spec, w_spec, b_spec, kwargs, ours_expected):
    x = np.ones(*x_spec)
    w = np.ones(*w_spec)
    b = None if b_spec is None else np.ones(*b_spec)
    ours = _outcome(lambda: getattr(dk, name)(x, w, b, **kwargs))
    theirs = _outcome(lambda: _torch_call(name, x, w, b, kwargs))
    if isinstance(ours_expected, type) and issubclass(ours_expected, Exception):
        assert issubclass(ours[0], ours_expected) and issubclass(ours[0], DeconvkitError)
    else:
        assert ours == ("ok", np.dtype(ours_expected))
    assert ours[0] is not theirs[0] or ours[1] != theirs[1], "torch now agrees: drop the difference"
