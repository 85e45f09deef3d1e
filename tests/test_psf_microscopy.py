"""Microscope PSF models against independent references: the analytic Airy pattern and Born-Wolf axial
profile, the confocal point-pinhole limit, psfmodels (Aguet's Gibson-Lanni implementation), and the
spec parser; resampling against the model evaluated directly at the target spacing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special

from deconvkit import DeconvkitError, psf

LAM = 0.52


def fwhm(profile, step):
    """Full width at half maximum of a 1-D peaked profile, linear interpolation between samples."""
    p = np.asarray(profile, dtype=float) / np.max(profile)
    c = int(np.argmax(p))
    right = c
    while p[right] >= 0.5:
        right += 1
    left = c
    while p[left] >= 0.5:
        left -= 1
    r = right - 1 + (p[right - 1] - 0.5) / (p[right - 1] - p[right])
    l_ = left + 1 - (p[left + 1] - 0.5) / (p[left + 1] - p[left])
    return (r - l_) * step


def airy(v):
    return (2 * special.j1(v) / v) ** 2


AIRY_HALF = optimize.brentq(lambda v: airy(v) - 0.5, 0.5, 3.0)  # v at half maximum, 1.6163
SINC_HALF = optimize.brentq(lambda x: (np.sin(x) / x) ** 2 - 0.5, 0.5, 3.0)  # 1.3916


@pytest.mark.parametrize("na, n", [(0.5, 1.0), (0.9, 1.0), (1.2, 1.333), (1.4, 1.515)])
@pytest.mark.parametrize("model", ["widefield", "gibson_lanni"])
def test_in_focus_profile_is_the_airy_pattern(model, na, n):
    step = 0.01
    plane = psf.parse(f"{model}:na={na},wavelength={LAM},ni={n},spacing={step}/{step},size=1/301,oversample=1")
    r = np.abs(np.arange(301) - 150) * step
    v = 2 * np.pi / LAM * na * r
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(v == 0, 1.0, airy(v))
    np.testing.assert_allclose(plane[0] / plane[0].max(), expected, atol=2e-4)
    assert fwhm(plane[0], step) == pytest.approx(2 * AIRY_HALF / (2 * np.pi) * LAM / na, rel=2e-3)
    assert 2 * AIRY_HALF / (2 * np.pi) == pytest.approx(0.514, abs=1e-3)  # the "0.51 lambda / NA" rule


@pytest.mark.parametrize("na, n", [(0.5, 1.0), (1.2, 1.333), (1.4, 1.515)])
def test_born_wolf_axial_profile_is_sinc_squared(na, n):
    """On the axis the paraxial Born-Wolf PSF is sinc^2(k z NA^2 / (4 n)): zeros at +-2 n lambda / NA^2."""
    dz = 0.01
    first_zero = 2 * n * LAM / na**2
    nz = 2 * int(1.5 * first_zero / dz) + 1
    axis = psf.widefield(na=na, wavelength=LAM, ni=n, spacing=(dz, 0.05, 0.05), size=(nz, 1, 1), oversample=1)
    z = (np.arange(nz) - nz // 2) * dz
    x = 2 * np.pi / LAM * z * na**2 / (4 * n)
    expected = np.sinc(x / np.pi) ** 2
    np.testing.assert_allclose(axis[:, 0, 0] / axis.max(), expected, atol=1e-6)
    near_zero = np.abs(np.abs(z) - first_zero) < dz / 2
    assert axis[near_zero, 0, 0].max() < 1e-4 * axis.max()  # within half a step of the zero
    assert fwhm(axis[:, 0, 0], dz) == pytest.approx(4 * SINC_HALF / (2 * np.pi) * 2 * n * LAM / na**2, rel=2e-3)


@pytest.mark.parametrize("na, n, tolerance", [(0.5, 1.0, 0.02), (1.2, 1.333, 0.06), (1.4, 1.515, 0.06)])
def test_gibson_lanni_axial_fwhm_follows_the_non_paraxial_rule(na, n, tolerance):
    """Matched indices: FWHM ~ 0.88 lambda / (n - sqrt(n^2 - NA^2)); the rule assumes a pupil uniform in
    cos(theta), the scalar integral weights it by cos(theta), hence a few percent at high NA."""
    dz = 0.01
    nz = 2 * int(4 * n * LAM / na**2 / dz) + 1
    axis = psf.gibson_lanni(na=na, wavelength=LAM, ni=n, spacing=(dz, 0.05, 0.05), size=(nz, 1, 1), oversample=1)
    rule = 0.88 * LAM / (n - np.sqrt(n * n - na * na))
    assert fwhm(axis[:, 0, 0], dz) == pytest.approx(rule, rel=tolerance)
    # the exact phase is shorter than the paraxial Born-Wolf one at high NA
    paraxial = 4 * SINC_HALF / (2 * np.pi) * 2 * n * LAM / na**2
    assert fwhm(axis[:, 0, 0], dz) < paraxial


@pytest.mark.parametrize("na, ns, depth", [(1.4, 1.515, 0.0), (1.2, 1.333, 5.0), (1.3, 1.45, 8.0)])
def test_gibson_lanni_matches_psfmodels(na, ns, depth):
    psfmodels = pytest.importorskip("psfmodels")
    nz, nx, dz, dxy, ni = 21, 33, 0.2, 0.065, 1.515
    mine = psf.gibson_lanni(na=na, wavelength=LAM, ni=ni, ns=ns, depth=depth, spacing=(dz, dxy, dxy),
                            size=(nz, nx, nx), centre=False)
    # psfmodels' z is relative to the paraxial image of the source (see the gibson_lanni Notes)
    z = depth + (np.arange(nz) - nz // 2) * dz + depth * (1 - ni / ns)
    reference = psfmodels.make_psf(list(z), nx, dxy=dxy, pz=depth, NA=na, wvl=LAM, ns=ns, ni=ni, ni0=ni,
                                   model="scalar", oversample_factor=3)
    reference = reference / reference.sum()
    assert np.abs(mine - reference).max() < 0.01 * reference.max()


def test_gibson_lanni_mismatch_is_centred_on_its_brightest_plane():
    kwargs = dict(na=1.3, wavelength=LAM, ni=1.515, ns=1.333, depth=10.0, spacing=(0.2, 0.1, 0.1), size=(31, 9, 9))
    centred = psf.gibson_lanni(**kwargs)
    nominal = psf.gibson_lanni(**kwargs, centre=False)
    assert np.unravel_index(centred.argmax(), centred.shape) == (15, 4, 4)
    assert np.unravel_index(nominal.argmax(), nominal.shape)[0] != 15  # the focal shift is real
    # spherical aberration: the axial profile is asymmetric about its peak
    axis = centred[:, 4, 4]
    assert np.abs(axis[:15] - axis[16:][::-1]).max() > 0.05 * axis.max()


def test_confocal_point_pinhole_limit_is_the_squared_airy_pattern():
    v_half = optimize.brentq(lambda v: airy(v) ** 2 - 0.5, 0.5, 3.0)
    step = 0.01
    plane = psf.confocal(na=1.2, wavelength=0.5, excitation=0.5, ni=1.333, pinhole=0, spacing=(step, step),
                         size=(1, 301), oversample=1)
    assert fwhm(plane[0], step) == pytest.approx(2 * v_half / (2 * np.pi) * 0.5 / 1.2, rel=2e-3)
    # excitation and emission at their own wavelengths: the product of two Airy patterns
    plane = psf.confocal(na=1.2, wavelength=0.6, excitation=0.45, ni=1.333, pinhole=0, spacing=(step, step),
                         size=(1, 301), oversample=1)
    v = 2 * np.pi * 1.2 * np.abs(np.arange(301) - 150) * step
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(v == 0, 1.0, airy(v / 0.45) * airy(v / 0.6))
    np.testing.assert_allclose(plane[0] / plane[0].max(), expected, atol=2e-4)


def test_confocal_wide_pinhole_tends_to_the_excitation_psf():
    step = 0.01
    wide = psf.confocal(na=1.2, wavelength=0.5, excitation=0.5, ni=1.333, pinhole=20, spacing=(step, step),
                        size=(1, 301), oversample=1)
    assert fwhm(wide[0], step) == pytest.approx(2 * AIRY_HALF / (2 * np.pi) * 0.5 / 1.2, rel=0.01)
    one_au = psf.confocal(na=1.2, wavelength=0.5, excitation=0.5, ni=1.333, pinhole=1, spacing=(step, step),
                          size=(1, 301), oversample=1)
    assert fwhm(one_au[0], step) < fwhm(wide[0], step)


def test_confocal_matches_psfmodels():
    psfmodels = pytest.importorskip("psfmodels")
    mine = psf.confocal(na=1.2, wavelength=0.52, excitation=0.488, ni=1.333, pinhole=1.0,
                        spacing=(0.1, 0.05, 0.05), size=(21, 41, 41))
    reference = psfmodels.confocal_psf(21, 41, pinhole_au=1.0, dxy=0.05, dz=0.1, NA=1.2, ex_wvl=0.488,
                                       em_wvl=0.52, ns=1.333, ni=1.333, ni0=1.333, model="scalar")
    reference = reference / reference.sum()
    assert np.abs(mine - reference).max() < 0.01 * reference.max()


def test_pixel_integration_is_the_average_over_the_pixel():
    """A coarse pixel equals the mean of a 9x finer point-sampled grid over its area (independent sampling),
    and differs from point-sampling its centre."""
    coarse = psf.widefield(na=1.4, wavelength=LAM, spacing=(0.1, 0.1), size=(9, 9), oversample=3)
    fine = psf.widefield(na=1.4, wavelength=LAM, spacing=(0.1 / 9, 0.1 / 9), size=(81, 81), oversample=1)
    binned = fine.reshape(9, 9, 9, 9).sum(axis=(1, 3))
    binned /= binned.sum()
    assert np.abs(coarse - binned).max() < 0.01 * binned.max()
    point = psf.widefield(na=1.4, wavelength=LAM, spacing=(0.1, 0.1), size=(9, 9), oversample=1)
    assert np.abs(point - binned).max() > 0.05 * binned.max()


def test_spec_parses_physical_models():
    p3 = psf.parse("widefield:na=1.4,wavelength=0.52,ni=1.515,spacing=0.2/0.065/0.065")
    assert p3.ndim == 3 and all(k % 2 == 1 for k in p3.shape)
    assert p3.sum() == pytest.approx(1.0)
    assert np.unravel_index(p3.argmax(), p3.shape) == tuple(k // 2 for k in p3.shape)
    p2 = psf.parse("widefield:na=1.4,wavelength=0.52,spacing=0.065/0.065")
    assert p2.ndim == 2
    np.testing.assert_array_equal(psf.parse("born_wolf:1.4,0.52,1.515,spacing=0.1/0.1,size=5/5"),
                                  psf.widefield(1.4, 0.52, 1.515, spacing=(0.1, 0.1), size=(5, 5)))
    gl = psf.parse("gl:na=1.3,wavelength=0.6,ns=1.33,depth=5,spacing=0.3/0.1/0.1,size=11/15/15")
    assert gl.shape == (11, 15, 15)
    conf = psf.parse("confocal:na=1.2,wavelength=0.52,excitation=0.488,pinhole=0.5,spacing=0.1/0.05,size=21/21")
    assert conf.shape == (21, 21)
    for name in ("widefield", "gibson_lanni", "confocal"):
        assert "spacing" in psf.available()[name].usage()


def test_confocal_and_gibson_lanni_rows_share_the_optics_and_keep_their_own(capsys):
    from deconvkit.cli import main

    # the spec's positional order is the rows' order: confocal's excitation and pinhole follow wavelength
    conf = "spacing=0.1/0.05,size=21/21"
    np.testing.assert_array_equal(psf.parse(f"confocal:1.2,0.52,0.488,0.5,{conf}"),
                                  psf.parse(f"confocal:na=1.2,wavelength=0.52,excitation=0.488,pinhole=0.5,{conf}"))
    np.testing.assert_array_equal(psf.parse("gl:1.3,0.6,1.515,1.33,spacing=0.1/0.1,size=9/9"),
                                  psf.parse("gl:na=1.3,wavelength=0.6,ns=1.33,spacing=0.1/0.1,size=9/9"))
    optics = ("na", "wavelength", "ni", "ns", "depth", "spacing", "size", "oversample")
    rows = {name: {p.name: p for p in psf.available()[name].params} for name in ("confocal", "gibson_lanni")}
    for row in optics:
        left, right = rows["confocal"][row], rows["gibson_lanni"][row]
        assert (left.kind, left.default) == (right.kind, right.default)
        assert (left.help == right.help) == (row != "size")
    assert "auto: from the emission PSF" in rows["confocal"]["size"].help
    assert "3 axial FWHMs" in rows["gibson_lanni"]["size"].help
    assert "ni0" not in rows["confocal"] and "excitation" not in rows["gibson_lanni"]
    assert main(["methods"]) == 0
    listed = capsys.readouterr().out
    assert ("confocal:na=<float>,wavelength=<float>,excitation=<float>,[pinhole=1.0],[ni=1.515],[ns=auto],"
            "[depth=0.0],spacing=<dz/dy/dx>,[size=auto],[oversample=3]\n") in listed
    assert ("gibson_lanni:na=<float>,wavelength=<float>,[ni=1.515],[ns=auto],[depth=0.0],spacing=<dz/dy/dx>,"
            "[size=auto],[oversample=3],[ni0=auto],[ng=1.515],[ng0=auto],[tg=170.0],[tg0=auto],[ti0=150.0]\n") in listed


@pytest.mark.parametrize("spec, match", [
    ("widefield:na=1.4,wavelength=0.52", "needs parameter .spacing."),
    ("widefield:na=1.6,wavelength=0.52,spacing=0.1/0.1", "below the immersion index"),
    ("widefield:na=1.4,wavelength=520,spacing=0.1/0.1", "micrometres"),
    ("widefield:na=1.4,wavelength=0.52,spacing=0.1/0.1/0.1/0.1", "2 values"),
    ("widefield:na=1.4,wavelength=0.52,spacing=0.1/x", "not a valid dz/dy/dx"),
    ("widefield:na=1.4,wavelength=0.52,spacing=0.1/0.1,size=4/5", "odd"),
    ("widefield:na=1.4,wavelength=0.52,spacing=0.1/0.1,oversample=2", "odd integer"),
    ("widefield:na=1.4,wavelength=0.52,spacing=-0.1/0.1", "spacing"),
    ("gibson_lanni:na=1.4,wavelength=0.52,depth=-1,spacing=0.1/0.1", "depth"),
    ("confocal:na=1.4,wavelength=0.52,spacing=0.1/0.1", "excitation"),
])
def test_bad_microscope_specs_raise(spec, match):
    with pytest.raises(DeconvkitError, match=match):
        psf.parse(spec)


def test_resample_matches_the_model_at_the_target_spacing():
    target = (0.2, 0.065, 0.065)
    direct = psf.widefield(na=1.4, wavelength=LAM, spacing=target, size=(21, 65, 65))
    fine = psf.widefield(na=1.4, wavelength=LAM, spacing=(0.1, 0.065 / 3, 0.065 / 3), size=(41, 195, 195))
    down = psf.resample(fine, (0.1, 0.065 / 3, 0.065 / 3), target)
    assert down.shape == direct.shape
    assert np.abs(down - direct).max() < 0.01 * direct.max()
    # upsampling a smooth (well-sampled) PSF: a wide Gaussian, sigma 0.3 um, evaluated at both spacings
    coarse = psf.gaussian([3.0, 6.0, 6.0], size=(21, 41, 41))
    finer = psf.gaussian([6.0, 12.0, 12.0], size=(41, 81, 81))
    up = psf.resample(coarse, (0.1, 0.05, 0.05), (0.05, 0.025, 0.025))
    assert up.shape == finer.shape
    # linear interpolation adds a little variance (about 1/6 of a coarse voxel squared): 3 % of the peak
    assert np.abs(up - finer).max() < 0.03 * finer.max()
    assert psf.resample(direct, target, target) is not None
    with pytest.raises(DeconvkitError, match="needs 3 spacing values"):
        psf.resample(direct, (0.1, 0.1), target)
