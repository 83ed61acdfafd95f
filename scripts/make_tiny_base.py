"""Make the bundled tiny base model at flywheel/data/tiny-base/ (a few MB, Llama architecture).

1. Train a byte-level BPE tokenizer (digits split one by one) on the raw pretraining text.
2. Wrap it with a ChatML chat template; <|im_end|> ends a turn.
3. Pre-train a small LlamaForCausalLM on raw text only: it learns the knowledge but never
   sees the chat format, so through the template it behaves like a base model.

Usage: python scripts/make_tiny_base.py [--steps 1500] [--out DIR]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tasks import pretraining_corpus

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "flywheel" / "data" / "tiny-base"


def train_tokenizer(corpus: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None, padding_side="left", chat_template=CHATML)


def make_model(vocab_size: int) -> LlamaForCausalLM:
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=128, intermediate_size=344, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                         tie_word_embeddings=True, rms_norm_eps=1e-5)
    return LlamaForCausalLM(config)


def pretrain(model, tokenizer, corpus: list[str], steps: int, batch_size: int, seq_len: int) -> None:
    # Documents joined by <|endoftext|> and cut into fixed windows, as plain LM pre-training does.
    ids: list[int] = []
    for text in corpus:
        ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.pad_token_id])
    data = torch.tensor(ids)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.05)
    generator = torch.Generator().manual_seed(0)
    model.train()
    started = time.time()
    for step in range(steps):
        starts = torch.randint(0, len(data) - seq_len - 1, (batch_size,), generator=generator)
        batch = torch.stack([data[s : s + seq_len] for s in starts])
        loss = model(input_ids=batch, labels=batch, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step % 100 == 0 or step == steps - 1:
            print(f"step {step}/{steps} loss {loss.item():.3f} ({time.time() - started:.0f}s)", flush=True)


def save(model, tokenizer, out: Path) -> None:
    """The model folder: weights, tokenizer, and a generation config that stops at <|im_end|>."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    GenerationConfig(eos_token_id=[tokenizer.convert_tokens_to_ids("<|im_end|>")], pad_token_id=tokenizer.pad_token_id,
                     ).save_pretrained(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.manual_seed(0)
    corpus = pretraining_corpus(random.Random(7))
    tokenizer = train_tokenizer(corpus, args.vocab_size)
    model = make_model(len(tokenizer))
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, vocab {len(tokenizer)}")
    pretrain(model, tokenizer, corpus, args.steps, args.batch_size, args.seq_len)
    save(model, tokenizer, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
