"""`deconvkit demo` end to end, through a subprocess."""

import json
import subprocess
import sys


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "deconvkit", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_demo_writes_images_and_table(tmp_path):
    result = run("demo", "-o", str(tmp_path / "demo"), "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    names = {row["method"] for row in payload["results"]}
    from deconvkit.solvers import available_methods

    assert set(available_methods()) <= names
    blurred = next(r for r in payload["results"] if r["method"] == "blurred input")
    best = max(r["psnr"] for r in payload["results"])
    assert best > blurred["psnr"] + 3
    assert (tmp_path / "demo" / "comparison.png").exists()
    again = run("demo", "-o", str(tmp_path / "demo"), "--quiet")
    assert again.returncode == 2 and "--overwrite" in again.stderr
