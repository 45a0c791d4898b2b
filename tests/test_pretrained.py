"""Library backbones from pretrained weights on disk (bench.models.pretrained): a
pretrained-upgrade scenario runs on the CPU from weight files the test writes, the weights'
hash keys the unit and is in its provenance, and absent weights name what to fetch."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
import torchvision

from bench.cli import main
from bench.errors import ScenarioError
from bench.models import build_backbone
from bench.models.pretrained import WeightsNotFoundError, weights_file
from bench.plugins import load_plugins
from bench.resolve import resolve_scenario
from bench.runner import unit_key

OLD, NEW = "shufflenet_v2_x0_5", "mobilenet_v3_small"

SCENARIO = """
name = "pretrained-files"
description = "A pretrained ShuffleNet upgraded to a pretrained MobileNet on synthetic images."
family = "pretrained-upgrade"
dataset = "synthetic"
dataset_options = {{ num_classes = 4, train_per_class = 40, test_per_class = 10, size = 32 }}
[step_defaults]
embedding_dim = 16
[[steps]]
new_classes = 2
architecture = "torchvision:{old}"
weights = "weights/old.pth"
[[steps]]
new_classes = 2
architecture = "torchvision:{new}"
weights = "{new_weights}"
[presets.quick]
epochs = 1
batch_size = 16
lr = 0.01
"""


def save_random_weights(name: str, path, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = torchvision.models.get_model(name, weights=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return net


@pytest.fixture
def weights(tmp_path):
    old = save_random_weights(OLD, tmp_path / "weights" / "old.pth", 1)
    new = save_random_weights(NEW, tmp_path / "weights" / "new.pth", 2)
    return old, new


def test_a_library_backbone_starts_from_the_weights_file(weights, tmp_path):
    old, _ = weights
    backbone, dim = build_backbone(f"torchvision:{OLD}", 1, str(tmp_path / "weights/old.pth"))
    assert dim == old.fc.in_features == 1024
    loaded = backbone[1].state_dict()  # behind the grey-to-RGB repeat
    assert all(torch.equal(loaded[k], v) for k, v in old.state_dict().items()
               if not k.startswith("fc."))
    assert backbone(torch.zeros(2, 1, 32, 32)).shape == (2, 1024)
    rgb, _ = build_backbone(f"torchvision:{NEW}", 3)
    assert rgb(torch.zeros(2, 3, 32, 32)).shape == (2, 1024)


def test_a_pretrained_upgrade_runs_on_the_cpu_and_the_weights_key_it(weights, tmp_path):
    scenario = tmp_path / "pretrained.toml"
    scenario.write_text(SCENARIO.format(old=OLD, new=NEW, new_weights="weights/new.pth"))
    out = tmp_path / "results"
    assert main(["run", "--scenario", str(scenario), "--method", "bct", "--out", str(out),
                 "--no-download"]) == 0
    result = json.loads((out / "pretrained-files" / "bct" / "seed-0.json").read_text())
    assert result["status"] == "ok"
    digests = {str(i): hashlib.sha256((tmp_path / "weights" / f"{n}.pth").read_bytes())
               .hexdigest() for i, n in ((1, "old"), (2, "new"))}
    assert result["provenance"]["weights"] == digests
    assert result["scenario_spec"]["steps"][0]["weights"] == str(tmp_path / "weights/old.pth")
    plugins = load_plugins()
    spec = resolve_scenario(str(scenario), plugins)
    bct = plugins.methods.get("bct")
    key = unit_key(spec, bct, {}, 0, "quick")
    save_random_weights(NEW, tmp_path / "weights" / "new.pth", 3)  # other weights, same path
    assert unit_key(spec, bct, {}, 0, "quick") != key


def test_absent_weights_name_what_to_fetch(tmp_path, monkeypatch):
    with pytest.raises(WeightsNotFoundError, match=r"old\.pth .* does not exist"):
        weights_file(f"torchvision:{OLD}", str(tmp_path / "old.pth"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsNotFoundError, match=r"fetch https://download\.pytorch\.org/"
                                                   r"models/resnet18-f37072fd\.pth to .*torch/"
                                                   r"hub/checkpoints/resnet18-f37072fd\.pth"):
        weights_file("torchvision:resnet18", "IMAGENET1K_V1")
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    assert weights_file("torchvision:resnet18", "IMAGENET1K_V1") == cached
    with pytest.raises(WeightsNotFoundError, match="has no weights 'IMAGENET9K'"):
        weights_file("torchvision:resnet18", "IMAGENET9K")


def test_scenario_files_name_bad_architectures_and_weights(tmp_path):
    scenario = tmp_path / "bad.toml"
    scenario.write_text(SCENARIO.format(old="resnet5O", new=NEW, new_weights=""))
    with pytest.raises(ScenarioError, match=r"steps\[1\]\.architecture: torchvision has no "
                                            r"classification model 'resnet5O' \(did you mean "
                                            r"'resnet50'\?\)"):
        resolve_scenario(str(scenario), load_plugins())
    scenario.write_text(SCENARIO.format(old=OLD, new=NEW, new_weights="")
                        .replace(f'architecture = "torchvision:{OLD}"', ""))
    with pytest.raises(ScenarioError, match=r"steps\[1\]\.weights: pretrained weights need a "
                                            r"library network"):
        resolve_scenario(str(scenario), load_plugins())


def test_timm_backbones_load_state_dicts_and_safetensors(tmp_path, monkeypatch):
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = timm.create_model("resnet10t", pretrained=False)
    torch.save(net.state_dict(), tmp_path / "resnet10t.pth")
    save_file(net.state_dict(), str(tmp_path / "resnet10t.safetensors"))
    for name in ("resnet10t.pth", "resnet10t.safetensors"):
        backbone, dim = build_backbone("timm:resnet10t", 3, str(tmp_path / name))
        assert dim == net.num_features == 512
        assert torch.equal(backbone.conv1[0].weight, net.conv1[0].weight)
        assert backbone(torch.zeros(2, 3, 32, 32)).shape == (2, 512)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(WeightsNotFoundError, match=r"timm\.create_model\('resnet10t', "
                                                   r"pretrained=True\)"):
        weights_file("timm:resnet10t", "DEFAULT")


def test_the_catalog_pretrained_upgrade_runs_from_torchvisions_cache(tmp_path, monkeypatch,
                                                                     plugins, fashion_mnist):
    """The catalog scenario, on 1 % of Fashion-MNIST for one epoch, with random-init weights
    written where torch's cache keeps ImageNet weights: what a user with the cache gets."""
    import dataclasses

    from bench.runner import run_unit
    from bench.scenarios import Budget

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    spec = plugins.scenarios.get("pretrained-upgrade")
    for step in spec.steps:
        name = step.architecture.partition(":")[2]
        url = torchvision.models.get_model_weights(name)[step.weights].url
        save_random_weights(name, tmp_path / "torch" / "hub" / "checkpoints" /
                            url.rpartition("/")[2], 0)
    small = dataclasses.replace(
        spec, steps=tuple(dataclasses.replace(s, fraction=0.01) for s in spec.steps),
        presets={"quick": Budget(epochs=1, batch_size=32, lr=0.01)})
    keep = torch.arange(len(fashion_mnist.test_y)) % 20 == 0
    data = dataclasses.replace(fashion_mnist, test_x=fashion_mnist.test_x[keep],
                               test_y=fashion_mnist.test_y[keep])
    cls = plugins.methods.get("l2")
    result = run_unit(small, data, cls, cls.resolve_params("quick", {}), 0, "quick",
                      torch.device("cpu"), log=lambda _: None)
    assert result.status == "ok", result.error
    assert set(result.provenance["weights"]) == {"1", "2"}
    assert [s["feature_dim"] for s in result.steps] == [128, 128]
