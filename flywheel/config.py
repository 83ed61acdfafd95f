"""Round configuration: pydantic models loaded from YAML.

Every model forbids unknown keys so a typo (``temprature``) fails loudly instead of
silently falling back to a default. Relative paths are resolved against the YAML
file's own directory, so a config and its data can move together.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from flywheel.io import write_text_atomic

Domain = Literal["math", "code", "general"]
DOMAINS: tuple[str, ...] = ("math", "code", "general")
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = PACKAGE_DIR / "configs" / "demo.yaml"


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Strict):
    base: Path = Field(description="Hugging Face checkpoint directory that round 1 generates with, or a hub id "
                       "(org/name) that is not a folder beside the config: read from the HF cache, downloaded "
                       "into it first unless HF_HUB_OFFLINE is set")


class VLLMConfig(_Strict):
    """vLLM engine settings, shared by the in-process ``vllm`` backend and the ``vllm_server`` replicas."""

    tensor_parallel_size: int = Field(1, ge=1, description="GPUs per engine (per replica for vllm_server)")
    gpu_memory_utilization: float | None = Field(
        None, gt=0.0, le=1.0,
        description="fraction of GPU memory for weights and KV cache; on a CPU build, of CPU memory "
                    "(default: 0.9 with a GPU, 0.1 on CPU)")
    max_model_len: int | None = Field(None, ge=16, description="context length (default: the model's)")
    enforce_eager: bool | None = Field(
        None, description="skip torch.compile and CUDA graphs: starts in seconds instead of minutes "
                          "(default: true on CPU, false with a GPU)")
    enable_chunked_prefill: bool | None = Field(
        None, description="split long prefills across steps (default: true with a GPU; false on CPU, where "
                          "vLLM 0.32 cannot rewind a per-request seed after a split prefill)")
    dtype: str = Field("auto", description="auto, bfloat16, float16 or float32")
    enable_prefix_caching: bool = Field(True, description="the N samples of a prompt share its KV cache")
    replicas: int = Field(1, ge=1, description="vllm_server: servers started per round (the unit of scale-out)")
    port: int = Field(8100, ge=1024, le=65000, description="vllm_server: first replica's port; the next ones follow")
    startup_timeout_seconds: float = Field(600.0, gt=0, description="vllm_server: wait this long for /health")


class OpenAIConfig(_Strict):
    base_url: str = Field("http://localhost:8000/v1", description="one server; see base_urls for several")
    base_urls: list[str] = Field(default_factory=list, description="several servers (e.g. vLLM on several hosts): "
                                 "prompts are spread over them, and one that fails is taken out and retried later")
    model: str = Field("default", description="the model name the server serves")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the key (optional)")
    max_concurrency: int = Field(8, ge=1, description="requests in flight per endpoint")
    max_retries: int = Field(5, ge=0, description="retries per prompt with backoff on 429, 5xx and timeouts")
    timeout_seconds: float = Field(120.0, gt=0)
    endpoint_retry_seconds: float = Field(30.0, gt=0, description="longest wait before an endpoint that could not "
                                          "be reached is tried again (the backoff doubles up to it)")

    @model_validator(mode="after")
    def _one_way_to_name_servers(self) -> "OpenAIConfig":
        if self.base_urls and "base_url" in self.model_fields_set:
            raise ValueError("set generation.openai.base_url or generation.openai.base_urls, not both")
        return self

    def endpoints(self) -> list[str]:
        return list(self.base_urls) or [self.base_url]


class GenerationConfig(_Strict):
    backend: Literal["transformers", "vllm", "vllm_server", "openai"] = Field(
        "transformers", description="transformers; vllm (in-process engine); vllm_server (the round starts "
                                    "`vllm serve` replicas itself); openai (any OpenAI-compatible server)")
    n: int = Field(4, ge=1, le=256, description="samples per prompt")
    temperature: float = Field(0.8, ge=0.0, le=5.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_new_tokens: int = Field(128, ge=1)
    batch_size: int = Field(16, ge=1, description="prompts per generate() call, at most")
    chunk_prompts: int = Field(1024, ge=1, description="prompts per generation chunk: each chunk's samples are "
                               "written when done, so a crash mid-round keeps them and a rerun generates the rest")
    max_batch_tokens: int = Field(65536, ge=64, description="transformers: sequences x tokens per generate() call")
    device: str = "auto"
    seed: int = 0
    vllm: VLLMConfig = VLLMConfig()
    openai: OpenAIConfig = OpenAIConfig()


# A chat format, or a public data set in its own published fields (flywheel/public_datasets.py).
SourceFormat = Literal["auto", "alpaca", "sharegpt", "openai", "humaneval", "mbpp", "apps", "livecodebench", "gsm8k",
                       "math", "numina"]


class PromptSource(_Strict):
    path: Path | None = Field(None, description="a .jsonl or .parquet file, or a Hugging Face datasets folder "
                              "(save_to_disk)")
    hub: str | None = Field(None, description="instead of path, a hub data set name such as openai/gsm8k, read "
                            "through the datasets library and its cache (needs the package, and the network or a "
                            "cached copy)")
    format: SourceFormat = Field("auto", description="a chat format, or a public data set read in its "
                                              "own published fields (flywheel/public_datasets.py); auto tells "
                                              "them apart by their fields")
    domain: Domain | None = Field(None, description="domain for rows that do not name one")
    name: str | None = None
    split: str | None = Field(None, description="the split of a DatasetDict folder or hub data set (default train)")
    fields: dict[str, str] = Field({}, description="the format's field name -> this file's column, for a copy of a "
                                   "data set whose columns were renamed (e.g. {question: query})")
    max_prompts: int | None = Field(None, ge=1, description="the first N prompts of this source (every row is still "
                                    "read and checked); prompts.max_prompts caps all sources together")

    @model_validator(mode="after")
    def _one_place(self) -> "PromptSource":
        if (self.path is None) == (self.hub is None):
            raise ValueError("set exactly one of path (a file or datasets folder) and hub (a hub data set name)")
        return self


class PromptsConfig(_Strict):
    sources: list[PromptSource] = Field(min_length=1)
    max_prompts: int | None = Field(None, ge=1)
    allow_empty: bool = Field(False, description="an empty prompt source is an error unless this is true")


class CombineRule(_Strict):
    """How a domain's verifiers make one decision. ``all_of``: every one passed (the default); ``any_of``:
    at least one (Llama 3.1: reward model top quartile OR judge high); ``weighted``: the sum of weight x
    score over the verifiers, passing at ``threshold`` or in the round's ``top_quantile``. Selection uses
    the combined decision; the ``decisions`` table says which verifiers let a sample in or kept it out."""

    rule: Literal["all_of", "any_of", "weighted"] = "all_of"
    weights: dict[str, float] = Field({}, description="weighted: per verifier (default 1.0 each)")
    threshold: float | None = Field(None, description="weighted: pass at or above this combined score")
    top_quantile: float | None = Field(None, gt=0.0, le=1.0,
                                       description="weighted: pass in the top fraction of the round's combined scores")

    @model_validator(mode="before")
    @classmethod
    def _rule_alone(cls, value):
        return {"rule": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _weighted_needs_a_cut(self) -> "CombineRule":
        if self.rule == "weighted" and (self.threshold is None) == (self.top_quantile is None):
            raise ValueError("a weighted rule needs exactly one of threshold or top_quantile")
        if self.rule != "weighted" and (self.weights or self.threshold is not None or self.top_quantile is not None):
            raise ValueError(f"weights, threshold and top_quantile belong to the weighted rule, not {self.rule}")
        return self


class VerifiersConfig(_Strict):
    math: list[str] = ["math"]
    code: list[str] = ["unit_tests"]
    general: list[str] = []
    required: list[str] = Field([], description="verifiers whose failure fails the round")
    timeout_seconds: float = Field(600.0, gt=0, description="per verifier and chunk: one that overruns marks that "
                                   "chunk's verdicts timeout and the round goes on (unless it is required)")
    chunk_size: int = Field(4096, ge=1, description="samples judged per chunk; each chunk is written when done, "
                            "so a killed verify stage redoes at most one chunk per shard")
    options: dict[str, dict] = Field({}, description="keyword arguments per verifier, e.g. reward_model: {top_quantile}")
    shards: int = Field(1, ge=1, le=4096, description="split verification by prompt-id hash into this many parts; "
                        "the Dagster graph runs them in parallel (one process or pod each) and retries one alone")
    combine: dict[Domain, CombineRule] = Field({}, description="per domain: all_of (default), any_of, or weighted "
                                               "{weights, threshold | top_quantile}")

    def for_domain(self, domain: str) -> list[str]:
        return list(getattr(self, domain))

    @model_validator(mode="after")
    def _required_are_used(self) -> "VerifiersConfig":
        used = set(self.math) | set(self.code) | set(self.general)
        missing = [name for name in self.required if name not in used]
        if missing:
            raise ValueError(f"required verifiers {missing} are not listed for any domain")
        for domain, rule in self.combine.items():
            stray = sorted(set(rule.weights) - set(getattr(self, domain)))
            if stray:
                raise ValueError(f"combine.{domain}.weights names {stray}, which are not {domain} verifiers "
                                 f"({getattr(self, domain)})")
        return self

    def rule_for(self, domain: str) -> CombineRule:
        return self.combine.get(domain, CombineRule())


class SelectionConfig(_Strict):
    policies: dict[Domain, Literal["all_correct", "best_of_n"]] = Field(
        {"math": "all_correct", "code": "all_correct", "general": "best_of_n"},
        description="all_correct: every passing sample up to k; best_of_n: the reward model's best per prompt")
    k: int = Field(2, ge=1, description="samples kept per prompt")
    reward_verifier: str = Field("reward_model", description="the verifier whose score ranks best_of_n")
    best_of_n_requires_checker: bool = Field(True, description="best_of_n only among samples the other verifiers passed")
    near_duplicate_threshold: float | None = Field(0.8, gt=0.0, le=1.0,
                                                   description="MinHash Jaccard above which a prompt's samples are duplicates")
    all_pass_keep: int | None = Field(1, ge=1, description="prompts that every sample passed keep at most this many")
    pool_previous_rounds: bool = Field(True, description="pool with the best of earlier rounds (Llama 2)")


class EvalSet(_Strict):
    name: str
    path: Path
    fields: list[str] = Field(["prompt"], min_length=1, description="text fields compared")


class DecontaminationConfig(_Strict):
    n: int = Field(8, ge=1)
    threshold: float = Field(0.5, gt=0.0, le=1.0, description="Tulu 3: fraction of an eval instance's tokens")
    rule: Literal["tulu", "any_hit"] = "tulu"
    check_responses: bool = False
    eval_sets: list[EvalSet] = []


class MixtureSource(_Strict):
    """One source of training examples.

    kinds: ``selected`` (this round's newly accepted samples), ``pool`` (the best of earlier
    rounds, carried by selection pooling), ``file`` (seed, human or replay data in any
    collect format, each row with an answer).
    """

    name: str
    kind: Literal["selected", "pool", "file"] = "file"
    path: Path | None = None
    format: SourceFormat = "auto"
    domain: Domain | None = None
    weight: float = Field(1.0, ge=0.0, description="1.0 takes every example once, 0.5 a seeded half, 2.0 twice")
    decay: float = Field(1.0, gt=0.0, le=1.0, description="pool only: weight x decay^(rounds since the example's round)")
    cap: int | None = Field(None, ge=0, description="at most this many distinct examples")
    epochs: int = Field(1, ge=1, description="times the drawn examples repeat in the mixture")
    quotas: dict[Domain, int] = Field({}, description="distinct examples wanted per domain (overrides weight there)")

    @model_validator(mode="after")
    def _file_needs_path(self) -> "MixtureSource":
        if self.kind == "file" and self.path is None:
            raise ValueError(f"mixture source {self.name!r} of kind 'file' needs a path")
        if self.kind != "file" and self.path is not None:
            raise ValueError(f"mixture source {self.name!r} of kind {self.kind!r} takes no path")
        return self


class MixtureConfig(_Strict):
    sources: list[MixtureSource] = [MixtureSource(name="selected", kind="selected"),
                                    MixtureSource(name="pool", kind="pool")]
    seed: int = 0

    @model_validator(mode="after")
    def _unique_names(self) -> "MixtureConfig":
        names = [s.name for s in self.sources]
        if len(names) != len(set(names)):
            raise ValueError(f"mixture source names must be unique, got {names}")
        return self


class DedupConfig(_Strict):
    enabled: bool = True
    near: bool = Field(True, description="MinHash LSH near duplicates, besides exact ones")
    threshold: float = Field(0.8, gt=0.0, le=1.0, description="estimated Jaccard of word shingles")
    shingle_size: int = Field(5, ge=1)
    num_perm: int = Field(128, ge=16)


class LoRAConfig(_Strict):
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = ["q_proj", "k_proj", "v_proj", "o_proj"]


class SFTConfig(_Strict):
    learning_rate: float = Field(1e-5, gt=0)
    epochs: int = Field(2, ge=1, le=100)
    batch_size: int = Field(8, ge=1, description="micro-batch per process (rows when packing)")
    gradient_accumulation_steps: int = Field(1, ge=1)
    warmup_ratio: float = Field(0.03, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0)
    max_seq_len: int = Field(512, ge=8)
    packing: bool = Field(True, description="best-fit-decreasing rows, no cross-example attention")
    overlong: Literal["truncate", "drop"] = Field("truncate", description="examples longer than max_seq_len")
    last_turn_only: bool = Field(False, description="train only the last assistant turn of multi-turn data")
    neftune_alpha: float | None = Field(None, gt=0, description="NEFTune embedding noise (e.g. 5)")
    lora: LoRAConfig | None = Field(None, description="train LoRA adapters, merged into the weights at the end")
    zero_stage: int = Field(0, ge=0, le=3)
    gradient_checkpointing: bool = Field(False, description="recompute activations in the backward pass (less "
                                         "memory, ~30% more compute): what an 8B model at 4k rows needs")
    num_processes: int = Field(1, ge=1, description="training processes per node (GPUs per node)")
    nnodes: int = Field(1, ge=1, description="nodes in the job; every node runs the same launch with its node_rank")
    node_rank: int = Field(0, ge=0, description="this node's rank; node 0 writes the checkpoint and the step log")
    rdzv_endpoint: str | None = Field(None, description="host:port of node 0, where the nodes meet (torchrun's "
                                      "static rendezvous, so node_rank fixes the global ranks); needed when nnodes > 1")
    checkpoint_every_steps: int = Field(0, ge=0, description="DeepSpeed checkpoint cadence for resume, in optimizer "
                                        "steps (epoch ends are then not saved too); 0: at each epoch's end")
    keep_checkpoints: int | None = Field(None, ge=1, description="keep only the newest K DeepSpeed checkpoints "
                                         "(global_step* folders) while training; default: all of them (at 8B, each "
                                         "with its optimizer state is about 100 GB)")
    timeout_seconds: float = Field(3600.0, gt=0)
    seed: int = 0
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps, repeating epochs "
                                  "as needed; the schedule spans them (a control arm's matched budget)")
    init_from: Literal["previous", "base"] = Field("previous", description="ReST-EM restarts from the base model")

    @model_validator(mode="after")
    def _lora_needs_gathered_weights(self) -> "SFTConfig":
        if self.lora is not None and self.zero_stage == 3:
            raise ValueError("lora cannot be merged from ZeRO-3 partitions; use zero_stage 0-2 with lora")
        return self

    @model_validator(mode="after")
    def _nodes_meet_somewhere(self) -> "SFTConfig":
        if self.node_rank >= self.nnodes:
            raise ValueError(f"sft.node_rank {self.node_rank} is not below sft.nnodes {self.nnodes}")
        if self.nnodes > 1:
            host, _, port = (self.rdzv_endpoint or "").rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"sft.rdzv_endpoint must be host:port of node 0 when sft.nnodes > 1, "
                                 f"not {self.rdzv_endpoint!r}")
        return self


class EvaluationConfig(_Strict):
    path: Path
    n: int = Field(1, ge=1)
    k: int = Field(4, ge=1, description="pass@k is reported for this k (capped at n)")
    train_prompts: int = Field(0, ge=0, description="also score this many of the round's training prompts: the train/test gap")
    temperature: float = Field(0.0, ge=0.0)
    max_new_tokens: int | None = None
    max_prompts: int | None = Field(None, ge=1)


class StoppingConfig(_Strict):
    """When the loop stops. Every enabled condition is checked after each round; any one stops it."""

    max_rounds: int = Field(8, ge=1)
    diversity_metric: Literal["distinct_1", "distinct_2", "distinct_3", "self_bleu", "gzip_ratio",
                               "embedding_vendi", "embedding_cosine_distance"] = Field(
        "distinct_2", description="the diversity column the rule watches (self_bleu counts as diversity 1 - self_bleu)")
    diversity_population: Literal["accepted", "evaluation"] = "accepted"
    min_diversity_fraction: float | None = Field(
        0.5, gt=0.0, le=1.0, description="stop when diversity falls below this fraction of the first measured round's")
    max_diversity_drop: float | None = Field(
        0.3, gt=0.0, le=1.0, description="stop when diversity falls by more than this fraction from one round to the next")
    eval_gain_window: int = Field(2, ge=1, description="rounds over which the held-out pass@1 gain is measured")
    min_eval_gain: float | None = Field(
        0.01, description="stop when held-out pass@1 gained less than this over the last eval_gain_window rounds")
    stop_on_zero_yield: bool = Field(True, description="stop when a round accepted no sample in any domain: the next "
                                     "round would train on nothing new (round_metrics.warnings says why)")


class SandboxConfig(_Strict):
    backend: Literal["bwrap", "docker", "process"] = Field("bwrap", description="bwrap (local), docker (a judge and "
                                                            "a candidate container per execution; needs an engine "
                                                            "and the flywheel-sandbox image), or process (no "
                                                            "isolation; needs allow_unsafe)")
    allow_unsafe: bool = Field(False, description="the 'process' backend runs only when this is true")
    timeout_seconds: float = Field(10.0, gt=0, description="CPU seconds per execution, across all its processes: "
                                   "the limit that decides a verdict, the same on a loaded machine")
    wall_seconds: float | None = Field(None, gt=0, description="wall-clock backstop (default 3x the CPU limit + 5 s); "
                                       "a verdict it decides says status 'timeout'")
    memory_bytes: int = Field(1 << 30, gt=0, description="memory per execution, across all its processes and tmpfs")

    def verifier_options(self) -> dict:
        """The unit-test verifier's keyword arguments (configuration flows through arguments, not the environment)."""
        return {"backend": self.backend, "allow_unsafe": self.allow_unsafe, "cpu_seconds": self.timeout_seconds,
                "wall_seconds": self.wall_seconds, "memory_bytes": self.memory_bytes}


class PodResources(_Strict):
    cpu: str = Field("2", description="Kubernetes CPU request, e.g. '2' or '500m'")
    memory: str = Field("8Gi", description="Kubernetes memory request, e.g. '8Gi'")


class KubernetesConfig(_Strict):
    """Pods per stage when Dagster runs each step as a Kubernetes job (deploy/helm/values.yaml)."""

    enabled: bool = Field(False, description="run every step in a pod of its own (dagster-k8s's k8s_job_executor), "
                                             "with the GPU and CPU requests below as dagster-k8s/config tags")
    gpus: dict[Literal["samples", "checkpoint", "evaluation"], int] = Field(
        {}, description="GPUs per stage, overriding the count derived from the config (samples and evaluation: "
                        "the generation backend's; checkpoint: sft.num_processes)")
    gpu_resource: str = Field("nvidia.com/gpu", description="the extended resource a GPU pod asks for")
    gpu_node_selector: dict[str, str] = Field({}, description="node labels a GPU pod must run on")
    gpu_tolerations: list[dict] = Field(
        [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        description="tolerations of a GPU pod (GPU nodes are usually tainted)")
    gpu_pod: PodResources = PodResources(cpu="8", memory="64Gi")
    cpu_pod: PodResources = PodResources()

    @field_validator("gpus")
    @classmethod
    def _counts_not_negative(cls, value: dict) -> dict:
        for stage, count in value.items():
            if count < 0:
                raise ValueError(f"{stage}: a GPU count cannot be negative ({count})")
        return value


class TrackingConfig(_Strict):
    """Experiment tracking of each round's SFT steps and round metrics, rebuilt from the DuckDB rows."""

    backend: Literal["tensorboard", "wandb", "mlflow", "none"] = Field(
        "tensorboard", description="tensorboard (offline, <workdir>/tensorboard), wandb or mlflow (their own "
                                   "libraries, when installed; their usual environment variables apply), or none")
    project: str = Field("flywheel", description="wandb project / mlflow experiment name")

    @model_validator(mode="before")
    @classmethod
    def _backend_alone(cls, value):
        return {"backend": value} if isinstance(value, str) else value


class RoundConfig(_Strict):
    workdir: Path
    model: ModelConfig
    generation: GenerationConfig = GenerationConfig()
    prompts: PromptsConfig
    verifiers: VerifiersConfig = VerifiersConfig()
    selection: SelectionConfig = SelectionConfig()
    decontamination: DecontaminationConfig = DecontaminationConfig()
    dedup: DedupConfig = DedupConfig()
    mixture: MixtureConfig = MixtureConfig()
    sft: SFTConfig = SFTConfig()
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

    @field_validator("workdir")
    @classmethod
    def _workdir_not_empty(cls, value: Path) -> Path:
        if str(value).strip() == "":
            raise ValueError("workdir must not be empty")
        return value


def _resolve_paths(node: object, base: Path) -> object:
    """Make every relative Path absolute against ``base`` (the YAML file's folder)."""
    if isinstance(node, Path):
        return node if node.is_absolute() else (base / node).resolve()
    if isinstance(node, BaseModel):
        updates = {name: _resolve_paths(getattr(node, name), base) for name in type(node).model_fields}
        return node.model_copy(update=updates)
    if isinstance(node, list):
        return [_resolve_paths(item, base) for item in node]
    return node


def _format_errors(source: str, error: ValidationError) -> str:
    lines = [f"{source}: invalid round config"]
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "<root>"
        lines.append(f"  {field}: {item['msg']}{_did_you_mean(item)}")
    return "\n".join(lines)


def _did_you_mean(item: dict) -> str:
    """For a value outside a field's choices, the nearest choice: 'humaneva' -> 'humaneval'."""
    if item["type"] != "literal_error" or not isinstance(item.get("input"), str):
        return ""
    choices = re.findall(r"'([^']*)'", (item.get("ctx") or {}).get("expected", ""))
    close = difflib.get_close_matches(item["input"], choices, n=1, cutoff=0.6)
    return f" (got {item['input']!r}; did you mean {close[0]!r}?)" if close else f" (got {item['input']!r})"


def _resolve_option_paths(data: dict, base: Path) -> None:
    """Verifier options are free-form; their ``path`` keys still resolve against the config file."""
    options = (data.get("verifiers") or {}).get("options") or {}
    def resolved(value: str) -> str:
        return value if Path(value).is_absolute() else str((base / value).resolve())

    for values in options.values():
        if not isinstance(values, dict):
            continue
        if isinstance(values.get("path"), str):
            values["path"] = resolved(values["path"])
        rubric = values.get("rubric")  # a rubric file (llm_judge), named alone or per domain
        if isinstance(rubric, str) and rubric.endswith((".yaml", ".yml")):
            values["rubric"] = resolved(rubric)
        elif isinstance(rubric, dict):
            values["rubric"] = {d: resolved(r) if isinstance(r, str) and r.endswith((".yaml", ".yml")) else r
                                for d, r in rubric.items()}


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _resolve_hub_model(data: dict, base_dir: Path, source: str) -> None:
    """``model.base`` may be a Hugging Face hub id (``meta-llama/Llama-3.1-8B-Instruct``) when no folder of
    that name is beside the config: it becomes the snapshot folder in the HF cache, downloaded first unless
    HF_HUB_OFFLINE is set. A path wins over a hub id of the same spelling."""
    model = data.get("model")
    raw = model.get("base") if isinstance(model, dict) else None
    if not isinstance(raw, str) or Path(raw).is_absolute() or (base_dir / raw).exists() or not HUB_ID.match(raw):
        return
    from huggingface_hub import snapshot_download
    from huggingface_hub.constants import HF_HUB_CACHE
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        model["base"] = snapshot_download(raw, local_files_only=True)
        return
    except LocalEntryNotFoundError:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}:
        raise ConfigError(f"{source}: model.base: {raw!r} is not a folder beside the config, and as a Hugging Face "
                          f"hub id it is not in the local cache ({HF_HUB_CACHE}) while HF_HUB_OFFLINE is set: "
                          f"download it where there is a network (huggingface-cli download {raw}) or give a path")
    try:
        model["base"] = snapshot_download(raw)
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
        raise ConfigError(f"{source}: model.base: {raw!r} is not a folder beside the config, and as a Hugging Face "
                          f"hub id it is neither in the local cache ({HF_HUB_CACHE}) nor downloadable here: "
                          f"{str(error).splitlines()[0]}") from None


def parse_config(data: dict, *, base_dir: Path, source: str = "<config>") -> RoundConfig:
    _resolve_hub_model(data, base_dir, source)
    _resolve_option_paths(data, base_dir)
    try:
        config = RoundConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_errors(source, error)) from None
    return _resolve_paths(config, base_dir)  # type: ignore[return-value]


def load_config(path: str | Path | None = None, *, workdir: str | Path | None = None,
                check_files: bool = True) -> RoundConfig:
    """Load and validate a round config; ``workdir`` overrides the file's own. ``check_files=False`` leaves the
    input paths unchecked (flywheel check reports them with the preflight's other findings)."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    if workdir is not None:
        data["workdir"] = str(Path(workdir).resolve())
    config = parse_config(data, base_dir=path.resolve().parent, source=str(path))
    if check_files:
        check_paths(config, str(path))
    return config


def check_paths(config: RoundConfig, source: str = "<config>") -> None:
    """Every input path the config names exists, so a typo fails now, naming its field, not stages later; every
    missing one is named at once."""
    missing = missing_paths(config)
    if len(missing) == 1:
        raise ConfigError(f"{source}: {missing[0][0]}: {missing[0][1]} does not exist")
    if missing:
        raise ConfigError(f"{source}: {len(missing)} paths do not exist:\n" +
                          "\n".join(f"  {field}: {path}" for field, path in missing))


def missing_paths(config: RoundConfig) -> list[tuple[str, Path]]:
    """(field, path) for each input path the config names that does not exist."""
    wanted = [("model.base", config.model.base)]
    wanted += [(f"prompts.sources[{i}].path", s.path) for i, s in enumerate(config.prompts.sources) if s.path]
    wanted += [("evaluation.path", config.evaluation.path)]
    wanted += [(f"decontamination.eval_sets[{i}].path", e.path) for i, e in enumerate(config.decontamination.eval_sets)]
    wanted += [(f"mixture.sources[{i}].path", m.path) for i, m in enumerate(config.mixture.sources) if m.path]
    for name, options in config.verifiers.options.items():
        if isinstance(options.get("path"), str):
            wanted.append((f"verifiers.options.{name}.path", Path(options["path"])))
    return [(field, Path(path)) for field, path in wanted if not Path(path).exists()]


def with_seed(config: RoundConfig, seed: int) -> RoundConfig:
    """The same config with every seed (generation, mixture sampling, SFT) set to ``seed``."""
    return config.model_copy(update={
        "generation": config.generation.model_copy(update={"seed": seed}),
        "mixture": config.mixture.model_copy(update={"seed": seed}),
        "sft": config.sft.model_copy(update={"seed": seed})})


def with_backend(config: RoundConfig, backend: str) -> RoundConfig:
    """The same config generating with ``backend`` (validated like the file's own value)."""
    generation = GenerationConfig.model_validate({**config.generation.model_dump(), "backend": backend})
    return config.model_copy(update={"generation": generation})


def write_effective_config(config: RoundConfig) -> Path:
    """``<workdir>/config.yaml``: the config a run actually used, paths absolute, overrides applied.

    The Dagster resources read this file, so a CLI override reaches every stage, and the
    workdir records exactly what produced it.
    """
    return write_text_atomic(config.workdir / "config.yaml", yaml.safe_dump(config.model_dump(mode="json"),
                                                                            sort_keys=False))
