"""deconvkit: image deconvolution and transposed convolution, explained and verified.

Restoration: :func:`blur` (forward model), :func:`deconvolve` (non-blind), :func:`estimate_psf` and
:func:`deblur` (blind), PSF models in :mod:`deconvkit.psf`, metrics in :mod:`deconvkit.metrics`.
Deep learning's "deconvolution": :mod:`deconvkit.transposed` (NumPy, exact PyTorch semantics) and
:mod:`deconvkit.nn` (learnable upsampling, optional PyTorch).
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (
    DeconvkitError,
    InputError,
    MemoryLimitError,
    OutputError,
    ParameterError,
    PSFError,
    ResourceError,
    exit_on_ctrl_c_while_the_command_starts,
)

# Before NumPy loads: a Ctrl-C while the command line starts is one line and exit 130 (issue 13); only when
# this process is the deconvkit command, never for a library import.
exit_on_ctrl_c_while_the_command_starts()

from .fft import otf2psf, psf2otf  # noqa: E402 - after the start-up handler, on purpose

__all__ = [
    "__version__",
    "DeconvkitError",
    "InputError",
    "PSFError",
    "ParameterError",
    "ResourceError",
    "MemoryLimitError",
    "OutputError",
    "psf2otf",
    "otf2psf",
    "blur",
    "deconvolve",
    "estimate_psf",
    "deblur",
    "psf",
    "metrics",
    "io",
    "transposed",
]

_LAZY = {
    "blur": ("forward", "blur"),
    "deconvolve": ("solvers", "deconvolve"),
    "estimate_psf": ("blind", "estimate_psf"),
    "deblur": ("blind", "deblur"),
}


def __getattr__(name):
    # Lazy so that `import deconvkit` stays cheap and optional parts load only when used.
    import importlib

    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    if name in ("psf", "metrics", "io", "transposed", "nn", "operators", "fft", "testing", "solvers",
                "blind", "noise", "backends", "boundaries", "forward", "cli", "errors"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'deconvkit' has no attribute {name!r}")
