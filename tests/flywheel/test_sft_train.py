"""The DeepSpeed SFT subprocess on a tiny model: one and two processes, checkpoint hand-off, errors."""

import math

import pytest

from flywheel.config import SFTConfig
from flywheel.io import write_parquet_atomic
from flywheel.schema import examples_to_table
from flywheel.sft.launch import SFTFailed, run_sft

pytestmark = pytest.mark.slow


def mixture(path, n=12):
    rows = [{"example_id": f"e{i}", "prompt_id": f"p{i}", "domain": "math", "source": "f:1", "mix_source": "seed",
             "origin_round": 0, "score": 1.0,
             "messages": [{"role": "user", "content": f"What is {i} plus 1?"},
                          {"role": "assistant", "content": f"{i} + 1 = {i + 1}. The answer is {i + 1}."}]}
            for i in range(n)]
    write_parquet_atomic(examples_to_table(rows), path)
    return path


@pytest.mark.parametrize("processes", [1, 2])
def test_training_writes_a_loadable_checkpoint_and_steps(tmp_path, random_tiny_model_dir, processes):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = SFTConfig(learning_rate=3e-3, epochs=4, batch_size=4, num_processes=processes, zero_stage=processes - 1,
                       timeout_seconds=300, warmup_ratio=0.0)
    result = run_sft(random_tiny_model_dir, mixture(tmp_path / "mix.parquet"), tmp_path / "ckpt", config,
                     work_dir=tmp_path / "work", echo=lambda line: None)
    assert (result.checkpoint / "config.json").exists() and (result.checkpoint / "generation_config.json").exists()
    AutoModelForCausalLM.from_pretrained(result.checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(result.checkpoint)
    assert tokenizer.chat_template and tokenizer.padding_side == "left"
    assert len(result.steps) == 4 * math.ceil(12 / processes / 4)  # epochs x micro-batches per rank
    assert result.steps[-1]["loss"] < result.steps[0]["loss"]  # it learns
    assert result.steps[0]["learning_rate"] > result.steps[-1]["learning_rate"]  # cosine decays
    assert result.stats == {"examples": 12, "truncated": 0, "no_labels": 0}


def test_truncation_is_counted_and_all_truncated_fails_clearly(tmp_path, random_tiny_model_dir, tokenizer):
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is 0 plus 1?"}], add_generation_prompt=True,
                                           tokenize=True, return_dict=True)["input_ids"]
    keeps_some_answer = SFTConfig(epochs=1, batch_size=4, max_seq_len=len(prompt) + 3, timeout_seconds=300)
    result = run_sft(random_tiny_model_dir, mixture(tmp_path / "mix.parquet", 4), tmp_path / "ckpt", keeps_some_answer,
                     work_dir=tmp_path / "work", echo=lambda line: None)
    assert result.stats == {"examples": 4, "truncated": 4, "no_labels": 0}
    cuts_every_answer = SFTConfig(epochs=1, batch_size=4, max_seq_len=len(prompt) - 2, timeout_seconds=300)
    with pytest.raises(SFTFailed, match="no trainable examples.*'truncated': 4, 'no_labels': 4"):
        run_sft(random_tiny_model_dir, tmp_path / "mix.parquet", tmp_path / "ckpt2", cuts_every_answer,
                work_dir=tmp_path / "work2", echo=lambda line: None)


def test_failure_keeps_old_checkpoint_and_reports_log(tmp_path, random_tiny_model_dir):
    out = tmp_path / "ckpt"
    out.mkdir()
    (out / "marker").write_text("previous")
    with pytest.raises(SFTFailed, match="exited with code"):
        run_sft(random_tiny_model_dir, tmp_path / "missing.parquet", out, SFTConfig(timeout_seconds=120),
                work_dir=tmp_path / "work", echo=lambda line: None)
    assert (out / "marker").read_text() == "previous"


def test_timeout_kills_the_trainer(tmp_path, random_tiny_model_dir):
    with pytest.raises(SFTFailed, match="timeout"):
        run_sft(random_tiny_model_dir, mixture(tmp_path / "mix.parquet"), tmp_path / "ckpt",
                SFTConfig(timeout_seconds=1), work_dir=tmp_path / "work", echo=lambda line: None)
