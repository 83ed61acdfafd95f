"""The ``reference_match`` verifier: a short answer held against the prompt's reference answer.

For prompts no checker can prove (general questions), a held-out measure that is not the training
reward model: the evaluation's general split is scored by it, and it never filters training data
(the config refuses it in a training domain's verifier list, so no round can learn to please it).

An answer passes when both hold:

- **the reference's key terms are in it**: the reference's words that the question does not already
  contain and that are not function words ("The capital of Spain is Madrid." for "What is the capital
  of Spain?" has one, ``madrid``), compared after the one text normaliser (flywheel.text);
- **it says what the reference says**: the cosine of the two texts' embeddings, from the bundled
  all-MiniLM-L6-v2 (the sentence model diversity and quality control use), is at least ``threshold``.

The embedding alone cannot tell "Madrid" from "Rome" (0.82 against 0.74 for "It is Madrid." on the
sentence above), and key terms alone pass an answer that names the city inside noise; together they
pass a right answer in other words and fail a wrong fact. The score is the cosine, so the mean score
is reported beside the pass rate; the details name the key terms and which were missing.
"""

from __future__ import annotations

import time

from flywheel.text import words
from flywheel.verification.plugins import VerdictResult, VerifyItem

# Words too common to be what an answer is about; the question's own words are left out as well.
FUNCTION_WORDS = frozenset(
    "a an the is are was were be been am it its it's this that these those there here of in on at to for from by "
    "with and or but not no yes do does did has have had can could will would should may might must what which who "
    "whom whose when where why how called call says say said make makes made use uses used you your we our they "
    "their them he she his her i me my start starts begin begins".split())
# Number words read as digits on both sides: "four legs" answers "4 legs".
NUMBER_WORDS = {word: str(value) for value, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty".split())}


def answer_words(text: str) -> list[str]:
    """The text's words (flywheel.text.words), number words as digits."""
    return [NUMBER_WORDS.get(word, word) for word in words(text)]


def question_of(prompt) -> str:
    """What the prompt asks: its last user turn (the turn an answer's key terms are measured against)."""
    return next((m.content for m in reversed(prompt.messages) if m.role == "user"), "")


def key_terms(question: str, reference: str) -> list[str]:
    """The reference's words an answer must contain: not in the question, not function words, in order."""
    asked = set(answer_words(question))
    terms: list[str] = []
    for word in answer_words(reference):
        if word not in asked and word not in FUNCTION_WORDS and word not in terms:
            terms.append(word)
    return terms


class ReferenceMatchVerifier:
    name = "reference_match"
    domains = ("general",)

    def __init__(self, threshold: float = 0.6, batch_size: int = 64):
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"threshold is a cosine, in [-1, 1]; got {threshold}")
        self.threshold, self.batch_size = threshold, batch_size

    def verify_batch(self, items: list[VerifyItem]) -> list[VerdictResult]:
        from flywheel.measures.diversity import embed

        started = time.perf_counter()
        judged = [item for item in items if item.prompt.reference]
        vectors = embed([text for item in judged for text in (item.sample.text, item.prompt.reference)],
                        batch_size=self.batch_size) if judged else None
        similarity = {id(item): float(vectors[2 * i] @ vectors[2 * i + 1]) for i, item in enumerate(judged)}
        cost = (time.perf_counter() - started) / max(1, len(items))
        results = []
        for item in items:
            if not item.prompt.reference:
                results.append(VerdictResult(False, 0.0, f"prompt {item.prompt.id} has no reference answer to match",
                                             status="error", cost_seconds=cost))
                continue
            terms = key_terms(question_of(item.prompt), item.prompt.reference)
            said = set(answer_words(item.sample.text))
            missing = [term for term in terms if term not in said]
            cosine = similarity[id(item)]
            passed = not missing and cosine >= self.threshold
            reason = (f"missing the reference's {', '.join(missing)}" if missing else
                      f"similarity {cosine:.2f} < {self.threshold}" if cosine < self.threshold else
                      f"has {', '.join(terms) or 'the reference'}, similarity {cosine:.2f}")
            results.append(VerdictResult(passed, cosine, reason, cost_seconds=cost,
                                         details={"similarity": round(cosine, 4), "key_terms": terms,
                                                  "missing": missing}))
        return results
