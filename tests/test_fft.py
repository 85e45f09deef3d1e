"""The FFT/OTF layer against brute-force DFTs and direct convolution sums."""

import numpy as np
import pytest

from deconvkit import DeconvkitError, otf2psf, psf2otf
from deconvkit.fft import fast_shape, psf_to_origin


def brute_force_dft(array):
    """Dense DFT by explicit matrices, independent of any FFT library."""
    out = array.astype(complex)
    for axis, n in enumerate(array.shape):
        k = np.arange(n)
        matrix = np.exp(-2j * np.pi * np.outer(k, k) / n)
        out = np.moveaxis(np.tensordot(matrix, np.moveaxis(out, axis, 0), axes=1), 0, axis)
    return out


@pytest.mark.parametrize("psf_shape,shape", [((3, 3), (8, 8)), ((4, 5), (9, 7)), ((1, 6), (5, 10)),
                                             ((3, 2, 5), (6, 5, 7))])
def test_psf2otf_equals_brute_force_dft_of_centred_padded_psf(rng, psf_shape, shape):
    psf = rng.random(psf_shape)
    # independent construction: place psf[j] at position (j - k//2) mod n
    padded = np.zeros(shape)
    for index in np.ndindex(*psf_shape):
        target = tuple((j - k // 2) % n for j, k, n in zip(index, psf_shape, shape))
        padded[target] += psf[index]
    np.testing.assert_allclose(psf2otf(psf, shape), brute_force_dft(padded), atol=1e-12)


def test_symmetric_psf_has_real_otf():
    psf = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    otf = psf2otf(psf, (10, 12))
    assert np.abs(otf.imag).max() < 1e-12


@pytest.mark.parametrize("psf_shape", [(5, 3), (4, 4), (2, 7)])
def test_otf2psf_inverts_psf2otf(rng, psf_shape):
    psf = rng.random(psf_shape)
    np.testing.assert_allclose(otf2psf(psf2otf(psf, (16, 15)), psf_shape), psf, atol=1e-12)


def test_otf_multiplication_is_circular_convolution_with_centre_k_over_2(rng):
    """y[n] = sum_j psf[j] x[n - j + k//2] (mod N), computed by a direct sum."""
    x = rng.random((9, 8))
    psf = rng.random((4, 3))
    y = np.fft.ifft2(np.fft.fft2(x) * psf2otf(psf, x.shape)).real
    expected = np.zeros_like(x)
    for n in np.ndindex(*x.shape):
        for j in np.ndindex(*psf.shape):
            src = tuple((a - b + k // 2) % s for a, b, k, s in zip(n, j, psf.shape, x.shape))
            expected[n] += psf[j] * x[src]
    np.testing.assert_allclose(y, expected, atol=1e-12)


def test_psf_larger_than_shape_is_rejected():
    with pytest.raises(DeconvkitError, match="does not fit"):
        psf_to_origin(np.ones((5, 5)), (4, 8))
    with pytest.raises(DeconvkitError, match="does not fit"):
        otf2psf(np.ones((4, 4)), (5, 5))


def test_fast_shape_is_not_smaller_and_has_small_prime_factors():
    for n in (255, 269, 509, 1021):
        (m,) = fast_shape((n,))
        assert m >= n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        assert m in (1, 7, 11)  # scipy's fast real sizes are 2,3,5-smooth (pocketfft may use 7, 11)
