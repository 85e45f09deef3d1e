"""Scoped configuration of the array backends: FFT workers and the NumPy backend's FFT engine.

The values live in :class:`contextvars.ContextVar` objects, as ``scipy.fft.set_workers`` does: a
``with config(...)`` block changes them for the current thread / task only and restores them on exit,
and no module-level variable is ever reassigned. :func:`set_workers` / :func:`set_fft_engine` set the
value for the current context (the main thread, and asyncio tasks or ``contextvars.copy_context()``
runs started from it); a ``threading.Thread`` starts from the environment defaults, so code that
fans out to threads passes ``workers=`` to the backend or enters ``config`` in each thread. Defaults come
from the environment variables
``DECONVKIT_WORKERS`` (an integer; default all cores) and ``DECONVKIT_FFT`` (one of :data:`FFT_ENGINES`).

FFT engines: ``"scipy"`` (pocketfft, always there), ``"ducc"`` (ducc0, the optional extra
``deconvkit[fast]``: 0.2-0.75x pocketfft's time per transform pair on the solvers' domains from 1080^2 up,
``docs/benchmarks_fft.md``), ``"torch"`` (PyTorch's CPU FFT on the NumPy arrays) and ``"auto"``, the
default: ``"ducc"`` when ``import ducc0`` works, else ``"scipy"``. :func:`current_fft_engine` names the
engine an ``"auto"`` setting resolves to.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os

from .._shared import DeconvkitError

__all__ = ["FFT_ENGINES", "config", "current_workers", "configured_workers", "current_fft_engine",
           "set_workers", "set_fft_engine", "ducc_available", "describe_fft"]

FFT_ENGINES = ("auto", "scipy", "ducc", "torch")
_FAST_EXTRA = "pip install 'deconvkit[fast]' (or pip install ducc0)"


def _resolve_workers(workers) -> int:
    if workers in (None, -1):
        return os.cpu_count() or 1
    workers = int(workers)
    if workers < 1:
        raise DeconvkitError(f"workers must be >= 1 (or -1 / None: all cores), got {workers}")
    return workers


def _check_engine(engine: str) -> str:
    """``engine`` if it names an engine that can run here (``"ducc"`` needs ducc0 importable)."""
    if engine not in FFT_ENGINES:
        raise DeconvkitError(f"fft engine must be one of {FFT_ENGINES}, got {engine!r}")
    if engine == "ducc" and not ducc_available():
        raise DeconvkitError(f"fft engine 'ducc' needs the ducc0 package: {_FAST_EXTRA}")
    return engine


@functools.cache
def _ducc_fft():
    """The ``ducc0.fft`` module, or ``None`` when it cannot be imported; imported on first use only (ducc0
    is an optional, GPL-licensed dependency, and ``import deconvkit`` should not pay for it)."""
    try:
        import ducc0.fft
    except ImportError:
        return None
    return ducc0.fft


def ducc_available() -> bool:
    """True when ducc0 (the ``deconvkit[fast]`` extra) can be imported."""
    return _ducc_fft() is not None


def _resolve_engine(engine: str) -> str:
    if engine == "auto":
        return "ducc" if ducc_available() else "scipy"
    return engine


# Read once at import: the environment gives the defaults, config()/set_*() override them per context.
_ENV_WORKERS = os.environ.get("DECONVKIT_WORKERS") or None
_DEFAULT_WORKERS: int = _resolve_workers(_ENV_WORKERS)
# not checked here: a bad or unavailable DECONVKIT_FFT is reported at the first transform (as a
# DeconvkitError, one line in the CLI) rather than by a traceback from ``import deconvkit``
_DEFAULT_FFT: str = os.environ.get("DECONVKIT_FFT") or "auto"
# None until config()/set_workers() sets it: PyTorch's own thread count is then left alone
# (configured_workers), while current_workers falls back to the environment's default
_WORKERS = contextvars.ContextVar("deconvkit_workers", default=None if _ENV_WORKERS is None else _DEFAULT_WORKERS)
_FFT = contextvars.ContextVar("deconvkit_fft", default=_DEFAULT_FFT)


def current_workers() -> int:
    """FFT threads the NumPy backend uses now (see :func:`config`)."""
    workers = _WORKERS.get()
    return _DEFAULT_WORKERS if workers is None else workers


def configured_workers() -> int | None:
    """The workers set by ``DECONVKIT_WORKERS``, :func:`config` or :func:`set_workers`; ``None`` when
    none of them was used. The torch backend applies only this (PyTorch's thread count is process-wide,
    and its default, the physical cores, is already "all cores")."""
    return _WORKERS.get()


def current_fft_engine() -> str:
    """FFT library behind the NumPy backend now: ``"scipy"``, ``"ducc"`` or ``"torch"`` (``"auto"``
    resolved: ``"ducc"`` when ducc0 is importable, else ``"scipy"``)."""
    # checked here, at each use, because the environment's value is not checked at import
    return _resolve_engine(_check_engine(_FFT.get()))


def describe_fft(engine: str | None = None, workers: int | None = None) -> str:
    """One line naming the FFT engine and threads in use, e.g. ``"ducc (ducc0 0.42.0), 2 workers"``.

    ``engine``/``workers`` default to the current configuration; shown by ``deconvkit methods``.
    """
    engine = current_fft_engine() if engine is None else _resolve_engine(_check_engine(engine))
    workers = current_workers() if workers is None else workers
    if engine == "ducc":
        import ducc0

        library = f"ducc0 {ducc0.__version__}"
    elif engine == "torch":
        import torch

        library = f"torch {torch.__version__}"
    else:
        import scipy

        library = f"scipy {scipy.__version__} pocketfft"
    return f"{engine} ({library}), {workers} worker{'s' if workers != 1 else ''}"


@contextlib.contextmanager
def config(*, workers: int | None = ..., fft: str | None = None):
    """Set FFT workers and/or engine inside a ``with`` block (restored on exit; thread/task local).

    Examples
    --------
    >>> import deconvkit.backends as backends
    >>> with backends.config(workers=1, fft="scipy"):
    ...     backends.current_workers()
    1
    """
    tokens = []
    if workers is not ...:
        tokens.append((_WORKERS, _WORKERS.set(_resolve_workers(workers))))
    if fft is not None:
        tokens.append((_FFT, _FFT.set(_check_engine(fft))))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def set_workers(workers: int | None) -> None:
    """Set the number of FFT threads from now on in this context (``None`` or -1: all cores).

    Kept as the documented alias of ``config(workers=...)`` for code that cannot use a ``with`` block.
    """
    _WORKERS.set(_resolve_workers(workers))


def set_fft_engine(engine: str) -> None:
    """Choose the FFT library behind the NumPy backend: ``"auto"`` (the default: ducc0 when installed,
    else pocketfft), ``"scipy"`` (pocketfft), ``"ducc"`` (ducc0, extra ``deconvkit[fast]``) or
    ``"torch"`` (PyTorch's CPU FFT, called zero-copy on the NumPy arrays).

    Arrays stay NumPy arrays either way; only the transforms change. Results agree to rounding. Which is
    faster depends on the size and the machine: see ``benchmarks/fft_engines.py`` and
    ``docs/benchmarks_fft.md``. Also settable with the environment variable ``DECONVKIT_FFT`` and
    scoped with ``config(fft=...)``; to run the solvers on torch tensors use ``backend="torch"``.
    """
    _FFT.set(_check_engine(engine))
