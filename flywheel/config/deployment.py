"""``sandbox``, ``kubernetes`` and ``tracking``: where and how the stages run, and where their figures go."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from flywheel.config.base import _Strict


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
