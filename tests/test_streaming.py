"""Image data sets read from their files batch by batch (bench.data.streaming): on a generated
folder of PNG and JPEG images, a scenario gives the same result streamed as held in memory,
list files describe the same data, and content keys follow the files."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from bench.cli import main
from bench.data.folder import load_image_folder
from bench.data.loader import TrainData
from bench.data.streaming import ImageFiles, concat_images
from bench.errors import DataNotFoundError
from bench.store import array_key

CLASSES, PER_CLASS = 6, 500


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory, fashion_mnist):
    """3,000 Fashion-MNIST test images of 6 classes as files under class sub-folders,
    alternately PNG and JPEG."""
    root = tmp_path_factory.mktemp("images") / "fashion-folder"
    for c in range(CLASSES):
        (root / f"class-{c}").mkdir(parents=True)
        members = torch.nonzero(fashion_mnist.test_y == c).squeeze(1)[:PER_CLASS]
        for k, i in enumerate(members.tolist()):
            image = Image.fromarray(fashion_mnist.test_x[i, 0].numpy())
            image.save(root / f"class-{c}" / f"{k}.{'png' if k % 2 == 0 else 'jpg'}")
    return root


def test_streamed_images_are_the_pixels_held_in_memory(image_folder):
    held = load_image_folder(None, path=str(image_folder), size=28, channels=1)
    streamed = load_image_folder(None, path=str(image_folder), size=28, channels=1, stream=True)
    assert isinstance(streamed.train_x, ImageFiles) and isinstance(held.train_x, torch.Tensor)
    assert streamed.train_x.shape == held.train_x.shape == (2400, 1, 28, 28)
    assert torch.equal(streamed.train_y, held.train_y)
    assert torch.equal(streamed.test_y, held.test_y)
    assert (streamed.mean, streamed.std) == (held.mean, held.std)
    index = torch.randperm(len(held.train_y), generator=torch.Generator().manual_seed(0))[:300]
    assert torch.equal(streamed.train_x[index].read(), held.train_x[index])
    batches = [index[:128], index[128:256], index[256:]]
    decoded = list(streamed.train_x.read_batches(batches))  # by two worker processes
    assert all(torch.equal(x, held.train_x[b]) for x, b in zip(decoded, batches, strict=True))
    mask = held.train_y == 3
    assert torch.equal(streamed.train_x[mask].read(), held.train_x[mask])


def test_a_list_file_describes_the_same_data_and_bad_rows_are_named(image_folder, tmp_path):
    rows = [f"{image_folder.name}/class-{c}/{k}.{'png' if k % 2 == 0 else 'jpg'},class-{c}"
            f"{',test' if k < 100 else ''}" for c in range(CLASSES) for k in range(PER_CLASS)]
    listing = image_folder.parent / "fashion.csv"
    listing.write_text("\n".join(rows) + "\n")
    data = load_image_folder(image_folder.parent, list_file="fashion.csv", size=28, channels=1,
                             stream=True)
    assert data.class_names == tuple(f"class-{c}" for c in range(CLASSES))
    assert len(data.test_y) == CLASSES * 100 + CLASSES * round(0.2 * 400)
    assert data.train_x.root == image_folder.parent
    bad = tmp_path / "bad.csv"
    bad.write_text("a.png,cat\nb.png,cat,holdout\n")
    with pytest.raises(DataNotFoundError, match=r"bad\.csv, line 2"):
        load_image_folder(None, list_file=str(bad))
    missing = tmp_path / "missing.csv"
    missing.write_text("nowhere.png,cat\n")
    with pytest.raises(DataNotFoundError, match="1 listed images do not exist"):
        load_image_folder(None, list_file=str(missing))
    with pytest.raises(DataNotFoundError, match="exactly one of"):
        load_image_folder(None, path=str(image_folder), list_file=str(listing))


def test_content_keys_follow_the_files(image_folder):
    files = load_image_folder(None, path=str(image_folder), size=28, channels=1,
                              stream=True).train_x
    assert isinstance(files, ImageFiles)
    first = files[:10]
    key = array_key(first)
    assert array_key(files[:10]) == key and array_key(files[1:11]) != key
    assert array_key(ImageFiles(files.root, first.paths, 32, 1)) != key  # another size
    touched = first.files()[0]
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    try:
        assert array_key(first) != key
    finally:
        os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert array_key(first) == key


def test_files_join_files_of_one_data_set_only(image_folder):
    files = load_image_folder(None, path=str(image_folder), size=28, channels=1,
                              stream=True).train_x
    assert isinstance(files, ImageFiles)
    joined = concat_images([files[:5], files[-3:]])
    assert isinstance(joined, ImageFiles) and len(joined) == 8
    assert np.array_equal(joined.paths, np.concatenate([files.paths[:5], files.paths[-3:]]))
    with pytest.raises(ValueError, match="held in memory with images read from files"):
        TrainData.merge([TrainData(files[:2], torch.zeros(2)),
                         TrainData(torch.zeros(2, 1, 28, 28, dtype=torch.uint8),
                                   torch.zeros(2))])


SCENARIO = """
name = "folder-{mode}"
description = "Three steps of two classes on a generated image folder, with a replay memory."
dataset = "imagefolder"
dataset_options = {{ path = "{path}", size = 28, channels = 1, stream = {stream}, workers = 2 }}
gallery_per_class = 50
[step_defaults]
embedding_dim = 16
data = "new-only"
memory_per_class = 20
[[steps]]
new_classes = 2
[[steps]]
new_classes = 2
[[steps]]
new_classes = 2
[presets.quick]
epochs = 2
batch_size = 64
lr = 0.05
"""


def test_a_scenario_gives_the_same_result_streamed_and_in_memory(image_folder, tmp_path,
                                                                monkeypatch):
    """Training (with replay memory), the leave-one-out matrices, the growing gallery and
    every metric agree exactly between the two loaders."""
    decoded: dict[str, int] = {"memory": 0, "stream": 0}
    read_batches = ImageFiles.read_batches

    def counted(self, batches, pin=False):
        decoded[mode] += len(batches)
        return read_batches(self, batches, pin)

    monkeypatch.setattr(ImageFiles, "read_batches", counted)
    results = {}
    for mode, stream in (("memory", "false"), ("stream", "true")):
        scenario = tmp_path / f"{mode}.toml"
        scenario.write_text(SCENARIO.format(mode=mode, path=image_folder, stream=stream))
        out = tmp_path / mode
        code = main(["run", "--scenario", str(scenario), "--method", "bct", "--out", str(out),
                     "--no-download"])
        assert code == 0
        results[mode] = json.loads((out / f"folder-{mode}" / "bct" / "seed-0.json").read_text())
    assert decoded["memory"] == 0 and decoded["stream"] > 0
    held, streamed = results["memory"], results["stream"]
    assert held["status"] == streamed["status"] == "ok"
    assert held["matrices"] == streamed["matrices"]
    assert held["growing_gallery"] == streamed["growing_gallery"]
    timing = {k for k in held["metrics"] if k.endswith("_time_s")}
    assert {k: v for k, v in held["metrics"].items() if k not in timing} == \
        {k: v for k, v in streamed["metrics"].items() if k not in timing}
    assert [s["curves"] for s in held["steps"]] == [s["curves"] for s in streamed["steps"]]


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    """240 random 16×16 RGB PNGs of 4 classes."""
    root = tmp_path_factory.mktemp("small") / "folder"
    rng = np.random.default_rng(0)
    for c in range(4):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(60):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(
                root / f"c{c}" / f"{i}.png")
    return root


def test_streamed_units_run_in_parallel_workers(small_folder, tmp_path):
    """`bench run --jobs 2`: each loky worker starts its own DataLoader workers."""
    scenario = tmp_path / "jobs.toml"
    scenario.write_text(
        'name = "jobs-stream"\ndescription = "d"\ndataset = "imagefolder"\n'
        f'dataset_options = {{ path = "{small_folder}", size = 16, channels = 3, '
        'stream = true, workers = 2 }\n[step_defaults]\nembedding_dim = 8\n'
        '[[steps]]\nnew_classes = 2\n[[steps]]\nnew_classes = 2\n'
        '[presets.quick]\nepochs = 1\nbatch_size = 16\n')
    out = tmp_path / "out"
    assert main(["run", "--scenario", str(scenario), "--method", "independent", "--method",
                 "bct", "--jobs", "2", "--out", str(out), "--no-download"]) == 0
    for method in ("independent", "bct"):
        result = json.loads((out / "jobs-stream" / method / "seed-0.json").read_text())
        assert result["status"] == "ok", result["error"]


def _decode_in_daemon(files: ImageFiles, queue) -> None:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batches = list(files.read_batches([torch.arange(4), torch.arange(4, 8)]))
    queue.put((torch.cat(batches).numpy(), [str(w.message) for w in caught]))


def test_a_daemonic_process_decodes_in_process(small_folder):
    """A Dask worker is daemonic and may not start processes: it decodes itself, and says so."""
    import multiprocessing

    files = load_image_folder(None, path=str(small_folder), size=16, stream=True).train_x
    assert isinstance(files, ImageFiles)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_decode_in_daemon, args=(files, queue), daemon=True)
    process.start()
    decoded, warned = queue.get(timeout=60)
    process.join(timeout=60)
    assert np.array_equal(decoded, files[:8].read().numpy())
    assert any("daemonic" in message for message in warned)
