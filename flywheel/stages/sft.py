"""sft: the round's SFT checkpoint (DeepSpeed), and the check that a checkpoint loads."""

from __future__ import annotations

from flywheel.round.layout import previous_dpo, previous_final, seeded_previous
from flywheel.round import views
from flywheel.config import RoundConfig
from flywheel.round.layout import RoundPaths
from flywheel.sft.trainer_process import run_sft
from flywheel.round.registry import Check, Image, Input, seed_round_only
from flywheel.round.runs import stage
from flywheel.store.database import Store


def _checkpoint_loads(config: RoundConfig, round_number: int, store: Store, result: dict) -> tuple[bool, dict]:
    loads, error = checkpoint_loads(result["checkpoint"])
    return loads, {"error": error}


def _loss_curve(config: RoundConfig, round_number: int, store: Store, result: dict) -> dict:
    curve = views.loss_curve(store, round_number, RoundPaths(config.workdir, round_number).dir / "loss.png")
    return {"loss_curve": Image(curve) if curve else None}


@stage("sft", "checkpoint", "The round's SFT checkpoint (DeepSpeed), a Hugging Face folder.",
       inputs=(Input("mix"), Input("sft", 1, when=lambda c, r: c.sft.init_from == "previous" and seeded_previous(c, r)),
               Input("dpo", 1, when=lambda c, r: c.sft.init_from == "previous" and previous_dpo(c, r))),
       sections=("sft", "model"), files=lambda c, r: [c.model.base], in_round_zero=seed_round_only, resources=("log",),
       views=_loss_curve,
       checks=(Check("checkpoint_loads", "The checkpoint loads with transformers and runs a forward pass.",
                     _checkpoint_loads),))
def sft(config: RoundConfig, round_number: int, store: Store, echo=print) -> dict:
    paths = RoundPaths(config.workdir, round_number)
    # Round 0 is the seed round: the base model learns the format from the seed demonstrations.
    start_from = (config.model.base if config.sft.init_from == "base" or round_number == 0
                  else previous_final(config, round_number))
    result = run_sft(start_from, paths.mixture, paths.checkpoint, config.sft, work_dir=paths.sft_work, echo=echo)
    store.replace_round("training_steps", round_number, result.steps)
    return {"checkpoint": str(result.checkpoint), "init_from": str(start_from), "steps": len(result.steps),
            "final_loss": result.steps[-1]["loss"] if result.steps else None, **result.stats,
            "tokens": sum(step.get("tokens") or 0 for step in result.steps)}


def checkpoint_loads(path: str) -> tuple[bool, str]:
    """(True, "") when the checkpoint loads with transformers and runs one forward pass."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path)
        ids = tokenizer.apply_chat_template([{"role": "user", "content": "1 + 1"}], add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)["input_ids"]
        with torch.inference_mode():
            logits = model(input_ids=ids).logits
        if not torch.isfinite(logits).all():
            return False, "forward pass produced non-finite logits"
        return True, ""
    except Exception as error:  # noqa: BLE001 - the check reports any failure
        return False, f"{type(error).__name__}: {error}"
