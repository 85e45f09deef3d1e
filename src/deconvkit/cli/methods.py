"""``deconvkit methods``: list the registered deconvolution methods and PSF models."""

from __future__ import annotations

import argparse

from ._common import emit_json

COMMAND = "methods"
HELP = "list deconvolution methods and PSF models"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..psf import available
    from ..solvers import SOLVERS

    if args.json:
        emit_json({"methods": {n: {"summary": s.summary, "boundary": s.boundary, "params": s.params}
                               for n, s in sorted(SOLVERS.items())},
                   "psf_models": {n: m.usage() for n, m in available().items()}})
        return 0
    print("methods (deconvkit deblur --method NAME --set key=value):")
    for name, spec in sorted(SOLVERS.items()):
        print(f"  {name:<17} {spec.summary}")
        for key, text in spec.params.items():
            print(f"      {key}: {text}")
    print("PSF models (--psf SPEC):")
    for model in available().values():
        print(f"  {model.usage()}")
    return 0
