"""Verdicts per second: the ``llm_judge`` (tiny judge on `vllm serve`) against the ``reward_model``, side by side.

The same general (prompt, answer) pairs, the demo's general questions each with its right answer
and corruptions of it, judged in one process by:
- reward_model: the bundled tiny reward model, batched on the CPU through transformers (the baseline);
- llm_judge: the bundled tiny judge behind a managed `vllm serve` (started before the clock starts:
  its start-up is printed apart), ``max_concurrency`` requests in flight, greedy replies of up to
  ``max_tokens`` tokens;
- llm_judge cached: the same pairs again, every reply from the cache (a rerun or a resume).
It also prints how often the judge and the reward model agree that an answer is the right one.

    .venv/bin/python benchmarks/bench_judge.py [--pairs 120] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from make_tasks import general_demonstrations  # noqa: E402

from flywheel.records.schema import Message, Prompt, Sample  # noqa: E402
from flywheel.verification.plugins import VerifyItem  # noqa: E402
from flywheel_verifiers.llm_judge import LLMJudgeVerifier  # noqa: E402
from flywheel_verifiers.reward_model import RewardModelVerifier  # noqa: E402


def pairs(count: int) -> tuple[list[VerifyItem], list[bool]]:
    rows = general_demonstrations()
    rng = random.Random(0)
    items, right = [], []
    for n in range(count):
        question, answer = rows[n // 2 % len(rows)]
        good = n % 2 == 0
        text = answer if good else rng.choice([rows[(n + 7) % len(rows)][1], question, "I do not know.",
                                               " ".join(answer.split()[:2])])
        items.append(VerifyItem(Prompt(id=f"g{n}", domain="general", source=f"bench:{n}",
                                       messages=[Message(role="user", content=question)]),
                                Sample(prompt_id=f"g{n}", sample_index=0, text=text, num_tokens=len(text.split()),
                                       finish_reason="stop", round=1, checkpoint="bench", seed=0)))
        right.append(good)
    return items, right


def timed(verifier, items) -> tuple[list, float]:
    started = time.perf_counter()
    results = verifier.verify_batch(items)
    return results, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=120)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    items, right = pairs(args.pairs)
    reward = RewardModelVerifier(top_quantile=0.5)
    reward.verify_batch(items[:4])  # load the model before the clock
    rm_results, rm_seconds = timed(reward, items)
    with tempfile.TemporaryDirectory() as scratch:
        judge = LLMJudgeVerifier(cache_path=str(Path(scratch) / "cache.sqlite"), max_concurrency=args.concurrency,
                                 vllm={"port": 8400})
        try:
            started = time.perf_counter()
            judge._connect()
            print(f"judge server start-up: {time.perf_counter() - started:.1f} s (not counted below)")
            judge_results, judge_seconds = timed(judge, items)
        finally:
            judge.close()
        cached = LLMJudgeVerifier(cache_path=str(Path(scratch) / "cache.sqlite"))
        cached_results, cached_seconds = timed(cached, items)
    assert cached.requests_made == 0 and [r.score for r in cached_results] == [r.score for r in judge_results]
    n = len(items)
    print(f"{n} pairs")
    print(f"reward_model (transformers, CPU): {n / rm_seconds:8.1f} verdicts/s")
    print(f"llm_judge (vllm serve, {args.concurrency} in flight): {n / judge_seconds:8.1f} verdicts/s  "
          f"({rm_seconds / judge_seconds:.2f}x the reward model)")
    print(f"llm_judge from its cache:        {n / cached_seconds:8.1f} verdicts/s  "
          f"({rm_seconds / cached_seconds:.2f}x the reward model)")
    ok = [r for r in judge_results if r.status == "ok"]
    tokens = sum(r.details["prompt_tokens"] + r.details["completion_tokens"] for r in judge_results)
    print(f"judge replies readable: {len(ok)}/{n}; tokens per verdict: {tokens / n:.0f}")
    judge_right = sum((r.status == "ok" and r.passed) == good for r, good in zip(judge_results, right))
    rm_right = sum(r.passed == good for r, good in zip(rm_results, right))
    print(f"agree with the right/corrupted label: judge {judge_right}/{n}, reward model (top half) {rm_right}/{n}")


if __name__ == "__main__":
    main()
