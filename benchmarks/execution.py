"""Execution costs, measured side by side in one run on this machine:

- a cold run vs the same command again (every unit up to date) vs a re-run that lost its
  result files but kept the artifact store (every step restored, every cell reused);
- the same units serially vs with `--jobs 2` (loky workers, cores/2 threads each);
- compat-bench's training vs a bare PyTorch loop (benchmarks/overhead.py; needs Fashion-MNIST).

    .venv/bin/python benchmarks/execution.py [--skip-overhead]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bench.orchestration import RunConfig, run
from bench.results import result_path

SCENARIO = """\
name = "bench-execution"
description = "Three synthetic steps, sized so that a unit takes seconds."
family = "multistep"
dataset = "synthetic"
dataset_options = { num_classes = 6, train_per_class = 600, test_per_class = 100 }

[step_defaults]
embedding_dim = 32

[[steps]]
new_classes = 2
[[steps]]
new_classes = 2
[[steps]]
new_classes = 2

[presets.quick]
epochs = 4
batch_size = 64
lr = 0.05
warmup_epochs = 1.0
"""
METHODS, SEEDS = ["independent", "l2", "bct", "cores"], [0, 1]


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-overhead", action="store_true",
                        help="leave out the harness-vs-bare-PyTorch comparison (minutes)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-execution-"))
    scenario = work / "scenario.toml"
    scenario.write_text(SCENARIO)

    def config(out: str, jobs: int = 1) -> RunConfig:
        return RunConfig(scenario=str(scenario), methods=METHODS, seeds=SEEDS,
                         out_dir=work / out, jobs=jobs)

    quiet = {"log": lambda message: None}
    units = len(METHODS) * len(SEEDS)
    cold = timed(lambda: run(config("serial"), **quiet))
    cached = timed(lambda: run(config("serial"), **quiet))
    for method in METHODS:
        for seed in SEEDS:
            result_path(work / "serial", "bench-execution", method, seed).unlink()
    restored = timed(lambda: run(config("serial"), **quiet))
    parallel = timed(lambda: run(config("parallel", jobs=2), **quiet))

    print(f"{units} units ({', '.join(METHODS)} × seeds {SEEDS}) of a 3-step synthetic "
          f"scenario; {torch.get_num_threads()} PyTorch threads in this process")
    print(f"  cold run, serial:                            {cold:7.2f} s")
    print(f"  same command again (results up to date):     {cached:7.2f} s   "
          f"cold / cached = {cold / cached:6.1f}×")
    print(f"  results lost, store kept (all restored):     {restored:7.2f} s   "
          f"cold / restored = {cold / restored:6.1f}×")
    print(f"  cold run, --jobs 2:                          {parallel:7.2f} s   "
          f"serial / jobs 2 = {cold / parallel:6.2f}×")
    shutil.rmtree(work)

    if not args.skip_overhead:
        from overhead import measure  # benchmarks/ is on sys.path when run as a script

        m = measure()
        print("one quick multistep unit (independent, Fashion-MNIST, seed 0)")
        print(f"  harness training: {m['train']:6.1f} s, bare PyTorch loop: {m['bare']:6.1f} s, "
              f"harness / bare = {m['train'] / m['bare']:5.2f}×")


if __name__ == "__main__":
    main()
