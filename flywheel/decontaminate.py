"""decontaminate: drop training examples whose text overlaps an evaluation set by n-grams.

Text is normalised (Unicode NFKC, lower case) and split into words by ``\\w+``, so
punctuation never joins or splits a word. Each word hashes to a stable 64-bit value
(blake2b) and an n-gram's hash is a polynomial of its words' hashes, wrapping mod 2**64;
the evaluation index is one sorted ``uint64`` array searched by binary search.

Rules:
- ``tulu`` (Tulu 3): a training example matches an eval instance when more than
  ``threshold`` of the instance's tokens lie in n-grams it shares with the example.
- ``any_hit``: one shared n-gram is enough.
A text shorter than n words counts as one n-gram of its full length, so short exact
copies are still caught.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from flywheel.collect import _rows, row_to_prompt

_WORD = re.compile(r"\w+")
_MULTIPLIER = np.uint64(1099511628211)  # FNV prime: odd, so the polynomial mixes every word


def words(text: str) -> list[str]:
    """The documented word tokenizer: NFKC, lower case, runs of Unicode word characters."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


@lru_cache(maxsize=1 << 18)
def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")


def window_hashes(tokens: list[str], width: int) -> np.ndarray:
    """Hash of each run of exactly ``width`` tokens; empty when there are fewer tokens."""
    if width < 1 or len(tokens) < width:
        return np.empty(0, dtype=np.uint64)
    hashes = np.fromiter((_word_hash(t) for t in tokens), dtype=np.uint64, count=len(tokens))
    count = len(tokens) - width + 1
    out = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(width):
            out = out * _MULTIPLIER + hashes[offset : offset + count]
    return out


def ngram_hashes(tokens: list[str], n: int) -> np.ndarray:
    """Hash of each n-gram, or one hash of the whole text when it has fewer than n tokens."""
    return window_hashes(tokens, min(n, len(tokens)))


@dataclass
class EvalInstance:
    benchmark: str
    instance_id: str
    tokens: list[str]
    hashes: np.ndarray


class EvalIndex:
    """All evaluation n-grams: a sorted uint64 array and, aligned with it, the instance each came from."""

    def __init__(self, instances: list[EvalInstance], n: int):
        self.n = n
        self.instances = instances
        if instances:
            all_hashes = np.concatenate([inst.hashes for inst in instances])
            owners = np.concatenate([np.full(len(inst.hashes), i, dtype=np.int32) for i, inst in enumerate(instances)])
        else:
            all_hashes, owners = np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int32)
        order = np.argsort(all_hashes, kind="stable")
        self.hashes, self.owners = all_hashes[order], owners[order]
        # Instances shorter than n are indexed whole; queries must also look at runs of those lengths.
        self.short_widths = sorted({len(i.tokens) for i in instances if 0 < len(i.tokens) < n})

    def query_widths(self, length: int) -> list[int]:
        """Run lengths a text of ``length`` tokens is compared at: n (or its whole length), and short instances'."""
        return sorted({min(self.n, length)} | {w for w in self.short_widths if w <= length} - {0})

    def __len__(self) -> int:
        return len(self.hashes)

    def candidates(self, query: np.ndarray) -> dict[int, np.ndarray]:
        """Instance index -> the query's n-gram hashes that instance shares."""
        if len(self.hashes) == 0 or len(query) == 0:
            return {}
        query = np.unique(query)
        left = np.searchsorted(self.hashes, query, side="left")
        right = np.searchsorted(self.hashes, query, side="right")
        found: dict[int, list[int]] = {}
        for q, lo, hi in zip(query, left, right):
            for owner in self.owners[lo:hi]:
                found.setdefault(int(owner), []).append(q)
        return {owner: np.array(shared, dtype=np.uint64) for owner, shared in found.items()}


def eval_texts(path: Path, fields: list[str]) -> list[tuple[str, str]]:
    """(instance id, text) per row; the field ``prompt`` also reads chat-format rows' user turns."""
    texts = []
    for number, row in _rows(Path(path)):
        parts = []
        for name in fields:
            if name in row and row[name] is not None:
                parts.append(str(row[name]))
            elif name == "prompt":
                prompt = row_to_prompt(row, fmt="auto", source=f"{path}:{number}", default_domain="general")
                parts.append("\n".join(m.content for m in prompt.messages if m.role == "user"))
            else:
                raise ValueError(f"{path}:{number}: eval row has no field {name!r}")
        texts.append((str(row.get("id", number)), "\n".join(parts)))
    return texts


def build_index(eval_sets: list[tuple[str, Path, list[str]]], n: int) -> EvalIndex:
    instances = []
    for benchmark, path, fields in eval_sets:
        for instance_id, text in eval_texts(path, fields):
            tokens = words(text)
            instances.append(EvalInstance(benchmark, instance_id, tokens, ngram_hashes(tokens, n)))
    return EvalIndex(instances, n)


def instance_overlap(instance: EvalInstance, shared: np.ndarray, n: int) -> float:
    """Fraction of the instance's tokens covered by the n-grams it shares with a training example."""
    if not instance.tokens:
        return 0.0
    width = min(n, len(instance.tokens))
    covered = np.zeros(len(instance.tokens), dtype=bool)
    for start in np.nonzero(np.isin(instance.hashes, shared))[0]:
        covered[start : start + width] = True
    return float(covered.mean())


def example_text(messages: list[dict], check_responses: bool) -> str:
    roles = {"user", "system"} | ({"assistant"} if check_responses else set())
    return "\n".join(m["content"] for m in messages if m["role"] in roles)


def find_hits(example: dict, index: EvalIndex, *, rule: str = "tulu", threshold: float = 0.5,
              check_responses: bool = False) -> list[dict]:
    """Every eval instance this training example contaminates, with the evidence."""
    tokens = words(example_text(example["messages"], check_responses))
    runs = [(width, window_hashes(tokens, width)) for width in index.query_widths(len(tokens))]
    query = np.concatenate([hashes for _, hashes in runs]) if runs else np.empty(0, dtype=np.uint64)
    hits = []
    for owner, shared in index.candidates(query).items():
        instance = index.instances[owner]
        overlap = instance_overlap(instance, shared, index.n)
        if rule == "tulu" and overlap <= threshold:
            continue
        width, hashes = next((w, h) for w, h in runs if np.isin(h, shared).any())
        first = int(np.nonzero(np.isin(hashes, shared))[0][0])
        hits.append({
            "benchmark": instance.benchmark,
            "instance_id": instance.instance_id,
            "overlap": overlap,
            "n_shared_ngrams": int(len(shared)),
            "example_ngram": " ".join(tokens[first : first + width]),
            "example_id": example["example_id"],
            "train_source": example["source"],
        })
    return hits


def decontaminate(examples: list[dict], index: EvalIndex, *, rule: str = "tulu", threshold: float = 0.5,
                  check_responses: bool = False) -> tuple[list[dict], list[dict]]:
    """(kept examples, hits); an example with any hit is dropped, and each hit is reported."""
    kept, hits = [], []
    for example in examples:
        found = find_hits(example, index, rule=rule, threshold=threshold, check_responses=check_responses)
        if found:
            hits.extend(found)
        else:
            kept.append(example)
    return kept, hits


def hits_summary(hits: list[dict]) -> dict[str, int]:
    """Dropped examples per benchmark (an example counts once per benchmark it touches)."""
    per_benchmark: dict[str, set] = {}
    for hit in hits:
        per_benchmark.setdefault(hit["benchmark"], set()).add(hit["example_id"])
    return {name: len(ids) for name, ids in sorted(per_benchmark.items())}


def hits_json(hits: list[dict]) -> str:
    return json.dumps(hits, indent=2, ensure_ascii=False)
