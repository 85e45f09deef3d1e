"""What the page offers is read from the registries; specs round-trip through deconvkit.psf.parse."""

import numpy as np
import pytest

from deconvkit import psf
from deconvkit.solvers import SOLVERS
from deconvkit.web.catalog import catalog, main_parameter, parse_psf_spec, psf_spec, spec_from_estimate
from deconvkit.web.imaging import InputError


def test_every_method_has_at_most_one_slider_among_its_own_parameters():
    for name, spec in SOLVERS.items():
        main = main_parameter(name)
        assert main is None or main["name"] in spec.params
    assert main_parameter("wiener")["name"] == "nsr"
    assert main_parameter("auto")["name"] == "lam_scale"  # the weight, not the iteration count
    assert main_parameter("richardson_lucy")["name"] == "iterations"


def test_sliders_cover_the_float_parameters_of_every_model():
    for model in catalog()["psf_models"]:
        registered = psf.available()[model["name"]]
        floats = {p.name for p in registered.params if p.kind is float}
        assert {s["name"] for s in model["sliders"]} == floats
        for slider in model["sliders"]:
            assert slider["min"] <= slider["initial"] <= slider["max"]


def test_initial_slider_values_build_valid_psfs():
    for model in catalog()["psf_models"]:
        values = {s["name"]: s["initial"] for s in model["sliders"]}
        kernel = parse_psf_spec(psf_spec(model["name"], values))
        assert kernel.ndim == 2 and np.isclose(kernel.sum(), 1)


def test_estimate_spec_round_trips():
    spec = spec_from_estimate({"model": "motion", "length": 9.0, "angle": 29.75, "spectral_fit": 0.2})
    assert spec == "motion:length=9,angle=29.75"
    np.testing.assert_allclose(parse_psf_spec(spec), psf.motion(9.0, 29.75))
    assert spec_from_estimate({"model": "general", "levels": 7}) is None


@pytest.mark.parametrize("spec", ["/etc/hosts", "../x.png", "psf.npz:a", "disk:radius=3"])
def test_only_registered_model_names_are_parsed(spec):
    # "disk" is an alias the CLI accepts; the page sends canonical names only
    with pytest.raises(InputError, match="unknown PSF model"):
        parse_psf_spec(spec)
