"""Writes that never leave partial output or stray files: short hidden temporary names, output checks before
work, disk full and file-size limits as one OutputError, temporary files removed on SIGTERM/SIGHUP, and
files left by a SIGKILLed run removed by the next one. The kill tests run real subprocesses."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tifffile

from deconvkit import OutputError, errors, io

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env():
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.path.join(ROOT, "src") + os.pathsep + environment.get("PYTHONPATH", "")
    environment.setdefault("OMP_NUM_THREADS", "1")
    return environment


def strays(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


# --- names and checks before work ----------------------------------------------------------------------

def test_temporary_name_is_short_hidden_and_never_an_image_name(tmp_path, monkeypatch):
    seen = []
    real = io._encode

    def spy(tmp, fmt, data, channel_axis, *args, **kwargs):
        seen.append(os.path.basename(tmp))
        real(tmp, fmt, data, channel_axis, *args, **kwargs)

    monkeypatch.setattr(io, "_encode", spy)
    name = "x" * 245 + ".tif"  # 249 characters: the ENAMETOOLONG case
    io.write_image(tmp_path / name, np.zeros((4, 4)))
    assert os.listdir(tmp_path) == [name]
    (temp,) = seen
    assert temp.startswith(f".deconvkit-{os.getpid()}-") and temp.endswith(".tmp") and len(temp) < 40
    assert os.path.splitext(temp)[1] not in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy")
    assert io._TEMP_PATTERN.match(temp)


@pytest.mark.parametrize("ext", ["png", "jpg", "tif", "npy"])
def test_every_format_writes_through_an_extensionless_temporary(tmp_path, ext):
    data = np.linspace(0, 1, 48).reshape(6, 8)
    io.write_image(tmp_path / f"a.{ext}", data)
    image, info = io.read_image(tmp_path / f"a.{ext}")
    assert info.format == {"jpg": "jpeg", "tif": "tiff"}.get(ext, ext) and image.shape == (6, 8)
    assert os.listdir(tmp_path) == [f"a.{ext}"]


def test_check_output_path_before_any_work(tmp_path):
    (tmp_path / "exists.png").write_bytes(b"x")
    (tmp_path / "folder.png").mkdir()
    cases = [
        (tmp_path / "a.bmp", errors.OutputError, "unknown extension"),
        (tmp_path / "nodir" / "a.png", FileNotFoundError, "does not exist"),
        (tmp_path / "folder.png", IsADirectoryError, "is a folder"),
        (tmp_path / "exists.png", FileExistsError, "already exists"),
        (tmp_path / ("y" * 260 + ".png"), errors.OutputError, "longer than 255"),
    ]
    for path, cls, match in cases:
        with pytest.raises(cls, match=match) as caught:
            io.check_output_path(path)
        assert isinstance(caught.value, OutputError) and caught.value.exit_code == 6
    assert io.check_output_path(tmp_path / "exists.png", overwrite=True).endswith("exists.png")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write to read-only folders")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="not writable"):
            io.check_output_path(folder / "a.png")
    finally:
        folder.chmod(0o700)


# --- the OS refusing the write ------------------------------------------------------------------------

@pytest.mark.parametrize("code,match", [(errno.ENOSPC, "no space left"), (errno.EIO, "I/O error|Input/output"),
                                        (errno.EFBIG, "file too large")])
@pytest.mark.parametrize("existing", [False, True])
def test_os_errors_mid_write_are_one_output_error_and_leave_nothing(tmp_path, monkeypatch, code, match,
                                                                     existing):
    path = tmp_path / "out.png"
    if existing:
        path.write_bytes(b"old contents")

    def fills_the_disk(tmp, fmt, data, channel_axis, *args, **kwargs):
        with open(tmp, "wb") as handle:
            handle.write(b"\x89PNG half a file")
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(io, "_encode", fills_the_disk)
    with pytest.raises(errors.OutputWriteError, match=match) as caught:
        io.write_image(path, np.zeros((8, 8)), overwrite=True)
    assert "\n" not in str(caught.value) and isinstance(caught.value, OSError)
    assert os.listdir(tmp_path) == (["out.png"] if existing else [])
    if existing:
        assert path.read_bytes() == b"old contents"


def test_encoder_wrapping_enospc_is_still_disk_full(tmp_path, monkeypatch):
    import imageio.v3 as iio

    def wrapped(*args, **kwargs):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise RuntimeError("encoder failed") from exc

    monkeypatch.setattr(iio, "imwrite", wrapped)
    with pytest.raises(errors.OutputWriteError, match="no space left"):
        io.write_image(tmp_path / "a.png", np.zeros((4, 4)))
    assert os.listdir(tmp_path) == []


def test_not_enough_free_space_is_refused_before_writing(tmp_path, monkeypatch):
    class Tiny:
        f_bavail, f_frsize = 10, 4096  # 40 KiB free

    monkeypatch.setattr(os, "statvfs", lambda folder: Tiny())
    with pytest.raises(OutputError, match=r"needs about 0\.\d MiB and the device has 0\.0 MiB free"):
        io.write_image(tmp_path / "big.tif", np.zeros((300, 300), np.float32))
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE")
def test_real_file_size_limit_in_a_subprocess(tmp_path):
    # A kernel-level refusal (not a mock): RLIMIT_FSIZE makes write() fail with EFBIG mid-file.
    script = textwrap.dedent(f"""
        import resource, signal, sys
        import numpy as np
        from deconvkit import io, DeconvkitError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
        try:
            io.write_image({str(tmp_path / 'big.npy')!r}, np.zeros((400, 400)))
        except DeconvkitError as exc:
            print(type(exc).__name__, exc)
            sys.exit(exc.exit_code)
    """)
    result = subprocess.run([sys.executable, "-c", script], env=env(), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 6, result.stderr
    assert result.stdout.startswith("OutputWriteError cannot write")
    assert "file-size limit" in result.stdout or "too large" in result.stdout
    assert result.stdout.count("\n") == 1
    assert os.listdir(tmp_path) == []


# --- stale temporaries -------------------------------------------------------------------------------

def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    now = time.time()
    dead = dead_pid()
    names = {
        f".deconvkit-{dead}-abcd1234.tmp": (now - 60, True),  # dead writer, quiet for a minute
        f".deconvkit-{dead}-abcd1235.tmp": (now - 1, False),  # dead writer but just touched: grace period
        f".deconvkit-{os.getpid()}-abcd1236.tmp": (now - 60, False),  # this (live) process
        f".deconvkit-{os.getppid()}-abcd1237.tmp": (now - 3 * 24 * 3600, True),  # live but days old
        ".out.tif.k2j3h4g5.tmp.tif": (now - 2 * 3600, True),  # old-style name, abandoned
        ".out.tif.k2j3h4g6.tmp.tif": (now - 60, False),  # old-style, recent: maybe a live old version
        ".deconvkit-notes.tmp": (now - 10**6, False),  # not our pattern
        "result.tmp": (now - 10**6, False),
    }
    for name, (mtime, _) in names.items():
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (mtime, mtime))
    removed = io.remove_stale_temporaries(tmp_path, now=now)
    assert sorted(os.path.basename(p) for p in removed) == sorted(n for n, (_, gone) in names.items() if gone)
    assert sorted(os.listdir(tmp_path)) == sorted(n for n, (_, gone) in names.items() if not gone)


def test_write_image_cleans_the_folder_first(tmp_path):
    stale = tmp_path / f".deconvkit-{dead_pid()}-zzzz9999.tmp"
    stale.write_bytes(b"partial")
    os.utime(stale, (time.time() - 60,) * 2)
    io.write_image(tmp_path / "a.npy", np.zeros(3))
    assert os.listdir(tmp_path) == ["a.npy"]
    # Once per process and folder: a later leftover (another run killed meanwhile) waits for the next process.
    stale.write_bytes(b"partial")
    os.utime(stale, (time.time() - 60,) * 2)
    io.write_image(tmp_path / "b.npy", np.zeros(3))
    assert sorted(os.listdir(tmp_path)) == [stale.name, "a.npy", "b.npy"]


def test_signal_handler_removes_live_temporaries_and_restores_handlers(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    tmp = tmp_path / ".deconvkit-1-x.tmp"
    tmp.write_bytes(b"partial")
    calls = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        with io._removed_on_signal(str(tmp)):
            assert signal.getsignal(signal.SIGTERM) is io._on_signal
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler runs between bytecodes of the main thread
            assert not tmp.exists() and calls == [signal.SIGTERM]  # cleaned, then the app's handler ran
        assert signal.getsignal(signal.SIGTERM) is not io._on_signal
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert signal.getsignal(signal.SIGTERM) is before


# --- kill tests: a subprocess writing a large TIFF, killed during writes ----------------------------------

WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from deconvkit import io
    out = sys.argv[1]
    data = (np.arange(1536 * 1536, dtype=np.float32).reshape(1536, 1536) % 977) / 977
    while True:
        io.write_image(out, data, overwrite=True)
""")


def expected_tiff():
    return (np.arange(1536 * 1536, dtype=np.float32).reshape(1536, 1536) % 977) / 977


def kill_during_write(folder, signum):
    out = os.path.join(folder, "out.tif")
    child = subprocess.Popen([sys.executable, "-c", WRITER, out], env=env(), stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until a temporary file is being written
            if any(io._TEMP_PATTERN.match(name) for name in os.listdir(folder)):
                break
            if child.poll() is not None:
                raise AssertionError(child.stderr.read().decode())
            time.sleep(0.002)
        else:
            raise AssertionError("the writer never started a write")
        child.send_signal(signum)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
    assert child.returncode == -signum  # killed by the signal, as without deconvkit's handler
    if os.path.exists(out):  # any output there is complete: an earlier write, never a partial one
        np.testing.assert_array_equal(tifffile.imread(out), expected_tiff())
    return [name for name in os.listdir(folder) if name != "out.tif"]


def run_kills(folder, count):
    for _ in range(count):
        assert kill_during_write(folder, signal.SIGTERM) == []  # SIGTERM: removed at once
    left_by_kill = set()
    for _ in range(count):
        left = kill_during_write(folder, signal.SIGKILL)
        assert all(io._TEMP_PATTERN.match(name) for name in left), left  # never a file that looks like output
        left_by_kill.update(left)
        for name in left:  # time passes (past the grace period) before the next run
            os.utime(os.path.join(folder, name), (time.time() - 60,) * 2)
    # The next run writing into the folder removes what SIGKILL left, and only that.
    next_run = subprocess.run([sys.executable, "-c", "import sys, numpy as np; from deconvkit import io; "
                               "io.write_image(sys.argv[1], np.zeros((4, 4)))", os.path.join(folder, "next.png")],
                              env=env(), capture_output=True, text=True, timeout=120)
    assert next_run.returncode == 0, next_run.stderr
    assert sorted(os.listdir(folder)) in (["next.png"], ["next.png", "out.tif"])
    return left_by_kill


def test_killed_writer_leaves_no_partial_output(tmp_path):
    run_kills(str(tmp_path), 1)


@pytest.mark.slow
def test_killed_writer_repeatedly(tmp_path):
    left = run_kills(str(tmp_path), 10)
    print(f"SIGKILL left {len(left)} temporary files in 10 runs, all removed by the next run")


def test_float_to_integer_conversion_in_blocks_equals_the_whole_array_formula(monkeypatch):
    # the documented rule, written out: rint(clip(x, 0, 1) * scale) for unsigned targets; the writer
    # converts block by block (bounded float64 memory), which must not change a single value
    from deconvkit import io as dio

    monkeypatch.setattr(dio, "_CONVERT_BLOCK", 1000)  # many blocks, the last one partial
    values = np.random.default_rng(3).uniform(-0.2, 1.2, (37, 91, 3)).astype(np.float32)
    values[0, 0, :] = [0.5 / 255, 1.5 / 255, 254.5 / 255]  # exact halves round to even, as np.rint does
    for target, scale in ((np.uint8, 255.0), (np.uint16, 65535.0)):
        expected = np.rint(np.clip(values.astype(np.float64), 0, 1) * scale).astype(target)
        np.testing.assert_array_equal(dio._convert(values, np.dtype(target)), expected)
