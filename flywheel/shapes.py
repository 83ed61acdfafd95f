"""Real model shapes without downloads: a family's exact config, chat template and special tokens.

Throughput and memory depend on a model's shape, not on its weights' values, so a randomly
initialised model of the published architecture measures what the real one would. The
configs below are the published ``config.json`` values; the tokenizer is built here: a
byte-level BPE over the family's exact vocabulary size whose special tokens sit at the
family's ids (Llama 3's ``<|eot_id|>`` is 128009, Qwen2.5's ``<|im_end|>`` 151645), with the
family's chat template. Its ordinary tokens are not the family's merges (those ship only
with the weights), so token counts of real text differ; every id, shape and template does not.

``write_shaped_model(shape, out, layers=, hidden=)`` writes a folder ``from_pretrained`` loads;
``layers``/``hidden`` shrink depth and width for CPU tests (vocabulary and special ids stay).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

_LLAMA3_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
_QWEN25_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if not (message['role'] == 'system' and loop.first) %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def _llama3_special_tokens() -> dict[int, str]:
    named = {128000: "<|begin_of_text|>", 128001: "<|end_of_text|>", 128004: "<|finetune_right_pad_id|>",
             128006: "<|start_header_id|>", 128007: "<|end_header_id|>", 128008: "<|eom_id|>", 128009: "<|eot_id|>",
             128010: "<|python_tag|>"}
    reserved = iter(range(250))
    return {i: named.get(i) or f"<|reserved_special_token_{next(reserved)}|>" for i in range(128000, 128256)}


def _qwen25_special_tokens() -> dict[int, str]:
    names = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
             "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
             "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>",
             "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]
    return {151643 + i: name for i, name in enumerate(names)}


_LLAMA_COMMON = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False,
                 "attention_dropout": 0.0, "bos_token_id": 128000, "head_dim": 128, "hidden_act": "silu",
                 "initializer_range": 0.02, "max_position_embeddings": 131072, "mlp_bias": False,
                 "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
                 "vocab_size": 128256, "eos_token_id": [128001, 128008, 128009]}


@dataclass(frozen=True)
class Shape:
    name: str
    config: dict
    template: str
    special_tokens: dict[int, str]
    bos: str | None
    eos: str  # the end of an assistant turn
    pad: str
    # the modules LoRA adapts in this family (its attention and MLP projections)
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    regular_tokens: int = field(default=0)  # ids below the first special token


SHAPES = {
    "llama-3.2-1b": Shape("llama-3.2-1b", {
        **_LLAMA_COMMON, "hidden_size": 2048, "intermediate_size": 8192, "num_attention_heads": 32,
        "num_hidden_layers": 16, "head_dim": 64, "tie_word_embeddings": True,
        "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"}},
        _LLAMA3_TEMPLATE, _llama3_special_tokens(), "<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>",
        regular_tokens=128000),
    "llama-3.1-8b": Shape("llama-3.1-8b", {
        **_LLAMA_COMMON, "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
        "num_hidden_layers": 32, "tie_word_embeddings": False,
        "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"}},
        _LLAMA3_TEMPLATE, _llama3_special_tokens(), "<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>",
        regular_tokens=128000),
    "qwen2.5-0.5b": Shape("qwen2.5-0.5b", {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "attention_dropout": 0.0,
        "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 896,
        "initializer_range": 0.02, "intermediate_size": 4864, "max_position_embeddings": 32768,
        "max_window_layers": 24, "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": True,
        "use_sliding_window": False, "vocab_size": 151936},
        _QWEN25_TEMPLATE, _qwen25_special_tokens(), None, "<|im_end|>", "<|endoftext|>", regular_tokens=151643),
}


def reduced_config(shape: Shape, layers: int | None = None, hidden: int | None = None) -> dict:
    """The shape's config, optionally shallower and narrower (heads, head size and MLP scaled alike)."""
    config = dict(shape.config)
    if layers:
        config["num_hidden_layers"] = layers
        if "max_window_layers" in config:
            config["max_window_layers"] = layers
    if hidden:
        heads, kv = config["num_attention_heads"], config["num_key_value_heads"]
        head_dim = max(8, hidden // heads)
        config.update(hidden_size=head_dim * heads, intermediate_size=4 * head_dim * heads, head_dim=head_dim,
                      num_key_value_heads=kv)
    return config


def build_tokenizer(shape: Shape, train_text: list[str] | None = None):
    """A fast tokenizer with the family's vocabulary size, special tokens at their ids, and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    text = train_text or [_SAMPLE_TEXT] * 4
    tokenizer.train_from_iterator(text, trainers.BpeTrainer(vocab_size=2048, show_progress=False,
                                                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    data = json.loads(tokenizer.to_str())
    vocab = data["model"]["vocab"]
    for index in range(len(vocab), shape.regular_tokens):  # ids no merge produces: the family's vocabulary size
        vocab[f"<|unused_{index}|>"] = index
    data["added_tokens"] = [{"id": i, "content": token, "single_word": False, "lstrip": False, "rstrip": False,
                             "normalized": False, "special": True} for i, token in sorted(shape.special_tokens.items())]
    full = Tokenizer.from_str(json.dumps(data))
    return PreTrainedTokenizerFast(tokenizer_object=full, bos_token=shape.bos, eos_token=shape.eos,
                                   pad_token=shape.pad, chat_template=shape.template, padding_side="left",
                                   model_max_length=shape.config["max_position_embeddings"])


_SAMPLE_TEXT = ("The quick brown fox jumps over the lazy dog. def add(a, b):\n    return a + b\n"
                "What is 12 * 7? The answer is 84. Write a function that sorts a list in place. ") * 50


def write_shaped_model(shape_name: str, out: Path, *, layers: int | None = None, hidden: int | None = None,
                       dtype: str = "bfloat16", device: str = "cpu", seed: int = 0) -> Path:
    """A randomly initialised model of the shape (config, weights, tokenizer, generation config) in ``out``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

    shape = SHAPES[shape_name]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config_dict = reduced_config(shape, layers, hidden)
    config = AutoConfig.for_model(**config_dict)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    model.save_pretrained(out, safe_serialization=True)
    tokenizer = build_tokenizer(shape)
    tokenizer.save_pretrained(out)
    eos = config_dict["eos_token_id"]
    GenerationConfig(bos_token_id=config_dict["bos_token_id"], eos_token_id=eos,
                     pad_token_id=tokenizer.pad_token_id).save_pretrained(out)
    return out
