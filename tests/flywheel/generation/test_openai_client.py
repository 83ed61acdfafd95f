"""The openai backend's retries, timeouts and bounded concurrency, against a local HTTP double.

A double is the right tool here: it injects 429s, 500s and a stalled answer on cue, which a
real server does not. The backend against a real `vllm serve` is in test_vllm.py.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flywheel.config import GenerationConfig, OpenAIConfig
from flywheel.generation import SamplingParams, derive_seed, make_generator
from flywheel.records.schema import Message, Prompt


def prompts(n=3):
    return [Prompt(id=f"p{i}", domain="math", messages=[Message(role="user", content=f"question {i}")],
                   reference="1", source=f"f:{i}") for i in range(n)]


class ChatServer(BaseHTTPRequestHandler):
    failures: dict = {}
    state = {"in_flight": 0, "peak": 0, "requests": 0}
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        question = body["messages"][-1]["content"]
        with self.lock:
            self.state["requests"] += 1
            self.state["in_flight"] += 1
            self.state["peak"] = max(self.state["peak"], self.state["in_flight"])
            planned = self.failures.get(question, [])
            status = planned.pop(0) if planned else 200
        time.sleep(0.05)
        if question == "slow":
            time.sleep(2)
        # Out of flight before the first byte of the answer: once the client has its answer it may send the
        # next request while this thread is still writing, and counting it then would read as a third in flight.
        with self.lock:
            self.state["in_flight"] -= 1
        if status != 200:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(json.dumps({"error": {"message": "busy", "type": "rate_limit"}}).encode())
            return
        token = {"token": "t", "logprob": -0.5, "bytes": None, "top_logprobs": []}
        choices = [{"index": i, "finish_reason": "length" if i == body["n"] - 1 else "stop",
                    "message": {"role": "assistant", "content": f"answer {i} to {question} (seed {body['seed']})"},
                    "logprobs": {"content": [token] * (i + 3)} if body.get("logprobs") else None}
                   for i in range(body["n"])]
        payload = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"], "choices": choices,
                   "usage": {"prompt_tokens": 3, "completion_tokens": sum(i + 3 for i in range(body["n"])),
                             "total_tokens": 8}}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server():
    ChatServer.failures = {"question 1": [429, 500]}
    ChatServer.state.update(in_flight=0, peak=0, requests=0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ChatServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def openai_config(url, **overrides):
    return GenerationConfig(backend="openai", openai=OpenAIConfig(base_url=url, model="served-model", **overrides))


def test_openai_backend_against_a_local_server_with_retries_and_bounded_concurrency(server):
    generator = make_generator("/ignored", openai_config(server, max_concurrency=2, max_retries=3))
    samples = generator.generate(prompts(6), SamplingParams(n=2, temperature=0.5, max_new_tokens=16, seed=3), 4)
    assert [(s.prompt_id, s.sample_index) for s in samples] == [(f"p{i}", j) for i in range(6) for j in range(2)]
    assert samples[2].text == f"answer 0 to question 1 (seed {derive_seed(3, 4, 'p1')})"  # served after a 429 and a 500
    assert samples[1].finish_reason == "length" and samples[0].finish_reason == "stop"
    assert [s.num_tokens for s in samples[:2]] == [3, 4]  # each choice's own count (its logprobs), not words
    assert all(s.checkpoint == "served-model" for s in samples)
    assert ChatServer.state["requests"] == 6 + 2  # two retries
    assert ChatServer.state["peak"] <= 2


def test_openai_backend_times_out_and_gives_up(server):
    from openai import APITimeoutError

    slow = [Prompt(id="s", domain="math", messages=[Message(role="user", content="slow")], source="f:1")]
    generator = make_generator("/x", openai_config(server, max_retries=0, timeout_seconds=0.5))
    with pytest.raises(APITimeoutError):
        generator.generate(slow, SamplingParams(n=1), 1)
