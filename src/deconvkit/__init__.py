"""deconvkit: image deconvolution and transposed convolution, explained and verified.

Restoration: :func:`blur` (forward model), :func:`deconvolve` (non-blind), :func:`estimate_psf` and
:func:`deblur` (blind), PSF models in :mod:`deconvkit.psf`, metrics in :mod:`deconvkit.metrics`.
Deep learning's "deconvolution": :mod:`deconvkit.transposed` (NumPy, exact PyTorch semantics) and
:mod:`deconvkit.nn` (learnable upsampling, optional PyTorch).
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import DeconvkitError, InputError, MemoryLimitError, OutputError, ParameterError, PSFError, ResourceError

try:
    from .fft import otf2psf, psf2otf  # imports NumPy: the slow part of starting the command line
except KeyboardInterrupt:  # Ctrl-C while the CLI starts: one line and exit 130, not a traceback (issue 13)
    from .errors import exit_if_command_interrupted

    exit_if_command_interrupted()
    raise

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
