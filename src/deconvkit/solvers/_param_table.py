"""Typed parameter tables of the solvers: type, range and work bound of every keyword each method takes.

The registry (:func:`~deconvkit.solvers._base.register_solver`) keeps each parameter's one-line help; this
table says what values are valid, so that :func:`deconvkit.deconvolve` and the CLI's ``--set`` refuse
nonsense with one :class:`~deconvkit.errors.ParameterError` naming the range, instead of hanging
(``iterations=1e12``), running zero iterations (``-1``), truncating (``2.5`` -> 2) or returning a black image
(``nsr=inf``). A test checks that the table and the registry name the same parameters.

The bounds are the meaningful ranges of the methods, not tuning advice: weights must be finite and
positive (zero where the method defines it, e.g. ``nsr=0`` is the inverse filter), iteration counts are at
least 1 and at most :data:`~deconvkit._params.MAX_ITERATIONS`, and for the hyper-Laplacian the total number
of inner iterations over the continuation is bounded the same way.
"""

from __future__ import annotations

import math

from .._params import MAX_ITERATIONS, MAX_NSR, Spec, boolean, choice, integer, real
from ..errors import ParameterError

__all__ = ["PARAMS", "validate", "RESERVED", "UNTABLED"]

# Keywords deconvolve() / deblur() take themselves: `--set` must not pass them a second time.
RESERVED = ("method", "channel_axis", "boundary", "return_info", "psf_model", "psf_size", "progress", "clip",
            "backend", "psf", "image")

_ITERATIONS = integer("iterations", 1, MAX_ITERATIONS, allow_none=True)
# A weight of 0 is meaningful where the method stays well posed without the prior (RL-TV with lam=0 is
# RL; Tikhonov's CG with lam=0 is least squares); the splitting methods scale their penalty by lam.
_WEIGHT = real("lam", 0, 1e6, low_inclusive=False, allow_none=True)
_WEIGHT_OR_ZERO = real("lam", 0, 1e6, allow_none=True)
_SATURATION = Spec("saturation", "float", 0, None, low_inclusive=False, allow_none=True, words=("auto",))
# auto.SOLVER_RULES (a test keeps them equal): "sure", or always one candidate
_SOLVER_RULES = ("sure", "tv", "hyper_laplacian", "richardson_lucy", "tikhonov", "wiener")
_NONNEG = boolean("nonneg")
_ACCELERATE = boolean("accelerate")


def _table(*specs: Spec) -> dict[str, Spec]:
    return {spec.name: spec for spec in specs}


PARAMS: dict[str, dict[str, Spec]] = {
    "wiener": _table(real("nsr", 0, MAX_NSR, allow_none=True), real("nsr_exponent", 0, 4)),
    "tikhonov": _table(_WEIGHT_OR_ZERO, _ITERATIONS, real("tol", 0, 1, high_inclusive=False)),
    "richardson_lucy": _table(
        _ITERATIONS, _ACCELERATE,
        real("damping", 0, 1e6, allow_none=True),
        Spec("x0", "float", 0, None, low_inclusive=False, words=("observed",)),
        real("eps", 0, 1, low_inclusive=False, allow_none=True)),
    "rl_tv": _table(_WEIGHT_OR_ZERO, _ITERATIONS, _ACCELERATE, real("eps", 0, 1, low_inclusive=False)),
    "tv": _table(_WEIGHT, integer("iterations", 1, MAX_ITERATIONS), real("rho", 0, 1e6, low_inclusive=False),
                 _NONNEG, _SATURATION),
    "hyper_laplacian": _table(
        _WEIGHT, real("alpha", 0, 1, low_inclusive=False),
        Spec("beta_range", "pair", 0, 1e12, low_inclusive=False),
        real("beta_factor", 1, 100, low_inclusive=False),
        integer("inner", 1, 1000), _NONNEG, _SATURATION),
    "auto": _table(_ITERATIONS, choice("weight_rule", ("sure", "calibrated")),
                   real("lam_scale", 0, 1e6, low_inclusive=False), choice("solver_rule", _SOLVER_RULES)),
}


# Solvers whose own code still checks their values (with its own messages and tests): poisson_rl arrived
# with its checks as this table was written; SolverSpec checks its parameter names only.
UNTABLED = ("poisson_rl",)


def _hyper_laplacian_work(params: dict) -> None:
    first, last = params.get("beta_range", (1.0, 256.0))
    if not first < last:
        raise ParameterError(f"beta_range=({first:g}, {last:g}) is not valid; allowed: first < last")
    factor = params.get("beta_factor", 2.0 * math.sqrt(2.0))
    stages = math.ceil(math.log(last / first) / math.log(factor)) + 1
    total = stages * params.get("inner", 10)
    if total > MAX_ITERATIONS:
        raise ParameterError(
            f"hyper_laplacian would run {total} inner iterations ({stages} penalty values x inner); at most "
            f"{MAX_ITERATIONS}: raise beta_factor, narrow beta_range or lower inner")


_WORK = {"hyper_laplacian": _hyper_laplacian_work}


def validate(method: str, params: dict, *, texts: bool = False) -> dict:
    """Check ``params`` for ``method`` and return them normalised (``texts=True`` parses CLI strings).

    Methods without a table (a solver registered by a plug-in) are passed through unchanged; their own
    code checks what they accept.

    Raises
    ------
    ParameterError
        An unknown or reserved keyword, a value of the wrong type or out of range (the message gives the
        range), or a combination that exceeds the work bound.
    """
    table = PARAMS.get(method)
    if table is None:
        return dict(params)
    checked = {}
    for key, value in params.items():
        if key in RESERVED:
            raise ParameterError(f"{key} is an argument of its own, not a parameter of method {method!r}; "
                                 f"pass it as {key}=... (CLI: --{key.replace('_', '-')})")
        if key not in table:
            raise ParameterError(f"unknown parameter {key!r} for method {method!r}; known: {', '.join(sorted(table))}")
        spec = table[key]
        checked[key] = spec.parse(value) if texts and isinstance(value, str) else spec.check(value)
    work = _WORK.get(method)
    if work is not None:
        work(checked)
    return checked
