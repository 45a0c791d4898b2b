"""Shared fixtures: the tiny synthetic scenario, plugins, Fashion-MNIST when present, and the
`margin` fixture every learned-behaviour assertion goes through.

A learned behaviour (one method beats another, a rate above a bar after training) rests on a
training trajectory, and the trajectory depends on the seed, the thread count and the CPU's
floating-point paths. So such tests take their seed from `--train-seed` and assert through
`margin`, which marks them `learned`; `benchmarks/margins.py` re-runs them under several seeds
and thread counts and prints how far each assertion cleared its bar.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from bench.data.fashion_mnist import load_fashion_mnist
from bench.errors import DataNotFoundError
from bench.plugins import load_plugins

TESTS = Path(__file__).parent
TINY = TESTS / "data" / "tiny.toml"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("compat-bench", "learned-behaviour tests")
    group.addoption("--train-seed", type=int, default=0,
                    help="training seed of the learned-behaviour tests (default 0)")
    group.addoption("--torch-threads", type=int, default=None,
                    help="PyTorch threads for this run and the bench processes it starts")
    group.addoption("--record-margins", type=Path, default=None, metavar="FILE",
                    help="append each learned-behaviour check's margin to FILE (JSON lines)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "learned: asserts a behaviour learned by training "
                                       "(selected automatically: the test uses `margin`)")
    threads = config.getoption("--torch-threads")
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)  # bench processes started by tests
        torch.set_num_threads(threads)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "margin" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.learned)


@dataclass
class Margin:
    """Asserts a learned behaviour against its bar, recording how far the run cleared it."""

    test: str
    seed: int
    record: Path | None

    def above(self, what: str, observed: float, bar: float, detail: object = "") -> None:
        """Assert `observed > bar`."""
        self._check(what, float(observed) - float(bar),
                    f"{what}: {float(observed):.4f} is not above {float(bar):.4f} {detail}")

    def below(self, what: str, observed: float, bar: float, detail: object = "") -> None:
        """Assert `observed < bar`."""
        self._check(what, float(bar) - float(observed),
                    f"{what}: {float(observed):.4f} is not below {float(bar):.4f} {detail}")

    def _check(self, what: str, margin: float, message: str) -> None:
        if self.record:
            row = {"test": self.test, "check": what, "seed": self.seed,
                   "threads": torch.get_num_threads(), "margin": margin}
            with self.record.open("a") as f:
                f.write(json.dumps(row) + "\n")
        assert margin > 0, message


@pytest.fixture(scope="session")
def seed(request: pytest.FixtureRequest) -> int:
    """The training seed of a learned-behaviour test (`--train-seed`)."""
    return request.config.getoption("--train-seed")


@pytest.fixture
def margin(request: pytest.FixtureRequest, seed: int) -> Margin:
    return Margin(request.node.nodeid, seed, request.config.getoption("--record-margins"))


@pytest.fixture(scope="session")
def plugins():
    return load_plugins()


@pytest.fixture(scope="session")
def fashion_mnist():
    """The real Fashion-MNIST; a failure (not a skip) under CI=true when it is missing."""
    try:
        return load_fashion_mnist(download=False)
    except DataNotFoundError as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must have Fashion-MNIST: {e}")
        pytest.skip(f"Fashion-MNIST not installed: {e}")


def write_distribution(root: Path, modules: dict[str, str], entry_points: str,
                       name: str = "fake-methods", version: str = "0.3") -> None:
    """Modules and a .dist-info with `bench` entry points under `root`: an installed
    distribution for whatever has `root` on its path."""
    import textwrap

    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("[bench]\n" + textwrap.dedent(entry_points))


def train_tiny(method, seed: int = 0):
    """`bench.testing.train_tiny` on the tests' three-step scenario."""
    from bench.testing import train_tiny as train

    return train(method, scenario=TINY, seed=seed)


def header_command(document: Path, program: str) -> list[str]:
    """The arguments of the command a generated document names in its header
    ("Generated by `PROGRAM ARGS`")."""
    header = re.search(rf"Generated by `{re.escape(program)} ([^`]*)`", document.read_text())
    assert header, f"{document} names no `{program}` command that generated it"
    return shlex.split(header.group(1))


def regenerated(document: Path, program: str, main: Callable[[list[str]], int],
                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The document as its header's command writes it today: the command re-run (`main` on its
    arguments) from the repository root with `--write` pointed into `tmp_path`, and that path
    named back as the document's own."""
    args = header_command(document, program)
    again = tmp_path / document.name
    args[args.index("--write") + 1] = str(again)
    monkeypatch.chdir(TESTS.parent)
    assert main(args) == 0
    return again.read_text().replace(str(again), str(document.relative_to(TESTS.parent)))
