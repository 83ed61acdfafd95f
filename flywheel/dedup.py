"""Deduplication of training examples: exact by normalised-text hash, near by MinHash LSH (datasketch).

An example's text is its whole conversation. Exact duplicates share the hash of that
text after NFKC, lower case and whitespace folding. Near duplicates have an estimated
Jaccard similarity of word ``shingle_size``-grams at or above ``threshold``. Word
5-grams are the default because templated prompts that differ in a few numbers share
few 5-grams (kept), while the same answer to the same prompt, lightly reworded, shares
most of them (dropped).

Examples are visited in order (earlier rounds first), so the first occurrence stays and
every later copy is dropped with its reason and the example it duplicates.

Sketches are computed in numpy: each distinct word is hashed once (blake2b, cached), a
shingle's hash is a polynomial of its words' hashes, and the sketch applies datasketch's
seed-1 affine permutations to all of a text's shingle hashes at once. That replaces one sha1
call per shingle (datasketch's ``update_batch``; 56% of selection's time at 100k samples)
with a cache lookup per word. The index is still datasketch's ``MinHashLSH``.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from flywheel.text import exact_key, words


def conversation_text(messages: list[dict]) -> str:
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def shingles(text: str, size: int) -> set[bytes]:
    tokens = words(text)
    if len(tokens) <= size:
        return {" ".join(tokens).encode()}
    return {" ".join(tokens[i : i + size]).encode() for i in range(len(tokens) - size + 1)}


@lru_cache(maxsize=8)
def _prototype(num_perm: int) -> MinHash:
    """The seed-1 permutations (and their scheme) every sketch shares; datasketch draws them again for
    each MinHash otherwise."""
    return MinHash(num_perm=num_perm, seed=1)


@lru_cache(maxsize=64)
def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """datasketch's (bands, rows) for a threshold: found by numerical integration, which cost 27 ms per
    index, about three quarters of selection when an index is built per prompt. Computed once."""
    index = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return index.b, index.r


SHINGLE_BASE = np.uint64(1_000_003)  # the polynomial's base over a shingle's word hashes (odd, so no bits are lost)
_MIX = (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))


@lru_cache(maxsize=1 << 20)
def word_hash(word: str) -> int:
    """A stable 64-bit hash of a word, the same in every process (unlike hash())."""
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def _mix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, low 32 bits: every input bit reaches every output bit."""
    shift, m1, m2 = _MIX
    values = values ^ (values >> shift)
    values = values * m1
    values = values ^ (values >> shift)
    values = values * m2
    values = values ^ (values >> shift)
    return (values & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def shingle_hashes(text: str, size: int) -> np.ndarray:
    """32-bit hashes of the text's word ``size``-grams (a text of ``size`` words or fewer is one shingle)."""
    tokens = words(text)
    if len(tokens) <= size:
        return _mix32(np.array([word_hash(" ".join(tokens))], dtype=np.uint64))
    hashed = np.fromiter((word_hash(token) for token in tokens), dtype=np.uint64, count=len(tokens))
    windows = np.lib.stride_tricks.sliding_window_view(hashed, size)
    combined = windows[:, 0].copy()
    for column in range(1, size):  # multiplication wraps modulo 2**64, as a hash should
        combined = combined * SHINGLE_BASE + windows[:, column]
    return _mix32(combined)


def minhash(text: str, size: int, num_perm: int) -> LeanMinHash:
    """The text's MinHash: the minimum over its shingles of each seed-1 affine permutation."""
    prototype = _prototype(num_perm)
    a, b = prototype.permutations
    permuted = shingle_hashes(text, size)[:, None] * a[None, :] + b[None, :]  # uint32: wraps modulo 2**32
    return LeanMinHash(seed=1, hashvalues=permuted.min(axis=0), scheme=prototype.scheme)


def deduplicate(rows: list[dict], *, previous: list[dict] = (), threshold: float = 0.8, num_perm: int = 128,
                shingle_size: int = 5, near: bool = True) -> tuple[list[dict], list[dict]]:
    """(kept rows, drops). ``previous`` (earlier rounds' data) is only compared against, never returned.

    A row whose ``example_id`` is already in ``previous`` is the same example carried
    forward by pooling, not a duplicate of it.
    """
    exact: dict[str, dict] = {}
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, params=lsh_bands(threshold, num_perm)) if near else None
    sketches: dict[str, LeanMinHash] = {}
    known: dict[str, dict] = {}

    def register(row: dict, text: str, sketch: LeanMinHash | None = None) -> None:
        exact.setdefault(exact_key(text), row)
        known[row["example_id"]] = row
        if lsh is not None and row["example_id"] not in sketches:
            sketches[row["example_id"]] = sketch if sketch is not None else minhash(text, shingle_size, num_perm)
            lsh.insert(row["example_id"], sketches[row["example_id"]])

    for row in previous:
        register(row, conversation_text(row["messages"]))
    kept, drops, kept_ids = [], [], set()
    for row in rows:
        if row["example_id"] in known:  # carried forward from an earlier round, or repeated
            if row["example_id"] not in kept_ids:
                kept.append(row)
                kept_ids.add(row["example_id"])
            continue
        text = conversation_text(row["messages"])
        twin = exact.get(exact_key(text))
        if twin is not None:
            drops.append(_drop(row, twin, "exact", 1.0))
            continue
        sketch = None
        if lsh is not None:
            sketch = minhash(text, shingle_size, num_perm)
            candidates = sorted(lsh.query(sketch), key=lambda key: -sketch.jaccard(sketches[key]))
            if candidates:
                twin = known[candidates[0]]
                drops.append(_drop(row, twin, "near", sketch.jaccard(sketches[candidates[0]])))
                continue
        register(row, text, sketch)  # the query's sketch, not a second one
        kept.append(row)
        kept_ids.add(row["example_id"])
    return kept, drops


def _drop(row: dict, twin: dict, kind: str, similarity: float) -> dict:
    return {"example_id": row["example_id"], "mix_source": row.get("mix_source"), "kind": kind,
            "duplicate_of": twin["example_id"], "duplicate_round": twin.get("origin_round"),
            "similarity": round(float(similarity), 4),
            "reason": f"{kind} duplicate of {twin['example_id']} (round {twin.get('origin_round')}, "
                      f"similarity {similarity:.2f})"}
