"""Generation throughput per backend on the same prompts, N and sampling, side by side in one run.

Arms (the bundled tiny base model, CPU):
1. transformers, N per prompt: each prompt rendered and tokenised once, its row repeated N
   times (what ``num_return_sequences`` does; transformers expands before prefill, so the
   prompt's KV is still computed N times);
2. transformers, the prompt duplicated N times as separate prompts (the naive loop);
3. vllm in-process, ``SamplingParams(n=N)`` with prefix caching (the prompt's KV is shared);
4. vllm served: ``vllm serve`` started by the backend, requests through the OpenAI API;
5. vllm in-process with the prompt duplicated N times (n=1 each), vLLM's own baseline.

Engine and server start-up are reported apart and not counted in tokens/s. Prints generated
tokens per second per arm and the ratios that matter; ``--json OUT`` writes them.

    .venv/bin/python benchmarks/bench_generation.py [--prompts 64] [--n 8] [--context-words 0] [--skip-vllm]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from flywheel.prompts.formats import load_prompts
from flywheel.config import PACKAGE_DIR, GenerationConfig, VLLMConfig
from flywheel.generation import SamplingParams, make_generator
from flywheel.generation.transformers_backend import TransformersGenerator

TINY = PACKAGE_DIR / "data" / "tiny-base"


def timed(generator, prompts, params) -> tuple[float, int, int]:
    started = time.perf_counter()
    samples = generator.generate(prompts, params, 1)
    return time.perf_counter() - started, sum(s.num_tokens for s in samples), len(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch", type=int, default=8, help="transformers: prompts per generate() call")
    parser.add_argument("--context-words", type=int, default=0,
                        help="prepend this many words of context to every prompt (long shared prompts, as in RAG or "
                             "few-shot; the tiny model's context is 512 tokens)")
    parser.add_argument("--skip-vllm", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    prompts = load_prompts(PACKAGE_DIR / "data" / "tasks" / "train.jsonl")[: args.prompts]
    if args.context_words:
        context = " ".join(f"fact{k % 97}" for k in range(args.context_words))
        prompts = [p.model_copy(update={"messages": [m.model_copy(update={"content": f"Context: {context}\n\n{m.content}"})
                                                     for m in p.messages]}) for p in prompts]
    duplicated_prompts = [p.model_copy(update={"id": f"{p.id}#{k}"}) for p in prompts for k in range(args.n)]
    params = SamplingParams(n=args.n, temperature=0.8, max_new_tokens=args.max_new_tokens, seed=0)
    one = SamplingParams(n=1, temperature=0.8, max_new_tokens=args.max_new_tokens, seed=0)
    results: dict[str, dict] = {}

    def record(name, seconds, tokens, samples, startup=None):
        results[name] = {"seconds": round(seconds, 3), "tokens": tokens, "samples": samples,
                         "tokens_per_s": round(tokens / seconds, 1), "startup_s": startup}
        extra = f" (start-up {startup:.0f}s, not counted)" if startup is not None else ""
        print(f"{name:<34} {samples:5d} samples {tokens:7d} tokens {seconds:7.2f}s "
              f"{tokens / seconds:8.0f} tokens/s{extra}", flush=True)

    hf = TransformersGenerator(TINY, device="cpu", batch_size=args.batch)
    hf.generate(prompts[:2], params, 1)  # warm
    record("transformers, N per prompt", *timed(hf, prompts, params))
    hf.batch_size = args.batch * args.n  # the same number of sequences per generate() call
    record("transformers, duplicated prompts", *timed(hf, duplicated_prompts, one))
    hf.close()

    if not args.skip_vllm:
        started = time.perf_counter()
        engine = make_generator(TINY, GenerationConfig(backend="vllm"))
        startup = time.perf_counter() - started
        engine.generate(prompts[:2], params, 1)  # warm
        record("vllm in-process, n=N", *timed(engine, prompts, params), startup=startup)
        record("vllm in-process, duplicated prompts", *timed(engine, duplicated_prompts, one))
        engine.close()

        started = time.perf_counter()
        served = make_generator(TINY, GenerationConfig(backend="vllm_server", vllm=VLLMConfig(port=8300)))
        startup = time.perf_counter() - started
        try:
            served.generate(prompts[:2], params, 1)  # warm
            record("vllm served (OpenAI API), n=N", *timed(served, prompts, params), startup=startup)
        finally:
            served.close()

    base = results["transformers, N per prompt"]["tokens_per_s"]
    print(f"ratio transformers N-per-prompt / duplicated: "
          f"{base / results['transformers, duplicated prompts']['tokens_per_s']:.2f}x")
    for name in ("vllm in-process, n=N", "vllm served (OpenAI API), n=N"):
        if name in results:
            print(f"ratio {name} / transformers N-per-prompt: {results[name]['tokens_per_s'] / base:.2f}x")
    if "vllm in-process, n=N" in results:
        print(f"ratio vllm n=N / vllm duplicated prompts: {results['vllm in-process, n=N']['tokens_per_s'] / results['vllm in-process, duplicated prompts']['tokens_per_s']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"prompts": args.prompts, "n": args.n, "max_new_tokens": args.max_new_tokens,
                                         "context_words": args.context_words,
                                         "arms": results}, indent=2))


if __name__ == "__main__":
    main()
