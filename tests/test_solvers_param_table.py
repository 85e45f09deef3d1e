"""The solvers' typed parameter table: it names exactly the parameters the registry has, and it refuses the
values of issue 13 with the range in the message."""

from __future__ import annotations

import pytest

from deconvkit import ParameterError
from deconvkit._params import MAX_ITERATIONS
from deconvkit.solvers import SOLVERS
from deconvkit.solvers._param_table import PARAMS, RESERVED, validate


def test_table_matches_the_registry():
    # A parameter added to a solver without a typed entry (or the reverse) fails here, not in a user's run.
    from deconvkit.solvers._param_table import UNTABLED

    for name, spec in SOLVERS.items():
        if name not in UNTABLED:
            assert set(PARAMS[name]) == set(spec.params), name
    assert set(SOLVERS) - set(PARAMS) == set(UNTABLED)  # a new solver needs a table (or is listed here)
    from deconvkit.solvers.auto import SOLVER_RULES, WEIGHT_RULES

    assert PARAMS["auto"]["solver_rule"].choices == SOLVER_RULES
    assert PARAMS["auto"]["weight_rule"].choices == WEIGHT_RULES


@pytest.mark.parametrize("method,params,match", [
    ("richardson_lucy", {"iterations": 10**12}, f"from 1 to {MAX_ITERATIONS}"),
    ("richardson_lucy", {"iterations": True}, "not a number"),
    ("richardson_lucy", {"iterations": 2.5}, "not a whole number"),
    ("richardson_lucy", {"accelerate": "maybe"}, "true or false"),
    ("wiener", {"nsr": float("inf")}, "not finite"),
    ("wiener", {"nsr": -1}, "out of range"),
    ("tv", {"iterations": None}, "a value is required"),
    ("hyper_laplacian", {"beta_range": (256, 1)}, "first must be below last"),
    ("hyper_laplacian", {"beta_factor": 1.0001}, "inner iterations"),
    ("auto", {"weight_rule": "gcv"}, "one of sure, calibrated"),
    ("wiener", {"channel_axis": 0}, "argument of its own"),
    ("wiener", {"iterations": 3}, "unknown parameter 'iterations' for method 'wiener'"),
])
def test_bad_values_are_refused(method, params, match):
    with pytest.raises(ParameterError, match=match):
        validate(method, params)


def test_good_values_pass_normalised():
    assert validate("richardson_lucy", {"iterations": 30.0, "accelerate": 0, "x0": "observed"}) == {
        "iterations": 30, "accelerate": False, "x0": "observed"}
    assert validate("tv", {"saturation": "AUTO"}) == {"saturation": "auto"}
    assert validate("hyper_laplacian", {"beta_range": "1,64", "inner": "5"}, texts=True) == {
        "beta_range": (1.0, 64.0), "inner": 5}
    assert validate("plugin_method", {"anything": object}) == {"anything": object}  # no table: unchanged
    assert "method" in RESERVED and "psf_model" in RESERVED
