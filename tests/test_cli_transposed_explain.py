"""`deconvkit transposed explain` run as a user runs it (a subprocess), and docs/transposed.md's examples."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "transposed.md"


def _run(*args):
    """The real command line, in a fresh interpreter (as a user runs it)."""
    return subprocess.run([sys.executable, "-m", "deconvkit", "transposed", "explain", *args],
                          capture_output=True, text=True, timeout=300)


def _main(capsys, *args):
    """The same dispatcher in-process (saves an interpreter start per case); returns (exit code, out, err)."""
    from deconvkit.cli import main

    try:
        code = main(["transposed", "explain", *args])
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_walkthrough_of_the_classic_cases():
    result = _run()
    assert result.returncode == 0, result.stderr
    text = result.stdout
    # 4x4 input, 3x3 kernel -> 2x2, and back to 4x4
    assert "4x4 -> 2x2" in text
    assert "The matrix C (4 x 16" in text
    assert "maps y back to 4x4" in text
    # the values the walkthrough prints, recomputed here with a plain loop (kernel of Dumoulin & Visin)
    image = np.arange(1.0, 17.0).reshape(4, 4)
    kernel = np.array([[0.0, 1.0, 2.0], [2.0, 2.0, 0.0], [0.0, 1.0, 2.0]])
    expected = [sum(image[i + a, j + b] * kernel[a, b] for a in range(3) for b in range(3))
                for i in range(2) for j in range(2)]
    assert "C @ x.ravel() = [" + " ".join(f"{v:g}" for v in expected) + "]" in text
    # the 1-D case: [1, 2] * [3, 4], stride 2 -> [3, 4, 6, 8]
    assert "C^T @ x.ravel() = [3 4 6 8]" in text
    assert "[[3 4 0 0]\n     [0 0 3 4]]" in text
    assert "max |difference| = 0" in text


def test_configuration_and_png(tmp_path, capsys):
    png = tmp_path / "explain.png"
    code, out, err = _main(capsys, "--input", "1,2,3", "--kernel", "1,1,1", "--stride", "2", "--padding", "1",
                  "--output-padding", "1", "--png", str(png))
    assert code == 0, err
    # output size (3 - 1) * 2 - 2 + 2 + 1 + 1 = 6; the scatter by hand:
    full = np.zeros(8)
    for j, value in enumerate([1, 2, 3]):
        full[2 * j:2 * j + 3] += value
    expected = full[1:7]
    assert "C^T @ x.ravel() = [" + " ".join(f"{v:g}" for v in expected) + "]" in out
    assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_random_3d_configuration(capsys):
    code, out, err = _main(capsys, "--dim", "3", "--input-size", "3", "--kernel-size", "2", "--stride", "2")
    assert code == 0, err
    assert "3x3x3 -> 1x1x1" in out


def test_output_padding_larger_than_stride_is_explained(capsys):
    # allowed by PyTorch when output_padding < dilation: the extra output pixel gets no contribution
    code, out, err = _main(capsys, "--input", "1,2,3", "--kernel", "1,2", "--dilation", "2",
                           "--output-padding", "1")
    assert code == 0, err
    full = np.zeros(6)
    for j, value in enumerate([1, 2, 3]):
        full[j] += value * 1
        full[j + 2] += value * 2
    assert "C^T @ x.ravel() = [" + " ".join(f"{v:g}" for v in full) + "]" in out
    assert "The matrix C (3 x 6" in out


def test_bad_option_in_a_real_process():
    result = _run("--stride", "2", "--output-padding", "2")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: output padding must be smaller than either stride or dilation")


@pytest.mark.parametrize("args, message", [
    (("--stride", "0"), "non-positive stride"),
    (("--stride", "2", "--output-padding", "2"), "output padding must be smaller than either stride or dilation"),
    (("--input", "1,2;3"), "--input must be numbers"),
    (("--input-size", "100,100"), "explain is for small cases"),
    (("--kernel-size", "9", "--input-size", "4"), "Kernel size can't be greater than actual input size"),
    (("--mode", "conv", "--output-padding", "1"), "--output-padding applies to --mode transpose"),
    (("--stride", "two"), "--stride must be integers"),
    (("--dim", "5"), "invalid choice"),
])
def test_bad_options_exit_2_with_one_error_line(args, message, capsys):
    code, _, err = _main(capsys, *args)
    assert code == 2
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and message in error_lines[0], err


def _doc_blocks():
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.mark.skipif(not DOC.exists(), reason="docs/transposed.md not present in this checkout")
def test_docs_examples_run():
    """Every ```python block of docs/transposed.md runs (they assert their own claims)."""
    blocks = _doc_blocks()
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
