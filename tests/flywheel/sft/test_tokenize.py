"""Exact loss masks: only assistant content and its end-of-turn token carry labels."""

import pytest

from flywheel.sft import IGNORE_INDEX, NoAssistantTurn, tokenize_conversation


def labelled_text(tokenizer, encoded) -> list[str]:
    """The text of each maximal run of labelled tokens."""
    runs, current = [], []
    for token, label in zip(encoded["input_ids"], encoded["labels"]):
        if label != IGNORE_INDEX:
            assert label == token
            current.append(token)
        elif current:
            runs.append(tokenizer.decode(current))
            current = []
    if current:
        runs.append(tokenizer.decode(current))
    return runs


def test_single_turn_exact_labels(tokenizer):
    messages = [{"role": "user", "content": "What is 2 plus 3?"}, {"role": "assistant", "content": "2 + 3 = 5."}]
    encoded = tokenize_conversation(tokenizer, messages)
    prompt_ids = tokenizer.apply_chat_template(messages[:1], add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    answer_ids = tokenizer("2 + 3 = 5.<|im_end|>", add_special_tokens=False)["input_ids"]
    newline = tokenizer("\n", add_special_tokens=False)["input_ids"]
    assert encoded["input_ids"] == prompt_ids + answer_ids + newline
    assert encoded["labels"] == [IGNORE_INDEX] * len(prompt_ids) + answer_ids + [IGNORE_INDEX] * len(newline)
    assert encoded["attention_mask"] == [1] * len(encoded["input_ids"])


def test_generation_prompt_is_exact_prefix_of_training_ids(tokenizer):
    """The template at generation is the template at training."""
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."},
                {"role": "assistant", "content": "Blue."}]
    encoded = tokenize_conversation(tokenizer, messages)
    generation = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=True,
                                               return_dict=True)["input_ids"]
    assert encoded["input_ids"][: len(generation)] == generation
    assert all(label == IGNORE_INDEX for label in encoded["labels"][: len(generation)])
    assert encoded["labels"][len(generation)] != IGNORE_INDEX


def test_multi_turn_trains_every_assistant_turn_by_default(tokenizer):
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": "one"},
                {"role": "assistant", "content": "first answer"}, {"role": "user", "content": "two"},
                {"role": "assistant", "content": "second answer"}]
    assert labelled_text(tokenizer, tokenize_conversation(tokenizer, messages)) == [
        "first answer<|im_end|>", "second answer<|im_end|>"]
    assert labelled_text(tokenizer, tokenize_conversation(tokenizer, messages, last_turn_only=True)) == [
        "second answer<|im_end|>"]


def test_role_headers_and_user_turns_are_masked(tokenizer):
    messages = [{"role": "user", "content": "assistant"}, {"role": "assistant", "content": "user"}]
    encoded = tokenize_conversation(tokenizer, messages)
    assert labelled_text(tokenizer, encoded) == ["user<|im_end|>"]


def test_no_assistant_turn_is_rejected(tokenizer):
    with pytest.raises(NoAssistantTurn):
        tokenize_conversation(tokenizer, [{"role": "user", "content": "hi"}])
