"""The ducc0 FFT engine against pocketfft (``scipy.fft``), and the rule that chooses between them.

ducc0 is the optional extra ``deconvkit[fast]``; the reference for every ducc result is ``scipy.fft`` called
directly (a different FFT implementation), at float tolerance of the dtype. The selection rule is checked
with ducc0 hidden from the import system, so it is tested whether or not ducc0 is installed; the equality
tests need ducc0 and are skipped without it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.fft

import deconvkit
import deconvkit.backends as backends
from deconvkit._shared import DeconvkitError
from deconvkit.backends import _config
from deconvkit.backends.numpy import SERIAL_BELOW, fft_threads, real_forward, real_inverse
from deconvkit.fft import NumpyBackend, filter_spectrum, otf_cache, power_spectrum
from deconvkit.solvers import SOLVERS

needs_ducc = pytest.mark.skipif(not backends.ducc_available(), reason="ducc0 (deconvkit[fast]) not installed")

# float tolerance relative to the result's largest magnitude (the measured worst case is ~3e-7 / 9e-16)
TOLERANCE = {np.float32: 2e-6, np.float64: 1e-14}


@pytest.fixture
def without_ducc(monkeypatch):
    """ducc0 made unimportable (``import ducc0`` raises ImportError), as on an install without the extra."""
    monkeypatch.setitem(sys.modules, "ducc0", None)
    monkeypatch.setitem(sys.modules, "ducc0.fft", None)
    _config._ducc_fft.cache_clear()
    yield
    monkeypatch.undo()
    _config._ducc_fft.cache_clear()


def close(actual, reference, dtype):
    assert actual.dtype == reference.dtype and actual.shape == reference.shape
    scale = np.abs(reference).max()
    np.testing.assert_allclose(actual, reference, rtol=0, atol=TOLERANCE[dtype] * scale)


# --- the transforms ------------------------------------------------------------------------------------
@needs_ducc
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("array_shape,shape", [
    ((24, 30), (24, 30)),            # 2-D, even last axis
    ((23, 31), (23, 31)),            # odd last axis
    ((3, 20, 17), (20, 17)),         # a leading (colour) axis transformed along
    ((2, 3, 10, 12), (10, 12)),      # two batch axes
    ((9, 10, 11), (9, 10, 11)),      # 3-D transform, odd last axis
    ((2, 8, 9, 10), (8, 9, 10)),     # 3-D with a batch axis
    ((3, 20, 17), (26, 21)),         # zero-padded up to the domain (scipy's s=)
    ((20, 30), (16, 31)),            # cropped on one axis, padded on the other
])
def test_ducc_equals_scipy(rng, dtype, array_shape, shape):
    x = rng.standard_normal(array_shape).astype(dtype)
    axes = tuple(range(-len(shape), 0))
    reference = scipy.fft.rfftn(x, s=shape, axes=axes)
    ducc, pocket = NumpyBackend(fft="ducc", workers=1), NumpyBackend(fft="scipy", workers=1)
    spectrum = ducc.rfftn(x, shape)
    close(spectrum, reference, dtype)
    close(pocket.rfftn(x, shape), reference, dtype)
    inverse = scipy.fft.irfftn(reference, s=shape, axes=axes)
    close(ducc.irfftn(reference.copy(), shape), inverse, dtype)
    close(ducc.irfftn(reference.copy(), shape, overwrite=True), inverse, dtype)
    close(pocket.irfftn(reference.copy(), shape, overwrite=True), inverse, dtype)


@needs_ducc
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_contiguous_and_read_only_inputs(rng, dtype):
    base = rng.standard_normal((3, 40, 50)).astype(dtype)
    ducc = NumpyBackend(fft="ducc", workers=1)
    for x in (base[:, ::2, 1::2], base[::-1, :, ::-1], np.moveaxis(base, 0, -1)[..., 1], base.transpose(0, 2, 1)):
        shape = x.shape[-2:]
        reference = scipy.fft.rfftn(x, axes=(-2, -1))
        close(ducc.rfftn(x, shape), reference, dtype)
        spectrum = reference[:, ::-1][:, ::-1]  # a strided view of the same values
        close(ducc.irfftn(spectrum, shape), scipy.fft.irfftn(reference, s=shape, axes=(-2, -1)), dtype)
    frozen = base.copy()
    frozen.flags.writeable = False
    spectrum = scipy.fft.rfftn(frozen, axes=(-2, -1))
    spectrum.flags.writeable = False
    close(ducc.rfftn(frozen, (40, 50)), spectrum, dtype)
    # overwrite=True on a read-only spectrum must not fail or write: ducc0 then keeps it intact
    close(ducc.irfftn(spectrum, (40, 50), overwrite=True), scipy.fft.irfftn(spectrum, s=(40, 50)), dtype)


@needs_ducc
@pytest.mark.parametrize("source", [np.uint8, np.int32, np.bool_, np.float16])
def test_non_float_inputs_promote_as_scipy_does(rng, source):
    x = (rng.random((3, 12, 14)) * 50).astype(source)
    reference = scipy.fft.rfftn(x, axes=(-2, -1))
    dtype = np.float32 if reference.dtype == np.complex64 else np.float64
    close(NumpyBackend(fft="ducc").rfftn(x, (12, 14)), reference, dtype)


@needs_ducc
def test_inputs_ducc0_cannot_take_fall_back_to_scipy(rng):
    ducc = NumpyBackend(fft="ducc")
    x = rng.standard_normal((6, 8))
    # a spectrum whose shape does not match the output (scipy crops / zero-pads it)
    spectrum = scipy.fft.rfftn(x)
    np.testing.assert_array_equal(ducc.irfftn(spectrum, (4, 8)), scipy.fft.irfftn(spectrum, s=(4, 8)))
    np.testing.assert_array_equal(ducc.irfftn(spectrum, (6, 12)), scipy.fft.irfftn(spectrum, s=(6, 12)))
    # long double, and an empty array: scipy's result
    wide = x.astype(np.longdouble)
    np.testing.assert_array_equal(ducc.rfftn(wide, (6, 8)), scipy.fft.rfftn(wide))
    # complex input to the real transform: scipy's own error
    with pytest.raises(TypeError):
        ducc.rfftn(spectrum, spectrum.shape)


@needs_ducc
@pytest.mark.parametrize("engine", ["ducc", "scipy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_buffers_receive_the_result(rng, engine, dtype):
    backend = NumpyBackend(fft=engine, workers=1)
    x = rng.standard_normal((2, 16, 15)).astype(dtype)
    complex_dtype = np.complex64 if dtype == np.float32 else np.complex128
    spectrum_buffer = np.full((2, 16, 8), np.nan, complex_dtype)
    spectrum = backend.rfftn(x, (16, 15), out=spectrum_buffer)
    assert spectrum is spectrum_buffer
    close(spectrum, scipy.fft.rfftn(x, axes=(-2, -1)), dtype)
    image_buffer = np.full(x.shape, np.nan, dtype)
    restored = backend.irfftn(spectrum, (16, 15), out=image_buffer, overwrite=True)
    assert restored is image_buffer
    close(restored, x, dtype)
    # a buffer of another dtype, or a strided one, still receives the result (by a copy)
    wide = np.zeros((2, 16, 8), np.complex128)
    strided = np.zeros((2, 16, 30), dtype)[..., ::2]
    assert backend.rfftn(x, (16, 15), out=wide) is wide
    close(wide.astype(complex_dtype), scipy.fft.rfftn(x, axes=(-2, -1)), dtype)
    assert backend.irfftn(scipy.fft.rfftn(x, axes=(-2, -1)), (16, 15), out=strided) is strided
    close(strided, x, dtype)


@needs_ducc
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fft_layer_helpers_on_ducc(rng, dtype):
    """filter_spectrum / power_spectrum (real) follow the engine; the reference is scipy.fft directly."""
    x = rng.standard_normal((5, 18, 21)).astype(dtype)
    axes = (1, 2)
    transfer = np.exp(-np.arange(11, dtype=dtype) / 4.0)
    expected = scipy.fft.irfftn(scipy.fft.rfftn(x, axes=axes) * transfer, s=(18, 21), axes=axes)
    expected_power = np.abs(scipy.fft.rfftn(x, axes=axes)) ** 2
    for engine in ("ducc", "scipy"):
        with backends.config(fft=engine):
            close(filter_spectrum(x, transfer, axes), expected, dtype)
            close(power_spectrum(x, axes, real=True), expected_power, dtype)
    # arbitrary (non-trailing) axes through the shared helpers
    spectrum = real_forward(x, (0, 2), workers=1, engine="ducc")
    close(spectrum, scipy.fft.rfftn(x, axes=(0, 2)), dtype)
    close(real_inverse(spectrum, (0, 2), (5, 21), workers=1, engine="ducc"), x, dtype)


def test_small_transforms_run_on_one_thread():
    assert fft_threads(2, SERIAL_BELOW - 1) == 1
    assert fft_threads(2, SERIAL_BELOW) == 2
    assert fft_threads(-1, SERIAL_BELOW) == (os.cpu_count() or 1)  # scipy's "all cores"


# --- whole solvers on both engines -----------------------------------------------------------------------
@needs_ducc
@pytest.mark.parametrize("method", sorted(SOLVERS))
def test_every_method_gives_the_same_image_on_both_engines(rng, method):
    """The scipy path stays exercised when the default suite runs on ducc0 (and vice versa).

    The bound is the solver's own sensitivity to rounding: the change a 1e-15 relative perturbation of the
    input makes on pocketfft (long accelerated runs such as poisson_rl's 500 iterations amplify rounding
    to ~1e-5), or 1e-12 of the image range where that is smaller.
    """
    from scipy.ndimage import gaussian_filter

    sharp = gaussian_filter(rng.random((48, 40)), 1.5) + 0.1
    psf = np.outer(*(2 * [np.exp(-0.5 * (np.arange(7) - 3) ** 2 / 1.3 ** 2)]))
    psf /= psf.sum()
    blurred = deconvkit.blur(sharp, psf, boundary="valid", noise=0.01, rng=3)
    perturbed = blurred * (1 + 1e-15 * rng.standard_normal(blurred.shape))

    def restore(image, engine):
        otf_cache._store.clear()  # each engine computes its own OTF
        with backends.config(fft=engine, workers=1):
            return deconvkit.deconvolve(image, psf, method=method)

    reference = restore(blurred, "scipy")
    scale = np.abs(reference).max()
    sensitivity = np.abs(restore(perturbed, "scipy") - reference).max() / scale
    difference = np.abs(restore(blurred, "ducc") - reference).max() / scale
    assert difference <= max(1e-12, 10 * sensitivity), (difference, sensitivity)


# --- the selection rule ------------------------------------------------------------------------------------
def test_auto_without_ducc0_is_scipy(without_ducc):
    assert not backends.ducc_available()
    with backends.config(fft="auto"):
        assert backends.current_fft_engine() == "scipy"
        assert NumpyBackend().fft_engine == "scipy"
        assert "scipy" in backends.describe_fft()
    assert NumpyBackend(fft="auto").fft_engine == "scipy"
    with pytest.raises(DeconvkitError, match=r"deconvkit\[fast\]"):
        backends.config(fft="ducc").__enter__()
    with pytest.raises(DeconvkitError, match="ducc0"):
        NumpyBackend(fft="ducc")
    # transforms still work (pocketfft)
    x = np.arange(12.0).reshape(3, 4)
    with backends.config(fft="auto"):
        np.testing.assert_array_equal(NumpyBackend().rfftn(x, (3, 4)), scipy.fft.rfftn(x))


@needs_ducc
def test_auto_with_ducc0_is_ducc():
    with backends.config(fft="auto"):
        assert backends.current_fft_engine() == "ducc"
        assert backends.describe_fft(workers=2).startswith("ducc (ducc0 ")
    with backends.config(fft="scipy"):
        assert NumpyBackend().fft_engine == "scipy"
        assert NumpyBackend(fft="auto").fft_engine == "ducc"  # an explicit argument wins over the scope


def _engine_in_subprocess(value, hide_ducc=False):
    env = {k: v for k, v in os.environ.items() if k != "DECONVKIT_FFT"}
    if value is not None:
        env["DECONVKIT_FFT"] = value
    hide = "import sys; sys.modules['ducc0'] = None; " if hide_ducc else ""
    code = hide + "import deconvkit.backends as b; print(b.current_fft_engine())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("value", [None, "", "auto", "scipy", "torch", "ducc"])
def test_environment_variable_values(value):
    expected = {"scipy": "scipy", "torch": "torch", "ducc": "ducc"}.get(
        value, "ducc" if backends.ducc_available() else "scipy")
    result = _engine_in_subprocess(value)
    if value == "ducc" and not backends.ducc_available():
        assert result.returncode != 0 and "deconvkit[fast]" in result.stderr
        return
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
    if value in (None, "auto"):  # without ducc0 the default is pocketfft
        assert _engine_in_subprocess(value, hide_ducc=True).stdout.strip() == "scipy"


def test_bad_environment_value_is_one_line_in_the_cli():
    env = {**os.environ, "DECONVKIT_FFT": "fftw"}
    imported = subprocess.run([sys.executable, "-c", "import deconvkit"], env=env, capture_output=True,
                              text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr  # importing does not fail: the first use does
    result = subprocess.run([sys.executable, "-m", "deconvkit", "methods"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "fft engine must be one of" in result.stderr


def test_methods_command_names_the_engine():
    env = {**os.environ, "DECONVKIT_FFT": "scipy", "DECONVKIT_WORKERS": "1"}
    result = subprocess.run([sys.executable, "-m", "deconvkit", "methods"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "FFT engine: scipy (scipy " in result.stdout and "1 worker" in result.stdout


@needs_ducc
def test_ducc_runs_on_the_configured_workers(monkeypatch):
    import ducc0.fft

    seen = []
    for name in ("r2c", "c2r"):
        original = getattr(ducc0.fft, name)

        def spy(*args, _original=original, **kwargs):
            seen.append(kwargs["nthreads"])
            return _original(*args, **kwargs)
        monkeypatch.setattr(ducc0.fft, name, spy)
    large = np.zeros((1, 750, 750), np.float32)  # above SERIAL_BELOW
    with backends.config(workers=2, fft="ducc"):
        backend = NumpyBackend()
        backend.irfftn(backend.rfftn(large, (750, 750)), (750, 750))
        backend.irfftn(backend.rfftn(large[:, :64, :64], (64, 64)), (64, 64))
    assert seen == [2, 2, 1, 1]


def test_operator_buffers_receive_the_convolution(rng):
    """PeriodicConvolution.convolve(out=, spectrum_buffer=) against its plain forward / adjoint."""
    from deconvkit.operators import PeriodicConvolution

    psf = rng.random((5, 4))
    psf /= psf.sum()
    conv = PeriodicConvolution(psf, (20, 18), np.float32)
    x = rng.random((3, 20, 18)).astype(np.float32)
    out = np.full_like(x, np.nan)
    spectrum = np.full((3, 20, 10), np.nan, np.complex64)
    for adjoint in (False, True):
        expected = conv.adjoint(x) if adjoint else conv.forward(x)
        result = conv.convolve(x, adjoint=adjoint, out=out, spectrum_buffer=spectrum)
        assert result is out
        close(result, expected, np.float32)
    assert conv.to_spectrum(x, out=spectrum) is spectrum
    assert conv.from_spectrum(spectrum, out=out) is out
    close(out, x, np.float32)
