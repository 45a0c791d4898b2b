"""The whole pipeline on the synthetic dataset, through the real `bench` console script."""

import json
import subprocess
import sys

import numpy as np

from bench.results import SCHEMA_VERSION, load_result, result_path
from tests.conftest import TINY


def test_two_methods_three_steps(tmp_path, seed, margin):
    cmd = [sys.executable, "-m", "bench.cli", "run", "--scenario", str(TINY),
           "--method", "independent", "--method", "l2", "--seed", str(seed),
           "--out", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Ranked by AC, then AM" in done.stdout
    assert "### independent: top-1 compatibility matrix" in done.stdout
    assert "### l2: top-1 compatibility matrix" in done.stdout
    assert (tmp_path / "tiny" / "backfilling.png").stat().st_size > 10_000
    for method in ("independent", "l2"):
        result = load_result(result_path(tmp_path, "tiny", method, seed))
        assert result.status == "ok"
        C = result.matrix("top1")
        assert C.shape == (3, 3)
        assert np.isnan(C[np.triu_indices(3, 1)]).all()
        # Trained models retrieve far above chance (1/6) on their own gallery.
        margin.above(f"{method}'s lowest own-gallery top-1 over 0.5", np.diag(C).min(), 0.5)
        assert [s["train_samples"] for s in result.steps] == [300, 600, 900]
        assert result.provenance["torch"] and result.provenance["plugin"]["distribution"]
        raw = json.loads(result_path(tmp_path, "tiny", method, seed).read_text())
        assert raw["schema_version"] == SCHEMA_VERSION and raw["unit_key"]
    # Regressing onto the old features buys cross-model accuracy that independent training lacks.
    independent = load_result(result_path(tmp_path, "tiny", "independent", seed))
    l2 = load_result(result_path(tmp_path, "tiny", "l2", seed))
    margin.above("l2's cell (3, 2) over independent's", l2.matrix("top1")[2, 1],
                 independent.matrix("top1")[2, 1])

    # The saved results can be shown again, with the same ranked table, without training and
    # without writing anything.
    (tmp_path / "tiny" / "backfilling.png").unlink()
    shown = subprocess.run([sys.executable, "-m", "bench.cli", "show", "results",
                            str(tmp_path / "tiny")], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    table = done.stdout[done.stdout.index("| rank"):done.stdout.index("### ")]
    assert table in shown.stdout
    assert not (tmp_path / "tiny" / "backfilling.png").exists()

    # A second identical run finds every unit up to date and trains nothing.
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0
    assert again.stderr.count("up to date") == 2 and "training" not in again.stderr
