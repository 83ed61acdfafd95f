"""Where a round keeps what its stages write: ``<workdir>/rounds/<round>/``, and the checkpoint each round
starts from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flywheel.config import RoundConfig


@dataclass(frozen=True)
class RoundPaths:
    """Where each stage of one round keeps its output under ``<workdir>/rounds/<round>/``."""

    workdir: Path
    round: int

    @property
    def dir(self) -> Path:
        return self.workdir / "rounds" / str(self.round)

    @property
    def prompts(self) -> Path:
        return self.dir / "prompts.parquet"

    @property
    def samples(self) -> Path:
        return self.dir / "samples.parquet"

    @property
    def verdicts(self) -> Path:
        return self.dir / "verdicts.parquet"

    @property
    def pool(self) -> Path:
        """select's output: the best of this round and, pooled, of every earlier round."""
        return self.dir / "pool.parquet"

    @property
    def curated(self) -> Path:
        return self.dir / "curated.parquet"

    @property
    def quality_embeddings(self) -> Path:
        return self.dir / "quality_embeddings.parquet"

    @property
    def pairs(self) -> Path:
        return self.dir / "pairs.parquet"

    @property
    def decontaminated(self) -> Path:
        return self.dir / "decontaminated.parquet"

    @property
    def mixture(self) -> Path:
        return self.dir / "mixture.parquet"

    @property
    def checkpoint(self) -> Path:
        return self.dir / "checkpoint"

    @property
    def dpo_checkpoint(self) -> Path:
        return self.dir / "dpo_checkpoint"

    def final_checkpoint(self, dpo: bool) -> Path:
        """The checkpoint the round ends with: its DPO checkpoint when the config trains one (never in round 0,
        which has no pairs), else its SFT checkpoint."""
        return self.dpo_checkpoint if dpo and self.round > 0 else self.checkpoint

    @property
    def sft_work(self) -> Path:
        return self.dir / "sft"

    @property
    def eval_samples(self) -> Path:
        return self.dir / "eval_samples.parquet"

    @property
    def eval_verdicts(self) -> Path:
        return self.dir / "eval_verdicts.parquet"


def generation_checkpoint(workdir: Path, round_number: int, base_model: Path, seed_round: bool = False,
                          dpo: bool = False) -> Path:
    """Round N generates with round N-1's final checkpoint (its DPO checkpoint with ``dpo``); round 1 with the base
    model, or with round 0's seed-SFT checkpoint when the config has a seed round.

    Dagster's dynamic partitions cannot depend on their own previous partition, so the
    hand-off goes through this layout rather than through the asset graph.
    """
    if round_number < 1:
        raise ValueError(f"round numbers start at 1, got {round_number}")
    if round_number == 1 and not seed_round:
        return base_model
    previous = RoundPaths(workdir, round_number - 1).final_checkpoint(dpo)
    if not (previous / "config.json").exists():
        what = "round 0 (the seed SFT round)" if round_number == 1 else f"round {round_number - 1}"
        raise FileNotFoundError(
            f"round {round_number} generates with round {round_number - 1}'s checkpoint, "
            f"but {previous} does not exist: materialize {what} first"
        )
    return previous


def previous_final(config: RoundConfig, round_number: int) -> Path:
    """The checkpoint round N starts from: round N-1's final one (``generation_checkpoint``)."""
    return generation_checkpoint(config.workdir, round_number, config.model.base, config.seed_round,
                                 dpo=config.dpo.enabled)


def seeded_previous(config: RoundConfig, round_number: int) -> bool:
    """Whether round N-1 trained a checkpoint (round 0 does only with a seed round)."""
    return round_number - 1 > 0 or (round_number - 1 == 0 and config.seed_round)


def previous_dpo(config: RoundConfig, round_number: int) -> bool:
    """Whether round N-1 ends with a DPO checkpoint (round 0 never does: it has no pairs)."""
    return config.dpo.enabled and round_number - 1 > 0
