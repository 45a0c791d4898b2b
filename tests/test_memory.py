"""The replay memory: a fixed number of exemplars per class, chosen when the class arrives
(at random or by herding) and handed to every later step."""

import torch
import torch.nn.functional as F

from bench.data import TrainData
from bench.memory import herding, select_exemplars
from bench.testing import train_tiny
from plugins.independent import Independent


def test_herding_matches_the_class_mean_better_than_random_choices():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(300, 16, generator=g) + torch.linspace(0, 3, 16)
    normalised = F.normalize(features, dim=1)
    target = normalised.mean(0)
    chosen = herding(features, 10)
    assert len(set(chosen.tolist())) == 10
    herded_gap = (normalised[chosen].mean(0) - target).norm()
    random_gaps = [(normalised[torch.randperm(300, generator=g)[:10]].mean(0) - target).norm()
                   for _ in range(50)]
    assert herded_gap < min(random_gaps)


def test_select_exemplars_takes_k_per_class_and_no_more_than_there_are():
    data = TrainData(torch.arange(30, dtype=torch.uint8).view(30, 1, 1, 1),
                     torch.tensor([0] * 20 + [1] * 10))
    picked = select_exemplars(data, [0, 1], 12, "random", torch.Generator().manual_seed(1))
    assert torch.bincount(picked.y).tolist() == [12, 10]
    assert ((picked.x.view(-1) < 20) == (picked.y == 0)).all()  # each from its own class


def test_steps_get_the_memory_of_every_earlier_class(tmp_path):
    scenario = tmp_path / "replay.toml"
    scenario.write_text(
        'name = "replay"\ndescription = "d"\ndataset = "synthetic"\n'
        'dataset_options = { num_classes = 6, train_per_class = 40, test_per_class = 5 }\n'
        '[step_defaults]\ndata = "new-only"\nmemory_per_class = 7\n'
        'memory_selection = "herding"\nembedding_dim = 8\n'
        '[[steps]]\nnew_classes = 2\n[[steps]]\nnew_classes = 2\n[[steps]]\nnew_classes = 2\n'
        '[presets.quick]\nepochs = 1\nbatch_size = 32\n')
    steps = list(train_tiny(Independent, scenario=scenario))
    assert steps[0].step.memory is None
    for done in steps[1:]:
        memory, step = done.step.memory, done.step
        assert sorted(torch.unique(step.train.y).tolist()) == list(step.new_classes)
        assert torch.bincount(memory.y).tolist() == [7] * len(step.old_classes)
        assert len(step.training_data()) == len(step.train) + len(memory)
    # the memory is fixed once chosen: step 3 keeps step 2's exemplars of classes 0 and 1
    early = steps[1].step.memory
    assert torch.equal(steps[2].step.memory.x[:len(early)], early.x)

