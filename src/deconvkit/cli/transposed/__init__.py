"""``deconvkit transposed ACTION``: transposed convolution (deep learning's "deconvolution"), explained.

A subcommand with actions of its own: each non-underscore module of this package is one ``ACTION`` and
follows the same protocol as the top-level subcommands (see :mod:`deconvkit.cli`).
"""

from __future__ import annotations

import argparse
import sys

COMMAND = "transposed"
HELP = "transposed convolution (deep learning's 'deconvolution'), explained"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .. import add_subcommands

    parser.description = "Transposed convolution: a convolution as a matrix C, and its transpose C^T."
    add_subcommands(parser, sys.modules[__name__], "transposed_action", "ACTION")
    parser.set_defaults(_print_help=parser.print_help)


def run(args: argparse.Namespace) -> int:
    """No action given: show the actions."""
    args._print_help()
    return 0
