"""Decontamination speed and memory: flywheel's scanner vs a plain Python n-gram set, side by side.

Synthetic data made here: 10,000 eval instances (~100 words each, ~1M 8-grams) and
100,000 training prompts, 1% with a planted 30-word copy from an eval instance
(contaminated under the Tulu 3 rule) and 1% with a 7-word copy (a near miss, clean).
Both implementations apply the same rule and must drop the same prompts. Pinned to one
core. Timing passes run without tracemalloc; peak memory is a second pass with it.

    .venv/bin/python benchmarks/bench_decontamination.py [--eval 10000] [--train 100000]
"""

from __future__ import annotations

import argparse
import os
import random
import time
import tracemalloc

from flywheel.curation.decontamination import EvalIndex, scan_texts
from flywheel.text import words

N = 8
THRESHOLD = 0.5


def synthetic(n_eval: int, n_train: int, seed: int = 0) -> tuple[list[str], list[str], set[int]]:
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(20_000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]  # Zipf-like word frequencies
    evals = [" ".join(rng.choices(vocabulary, weights, k=rng.randint(80, 120))) for _ in range(n_eval)]
    train, planted = [], set()
    for i in range(n_train):
        text = rng.choices(vocabulary, weights, k=rng.randint(30, 60))
        kind = rng.random()
        if kind < 0.01 or kind > 0.99:
            source = evals[rng.randrange(n_eval)].split()
            length = 70 if kind < 0.01 else 7  # 70 of ~100 words: over half covered; 7 < n: a near miss
            start = rng.randrange(len(source) - length)
            text[5:5] = source[start : start + length]
            if kind < 0.01:
                planted.add(i)
        train.append(" ".join(text))
    return evals, train, planted


class PythonSetBaseline:
    """The obvious implementation: a dict from n-gram tuples to the instances holding them."""

    def __init__(self, evals: list[str]):
        self.instances = [words(text) for text in evals]
        self.ngrams: dict[tuple, set[int]] = {}
        for owner, tokens in enumerate(self.instances):
            for i in range(len(tokens) - N + 1):
                self.ngrams.setdefault(tuple(tokens[i : i + N]), set()).add(owner)

    def contaminated(self, text: str) -> bool:
        tokens = words(text)
        shared: dict[int, set[tuple]] = {}
        for i in range(len(tokens) - N + 1):
            gram = tuple(tokens[i : i + N])
            for owner in self.ngrams.get(gram, ()):
                shared.setdefault(owner, set()).add(gram)
        for owner, grams in shared.items():
            instance = self.instances[owner]
            covered = set()
            for i in range(len(instance) - N + 1):
                if tuple(instance[i : i + N]) in grams:
                    covered.update(range(i, i + N))
            if len(covered) / len(instance) > THRESHOLD:
                return True
        return False


def run_flywheel(evals, train):
    index = EvalIndex.from_texts([("bench", str(i), t) for i, t in enumerate(evals)], N)
    built = time.perf_counter()
    results = scan_texts(train, index, rule="tulu", threshold=THRESHOLD)
    return index, built, {i for i, hits in enumerate(results) if hits}


def run_baseline(evals, train):
    baseline = PythonSetBaseline(evals)
    built = time.perf_counter()
    return baseline, built, {i for i, text in enumerate(train) if baseline.contaminated(text)}


def measure(name, fn, evals, train):
    started = time.perf_counter()
    _, built, dropped = fn(evals, train)
    done = time.perf_counter()
    tracemalloc.start()
    fn(evals, train)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"name": name, "build_s": built - started, "scan_s": done - built, "total_s": done - started,
            "peak_mb": peak / 2**20, "dropped": dropped}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--eval", type=int, default=10_000)
    parser.add_argument("--train", type=int, default=100_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    evals, train, planted = synthetic(args.eval, args.train)
    eval_ngrams = sum(max(0, len(t.split()) - N + 1) for t in evals)
    print(f"{len(evals)} eval instances ({eval_ngrams / 1e6:.2f}M {N}-grams), {len(train)} training prompts, "
          f"{len(planted)} planted contaminations, one core")
    ours = measure("flywheel (sorted uint64, vectorised scan)", run_flywheel, evals, train)
    base = measure("baseline (Python set of n-gram tuples)", run_baseline, evals, train)
    for r in (ours, base):
        print(f"{r['name']:<45} build {r['build_s']:6.2f}s  scan {r['scan_s']:6.2f}s  total {r['total_s']:6.2f}s  "
              f"peak {r['peak_mb']:7.1f} MB  dropped {len(r['dropped'])}")
    agree = ours["dropped"] == base["dropped"]
    print(f"same prompts dropped: {agree}; planted found: {len(planted & ours['dropped'])}/{len(planted)}; "
          f"extra drops: {len(ours['dropped'] - planted)}")
    print(f"speed-up (baseline total / flywheel total): {base['total_s'] / ours['total_s']:.1f}x; "
          f"scan only: {base['scan_s'] / ours['scan_s']:.1f}x; memory ratio: {base['peak_mb'] / ours['peak_mb']:.1f}x less")
    if not agree:
        raise SystemExit("the two implementations disagree")


if __name__ == "__main__":
    main()
