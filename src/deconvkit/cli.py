"""The ``deconvkit`` command line.

Subcommands live in the modules listed in :data:`SUBCOMMAND_MODULES`; each defines ``register(subparsers)``
which adds its parsers with ``set_defaults(func=handler)``. A handler takes the parsed ``args`` and returns
an exit code. Optional parts (PyTorch) import their heavy dependencies inside the handler, so ``deconvkit
--help`` works on a minimal install.

Errors the user can fix (bad files, bad PSF specs, bad parameters) are printed as one line ``error: ...``
with exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ._shared import DeconvkitError

SUBCOMMAND_MODULES = [
    "deconvkit._cli_restore",
    "deconvkit._cli_blind",
    "deconvkit.transposed.cli",
    "deconvkit.nn.cli",
]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="deconvkit",
        description="Image deconvolution (restoration, blind PSF estimation) and transposed convolution.")
    parser.add_argument("--version", action="version", version=f"deconvkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("deconvkit"):
                continue  # a part not built yet in this checkout
            raise
        module.register(subparsers)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (DeconvkitError, FileNotFoundError, FileExistsError, IsADirectoryError, PermissionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
