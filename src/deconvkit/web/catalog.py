"""What the page offers, read from deconvkit's registries: solvers, PSF models and blind models.

Nothing here lists a method or a model: they come from :data:`deconvkit.solvers.SOLVERS`,
:func:`deconvkit.psf.available` and :data:`deconvkit.blind.MODELS`. What is added here is presentation
only: how a parameter is shown as a slider (its range and scale), keyed by the parameter's name, with a
generic fallback for parameters (and so models and methods) added later.
"""

from __future__ import annotations

__all__ = ["catalog", "main_parameter", "psf_spec", "parse_psf_spec", "spec_from_estimate"]

# Method parameters that set the strength of the regularisation, in the order a slider prefers them.
# "relative" sliders move the value by powers of two around what the method chose by itself, which is the
# one scale that fits every image; "log2" sliders are an absolute factor.
_METHOD_SLIDERS = {
    "nsr": {"scale": "relative", "min": -6, "max": 6, "step": 0.25},
    "lam": {"scale": "relative", "min": -6, "max": 6, "step": 0.25},
    "lam_scale": {"scale": "log2", "min": -3, "max": 3, "step": 0.25, "default": 1.0},
}
_ITERATION_SLIDER = {"scale": "linear", "min": 1, "max": 300, "step": 1, "integer": True}

# Slider ranges of PSF model parameters (pixels or degrees); unknown float parameters get the fallback.
_PSF_SLIDERS = {
    "length": {"min": 1, "max": 80, "step": 0.5, "initial": 9},
    "angle": {"min": 0, "max": 180, "step": 1, "initial": 0},
    "radius": {"min": 0.5, "max": 30, "step": 0.25, "initial": 3},
    "sigma": {"min": 0.3, "max": 15, "step": 0.1, "initial": 1.5},
}
_PSF_FALLBACK = {"min": 0, "max": 50, "step": 0.1, "initial": 1}


def main_parameter(name: str) -> dict | None:
    """The parameter a method's slider moves: its first weight-like parameter, else ``iterations``."""
    from ..solvers import SOLVERS

    params = SOLVERS[name].params
    for key in params:
        if key in _METHOD_SLIDERS:
            return {"name": key, "help": params[key], **_METHOD_SLIDERS[key]}
    if "iterations" in params:
        return {"name": "iterations", "help": params["iterations"], **_ITERATION_SLIDER}
    return None


def _psf_param(param) -> dict | None:
    # Integer parameters whose default is "auto" (a Gaussian's size, ndim) are left to the model.
    if param.kind is not float:
        return None
    slider = dict(_PSF_SLIDERS.get(param.name, _PSF_FALLBACK))
    if not param.required and isinstance(param.default, (int, float)):
        slider["initial"] = float(param.default)
    return {"name": param.name, "help": param.help, "required": param.required, **slider}


def catalog() -> dict:
    """The body of ``GET /api/methods``."""
    from .. import blind, psf
    from ..solvers import SOLVERS

    methods = [{"name": name, "summary": spec.summary,
                "boundary": spec.boundary, "params": dict(spec.params), "main": main_parameter(name)}
               for name, spec in SOLVERS.items()]
    # auto first: it is the default, and the page lists methods in this order
    methods.sort(key=lambda m: (m["name"] != "auto", m["name"]))
    models = []
    for name, model in psf.available().items():
        if any(p.required and p.kind is not float for p in model.params):
            # a model with a required non-number (the microscope models' voxel spacing) cannot be set
            # with sliders: it stays available through the API's psf spec and the CLI
            continue
        sliders = [s for s in (_psf_param(p) for p in model.params) if s is not None]
        models.append({"name": name, "summary": model.summary, "usage": model.usage(),
                       "params": [{"name": p.name, "type": p.kind.__name__, "required": p.required,
                                   "default": None if p.required else p.default, "help": p.help}
                                  for p in model.params],
                       "sliders": sliders})
    return {"methods": methods, "default_method": "auto", "psf_models": models,
            "blind_models": list(blind.MODELS)}


def parse_psf_spec(spec: str):
    """Build a PSF from a model spec, refusing anything that is not a registered model (no file paths).

    :func:`deconvkit.psf.parse` also accepts file paths; a spec from the web must never name a file on
    the server, so only ``NAME:params`` with a registered ``NAME`` is passed on.
    """
    from .. import psf
    from .._shared import DeconvkitError
    from .imaging import MAX_PSF_SIDE, InputError

    name = spec.partition(":")[0].strip().lower()
    if name not in psf.available():
        raise InputError(f"unknown PSF model {name!r}; expected one of {', '.join(psf.available())} "
                         "(e.g. motion:length=15,angle=30), or upload a PSF file")
    try:
        kernel = psf.parse(spec)
    except DeconvkitError as exc:
        raise InputError(str(exc)) from exc
    if kernel.ndim != 2:
        raise InputError(f"PSF {spec!r} is {kernel.ndim}-D; the web app restores 2-D images")
    if max(kernel.shape) > MAX_PSF_SIDE:
        raise InputError(f"PSF {spec!r} is {kernel.shape[1]}x{kernel.shape[0]} pixels; at most "
                         f"{MAX_PSF_SIDE} per side")
    return kernel


def psf_spec(model: str, values: dict) -> str:
    """``motion``, ``{"length": 15, "angle": 30}`` -> ``motion:length=15,angle=30``."""
    def text(value):
        if isinstance(value, (list, tuple)):
            return ",".join(text(v) for v in value)
        return f"{float(value):.6g}"

    return f"{model}:" + ",".join(f"{k}={text(v)}" for k, v in values.items())


def spec_from_estimate(info: dict) -> str | None:
    """The model spec of a parametric blind estimate (None for a free-form one)."""
    from .. import psf

    model = psf.available().get(info.get("model"))
    if model is None:
        return None
    values = {p.name: info[p.name] for p in model.params if p.name in info and info[p.name] is not None
              and p.kind is float}
    return psf_spec(model.name, values)
