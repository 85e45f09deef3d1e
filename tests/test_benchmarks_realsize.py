"""benchmarks/realsize.py's memory measurement: a child's own peak, not its parent's."""

import importlib.util
import pathlib
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def realsize():
    spec = importlib.util.spec_from_file_location("realsize", ROOT / "benchmarks" / "realsize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not pathlib.Path("/proc/self/status").exists(), reason="needs procfs (VmHWM)")
def test_child_peak_is_its_own_not_the_parents(realsize):
    """wait4's ru_maxrss of a child includes the parent's high-water RSS (fork + exec); the child's
    VmHWM does not. The parent touches 300 MB here; the child allocates 40 MB."""
    held = np.ones(300_000_000 // 8)
    script = "import numpy as np; a = np.ones(40_000_000 // 8); b = float(a.sum())"
    _, peak, code, _ = realsize.run_child([sys.executable, "-c", script])
    _, idle, _, _ = realsize.run_child([sys.executable, "-c", "import numpy"])
    assert code == 0
    assert peak < 250_000_000  # the parent's 300 MB are not in it
    assert 30_000_000 < peak - idle < 60_000_000  # the child's own 40 MB are
    _, _, code, stderr = realsize.run_child([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert code == 3
    del held
