"""Pods per stage on Kubernetes: the ``dagster-k8s/config`` tag of each step, from the round config.

Under dagster-k8s's ``k8s_job_executor`` every step runs as a Kubernetes job, and the
executor reads the step's ``dagster-k8s/config`` tag for its pod. Generation (``samples``),
SFT (``checkpoint``) and ``evaluation`` ask for GPUs; every other stage asks for a CPU pod.
The counts follow the config, so a change of tensor parallelism or SFT processes changes the
pods with it:

- samples and evaluation: the in-process vLLM engine's ``tensor_parallel_size``; for
  ``vllm_server``, that times ``replicas``; one GPU for transformers; none when generation runs
  on ``device: cpu`` or on someone else's server (``openai``);
- checkpoint: ``sft.num_processes``, the GPUs of one node (other nodes run ``flywheel sft-worker``);
- dpo_checkpoint: ``dpo.num_processes`` when ``dpo.enabled`` (none when it is off: the step only records that).

``kubernetes.gpus`` overrides any of them. Nothing here applies unless ``kubernetes.enabled``.
"""

from __future__ import annotations

from flywheel.config import RoundConfig

TAG = "dagster-k8s/config"


def gpus_per_stage(config: RoundConfig) -> dict[str, int]:
    generation = config.generation
    if generation.backend == "openai" or (generation.backend == "transformers" and generation.device == "cpu"):
        generating = 0
    elif generation.backend == "vllm_server":
        generating = generation.vllm.tensor_parallel_size * generation.vllm.replicas
    elif generation.backend == "vllm":
        generating = generation.vllm.tensor_parallel_size
    else:
        generating = 1
    derived = {"samples": generating, "checkpoint": config.sft.num_processes, "evaluation": generating,
               "dpo_checkpoint": config.dpo.num_processes if config.dpo.enabled else 0}
    return {**derived, **config.kubernetes.gpus}


def pod_config(config: RoundConfig, stage: str) -> dict:
    """The ``dagster-k8s/config`` value for one stage's step pod."""
    k8s = config.kubernetes
    gpus = gpus_per_stage(config).get(stage, 0)
    pod = k8s.gpu_pod if gpus else k8s.cpu_pod
    resources: dict = {"requests": {"cpu": pod.cpu, "memory": pod.memory}}
    if not gpus:
        return {"container_config": {"resources": resources}}
    resources["limits"] = {k8s.gpu_resource: str(gpus)}  # extended resources are set as limits
    spec: dict = {"tolerations": [dict(t) for t in k8s.gpu_tolerations]}
    if k8s.gpu_node_selector:
        spec["node_selector"] = dict(k8s.gpu_node_selector)
    return {"container_config": {"resources": resources}, "pod_spec_config": spec}


def op_tags(config: RoundConfig, stage: str) -> dict:
    """The op tags of one stage: the pod config when Kubernetes is on, none otherwise."""
    return {TAG: pod_config(config, stage)} if config.kubernetes.enabled else {}


def executor(config: RoundConfig):
    """dagster-k8s's per-step executor when Kubernetes is on, else None (Dagster's default)."""
    if not config.kubernetes.enabled:
        return None
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError as error:
        raise ImportError("kubernetes.enabled needs dagster-k8s in the code location's image: "
                          "pip install 'flywheel[deploy]'") from error
    return k8s_job_executor
