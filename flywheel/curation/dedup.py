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
with a cache lookup per word.

The LSH index (``BandIndex``) is datasketch's banding, b bands of r sketch values where a
candidate shares a whole band, with each band's values folded into one 64-bit key and one
dict per band. datasketch's ``MinHashLSH`` keeps bytes keys and a bucket set per row and
band: 3.5 KB a row at 128 permutations, measured, five times the sketch itself; this keeps
about 1 KB, and earlier rounds' rows are kept as their id and round only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
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


def sketch(text: str, size: int, num_perm: int) -> np.ndarray:
    """The text's MinHash values (uint32): the minimum over its shingles of each seed-1 affine permutation."""
    a, b = _prototype(num_perm).permutations
    permuted = shingle_hashes(text, size)[:, None] * a[None, :] + b[None, :]  # uint32: wraps modulo 2**32
    return permuted.min(axis=0)


def minhash(text: str, size: int, num_perm: int) -> LeanMinHash:
    """The same sketch as a datasketch ``LeanMinHash`` (for its LSH and its Jaccard estimate)."""
    return LeanMinHash(seed=1, hashvalues=sketch(text, size, num_perm), scheme=_prototype(num_perm).scheme)


def jaccard(left: np.ndarray, right: np.ndarray) -> float:
    """The sketches' estimate of their texts' Jaccard similarity: the share of equal values."""
    return float(np.count_nonzero(left == right)) / len(left)


BAND_BASE = np.uint64(0x100000001B3)  # FNV's 64-bit prime: the polynomial's base over a band's values


class BandIndex:
    """MinHash LSH by banding: a sketch is a candidate for another when some band of ``rows`` values is
    equal in both. A band's values are folded into a 64-bit key (a polynomial mod 2**64), so two bands
    that differ share a key with probability about 2**-64: the candidates are datasketch's."""

    def __init__(self, bands: int, rows: int):
        self.bands, self.rows = bands, rows
        self.powers = BAND_BASE ** np.arange(rows, dtype=np.uint64)
        self.tables: list[dict[int, int | list[int]]] = [{} for _ in range(bands)]  # key -> member(s)
        self.sketches: list[np.ndarray] = []

    def _keys(self, values: np.ndarray) -> list[int]:
        banded = values[: self.bands * self.rows].astype(np.uint64).reshape(self.bands, self.rows)
        return (banded * self.powers).sum(axis=1, dtype=np.uint64).tolist()  # wraps modulo 2**64

    def candidates(self, values: np.ndarray) -> set[int]:
        found: set[int] = set()
        for table, key in zip(self.tables, self._keys(values)):
            members = table.get(key)
            if members is not None:
                found.update(members if isinstance(members, list) else (members,))
        return found

    def insert(self, values: np.ndarray) -> int:
        """Adds the sketch; returns its index (what ``candidates`` and ``sketches`` know it by)."""
        index = len(self.sketches)
        self.sketches.append(values)
        for table, key in zip(self.tables, self._keys(values)):
            members = table.get(key)
            if members is None:
                table[key] = index  # most buckets hold one sketch: an int, not a list
            elif isinstance(members, list):
                members.append(index)
            else:
                table[key] = [members, index]
        return index


class Deduplicator:
    """Deduplication over a stream: ``remember`` earlier rounds' rows (compared against, never returned; of each only
    the id and round are kept once it is indexed), then ``offer`` each row in order. Memory follows the rows kept
    (their sketch, id and round), not the rows seen, so a stage can stream its candidates through it.

    A row whose ``example_id`` is already known is the same example carried forward by pooling, not a duplicate of
    it: kept once, with no drop.
    """

    def __init__(self, *, threshold: float = 0.8, num_perm: int = 128, shingle_size: int = 5, near: bool = True):
        self.num_perm, self.shingle_size = num_perm, shingle_size
        self.exact: dict[str, dict] = {}
        self.index = BandIndex(*lsh_bands(threshold, num_perm)) if near else None
        self.owners: list[dict] = []  # the row each indexed sketch belongs to: its id and round
        self.known: dict[str, dict] = {}
        self.kept_ids: set[str] = set()

    def _register(self, row: dict, text: str | None, values: np.ndarray | None = None, key: str | None = None) -> None:
        if row["example_id"] in self.known:
            return
        identity = {"example_id": row["example_id"], "origin_round": row.get("origin_round")}
        self.exact.setdefault(key if key is not None else exact_key(text), identity)
        self.known[row["example_id"]] = identity
        if self.index is not None:
            self.index.insert(values if values is not None else sketch(text, self.shingle_size, self.num_perm))
            self.owners.append(identity)

    def remember(self, row: dict) -> None:
        """An earlier round's row: later rows that duplicate it are dropped."""
        self._register(row, conversation_text(row["messages"]))

    def offer(self, row: dict, prepared: tuple[str, np.ndarray | None] | None = None) -> tuple[bool, dict | None]:
        """(keep, drop): whether ``row`` stays, and its drop record when it duplicates one seen before (a repeat of a
        row already kept is neither kept again nor a drop). ``prepared``: the row's exact key and sketch when they
        were computed elsewhere (``prepare_rows``, in a worker process), else they are computed here when needed."""
        if row["example_id"] in self.known:  # carried forward from an earlier round, or repeated
            if row["example_id"] in self.kept_ids:
                return False, None
            self.kept_ids.add(row["example_id"])
            return True, None
        text, values = None, None
        if prepared is None:
            text = conversation_text(row["messages"])
            key = exact_key(text)
        else:
            key, values = prepared
        twin = self.exact.get(key)
        if twin is not None:
            return False, _drop(row, twin, "exact", 1.0)
        if self.index is not None:
            if values is None:
                values = sketch(text if text is not None else conversation_text(row["messages"]), self.shingle_size,
                                self.num_perm)
            # The most similar candidate; of equals, the first indexed (a set's order is not stable).
            scored = sorted((-jaccard(values, self.index.sketches[c]), c) for c in self.index.candidates(values))
            if scored:
                similarity, first = scored[0]
                return False, _drop(row, self.owners[first], "near", -similarity)
        self._register(row, text, values, key)  # the query's key and sketch, not second ones
        self.kept_ids.add(row["example_id"])
        return True, None

    def keep(self, rows: list[dict], drops: list[dict], prepared: list | None = None) -> list[dict]:
        """The rows of a batch that stay, in order; the others' drop records are appended to ``drops``.
        ``prepared``: each row's exact key and sketch, computed elsewhere (``prepare_rows``), or None."""
        kept = []
        for position, row in enumerate(rows):
            stays, drop = self.offer(row, None if prepared is None else prepared[position])
            if stays:
                kept.append(row)
            elif drop is not None:
                drops.append(drop)
        return kept


def prepare_rows(rows: list[dict], *, shingle_size: int = 5, num_perm: int = 128,
                 near: bool = True) -> list[tuple[str, np.ndarray | None]]:
    """Each row's exact key and MinHash sketch (None without near dedup), as :meth:`Deduplicator.offer` would
    compute them: the part of dedup that depends on the row alone, so a worker process can do it."""
    prepared = []
    for row in rows:
        text = conversation_text(row["messages"])
        prepared.append((exact_key(text), sketch(text, shingle_size, num_perm) if near else None))
    return prepared


def deduplicate(rows: list[dict], *, previous: Iterable[dict] = (), threshold: float = 0.8, num_perm: int = 128,
                shingle_size: int = 5, near: bool = True) -> tuple[list[dict], list[dict]]:
    """(kept rows, drops) of ``rows`` in order, after ``previous`` (earlier rounds' data, any iterable of rows):
    :class:`Deduplicator` over a list."""
    dedup = Deduplicator(threshold=threshold, num_perm=num_perm, shingle_size=shingle_size, near=near)
    for row in previous:
        dedup.remember(row)
    drops: list[dict] = []
    return dedup.keep(rows, drops), drops


def _drop(row: dict, twin: dict, kind: str, similarity: float) -> dict:
    return {"example_id": row["example_id"], "mix_source": row.get("mix_source"), "kind": kind,
            "duplicate_of": twin["example_id"], "duplicate_round": twin.get("origin_round"),
            "similarity": round(float(similarity), 4),
            "reason": f"{kind} duplicate of {twin['example_id']} (round {twin.get('origin_round')}, "
                      f"similarity {similarity:.2f})"}
