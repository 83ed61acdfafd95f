"""dpo: with dpo.enabled, the round's SFT checkpoint trained on its preference pairs."""

from __future__ import annotations

from flywheel.stages.sft import checkpoint_loads
import pyarrow.parquet as pq
from flywheel.round import views
from flywheel.config import RoundConfig
from flywheel.records.files import link_dir
from flywheel.round.layout import RoundPaths
from flywheel.sft.trainer_process import run_sft
from flywheel.round.registry import Check, Image, Input
from flywheel.round.runs import stage
from flywheel.store.database import Store


def _dpo_checkpoint_loads(config: RoundConfig, round_number: int, store: Store, result: dict) -> tuple[bool, dict]:
    if not result.get("enabled"):
        return True, {"skipped": "dpo.enabled is false: the round ends with its SFT checkpoint"}
    loads, error = checkpoint_loads(result["checkpoint"])
    return loads, {"error": error}


def _preference_curve(config: RoundConfig, round_number: int, store: Store, result: dict) -> dict:
    curve = views.preference_curve(store, round_number, RoundPaths(config.workdir, round_number).dir / "dpo.png")
    return {"margin_and_accuracy": Image(curve) if curve else None}


@stage("dpo", "dpo_checkpoint", "With dpo.enabled, the round's SFT checkpoint trained on its preference pairs "
       "(Llama 3.1's DPO step): the round's evaluation and the next round's generation use it.",
       inputs=(Input("sft", when=lambda c, r: c.dpo.enabled), Input("pairs", when=lambda c, r: c.dpo.enabled)),
       sections=("dpo",), resources=("log",), views=_preference_curve,
       checks=(Check("dpo_checkpoint_loads", "The DPO checkpoint loads with transformers and runs a forward pass.",
                     _dpo_checkpoint_loads),))
def dpo(config: RoundConfig, round_number: int, store: Store, echo=print) -> dict:
    """DPO on the round's pairs, from its SFT checkpoint as policy and reference (flywheel.sft.dpo), on the SFT
    engine; per-step loss, reward margin and pair accuracy go to ``dpo_steps``."""
    if not config.dpo.enabled:
        store.replace_round("dpo_steps", round_number, [])
        return {"enabled": False}
    paths = RoundPaths(config.workdir, round_number)
    d = config.dpo
    if pq.read_metadata(paths.pairs).num_rows == 0:
        # Nothing to prefer (no prompt had a passed and a failed sample): the round ends with its SFT weights,
        # linked rather than copied, so the next round and the evaluation find the checkpoint they expect.
        link_dir(paths.checkpoint, paths.dpo_checkpoint)
        store.replace_round("dpo_steps", round_number, [])
        return {"enabled": True, "checkpoint": str(paths.dpo_checkpoint), "steps": 0, "pairs": 0,
                "skipped": "no preference pairs this round: the round ends with its SFT checkpoint"}
    result = run_sft(paths.checkpoint, paths.pairs, paths.dpo_checkpoint, d.engine_settings(),
                     work_dir=paths.dir / "dpo", echo=echo, objective="dpo", beta=d.beta, nll_weight=d.nll_weight)
    store.replace_round("dpo_steps", round_number, result.steps)
    last = result.steps[-1] if result.steps else {}
    return {"enabled": True, "checkpoint": str(result.checkpoint), "steps": len(result.steps),
            "final_loss": last.get("loss"), "final_reward_margin": last.get("reward_margin"),
            "final_pair_accuracy": last.get("pair_accuracy"), "pairs": result.stats.get("pairs"),
            "tokens": sum(step.get("tokens") or 0 for step in result.steps)}
