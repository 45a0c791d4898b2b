"""Third-party plugin packages installed with pip into a fresh environment, as a user would:
the example package and a `bench new-method` scaffold are discovered, pass their own tests
(the conformance suite through the pytest11 plugin) and are ranked by `bench run`."""

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "examples" / "bench-example-method"


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory):
    """A new virtual environment without packages of its own; this environment's packages
    (torch, compat-bench) are made visible through a .pth file instead of being reinstalled."""
    root = tmp_path_factory.mktemp("env")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")],
                   check=True)
    python = root / "venv" / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], check=True, capture_output=True, text=True)
    ours = sysconfig.get_paths()["purelib"]
    (Path(site.stdout.strip()) / "compat_bench_parent.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n")
    return root, python


def call(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([str(python), *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def pip_install(python: Path, package: Path, cwd: Path) -> None:
    call(python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", str(package), cwd=cwd)


def test_installed_plugins_are_discovered_tested_and_ranked(fresh_env):
    root, python = fresh_env
    example = root / EXAMPLE.name
    shutil.copytree(EXAMPLE, example)  # building writes into the source folder
    pip_install(python, example, root)
    call(python, "-m", "bench", "new-method", "my-method", "--directory", str(root), cwd=root)
    pip_install(python, root / "bench-my-method", root)

    plugins = call(python, "-m", "bench", "plugins", cwd=root).stdout
    assert "bench-example-method 0.1.0" in plugins and "method:example-relational" in plugins
    assert "bench-my-method 0.1.0" in plugins and "method:my-method" in plugins
    card = call(python, "-m", "bench", "show", "method", "example-relational", cwd=root).stdout
    assert card.startswith("# example-relational (version 1)")
    assert "(bench-example-method)" in card and "@inproceedings{park2019rkd" in card
    assert "ERROR" not in plugins

    for package in (example, root / "bench-my-method"):  # their own tests, as generated
        tests = call(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests",
                     cwd=package).stdout
        assert "passed" in tests and "failed" not in tests

    scenario = ROOT / "bench" / "testing" / "tiny.toml"
    out = call(python, "-m", "bench", "run", "--scenario", str(scenario), "--out",
               str(root / "results"), "--method", "example-relational", "--method",
               "my-method", "--method", "independent", cwd=root).stdout
    ranking = out[out.index("rank"):].splitlines()
    assert {"example-relational", "my-method", "independent"} <= {
        cell.strip() for line in ranking for cell in line.split("|")}
    result = json.loads((root / "results" / "conformance" / "example-relational" /
                         "seed-0.json").read_text())
    assert result["status"] == "ok"
    assert result["provenance"]["plugin"] == {"distribution": "bench-example-method",
                                             "version": "0.1.0"}
