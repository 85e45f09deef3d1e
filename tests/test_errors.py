"""The exception hierarchy: every class is a DeconvkitError (and a ValueError), the file-system flavours are
also the matching built-ins, each kind has its own exit code, and the shared checks raise the precise kind."""

from __future__ import annotations

import numpy as np
import pytest

import deconvkit
from deconvkit import errors
from deconvkit._shared import as_float_array, check_psf, move_channels_first


def test_every_class_is_a_deconvkit_error_and_a_value_error():
    for name in errors.__all__:
        cls = getattr(errors, name)
        if isinstance(cls, type):
            assert issubclass(cls, errors.DeconvkitError) and issubclass(cls, ValueError), name


@pytest.mark.parametrize("cls,builtin", [
    (errors.InputNotFoundError, FileNotFoundError),
    (errors.PSFNotFoundError, FileNotFoundError),
    (errors.OutputExistsError, FileExistsError),
    (errors.OutputFolderError, FileNotFoundError),
    (errors.OutputIsFolderError, IsADirectoryError),
    (errors.OutputPermissionError, PermissionError),
    (errors.OutputWriteError, OSError),
    (errors.MemoryLimitError, MemoryError),
])
def test_file_system_flavours_are_also_builtins(cls, builtin):
    exc = cls("one line")
    assert isinstance(exc, builtin) and str(exc) == "one line"
    with pytest.raises(builtin):
        raise exc


def test_exit_codes_are_distinct_per_kind_and_exported():
    kinds = [errors.InputError, errors.PSFError, errors.ResourceError, errors.OutputError]
    codes = [k.exit_code for k in kinds]
    assert len(set(codes)) == len(codes) and all(c not in (0, 1, 130) for c in codes)
    assert errors.ParameterError.exit_code == errors.DeconvkitError.exit_code == 2  # the CLI's usage-error code
    assert errors.OutputExistsError.exit_code == errors.OutputError.exit_code
    assert errors.PSFNotFoundError.exit_code == errors.PSFError.exit_code
    assert errors.EXIT_CODES["OutputError"] == 6
    for name in ("DeconvkitError", "InputError", "PSFError", "ParameterError", "ResourceError",
                 "MemoryLimitError", "OutputError"):
        assert getattr(deconvkit, name) is getattr(errors, name) and name in deconvkit.__all__


def test_shared_checks_raise_precise_kinds(monkeypatch):
    with pytest.raises(errors.InputError, match="NaN"):
        as_float_array(np.array([1.0, np.nan]))
    with pytest.raises(errors.InputError, match="complex"):
        as_float_array(np.ones(3, complex))
    with pytest.raises(errors.PSFError, match="NaN"):
        check_psf(np.array([[np.inf]]), 2, np.float64)
    with pytest.raises(errors.PSFError, match="positive sum"):
        check_psf(np.zeros((3, 3)), 2, np.float64)
    with pytest.raises(errors.ParameterError, match="channel_axis"):
        move_channels_first(np.zeros((4, 4)), 5)
    import deconvkit._shared as shared

    monkeypatch.setattr(shared, "MAX_PIXELS", 10)
    with pytest.raises(errors.MemoryLimitError, match="in-memory limit"):
        as_float_array(np.zeros((4, 4)))


def test_negative_psf_mass_limit_matches_the_psf_loader():
    # The API used to accept a PSF whose negative lobes held half its positive mass; the CLI's loader
    # (deconvkit.psf.normalise) rejects over 1 %. Both now draw the line at the same place.
    psf = np.zeros((5, 5))
    psf[2, 2] = 1.0
    psf[0, 0] = -0.5
    with pytest.raises(errors.PSFError, match="negative values holding 50.0%"):
        deconvkit.deconvolve(np.ones((16, 16)), psf, method="wiener")
    with pytest.raises(errors.PSFError, match="negative"):
        deconvkit.psf.normalise(psf)
    psf[0, 0] = -0.005  # 0.5 %: within the tolerance of both
    assert np.isfinite(check_psf(psf, 2, np.float64)).all()
    with pytest.warns(UserWarning, match="clipped negative"):
        deconvkit.psf.normalise(psf)


@pytest.mark.parametrize("spec,cls", [
    ("", errors.PSFError),
    ("   ", errors.PSFError),
    ("motion:length=abc", errors.PSFError),
    ("motion:length=-3", errors.PSFError),
    ("nosuchmodel:1", errors.PSFError),
    ("missing_psf_file.png", errors.PSFNotFoundError),
])
def test_psf_parser_raises_psf_errors(spec, cls, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(cls):
        deconvkit.psf.parse(spec)


def test_unreadable_psf_file_is_a_psf_error(tmp_path):
    bad = tmp_path / "psf.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(errors.PSFError, match="psf.png"):
        deconvkit.psf.parse(str(bad))


def test_no_module_defines_its_own_class_of_a_library_error_name():
    """One hierarchy: a second ``MemoryLimitError`` (or ``InputError``...) elsewhere is not caught by
    ``except deconvkit.X`` and gets the wrong exit code (memory.py's own MemoryLimitError exited 2)."""
    import pathlib
    import re

    root = pathlib.Path(errors.__file__).parent
    names = set(errors.__all__) - {"EXIT_CODES"}
    shadows = [f"{path.relative_to(root)}: {name}" for path in root.rglob("*.py") if path.name != "errors.py"
               for name in re.findall(r"^\s*class (\w+)\b", path.read_text(), re.M) if name in names]
    assert shadows == []


def test_out_of_memory_refusal_is_the_library_class_with_exit_5(tmp_path, monkeypatch, capsys):
    from deconvkit import memory
    from deconvkit.cli import main
    from deconvkit.psf import gaussian

    assert memory.MemoryLimitError is errors.MemoryLimitError
    monkeypatch.setenv("DECONVKIT_MEMORY_LIMIT", "1MB")
    with pytest.raises(deconvkit.MemoryLimitError) as raised:
        deconvkit.deconvolve(np.zeros((256, 256)), gaussian(2.0), method="wiener")
    assert isinstance(raised.value, errors.ResourceError) and raised.value.exit_code == 5
    np.save(tmp_path / "in.npy", np.zeros((256, 256), np.float32))
    assert main(["deblur", str(tmp_path / "in.npy"), "-o", str(tmp_path / "o.npy"), "--psf", "gaussian:sigma=2",
                 "--method", "wiener"]) == 5
    assert capsys.readouterr().err.startswith("error: deconvolving an image of shape (256, 256)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]
