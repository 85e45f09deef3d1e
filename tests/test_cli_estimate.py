"""`deconvkit estimate`: blind PSF estimation from the command line."""

import json

import numpy as np
from skimage import data

import deconvkit
from deconvkit.psf import motion


def test_cli_estimate_writes_psf_and_json(tmp_path, capsys):
    from deconvkit.cli import main

    blurred = deconvkit.blur(data.coins() / 255.0, motion(13, 20), boundary="valid", noise=0.005, rng=0)
    source = tmp_path / "blurred.npy"
    np.save(source, blurred)
    out = tmp_path / "psf.npy"
    assert main(["estimate", str(source), "--model", "motion", "-o", str(out), "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "motion" and abs(report["length"] - 13) <= 1
    written = np.load(out)
    assert written.shape == tuple(report["shape"]) and abs(written.sum() - 1) < 1e-5
    assert main(["estimate", str(tmp_path / "missing.png")]) == 3  # InputError's exit code
