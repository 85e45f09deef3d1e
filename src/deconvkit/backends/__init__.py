"""Array backends: the registry, the scoped configuration, and the implementations.

``numpy`` (:mod:`.numpy`: NumPy arrays; transforms by ducc0 when the extra ``deconvkit[fast]`` is
installed, else ``scipy.fft``) is always available; ``torch`` and ``cuda``
(:mod:`.torch`: PyTorch tensors on the CPU or a GPU) when PyTorch is installed. Solvers receive an
instance through :func:`get_backend` (``deconvolve(..., backend="torch")``, the one documented way to run
on PyTorch tensors) and use only its method set. FFT workers and the NumPy backend's FFT engine are set
in a scope with :func:`config` (``set_workers`` / ``set_fft_engine`` and the environment variables
``DECONVKIT_WORKERS`` / ``DECONVKIT_FFT`` are kept as aliases).

Import layering: this package imports nothing from :mod:`deconvkit.fft` (which builds on it), so there
is no import cycle. Adding a backend: a module with a class offering :class:`.numpy.NumpyBackend`'s
methods, registered with :func:`register_backend`.
"""

from __future__ import annotations

import importlib.util

from .._shared import DeconvkitError, tensor_device
from ._config import (
    FFT_ENGINES,
    config,
    configured_workers,
    current_fft_engine,
    current_workers,
    describe_fft,
    ducc_available,
    set_fft_engine,
    set_workers,
)
from .numpy import NumpyBackend

__all__ = ["get_backend", "register_backend", "available_backends", "config", "current_workers", "configured_workers",
           "current_fft_engine", "set_workers", "set_fft_engine", "FFT_ENGINES", "NumpyBackend",
           "ducc_available", "describe_fft",
           "TorchBackend", "torch_available", "tensor_device"]


def _torch_factory(device):
    def factory(**kwargs):
        from .torch import TorchBackend

        kwargs.setdefault("device", device)
        return TorchBackend(**kwargs)
    return factory


# name -> factory(**kwargs). The torch entries import PyTorch only when used.
_REGISTRY = {"numpy": NumpyBackend, "torch": _torch_factory("cpu"), "cuda": _torch_factory("cuda")}


def torch_available() -> bool:
    """True when PyTorch can be imported (the ``torch``/``cuda`` backends then work)."""
    return importlib.util.find_spec("torch") is not None


def available_backends() -> list[str]:
    names = sorted(_REGISTRY)
    return names if torch_available() else [n for n in names if n not in ("torch", "cuda")]


def register_backend(name: str, factory) -> None:
    """Register a backend factory (a class or callable returning an instance) under ``name``."""
    _REGISTRY[name] = factory


def get_backend(name=None, **kwargs):
    """A backend instance by name (``"numpy"`` when ``None``); an instance is passed through."""
    if name is None:
        name = "numpy"
    if not isinstance(name, str):
        return name
    if name not in _REGISTRY:
        raise DeconvkitError(f"unknown backend {name!r}; available: {available_backends()}")
    return _REGISTRY[name](**kwargs)


def __getattr__(name):
    if name == "TorchBackend":  # imported lazily so that importing deconvkit never imports torch
        from .torch import TorchBackend

        return TorchBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
