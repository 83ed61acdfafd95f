"""The reference_match verifier: right answers in other words pass, wrong facts and noise fail, on the bundled
sentence model and the demo's own held-out general questions."""

from __future__ import annotations

import json

import pytest

from flywheel.config import PACKAGE_DIR
from flywheel.records.schema import Message, Prompt, Sample
from flywheel.verification.plugins import VerifyItem, load_verifier
from flywheel_verifiers.reference_match import key_terms

HELDOUT_GENERAL = PACKAGE_DIR / "data" / "tasks" / "heldout_general.jsonl"


def item(question: str, reference: str | None, answer: str, index: int = 0) -> VerifyItem:
    prompt = Prompt(id="g", domain="general", messages=[Message(role="user", content=question)], reference=reference,
                    source="f:1")
    return VerifyItem(prompt, Sample(prompt_id="g", sample_index=index, text=answer, num_tokens=1,
                                     finish_reason="stop", round=1, checkpoint="c", seed=0))


@pytest.fixture(scope="module")
def verifier():
    return load_verifier("reference_match")  # through its entry point, as a round loads it


def test_key_terms_are_what_the_question_does_not_already_say():
    assert key_terms("What is the capital of Spain?", "The capital of Spain is Madrid.") == ["madrid"]
    assert key_terms("What is the first letter of the word banana?",
                     "The word banana starts with the letter b.") == ["b"]
    assert key_terms("How many legs does a cow have?", "A cow has four legs.") == ["4"]  # number words as digits


def test_right_answers_in_other_words_pass_and_wrong_facts_and_noise_fail(verifier):
    question, reference = "What is the capital of Spain?", "The capital of Spain is Madrid."
    answers = {"The capital of Spain is Madrid.": True, "It is Madrid.": True, "Madrid is the capital.": True,
               "The capital of Spain is Rome.": False,  # embedding similarity alone: 0.82, above "It is Madrid."
               "The capital of Spain is Spain.": False, "The whed thehatnylttsit w rt.": False,
               "2 + 2 = 4. The answer is 4.": False, "": False}
    results = verifier.verify_batch([item(question, reference, a, i) for i, a in enumerate(answers)])
    assert [r.passed for r in results] == list(answers.values())
    assert all(r.status == "ok" and -1.0 <= r.score <= 1.0 for r in results)
    assert results[0].score == pytest.approx(1.0, abs=1e-4)
    assert results[3].details["missing"] == ["madrid"] and "missing the reference's madrid" in results[3].reason
    counted = verifier.verify_batch([item("How many legs does a cow have?", "A cow has 4 legs.", "A cow has four legs.")])
    assert counted[0].passed


def test_the_name_inside_noise_is_not_enough(verifier):
    # key terms alone would pass it: the embedding says it does not say what the reference says
    result = verifier.verify_batch([item("What is the capital of Spain?", "The capital of Spain is Madrid.",
                                         "zq xv madrid kk pp qq rr tt ww yy uu")])[0]
    assert not result.passed and "similarity" in result.reason


def test_a_prompt_without_a_reference_is_an_error_not_a_failure(verifier):
    result = verifier.verify_batch([item("Name a colour.", None, "Blue.")])[0]
    assert result.status == "error" and "no reference answer" in result.reason


def test_the_references_of_the_demo_pass_and_every_other_questions_reference_fails(verifier):
    rows = [json.loads(line) for line in HELDOUT_GENERAL.read_text().splitlines()]
    assert len(rows) >= 30 and all(key_terms(r["messages"][0]["content"], r["reference"]) for r in rows)
    own = verifier.verify_batch([item(r["messages"][0]["content"], r["reference"], r["reference"], i)
                                 for i, r in enumerate(rows)])
    assert all(result.passed for result in own)
    # the next question's reference answers this one: a right-looking sentence with the wrong fact
    shifted = verifier.verify_batch([item(r["messages"][0]["content"], r["reference"], rows[(i + 1) % len(rows)]
                                          ["reference"], i) for i, r in enumerate(rows)])
    assert not any(result.passed for result in shifted)


def test_a_threshold_outside_a_cosines_range_is_refused_by_name():
    from flywheel.verification.plugins import VerifierFailed

    with pytest.raises(VerifierFailed, match="reference_match.*threshold is a cosine"):
        load_verifier("reference_match", {"threshold": 2})


def test_the_demos_general_questions_take_no_seed_demonstration_away(tmp_path):
    # they are a decontamination eval set too: a question sharing its template's 8-gram with the seed's (the
    # 9-word "What is the first letter of the word X?") dropped 18 seed demonstrations
    from flywheel.config import load_config
    from flywheel.curation.decontamination import decontaminate
    from flywheel.curation.mixing import file_source_examples
    from flywheel.stages.decontaminate import eval_index

    config = load_config(workdir=tmp_path)  # the eval index's cache goes there
    seed = [row for s in config.mixture.sources if s.kind == "file" for row in file_source_examples(s)]
    _, hits = decontaminate(seed, eval_index(config), rule=config.decontamination.rule,
                            threshold=config.decontamination.threshold)
    assert {hit["benchmark"] for hit in hits} == {"heldout"}  # the planted copies of held-out problems only
