"""`deconvkit train-segmentation`: importable without PyTorch, and a tiny training run end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# ---------------------------------------------------------------------------------------------- torch-free parts

def test_import_deconvkit_and_the_cli_module_do_not_import_torch():
    code = ("import argparse, sys, deconvkit, deconvkit.nn, deconvkit.cli.train_segmentation as cli; "
            "cli.add_arguments(argparse.ArgumentParser()); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_without_torch_reports_how_to_install_it():
    # Make `import torch` fail in a child process, as on an install without the extra.
    code = ("import sys; sys.modules['torch'] = None; from deconvkit.cli import main; "
            "sys.exit(main(['train-segmentation', '--epochs', '1']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "PyTorch is required: pip install 'deconvkit[torch]'" in proc.stderr


# ------------------------------------------------------------------------------------------------ training runs

def _cli(*args, cwd=None):
    env = dict(os.environ, OMP_NUM_THREADS="2")
    return subprocess.run([sys.executable, "-m", "deconvkit", "train-segmentation", *args], capture_output=True,
                          text=True, cwd=cwd, env=env)


def test_cli_trains_checkpoints_resumes_and_prints_json(tmp_path):
    pytest.importorskip("torch")
    tiny = ["--preset", "tiny", "--image-size", "32", "--train-size", "4", "--val-size", "2", "--quiet",
            "--json", "--out", str(tmp_path / "run")]
    first = _cli("--synthetic", "--epochs", "1", *tiny)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout.strip().splitlines()[-1])
    assert 0 <= result["miou"] <= 1 and result["epochs_run"] == 1
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    second = _cli("--synthetic", "--epochs", "2", "--resume", *tiny)
    assert second.returncode == 0, second.stderr
    resumed = json.loads(second.stdout.strip().splitlines()[-1])
    assert resumed["epochs_run"] == 1 and len(resumed["history"]) == 2
    assert resumed["history"][0] == result["history"][0]
    missing = _cli("--resume", "--epochs", "1", "--out", str(tmp_path / "nothing"), "--quiet")
    assert missing.returncode == 2 and "no checkpoint" in missing.stderr


def test_cli_trains_on_a_voc_layout_directory(tmp_path):
    pytest.importorskip("torch")
    from test_nn import _write_voc  # the VOC-layout writer the loader's own tests use

    _write_voc(tmp_path / "voc", [(40, 44), (48, 40), (40, 40)], num_classes=3)
    proc = _cli("--data", str(tmp_path / "voc"), "--num-classes", "3", "--preset", "tiny", "--image-size", "32",
                "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "held-out mIoU" in proc.stdout
