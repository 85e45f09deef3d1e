"""deconvkit.microscopy: PSFs at the data's spacing from a spec, a file or an array, and restore()."""

from __future__ import annotations

import numpy as np
import pytest

import deconvkit
from deconvkit import DeconvkitError, psf
from deconvkit.io import write_image
from deconvkit.microscopy import fit_psf, microscope_psf, restore

SPACING = (0.2, 0.065, 0.065)


def test_spec_gets_the_data_spacing():
    got = microscope_psf("widefield:na=1.4,wavelength=0.52,size=9/21/21", SPACING)
    np.testing.assert_array_equal(got, psf.widefield(1.4, 0.52, spacing=SPACING, size=(9, 21, 21)))
    # a spec with its own spacing is taken literally
    own = microscope_psf("widefield:na=1.4,wavelength=0.52,spacing=0.1/0.1/0.1,size=9/21/21", SPACING)
    np.testing.assert_array_equal(own, psf.widefield(1.4, 0.52, spacing=(0.1, 0.1, 0.1), size=(9, 21, 21)))
    # voxel-unit models pass through
    assert microscope_psf("gaussian:sigma=1,1,2", SPACING).shape == psf.gaussian([1, 1, 2]).shape


def test_array_and_file_are_resampled(tmp_path):
    fine = (0.1, 0.065 / 3, 0.065 / 3)
    bead = psf.widefield(1.4, 0.52, spacing=fine, size=(21, 99, 99))
    from_array = microscope_psf(bead, SPACING, psf_spacing=fine)
    np.testing.assert_allclose(from_array, psf.resample(bead, fine, SPACING))
    path = tmp_path / "bead.tif"
    write_image(path, bead.astype(np.float32), spacing=fine)
    np.testing.assert_allclose(microscope_psf(str(path), SPACING), from_array, atol=1e-7)
    np.testing.assert_allclose(microscope_psf(bead, SPACING), bead)  # no psf_spacing: already at SPACING


def test_fit_psf_crops_centred_and_odd():
    kernel = psf.widefield(1.4, 0.52, spacing=SPACING, size=(21, 41, 41))
    cropped = fit_psf(kernel, (10, 32, 64))
    assert cropped.shape == (9, 31, 41)
    assert cropped.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(cropped / cropped.max(), (kernel / kernel.max())[6:15, 5:36, :])


def test_restore_deconvolves_at_the_spacing(rng):
    volume = rng.random((12, 40, 40))
    spec = "widefield:na=1.2,wavelength=0.52,ni=1.333,size=9/21/21"
    restored, info = restore(volume, spec, spacing=(0.3, 0.1, 0.1), method="wiener", nsr=1e-2)
    kernel = psf.widefield(1.2, 0.52, 1.333, spacing=(0.3, 0.1, 0.1), size=(9, 21, 21))
    np.testing.assert_allclose(restored, deconvkit.deconvolve(volume, kernel, method="wiener", nsr=1e-2))
    assert info["psf_shape"] == (9, 21, 21) and info["spacing"] == (0.3, 0.1, 0.1)
    with pytest.raises(DeconvkitError, match="has 2 values for a 3-D volume"):
        restore(volume, spec, spacing=(0.1, 0.1))
    with pytest.raises(DeconvkitError, match="needs the voxel spacing|spacing"):
        restore(volume, spec, spacing=None)
