"""Peak memory and PSNR of single deconvkit methods on the photo of ``realsize.py``, without its peers.

The same child command (``deconvkit deblur photo.png --psf psf.npy --method M -o out.png``), child peak
(``realsize.run_child``) and per-method baseline (``realsize.method_baseline``: the same command on a
256x256 crop, then the full photo read) as ``realsize.py``; a method may carry ``--set`` parameters after a
colon, e.g. ``poisson_rl:iterations=8`` (the baseline then runs with them too). The photo is built once in
``--keep`` and reused by later calls.

Usage::

    python benchmarks/realsize_method.py --keep /tmp/photo rl_tv poisson_rl:iterations=8

Results are recorded in docs/benchmarks.md ("Memory per method").
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

import realsize


def measure(spec, photo, psf, sharp, folder):
    """One method (``name`` or ``name:key=value,...``): its row as ``realsize.py`` reports it."""
    from deconvkit import io

    name, _, settings = spec.partition(":")
    extra = [arg for pair in settings.split(",") if pair for arg in ("--set", pair)]
    out = folder / f"out_{name}.png"
    argv = [sys.executable, "-m", "deconvkit"] + realsize.deblur_command(name, photo, psf, out, folder) + extra
    wall, peak, code, stderr = realsize.run_child(argv)
    plain = realsize.deblur_command
    realsize.deblur_command = lambda *args: plain(*args) + extra  # the baseline runs the same parameters
    try:
        baseline = realsize.method_baseline(name, photo, psf, folder)
    finally:
        realsize.deblur_command = plain
    row = {"method": spec, "time_s": round(wall, 1), "peak_rss_bytes": peak, "baseline_rss_bytes": baseline,
           "returncode": code, "peak_over_baseline_bytes_per_value": round((peak - baseline) / sharp.size, 1)}
    if code == 0:
        row["psnr_db"] = round(realsize.psnr(io.read_image(out)[0], sharp), 2)
    else:
        row["error"] = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {code}"
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("methods", nargs="+", help="method names, optionally name:key=value,...")
    parser.add_argument("--photo-shape", default="3000x4000", help="rows x columns of the photo")
    parser.add_argument("--keep", required=True, help="folder for the photo (built there if absent)")
    args = parser.parse_args(argv)
    folder = pathlib.Path(args.keep)
    folder.mkdir(parents=True, exist_ok=True)
    photo, psf = folder / "photo.png", folder / "psf.npy"
    if not photo.exists():
        realsize.make_photo(folder, shape=tuple(int(v) for v in args.photo_shape.lower().split("x")))
    sharp = np.load(folder / "sharp.npy")
    for spec in args.methods:
        print(json.dumps(measure(spec, photo, psf, sharp, folder)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
