"""Combining a domain's verdicts (verifiers.combine): all_of, any_of and weighted, and the decision rows."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import yaml

from flywheel.config import ConfigError, load_config
from flywheel.records.schema import prompts_to_table, samples_to_table, verdicts_to_table
from flywheel.curation.policies import Combine, Policy, combined_decision, judge_samples, top_quantile_cut
from flywheel.curation.selection import select_round
from tests.flywheel.curation.test_policies import prompt, sample, verdict

GENERAL = {"math": ["math"], "code": ["unit_tests"], "general": ["reward_model", "llm_judge"]}


def rm(pid, index, score, passed):
    return verdict(pid, index, passed, verifier="reward_model", score=score)


def judge(pid, index, score, status="ok"):
    return verdict(pid, index, score >= 3 and status == "ok", status=status, verifier="llm_judge", score=score)


# Four answers to one general prompt: the RM's top pick, the judge's, both, neither.
PROMPTS = [prompt("g", "general")]
SAMPLES = [sample("g", i, f"answer {i}") for i in range(5)]
VERDICTS = [rm("g", 0, 2.0, True), judge("g", 0, 1),
            rm("g", 1, -1.0, False), judge("g", 1, 3),
            rm("g", 2, 1.5, True), judge("g", 2, 3),
            rm("g", 3, -2.0, False), judge("g", 3, 2),
            rm("g", 4, 0.5, False), judge("g", 4, 0, status="error")]


def accepted(policy: Policy, decisions=None) -> list[int]:
    chosen, _ = judge_samples(SAMPLES, VERDICTS, PROMPTS, GENERAL, policy, decisions)
    return sorted(s.sample_index for s, _ in chosen)


def test_all_of_keeps_what_both_passed_and_any_of_what_either_did():
    assert accepted(Policy({"general": "all_correct"}, all_pass_keep=None)) == [2]  # today's rule, unchanged
    assert accepted(Policy({"general": "all_correct"}, all_pass_keep=None,
                           combine={"general": Combine("all_of")})) == [2]
    any_of = Policy({"general": "all_correct"}, all_pass_keep=None, combine={"general": Combine("any_of")})
    decisions = []
    assert accepted(any_of, decisions) == [0, 1, 2]  # Llama 3.1: RM top OR judge high
    rows = {d["sample_index"]: d for d in decisions}
    assert rows[0]["passed_by"] == ["reward_model"] and rows[0]["failed_by"] == ["llm_judge"]
    assert rows[1]["passed_by"] == ["llm_judge"] and rows[2]["score"] == 1.0 and rows[0]["score"] == 0.5
    assert rows[4]["failed_by"] == ["reward_model", "llm_judge"] and not rows[4]["passed"]  # an error lets nothing in


def test_best_of_n_under_a_rule_ranks_the_combined_passes_by_reward():
    policy = Policy({"general": "best_of_n"}, combine={"general": Combine("any_of")})
    assert accepted(policy) == [0]  # 0, 1 and 2 pass any_of; 0 has the best reward score
    # Without a rule best_of_n keeps today's meaning: the RM passed it and so did the checkers (the judge).
    assert accepted(Policy({"general": "best_of_n"})) == [2]


def test_weighted_with_a_threshold_and_with_the_rounds_top_quantile():
    rule = Combine("weighted", {"reward_model": 1.0, "llm_judge": 0.5}, threshold=2.0)
    scores = {i: combined_decision({v.verifier: v for v in VERDICTS if v.sample_index == i},
                                   GENERAL["general"], rule).score for i in range(5)}
    assert scores == {0: 2.5, 1: 0.5, 2: 3.0, 3: -1.0, 4: None}  # an errored verdict gives no combined score
    assert accepted(Policy({"general": "all_correct"}, all_pass_keep=None, combine={"general": rule})) == [0, 2]
    quantile = Combine("weighted", {"reward_model": 1.0, "llm_judge": 0.5}, top_quantile=0.25)
    cut = top_quantile_cut([s for s in scores.values() if s is not None], 0.25)
    assert cut == 3.0
    assert accepted(Policy({"general": "all_correct"}, all_pass_keep=None, combine={"general": quantile},
                           cuts={"general": cut})) == [2]


def test_select_round_cuts_the_quantile_over_the_whole_round_and_writes_decisions(tmp_path):
    for name, table in (("prompts", prompts_to_table(PROMPTS)), ("samples", samples_to_table(SAMPLES)),
                        ("verdicts", verdicts_to_table(VERDICTS))):
        pq.write_table(table, tmp_path / f"{name}.parquet")
    policy = Policy({"general": "all_correct"}, all_pass_keep=None,
                    combine={"general": Combine("weighted", {"llm_judge": 0.5}, top_quantile=0.5)})
    chosen = select_round(tmp_path / "prompts.parquet", tmp_path / "samples.parquet", tmp_path / "verdicts.parquet",
                          None, tmp_path / "pool.parquet", GENERAL, policy, k=5, near_threshold=None,
                          scratch=tmp_path / "scratch", chunk_samples=2)
    # combined scores 1.0*rm + 0.5*judge: 2.5, 0.5, 3.0, -1.0 (4 has an error): the top half is 3.0 and 2.5
    assert chosen.cuts == {"general": 2.5}
    decisions = chosen.table("decisions").to_pylist()
    assert [d["sample_index"] for d in decisions if d["passed"]] == [0, 2] and len(decisions) == 5
    assert {d["rule"] for d in decisions} == {"weighted"}


@pytest.mark.parametrize("combine, message", [
    ({"general": "either"}, "combine.general.rule"),
    ({"general": {"rule": "weighted"}}, "exactly one of threshold or top_quantile"),
    ({"general": {"rule": "any_of", "threshold": 1}}, "belong to the weighted rule"),
    ({"general": {"rule": "weighted", "threshold": 1, "weights": {"math": 1}}}, r"names \['math'\]"),
])
def test_a_bad_rule_is_refused_naming_the_field(tmp_path, small_config_path, combine, message):
    data = yaml.safe_load(small_config_path.read_text())
    data["verifiers"]["general"] = ["reward_model"]
    data["verifiers"]["combine"] = combine
    small_config_path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message):
        load_config(small_config_path)
