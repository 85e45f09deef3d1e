"""deconvkit.memory: the peak estimate against a measurement, and the in-memory guard."""

import tracemalloc

import numpy as np
import pytest

import deconvkit
from deconvkit import DeconvkitError
from deconvkit.fft import otf_cache
from deconvkit.memory import MemoryLimitError, available_memory, check_fits, estimate_peak, parse_bytes
from deconvkit.psf import gaussian


@pytest.mark.parametrize("method", ["wiener", "richardson_lucy", "tv", "tikhonov"])
@pytest.mark.parametrize("shape", [(200, 184), (24, 60, 52)])
def test_estimate_bounds_the_traced_peak_without_being_far_above_it(method, shape, rng):
    """Above the traced peak (the guard must not let through what will not fit), and within 1.7x of it (a
    guard that refuses jobs that would fit is a defect for users with big stacks: the counts were 2-3x
    the peaks before they were re-measured)."""
    image = rng.random(shape).astype(np.float32)
    psf = gaussian(2.0, ndim=len(shape))
    params = {} if method in ("wiener", "tikhonov") else {"iterations": 3}
    deconvkit.deconvolve(image[..., :32, :32], psf, method=method, **params)  # imports are not the solve's
    otf_cache._store.clear()  # a cached OTF would be missing from the measured peak
    tracemalloc.start()
    deconvkit.deconvolve(image, psf, method=method, **params)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    estimate = estimate_peak(image.shape, psf.shape, method, np.float32)
    assert peak + image.nbytes <= estimate <= 1.7 * (peak + image.nbytes)


def test_guard_refuses_an_absurd_size_before_allocating(monkeypatch):
    monkeypatch.setenv("DECONVKIT_MEMORY_LIMIT", "50MB")
    huge = np.broadcast_to(np.float32(0.5), (20000, 20000))  # 1.6 GB if it were materialised
    tracemalloc.start()
    with pytest.raises(MemoryLimitError) as caught:
        deconvkit.deconvolve(huge, gaussian(2.0), method="richardson_lucy")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1e6  # nothing image-sized was allocated
    message = str(caught.value)
    assert "deconvkit.scale" in message and "deconvkit batch" in message and "(20000, 20000)" in message
    assert isinstance(caught.value, DeconvkitError) and isinstance(caught.value, MemoryError)
    with pytest.raises(MemoryLimitError):
        deconvkit.deblur(huge)


def test_guard_lets_what_fits_through_and_can_be_turned_off(monkeypatch, rng):
    image = rng.random((64, 64)).astype(np.float32)
    monkeypatch.setenv("DECONVKIT_MEMORY_LIMIT", "1kB")
    with pytest.raises(MemoryLimitError):
        deconvkit.deconvolve(image, gaussian(1.0), method="wiener", nsr=0.01)
    monkeypatch.setenv("DECONVKIT_MEMORY_LIMIT", "off")
    assert available_memory() is None
    assert deconvkit.deconvolve(image, gaussian(1.0), method="wiener", nsr=0.01).shape == image.shape
    monkeypatch.delenv("DECONVKIT_MEMORY_LIMIT")
    assert available_memory() > 0
    check_fits(image, gaussian(1.0), "tv")  # a small image fits in this machine's memory


def test_parse_bytes():
    assert parse_bytes("8GB") == 8 * 10**9
    assert parse_bytes("512MiB") == 512 * 2**20
    assert parse_bytes(1.5e9) == 1_500_000_000
    assert parse_bytes("100") == 100
    with pytest.raises(DeconvkitError, match="memory size"):
        parse_bytes("lots")
