"""Typed parameter specs: one place that checks a solver's numeric/choice parameters, from the API or text.

A solver declares its parameters as a table of :class:`Spec` (built with :func:`integer`, :func:`real`,
:func:`boolean` and :func:`choice`); the same spec checks a Python value (``Spec.check``) and parses a CLI
``--set key=value`` text (``Spec.parse``), so the API and the CLI accept exactly the same values and say the
valid range in the same words. :func:`parse_assignments` turns a list of ``key=value`` texts into keyword
arguments, rejecting unknown keys and keys that clash with the caller's own arguments.

Why strict: Python's own conversions accept nonsense that silently changes the work done --
``int(2.5)`` is 2, ``bool("maybe")`` is True, ``range(int(-1))`` runs nothing, ``float("inf")`` passes a
``> 0`` check, and ``iterations=1e12`` hangs. Every spec therefore rejects non-finite numbers, booleans
where numbers are meant (``True`` is an ``int`` in Python), fractional integers and anything outside its
range, and integer parameters that count work (iterations) carry an upper bound.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from .errors import ParameterError

__all__ = ["Spec", "integer", "real", "boolean", "choice", "check_params", "parse_assignments",
           "MAX_ITERATIONS", "MAX_NSR"]

# Upper bound for iteration counts: 100000 Richardson-Lucy iterations on a 1024x1024 image take about
# 20 minutes on one core; more is a typo (1e12) that would otherwise run for days.
MAX_ITERATIONS = 100_000

# Upper bound for a Wiener noise-to-signal ratio. At 1e6 the filter passes a millionth of every frequency
# but the mean: already the "no signal here" answer, so a larger value changes nothing visible. The
# automatic rule is capped here too (solvers._nsr), so the NSR it reports can always be given back
# (nsr=info["nsr"] reproduces the result); on pure noise it had reported 1e255, then refused by this range.
MAX_NSR = 1e6

_TRUE = ("true", "1")
_FALSE = ("false", "0")


@dataclass(frozen=True)
class Spec:
    """One parameter: its name, kind and allowed values.

    Attributes
    ----------
    name : str
    kind : {"int", "float", "bool", "choice", "pair"}
        ``pair``: two finite numbers in the range, the first below the second (``beta_range=1,256``).
    low, high : float or None
        Bounds (``None``: unbounded on that side); always finite numbers.
    low_inclusive, high_inclusive : bool
        Whether the bounds themselves are allowed.
    choices : tuple of str
        For ``kind="choice"``.
    allow_none : bool
        ``None`` (text ``auto`` or ``none``) means "let the method choose".
    help : str
    words : tuple of str
        Literal words also accepted (``saturation="auto"``, ``x0="observed"``), returned as spelled here.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    choices: tuple = field(default=())
    allow_none: bool = False
    help: str = ""
    words: tuple = field(default=())

    def __post_init__(self):
        if self.kind not in ("int", "float", "bool", "choice", "pair"):
            raise ValueError(f"unknown parameter kind {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError("a choice parameter needs choices")

    # -- descriptions -----------------------------------------------------------------------------
    def allowed(self) -> str:
        """The valid values in words, e.g. ``an integer from 1 to 100000``."""
        if self.kind == "bool":
            text = "true or false (also 1 or 0)"
        elif self.kind == "choice":
            text = "one of " + ", ".join(self.choices)
        elif self.kind == "pair":
            text = "two finite numbers first,last with first < last, each" + self._range_words()
        else:
            noun = "an integer" if self.kind == "int" else "a finite number"
            text = noun + self._range_words()
        extra = list(self.words)
        if self.allow_none:
            extra.append("auto" if "auto" not in extra else "none")
        return text + "".join(f", or {word}" for word in extra)

    def _range_words(self) -> str:
        low, high = self.low, self.high
        if low is not None and high is not None and self.low_inclusive and self.high_inclusive:
            return f" from {low:g} to {high:g}"
        parts = []
        if low is not None:
            parts.append(f"{'>=' if self.low_inclusive else '>'} {low:g}")
        if high is not None:
            parts.append(f"{'<=' if self.high_inclusive else '<'} {high:g}")
        return (" " + " and ".join(parts)) if parts else ""

    def _fail(self, value, why: str = "") -> ParameterError:
        # Texts are shown as typed, unless unprintable (a newline would break the one-line error).
        shown = value if isinstance(value, str) and value.isprintable() else repr(value)
        reason = f" ({why})" if why else ""
        return ParameterError(f"{self.name}={shown} is not valid{reason}; allowed: {self.allowed()}")

    # -- checks ---------------------------------------------------------------------------------------
    def _in_range(self, number: float) -> bool:
        if self.low is not None and not (number >= self.low if self.low_inclusive else number > self.low):
            return False
        if self.high is not None and not (number <= self.high if self.high_inclusive else number < self.high):
            return False
        return True

    def check(self, value):
        """Return ``value`` checked and normalised (int, float, bool or the canonical choice).

        Raises :class:`~deconvkit.errors.ParameterError` naming the parameter, the value and what is allowed.
        """
        if value is None:
            if self.allow_none:
                return None
            raise self._fail(value, "a value is required")
        if self.words and isinstance(value, str):
            for word in self.words:
                if value.strip().lower() == word.lower():
                    return word
        if self.kind == "pair":
            return self._check_pair(value)
        if self.kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            if isinstance(value, numbers.Integral) and int(value) in (0, 1):
                return bool(value)
            raise self._fail(value)
        if self.kind == "choice":
            if isinstance(value, str):
                for option in self.choices:
                    if value.strip().lower() == str(option).lower():
                        return option
            raise self._fail(value)
        # Numbers. bool is an int subclass in Python; iterations=True is a mistake, not 1.
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise self._fail(value, "not a number")
        number = float(value)
        if not math.isfinite(number):
            raise self._fail(value, "not finite")
        if self.kind == "int":
            if isinstance(value, numbers.Integral):
                integer = int(value)
            elif number.is_integer():
                integer = int(number)
            else:
                raise self._fail(value, "not a whole number")
            if not self._in_range(integer):
                raise self._fail(value, "out of range")
            return integer
        if not self._in_range(number):
            raise self._fail(value, "out of range")
        return number

    def _check_pair(self, value):
        if isinstance(value, str) or not hasattr(value, "__len__") or len(value) != 2:
            raise self._fail(value, "not two numbers")
        element = Spec(self.name, "float", self.low, self.high, self.low_inclusive, self.high_inclusive)
        try:
            first, last = (element.check(v) for v in value)
        except ParameterError:
            raise self._fail(value, "out of range or not finite") from None
        if not first < last:
            raise self._fail(value, "first must be below last")
        return (first, last)

    def parse(self, text: str):
        """Parse a CLI text (``--set name=text``) into a checked value; the same rules as :meth:`check`."""
        if not isinstance(text, str):
            return self.check(text)
        raw = text.strip()
        lowered = raw.lower()
        if self.words and lowered in (w.lower() for w in self.words):
            return self.check(raw)
        if self.allow_none and lowered in ("auto", "none"):
            return None
        if not raw:
            raise self._fail(repr(text), "empty")
        if self.kind == "pair":
            parts = [p.strip() for p in raw.strip("()[] ").split(",")]
            if len(parts) != 2:
                raise self._fail(raw, "not two numbers")
            element = Spec(self.name, "float", self.low, self.high, self.low_inclusive, self.high_inclusive)
            try:
                values = tuple(element.parse(p) for p in parts)
            except ParameterError:
                raise self._fail(raw, "out of range or not finite") from None
            return self._check_pair(values)
        if self.kind == "bool":
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise self._fail(raw)
        if self.kind == "choice":
            return self.check(raw)
        if self.kind == "int":
            # Decimal integers, or an exact whole number written as a float ("1e3"); not "2.5" or "0x10".
            try:
                value = int(raw, 10)
            except ValueError:
                try:
                    value = float(raw)
                except ValueError:
                    raise self._fail(raw, "not a number") from None
            if isinstance(value, float):
                if not math.isfinite(value):
                    raise self._fail(raw, "not finite")
                if not value.is_integer():
                    raise self._fail(raw, "not a whole number")
                value = int(value)
            if not self._in_range(value):
                raise self._fail(raw, "out of range")
            return value
        try:
            value = float(raw)
        except ValueError:
            raise self._fail(raw, "not a number") from None
        if not math.isfinite(value):
            raise self._fail(raw, "not finite")
        if not self._in_range(value):
            raise self._fail(raw, "out of range")
        return value


def integer(name: str, low: int | None = None, high: int | None = None, *, allow_none: bool = False,
            help: str = "") -> Spec:
    """An integer parameter in ``[low, high]``. Iteration counts use ``high=MAX_ITERATIONS``.

    >>> integer("iterations", 1, MAX_ITERATIONS).parse("50")
    50
    >>> integer("iterations", 1, 100).parse("2.5")
    Traceback (most recent call last):
    ...
    deconvkit.errors.ParameterError: iterations=2.5 is not valid (not a whole number); allowed: an integer from 1 to 100
    """
    return Spec(name, "int", low, high, allow_none=allow_none, help=help)


def real(name: str, low: float | None = None, high: float | None = None, *, low_inclusive: bool = True,
         high_inclusive: bool = True, allow_none: bool = False, help: str = "") -> Spec:
    """A finite float parameter in the given range (bounds inclusive unless told).

    >>> real("nsr", 0, low_inclusive=False).parse("inf")
    Traceback (most recent call last):
    ...
    deconvkit.errors.ParameterError: nsr=inf is not valid (not finite); allowed: a finite number > 0
    """
    return Spec(name, "float", low, high, low_inclusive, high_inclusive, allow_none=allow_none, help=help)


def boolean(name: str, *, help: str = "") -> Spec:
    """A boolean parameter: ``True``/``False`` (or 1/0); text ``true``/``false``/``1``/``0``, any case.

    >>> boolean("accelerate").parse("maybe")
    Traceback (most recent call last):
    ...
    deconvkit.errors.ParameterError: accelerate=maybe is not valid; allowed: true or false (also 1 or 0)
    """
    return Spec(name, "bool", help=help)


def choice(name: str, choices, *, allow_none: bool = False, help: str = "") -> Spec:
    """A parameter taking one of a few names (matched case-insensitively, returned as spelled in ``choices``)."""
    return Spec(name, "choice", choices=tuple(choices), allow_none=allow_none, help=help)


def check_params(specs, values: dict, *, method: str = "") -> dict:
    """Check API keyword arguments against ``specs`` (a sequence of :class:`Spec` or a dict by name).

    Unknown names raise :class:`~deconvkit.errors.ParameterError` listing the known ones; each value goes
    through :meth:`Spec.check`. Returns a new dict of the checked values.
    """
    by_name = _by_name(specs)
    checked = {}
    for key, value in values.items():
        if key not in by_name:
            raise ParameterError(_unknown(key, by_name, method))
        checked[key] = by_name[key].check(value)
    return checked


def parse_assignments(items, specs, *, reserved=(), method: str = "") -> dict:
    """Parse ``["key=value", ...]`` (the CLI's ``--set``) into checked keyword arguments.

    Parameters
    ----------
    items : iterable of str
        Each ``key=value``; keys are case-insensitive and ``-`` is read as ``_``.
    specs : sequence of Spec or dict
        The method's parameters.
    reserved : iterable of str
        Names the caller sets itself (``method``, ``channel_axis``, ``boundary``, ``return_info``,
        ``psf_model``...): giving one is an error that says which option to use instead.
    method : str
        The method's name, for messages.

    Raises
    ------
    ParameterError
        A malformed item, an unknown or reserved key, a key given twice, or an invalid value.

    Examples
    --------
    >>> specs = [integer("iterations", 1, MAX_ITERATIONS), boolean("accelerate")]
    >>> parse_assignments(["iterations=30", "accelerate=false"], specs)
    {'iterations': 30, 'accelerate': False}
    """
    by_name = _by_name(specs)
    reserved = {r.lower() for r in reserved}
    out = {}
    for item in items:
        if not isinstance(item, str) or "=" not in item:
            raise ParameterError(f"--set expects key=value, got {item!r}")
        key, _, text = item.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not key:
            raise ParameterError(f"--set expects key=value, got {item!r} (no key)")
        if key in reserved:
            raise ParameterError(
                f"--set {key}=... is not allowed: {key} is set by its own option (--{key.replace('_', '-')}) "
                "or by the command, not by --set")
        if key not in by_name:
            raise ParameterError(_unknown(key, by_name, method))
        if key in out:
            raise ParameterError(f"--set {key} given twice")
        out[key] = by_name[key].parse(text)
    return out


def _by_name(specs) -> dict:
    if isinstance(specs, dict):
        return dict(specs)
    return {spec.name: spec for spec in specs}


def _unknown(key: str, by_name: dict, method: str) -> str:
    where = f" for method {method}" if method else ""
    known = ", ".join(sorted(by_name)) or "none"
    return f"unknown parameter {key!r}{where}; known: {known}"
