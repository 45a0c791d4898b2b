"""The command line answers --help and --version without loading torch or any plugin."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["run", "--help"]])
def test_help_and_version_import_neither_torch_nor_plugins(args):
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "bench", *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "bench" in imported
    assert not imported & {"torch", "torchvision", "pandas", "numpy", "faiss", "plugins"}, (
        sorted(imported & {"torch", "torchvision", "pandas", "numpy", "faiss", "plugins"}))


def test_show_method_prints_the_card(capsys):
    from bench.cli import main

    assert main(["show", "method", "bct"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# bct (version ")
    assert "https://github.com/YantaoShen/openBCT" in out and "@inproceedings{" in out
    assert "## Deviations from the paper" in out and "| `weight`" in out
    assert main(["show", "method", "bcct"]) == 2
    assert "did you mean 'bct'" in capsys.readouterr().err
