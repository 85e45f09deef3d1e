"""Upload checks and display conversions, against independent references (skimage, raw bytes)."""

import numpy as np
import pytest

from deconvkit.web import imaging


def test_sniff_by_content():
    assert imaging.sniff(b"\x89PNG\r\n\x1a\nxxxx") == "png"
    assert imaging.sniff(b"\xff\xd8\xff\xe0") == "jpeg"
    assert imaging.sniff(b"II*\x00....") == imaging.sniff(b"MM\x00*....") == "tiff"
    assert imaging.sniff(b"\x93NUMPY") is None and imaging.sniff(b"GIF89a") is None


@pytest.mark.parametrize("shape, side", [((100, 60), 32), ((64, 64, 3), 20), ((10, 10), 16)])
def test_reduce_is_a_block_mean(shape, side):
    from skimage.measure import block_reduce

    image = np.random.default_rng(0).random(shape).astype(np.float32)
    factor = max(1, int(np.ceil(max(shape[:2]) / side)))
    rows, cols = shape[0] // factor * factor, shape[1] // factor * factor
    block = (factor, factor) + (1,) * (len(shape) - 2)
    expected = block_reduce(image[:rows, :cols], block, np.mean) if factor > 1 else image
    np.testing.assert_allclose(imaging.reduce(image, side), expected, rtol=1e-5)


def test_decode_checks_pixels_before_decoding(tmp_path):
    import imageio.v3 as iio

    data = iio.imwrite("<bytes>", np.zeros((50, 50), np.uint8), extension=".png")
    with pytest.raises(imaging.TooLarge, match="million pixels"):
        imaging.decode_image(data, str(tmp_path), max_bytes=10**6, max_pixels=2000)
    image, info = imaging.decode_image(data, str(tmp_path), max_bytes=10**6, max_pixels=2500)
    assert image.shape == (50, 50) and info.format == "png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.png"]  # the server's name, not the client's


def test_display_maps_float_range_and_drops_alpha():
    import imageio.v3 as iio

    rgba = np.zeros((4, 4, 4), np.float32)
    rgba[..., 0] = 2.0
    rgba[..., 3] = 1.0
    shown = iio.imread(imaging.display_png(rgba, 16, (0.0, 4.0)))
    assert shown.shape == (4, 4, 3) and shown[0, 0, 0] == 128


def test_web_errors_are_the_library_errors():
    from deconvkit import errors

    # One InputError for the library, the CLI and the web: code catching deconvkit's errors catches the web's.
    assert imaging.InputError is errors.InputError
    assert issubclass(imaging.UnsupportedType, errors.InputError)
    assert issubclass(imaging.TooLarge, errors.InputError) and issubclass(imaging.TooLarge, errors.ResourceError)


@pytest.mark.parametrize(("exc", "status"), [
    (imaging.UnsupportedType("gif"), 415),
    (imaging.TooLarge("big"), 413),
    (imaging.InputError("bad"), 400),
    ("MemoryLimitError", 413),
    ("ResourceError", 413),
    ("PSFError", 400),
    ("PSFNotFoundError", 400),
    ("ParameterError", 400),
    ("OutputWriteError", 500),
    ("DeconvkitError", 400),
])
def test_http_status_is_chosen_by_class(exc, status):
    from deconvkit import errors

    if isinstance(exc, str):
        exc = getattr(errors, exc)("message")
    assert imaging.http_status(exc) == status
