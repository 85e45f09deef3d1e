"""``auto`` on an upscaled 8-bit JPEG: is the noise estimate too low, and what does it cost?

The case a user reported as "over-sharpened": a photo blurred, noisy, saved as an 8-bit JPEG, then enlarged
2x with a standard interpolation (Pillow's bicubic) before deblurring with the known PSF (enlarged with it).
Deterministic: scikit-image sample images resized to ``--size`` px (the native sharp image), blurred by
``deconvkit.blur`` (reflect), Gaussian noise of ``--noise`` (seeded), clipped, 8-bit, JPEG at each
``--quality`` (Pillow), decoded, enlarged 2x (Pillow bicubic, kept 8-bit: what an image editor saves).
The reference is the native sharp image enlarged by the same interpolation (float).

Reported per case (PSNR in dB on the enlarged grid, a border of 16 px left out):

* the noise: the true error of the enlarged JPEG against the enlarged clean blurred image (std), the true
  error at native resolution, and ``deconvkit.noise.estimate_noise`` on both;
* ``auto`` as a user runs it (noise estimated) and ``auto`` given ``noise_sigma=`` multiples of the
  estimate (``--factors``), and the best fixed TV weight (oracle over a log grid): what a better noise level
  would buy;
* ``auto`` on the JPEG at its own resolution with the native PSF, the result then enlarged: the workaround.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/jpeg_upscaled_noise.py
    python benchmarks/jpeg_upscaled_noise.py --images camera --quality 75 --factors 1,2   # quick
    python benchmarks/jpeg_upscaled_noise.py --native-table --images camera              # no enlargement
                                                      # (with the JPEG-aware level the CLI now passes)
    python benchmarks/jpeg_upscaled_noise.py --scale-ratio                                # a correlation test?
"""

from __future__ import annotations

import argparse
import io as byte_streams
import json
import sys
import time

import numpy as np

BORDER = 16
PSFS = {"gaussian": ("gaussian:sigma=1.5", "gaussian:sigma=3"),
        "motion": ("motion:length=9,angle=30", "motion:length=18,angle=30")}


def sample(name, size):
    from skimage import color, data, transform

    image = getattr(data, name)()
    if image.ndim == 3:
        image = color.rgb2gray(image[..., :3])
    image = image.astype(np.float64)
    if image.max() > 1.5:
        image = image / 255.0
    side = min(image.shape)
    image = image[:side, :side]
    return transform.resize(image, (size, size), anti_aliasing=True)


def enlarge(image, mode):
    """2x with Pillow's bicubic: ``mode`` "L" (8-bit in and out) or "F" (float)."""
    from PIL import Image

    if mode == "L":
        pil = Image.fromarray(np.asarray(image, np.uint8), mode="L")
    else:
        pil = Image.fromarray(np.asarray(image, np.float32), mode="F")
    out = pil.resize((pil.width * 2, pil.height * 2), Image.BICUBIC)
    return np.asarray(out, dtype=np.float64) / (255.0 if mode == "L" else 1.0)


def jpeg(image8, quality):
    from PIL import Image

    buffer = byte_streams.BytesIO()
    Image.fromarray(image8, mode="L").save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer), dtype=np.uint8)


def written_and_read(image8, quality):
    """``image8`` written to a temporary JPEG at ``quality`` (PNG when None) and read back by
    ``deconvkit.io.read_image``: (image, info)."""
    import os
    import tempfile

    from PIL import Image

    from deconvkit import io

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "in.png" if quality is None else "in.jpg")
        if quality is None:
            Image.fromarray(image8, mode="L").save(path)
        else:
            Image.fromarray(image8, mode="L").save(path, format="JPEG", quality=quality)
        image, info = io.read_image(path)
    return np.asarray(image, dtype=np.float64), info


def psnr(estimate, reference):
    inner = np.s_[BORDER:-BORDER, BORDER:-BORDER]
    error = np.mean((np.clip(estimate[inner], 0, 1) - reference[inner]) ** 2)
    return float(10 * np.log10(1.0 / error))


def case(name, psf_name, quality, args):
    import deconvkit
    from deconvkit import psf
    from deconvkit.noise import estimate_noise

    native_spec, enlarged_spec = PSFS[psf_name]
    sharp = sample(name, args.size)
    clean = deconvkit.blur(sharp, psf.parse(native_spec), boundary="reflect")
    rng = np.random.default_rng(args.seed)
    noisy8 = np.rint(np.clip(clean + rng.normal(0, args.noise, clean.shape), 0, 1) * 255).astype(np.uint8)
    decoded = jpeg(noisy8, quality)
    observed = enlarge(decoded, "L")
    reference = enlarge(sharp, "F")
    clean_enlarged = enlarge(clean, "F")
    row = {"image": name, "psf": psf_name, "quality": quality, "noise": args.noise,
           "true_native": float(np.std(decoded / 255.0 - clean)),
           "true_enlarged": float(np.std(observed - clean_enlarged)),
           "estimate_native": estimate_noise(decoded / 255.0),
           "estimate_enlarged": estimate_noise(observed),
           "psnr_observed": psnr(observed, reference)}
    # the workaround: deblur the JPEG at its own resolution (native PSF), then enlarge the result
    native = deconvkit.deconvolve(decoded / 255.0, psf.parse(native_spec), "auto")
    row["auto_native_then_enlarged"] = psnr(enlarge(np.clip(native, 0, 1), "F"), reference)
    if args.native_only:
        return row
    kernel = psf.parse(enlarged_spec)
    t = time.perf_counter()
    restored, info = deconvkit.deconvolve(observed, kernel, "auto", return_info=True)
    row["auto_s"] = time.perf_counter() - t
    row["auto"] = psnr(restored, reference)
    row["auto_method"] = info.get("method")
    row["auto_lam"] = info.get("lam")
    for factor in args.factors:
        sigma = factor * row["estimate_enlarged"]
        restored = deconvkit.deconvolve(observed, kernel, "auto", noise_sigma=sigma)
        row[f"auto_sigma_x{factor:g}"] = psnr(restored, reference)
    scores = {}
    for lam in np.geomspace(args.lam_range[0], args.lam_range[1], args.lam_points):
        restored = deconvkit.deconvolve(observed, kernel, "tv", lam=float(lam), boundary="unknown")
        scores[float(lam)] = psnr(restored, reference)
    best = max(scores, key=scores.get)
    row["tv_oracle"], row["tv_oracle_lam"] = scores[best], best
    row["tv_sweep"] = scores
    return row


def native_table(args):
    """No enlargement: 8-bit PNG (no JPEG) against JPEG at each quality, ``auto`` with the noise estimated and
    given the true error, PSNR on the native grid (8 px border)."""
    import deconvkit
    from deconvkit import psf
    from deconvkit.noise import estimate_noise, input_noise_sigma

    inner = np.s_[8:-8, 8:-8]

    def score(x, reference):
        return float(10 * np.log10(1.0 / np.mean((np.clip(x[inner], 0, 1) - reference[inner]) ** 2)))

    for name in args.images.split(","):
        sharp = sample(name, args.size)
        for psf_name in args.psfs.split(","):
            kernel = psf.parse(PSFS[psf_name][0])
            clean = deconvkit.blur(sharp, kernel, boundary="reflect")
            noisy = clean + np.random.default_rng(args.seed).normal(0, args.noise, clean.shape)
            noisy8 = np.rint(np.clip(noisy, 0, 1) * 255).astype(np.uint8)
            kinds = [("png", None)] + [(f"jpeg q{q}", int(q)) for q in args.quality.split(",")]
            for kind, quality in kinds:
                # through a file and read_image, as the CLI reads it: the JPEG's tables come with it
                image, file_info = written_and_read(noisy8, quality)
                true = float(np.std(image - clean))
                restored, info = deconvkit.deconvolve(image, kernel, "auto", return_info=True)
                given, given_info = deconvkit.deconvolve(image, kernel, "auto", noise_sigma=true, return_info=True)
                line = (f"{name} {psf_name} {kind}: observed {score(image, sharp):.2f}; true noise {true:.4f}, "
                        f"estimate {estimate_noise(image):.4f}; auto {score(restored, sharp):.2f} "
                        f"({info['method']}); auto given the true noise {score(given, sharp):.2f} "
                        f"({given_info['method']})")
                # what `deconvkit deblur` now gives it (None for a PNG: deconvolve estimates, as before)
                level = input_noise_sigma(image, file_info)
                if level is not None:
                    cli, cli_info = deconvkit.deconvolve(image, kernel, "auto", noise_sigma=level, return_info=True)
                    line += (f"; JPEG-aware level {level:.4f} ({level / true:.2f}x true), auto with it "
                             f"{score(cli, sharp):.2f} ({cli_info['method']})")
                print(line, flush=True)


RATIO_IMAGES = ("camera", "astronaut", "coffee", "moon", "brick", "grass", "rocket")
RATIO_PSFS = ("gaussian:sigma=1", "gaussian:sigma=2", "gaussian:sigma=3", "motion:length=9,angle=30",
              "motion:length=21,angle=80", "defocus:radius=4")


def scale_ratio_table(args):
    """Would a test for correlated noise separate the cases? The Haar estimate one scale coarser (on the
    orthonormal 2x2 approximation) over the finest one: about 1 for white noise on a blurred image."""
    import deconvkit
    from deconvkit import psf
    from deconvkit.noise import estimate_noise

    def coarser(image):
        rows, cols = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
        return image[:rows, :cols].reshape(rows // 2, 2, cols // 2, 2).sum(axis=(1, 3)) / 2.0

    ratios = {"8-bit PNG": [], "JPEG q90": [], "JPEG q75": [], "enlarged PNG": [], "enlarged JPEG q90": []}
    for name in RATIO_IMAGES:
        sharp = sample(name, args.size)
        for spec in RATIO_PSFS:
            clean = deconvkit.blur(sharp, psf.parse(spec), boundary="reflect")
            for noise in (0.002, 0.005, 0.01, 0.02):
                noisy = clean + np.random.default_rng(1).normal(0, noise, clean.shape)
                noisy8 = np.rint(np.clip(noisy, 0, 1) * 255).astype(np.uint8)
                images = {"8-bit PNG": noisy8 / 255.0, "JPEG q90": jpeg(noisy8, 90) / 255.0,
                          "JPEG q75": jpeg(noisy8, 75) / 255.0, "enlarged PNG": enlarge(noisy8, "L"),
                          "enlarged JPEG q90": enlarge(jpeg(noisy8, 90), "L")}
                for kind, image in images.items():
                    ratios[kind].append(estimate_noise(coarser(image)) / max(estimate_noise(image), 1e-6))
    for kind, values in ratios.items():
        values = np.array(values)
        print(f"{kind:18s} coarser/finest estimate: min {values.min():.2f}, median {np.median(values):.2f}, "
              f"max {values.max():.2f} ({values.size} cases)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", default="camera,astronaut")
    parser.add_argument("--psfs", default="gaussian,motion")
    parser.add_argument("--quality", default="75,90")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--factors", default="1.5,2,3,4")
    parser.add_argument("--lam-range", type=float, nargs=2, default=(1e-4, 3e-2))
    parser.add_argument("--lam-points", type=int, default=9)
    parser.add_argument("--native-only", action="store_true",
                        help="only the noise figures and auto at the JPEG's own resolution (then enlarged)")
    parser.add_argument("--native-table", action="store_true",
                        help="no enlargement: PNG against JPEG at native resolution, auto estimated vs given noise")
    parser.add_argument("--scale-ratio", action="store_true",
                        help="the coarser/finest Haar noise estimate over 7 images x 6 PSFs x 4 noise levels")
    parser.add_argument("--json", help="write the rows here too")
    args = parser.parse_args(argv)
    args.factors = [float(f) for f in args.factors.split(",") if f]
    if args.scale_ratio:
        scale_ratio_table(args)
        return 0
    if args.native_table:
        native_table(args)
        return 0
    rows = []
    for name in args.images.split(","):
        for psf_name in args.psfs.split(","):
            for quality in (int(q) for q in args.quality.split(",")):
                row = case(name, psf_name, quality, args)
                rows.append(row)
                if args.native_only:
                    print(f"{name} {psf_name} q{quality}: true noise {row['true_enlarged']:.4f} (native "
                          f"{row['true_native']:.4f}), estimate {row['estimate_enlarged']:.4f} (native "
                          f"{row['estimate_native']:.4f}); PSNR observed {row['psnr_observed']:.2f}, auto at "
                          f"native resolution, then enlarged {row['auto_native_then_enlarged']:.2f}", flush=True)
                    continue
                factors = " ".join(f"x{f:g} {row[f'auto_sigma_x{f:g}']:.2f}" for f in args.factors)
                print(f"{name} {psf_name} q{quality}: true noise {row['true_enlarged']:.4f} (native "
                      f"{row['true_native']:.4f}), estimate {row['estimate_enlarged']:.4f} (native "
                      f"{row['estimate_native']:.4f}); PSNR observed {row['psnr_observed']:.2f}, auto "
                      f"{row['auto']:.2f} ({row['auto_method']}), auto with sigma {factors}; auto at native "
                      f"resolution, then enlarged {row['auto_native_then_enlarged']:.2f}; TV oracle "
                      f"{row['tv_oracle']:.2f} at lam {row['tv_oracle_lam']:.2g} (auto lam "
                      f"{row['auto_lam'] if row['auto_lam'] is None else format(row['auto_lam'], '.2g')})",
                      flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
