import itertools
from math import comb

import pytest

from flywheel.measures.evaluation import evaluation_scores, pass_at_k
from flywheel.records.schema import Message, Prompt, Sample, Verdict


@pytest.mark.parametrize(("n", "c", "k"), [(10, 3, 1), (10, 3, 5), (5, 0, 2), (5, 5, 3), (8, 2, 8)])
def test_pass_at_k_equals_the_exhaustive_probability(n, c, k):
    outcomes = [1] * c + [0] * (n - c)
    draws = list(itertools.combinations(range(n), k))
    exact = sum(any(outcomes[i] for i in draw) for draw in draws) / comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(exact)


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError, match="k=5"):
        pass_at_k(4, 1, 5)


def _prompt(pid, domain):
    return Prompt(id=pid, domain=domain, messages=[Message(role="user", content="q")], reference="1", source="f:1")


def test_scores_per_domain_with_all_row():
    prompts = [_prompt("m1", "math"), _prompt("m2", "math"), _prompt("c1", "code")]
    samples, verdicts = [], []
    correct = {"m1": [1, 0, 0, 0], "m2": [0, 0, 0, 0], "c1": [1, 1, 0, 0]}
    verifier = {"math": "math", "code": "unit_tests"}
    for prompt in prompts:
        for i, ok in enumerate(correct[prompt.id]):
            samples.append(Sample(prompt_id=prompt.id, sample_index=i, text="t", num_tokens=1, finish_reason="stop",
                                  round=1, checkpoint="c", seed=i))
            verdicts.append(Verdict(prompt_id=prompt.id, sample_index=i, round=1, verifier=verifier[prompt.domain],
                                    passed=bool(ok), score=float(ok), status="ok", reason="", cost_seconds=0.0))
    scores = evaluation_scores(prompts, samples, verdicts, {"math": ["math"], "code": ["unit_tests"], "general": []}, k=2)
    assert scores["math"]["pass_at_1"] == pytest.approx((0.25 + 0) / 2)
    assert scores["math"]["pass_at_k"] == pytest.approx((pass_at_k(4, 1, 2) + 0) / 2)
    assert scores["code"]["pass_at_1"] == pytest.approx(0.5)
    assert scores["all"]["n_prompts"] == 3 and scores["all"]["k"] == 2
    assert scores["all"]["pass_at_1"] == pytest.approx((0.25 + 0 + 0.5) / 3)
