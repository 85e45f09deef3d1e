"""Scoped configuration of the array backends: FFT workers and the NumPy backend's FFT engine.

The values live in :class:`contextvars.ContextVar` objects, as ``scipy.fft.set_workers`` does: a
``with config(...)`` block changes them for the current thread / task only and restores them on exit,
and no module-level variable is ever reassigned. :func:`set_workers` / :func:`set_fft_engine` set the
value for the current context (the main thread, and asyncio tasks or ``contextvars.copy_context()``
runs started from it); a ``threading.Thread`` starts from the environment defaults, so code that
fans out to threads passes ``workers=`` to the backend or enters ``config`` in each thread. Defaults come
from the environment variables
``DECONVKIT_WORKERS`` (an integer; default all cores) and ``DECONVKIT_FFT`` (``scipy`` or ``torch``).
"""

from __future__ import annotations

import contextlib
import contextvars
import os

from .._shared import DeconvkitError

__all__ = ["FFT_ENGINES", "config", "current_workers", "configured_workers", "current_fft_engine",
           "set_workers", "set_fft_engine"]

FFT_ENGINES = ("scipy", "torch")


def _resolve_workers(workers) -> int:
    if workers in (None, -1):
        return os.cpu_count() or 1
    workers = int(workers)
    if workers < 1:
        raise DeconvkitError(f"workers must be >= 1 (or -1 / None: all cores), got {workers}")
    return workers


def _check_engine(engine: str) -> str:
    if engine not in FFT_ENGINES:
        raise DeconvkitError(f"fft engine must be one of {FFT_ENGINES}, got {engine!r}")
    return engine


# Read once at import: the environment gives the defaults, config()/set_*() override them per context.
_ENV_WORKERS = os.environ.get("DECONVKIT_WORKERS") or None
_DEFAULT_WORKERS: int = _resolve_workers(_ENV_WORKERS)
_DEFAULT_FFT: str = os.environ.get("DECONVKIT_FFT", "scipy")
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
    """FFT library behind the NumPy backend now: ``"scipy"`` or ``"torch"``."""
    return _FFT.get()


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
    """Choose the FFT library behind the NumPy backend: ``"scipy"`` (pocketfft, the default) or
    ``"torch"`` (PyTorch's CPU FFT, MKL on x86 builds, called zero-copy on the NumPy arrays).

    Arrays stay NumPy arrays either way; only the transforms change. Results agree to rounding. Which is
    faster depends on the size and the machine: see ``benchmarks/speed.py`` and
    ``docs/benchmarks.md`` (speed). Also settable with the environment variable ``DECONVKIT_FFT`` and
    scoped with ``config(fft=...)``; to run the solvers on torch tensors use ``backend="torch"``.
    """
    _FFT.set(_check_engine(engine))
