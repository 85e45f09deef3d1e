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


# --- the helpers other modules reach the Fourier basis through ------------------------------------------
def test_frequencies_are_cycles_per_sample():
    from deconvkit.fft import frequencies

    # DFT bin k of n samples oscillates k/n cycles per sample; bins above n/2 alias to k/n - 1
    for n in (7, 8):
        expected = np.array([k / n if k < (n + 1) // 2 else k / n - 1 for k in range(n)])
        if n % 2 == 0:
            expected[n // 2] = -0.5
        np.testing.assert_allclose(frequencies(n), expected, atol=1e-15)
        np.testing.assert_allclose(frequencies(n, real=True), np.arange(n // 2 + 1) / n, atol=1e-15)


@pytest.mark.parametrize("real", [True, False])
def test_power_spectrum_and_otf_abs2_equal_brute_force(rng, real):
    from deconvkit.fft import otf_abs2, power_spectrum

    x = rng.random((6, 7))
    full = np.abs(brute_force_dft(x)) ** 2
    expected = full[:, :4] if real else full
    np.testing.assert_allclose(power_spectrum(x, real=real), expected, rtol=1e-12, atol=1e-12)
    psf = rng.random((3, 3))
    padded = np.zeros((6, 7))
    for j in np.ndindex(psf.shape):
        padded[tuple((ji - k // 2) % n for ji, k, n in zip(j, psf.shape, (6, 7)))] = psf[j]
    kernel = np.abs(brute_force_dft(padded)) ** 2
    np.testing.assert_allclose(otf_abs2(psf, (6, 7), real=real), kernel[:, :4] if real else kernel,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("real", [True, False])
def test_filter_spectrum_is_circular_convolution(rng, real):
    from deconvkit.fft import filter_spectrum

    # filtering by the DFT of a kernel g is circular convolution with g, summed directly here
    x = rng.random((2, 5, 6))
    g = rng.random((5, 6))
    transfer = brute_force_dft(g)
    if real:
        transfer = transfer[:, :4]
    expected = np.zeros_like(x)
    for c in range(2):
        for n in np.ndindex(5, 6):
            for j in np.ndindex(5, 6):
                expected[(c,) + n] += g[j] * x[c, (n[0] - j[0]) % 5, (n[1] - j[1]) % 6]
    out = filter_spectrum(x, transfer, axes=(1, 2), real=real)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    # dividing by the transfer undoes it
    np.testing.assert_allclose(filter_spectrum(out, transfer, axes=(1, 2), real=real, divide=True), x,
                               rtol=1e-9, atol=1e-9)


def test_filter_spectrum_real_inverse_onto_a_given_shape(rng):
    from deconvkit.fft import filter_spectrum

    # an odd last size is lost by the half spectrum: the output shape must be passed through
    x = rng.random((4, 7))
    np.testing.assert_allclose(filter_spectrum(x, 1.0, shape=(4, 7)), x, atol=1e-14)
    assert filter_spectrum(x, 1.0).shape == (4, 7)


def test_to_from_spectrum_pad_to_the_shape(rng):
    from deconvkit.fft import from_spectrum, to_spectrum

    x = rng.random((2, 3, 4))
    spectrum = to_spectrum(x, (5, 6))
    padded = np.zeros((2, 5, 6))
    padded[:, :3, :4] = x
    np.testing.assert_allclose(spectrum, np.stack([brute_force_dft(p)[:, :4] for p in padded]), atol=1e-12)
    np.testing.assert_allclose(from_spectrum(spectrum, (5, 6)), padded, atol=1e-14)


def test_periodic_component_has_no_edge_jumps_and_keeps_the_laplacian(rng):
    from deconvkit.fft import periodic_component

    # Moisan: u = p + s, with p's periodic discrete Laplacian equal to u's interior one (the jumps across
    # the frame go to s) and s smooth with zero mean
    u = rng.random((9, 12)) + np.linspace(0, 3, 12)[None, :]
    p = periodic_component(u)
    s = u - p
    assert abs(s.mean()) < 1e-12

    def laplacian_periodic(a):
        return (np.roll(a, 1, 0) + np.roll(a, -1, 0) + np.roll(a, 1, 1) + np.roll(a, -1, 1) - 4 * a)

    def laplacian_interior(a):  # replicated edges: no jump across the frame
        e = np.pad(a, 1, mode="edge")
        return e[:-2, 1:-1] + e[2:, 1:-1] + e[1:-1, :-2] + e[1:-1, 2:] - 4 * a

    np.testing.assert_allclose(laplacian_periodic(p), laplacian_interior(u), atol=1e-10)


def test_otf_cache_transient_block_drops_only_its_own_entries():
    from deconvkit.backends import NumpyBackend
    from deconvkit.fft import OTFCache

    cache, backend = OTFCache(maxsize=8), NumpyBackend()
    kept = np.ones((3, 3)) / 9
    cache.get(kept, (16, 16), backend, np.float32)
    with cache.transient():
        cache.get(np.eye(3) / 3, (16, 16), backend, np.float32)
        cache.get(kept, (16, 16), backend, np.float32)  # a hit on an earlier entry: still kept
        assert len(cache._store) == 2
    assert len(cache._store) == 1
    np.testing.assert_allclose(cache.get(kept, (16, 16), backend, np.float32),
                               np.fft.rfft2(psf_to_origin(kept.astype(np.float32), (16, 16))), rtol=1e-6, atol=1e-6)
