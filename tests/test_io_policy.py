"""The intensity policy of deconvkit.io: integer dtypes of every width (int64 no longer writes zeros),
the intensity scale taken from the data (12-bit in 16-bit containers), alpha set aside and written back
untouched, CMYK and palettes converted to RGB. Files are checked with independent readers (tifffile,
imageio, Pillow, numpy) and colours against Pillow's own conversion."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from PIL import Image

from deconvkit import InputError, OutputError, io

RNG = np.random.default_rng(2026)


def raw_read(path):
    path = str(path)
    if path.endswith(".npy"):
        return np.load(path)
    if path.endswith(".tif"):
        return tifffile.imread(path)
    return iio.imread(path)


# --- integer dtypes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["int64", "uint64", "int32", "uint32", "int16", "uint16", "int8", "uint8"])
@pytest.mark.parametrize("ext", ["npy", "tif"])
def test_integer_arrays_of_every_width_round_trip_exactly(tmp_path, dtype, ext):
    info = np.iinfo(dtype)
    low = max(info.min, -(2**40))
    data = RNG.integers(low, min(info.max, 2**40), size=(9, 11), endpoint=True).astype(dtype)
    data[0, 0] = 0
    path = tmp_path / f"a.{ext}"
    io.write_image(path, data)
    np.testing.assert_array_equal(raw_read(path), data)  # written as is, not rescaled, not zeros
    image, meta = io.read_image(path)
    assert meta.dtype == np.dtype(dtype) and np.abs(image).max() <= 1.0
    # Read as value / scale with the scale from the data, so float results mean the same across containers.
    np.testing.assert_allclose(image, data / meta.scale, rtol=1e-6 if image.dtype == np.float32 else 1e-12)
    io.write_image(tmp_path / f"b.{ext}", image, like=meta)
    np.testing.assert_array_equal(raw_read(tmp_path / f"b.{ext}"), data)


def test_int64_default_integers_to_png_keep_their_values(tmp_path):
    data = np.arange(60).reshape(6, 10) * 4  # NumPy's default int64, 8-bit values: the all-zero case
    io.write_image(tmp_path / "a.png", data)
    written = iio.imread(tmp_path / "a.png")
    np.testing.assert_array_equal(written, data)
    assert written.max() == 236
    image, meta = io.read_image(tmp_path / "a.png")
    assert meta.dtype == np.uint16 and meta.scale == 255  # 8-bit values in a 16-bit PNG: the 8-bit scale
    np.testing.assert_allclose(image, data / 255, rtol=1e-6)
    io.write_image(tmp_path / "b.jpg", data)  # JPEG: fits uint8 too
    assert np.abs(iio.imread(tmp_path / "b.jpg").astype(int) - data).max() <= 3


def test_integers_too_wide_for_the_target_are_rescaled_not_wrapped(tmp_path):
    data = np.array([[0, 70000], [140000, 1048575]], np.int64)  # 20-bit values into a 16-bit PNG
    io.write_image(tmp_path / "a.png", data)
    expected = np.rint(data / 1048575 * 65535).astype(np.uint16)
    np.testing.assert_array_equal(iio.imread(tmp_path / "a.png"), expected)
    with pytest.raises(OutputError, match="negative integers"):
        io.write_image(tmp_path / "n.png", np.array([[-5, 300000]]))


# --- scale from the data --------------------------------------------------------------------------------

@pytest.mark.parametrize("bits,container", [(12, np.uint16), (12, np.uint32), (10, np.uint16), (14, np.uint16),
                                            (16, np.uint16), (12, np.int32), (8, np.uint16)])
def test_scale_is_taken_from_the_data(tmp_path, bits, container):
    top = 2**bits - 1
    data = RNG.integers(0, top, size=(20, 20), endpoint=True).astype(container)
    data[3, 3] = top
    tifffile.imwrite(tmp_path / "in.tif", data)
    image, meta = io.read_image(tmp_path / "in.tif")
    assert meta.scale == top and meta.significant_bits == bits and meta.dtype == container
    assert image.max() == 1.0 and image.min() >= 0  # the same [0, 1] as an 8-bit image of the content
    # A float result written like the input comes back in the input's 12-bit range.
    io.write_image(tmp_path / "half.tif", image * 0.5, like=meta)
    written = tifffile.imread(tmp_path / "half.tif")
    assert written.dtype == container
    # Within rounding of data / 2 (ties may go either way after the float32 round trip).
    assert np.abs(written.astype(np.float64) - data * 0.5).max() <= 0.5 + 1e-3


def test_twelve_bit_content_reads_like_the_same_content_at_eight_and_sixteen_bits(tmp_path):
    content = RNG.random((32, 32))
    for bits, container in ((8, np.uint8), (12, np.uint16), (16, np.uint16)):
        top = 2**bits - 1
        tifffile.imwrite(tmp_path / f"{bits}.tif", np.rint(content * top).astype(container))
    images = {bits: io.read_image(tmp_path / f"{bits}.tif")[0].astype(np.float64) for bits in (8, 12, 16)}
    assert np.abs(images[12] - content).max() <= 0.5 / 4095 + 1e-7
    assert np.abs(images[12] - images[16]).max() < 2e-4 and np.abs(images[12] - images[8]).max() < 3e-3


def test_intensity_scale_rule():
    assert io.intensity_scale(np.zeros(3, np.float32)) is None
    assert io.intensity_scale(np.array([True])) == 255
    assert io.intensity_scale(np.array([0, 5], np.uint8)) == 255
    assert io.intensity_scale(np.array([0, 4095], np.uint16)) == 4095
    assert io.intensity_scale(np.array([0, 4096], np.uint16)) == 16383
    assert io.intensity_scale(np.array([0, 65535], np.uint16)) == 65535
    assert io.intensity_scale(np.array([-2000, 100], np.int16)) == 4095
    assert io.intensity_scale(np.array([0, 40000], np.int32)) == 65535
    assert io.intensity_scale(np.array([2**31 - 1], np.int32)) == 2**31 - 1
    assert io.intensity_scale(np.array([0, 2**62], np.int64)) == float(2**63 - 1)  # float64: exact to 2**53


# --- alpha -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("channels,out", [(4, "png"), (2, "png"), (4, "tif"), (2, "tif")])
def test_alpha_is_set_aside_and_written_back_untouched(tmp_path, channels, out):
    data = RNG.integers(0, 255, size=(7, 9, channels), endpoint=True).astype(np.uint8)
    if out == "png":
        io.write_image(tmp_path / "in.png", data)
    else:  # a TIFF says alpha in ExtraSamples (a bare (rows, cols, 2) array is a stack, not grey+alpha)
        tifffile.imwrite(tmp_path / "in.tif", data, photometric="rgb" if channels == 4 else "minisblack",
                         extrasamples=["unassalpha"], planarconfig="contig")
    image, meta = io.read_image(tmp_path / f"in.{out}")
    assert meta.alpha and meta.channel_axis == -1
    colour, alpha, axis = io.split_alpha(image, meta)
    assert alpha.shape == (7, 9, 1)
    assert (colour.shape, axis) == (((7, 9, 3), -1) if channels == 4 else ((7, 9), None))
    processed = 1.0 - colour  # stands in for a restoration: colour changes, alpha must not
    io.write_image(tmp_path / f"out.{out}", io.merge_alpha(processed, alpha), like=meta)
    written = raw_read(tmp_path / f"out.{out}")
    np.testing.assert_array_equal(written[..., -1], data[..., -1])
    np.testing.assert_array_equal(written[..., :-1], 255 - data[..., :-1])
    assert io.read_image(tmp_path / f"out.{out}")[1].alpha


def test_no_alpha_split_for_rgb_and_npy(tmp_path):
    rgb = RNG.random((4, 5, 3))
    io.write_image(tmp_path / "a.png", rgb)
    image, meta = io.read_image(tmp_path / "a.png")
    assert not meta.alpha and io.split_alpha(image, meta).alpha is None
    np.save(tmp_path / "four.npy", RNG.random((4, 5, 4)))  # raw data: four channels are data, not RGBA
    image, meta = io.read_image(tmp_path / "four.npy")
    assert not meta.alpha
    with pytest.raises(Exception, match="does not match"):
        io.merge_alpha(np.zeros((3, 3, 3)), np.zeros((4, 4, 1)))


def test_rgb_tiff_with_an_unspecified_fourth_channel_is_not_alpha(tmp_path):
    data = RNG.integers(0, 255, size=(5, 6, 4), endpoint=True).astype(np.uint8)
    tifffile.imwrite(tmp_path / "x.tif", data, photometric="rgb", extrasamples=["unspecified"])
    assert not io.read_image(tmp_path / "x.tif")[1].alpha


# --- CMYK and palettes --------------------------------------------------------------------------------

def test_cmyk_jpeg_is_converted_to_rgb_as_pillow_shows_it(tmp_path):
    cmyk = RNG.integers(0, 255, size=(16, 16, 4), endpoint=True).astype(np.uint8)
    cmyk[:8] = [0, 255, 255, 0]  # pure red ink mix
    Image.fromarray(cmyk, mode="CMYK").save(tmp_path / "c.jpg", quality=100)
    image, meta = io.read_image(tmp_path / "c.jpg")
    assert image.shape == (16, 16, 3) and meta.mode == "CMYK" and not meta.alpha
    with Image.open(tmp_path / "c.jpg") as reference:
        expected = np.asarray(reference.convert("RGB"))
    np.testing.assert_array_equal(np.rint(image * 255), expected)
    np.testing.assert_allclose(image[2, 2], [1, 0, 0], atol=0.02)  # red, not inverted, not transparent
    io.write_image(tmp_path / "out.png", image, like=meta)
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == "RGB"


def test_cmyk_tiff_is_converted_to_rgb(tmp_path):
    inks = np.zeros((4, 5, 4), np.uint8)
    inks[..., 1:3] = 255  # magenta + yellow = red
    inks[0, 0] = [0, 0, 0, 255]  # black ink
    tifffile.imwrite(tmp_path / "s.tif", inks, photometric="separated")
    image, meta = io.read_image(tmp_path / "s.tif")
    assert meta.mode == "CMYK" and image.shape == (4, 5, 3)
    np.testing.assert_array_equal(image[1, 1], [1, 0, 0])
    np.testing.assert_array_equal(image[0, 0], [0, 0, 0])


def test_palettes_are_expanded(tmp_path):
    colormap = np.zeros((3, 256), np.uint16)
    colormap[:, 1] = [65535, 32896, 0]  # 8-bit colours stored the TIFF way, value * 257
    colormap[:, 2] = [1, 2, 3]  # not multiples of 257: genuinely 16-bit
    indices = np.array([[0, 1], [1, 0]], np.uint8)
    tifffile.imwrite(tmp_path / "p.tif", indices, photometric="palette", colormap=colormap)
    image, meta = io.read_image(tmp_path / "p.tif")
    assert meta.mode == "palette" and meta.dtype == np.uint8 and image.shape == (2, 2, 3)
    np.testing.assert_allclose(image[0, 1], [1.0, 128 / 255, 0.0], atol=1e-7)
    tifffile.imwrite(tmp_path / "p16.tif", np.array([[0, 2]], np.uint8), photometric="palette",
                     colormap=colormap)
    image16, meta16 = io.read_image(tmp_path / "p16.tif")
    assert meta16.dtype == np.uint16
    np.testing.assert_array_equal(np.rint(image16[0, 1] * meta16.scale), [1, 2, 3])
    palette = Image.new("P", (3, 2), color=1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    palette.info["transparency"] = 0
    palette.putpixel((0, 0), 0)
    palette.save(tmp_path / "pt.png", transparency=0)
    rgba, info = io.read_image(tmp_path / "pt.png")
    assert info.alpha and rgba.shape == (2, 3, 4)
    np.testing.assert_allclose(rgba[1, 1], [10 / 255, 200 / 255, 30 / 255, 1.0], atol=1e-7)
    assert rgba[0, 0, 3] == 0


def test_out_of_range_palette_index_is_an_input_error(tmp_path):
    colormap = np.zeros((3, 16), np.uint16)
    tifffile.imwrite(tmp_path / "p.tif", np.array([[0, 1]], np.uint8), photometric="palette",
                     colormap=np.zeros((3, 256), np.uint16))
    import deconvkit.io as dio

    with pytest.raises(InputError, match="palette index"):
        dio._expand_palette("p.tif", np.array([[20]], np.uint8), colormap)
