"""The PSF model registry: one place that knows every model, its parameters and how to parse a CLI spec.

A model is a function that returns a PSF array, registered with :func:`register_psf`. Adding a model means
adding one module to :mod:`deconvkit.psf` that decorates its function; the package imports every module in
its folder, so the CLI ``--psf`` option, :func:`parse` and :func:`available` pick it up without other edits.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .._shared import check_negative_mass
from ..errors import DeconvkitError, InputError, InputNotFoundError, PSFError, PSFNotFoundError

__all__ = ["Param", "PSFModel", "register_psf", "available", "parse", "parse_spec", "load", "check_scalar",
           "PSF_FILE_EXTENSIONS", "MAX_PSF_EXTENT"]

# A PSF wider than this is almost certainly a typo (``length=15000``) and would allocate gigabytes.
MAX_PSF_EXTENT = 1000.0

PSF_FILE_EXTENSIONS = (".png", ".tif", ".tiff", ".npy", ".npz", ".jpg", ".jpeg")

# Measured PSFs often carry small negative values from background subtraction; up to
# _shared.NEGATIVE_MASS_TOLERANCE of the positive mass (the limit check_psf applies to arrays) they are clipped,
# with a warning. More than that means the file is not a PSF at all.

_REQUIRED = object()


@dataclass(frozen=True)
class Param:
    """One parameter of a PSF model as the CLI sees it.

    ``sequence=True`` lets the spec give several comma-separated values (``sigma=1.5,2``), passed to the
    model as a tuple.
    """

    name: str
    kind: type = float
    default: object = _REQUIRED
    help: str = ""
    sequence: bool = False

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def usage(self) -> str:
        value = f"<{self.kind.__name__}{',...' if self.sequence else ''}>"
        if self.required:
            return f"{self.name}={value}"
        return f"[{self.name}={'auto' if self.default is None else self.default}]"

    def convert(self, text: str, model: str):
        try:
            if self.kind is int:
                value = float(text)
                if not value.is_integer():
                    raise ValueError
                return int(value)
            return self.kind(text)
        except ValueError:
            raise PSFError(
                f"PSF {model}: parameter {self.name}={text!r} is not a valid {self.kind.__name__}") from None


@dataclass(frozen=True)
class PSFModel:
    """A registered PSF model: its name, the function that builds it and its parameters."""

    name: str
    function: Callable[..., np.ndarray]
    params: tuple[Param, ...]
    summary: str = ""
    aliases: tuple[str, ...] = field(default=())

    def usage(self) -> str:
        """The spec syntax, e.g. ``motion:length=<float>,[angle=0.0]``."""
        return f"{self.name}:" + ",".join(p.usage() for p in self.params)

    def describe(self) -> str:
        """Multi-line help: the usage and summary, then one line per parameter."""
        lines = [f"{self.usage()}  {self.summary}".rstrip()]
        for param in self.params:
            default = "" if param.required else f" (default {'auto' if param.default is None else param.default})"
            lines.append(f"    {param.name}: {param.help}{default}")
        return "\n".join(lines)

    def __call__(self, **kwargs) -> np.ndarray:
        return self.function(**kwargs)


_MODELS: dict[str, PSFModel] = {}


def register_psf(name: str, params, *, aliases=()):
    """Decorator registering a PSF model function under ``name`` (and optional ``aliases``).

    Parameters
    ----------
    name : str
        The spec name (``motion`` in ``motion:length=15``); lower case, no ``:`` or ``,``.
    params : sequence of Param
        The keyword parameters the function accepts from a spec, in positional order.
    aliases : sequence of str
        Other names accepted in a spec (``disk`` for ``defocus``).

    Examples
    --------
    >>> @register_psf("box_example", params=[Param("size", int)])
    ... def box_example(size):
    ...     return np.full((size, size), 1.0 / size**2)
    >>> parse("box_example:size=3").shape
    (3, 3)
    >>> _ = _MODELS.pop("box_example")
    """
    names = (name, *aliases)
    for key in names:
        if not key or key != key.lower() or any(c in key for c in ":,= "):
            raise ValueError(f"invalid PSF model name {key!r}")
        if key in _MODELS and _MODELS[key].name != name:
            raise ValueError(f"PSF model name {key!r} is already registered")

    def decorator(function):
        summary = (function.__doc__ or "").strip().splitlines()
        first_line = summary[0].replace("``", "") if summary else ""  # plain text for CLI help
        model = PSFModel(name, function, tuple(params), first_line, tuple(aliases))
        for key in names:
            _MODELS[key] = model
        return function

    return decorator


def available() -> dict[str, PSFModel]:
    """The registered PSF models by name (aliases left out), in registration order.

    Each :class:`PSFModel` has ``params`` (name, type, default, help), ``summary`` and ``usage()`` for help
    text, e.g. ``{name: model.usage() for name, model in available().items()}``.
    """
    return {name: model for name, model in _MODELS.items() if model.name == name}


def _valid_names() -> str:
    return ", ".join(available())


def _parse_arguments(model: PSFModel, text: str, supplied=()) -> dict:
    """Turn ``length=15,angle=30`` (or positional ``15,30``) into keyword arguments for ``model``.

    A bare value after ``key=value`` extends that key's value when the parameter takes a sequence, which is
    how ``sigma=1.5,2`` gives an anisotropic Gaussian. Required parameters named in ``supplied`` may be
    missing: the caller fills them (the voxel spacing from the image file).
    """
    by_name = {p.name: p for p in model.params}
    values: dict[str, list[str]] = {}
    last_key = None
    positional = iter(model.params)
    for token in (t.strip() for t in text.split(",")) if text.strip() else ():
        if not token:
            raise PSFError(f"PSF spec {model.name}:{text} has an empty value; usage: {model.usage()}")
        if "=" in token:
            key, _, value = (s.strip() for s in token.partition("="))
            key = key.lower()
            if key not in by_name:
                raise PSFError(
                    f"PSF {model.name} has no parameter {key!r}; usage: {model.usage()}")
            if key in values:
                raise PSFError(f"PSF {model.name}: parameter {key!r} given twice")
            values[key] = [value]
            last_key = key
        elif last_key is not None:
            if not by_name[last_key].sequence:
                raise PSFError(
                    f"PSF {model.name}: {token!r} has no name and {last_key!r} takes one value; "
                    f"usage: {model.usage()}")
            values[last_key].append(token)
        else:
            param = next(positional, None)
            if param is None:
                raise PSFError(f"PSF {model.name}: too many values in {text!r}; usage: {model.usage()}")
            values[param.name] = [token]
    kwargs = {}
    for param in model.params:
        if param.name not in values:
            if param.required and param.name not in supplied:
                raise PSFError(
                    f"PSF {model.name} needs parameter {param.name!r}; usage: {model.usage()}")
            continue
        converted = tuple(param.convert(v, model.name) for v in values[param.name])
        kwargs[param.name] = converted if len(converted) > 1 else converted[0]
    return kwargs


def parse_spec(spec, supplied=("spacing",)):
    """Check a model spec and return ``(model, kwargs)`` without building the PSF; ``None`` if it names no model.

    Lets a caller (the CLI) refuse a bad spec before reading the image, and learn whether the spec gives
    ``spacing`` or leaves it to be filled from the image's metadata (``"spacing" in kwargs``).

    Parameters
    ----------
    spec : str or other
        Anything :func:`parse` accepts; only a ``NAME:...`` string naming a registered model gives a result.
    supplied : sequence of str
        Required parameters that may be missing because the caller will supply them.

    Raises
    ------
    PSFError
        The spec names a model but its parameters are malformed, unknown or missing.

    Examples
    --------
    >>> model, kwargs = parse_spec("widefield:na=1.4,wavelength=0.52")
    >>> model.name, kwargs
    ('widefield', {'na': 1.4, 'wavelength': 0.52})
    >>> parse_spec("psf.tif") is None
    True
    """
    if not isinstance(spec, str):
        return None
    name, _, arguments = spec.strip().partition(":")
    model = _MODELS.get(name.strip().lower())
    if model is None:
        return None
    return model, _parse_arguments(model, arguments, supplied)


def parse(spec, *, spacing=None) -> np.ndarray:
    """Build a PSF from a CLI spec string or load it from a file.

    Parameters
    ----------
    spec : str or path-like or ndarray
        * ``NAME:key=value,key=value``, e.g. ``motion:length=15,angle=30``, ``defocus:radius=6``,
          ``gaussian:sigma=2``. Values may also be positional in the order of :func:`available`
          (``motion:15,30``). A sequence parameter takes several values: ``gaussian:sigma=1.5,2`` is
          anisotropic (sigma 1.5 along rows, 2 along columns) and ``gaussian:sigma=1,1,3,ndim=3`` is 3-D.
        * A path to a PNG, TIFF, JPEG or NPY file, or ``FILE.npz:NAME`` for one array of an NPZ archive
          (``psfs.npz:psf1``), loaded with :func:`load` (normalised to sum 1).
        * An array, validated and normalised like a file.
    spacing : sequence of float, optional
        Voxel spacing in micrometres (``(dz, dy, dx)`` or ``(dy, dx)``) for a model that takes one
        (``widefield``, ``gibson_lanni``, ``confocal``) when the spec gives none: the CLI passes the input
        file's metadata spacing here. A ``spacing=`` in the spec wins. Ignored by the other models and files.

    Returns
    -------
    psf : ndarray of float64, sums to 1.

    Raises
    ------
    PSFError
        Unknown model (the message lists the valid ones), bad or missing parameters, an empty spec, or an
        invalid PSF file.
    PSFNotFoundError
        The spec names a PSF file that does not exist (also a :class:`FileNotFoundError`).
    """
    if isinstance(spec, np.ndarray):
        return normalise(spec, "psf")
    if isinstance(spec, os.PathLike):
        return load(spec)
    if not isinstance(spec, str):
        raise PSFError(f"psf spec must be a string, path or array, got {type(spec).__name__}")
    text = spec.strip()
    if not text:
        # An empty spec is a mistake (an unset shell variable), never a request for blind estimation.
        raise PSFError(f"unknown PSF '' (the spec is empty): expected one of {_valid_names()} "
                       "(e.g. motion:length=15,angle=30) or a PSF file")
    name, _, arguments = text.partition(":")
    model = _MODELS.get(name.strip().lower())
    if model is not None:
        takes_spacing = any(p.name == "spacing" for p in model.params)
        supplied = ("spacing",) if spacing is not None and takes_spacing else ()
        kwargs = _parse_arguments(model, arguments, supplied)
        if supplied and "spacing" not in kwargs:
            kwargs["spacing"] = tuple(float(s) for s in np.atleast_1d(spacing))
        try:
            return model(**kwargs)
        except PSFError:
            raise
        except DeconvkitError as exc:  # a model's own range checks: still a PSF problem for the exit code
            raise PSFError(str(exc)) from exc
    if os.path.exists(text) or text.lower().endswith(PSF_FILE_EXTENSIONS) or ".npz:" in text.lower():
        return load(text)
    raise PSFError(
        f"unknown PSF {name!r}: expected one of {_valid_names()} (e.g. motion:length=15,angle=30) "
        f"or a path to a {'/'.join(e[1:].upper() for e in PSF_FILE_EXTENSIONS)} file")


def normalise(psf, name: str = "psf") -> np.ndarray:
    """Validate a measured PSF and scale it to sum 1 (float64).

    Small negative values (total negative mass at most 1 % of the positive mass, typical of background
    subtraction) are clipped to zero with a warning; more is rejected, as are NaN/Inf, empty and zero-sum
    arrays.
    """
    psf = np.asarray(psf)
    if psf.dtype == object or psf.dtype.kind not in "biuf":
        raise PSFError(f"{name} must be a real numeric array, got dtype {psf.dtype}")
    if psf.size == 0:
        raise PSFError(f"{name} is empty (shape {psf.shape})")
    psf = psf.astype(np.float64)
    if not np.isfinite(psf).all():
        raise PSFError(f"{name} contains NaN or Inf values")
    positive, negative = check_negative_mass(psf, name)
    if positive <= 0:
        raise PSFError(f"{name} has no positive values (sum {psf.sum():g}); a PSF must have a positive sum")
    if negative > 0:
        warnings.warn(f"{name}: clipped negative values ({negative / positive:.2%} of the mass) to zero",
                      stacklevel=3)
        psf = np.clip(psf, 0.0, None)
    return psf / psf.sum()


def load(path, name: str | None = None) -> np.ndarray:
    """Load a PSF from a PNG/TIFF/JPEG/NPY file and normalise it to sum 1 (see :func:`normalise`).

    Colour image files are averaged over their channels (alpha dropped). Integer files are scaled to [0, 1]
    on read, which the normalisation then makes irrelevant. ``FILE.npz:NAME`` reads array ``NAME`` of an
    NPZ archive (``NAME`` may be left out when the archive holds one array).
    """
    from ..io import read_psf

    text = os.fspath(path)
    label = name or f"PSF file {text}"
    lowered = text.lower()
    if lowered.endswith(".npz") or ".npz:" in lowered:
        return normalise(_read_npz_member(text), label)
    try:
        data = read_psf(text)
    except InputNotFoundError as exc:  # a missing PSF file is a PSF problem (exit code), still a FileNotFoundError
        raise PSFNotFoundError(str(exc)) from exc
    except InputError as exc:
        raise PSFError(str(exc)) from exc
    return normalise(data, label)


def _read_npz_member(spec: str) -> np.ndarray:
    cut = spec.lower().rindex(".npz") + 4
    path, key = spec[:cut], spec[cut + 1:]
    if not os.path.exists(path):
        raise PSFNotFoundError(f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if not key and len(names) == 1:
                key = names[0]
            if key not in names:
                problem = f"has no array {key!r}" if key else f"holds {len(names)} arrays"
                raise PSFError(f"{path} {problem}; name one of {', '.join(names)} as {path}:NAME")
            return archive[key]
    except PSFError:
        raise
    except Exception as exc:  # zipfile/pickle/format errors: one line naming the file
        raise PSFError(f"cannot read {path} as NPZ: {exc}") from exc


def check_scalar(value, name: str, *, minimum: float = 0.0, inclusive: bool = False,
                 maximum: float = MAX_PSF_EXTENT) -> float:
    """Return ``value`` as a finite float in the allowed range, or raise :class:`~deconvkit.PSFError` naming it."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PSFError(f"{name} must be a number, got {value!r}") from None
    low_ok = number >= minimum if inclusive else number > minimum
    if not math.isfinite(number) or not low_ok or number > maximum:
        low = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
        raise PSFError(f"{name}={value!r} is out of range; allowed: finite, {low} and <= {maximum:g}")
    return number
