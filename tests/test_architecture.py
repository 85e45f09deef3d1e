"""Architecture rules of the package, checked on its source (issue 11).

* Only the FFT layer (``fft.py``, ``backends/``) and the operators (``operators.py``) transform: every other
  module reaches the Fourier basis through them, so the backend dispatch, the workers setting and the OTF
  cache are honoured everywhere and the spectral conventions live in one place.
* Module-level imports inside the package form no cycle: a cycle makes a module see a partly initialised
  peer, and which name is missing then depends on which module was imported first.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import deconvkit

PACKAGE = Path(deconvkit.__file__).parent
NAME = deconvkit.__name__

# the modules allowed to call the transforms, relative to the package directory
FFT_LAYER = ("fft.py", "operators.py", "backends/")
TRANSFORMS = {"fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn", "rfftn",
              "irfftn", "hfft", "ihfft"}
FFT_MODULES = ("scipy.fft", "numpy.fft", "torch.fft", "scipy.fftpack", "ducc0")

# optional subpackages: skipped (not failed) when their third-party dependencies are missing
OPTIONAL = {f"{NAME}.web": "fastapi", f"{NAME}.napari": "napari"}


def _sources():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _in_fft_layer(relative: str) -> bool:
    return any(relative == allowed or relative.startswith(allowed) for allowed in FFT_LAYER)


def transform_calls(source: str) -> list[str]:
    """``line: text`` of each call of a DFT routine (``x.rfftn(...)``, ``rfftn(...)``), each use of an
    operator's ``.otf`` and each import of an FFT module in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in TRANSFORMS:
                found.append(f"{node.lineno}: call of {name}")
        elif isinstance(node, ast.Attribute) and node.attr == "otf":
            # a PSF's transfer function is applied by its operator (forward_spectrum, otf_abs2, ...)
            found.append(f"{node.lineno}: use of .otf")
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if a.name.startswith(FFT_MODULES)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith(FFT_MODULES) or (
                    node.module in ("scipy", "numpy", "torch") and any(a.name in ("fft", "fftpack")
                                                                        for a in node.names)):
                found.append(f"{node.lineno}: from {node.module} import ...")
    return found


def test_transform_check_detects_calls_and_imports():
    # the checker itself must be able to fail, or the rule below would pass vacuously
    snippet = ("import scipy.fft\nfrom numpy import fft\nbk.rfftn(x, s)\nirfftn(y)\nscipy.fft.fft2(z)\n"
               "s * problem.blur.otf\nnp.abs(x)\n")
    assert sorted(line.split(":")[0] for line in transform_calls(snippet)) == ["1", "2", "3", "4", "5", "6"]


def test_only_the_fft_layer_transforms():
    offenders = {}
    for path in _sources():
        relative = _relative(path)
        if _in_fft_layer(relative):
            continue
        calls = transform_calls(path.read_text(encoding="utf-8"))
        if calls:
            offenders[relative] = calls
    assert not offenders, f"transforms outside {FFT_LAYER} (use deconvkit.fft / operators): {offenders}"


def test_the_fft_layer_is_where_the_transforms_are():
    # guards the check above against a move that leaves it looking at nothing
    assert transform_calls((PACKAGE / "fft.py").read_text(encoding="utf-8"))
    assert transform_calls((PACKAGE / "backends" / "numpy.py").read_text(encoding="utf-8"))


# --- the import graph ------------------------------------------------------------------------------------
def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.Module):
    """``(node, module_level)`` for each import; module level means run when the module is imported (not in
    a function body, nor under ``if TYPE_CHECKING``)."""
    def visit(node, module_level):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, module_level
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                yield from visit(child, False)
            else:
                yield from visit(child, module_level)
    yield from visit(tree, True)


def import_edges(module: str, is_package: bool, source: str, known: set[str]):
    """Intra-package imports of ``module``: ``(target, module_level, line)`` for each imported module of the
    package (``known``: the package's module names; a ``from x import y`` names module ``x.y`` when that is
    a module, else it imports ``x``)."""
    package = module if is_package else module.rpartition(".")[0]
    edges = []
    for node, module_level in _import_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = []
            for alias in node.names:
                sub = f"{origin}.{alias.name}"
                targets.append(sub if sub in known else origin)
        for target in targets:
            if target == NAME or target.startswith(NAME + "."):
                edges.append((target, module_level, node.lineno))
    return edges


def _package_modules():
    """Every module of the package, imported (``pkgutil.walk_packages``); optional subpackages whose
    dependency is missing are skipped. Returns ``{name: (path, is_package)}``."""
    skipped = set()

    def onerror(name):
        if not any(name == opt or name.startswith(opt + ".") for opt in OPTIONAL):
            raise ImportError(f"cannot import {name}")
        skipped.add(name)

    modules = {}
    for info in pkgutil.walk_packages(deconvkit.__path__, NAME + ".", onerror=onerror):
        optional = next((opt for opt in OPTIONAL if info.name == opt or info.name.startswith(opt + ".")), None)
        if optional is not None:
            try:
                importlib.import_module(OPTIONAL[optional])
            except ImportError:
                continue
        if info.name.rpartition(".")[2] == "__main__":  # an entry point: importing it runs the CLI
            path = PACKAGE.parent.joinpath(*info.name.split(".")).with_suffix(".py")
        else:
            importlib.import_module(info.name)  # a module of the package that fails to import is a failure
            path = Path(importlib.util.find_spec(info.name).origin)
        modules[info.name] = (path, info.ispkg)
    modules[NAME] = (PACKAGE / "__init__.py", True)
    return modules


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (or a self-import) — Tarjan's."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def strongconnect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def test_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_import_edges_resolve_relative_imports():
    known = {f"{NAME}.fft", f"{NAME}.backends", f"{NAME}.blind", f"{NAME}.blind._general"}
    source = ("from ..fft import psf_to_origin\nfrom .. import backends\nimport numpy\n"
              "def f():\n    from ._general import x\n")
    assert import_edges(f"{NAME}.blind._parametric", False, source, known) == [
        (f"{NAME}.fft", True, 1), (f"{NAME}.backends", True, 2), (f"{NAME}.blind._general", False, 5)]


def test_no_import_cycles_and_every_import_resolves():
    modules = _package_modules()
    assert f"{NAME}.fft" in modules and f"{NAME}.solvers._base" in modules
    known = set(modules)
    graph = {}
    unresolved = []
    for name, (path, is_package) in modules.items():
        graph[name] = set()
        for target, module_level, line in import_edges(name, is_package, path.read_text(encoding="utf-8"),
                                                       known):
            if target not in known:
                if not any(target == opt or target.startswith(opt + ".") for opt in OPTIONAL):
                    unresolved.append(f"{name}:{line} imports {target}")
                continue
            if module_level and target != name:
                graph[name].add(target)
    assert not unresolved, unresolved
    cycles = _cycles(graph)
    assert not cycles, f"module-level import cycles: {cycles}"


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
