import numpy as np
import pytest

from flywheel.measures.diversity import diversity_metrics, distinct_n, embed, gzip_ratio, mean_cosine_distance, self_bleu, vendi_score

SAME = ["The answer is 4 because 2 plus 2 is 4."] * 12
VARIED = [f"Step {i}: {i} times {i + 3} is {i * (i + 3)}; a {'cat' if i % 2 else 'dog'} ran {i} miles north."
          for i in range(12)] + ["def add(a, b):\n    return a + b", "Paris is the capital of France."]


def test_distinct_n():
    assert distinct_n(["a b a b"], 1) == pytest.approx(2 / 4)
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert distinct_n(["a b", "c d"], 2) == 1.0
    assert distinct_n([], 2) == 0.0


def test_self_bleu_and_gzip_separate_repetition_from_variety():
    assert self_bleu(SAME) == pytest.approx(1.0)
    assert self_bleu(VARIED) < 0.6
    assert gzip_ratio(SAME) < gzip_ratio(VARIED)
    assert self_bleu(["only one"]) is None


def test_vendi_counts_effective_distinct_items():
    basis = np.eye(4, dtype=np.float32)
    assert vendi_score(basis) == pytest.approx(4.0, rel=1e-4)
    assert vendi_score(np.repeat(basis[:1], 5, axis=0)) == pytest.approx(1.0, rel=1e-4)
    assert mean_cosine_distance(basis) == pytest.approx(1.0)


def test_embeddings_load_offline_and_rank_paraphrases_close(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    vectors = embed(["The cat sat on the mat.", "A cat was sitting on the mat.", "def add(a, b): return a + b"])
    assert vectors.shape == (3, 384)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(1.0, abs=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_diversity_metrics_of_collapsed_text_are_lower_on_every_axis():
    same, varied = diversity_metrics(SAME), diversity_metrics(VARIED)
    for metric in ("distinct_1", "distinct_2", "distinct_3", "gzip_ratio", "embedding_vendi", "embedding_cosine_distance"):
        assert same[metric] < varied[metric], metric
    assert same["self_bleu"] > varied["self_bleu"]
    assert diversity_metrics([])["distinct_2"] is None
