import json

import numpy as np
import pytest

from flywheel.decontaminate import build_index, decontaminate, find_hits, ngram_hashes, words

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
    a = ngram_hashes(["a", "b", "c", "d"], 2)
    assert a.dtype == np.uint64 and len(a) == 3
    assert np.array_equal(a, ngram_hashes(["a", "b", "c", "d"], 2))
    assert ngram_hashes(["a", "b"], 2)[0] != ngram_hashes(["b", "a"], 2)[0]


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
