"""Real model shapes on the CPU, for everything the GPU paths share: configs, templates, ids, packing, LoRA."""

from __future__ import annotations

import pytest
import torch

from flywheel.shapes import SHAPES, write_shaped_model
from flywheel.sft.packing import pack_rows, packed_forward_kwargs
from flywheel.sft.tokenize import IGNORE_INDEX, tokenize_conversation

# The published config.json values that decide throughput and memory.
PUBLISHED = {
    "llama-3.2-1b": {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
                     "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256, "tie_word_embeddings": True,
                     "rope_theta": 500000.0},
    "llama-3.1-8b": {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
                     "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128256, "tie_word_embeddings": False,
                     "rope_theta": 500000.0},
    "qwen2.5-0.5b": {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
                     "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True, "rope_theta": 1e6},
}
# The families' own ids: end of turn, beginning of text, and what the pad token is.
IDS = {"llama-3.2-1b": {"<|eot_id|>": 128009, "<|begin_of_text|>": 128000, "<|start_header_id|>": 128006,
                        "<|end_header_id|>": 128007, "<|eom_id|>": 128008, "<|finetune_right_pad_id|>": 128004},
       "qwen2.5-0.5b": {"<|im_end|>": 151645, "<|im_start|>": 151644, "<|endoftext|>": 151643,
                        "<tool_call>": 151657, "<|file_sep|>": 151664}}
PARAMETERS = {"llama-3.2-1b": (1.20e9, 1.30e9), "llama-3.1-8b": (7.9e9, 8.1e9), "qwen2.5-0.5b": (0.48e9, 0.50e9)}
CONVERSATION = [{"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "The answer is 5."}]


@pytest.fixture(scope="module", params=sorted(SHAPES))
def shaped(request, tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = write_shaped_model(request.param, tmp_path_factory.mktemp(request.param), layers=2, hidden=64,
                                dtype="float32")
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="sdpa", dtype=torch.float32)
    return request.param, AutoTokenizer.from_pretrained(folder), model


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_full_shapes_are_the_published_ones(name):
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(**SHAPES[name].config)
    rope = config.rope_parameters  # transformers 5 keeps rope_theta and the scaling together
    for key, value in PUBLISHED[name].items():
        assert (rope[key] if key == "rope_theta" else getattr(config, key)) == value, key
    if name.startswith("llama"):
        assert rope["rope_type"] == "llama3" and rope["factor"] == (32.0 if name == "llama-3.2-1b" else 8.0)
    with torch.device("meta"):  # the parameter count of the full model, without allocating it
        model = AutoModelForCausalLM.from_config(config)
    low, high = PARAMETERS[name]
    assert low <= sum(p.numel() for p in model.parameters()) <= high


def test_a_reduced_shape_loads_with_the_familys_vocabulary(shaped):
    name, tokenizer, model = shaped
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size < 1024
    assert model.config.vocab_size == SHAPES[name].config["vocab_size"]
    assert len(tokenizer) <= model.config.vocab_size


def test_special_tokens_sit_at_the_familys_ids(shaped):
    from flywheel.generation.base import end_of_turn_ids

    name, tokenizer, _ = shaped
    for token, token_id in IDS.get(name, IDS["llama-3.2-1b"]).items():
        assert tokenizer.convert_tokens_to_ids(token) == token_id, token
    assert end_of_turn_ids(tokenizer)[0] == (151645 if name.startswith("qwen") else 128009)
    assert tokenizer.eos_token == SHAPES[name].eos
    ids = tokenizer("<|im_end|>" if name.startswith("qwen") else "<|eot_id|>", add_special_tokens=False)["input_ids"]
    assert len(ids) == 1  # a special token is one id, never split into bytes


def test_the_chat_template_renders_the_familys_format(shaped):
    name, tokenizer, _ = shaped
    text = tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    prompt = tokenizer.apply_chat_template(CONVERSATION[:1], tokenize=False, add_generation_prompt=True)
    if name.startswith("llama"):
        assert text == ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2 + 3?<|eot_id|>"
                        "<|start_header_id|>assistant<|end_header_id|>\n\nThe answer is 5.<|eot_id|>")
        assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    else:
        assert text == ("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
                        "<|im_end|>\n<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n"
                        "The answer is 5.<|im_end|>\n")
        assert prompt.endswith("<|im_start|>assistant\n")


def test_the_masks_cover_the_answer_and_its_end_of_turn_exactly(shaped):
    name, tokenizer, _ = shaped
    example = tokenize_conversation(tokenizer, CONVERSATION)
    learned = [t for t, label in zip(example["input_ids"], example["labels"]) if label != IGNORE_INDEX]
    end = SHAPES[name].eos
    assert tokenizer.decode(learned) == f"The answer is 5.{end}"
    assert learned[-1] == tokenizer.convert_tokens_to_ids(end)


def test_packing_gives_the_separate_losses_under_sdpa(shaped):
    name, tokenizer, model = shaped
    conversations = [CONVERSATION, [{"role": "user", "content": "Name a colour."},
                                    {"role": "assistant", "content": "Blue, like the sky at noon."}]]
    examples = [tokenize_conversation(tokenizer, c) for c in conversations]
    (row,) = pack_rows(examples, [[0, 1]])
    ids, labels, positions = (torch.tensor([row[k]]) for k in ("input_ids", "labels", "position_ids"))
    with torch.no_grad():
        logits = model(**{k: v for k, v in packed_forward_kwargs(ids, labels, positions).items() if k != "labels"}).logits
        total, count = 0.0, 0
        for example in examples:
            single = model(input_ids=torch.tensor([example["input_ids"]]), use_cache=False).logits
            target = torch.tensor(example["labels"][1:])
            total += torch.nn.functional.cross_entropy(single[0, :-1], target, ignore_index=IGNORE_INDEX,
                                                       reduction="sum").item()
            count += int((target != IGNORE_INDEX).sum())
        # the packed row's loss at the examples' own positions (no shift across the boundary)
        packed_target = labels[0, 1:].clone()
        boundary = len(examples[0]["input_ids"]) - 1
        packed_target[boundary] = IGNORE_INDEX  # the first token of example 2 is not predicted from example 1
        packed = torch.nn.functional.cross_entropy(logits[0, :-1], packed_target, ignore_index=IGNORE_INDEX,
                                                   reduction="sum").item()
    assert abs(packed - total) < 1e-3 * max(1.0, abs(total)), (name, packed, total)


def test_lora_targets_the_familys_module_names(shaped):
    from peft import LoraConfig, get_peft_model

    from flywheel.config import LoRAConfig

    name, _, model = shaped
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    assert set(LoRAConfig().target_modules) <= names  # the default adapts attention in every family
    assert set(SHAPES[name].lora_targets) <= names
    adapted = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=list(SHAPES[name].lora_targets),
                                               task_type="CAUSAL_LM"))
    wrapped = {n.rsplit(".", 2)[-2] for n, _ in adapted.named_modules() if n.endswith("lora_A")}
    assert wrapped == set(SHAPES[name].lora_targets)
