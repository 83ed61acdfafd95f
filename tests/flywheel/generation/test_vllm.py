"""All three vLLM-facing backends against real vLLM (its CPU build), with the bundled tiny model.

- ``vllm``: the in-process engine; per-prompt seeds make a prompt's samples independent of
  the batch it shares;
- ``vllm_server``: the round starts `vllm serve`, generates through it and stops it, with no
  process left behind, also when the orchestrator is killed;
- ``openai``: against `vllm serve` replicas this test starts, one URL or several, token counts from the
  server (the two-server test).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flywheel.config import PACKAGE_DIR, GenerationConfig, OpenAIConfig, VLLMConfig
from flywheel.generation import SamplingParams, derive_seed, make_generator
from flywheel.records.schema import Message, Prompt
from tests.conftest import processes_matching

pytest.importorskip("vllm")
pytestmark = pytest.mark.slow

TINY = PACKAGE_DIR / "data" / "tiny-base"
PARAMS = SamplingParams(n=3, temperature=0.9, top_p=0.95, max_new_tokens=24, seed=5)


def prompts(count=4, offset=0):
    return [Prompt(id=f"p{i}", domain="math", messages=[Message(role="user", content=f"What is {i} + {i}?")],
                   reference=str(2 * i), source=f"t:{i}") for i in range(offset, offset + count)]


def server_processes(marker: str) -> list[str]:
    return processes_matching(lambda command: marker in command)


@pytest.fixture(scope="module")
def engine():
    generator = make_generator(TINY, GenerationConfig(backend="vllm", seed=5))
    yield generator
    generator.close()


def test_engine_gives_n_samples_per_prompt_with_vllm_finish_reasons_and_token_counts(engine):
    samples = engine.generate(prompts(), PARAMS, 1)
    assert [(s.prompt_id, s.sample_index) for s in samples] == [(f"p{i}", j) for i in range(4) for j in range(3)]
    assert all(s.seed == derive_seed(5, 1, s.prompt_id) for s in samples)
    assert {s.finish_reason for s in samples} <= {"stop", "length"}
    assert all(0 < s.num_tokens <= 24 for s in samples)
    assert all(s.num_tokens == 24 for s in samples if s.finish_reason == "length")
    assert all(s.checkpoint == str(TINY) and s.round == 1 for s in samples)
    # the chat template's end of turn stops generation; its marker never reaches the text
    assert not any("<|im_end|>" in s.text or "<|im_start|>" in s.text for s in samples)


def test_engine_samples_are_reproducible_and_independent_of_the_batch(engine):
    first = engine.generate(prompts(), PARAMS, 1)
    again = engine.generate(prompts(), PARAMS, 1)
    alone = engine.generate(prompts(1, offset=2), PARAMS, 1)  # p2 without the others
    assert [s.text for s in first] == [s.text for s in again]
    assert [s.text for s in alone] == [s.text for s in first if s.prompt_id == "p2"]
    other_round = engine.generate(prompts(), PARAMS, 2)
    assert [s.text for s in other_round] != [s.text for s in first]


def test_many_long_prompts_with_seeds_do_not_kill_the_cpu_engine(engine):
    # More prompt tokens than one step schedules: with chunked prefill on, vLLM 0.32's CPU
    # worker dies rewinding a per-request generator; the CPU default turns chunking off.
    long = [Prompt(id=f"long{i}", domain="general", source=f"t:{i}",
                   messages=[Message(role="user", content=f"Explain {i} carefully. " + "word " * 150)]) for i in range(40)]
    samples = engine.generate(long, SamplingParams(n=2, temperature=0.8, max_new_tokens=8, seed=1), 1)
    assert len(samples) == 80


def test_vllm_server_backend_serves_generates_and_leaves_nothing_behind(tmp_path):
    config = GenerationConfig(backend="vllm_server", seed=5, vllm=VLLMConfig(port=8230),
                              openai=OpenAIConfig(max_concurrency=2))
    generator = make_generator(TINY, config)
    try:
        groups, logs = list(generator.servers.groups), generator.servers.log_dir
        assert logs.is_dir()
        samples = generator.generate(prompts(), PARAMS, 1)
    finally:
        generator.close()
    assert not logs.exists()  # its own log folder goes with a clean stop (one stayed behind per server start)
    assert [(s.prompt_id, s.sample_index) for s in samples] == [(f"p{i}", j) for i in range(4) for j in range(3)]
    assert all(0 < s.num_tokens <= 24 for s in samples)
    assert all(s.num_tokens == 24 for s in samples if s.finish_reason == "length")
    for group in groups:
        with pytest.raises(ProcessLookupError):
            os.killpg(group, 0)
    assert server_processes("--port 8230") == []


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def test_killed_orchestrator_takes_its_servers_with_it(tmp_path):
    script = tmp_path / "orchestrator.py"
    script.write_text(
        "import sys, time\n"
        "from flywheel.config import VLLMConfig\n"
        "from flywheel.generation.vllm_server import VLLMServers\n"
        "if __name__ == '__main__':\n"
        f"    servers = VLLMServers({str(TINY)!r}, VLLMConfig(port=8240), log_dir={str(tmp_path)!r})\n"
        "    print('up', servers.groups[0], flush=True)\n"
        "    time.sleep(600)\n")
    orchestrator = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                                    cwd=PACKAGE_DIR.parent)
    try:
        line = orchestrator.stdout.readline()
        assert line.startswith("up"), line
        group = int(line.split()[1])
        os.kill(orchestrator.pid, signal.SIGKILL)  # no cleanup code runs in the orchestrator
        orchestrator.wait()
        # The whole group goes within 30 s: the API server first, then the engine core it started, which carries no
        # port on its command line and can take a moment longer to shut down (CI once checked in between).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (server_processes("--port 8240") or _group_alive(group)):
            time.sleep(0.5)
        assert server_processes("--port 8240") == []
        with pytest.raises(ProcessLookupError):
            os.killpg(group, 0)
    finally:
        if orchestrator.poll() is None:
            orchestrator.kill()


def test_a_server_that_cannot_start_fails_the_stage_with_its_log(tmp_path):
    from flywheel.generation.vllm_server import ServerFailed

    import shutil

    broken = tmp_path / "broken-weights"
    shutil.copytree(TINY, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")  # tokenizer fine, weights unreadable
    config = GenerationConfig(backend="vllm_server", vllm=VLLMConfig(port=8250, startup_timeout_seconds=120))
    with pytest.raises(ServerFailed, match="exited with code .* before it was healthy; log") as failed:
        make_generator(broken, config)
    log = failed.value.args[0].split("; log ", 1)[1].split(":\n", 1)[0]
    assert Path(log).is_file()  # a failed start keeps its log: it is the error's evidence
    assert server_processes("--port 8250") == []


def test_two_servers_one_killed_mid_round_give_the_samples_of_one(tmp_path):
    """generation.openai.base_urls over two real `vllm serve` processes; one is SIGKILLed mid-round.
    Its prompts move to the other, nothing is lost, and every sample equals the single-server run's."""
    from flywheel.generation.vllm_server import VLLMServers

    servers = VLLMServers(str(TINY), VLLMConfig(port=8270, replicas=2), seed=5, log_dir=tmp_path)
    try:
        def client(**where):
            return make_generator("/unused", GenerationConfig(backend="openai", openai=OpenAIConfig(
                **where, model=str(TINY), max_concurrency=2, endpoint_retry_seconds=1.0)))

        done, killed = [], []
        both = client(base_urls=servers.urls)

        def kill_the_second_once_it_has_served_two(count):
            # Triggered by the second server's own progress (not the round's): under load the first one
            # can answer the first prompts alone, and a server killed before it served tests nothing.
            done.append(count)
            if not killed and both.endpoints[1].served >= 2:
                killed.append(len(done))
                os.killpg(servers.groups[1], signal.SIGKILL)

        spread = both.generate(prompts(24), PARAMS, 1, kill_the_second_once_it_has_served_two)
        served_by_second = both.endpoints[1].served
        both.close()
        alone = client(base_url=servers.urls[0])  # the openai backend as a user points it at one server
        reference = alone.generate(prompts(24), PARAMS, 1)
        alone.close()
    finally:
        servers.close()
    assert killed and 0 < served_by_second < 20 and sum(done) == 24
    assert [(s.prompt_id, s.sample_index) for s in reference] == [(f"p{i}", j) for i in range(24) for j in range(3)]
    # each choice's own token count, from the server (never a word count)
    assert all(0 < s.num_tokens <= 24 for s in reference)
    assert all(s.num_tokens == 24 for s in reference if s.finish_reason == "length")
    assert all(s.checkpoint == str(TINY) for s in reference)
    assert [s.model_dump() for s in spread] == [s.model_dump() for s in reference]
    assert server_processes("--port 8270") == [] and server_processes("--port 8271") == []
