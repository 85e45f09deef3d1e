"""`deconvkit methods`: the registries, as the user sees them."""

import json
import subprocess
import sys


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "deconvkit", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_methods_lists_the_registry():
    result = run("methods", "--json")
    payload = json.loads(result.stdout)
    from deconvkit.solvers import available_methods

    assert set(payload["methods"]) == set(available_methods())
    assert "motion" in payload["psf_models"]
