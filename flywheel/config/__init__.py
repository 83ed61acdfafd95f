"""Round configuration: pydantic models loaded from YAML.

Every model forbids unknown keys so a typo (``temprature``) fails loudly instead of
silently falling back to a default. Relative paths are resolved against the YAML
file's own directory, so a config and its data can move together.

One module per section (flywheel/config/<section>.py) and the loader (load.py); everything is importable from
``flywheel.config`` as before.
"""

from flywheel.config.base import DEFAULT_CONFIG, DOMAINS, PACKAGE_DIR, ConfigError, Domain, _Strict  # noqa: F401
from flywheel.config.data import DecontaminationConfig, DedupConfig, EvalSet, MixtureConfig, MixtureSource  # noqa: F401
from flywheel.config.deployment import KubernetesConfig, PodResources, SandboxConfig, TrackingConfig  # noqa: F401
from flywheel.config.evaluation import EvaluationConfig, GeneralHeldoutConfig, StoppingConfig  # noqa: F401
from flywheel.config.generation import GenerationConfig, ModelConfig, OpenAIConfig, VLLMConfig  # noqa: F401
from flywheel.config.load import (  # noqa: F401
    HUB_ID,
    _did_you_mean,
    _format_errors,
    _resolve_hub_model,
    _resolve_option_paths,
    _resolve_paths,
    check_paths,
    load_config,
    missing_paths,
    parse_config,
    with_backend,
    with_seed,
    write_effective_config,
)
from flywheel.config.prompts import PromptsConfig, PromptSource, SourceFormat  # noqa: F401
from flywheel.config.round import RoundConfig  # noqa: F401
from flywheel.config.selection import SelectionConfig  # noqa: F401
from flywheel.config.pairs import PairsConfig  # noqa: F401
from flywheel.config.quality import QualityConfig  # noqa: F401
from flywheel.config.sft import LoRAConfig, SFTConfig  # noqa: F401
from flywheel.config.dpo import DPOConfig  # noqa: F401
from flywheel.config.verifiers import CombineRule, VerifiersConfig  # noqa: F401
