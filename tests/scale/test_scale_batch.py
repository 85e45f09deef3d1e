"""deconvkit.scale.batch.run_batch and the ``batch`` CLI module: resumable, failures reported, summary."""

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dask")

import deconvkit  # noqa: E402
from deconvkit import DeconvkitError, io  # noqa: E402
from deconvkit.scale.batch import expand_inputs, run_batch  # noqa: E402

SPEC = "gaussian:sigma=1.5"


@pytest.fixture
def folder(tmp_path, camera):
    """Three blurred 8-bit PNGs and one corrupt file with an image extension."""
    source = tmp_path / "in"
    source.mkdir()
    psf = deconvkit.psf.parse(SPEC)
    for i in range(3):
        crop = camera[64 * i:64 * i + 96, 100:196]
        io.write_image(source / f"frame{i}.png", deconvkit.blur(crop, psf), dtype="uint8")
    (source / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    return source


def test_corrupt_file_is_reported_while_the_others_finish(folder, tmp_path):
    out = tmp_path / "out"
    summary = run_batch([str(folder)], str(out), psf=SPEC, method="wiener", params={"nsr": 1e-3})
    assert sorted(Path(p).name for p in summary.done) == ["frame0.png", "frame1.png", "frame2.png"]
    assert len(summary.failed) == 1 and summary.failed[0][0].endswith("broken.png")
    assert "broken.png" in summary.failed[0][1] and not summary.ok
    assert sorted(os.listdir(out)) == ["frame0.png", "frame1.png", "frame2.png"]  # nothing partial
    # each output is the in-memory restoration of its input, in the input's bit depth
    image, info = io.read_image(folder / "frame1.png")
    restored, meta = io.read_image(out / "frame1.png")
    assert meta.dtype == np.uint8
    expected = deconvkit.deconvolve(image, deconvkit.psf.parse(SPEC), method="wiener", nsr=1e-3)
    assert np.abs(restored - np.clip(expected, 0, 1)).max() <= 0.5 / 255 + 1e-6
    assert "3 restored, 0 skipped" in summary.report() and "failed: " in summary.report()


def test_interrupted_batch_resumes_skipping_finished_outputs(folder, tmp_path):
    os.unlink(folder / "broken.png")
    out = tmp_path / "out"

    def interrupt_after_first(done, total):
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch([str(folder / "*.png")], str(out), psf=SPEC, method="wiener", params={"nsr": 1e-3},
                  progress=interrupt_after_first)
    assert os.listdir(out) == ["frame0.png"]
    first = os.stat(out / "frame0.png").st_mtime_ns
    calls = []
    summary = run_batch([str(folder / "*.png")], str(out), psf=SPEC, method="wiener", params={"nsr": 1e-3},
                        progress=lambda d, t: calls.append((d, t)))
    assert [Path(p).name for p in summary.skipped] == ["frame0.png"]
    assert sorted(Path(p).name for p in summary.done) == ["frame1.png", "frame2.png"] and summary.ok
    assert os.stat(out / "frame0.png").st_mtime_ns == first  # not redone
    assert calls[0] == (1, 3) and calls[-1] == (3, 3)


def test_multipage_tiff_is_restored_frame_by_frame_with_a_2d_psf(tmp_path, camera):
    tifffile = pytest.importorskip("tifffile")
    psf = deconvkit.psf.parse(SPEC)
    frames = np.stack([deconvkit.blur(camera[s:s + 80, 200:280], psf) for s in (0, 100, 200, 300)])
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, np.round(frames * 65535).astype(np.uint16), photometric="minisblack")
    summary = run_batch([str(source)], str(tmp_path / "out"), psf=SPEC, method="richardson_lucy",
                        params={"iterations": 5})
    assert summary.ok, summary.report()
    restored, info = io.read_image(tmp_path / "out" / "stack.tif")
    assert restored.shape == frames.shape and info.dtype == np.uint16
    stack, _ = io.read_image(source)
    expected = deconvkit.deconvolve(stack[1], psf, method="richardson_lucy", iterations=5)
    assert np.abs(restored[1] - np.clip(expected, 0, 1)).max() <= 1 / 65535 + 1e-6


def test_parallel_jobs_give_the_sequential_results(folder, tmp_path):
    os.unlink(folder / "broken.png")
    one = run_batch([str(folder)], str(tmp_path / "one"), psf=SPEC, method="wiener", params={"nsr": 1e-3})
    calls = []
    two = run_batch([str(folder)], str(tmp_path / "two"), psf=SPEC, method="wiener", params={"nsr": 1e-3},
                    jobs=2, progress=lambda d, t: calls.append(d))
    assert one.ok and two.ok and len(two.done) == 3 and calls == [1, 2, 3]
    for name in os.listdir(tmp_path / "one"):
        np.testing.assert_array_equal(io.read_image(tmp_path / "one" / name)[0],
                                      io.read_image(tmp_path / "two" / name)[0])


def test_batch_on_a_distributed_cluster(folder, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        summary = run_batch([str(folder)], str(tmp_path / "out"), psf=SPEC, method="wiener",
                            params={"nsr": 1e-3}, scheduler=client)
    assert len(summary.done) == 3 and len(summary.failed) == 1


def test_user_errors_raise_before_any_file_is_written(folder, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(DeconvkitError, match="unknown PSF model|unknown"):
        run_batch([str(folder)], str(out), psf="nosuch:1")
    with pytest.raises(DeconvkitError, match="unknown method"):
        run_batch([str(folder)], str(out), psf=SPEC, method="nope")
    with pytest.raises(DeconvkitError, match="no input files match"):
        run_batch([str(tmp_path / "*.tif")], str(out), psf=SPEC)
    assert not out.exists()
    assert [Path(p).name for p in expand_inputs([str(folder), str(folder / "frame0.png")])] == [
        "broken.png", "frame0.png", "frame1.png", "frame2.png"]


def _cli_module():
    return importlib.import_module("deconvkit.cli.batch")


def test_cli_module_follows_the_subcommand_protocol(folder, tmp_path, capsys):
    module = _cli_module()
    assert module.COMMAND == "batch" and module.HELP
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    args = parser.parse_args([str(folder / "*.png"), "-o", str(tmp_path / "out"), "--psf", SPEC,
                              "--method", "wiener", "--set", "nsr=0.001", "--quiet"])
    assert module.run(args) == 1  # the corrupt file failed
    err = capsys.readouterr().err
    assert "3 restored, 0 skipped (already done), 1 failed" in err and "broken.png" in err
    os.unlink(folder / "broken.png")
    assert module.run(args) == 0  # resumed: everything done or skipped
    assert "0 restored, 3 skipped" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args([str(folder), "-o", str(tmp_path), "--psf", SPEC, "--blind"])


def test_batch_command_end_to_end(folder, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "deconvkit", "batch", str(folder), "-o", str(out), "--psf", SPEC,
               "--method", "wiener", "--set", "nsr=0.001"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1 and "1 failed" in result.stderr and "broken.png" in result.stderr
    assert len(os.listdir(out)) == 3
    bad = subprocess.run(command[:-6] + ["--psf", "nosuch:1"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert bad.returncode == 4 and bad.stderr.startswith("error: ") and len(bad.stderr.splitlines()) == 1


def test_rgb_file_is_restored_with_its_channels_together(tmp_path, camera):
    source = tmp_path / "in"
    source.mkdir()
    psf = deconvkit.psf.parse(SPEC)
    crop = camera[100:196, 100:196].astype(np.float64) / 255
    rgb = np.stack([crop, crop[::-1], crop[:, ::-1]], axis=-1)  # three different channels
    io.write_image(source / "colour.png", deconvkit.blur(rgb, psf, channel_axis=-1), dtype="uint8")
    summary = run_batch([str(source)], str(tmp_path / "out"), psf=SPEC, method="wiener", params={"nsr": 1e-3})
    assert summary.ok and len(summary.done) == 1
    image, info = io.read_image(source / "colour.png")
    assert info.channel_axis in (2, -1)
    restored, meta = io.read_image(tmp_path / "out" / "colour.png")
    assert restored.shape == rgb.shape and meta.channel_axis in (2, -1)
    expected = deconvkit.deconvolve(image, psf, method="wiener", nsr=1e-3, channel_axis=-1)
    assert np.abs(restored - np.clip(expected, 0, 1)).max() <= 0.5 / 255 + 1e-6


def test_unreachable_scheduler_is_one_error_and_nothing_is_written(folder, tmp_path):
    pytest.importorskip("distributed")
    import dask

    out = tmp_path / "out"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), \
            pytest.raises(DeconvkitError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:1"):
        run_batch([str(folder)], str(out), psf=SPEC, method="wiener", scheduler="tcp://127.0.0.1:1")
    assert not out.exists()


def test_file_too_large_for_memory_is_restored_in_tiles(tmp_path, camera, monkeypatch):
    """What the memory guard's message promises: `deconvkit batch` restores a TIFF that the in-memory
    solve would not fit tile by tile (read region by region, written chunk by chunk) instead of failing;
    the result is the in-memory one away from the tiles' seams' influence (tiled RL is unaccelerated)."""
    tifffile = pytest.importorskip("tifffile")
    psf = deconvkit.psf.parse(SPEC)
    blurred = deconvkit.blur(np.tile(camera, (3, 3)), psf).astype(np.float32)  # 1536 x 1536
    source = tmp_path / "big.tif"
    tifffile.imwrite(source, blurred)
    expected = deconvkit.deconvolve(blurred, psf, method="richardson_lucy", iterations=8, accelerate=False)
    # the in-memory RL needs about 100 MB here; the tiles and the 512 x 512 parameter sample fit in 40
    monkeypatch.setenv("DECONVKIT_MEMORY_LIMIT", "40MB")
    with pytest.raises(deconvkit.memory.MemoryLimitError):
        deconvkit.deconvolve(blurred, psf, method="richardson_lucy", iterations=8)
    summary = run_batch([str(source)], str(tmp_path / "out"), psf=SPEC, method="richardson_lucy",
                        params={"iterations": 8})
    assert summary.ok, summary.report()
    restored = tifffile.imread(tmp_path / "out" / "big.tif")
    assert restored.shape == blurred.shape and restored.dtype == np.float32
    margin = 24
    inner = (slice(margin, -margin),) * 2
    assert np.abs(restored[inner] - expected[inner]).max() <= 1e-4
