"""Pairwise rates and backfilling curves in a real unit's result, consistent with its matrix."""

import numpy as np
import pytest
import torch

from bench.metrics import POLICIES
from bench.resolve import load_dataset, resolve_scenario
from bench.results import load_result
from bench.runner import run_unit
from tests.conftest import TINY


def test_result_holds_pairwise_rates_and_backfilling_curves(plugins, tmp_path):
    spec = resolve_scenario(str(TINY), plugins)
    dataset = load_dataset(spec, plugins, None, download=False)
    cls = plugins.methods.get("l2")
    result = run_unit(spec, dataset, cls, cls.resolve_params("quick", {}), 0, "quick",
                      torch.device("cpu"), log=lambda _: None)
    assert result.status == "ok", result.error
    result.save(tmp_path / "r.json")
    result = load_result(tmp_path / "r.json")
    top1 = result.matrix("top1")
    T = len(top1)
    for name in ("pairwise-same", "pairwise-different"):
        rates = result.matrix(name)
        lower = rates[np.tril_indices(T, -1)]
        assert ((lower >= 0) & (lower <= 1)).all()
        assert np.isnan(rates[np.triu_indices(T)]).all()
    assert [(u["old_model"], u["new_model"]) for u in result.backfilling] == [(1, 2), (2, 3)]
    for u in result.backfilling:
        i, j = u["new_model"] - 1, u["old_model"] - 1
        assert [c["policy"] for c in u["curves"]] == sorted(POLICIES, key=list(POLICIES).index)
        for curve in u["curves"]:
            # No backfilling is new query vs old gallery; full backfilling is the new model alone.
            assert curve["top1"][0] == pytest.approx(top1[i, j], abs=0.01)
            assert curve["top1"][-1] == pytest.approx(top1[i, i], abs=0.01)
            assert 0 <= curve["area"] <= 1
    assert result.metrics["negative_flips"] == pytest.approx(np.mean(
        [u["curves"][0]["negative_flips"][0] for u in result.backfilling]))
    assert result.metrics["backfill_auc_random"] is not None


def test_version_1_results_still_load(tmp_path):
    import json

    from bench.results import RunResult

    raw = json.loads(RunResult("s", "m", 0, "quick", "ok",
                               matrices={"top1": [[0.9, None], [0.5, 0.8]]}).to_json())
    raw.pop("backfilling")
    raw.pop("growing_gallery")
    raw["schema_version"] = 1
    (tmp_path / "old.json").write_text(json.dumps(raw))
    assert load_result(tmp_path / "old.json").backfilling == []
