"""The deconvolution problem every solver sees, and the solver registry.

A solver is a function ``solve(problem, **params) -> (x, info)`` registered with :func:`register_solver`.
It works on ``problem.domain`` (the FFT domain chosen by the boundary strategy) through
``problem.blur`` (the periodic operator ``K`` and its OTF), ``problem.observed`` / ``problem.mask`` (the data
term's window) and ``problem.backend`` (array operations). It returns ``x`` on the domain; the caller crops.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np

from .._shared import DeconvkitError
from ..boundaries import plan_domain, smooth_extend
from ..errors import ParameterError
from ..fft import get_backend
from ..noise import estimate_noise
from ..operators import Crop, Gradient, PeriodicConvolution

__all__ = ["Problem", "SolverSpec", "register_solver", "get_solver", "SOLVERS"]


class Problem:
    """Observed data ``y`` (shape ``(C, *shape)``), a normalised PSF and a boundary strategy.

    Attributes
    ----------
    data : array (C, *shape)
        The observed image(s), channels first, in the working dtype.
    domain, offset : tuple
        The FFT domain and the position of the observed window in it.
    blur : PeriodicConvolution
        ``K`` on the domain. It owns the spectral side: its transfer function, the transform pair and
        the Fourier-diagonal solve :meth:`~deconvkit.operators.PeriodicConvolution.solve_normal`.
    window : Crop
        ``M``: domain -> observed window. The data term is ``||M K x - y||^2`` ("unknown" strategy) or
        ``||K x - extend(y)||^2`` ("pad", "periodic").
    operator : LinearOperator
        ``A``, the forward model of the data term: ``window @ blur`` when masked, else ``blur``.
    """

    def __init__(self, data: np.ndarray, psf: np.ndarray, strategy: str, *, backend=None,
                 noise_sigma: float | None = None, progress: Callable | None = None):
        self.backend = get_backend(backend)
        self.strategy = strategy
        self.dtype = data.dtype
        self.shape = tuple(data.shape[1:])
        self.channels = data.shape[0]
        self.psf = psf
        self.domain, self.offset = plan_domain(self.shape, psf.shape, strategy)
        self._host_data = data
        self.data = self.backend.asarray(data)
        self.blur = PeriodicConvolution(psf, self.domain, self.dtype, self.backend)
        self.window = Crop(self.domain, self.shape, self.offset, self.dtype, self.backend)
        self.gradient = Gradient(self.domain, self.dtype, self.backend)
        self.operator = self.window @ self.blur if self.masked else self.blur
        self._noise_sigma = noise_sigma
        self._extended = None
        self._mask = None
        self.progress = progress or (lambda done, total: None)

    # --- data views ---------------------------------------------------------------------------------
    @property
    def host_data(self) -> np.ndarray:
        """The observed data as a NumPy array on the host (for set-up decisions, never per iteration)."""
        return self._host_data

    @property
    def noise_sigma(self) -> float:
        """Noise std (given, or estimated once from the observed data; shared across channels)."""
        if self._noise_sigma is None:
            self._noise_sigma = float(np.median([estimate_noise(c) for c in self._host_data]))
        return self._noise_sigma

    def extended(self, cache: bool = True):
        """The data smoothly extended onto the whole domain (the "pad" strategy's input, and a good
        starting point for iterative solvers).

        With ``cache=False`` a fresh array is returned and not kept (a starting point that the solver
        overwrites: keeping it would cost one domain-sized array for the whole run).
        """
        if self._extended is not None:
            return self.backend.copy(self._extended) if not cache else self._extended
        extended = self.backend.asarray(smooth_extend(self._host_data, self.domain, self.offset))
        if cache:
            self._extended = extended
        return extended

    @property
    def extension_cached(self) -> bool:
        """True when :meth:`extended` holds its result (a call with ``cache=False`` would copy it)."""
        return self._extended is not None

    def release_extended(self):
        """Drop the cached :meth:`extended` data: a solver that has used it for its set-up (weights, a
        closed-form start) frees a domain-sized array per channel for the rest of its run."""
        self._extended = None

    @property
    def mask(self):
        """1 on the observed window, 0 elsewhere (shape = domain)."""
        if self._mask is None:
            ones = self.backend.full(self.shape, 1.0, self.dtype)
            self._mask = self.window.adjoint(ones)
        return self._mask

    @property
    def masked(self) -> bool:
        """True when the data term only sees the observed window (the "unknown" strategy)."""
        return self.strategy == "unknown"

    def target(self):
        """Right-hand side on the domain: ``M^T y`` when masked, else the extended data."""
        return self.window.adjoint(self.data) if self.masked else self.extended()

    def crop(self, x):
        return self.window.forward(x)

    def forward(self, x):
        """``A x``: the prediction of the observed data from a domain image."""
        return self.operator.forward(x)

    def adjoint(self, residual):
        """``A^T r`` for a residual of the shape :meth:`forward` returns."""
        return self.operator.adjoint(residual)

    def observed(self):
        """The data that :meth:`forward` is compared with."""
        return self.data if self.masked else self.extended()


@dataclasses.dataclass
class SolverSpec:
    name: str
    func: Callable
    boundary: str
    summary: str
    params: dict

    def validate(self, params: dict) -> dict:
        """``params`` checked against the method's typed table (type, range, work bound; see
        :mod:`._param_table`) and returned normalised; a :class:`~deconvkit.errors.ParameterError` names
        the valid range. Methods without a table are checked for unknown names only."""
        from ._param_table import PARAMS, validate

        if self.name in PARAMS:
            return validate(self.name, params)
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise ParameterError(
                f"method {self.name!r} got unknown parameter(s) {unknown}; valid: {sorted(self.params)}")
        return dict(params)

    def __call__(self, problem, **params):
        params = self.validate(params)  # also for solvers calling solvers (auto -> tv)
        start = time.perf_counter()
        x, info = self.func(problem, **params)
        info.setdefault("time_s", time.perf_counter() - start)
        return x, info


SOLVERS: dict[str, SolverSpec] = {}


def register_solver(name: str, *, boundary: str, summary: str, params: dict):
    """Register ``func(problem, **params) -> (x_on_domain, info)`` under ``name``.

    ``params`` maps each accepted keyword to a one-line description (used by the CLI and web help).
    ``boundary`` is the default strategy ("unknown", "pad" or "periodic").
    """

    def decorator(func):
        SOLVERS[name] = SolverSpec(name, func, boundary, summary, dict(params))
        return func

    return decorator


def get_solver(name: str) -> SolverSpec:
    if name not in SOLVERS:
        raise DeconvkitError(f"unknown method {name!r}; available: {', '.join(sorted(SOLVERS))}")
    return SOLVERS[name]

