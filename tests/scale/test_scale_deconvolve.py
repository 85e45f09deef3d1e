"""deconvkit.scale: tiled results against the whole-array in-memory call, inputs, outputs, schedulers."""

import os

import numpy as np
import pytest

pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")

import dask.array  # noqa: E402

import deconvkit  # noqa: E402
from deconvkit import DeconvkitError, scale  # noqa: E402
from deconvkit.psf import gaussian  # noqa: E402

TOLERANCE = 1e-4


def _texture(shape, seed):
    import scipy.ndimage

    rng = np.random.default_rng(seed)
    image = scipy.ndimage.gaussian_filter(rng.random(shape), 1.0)
    image += 0.5 * (scipy.ndimage.gaussian_filter(rng.random(shape), 3.0) > 0.5)
    return ((image - image.min()) / np.ptp(image)).astype(np.float32)


def _observed(shape, psf, noise=0.01, seed=0):
    rng = np.random.default_rng(seed + 7)
    blurred = deconvkit.blur(_texture(shape, seed), psf)
    return (blurred + noise * rng.standard_normal(shape)).astype(np.float32)


def _whole(data, psf, info):
    """The in-memory call with the parameters the tiles were given (what tiling must reproduce)."""
    return deconvkit.deconvolve(data, psf, method=info.method, boundary=info.boundary,
                                noise_sigma=info.noise_sigma, **info.params)


def _interior(shape, psf):
    """More than two PSF extents from the outer border (where both calls guess the unseen scene)."""
    return tuple(slice(2 * k, n - 2 * k) for k, n in zip(psf.shape, shape))


CASES_2D = [((96, 104), gaussian(1.0), (32, 32)), ((96, 104), gaussian(1.0), (48, 40))]
CASES_3D = [((40, 48, 48), gaussian(0.5, ndim=3), (20, 24, 24)),
            ((40, 48, 48), gaussian(0.5, ndim=3), (20, 48, 24))]


@pytest.mark.parametrize("method,params", [("wiener", {}), ("richardson_lucy", {}),
                                           ("tv", {"iterations": 40})])
@pytest.mark.parametrize("shape,psf,chunks", CASES_2D + CASES_3D)
def test_tiled_equals_whole_array_away_from_the_border(method, params, shape, psf, chunks):
    data = _observed(shape, psf)
    lazy, info = scale.deconvolve(data, psf, method=method, chunks=chunks, return_info=True,
                                  scheduler="synchronous", **params)
    assert info.tiles > 1 and info.method == method
    tiled = lazy.compute(scheduler="synchronous")
    assert tiled.dtype == np.float32 and tiled.shape == shape
    whole = _whole(data, psf, info)
    inner = _interior(shape, psf)
    assert np.abs(tiled - whole)[inner].max() < TOLERANCE
    # the comparison can fail: without overlap the tiles' own borders show
    seams, _ = scale.deconvolve(data, psf, method=method, chunks=chunks, overlap=(0,) * len(shape),
                                return_info=True, scheduler="synchronous", **params)
    assert np.abs(seams.compute(scheduler="synchronous") - whole)[inner].max() > 100 * TOLERANCE


def test_automatic_parameters_are_decided_once_for_every_tile():
    psf = gaussian(1.0)
    data = _observed((96, 96), psf, noise=0.02)
    lazy, info = scale.deconvolve(data, psf, method="auto", chunks=(32, 32), return_info=True,
                                  scheduler="synchronous", iterations=40)
    # auto is resolved once: TV with one weight, non-negativity from the whole array's minimum
    assert info.method == "tv" and info.params["lam"] > 0 and info.params["iterations"] == 40
    assert info.params["nonneg"] is True and info.params["saturation"] is None
    assert info.noise_sigma == pytest.approx(0.02, rel=0.25)
    tiled = lazy.compute(scheduler="synchronous")
    inner = _interior(data.shape, psf)
    assert np.abs(tiled - _whole(data, psf, info))[inner].max() < TOLERANCE
    # each tile deciding for itself would give a different result (the point of deciding once)
    per_tile = np.block([[deconvkit.deconvolve(data[i:i + 32, j:j + 32], psf, method="auto", iterations=40)
                          for j in range(0, 96, 32)] for i in range(0, 96, 32)])
    assert np.abs(per_tile - tiled)[inner].max() > 10 * TOLERANCE


def test_richardson_lucy_with_negative_data_shifts_by_the_global_minimum():
    psf = gaussian(1.0)
    data = _observed((80, 80), psf, noise=0.02) - np.float32(0.3)  # background-subtracted: some < 0
    assert data.min() < 0
    lazy, info = scale.deconvolve(data, psf, method="richardson_lucy", chunks=(40, 40), return_info=True,
                                  scheduler="synchronous", iterations=15)
    assert info.offset == pytest.approx(-float(data.min()))
    inner = _interior(data.shape, psf)
    assert np.abs(lazy.compute(scheduler="synchronous") - _whole(data, psf, info))[inner].max() < TOLERANCE


def test_zarr_in_zarr_out_chunk_by_chunk_with_progress_per_tile(tmp_path):
    psf = gaussian(1.0)
    data = _observed((90, 100), psf)
    source = str(tmp_path / "in.zarr")
    zarr.open_array(source, mode="w", shape=data.shape, chunks=(30, 50), dtype="float32")[:] = data
    calls = []
    output, info = scale.deconvolve(source, psf, method="wiener", nsr=1e-2, chunks=(30, 50),
                                    output=str(tmp_path / "out.zarr"), progress=lambda d, t: calls.append((d, t)),
                                    scheduler="threads", return_info=True)
    stored = zarr.open_array(output, mode="r")
    assert stored.chunks == (30, 50) and stored.shape == data.shape
    assert calls[-1] == (info.tiles, info.tiles) and len(calls) == info.tiles == 6
    whole = deconvkit.deconvolve(data, psf, method="wiener", nsr=1e-2)
    assert np.abs(stored[:] - whole)[_interior(data.shape, psf)].max() < TOLERANCE
    with pytest.raises(FileExistsError):
        scale.deconvolve(source, psf, method="wiener", nsr=1e-2, output=output)


def test_tiff_stack_in_tiff_out_keeps_scaling_and_spacing(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    psf = gaussian(0.5, ndim=3)
    data = _observed((40, 48, 48), psf, noise=0.005)
    counts = np.round(np.clip(data, 0, 1) * 65535).astype(np.uint16)
    source = str(tmp_path / "stack.tif")
    tifffile.imwrite(source, counts, imagej=True, resolution=(1 / 0.2, 1 / 0.2),
                     metadata={"spacing": 0.5, "unit": "um", "axes": "ZYX"})
    output = scale.deconvolve(source, psf, method="richardson_lucy", iterations=10, chunks=(20, 24, 24),
                              output=str(tmp_path / "restored.tif"), scheduler="synchronous")
    with tifffile.TiffFile(output) as tif:
        restored = tif.asarray()
        assert tif.imagej_metadata["spacing"] == pytest.approx(0.5)
        x_resolution = tif.pages[0].tags["XResolution"].value
    assert x_resolution[1] / x_resolution[0] == pytest.approx(0.2)
    assert restored.shape == data.shape and restored.dtype == np.float32
    # the integer file is read as deconvkit.io reads it: scaled to [0, 1]
    scaled = counts.astype(np.float32) / np.float32(65535)
    whole = deconvkit.deconvolve(scaled, psf, method="richardson_lucy", iterations=10, accelerate=False)
    assert np.abs(restored - whole)[_interior(data.shape, psf)].max() < TOLERANCE


@pytest.mark.parametrize("where", ["array", "tiff"])
def test_tiled_integers_follow_the_in_memory_integer_rule(tmp_path, where):
    # 12-bit camera values in a 16-bit container: the scale is 4095 (the data's), not 65535 (the dtype's),
    # both for a NumPy array and for a file read region by region; written out by hand, not by the rule
    tifffile = pytest.importorskip("tifffile")
    psf = gaussian(0.5, ndim=3)
    counts = np.round(np.clip(_observed((40, 48, 48), psf, noise=0.005), 0, 1) * 4000).astype(np.uint16)
    source = counts
    if where == "tiff":
        source = str(tmp_path / "twelve_bit.tif")
        tifffile.imwrite(source, counts)
    tiled = np.asarray(scale.deconvolve(source, psf, method="richardson_lucy", iterations=8,
                                        chunks=(20, 24, 24), scheduler="synchronous"))
    as_floats = counts.astype(np.float32 if where == "tiff" else np.float64) / 4095
    whole = deconvkit.deconvolve(as_floats, psf, method="richardson_lucy", iterations=8, accelerate=False)
    assert np.abs(tiled - whole)[_interior(counts.shape, psf)].max() < TOLERANCE
    # and what the in-memory call makes of the integers themselves
    direct = deconvkit.deconvolve(counts, psf, method="richardson_lucy", iterations=8, accelerate=False)
    assert np.abs(tiled - direct)[_interior(counts.shape, psf)].max() < TOLERANCE


def test_processes_scheduler_gives_the_threads_result():
    psf = gaussian(1.0)
    data = _observed((64, 64), psf)
    threads = scale.deconvolve(data, psf, method="wiener", nsr=1e-2, chunks=(32, 32)).compute(
        scheduler="threads")
    processes = scale.deconvolve(data, psf, method="wiener", nsr=1e-2, chunks=(32, 32)).compute(
        scheduler="processes", num_workers=2)
    np.testing.assert_array_equal(threads, processes)


def test_memory_budget_sets_the_chunks():
    from deconvkit.memory import estimate_peak

    psf = gaussian(1.0)
    data = _observed((256, 256), psf)
    _, small = scale.deconvolve(data, psf, method="wiener", nsr=1e-2, memory_budget="2MB",
                                scheduler="synchronous", return_info=True)
    _, large = scale.deconvolve(data, psf, method="wiener", nsr=1e-2, memory_budget="200MB",
                                scheduler="synchronous", return_info=True)
    assert small.tiles > 1 and large.tiles == 1
    tile = [c + 2 * d for c, d in zip(small.chunks, small.depth)]
    assert estimate_peak(tile, psf.shape, "wiener", np.float32) <= 2e6
    with pytest.raises(DeconvkitError, match="too small"):
        scale.deconvolve(data, psf, method="tv", memory_budget="10kB", scheduler="synchronous")


@pytest.mark.parametrize("boundary", ["reflect", "zero", "periodic"])
def test_tiled_blur_equals_the_whole_array_blur(boundary):
    psf = gaussian(1.5)
    sharp = _texture((70, 90), 3)
    tiled = scale.blur(sharp, psf, boundary=boundary, chunks=(32, 32)).compute(scheduler="synchronous")
    np.testing.assert_allclose(tiled, deconvkit.blur(sharp, psf, boundary=boundary), atol=1e-6)


def test_tiled_blur_noise_is_reproducible_and_of_the_right_size():
    psf = gaussian(1.0)
    sharp = _texture((64, 64), 4)
    first = scale.blur(sharp, psf, noise=0.05, seed=3, chunks=(32, 32)).compute()
    again = scale.blur(sharp, psf, noise=0.05, seed=3, chunks=(32, 32)).compute(scheduler="processes")
    np.testing.assert_array_equal(first, again)
    assert np.std(first - deconvkit.blur(sharp, psf)) == pytest.approx(0.05, rel=0.1)


def test_bad_inputs_are_precise_errors(tmp_path):
    psf = gaussian(1.0)
    with pytest.raises(FileNotFoundError):
        scale.deconvolve(str(tmp_path / "missing.zarr"), psf)
    with pytest.raises(DeconvkitError, match="2-D and 3-D"):
        scale.deconvolve(np.zeros((4, 8, 8, 8), np.float32), psf)
    with pytest.raises(DeconvkitError, match="Zarr store"):
        scale.deconvolve(np.zeros((32, 32), np.float32), psf, output=str(tmp_path / "out.png"))
    with pytest.raises(DeconvkitError, match="unknown method"):
        scale.deconvolve(np.zeros((32, 32), np.float32), psf, method="nope")
    assert not os.listdir(tmp_path)


def test_ome_zarr_group_uses_its_full_resolution_level(tmp_path):
    psf = gaussian(1.0)
    data = _observed((64, 64), psf)
    group = zarr.open_group(str(tmp_path / "image.ome.zarr"), mode="w")
    group.create_array("0", shape=data.shape, chunks=(32, 32), dtype="float32")[:] = data
    group.create_array("1", shape=(32, 32), chunks=(32, 32), dtype="float32")[:] = data[::2, ::2]
    lazy = scale.deconvolve(str(tmp_path / "image.ome.zarr"), psf, method="wiener", nsr=1e-2, chunks=(32, 32))
    assert lazy.shape == data.shape
    whole = deconvkit.deconvolve(data, psf, method="wiener", nsr=1e-2)
    assert np.abs(lazy.compute() - whole)[_interior(data.shape, psf)].max() < TOLERANCE


def _colour(shape, psf, channels=3, noise=0.01):
    """Channels of different scenes, blurred by the same PSF, stacked on the last axis."""
    return np.stack([_observed(shape, psf, noise, seed=10 + c) for c in range(channels)], axis=-1)


@pytest.mark.parametrize("method,params", [("wiener", {}), ("richardson_lucy", {"iterations": 15}),
                                           ("tv", {"iterations": 30})])
def test_colour_tiles_equal_the_in_memory_channel_axis_call(method, params):
    psf = gaussian(1.0)
    data = _colour((96, 104), psf)
    lazy, info = scale.deconvolve(data, psf, method=method, channel_axis=-1, chunks=(32, 52), return_info=True,
                                  scheduler="synchronous", **params)
    assert info.tiles == 6 and lazy.chunks[-1] == (3,)  # spatial tiles only: channels are never split
    tiled = lazy.compute(scheduler="synchronous")
    assert tiled.shape == data.shape and tiled.dtype == np.float32
    whole = deconvkit.deconvolve(data, psf, method=info.method, boundary=info.boundary, channel_axis=-1,
                                 noise_sigma=info.noise_sigma, **info.params)
    inner = _interior(data.shape[:-1], psf)
    assert np.abs(tiled - whole)[inner].max() < TOLERANCE
    # one noise level decided for all channels, as the in-memory call does (median over channels)
    from deconvkit.noise import estimate_noise

    sample = data[tuple(slice(0, n) for n in data.shape[:-1])]
    assert info.noise_sigma == pytest.approx(estimate_noise(sample, channel_axis=-1), rel=0.05)


def test_colour_stack_with_channels_first_keeps_its_axis_order():
    psf = gaussian(0.5, ndim=3)
    data = np.moveaxis(_colour((24, 40, 40), psf, channels=2), -1, 0)  # (C, Z, Y, X)
    lazy, info = scale.deconvolve(data, psf, method="wiener", channel_axis=0, chunks=(24, 20, 20),
                                  return_info=True, scheduler="synchronous")
    assert lazy.shape == data.shape and lazy.chunks[0] == (2,) and info.channel_axis == 0
    whole = deconvkit.deconvolve(data, psf, method="wiener", channel_axis=0, boundary=info.boundary,
                                 noise_sigma=info.noise_sigma, **info.params)
    inner = (slice(None),) + _interior(data.shape[1:], psf)
    assert np.abs(lazy.compute(scheduler="synchronous") - whole)[inner].max() < TOLERANCE


def test_rgb_tiff_in_rgb_tiff_out(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    psf = gaussian(1.0)
    counts = np.round(np.clip(_colour((64, 72), psf), 0, 1) * 255).astype(np.uint8)
    source = str(tmp_path / "rgb.tif")
    tifffile.imwrite(source, counts, photometric="rgb")
    output = scale.deconvolve(source, psf, method="wiener", nsr=1e-2, channel_axis=-1, chunks=(32, 36),
                              output=str(tmp_path / "out.tif"), scheduler="threads")
    restored = tifffile.imread(output)
    assert restored.shape == counts.shape and restored.dtype == np.float32
    whole = deconvkit.deconvolve(counts.astype(np.float32) / np.float32(255), psf, method="wiener", nsr=1e-2,
                                 channel_axis=-1)
    assert np.abs(restored - whole)[_interior(counts.shape[:-1], psf)].max() < TOLERANCE


def test_zarr_colour_input_with_channels_first(tmp_path):
    psf = gaussian(1.0)
    data = np.moveaxis(_colour((64, 80), psf), -1, 0)
    source = str(tmp_path / "c.zarr")
    zarr.open_array(source, mode="w", shape=data.shape, chunks=(1, 32, 32), dtype="float32")[:] = data
    output = scale.deconvolve(source, psf, method="wiener", nsr=1e-2, channel_axis=0, chunks=(32, 40),
                              output=str(tmp_path / "out.zarr"), scheduler="threads")
    stored = zarr.open_array(output, mode="r")
    assert stored.shape == data.shape and stored.chunks[0] == 3
    whole = deconvkit.deconvolve(data, psf, method="wiener", nsr=1e-2, channel_axis=0)
    inner = (slice(None),) + _interior(data.shape[1:], psf)
    assert np.abs(stored[:] - whole)[inner].max() < TOLERANCE


def test_channel_axis_errors():
    psf = gaussian(1.0)
    with pytest.raises(DeconvkitError, match="channel_axis"):
        scale.deconvolve(np.zeros((32, 32), np.float32), psf, channel_axis=-1)
    with pytest.raises(DeconvkitError, match="out of range"):
        scale.deconvolve(np.zeros((32, 32, 3), np.float32), psf, channel_axis=3)
    with pytest.raises(DeconvkitError, match="spatial sizes"):
        scale.deconvolve(np.zeros((32, 32, 3), np.float32), psf, channel_axis=-1, chunks=(16, 16, 3))
    with pytest.raises(DeconvkitError, match="channel_axis="):
        scale.deconvolve(np.zeros((2, 8, 32, 32), np.float32), gaussian(1.0, ndim=3))


def test_ome_tiff_in_ome_tiff_and_zarr_out_keep_the_spacing(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    from deconvkit import io

    psf = gaussian(0.5, ndim=3)
    data = _observed((24, 40, 40), psf)
    source = str(tmp_path / "in.ome.tif")
    tifffile.imwrite(source, data, ome=True, metadata={"axes": "ZYX", "PhysicalSizeX": 0.1,
                                                       "PhysicalSizeY": 0.1, "PhysicalSizeZ": 0.4})
    expected = io.read_image(source)[1].spacing  # deconvkit.io's reading of the OME metadata
    assert expected == pytest.approx((0.4, 0.1, 0.1))
    ome = scale.deconvolve(source, psf, method="wiener", nsr=1e-2, chunks=(24, 20, 20),
                           output=str(tmp_path / "out.ome.tif"), scheduler="threads")
    with tifffile.TiffFile(ome) as tif:
        assert tif.is_ome and tif.series[0].shape == data.shape
    assert io.read_image(ome)[1].spacing == pytest.approx(expected)
    stored = scale.deconvolve(source, psf, method="wiener", nsr=1e-2, chunks=(24, 20, 20),
                              output=str(tmp_path / "out.zarr"), scheduler="threads")
    # Zarr keeps it in its attributes, and a Zarr input hands it on to a TIFF output
    back = scale.deconvolve(stored, psf, method="wiener", nsr=1e-2, chunks=(24, 20, 20),
                            output=str(tmp_path / "back.tif"), scheduler="threads")
    assert io.read_image(back)[1].spacing == pytest.approx(expected)
    whole = deconvkit.deconvolve(data, psf, method="wiener", nsr=1e-2)
    assert np.abs(tifffile.imread(ome) - whole)[_interior(data.shape, psf)].max() < TOLERANCE


def test_file_tiles_travel_to_worker_processes(tmp_path):
    # a Zarr path becomes one region-reading task per tile: the readers must pickle to processes
    psf = gaussian(1.0)
    data = _observed((64, 80), psf)
    source = str(tmp_path / "in.zarr")
    zarr.open_array(source, mode="w", shape=data.shape, chunks=(32, 40), dtype="float32")[:] = data
    lazy = scale.deconvolve(source, psf, method="wiener", nsr=1e-2, chunks=(32, 40))
    assert lazy.npartitions == 4
    tiled = lazy.compute(scheduler="processes", num_workers=2)
    whole = deconvkit.deconvolve(data, psf, method="wiener", nsr=1e-2)
    assert np.abs(tiled - whole)[_interior(data.shape, psf)].max() < TOLERANCE


@pytest.mark.parametrize("boundary", ["reflect", "zero", "periodic"])
def test_tiled_colour_blur_equals_the_in_memory_channel_axis_blur(boundary):
    psf = gaussian(1.5)
    sharp = np.stack([_texture((70, 90), 20 + c) for c in range(3)], axis=-1)
    lazy = scale.blur(sharp, psf, boundary=boundary, channel_axis=-1, chunks=(32, 32))
    assert lazy.chunks[-1] == (3,) and lazy.npartitions == 9  # spatial tiles only
    tiled = lazy.compute(scheduler="synchronous")
    np.testing.assert_allclose(tiled, deconvkit.blur(sharp, psf, boundary=boundary, channel_axis=-1), atol=1e-6)
    # the forward model on its own terms: every channel is the grey blur of that channel
    for c in range(3):
        np.testing.assert_allclose(tiled[..., c], deconvkit.blur(sharp[..., c], psf, boundary=boundary),
                                   atol=1e-6)


def test_tiled_colour_stack_blur_with_channels_first_into_zarr(tmp_path):
    psf = gaussian(0.7, ndim=3)
    sharp = np.stack([_texture((20, 40, 36), 30 + c) for c in range(2)], axis=0)  # (C, Z, Y, X)
    source = dask.array.from_array(sharp, chunks=(1, 10, 20, 18))  # chunks that split the channels
    output = scale.blur(source, psf, channel_axis=0, chunks=(10, 20, 18), output=str(tmp_path / "b.zarr"),
                        scheduler="threads")
    stored = zarr.open_array(output, mode="r")
    assert stored.shape == sharp.shape and stored.chunks[0] == 2
    np.testing.assert_allclose(stored[:], deconvkit.blur(sharp, psf, channel_axis=0), atol=1e-6)


def test_tiled_colour_blur_noise_and_errors():
    psf = gaussian(1.0)
    sharp = np.stack([_texture((64, 64), 40 + c) for c in range(3)], axis=-1)
    first = scale.blur(sharp, psf, noise=0.05, seed=3, channel_axis=-1, chunks=(32, 32)).compute()
    again = scale.blur(sharp, psf, noise=0.05, seed=3, channel_axis=-1, chunks=(32, 32)).compute(
        scheduler="processes")
    np.testing.assert_array_equal(first, again)
    residual = first - deconvkit.blur(sharp, psf, channel_axis=-1)
    assert np.std(residual) == pytest.approx(0.05, rel=0.1)
    assert abs(np.corrcoef(residual[..., 0].ravel(), residual[..., 1].ravel())[0, 1]) < 0.05  # independent
    with pytest.raises(DeconvkitError, match="channel_axis"):
        scale.blur(np.zeros((32, 32), np.float32), psf, channel_axis=-1)
    with pytest.raises(DeconvkitError, match="spatial sizes"):
        scale.blur(sharp, psf, channel_axis=-1, chunks=(16, 16, 3))


@pytest.mark.parametrize("method,params", [("tv", {}), ("hyper_laplacian", {}),
                                           ("richardson_lucy", {"iterations": 12})])
def test_parameters_chosen_on_a_short_sample_solve_are_those_of_the_full_one(method, params):
    # the sample's solve is cut to one iteration where its choices do not depend on the iterations; the
    # weight must be the one the full in-memory solve chooses on that sample, and the tiles must run the
    # full count (the default, or the user's)
    from deconvkit.scale._params import central_sample

    psf = gaussian(1.0)
    data = _observed((96, 104), psf, noise=0.02, seed=5)
    lazy, info = scale.deconvolve(data, psf, method=method, chunks=(48, 52), return_info=True,
                                  scheduler="synchronous", **params)
    sample = central_sample(data, psf.shape)
    _, full = deconvkit.deconvolve(sample, psf, method=method, noise_sigma=info.noise_sigma,
                                   boundary=info.boundary, return_info=True,
                                   **dict(params, accelerate=False) if method == "richardson_lucy" else params)
    if "lam" in full:
        assert info.params["lam"] == pytest.approx(full["lam"], rel=1e-12)
    whole = deconvkit.deconvolve(data, psf, method=method, boundary=info.boundary, noise_sigma=info.noise_sigma,
                                 **dict(params, **{k: v for k, v in info.params.items() if k not in
                                                   ("iterations", "inner")}))
    _, whole_info = deconvkit.deconvolve(data, psf, method=method, boundary=info.boundary,
                                         noise_sigma=info.noise_sigma, return_info=True,
                                         **dict(params, **info.params))
    assert whole_info["iterations"] == full["iterations"]  # the tiles' count is the full solve's
    assert np.abs(lazy.compute(scheduler="synchronous") - whole)[_interior(data.shape, psf)].max() < TOLERANCE
