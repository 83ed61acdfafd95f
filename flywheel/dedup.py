"""Deduplication of training examples: exact by normalised-text hash, near by MinHash LSH (datasketch).

An example's text is its whole conversation. Exact duplicates share the hash of that
text after NFKC, lower case and whitespace folding. Near duplicates have an estimated
Jaccard similarity of word ``shingle_size``-grams at or above ``threshold``. Word
5-grams are the default because templated prompts that differ in a few numbers share
few 5-grams (kept), while the same answer to the same prompt, lightly reworded, shares
most of them (dropped).

Examples are visited in order (earlier rounds first), so the first occurrence stays and
every later copy is dropped with its reason and the example it duplicates.
"""

from __future__ import annotations

from functools import lru_cache

from datasketch import MinHash, MinHashLSH

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


def minhash(text: str, size: int, num_perm: int) -> MinHash:
    prototype = _prototype(num_perm)
    sketch = MinHash(num_perm=num_perm, seed=1, permutations=prototype.permutations, scheme=prototype.scheme)
    sketch.update_batch(list(shingles(text, size)))
    return sketch


def deduplicate(rows: list[dict], *, previous: list[dict] = (), threshold: float = 0.8, num_perm: int = 128,
                shingle_size: int = 5, near: bool = True) -> tuple[list[dict], list[dict]]:
    """(kept rows, drops). ``previous`` (earlier rounds' data) is only compared against, never returned.

    A row whose ``example_id`` is already in ``previous`` is the same example carried
    forward by pooling, not a duplicate of it.
    """
    exact: dict[str, dict] = {}
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, params=lsh_bands(threshold, num_perm)) if near else None
    sketches: dict[str, MinHash] = {}
    known: dict[str, dict] = {}

    def register(row: dict, text: str, sketch: MinHash | None = None) -> None:
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
