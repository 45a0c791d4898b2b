"""What evaluation costs against the practical limit, side by side in one run.

For each size, in a fresh process (so that its peak RSS is its own), on synthetic class-clustered
64-d features:
- `cell`: every metric of one leave-one-out cell with its pairwise rates and its two backfilling
  curves (bench.evaluation.cells.score_cell, what each (i, i−1) cell of a unit computes), for
  N ≤ 10k; beyond, the retrieval metrics of 10k queries against an N-item gallery;
- `bare`: an exact faiss `IndexFlatIP` search (GEMM + top-5) of the same queries and gallery;
- `sorted`: the same GEMM, blocked, with every row of similarities sorted on all cores: the floor
  of any exact mAP, which needs the rank of every relevant item, not only the top k.
Then a quick multistep unit of `l2`, trained and scored, for the evaluation/training ratio.

    .venv/bin/python benchmarks/evaluation.py [--sizes 10000 100000 1000000] [--no-unit]
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

QUERIES = 10_000
DIM, CLASSES = 64, 10


def features(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    centres = np.random.default_rng(0).normal(size=(CLASSES, DIM))
    return (centres[labels] + 1.5 * rng.normal(size=(n, DIM))).astype(np.float32), labels


def measure(n: int, what: str) -> dict[str, float]:
    """Seconds of one evaluation of size `n` (run in its own process)."""
    import faiss

    from bench.evaluation.cells import score_cell
    from bench.evaluation.transform import stored_gallery
    from bench.metrics import POLICIES, retrieval_metrics
    from bench.metrics.retrieval import prepare

    gallery, labels = features(n, 1)
    start = time.perf_counter()
    if what in ("bare", "sorted"):
        q = prepare(gallery[:QUERIES] if n <= QUERIES else features(QUERIES, 2)[0])
        if what == "bare":
            index = faiss.IndexFlatIP(DIM)
            index.add(prepare(gallery))
            index.search(q, 5)
        else:
            sort_every_row(q, prepare(gallery))
    elif n <= QUERIES:
        old = features(n, 3)[0]
        score_cell([old, gallery], labels, stored_gallery([old, gallery]), 1, 0, 0, POLICIES)
    else:
        queries, query_labels = features(QUERIES, 2)
        retrieval_metrics(queries, query_labels, gallery, labels)
    return {"seconds": time.perf_counter() - start,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def sort_every_row(q: np.ndarray, g: np.ndarray) -> None:
    """Every similarity of `q` against `g`, one block at a time, each row sorted."""
    from bench.metrics.scan import BLOCK_ELEMENTS, in_parallel

    rows = max(1, BLOCK_ELEMENTS // len(g))
    for start in range(0, len(q), rows):
        sims = q[start:start + rows] @ g.T

        def sort_rows(part: slice, sims: np.ndarray = sims) -> None:
            sims[part].sort(axis=1)

        in_parallel(len(sims), sort_rows)


def in_subprocess(n: int, what: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", str(n), what], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def quick_unit() -> dict[str, float]:
    """Phase seconds of a quick multistep unit of `l2`, run as a user would."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "bench", "run", "--scenario", "multistep",
                        "--method", "l2", "--out", out], check=True, capture_output=True)
        result = json.loads(next(Path(out).glob("multistep/l2/seed-0.json")).read_text())
    return {k: result["metrics"][k] for k in ("train_time_s", "embed_time_s", "eval_time_s")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--no-unit", action="store_true", help="skip the quick multistep unit")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(int(args.child[0]), args.child[1])))
        return 0
    print(f"{'gallery':>9} {'queries':>8} {'what':<46} {'seconds':>8} {'× bare':>7} "
          f"{'× sorted':>8} {'peak RSS':>9}")
    for n in args.sizes:
        bare = in_subprocess(n, "bare")
        floor = in_subprocess(n, "sorted")
        cell = in_subprocess(n, "cell")
        what = ("every metric + pairwise + 2 backfilling curves" if n <= QUERIES
                else "top-1, top-5, mAP, mAP@R, R-precision")
        for label, row in (("faiss exact search, top-5 (the limit)", bare),
                           ("GEMM + every row sorted (exact mAP's floor)", floor), (what, cell)):
            print(f"{n:>9,} {min(n, QUERIES):>8,} {label:<46} {row['seconds']:>8.2f} "
                  f"{row['seconds'] / bare['seconds']:>6.1f}× "
                  f"{row['seconds'] / floor['seconds']:>7.1f}× {row['peak_rss_gib']:>7.2f} GiB",
                  flush=True)
    if not args.no_unit:
        unit = quick_unit()
        ratio = unit["eval_time_s"] / unit["train_time_s"]
        print(f"\nquick multistep unit (l2, seed 0): train {unit['train_time_s']:.1f} s, embed "
              f"{unit['embed_time_s']:.1f} s, evaluate {unit['eval_time_s']:.1f} s: evaluation "
              f"is {ratio:.2f}× training")
    return 0


if __name__ == "__main__":
    sys.exit(main())
