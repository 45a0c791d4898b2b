"""How fast the command line answers: wall seconds (median of 5 runs, one after another) of
`bench --help`, `bench --version`, `bench list methods` (which discovers plugins, so loads
torch) and a bare `python -c pass`, printed side by side.

    .venv/bin/python benchmarks/startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "bench --help": [sys.executable, "-m", "bench", "--help"],
    "bench --version": [sys.executable, "-m", "bench", "--version"],
    "bench list methods": [sys.executable, "-m", "bench", "list", "methods"],
}


def seconds(command: list[str], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    bare = None
    for label, command in COMMANDS.items():
        took = seconds(command)
        bare = bare or took
        print(f"{label:<20} {took:6.2f} s  ({took / bare:5.1f}× bare python)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
