"""The DeepSpeed SFT subprocess on a tiny model: packing, 1 and 2 processes, resume, LoRA, errors."""

import json
import math
from pathlib import Path

import pytest

from flywheel.config import LoRAConfig, SFTConfig
from flywheel.records.files import write_parquet_atomic
from flywheel.records.schema import examples_to_table
from flywheel.sft.trainer_process import SFTFailed, run_sft
from flywheel.sft.train import INTERRUPT_ENV

pytestmark = pytest.mark.slow
QUIET = {"echo": lambda line: None}


def mixture(path, n=12, with_answer=True):
    rows = []
    for i in range(n):
        messages = [{"role": "user", "content": f"What is {i} plus 1?"}]
        if with_answer or i:
            messages.append({"role": "assistant", "content": f"{i} + 1 = {i + 1}. The answer is {i + 1}."})
        rows.append({"example_id": f"e{i}", "prompt_id": f"p{i}", "domain": "math", "source": f"seed.jsonl:{i + 1}",
                     "mix_source": "seed", "origin_round": 0, "score": 1.0, "messages": messages})
    write_parquet_atomic(examples_to_table(rows), path)
    return path


def expected_steps(tokenizer, config, n=12):
    from flywheel.sft.packing import best_fit_decreasing
    from flywheel.sft.tokenize import tokenize_conversation

    lengths = [len(tokenize_conversation(tokenizer, [{"role": "user", "content": f"What is {i} plus 1?"},
               {"role": "assistant", "content": f"{i} + 1 = {i + 1}. The answer is {i + 1}."}])["input_ids"])
               for i in range(n)]
    rows = len(best_fit_decreasing(lengths, config.max_seq_len)) if config.packing else n
    per_rank = rows - rows % config.num_processes
    return config.epochs * math.ceil(per_rank / config.num_processes / config.batch_size)


@pytest.mark.parametrize("processes", [1, 2])
def test_packed_training_writes_a_loadable_checkpoint_and_steps(tmp_path, random_tiny_model_dir, tokenizer, processes):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = SFTConfig(learning_rate=3e-3, epochs=4, batch_size=2, max_seq_len=64, num_processes=processes,
                       zero_stage=processes - 1, timeout_seconds=300, warmup_ratio=0.0)
    result = run_sft(random_tiny_model_dir, mixture(tmp_path / "mix.parquet"), tmp_path / "ckpt", config,
                     work_dir=tmp_path / "work", **QUIET)
    assert (result.checkpoint / "config.json").exists() and (result.checkpoint / "generation_config.json").exists()
    AutoModelForCausalLM.from_pretrained(result.checkpoint)
    tokenizer_out = AutoTokenizer.from_pretrained(result.checkpoint)
    assert tokenizer_out.chat_template == tokenizer.chat_template and tokenizer_out.padding_side == "left"
    assert len(result.steps) == expected_steps(tokenizer, config)
    assert [s["step"] for s in result.steps] == list(range(1, len(result.steps) + 1))
    assert result.steps[-1]["loss"] < result.steps[0]["loss"]  # it learns
    assert result.steps[0]["learning_rate"] > result.steps[-1]["learning_rate"]  # cosine decays
    assert result.stats["packing"] and result.stats["packing_efficiency"] > 0.6
    assert result.stats["peak_rss_mb"] > 0 and result.stats["tokens_per_second"] > 0
    assert not (tmp_path / "work" / "ds_checkpoints").exists()  # finished: nothing left to resume


def test_unpacked_training(tmp_path, random_tiny_model_dir, tokenizer):
    config = SFTConfig(epochs=1, batch_size=4, packing=False, timeout_seconds=300)
    result = run_sft(random_tiny_model_dir, mixture(tmp_path / "mix.parquet"), tmp_path / "ckpt", config,
                     work_dir=tmp_path / "work", **QUIET)
    assert len(result.steps) == 3 and not result.stats["packing"]
    assert result.stats["packing_efficiency"] < 1.0


def test_max_steps_repeats_epochs_and_spans_the_schedule(tmp_path, random_tiny_model_dir, tokenizer):
    """A control arm trains exactly as many optimizer steps as the flywheel's round, whatever its data size."""
    config = SFTConfig(epochs=1, batch_size=4, packing=False, timeout_seconds=300, max_steps=7, warmup_ratio=0.0)
    result = run_sft(random_tiny_model_dir, mixture(tmp_path / "mix.parquet"), tmp_path / "ckpt", config,
                     work_dir=tmp_path / "work", **QUIET)
    assert [s["step"] for s in result.steps] == list(range(1, 8))  # one epoch is 3 steps: 3 epochs, cut at 7
    assert {s["epoch"] for s in result.steps} == {0, 1, 2}
    assert result.steps[-1]["learning_rate"] < 0.1 * result.steps[0]["learning_rate"]  # cosine over 7 steps


def test_overlong_examples_are_truncated_or_dropped_and_counted(tmp_path, random_tiny_model_dir, tokenizer):
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is 0 plus 1?"}], add_generation_prompt=True,
                                           tokenize=True, return_dict=True)["input_ids"]
    data = mixture(tmp_path / "mix.parquet", 4)
    keeps_some_answer = SFTConfig(epochs=1, batch_size=4, max_seq_len=len(prompt) + 3, timeout_seconds=300)
    result = run_sft(random_tiny_model_dir, data, tmp_path / "ckpt", keeps_some_answer, work_dir=tmp_path / "w1", **QUIET)
    assert (result.stats["truncated"], result.stats["dropped_overlong"], result.stats["no_labels"]) == (4, 0, 0)
    with pytest.raises(SFTFailed, match="no trainable examples.*'dropped_overlong': 4"):
        run_sft(random_tiny_model_dir, data, tmp_path / "ckpt2", keeps_some_answer.model_copy(update={"overlong": "drop"}),
                work_dir=tmp_path / "w2", **QUIET)
    cuts_every_answer = SFTConfig(epochs=1, batch_size=4, max_seq_len=len(prompt) - 2, timeout_seconds=300)
    with pytest.raises(SFTFailed, match="no trainable examples.*'truncated': 4.*'no_labels': 4"):
        run_sft(random_tiny_model_dir, data, tmp_path / "ckpt3", cuts_every_answer, work_dir=tmp_path / "w3", **QUIET)


def test_conversation_without_answer_is_rejected_with_source_and_line(tmp_path, random_tiny_model_dir):
    with pytest.raises(SFTFailed, match="seed.jsonl:1: conversation e0 has no assistant turn"):
        run_sft(random_tiny_model_dir, mixture(tmp_path / "mix.parquet", 3, with_answer=False), tmp_path / "ckpt",
                SFTConfig(timeout_seconds=300), work_dir=tmp_path / "work", **QUIET)


@pytest.mark.parametrize("interrupt_after", [4, 5], ids=["at-a-checkpoint", "past-the-last-checkpoint"])
def test_interrupted_training_resumes_from_its_deepspeed_checkpoint(tmp_path, random_tiny_model_dir, monkeypatch,
                                                                    interrupt_after):
    config = SFTConfig(learning_rate=1e-3, epochs=3, batch_size=1, max_seq_len=64, checkpoint_every_steps=2,
                       timeout_seconds=300)
    data = mixture(tmp_path / "mix.parquet")
    monkeypatch.setenv(INTERRUPT_ENV, str(interrupt_after))
    with pytest.raises(SFTFailed, match="exited with code 75"):
        run_sft(random_tiny_model_dir, data, tmp_path / "ckpt", config, work_dir=tmp_path / "work", **QUIET)
    assert (tmp_path / "work" / "ds_checkpoints" / "latest").exists()
    monkeypatch.delenv(INTERRUPT_ENV)
    result = run_sft(random_tiny_model_dir, data, tmp_path / "ckpt", config, work_dir=tmp_path / "work", **QUIET)
    assert "resuming from DeepSpeed checkpoint" in result.log.read_text()
    steps = [s["step"] for s in result.steps]
    # steps up to the restored checkpoint from the first run, the rest after resuming, none recorded twice (a step
    # past the last checkpoint is trained again, so its first record must go)
    assert steps == list(range(1, steps[-1] + 1))
    assert result.steps[-1]["learning_rate"] < result.steps[3]["learning_rate"]  # the schedule resumed too


def test_changed_data_does_not_resume_a_stale_checkpoint(tmp_path, random_tiny_model_dir, monkeypatch):
    config = SFTConfig(epochs=2, batch_size=1, max_seq_len=64, checkpoint_every_steps=1, timeout_seconds=300)
    monkeypatch.setenv(INTERRUPT_ENV, "2")
    with pytest.raises(SFTFailed):
        run_sft(random_tiny_model_dir, mixture(tmp_path / "a.parquet"), tmp_path / "ckpt", config,
                work_dir=tmp_path / "work", **QUIET)
    monkeypatch.delenv(INTERRUPT_ENV)
    result = run_sft(random_tiny_model_dir, mixture(tmp_path / "b.parquet", 5), tmp_path / "ckpt", config,
                     work_dir=tmp_path / "work", **QUIET)
    assert "resuming" not in result.log.read_text() and result.steps[0]["step"] == 1


def test_lora_is_merged_into_a_plain_checkpoint(tmp_path, random_tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    config = SFTConfig(learning_rate=1e-2, epochs=2, batch_size=2, max_seq_len=64, timeout_seconds=300,
                       lora=LoRAConfig(r=4, alpha=8, dropout=0.0), neftune_alpha=5.0)
    result = run_sft(random_tiny_model_dir, mixture(tmp_path / "mix.parquet"), tmp_path / "ckpt", config,
                     work_dir=tmp_path / "work", **QUIET)
    assert not (result.checkpoint / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(result.checkpoint)
    base = AutoModelForCausalLM.from_pretrained(random_tiny_model_dir)
    names = json.dumps(list(merged.state_dict()))
    assert "lora" not in names
    changed = [n for n, p in merged.state_dict().items() if not torch.equal(p, base.state_dict()[n])]
    assert changed and all(any(t in n for t in ("q_proj", "k_proj", "v_proj", "o_proj")) for n in changed)


def test_failure_keeps_old_checkpoint_and_reports_log(tmp_path, random_tiny_model_dir):
    out = tmp_path / "ckpt"
    out.mkdir()
    (out / "marker").write_text("previous")
    with pytest.raises(SFTFailed, match="exited with code"):
        run_sft(random_tiny_model_dir, tmp_path / "missing.parquet", out, SFTConfig(timeout_seconds=120),
                work_dir=tmp_path / "work", **QUIET)
    assert (out / "marker").read_text() == "previous"


def test_timeout_kills_the_trainer(tmp_path, random_tiny_model_dir):
    with pytest.raises(SFTFailed, match="timeout"):
        run_sft(random_tiny_model_dir, mixture(tmp_path / "mix.parquet"), tmp_path / "ckpt",
                SFTConfig(timeout_seconds=1), work_dir=tmp_path / "work", **QUIET)


def test_a_killed_orchestrator_takes_the_trainer_with_it_and_the_log_survives(tmp_path, random_tiny_model_dir):
    import signal
    import subprocess
    import sys
    import time

    data = mixture(tmp_path / "mix.parquet")
    work = tmp_path / "work"
    script = (f"from pathlib import Path\nfrom flywheel.config import SFTConfig\nfrom flywheel.sft.trainer_process import run_sft\n"
              f"run_sft(Path({str(random_tiny_model_dir)!r}), Path({str(data)!r}), Path({str(tmp_path / 'ckpt')!r}), "
              f"SFTConfig(epochs=100, batch_size=1, max_seq_len=64, timeout_seconds=600), work_dir=Path({str(work)!r}), "
              f"echo=lambda line: None)\n")
    orchestrator = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not ((work / "steps.jsonl").exists() and (work / "steps.jsonl").read_text()):
        time.sleep(0.5)
    spec = str(work / "spec.json")
    def cmdline(process: Path) -> str:
        try:
            return (process / "cmdline").read_bytes().decode(errors="replace")
        except OSError:  # it exited between the listing and the read: that is what the test waits for
            return ""

    trainers = lambda: [p for p in Path("/proc").iterdir() if p.name.isdigit() and spec in cmdline(p)]  # noqa: E731
    assert trainers(), "the trainer should be running"
    orchestrator.send_signal(signal.SIGKILL)
    orchestrator.wait()
    for _ in range(50):
        if not trainers():
            break
        time.sleep(0.1)
    assert trainers() == []
    assert "step 1/" in (work / "train.log").read_text()


def test_gradient_checkpointing_trains_the_same_steps(tmp_path, random_tiny_model_dir):
    """Recomputing activations changes memory, not the arithmetic: the same losses step for step."""
    base = SFTConfig(learning_rate=3e-3, epochs=2, batch_size=2, max_seq_len=64, timeout_seconds=300, warmup_ratio=0.0)
    data = mixture(tmp_path / "mix.parquet")
    plain = run_sft(random_tiny_model_dir, data, tmp_path / "a", base, work_dir=tmp_path / "wa", **QUIET)
    recomputed = run_sft(random_tiny_model_dir, data, tmp_path / "b", base.model_copy(update={"gradient_checkpointing": True}),
                         work_dir=tmp_path / "wb", **QUIET)
    assert recomputed.stats["gradient_checkpointing"] and not plain.stats["gradient_checkpointing"]
    assert len(plain.steps) == len(recomputed.steps) > 2
    for a, b in zip(plain.steps, recomputed.steps):
        assert abs(a["loss"] - b["loss"]) < 1e-4 * max(1.0, abs(a["loss"])), (a, b)


@pytest.mark.parametrize("keep", [None, 1])
def test_checkpoints_follow_the_step_setting_and_only_the_newest_k_stay(tmp_path, random_tiny_model_dir, monkeypatch,
                                                                       keep):
    config = SFTConfig(learning_rate=1e-3, epochs=3, batch_size=1, max_seq_len=64, checkpoint_every_steps=3,
                       keep_checkpoints=keep, timeout_seconds=300)
    monkeypatch.setenv(INTERRUPT_ENV, "7")  # stop after step 7's save: the checkpoints stay for a resume
    with pytest.raises(SFTFailed, match="exited with code 75"):
        run_sft(random_tiny_model_dir, mixture(tmp_path / "mix.parquet", 4), tmp_path / "ckpt", config,
                work_dir=tmp_path / "work", **QUIET)
    folder = tmp_path / "work" / "ds_checkpoints"
    saved = sorted(int(p.name.removeprefix("global_step")) for p in folder.glob("global_step*"))
    # Every 3 steps and not also at each epoch's end (step 4); keep=1: only the newest.
    assert saved == ([3, 6] if keep is None else [6])
    assert (folder / "latest").read_text().strip() == "global_step6"
    monkeypatch.delenv(INTERRUPT_ENV)
    result = run_sft(random_tiny_model_dir, mixture(tmp_path / "mix.parquet", 4), tmp_path / "ckpt", config,
                     work_dir=tmp_path / "work", **QUIET)
    assert "resuming from DeepSpeed checkpoint" in result.log.read_text()
    per_epoch = result.steps[-1]["total_steps"] // 3
    assert per_epoch == 4  # so epoch ends (4, 8) fell between the step saves above
