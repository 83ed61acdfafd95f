import json

import numpy as np
import pytest

from flywheel.curation.decontamination import build_index, decontaminate, find_hits, segment, text_ngram_hashes
from flywheel.text import words

EVAL = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma "
        "tau upsilon")  # 20 words


@pytest.fixture
def index(tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps({"id": "e1", "question": EVAL}) + "\n"
                    + json.dumps({"id": "e2", "question": "a short one"}) + "\n")
    return build_index([("bench", path, ["question"])], n=8)


def example(text, eid="t1"):
    return {"example_id": eid, "source": "train.jsonl:7", "messages": [{"role": "user", "content": text},
                                                                      {"role": "assistant", "content": "ok"}]}


def test_words_normalise_unicode_case_and_punctuation():
    assert words("Ｈｅｌｌｏ, WORLD!  it's") == ["hello", "world", "it", "s"]


def test_hashes_are_stable_and_positional():
    a = text_ngram_hashes("a b c d", 2)
    assert a.dtype == np.uint64 and len(a) == 3
    assert np.array_equal(a, text_ngram_hashes("A, b;  c\td!", 2))  # punctuation and case do not matter
    assert text_ngram_hashes("a b", 2)[0] != text_ngram_hashes("b a", 2)[0]
    assert text_ngram_hashes("ab c", 2)[0] != text_ngram_hashes("a bc", 2)[0]
    assert len(np.unique(text_ngram_hashes(" ".join(f"w{i}" for i in range(5000)), 1))) == 5000


def test_vectorised_segmentation_matches_the_documented_tokenizer():
    import random

    rng = random.Random(0)
    alphabet = "abcXYZ019_ -.,;'!?\n\tÉéßøœ中文ｆｕｌｌ²½Ⅻ٣\u200b\u00a0ﬁ"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(300)] + ["", "  "]
    seg = segment(texts)
    for t, text in enumerate(texts):
        expected = words(text)
        count = seg.offsets[t + 1] - seg.offsets[t]
        assert seg.words_of(t, 0, count) == expected
        assert np.array_equal(seg.hashes[seg.offsets[t] : seg.offsets[t + 1]], segment([" ".join(expected)]).hashes)


def test_tulu_rule_drops_above_threshold_with_provenance(index):
    # 11 of the 20 eval words in a row: 4 shared 8-grams cover 11 tokens = 55% > 50%
    text = "Preamble words here. " + " ".join(EVAL.split()[:11]) + " and unrelated tail"
    (hit,) = find_hits(example(text), index, rule="tulu", threshold=0.5)
    assert hit["benchmark"] == "bench" and hit["instance_id"] == "e1"
    assert hit["overlap"] == pytest.approx(11 / 20) and hit["n_shared_ngrams"] == 4
    assert hit["example_ngram"] == "alpha beta gamma delta epsilon zeta eta theta"
    assert hit["train_source"] == "train.jsonl:7"


def test_near_miss_below_threshold_is_kept_by_tulu_but_dropped_by_any_hit(index):
    text = " ".join(EVAL.split()[:9])  # 9/20 = 45% covered
    assert find_hits(example(text), index, rule="tulu", threshold=0.5) == []
    assert len(find_hits(example(text), index, rule="any_hit")) == 1


def test_seven_words_never_match_at_n8(index):
    assert find_hits(example(" ".join(EVAL.split()[:7])), index, rule="any_hit") == []


def test_reordered_words_do_not_match(index):
    assert find_hits(example(" ".join(reversed(EVAL.split()))), index, rule="any_hit") == []


def test_short_eval_text_matches_only_whole(index):
    assert find_hits(example("Here is A SHORT one, indeed"), index, rule="any_hit")[0]["instance_id"] == "e2"
    assert find_hits(example("a short"), index, rule="any_hit") == []


def test_responses_checked_only_when_asked(index):
    row = example("clean prompt")
    row["messages"][1]["content"] = EVAL
    assert find_hits(row, index) == []
    assert find_hits(row, index, check_responses=True)[0]["overlap"] == 1.0


def test_decontaminate_splits_kept_and_dropped(index):
    kept, hits = decontaminate([example(EVAL, "bad"), example("nothing alike", "good")], index)
    assert [r["example_id"] for r in kept] == ["good"]
    assert {h["example_id"] for h in hits} == {"bad"}


def test_index_is_cached_by_file_contents(tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps({"id": "e1", "question": EVAL}) + "\n")
    cache = tmp_path / "cache"
    first = build_index([("bench", path, ["question"])], n=8, cache_dir=cache)
    (cached,) = cache.glob("eval-index-*.npz")
    again = build_index([("bench", path, ["question"])], n=8, cache_dir=cache)
    assert np.array_equal(first.sorted_hashes, again.sorted_hashes) and again.instance_ids == ["e1"]
    assert len(list(cache.glob("*.npz"))) == 1
    path.write_text(json.dumps({"id": "e2", "question": "completely different words here now"}) + "\n")
    changed = build_index([("bench", path, ["question"])], n=8, cache_dir=cache)
    assert changed.instance_ids == ["e2"] and len(list(cache.glob("*.npz"))) == 2
    assert build_index([("bench", path, ["question"])], n=5, cache_dir=cache).n == 5  # n is part of the key


def test_index_is_compact():
    from flywheel.curation.decontamination import EvalIndex

    items = [("b", str(i), " ".join(f"w{i}x{j}" for j in range(108))) for i in range(1000)]  # ~100k n-grams
    index = EvalIndex.from_texts(items, n=8)
    assert len(index) == 1000 * 101
    assert index.nbytes / len(index) < 24  # bytes per eval n-gram: ~20 MB for 1M


def test_corpus_scan_keeps_texts_apart(index):
    # the first text ends and the second begins with parts of the eval text: no window spans both
    from flywheel.curation.decontamination import scan_texts

    half = EVAL.split()
    results = scan_texts([" ".join(half[:6]), " ".join(half[6:12])], index, rule="any_hit")
    assert results == [[], []]


def test_hit_records_training_mix_source(index):
    row = example(EVAL)
    row["mix_source"] = "seed"
    (hit,) = find_hits(row, index)
    assert hit["train_mix_source"] == "seed"


def test_ascii_fast_path_hashes_like_the_unicode_path():
    texts = ["Hello, World! x=3 and y_2 = 4.", "The  QUICK brown fox\tjumps."]
    ascii_only = segment(texts)
    with_unicode = segment(texts + ["café ﬁne"])  # one non-ASCII text sends the batch down the Unicode path
    n = ascii_only.offsets[-1]
    assert np.array_equal(ascii_only.hashes, with_unicode.hashes[:n])
    assert ascii_only.words_of(0, 0, 7) == ["hello", "world", "x", "3", "and", "y_2", "4"]
