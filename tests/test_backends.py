"""Array backends: the PyTorch backend runs the same solver code as NumPy; float32 stays float32; the
Richardson-Lucy loop reuses its buffers.

References are independent of the code under test: the NumPy backend's result is checked elsewhere
against scikit-image and dense least squares; here the torch backend (a different FFT library, MKL or
cuFFT, and different element-wise kernels) must agree with it, and memory is checked against a bound
derived from the algorithm's buffer count, not from a recorded measurement.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import deconvkit
from deconvkit._shared import DeconvkitError, check_psf
from deconvkit.fft import NumpyBackend, get_backend, otf_cache
from deconvkit.solvers import SOLVERS, Problem


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny test arrays gain nothing from threads, and on a busy machine PyTorch's OpenMP threads can make
    them 100x slower (spin-waiting); the thread count is process-wide, so restore it afterwards."""
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def gaussian_psf(sigma, size):
    r = np.arange(size) - size // 2
    g = np.exp(-0.5 * (r / sigma) ** 2)
    psf = np.outer(g, g)
    return psf / psf.sum()


def blurred_scene(rng, shape=(60, 52), dtype=np.float32, noise=0.01):
    from scipy.ndimage import gaussian_filter

    sharp = gaussian_filter(rng.random(shape), 2.0) * 2 + 0.1
    psf = gaussian_psf(1.3, 7)
    blurred = deconvkit.blur(sharp, psf, boundary="valid", noise=noise, rng=4)
    return blurred.astype(dtype), psf


CASES = [
    ("richardson_lucy", {"iterations": 25}),
    ("richardson_lucy", {"iterations": 8, "accelerate": False, "boundary": "periodic"}),
    ("richardson_lucy", {"iterations": 10, "damping": 2.0}),
    ("wiener", {"nsr": 1e-3}),
    ("wiener", {}),
    ("tikhonov", {"lam": 1e-3, "tol": 1e-8, "iterations": 60}),
]


@pytest.mark.torch
@pytest.mark.parametrize("method,params", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_torch_cpu_backend_matches_numpy(rng, method, params, dtype):
    pytest.importorskip("torch")
    image, psf = blurred_scene(rng, dtype=np.float64)
    exact = deconvkit.deconvolve(image, psf, method=method, **params)
    result = deconvkit.deconvolve(image.astype(dtype), psf, method=method, backend="torch", **params)
    assert result.dtype == dtype
    scale = np.abs(exact).max()
    if dtype == np.float64:  # both exact up to FFT rounding (pocketfft vs MKL)
        np.testing.assert_allclose(result, exact, rtol=0, atol=1e-9 * scale)
        return
    # float32: rounding is amplified over the iterations by an amount that depends on the method, so
    # the torch float32 result must be as close to the float64 answer as NumPy's own float32 result is
    numpy32 = deconvkit.deconvolve(image.astype(dtype), psf, method=method, **params)
    assert numpy32.dtype == dtype
    numpy_error = np.abs(numpy32 - exact).max()
    torch_error = np.abs(result - exact).max()
    assert torch_error <= 2 * numpy_error + 1e-5 * scale, (torch_error / scale, numpy_error / scale)


@pytest.mark.torch
def test_discrepancy_stop_agrees_between_backends(rng):
    pytest.importorskip("torch")
    image, psf = blurred_scene(rng, dtype=np.float64, noise=0.02)
    _, ours = deconvkit.deconvolve(image, psf, method="richardson_lucy", return_info=True)
    _, theirs = deconvkit.deconvolve(image, psf, method="richardson_lucy", backend="torch",
                                     return_info=True)
    assert ours["iterations"] == theirs["iterations"]
    assert isinstance(theirs["residual_rms"], float)
    assert theirs["residual_rms"] == pytest.approx(ours["residual_rms"], rel=1e-9)


@pytest.mark.torch
def test_tensor_in_tensor_out_with_channels(rng):
    torch = pytest.importorskip("torch")
    channels = [blurred_scene(np.random.default_rng(seed))[0] for seed in range(3)]
    image = np.stack(channels, axis=-1)
    psf = gaussian_psf(1.3, 7)
    params = dict(method="richardson_lucy", iterations=12, channel_axis=-1)
    exact = deconvkit.deconvolve(image.astype(np.float64), psf, **params)
    numpy32 = deconvkit.deconvolve(image, psf, **params)
    result = deconvkit.deconvolve(torch.from_numpy(image), torch.from_numpy(psf), **params)
    assert isinstance(result, torch.Tensor)
    assert result.dtype == torch.float32 and result.device.type == "cpu"
    assert tuple(result.shape) == image.shape
    scale = np.abs(exact).max()
    assert np.abs(result.numpy() - exact).max() <= 2 * np.abs(numpy32 - exact).max() + 1e-5 * scale
    # channels are transformed together but not mixed (plain RL; the accelerated step length is shared
    # across channels by design): channel 1 alone gives the same answer
    plain = dict(method="richardson_lucy", iterations=12, accelerate=False)
    batched = deconvkit.deconvolve(torch.from_numpy(image), psf, channel_axis=-1, **plain)
    single = deconvkit.deconvolve(torch.from_numpy(image[..., 1].copy()), psf, **plain)
    np.testing.assert_allclose(batched[..., 1].numpy(), single.numpy(), rtol=0, atol=1e-5 * scale)


@pytest.mark.torch
def test_cuda_backend(rng):
    torch = pytest.importorskip("torch")
    image, psf = blurred_scene(rng)
    if not torch.cuda.is_available():
        with pytest.raises(DeconvkitError, match="cuda"):
            deconvkit.deconvolve(image, psf, method="wiener", nsr=1e-3, backend="cuda")
        pytest.skip("no CUDA GPU: the cuda backend was checked to refuse cleanly")
    reference = deconvkit.deconvolve(image, psf, method="richardson_lucy", iterations=20)
    on_gpu = deconvkit.deconvolve(torch.from_numpy(image).cuda(), psf, method="richardson_lucy",
                                  iterations=20)
    assert on_gpu.device.type == "cuda" and on_gpu.dtype == torch.float32
    np.testing.assert_allclose(on_gpu.cpu().numpy(), reference, rtol=0, atol=2e-4 * np.abs(reference).max())


@pytest.mark.torch
def test_torch_backend_scalars_stay_tensors():
    torch = pytest.importorskip("torch")
    bk = get_backend("torch")
    x = bk.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    dot = bk.vdot(x, x)
    assert isinstance(dot, torch.Tensor) and dot.ndim == 0  # no host synchronisation
    assert bk.item(dot) == pytest.approx(float(np.sum(np.arange(6.0) ** 2)))
    assert bk.clip(dot / 100, 0.0, 0.25).dtype == torch.float32
    assert bk.maximum(x, 2.5).min().item() == 2.5 and bk.minimum(1.5, x).max().item() == 1.5


class RecordingBackend(NumpyBackend):
    """A NumPy backend that records the dtype of every array the FFT layer and arithmetic see."""

    def __init__(self):
        super().__init__()
        self.seen = set()

    def _note(self, *arrays):
        for a in arrays:
            if isinstance(a, np.ndarray) and a.size > 1:
                self.seen.add(a.dtype)

    def rfftn(self, x, shape, out=None):
        self._note(x)
        result = super().rfftn(x, shape, out)
        self._note(result)
        return result

    def irfftn(self, spectrum, shape, out=None, overwrite=False):
        self._note(spectrum)
        result = super().irfftn(spectrum, shape, out, overwrite)
        self._note(result)
        return result

    def multiply(self, x, y, out=None):
        result = super().multiply(x, y, out)
        self._note(x, y, result)
        return result

    def divide(self, x, y, out=None):
        result = super().divide(x, y, out)
        self._note(x, y, result)
        return result


@pytest.mark.parametrize("method,params", [("richardson_lucy", {"iterations": 6}),
                                           ("richardson_lucy", {}),
                                           ("wiener", {"nsr": 1e-3}), ("wiener", {}),
                                           ("tikhonov", {"iterations": 5})])
def test_float32_input_keeps_float32_working_arrays(rng, method, params):
    image, psf = blurred_scene(rng, dtype=np.float32)
    backend = RecordingBackend()
    restored = deconvkit.deconvolve(image, psf, method=method, backend=backend, **params)
    assert restored.dtype == np.float32
    assert backend.seen, "the backend was not used"
    assert backend.seen <= {np.dtype(np.float32), np.dtype(np.complex64)}, backend.seen


def _rl_peak_bytes(image, psf, iterations):
    otf_cache._store.clear()  # the OTF is part of the working set: count it
    problem = Problem(image, psf, "unknown", noise_sigma=0.01)  # noise given: measure the solver alone
    tracemalloc.start()
    try:
        SOLVERS["richardson_lucy"].func(Problem(image, psf, "unknown", noise_sigma=0.01),
                                        iterations=iterations, x0=0.5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, int(np.prod(problem.domain)) * image.itemsize


def test_richardson_lucy_working_memory_is_bounded_and_does_not_grow(rng):
    image = (rng.random((1, 192, 160)) + 0.1).astype(np.float32)
    psf = check_psf(gaussian_psf(2.0, 11), 2, np.float32)
    few, domain_bytes = _rl_peak_bytes(image, psf, 3)
    many, _ = _rl_peak_bytes(image, psf, 15)
    # buffers: estimate, step, direction, point, sensitivity, OTF (~1 array: n/2+1 complex columns),
    # and two FFT transients; 9 leaves room for the half-spectrum's extra column and small objects
    assert many <= 9 * domain_bytes, many / domain_bytes
    # iterations reuse those buffers: no per-iteration growth
    assert many <= few + domain_bytes // 2, (few / domain_bytes, many / domain_bytes)


@pytest.mark.torch
def test_torch_fft_engine_for_numpy_arrays(rng):
    pytest.importorskip("torch")
    image, psf = blurred_scene(rng, dtype=np.float64)
    engine = NumpyBackend(fft="torch")
    for method, params in CASES[:4]:
        reference = deconvkit.deconvolve(image, psf, method=method, **params)
        result = deconvkit.deconvolve(image, psf, method=method, backend=engine, **params)
        assert isinstance(result, np.ndarray) and result.dtype == np.float64
        np.testing.assert_allclose(result, reference, rtol=0, atol=1e-9 * np.abs(reference).max())
    with pytest.raises(DeconvkitError, match="fft"):
        NumpyBackend(fft="fftw")


@pytest.mark.torch
def test_torch_filters_and_resampling_match_scipy_ndimage(rng):
    """The blind estimator's image operations on torch against scipy.ndimage (the reference)."""
    torch = pytest.importorskip("torch")
    import scipy.ndimage

    from deconvkit.backends import get_backend

    bk = get_backend("torch")
    x = rng.random((37, 52))
    tx = torch.from_numpy(x)
    for sigma in (0.2, 1.3, 3.0):
        np.testing.assert_allclose(bk.gaussian_filter(tx, sigma).numpy(),
                                   scipy.ndimage.gaussian_filter(x, sigma, mode="nearest"), rtol=0, atol=1e-14)
    for coords in ([(np.arange(26) + 0.5) / 0.7 - 0.5, (np.arange(36) + 0.5) / 0.7 - 0.5],
                   [np.arange(-3, 45) * 0.77 - 2, np.arange(60) * 0.9 - 1.3]):  # beyond both edges
        grid = np.meshgrid(*coords, indexing="ij")
        for mode in ("nearest", "constant"):
            np.testing.assert_allclose(bk.resample(tx, coords, mode=mode).numpy(),
                                       scipy.ndimage.map_coordinates(x, grid, order=1, mode=mode),
                                       rtol=0, atol=1e-14)
    for size in (1, 3, 7):
        np.testing.assert_array_equal(bk.minimum_filter(tx, size).numpy(),
                                      scipy.ndimage.minimum_filter(x, size, mode="wrap"))
        np.testing.assert_array_equal(bk.maximum_filter(tx, size).numpy(),
                                      scipy.ndimage.maximum_filter(x, size, mode="wrap"))
    with pytest.raises(DeconvkitError, match="mode"):
        bk.gaussian_filter(tx, 1.0, mode="wrap")
    with pytest.raises(DeconvkitError, match="odd"):
        bk.minimum_filter(tx, 4)


@pytest.mark.torch
def test_torch_backend_applies_configured_workers_only(monkeypatch):
    """``config(workers=n)`` sets PyTorch's thread count at each CPU transform; with nothing configured
    PyTorch's own count is left alone; an explicit ``threads`` wins."""
    torch = pytest.importorskip("torch")
    import deconvkit.backends as backends
    from deconvkit.backends import _config

    monkeypatch.setattr(_config, "_WORKERS", __import__("contextvars").ContextVar("w", default=None))
    bk = backends.get_backend("torch")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert backends.configured_workers() is None
        bk.rfftn(torch.zeros(8, 8), (8, 8))
        assert torch.get_num_threads() == 1 and bk.workers == 1
        with backends.config(workers=2):
            assert backends.configured_workers() == 2 and bk.workers == 2
            bk.irfftn(torch.zeros(8, 5, dtype=torch.complex128), (8, 8))
            assert torch.get_num_threads() == 2
            explicit = backends.get_backend("torch", threads=1)
            explicit.rfftn(torch.zeros(8, 8), (8, 8))
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
