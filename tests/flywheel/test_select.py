from flywheel.schema import Message, Prompt, Sample, Verdict
from flywheel.select import accepted_samples, select_best_per_prompt

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
    assert all(r["origin_round"] == 1 and r["mix_source"] == "selected" for r in selected)


def test_pool_keeps_best_of_all_rounds_with_their_origin():
    prompts = [prompt("a"), prompt("b")]
    round1 = select_best_per_prompt(prompts, [(sample("a", 0, "old a"), 1.0), (sample("b", 0, "old b"), 1.0)], k=1)
    round2 = select_best_per_prompt(prompts, [(sample("a", 0, "new a", round_number=2), 1.0)], k=1, previous_pool=round1)
    by_prompt = {r["prompt_id"]: r for r in round2}
    assert by_prompt["a"]["origin_round"] == 2  # tie on score goes to the newer round
    assert by_prompt["b"]["origin_round"] == 1  # a prompt round 2 did not solve keeps round 1's best
    assert by_prompt["b"]["messages"][-1]["content"] == "old b"
