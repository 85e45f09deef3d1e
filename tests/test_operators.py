"""Linear operators: adjointness (dot test), dense matrices and agreement with SciPy's convolutions."""

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal

from deconvkit import DeconvkitError
from deconvkit.operators import BOUNDARIES, Crop, Gradient, Pad, PeriodicConvolution, convolution
from deconvkit.testing import dottest


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("psf_shape,shape", [((3, 3), (12, 10)), ((4, 5), (11, 9)), ((3, 2, 3), (6, 7, 5))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blur_operators_pass_the_dot_test(rng, boundary, psf_shape, shape, dtype):
    op = convolution(rng.random(psf_shape), shape, boundary, dtype)
    dottest(op, rng=rng, dtype=dtype)
    dottest(op, rng=rng, dtype=dtype, batch=(3,))


@pytest.mark.parametrize("operator", [
    lambda: Pad((5, 4), (2, 1), (3, 0), "reflect"),
    lambda: Pad((5, 4), (2, 6), (3, 9), "periodic"),
    lambda: Pad((5, 4), (2, 1), (3, 2), "edge"),
    lambda: Pad((5, 4), (2, 1), (3, 2), "zero"),
    lambda: Crop((7, 6), (3, 4), (2, 1)),
    lambda: Gradient((5, 6)),
    lambda: Gradient((3, 4, 5)),
])
def test_building_blocks_pass_the_dot_test_and_adjoint_is_dense_transpose(rng, operator):
    op = operator()
    dottest(op, rng=rng)
    np.testing.assert_allclose(op.T.todense(), op.todense().T, atol=1e-12)


def test_valid_and_same_match_scipy_signal(rng):
    x = rng.random((21, 17))
    psf = rng.random((5, 3))
    psf /= psf.sum()
    np.testing.assert_allclose(convolution(psf, x.shape, "valid")(x), scipy.signal.convolve(x, psf, "valid"),
                               atol=1e-12)
    np.testing.assert_allclose(convolution(psf, x.shape, "zero")(x), scipy.signal.convolve(x, psf, "same"),
                               atol=1e-12)
    np.testing.assert_allclose(convolution(psf, x.shape, "reflect")(x), ndi.convolve(x, psf, mode="reflect"),
                               atol=1e-12)
    np.testing.assert_allclose(convolution(psf, x.shape, "periodic")(x), ndi.convolve(x, psf, mode="wrap"),
                               atol=1e-12)


def test_dense_matrix_of_valid_blur_matches_brute_force(rng):
    shape, psf = (6, 5), rng.random((3, 2))
    dense = convolution(psf, shape, "valid").todense()
    out_shape = (shape[0] - 2, shape[1] - 1)
    expected = np.zeros((np.prod(out_shape), np.prod(shape)))
    for o in np.ndindex(*out_shape):
        for j in np.ndindex(*psf.shape):
            i = (o[0] + psf.shape[0] - 1 - j[0], o[1] + psf.shape[1] - 1 - j[1])
            expected[np.ravel_multi_index(o, out_shape), np.ravel_multi_index(i, shape)] += psf[j]
    np.testing.assert_allclose(dense, expected, atol=1e-12)


def test_blur_adjoint_is_correlation(rng):
    """A^T of the periodic blur is correlation with the PSF (convolution with the flipped PSF)."""
    psf, y = rng.random((3, 5)), rng.random((10, 11))
    op = PeriodicConvolution(psf, y.shape)
    flipped = psf[::-1, ::-1]
    # flipping moves the centre from k//2 to k-1-k//2; for odd sizes it stays, here both axes are odd
    np.testing.assert_allclose(op.T(y), ndi.convolve(y, flipped, mode="wrap"), atol=1e-12)


def test_shape_errors_are_clear():
    op = convolution(np.ones((3, 3)) / 9, (8, 8), "valid")
    with pytest.raises(DeconvkitError, match="trailing shape"):
        op(np.zeros((7, 8)))
    with pytest.raises(DeconvkitError, match="cannot compose"):
        op @ op
    with pytest.raises(DeconvkitError, match="boundary must be one of"):
        convolution(np.ones((3, 3)), (8, 8), "mirror")
    with pytest.raises(DeconvkitError, match="larger than the image"):
        convolution(np.ones((9, 3)), (8, 8), "valid")
