"""Voxel spacing in TIFF metadata: files written by tifffile itself (OME and ImageJ, in other units) are
read right, deconvkit's own files are read right by tifffile, and a measured PSF is resampled."""

from __future__ import annotations

import numpy as np
import pytest

from deconvkit import DeconvkitError, psf
from deconvkit.io import read_image, read_volume, write_image

tifffile = pytest.importorskip("tifffile")


def test_ome_tiff_written_by_tifffile_in_nanometres(tmp_path):
    path = tmp_path / "stack.ome.tif"
    data = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6)
    tifffile.imwrite(path, data, ome=True, metadata={
        "axes": "ZYX", "PhysicalSizeX": 65.0, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 70.0,
        "PhysicalSizeYUnit": "nm", "PhysicalSizeZ": 0.2, "PhysicalSizeZUnit": "µm"})
    image, info = read_volume(path)
    assert image.shape == (4, 5, 6)
    assert info.spacing == pytest.approx((0.2, 0.070, 0.065))
    assert read_image(path)[1].spacing == pytest.approx((0.2, 0.070, 0.065))  # read_image fills it too
    # pixels as any TIFF's: the OME metadata changes nothing (the scale follows the data, docs/reliability.md)
    plain = tmp_path / "plain.tif"
    np.save(tmp_path / "plain.npy", data)
    plain = tmp_path / "plain.npy"
    np.testing.assert_allclose(read_image(path)[0], read_image(plain)[0], rtol=1e-6)


def test_imagej_tiff_written_by_tifffile(tmp_path):
    path = tmp_path / "fiji.tif"
    data = np.zeros((3, 8, 8), np.float32)
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / 0.1, 1 / 0.125),
                     metadata={"spacing": 0.5, "unit": "micron", "axes": "ZYX"})
    assert read_volume(path)[1].spacing == pytest.approx((0.5, 0.125, 0.1))
    path2 = tmp_path / "fiji2d.tif"
    tifffile.imwrite(path2, data[0], imagej=True, resolution=(1 / 100.0, 1 / 100.0), metadata={"unit": "nm"})
    assert read_volume(path2)[1].spacing == pytest.approx((0.1, 0.1))


def test_plain_tiff_resolution_is_not_trusted_and_read_volume_says_so(tmp_path):
    path = tmp_path / "camera.tif"
    tifffile.imwrite(path, np.zeros((2, 8, 8), np.uint8), resolution=(72, 72))  # a default 72 dpi
    assert read_image(path)[1].spacing is None
    with pytest.raises(DeconvkitError, match="voxel spacing is unknown.*spacing=\\(dz, dy, dx\\)"):
        read_volume(path)
    assert read_volume(path, spacing=(0.3, 0.1, 0.1))[1].spacing == (0.3, 0.1, 0.1)
    with pytest.raises(DeconvkitError, match="needs 3 values"):
        read_volume(path, spacing=(0.1, 0.1))
    with pytest.raises(DeconvkitError, match="finite and > 0"):
        read_volume(path, spacing=(0.3, 0.0, 0.1))


@pytest.mark.parametrize("dtype, kind", [("float32", "imagej"), ("uint16", "imagej"), ("float64", "ome")])
def test_written_spacing_is_read_by_tifffile(tmp_path, dtype, kind):
    path = tmp_path / "out.tif"
    data = np.random.default_rng(0).random((5, 6, 7))
    write_image(path, data, dtype=dtype, spacing=(0.3, 0.08, 0.065))
    with tifffile.TiffFile(path) as tif:
        if kind == "imagej":
            assert tif.is_imagej
            assert tif.imagej_metadata["spacing"] == pytest.approx(0.3)
            numerator, denominator = tif.pages[0].tags["XResolution"].value
            assert denominator / numerator == pytest.approx(0.065, rel=1e-6)
        else:
            assert tif.is_ome
            pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
            assert (pixels["PhysicalSizeZ"], pixels["PhysicalSizeY"], pixels["PhysicalSizeX"]) == \
                pytest.approx((0.3, 0.08, 0.065))
        assert tif.series[0].shape == (5, 6, 7)
    image, info = read_volume(path)
    assert info.spacing == pytest.approx((0.3, 0.08, 0.065), rel=1e-6)
    assert image.shape == (5, 6, 7)


def test_spacing_carries_through_like(tmp_path):
    source = tmp_path / "in.tif"
    write_image(source, np.zeros((4, 6, 6), np.float32), spacing=(0.25, 0.1, 0.1))
    image, info = read_image(source)
    write_image(tmp_path / "out.tif", image + 1, like=info)
    assert read_image(tmp_path / "out.tif")[1].spacing == pytest.approx((0.25, 0.1, 0.1))
    # a different shape (a crop) does not inherit it silently
    write_image(tmp_path / "crop.tif", image[:2], like=info)
    assert read_image(tmp_path / "crop.tif")[1].spacing is None
    with pytest.warns(UserWarning, match="cannot store the voxel spacing"):
        write_image(tmp_path / "out.npy", image, spacing=(0.25, 0.1, 0.1))


def test_measured_psf_is_resampled_to_the_data_spacing(tmp_path):
    fine = (0.1, 0.065 / 3, 0.065 / 3)
    target = (0.2, 0.065, 0.065)
    bead = psf.widefield(na=1.4, wavelength=0.52, spacing=fine, size=(41, 195, 195))
    path = tmp_path / "bead.tif"
    write_image(path, (bead / bead.max()).astype(np.float32), spacing=fine)
    loaded = psf.load_measured(path, target)
    direct = psf.widefield(na=1.4, wavelength=0.52, spacing=target, size=(21, 65, 65))
    assert loaded.shape == direct.shape
    assert loaded.sum() == pytest.approx(1.0)
    assert np.abs(loaded - direct).max() < 0.01 * direct.max()
    bare = tmp_path / "bare.tif"
    tifffile.imwrite(bare, bead.astype(np.float32))
    with pytest.raises(DeconvkitError, match="voxel spacing is unknown"):
        psf.load_measured(bare, target)
    np.testing.assert_allclose(psf.load_measured(bare, target, psf_spacing=fine), loaded, atol=1e-7)
    with pytest.raises(DeconvkitError, match="3-D but the data spacing"):
        psf.load_measured(path, (0.065, 0.065))
