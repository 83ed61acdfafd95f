"""Rubrics for the ``llm_judge`` verifier: the prompt a judge model reads, and the strict reading of its score.

A rubric is a Jinja template over ``conversation`` (the prompt's turns as a transcript; for one
user turn, just its text), ``response`` (the sample) and ``domain``, plus the score fields the
reply must end with, each with its range, and the total a sample needs to pass. The bundled
ones follow Llama 3.1 (section 4.2.3): a 3-point quality scale for general data, and binary
correctness plus binary style for code. A user's own rubric is a YAML file with the same keys
(``template``, ``fields``, ``threshold``, optional ``system``).

Reading is strict: every field must appear as a line ``Field: N`` (``**Field:** N`` and
``N/M`` are accepted), every time with the same value, inside its range. Anything else is
:class:`UnreadableScore`, which the verifier turns into an ``error`` verdict carrying the reply:
a judge that did not answer the rubric has not said the sample is bad.
"""

from __future__ import annotations

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

    def render(self, conversation: list[dict], response: str, domain: str) -> list[dict]:
        """The chat messages sent to the judge."""
        text = _ENVIRONMENT.from_string(self.template).render(
            conversation=transcript(conversation), response=response, domain=domain)
        return ([{"role": "system", "content": self.system}] if self.system else []) + [{"role": "user", "content": text}]

    def parse(self, reply: str) -> tuple[dict[str, int], str]:
        """({field: score}, the reasoning: the reply without its score lines), or UnreadableScore."""
        scores, kept = {}, reply
        for field, (low, high) in self.fields.items():
            pattern = re.compile(rf"^[ \t>*_#-]*{re.escape(field)}[*_ ]*:[*_ \t]*(-?\d+)(?:\s*/\s*\d+)?[*_ \t.]*$",
                                 re.IGNORECASE | re.MULTILINE)
            found = {int(value) for value in pattern.findall(reply)}
            if not found:
                raise UnreadableScore(f"no '{field}: N' line ({field} {low}-{high})")
            if len(found) > 1:
                raise UnreadableScore(f"'{field}' given {len(found)} different values {sorted(found)}")
            value = found.pop()
            if not low <= value <= high:
                raise UnreadableScore(f"'{field}: {value}' is outside {low}-{high}")
            scores[field] = value
            kept = pattern.sub("", kept)
        return scores, kept.strip()


_ENVIRONMENT = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)


def transcript(conversation: list[dict]) -> str:
    """One user turn as its text; several turns as 'User: ...' / 'Assistant: ...' lines."""
    if len(conversation) == 1 and conversation[0]["role"] == "user":
        return conversation[0]["content"]
    return "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in conversation)


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

BUNDLED = {r.name: r for r in (GENERAL_QUALITY, CODE_CORRECTNESS_STYLE)}
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
