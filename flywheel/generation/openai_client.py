"""The ``openai`` generation backend: one or many OpenAI-compatible servers (vLLM's, SGLang's, TGI's).

``/v1/chat/completions`` with ``n`` samples per request, through the ``openai`` client.
Prompts are spread over the endpoints (``base_urls``: say vLLM servers on several hosts),
each with at most ``max_concurrency`` requests in flight. Failures are handled here, not
by the client, so that a request can move to another endpoint:

- an endpoint that cannot be reached (refused, reset: the server died) is taken out for
  ``endpoint_retry_seconds`` and the request goes back to the queue for another endpoint;
  once that time is up the endpoint is tried again with the next request;
- 429s, 5xx answers and timeouts are retried with exponential backoff, on whichever
  endpoint is free, at most ``max_retries`` times per prompt;
- any other error (a 400: the request itself is wrong) fails the round at once, naming
  the endpoint and the prompt.

A request that failed only because its endpoint was out does not use up the prompt's
retries while another endpoint is up. Seeds are per prompt, so the samples do not depend on
which endpoint answered. Token counts are the server's: each choice's own count comes from
its per-token logprobs (``usage`` only totals the n choices). The checkpoint recorded on
each sample is the served model's name.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from flywheel.generation.base import SamplingParams, derive_seed
from flywheel.records.schema import Prompt, Sample

BACKOFF_BASE_SECONDS, BACKOFF_MAX_SECONDS = 0.5, 8.0


class EndpointsFailed(RuntimeError):
    """No endpoint could answer a prompt within its retries; the message names them."""


@dataclass
class _Endpoint:
    url: str
    client: object
    out_until: float = 0.0  # monotonic time before which no request is sent here
    failures: int = 0  # consecutive failures: the backoff grows with them
    served: int = 0

    def is_up(self, now: float) -> bool:
        return self.out_until <= now


@dataclass
class _Job:
    index: int
    payload: object
    label: str  # names the item in errors: "prompt p3 (tasks.jsonl:4)"
    attempts: int = 0


class RequestRefused(RuntimeError):
    """An endpoint refused one request for good (a 4xx other than 408/409/429); the message names both."""


def clients_for(urls: list[str], api_key_env: str, timeout_seconds: float) -> list[_Endpoint]:
    from openai import OpenAI

    key = os.environ.get(api_key_env) or "not-needed"
    # max_retries=0: a retry may go to another endpoint, so retries are decided here, not in the client.
    return [_Endpoint(url, OpenAI(base_url=url, api_key=key, max_retries=0, timeout=timeout_seconds)) for url in urls]


def call_endpoints(endpoints: list[_Endpoint], payloads: list, labels: list[str], request: Callable, *,
                   max_concurrency: int, max_retries: int, endpoint_retry_seconds: float,
                   progress: Callable[[int], None] | None = None, refusals_per_item: bool = False,
                   on_result: Callable[[int, object], None] | None = None) -> list:
    """``request(endpoint, payload)`` for every payload, spread over the endpoints with ``max_concurrency``
    in flight on each, with the retry and failover rules of this module; the results in payload order.

    ``refusals_per_item``: a request the endpoint refuses for good (a 4xx) becomes that item's result, a
    :class:`RequestRefused`, instead of failing the call (a judge keeps the other verdicts). Running out of
    retries always fails the call: every endpoint is down or overloaded, and the next items would wait as
    long. ``on_result(index, result)`` is called, in a worker thread, as each result arrives."""
    run = _Run(endpoints, [_Job(i, p, label) for i, (p, label) in enumerate(zip(payloads, labels))], request,
               max_retries, endpoint_retry_seconds, progress, refusals_per_item, on_result)
    threads = [threading.Thread(target=run.serve, args=(endpoint,), daemon=True, name=f"openai-{number}-{slot}")
               for number, endpoint in enumerate(endpoints) for slot in range(max_concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if run.error is not None:
        raise run.error
    return run.results


class OpenAIGenerator:
    def __init__(self, checkpoint: str, *, base_url: str | None = None, base_urls: list[str] | None = None,
                 model: str = "default", api_key_env: str = "OPENAI_API_KEY", max_concurrency: int = 8,
                 max_retries: int = 5, timeout_seconds: float = 120.0, endpoint_retry_seconds: float = 30.0,
                 stop_token_ids: list[int] | None = None):
        urls = list(base_urls or ([base_url] if base_url else []))
        if not urls:
            raise ValueError("the openai backend needs generation.openai.base_url or base_urls")
        self.checkpoint = model if model != "default" else str(checkpoint)
        self.model = self.checkpoint
        self.max_concurrency, self.max_retries = max_concurrency, max_retries
        self.endpoint_retry_seconds = endpoint_retry_seconds
        self.stop_token_ids = stop_token_ids
        self.endpoints = clients_for(urls, api_key_env, timeout_seconds)

    def _one(self, endpoint: _Endpoint, prompt: Prompt, params: SamplingParams, round_number: int) -> list[Sample]:
        seed = derive_seed(params.seed, round_number, prompt.id)
        extra = {"stop_token_ids": self.stop_token_ids} if self.stop_token_ids else None
        response = endpoint.client.chat.completions.create(
            model=self.model, messages=[m.model_dump() for m in prompt.messages], n=params.n,
            temperature=params.temperature, top_p=params.top_p, max_tokens=params.max_new_tokens, seed=seed,
            logprobs=True, top_logprobs=0, extra_body=extra)
        if len(response.choices) != params.n:
            raise RuntimeError(f"{endpoint.url} returned {len(response.choices)} choices for n={params.n} "
                               f"(prompt {prompt.id})")
        counts = [_token_count(choice) for choice in response.choices]
        total = getattr(response.usage, "completion_tokens", None)
        if None in counts:  # a server without logprobs: usage is exact for n=1 only
            if params.n != 1 or total is None:
                raise RuntimeError(f"{endpoint.url} gave no per-choice token counts (no logprobs) for n={params.n}")
            counts = [total]
        return [Sample(prompt_id=prompt.id, sample_index=choice.index, text=(choice.message.content or "").strip(),
                       num_tokens=count, finish_reason="length" if choice.finish_reason == "length" else "stop",
                       round=round_number, checkpoint=self.checkpoint, seed=seed)
                for choice, count in sorted(zip(response.choices, counts), key=lambda pair: pair[0].index)]

    def generate(self, prompts: list[Prompt], params: SamplingParams, round_number: int,
                 progress: Callable[[int], None] | None = None) -> list[Sample]:
        batches = call_endpoints(
            self.endpoints, prompts, [f"prompt {p.id} ({p.source})" for p in prompts],
            lambda endpoint, prompt: self._one(endpoint, prompt, params, round_number),
            max_concurrency=self.max_concurrency, max_retries=self.max_retries,
            endpoint_retry_seconds=self.endpoint_retry_seconds, progress=progress)
        return [sample for batch in batches for sample in batch]

    def close(self) -> None:
        for endpoint in self.endpoints:
            endpoint.client.close()


class _Run:
    """One call_endpoints() call: a queue of requests that the endpoints' threads drain."""

    def __init__(self, endpoints: list[_Endpoint], jobs: list[_Job], request: Callable, max_retries: int,
                 endpoint_retry_seconds: float, progress, refusals_per_item: bool, on_result):
        self.endpoints, self.request, self.progress = endpoints, request, progress
        self.max_retries, self.endpoint_retry_seconds = max_retries, endpoint_retry_seconds
        self.refusals_per_item, self.on_result = refusals_per_item, on_result
        self.queue = deque(jobs)
        self.results: list = [None] * len(jobs)
        self.remaining = len(jobs)
        self.error: BaseException | None = None
        self.changed = threading.Condition()

    def _next_job(self, endpoint: _Endpoint) -> _Job | None:
        with self.changed:
            while True:
                if self.error is not None or self.remaining == 0:
                    return None
                now = time.monotonic()
                if not endpoint.is_up(now):
                    self.changed.wait(endpoint.out_until - now)
                elif self.queue:
                    return self.queue.popleft()
                else:
                    self.changed.wait()  # a retried prompt may come back to the queue

    def serve(self, endpoint: _Endpoint) -> None:
        import openai

        while (job := self._next_job(endpoint)) is not None:
            try:
                result = self.request(endpoint, job.payload)
            except openai.APITimeoutError as error:  # the request, or the server, is slow: retry anywhere
                self._retry(endpoint, job, error, endpoint_down=False)
            except openai.APIConnectionError as error:  # refused or reset: the server is gone for now
                self._retry(endpoint, job, error, endpoint_down=True)
            except openai.APIStatusError as error:
                if error.status_code in (408, 409, 429) or error.status_code >= 500:
                    self._retry(endpoint, job, error, endpoint_down=False)
                else:
                    refused = RequestRefused(f"{endpoint.url} refused {job.label}: {error}")
                    if self.refusals_per_item:
                        refused.__cause__ = error
                        self._done(endpoint, job, refused, ok=False)
                    else:
                        self._fail(EndpointsFailed(str(refused)), error)
            except Exception as error:  # noqa: BLE001 - a malformed answer or a bug: generate() raises it
                self._fail(error)
            else:
                self._done(endpoint, job, result, ok=True)

    def _done(self, endpoint: _Endpoint, job: _Job, result, ok: bool) -> None:
        if self.on_result is not None:
            self.on_result(job.index, result)
        with self.changed:
            self.results[job.index] = result
            self.remaining -= 1
            if ok:
                endpoint.failures, endpoint.served = 0, endpoint.served + 1
            self.changed.notify_all()
        if self.progress:
            self.progress(1)

    def _retry(self, endpoint: _Endpoint, job: _Job, error: BaseException, endpoint_down: bool) -> None:
        with self.changed:
            now = time.monotonic()
            endpoint.failures += 1
            # Exponential backoff per endpoint; a server's own Retry-After wins. A dead endpoint is probed
            # again after at most endpoint_retry_seconds (one request, which goes back to the queue if refused).
            cap = self.endpoint_retry_seconds if endpoint_down else BACKOFF_MAX_SECONDS
            delay = _retry_after(error)
            if delay is None:
                delay = BACKOFF_BASE_SECONDS * 2 ** (endpoint.failures - 1)
            endpoint.out_until = now + min(cap, delay)
            # An outage of one endpoint while another is up costs the prompt nothing: it just moves.
            if not (endpoint_down and any(e.is_up(now) for e in self.endpoints)):
                job.attempts += 1
            if job.attempts > self.max_retries:
                urls = ", ".join(e.url for e in self.endpoints)
                self.error = error if len(self.endpoints) == 1 else EndpointsFailed(
                    f"{job.label} failed {job.attempts} times on the endpoints ({urls}); "
                    f"last: {type(error).__name__}: {error}")
                if self.error is not error:
                    self.error.__cause__ = error
            else:
                self.queue.appendleft(job)  # first in line again: order of completion stays close to input order
            self.changed.notify_all()

    def _fail(self, error: BaseException, cause: BaseException | None = None) -> None:
        with self.changed:
            if self.error is None:
                self.error = error
                if cause is not None:
                    error.__cause__ = cause
            self.changed.notify_all()


def _retry_after(error: BaseException) -> float | None:
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: fall back to our own backoff
        return None


def _token_count(choice) -> int | None:
    logprobs = getattr(choice, "logprobs", None)
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    return len(content) if content is not None else None
