"""Property tests of the image readers and writers: random bytes and truncated or corrupted valid files give
an image or one InputError (never another exception, never a silently wrong image), and random arrays of
every dtype each format holds round trip exactly (checked with independent readers)."""

from __future__ import annotations

import io as pyio
import os

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deconvkit import InputError, MemoryLimitError, io

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                      HealthCheck.too_slow])
EXTENSIONS = [".png", ".jpg", ".tif", ".npy", ".bin"]


def read_or_refuse(path):
    """The reader's contract: an image, or an InputError/MemoryLimitError with one line naming the file."""
    try:
        image, info = io.read_image(path)
    except (InputError, MemoryLimitError) as exc:
        message = str(exc)
        assert "\n" not in message and os.path.basename(str(path)) in message, message
        return None
    assert image.dtype.kind == "f" and image.size > 0 and image.shape == info.shape
    return image, info


def seed_files():
    """Small valid files of each format, as bytes (the corpus the mutations start from)."""
    rng = np.random.default_rng(5)
    grey = rng.integers(0, 255, (12, 10), endpoint=True).astype(np.uint8)
    rgb = rng.integers(0, 255, (9, 7, 3), endpoint=True).astype(np.uint8)
    seeds = {}
    buffer = pyio.BytesIO()
    np.save(buffer, rng.random((6, 5)))
    seeds["a.npy"] = (buffer.getvalue(), None)
    seeds["a.png"] = (iio.imwrite("<bytes>", grey, extension=".png"), grey)
    seeds["c.png"] = (iio.imwrite("<bytes>", rgb, extension=".png"), rgb)
    seeds["a.jpg"] = (iio.imwrite("<bytes>", rgb, extension=".jpg"), None)
    buffer = pyio.BytesIO()
    tifffile.imwrite(buffer, (grey.astype(np.uint16) * 200))
    seeds["a.tif"] = (buffer.getvalue(), grey.astype(np.uint16) * 200)
    buffer = pyio.BytesIO()
    tifffile.imwrite(buffer, rgb, photometric="rgb", compression="zlib")
    seeds["z.tif"] = (buffer.getvalue(), rgb)
    return seeds


SEEDS = seed_files()


@settings(max_examples=150, **SETTINGS)
@given(st.binary(max_size=600), st.sampled_from(EXTENSIONS))
def test_random_bytes(tmp_path, content, extension):
    path = tmp_path / f"x{extension}"
    path.write_bytes(content)
    read_or_refuse(path)


@settings(max_examples=150, **SETTINGS)
@given(st.sampled_from(sorted(SEEDS)), st.binary(max_size=400))
def test_valid_header_random_body(tmp_path, name, body):
    content, _ = SEEDS[name]
    path = tmp_path / name
    path.write_bytes(content[:16] + body)
    read_or_refuse(path)


@settings(max_examples=200, **SETTINGS)
@given(st.sampled_from(sorted(SEEDS)), st.floats(min_value=0, max_value=1, exclude_max=True))
def test_truncated_valid_files(tmp_path, name, fraction):
    content, original = SEEDS[name]
    cut = int(len(content) * fraction)
    path = tmp_path / name
    path.write_bytes(content[:cut])
    result = read_or_refuse(path)
    if result is not None and original is not None and name != "a.jpg":
        # If a truncated lossless file reads at all, it must be the whole image: a truncation that lost
        # pixels must not come back as an image with zeros where the data was.
        image, info = result
        assert info.shape == original.shape
        np.testing.assert_array_equal(np.rint(image.astype(np.float64) * info.scale), original)


@settings(max_examples=200, **SETTINGS)
@given(st.sampled_from(sorted(SEEDS)), st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)),
                                                 min_size=1, max_size=6))
def test_byte_flips(tmp_path, name, flips):
    content = bytearray(SEEDS[name][0])
    for position, value in flips:
        content[position % len(content)] = value
    path = tmp_path / name
    path.write_bytes(bytes(content))
    read_or_refuse(path)


# --- round trips of random valid arrays -----------------------------------------------------------------

FORMAT_DTYPES = {
    ".png": ["uint8", "uint16"],
    ".tif": ["uint8", "uint16", "uint32", "int8", "int16", "int32", "int64", "float32", "float64"],
    ".npy": ["uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float16", "float32",
             "float64"],
}
CASES = [(ext, dtype) for ext, dtypes in FORMAT_DTYPES.items() for dtype in dtypes]


@st.composite
def arrays_for(draw, ext, dtype):
    channels = draw(st.sampled_from([None, 3] if ext != ".npy" else [None, 2, 5]))
    if dtype == "uint16" and ext == ".png" and channels:
        channels = None  # 16-bit colour PNG needs OpenCV; tested in test_io.py
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=9))
    if channels:
        shape = shape + (channels,)
    kind = np.dtype(dtype).kind
    if kind == "f":
        elements = st.floats(width=np.dtype(dtype).itemsize * 8, allow_nan=False, allow_infinity=False)
    else:
        info = np.iinfo(dtype)
        # Exact through float64 up to 2**53 (larger int64 values are tested not to be zeroed, above).
        elements = st.integers(max(info.min, -(2**53)), min(info.max, 2**53))
    return draw(hnp.arrays(dtype, shape, elements=elements))


def raw(path):
    if path.suffix == ".npy":
        return np.load(path)
    if path.suffix == ".tif":
        return tifffile.imread(path)
    return iio.imread(path)


@pytest.mark.parametrize("ext,dtype", CASES)
def test_random_arrays_round_trip_exactly(tmp_path, ext, dtype):
    @settings(max_examples=25, **SETTINGS)
    @given(arrays_for(ext, dtype))
    def check(data):
        first, second = tmp_path / f"a{ext}", tmp_path / f"b{ext}"
        io.write_image(first, data, overwrite=True)
        np.testing.assert_array_equal(raw(first), data)  # integers and floats written as they are
        image, info = io.read_image(first)
        assert info.dtype == data.dtype and image.shape == data.shape
        if data.dtype.kind in "iu":  # [0, 1] or [-1, 1]; -128 of int8 is one step below -1
            assert image.max() <= 1.0 and image.min() >= -(info.scale + 1) / info.scale
        io.write_image(second, image, like=info, overwrite=True)  # the CLI's "write like the input"
        np.testing.assert_array_equal(raw(second), data)

    check()


def test_damaged_16bit_colour_png_is_one_line_and_nothing_on_stderr(tmp_path, capfd):
    # The 16-bit colour path goes through OpenCV, whose libpng printed "libpng error: IHDR: CRC error" to
    # stderr besides our error (found by benchmarks/fuzz_readers.py).
    pytest.importorskip("cv2")
    io.write_image(tmp_path / "c.png", np.arange(48, dtype=np.uint16).reshape(4, 4, 3) * 1000)
    good = (tmp_path / "c.png").read_bytes()
    for name, content in (("crc.png", good[:20] + bytes([good[20] ^ 1]) + good[21:]),  # IHDR width byte
                          ("short.png", good[:-20])):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InputError, match="CRC|truncated"):
            io.read_image(tmp_path / name)
    assert capfd.readouterr().err == ""
    assert read_or_refuse(tmp_path / "c.png") is not None
