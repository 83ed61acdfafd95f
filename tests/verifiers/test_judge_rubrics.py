"""The judge's rubrics: what the judge is asked, and the strict reading of its score."""

from __future__ import annotations

import pytest

from flywheel_verifiers.judge_rubrics import (
    CODE_CORRECTNESS_STYLE,
    GENERAL_QUALITY,
    UnreadableScore,
    load_rubric,
    transcript,
)


@pytest.mark.parametrize("reply, score", [
    ("It answers the question correctly.\nScore: 3", 3),
    ("Score: 2", 2),
    ("The answer is partial.\n**Score:** 2", 2),
    ("Reasoning: wrong.\nscore: 1/3", 1),
    ("It is right.\nScore: 3.\n", 3),
    ("Score: 3\nSome words.\nScore: 3", 3),  # repeated, consistent
])
def test_scores_written_the_ways_judges_write_them_are_read(reply, score):
    scores, _ = GENERAL_QUALITY.parse(reply)
    assert scores == {"Score": score}


@pytest.mark.parametrize("reply, why", [
    ("It is a fine answer.", "no 'Score: N' line"),
    ("", "no 'Score: N' line"),
    ("Score: 5", "outside 1-3"),
    ("Score: 0", "outside 1-3"),
    ("Score: 3\nScore: 1", "2 different values"),
    ("I would give it a Score: 3 overall", "no 'Score: N' line"),  # not a line of its own: ambiguous prose
    ("Score: three", "no 'Score: N' line"),
])
def test_anything_else_is_unreadable_and_says_why(reply, why):
    with pytest.raises(UnreadableScore, match=why):
        GENERAL_QUALITY.parse(reply)


def test_the_code_rubric_needs_both_fields_and_keeps_the_reasoning():
    scores, reasoning = CODE_CORRECTNESS_STYLE.parse("Solves it, but no comments.\nCorrectness: 1\nStyle: 0")
    assert scores == {"Correctness": 1, "Style": 0} and reasoning == "Solves it, but no comments."
    with pytest.raises(UnreadableScore, match="Style"):
        CODE_CORRECTNESS_STYLE.parse("Correctness: 1")
    assert CODE_CORRECTNESS_STYLE.best == 2 and GENERAL_QUALITY.best == 3


def test_rendering_puts_the_conversation_and_answer_in_and_templates_do_not_run_user_text():
    messages = GENERAL_QUALITY.render([{"role": "user", "content": "What is {{ 7*7 }}?"}], "It is 49.", "general")
    assert messages[-1]["role"] == "user"
    text = messages[-1]["content"]
    assert "Question: What is {{ 7*7 }}?" in text and "Answer: It is 49." in text  # data is never a template
    multi = transcript([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                        {"role": "user", "content": "Bye?"}])
    assert multi == "User: Hi\nAssistant: Hello\nUser: Bye?"


def test_a_users_rubric_file_loads_and_its_hash_follows_its_text(tmp_path):
    path = tmp_path / "helpful.yaml"
    path.write_text("template: 'Q: {{ conversation }} A: {{ response }} Reply Helpful: N'\n"
                    "fields: {Helpful: [0, 10]}\nthreshold: 7\nsystem: You are strict.\n")
    rubric = load_rubric(str(path))
    assert rubric.fields == {"Helpful": (0, 10)} and rubric.threshold == 7
    assert rubric.render([{"role": "user", "content": "x"}], "y", "general")[0] == {"role": "system",
                                                                                    "content": "You are strict."}
    first = rubric.hash
    path.write_text(path.read_text().replace("Reply", "Answer with"))
    assert load_rubric(str(path)).hash != first


@pytest.mark.parametrize("text, message", [
    ("fields: {Score: [1, 3]}\n", "keys template, fields"),
    ("template: x\nfields: {Score: [3, 1]}\n", r"fields.Score must be \[lowest, highest\]"),
    ("template: x\nfields: {Score: 3}\n", "fields.Score"),
    ("template: '{{ oops'\nfields: {Score: [1, 3]}\n", "template does not parse"),
    ("template: x\nfields: {Score: [1, 3]}\ncolour: red\n", "keys template, fields"),
])
def test_a_bad_rubric_file_is_refused_naming_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as raised:
        load_rubric(str(path))
    assert "bad.yaml" in str(raised.value)


def test_an_unknown_rubric_name_lists_the_bundled_ones():
    with pytest.raises(ValueError, match="general_quality"):
        load_rubric("general-quality")
