"""Image I/O: round trips per format and bit depth (checked with independent readers), atomic and
no-clobber writes, and one-line errors for missing, corrupt and unsupported files."""

from __future__ import annotations

import os
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from PIL import Image

from deconvkit import DeconvkitError, errors, io

RNG = np.random.default_rng(7)


def integers(dtype, shape):
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


@pytest.mark.parametrize("name,dtype,shape", [
    ("grey.png", np.uint8, (17, 23)),
    ("rgb.png", np.uint8, (17, 23, 3)),
    ("rgba.png", np.uint8, (17, 23, 4)),
    ("grey16.png", np.uint16, (17, 23)),
    ("grey.tif", np.uint8, (17, 23)),
    ("grey16.tiff", np.uint16, (17, 23)),
    ("rgb16.tif", np.uint16, (17, 23, 3)),
    ("stack16.tif", np.uint16, (5, 17, 23)),
    ("data.npy", np.uint16, (4, 9)),
])
def test_integer_round_trip_is_exact(tmp_path, name, dtype, shape):
    data = integers(dtype, shape)
    path = tmp_path / name
    io.write_image(path, data)
    image, info = io.read_image(path)
    assert info.dtype == dtype and image.shape == shape
    assert image.dtype == np.float32
    assert info.channel_axis == (-1 if len(shape) == 3 and shape[-1] in (3, 4) else None)
    # Scaled to [0, 1] by the dtype maximum, exactly invertible.
    np.testing.assert_array_equal(np.rint(image.astype(np.float64) * np.iinfo(dtype).max), data)
    # Written back "like" the input: bit-identical data, as seen by an independent reader.
    again = tmp_path / f"again_{name}"
    io.write_image(again, image, like=info)
    raw = np.load(again) if name.endswith(".npy") else (
        tifffile.imread(again) if ".tif" in name else iio.imread(again))
    np.testing.assert_array_equal(raw, data)


def test_sixteen_bit_colour_png(tmp_path):
    pytest.importorskip("cv2", reason="16-bit colour PNG needs OpenCV")
    data = integers(np.uint16, (11, 13, 3))
    io.write_image(tmp_path / "c16.png", data)
    image, info = io.read_image(tmp_path / "c16.png")
    assert info.dtype == np.uint16 and info.channel_axis == -1
    np.testing.assert_array_equal(np.rint(image.astype(np.float64) * 65535), data)
    # Channel order checked against Pillow's 8-bit view of the same file (it keeps the top byte).
    with Image.open(tmp_path / "c16.png") as eight_bit:
        np.testing.assert_array_equal(np.asarray(eight_bit.convert("RGB")), data >> 8)


def test_sixteen_bit_colour_png_without_opencv(tmp_path, monkeypatch):
    pytest.importorskip("cv2", reason="OpenCV is needed to create the test file")
    io.write_image(tmp_path / "c16.png", integers(np.uint16, (4, 5, 3)))
    monkeypatch.setitem(sys.modules, "cv2", None)  # as on an install without OpenCV
    with pytest.raises(DeconvkitError, match="c16.png is a 16-bit colour PNG.*OpenCV"):
        io.read_image(tmp_path / "c16.png")
    with pytest.raises(DeconvkitError, match="new.png.*OpenCV"):
        io.write_image(tmp_path / "new.png", np.zeros((4, 5, 3)), dtype="uint16")
    assert sorted(os.listdir(tmp_path)) == ["c16.png"]


@pytest.mark.parametrize("name,dtype", [("f32.tif", np.float32), ("f64.tif", np.float64),
                                        ("stack.tif", np.float32), ("f.npy", np.float32)])
def test_float_round_trip_unclipped(tmp_path, name, dtype):
    shape = (3, 8, 9) if name.startswith("stack") else (8, 9)
    data = RNG.normal(0.5, 1.0, size=shape).astype(dtype)  # includes values < 0 and > 1
    io.write_image(tmp_path / name, data)
    image, info = io.read_image(tmp_path / name)
    assert info.dtype == dtype and image.dtype == dtype
    np.testing.assert_array_equal(image, data)


def test_float_to_integer_formats_round_and_clip(tmp_path):
    values = np.array([[-0.5, 0.0, 0.2, 0.5], [0.999, 1.0, 1.5, 0.0019]])
    io.write_image(tmp_path / "a.png", values)
    np.testing.assert_array_equal(iio.imread(tmp_path / "a.png"), [[0, 0, 51, 128], [255, 255, 255, 0]])
    io.write_image(tmp_path / "a16.tif", values, dtype="uint16")
    expected = np.rint(np.clip(values, 0, 1) * 65535).astype(np.uint16)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "a16.tif"), expected)


def test_like_keeps_bit_depth_across_formats(tmp_path):
    data = integers(np.uint16, (10, 12))
    tifffile.imwrite(tmp_path / "in.tif", data)
    image, info = io.read_image(tmp_path / "in.tif")
    io.write_image(tmp_path / "out.png", image, like=info)
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode.startswith("I;16")
    io.write_image(tmp_path / "out.jpg", image, like=info)  # JPEG is 8-bit only
    assert iio.imread(tmp_path / "out.jpg").dtype == np.uint8
    floats, finfo = io.read_image(tmp_path / "in.tif", dtype=np.float64)
    assert floats.dtype == np.float64
    tifffile.imwrite(tmp_path / "float.tif", data.astype(np.float32) / 65535)
    f_image, f_info = io.read_image(tmp_path / "float.tif")
    io.write_image(tmp_path / "from_float.png", f_image, like=f_info)  # float source -> uint8 PNG
    assert iio.imread(tmp_path / "from_float.png").dtype == np.uint8


def test_jpeg_round_trip_is_close(tmp_path):
    ramp = np.linspace(0, 1, 40 * 30).reshape(40, 30)
    colour = np.stack([ramp, ramp[::-1], 0.5 * ramp], axis=-1)
    io.write_image(tmp_path / "c.jpeg", colour)
    image, info = io.read_image(tmp_path / "c.jpeg")
    assert info.format == "jpeg" and info.dtype == np.uint8 and image.shape == colour.shape
    assert np.abs(image - colour).mean() < 0.01


def test_planar_tiff_and_page_by_page_stack(tmp_path):
    rgb = integers(np.uint8, (3, 6, 7))  # planar: samples first in the file
    tifffile.imwrite(tmp_path / "planar.tif", rgb, photometric="rgb", planarconfig="separate")
    image, info = io.read_image(tmp_path / "planar.tif")
    assert image.shape == (6, 7, 3) and info.channel_axis == -1
    np.testing.assert_array_equal(np.rint(image * 255), np.moveaxis(rgb, 0, -1))
    pages = integers(np.uint16, (4, 6, 7))
    with tifffile.TiffWriter(tmp_path / "pages.tif") as writer:
        for page in pages:
            writer.write(page)  # no stack metadata: tifffile sees one series per page
    stack, stack_info = io.read_image(tmp_path / "pages.tif")
    assert stack.shape == (4, 6, 7) and stack_info.channel_axis is None
    np.testing.assert_array_equal(np.rint(stack.astype(np.float64) * 65535), pages)


def test_palette_and_bilevel_png(tmp_path):
    Image.new("1", (5, 4), color=1).save(tmp_path / "bits.png")
    image, info = io.read_image(tmp_path / "bits.png")
    assert info.dtype == np.uint8 and image.shape == (4, 5) and image.min() == 1.0
    palette = Image.new("P", (5, 4), color=1)
    palette.putpalette([0, 0, 0, 255, 128, 0] + [0] * 762)
    palette.save(tmp_path / "palette.png")
    colour, _ = io.read_image(tmp_path / "palette.png")
    np.testing.assert_allclose(colour[0, 0], np.array([255, 128, 0]) / 255, atol=1e-7)


def test_file_permissions_follow_umask(tmp_path):
    io.write_image(tmp_path / "a.png", np.zeros((4, 4)))
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "a.png").st_mode & 0o777 == 0o666 & ~umask


# --- atomic and no-clobber writes --------------------------------------------------------------------

def test_refuses_to_overwrite(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="already exists.*overwrite"):
        io.write_image(path, np.zeros((4, 4)))
    assert path.read_bytes() == b"precious"
    io.write_image(path, np.ones((4, 4)), overwrite=True)
    np.testing.assert_array_equal(iio.imread(path), np.full((4, 4), 255))
    assert sorted(os.listdir(tmp_path)) == ["out.png"]


@pytest.mark.parametrize("existing", [False, True])
def test_failure_mid_write_leaves_nothing(tmp_path, monkeypatch, existing):
    path = tmp_path / "out.tif"
    if existing:
        path.write_bytes(b"old contents")

    def failing_encode(tmp, fmt, data, channel_axis, spacing=None):
        with open(tmp, "wb") as handle:
            handle.write(b"II*\x00 half a file")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(io, "_encode", failing_encode)
    with pytest.raises(OSError, match="simulated"):
        io.write_image(path, np.zeros((8, 8), np.float32), overwrite=True)
    assert os.listdir(tmp_path) == (["out.tif"] if existing else [])
    if existing:
        assert path.read_bytes() == b"old contents"


def test_encoder_error_is_reported_and_cleaned(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("encoder exploded\nwith a second line")

    monkeypatch.setattr(iio, "imwrite", broken)
    with pytest.raises(DeconvkitError, match=r"cannot write .*out\.png as PNG: encoder exploded$"):
        io.write_image(tmp_path / "out.png", np.zeros((4, 4)))
    assert os.listdir(tmp_path) == []


def test_file_appearing_during_write_is_not_clobbered(tmp_path, monkeypatch):
    path = tmp_path / "out.npy"
    real_encode = io._encode

    def racing_encode(tmp, fmt, data, channel_axis, spacing=None):
        real_encode(tmp, fmt, data, channel_axis, spacing)
        path.write_bytes(b"written by someone else meanwhile")

    monkeypatch.setattr(io, "_encode", racing_encode)
    with pytest.raises(FileExistsError):
        io.write_image(path, np.zeros(3))
    assert path.read_bytes() == b"written by someone else meanwhile"
    assert os.listdir(tmp_path) == ["out.npy"]


# --- errors ------------------------------------------------------------------------------------------

def test_missing_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        io.read_image(tmp_path / "nope.png")
    with pytest.raises(DeconvkitError, match="folder"):
        io.read_image(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.write_image(tmp_path / "no_dir" / "a.png", np.zeros((2, 2)))


@pytest.mark.parametrize("name,content", [
    ("garbage.png", b"\x00\x01garbage bytes that are not an image" * 10),
    ("header_only.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40),
    ("empty.tif", b""),
    ("broken.tif", b"II*\x00" + b"\xff" * 60),
    ("broken.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 30),
    ("notes.txt", b"hello"),
    ("bad.npy", b"\x93NUMPY\x09\x09"),
])
def test_corrupt_or_unsupported_files(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DeconvkitError) as error:
        io.read_image(path)
    message = str(error.value)
    assert name in message and "\n" not in message


def test_truncated_png(tmp_path):
    io.write_image(tmp_path / "full.png", RNG.random((64, 64)))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DeconvkitError, match="cut.png"):
        io.read_image(tmp_path / "cut.png")


@pytest.mark.parametrize("name,array,kwargs,match", [
    ("a.bmp", np.zeros((4, 4)), {}, "unknown extension"),
    ("a.png", np.zeros((3, 4, 5)), {}, "stacks"),
    ("a.jpg", np.zeros((4, 4, 4)), {}, "JPEG"),
    ("a.png", np.zeros((4, 4)), {"dtype": "float32"}, "cannot be written as PNG"),
    ("a.jpg", np.zeros((4, 4)), {"dtype": "uint16"}, "cannot be written as JPEG"),
    ("a.png", np.zeros((0, 4)), {}, "non-empty"),
    ("a.tif", np.array([["x"]]), {}, "real array"),
])
def test_write_rejects_bad_requests(tmp_path, name, array, kwargs, match):
    with pytest.raises(DeconvkitError, match=match):
        io.write_image(tmp_path / name, array, **kwargs)
    assert os.listdir(tmp_path) == []


def test_read_psf_averages_colour_and_drops_alpha(tmp_path):
    grey = integers(np.uint8, (5, 5))
    rgba = np.stack([grey, grey, grey, np.zeros_like(grey)], axis=-1)
    io.write_image(tmp_path / "k.png", rgba)
    np.testing.assert_allclose(io.read_psf(tmp_path / "k.png"), grey / 255, atol=1e-12)


def test_nan_only_allowed_in_float_formats(tmp_path):
    data = np.array([[0.1, np.nan], [np.inf, 0.5]], dtype=np.float32)
    with pytest.raises(DeconvkitError, match="NaN"):
        io.write_image(tmp_path / "a.png", data)
    io.write_image(tmp_path / "a.tif", data)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "a.tif"), data)
    assert sorted(os.listdir(tmp_path)) == ["a.tif"]


def test_grey_alpha_png_round_trip(tmp_path):
    data = integers(np.uint8, (5, 6, 2))
    io.write_image(tmp_path / "la.png", data)
    image, info = io.read_image(tmp_path / "la.png")
    assert info.channel_axis == -1
    with Image.open(tmp_path / "la.png") as written:
        assert written.mode == "LA"
    np.testing.assert_array_equal(np.rint(image * 255), data)


def test_size_limit_checked_before_decoding(tmp_path, monkeypatch):
    tifffile.imwrite(tmp_path / "big.tif", np.zeros((3, 8, 8), np.uint8), photometric="minisblack")
    np.save(tmp_path / "big.npy", np.zeros((12, 12)))
    monkeypatch.setattr(io, "MAX_PIXELS", 100)
    for name in ("big.tif", "big.npy"):
        with pytest.raises(DeconvkitError, match=f"{name} holds .* in-memory limit"):
            io.read_image(tmp_path / name)


def _png_header_only(width, height):
    """A PNG whose header claims ``width x height`` grey pixels, with one tiny (short) IDAT: a bomb's shape."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [40000, 60000])  # 1.6e9 pixels (Pillow warns), 3.6e9 (Pillow refuses)
def test_png_over_the_limit_is_a_memory_error_before_decoding(tmp_path, side):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(side, side))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning must not reach the user
        with pytest.raises(errors.MemoryLimitError, match="in-memory limit"):
            io.read_image(path)


def test_png_size_limit_is_ours_not_pillows(tmp_path, monkeypatch):
    io.write_image(tmp_path / "small.png", np.zeros((12, 12, 3), np.uint8))
    monkeypatch.setattr(io, "MAX_PIXELS", 400)  # 12 x 12 x 3 = 432 values
    with pytest.raises(errors.MemoryLimitError, match="small.png holds 432 values"):
        io.read_image(tmp_path / "small.png")


@pytest.mark.slow
def test_png_larger_than_pillows_bomb_limit_reads(tmp_path):
    # 180 million pixels: over Pillow's 179-million "decompression bomb" error, well under MAX_PIXELS
    Image.new("L", (15000, 12000), 77).save(tmp_path / "panorama.png", compress_level=1)
    image, info = io.read_image(tmp_path / "panorama.png", dtype=np.float32)
    assert image.shape == (12000, 15000) and info.dtype == np.uint8
    assert float(image[::1000, ::1000].max()) == pytest.approx(77 / 255)
