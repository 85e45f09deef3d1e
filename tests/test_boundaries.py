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
