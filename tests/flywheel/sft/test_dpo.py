"""The DPO objective (flywheel.sft.dpo): equal to TRL's DPOTrainer on one batch, Llama 3.1's masks exact on the Llama 3
and Qwen 2.5 templates, and the loss's parts by hand."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from flywheel.sft.dpo import dpo_losses, preference_mask, preference_objective, reference_logps
from flywheel.shapes import SHAPES, build_tokenizer

PAIRS = [("What is 2+2?", "It is 4.", "It is 5, surely."), ("Capital of France?", "Paris.", "Rome is the one.")]


def test_the_loss_equals_trls_on_the_same_batch(random_tiny_model_dir, tokenizer, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    torch.manual_seed(0)
    policy = AutoModelForCausalLM.from_pretrained(random_tiny_model_dir)
    reference = copy.deepcopy(policy)
    data = Dataset.from_list([{"chosen": [{"role": "user", "content": q}, {"role": "assistant", "content": c}],
                               "rejected": [{"role": "user", "content": q}, {"role": "assistant", "content": r}]}
                              for q, c, r in PAIRS])
    args = DPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, beta=0.1, loss_type=["sigmoid", "sft"],
                     loss_weights=[1.0, 0.2], report_to=[], use_cpu=True, max_steps=1)
    trainer = DPOTrainer(model=policy, ref_model=reference, args=args, train_dataset=data, processing_class=tokenizer)
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():  # the policy moves away from the reference, so the log-ratios are not all 0
        for parameter in trainer.model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    trainer.model.train()
    theirs = trainer.compute_loss(trainer.model, batch)

    ids, attention, mask = batch["input_ids"], batch["attention_mask"], batch["completion_mask"]
    logits = trainer.model(input_ids=ids, attention_mask=attention, use_cache=False).logits
    ours = preference_objective(logits, ids, mask, reference_logps(reference, ids, attention, mask), beta=0.1,
                                nll_weight=0.2)
    assert ours["loss"].item() == pytest.approx(theirs.item(), abs=1e-5)
    assert abs(ours["reward_margin"].item()) > 0  # the comparison is not of two log 2's


@pytest.mark.parametrize("shape", ["llama-3.1-8b", "qwen2.5-0.5b"])
def test_the_mask_is_the_responses_own_tokens_without_formatting(shape):
    tokenizer = build_tokenizer(SHAPES[shape])
    for question, chosen, rejected in PAIRS:
        for response in (chosen, rejected):
            ids, mask = preference_mask(tokenizer, [{"role": "user", "content": question},
                                                    {"role": "assistant", "content": response}])
            kept = [token for token, on in zip(ids, mask) if on]
            assert tokenizer.decode(kept) == response  # exactly the response: no header, no end of turn
            assert SHAPES[shape].eos not in tokenizer.convert_ids_to_tokens(kept)
            first = mask.index(1)
            assert all(mask[first:first + len(kept)]) and not any(mask[first + len(kept):])  # one contiguous span


def test_the_parts_by_hand():
    policy_chosen, policy_rejected = torch.tensor([-4.0, -6.0]), torch.tensor([-5.0, -5.0])
    reference_chosen, reference_rejected = torch.tensor([-4.5, -6.0]), torch.tensor([-5.0, -4.0])
    losses, chosen_rewards, rejected_rewards = dpo_losses(policy_chosen, policy_rejected, reference_chosen,
                                                          reference_rejected, beta=0.1)
    # pair 1: 0.1 * (0.5 - 0) = 0.05; pair 2: 0.1 * (0 - (-1)) = 0.1
    assert losses.tolist() == pytest.approx([math.log1p(math.exp(-0.05)), math.log1p(math.exp(-0.1))])
    assert chosen_rewards.tolist() == pytest.approx([0.05, 0.0]) and rejected_rewards.tolist() == pytest.approx([0.0, -0.1])


def pairs_file(path, n=8):
    """Preference pairs as the pairs stage writes them: the right sum over a wrong one."""
    import pyarrow as pa

    from flywheel.records.files import write_parquet_atomic
    from flywheel.records.schema import PAIR_SCHEMA

    rows = [{"pair_id": f"r1-p{i}-0-1", "prompt_id": f"p{i}", "domain": "math", "source": f"t.jsonl:{i + 1}",
             "origin_round": 1, "prompt": [{"role": "user", "content": f"What is {i} plus 1?"}],
             "chosen": f"{i} + 1 = {i + 1}. The answer is {i + 1}.", "rejected": f"I think it is {i + 7}, or so.",
             "chosen_index": 0, "rejected_index": 1, "chosen_score": 1.0, "rejected_score": 0.0, "margin": 1.0,
             "chosen_tokens": 12, "rejected_tokens": 9} for i in range(n)]
    return write_parquet_atomic(pa.Table.from_pylist(rows, schema=PAIR_SCHEMA), path)


def test_pairs_tokenize_with_both_masks_and_batch_chosen_first(tmp_path, tokenizer):
    import pyarrow.parquet as pq

    from flywheel.sft.spec import TrainingSpec
    from flywheel.sft.train import pair_batches, tokenize_pairs

    spec = TrainingSpec(init_checkpoint=tmp_path, data=tmp_path / "p.parquet", output=tmp_path / "o",
                        metrics=tmp_path / "m", checkpoint_dir=tmp_path / "c", objective="dpo", batch_size=3,
                        max_seq_len=256)
    rows = pq.read_table(pairs_file(tmp_path / "p.parquet", 5)).to_pylist()
    pairs, stats = tokenize_pairs(tokenizer, rows, spec)
    assert stats == {"pairs": 5, "truncated": 0, "no_labels": 0}
    batches = list(pair_batches(pairs, spec, epoch=0, rank=0, world=1, pad_id=tokenizer.pad_token_id))
    assert [len(indices) for _, _, indices, _, _ in batches] == [3, 2]
    for kwargs, mask, indices, _, _ in batches:
        for row, index in enumerate(indices.tolist()):
            chosen_ids, chosen_mask = pairs[index]["chosen"]
            assert kwargs["input_ids"][row, :len(chosen_ids)].tolist() == chosen_ids
            assert mask[row, :len(chosen_ids)].tolist() == chosen_mask
            rejected_ids, _ = pairs[index]["rejected"]
            assert kwargs["input_ids"][len(indices) + row, :len(rejected_ids)].tolist() == rejected_ids
    short = spec.model_copy(update={"max_seq_len": 12})  # the prompt alone is longer: nothing left to score
    assert tokenize_pairs(tokenizer, rows, short)[1]["no_labels"] == 5


@pytest.mark.slow
def test_dpo_on_deepspeed_learns_the_preference_logs_it_and_writes_a_checkpoint(tmp_path, random_tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from flywheel.config import SFTConfig
    from flywheel.sft.trainer_process import run_sft

    config = SFTConfig(learning_rate=3e-3, epochs=6, batch_size=4, max_seq_len=128, packing=False,
                       timeout_seconds=300)
    result = run_sft(random_tiny_model_dir, pairs_file(tmp_path / "pairs.parquet"), tmp_path / "ckpt", config,
                     work_dir=tmp_path / "work", echo=lambda line: None, objective="dpo", beta=0.1, nll_weight=0.2)
    steps = result.steps
    assert len(steps) == 12 and all({"reward_margin", "pair_accuracy"} <= set(step) for step in steps)
    assert steps[0]["reward_margin"] == pytest.approx(0.0, abs=1e-6)  # the first step's policy is the reference
    assert steps[-1]["reward_margin"] > 0.05 and steps[-1]["pair_accuracy"] == 1.0
    assert steps[-1]["loss"] < steps[0]["loss"]
    assert "margin" in result.log.read_text()  # the console line shows it
    AutoModelForCausalLM.from_pretrained(tmp_path / "ckpt")  # a plain Hugging Face folder


@pytest.mark.slow
def test_an_interrupted_dpo_run_resumes_against_the_same_reference(tmp_path, random_tiny_model_dir, monkeypatch):
    from flywheel.config import SFTConfig
    from flywheel.sft.trainer_process import SFTFailed, run_sft
    from flywheel.sft.train import INTERRUPT_ENV

    config = SFTConfig(learning_rate=3e-3, epochs=3, batch_size=4, max_seq_len=128, packing=False,
                       checkpoint_every_steps=2, timeout_seconds=300)
    data, quiet = pairs_file(tmp_path / "pairs.parquet"), {"echo": lambda line: None, "objective": "dpo"}
    uninterrupted = run_sft(random_tiny_model_dir, data, tmp_path / "whole", config, work_dir=tmp_path / "w1", **quiet)
    monkeypatch.setenv(INTERRUPT_ENV, "4")
    with pytest.raises(SFTFailed, match="exited with code 75"):
        run_sft(random_tiny_model_dir, data, tmp_path / "ckpt", config, work_dir=tmp_path / "w2", **quiet)
    monkeypatch.delenv(INTERRUPT_ENV)
    resumed = run_sft(random_tiny_model_dir, data, tmp_path / "ckpt", config, work_dir=tmp_path / "w2", **quiet)
    assert "resuming from DeepSpeed checkpoint" in resumed.log.read_text()
    assert [s["step"] for s in resumed.steps] == [s["step"] for s in uninterrupted.steps] == list(range(1, 7))
    # the resumed run scores against the init checkpoint, as the uninterrupted one did: the same margins after it
    assert [round(s["reward_margin"], 4) for s in resumed.steps[4:]] == \
        [round(s["reward_margin"], 4) for s in uninterrupted.steps[4:]]


@pytest.mark.slow
def test_with_dpo_enabled_the_round_ends_with_its_dpo_checkpoint(selected_round_copy):
    from flywheel.stages import decontaminate as decontaminate_stage
    from flywheel.stages import dpo as dpo_stage
    from flywheel.stages import mix as mix_stage
    from flywheel.stages import sft as sft_stage
    from flywheel.round import layout
    from flywheel.config import DPOConfig
    from flywheel.round.layout import RoundPaths
    from flywheel.stages.pairs import make_pairs
    from flywheel.stages.quality import curate
    from flywheel.stages.evaluate import evaluated_checkpoint

    config, store = selected_round_copy
    config = config.model_copy(update={"dpo": DPOConfig(enabled=True, learning_rate=1e-3, batch_size=4,
                                                        max_seq_len=128, timeout_seconds=300)})
    for step in (curate, decontaminate_stage.decontaminate_round, mix_stage.mix):
        step(config, 1, store)
    sft_stage.sft(config, 1, store, echo=lambda line: None)
    make_pairs(config, 1, store)
    result = dpo_stage.dpo(config, 1, store, echo=lambda line: None)
    paths = RoundPaths(config.workdir, 1)
    (pairs,), = store.query("SELECT count(*) FROM pairs WHERE round = 1")[1]
    assert result["enabled"] and result["pairs"] == pairs > 0
    steps = store.query("SELECT step, loss, reward_margin, pair_accuracy FROM dpo_steps WHERE round = 1 ORDER BY step")[1]
    assert len(steps) == result["steps"] > 0 and steps[0][2] == pytest.approx(0.0, abs=1e-6)
    assert (paths.dpo_checkpoint / "config.json").exists() and sft_stage.checkpoint_loads(str(paths.dpo_checkpoint))[0]
    from flywheel.round.views import preference_curve

    assert preference_curve(store, 1, paths.dir / "dpo.png").read_bytes()[:4] == b"\x89PNG"  # the asset's view
    # the round's evaluation and the next round's generation use the DPO checkpoint, not the SFT one
    assert evaluated_checkpoint(config, 1) == str(paths.dpo_checkpoint)
    assert layout.previous_final(config, 2) == paths.dpo_checkpoint
    off = config.model_copy(update={"dpo": DPOConfig()})
    assert layout.previous_final(off, 2) == paths.checkpoint and evaluated_checkpoint(off, 1) == str(paths.checkpoint)
    assert dpo_stage.dpo(off, 1, store)["enabled"] is False


@pytest.mark.slow
def test_dpo_trains_lora_adapters_and_writes_a_merged_checkpoint(tmp_path, random_tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from flywheel.config import LoRAConfig, SFTConfig
    from flywheel.sft.trainer_process import run_sft

    config = SFTConfig(learning_rate=1e-2, epochs=4, batch_size=4, max_seq_len=128, packing=False, timeout_seconds=300,
                       lora=LoRAConfig(r=4, alpha=8, dropout=0.0))
    result = run_sft(random_tiny_model_dir, pairs_file(tmp_path / "pairs.parquet"), tmp_path / "ckpt", config,
                     work_dir=tmp_path / "work", echo=lambda line: None, objective="dpo")
    # the reference is the base model before any adapter: the first step's margin is 0, later ones move
    assert result.steps[0]["reward_margin"] == pytest.approx(0.0, abs=1e-6)
    assert result.steps[-1]["reward_margin"] > 0
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "ckpt")
    assert not any("lora" in name for name, _ in merged.named_parameters())  # a plain checkpoint


@pytest.mark.slow
def test_a_round_without_pairs_ends_with_its_sft_checkpoint_under_the_dpo_name(selected_round_copy):
    from flywheel.stages import decontaminate as decontaminate_stage
    from flywheel.stages import dpo as dpo_stage
    from flywheel.stages import mix as mix_stage
    from flywheel.stages import sft as sft_stage
    from flywheel.round import layout
    from flywheel.config import DPOConfig, PairsConfig
    from flywheel.round.layout import RoundPaths
    from flywheel.stages.pairs import make_pairs
    from flywheel.stages.quality import curate
    from flywheel.stages.evaluate import evaluated_checkpoint

    config, store = selected_round_copy
    config = config.model_copy(update={"dpo": DPOConfig(enabled=True, timeout_seconds=300),
                                       "pairs": PairsConfig(domains=["code"])})  # code: nothing passed, no pair
    for step in (curate, decontaminate_stage.decontaminate_round, mix_stage.mix):
        step(config, 1, store)
    sft_stage.sft(config, 1, store, echo=lambda line: None)
    assert make_pairs(config, 1, store)["n_pairs"] == 0
    result = dpo_stage.dpo(config, 1, store)
    paths = RoundPaths(config.workdir, 1)
    assert result["skipped"].startswith("no preference pairs") and result["steps"] == 0
    assert paths.dpo_checkpoint.is_symlink() and paths.dpo_checkpoint.resolve() == paths.checkpoint.resolve()
    assert evaluated_checkpoint(config, 1) == str(paths.dpo_checkpoint)
    assert sft_stage.checkpoint_loads(str(layout.previous_final(config, 2)))[0]


@pytest.mark.slow
def test_dpo_on_two_processes_with_zero_2_trains_the_weights_of_one_process_with_their_batch(tmp_path,
                                                                                           random_tiny_model_dir):
    """The DPO objective on SFT's engine across ranks: two processes of 2 pairs each under ZeRO-2 (optimizer state
    and gradients partitioned) end with the weights of one process of 4 pairs. With the NLL term off, each rank's
    loss is the mean over its pairs, so the ranks' averaged gradient is the one-process batch's."""
    from transformers import AutoModelForCausalLM

    from flywheel.config import SFTConfig
    from flywheel.sft.trainer_process import run_sft

    settings = {"learning_rate": 3e-3, "epochs": 2, "max_seq_len": 128, "packing": False, "timeout_seconds": 600}
    data = pairs_file(tmp_path / "pairs.parquet")
    runs = {}
    for name, config in {"one": SFTConfig(batch_size=4, num_processes=1, **settings),
                         "two": SFTConfig(batch_size=2, num_processes=2, zero_stage=2, **settings)}.items():
        runs[name] = run_sft(random_tiny_model_dir, data, tmp_path / name / "ckpt", config, work_dir=tmp_path / name,
                             echo=lambda line: None, objective="dpo", beta=0.1, nll_weight=0.0)
    assert [s["step"] for s in runs["two"].steps] == [s["step"] for s in runs["one"].steps] == [1, 2, 3, 4]
    one, two = (AutoModelForCausalLM.from_pretrained(tmp_path / name / "ckpt").state_dict() for name in ("one", "two"))
    start = AutoModelForCausalLM.from_pretrained(random_tiny_model_dir).state_dict()
    assert max((one[k] - start[k]).abs().max().item() for k in one) > 1e-3  # it trained
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5)
