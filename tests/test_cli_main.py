"""deconvkit.cli: subcommands found by package scan, the protocol each follows, and no argparse outside."""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys

import pytest

import deconvkit.cli
from deconvkit.cli import add_subcommands, discover, main

SRC = pathlib.Path(deconvkit.cli.__file__).resolve().parents[1]
EXPECTED = {"blur", "deblur", "demo", "estimate", "methods", "train-segmentation", "transposed"}


def test_every_subcommand_module_follows_the_protocol():
    modules = discover(deconvkit.cli)
    assert EXPECTED <= {m.COMMAND for m in modules}
    for module in modules:
        assert isinstance(module.COMMAND, str) and isinstance(module.HELP, str) and "\n" not in module.HELP
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        assert callable(module.run)


def test_help_lists_every_command_and_python_m_works():
    result = subprocess.run([sys.executable, "-m", "deconvkit", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    for command in EXPECTED:
        assert command in result.stdout
    assert main([]) == 0


def test_transposed_without_an_action_prints_its_actions(capsys):
    assert main(["transposed"]) == 0
    assert "explain" in capsys.readouterr().out


def _fake_package(tmp_path, monkeypatch, files):
    root = tmp_path / "fakecli"
    root.mkdir()
    (root / "__init__.py").write_text("")
    for name, text in files.items():
        (root / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    return importlib.import_module("fakecli")


GOOD = ("COMMAND = '{0}'\nHELP = 'one line'\n"
        "def add_arguments(parser):\n    parser.add_argument('--n', type=int, default=1)\n"
        "def run(args):\n    return args.n\n")


def test_a_new_subcommand_is_one_file_and_a_broken_one_fails_loudly(tmp_path, monkeypatch):
    package = _fake_package(tmp_path, monkeypatch, {"hello.py": GOOD.format("hello"), "_helpers.py": "X = 1\n"})
    parser = argparse.ArgumentParser()
    add_subcommands(parser, package, "command", "COMMAND")
    args = parser.parse_args(["hello", "--n", "7"])
    assert args._run(args) == 7
    (tmp_path / "fakecli" / "half.py").write_text("COMMAND = 'half'\nHELP = 'no run'\n")
    with pytest.raises(ImportError, match="lacks add_arguments, run"):
        discover(package)
    (tmp_path / "fakecli" / "half.py").unlink()
    (tmp_path / "fakecli" / "twin.py").write_text(GOOD.format("hello"))
    with pytest.raises(ImportError, match="both define COMMAND = 'hello'"):
        add_subcommands(argparse.ArgumentParser(), package, "command", "COMMAND")
    for name in [n for n in sys.modules if n.startswith("fakecli")]:
        monkeypatch.delitem(sys.modules, name)


def test_library_modules_contain_no_argparse():
    offenders = [str(path.relative_to(SRC)) for path in SRC.rglob("*.py")
                 if "argparse" in path.read_text() and (SRC / "cli") not in path.parents]
    assert offenders == []
