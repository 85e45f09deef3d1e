"""io.encode_image / io.decode_image: the bytes write_image writes, made in memory, and read back as read_image
reads the file; checked against write_image's own files and against an independent decoder (imageio)."""

import warnings

import numpy as np
import pytest

from deconvkit import io
from deconvkit.errors import InputError, OutputError, ParameterError

RNG = np.random.default_rng(7)

# (file name, array, write_image keywords): every encoder branch (Pillow PNG/JPEG, OpenCV 16-bit colour PNG,
# tifffile grey/stack/ImageJ spacing/alpha, NumPy) and the conversions (float -> uint8/uint16, ints as is).
CASES = [
    ("grey8.png", RNG.random((20, 30)), {}),
    ("grey16.png", RNG.random((20, 30)), {"dtype": "uint16"}),
    ("rgb16.png", RNG.random((20, 30, 3)), {"dtype": "uint16"}),
    ("rgba8.png", RNG.random((20, 30, 4)), {}),
    ("rgb.jpg", RNG.random((20, 30, 3)), {}),
    ("float.tif", RNG.random((20, 30)).astype(np.float32), {}),
    ("stack.tif", RNG.random((3, 20, 30)).astype(np.float32), {"spacing": (0.3, 0.1, 0.1)}),
    ("int16.tif", (RNG.random((20, 30)) * 4000).astype(np.int16), {}),
    ("rgba16.tif", RNG.random((20, 30, 4)), {"dtype": "uint16"}),
    ("data.npy", RNG.random((5, 6)), {}),
]


@pytest.mark.parametrize("name, array, keywords", CASES, ids=[case[0] for case in CASES])
def test_encode_image_gives_the_bytes_write_image_writes(tmp_path, name, array, keywords):
    path = tmp_path / name
    io.write_image(path, array, **keywords)
    extension = path.suffix
    assert io.encode_image(array, extension, **keywords) == path.read_bytes()


def test_encode_like_a_read_image_keeps_its_depth_scale_alpha_and_spacing(tmp_path):
    import tifffile

    # a 12-bit grey+alpha stack with ImageJ spacing: like=info must give back 12-bit values, the alpha flag
    # and the spacing, as write_image does
    source = tmp_path / "source.tif"
    values = (RNG.random((2, 16, 16)) * 4095).astype(np.uint16)
    tifffile.imwrite(source, values, imagej=True, resolution=(1 / 0.2, 1 / 0.2),
                     metadata={"axes": "ZYX", "spacing": 0.5, "unit": "um"})
    image, info = io.read_image(source)
    assert info.scale == 4095 and info.spacing == pytest.approx((0.5, 0.2, 0.2))
    written = tmp_path / "written.tif"
    io.write_image(written, image, like=info)
    data = io.encode_image(image, "tiff", like=info)
    assert data == written.read_bytes()
    decoded, decoded_info = io.decode_image(data)
    np.testing.assert_array_equal(np.rint(decoded * 4095), values)
    assert decoded_info.spacing == pytest.approx((0.5, 0.2, 0.2)) and decoded_info.dtype == np.uint16


@pytest.mark.parametrize("format, name", [("png", "png"), (".png", "png"), ("JPEG", "jpeg"), ("jpg", "jpeg"),
                                          (".jpeg", "jpeg"), ("tif", "tiff"), (".tiff", "tiff"), ("npy", "npy")])
def test_format_names_and_extensions(format, name):
    _, info = io.decode_image(io.encode_image(np.full((8, 8), 0.5), format))
    assert info.format == name


def test_decode_image_matches_an_independent_decoder():
    import imageio.v3 as iio

    array = RNG.random((12, 17, 3))
    data = io.encode_image(array, "png", dtype="uint16")
    image, info = io.decode_image(data)
    # 16-bit colour PNG (imageio's Pillow reduces it to 8 bits): the reference is the quantised input itself
    np.testing.assert_array_equal(np.rint(image * 65535), np.rint(array * 65535))
    assert info.path == "<bytes>" and info.format == "png" and info.dtype == np.uint16
    grey = io.encode_image(array[..., 0], "png")
    np.testing.assert_array_equal(np.rint(io.decode_image(grey)[0] * 255), iio.imread(grey))


def test_encode_refuses_what_the_format_cannot_hold():
    with pytest.raises(ParameterError, match="format='gif'.*allowed: png, jpeg, tiff, npy"):
        io.encode_image(np.zeros((4, 4)), "gif")
    with pytest.raises(OutputError, match="^cannot encode the image as JPEG: JPEG holds one 2-D image"):
        io.encode_image(np.zeros((4, 4, 4)), "jpeg")
    with pytest.raises(OutputError, match="^cannot encode the image as PNG: the image contains NaN"):
        io.encode_image(np.full((4, 4), np.nan), "png")
    with pytest.raises(OutputError, match="^dtype=uint16 cannot be written as JPEG; allowed: uint8"):
        io.encode_image(np.zeros((4, 4)), "jpeg", dtype="uint16")
    with pytest.raises(OutputError, match="need a non-empty real array"):
        io.encode_image(np.zeros((0, 4)), "png")


def test_spacing_on_a_format_without_it_warns_from_the_callers_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        io.encode_image(np.zeros((4, 4)), "png", spacing=(0.1, 0.1))
    assert [str(w.message) for w in caught] == ["PNG cannot store the voxel spacing; encode as TIFF to keep it"]
    assert caught[0].filename == __file__


def test_decode_errors_name_the_data_not_a_temporary_file():
    with pytest.raises(InputError, match="^cannot decode the data: it is not a PNG, JPEG, TIFF or NPY file"):
        io.decode_image(b"GIF89a....")
    truncated = io.encode_image(RNG.random((40, 40)), "png")[:-30]
    with pytest.raises(InputError) as raised:
        io.decode_image(truncated)
    message = str(raised.value)
    assert "the data" in message and "deconvkit-decode-" not in message and "image.png" not in message
