"""Richardson-Lucy stopping rule: every iterate's PSNR and residual, and where each rule would stop.

Runs deconvkit's accelerated RL (default start, the problem's own noise estimate) iterate by iterate
(through the solver's set-up/step pieces, so one run scores every iterate) and reports, per case, the best
iterate, the plain discrepancy stop (first residual at the noise level) and the default rule
(``richardson_lucy.PLATEAU``), then the mean loss to the best iterate of each rule over a grid of plateau
values.

Sets (``--set``):

* ``calib``: scikit-image's ``chelsea``, ``coffee``, ``rocket``, ``clock``, ``brick`` (the sweep's
  calibration images, never the evaluation ones), 282 px crops blurred in the "valid" model by Levin kernels
  2, 4, 7 with 0.5-5% noise: where ``PLATEAU`` was chosen;
* ``synth``: the sweep's evaluation images ``camera``, ``astronaut``, ``coins``, ``moon``, same blurs;
* ``levin``: every third of the 32 Levin captures (true PSFs), scored with the Levin protocol.

Usage::

    python benchmarks/rl_stopping.py --set calib --json calib.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import deconvkit
from deconvkit._shared import check_psf
from deconvkit.solvers import Problem
from deconvkit.solvers import richardson_lucy as rl

LEVIN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "levin09"


def trace(blurred, psf, iterations):
    """Residual (mean square, sigma^2 units) of each iteration and each iterate on the frame."""
    stack = np.ascontiguousarray(blurred[None])
    problem = Problem(stack, check_psf(psf, 2, blurred.dtype, stack.shape[1:]), "unknown")
    setup = rl._RLSetup(problem, accelerate=True, damping=None, eps=None, penalty_gradient=None)
    state = setup.start("observed")
    residuals, iterates = [], []
    for _ in range(iterations):
        setup.step(state, measure=True)
        residuals.append((float(state.residual_rms) / problem.noise_sigma) ** 2)
        iterates.append(np.asarray(problem.crop(state.estimate))[0] - setup.offset)
    return residuals, iterates


def stop_at(residuals, plateau):
    """0-based index where the default rule (with ``plateau``) stops; the last one if it never does."""
    for k in range(1, len(residuals)):
        if rl._stop(residuals[k - 1], residuals[k]) if plateau == rl.PLATEAU else (
                residuals[k] <= 1 and residuals[k - 1] - residuals[k] < plateau):
            return k
    return len(residuals) - 1


def cases(which):
    if which == "levin":
        sys.path.insert(0, str(Path(__file__).parent))
        import levin

        for name, sharp, blurred, psf in levin.load_levin(LEVIN, quick=False)[::3]:
            yield name, blurred, psf, lambda x, s=sharp: levin.local_levin_score(x, s)[0], 25
        return
    from skimage import data
    from skimage.color import rgb2gray

    images = ({"chelsea": rgb2gray(data.chelsea()), "coffee": rgb2gray(data.coffee()),
               "rocket": rgb2gray(data.rocket()), "clock": data.clock() / 255, "brick": data.brick() / 255}
              if which == "calib" else
              {"camera": data.camera() / 255, "astronaut": rgb2gray(data.astronaut()),
               "coins": data.coins() / 255, "moon": data.moon() / 255})
    psfs = np.load(LEVIN / "psfs.npz")
    for name, image in images.items():
        image = image[128:128 + 282, 128:128 + 282].astype(np.float64)
        for kernel in (2, 4, 7):
            psf = psfs[f"psf{kernel}"]
            for noise in (0.005, 0.01, 0.02, 0.05):
                blurred = deconvkit.blur(image, psf, boundary="valid", noise=noise, rng=1)
                h = (image.shape[0] - blurred.shape[0]) // 2
                truth = image[h:h + blurred.shape[0], h:h + blurred.shape[1]]

                def score(x, t=truth):
                    return float(10 * np.log10(1 / np.mean((x - t) ** 2)))

                yield f"{name}_k{kernel}_{noise}", blurred, psf, score, 30 if noise < 0.02 else 15


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("calib", "synth", "levin"), default="calib")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    rows = []
    for name, blurred, psf, score, iterations in cases(args.set):
        residuals, iterates = trace(blurred, psf, iterations)
        psnr = [score(x) for x in iterates]
        best = int(np.argmax(psnr))
        plain = stop_at(residuals, np.inf)
        default = stop_at(residuals, rl.PLATEAU)
        rows.append({"case": name, "residuals": residuals, "psnr": psnr})
        print(f"{name:22s} best it {best + 1:2d} {psnr[best]:6.2f} | discrepancy it {plain + 1:2d} "
              f"{psnr[plain]:6.2f} | default it {default + 1:2d} {psnr[default]:6.2f}", flush=True)
    print("plateau   mean loss to best (dB)   worst   mean gain over plain discrepancy   worst")
    for plateau in (np.inf, 0.3, 0.2, rl.PLATEAU, 0.12, 0.1, 0.08):
        loss, gain = [], []
        for row in rows:
            psnr, k = row["psnr"], stop_at(row["residuals"], plateau)
            loss.append(max(psnr) - psnr[k])
            gain.append(psnr[k] - psnr[stop_at(row["residuals"], np.inf)])
        print(f"{plateau:7.3g}   {np.mean(loss):8.3f}   {np.max(loss):8.2f}   {np.mean(gain):+8.3f}   "
              f"{np.min(gain):+8.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
