"""MinHash sketches for near-duplicate detection: datasketch's sha1-per-shingle ``update_batch`` (what
flywheel used before) against flywheel's numpy sketch (a cached hash per word, shingles and permutations
in numpy), on the same texts, in the same process.

Texts are about 200 words from a small vocabulary, like the round-scale benchmark's responses. Half
come in pairs: a text and a copy with some words changed (true Jaccard of word 5-grams spread over
0.3-1.0). Both sketches go through the same datasketch ``MinHashLSH`` at threshold 0.8; the benchmark
prints texts per second for each, the speed-up, and how each decides the pairs against the exact
Jaccard (pairs at or above 0.8 found; pairs below 0.6 wrongly flagged). Then it builds the LSH
index both ways, datasketch's ``MinHashLSH`` and flywheel's ``BandIndex``, and prints their time,
the memory each holds per row, and whether they give the same candidates.

    .venv/bin/python benchmarks/bench_minhash.py [--texts 20000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from datasketch import MinHash, MinHashLSH

from flywheel.curation.dedup import BandIndex, _prototype, lsh_bands, minhash, shingles

VOCABULARY = [f"word{i}" for i in range(2000)] + "the of and to in is that for it as with".split() * 50


def texts_and_pairs(count: int, seed: int = 0) -> tuple[list[str], list[tuple[int, int, float]]]:
    rng = random.Random(seed)
    texts, pairs = [], []
    while len(texts) < count:
        base = [rng.choice(VOCABULARY) for _ in range(rng.randrange(150, 250))]
        edited = list(base)
        for _ in range(rng.randrange(0, 25)):
            edited[rng.randrange(len(edited))] = rng.choice(VOCABULARY)
        left, right = " ".join(base), " ".join(edited)
        truth = len(shingles(left, 5) & shingles(right, 5)) / len(shingles(left, 5) | shingles(right, 5))
        pairs.append((len(texts), len(texts) + 1, truth))
        texts += [left, right]
    return texts, pairs


def datasketch_sha1(text: str, size: int, num_perm: int) -> MinHash:
    """flywheel's sketch before this change: datasketch's update_batch over sha1 of each shingle."""
    prototype = _prototype(num_perm)
    sketch = MinHash(num_perm=num_perm, seed=1, permutations=prototype.permutations, scheme=prototype.scheme)
    sketch.update_batch(list(shingles(text, size)))
    return sketch


def decide(sketch_fn, texts, pairs, num_perm=128, threshold=0.8) -> dict:
    started = time.perf_counter()
    sketches = [sketch_fn(text, 5, num_perm) for text in texts]
    seconds = time.perf_counter() - started
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, params=lsh_bands(threshold, num_perm))
    for index, sketch in enumerate(sketches):
        lsh.insert(index, sketch)
    found = {(i, j) for i, j, _ in pairs if j in lsh.query(sketches[i])}
    near = [(i, j) for i, j, truth in pairs if truth >= threshold]
    far = [(i, j) for i, j, truth in pairs if truth < 0.6]
    return {"seconds": seconds, "texts_per_second": len(texts) / seconds,
            "recall_at_0.8": sum(p in found for p in near) / max(1, len(near)),
            "false_positive_below_0.6": sum(p in found for p in far) / max(1, len(far)),
            "n_near": len(near), "n_far": len(far)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=20000)
    args = parser.parse_args()
    texts, pairs = texts_and_pairs(args.texts)
    minhash(texts[0], 5, 128)  # warm the word-hash cache's code path, not the benchmark's words
    results = {"datasketch sha1 (before)": decide(datasketch_sha1, texts, pairs),
               "numpy (flywheel)": decide(minhash, texts, pairs)}
    for name, r in results.items():
        print(f"{name:<26} {r['seconds']:7.2f} s  {r['texts_per_second']:9.0f} texts/s  "
              f"recall(J>=0.8) {r['recall_at_0.8']:.3f} of {r['n_near']}  "
              f"false positives(J<0.6) {r['false_positive_below_0.6']:.3f} of {r['n_far']}")
    before, after = results["datasketch sha1 (before)"], results["numpy (flywheel)"]
    print(f"speed-up: {before['seconds'] / after['seconds']:.1f}x on {len(texts):,} texts")
    compare_indexes([minhash(text, 5, 128) for text in texts])


def compare_indexes(sketches, threshold=0.8, num_perm=128) -> None:
    """The LSH index that dedup keeps for a round's rows: datasketch's MinHashLSH against flywheel's
    BandIndex, the same sketches queried then inserted in order, memory traced (tracemalloc sees numpy).
    BandIndex's figure includes a uint32 copy of every sketch, which dedup keeps for its Jaccard
    estimates; datasketch's does not include the LeanMinHash objects dedup kept beside it."""
    bands = lsh_bands(threshold, num_perm)

    def datasketch_index():
        index = MinHashLSH(threshold=threshold, num_perm=num_perm, params=bands)
        found = []
        for i, sketch in enumerate(sketches):
            found.append(tuple(sorted(index.query(sketch))))
            index.insert(i, sketch)
        return index, found

    def band_index():
        index = BandIndex(*bands)
        found = []
        for sketch in sketches:
            found.append(tuple(sorted(index.candidates(sketch.hashvalues))))
            index.insert(sketch.hashvalues.astype(np.uint32))  # dedup keeps the uint32 sketch itself
        return index, found

    figures = {}
    for name, build in [("datasketch MinHashLSH", datasketch_index), ("BandIndex (flywheel)", band_index)]:
        tracemalloc.start()
        started = time.perf_counter()
        index, found = build()
        seconds = time.perf_counter() - started
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        figures[name] = (seconds, held, found)
        print(f"{name:<26} {seconds:7.2f} s  {held / len(sketches):7.0f} bytes held a row")
        del index
    (t0, m0, f0), (t1, m1, f1) = figures.values()
    print(f"index: {m0 / m1:.1f}x less memory, {t0 / t1:.1f}x the speed; same candidates for every text: {f0 == f1}")


if __name__ == "__main__":
    main()
