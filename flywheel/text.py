"""The one text normaliser: how every stage folds text before comparing or counting it.

Exact duplicates (selection, dedup), n-gram overlap (decontamination) and lexical diversity
all compare text after the same steps: Unicode NFKC (so full-width ``７`` is ``7`` and a
ligature is its letters), lower case, and, for keys, whitespace folded to single spaces.
Words are runs of Unicode word characters (``\\w+``); diversity also counts punctuation.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
_WORD_OR_PUNCTUATION = re.compile(r"\w+|[^\w\s]")


def normalise(text: str) -> str:
    """NFKC and lower case. NFKC leaves ASCII unchanged and isascii() is O(1), so ASCII skips it."""
    return text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).lower()


def folded(text: str) -> str:
    """Normalised, with every run of whitespace one space and none at the ends: the exact-duplicate form."""
    return _SPACE.sub(" ", normalise(text)).strip()


def exact_key(text: str) -> str:
    """A short hash of :func:`folded`: equal for texts that differ only in case, width or spacing."""
    return hashlib.sha1(folded(text).encode("utf-8", errors="surrogatepass")).hexdigest()


def words(text: str) -> list[str]:
    """The documented word tokenizer: NFKC, lower case, runs of Unicode word characters (``\\w+``)."""
    return _WORD.findall(normalise(text))


def words_and_punctuation(text: str) -> list[str]:
    """Words as in :func:`words`, plus each punctuation mark as a token of its own (for distinct-n)."""
    return _WORD_OR_PUNCTUATION.findall(normalise(text))
