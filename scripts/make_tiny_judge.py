"""Make the bundled tiny judge at flywheel/data/tiny-judge/ (the tiny base model fine-tuned to grade answers).

It learns to answer the bundled ``general_quality`` rubric (flywheel_verifiers.judge_rubrics) in
its format, a line of reasoning and then ``Score: N``, on the demo's general questions:
- the right answer: 3;
- the first third of it: 2 (incomplete);
- another question's answer, the question parroted back, a refusal, shuffled words, or words
  drawn at random: 1.
Only the judge's reply is trained on (the rubric prompt's tokens are label -100). A fifth of
the questions are held out; the script prints how many held-out replies parse and how many
give the intended score. Whether it judges *the demo's samples* well is a separate measurement.

Usage: python scripts/make_tiny_judge.py [--steps 600] [--out DIR]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaForCausalLM

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from make_tasks import general_demonstrations  # noqa: E402

from verifiers.judge_rubrics import GENERAL_QUALITY  # noqa: E402

BASE = ROOT / "flywheel" / "data" / "tiny-base"
DEFAULT_OUT = ROOT / "flywheel" / "data" / "tiny-judge"
REASONS = {3: "It answers the question correctly.", 2: "It is only part of the answer.",
           1: "It does not answer the question."}


def graded_answers(rows: list[tuple[str, str]], index: int, rng: random.Random, vocabulary: list[str]) -> list[tuple[str, int]]:
    question, answer = rows[index]
    other = rows[(index + rng.randint(1, len(rows) - 1)) % len(rows)][1]
    words = answer.split()
    shuffled = words[:]
    rng.shuffle(shuffled)
    noise = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(3, 12)))
    graded = [(answer, 3), (other, 1), (question, 1), ("I do not know.", 1), (noise, 1)]
    if len(words) >= 3:
        graded.append((" ".join(words[: max(1, len(words) // 3)]), 2))
    if shuffled != words:
        graded.append((" ".join(shuffled), 1))
    return [(text, score) for text, score in graded if score == 3 or text != answer]


def examples(rows, indices, rng, vocabulary) -> list[tuple[list[dict], str, int]]:
    out = []
    for i in indices:
        for text, score in graded_answers(rows, i, rng, vocabulary):
            messages = GENERAL_QUALITY.render([{"role": "user", "content": rows[i][0]}], text, "general")
            out.append((messages, f"{REASONS[score]}\nScore: {score}", score))
    return out


def encode(tokenizer, messages: list[dict], reply: str) -> tuple[list[int], list[int]]:
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    reply_ids = tokenizer(reply + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    return prompt_ids + reply_ids, [-100] * len(prompt_ids) + reply_ids


def batch_of(tokenizer, chosen) -> dict:
    encoded = [encode(tokenizer, messages, reply) for messages, reply, _ in chosen]
    width = max(len(ids) for ids, _ in encoded)
    pad = tokenizer.pad_token_id
    return {"input_ids": torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in encoded]),
            "attention_mask": torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in encoded]),
            "labels": torch.tensor([labels + [-100] * (width - len(labels)) for _, labels in encoded])}


def held_out_accuracy(model, tokenizer, held_out) -> tuple[int, int, int]:
    """(replies that parse, replies with the intended score, replies): greedy, as the verifier asks, with its
    default max_tokens (64)."""
    parsed = right = 0
    model.eval()
    for messages, _, score in held_out:
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=64, do_sample=False, eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=tokenizer.pad_token_id)
        reply = tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
        try:
            scores, _ = GENERAL_QUALITY.parse(reply)
        except ValueError:
            continue
        parsed += 1
        right += scores["Score"] == score
    return parsed, right, len(held_out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = general_demonstrations()
    order = list(range(len(rows)))
    random.Random(0).shuffle(order)
    held_out_questions, train_questions = order[: len(rows) // 5], order[len(rows) // 5:]
    vocabulary = sorted({word for question, answer in rows for word in (question + " " + answer).split()})
    tokenizer = AutoTokenizer.from_pretrained(BASE)
    model = LlamaForCausalLM.from_pretrained(BASE)
    train = examples(rows, train_questions, random.Random(1), vocabulary)
    held_out = examples(rows, held_out_questions, random.Random(2), vocabulary)
    print(f"{len(train)} training replies over {len(train_questions)} questions, {len(held_out)} held out", flush=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng = random.Random(0)
    model.train()
    for step in range(args.steps):
        loss = model(**batch_of(tokenizer, rng.sample(train, 16))).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.4f}", flush=True)
    parsed, right, total = held_out_accuracy(model, tokenizer, held_out)
    print(f"held-out replies: {parsed}/{total} parse, {right}/{total} give the intended score")
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    tokenizer.save_pretrained(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
