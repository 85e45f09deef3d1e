"""The backend package: scoped configuration, the old aliases, and no import cycle with the FFT layer."""

import ast
import os
import pathlib
import subprocess
import sys
import threading

import pytest

import deconvkit
import deconvkit.backends as backends
from deconvkit import fft


def test_config_is_scoped_and_restored():
    before = (backends.current_workers(), backends.current_fft_engine())
    bk = fft.NumpyBackend()  # created before the block: reads the configuration at each call
    with backends.config(workers=1, fft="torch"):
        assert (bk.workers, bk.fft_engine) == (1, "torch")
        with backends.config(workers=3):
            assert (bk.workers, bk.fft_engine) == (3, "torch")
        assert bk.workers == 1
    assert (bk.workers, bk.fft_engine) == before
    # an explicit argument wins over the scope
    with backends.config(workers=2):
        assert fft.NumpyBackend(workers=5).workers == 5


def test_config_does_not_leak_into_other_threads():
    seen = {}
    outside = backends.current_fft_engine()
    with backends.config(fft="torch" if outside == "scipy" else "scipy"):
        thread = threading.Thread(target=lambda: seen.setdefault("fft", backends.current_fft_engine()))
        thread.start()
        thread.join()
    # a new thread starts from the environment's default ("auto" when unset: ducc0 if importable)
    default = os.environ.get("DECONVKIT_FFT") or "auto"
    assert seen["fft"] == ({"auto": "ducc" if backends.ducc_available() else "scipy"}.get(default, default))


def test_set_workers_and_set_fft_engine_remain_as_aliases():
    before = (backends.current_workers(), backends.current_fft_engine())
    try:
        fft.set_workers(1)
        fft.set_fft_engine("torch")
        assert (backends.current_workers(), backends.current_fft_engine()) == (1, "torch")
        fft.set_workers(None)
        assert backends.current_workers() == (os.cpu_count() or 1)
    finally:
        backends.set_workers(before[0])
        backends.set_fft_engine(before[1])
    with pytest.raises(deconvkit.DeconvkitError, match="fft engine"):
        backends.set_fft_engine("fftw")
    with pytest.raises(deconvkit.DeconvkitError, match="workers"):
        backends.config(workers=0).__enter__()


def test_environment_variables_set_the_defaults():
    code = ("import deconvkit.backends as b; print(b.current_workers(), b.current_fft_engine())")
    env = {**os.environ, "DECONVKIT_WORKERS": "3", "DECONVKIT_FFT": "torch"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["3", "torch"]


def test_unknown_backend_names_the_available_ones():
    with pytest.raises(deconvkit.DeconvkitError, match="available"):
        backends.get_backend("jax")
    assert fft.get_backend is backends.get_backend


def _imports(path: pathlib.Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield ("." * node.level) + (node.module or "")
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_the_backend_package_does_not_import_the_fft_layer():
    package = pathlib.Path(backends.__file__).parent
    for path in package.glob("*.py"):
        for name in _imports(path):
            assert name not in ("..fft", "deconvkit.fft") and not name.startswith(("..fft.", "..solvers",
                                                                                      "..operators")), \
                f"{path.name} imports {name}: the backends sit below the FFT layer"
