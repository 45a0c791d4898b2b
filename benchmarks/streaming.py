"""Streaming image folders against the in-memory loader: images per second through the
training batch loader (`iterate_batches`, shuffled and augmented, the same batch size) and
peak resident memory, on a generated folder of PNG and JPEG images, side by side in one run.

Each loader runs in a fresh process, so its peak RSS is its own: the main process's, plus the
largest DataLoader worker's for streaming. Loading counts too: the in-memory loader decodes
every image once up front, the streaming one lists the files (and computes the channel
statistics in one streamed pass).

    .venv/bin/python benchmarks/streaming.py [--images 6000] [--size 64] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate


def generate_folder(root: Path, images: int, size: int, classes: int = 10) -> Path:
    """`images` random-texture RGB images of `size`×`size` in class sub-folders, alternately
    PNG and JPEG."""
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = root / "generated"
    for i in range(images):
        c = i % classes
        (folder / f"class-{c}").mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        pixels = np.kron(base, np.ones((size // 8, size // 8, 1), dtype=np.uint8))
        pixels = np.clip(pixels + rng.integers(-20, 20, pixels.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"class-{c}" / f"{i}.{'png' if i % 2 else 'jpg'}")
    return folder


def measure(folder: str, size: int, stream: bool, workers: int, batch: int, epochs: int,
            ) -> dict[str, float]:
    """Load the folder, then `epochs` shuffled, augmented passes of the batch loader."""
    import torch

    from bench.data.augment import Normalizer
    from bench.data.folder import load_image_folder
    from bench.data.loader import TrainData, iterate_batches

    torch.set_num_threads(1)
    start = time.perf_counter()
    data = load_image_folder(None, path=folder, size=size, channels=3, stream=stream,
                             workers=workers, test_fraction=0.01)
    loaded = time.perf_counter() - start
    train = TrainData(data.train_x, data.train_y)
    normalize = Normalizer(data.mean, data.std)
    generator = torch.Generator().manual_seed(0)
    start, seen = time.perf_counter(), 0
    for _ in range(epochs):
        for b in iterate_batches(train, batch, normalize, torch.device("cpu"), generator,
                                 augment=True):
            seen += len(b.y)
    elapsed = time.perf_counter() - start
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
              resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return {"load_s": loaded, "images_per_s": seen / elapsed, "peak_rss_mib": rss}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--measure", nargs=3, metavar=("FOLDER", "STREAM", "WORKERS"),
                        help=argparse.SUPPRESS)  # one measurement, in a fresh process
    args = parser.parse_args(argv)
    if args.measure:
        folder, stream, workers = args.measure
        print(json.dumps(measure(folder, args.size, stream == "1", int(workers), args.batch,
                                 args.epochs)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = generate_folder(Path(tmp), args.images, args.size)
        mib = args.images * 3 * args.size ** 2 / 2 ** 20
        print(f"{args.images} images ({args.size}×{args.size} RGB, {mib:.0f} MiB decoded), "
              f"batch {args.batch}, {args.epochs} epochs, 1 PyTorch thread\n")
        runs = [("in memory", "0", 0)] + [(f"streaming, {w} workers", "1", w)
                                          for w in args.workers]
        rows = []
        for label, stream, workers in runs:
            done = subprocess.run(
                [sys.executable, __file__, "--measure", str(folder), stream, str(workers),
                 "--size", str(args.size), "--batch", str(args.batch),
                 "--epochs", str(args.epochs)], capture_output=True, text=True, check=True)
            rows.append({"loader": label, **json.loads(done.stdout.splitlines()[-1])})
    base = rows[0]["images_per_s"]
    for row in rows:
        row["× in memory"] = row["images_per_s"] / base
    print(tabulate(rows, headers="keys", tablefmt="github", floatfmt=".2f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
