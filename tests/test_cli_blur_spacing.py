"""`deconvkit blur` with a microscope PSF: the voxel spacing comes from the input's OME-TIFF / ImageJ metadata,
as in `deblur` (one real subprocess end to end; the rest in-process through ``deconvkit.cli.main``)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import deconvkit
from deconvkit import io, psf
from deconvkit.cli import main

tifffile = pytest.importorskip("tifffile")

SPACING = (0.25, 0.08, 0.08)
MODEL = "widefield:na=1.2,wavelength=0.52,ni=1.33"


@pytest.fixture(scope="module")
def beads():
    """A 9 x 28 x 28 volume of point sources on a background (float32, what a microscope TIFF holds)."""
    rng = np.random.default_rng(11)
    volume = np.full((9, 28, 28), 0.02, np.float32)
    volume[rng.integers(2, 7, 5), rng.integers(4, 24, 5), rng.integers(4, 24, 5)] = 1.0
    return volume


def imagej(path, data, spacing):
    """An ImageJ hyperstack TIFF as Fiji saves it: x/y resolution in pixels per micrometre, z spacing."""
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / spacing[-1], 1 / spacing[-2]),
                     metadata={"axes": "ZYX", "spacing": spacing[0], "unit": "um"})
    return path


def ome(path, data, spacing):
    meta = {"axes": "ZYX"[-data.ndim:], "PhysicalSizeX": spacing[-1], "PhysicalSizeXUnit": "µm",
            "PhysicalSizeY": spacing[-2], "PhysicalSizeYUnit": "µm"}
    if data.ndim == 3:
        meta.update(PhysicalSizeZ=spacing[0], PhysicalSizeZUnit="µm")
    tifffile.imwrite(path, data, ome=True, metadata=meta)
    return path


def blur_json(capsys, *args) -> tuple[int, dict | None, str]:
    code = main(["blur", *map(str, args), "--json"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out.strip().splitlines()[-1]) if code == 0 else None), captured.err


def test_blur_samples_the_psf_at_the_imagej_spacing_end_to_end(tmp_path, beads):
    source = imagej(tmp_path / "beads.tif", beads, SPACING)
    out = tmp_path / "blurred.tif"
    result = subprocess.run([sys.executable, "-m", "deconvkit", "blur", str(source), "-o", str(out), "--psf",
                             f"{MODEL},size=7/15/15", "--json"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["spacing"] == pytest.approx(SPACING) and report["psf_shape"] == [7, 15, 15]
    # the reference: the model called with the spacing directly, and the library's forward model
    kernel = psf.widefield(1.2, 0.52, 1.33, spacing=SPACING, size=(7, 15, 15))
    expected = deconvkit.blur(beads, kernel, boundary="reflect")
    blurred, info = io.read_image(out)
    np.testing.assert_allclose(blurred, expected, rtol=0, atol=1e-6)
    assert info.spacing == pytest.approx(SPACING)  # and the output keeps the input's metadata


def test_metadata_spacing_equals_the_spec_spacing_and_the_spec_wins(tmp_path, beads, capsys):
    with_meta = ome(tmp_path / "beads.ome.tif", beads, SPACING)
    wrong_meta = ome(tmp_path / "wrong.ome.tif", beads, (0.5, 0.2, 0.2))
    spec = f"{MODEL},size=7/15/15"
    code, _, err = blur_json(capsys, with_meta, "-o", tmp_path / "a.tif", "--psf", spec)
    assert code == 0, err
    explicit = spec + ",spacing=" + "/".join(map(str, SPACING))
    code, _, err = blur_json(capsys, wrong_meta, "-o", tmp_path / "b.tif", "--psf", explicit)
    assert code == 0, err
    a, b = io.read_image(tmp_path / "a.tif")[0], io.read_image(tmp_path / "b.tif")[0]
    np.testing.assert_array_equal(a, b)
    # the metadata really matters: the wrong spacing gives another blur
    code, _, err = blur_json(capsys, wrong_meta, "-o", tmp_path / "c.tif", "--psf", spec)
    assert code == 0, err
    assert np.abs(io.read_image(tmp_path / "c.tif")[0] - a).max() > 0.01


def test_default_extent_is_cropped_to_the_volume(tmp_path, beads, capsys):
    source = imagej(tmp_path / "beads.tif", beads, SPACING)
    code, report, err = blur_json(capsys, source, "-o", tmp_path / "a.tif", "--psf", MODEL)
    assert code == 0, err
    full = psf.widefield(1.2, 0.52, 1.33, spacing=SPACING)
    assert all(k > n for k, n in zip(full.shape[1:], beads.shape[1:]))  # the model's own extent is larger
    assert report["psf_shape"] == [min(k, 9) for k in full.shape[:1]] + [27, 27]


def test_unknown_spacing_is_one_error_line_and_no_output(tmp_path, beads, capsys):
    plain = tmp_path / "beads.tif"
    tifffile.imwrite(plain, beads)
    out = tmp_path / "out.tif"
    code, _, err = blur_json(capsys, plain, "-o", out, "--psf", MODEL)
    assert code == 4
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: PSF widefield needs the voxel spacing")
    assert "spacing=0.2/0.065/0.065" in lines[0] and not out.exists()
    # a malformed spec fails before the image is read (a corrupt image would be exit 3)
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00" + b"\x00" * 20)
    code, _, err = blur_json(capsys, corrupt, "-o", out, "--psf", "widefield:na=1.2,colour=2")
    assert code == 4 and "no parameter 'colour'" in err


def test_measured_psf_tiff_is_resampled_to_the_input_spacing(tmp_path, beads, capsys):
    fine = (0.125, 0.04, 0.04)
    bead = psf.widefield(1.2, 0.52, 1.33, spacing=fine, size=(13, 31, 31)).astype(np.float32)
    bead_file = ome(tmp_path / "bead.ome.tif", bead, fine)
    source = ome(tmp_path / "beads.ome.tif", beads, SPACING)
    code, report, err = blur_json(capsys, source, "-o", tmp_path / "a.tif", "--psf", bead_file)
    assert code == 0, err
    assert report["psf_resampled_from"] == pytest.approx(fine)
    expected_psf = psf.resample(bead, fine, SPACING)
    assert report["psf_shape"] == list(expected_psf.shape)
    np.testing.assert_allclose(io.read_image(tmp_path / "a.tif")[0], deconvkit.blur(beads, expected_psf),
                               rtol=0, atol=1e-6)
