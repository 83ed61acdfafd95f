"""An OpenAI-compatible chat endpoint for tests and benchmarks: a server elsewhere, standing in for vLLM or a hosted
model. It answers ``/v1/chat/completions`` with the n choices ``answers(question, n)`` writes, after
``delay(texts)`` seconds of sleep (wall time, no CPU), with per-choice token counts (a token is a word) as logprobs,
as vLLM gives them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChatDouble:
    def __init__(self, answers: Callable[[str, int], list[str]], delay: Callable[[list[str]], float] = lambda _: 0.0):
        self.answers, self.delay = answers, delay
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                texts = double.answers(body["messages"][-1]["content"], body["n"])
                time.sleep(double.delay(texts))
                tokens = [max(1, len(text.split())) for text in texts]
                token = {"token": "t", "logprob": -0.5, "bytes": None, "top_logprobs": []}
                data = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                   "choices": [{"index": i, "finish_reason": "stop",
                                                "message": {"role": "assistant", "content": text},
                                                "logprobs": {"content": [token] * count}}
                                               for i, (text, count) in enumerate(zip(texts, tokens))],
                                   "usage": {"prompt_tokens": 1, "completion_tokens": sum(tokens),
                                             "total_tokens": 1 + sum(tokens)}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
