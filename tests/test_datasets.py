"""The dataset loaders on small files that the tests write in each dataset's real on-disk
format (no download): CIFAR's python pickles, MNIST's IDX files, image folders."""

import gzip
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from bench.cli import main
from bench.errors import DataNotFoundError


def write_cifar(root, name: str, per_class: int = 6, num_classes: int = 4):
    """A CIFAR folder as torchvision extracts it: rows of 3072 bytes (R, G, B planes)."""
    rng = np.random.default_rng(0)
    layout = {"cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)],
                          "test_batch", "batches.meta", b"labels", b"label_names"),
              "cifar100": ("cifar-100-python", ["train"], "test", "meta", b"fine_labels",
                           b"fine_label_names")}[name]
    folder, train_files, test_file, meta, label_key, names_key = layout
    (root / folder).mkdir(parents=True)
    for file in [*train_files, test_file]:
        labels = np.repeat(np.arange(num_classes), per_class // 2 if file in train_files else 2)
        # class c's images are bright in channel c % 3 only, so they are learnable
        data = rng.integers(0, 60, (len(labels), 3, 32, 32), dtype=np.uint8)
        data[np.arange(len(labels)), labels % 3] += 150
        with open(root / folder / file, "wb") as f:
            pickle.dump({b"data": data.reshape(len(labels), 3072), label_key: labels.tolist()}, f)
    with open(root / folder / meta, "wb") as f:
        pickle.dump({names_key: [f"class{c}".encode() for c in range(num_classes)]}, f)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_reads_the_python_pickles(tmp_path, plugins, name):
    write_cifar(tmp_path, name)
    data = plugins.datasets.get(name)(tmp_path, False)
    train_files = 5 if name == "cifar10" else 1
    assert data.train_x.shape == (train_files * 12, 3, 32, 32) and data.train_x.dtype == torch.uint8
    assert data.test_x.shape == (8, 3, 32, 32) and data.class_names[:2] == ("class0", "class1")
    # the bright plane is the label's channel: the R, G, B planes were read in order
    means = data.train_x.float().mean((2, 3))
    assert (means.argmax(1) == data.train_y % 3).all()


def test_cifar_without_files_or_download_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_DATA", raising=False)
    from bench.data.cifar import load_cifar10

    with pytest.raises(DataNotFoundError, match="cifar-10-batches-py/ folder under --data-root"):
        load_cifar10(tmp_path, download=False)


def test_a_scenario_runs_end_to_end_on_cifar_files(tmp_path, capsys):
    write_cifar(tmp_path, "cifar10", per_class=40)
    scenario = tmp_path / "cifar.toml"
    scenario.write_text('name = "cifar-files"\ndescription = "d"\ndataset = "cifar10"\n'
                        '[step_defaults]\nembedding_dim = 8\n'
                        '[[steps]]\nnew_classes = 2\n[[steps]]\nnew_classes = 2\n'
                        '[presets.quick]\nepochs = 1\nbatch_size = 16\n')
    code = main(["run", "--scenario", str(scenario), "--method", "independent", "--data-root",
                 str(tmp_path), "--no-download", "--out", str(tmp_path / "results")])
    assert code == 0
    assert "independent" in capsys.readouterr().out
    assert (tmp_path / "results" / "cifar-files" / "independent" / "seed-0.json").is_file()


def write_idx(path, array: np.ndarray):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_mnist_reads_idx_files(tmp_path, plugins):
    folder = tmp_path / "mnist"
    folder.mkdir()
    images = np.arange(5 * 28 * 28).reshape(5, 28, 28) % 251
    for split, n in (("train", 5), ("t10k", 3)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images[:n])
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", np.arange(n))
    data = plugins.datasets.get("mnist")(tmp_path, False)
    assert data.train_x.shape == (5, 1, 28, 28) and data.test_x.shape == (3, 1, 28, 28)
    assert torch.equal(data.train_x[2, 0], torch.from_numpy(images[2].astype(np.uint8)))


def write_images(folder, classes=("cat", "dog", "owl"), per_class=5, size=(40, 30)):
    for c, name in enumerate(classes):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            colour = (80 * c, 10 * i, 200)
            Image.new("RGB", size, colour).save(folder / name / f"{i}.png")


def test_image_folder_with_train_and_test(tmp_path, plugins):
    write_images(tmp_path / "pets" / "train")
    write_images(tmp_path / "pets" / "test", per_class=2)
    data = plugins.datasets.get("imagefolder")(tmp_path, False, path="pets", size=16)
    assert data.class_names == ("cat", "dog", "owl")
    assert data.train_x.shape == (15, 3, 16, 16) and data.test_x.shape == (6, 3, 16, 16)
    assert data.train_x[data.train_y == 1][:, 0].float().mean().item() == pytest.approx(80, abs=1)


def test_image_folder_split_per_class_and_grey(tmp_path, plugins):
    write_images(tmp_path / "flat", per_class=10)
    data = plugins.datasets.get("imagefolder")(tmp_path, False, path="flat", size=8,
                                               channels=1, test_fraction=0.3)
    assert data.image_shape == (1, 8, 8)
    assert torch.bincount(data.test_y).tolist() == [3, 3, 3]
    assert torch.bincount(data.train_y).tolist() == [7, 7, 7]


def test_image_folder_reads_tiny_imagenet_validation_layout(tmp_path, plugins):
    root = tmp_path / "tiny-imagenet-200"
    write_images(root / "train", classes=("n01", "n02"), per_class=3)
    (root / "val" / "images").mkdir(parents=True)
    rows = []
    for i, name in enumerate(["n02", "n01", "n02"]):
        Image.new("RGB", (64, 64), (0, 0, 0)).save(root / "val" / "images" / f"val_{i}.JPEG")
        rows.append(f"val_{i}.JPEG\t{name}\t0\t0\t10\t10")
    (root / "val" / "val_annotations.txt").write_text("\n".join(rows) + "\n")
    data = plugins.datasets.get("imagefolder")(None, False, path=str(root), size=8)
    assert data.test_y.tolist() == [1, 0, 1]


def test_image_folder_errors_name_the_option(tmp_path, plugins):
    loader = plugins.datasets.get("imagefolder")
    with pytest.raises(DataNotFoundError, match=r"dataset_options\.path"):
        loader(tmp_path, False)
    with pytest.raises(DataNotFoundError, match="is not a folder"):
        loader(tmp_path, False, path="missing")


def test_dataset_swap_checks_the_classes_before_training(tmp_path, capsys):
    from tests.conftest import TINY

    write_cifar(tmp_path, "cifar10", per_class=8, num_classes=4)
    code = main(["run", "--scenario", str(TINY), "--dataset", "cifar10", "--data-root",
                 str(tmp_path), "--no-download", "--out", str(tmp_path / "results")])
    err = capsys.readouterr().err
    assert code == 2 and "the steps add 6 classes but dataset 'cifar10' has only 4" in err
    assert "training" not in err and not (tmp_path / "results").exists()
