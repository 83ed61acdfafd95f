import pytest

from flywheel.records.schema import Message, Prompt, Sample, Verdict
from flywheel.curation.policies import Policy, accepted_samples, judge_samples, select_best_per_prompt

VERIFIERS = {"math": ["math"], "code": ["unit_tests"], "general": []}


def prompt(pid, domain="math"):
    return Prompt(id=pid, domain=domain, messages=[Message(role="user", content=f"q {pid}")], reference="1", source="f:1")


def sample(pid, index, text, finish="stop", round_number=1):
    return Sample(prompt_id=pid, sample_index=index, text=text, num_tokens=3, finish_reason=finish,
                  round=round_number, checkpoint="ck", seed=0)


def verdict(pid, index, passed, status="ok", verifier="math", score=None, round_number=1):
    return Verdict(prompt_id=pid, sample_index=index, round=round_number, verifier=verifier, passed=passed,
                   score=float(passed) if score is None else score, status=status, reason="", cost_seconds=0.0)


def test_accepts_only_finished_samples_that_every_verifier_passed():
    prompts = [prompt("a"), prompt("g", "general")]
    samples = [sample("a", 0, "1"), sample("a", 1, "1", finish="length"), sample("a", 2, "2"), sample("a", 3, "1"),
               sample("g", 0, "hello")]
    verdicts = [verdict("a", 0, True), verdict("a", 1, True), verdict("a", 2, False),
                verdict("a", 3, True, status="error")]
    accepted = accepted_samples(samples, verdicts, prompts, VERIFIERS)
    assert [s.sample_index for s, _ in accepted] == [0]  # truncated, failed, errored and unverified all rejected


def test_keeps_k_distinct_per_prompt_and_drops_exact_duplicates():
    prompts = [prompt("a")]
    accepted = [(sample("a", i, t), 1.0) for i, t in enumerate(["The answer is 1.", "the  answer is 1. ", "1", "One: 1"])]
    selected = select_best_per_prompt(prompts, accepted, k=2)
    answers = [r["messages"][-1]["content"] for r in selected]
    assert answers == ["The answer is 1.", "1"]  # the case/space duplicate is gone, then k=2 caps
    assert selected[0]["messages"][0] == {"role": "user", "content": "q a"}
    assert all(r["origin_round"] == 1 and r["mix_source"] == "pool" for r in selected)


def test_pool_keeps_best_of_all_rounds_with_their_origin():
    prompts = [prompt("a"), prompt("b")]
    round1 = select_best_per_prompt(prompts, [(sample("a", 0, "old a"), 1.0), (sample("b", 0, "old b"), 1.0)], k=1)
    round2 = select_best_per_prompt(prompts, [(sample("a", 0, "new a", round_number=2), 1.0)], k=1, previous_pool=round1)
    by_prompt = {r["prompt_id"]: r for r in round2}
    assert by_prompt["a"]["origin_round"] == 2  # tie on score goes to the newer round
    assert by_prompt["b"]["origin_round"] == 1  # a prompt round 2 did not solve keeps round 1's best
    assert by_prompt["b"]["messages"][-1]["content"] == "old b"


MIXED = {"math": ["math"], "code": ["unit_tests"], "general": ["reward_model"]}
POLICY = Policy({"math": "all_correct", "general": "best_of_n"}, all_pass_keep=1)


def rm(pid, index, score, passed=True):
    return verdict(pid, index, passed, verifier="reward_model", score=score)


def test_best_of_n_takes_the_highest_reward_among_passing_finished_samples():
    prompts = [prompt("g", "general")]
    samples = [sample("g", 0, "ok"), sample("g", 1, "best but cut off", finish="length"), sample("g", 2, "better"),
               sample("g", 3, "below the cut")]
    verdicts = [rm("g", 0, 0.5), rm("g", 1, 0.9), rm("g", 2, 0.7), rm("g", 3, 0.8, passed=False)]
    accepted, difficulty = judge_samples(samples, verdicts, prompts, MIXED, POLICY)
    assert [(s.sample_index, score) for s, score in accepted] == [(2, 0.7)]
    assert difficulty == [{"prompt_id": "g", "domain": "general", "n_samples": 4, "n_passed": 2, "pass_rate": 0.5,
                           "status": "mixed"}]


def test_best_of_n_can_require_the_domain_checker():
    prompts = [prompt("m")]
    samples = [sample("m", 0, "wrong"), sample("m", 1, "right")]
    verdicts = [verdict("m", 0, False), verdict("m", 1, True), rm("m", 0, 0.9), rm("m", 1, 0.2)]
    both = {"math": ["math", "reward_model"]}
    strict = Policy({"math": "best_of_n"}, requires_checker=True)
    loose = Policy({"math": "best_of_n"}, requires_checker=False)
    assert [s.sample_index for s, _ in judge_samples(samples, verdicts, prompts, both, strict)[0]] == [1]
    assert [s.sample_index for s, _ in judge_samples(samples, verdicts, prompts, both, loose)[0]] == [0]


def test_difficulty_flags_and_down_weights():
    prompts = [prompt("easy"), prompt("hard"), prompt("mid")]
    samples = [sample(p, i, f"{p} {i}") for p in ("easy", "hard", "mid") for i in range(3)]
    verdicts = ([verdict("easy", i, True) for i in range(3)] + [verdict("hard", i, False) for i in range(3)]
                + [verdict("mid", 0, True), verdict("mid", 1, True), verdict("mid", 2, False)])
    accepted, difficulty = judge_samples(samples, verdicts, prompts, MIXED, POLICY)
    status = {row["prompt_id"]: (row["status"], row["pass_rate"]) for row in difficulty}
    assert status == {"easy": ("all_pass", 1.0), "hard": ("none_pass", 0.0), "mid": ("mixed", 2 / 3)}
    kept = [s.prompt_id for s, _ in accepted]
    assert kept.count("easy") == 1 and kept.count("mid") == 2 and "hard" not in kept


def test_near_duplicates_within_a_prompt_are_dropped():
    prompts = [prompt("a")]
    answers = ["So 3 + 4 = 7 and the final answer is 7.", "So 3 + 4 = 7 and the final answer is 7 !",
               "Adding three and four gives seven."]
    accepted = [(sample("a", i, t), 1.0) for i, t in enumerate(answers)]
    kept = select_best_per_prompt(prompts, accepted, k=3, near_threshold=0.8)
    assert [r["messages"][-1]["content"] for r in kept] == [answers[0], answers[2]]
    assert len(select_best_per_prompt(prompts, accepted, k=3, near_threshold=None)) == 3


def test_verdicts_of_regenerated_samples_are_refused():
    """Samples re-materialized after verify (another seed) must not inherit the old samples' verdicts."""
    from flywheel.curation.policies import StaleVerdicts, judge_samples
    from flywheel.verification.plugins import verify_samples

    prompt = Prompt(id="p", domain="math", messages=[Message(role="user", content="2+2?")], reference="4", source="f:1")
    old = [Sample(prompt_id="p", sample_index=0, text="The answer is 4.", num_tokens=4, finish_reason="stop", round=1,
                  checkpoint="c", seed=0)]
    verdicts = verify_samples([prompt], old, {"math": ["math"]})
    assert judge_samples(old, verdicts, [prompt], {"math": ["math"]})[0]  # fresh: accepted
    regenerated = [old[0].model_copy(update={"text": "1 + 2 = 3. The answer is 3.", "seed": 1})]
    from flywheel.round.lineage import StaleInput

    assert issubclass(StaleVerdicts, StaleInput)  # one error for every refusal of an out-of-date input
    with pytest.raises(StaleVerdicts, match=r"^select of round 1 refuses stale input: .*re-materialize 'verdicts' for round 1"):
        judge_samples(regenerated, verdicts, [prompt], {"math": ["math"]})


def test_unfiltered_accepts_every_finished_sample_whatever_its_verdicts():
    """The ablation's baseline: no rejection. Failed and unverified samples pass, a truncated one still does not,
    and a prompt whose samples all finished is not cut to ``all_pass_keep``: with no checker there is no pass rate,
    so no difficulty row either."""
    prompts = [prompt("a"), prompt("b")]
    samples = [sample("a", 0, "1"), sample("a", 1, "2"), sample("a", 2, "3", finish="length"),
               sample("b", 0, "x"), sample("b", 1, "y")]
    verdicts = [verdict("a", 0, True), verdict("a", 1, False)]  # b has no verdict at all
    decisions = []
    accepted, difficulty = judge_samples(samples, verdicts, prompts, {"math": []},
                                         Policy({"math": "unfiltered"}, all_pass_keep=1), decisions)
    assert sorted((s.prompt_id, s.sample_index, score) for s, score in accepted) == [
        ("a", 0, 0.0), ("a", 1, 0.0), ("b", 0, 0.0), ("b", 1, 0.0)]
    assert difficulty == []
    assert [(d["rule"], d["passed"]) for d in decisions if d["prompt_id"] == "a"] == [
        ("unfiltered", True), ("unfiltered", True), ("unfiltered", False)]
    # the domains that keep their policy are unchanged by a neighbour's
    math_only = judge_samples(samples, verdicts, prompts, {"math": ["math"]}, Policy({}))[0]
    assert [(s.prompt_id, s.sample_index) for s, _ in math_only] == [("a", 0)]
