"""The ``llm_judge`` verifier: a judge model scores each (prompt, response) on a rubric, as Llama 3.1 did.

For data no checker can verify, Llama 3.1 (section 4.2.3) asked a Llama judge for a 3-point
quality score (general data) or binary correctness and style (code), and kept a sample when
the judge *or* the reward model rated it high; ``verifiers.combine`` says how this verifier's
verdict joins the others'. Rubrics are in :mod:`judge_rubrics` (bundled, or a user's YAML).

Where the judge runs (``backend``):
- ``openai``: any OpenAI-compatible endpoint or fleet (``base_url`` / ``base_urls``), through
  flywheel's client with its retries and endpoint failover;
- ``vllm_server`` (the default): ``vllm serve`` of the judge checkpoint at ``path`` (the bundled
  tiny judge unless set), started at the first request the stage makes and stopped when the
  stage closes its verifiers.
At most ``max_concurrency`` requests are in flight per endpoint. Decoding is greedy with a
seed derived from the request, so the same sample gets the same reply from either backend.

Verdicts: passed when the rubric's fields sum to at least ``threshold`` (default the rubric's:
its top score); score is that sum. The score is read from the reply's last lines only, and the
conversation and the response reach the judge as quoted blocks with chat control tokens
neutralized (:mod:`judge_rubrics`: nothing the response writes can steer its verdict). A reply
with no readable score, any reply cut at ``max_tokens`` (a score above the cut may be taken
back below it), and a request the endpoint refuses (a 4xx) are each status ``error`` with the
reason (and the reply's text) named; every endpoint down past the retries
raises, so the verify stage marks the chunk ``error`` naming this verifier. ``details`` keeps
the reasoning, the scores, the judge model, the rubric, and the prompt and completion tokens
with their estimated cost (``usd_per_million_*``), which round_metrics sums per round.

Replies are cached (:mod:`judge_cache`) by the judge's identity (the fingerprint of its weights
for a managed judge; for an endpoint, ``model`` and ``model_revision``: set the revision when the
served weights change under one name), rubric hash and the structured request; the verify
stage points ``cache_path`` into the workdir, so a rerun or a resumed stage asks nothing twice
and starts no server when every reply is cached.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from flywheel.generation.base import derive_seed
from flywheel.round.lineage import file_fingerprint
from flywheel.records.schema import sample_text_hash
from flywheel.verification.plugins import VerdictResult, VerifyItem
from flywheel_verifiers.judge_cache import Reply, ReplyCache, request_key
from flywheel_verifiers.judge_rubrics import (DEFAULT_BY_DOMAIN, PromptRating, Rubric, UnreadableScore, intent_tags,
                                              load_rubric)

BUNDLED_JUDGE = Path(__file__).resolve().parents[1] / "flywheel" / "data" / "tiny-judge"


class LLMJudgeVerifier:
    name = "llm_judge"
    domains = ("general", "code", "math")

    def __init__(self, backend: str = "vllm_server", path: str | None = None, base_url: str | None = None,
                 base_urls: list[str] | None = None, model: str = "default", model_revision: str = "",
                 api_key_env: str = "OPENAI_API_KEY",
                 rubric: str | dict[str, str] | None = None, threshold: float | None = None, max_tokens: int = 64,
                 seed: int = 0, max_concurrency: int = 16, max_retries: int = 3, timeout_seconds: float = 120.0,
                 endpoint_retry_seconds: float = 10.0, vllm: dict | None = None, cache_path: str | None = None,
                 usd_per_million_prompt_tokens: float = 0.0, usd_per_million_completion_tokens: float = 0.0):
        if backend not in ("openai", "vllm_server"):
            raise ValueError(f"backend must be 'openai' or 'vllm_server', got {backend!r}")
        if backend == "openai" and not (base_url or base_urls):
            raise ValueError("the openai backend needs base_url or base_urls")
        if backend == "openai" and model == "default":
            # The name is part of the cache key: it must be known without asking a server.
            raise ValueError("the openai backend needs model: the name the server serves the judge under")
        if max_tokens < 1 or max_concurrency < 1:
            raise ValueError("max_tokens and max_concurrency must be at least 1")
        self.backend, self.path = backend, Path(path) if path else BUNDLED_JUDGE
        self.urls = list(base_urls or ([base_url] if base_url else []))
        self.model, self.model_revision, self.api_key_env = model, model_revision, api_key_env
        self._identity: str | None = None
        self._special_tokens: tuple[str, ...] | None = None
        by_domain = rubric if isinstance(rubric, dict) else {d: rubric for d in self.domains} if rubric else {}
        unknown = set(by_domain) - set(self.domains)
        if unknown:
            raise ValueError(f"rubric is given for unknown domains {sorted(unknown)} (domains: {list(self.domains)})")
        self.rubrics: dict[str, Rubric] = {d: load_rubric(by_domain.get(d) or DEFAULT_BY_DOMAIN[d]) for d in self.domains}
        self.threshold, self.max_tokens, self.seed = threshold, max_tokens, seed
        self.max_concurrency, self.max_retries = max_concurrency, max_retries
        self.timeout_seconds, self.endpoint_retry_seconds = timeout_seconds, endpoint_retry_seconds
        self.vllm_settings = dict(vllm or {})
        self.prices = (usd_per_million_prompt_tokens, usd_per_million_completion_tokens)
        self.cache_path = Path(cache_path) if cache_path else None
        self._cache: ReplyCache | None = None  # opened at first use, closed with the verifier
        self.requests_made = 0  # replies paid for by this instance (cache misses answered)
        self._endpoints = self._servers = None
        self._stop_ids: list[int] | None = None
        self._lock = threading.Lock()

    # -- where the judge runs -------------------------------------------------------------------
    def judge_model(self) -> str:
        """The model name requests carry and the cache is keyed by (vllm serve names a model by its path)."""
        return str(self.path) if self.backend == "vllm_server" else self.model

    def judge_identity(self) -> str:
        """What the cache is keyed by: a managed judge's weights (a checkpoint replaced at the same path is another
        judge), or an endpoint's model name and revision (a name that is a local model folder, as `vllm serve`
        names one, by that folder's weights: the same judge as the managed one)."""
        if self._identity is None:
            if self.backend == "vllm_server":
                self._identity = f"{self.path}@{file_fingerprint(self.path)}"
            elif not self.model_revision and (Path(self.model) / "config.json").is_file():
                # `vllm serve <folder>` names the model by its path: the folder's weights are what it serves
                self._identity = f"{self.model}@{file_fingerprint(Path(self.model))}"
            else:
                self._identity = f"{self.model}@{self.model_revision}"
        return self._identity

    def special_tokens(self) -> tuple[str, ...]:
        """The managed judge tokenizer's control tokens (neutralized in what it reads, beside the common ones)."""
        if self._special_tokens is None:
            self._special_tokens = ()
            if self.backend == "vllm_server" and (self.path / "tokenizer_config.json").exists():
                from transformers import AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(self.path)
                added = [t.content for t in tokenizer.added_tokens_decoder.values() if t.special]
                self._special_tokens = tuple(sorted(set(tokenizer.all_special_tokens) | set(added)))
        return self._special_tokens

    def _connect(self):
        from flywheel.generation.openai_client import clients_for

        with self._lock:
            if self._endpoints is None:
                if self.backend == "vllm_server":
                    self._start_server()
                self._endpoints = clients_for(self.urls, self.api_key_env, self.timeout_seconds)
        return self._endpoints

    def _start_server(self) -> None:
        from transformers import AutoTokenizer

        from flywheel.config import VLLMConfig
        from flywheel.generation.base import end_of_turn_ids
        from flywheel.generation.vllm_server import VLLMServers

        if not (self.path / "config.json").exists():
            raise FileNotFoundError(f"judge model not found at {self.path} (llm_judge option 'path')")
        settings = VLLMConfig(**{"port": 8300, **self.vllm_settings})
        self._stop_ids = end_of_turn_ids(AutoTokenizer.from_pretrained(self.path))
        log_dir = self.cache_path.parent / "llm_judge-logs" if self.cache_path else None
        self._servers = VLLMServers(str(self.path), settings, seed=self.seed, log_dir=log_dir)
        self.urls = list(self._servers.urls)

    @property
    def cache(self) -> ReplyCache | None:
        if self._cache is None and self.cache_path is not None:
            self._cache = ReplyCache(self.cache_path)
        return self._cache

    def close(self) -> None:
        """Stop a managed judge server and close the cache; the verify stage calls this when it is done with its
        verifiers (a later verify_batch opens what it needs again)."""
        if self._cache is not None:
            self._cache.close()
            self._cache = None
        for endpoint in self._endpoints or []:
            endpoint.client.close()
        if self._servers is not None:
            self._servers.close()
        self._endpoints = self._servers = None
        if self.backend == "vllm_server":
            self.urls = []  # the managed server's, gone with it

    # -- judging --------------------------------------------------------------------------------
    def _ask(self, endpoint, request: dict) -> Reply:
        extra = {"stop_token_ids": self._stop_ids} if self._stop_ids else None
        response = endpoint.client.chat.completions.create(
            model=self.judge_model(), messages=request["messages"], n=1, temperature=0.0,
            max_tokens=self.max_tokens, seed=request["seed"], extra_body=extra)
        choice, usage = response.choices[0], response.usage
        return Reply((choice.message.content or "").strip(), choice.finish_reason,
                     getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None))

    def _replies(self, requests: list[dict], conversations: list[list[dict]], responses: list[str], domains: list[str],
                 rubrics: list[Rubric], labels: list[str]) -> dict[int, Reply | Exception]:
        """One reply per request, from the cache where it holds one and from the endpoints otherwise; each reply is
        cached as it arrives (a kill loses none paid for)."""
        from flywheel.generation.openai_client import call_endpoints

        model, identity = self.judge_model(), self.judge_identity()
        decoding = {"max_tokens": self.max_tokens, "temperature": 0.0, "seed": self.seed}
        keys = []
        for request, rubric, conversation, response, domain in zip(requests, rubrics, conversations, responses,
                                                                   domains):
            request["seed"] = derive_seed(self.seed, rubric.hash, request["messages"])
            keys.append(request_key(identity, rubric.hash, conversation, response, domain, decoding))
        replies: dict[int, Reply | Exception] = {}
        cached = self.cache.get_many(keys) if self.cache is not None else {}
        missing = [i for i, key in enumerate(keys) if key not in cached]
        replies.update({i: cached[key] for i, key in enumerate(keys) if key in cached})
        if missing:
            endpoints = self._connect()

            def keep(position: int, reply) -> None:
                index = missing[position]
                if isinstance(reply, Reply):  # unreadable ones too: the same request gets the same reply
                    self.requests_made += 1
                    if self.cache is not None:
                        self.cache.put(keys[index], model, rubrics[index].hash,
                                       sample_text_hash(responses[index]) if responses[index] else None, reply)

            answered = call_endpoints(endpoints, [requests[i] for i in missing], [labels[i] for i in missing],
                                      self._ask, max_concurrency=self.max_concurrency,
                                      max_retries=self.max_retries, endpoint_retry_seconds=self.endpoint_retry_seconds,
                                      refusals_per_item=True, on_result=keep)
            replies.update(dict(zip(missing, answered)))
        return replies

    def verify_batch(self, items: list[VerifyItem]) -> list[VerdictResult]:
        started = time.perf_counter()
        rubrics = [self.rubrics[item.prompt.domain] for item in items]
        conversations = [[m.model_dump() for m in item.prompt.messages] for item in items]
        special = self.special_tokens()
        requests = [{"messages": rubric.render(conversation, item.sample.text, item.prompt.domain, special)}
                    for item, rubric, conversation in zip(items, rubrics, conversations)]
        replies = self._replies(requests, conversations, [item.sample.text for item in items],
                                [item.prompt.domain for item in items], rubrics,
                                [f"sample {item.sample.prompt_id}#{item.sample.sample_index}" for item in items])
        cost = (time.perf_counter() - started) / max(1, len(items))
        model = self.judge_model()
        return [self._verdict(replies[i], rubrics[i], model, cost) for i in range(len(items))]

    @staticmethod
    def rubric_named(spec: str) -> Rubric:
        """A bundled rubric by name or a rubric YAML file; ValueError naming what is wrong (the preflight asks)."""
        return load_rubric(spec)

    def rate_prompts(self, conversations: list[list[dict]], domains: list[str], rubric: str | Rubric,
                     labels: list[str]) -> list[PromptRating]:
        """The judge's rating of each prompt on ``rubric`` (Llama 3.1's difficulty rating, with Instag-style intent
        tags when the reply gives a ``Tags:`` line just above its score lines), read from the prompt alone: no
        answer is in the request, so no answer can steer the rating. Unreadable replies and refused requests give
        a rating of None with the reason; every endpoint down raises, as in ``verify_batch``."""
        rubric = load_rubric(rubric) if isinstance(rubric, str) else rubric
        low = sum(lowest for lowest, _ in rubric.fields.values())
        span = max(1, rubric.best - low)
        special = self.special_tokens()
        requests = [{"messages": rubric.render(conversation, "", domain, special)}
                    for conversation, domain in zip(conversations, domains)]
        replies = self._replies(requests, conversations, [""] * len(requests), domains, [rubric] * len(requests),
                                labels)
        ratings = []
        for i in range(len(requests)):
            reply = replies[i]
            if isinstance(reply, Exception):
                ratings.append(PromptRating(None, None, None, f"request failed: {reply}"))
            elif reply.finish_reason == "length":
                ratings.append(PromptRating(None, None, None, f"reply cut at max_tokens ({self.max_tokens})"))
            else:
                try:
                    scores, reasoning = rubric.parse(reply.text)
                except UnreadableScore as error:
                    ratings.append(PromptRating(None, None, None,
                                                f"reply unreadable: {error}; reply: {reply.text[:200]!r}"))
                    continue
                total = sum(scores.values())
                ratings.append(PromptRating(total, round((total - low) / span, 6), intent_tags(reasoning), None))
        return ratings

    def _verdict(self, reply: Reply | Exception, rubric: Rubric, model: str, cost: float) -> VerdictResult:
        if isinstance(reply, Exception):
            return VerdictResult(False, 0.0, f"llm_judge request failed: {reply}", "error", cost)
        prompt_tokens, completion_tokens = reply.prompt_tokens or 0, reply.completion_tokens or 0
        details = {"judge_model": model, "rubric": rubric.name, "rubric_hash": rubric.hash,
                   "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                   "cost_usd": (prompt_tokens * self.prices[0] + completion_tokens * self.prices[1]) / 1e6}
        if reply.finish_reason == "length":  # 'Score: 3\nWait, the answer is wrong, so': never a pass
            return VerdictResult(False, 0.0, f"llm_judge reply cut at max_tokens ({self.max_tokens}): "
                                 f"reply: {reply.text[:400]!r}", "error", cost, {**details, "reply": reply.text})
        try:
            scores, reasoning = rubric.parse(reply.text)
        except UnreadableScore as error:
            return VerdictResult(False, 0.0, f"llm_judge reply unreadable: {error}; reply: {reply.text[:400]!r}",
                                 "error", cost, {**details, "reply": reply.text})
        total = sum(scores.values())
        threshold = rubric.threshold if self.threshold is None else self.threshold
        return VerdictResult(total >= threshold, float(total),
                             f"judge {total}/{rubric.best} on {rubric.name} (pass at {threshold:g})", "ok", cost,
                             {**details, "scores": scores, "reasoning": reasoning})

