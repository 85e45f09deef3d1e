"""The CLI under bad or unusual input (issue 13): every refused request is one ``error:`` line with its class's
exit code and writes nothing; unusual images (alpha, CMYK, int64, 12-bit) come out right."""

from __future__ import annotations

import os

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from PIL import Image

from deconvkit import errors, io
from deconvkit.cli import main


@pytest.fixture
def image_png(tmp_path, camera):
    path = tmp_path / "in.png"
    io.write_image(path, camera[100:164, 100:164], dtype="uint8")
    return path


@pytest.fixture
def no_work(monkeypatch):
    """Fail if a command starts computing (the solvers are never reached for a refused request)."""
    import deconvkit.solvers as solvers

    def refuse(*args, **kwargs):
        raise AssertionError("the command started work before refusing the request")

    monkeypatch.setattr(solvers, "deconvolve", refuse)


def one_error(capsys, match=""):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("error: ") and match in lines[-1], err
    assert "Traceback" not in err and len([line for line in lines if line.startswith("error")]) == 1
    return lines[-1]


def others(folder, keep=("in.png",)):
    return sorted(set(os.listdir(folder)) - set(keep))


@pytest.mark.parametrize("method,setting,match", [
    ("richardson_lucy", "iterations=1e12", "from 1 to 100000"),
    ("richardson_lucy", "iterations=abc", "not a number"),
    ("richardson_lucy", "iterations=nan", "not finite"),
    ("richardson_lucy", "iterations=inf", "not finite"),
    ("richardson_lucy", "iterations=-1", "out of range"),
    ("richardson_lucy", "iterations=true", "not a number"),
    ("richardson_lucy", "iterations=2.5", "not a whole number"),
    ("richardson_lucy", "accelerate=maybe", "true or false"),
    ("tv", "lam=abc", "not a number"),
    ("wiener", "nsr=abc", "not a number"),
    ("wiener", "nsr=inf", "not finite"),
    ("wiener", "noise_sigma=inf", "not finite"),
    ("hyper_laplacian", "inner=1e12", "from 1 to 1000"),
    ("hyper_laplacian", "beta_factor=1.000001", "inner iterations"),
    ("auto", "iterations=1e12", "from 1 to 100000"),
    ("wiener", "method=tv", "not allowed"),
    ("wiener", "channel_axis=0", "not allowed"),
    ("wiener", "boundary=periodic", "not allowed"),
    ("wiener", "return_info=true", "not allowed"),
    ("wiener", "psf_model=motion", "not allowed"),
    ("wiener", "iterations=5", "unknown parameter 'iterations' for method 'wiener'; known: nsr"),
])
def test_bad_settings_are_refused_before_work(tmp_path, image_png, no_work, capsys, method, setting, match):
    code = main(["deblur", str(image_png), "-o", str(tmp_path / "o.png"), "--psf", "gaussian:sigma=1",
                 "--method", method, "--set", setting])
    assert code == errors.ParameterError.exit_code
    one_error(capsys, match)
    assert others(tmp_path) == []


def test_blind_run_settings_are_checked_too(tmp_path, image_png, capsys, monkeypatch):
    import deconvkit.blind as blind

    monkeypatch.setattr(blind, "deblur", lambda *a, **k: pytest.fail("blind estimation started"))
    assert main(["deblur", str(image_png), "-o", str(tmp_path / "o.png"), "--set", "iterations=0"]) == 2
    one_error(capsys, "iterations=0")


def test_empty_psf_spec_is_not_a_blind_run(tmp_path, image_png, capsys, monkeypatch):
    import deconvkit.blind as blind

    monkeypatch.setattr(blind, "deblur", lambda *a, **k: pytest.fail("blind estimation started"))
    assert main(["deblur", str(image_png), "-o", str(tmp_path / "o.png"), "--psf", ""]) == errors.PSFError.exit_code
    one_error(capsys, "the spec is empty")
    assert main(["blur", str(image_png), "-o", str(tmp_path / "o.png"), "--psf", ""]) == 4
    one_error(capsys, "the spec is empty")
    assert others(tmp_path) == []


def test_negative_seed_and_noise(tmp_path, image_png, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["blur", str(image_png), "-o", str(tmp_path / "o.png"), "--psf", "gaussian:sigma=1", "--seed", "-1"])
    assert exited.value.code == 2  # argparse's usage error: the usage, then one error line, no traceback
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].endswith("error: argument --seed: invalid seed '-1': expected an "
                                                 "integer >= 0") and "Traceback" not in err
    for noise in ("-0.1", "inf", "nan"):
        assert main(["blur", str(image_png), "-o", str(tmp_path / "o.png"), "--psf", "gaussian:sigma=1",
                     "--noise", noise]) == 2
        one_error(capsys, "--noise")
    assert others(tmp_path) == []


@pytest.mark.parametrize("shape", [(1, 40), (40, 1), (1, 40, 3)])
@pytest.mark.parametrize("command", ["deblur", "blur", "estimate"])
def test_one_pixel_wide_images_are_input_errors(tmp_path, capsys, shape, command):
    path = tmp_path / "in.png"
    io.write_image(path, np.full(shape, 0.5))
    args = [command, str(path), "-o", str(tmp_path / "o.npy" if command == "estimate" else tmp_path / "o.png")]
    if command != "estimate":
        args += ["--psf", "gaussian:sigma=1"]
    assert main(args) == errors.InputError.exit_code
    one_error(capsys, "needs at least 2 pixels along each axis")
    assert others(tmp_path) == []


def test_estimate_never_replaces_its_input(tmp_path, image_png, capsys):
    before = image_png.read_bytes()
    assert main(["estimate", str(image_png), "-o", str(image_png), "--overwrite"]) == errors.OutputError.exit_code
    one_error(capsys, "is the input file")
    assert image_png.read_bytes() == before


def test_save_psf_onto_the_input_is_refused(tmp_path, image_png, capsys):
    before = image_png.read_bytes()
    assert main(["deblur", str(image_png), "-o", str(tmp_path / "o.png"), "--save-psf", str(image_png),
                 "--overwrite"]) == 6
    one_error(capsys, "is the input file")
    assert image_png.read_bytes() == before and others(tmp_path) == []


def test_ctrl_c_during_start_up_is_one_line(monkeypatch, capsys):
    import deconvkit.cli as cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert main(["deblur", "x.png"]) == 130
    assert capsys.readouterr().err == "error: interrupted\n"


@pytest.mark.parametrize("command", [["-m", "deconvkit", "--version"], ["SCRIPT", "--version"]])
def test_ctrl_c_while_the_package_imports_is_one_line(tmp_path, command):
    """A Ctrl-C while ``import deconvkit`` loads NumPy (before the CLI's own handler exists), made
    deterministic by an import hook that sends the process a real SIGINT there; as ``python -m deconvkit`` and as
    the installed ``deconvkit`` script. A library import keeps its KeyboardInterrupt."""
    import signal
    import subprocess
    import sys

    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'deconvkit.fft':\n"
        "            import os, signal, time\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "            time.sleep(5)\n"
        "sys.meta_path.insert(0, Interrupt())\n")
    script = tmp_path / "deconvkit"  # what pip writes for [project.scripts]
    script.write_text("import sys\nfrom deconvkit.cli import main\nsys.exit(main())\n")
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), src]))
    argv = [str(script) if part == "SCRIPT" else part for part in command]
    # a user's shell starts the command with Ctrl-C at its default action; an earlier test in this process
    # (or a parent) may have left SIGINT ignored, which a child would inherit and Python would keep
    def default_sigint():
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    result = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, timeout=120,
                            preexec_fn=default_sigint)
    assert (result.returncode, result.stderr) == (130, "error: interrupted\n")
    library = subprocess.run([sys.executable, "-c", "import deconvkit"], env=env, capture_output=True, text=True,
                             timeout=120, preexec_fn=default_sigint)
    assert library.returncode != 0 and "KeyboardInterrupt" in library.stderr  # not swallowed by a library


def test_out_of_memory_is_one_line(tmp_path, image_png, capsys, monkeypatch):
    import deconvkit.solvers as solvers

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(solvers, "deconvolve", exhausted)
    assert main(["deblur", str(image_png), "-o", str(tmp_path / "o.png"), "--psf", "gaussian:sigma=1"]) == 5
    one_error(capsys, "out of memory")
    assert others(tmp_path) == []


# --- unusual images come out right ---------------------------------------------------------------------

def test_rgba_alpha_passes_through_deblur_and_blur_untouched(tmp_path, camera, capsys):
    grey = np.rint(camera[:48, :48] * 255).astype(np.uint8)
    alpha = np.tile(np.linspace(0, 255, 48).astype(np.uint8), (48, 1))
    rgba = np.stack([grey, grey[::-1], grey.T, alpha], axis=-1)
    source = tmp_path / "in.png"
    io.write_image(source, rgba)
    for command in (["deblur", "--method", "wiener", "--quiet"], ["blur"]):
        out = tmp_path / f"{command[0]}.png"
        assert main([command[0], str(source), "-o", str(out), "--psf", "gaussian:sigma=1.5", *command[1:]]) == 0
        written = iio.imread(out)
        assert written.shape == rgba.shape
        np.testing.assert_array_equal(written[..., 3], alpha)  # alpha untouched
        assert not np.array_equal(written[..., :3], rgba[..., :3])  # colour was processed


def test_grey_alpha_goes_through_as_grey(tmp_path, camera):
    grey = np.rint(camera[:40, :40] * 255).astype(np.uint8)
    alpha = np.full_like(grey, 200)
    io.write_image(tmp_path / "in.png", np.stack([grey, alpha], axis=-1))
    assert main(["blur", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "--psf", "gaussian:sigma=1"]) == 0
    written = iio.imread(tmp_path / "o.png")
    assert written.shape == (40, 40, 2) and (written[..., 1] == 200).all()


def test_cmyk_jpeg_gives_an_opaque_rgb_result(tmp_path, camera):
    grey = np.rint(camera[:48, :48] * 255).astype(np.uint8)
    cmyk = np.stack([255 - grey, np.zeros_like(grey), np.zeros_like(grey), np.zeros_like(grey)], axis=-1)
    Image.fromarray(cmyk, mode="CMYK").save(tmp_path / "in.jpg", quality=95)
    assert main(["blur", str(tmp_path / "in.jpg"), "-o", str(tmp_path / "o.png"), "--psf", "gaussian:sigma=1"]) == 0
    with Image.open(tmp_path / "o.png") as written:
        assert written.mode == "RGB"  # no alpha channel, so not transparent
        rgb = np.asarray(written).astype(float)
    # Cyan ink only: red carries the picture, green and blue are white (not inverted, not black).
    assert rgb[..., 1:].mean() > 250 and abs(rgb[..., 0].mean() - grey.mean()) < 3


def test_int64_npy_input_is_not_zeroed(tmp_path):
    data = (np.arange(40 * 40).reshape(40, 40) % 200) + 20  # int64, values 20..219
    np.save(tmp_path / "in.npy", data)
    assert main(["blur", str(tmp_path / "in.npy"), "-o", str(tmp_path / "o.npy"), "--psf", "gaussian:sigma=1"]) == 0
    out = np.load(tmp_path / "o.npy")
    assert out.dtype == np.int64 and 20 <= out.min() and out.max() <= 219 and out.mean() > 100


def test_twelve_bit_tiff_stays_in_its_range(tmp_path, camera):
    data = np.rint(camera[:48, :48] * 4095).astype(np.uint16)
    tifffile.imwrite(tmp_path / "in.tif", data)
    assert main(["blur", str(tmp_path / "in.tif"), "-o", str(tmp_path / "o.tif"), "--psf", "gaussian:sigma=1"]) == 0
    out = tifffile.imread(tmp_path / "o.tif")
    assert out.dtype == np.uint16 and out.max() <= 4095
    assert abs(float(out.mean()) - float(data.mean())) < 0.01 * 4095
