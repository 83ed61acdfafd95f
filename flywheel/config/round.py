"""The whole round config: one field per section."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from flywheel.config.base import _Strict
from flywheel.config.data import DecontaminationConfig, DedupConfig, MixtureConfig
from flywheel.config.dpo import DPOConfig
from flywheel.config.deployment import KubernetesConfig, SandboxConfig, TrackingConfig
from flywheel.config.evaluation import EvaluationConfig, StoppingConfig
from flywheel.config.generation import GenerationConfig, ModelConfig
from flywheel.config.pairs import PairsConfig
from flywheel.config.prompts import PromptsConfig
from flywheel.config.quality import QualityConfig
from flywheel.config.selection import SelectionConfig
from flywheel.config.sft import SFTConfig
from flywheel.config.verifiers import VerifiersConfig


class RoundConfig(_Strict):
    workdir: Path
    model: ModelConfig
    generation: GenerationConfig = GenerationConfig()
    prompts: PromptsConfig
    verifiers: VerifiersConfig = VerifiersConfig()
    selection: SelectionConfig = SelectionConfig()
    quality: QualityConfig = QualityConfig()
    pairs: PairsConfig = PairsConfig()
    decontamination: DecontaminationConfig = DecontaminationConfig()
    dedup: DedupConfig = DedupConfig()
    mixture: MixtureConfig = MixtureConfig()
    sft: SFTConfig = SFTConfig()
    dpo: DPOConfig = DPOConfig()
    evaluation: EvaluationConfig
    seed_round: bool = Field(
        False, description="round 0 fine-tunes the base model on the mixture's file sources (LIMA-style seed "
                           "demonstrations) and round 1 generates with that checkpoint")
    stopping: StoppingConfig = StoppingConfig()
    sandbox: SandboxConfig = SandboxConfig()
    kubernetes: KubernetesConfig = KubernetesConfig()
    tracking: TrackingConfig = TrackingConfig()

    def verifier_options(self) -> dict[str, dict]:
        """Per-verifier keyword arguments: the sandbox section for ``unit_tests``, then the user's own options."""
        options = {name: dict(values) for name, values in self.verifiers.options.items()}
        options["unit_tests"] = {**self.sandbox.verifier_options(), **options.get("unit_tests", {})}
        # The judge's replies are cached in the workdir, so a rerun or a resume pays for none twice.
        options["llm_judge"] = {"cache_path": str(self.workdir / "cache" / "llm_judge.sqlite"),
                                **options.get("llm_judge", {})}
        return options

    @model_validator(mode="after")
    def _topic_quota_needs_topics(self) -> "RoundConfig":
        quoted = [s.name for s in self.mixture.sources if s.topic_quota is not None]
        if quoted and not self.quality.enabled:
            raise ValueError(f"mixture source(s) {quoted} set topic_quota, but quality.enabled is false: the topics "
                             "come from quality control's table; turn quality on or drop topic_quota")
        return self

    @model_validator(mode="after")
    def _general_heldout_never_trains(self) -> "RoundConfig":
        general = self.evaluation.general
        if general is not None:
            training = {domain: names for domain in ("math", "code", "general")
                        if general.verifier in (names := self.verifiers.for_domain(domain))}
            if training:
                raise ValueError(f"evaluation.general.verifier {general.verifier!r} also judges training samples "
                                 f"(verifiers.{', verifiers.'.join(training)}): a held-out score from a verifier that "
                                 "filters training data measures what the rounds learned to please; pick another")
        return self

    @field_validator("workdir")
    @classmethod
    def _workdir_not_empty(cls, value: Path) -> Path:
        if str(value).strip() == "":
            raise ValueError("workdir must not be empty")
        return value
