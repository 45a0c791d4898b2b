"""Bad input gets an error that names the problem and the fix; a diverging method is stopped."""

import math
import subprocess
import sys

import pytest
import torch

import bench
from bench.data.synthetic import make_synthetic
from bench.errors import DataNotFoundError, ScenarioError
from bench.resolve import resolve_device
from bench.runner import run_unit
from bench.scenarios import load_scenario_file, scenario_from_dict
from tests.conftest import TINY


def cli(*args):
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True,
                          text=True, timeout=60)


def test_unknown_scenario_and_method():
    done = cli("run", "--scenario", "multistpe")
    assert done.returncode == 2 and "did you mean 'multistep'" in done.stderr
    done = cli("run", "--scenario", str(TINY), "--method", "bcd")
    assert done.returncode == 2 and "unknown method 'bcd'" in done.stderr
    done = cli("run", "--scenario", str(TINY), "--method", "l2", "--set", "l2.wieght=3")
    assert done.returncode == 2 and "did you mean 'weight'" in done.stderr


def test_missing_data_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_DATA", raising=False)
    from bench.data import fashion_mnist

    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "absent")
    with pytest.raises(DataNotFoundError) as info:
        fashion_mnist.load_fashion_mnist(tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path) in message and "apt-get install -y dataset-fashion-mnist" in message
    assert "--data-root" in message and "BENCH_DATA" in message


def test_malformed_scenario_names_file_and_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.read_text().replace("embedding_dim = 32", "embeding_dim = 32"))
    with pytest.raises(ScenarioError, match=r"bad.toml: step_defaults.embeding_dim: unknown key"):
        load_scenario_file(bad)
    raw = {"name": "x", "description": "d", "dataset": "synthetic",
           "steps": [{"new_classes": 2, "data": "everything"}], "presets": {"quick": {"epochs": 1}}}
    with pytest.raises(ScenarioError, match="data: must be one of cumulative, new-only"):
        scenario_from_dict(raw)


class Exploding(bench.Method):
    name = "exploding"
    summary = "Returns a NaN loss from the second step on."

    def train(self, step):
        model = step.new_model()

        def loss_fn(batch):
            loss = step.base_loss(model(batch.x), batch.y)
            return loss * math.nan if step.index == 2 else loss

        return step.fit(model, loss_fn)


def test_nan_guard_stops_the_method_and_names_it():
    spec = load_scenario_file(TINY)
    data = make_synthetic(num_classes=6, train_per_class=30, test_per_class=10)
    result = run_unit(spec, data, Exploding, {}, 0, "quick", torch.device("cpu"), log=lambda m: 0)
    assert result.status == "failed"
    assert "DivergenceError" in result.error
    assert "exploding step 2/3 diverged" in result.error and "iteration 1" in result.error
    assert len(result.steps) == 1  # step 1 finished and was recorded


def test_cuda_request_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(bench.BenchError, match="--device cpu"):
        resolve_device("cuda")


def test_show_results_of_an_empty_folder_names_the_fix(tmp_path, capsys):
    from bench.cli import main

    assert main(["show", "results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "results/multistep" in err


@pytest.mark.parametrize("args, message", [
    (["--seed", "-1"], "seed -1: seeds are integers from 0"),
    (["--seeds", "0"], "--seeds 0: give the number of seeds to run, 1 or more"),
    (["--data-root", "/nonexistent/fashion"], "--data-root /nonexistent/fashion: no such folder"),
    (["--set", "l2.wieght=2"], "did you mean 'weight'? Method 'l2' takes: weight."),
    (["--preset", "quik"], "no preset 'quik' (did you mean 'quick'?)"),
])
def test_bad_run_arguments_are_refused_before_any_work(args, message, tmp_path, capsys):
    from bench.cli import main

    assert main(["run", "--scenario", str(TINY), "--out", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing trained, nothing written


def test_version_is_printed(capsys):
    from bench.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("compat-bench ")


def test_missing_data_without_a_folder_or_download_says_both_fixes(monkeypatch):
    monkeypatch.delenv("BENCH_DATA", raising=False)
    from bench.data.fashion_mnist import load_mnist

    with pytest.raises(DataNotFoundError) as info:
        load_mnist(None, download=False)
    message = str(info.value)
    assert "no --data-root or BENCH_DATA folder given" in message
    assert "downloading is disabled (--no-download)" in message
    assert "- put them in a folder and pass --data-root DIR" in message
    assert "- or run without --no-download" in message
