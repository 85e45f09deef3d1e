"""PSF models against independent references: analytic pixel integrals, quadrature, a whole-plane
re-derivation of MATLAB's motion rule, moments; the spec parser and PSF files."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import integrate, stats

from deconvkit import DeconvkitError, psf
from deconvkit.io import write_image
from deconvkit.psf import _registry


def embed(array, size):
    """Zero-pad a centred odd array to ``size x size`` (centred)."""
    pad = [((size - n) // 2,) * 2 for n in array.shape]
    return np.pad(array, pad)


# --- motion ------------------------------------------------------------------------------------------

def motion_reference(length, angle, size=61):
    """MATLAB's motion rule written over the whole plane, from its description, in x-right/y-up coordinates.

    A pixel's weight is ``max(0, 1 - D)``: ``D`` is its distance to the line through the centre at ``angle``
    (counter-clockwise from image right), or, for pixels at least ``half = (length - 1) / 2`` from the centre,
    its distance to the nearest end point ``+-half`` along the line. No quadrant unfolding, rotations or flips.
    """
    length = max(1.0, length)
    half = (length - 1) / 2
    theta = math.radians(angle)
    rows, cols = np.indices((size, size)) - size // 2
    x, y = cols.astype(float), -rows.astype(float)  # image rows grow downwards, y grows upwards
    along = x * math.cos(theta) + y * math.sin(theta)
    across = -x * math.sin(theta) + y * math.cos(theta)
    radius = np.hypot(x, y)
    distance = np.where(radius >= half, np.hypot(across, half - np.abs(along)), np.abs(across))
    weights = np.clip(1 - distance, 0, None)
    return weights / weights.sum()


@pytest.mark.parametrize("length", [1.0, 1.5, 2.0, 3.0, 5.5, 9.0, 14.2, 21.0])
@pytest.mark.parametrize("angle", [0, 10, 30, 45, 60, 89.5, 90, 100, 135, 170, 180, -30, 405])
def test_motion_matches_whole_plane_rule(length, angle):
    kernel = psf.motion(length, angle)
    size = 61
    np.testing.assert_allclose(embed(kernel, size), motion_reference(length, angle, size), atol=1e-12)


@pytest.mark.parametrize("length", [1.0, 2.0, 3.0, 3.5, 4.5, 5.5, 9.0, 15.0, 20.3])
def test_motion_axis_aligned_is_pixel_integrated_box(length):
    # The line integral of a box of width ``length`` over each pixel [i - 0.5, i + 0.5], divided by length.
    def box(size):
        offsets = np.arange(size) - size // 2
        overlap = np.minimum(offsets + 0.5, length / 2) - np.maximum(offsets - 0.5, -length / 2)
        return np.clip(overlap, 0, None) / length

    horizontal = psf.motion(length, 0)
    k = horizontal.shape[0]
    expected = np.zeros((k, k))
    expected[k // 2] = box(k)
    np.testing.assert_allclose(horizontal, expected, atol=1e-14)
    np.testing.assert_allclose(psf.motion(length, 90), expected.T, atol=1e-14)
    np.testing.assert_allclose(psf.motion(length, 180), horizontal, atol=1e-14)
    np.testing.assert_allclose(psf.motion(length, -90), expected.T, atol=1e-14)


def test_motion_angle_conventions():
    k = psf.motion(9, 45)
    n = k.shape[0]
    # 45 degrees: up and to the right, i.e. the anti-diagonal of the array (top-right to bottom-left).
    assert k[0, n - 1] > 0 and k[n - 1, 0] > 0
    assert k[0, 0] == 0 and k[n - 1, n - 1] == 0
    np.testing.assert_allclose(k, k[::-1, ::-1].T, atol=1e-15)  # mirror-symmetric about the anti-diagonal
    np.testing.assert_allclose(k, k.T, atol=1e-15)  # and about the perpendicular (main) diagonal
    k135 = psf.motion(9, 135)
    assert k135[0, 0] > 0 and k135[0, n - 1] == 0
    # 30 degrees is closer to horizontal: the top-right mass is right of the centre column more than above.
    k30 = psf.motion(15, 30)
    rows, cols = np.indices(k30.shape) - k30.shape[0] // 2
    upper = rows < 0
    assert (k30[upper] * cols[upper]).sum() > (k30[upper] * -rows[upper]).sum() > 0


@pytest.mark.parametrize("angle", [0, 17, 30, 45, 72, 90, 120, 151])
def test_motion_principal_axis_and_moments(angle):
    length = 21
    k = psf.motion(length, angle)
    rows, cols = np.indices(k.shape) - k.shape[0] // 2
    x, y = cols.ravel(), -rows.ravel()
    w = k.ravel()
    assert abs((w * x).sum()) < 1e-12 and abs((w * y).sum()) < 1e-12  # centred
    cov = np.cov(np.vstack([x, y]), aweights=w, bias=True)
    values, vectors = np.linalg.eigh(cov)
    direction = math.degrees(math.atan2(vectors[1, 1], vectors[0, 1])) % 180
    assert min(abs(direction - angle % 180), 180 - abs(direction - angle % 180)) < 1.0
    # Along the motion the variance is that of a uniform segment, length^2 / 12, within a pixel^2.
    assert abs(values[1] - length**2 / 12) < 1.0
    assert values[0] < 0.5  # about one pixel wide


def rasterised_segment(length, angle, size, sub=24):
    """Pixel areas of a 1-pixel-wide rectangle of ``length`` at ``angle``, by midpoint supersampling."""
    theta = math.radians(angle)
    coords = (np.arange(size * sub) + 0.5) / sub - size / 2
    x, y = np.meshgrid(coords, -coords)
    along = x * math.cos(theta) + y * math.sin(theta)
    across = -x * math.sin(theta) + y * math.cos(theta)
    inside = (np.abs(along) <= length / 2) & (np.abs(across) <= 0.5)
    areas = inside.reshape(size, sub, size, sub).mean(axis=(1, 3))
    return areas / areas.sum()


@pytest.mark.parametrize("length", [5, 11, 24])
@pytest.mark.parametrize("angle", [0, 10, 30, 45, 60, 80, 115, 150])
def test_motion_close_to_rasterised_segment(length, angle):
    # MATLAB's distance-based anti-aliasing is not an area rasterisation, but the two agree to a few
    # percent of the mass (exactly along the axes); a wrong angle or mirror would differ by ~100 %.
    kernel = np.pad(psf.motion(length, angle), 1)
    reference = rasterised_segment(length, angle, kernel.shape[0])
    assert np.abs(kernel - reference).sum() < 0.1
    mirrored = rasterised_segment(length, -angle, kernel.shape[0])
    if 20 <= angle % 90 <= 70:  # clearly diagonal: the mirror image hardly overlaps
        assert np.abs(kernel - mirrored).sum() > 0.5


@pytest.mark.parametrize("length,angle", [(0.2, 0), (1.0, 33), (0.999, 90)])
def test_motion_short_is_delta(length, angle):
    np.testing.assert_array_equal(psf.motion(length, angle), [[1.0]])


def test_motion_properties_random():
    rng = np.random.default_rng(1)
    for length, angle in zip(rng.uniform(0.5, 40, 40), rng.uniform(-360, 360, 40)):
        k = psf.motion(length, angle)
        assert k.ndim == 2 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
        assert k.min() >= 0 and math.isclose(k.sum(), 1.0, abs_tol=1e-12)
        np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-15)  # motion blur has no direction sign
        np.testing.assert_allclose(k, psf.motion(length, angle + 180), atol=1e-15)


@pytest.mark.parametrize("bad", [0, -3, float("nan"), float("inf"), 1001, "abc", None])
def test_motion_rejects_bad_length(bad):
    with pytest.raises(DeconvkitError, match="length"):
        psf.motion(bad)


def test_motion_rejects_bad_angle():
    with pytest.raises(DeconvkitError, match="angle"):
        psf.motion(5, float("nan"))


# --- defocus -----------------------------------------------------------------------------------------

def disk_area_quad(radius, row, col):
    """Area of the pixel square centred at (row, col) inside the disk, by adaptive quadrature over x."""
    x0, x1, y0, y1 = col - 0.5, col + 0.5, row - 0.5, row + 0.5

    def chord(x):
        half = math.sqrt(max(radius * radius - x * x, 0.0))
        return max(0.0, min(y1, half) - max(y0, -half))

    lo, hi = max(x0, -radius), min(x1, radius)
    if lo >= hi:
        return 0.0
    breaks = [b for b in (-radius, radius, math.sqrt(max(radius**2 - y0**2, 0)), math.sqrt(max(radius**2 - y1**2, 0)),
                          -math.sqrt(max(radius**2 - y0**2, 0)), -math.sqrt(max(radius**2 - y1**2, 0)))
              if lo < b < hi]
    value, _ = integrate.quad(chord, lo, hi, points=breaks or None, epsabs=1e-13, epsrel=1e-12, limit=200)
    return value


@pytest.mark.parametrize("radius", [0.3, 0.5, 0.6, 0.8, 1.0, 1.5, 2.5, 3.7, 5.0])
def test_defocus_is_exact_pixel_area(radius):
    k = psf.defocus(radius)
    n = k.shape[0]
    assert n == 2 * math.ceil(radius - 0.5) + 1 if radius > 0.5 else n == 1
    c = n // 2
    areas = np.array([[disk_area_quad(radius, r - c, q - c) for q in range(n)] for r in range(n)])
    # The whole disk lies inside the array, so the areas sum to pi r^2 and k must be areas / (pi r^2).
    assert math.isclose(areas.sum(), math.pi * radius**2, rel_tol=1e-9)
    np.testing.assert_allclose(k * math.pi * radius**2, areas, atol=1e-10)


def test_defocus_supersampled_and_symmetric():
    radius = 6.0
    k = psf.defocus(radius)
    n, sub = k.shape[0], 64
    # Midpoint supersampling of every pixel: an independent (approximate) area estimate.
    coords = (np.arange(n * sub) + 0.5) / sub - n / 2
    inside = (coords[:, None] ** 2 + coords[None, :] ** 2) <= radius**2
    areas = inside.reshape(n, sub, n, sub).mean(axis=(1, 3))
    np.testing.assert_allclose(k * math.pi * radius**2, areas, atol=3e-3)
    for view in (k.T, k[::-1], k[:, ::-1]):
        np.testing.assert_allclose(k, view, atol=1e-15)
    assert math.isclose(k.sum(), 1.0, abs_tol=1e-12)


def test_defocus_known_values_radius_one():
    # Closed forms for r = 1: the centre pixel lies inside (area 1); edge and corner pixels by hand.
    k = psf.defocus(1.0) * math.pi
    edge = (math.sqrt(3) / 2 - 0.5) + (math.pi / 2 - math.sqrt(3) / 4 - math.pi / 3)
    corner = 0.5 * (math.pi / 3 - math.pi / 6) - 0.5 * (math.sqrt(3) / 2 - 0.5)
    np.testing.assert_allclose(k, [[corner, edge, corner], [edge, 1, edge], [corner, edge, corner]], atol=1e-12)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), 2000])
def test_defocus_rejects_bad_radius(bad):
    with pytest.raises(DeconvkitError, match="radius"):
        psf.defocus(bad)


# --- gaussian ----------------------------------------------------------------------------------------

def gaussian_1d_reference(sigma, size):
    offsets = np.arange(size) - size // 2
    weights = np.array([integrate.quad(stats.norm(scale=sigma).pdf, i - 0.5, i + 0.5, epsabs=1e-15)[0]
                        for i in offsets])
    return weights / weights.sum()


@pytest.mark.parametrize("sigma", [0.2, 0.5, 1.0, 2.7])
def test_gaussian_1d_is_pixel_integral(sigma):
    k = psf.gaussian(sigma, ndim=1)
    assert k.shape == (2 * math.ceil(3.5 * sigma) + 1,)
    np.testing.assert_allclose(k, gaussian_1d_reference(sigma, k.size), rtol=1e-9, atol=1e-15)


def test_gaussian_anisotropic_and_nd():
    k = psf.gaussian([1.5, 0.7])
    assert k.shape == (2 * math.ceil(5.25) + 1, 2 * math.ceil(2.45) + 1)
    expected = np.outer(gaussian_1d_reference(1.5, k.shape[0]), gaussian_1d_reference(0.7, k.shape[1]))
    np.testing.assert_allclose(k, expected, rtol=1e-9, atol=1e-15)
    k3 = psf.gaussian(0.8, ndim=3)
    assert k3.shape == (7, 7, 7) and math.isclose(k3.sum(), 1.0, abs_tol=1e-12)
    np.testing.assert_allclose(k3, k3.transpose(1, 2, 0), atol=1e-16)
    assert psf.gaussian([1, 1, 2]).shape == (9, 9, 15)
    no_blur_rows = psf.gaussian([0.0, 1.0])
    assert no_blur_rows.shape == (1, 9)
    assert psf.gaussian(1.0, size=[5, 3]).shape == (5, 3)


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.3])
def test_gaussian_variance_includes_pixel_box(sigma):
    # A Gaussian integrated over unit pixels has variance sigma^2 + 1/12 (Sheppard); use a wide support so
    # that truncation does not matter.
    k = psf.gaussian(sigma, size=2 * math.ceil(10 * sigma) + 1, ndim=1)
    offsets = np.arange(k.size) - k.size // 2
    assert abs((k * offsets).sum()) < 1e-14
    np.testing.assert_allclose((k * offsets**2).sum(), sigma**2 + 1 / 12, rtol=1e-7)


def test_gaussian_tiny_sigma_is_nearly_delta():
    k = psf.gaussian(0.1)
    centre = (2 * stats.norm.cdf(0.5 / 0.1) - 1) ** 2
    assert k.shape == (3, 3) and math.isclose(k[1, 1], centre / k.sum(), rel_tol=1e-12)


@pytest.mark.parametrize("kwargs,match", [
    ({"sigma": -1}, "sigma"), ({"sigma": float("nan")}, "sigma"), ({"sigma": [1, 2, 3], "ndim": 2}, "ndim"),
    ({"sigma": 1, "size": 4}, "odd"), ({"sigma": 1, "size": 0}, "odd"), ({"sigma": 1, "ndim": 0}, "ndim"),
    ({"sigma": 400, "ndim": 3}, "too large"),
])
def test_gaussian_rejects_bad_input(kwargs, match):
    with pytest.raises(DeconvkitError, match=match):
        psf.gaussian(**kwargs)


# --- parse, registry, files --------------------------------------------------------------------------

@pytest.mark.parametrize("spec,expected", [
    ("motion:length=15,angle=30", lambda: psf.motion(15, 30)),
    ("motion:15,30", lambda: psf.motion(15, 30)),
    (" Motion : Length = 7.5 ", lambda: psf.motion(7.5)),
    ("defocus:radius=6", lambda: psf.defocus(6)),
    ("disk:radius=2.5", lambda: psf.defocus(2.5)),
    ("gaussian:sigma=2", lambda: psf.gaussian(2)),
    ("gaussian:sigma=1.5,2", lambda: psf.gaussian([1.5, 2])),
    ("gaussian:sigma=1,ndim=3", lambda: psf.gaussian(1, ndim=3)),
    ("gaussian:sigma=1,1,2,size=5,5,9", lambda: psf.gaussian([1, 1, 2], size=[5, 5, 9])),
])
def test_parse_specs(spec, expected):
    np.testing.assert_array_equal(psf.parse(spec), expected())


@pytest.mark.parametrize("spec,match", [
    ("blur:radius=3", "motion, defocus, gaussian"),
    ("", "unknown PSF"),
    ("motion", "needs parameter 'length'"),
    ("motion:angle=3", "needs parameter 'length'"),
    ("motion:length=abc", "not a valid float"),
    ("motion:length=3,speed=2", "no parameter 'speed'"),
    ("motion:length=3,length=4", "given twice"),
    ("motion:length=3,angle=1,2", "takes one value"),
    ("motion:3,4,5", "too many values"),
    ("motion:length=3,", "empty value"),
    ("motion:length=-3", "length"),
    ("gaussian:sigma=1,size=2.5", "not a valid int"),
])
def test_parse_errors(spec, match):
    with pytest.raises(DeconvkitError, match=match):
        psf.parse(spec)


def test_available_lists_models_and_parameters():
    models = psf.available()
    assert list(models)[:3] == ["motion", "defocus", "gaussian"]
    assert [p.name for p in models["motion"].params] == ["length", "angle"]
    assert models["motion"].params[1].default == 0.0
    assert models["motion"].usage().startswith("motion:length=")
    assert "disk" not in models  # aliases are not listed twice
    help_text = models["gaussian"].describe()
    assert "sigma:" in help_text and "(default auto)" in help_text


def test_register_new_model_is_parsed():
    @psf.register_psf("box_test", params=[psf.Param("size", int)])
    def box_test(size):
        """Uniform square."""
        return np.full((size, size), 1.0 / size**2)

    try:
        assert "box_test" in psf.available()
        assert psf.available()["box_test"].summary == "Uniform square."
        np.testing.assert_allclose(psf.parse("box_test:size=3"), np.full((3, 3), 1 / 9))
        with pytest.raises(ValueError, match="already registered"):
            psf.register_psf("box_test", params=[], aliases=("motion",))
    finally:
        _registry._MODELS.pop("box_test", None)


def test_parse_files_round_trip(tmp_path):
    kernel = psf.motion(9, 30)
    np.save(tmp_path / "k.npy", kernel * 7)
    np.testing.assert_allclose(psf.parse(str(tmp_path / "k.npy")), kernel, atol=1e-15)
    write_image(tmp_path / "k.tif", (kernel * 3).astype(np.float32))
    np.testing.assert_allclose(psf.parse(str(tmp_path / "k.tif")), kernel, atol=1e-7)
    np.testing.assert_allclose(psf.load(tmp_path / "k.tif"), kernel, atol=1e-7)
    # 16-bit PNG: quantised to 1/65535 of the maximum before normalisation.
    write_image(tmp_path / "k.png", kernel / kernel.max(), dtype="uint16")
    np.testing.assert_allclose(psf.parse(str(tmp_path / "k.png")), kernel, atol=1e-5)
    # A colour PSF file is averaged over its channels (TIFF: 16-bit colour PNG would need OpenCV).
    write_image(tmp_path / "c.tif", np.stack([kernel / kernel.max()] * 3, axis=-1), dtype="uint16")
    np.testing.assert_allclose(psf.parse(str(tmp_path / "c.tif")), kernel, atol=1e-5)


def test_parse_npz_member(tmp_path):
    kernels = {"psf1": psf.motion(7, 20), "psf2": psf.defocus(2.0)}
    np.savez(tmp_path / "psfs.npz", **kernels)
    np.testing.assert_allclose(psf.parse(f"{tmp_path / 'psfs.npz'}:psf2"), kernels["psf2"], atol=1e-15)
    np.savez(tmp_path / "one.npz", only=kernels["psf1"] * 3)
    np.testing.assert_allclose(psf.parse(str(tmp_path / "one.npz")), kernels["psf1"], atol=1e-15)
    with pytest.raises(DeconvkitError, match="no array 'psf9'.*psf1, psf2"):
        psf.parse(f"{tmp_path / 'psfs.npz'}:psf9")
    with pytest.raises(DeconvkitError, match="holds 2 arrays; name one of psf1, psf2"):
        psf.parse(str(tmp_path / "psfs.npz"))  # two arrays: the name is needed
    with pytest.raises(FileNotFoundError):
        psf.parse(f"{tmp_path / 'missing.npz'}:psf1")
    (tmp_path / "bad.npz").write_bytes(b"PK not really a zip")
    with pytest.raises(DeconvkitError, match="bad.npz"):
        psf.parse(str(tmp_path / "bad.npz"))


def test_parse_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        psf.parse(str(tmp_path / "missing.png"))
    np.save(tmp_path / "zero.npy", np.zeros((3, 3)))
    with pytest.raises(DeconvkitError, match="positive"):
        psf.parse(str(tmp_path / "zero.npy"))
    np.save(tmp_path / "nan.npy", np.array([[0, np.nan], [1, 1]]))
    with pytest.raises(DeconvkitError, match="NaN"):
        psf.parse(str(tmp_path / "nan.npy"))
    np.save(tmp_path / "empty.npy", np.zeros((0, 3)))
    with pytest.raises(DeconvkitError, match="empty|unsupported"):
        psf.parse(str(tmp_path / "empty.npy"))
    (tmp_path / "garbage.png").write_bytes(b"not an image at all")
    with pytest.raises(DeconvkitError, match="garbage.png"):
        psf.parse(str(tmp_path / "garbage.png"))


def test_negative_values_policy(tmp_path):
    kernel = psf.gaussian(1.5)
    slightly = kernel.copy()
    slightly[0, 0] = -1e-4  # background-subtraction noise: clipped with a warning
    with pytest.warns(UserWarning, match="clipped"):
        cleaned = psf.parse(slightly)
    assert cleaned.min() == 0 and math.isclose(cleaned.sum(), 1.0, abs_tol=1e-12)
    strongly = kernel - 0.5 * kernel.max()
    with pytest.raises(DeconvkitError, match="negative"):
        psf.parse(strongly)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        psf.parse(kernel)  # a clean PSF gives no warning


def test_negative_mass_refusal_reads_the_same_for_files_and_arrays(tmp_path):
    import deconvkit
    from deconvkit.errors import PSFError

    kernel = np.zeros((5, 5))
    kernel[2, 2], kernel[0, 0] = 1.0, -0.02  # 2 % negative mass: over the 1 % both accept
    np.save(tmp_path / "psf.npy", kernel)
    with pytest.raises(PSFError) as from_file:
        psf.parse(str(tmp_path / "psf.npy"))
    with pytest.raises(PSFError) as from_array:
        deconvkit.deconvolve(np.ones((16, 16)), kernel, method="wiener")
    expected = "has negative values holding 2.0% of its positive mass (at most 1% is allowed); is it really a PSF?"
    assert str(from_file.value).endswith(expected) and str(from_array.value) == "psf " + expected


def test_center_and_crop():
    off = np.zeros((7, 7))
    off[1, 4] = 1.0
    centred = psf.center(off)
    assert centred[3, 3] == 1.0
    half = np.zeros((5, 5))
    half[2, 1:3] = 0.5  # centroid at column 1.5
    sub = psf.center(half, subpixel=True)
    cols = np.arange(5)
    assert math.isclose((sub.sum(axis=0) * cols).sum(), 2.0, abs_tol=1e-12)
    small = psf.defocus(2.0)
    np.testing.assert_allclose(psf.crop(np.pad(small, 4)), small)
    np.testing.assert_allclose(psf.crop(psf.motion(5, 0)), np.full((1, 5), 0.2))  # axes crop separately
    lopsided = np.zeros((9, 9))
    lopsided[4, 4] = 1.0
    lopsided[4, 8] = 0.5  # far right: the crop must stay centred, so nothing can go on that axis
    assert psf.crop(lopsided).shape == (1, 9)
    g = psf.gaussian(2.0)
    cropped = psf.crop(g, threshold=0.01)
    assert cropped.shape[0] < g.shape[0] and cropped.shape[0] % 2 == 1
