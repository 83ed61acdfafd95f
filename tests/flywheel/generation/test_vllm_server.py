"""`vllm serve` replicas' arguments, health wait, failure report and stop, with a stand-in server in place of
vLLM's (test_vllm.py runs the real one, slowly): the supervisor, ports, logs and process groups are real."""

from __future__ import annotations

import os
import random
import shutil
import socket
import sys
from pathlib import Path

import pytest

from flywheel.config import VLLMConfig
from flywheel.generation import vllm_server
from flywheel.generation.vllm_server import ServerFailed, VLLMServers, serve_arguments

# Answers /health on the --port it is given, as `vllm serve` does once its model is loaded.
HEALTHY_SERVER = [sys.executable, "-c", """
import http.server, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404); self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""]
FAILING_SERVER = [sys.executable, "-c", "import sys; print('CUDA out of memory (stand-in)', file=sys.stderr); "
                                        "sys.exit(3)"]


def _free_port() -> int:
    """A port below the ephemeral range (where clients' outgoing connections take theirs), the next one free too."""
    rng = random.Random()
    for _ in range(100):
        port = rng.randrange(20000, 30000)
        if all(vllm_server._port_free(p) for p in (port, port + 1)):
            return port
    raise RuntimeError("no two free ports in 20000-30000")


def test_a_port_a_client_holds_without_listening_is_not_free():
    with socket.socket() as listener, socket.socket() as client:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client.connect(listener.getsockname())  # the client's own end holds an ephemeral port, listening on nothing
        assert not vllm_server._port_free(client.getsockname()[1])
        assert not vllm_server._port_free(listener.getsockname()[1])


def test_serve_arguments_carry_the_engine_settings():
    arguments = serve_arguments("/ckpt", VLLMConfig(max_model_len=256, enable_prefix_caching=False), 8123, 7)
    assert arguments[:8] == ["--model", "/ckpt", "--host", "127.0.0.1", "--port", "8123", "--seed", "7"]
    assert "--no-enable-prefix-caching" in arguments and "--enforce-eager" in arguments
    assert "--no-enable-chunked-prefill" in arguments  # CPU: split prefills break per-prompt seeds
    assert arguments[arguments.index("--max-model-len") + 1] == "256"


def test_replicas_come_up_on_free_ports_and_stop_with_their_log_folder(monkeypatch):
    monkeypatch.setattr(vllm_server, "vllm_command", lambda: HEALTHY_SERVER)
    lines: list[str] = []
    servers = VLLMServers("/ckpt", VLLMConfig(replicas=2, port=_free_port(), startup_timeout_seconds=60), echo=lines.append)
    try:
        assert len(servers.urls) == 2 and len(set(servers.urls)) == 2
        assert [line.split(" ready")[0] for line in lines] == ["vllm serve replica 0", "vllm serve replica 1"]
        groups, log_dir = list(servers.groups), servers.log_dir
    finally:
        servers.close()
    assert not log_dir.exists()  # a folder it made itself goes with a clean close
    for group in groups:
        with pytest.raises(ProcessLookupError):
            os.killpg(group, 0)


def test_a_replica_that_exits_fails_with_its_log_tail_and_keeps_the_log(monkeypatch):
    monkeypatch.setattr(vllm_server, "vllm_command", lambda: FAILING_SERVER)
    with pytest.raises(ServerFailed, match="exited with code 3") as failure:
        VLLMServers("/ckpt", VLLMConfig(port=_free_port(), startup_timeout_seconds=60), echo=print)
    assert "CUDA out of memory (stand-in)" in str(failure.value)
    log = str(failure.value).split("log ", 1)[1].split(":\n")[0]
    assert "vllm-serve-0.log" in log
    assert Path(log).exists()  # kept as evidence
    shutil.rmtree(Path(log).parent)
