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


# --- operator algebra: sum, scaling, composition ------------------------------------------------------
@pytest.mark.parametrize("case", ["sum", "difference", "scaled", "negated", "composed", "normal"])
def test_operator_algebra_matches_dense_matrices_and_passes_the_dot_test(rng, case):
    shape = (6, 5)
    a = PeriodicConvolution(rng.random((3, 3)), shape)
    b = PeriodicConvolution(rng.random((2, 3)), shape)
    grad = Gradient(shape)
    crop = Crop(shape, (4, 3), (1, 1))
    dense_a, dense_b = a.todense(), b.todense()
    op, expected = {
        "sum": (lambda: (a + b, dense_a + dense_b)),
        "difference": (lambda: (a - b, dense_a - dense_b)),
        "scaled": (lambda: (2.5 * a, 2.5 * dense_a)),
        "negated": (lambda: (-(a * 0.5), -0.5 * dense_a)),
        "composed": (lambda: (crop @ b @ a, crop.todense() @ dense_b @ dense_a)),
        # a normal operator as solvers build it: A^T A + lam D^T D
        "normal": (lambda: (a.T @ a + 0.3 * (grad.T @ grad),
                            dense_a.T @ dense_a + 0.3 * grad.todense().T @ grad.todense())),
    }[case]()
    np.testing.assert_allclose(op.todense(), expected, atol=1e-12)
    dottest(op, rng=rng)
    dottest(op, rng=rng, batch=(2,))


def test_operator_algebra_rejects_mismatched_shapes_and_non_real_scales():
    with pytest.raises(DeconvkitError, match="cannot add"):
        Gradient((4, 4)) + Crop((4, 4), (2, 2), (0, 0))
    with pytest.raises(TypeError):
        (1j) * Gradient((4, 4))
    with pytest.raises(TypeError):
        Gradient((4, 4)) + 1.0


# --- the Fourier-diagonal solve -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weight,shift", [(1.0, 0.0), (3.0, 0.7)])
def test_solve_normal_matches_a_dense_solve(rng, dtype, weight, shift):
    shape = (6, 7)
    psf = rng.random((3, 4))
    blur = PeriodicConvolution(psf / psf.sum(), shape, dtype)
    grad = Gradient(shape, dtype)
    lam = 0.05
    y = rng.standard_normal(shape)
    # independent reference: dense matrices of K and D, and np.linalg.solve
    k = PeriodicConvolution(psf / psf.sum(), shape).todense()
    d = Gradient(shape).todense()
    normal = weight * k.T @ k + lam * d.T @ d + shift * np.eye(k.shape[1])
    reference_inverse = np.linalg.solve(normal, k.T @ y.ravel()).reshape(shape)
    reference_plain = np.linalg.solve(normal, y.ravel()).reshape(shape)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    scale = np.abs(reference_inverse).max()
    got = blur.solve_normal(y.astype(dtype), grad.transfer_abs2(dtype), lam, weight=weight, shift=shift,
                            back_project=True)
    np.testing.assert_allclose(got, reference_inverse, atol=tol * scale)
    got = blur.solve_normal(y.astype(dtype), grad.transfer_abs2(dtype), lam, weight=weight, shift=shift)
    np.testing.assert_allclose(got, reference_plain, atol=tol * np.abs(reference_plain).max())
    # spectral in/out is the same solve, and a leading channel axis passes through
    stacked = np.stack([y, 2 * y]).astype(dtype)
    spectrum = blur.solve_normal(blur.to_spectrum(stacked), grad.transfer_abs2(dtype), lam, weight=weight,
                                 shift=shift, spectral_in=True, spectral_out=True)
    np.testing.assert_allclose(blur.from_spectrum(spectrum)[1], 2 * reference_plain,
                               atol=2 * tol * np.abs(reference_plain).max())


@pytest.mark.parametrize("symmetric", [True, False])
def test_convolve_hot_loop_form_equals_forward_and_adjoint(rng, symmetric):
    psf = rng.random((3, 3))
    if symmetric:
        psf = psf + psf[::-1, ::-1]
    blur = PeriodicConvolution(psf, (8, 9))
    assert blur.transfer_is_real == symmetric
    x = rng.random((2, 8, 9))
    dense = PeriodicConvolution(psf, (8, 9)).todense()
    for real in ([False, True] if symmetric else [False]):
        np.testing.assert_allclose(blur.convolve(x.copy(), real_transfer=real)[0],
                                   (dense @ x[0].ravel()).reshape(8, 9),
                                   atol=1e-12)
        np.testing.assert_allclose(blur.convolve(x.copy(), adjoint=True, real_transfer=real)[1],
                                   (dense.T @ x[1].ravel()).reshape(8, 9), atol=1e-12)


def test_solve_normal_in_place_path_leaves_inputs_and_dtypes_as_before(rng):
    """The in-place path (own spectrum, same dtype) never touches the caller's arrays; a float64
    regulariser with float32 data keeps the out-of-place promotion (float64 result), as before."""
    shape = (6, 7)
    psf = rng.random((3, 3))
    blur = PeriodicConvolution(psf / psf.sum(), shape, np.float32)
    y = rng.standard_normal((2,) + shape).astype(np.float32)
    kept = y.copy()
    reg32 = Gradient(shape, np.float32).transfer_abs2(np.float32)
    out = blur.solve_normal(y, reg32, 0.1, back_project=True)
    np.testing.assert_array_equal(y, kept)
    assert out.dtype == np.float32
    spectrum = blur.to_spectrum(y)
    spectrum_kept = spectrum.copy()
    from_spectrum = blur.solve_normal(spectrum, reg32, 0.1, back_project=True, spectral_in=True)
    np.testing.assert_array_equal(spectrum, spectrum_kept)
    np.testing.assert_array_equal(from_spectrum, out)
    # numpy reference: conj(H) Y / (|H|^2 + lam R) with a float64 R promotes to float64
    reg64 = Gradient(shape).transfer_abs2(np.float64)
    promoted = blur.solve_normal(y, reg64, 0.1, back_project=True)
    assert promoted.dtype == np.float64
    otf = np.fft.rfft2(np.roll(np.pad(psf / psf.sum(), ((0, 3), (0, 4))), (-1, -1), (0, 1)))
    reference = np.fft.irfft2(np.conj(otf) * np.fft.rfft2(kept.astype(np.float64)) /
                              (np.abs(otf) ** 2 + 0.1 * reg64), s=shape)
    np.testing.assert_allclose(promoted, reference, atol=1e-5)


def test_in_place_adjoint_spectrum_equals_the_product_it_replaces():
    from deconvkit.operators import PeriodicConvolution

    rng = np.random.default_rng(5)
    op = PeriodicConvolution(rng.random((5, 7)), (24, 30), dtype=np.float64)
    spectrum = op.to_spectrum(rng.standard_normal((24, 30)))
    expected = spectrum * np.conj(op.otf)  # written out: the correlation's transfer function
    again = spectrum.copy()
    assert op.adjoint_spectrum(again, in_place=True) is again
    np.testing.assert_array_equal(again, expected)
    np.testing.assert_array_equal(op.adjoint_spectrum(spectrum), expected)
    with pytest.raises(ValueError):
        op.adjoint_spectrum(spectrum, weight=2.0, in_place=True)
