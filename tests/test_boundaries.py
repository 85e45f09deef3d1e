"""deconvkit.boundaries: one boundary vocabulary for blur and deconvolve, with the old names as aliases."""

from __future__ import annotations

import numpy as np
import pytest

import deconvkit
from deconvkit import DeconvkitError
from deconvkit.boundaries import (
    ALIASES,
    BLUR_MODELS,
    DECONVOLVE_BOUNDARIES,
    boundary_model,
    boundary_strategy,
    canonical_boundary,
)
from deconvkit.operators import BOUNDARIES
from deconvkit.psf import gaussian


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(7)
    sharp = rng.random((40, 44))
    return deconvkit.blur(sharp, gaussian(1.2), boundary="valid", noise=0.01, rng=1), gaussian(1.2)


def test_the_forward_vocabulary_is_the_operators_one():
    assert BLUR_MODELS == BOUNDARIES
    assert set(DECONVOLVE_BOUNDARIES) == {"valid", "reflect", "periodic", "unknown", "pad"}


@pytest.mark.parametrize("method,params", [("tikhonov", {"iterations": 30}), ("tv", {"iterations": 20}),
                                           ("wiener", {}), ("richardson_lucy", {"iterations": 5})])
@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_deconvolve_aliases_give_exactly_the_same_result(case, method, params, alias):
    blurred, psf = case
    canonical = ALIASES[alias]
    new, new_info = deconvkit.deconvolve(blurred, psf, method=method, boundary=canonical, return_info=True,
                                         **params)
    old, old_info = deconvkit.deconvolve(blurred, psf, method=method, boundary=alias, return_info=True, **params)
    np.testing.assert_array_equal(new, old)
    # info keeps the strategy name it always reported, and adds the model name
    assert new_info["boundary"] == old_info["boundary"] == alias
    assert new_info["boundary_model"] == old_info["boundary_model"] == canonical


def test_default_boundary_is_reported_in_both_vocabularies(case):
    blurred, psf = case
    _, info = deconvkit.deconvolve(blurred, psf, method="wiener", return_info=True)
    assert (info["boundary"], info["boundary_model"]) == ("pad", "reflect")
    _, info = deconvkit.deconvolve(blurred, psf, method="wiener", boundary="periodic", return_info=True)
    assert (info["boundary"], info["boundary_model"]) == ("periodic", "periodic")


def test_blur_accepts_the_aliases_too(rng):
    image, psf = rng.random((20, 24)), gaussian(1.0)
    np.testing.assert_array_equal(deconvkit.blur(image, psf, boundary="unknown"),
                                  deconvkit.blur(image, psf, boundary="valid"))
    np.testing.assert_array_equal(deconvkit.blur(image, psf, boundary="pad"),
                                  deconvkit.blur(image, psf, boundary="reflect"))


def test_names_and_errors():
    assert [canonical_boundary(n) for n in ("unknown", "pad", "zero", "periodic")] == [
        "valid", "reflect", "zero", "periodic"]
    assert [boundary_strategy(n) for n in ("valid", "unknown", "reflect", "pad", "periodic")] == [
        "unknown", "unknown", "pad", "pad", "periodic"]
    assert [boundary_model(s) for s in ("unknown", "pad", "periodic")] == ["valid", "reflect", "periodic"]
    with pytest.raises(DeconvkitError, match=r"boundary must be one of 'valid', 'reflect', 'periodic' "
                                             r"\(aliases: 'unknown' = 'valid', 'pad' = 'reflect'\), got 'zero'"):
        deconvkit.deconvolve(np.ones((16, 16)), gaussian(1.0), boundary="zero")
    with pytest.raises(DeconvkitError, match="boundary must be one of 'reflect'.*got 'mirror'"):
        deconvkit.blur(np.ones((16, 16)), gaussian(1.0), boundary="mirror")


def _whole_array_smooth_extend(data, domain, offset):
    """smooth_extend as the whole-array formula: the float64 low-pass grid and the full weight array."""
    from deconvkit.boundaries import _taper_profile
    from deconvkit.fft import filter_spectrum, frequencies

    spatial, d = data.shape[1:], data.ndim - 1
    pads = [(0, 0)] + [(o, p - n - o) for n, p, o in zip(spatial, domain, offset)]
    mirrored = np.pad(data, pads, mode="symmetric")
    sigma = max(min(p - n for n, p in zip(spatial, domain)) / 4.0, 1.0)
    gauss, weight = 1.0, 1.0
    for i, n in enumerate(domain):
        view = [1] * (d + 1)
        freqs = frequencies(n, real=i == d - 1)
        view[i + 1] = freqs.size
        gauss = gauss * np.exp(-2 * (np.pi * sigma * freqs) ** 2).reshape(view)
        view[i + 1] = n
        weight = weight * _taper_profile(spatial[i], n, offset[i]).astype(data.dtype).reshape(view)
    lowpass = filter_spectrum(mirrored, gauss.astype(data.dtype), tuple(range(1, d + 1)), shape=domain)
    return (mirrored - lowpass) * weight + lowpass


@pytest.mark.parametrize("shape, channels, dtype", [((37, 41), 1, np.float32), ((30, 33), 3, np.float64),
                                                     ((9, 21, 26), 1, np.float32)])
def test_smooth_extend_slab_by_slab_equals_the_whole_array_formula(shape, channels, dtype, monkeypatch):
    """The slab-wise low-pass grid and cross-fade give exactly the whole-array values (slabs forced small,
    so that several are used even on these sizes)."""
    from deconvkit import boundaries
    from deconvkit.boundaries import plan_domain, smooth_extend

    rng = np.random.default_rng(3)
    data = rng.random((channels,) + shape).astype(dtype)
    psf_shape = (5,) * len(shape)
    domain, offset = plan_domain(shape, psf_shape, "pad")
    reference = _whole_array_smooth_extend(data, domain, offset)
    slabs = boundaries._slabs
    monkeypatch.setattr(boundaries, "_slabs", lambda n, row, budget=0: slabs(n, row, budget=2 * row))
    result = smooth_extend(data, domain, offset)
    assert len(slabs(domain[0], 1, budget=2)) > 1
    assert result.dtype == dtype and result.shape == reference.shape
    assert np.array_equal(result, reference)
    # and the seam is smooth: the periodic jump is far below the data's spread
    assert np.max(np.abs(result[:, 0] - result[:, -1])) < 0.1
