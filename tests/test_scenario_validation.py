"""A malformed scenario is refused, naming the file, the key and the accepted values, before
anything trains."""

import dataclasses
import json
from pathlib import Path

import pytest

from bench.errors import BenchError, ScenarioError
from bench.orchestration import RunConfig, run
from bench.resolve import resolve_scenario
from bench.scenarios import Budget, StepSpec, load_scenario_file, scenario_from_dict
from bench.scenarios.loader import _TOP_KEYS


def scenario(**changes):
    raw = {"name": "s", "description": "d", "dataset": "synthetic",
           "dataset_options": {"num_classes": 6, "train_per_class": 20, "test_per_class": 5},
           "steps": [{"new_classes": 2}, {"new_classes": 2}], "presets": {"quick": {"epochs": 1}}}
    return raw | changes


@pytest.mark.parametrize(("changes", "message"), [
    ({"steps": [{"new_classes": 2, "loss": "cosineface"}]},
     "steps[1].loss: must be one of arcface, cosface, normface, softmax"),
    ({"steps": [{"new_classes": 2, "architecture": "resnet-152"}]},
     "steps[1].architecture: must be one of"),
    ({"steps": [{"new_classes": 2, "memory_per_class": 5, "memory_selection": "best"}]},
     "memory_selection: must be one of random, herding"),
    ({"steps": [{"new_classes": 2}, {"new_classes": 0, "data": "new-only"}]},
     "steps[2]: trains on nothing"),
    ({"evaluation_dataset": "mnist"}, "evaluation_dataset: is used only by protocol"),
    ({"gallery_per_class": -3}, "gallery_per_class: must be an integer ≥ 0"),
    ({"protocol": "open-world"}, "protocol: must be one of leave-one-out, growing-gallery"),
])
def test_invalid_values_name_the_key_and_the_accepted_values(changes, message):
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        scenario_from_dict(scenario(**changes), source="my.toml")


@pytest.mark.parametrize(("changes", "message"), [
    ({"class_order": [0, 1, 2, 99]}, "class_order: ids [99] are outside 0..5"),
    ({"steps": [{"new_classes": 4}, {"new_classes": 4}]}, "the steps add 8 classes but dataset"),
    ({"protocol": "transfer", "steps": [{"new_classes": 3}, {"new_classes": 3}]},
     "retrieves on the classes no step trains on, but the steps use all 6"),
])
def test_a_scenario_that_does_not_fit_its_dataset_fails_before_training(tmp_path, changes,
                                                                        message):
    raw = scenario(**changes)
    path = tmp_path / "bad.toml"
    path.write_text(to_toml(raw))
    spec = load_scenario_file(path)
    logs = []
    with pytest.raises(BenchError) as info:
        run(RunConfig(scenario=str(path), methods=["independent"], seeds=[0, 1],
                      out_dir=tmp_path / "out", download=False), log=logs.append)
    assert message in str(info.value) and str(path) in str(info.value), str(info.value)
    assert not any("training" in line for line in logs) and not (tmp_path / "out").exists()
    assert spec.name == "s"


def to_toml(raw) -> str:
    """Just enough TOML for these scenarios."""
    def value(v):
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, list):
            return "[" + ", ".join(map(str, v)) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return str(v)

    lines = [f"{k} = {value(v)}" for k, v in raw.items() if k not in ("steps", "presets")]
    for step in raw["steps"]:
        lines += ["[[steps]]", *(f"{k} = {value(v)}" for k, v in step.items())]
    for name, budget in raw["presets"].items():
        lines += [f"[presets.{name}]", *(f"{k} = {value(v)}" for k, v in budget.items())]
    return "\n".join(lines) + "\n"


DOCS = (Path(__file__).parents[1] / "docs" / "scenarios.md").read_text()


def test_the_documented_example_loads(tmp_path):
    example = DOCS.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.toml").write_text(example)
    spec = load_scenario_file(tmp_path / "example.toml")
    assert [s.architecture for s in spec.steps] == ["small-cnn", "small-cnn-wide"]
    assert spec.steps[1].loss == "cosface"


@pytest.mark.parametrize("key", sorted(
    _TOP_KEYS | {f.name for cls in (StepSpec, Budget) for f in dataclasses.fields(cls)}))
def test_every_key_is_documented(key):
    assert f"| `{key}` |" in DOCS, f"docs/scenarios.md has no row for the key {key}"


def test_every_catalog_scenario_is_documented_and_shown(plugins, capsys):
    from bench.cli import main

    for name in plugins.scenarios:
        if plugins.scenarios.source(name) == "compat-bench":
            assert f"| `{name}` |" in DOCS, f"docs/scenarios.md does not list {name}"
            assert main(["show", "scenario", name]) == 0
            shown = capsys.readouterr().out
            assert f"# {name}" in shown and "| preset" in shown and "quick" in shown
            assert "Fits " in shown or "files are not here" in shown, shown[-300:]


def test_every_catalog_scenario_rebuilds_from_its_recorded_form(plugins):
    """A result holds `to_dict()` (in memory right after training, from JSON once saved), and
    reports rebuild the scenario from it: both forms must give the same spec back."""
    for name in plugins.scenarios:
        spec = resolve_scenario(name, plugins)
        for recorded in (spec.to_dict(), json.loads(json.dumps(spec.to_dict()))):
            assert scenario_from_dict(recorded).to_dict() == spec.to_dict(), name


def test_show_refuses_a_scenario_its_dataset_cannot_hold(tmp_path, capsys):
    """`bench show scenario` checks the class counts as `bench run` does, before any run."""
    from bench.cli import main

    path = tmp_path / "big.toml"
    path.write_text(to_toml(scenario(steps=[{"new_classes": 4}, {"new_classes": 4}])))
    assert main(["show", "scenario", str(path)]) == 2
    assert "the steps add 8 classes but dataset 'synthetic' has only 6" in capsys.readouterr().err


def test_every_problem_is_reported_at_once_each_at_its_own_key():
    """A wrong default is reported where it is written (step_defaults), not at each step that
    inherits it; typos get the closest accepted key or value; all problems come in one error."""
    raw = scenario(step_defaults={"embedding_dim": "64", "architecure": "resnet18"},
                   presets={"quick": {"epochs": 1, "batchsize": 8}},
                   steps=[{"new_classes": 2, "loss": "arcfase"}, {"new_classes": 2}])
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(raw, source="my.toml")
    message = str(info.value)
    assert message.startswith("my.toml: 4 problems:"), message
    for expected in ("step_defaults.embedding_dim: must be int, got '64'",
                     "step_defaults.architecure: unknown key; did you mean 'architecture'?",
                     "presets.quick.batchsize: unknown key; did you mean 'batch_size'?",
                     "steps[1].loss: must be one of arcface, cosface, normface, softmax, got "
                     "'arcfase' (did you mean 'arcface'?)"):
        assert expected in message, message
    assert "steps[2]" not in message and "steps[1].embedding_dim" not in message
