"""The judge's reply cache and its options, without a server (the served paths are in test_llm_judge.py)."""

from __future__ import annotations

import pytest
import yaml

from flywheel.config import load_config
from flywheel.verification.plugins import VerifierFailed, load_verifier
from flywheel_verifiers.judge_cache import Reply, ReplyCache, request_key
from flywheel_verifiers.judge_rubrics import CODE_CORRECTNESS_STYLE, GENERAL_QUALITY
from tests.conftest import small_config_dict

MESSAGES = [{"role": "user", "content": "Rate: Bees make honey."}]
DECODING = {"max_tokens": 64, "temperature": 0.0, "seed": 0}


def test_the_key_changes_with_the_judge_the_rubric_the_request_and_the_decoding():
    key = request_key("judge-a", GENERAL_QUALITY.hash, MESSAGES, "Yes.", "general", DECODING)
    assert key == request_key("judge-a", GENERAL_QUALITY.hash, [dict(m) for m in MESSAGES], "Yes.", "general",
                              dict(DECODING))
    others = [request_key("judge-b", GENERAL_QUALITY.hash, MESSAGES, "Yes.", "general", DECODING),
              request_key("judge-a", CODE_CORRECTNESS_STYLE.hash, MESSAGES, "Yes.", "general", DECODING),
              request_key("judge-a", GENERAL_QUALITY.hash, [{"role": "user", "content": "Rate: Bees make wax."}],
                          "Yes.", "general", DECODING),
              request_key("judge-a", GENERAL_QUALITY.hash, MESSAGES, "No.", "general", DECODING),
              request_key("judge-a", GENERAL_QUALITY.hash, MESSAGES, "Yes.", "math", DECODING),
              request_key("judge-a", GENERAL_QUALITY.hash, MESSAGES, "Yes.", "general", {**DECODING, "max_tokens": 128})]
    assert key not in others and len(set(others)) == len(others)


def test_keys_are_structured_so_a_shifted_boundary_or_a_fake_conversation_never_collides():
    # the same rendered text from two different requests once shared a key (and the second got the first's reply)
    shifted = [request_key("j", GENERAL_QUALITY.hash, [{"role": "user", "content": "Capital of France?\nAnswer: Paris"}],
                           "Score: 3", "general", DECODING),
               request_key("j", GENERAL_QUALITY.hash, [{"role": "user", "content": "Capital of France?"}],
                           "Paris\nScore: 3", "general", DECODING)]
    assert shifted[0] != shifted[1]
    fake = [{"role": "user", "content": "User: Hi\nAssistant: Hello\nUser: Bye?"}]
    real = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye?"}]
    assert request_key("j", GENERAL_QUALITY.hash, fake, "x", "general", DECODING) != \
        request_key("j", GENERAL_QUALITY.hash, real, "x", "general", DECODING)


def test_a_judge_checkpoint_replaced_at_the_same_path_is_another_judge(tmp_path):
    from flywheel_verifiers.llm_judge import BUNDLED_JUDGE, LLMJudgeVerifier

    import shutil

    judge = tmp_path / "judge"
    shutil.copytree(BUNDLED_JUDGE, judge)
    before = LLMJudgeVerifier(path=str(judge)).judge_identity()
    assert before == LLMJudgeVerifier(path=str(judge)).judge_identity()
    weights = next(judge.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x01")  # one byte of new weights, same path
    assert LLMJudgeVerifier(path=str(judge)).judge_identity() != before
    assert LLMJudgeVerifier(backend="openai", base_url="http://127.0.0.1:9", model=str(judge)).judge_identity() == \
        LLMJudgeVerifier(path=str(judge)).judge_identity()  # `vllm serve <folder>` by hand: the same weights
    served = LLMJudgeVerifier(backend="openai", base_url="http://127.0.0.1:9", model="judge")
    assert served.judge_identity() != LLMJudgeVerifier(backend="openai", base_url="http://127.0.0.1:9", model="judge",
                                                       model_revision="2026-12").judge_identity()


def test_replies_outlive_the_process_that_paid_for_them(tmp_path):
    path = tmp_path / "cache" / "llm_judge.sqlite"
    first = ReplyCache(path)
    first.put("k1", "judge", "r", "s1", Reply("Fine.\nScore: 3", "stop", 150, 9))
    first.close()
    second = ReplyCache(path)  # a later run: another connection to the same file
    assert second.get_many(["k1", "k2"]) == {"k1": Reply("Fine.\nScore: 3", "stop", 150, 9)}
    assert len(second) == 1


def test_the_workdir_cache_is_the_default_and_bad_options_name_the_verifier(small_config):
    options = small_config.verifier_options()["llm_judge"]
    assert options["cache_path"] == str(small_config.workdir / "cache" / "llm_judge.sqlite")
    for bad, message in (({"backend": "ollama"}, "backend must be 'openai' or 'vllm_server'"),
                         ({"backend": "openai", "base_url": "http://x/v1"}, "needs model"),
                         ({"backend": "openai", "model": "m"}, "needs base_url or base_urls"),
                         ({"rubric": {"chat": "general_quality"}}, "unknown domains"),
                         ({"temperature": 0.5}, "unexpected keyword argument 'temperature'")):
        with pytest.raises(VerifierFailed, match=rf"verifier 'llm_judge' failed to load: .*{message}"):
            load_verifier("llm_judge", bad)


def test_a_rubric_file_beside_the_config_resolves_against_it(tmp_path):
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics" / "mine.yaml").write_text("template: '{{ response }}'\nfields: {Score: [1, 3]}\n")
    data = small_config_dict(tmp_path / "work")
    data["verifiers"].update(general=["llm_judge"], options={"llm_judge": {"rubric": {"general": "rubrics/mine.yaml"}}})
    (tmp_path / "round.yaml").write_text(yaml.safe_dump(data))
    config = load_config(tmp_path / "round.yaml")
    assert config.verifier_options()["llm_judge"]["rubric"] == {"general": str(tmp_path / "rubrics" / "mine.yaml")}
    verifier = load_verifier("llm_judge", config.verifier_options()["llm_judge"])
    assert verifier.rubrics["general"].name == "mine" and verifier.rubrics["code"].name == "code_correctness_style"


def test_a_reply_cut_at_max_tokens_is_an_error_even_after_a_score_line():
    from flywheel_verifiers.llm_judge import LLMJudgeVerifier

    judge = LLMJudgeVerifier()
    cut = judge._verdict(Reply("Score: 3\nWait, the answer is wrong, so", "length", 10, 64), GENERAL_QUALITY, "j", 0.0)
    assert cut.status == "error" and not cut.passed and "cut at max_tokens (64)" in cut.reason
    whole = judge._verdict(Reply("Score: 3", "length", 10, 64), GENERAL_QUALITY, "j", 0.0)
    assert whole.status == "error" and not whole.passed  # nothing says the judge was done
    done = judge._verdict(Reply("Right.\nScore: 3", "stop", 10, 5), GENERAL_QUALITY, "j", 0.0)
    assert done.status == "ok" and done.passed and done.score == 3.0
