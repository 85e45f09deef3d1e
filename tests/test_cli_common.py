"""deconvkit.cli._common: the one output-path check (through the commands, before any work), JSON output,
--set parsing and the error mapping."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from deconvkit import DeconvkitError, io
from deconvkit.cli import _common, main
from deconvkit.cli._common import check_outputs, emit_json, parse_settings, run_guarded


@pytest.fixture
def image_png(tmp_path, camera):
    path = tmp_path / "in.png"
    io.write_image(path, camera[:64, :64], dtype="uint8")
    return path


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a command gets as far as reading its input image (the start of any work)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the command started work before checking its outputs")

    monkeypatch.setattr(io, "read_image", refuse)


def _one_error_line(capsys, message):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert "Traceback" not in err


# Output problems exit with OutputError's code (deconvkit.errors), distinct from input (3) and PSF (4) errors.
OUTPUT_EXIT = 6


def _listing(folder):
    return sorted(os.listdir(folder))


def test_hard_link_to_the_input_is_refused_by_inode(tmp_path, image_png, no_work, capsys):
    link = tmp_path / "link.png"
    os.link(image_png, link)  # another name for the same inode: a path comparison alone would miss it
    before = image_png.read_bytes()
    for command in (["deblur", str(image_png), "-o", str(link), "--psf", "gaussian:sigma=1", "--overwrite"],
                    ["blur", str(image_png), "-o", str(link), "--psf", "gaussian:sigma=1", "--overwrite"]):
        assert main(command) == OUTPUT_EXIT
        _one_error_line(capsys, "is the input file")
    assert image_png.read_bytes() == before


def test_symlink_to_the_input_and_the_psf_file_are_inputs(tmp_path, image_png, no_work, capsys):
    alias = tmp_path / "alias.png"
    alias.symlink_to(image_png)
    assert main(["deblur", str(image_png), "-o", str(alias), "--psf", "gaussian:sigma=1", "--overwrite"]) == OUTPUT_EXIT
    _one_error_line(capsys, "is the input file")
    psf = tmp_path / "psf.npy"
    np.save(psf, np.ones((3, 3)))
    assert main(["deblur", str(image_png), "-o", str(tmp_path / "psf.npy"), "--psf", str(psf),
                 "--overwrite"]) == OUTPUT_EXIT
    _one_error_line(capsys, "is the input file")
    assert np.load(psf).shape == (3, 3)


def test_output_equal_to_save_psf_is_refused(tmp_path, image_png, no_work, capsys):
    out = tmp_path / "out.tif"
    same_as_output = str(tmp_path / "." / "out.tif")
    assert main(["deblur", str(image_png), "-o", str(out), "--save-psf", same_as_output]) == OUTPUT_EXIT
    _one_error_line(capsys, "are the same file")
    assert _listing(tmp_path) == ["in.png"]


def test_missing_output_folder(tmp_path, image_png, no_work, capsys):
    for command in (["deblur", str(image_png), "-o", str(tmp_path / "nope" / "o.png"), "--psf", "gaussian:sigma=1"],
                    ["deblur", str(image_png), "-o", str(tmp_path / "o.png"), "--save-psf",
                     str(tmp_path / "nope" / "psf.npy")],
                    ["estimate", str(image_png), "-o", str(tmp_path / "nope" / "psf.npy")]):
        assert main(command) == OUTPUT_EXIT
        _one_error_line(capsys, "does not exist")
    assert _listing(tmp_path) == ["in.png"]


def test_read_only_output_folder(tmp_path, image_png, no_work, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):  # root ignores permission bits: make the OS answer as it would
            real_access = os.access
            monkeypatch.setattr(_common.os, "access", lambda path, mode: False if os.path.samefile(path, locked)
                                else real_access(path, mode))
        assert main(["deblur", str(image_png), "-o", str(locked / "o.png"), "--psf", "gaussian:sigma=1"]) == OUTPUT_EXIT
        _one_error_line(capsys, "is not writable")
        assert _listing(locked) == []
    finally:
        locked.chmod(0o755)


def test_unsupported_extension_fails_before_the_work(tmp_path, image_png, no_work, capsys):
    for command in (["deblur", str(image_png), "-o", str(tmp_path / "o.bmp"), "--psf", "gaussian:sigma=1"],
                    ["blur", str(image_png), "-o", str(tmp_path / "o.gif"), "--psf", "gaussian:sigma=1"],
                    ["estimate", str(image_png), "-o", str(tmp_path / "psf.txt")],
                    ["deblur", str(image_png), "-o", str(tmp_path / "o.png"), "--save-psf", str(tmp_path / "p")]):
        assert main(command) == OUTPUT_EXIT
        _one_error_line(capsys, "unknown extension")
    assert _listing(tmp_path) == ["in.png"]


def test_existing_output_needs_overwrite_and_a_folder_is_not_a_file(tmp_path, image_png, no_work, capsys):
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"keep me")
    assert main(["blur", str(image_png), "-o", str(existing), "--psf", "gaussian:sigma=1"]) == OUTPUT_EXIT
    _one_error_line(capsys, "--overwrite")
    (tmp_path / "folder.png").mkdir()
    assert main(["blur", str(image_png), "-o", str(tmp_path / "folder.png"), "--psf", "gaussian:sigma=1",
                 "--overwrite"]) == OUTPUT_EXIT
    _one_error_line(capsys, "it is a folder")
    assert existing.read_bytes() == b"keep me"


def test_check_outputs_directly(tmp_path):
    source = tmp_path / "a.png"
    source.write_bytes(b"x")
    check_outputs([source, None], [tmp_path / "b.png", None, tmp_path / "c.npy"], overwrite=False)
    with pytest.raises(FileNotFoundError, match="input file .* does not exist"):
        check_outputs([tmp_path / "missing.png"], [tmp_path / "b.png"], overwrite=False)
    with pytest.raises(DeconvkitError, match="same file"):
        check_outputs([source], [tmp_path / "b.png", tmp_path / "sub" / ".." / "b.png"], overwrite=True)
    check_outputs([], [tmp_path / "figure.svg"], overwrite=True, extensions=None)
    with pytest.raises(FileExistsError, match="--overwrite"):
        check_outputs([], [source], overwrite=False, extensions=None)


def test_parse_settings_and_its_errors():
    assert parse_settings(["nsr=0.01", "iterations=5", "accelerate=false", "rule= auto ", "x=none"]) == {
        "nsr": 0.01, "iterations": 5, "accelerate": False, "rule": "auto", "x": None}
    assert parse_settings(None) == {}
    for bad in ("nsr", "=3", "1x=2"):
        with pytest.raises(DeconvkitError, match="--set expects key=value"):
            parse_settings([bad])


def test_emit_json_is_one_parseable_line(capsys):
    emit_json({"b": np.float32(1.5), "a": [np.int64(2), np.array([1, 2])], "nan": float("nan")})
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out) == {"a": [2, [1, 2]], "b": 1.5, "nan": "nan"}
    assert out.index('"a"') < out.index('"b"')  # sorted keys: stable output to diff


def test_error_mapping(capsys):
    def user_error(args):
        raise DeconvkitError("bad value")

    def interrupted(args):
        raise KeyboardInterrupt

    def bug(args):
        raise RuntimeError("a bug keeps its traceback")

    assert run_guarded(user_error, None) == 2
    assert capsys.readouterr().err == "error: bad value\n"
    assert run_guarded(interrupted, None) == 130
    assert capsys.readouterr().err == "error: interrupted\n"
    assert run_guarded(lambda args: None, None) == 0
    with pytest.raises(RuntimeError):
        run_guarded(bug, None)
