"""Diversity of a set of texts. Self-training narrows what a model says; these numbers show it."""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def distinct_n(texts: list[str], n: int) -> float:
    """Unique n-grams / total n-grams over all texts (Li et al. 2016); 0.0 for no n-grams."""
    total, unique = 0, set()
    for text in texts:
        words = tokens(text)
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0
