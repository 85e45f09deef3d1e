"""The exception hierarchy: every error deconvkit raises on purpose is a :class:`DeconvkitError`.

Callers catch :class:`DeconvkitError` for "deconvkit refused this request", or one subclass when they
handle one kind of problem (a web app answers :class:`InputError` with 400 and :class:`ResourceError` with
413). :class:`DeconvkitError` subclasses :class:`ValueError`, as it always has, so code written against
earlier versions (``except ValueError``) keeps working.

Each class carries the exit code the command line returns for it, ``exit_code``, so the CLI maps an error
to its status in one place (``sys.exit(exc.exit_code)``) and scripts can tell the kinds apart:

======================  =====  ==================================================================
class                   exit   meaning
======================  =====  ==================================================================
DeconvkitError          2      any other refused request (also the CLI's usage errors)
ParameterError          2      a numeric/choice parameter out of range or of the wrong type
InputError              3      an input image missing, unreadable, corrupt, or unusable data
PSFError                4      a PSF spec or file that is malformed or not a PSF
ResourceError           5      the work would not fit in memory (or another resource limit)
OutputError             6      an output path that cannot or must not be written
(KeyboardInterrupt)     130    Ctrl-C (128 + SIGINT), one ``error: interrupted`` line
======================  =====  ==================================================================

The file-system flavoured errors also subclass the matching built-in (:class:`InputNotFoundError` is a
:class:`FileNotFoundError`, :class:`OutputExistsError` a :class:`FileExistsError`, ...), so callers that
catch the built-ins keep working.
"""

from __future__ import annotations

__all__ = [
    "DeconvkitError",
    "ParameterError",
    "InputError",
    "InputNotFoundError",
    "PSFError",
    "PSFNotFoundError",
    "ResourceError",
    "MemoryLimitError",
    "OutputError",
    "OutputExistsError",
    "OutputFolderError",
    "OutputIsFolderError",
    "OutputPermissionError",
    "OutputWriteError",
    "EXIT_CODES",
    "exit_on_ctrl_c_while_the_command_starts",
    "restore_ctrl_c",
    "is_command_line",
]


class DeconvkitError(ValueError):
    """Invalid input to a deconvkit function (a ValueError, so callers can catch either)."""

    exit_code = 2


class ParameterError(DeconvkitError):
    """A parameter of the wrong type, out of its range, or unknown to the method; the message says the range."""

    exit_code = 2


class InputError(DeconvkitError):
    """An input image that is missing, unreadable, corrupt, or holds data that cannot be processed."""

    exit_code = 3


class InputNotFoundError(InputError, FileNotFoundError):
    """An input file that does not exist (also a :class:`FileNotFoundError`)."""


class PSFError(DeconvkitError):
    """A PSF spec, model parameter or PSF file/array that is malformed or is not a PSF."""

    exit_code = 4


class PSFNotFoundError(PSFError, FileNotFoundError):
    """A PSF file that does not exist (also a :class:`FileNotFoundError`)."""


class ResourceError(DeconvkitError):
    """The requested work exceeds a resource limit (memory, size, work bound)."""

    exit_code = 5


class MemoryLimitError(ResourceError, MemoryError):
    """The data or the computation would not fit in memory (also a :class:`MemoryError`)."""


class OutputError(DeconvkitError):
    """An output that cannot or must not be written: bad extension, missing or read-only folder, disk full,
    same file as an input, already exists."""

    exit_code = 6


class OutputExistsError(OutputError, FileExistsError):
    """The output file exists and overwriting was not asked for (also a :class:`FileExistsError`)."""


class OutputFolderError(OutputError, FileNotFoundError):
    """The output's folder does not exist (also a :class:`FileNotFoundError`)."""


class OutputIsFolderError(OutputError, IsADirectoryError):
    """The output path is a folder (also an :class:`IsADirectoryError`)."""


class OutputWriteError(OutputError, OSError):
    """The operating system refused the write: disk full, file too large, I/O error (also an
    :class:`OSError`). The partial file is removed and the destination left as it was."""


class OutputPermissionError(OutputError, PermissionError):
    """The output's folder is not writable (also a :class:`PermissionError`)."""


# For documentation and the CLI's help epilogue: the most specific base class -> exit status.
EXIT_CODES = {cls.__name__: cls.exit_code for cls in (DeconvkitError, ParameterError, InputError, PSFError,
                                                      ResourceError, OutputError)}



def _exit_interrupted(signum, frame):  # pragma: no cover - runs in a CLI subprocess (tested there)
    # Nothing is written during start-up, so there is nothing to clean up: exit at once, one line.
    import os

    os.write(2, b"error: interrupted\n")
    os._exit(130)


def is_command_line() -> bool:
    """Whether this process is the ``deconvkit`` command: ``python -m deconvkit`` or the ``deconvkit`` script.

    Read from ``sys.orig_argv`` (the interpreter's own command line), so importing deconvkit from any other
    program never counts.
    """
    import os
    import sys

    argv = list(getattr(sys, "orig_argv", ()))
    as_module = any((a == "-m" and b == "deconvkit") or a == "-mdeconvkit" for a, b in zip(argv, argv[1:] + [""]))
    return as_module or (len(argv) > 1 and os.path.splitext(os.path.basename(argv[1]))[0] == "deconvkit")


def exit_on_ctrl_c_while_the_command_starts() -> None:
    """When this process is the CLI, make Ctrl-C during its start-up one ``error: interrupted`` line, exit 130.

    ``import deconvkit`` loads NumPy and the subcommands load SciPy (seconds on a loaded machine) before the
    CLI's own handler exists; a Ctrl-C there printed a ``KeyboardInterrupt`` traceback, or, landing inside
    NumPy's C-extension import, NumPy's "IMPORTANT: PLEASE READ THIS" ``ImportError``. A SIGINT handler is
    installed at the top of the package's import instead, and ``deconvkit.cli._common.run_guarded``
    gives Ctrl-C back to Python (``KeyboardInterrupt``, with its cleanup) when the command's work starts.
    A library import (any other program) is left alone. Only Python's own start-up before any deconvkit
    code runs (``site``, ``.pth`` files) is out of reach.
    """
    import signal

    if is_command_line():
        try:
            signal.signal(signal.SIGINT, _exit_interrupted)
        except ValueError:  # pragma: no cover - not the main thread: not a command-line start
            pass


def restore_ctrl_c() -> None:
    """Undo :func:`exit_on_ctrl_c_while_the_command_starts`: Ctrl-C raises ``KeyboardInterrupt`` again."""
    import signal

    try:
        if signal.getsignal(signal.SIGINT) is _exit_interrupted:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # pragma: no cover - not the main thread
        pass
