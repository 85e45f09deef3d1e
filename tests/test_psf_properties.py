"""Property tests of the PSF spec parser: any text gives a valid PSF or one PSFError (never another
exception), and the spellings of one spec (keyword, positional, case, spaces) give the PSF the model
function itself builds."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconvkit import PSFError, psf

MODELS = sorted(psf.available())
# Values a user might type: small numbers, edge numbers and garbage (no huge valid sizes: a 1000-pixel
# Gaussian is valid but slow, and size limits are tested in test_psf.py).
VALUES = st.one_of(
    st.floats(min_value=-5, max_value=40, allow_nan=False).map(lambda x: f"{x:g}"),
    st.integers(min_value=-3, max_value=25).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "1e-300", "0", "abc", "", " ", "1,2", "=", "auto", "0x5",
                     "1_0", "٣", "1e3"]),
)
KEYS = st.one_of(st.sampled_from(["length", "angle", "radius", "sigma", "size", "ndim", "LENGTH", " sigma "]),
                 st.text(alphabet="abcxyz_=:", max_size=6))


@st.composite
def specs(draw):
    name = draw(st.one_of(st.sampled_from(MODELS + ["disk", "Motion", " gaussian "]),
                          st.text(alphabet="abcdefgmnoptu:", max_size=8)))
    tokens = draw(st.lists(st.one_of(VALUES, st.builds(lambda k, v: f"{k}={v}", KEYS, VALUES)), max_size=4))
    separator = draw(st.sampled_from([":", ": ", "", "::"]))
    return name + separator + ",".join(tokens)


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a spec that happens to be a file name must not find a file


def check_is_a_psf(kernel):
    assert isinstance(kernel, np.ndarray) and kernel.dtype == np.float64 and kernel.size >= 1
    assert np.isfinite(kernel).all() and (kernel >= 0).all()
    assert math.isclose(kernel.sum(), 1.0, rel_tol=1e-9)
    assert all(n % 2 == 1 for n in kernel.shape)  # centred at k // 2


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs())
def test_any_spec_is_a_psf_or_one_psf_error(spec):
    try:
        kernel = psf.parse(spec)
    except PSFError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        check_is_a_psf(kernel)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=30))
def test_arbitrary_text_never_escapes_as_another_exception(text):
    try:
        kernel = psf.parse(text)
    except PSFError:
        return
    check_is_a_psf(kernel)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.floats(min_value=0.5, max_value=30), st.floats(min_value=-360, max_value=360))
def test_motion_spellings_agree_with_the_function(length, angle):
    expected = psf.motion(length, angle)
    for spec in (f"motion:length={length!r},angle={angle!r}", f"motion:{length!r},{angle!r}",
                 f" MOTION : angle = {angle!r} , Length={length!r} "):
        np.testing.assert_array_equal(psf.parse(spec), expected)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.floats(min_value=0.2, max_value=8), st.floats(min_value=0.2, max_value=8))
def test_gaussian_sequence_spelling_agrees_with_the_function(s0, s1):
    np.testing.assert_array_equal(psf.parse(f"gaussian:sigma={s0!r},{s1!r}"), psf.gaussian((s0, s1)))
    np.testing.assert_array_equal(psf.parse(f"disk:{s0!r}"), psf.defocus(s0))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["length", "radius", "sigma"]),
       st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e400", "abc", ""]))
def test_non_finite_or_non_positive_sizes_are_refused(key, value):
    model = {"length": "motion", "radius": "defocus", "sigma": "gaussian"}[key]
    spec = f"{model}:{key}={value}"
    if key == "sigma" and value == "0":
        np.testing.assert_array_equal(psf.parse(spec), [[1.0]])  # a zero-width Gaussian is a delta
        return
    with pytest.raises(PSFError):
        psf.parse(spec)


def test_empty_and_blank_specs_are_refused():
    for spec in ("", "   ", "\t"):
        with pytest.raises(PSFError, match="empty"):
            psf.parse(spec)
    assert not os.listdir(".")
