"""Pieces every subcommand shares: the output-path check, JSON output, progress bars, ``--set`` parsing and
the mapping of errors to exit codes.

They live here, once, so that two subcommands cannot drift apart in what they accept or how they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

import numpy as np

from .. import errors
from ..errors import DeconvkitError, InputError, InputNotFoundError, OutputError, OutputExistsError, ParameterError

__all__ = ["check_outputs", "check_image_shape", "emit_json", "progress_bar", "parse_settings", "run_guarded",
           "write_psf", "parse_psf_argument", "psf_for_input", "IMAGE_EXTENSIONS", "EXIT_ERROR", "EXIT_INTERRUPTED",
           "EXIT_MEMORY"]

# Exit codes: each DeconvkitError class carries its own (deconvkit.errors: 2 parameters and usage, 3 input,
# 4 PSF, 5 memory, 6 output); file errors raised by other code exit 2, Ctrl-C 130.
EXIT_ERROR = 2
EXIT_MEMORY = errors.MemoryLimitError.exit_code
EXIT_INTERRUPTED = 130

# Errors a user can fix by changing the command line or the files; printed as one line, never a traceback.
_USER_ERRORS = (DeconvkitError, FileNotFoundError, FileExistsError, IsADirectoryError, PermissionError,
                NotADirectoryError)


def _image_extensions() -> tuple[str, ...]:
    from ..io import FORMATS

    return tuple(e for extensions in FORMATS.values() for e in extensions)


IMAGE_EXTENSIONS = _image_extensions()


# --- paths --------------------------------------------------------------------------------------------

def _same_file(a: str, b: str) -> bool:
    """Same file by resolved path, or (when both exist) by device and inode, which also catches hard links."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return False


def check_outputs(inputs, outputs, overwrite: bool, *, extensions=IMAGE_EXTENSIONS) -> None:
    """Fail before any work if an output could not be written, or would destroy something.

    Parameters
    ----------
    inputs : iterable of path or None
        Files the command reads; each must exist. ``None`` entries are skipped.
    outputs : iterable of path or None
        Files the command writes. ``None`` entries (options not given) are skipped. Each must differ from
        every input and from every other output (by resolved path and by inode, so a hard link or a
        symlink to the input is refused), sit in an existing, writable folder, have a supported extension,
        not be a folder, and not exist unless ``overwrite``.
    overwrite : bool
        The command's ``--overwrite``.
    extensions : tuple of str or None
        Accepted file extensions (lower case, with the dot); ``None`` accepts any.

    Raises
    ------
    InputNotFoundError
        An input is missing (exit 3; also a :class:`FileNotFoundError`).
    OutputError
        An output problem (exit 6); the subclasses are also the matching built-ins
        (:class:`FileExistsError`, :class:`FileNotFoundError`, :class:`IsADirectoryError`,
        :class:`PermissionError`). The message names the path and what to do.
    """
    inputs = [os.fspath(p) for p in inputs if p is not None]
    outputs = [os.fspath(p) for p in outputs if p is not None]
    for source in inputs:
        if not os.path.exists(source):
            raise InputNotFoundError(f"input file {source} does not exist")
    from ..io import check_output_path

    for index, output in enumerate(outputs):
        for source in inputs:
            if _same_file(source, output):
                raise OutputError(f"output {output} is the input file {source}; choose another output path")
        for other in outputs[:index]:
            if _same_file(other, output):
                raise OutputError(f"outputs {other} and {output} are the same file; choose distinct paths")
        # Extension, folder, permissions, name length, existence: io's own check, so the CLI and
        # write_image cannot disagree on what can be written.
        try:
            check_output_path(output, overwrite=overwrite, extensions=extensions)
        except OutputExistsError:
            raise OutputExistsError(f"{output} already exists; pass --overwrite to replace it") from None


def check_image_shape(image, channel_axis, path) -> None:
    """Refuse, before any work, an image too small to restore: every spatial axis needs 2 pixels or more.

    A 1xN or Nx1 image has no second dimension to deconvolve along (and the noise estimate needs both).
    """
    shape = list(image.shape)
    if channel_axis is not None:
        del shape[channel_axis]
    if any(n < 2 for n in shape):
        raise InputError(f"{path} is {'x'.join(map(str, shape))} pixels; deconvolution needs at least 2 pixels "
                         "along each axis")


# --- the PSF of a known-PSF run -------------------------------------------------------------------------

def parse_psf_argument(text: str):
    """``--psf`` checked before the input is read, so a bad spec fails first: ``(spec, psf)``.

    ``spec`` is :func:`deconvkit.psf.parse_spec`'s ``(model, kwargs)`` (``None`` for a file); ``psf`` is the
    PSF, or ``None`` for a microscope model (one with a ``spacing`` parameter), which
    :func:`psf_for_input` builds once the input's voxel spacing is known.
    """
    from ..psf import parse, parse_spec

    spec = parse_spec(text)
    if spec is not None and any(p.name == "spacing" for p in spec[0].params):
        return spec, None
    return spec, parse(text)


def psf_for_input(text: str, parsed, image_shape, channel_axis, info):
    """The PSF ``--psf`` names, for the input ``info`` describes (``blur`` and ``deblur`` alike).

    A microscope model is sampled at the input's voxel spacing (``info.spacing``, from its OME/ImageJ
    metadata) unless the spec gives ``spacing=``; a PSF TIFF with spacing metadata is resampled to it.

    Parameters
    ----------
    text : str
        The ``--psf`` argument.
    parsed : tuple
        :func:`parse_psf_argument`'s result.
    image_shape, channel_axis
        The image (alpha set aside) and its channel axis.
    info : deconvkit.io.ImageInfo

    Returns
    -------
    psf : ndarray
    resampled_from : tuple or None
        The PSF file's own spacing when it was resampled, else ``None``.
    """
    spec, psf = parsed
    channels = None if channel_axis is None else channel_axis % len(image_shape)
    spatial = tuple(n for axis, n in enumerate(image_shape) if axis != channels)
    if psf is None:
        return _physical_psf(text, *spec, info, spatial, info.path), None
    return _measured_psf(text, psf, info)


def _physical_psf(spec: str, model, kwargs: dict, info, shape, path: str) -> np.ndarray:
    """A microscope model's PSF at the input's voxel spacing (``info.spacing`` from its OME/ImageJ metadata)
    unless the spec gives ``spacing=``; cropped to the image when its size was left to the model.

    A model's default extent holds the defocus cone (63 px wide at 65 nm) and can exceed a small stack,
    which the solvers refuse; an explicit ``size=`` is the user's choice and is kept (and checked there).
    """
    from ..errors import PSFError
    from ..microscopy import fit_psf
    from ..psf import parse

    spacing = None
    if "spacing" not in kwargs:
        if info.spacing is None:
            example = "0.2/0.065/0.065" if len(shape) == 3 else "0.065/0.065"
            raise PSFError(f"PSF {model.name} needs the voxel spacing and {path} has none in its metadata "
                           f"(OME-TIFF PhysicalSizeX/Y/Z or ImageJ resolution/spacing); add it to the spec in "
                           f"micrometres, e.g. --psf {spec.strip()},spacing={example}")
        spacing = info.spacing
    psf = parse(spec, spacing=spacing)
    return psf if "size" in kwargs else fit_psf(psf, shape)


def _measured_psf(spec: str, psf: np.ndarray, info):
    """A PSF file whose TIFF metadata gives its voxel spacing, resampled to the input's known spacing.

    Returns ``(psf, psf_spacing)``; ``psf_spacing`` is ``None`` (the PSF used as read) unless resampled. A file
    without spacing (a PNG, a PSF written by ``deconvkit estimate``) is taken to be at the input's spacing.
    """
    from .. import io
    from ..psf import resample

    if info.spacing is None or not spec.lower().endswith((".tif", ".tiff")) or not os.path.isfile(spec):
        return psf, None
    psf_spacing = io.read_image(spec)[1].spacing
    if psf_spacing is None or len(psf_spacing) != psf.ndim or len(info.spacing) != psf.ndim:
        return psf, None
    if np.allclose(psf_spacing, info.spacing, rtol=1e-6, atol=0):
        return psf, None
    return resample(psf, psf_spacing, info.spacing), psf_spacing


# --- output -------------------------------------------------------------------------------------------

def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)  # JSON has no NaN/Inf; a string keeps the output parseable
    return value


def emit_json(obj) -> None:
    """Print ``obj`` as one line of JSON on stdout (keys sorted; NumPy values and NaN made JSON-safe)."""
    print(json.dumps(_jsonable(obj), sort_keys=True))


@contextlib.contextmanager
def progress_bar(description: str, quiet: bool):
    """A tqdm bar on stderr when it is a terminal; yields a ``progress(done, total)`` callback or ``None``."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(desc=description, unit="it", leave=False, file=sys.stderr)

    def update(done, total, stage=None):
        if stage is not None and stage != bar.desc:
            bar.set_description(stage, refresh=False)
        if bar.total != total:
            bar.reset(total=total)
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()


def write_psf(path, psf, *, overwrite=False) -> None:
    """Write a PSF: as float32 to TIFF/NPY (exact), scaled to its peak as 16-bit PNG otherwise.

    Either way :func:`deconvkit.psf.parse` reads it back normalised to sum 1.
    """
    from .. import io

    path = os.fspath(path)
    psf = np.asarray(psf, dtype=np.float64)
    if path.lower().endswith((".tif", ".tiff", ".npy")):
        io.write_image(path, psf, dtype="float32", overwrite=overwrite)
    else:
        io.write_image(path, psf / psf.max(), dtype="uint16" if path.lower().endswith(".png") else None,
                       overwrite=overwrite)


# --- options ------------------------------------------------------------------------------------------

def parse_settings(pairs, method: str | None = None) -> dict:
    """``["nsr=0.01", "accelerate=false"]`` (repeated ``--set``) -> ``{"nsr": 0.01, "accelerate": False}``.

    With ``method``, each key must be one of the method's parameters (or ``noise_sigma``), and each value is
    parsed and range-checked by the method's typed table (:mod:`deconvkit.solvers._param_table`): an
    unknown key, a key the command sets itself (``method``, ``channel_axis``, ``boundary``...), a value of
    the wrong type or out of range raise :class:`~deconvkit.errors.ParameterError` with the valid range.
    Without ``method`` (or for a method without a table) values are converted generically, and non-finite
    numbers and reserved keys are still refused.
    """
    from ..solvers._param_table import PARAMS, RESERVED, validate

    raw = {}
    for pair in pairs or ():
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ParameterError(f"--set expects key=value, got {pair!r}")
        if key in RESERVED:
            raise ParameterError(f"--set {key}=... is not allowed: {key} is set by its own option "
                                 f"(--{key.replace('_', '-')}) or by the command")
        if key in raw:
            raise ParameterError(f"--set {key} given twice")
        raw[key] = text.strip()
    common = {key: raw.pop(key) for key in list(raw) if key in _COMMON}
    settings = {key: _COMMON[key].parse(text) for key, text in common.items()}
    if method is not None and method in PARAMS:
        settings.update(validate(method, raw, texts=True))
        return settings
    for key, text in raw.items():
        settings[key] = _convert_value(key, text)
    return settings


def _common_settings():
    from .._params import real

    # Keywords of deconvolve() itself that --set may give: a noise level is finite (inf gave a flat image).
    return {"noise_sigma": real("noise_sigma", 0, 1e6, allow_none=True)}


_COMMON = _common_settings()


def _convert_value(key: str, text: str):
    lowered = text.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        if kind is float and not np.isfinite(value):
            raise ParameterError(f"{key}={text} is not valid (not finite)")
        return value
    return text


# --- errors -------------------------------------------------------------------------------------------

def run_guarded(func, args) -> int:
    """Call ``func(args)`` and map what the user can fix to one ``error: ...`` line on stderr.

    A :class:`~deconvkit.DeconvkitError` exits with its class's ``exit_code`` (see :mod:`deconvkit.errors`),
    other file errors exit 2, running out of memory exits 5, Ctrl-C exits 130; no traceback either way.
    Anything else is a bug and keeps its traceback.
    """
    # The work starts: Ctrl-C raises KeyboardInterrupt again (cleanup of temporary files, exit 130 below)
    # instead of the immediate exit that covered the start-up (deconvkit.errors).
    errors.restore_ctrl_c()
    try:
        return int(func(args) or 0)
    except DeconvkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", EXIT_ERROR))
    except _USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError:
        print("error: out of memory; try a smaller image, a crop, or fewer channels", file=sys.stderr)
        return EXIT_MEMORY
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def integer_at_least(minimum: int, what: str = "value"):
    """An argparse ``type=`` accepting integers >= ``minimum``; anything else becomes one usage line
    (``error: argument --seed: invalid seed '-1': expected an integer >= 0``), never a traceback."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: expected an integer >= {minimum}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse
