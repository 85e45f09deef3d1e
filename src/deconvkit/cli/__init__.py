"""The ``deconvkit`` command line: :func:`main` and the subcommand protocol.

Protocol
--------
Every module (or subpackage) ``deconvkit/cli/<name>.py`` whose name does not start with ``_`` is a
subcommand, found by scanning this package with :mod:`pkgutil`; nothing lists them. Such a module defines

``COMMAND: str``
    The subcommand's name on the command line (e.g. ``"deblur"``, ``"train-segmentation"``).
``HELP: str``
    One line for ``deconvkit --help``.
``add_arguments(parser: argparse.ArgumentParser) -> None``
    Adds its options to its own parser (``description`` and ``formatter_class`` may be set on it).
``run(args: argparse.Namespace) -> int``
    Does the work and returns the exit code.

Adding a subcommand is adding one such file. Shared pieces are in :mod:`deconvkit.cli._common`: the one
output-path check :func:`~deconvkit.cli._common.check_outputs` (call it before any work),
:func:`~deconvkit.cli._common.emit_json`, :func:`~deconvkit.cli._common.progress_bar`,
:func:`~deconvkit.cli._common.parse_settings` (``--set key=value``) and the error mapping
(:func:`~deconvkit.cli._common.run_guarded`): a :class:`~deconvkit.DeconvkitError` becomes one line
``error: ...`` and its class's exit code (2 parameters, 3 input, 4 PSF, 5 memory, 6 output; see
:mod:`deconvkit.errors`), another file error exit 2, Ctrl-C one line and exit 130, never a traceback.

A module must import without optional dependencies (PyTorch, matplotlib): they are imported inside ``run``,
so that ``deconvkit --help`` works on a minimal install. A module that fails to import, or lacks a part of
the protocol, is an error at start-up rather than a subcommand that silently disappears.

A subcommand with actions of its own (``deconvkit transposed explain``) is a subpackage following the same
protocol one level down (see :mod:`deconvkit.cli.transposed`).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from ._common import EXIT_INTERRUPTED, run_guarded

__all__ = ["main", "build_parser", "discover", "add_subcommands"]

_REQUIRED = ("COMMAND", "HELP", "add_arguments", "run")


def discover(package) -> list:
    """The subcommand modules of ``package`` (non-underscore modules and subpackages), sorted by name."""
    modules = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        missing = [name for name in _REQUIRED if not hasattr(module, name)]
        if missing:
            raise ImportError(f"CLI module {module.__name__} lacks {', '.join(missing)} "
                              "(see the protocol in deconvkit.cli)")
        modules.append(module)
    return modules


def add_subcommands(parser: argparse.ArgumentParser, package, dest: str, metavar: str) -> None:
    """Give ``parser`` one subparser per module of ``package``; each runs its module's ``run``."""
    subparsers = parser.add_subparsers(dest=dest, metavar=metavar)
    seen = {}
    for module in discover(package):
        if module.COMMAND in seen:
            raise ImportError(f"CLI modules {seen[module.COMMAND]} and {module.__name__} both define "
                              f"COMMAND = {module.COMMAND!r}")
        seen[module.COMMAND] = module.__name__
        sub = subparsers.add_parser(module.COMMAND, help=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="deconvkit",
        description="Image deconvolution (restoration, blind PSF estimation) and transposed convolution.")
    parser.add_argument("--version", action="version", version=f"deconvkit {__version__}")
    add_subcommands(parser, sys.modules[__name__], "command", "COMMAND")
    return parser


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except KeyboardInterrupt:  # Ctrl-C while the subcommands load: one line, like Ctrl-C during the work
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help()
        return 0
    return run_guarded(run, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
