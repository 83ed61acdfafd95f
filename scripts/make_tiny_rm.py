"""Make the bundled tiny reward model at flywheel/data/tiny-rm/ (one-label sequence classifier).

Starts from the tiny base model, adds a one-label head, and trains it with the
Bradley-Terry loss -log sigmoid(r(chosen) - r(rejected)) on answers to the demo's
general prompts: the correct answer against corruptions of it (another question's
answer, the question parroted back, a truncation, a refusal, shuffled words).

Usage: python scripts/make_tiny_rm.py [--steps 300] [--out DIR]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaForSequenceClassification

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tasks import GENERAL

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "flywheel" / "data" / "tiny-base"
DEFAULT_OUT = ROOT / "flywheel" / "data" / "tiny-rm"


def corruptions(index: int, rng: random.Random) -> list[str]:
    question, answer = GENERAL[index]
    other = GENERAL[(index + rng.randint(1, len(GENERAL) - 1)) % len(GENERAL)][1]
    words = answer.split()
    shuffled = words[:]
    rng.shuffle(shuffled)
    return [other, question, " ".join(words[: max(1, len(words) // 3)]), "I do not know.", " ".join(shuffled),
            f"{question} {question}"]


def pairs(rng: random.Random) -> list[tuple[list[dict], list[dict]]]:
    out = []
    for i, (question, answer) in enumerate(GENERAL):
        user = {"role": "user", "content": question}
        for bad in corruptions(i, rng):
            if bad != answer:
                out.append(([user, {"role": "assistant", "content": answer}], [user, {"role": "assistant", "content": bad}]))
    return out


def score(model, tokenizer, conversations: list[list[dict]]) -> torch.Tensor:
    texts = [tokenizer.apply_chat_template(c, tokenize=False) for c in conversations]
    encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    return model(**encoded).logits[:, 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(BASE, padding_side="right")
    model = LlamaForSequenceClassification.from_pretrained(BASE, num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id
    train, held_out = pairs(random.Random(1)), pairs(random.Random(2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng = random.Random(0)
    model.train()
    for step in range(args.steps):
        batch = rng.sample(train, 16)
        chosen = score(model, tokenizer, [c for c, _ in batch])
        rejected = score(model, tokenizer, [r for _, r in batch])
        loss = -torch.nn.functional.logsigmoid(chosen - rejected).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.4f}", flush=True)
    model.eval()
    with torch.no_grad():
        margin = score(model, tokenizer, [c for c, _ in held_out]) - score(model, tokenizer, [r for _, r in held_out])
    print(f"held-out pair accuracy {(margin > 0).float().mean().item():.3f} over {len(held_out)} pairs")
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    tokenizer.save_pretrained(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
