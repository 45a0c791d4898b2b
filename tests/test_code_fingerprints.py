"""No stale verdicts: a method whose code changed is retrained on the next run, without a
`version` bump, whether it is built in or a third-party plugin; an edit that changes no code
(a comment, a docstring) reuses everything."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from bench.fingerprint import code_digest, harness_fingerprint, method_fingerprint
from bench.results import result_path
from tests.conftest import TINY, write_distribution

ROOT = Path(__file__).parents[1]


def test_a_digest_follows_the_code_not_its_comments_or_docstrings():
    code = 'def f(x):\n    """Twice."""\n    return 2 * x\n'
    assert code_digest(code) == code_digest(code.replace('"""Twice."""', '"""Double."""'))
    assert code_digest(code) == code_digest("# note\n" + code.replace("2 * x", "2*x  # why"))
    assert code_digest(code) != code_digest(code.replace("2 * x", "3 * x"))


def test_a_methods_card_fields_are_not_its_code():
    code = 'class M:\n    summary = "One."\n    code = "https://a"\n    k = 1\n'
    card = ("summary", "code")
    assert code_digest(code, card) == code_digest(
        code.replace("One.", "Two.").replace("https://a", "https://b"), card)
    assert code_digest(code, card) != code_digest(code.replace("k = 1", "k = 2"), card)
    assert code_digest(code) != code_digest(code.replace("One.", "Two."))


def test_the_fingerprints_name_distinct_code(plugins):
    bct, l2 = plugins.methods.get("bct"), plugins.methods.get("l2")
    assert method_fingerprint(bct) != method_fingerprint(l2)
    assert method_fingerprint(bct) == method_fingerprint(bct)
    assert harness_fingerprint("training") != harness_fingerprint("evaluation")


def bench_run(method: str, out: Path, pythonpath: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--scenario", str(TINY), "--method", method,
         "--out", str(out)], capture_output=True, text=True, cwd=out.parent,
        env={**os.environ, "BENCH_PROGRESS": "0", "PYTHONPATH": str(pythonpath)})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


THIRD_PARTY = """
    import bench

    class Scaled(bench.Method):
        name = "scaled"
        summary = "A third-party method whose loss scale the test edits."
        def train(self, step):
            model = step.new_model()
            return step.fit(model, lambda b: 1.0 * step.base_loss(model(b.x), b.y))

    @bench.hookimpl
    def bench_register_methods(register):
        register(Scaled)
"""


class Installed(NamedTuple):
    source: Path  # the module that defines the method
    method: str
    pythonpath: Path
    code_edit: tuple[str, str]  # a change to what the code does, not to its parameters


def third_party(root: Path) -> Installed:
    """A plugin distribution (module and entry point) installed into `root`."""
    write_distribution(root, {"scaled_plugin": THIRD_PARTY}, "scaled = scaled_plugin\n",
                       name="scaled-plugin", version="0.1")
    return Installed(root / "scaled_plugin.py", "scaled", root,
                     ("1.0 * step.base_loss", "0.5 * step.base_loss"))


def built_in(root: Path) -> Installed:
    """A copy of the built-in plugins that shadows the installed ones on the path."""
    shutil.copytree(ROOT / "plugins", root / "plugins",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return Installed(root / "plugins" / "l2.py", "l2", root,
                     ('defaults = {"weight":', 'defaults = {"weight": 0.0 +'))


@pytest.mark.parametrize("install", [built_in, third_party], ids=["built-in", "third-party"])
def test_editing_a_methods_code_retrains_it_without_a_version_bump(tmp_path, install):
    (tmp_path / "src").mkdir()
    plugin = install(tmp_path / "src")
    out = tmp_path / "runs"
    assert "computed 3 trained steps" in bench_run(plugin.method, out, plugin.pythonpath)
    result = result_path(out, "tiny", plugin.method, 0)
    before = json.loads(result.read_text())

    edit(plugin.source, "import bench", "# an edited comment\nimport bench")
    edit(plugin.source, 'summary = "', 'summary = "Edited. ')  # the card, not the code
    assert "up to date" in bench_run(plugin.method, out, plugin.pythonpath)

    edit(plugin.source, *plugin.code_edit)
    again = bench_run(plugin.method, out, plugin.pythonpath)
    assert "reused 0 trained steps" in again and "computed 3 trained steps" in again
    after = json.loads(result.read_text())
    assert after["params"] == before["params"]
    assert after["method_version"] == before["method_version"]
    assert after["provenance"]["code"]["method"] != before["provenance"]["code"]["method"]
    assert after["provenance"]["code"]["training"] == before["provenance"]["code"]["training"]
