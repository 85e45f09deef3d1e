"""Solver discovery: every public module of ``deconvkit.solvers`` is imported, none is skipped silently."""

import textwrap

import numpy as np
import pytest

import deconvkit
from deconvkit.solvers import SOLVERS, _import_solver_modules, get_solver


def _package(tmp_path, name, modules):
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    return root


def test_every_solver_module_in_the_package_is_registered():
    import pkgutil

    import deconvkit.solvers as package

    public = {m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")}
    assert public == set(package._SOLVER_MODULES)
    assert "rl_tv" in public and get_solver("rl_tv").func.__module__ == "deconvkit.solvers.rl_tv"


def test_a_new_solver_is_one_file(tmp_path, monkeypatch, rng):
    root = _package(tmp_path, "dk_one_file_pkg", {"doubling": """
        from deconvkit.solvers import register_solver

        @register_solver("test_doubling", boundary="periodic", summary="x = 2 y", params={})
        def doubling(problem):
            return 2 * problem.extended(), {}
        """, "_private": "raise RuntimeError('private modules are not solver modules')"})
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert _import_solver_modules([str(root)], "dk_one_file_pkg") == ["doubling"]
        image = rng.random((16, 16))
        out = deconvkit.deconvolve(image, np.ones((1, 1)), method="test_doubling")
        np.testing.assert_allclose(out, 2 * image)
        with pytest.raises(deconvkit.DeconvkitError, match="unknown parameter"):
            deconvkit.deconvolve(image, np.ones((1, 1)), method="test_doubling", lam=1.0)
    finally:
        SOLVERS.pop("test_doubling", None)


def test_a_broken_solver_module_raises_at_import(tmp_path, monkeypatch):
    root = _package(tmp_path, "dk_broken_pkg", {"broken": "import deconvkit.no_such_module\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):
        _import_solver_modules([str(root)], "dk_broken_pkg")
