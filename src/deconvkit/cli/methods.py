"""``deconvkit methods``: list the registered deconvolution methods and PSF models, and the FFT engine."""

from __future__ import annotations

import argparse

from ._common import emit_json

COMMAND = "methods"
HELP = "list deconvolution methods and PSF models"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..backends import describe_fft
    from ..psf import available
    from ..solvers import SOLVERS

    fft = describe_fft()  # the engine the NumPy backend's transforms use here (DECONVKIT_FFT, extra [fast])
    if args.json:
        emit_json({"methods": {n: {"summary": s.summary, "boundary": s.boundary, "params": s.params}
                               for n, s in sorted(SOLVERS.items())},
                   "psf_models": {n: m.usage() for n, m in available().items()},
                   "fft": fft})
        return 0
    print("methods (deconvkit deblur --method NAME --set key=value):")
    for name, spec in sorted(SOLVERS.items()):
        print(f"  {name:<17} {spec.summary}")
        for key, text in spec.params.items():
            print(f"      {key}: {text}")
    print("PSF models (--psf SPEC):")
    for model in available().values():
        print(f"  {model.usage()}")
    print(f"FFT engine: {fft} (DECONVKIT_FFT=auto|scipy|ducc|torch, DECONVKIT_WORKERS=N)")
    return 0
