"""Generation throughput of the transformers backend: N samples per prompt, two ways, side by side.

1. N per prompt: each prompt rendered and tokenised once, its row repeated N times (what
   ``num_return_sequences`` does; transformers expands before prefill, so the prompt's KV
   is still computed N times: sharing it needs vLLM's ``n`` with prefix caching).
2. The prompt duplicated N times as separate prompts (a naive loop over samples).
Same model (the bundled tiny base), prompts, N, sampling parameters and batch of prompts;
prints generated tokens per second for both and their ratio.

    .venv/bin/python benchmarks/bench_generation.py [--prompts 64] [--n 8]
"""

from __future__ import annotations

import argparse
import time

from flywheel.collect import load_prompts
from flywheel.config import PACKAGE_DIR
from flywheel.generate import SamplingParams, TransformersGenerator


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch", type=int, default=8, help="prompts per generate() call")
    args = parser.parse_args()
    prompts = load_prompts(PACKAGE_DIR / "data" / "tasks" / "train.jsonl")[: args.prompts]
    generator = TransformersGenerator(PACKAGE_DIR / "data" / "tiny-base", device="cpu", batch_size=args.batch)
    params = SamplingParams(n=args.n, temperature=0.8, max_new_tokens=args.max_new_tokens, seed=0)
    generator.generate(prompts[:2], params, 1)  # warm

    started = time.perf_counter()
    expanded = generator.generate(prompts, params, 1)
    expanded_s = time.perf_counter() - started

    duplicated_prompts = [p for p in prompts for _ in range(args.n)]
    one = SamplingParams(n=1, temperature=0.8, max_new_tokens=args.max_new_tokens, seed=0)
    generator.batch_size = args.batch * args.n  # the same number of sequences per generate() call
    started = time.perf_counter()
    duplicated = generator.generate(duplicated_prompts, one, 1)
    duplicated_s = time.perf_counter() - started

    rates = {}
    for name, samples, seconds in (("N per prompt", expanded, expanded_s), ("duplicated prompts", duplicated, duplicated_s)):
        tokens = sum(s.num_tokens for s in samples)
        rates[name] = tokens / seconds
        print(f"{name:<22} {len(samples)} samples, {tokens} tokens in {seconds:6.2f}s: {rates[name]:8.0f} tokens/s")
    print(f"ratio N-per-prompt / duplicated: {rates['N per prompt'] / rates['duplicated prompts']:.2f}x")


if __name__ == "__main__":
    main()
