"""decontaminate: drop training examples whose text overlaps an evaluation set by n-grams.

Normalisation and tokenisation (documented contract): Unicode NFKC, lower case, then
words are maximal runs of Unicode word characters (regex ``\\w+``). Punctuation and
whitespace only separate words, so "x=3," and "x = 3" give the same words.

Hashing is vectorised at the character level: a word's hash is a polynomial of its
characters' code points mod 2**64 (odd base, computed from prefix sums, then a
splitmix64 finalizer), and an n-gram's hash a polynomial of its words' hashes. Words
are short, so the known weaknesses of power-of-two moduli (which need strings of
thousands of characters) do not arise. The evaluation index is compact: one sorted
``uint64`` array of every eval n-gram with the instance it came from (searched by binary
search), plus each instance's n-gram hashes in order (CSR offsets) to measure coverage.
About 20 bytes per eval n-gram, so 1M n-grams take ~20 MB. It is cached on disk, keyed by the
eval files' contents, n and the normaliser version.

A whole training set is scanned at once: every text's words are hashed in one pass,
every n-gram of the corpus in one vectorised rolling hash, and only windows that hit
the index go on to Python.

Rules:
- ``tulu`` (Tulu 3): a training example matches an eval instance when more than
  ``threshold`` of the instance's words lie in n-grams it shares with the example.
- ``any_hit``: one shared n-gram is enough.
An eval text shorter than n words is indexed whole, and matched only as a whole.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flywheel.prompts.formats import numbered_rows, row_to_prompt
from flywheel.records.files import atomic_path
from flywheel.text import normalise

NORMALISER_VERSION = "nfkc-lower-w+-poly64-v2"
_MULTIPLIER = np.uint64(1099511628211)  # FNV prime: odd, so the n-gram polynomial mixes every word
_CHAR_BASE = 0x100000001B3 * 2 + 1  # odd, hence invertible mod 2**64
_CHAR_BASE_INV = pow(_CHAR_BASE, -1, 2**64)
_ASCII_WORD = np.zeros(128, dtype=bool)
for _c in "0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _ASCII_WORD[ord(_c)] = True
CHUNK_CHARS = 1_000_000  # characters per vectorised pass: bounds the scan's memory (~40 MB of arrays)
_POWERS: list[np.ndarray] = [np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64)]


def _powers(length: int) -> tuple[np.ndarray, np.ndarray]:
    """base**j and base**-j mod 2**64 for j < length (grown on demand, shared)."""
    if len(_POWERS[0]) < length:
        size = max(length, 2 * len(_POWERS[0]))
        with np.errstate(over="ignore"):
            forward = np.cumprod(np.full(size, _CHAR_BASE, dtype=np.uint64))
            backward = np.cumprod(np.full(size, _CHAR_BASE_INV, dtype=np.uint64))
        _POWERS[0] = np.concatenate([[np.uint64(1)], forward[:-1]])
        _POWERS[1] = np.concatenate([[np.uint64(1)], backward[:-1]])
    return _POWERS[0][:length], _POWERS[1][:length]


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, vectorised: spreads every input bit over the output."""
    with np.errstate(over="ignore"):
        z = values ^ (values >> np.uint64(30))
        z = z * np.uint64(0xBF58476D1CE4E5B9)
        z = z ^ (z >> np.uint64(27))
        z = z * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


@dataclass
class Segmented:
    """Words of a batch of texts: per-word hash and text, and where each text's words start."""

    hashes: np.ndarray  # uint64 per word, texts in order
    offsets: np.ndarray  # int64, text t's words are [offsets[t], offsets[t+1])
    joined: str  # the normalised texts joined by newlines
    char_spans: np.ndarray  # (words, 2) start/end character of each word in ``joined``

    def words_of(self, text: int, first: int, count: int) -> list[str]:
        base = self.offsets[text] + first
        return [self.joined[a:b] for a, b in self.char_spans[base : base + count]]


def segment(texts: list[str]) -> Segmented:
    """Split and hash every word of every text in a few NumPy passes (same words as :func:`words`)."""
    joined = "\n".join(texts)  # a newline is no word character: words never span two texts
    if joined.isascii():
        # NFKC is the identity on ASCII: one lower() for the whole chunk, one byte per character.
        joined = joined.lower()
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        codes = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
        is_word = _ASCII_WORD[codes]
    else:
        normalised = [normalise(t) for t in texts]
        joined = "\n".join(normalised)
        lengths = np.fromiter(map(len, normalised), dtype=np.int64, count=len(normalised))
        codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        is_word = np.zeros(len(codes), dtype=bool)
        ascii_mask = codes < 128
        is_word[ascii_mask] = _ASCII_WORD[codes[ascii_mask]]
        if not ascii_mask.all():  # \w beyond ASCII is str.isalnum(); look up each distinct character once
            wide = codes[~ascii_mask]
            distinct = np.unique(wide)
            flags = np.fromiter((chr(c).isalnum() for c in distinct), dtype=bool, count=len(distinct))
            is_word[~ascii_mask] = flags[np.searchsorted(distinct, wide)]
    edges = np.diff(np.concatenate([[False], is_word, [False]]).astype(np.int8))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    forward, backward = _powers(len(codes))
    with np.errstate(over="ignore"):
        prefix = np.concatenate([[np.uint64(0)], np.cumsum((codes.astype(np.uint64) + np.uint64(1)) * backward)])
        raw = forward[ends - 1] * (prefix[ends] - prefix[starts]) if len(starts) else np.empty(0, dtype=np.uint64)
    text_starts = np.concatenate([[0], np.cumsum(lengths[:-1] + 1)]) if texts else np.empty(0, dtype=np.int64)
    word_text = np.searchsorted(text_starts, starts, side="right") - 1
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(np.bincount(word_text, minlength=len(texts)))
    return Segmented(_mix(raw), offsets, joined, np.stack([starts, ends], axis=1))


def _rolling(flat: np.ndarray, width: int) -> np.ndarray:
    """Hash of every run of ``width`` consecutive values: sum of flat[i+j] * M**(width-1-j), mod 2**64.

    Built by doubling (h_2k[i] = h_k[i] * M**k + h_k[i+k]) plus a linear tail, so an 8-gram takes
    three multiply-adds over the array instead of eight; the result is the same polynomial.
    """
    count = len(flat) - width + 1
    if width < 1 or count < 1:
        return np.empty(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        out, span = flat.copy(), 1
        while span * 2 <= width:
            out = out[:-span] * (_MULTIPLIER ** np.uint64(span)) + out[span:]
            span *= 2
        for offset in range(span, width):
            out = out[: len(flat) - offset] * _MULTIPLIER + flat[offset:]
    return out[:count]


def text_windows(seg: "Segmented", width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hash, text, word position within its text) of every ``width``-word window inside one text."""
    hashes = _rolling(seg.hashes, width)
    word_text = np.repeat(np.arange(len(seg.offsets) - 1), np.diff(seg.offsets))
    if len(hashes) == 0:
        return hashes, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    keep = np.nonzero(word_text[: len(hashes)] == word_text[width - 1 :])[0]  # never spanning two texts
    texts = word_text[keep]
    return hashes[keep], texts, keep - seg.offsets[texts]


def text_ngram_hashes(text: str, n: int) -> np.ndarray:
    """Hash of each n-gram of one text, or one hash of the whole text when it has fewer than n words."""
    hashes = segment([text]).hashes
    return _rolling(hashes, min(n, len(hashes)))


def _chunks(texts: list[str]) -> list[tuple[int, int]]:
    """[start, end) ranges of texts holding about CHUNK_CHARS characters each."""
    ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1)
    cuts = np.searchsorted(ends, np.arange(CHUNK_CHARS, int(ends[-1]) if len(ends) else 0, CHUNK_CHARS), side="right")
    bounds = [0] + sorted({int(c) for c in cuts if 0 < c < len(texts)}) + [len(texts)]
    return list(zip(bounds[:-1], bounds[1:]))


@dataclass
class EvalIndex:
    """Eval n-grams: sorted hashes + owners for lookup, and each instance's hashes in order for coverage."""

    n: int
    benchmarks: list[str]
    instance_ids: list[str]
    n_tokens: np.ndarray  # int32, words per instance
    offsets: np.ndarray  # int64, instance i's hashes are ordered[offsets[i]:offsets[i+1]]
    ordered: np.ndarray  # uint64
    sorted_hashes: np.ndarray  # uint64
    sorted_owners: np.ndarray  # int32

    def __post_init__(self) -> None:
        # A bit array keyed by each hash's top bits (~16 bits per eval n-gram): most windows of
        # a clean text miss it and never reach the binary search.
        self._filter_bits = int(np.clip(np.ceil(np.log2(max(1, len(self.sorted_hashes)) * 16)), 16, 30))
        present = np.zeros(1 << self._filter_bits, dtype=bool)
        present[self.sorted_hashes >> np.uint64(64 - self._filter_bits)] = True
        self._filter = np.packbits(present, bitorder="little")

    @classmethod
    def from_texts(cls, items: list[tuple[str, str, str]], n: int) -> "EvalIndex":
        """``items``: (benchmark, instance id, text)."""
        per_instance, counts = [], []
        for lo, hi in _chunks([text for _, _, text in items]):
            seg = segment([text for _, _, text in items[lo:hi]])
            lengths = np.diff(seg.offsets)
            hashes, owner, _ = text_windows(seg, n)
            bounds = np.searchsorted(owner, np.arange(hi - lo + 1))
            for t in range(hi - lo):
                counts.append(int(lengths[t]))
                if lengths[t] >= n:
                    per_instance.append(hashes[bounds[t] : bounds[t + 1]])
                else:  # shorter than n: indexed whole
                    per_instance.append(_rolling(seg.hashes[seg.offsets[t] : seg.offsets[t + 1]], int(lengths[t])))
        ordered = np.concatenate(per_instance) if per_instance else np.empty(0, dtype=np.uint64)
        offsets = np.zeros(len(items) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(h) for h in per_instance])
        owners = np.repeat(np.arange(len(items), dtype=np.int32), np.diff(offsets))
        order = np.argsort(ordered, kind="stable")
        return cls(n, [b for b, _, _ in items], [i for _, i, _ in items], np.asarray(counts, dtype=np.int32),
                   offsets, ordered, ordered[order], owners[order])

    def __len__(self) -> int:
        return len(self.sorted_hashes)

    @property
    def nbytes(self) -> int:
        arrays = (self.n_tokens, self.offsets, self.ordered, self.sorted_hashes, self.sorted_owners, self._filter)
        return sum(a.nbytes for a in arrays)

    @property
    def short_widths(self) -> list[int]:
        """Lengths of eval texts shorter than n: queries also compare runs of these lengths."""
        return sorted({int(c) for c in self.n_tokens if 0 < c < self.n})

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        found = np.zeros(len(hashes), dtype=bool)
        if len(self.sorted_hashes) == 0:
            return found
        slot = hashes >> np.uint64(64 - self._filter_bits)
        maybe = np.nonzero((self._filter[slot >> np.uint64(3)] >> (slot & np.uint64(7)).astype(np.uint8)) & 1)[0]
        at = np.searchsorted(self.sorted_hashes, hashes[maybe])
        at[at == len(self.sorted_hashes)] = 0
        found[maybe] = self.sorted_hashes[at] == hashes[maybe]
        return found

    def owner_pairs(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index into ``values``, owning instance) for every eval n-gram equal to one of ``values``."""
        lo = np.searchsorted(self.sorted_hashes, values, side="left")
        hi = np.searchsorted(self.sorted_hashes, values, side="right")
        counts = hi - lo
        which = np.repeat(np.arange(len(values)), counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return which, self.sorted_owners[np.repeat(lo, counts) + within]

    def coverage(self, owner: int, shared: set[int]) -> float:
        """Fraction of the instance's words covered by the n-grams it shares with a training text."""
        total = int(self.n_tokens[owner])
        if total == 0:
            return 0.0
        width = min(self.n, total)
        covered: set[int] = set()
        # Instances are short (tens to hundreds of n-grams): plain Python beats NumPy's per-call overhead here.
        for start, value in enumerate(self.ordered[self.offsets[owner] : self.offsets[owner + 1]].tolist()):
            if value in shared:
                covered.update(range(start, start + width))
        return len(covered) / total

    def save(self, path: Path) -> None:
        with atomic_path(path, suffix=".npz") as temporary:  # np.savez adds .npz to any other name
            np.savez(temporary, n=np.array([self.n]), n_tokens=self.n_tokens, offsets=self.offsets, ordered=self.ordered,
                     sorted_hashes=self.sorted_hashes, sorted_owners=self.sorted_owners,
                     meta=np.frombuffer(json.dumps([self.benchmarks, self.instance_ids]).encode(), dtype=np.uint8))

    @classmethod
    def load(cls, path: Path) -> "EvalIndex":
        with np.load(path) as data:
            benchmarks, instance_ids = json.loads(data["meta"].tobytes().decode())
            return cls(int(data["n"][0]), benchmarks, instance_ids, data["n_tokens"], data["offsets"], data["ordered"],
                       data["sorted_hashes"], data["sorted_owners"])


def eval_texts(path: Path, fields: list[str]) -> list[tuple[str, str]]:
    """(instance id, text) per row; the field ``prompt`` also reads chat-format rows' user turns."""
    texts = []
    for number, row in numbered_rows(Path(path)):
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


def index_cache_key(eval_sets: list[tuple[str, Path, list[str]]], n: int) -> str:
    digest = hashlib.sha256(f"{NORMALISER_VERSION}|n={n}".encode())
    for name, path, fields in eval_sets:
        digest.update(f"|{name}|{','.join(fields)}|".encode())
        digest.update(hashlib.sha256(Path(path).read_bytes()).digest())
    return digest.hexdigest()[:24]


def build_index(eval_sets: list[tuple[str, Path, list[str]]], n: int, cache_dir: Path | None = None) -> EvalIndex:
    """The index over every eval set; reused from ``cache_dir`` when the files' contents are unchanged."""
    cached = cache_dir / f"eval-index-{index_cache_key(eval_sets, n)}.npz" if cache_dir else None
    if cached is not None and cached.exists():
        return EvalIndex.load(cached)
    items = [(name, instance_id, text) for name, path, fields in eval_sets for instance_id, text in eval_texts(path, fields)]
    index = EvalIndex.from_texts(items, n)
    if cached is not None:
        index.save(cached)
    return index


def scan_texts(texts: list[str], index: EvalIndex, *, rule: str = "tulu", threshold: float = 0.5) -> list[list[dict]]:
    """For each text, the eval instances it contaminates: {benchmark, instance_id, overlap, n_shared_ngrams, example_ngram}."""
    results: list[list[dict]] = [[] for _ in texts]
    widths = sorted({index.n} | set(index.short_widths))
    for lo, hi in _chunks(texts):
        seg = segment(texts[lo:hi])
        # (text, instance) -> {shared hash: (first word position, width)}
        pairs: dict[tuple[int, int], dict[int, tuple[int, int]]] = {}
        for width in widths:
            hashes, text_of, position = text_windows(seg, width)
            hit = np.nonzero(index.contains(hashes))[0]
            if len(hit) == 0:
                continue
            which, owners = index.owner_pairs(hashes[hit])  # all of this chunk's matches in one lookup
            rows = hit[which]
            for text, owner, value, at in zip(text_of[rows].tolist(), owners.tolist(), hashes[rows].tolist(),
                                              position[rows].tolist()):
                found = pairs.setdefault((text, owner), {})
                if value not in found or at < found[value][0]:
                    found[value] = (at, width)
        for (text, owner), found in pairs.items():
            overlap = index.coverage(owner, found.keys())
            if rule == "tulu" and overlap <= threshold:
                continue
            first, width = min(found.values())
            results[lo + text].append({"benchmark": index.benchmarks[owner], "instance_id": index.instance_ids[owner],
                                       "overlap": overlap, "n_shared_ngrams": len(found),
                                       "example_ngram": " ".join(seg.words_of(text, first, width))})
    return results


def example_text(messages: list[dict], check_responses: bool) -> str:
    roles = {"user", "system"} | ({"assistant"} if check_responses else set())
    return "\n".join(m["content"] for m in messages if m["role"] in roles)


def decontaminate(examples: list[dict], index: EvalIndex, *, rule: str = "tulu", threshold: float = 0.5,
                  check_responses: bool = False) -> tuple[list[dict], list[dict]]:
    """(kept examples, hits): an example with any hit is dropped, and every hit is reported with provenance."""
    found = scan_texts([example_text(e["messages"], check_responses) for e in examples], index, rule=rule,
                       threshold=threshold)
    kept, hits = [], []
    for example, example_hits in zip(examples, found):
        if not example_hits:
            kept.append(example)
        for hit in example_hits:
            hits.append({**hit, "example_id": example["example_id"], "train_source": example["source"],
                         "train_mix_source": example.get("mix_source")})
    return kept, hits


def find_hits(example: dict, index: EvalIndex, *, rule: str = "tulu", threshold: float = 0.5,
              check_responses: bool = False) -> list[dict]:
    """Every eval instance one training example contaminates, with the evidence."""
    return decontaminate([example], index, rule=rule, threshold=threshold, check_responses=check_responses)[1]


def hits_summary(hits: list[dict], key: str = "benchmark") -> dict[str, int]:
    """Dropped examples per ``key`` (benchmark or train_mix_source); an example counts once per group."""
    groups: dict[str, set] = {}
    for hit in hits:
        groups.setdefault(str(hit.get(key)), set()).add(hit["example_id"])
    return {name: len(ids) for name, ids in sorted(groups.items())}


def decontaminate_file(train: Path, eval_sets: list[tuple[str, Path, list[str]]], out: Path, *, n: int = 8,
                       rule: str = "tulu", threshold: float = 0.5, check_responses: bool = False,
                       cache_dir: Path | None = None) -> dict:
    """Stand-alone: write ``out/kept.jsonl`` (the training file's own rows, unchanged), ``out/hits.jsonl``
    and ``out/report.json``; return the report."""
    train = Path(train)
    raw, examples = [], []
    for number, row in numbered_rows(train):
        prompt = row_to_prompt(row, fmt="auto", source=f"{train}:{number}", default_domain="general")
        messages = [m.model_dump() for m in prompt.messages]
        if prompt.response is not None:
            messages.append({"role": "assistant", "content": prompt.response})
        raw.append(row)
        examples.append({"example_id": prompt.id, "source": prompt.source, "messages": messages})
    index = build_index(eval_sets, n, cache_dir=cache_dir)
    found = scan_texts([example_text(e["messages"], check_responses) for e in examples], index, rule=rule,
                       threshold=threshold)
    out.mkdir(parents=True, exist_ok=True)
    hits = [{**hit, "example_id": e["example_id"], "train_source": e["source"]}
            for e, example_hits in zip(examples, found) for hit in example_hits]
    with (out / "kept.jsonl").open("w") as kept:
        for row, example_hits in zip(raw, found):
            if not example_hits:
                kept.write(json.dumps(row, ensure_ascii=False) + "\n")
    with (out / "hits.jsonl").open("w") as handle:
        for hit in hits:
            handle.write(json.dumps(hit, ensure_ascii=False) + "\n")
    report = {"train": str(train), "n": n, "rule": rule, "threshold": threshold, "check_responses": check_responses,
              "eval_sets": {name: str(path) for name, path, _ in eval_sets}, "eval_ngrams": len(index),
              "examples": len(examples), "dropped": sum(bool(f) for f in found),
              "kept": sum(not f for f in found), "dropped_per_benchmark": hits_summary(hits)}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report
