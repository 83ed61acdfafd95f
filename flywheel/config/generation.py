"""``model`` and ``generation``: the checkpoint round 1 starts from and how samples are made (transformers, vLLM
in-process or served, any OpenAI-compatible server).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from flywheel.config.base import _Strict


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
