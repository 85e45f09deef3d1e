"""Parameter specs: the strict checks (no bool-as-int, no fractional or non-finite integers, ranges with
the range in the message), `--set` text parsing, and property tests that the text and API paths agree."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from deconvkit import ParameterError
from deconvkit._params import MAX_ITERATIONS, boolean, check_params, choice, integer, parse_assignments, real

ITERATIONS = integer("iterations", 1, MAX_ITERATIONS)
NSR = real("nsr", 0, low_inclusive=False, allow_none=True)
ACCELERATE = boolean("accelerate")
PRIOR = choice("prior", ("tv", "hyper_laplacian"))
SPECS = [ITERATIONS, NSR, ACCELERATE, PRIOR, real("lam", 0, 1)]


# --- the reproducers from the issue ----------------------------------------------------------------------

@pytest.mark.parametrize("text,why", [
    ("1e12", "out of range"), ("abc", "not a number"), ("nan", "not finite"), ("inf", "not finite"),
    ("-1", "out of range"), ("0", "out of range"), ("true", "not a number"), ("2.5", "not a whole number"),
    ("", "empty"), ("0x10", "not a number"),
])
def test_bad_iterations_text_is_rejected_with_the_range(text, why):
    with pytest.raises(ParameterError, match=rf"^iterations=.* is not valid \({why}\); allowed: an integer "
                                             rf"from 1 to {MAX_ITERATIONS}$"):
        ITERATIONS.parse(text)


@pytest.mark.parametrize("value", [True, False, 2.5, float("nan"), float("inf"), -1, 0, 10**12, "10", None,
                                   np.float64(1.5)])
def test_bad_iterations_values_are_rejected(value):
    with pytest.raises(ParameterError, match="iterations="):
        ITERATIONS.check(value)


def test_good_iterations():
    assert ITERATIONS.parse(" 30 ") == 30 and ITERATIONS.parse("1e3") == 1000
    assert ITERATIONS.check(np.int64(7)) == 7 and ITERATIONS.check(5.0) == 5
    assert type(ITERATIONS.check(np.int64(7))) is int


@pytest.mark.parametrize("text", ["maybe", "yes!", "2", "-1", "", "truee", "nan"])
def test_bool_is_strict(text):
    with pytest.raises(ParameterError, match="accelerate=.*allowed: true or false"):
        ACCELERATE.parse(text)


@pytest.mark.parametrize("text,value", [("true", True), ("FALSE", False), ("1", True), ("0", False),
                                        (" True ", True)])
def test_bool_accepts_true_false_1_0(text, value):
    assert ACCELERATE.parse(text) is value


def test_bool_check_refuses_strings_and_other_ints():
    assert ACCELERATE.check(np.bool_(True)) is True and ACCELERATE.check(0) is False
    for value in ("true", 2, 0.5, None):
        with pytest.raises(ParameterError):
            ACCELERATE.check(value)


def test_float_range_and_auto():
    assert NSR.parse("auto") is None and NSR.check(None) is None and NSR.parse("1e-3") == 1e-3
    for text in ("0", "-1", "inf", "-inf", "nan", "abc"):
        with pytest.raises(ParameterError, match=r"nsr=.*allowed: a finite number > 0, or auto"):
            NSR.parse(text)
    lam = real("lam", 0, 1)
    with pytest.raises(ParameterError, match="allowed: a finite number from 0 to 1$"):
        lam.check(1.5)
    with pytest.raises(ParameterError, match="not a number"):
        lam.check(True)


def test_choice_is_case_insensitive_and_canonical():
    assert PRIOR.parse("TV") == "tv"
    with pytest.raises(ParameterError, match="allowed: one of tv, hyper_laplacian"):
        PRIOR.parse("l1")


def test_parse_assignments_rejects_unknown_reserved_duplicate_and_malformed():
    reserved = ("method", "channel_axis", "boundary", "return_info", "psf_model")
    assert parse_assignments(["iterations=5", "Accelerate=1", "nsr=auto"], SPECS, reserved=reserved) == {
        "iterations": 5, "accelerate": True, "nsr": None}
    for key in reserved:
        with pytest.raises(ParameterError, match=f"--set {key}=... is not allowed"):
            parse_assignments([f"{key}=x"], SPECS, reserved=reserved)
    with pytest.raises(ParameterError, match="unknown parameter 'speed' for method rl; known: accelerate, "
                                             "iterations, lam, nsr, prior"):
        parse_assignments(["speed=3"], SPECS, method="rl")
    with pytest.raises(ParameterError, match="given twice"):
        parse_assignments(["iterations=3", "iterations=4"], SPECS)
    for item in ("iterations", "=3", 5):
        with pytest.raises(ParameterError, match="key=value"):
            parse_assignments([item], SPECS)
    assert parse_assignments(["lam=0.5=1"[:7]], SPECS) == {"lam": 0.5}


def test_check_params_for_the_api():
    assert check_params(SPECS, {"iterations": 3, "nsr": 0.1}) == {"iterations": 3, "nsr": 0.1}
    with pytest.raises(ParameterError, match="unknown parameter 'iters'"):
        check_params(SPECS, {"iters": 3})


# --- properties ------------------------------------------------------------------------------------------

@given(st.integers(min_value=-10**15, max_value=10**15))
def test_integer_text_and_value_agree(n):
    # The CLI text and the API value of the same integer are accepted or refused together.
    try:
        from_value = ITERATIONS.check(n)
    except ParameterError:
        with pytest.raises(ParameterError):
            ITERATIONS.parse(str(n))
    else:
        assert ITERATIONS.parse(str(n)) == from_value == n and 1 <= n <= MAX_ITERATIONS


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_float_text_round_trips_or_is_refused(x):
    lam = real("lam", -1e6, 1e6)
    text = repr(x)
    if math.isfinite(x) and -1e6 <= x <= 1e6:
        assert lam.parse(text) == x and lam.check(x) == x
    else:
        with pytest.raises(ParameterError, match="lam="):
            lam.parse(text)
        with pytest.raises(ParameterError, match="lam="):
            lam.check(x)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9))
def test_integer_parameter_never_truncates_a_float(x):
    spec = integer("inner", -10**9, 10**9)
    if x.is_integer():
        assert spec.parse(repr(x)) == int(x)
    else:
        with pytest.raises(ParameterError, match="not a whole number"):
            spec.parse(repr(x))


@settings(max_examples=300)
@given(st.text(max_size=20))
def test_any_text_gives_a_value_in_range_or_a_parameter_error(text):
    # Whatever the user types: a valid value, or one ParameterError naming the parameter -- never another
    # exception, never an out-of-range value.
    for spec in SPECS:
        try:
            value = spec.parse(text)
        except ParameterError as exc:
            assert str(exc).startswith(f"{spec.name}=") and "\n" not in str(exc)
            continue
        if spec.kind == "int":
            assert type(value) is int and 1 <= value <= MAX_ITERATIONS
        elif spec.kind == "float":
            assert value is None or (math.isfinite(value) and spec._in_range(value))
        elif spec.kind == "bool":
            assert text.strip().lower() in ("true", "false", "1", "0")
        else:
            assert value in spec.choices


@given(st.lists(st.tuples(st.sampled_from(["iterations", "nsr", "accelerate", "lam", "bogus", "method"]),
                          st.text(max_size=8)), max_size=5))
def test_parse_assignments_total(pairs):
    items = [f"{key}={value}" for key, value in pairs]
    assume(all("=" in item for item in items))
    try:
        out = parse_assignments(items, SPECS, reserved=("method",))
    except ParameterError:
        return
    assert set(out) <= {"iterations", "nsr", "accelerate", "lam"} and len(out) == len(items)
