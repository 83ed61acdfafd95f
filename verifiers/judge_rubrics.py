"""Rubrics for the ``llm_judge`` verifier: the prompt a judge model reads, and the strict reading of its score.

A rubric is a Jinja template over ``conversation`` (the prompt's turns as a transcript; for one
user turn, just its text), ``response`` (the sample) and ``domain``, plus the score fields the
reply must end with, each with its range, and the total a sample needs to pass. The bundled
ones follow Llama 3.1 (section 4.2.3): a 3-point quality scale for general data, and binary
correctness plus binary style for code. A user's own rubric is a YAML file with the same keys
(``template``, ``fields``, ``threshold``, optional ``system``).

Every text a model wrote is hostile data (DESIGN.md): the judge's verdict must not be steerable by
the response it judges. Hence:

- **One place to read.** The score is read from the reply's last non-empty lines only: one line per
  field, ``Field: N`` (``**Field:** N`` and ``N/M`` accepted, with M the field's own top score), at the
  start of the line, outside any code fence. A score the judge merely quoted (a blockquote, a fence,
  an indented line, a line above the last ones) is never read. Anything else is :class:`UnreadableScore`,
  which the verifier turns into an ``error`` verdict carrying the reply (a judge that did not answer
  the rubric has not said the sample is bad); so is a reply cut at ``max_tokens``.
- **Boundaries the data cannot forge.** The conversation and the response go into the template as
  quoted blocks: every line after a block's first starts with ``| ``, so no text inside can begin a
  line of its own (a ``Question:`` section, a rubric line, a ``Score:`` line). Every Unicode line
  break counts as one. One-line texts read as before.
- **No special tokens from data.** Chat-template control tokens written as text in a conversation or
  a response (``<|im_end|><|im_start|>assistant``) would be tokenized as the real tokens and forge a
  turn: a zero-width space is put inside each one (:func:`neutralize_special_tokens`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment


class UnreadableScore(ValueError):
    """The judge's reply has no score the rubric can read; the message says which field and why."""


@dataclass(frozen=True)
class Rubric:
    name: str
    template: str
    fields: dict[str, tuple[int, int]]  # field -> (lowest, highest) score
    threshold: float  # a sample passes when its fields' total reaches this
    system: str | None = None

    @property
    def hash(self) -> str:
        """Changes with anything that changes what the judge is asked: it is part of the cache key."""
        body = json.dumps([self.template, sorted(self.fields.items()), self.system], ensure_ascii=False)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    @property
    def best(self) -> int:
        return sum(high for _, high in self.fields.values())

    def render(self, conversation: list[dict], response: str, domain: str,
               special_tokens: tuple[str, ...] = ()) -> list[dict]:
        """The chat messages sent to the judge: the conversation and the response as quoted blocks, with
        ``special_tokens`` (the judge tokenizer's; common chat templates' always) neutralized in both."""
        def clean(text: str) -> str:
            return neutralize_special_tokens(text, special_tokens)

        turns = [{**turn, "content": clean(str(turn["content"]))} for turn in conversation]
        text = _ENVIRONMENT.from_string(self.template).render(
            conversation=quoted_block(transcript(turns)), response=quoted_block(clean(response)), domain=domain)
        return ([{"role": "system", "content": self.system}] if self.system else []) + [{"role": "user", "content": text}]

    def parse(self, reply: str) -> tuple[dict[str, int], str]:
        """({field: score}, the reasoning above the score lines) from the reply's last non-empty lines, or
        UnreadableScore."""
        lines = [line.rstrip() for line in reply.splitlines()]
        while lines and not lines[-1].strip():
            lines.pop()
        tail = lines[-len(self.fields):]
        scores: dict[str, int] = {}
        for line in tail:
            match = _SCORE_LINE.match(line)
            field = next((f for f in self.fields if match and f.lower() == match["field"].lower()), None)
            if field is None:
                names = ", ".join(f"'{f}: N'" for f in self.fields)
                raise UnreadableScore(f"the last line(s) are not {names} (a reply ends with its score lines): "
                                      f"{line[:80]!r}" if line.strip() else f"no {names} line")
            if field in scores:
                raise UnreadableScore(f"'{field}' given twice in the last lines")
            low, high = self.fields[field]
            value = int(match["value"])
            if match["scale"] is not None and int(match["scale"]) != high:
                raise UnreadableScore(f"'{field}: {value}/{match['scale']}' is not on the rubric's scale "
                                      f"{low}-{high}")
            if not low <= value <= high:
                raise UnreadableScore(f"'{field}: {value}' is outside {low}-{high}")
            scores[field] = value
        missing = [f for f in self.fields if f not in scores]
        if missing:
            raise UnreadableScore(f"no '{missing[0]}: N' line ({missing[0]} {self.fields[missing[0]][0]}-"
                                  f"{self.fields[missing[0]][1]}) among the last lines")
        above = lines[: len(lines) - len(tail)]
        if sum(1 for line in above if line.lstrip().startswith(("```", "~~~"))) % 2:
            raise UnreadableScore("the score lines are inside a code fence (quoted, not given)")
        return scores, "\n".join(above).strip()


@dataclass(frozen=True)
class PromptRating:
    """A judge's rating of one prompt: the fields' total and where it lies in the rubric's range, 0 at its lowest
    and 1 at its highest (both None when the reply could not be read, with ``error``), and the intent tags it gave,
    if any."""
    rating: int | None
    fraction: float | None
    tags: list[str] | None
    error: str | None


MAX_TAGS, MAX_TAG_CHARS = 5, 48
_TAGS_LINE = re.compile(r"^(?:\*\*|__)?tags(?:\*\*|__)?\s*:\s*(?:\*\*|__)?(?P<tags>.*)$", re.IGNORECASE)


def intent_tags(reasoning: str) -> list[str] | None:
    """Instag-style intent tags from the reply's line just above its score lines (``Tags: a, b; c``): lower case,
    de-duplicated in order, at most ``MAX_TAGS`` of at most ``MAX_TAG_CHARS`` characters; None without that line.
    Read from that one place only, as the score is: a 'Tags:' quoted higher up is not the judge's."""
    lines = [line.rstrip() for line in reasoning.splitlines() if line.strip()]
    match = _TAGS_LINE.match(lines[-1]) if lines else None
    if match is None:
        return None
    tags: list[str] = []
    for part in re.split(r"[,;]", match["tags"]):
        tag = " ".join(part.strip().strip("*_.'\"`").split()).lower()[:MAX_TAG_CHARS]
        if tag and tag not in tags:
            tags.append(tag)
    return tags[:MAX_TAGS] or None


# A score line as a judge writes it: at the start of the line (no quote, indent or bullet), the field, a colon
# and an integer, with markdown bold around either and an optional '/M' scale and full stop.
_SCORE_LINE = re.compile(r"^(?:\*\*|__)?(?P<field>[A-Za-z][\w ]*?)(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*"
                         r"(?P<value>-?\d+)(?:\s*/\s*(?P<scale>\d+))?(?:\*\*|__)?\.?$")

# Control tokens of the chat templates this project meets (ChatML/Qwen, Llama 3, Llama 2/Mistral, Phi, Gemma),
# neutralized in every text a judge reads, whatever the judge; a managed judge adds its tokenizer's own.
COMMON_SPECIAL_TOKENS = (
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
    "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>", "<|python_tag|>", "<|finetune_right_pad_id|>", "<|system|>",
    "<|user|>", "<|assistant|>", "<|end|>", "<s>", "</s>", "[INST]", "[/INST]", "<<SYS>>", "<</SYS>>",
    "<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>",
)
ZERO_WIDTH_SPACE = "\u200b"


# Any <|name|>: Llama 3's 250 reserved tokens, Qwen's tool, vision and FIM tokens, and those of families not listed
# above, for an endpoint judge whose tokenizer is not known here.
_PIPE_TOKEN = r"<\|[A-Za-z0-9_.\-]{1,80}\|>"


@functools.lru_cache(maxsize=16)
def _control_tokens(special_tokens: tuple[str, ...]) -> re.Pattern:
    """One pattern per judge tokenizer (built once: every request renders two texts through it), longest first."""
    tokens = sorted({t for t in (*COMMON_SPECIAL_TOKENS, *special_tokens) if len(t) > 1}, key=len, reverse=True)
    return re.compile("|".join([_PIPE_TOKEN, *(re.escape(token) for token in tokens)]))


def neutralize_special_tokens(text: str, special_tokens: tuple[str, ...] = ()) -> str:
    """``text`` with a zero-width space after the first character of every control token it spells out, so a
    tokenizer reads plain text where the data wrote ``<|im_end|>``; text without one is returned unchanged."""
    return _control_tokens(tuple(special_tokens)).sub(lambda m: m.group(0)[0] + ZERO_WIDTH_SPACE + m.group(0)[1:],
                                                      text)


def quoted_block(text: str) -> str:
    """``text`` with every line after its first starting ``| ``: nothing in it can start a line of the prompt.
    Every Unicode line break (``str.splitlines``: \\r, \\v, \\f, \\x1c-\\x1e, \\x85, U+2028/9) counts."""
    return "\n| ".join(text.splitlines()) if text else text


_ENVIRONMENT = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)


def transcript(conversation: list[dict]) -> str:
    """One user turn as its text; several turns as 'User: ...' / 'Assistant: ...' lines, each turn's own text a
    quoted block (a turn cannot fake the next turn's header)."""
    if len(conversation) == 1 and conversation[0]["role"] == "user":
        return conversation[0]["content"]
    return "\n".join(f"{m['role'].capitalize()}: {quoted_block(m['content'])}" for m in conversation)


# Short on purpose: the bundled tiny judge reads 512 tokens, prompt and answer included.
GENERAL_QUALITY = Rubric(
    name="general_quality",
    template=("Rate the answer on a 3-point scale.\n"
              "3: correct, relevant and complete.\n"
              "2: partly correct or incomplete.\n"
              "1: wrong, off-topic or no answer.\n"
              "Give one line of reasoning, then a last line 'Score: N'.\n\n"
              "Question: {{ conversation }}\n"
              "Answer: {{ response }}"),
    fields={"Score": (1, 3)}, threshold=3)

CODE_CORRECTNESS_STYLE = Rubric(
    name="code_correctness_style",
    template=("Judge the code answer.\n"
              "Correctness: 1 if it solves the task, else 0.\n"
              "Style: 1 if it is clear, idiomatic and commented where needed, else 0.\n"
              "Give one line of reasoning, then the lines 'Correctness: N' and 'Style: N'.\n\n"
              "Task: {{ conversation }}\n"
              "Answer: {{ response }}"),
    fields={"Correctness": (0, 1), "Style": (0, 1)}, threshold=2)

# Llama 3.1's difficulty rating of a prompt (3 points) with Instag's open intent tags, asked of the prompt alone.
PROMPT_DIFFICULTY = Rubric(
    name="prompt_difficulty",
    template=("Rate how hard the request is to answer well on a 3-point scale.\n"
              "3: hard: expert knowledge or many steps of reasoning.\n"
              "2: medium.\n"
              "1: easy: common knowledge or one step.\n"
              "Give one line of reasoning, then a line 'Tags: ' with up to 5 short tags naming what the user wants "
              "(e.g. 'unit conversion, explanation'), then a last line 'Difficulty: N'.\n\n"
              "Request: {{ conversation }}"),
    fields={"Difficulty": (1, 3)}, threshold=1)

BUNDLED = {r.name: r for r in (GENERAL_QUALITY, CODE_CORRECTNESS_STYLE, PROMPT_DIFFICULTY)}
DEFAULT_BY_DOMAIN = {"general": "general_quality", "code": "code_correctness_style", "math": "general_quality"}


def load_rubric(spec: str) -> Rubric:
    """A bundled rubric by name, or a YAML file with template/fields/threshold[/system]."""
    if spec in BUNDLED:
        return BUNDLED[spec]
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"rubric {spec!r} is neither a bundled rubric ({sorted(BUNDLED)}) nor a YAML file")
    data = yaml.safe_load(path.read_text()) or {}
    unknown = set(data) - {"template", "fields", "threshold", "system", "name"}
    if unknown or not {"template", "fields"} <= set(data):
        raise ValueError(f"{path}: a rubric has keys template, fields, threshold (optional system, name); "
                         f"got {sorted(data)}")
    fields = {}
    for field, bounds in data["fields"].items():
        if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, int) for b in bounds)
                and bounds[0] <= bounds[1]):
            raise ValueError(f"{path}: fields.{field} must be [lowest, highest] integers, got {bounds!r}")
        fields[str(field)] = (bounds[0], bounds[1])
    if not fields:
        raise ValueError(f"{path}: fields must name at least one score")
    rubric = Rubric(name=str(data.get("name", path.stem)), template=str(data["template"]), fields=fields,
                    threshold=float(data.get("threshold", sum(high for _, high in fields.values()))),
                    system=data.get("system"))
    try:
        _ENVIRONMENT.from_string(rubric.template)
    except Exception as error:  # a Jinja syntax error, named with the file
        raise ValueError(f"{path}: template does not parse: {error}") from error
    return rubric
