"""`deconvkit deblur` with a microscope PSF: the voxel spacing comes from the input's OME-TIFF / ImageJ metadata
(one real subprocess end to end, the rest in-process through ``deconvkit.cli.main``), a spec's own spacing wins,
and unknown spacing is one error line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.signal

from deconvkit import io, psf
from deconvkit.cli import main

tifffile = pytest.importorskip("tifffile")

SPACING = (0.2, 0.065, 0.065)
MODEL = "widefield:na=1.4,wavelength=0.52,ni=1.515"


@pytest.fixture
def deblur(capsys):
    """``deconvkit deblur ARGS --method wiener --json --quiet``: ``(result, json)``, in-process through
    ``deconvkit.cli.main`` (``process=True``: a real ``python -m deconvkit`` subprocess, end to end)."""

    def run(*args, process=False):
        argv = ["deblur", *map(str, args), "--method", "wiener", "--json", "--quiet"]
        if process:
            result = subprocess.run([sys.executable, "-m", "deconvkit", *argv], capture_output=True, text=True,
                                    timeout=300)
        else:
            capsys.readouterr()
            code = main(argv)
            captured = capsys.readouterr()
            result = subprocess.CompletedProcess(argv, code, captured.out, captured.err)
        info = json.loads(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else None
        return result, info

    return run


@pytest.fixture(scope="module")
def stack():
    """A 9 x 32 x 32 bead stack blurred by the widefield PSF at SPACING (the metadata the files carry)."""
    rng = np.random.default_rng(4)
    truth = np.zeros((9, 32, 32))
    truth[rng.integers(2, 7, 6), rng.integers(4, 28, 6), rng.integers(4, 28, 6)] = 1.0
    kernel = psf.widefield(1.4, 0.52, spacing=SPACING, size=(7, 21, 21))
    return (scipy.signal.fftconvolve(truth, kernel, mode="same") + 0.01).astype(np.float32)


def ome(path, data, spacing):
    """An OME-TIFF as a microscope exports it: PhysicalSize in nanometres for x/y (tifffile writes it)."""
    meta = {"axes": "ZYX"[-data.ndim:], "PhysicalSizeX": spacing[-1] * 1000, "PhysicalSizeXUnit": "nm",
            "PhysicalSizeY": spacing[-2] * 1000, "PhysicalSizeYUnit": "nm"}
    if data.ndim == 3:
        meta.update(PhysicalSizeZ=spacing[0], PhysicalSizeZUnit="µm")
    tifffile.imwrite(path, data, ome=True, metadata=meta)
    return path


def test_metadata_spacing_samples_the_psf_as_an_explicit_spacing_does(tmp_path, stack, deblur):
    with_meta = ome(tmp_path / "stack.ome.tif", stack, SPACING)
    plain = tmp_path / "stack.tif"
    tifffile.imwrite(plain, stack)  # no spacing metadata
    spec = f"{MODEL},size=7/21/21"
    result, from_meta = deblur(with_meta, "-o", tmp_path / "a.ome.tif", "--psf", spec, process=True)
    assert result.returncode == 0, result.stderr
    result, explicit = deblur(plain, "-o", tmp_path / "b.tif", "--psf", spec + ",spacing=0.2/0.065/0.065")
    assert result.returncode == 0, result.stderr
    a, a_info = io.read_image(tmp_path / "a.ome.tif")
    b, _ = io.read_image(tmp_path / "b.tif")
    np.testing.assert_array_equal(a, b)
    assert from_meta["spacing"] == pytest.approx(SPACING) and from_meta["psf_shape"] == [7, 21, 21]
    assert a_info.spacing == pytest.approx(SPACING)  # carried to the output's metadata
    # the spacing is really used: another one gives another PSF and result
    result, _ = deblur(plain, "-o", tmp_path / "c.tif", "--psf", spec + ",spacing=0.3/0.1/0.1")
    assert result.returncode == 0, result.stderr
    assert np.abs(io.read_image(tmp_path / "c.tif")[0] - b).max() > 1e-3 * np.abs(b).max()


def test_spec_spacing_wins_over_metadata_and_default_size_is_cropped(tmp_path, stack, deblur):
    wrong_meta = ome(tmp_path / "stack.ome.tif", stack, (0.5, 0.2, 0.2))
    plain = tmp_path / "stack.tif"
    tifffile.imwrite(plain, stack)
    spec = f"{MODEL},spacing=0.2/0.065/0.065"
    result, a_info = deblur(wrong_meta, "-o", tmp_path / "a.tif", "--psf", spec)
    assert result.returncode == 0, result.stderr
    result, _ = deblur(plain, "-o", tmp_path / "b.tif", "--psf", spec)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(io.read_image(tmp_path / "a.tif")[0], io.read_image(tmp_path / "b.tif")[0])
    # the model's own extent (63 px wide at 65 nm) exceeds the 9 x 32 x 32 stack: cropped, centre kept
    assert a_info["psf_shape"] == [9, 31, 31]


def test_unknown_spacing_is_one_error_line_and_no_output(tmp_path, stack, deblur):
    plain = tmp_path / "stack.tif"
    tifffile.imwrite(plain, stack)
    out = tmp_path / "out.tif"
    result, _ = deblur(plain, "-o", out, "--psf", MODEL)
    assert result.returncode == 4  # a PSF problem (deconvkit.errors.PSFError)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: PSF widefield needs the voxel spacing")
    assert "spacing=0.2/0.065/0.065" in lines[0] and not out.exists()
    # a malformed spec still fails before the image is read (the image need not even exist)
    result, _ = deblur(tmp_path / "stack.tif", "-o", out, "--psf", "widefield:na=1.4,colour=2")
    assert result.returncode == 4 and "no parameter 'colour'" in result.stderr


def test_2d_image_uses_dy_dx(tmp_path, stack, deblur):
    image = stack[4]
    fiji = tmp_path / "plane.tif"
    tifffile.imwrite(fiji, image, imagej=True, resolution=(1 / 0.065, 1 / 0.065), metadata={"unit": "um"})
    result, info = deblur(fiji, "-o", tmp_path / "a.tif", "--psf", f"{MODEL},size=21/21")
    assert result.returncode == 0, result.stderr
    plain = tmp_path / "plain.npy"
    np.save(plain, image)
    result, _ = deblur(plain, "-o", tmp_path / "b.tif", "--psf", f"{MODEL},size=21/21,spacing=0.065/0.065")
    assert result.returncode == 0, result.stderr
    assert info["spacing"] == pytest.approx((0.065, 0.065)) and info["psf_shape"] == [21, 21]
    np.testing.assert_array_equal(io.read_image(tmp_path / "a.tif")[0], io.read_image(tmp_path / "b.tif")[0])


def test_measured_psf_file_is_resampled_to_the_input_spacing(tmp_path, stack, deblur):
    from deconvkit.solvers import deconvolve

    fine = (0.1, 0.065 / 3, 0.065 / 3)
    bead = psf.widefield(1.4, 0.52, spacing=fine, size=(13, 61, 61))
    bead_file = tmp_path / "bead.ome.tif"
    ome(bead_file, bead.astype(np.float32), fine)
    data = ome(tmp_path / "stack.ome.tif", stack, SPACING)
    result, info = deblur(data, "-o", tmp_path / "a.tif", "--psf", bead_file)
    assert result.returncode == 0, result.stderr
    assert info["psf_resampled_from"] == pytest.approx(fine)
    expected_psf = psf.resample(bead.astype(np.float32), fine, SPACING)
    assert info["psf_shape"] == list(expected_psf.shape) == [7, 21, 21]
    expected = deconvolve(stack, expected_psf, method="wiener")
    np.testing.assert_allclose(io.read_image(tmp_path / "a.tif")[0], expected, rtol=1e-4,
                               atol=1e-4 * np.abs(expected).max())
