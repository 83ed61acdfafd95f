"""The reward_model verifier on a tiny randomly initialised scorer built from config."""

import pytest

from flywheel.records.schema import Message, Prompt, Sample
from flywheel.verification.plugins import VerifyItem, discover, load_verifier
from flywheel_verifiers.reward_model import RewardModelVerifier


@pytest.fixture(scope="module")
def scorer_dir(tmp_path_factory, tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, num_labels=1,
                         pad_token_id=tokenizer.pad_token_id)
    out = tmp_path_factory.mktemp("scorer")
    LlamaForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def items(texts):
    prompt = Prompt(id="g", domain="general", messages=[Message(role="user", content="Name a colour.")], source="f:1")
    return [VerifyItem(prompt, Sample(prompt_id="g", sample_index=i, text=t, num_tokens=1, finish_reason="stop",
                                      round=1, checkpoint="c", seed=0)) for i, t in enumerate(texts)]


TEXTS = ["Blue.", "The sky is blue on a clear day, and grass is green.", "red", "Colours: blue, red, green, yellow."]


def test_batched_scores_equal_one_at_a_time(scorer_dir):
    verifier = RewardModelVerifier(path=str(scorer_dir), batch_size=4)
    conversations = [[{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": t}] for t in TEXTS]
    batched = verifier.score(conversations)
    single = [RewardModelVerifier(path=str(scorer_dir), batch_size=1).score([c])[0] for c in conversations]
    assert batched == pytest.approx(single, abs=1e-5)  # read at the last real token, whatever the padding
    assert len(set(round(s, 6) for s in batched)) == 4


def test_top_quantile_and_threshold(scorer_dir):
    results = RewardModelVerifier(path=str(scorer_dir), top_quantile=0.5).verify_batch(items(TEXTS))
    assert sum(r.passed for r in results) == 2
    best = sorted(r.score for r in results)[-2:]
    assert all((r.score in best) == r.passed for r in results)
    cut = sorted(r.score for r in results)[1]
    by_threshold = RewardModelVerifier(path=str(scorer_dir), threshold=cut).verify_batch(items(TEXTS))
    assert sum(r.passed for r in by_threshold) == 3 and "threshold" in by_threshold[0].reason


def test_registered_and_configurable_through_options(scorer_dir):
    assert "reward_model" in discover()
    verifier = load_verifier("reward_model", {"path": str(scorer_dir), "threshold": 0.0})
    assert verifier.threshold == 0.0 and verifier.domains == ("general", "math", "code")


def test_bad_options_fail_by_name(scorer_dir):
    from flywheel.verification.plugins import VerifierFailed

    with pytest.raises(VerifierFailed, match="reward_model.*top_quantile"):
        load_verifier("reward_model", {"path": str(scorer_dir), "top_quantile": 2})
    with pytest.raises(FileNotFoundError, match="reward model not found"):
        RewardModelVerifier(path="/nonexistent").verify_batch(items(["x"]))
