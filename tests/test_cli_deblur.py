"""`deconvkit deblur` (and `blur`, which makes its input) end to end, through subprocesses (as a user runs it)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from deconvkit import io


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "deconvkit", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture
def sharp_png(tmp_path, camera):
    path = tmp_path / "sharp.png"
    io.write_image(path, camera[128:320, 128:320], dtype="uint8")
    return path


def test_blur_then_deblur_round_trip_improves_psnr(tmp_path, sharp_png, camera):
    blurred = tmp_path / "blurred.png"
    restored = tmp_path / "restored.png"
    result = run("blur", str(sharp_png), "-o", str(blurred), "--psf", "gaussian:sigma=2", "--noise", "0.005",
                 "--seed", "3")
    assert result.returncode == 0, result.stderr
    result = run("deblur", str(blurred), "-o", str(restored), "--psf", "gaussian:sigma=2", "--method",
                 "tikhonov", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info["method"] == "tikhonov" and info["lam"] > 0 and info["boundary"] == "unknown"
    sharp, _ = io.read_image(sharp_png)
    before, _ = io.read_image(blurred)
    after, meta = io.read_image(restored)
    assert meta.dtype == np.uint8  # the input's bit depth is kept
    assert np.mean((after - sharp) ** 2) < 0.7 * np.mean((before - sharp) ** 2)


def test_deblur_settings_are_passed_and_reported(tmp_path, sharp_png):
    out = tmp_path / "out.tif"
    result = run("deblur", str(sharp_png), "-o", str(out), "--psf", "motion:length=5,angle=10", "--method",
                 "richardson_lucy", "--set", "iterations=4", "--set", "accelerate=false", "--dtype", "float32",
                 "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info["iterations"] == 4 and info["accelerated"] is False
    data, meta = io.read_image(out)
    assert meta.dtype == np.float32


def write_file(name, content):
    def make(folder):
        if content is not None:
            (folder / name).write_bytes(content)
        return folder / name

    return make


@pytest.mark.parametrize("make_input,psf,message,code", [
    (write_file("missing.png", None), "gaussian:sigma=1", "does not exist", 3),
    (write_file("corrupt.png", b"\x89PNG\r\n\x1a\nthis is not a png"), "gaussian:sigma=1", "corrupt.png", 3),
    (write_file("notes.txt", b"hello"), "gaussian:sigma=1", "notes.txt", 3),
    (None, "blurry:amount=3", "unknown PSF", 4),
    (None, "motion:length=-3", "length", 4),
    (None, "gaussian:sigma=80", "larger than the image", 4),
    (None, "", "the spec is empty", 4),  # not a silent blind run
])
def test_bad_input_gives_one_line_error_and_no_output(tmp_path, sharp_png, make_input, psf, message, code):
    # Exit codes per error class (deconvkit.errors): 3 input, 4 PSF.
    source = make_input(tmp_path) if make_input else sharp_png
    out = tmp_path / "out.png"
    result = run("deblur", str(source), "-o", str(out), "--psf", psf)
    assert result.returncode == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary file left


@pytest.mark.parametrize("psf_array,message", [(np.zeros((5, 5)), "positive sum"),
                                               (np.full((5, 5), np.nan), "NaN")])
def test_bad_psf_files_are_rejected(tmp_path, sharp_png, psf_array, message):
    psf_path = tmp_path / "psf.npy"
    np.save(psf_path, psf_array)
    result = run("deblur", str(sharp_png), "-o", str(tmp_path / "out.png"), "--psf", str(psf_path))
    assert result.returncode == 4 and message in result.stderr and "Traceback" not in result.stderr


def test_never_overwrites_input_or_existing_output(tmp_path, sharp_png):
    before = sharp_png.read_bytes()
    result = run("deblur", str(sharp_png), "-o", str(sharp_png), "--psf", "gaussian:sigma=1", "--overwrite")
    assert result.returncode == 6 and "is the input" in result.stderr
    assert sharp_png.read_bytes() == before
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"keep me")
    result = run("deblur", str(sharp_png), "-o", str(existing), "--psf", "gaussian:sigma=1")
    assert result.returncode == 6 and "--overwrite" in result.stderr
    assert existing.read_bytes() == b"keep me"
    result = run("deblur", str(sharp_png), "-o", str(existing), "--psf", "gaussian:sigma=1", "--overwrite",
                 "--quiet")
    assert result.returncode == 0 and existing.read_bytes() != b"keep me"


def test_unknown_method_and_bad_setting(tmp_path, sharp_png):
    result = run("deblur", str(sharp_png), "-o", str(tmp_path / "o.png"), "--psf", "gaussian:sigma=1",
                 "--method", "magic")
    assert result.returncode == 2 and "invalid choice" in result.stderr
    result = run("deblur", str(sharp_png), "-o", str(tmp_path / "o.png"), "--psf", "gaussian:sigma=1",
                 "--method", "wiener", "--set", "bogus=1")
    assert result.returncode == 2 and "unknown parameter" in result.stderr
