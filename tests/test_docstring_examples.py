"""Every ``>>>`` example in the package's docstrings runs and prints what it shows.

Docstring examples are what new users copy first; an example that no longer holds (a changed default,
a renamed argument) is a silent documentation bug, so each module with examples is run through
:mod:`doctest` here.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import deconvkit

PACKAGE_ROOT = Path(deconvkit.__file__).parent


def _modules_with_examples() -> list[str]:
    names = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        if ">>> " not in path.read_text(encoding="utf-8"):
            continue
        parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = _modules_with_examples()


def test_examples_were_found():
    # guards the scan itself: if it found nothing, every parametrised case below would vanish silently
    assert "deconvkit.solvers" in MODULES and len(MODULES) >= 10


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"{name}: no example collected (the scan saw '>>> ' in it)"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples failed"
