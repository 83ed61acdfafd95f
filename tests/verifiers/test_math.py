import pytest

from flywheel.schema import Message, Prompt, Sample
from flywheel.verify import VerifyItem
from verifiers.math import MathVerifier, answers_match, extract_answer


@pytest.mark.parametrize(("response", "answer"), [
    ("so \\boxed{1} then \\boxed{42}", "42"),
    ("We get 3 + 4 = 7. The answer is 7.", "7."),
    ("work\n#### 1,234", "1,234"),
    ("first 3 then 5", "5"),
    ("no numbers here", None),
])
def test_extract_answer(response, answer):
    assert extract_answer(response) == answer


@pytest.mark.parametrize(("gold", "response"), [
    ("7", "3 + 4 = 7. The answer is 7."),
    ("0.5", "The answer is \\frac{1}{2}"),
    ("\\frac{1}{2}", "\\boxed{0.5}"),
    ("7425000", "The answer is 7,425,000."),
    ("3", "\\boxed{x = 3}"),
    ("2\\sqrt{2}", "\\boxed{\\sqrt{8}}"),
    ("x^2+1", "\\boxed{1 + x^2}"),
    ("50", "The answer is 50\\%"),
])
def test_equivalent_answers_match(gold, response):
    assert answers_match(gold, response)


@pytest.mark.parametrize(("gold", "response"), [
    ("7", "The answer is 8."),
    ("0.5", "\\boxed{\\frac{1}{3}}"),
    ("x^2+1", "\\boxed{x^2-1}"),
    ("7", "nothing"),
])
def test_different_answers_do_not_match(gold, response):
    assert not answers_match(gold, response)


def test_adversarial_power_tower_is_refused_quickly():
    import time

    started = time.perf_counter()
    assert not answers_match("1", "\\boxed{9^{9^{9^{9}}}}")
    assert time.perf_counter() - started < 2


def test_verifier_batch():
    prompt = Prompt(id="p", domain="math", messages=[Message(role="user", content="3+4?")], reference="7", source="f:1")
    items = [VerifyItem(prompt, Sample(prompt_id="p", sample_index=i, text=t, num_tokens=1, finish_reason="stop",
                                       round=1, checkpoint="c", seed=0)) for i, t in enumerate(["The answer is 7.", "6"])]
    results = MathVerifier().verify_batch(items)
    assert [r.passed for r in results] == [True, False]
    assert "expected '7'" in results[1].reason
