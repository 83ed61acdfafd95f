"""Generation spread over several endpoints: bounded concurrency each, failover when one dies.

HTTP doubles stand in for the servers here because they can die on cue, mid-request; the
same failover against two real `vllm serve` processes is in test_vllm.py.
"""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flywheel.config import GenerationConfig, OpenAIConfig
from flywheel.generation import SamplingParams, derive_seed, make_generator
from flywheel.generation.openai_client import EndpointsFailed
from flywheel.records.schema import Message, Prompt


def prompts(n):
    return [Prompt(id=f"p{i}", domain="math", messages=[Message(role="user", content=f"question {i}")],
                   reference="1", source=f"tasks.jsonl:{i + 1}") for i in range(n)]


class Double:
    """One OpenAI-compatible server: answers from the seed only (as a seeded vLLM would), counts
    what it served and its peak concurrency, and can die, dropping the requests in flight."""

    def __init__(self, status: int = 200):
        self.served, self.in_flight, self.peak, self.status = 0, 0, 0, status
        self.dead = threading.Event()
        self.lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with double.lock:
                    double.in_flight += 1
                    double.peak = max(double.peak, double.in_flight)
                counted = False
                try:
                    time.sleep(0.03)
                    if double.dead.is_set():  # killed mid-request: the connection just drops
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    if double.status != 200:
                        self.send_response(double.status)
                        self.send_header("Content-Type", "application/json")
                        self.end_headers()
                        self.wfile.write(b'{"error": {"message": "bad request", "type": "invalid_request_error"}}')
                        return
                    token = {"token": "t", "logprob": -0.5, "bytes": None, "top_logprobs": []}
                    choices = [{"index": i, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": f"sample {i} of seed {body['seed']}"},
                                "logprobs": {"content": [token] * 2}} for i in range(body["n"])]
                    data = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                       "choices": choices, "usage": {"prompt_tokens": 1, "total_tokens": 1,
                                                                     "completion_tokens": 2 * body["n"]}}).encode()
                    # done before the reply leaves: a client that has its answer may send its next request
                    # before this thread runs again (under load), which is not two in flight
                    with double.lock:
                        double.served += 1
                        double.in_flight -= 1
                        counted = True
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    if not counted:
                        with double.lock:
                            double.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def kill(self):
        self.dead.set()
        self.httpd.shutdown()
        self.httpd.server_close()  # new connections are refused from now on


@pytest.fixture
def doubles():
    started = [Double(), Double()]
    yield started
    for double in started:
        if not double.dead.is_set():
            double.kill()


def generator(urls, **overrides):
    settings = {"base_urls": urls, "model": "served", "max_concurrency": 2, "endpoint_retry_seconds": 0.5, **overrides}
    return make_generator("/ignored", GenerationConfig(backend="openai", openai=OpenAIConfig(**settings)))


PARAMS = SamplingParams(n=2, temperature=0.7, seed=11)


def test_requests_spread_over_endpoints_with_bounded_concurrency_each(doubles):
    samples = generator([d.url for d in doubles]).generate(prompts(40), PARAMS, 3)
    assert [(s.prompt_id, s.sample_index) for s in samples] == [(f"p{i}", j) for i in range(40) for j in range(2)]
    assert all(d.served > 5 for d in doubles) and sum(d.served for d in doubles) == 40
    assert all(d.peak <= 2 for d in doubles)


def test_an_endpoint_killed_mid_round_loses_nothing_and_changes_no_sample(doubles):
    alone = generator([doubles[0].url]).generate(prompts(40), PARAMS, 3)
    doubles[0].served = 0
    done = []

    def progress(count):
        done.append(count)
        if len(done) == 6:
            doubles[1].kill()

    both = generator([d.url for d in doubles]).generate(prompts(40), PARAMS, 3, progress)
    assert doubles[1].dead.is_set() and doubles[1].served < 20
    assert [s.model_dump() for s in both] == [s.model_dump() for s in alone]  # which endpoint answered is invisible
    assert both[0].seed == derive_seed(11, 3, "p0") and sum(done) == 40


def test_every_endpoint_down_fails_naming_them(doubles):
    for double in doubles:
        double.kill()
    started = time.monotonic()
    with pytest.raises(EndpointsFailed, match=r"p\d+ \(tasks.jsonl:\d+\) failed 3 times on the endpoints .*127\.0\.0\.1.*127\.0\.0\.1"):
        generator([d.url for d in doubles], max_retries=2, endpoint_retry_seconds=0.2).generate(prompts(4), PARAMS, 1)
    assert time.monotonic() - started < 10


def test_a_request_the_server_rejects_fails_at_once_naming_endpoint_and_prompt():
    bad = Double(status=400)
    try:
        with pytest.raises(EndpointsFailed, match=r"refused prompt p0 \(tasks.jsonl:1\)") as raised:
            generator([bad.url]).generate(prompts(1), PARAMS, 1)
        assert bad.url in str(raised.value)
    finally:
        bad.kill()


def test_base_url_and_base_urls_are_not_both_set():
    with pytest.raises(ValueError, match="base_url.*base_urls"):
        OpenAIConfig(base_url="http://a/v1", base_urls=["http://b/v1"])
    assert OpenAIConfig(base_urls=["http://b/v1"]).endpoints() == ["http://b/v1"]
    assert OpenAIConfig().endpoints() == ["http://localhost:8000/v1"]
