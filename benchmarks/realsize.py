"""Real sizes: a 12-megapixel colour photo (and optionally a 3-D stack) restored by every method, with
scikit-image's Richardson-Lucy on the same input in the same run.

Each contender runs in its own subprocess, as a user would run it (the CLI for deconvkit, a short script
for scikit-image), so that its own peak memory can be read (``VmHWM`` at its exit, see ``PEAK_WRAPPER``). Memory
is reported as peak RSS minus the peak RSS of the interpreter-with-imports baseline, per input value
(pixels x channels). For a deconvkit method the baseline is a process that runs the *same command on a
256x256 crop* of the photo (so it imports exactly the modules that method's run imports: the CLI's command
modules, SciPy's optimize/ndimage/signal, psutil, ...; about 36 MB more than the bare imports) and then
reads the full photo; for scikit-image it imports scikit-image and deconvkit's reader and reads the photo.

The photo is built deterministically from scikit-image's bundled colour images (native resolution, tiled
with flips to 3000x4000; ``immunohistochemistry`` and ``hubble_deep_field`` are left out, they are reserved
for an independent check), blurred in the camera's "valid" model by Levin's recorded 27x27 shake (kernel 4
of ``../shared/data/levin09``; a synthetic shake of the same size when the data are absent), with 1%
Gaussian noise, and stored as an 8-bit PNG.

Usage::

    python benchmarks/realsize.py --json realsize.json                 # photo, every method + peers
    python benchmarks/realsize.py --methods auto --peers skimage_rl30  # a subset
    python benchmarks/realsize.py --rl-time-to-quality                 # RL vs skimage at 2048x2048
    python benchmarks/realsize.py --stack 64x1024x1024 --methods richardson_lucy wiener  # + skimage RL-30
    python benchmarks/realsize.py --methods auto --fft-engines scipy ducc   # each method on both engines

Results and the exact commands used are recorded in docs/benchmarks.md ("Real sizes").
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
LEVIN = ROOT.parent / "shared" / "data" / "levin09" / "psfs.npz"
PHOTO_SHAPE = (3000, 4000)
METHODS = ("auto", "tv", "hyper_laplacian", "richardson_lucy", "rl_tv", "tikhonov", "wiener")
BLIND = "blind"
PEERS = ("skimage_rl30",)


# --------------------------------------------------------------------------------------------- inputs
def shake_psf():
    """Levin's kernel 4 (27x27, convolution orientation), or a deterministic synthetic shake of that size."""
    if LEVIN.exists():
        return np.load(LEVIN)["psf4"].astype(np.float64)
    rng = np.random.default_rng(4)
    psf = np.zeros((27, 27))
    position = np.array([13.0, 13.0])
    velocity = np.zeros(2)
    for _ in range(400):
        velocity = 0.9 * velocity + rng.normal(0, 0.25, 2)
        position = np.clip(position + velocity * 0.3, 2, 24)
        psf[int(round(position[0])), int(round(position[1]))] += 1
    return psf / psf.sum()


def mosaic(shape):
    """Tile bundled colour images (native resolution, alternately flipped) into ``shape`` (H, W, 3)."""
    from skimage import data

    sources = [data.retina(), data.astronaut(), data.coffee(), data.rocket(), data.chelsea(),
               data.colorwheel()]
    canvas = np.zeros(tuple(shape) + (3,), np.uint8)
    row, count = 0, 0
    while row < shape[0]:
        col, row_height = 0, 0
        while col < shape[1]:
            tile = sources[count % len(sources)]
            if (count // len(sources)) % 2:
                tile = tile[:, ::-1]
            if count % 3 == 1:
                tile = tile[::-1]
            h = min(tile.shape[0], shape[0] - row)
            w = min(tile.shape[1], shape[1] - col)
            canvas[row:row + h, col:col + w] = tile[:h, :w]
            col += w
            row_height = max(row_height, h)
            count += 1
        row += row_height
    return canvas


def make_photo(folder: pathlib.Path, shape=PHOTO_SHAPE, noise=0.01, seed=0):
    """Write ``sharp.npy`` (float32, the valid-region truth), ``photo.png`` and ``psf.npy``."""
    import deconvkit
    from deconvkit import io

    psf = shake_psf()
    k = psf.shape[0]
    sharp = mosaic((shape[0] + k - 1, shape[1] + k - 1)).astype(np.float32) / 255.0
    blurred = deconvkit.blur(sharp, psf, boundary="valid", noise=noise, rng=seed, channel_axis=-1)
    photo = np.clip(np.round(blurred * 255.0), 0, 255).astype(np.uint8)
    io.write_image(folder / "photo.png", photo, overwrite=True)
    np.save(folder / "psf.npy", psf)
    half = k // 2
    np.save(folder / "sharp.npy", sharp[half:half + shape[0], half:half + shape[1]])
    return folder / "photo.png"


# ------------------------------------------------------------------------------------------- running
# The child reports its own peak: ``VmHWM`` of its address space, read at exit. The kernel's
# ``ru_maxrss`` of a child (os.wait4) is no good here: fork/vfork + exec folds the *parent's* high-water
# RSS into the child's, so every child of this script (which holds the 12 MP photo and its blur, about
# 1 GB at its peak) read as at least that much; runs before this fix subtracted a baseline inflated the
# same way and under-reported every method by about 21 bytes per value.
PEAK_WRAPPER = """
import atexit, sys
peak_file, mode, target = sys.argv[1], sys.argv[2], sys.argv[3]
def _report():
    try:
        with open("/proc/self/status") as status:
            peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):  # no procfs: the rusage value (may include the parent's peak)
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with open(peak_file, "w") as out:
        out.write(str(peak))
atexit.register(_report)
if mode == "-m":
    import runpy
    sys.argv = [target] + sys.argv[4:]
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    sys.argv = ["-c"] + sys.argv[4:]
    exec(compile(target, "<contender>", "exec"), {"__name__": "__main__"})
"""


def run_child(argv, env=None):
    """Run ``argv`` (``[python, "-m", module, ...]`` or ``[python, "-c", script, ...]``); return (wall
    seconds, peak RSS bytes of that child's own address space, return code, stderr tail)."""
    if len(argv) < 3 or argv[1] not in ("-m", "-c"):
        raise ValueError(f"run_child runs python -m/-c commands, got {argv[:2]}")
    with tempfile.NamedTemporaryFile(suffix=".peak", delete=False) as handle:
        peak_file = pathlib.Path(handle.name)
    start = time.perf_counter()
    proc = subprocess.Popen([argv[0], "-c", PEAK_WRAPPER, str(peak_file)] + list(argv[1:]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace")[-400:]
    proc.stdout.close()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = peak_file.read_text().strip() if peak_file.exists() else ""
    peak_file.unlink(missing_ok=True)
    # killed before its exit handler ran (e.g. out of memory): only the kernel's figure is left
    peak = int(text) if text else usage.ru_maxrss * 1024
    return wall, peak, proc.returncode, stderr


BASELINE_SCRIPT = """
import sys, numpy, scipy.fft, skimage.restoration, deconvkit, deconvkit.cli, deconvkit.solvers, deconvkit.io
image, _ = deconvkit.io.read_image(sys.argv[1])
"""

# A deconvkit contender's baseline: its own command on a tiny crop (argv[2:], in this process), then the
# full input read and held, as the real run holds it.
CLI_BASELINE_SCRIPT = """
import runpy, sys
import deconvkit.io
photo, command = sys.argv[1], sys.argv[2:]
sys.argv = ["deconvkit"] + command
try:
    runpy.run_module("deconvkit", run_name="__main__")
except SystemExit as stop:
    if stop.code:
        raise
image, _ = deconvkit.io.read_image(photo)
"""

SKIMAGE_RL_SCRIPT = """
import sys, numpy as np, skimage.restoration
from deconvkit import io
image = io.read_image(sys.argv[1])[0].astype(np.float64)   # what skimage.img_as_float gives a user
psf = np.load(sys.argv[2])
n = int(sys.argv[4]) if len(sys.argv) > 4 else 30
out = np.stack([skimage.restoration.richardson_lucy(image[..., c], psf, num_iter=n)
                for c in range(image.shape[-1])], axis=-1) if image.ndim == 3 and image.shape[-1] in (3, 4) \\
    else skimage.restoration.richardson_lucy(image, psf, num_iter=n)
np.save(sys.argv[3], out.astype(np.float32))
"""


def psnr(restored, sharp):
    restored = np.asarray(restored, np.float64)
    err = np.mean((restored - sharp) ** 2)
    return float(10 * np.log10(1.0 / err))


def deblur_command(name, photo, psf, out, folder):
    """The ``deconvkit deblur`` arguments (after the program name) a user runs for contender ``name``."""
    command = ["deblur", str(photo), "-o", str(out), "--overwrite"]
    if name != BLIND:
        command += ["--psf", str(psf), "--method", name]
    else:
        command += ["--save-psf", str(folder / "blind_psf.npy")]
    return command


def tiny_crop(photo, folder, size=256):
    """A ``size`` x ``size`` crop of the photo (same channels and encoding), for the per-method baseline
    (0.2% of the photo's values; 64 px was too small: auto's Wiener ranking fails on it)."""
    from deconvkit import io

    image, info = io.read_image(photo)
    crop = folder / "tiny.png"
    io.write_image(crop, image[:size, :size], like=info, overwrite=True)
    return crop


def method_baseline(name, photo, psf, folder, env=None):
    """Peak RSS of the contender's own command on a tiny crop, followed by reading the full photo."""
    tiny = tiny_crop(photo, folder)
    # blind is not run on the crop (its region search wants more): its baseline runs the default method
    command = deblur_command(name if name != BLIND else "auto", tiny, psf, folder / "tiny_out.png", folder)
    _, peak, code, stderr = run_child([sys.executable, "-c", CLI_BASELINE_SCRIPT, str(photo)] + command, env)
    if code != 0:
        raise SystemExit(f"baseline of {name} failed: {stderr}")
    return peak


def contender(name, photo, psf, folder, env=None):
    """Run one contender; return its row (time, peak, PSNR) and the restored array."""
    out = folder / f"out_{name}.png"
    if name in PEERS:
        out = folder / f"out_{name}.npy"
        argv = [sys.executable, "-c", SKIMAGE_RL_SCRIPT, str(photo), str(psf), str(out)]
    else:
        argv = [sys.executable, "-m", "deconvkit"] + deblur_command(name, photo, psf, out, folder)
    wall, peak, code, stderr = run_child(argv, env)
    row = {"name": name, "time_s": round(wall, 2), "peak_rss_bytes": peak, "returncode": code}
    if code != 0:
        row["error"] = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {code}"
        return row, None
    if out.suffix == ".npy":
        restored = np.load(out)
    else:
        from deconvkit import io

        restored, _ = io.read_image(out)
    return row, restored


def engine_runs(methods, engines):
    """``(method, engine)`` in run order: every deconvkit method once per FFT engine (``DECONVKIT_FFT`` of
    its child; ``None``: inherited), the engines' order reversed from one method to the next so that a
    drift of the machine's load does not always favour the same engine (``--fft-engines``)."""
    if not engines:
        return [(name, None) for name in methods]
    runs = []
    for index, name in enumerate(methods):
        runs += [(name, engine) for engine in (engines if index % 2 == 0 else engines[::-1])]
    return runs


def engine_env(engine):
    """The environment of a child run with ``DECONVKIT_FFT=engine`` (``None``: this one, unchanged)."""
    return None if engine is None else {**os.environ, "DECONVKIT_FFT": engine}


# --------------------------------------------------------------------------------------- experiments
def photo_experiment(args, folder):
    photo = make_photo(folder, shape=tuple(int(v) for v in args.photo_shape.lower().split("x")))
    psf = folder / "psf.npy"
    sharp = np.load(folder / "sharp.npy")
    values = sharp.size
    _, baseline, code, stderr = run_child([sys.executable, "-c", BASELINE_SCRIPT, str(photo)])
    if code != 0:
        raise SystemExit(f"baseline failed: {stderr}")
    rows = []
    for name, engine in [(peer, None) for peer in args.peers] + engine_runs(args.methods, args.fft_engines):
        row, restored = contender(name, photo, psf, folder, engine_env(engine))
        own = baseline if name in PEERS else method_baseline(name, photo, psf, folder, engine_env(engine))
        if engine is not None:
            row["fft"] = engine
        row["load1"] = round(os.getloadavg()[0], 1)
        row["baseline_rss_bytes"] = own
        row["peak_over_baseline_bytes_per_value"] = round((row["peak_rss_bytes"] - own) / values, 1)
        # against the common bare-imports baseline (what earlier runs reported; errs high by the imports)
        row["peak_over_import_baseline_bytes_per_value"] = round((row["peak_rss_bytes"] - baseline) / values, 1)
        if restored is not None:
            row["psnr_db"] = round(psnr(restored, sharp), 2)
        if name == BLIND and (folder / "blind_psf.npy").exists():
            from deconvkit.blind import psf_similarity

            row["kernel_similarity"] = round(float(psf_similarity(np.load(folder / "blind_psf.npy"),
                                                                   np.load(psf))), 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    reference = next((r for r in rows if r["name"] == "skimage_rl30" and "error" not in r), None)
    if reference:
        for row in rows:
            row["time_vs_skimage_rl30"] = round(row["time_s"] / reference["time_s"], 3)
    return {"input": {"shape": list(sharp.shape), "values": values, "baseline_rss_bytes": baseline,
                      "psf": "levin psf4" if LEVIN.exists() else "synthetic 27x27"},
            "rows": rows}


def rl_time_to_quality_case(size=2048, noise=0.01, seed=0):
    """The time-to-quality scene: ``(blurred, psf, truth)``, float32 in [0, 1].

    The grey-level mosaic of native-resolution sample images (:func:`mosaic`, as the photo), blurred in the
    camera's "valid" model by Levin's 27x27 shake (:func:`shake_psf`, kernel 4) with 1% Gaussian noise, and
    clipped to [0, 1] as a sensor records it: a sensor gives no negative values, and the unclipped data
    (17% of the pixels below 0 around the retina's black background) make scikit-image's unclipped RL
    diverge (negative PSNR at every count), which would be a comparison with a broken peer.
    """
    from skimage.color import rgb2gray

    import deconvkit

    psf = shake_psf()
    k = psf.shape[0]
    sharp = rgb2gray(mosaic((size + k - 1, size + k - 1))).astype(np.float32)
    blurred = np.clip(deconvkit.blur(sharp, psf, boundary="valid", noise=noise, rng=seed), 0.0, 1.0)
    return blurred, psf, sharp[k // 2:k // 2 + size, k // 2:k // 2 + size]


def _load_average():
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def rl_time_to_quality(args):
    """deconvkit RL (default stop and fixed counts) vs scikit-image RL at every count, one process.

    Both contenders get the same float32 array in memory and are timed the same way: the library call
    alone (``time.perf_counter`` around ``deconvolve`` / ``richardson_lucy``; deconvkit's set-up, noise
    estimate and crop included, no file I/O for either), with the same number of FFT threads
    (``--ttq-workers``: deconvkit through :func:`deconvkit.backends.config`, scikit-image's
    ``scipy.signal.convolve`` through ``scipy.fft.set_workers``; scipy's default is 1). scikit-image runs
    on the float32 input as given (it keeps float32) and on its float64 conversion (what ``img_as_float``
    gives a user). Round 1 runs every count (the PSNR curve); rounds 2.. ``--ttq-rounds`` rerun only the
    configurations the summary compares, interleaved, and each time is the minimum over the rounds (the
    machine is shared: the load average is recorded with every run). The headline: deconvkit's fastest
    run (oracle count) and its default run reaching scikit-image's oracle-best PSNR, against scikit-image's
    time at its best count in each dtype.
    """
    import scipy.fft
    import skimage.restoration

    import deconvkit
    from deconvkit.backends import config

    blurred, psf, truth = rl_time_to_quality_case(args.ttq_size)
    workers = args.ttq_workers

    def skimage_run(n, dtype):
        image = blurred.astype(dtype)  # the user's conversion, outside the timing (deconvkit gets float32)
        with scipy.fft.set_workers(workers):
            start = time.perf_counter()
            out = skimage.restoration.richardson_lucy(image, psf.astype(dtype), num_iter=n, clip=False)
            elapsed = time.perf_counter() - start
        return {"who": "skimage", "dtype": np.dtype(dtype).name, "iterations": n, "time_s": elapsed,
                "psnr_db": psnr(out, truth)}

    def deconvkit_run(n):
        params = {} if n is None else {"iterations": n}
        with config(workers=workers):
            start = time.perf_counter()
            out, info = deconvkit.deconvolve(blurred, psf, method="richardson_lucy", return_info=True,
                                             **params)
            elapsed = time.perf_counter() - start
        return {"who": "deconvkit", "dtype": out.dtype.name, "rule": "default" if n is None else "fixed",
                "iterations": info["iterations"], "stop_rule": info["stop_rule"], "time_s": elapsed,
                "psnr_db": psnr(out, truth)}

    runs = {}  # configuration -> its rows over the rounds

    def run(key):
        who, *rest = key
        row = skimage_run(*rest) if who == "skimage" else deconvkit_run(*rest)
        row["load_average"] = _load_average()
        runs.setdefault(key, []).append(row)
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)

    dtypes = (np.float32, np.float64)
    sweep = [("skimage", n, dtype) for n in args.skimage_iterations for dtype in dtypes]
    sweep += [("deconvkit", None)] + [("deconvkit", n) for n in args.deconvkit_iterations]
    for key in sweep:  # round 1: alternating skimage dtypes, then deconvkit
        run(key)

    def best_row(key):
        rows = runs[key]
        fastest = min(rows, key=lambda r: r["time_s"])
        return {**fastest, "time_s": round(fastest["time_s"], 3), "psnr_db": round(fastest["psnr_db"], 3),
                "runs": len(rows), "times_s": [round(r["time_s"], 3) for r in rows]}

    def key_configurations():
        best = {}
        for dtype in dtypes:
            keys = [k for k in runs if k[0] == "skimage" and k[2] is dtype]
            best[np.dtype(dtype).name] = max(keys, key=lambda k: runs[k][0]["psnr_db"])
        target = max(runs[k][0]["psnr_db"] for k in best.values())
        reaching = [k for k in runs if k[0] == "deconvkit" and k[1] is not None and runs[k][0]["psnr_db"] >= target]
        oracle = min(reaching, key=lambda k: k[1]) if reaching else None
        return best, target, oracle

    best, target, oracle = key_configurations()
    for _ in range(args.ttq_rounds - 1):  # interleaved reruns of what the summary compares
        for key in list(best.values()) + [("deconvkit", None)] + ([oracle] if oracle else []):
            run(key)

    default = best_row(("deconvkit", None))
    summary = {"workers": workers, "target_psnr_db": round(target, 3), "deconvkit_default": default,
               "default_reaches_target": default["psnr_db"] >= target,
               "deconvkit_oracle": best_row(oracle) if oracle else None}
    for name, key in best.items():
        reference = best_row(key)
        summary[f"skimage_best_{name}"] = reference
        summary[f"default_speedup_vs_skimage_{name}"] = round(reference["time_s"] / default["time_s"], 2)
        if oracle:
            summary[f"oracle_speedup_vs_skimage_{name}"] = round(
                reference["time_s"] / summary["deconvkit_oracle"]["time_s"], 2)
    print(json.dumps(summary), flush=True)
    return {"rows": [row for rows in runs.values() for row in rows], "summary": summary}


def stack_experiment(args, folder):
    from deconvkit import io
    from deconvkit.psf import gaussian

    shape = tuple(int(s) for s in args.stack.lower().split("x"))
    rng = np.random.default_rng(1)
    sharp = np.zeros(shape, np.float32)
    index = tuple(rng.integers(0, s, 20000) for s in shape)
    sharp[index] = rng.uniform(0.2, 1.0, 20000)
    import deconvkit

    psf = gaussian((1.5, 1.2, 1.2)) if len(shape) == 3 else gaussian(1.5)
    blurred = deconvkit.blur(sharp, psf, boundary="reflect", noise=0.005, rng=0)
    io.write_image(folder / "stack.tif", blurred.astype(np.float32), overwrite=True)
    np.save(folder / "stack_psf.npy", psf)
    values = blurred.size
    _, baseline, _, _ = run_child([sys.executable, "-c", BASELINE_SCRIPT, str(folder / "stack.tif")])
    rows = []
    # scikit-image's RL on the same stack in the same run (a 3-D array is deconvolved as one volume);
    # --stack-skimage-iterations lowers its count when 30 iterations of a large stack take too long
    peers = [f"skimage_rl{args.stack_skimage_iterations}"] if args.peers else []
    for name in list(args.methods) + peers:
        if name in peers:
            out = folder / f"stack_{name}.npy"
            argv = [sys.executable, "-c", SKIMAGE_RL_SCRIPT, str(folder / "stack.tif"),
                    str(folder / "stack_psf.npy"), str(out), str(args.stack_skimage_iterations)]
        else:
            out = folder / f"stack_{name}.tif"
            argv = [sys.executable, "-m", "deconvkit", "deblur", str(folder / "stack.tif"), "-o", str(out),
                    "--overwrite", "--psf", str(folder / "stack_psf.npy"), "--method", name]
        wall, peak, code, stderr = run_child(argv)
        row = {"name": name, "time_s": round(wall, 2), "returncode": code,
               "peak_over_baseline_bytes_per_value": round((peak - baseline) / values, 1)}
        if code == 0:
            restored = np.load(out) if out.suffix == ".npy" else io.read_image(out)[0]
            row["psnr_db"] = round(psnr(restored, sharp), 2)
        else:
            row["error"] = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {code}"
        rows.append(row)
        print(json.dumps(row), flush=True)
    return {"input": {"shape": list(shape), "baseline_rss_bytes": baseline}, "rows": rows}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", default=list(METHODS) + [BLIND])
    parser.add_argument("--peers", nargs="*", default=list(PEERS))
    parser.add_argument("--rl-time-to-quality", action="store_true")
    parser.add_argument("--skimage-iterations", type=int, nargs="*", default=[2, 3, 4, 5, 7, 10, 20])
    parser.add_argument("--deconvkit-iterations", type=int, nargs="*", default=[1, 2, 3, 4, 6, 8])
    parser.add_argument("--ttq-size", type=int, default=2048, help="side of the time-to-quality image")
    parser.add_argument("--ttq-workers", type=int, default=1,
                        help="FFT threads for both contenders in the time-to-quality runs (default 1)")
    parser.add_argument("--ttq-rounds", type=int, default=3,
                        help="time-to-quality rounds (the compared runs are repeated, minimum kept)")
    parser.add_argument("--photo-shape", default="3000x4000", help="rows x columns of the photo")
    parser.add_argument("--stack", help="a 3-D stack shape such as 64x1024x1024 instead of the photo")
    parser.add_argument("--stack-skimage-iterations", type=int, default=30,
                        help="scikit-image RL iterations on the stack (default 30)")
    parser.add_argument("--fft-engines", nargs="*", default=None, metavar="ENGINE",
                        help="run each deconvkit method once per DECONVKIT_FFT value (e.g. scipy ducc)")
    parser.add_argument("--keep", help="folder for the inputs and outputs (default: a temporary one)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    if args.rl_time_to_quality:
        result = rl_time_to_quality(args)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            folder = pathlib.Path(args.keep or tmp)
            folder.mkdir(parents=True, exist_ok=True)
            result = stack_experiment(args, folder) if args.stack else photo_experiment(args, folder)
    result["machine"] = {"cpus": os.cpu_count(), "workers": os.environ.get("DECONVKIT_WORKERS", "all")}
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
