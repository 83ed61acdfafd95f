"""Preflight: everything a config needs that can be checked before round 0 spends a GPU hour, all at once.

``flywheel check`` prints it; ``flywheel run`` and ``flywheel demo`` run it first and stop on a
problem. Each check names what it looked at and how to fix it, and a failing check does not hide
the next one:

- every verifier a domain lists is installed (with a "did you mean" for a typo), and loads; so does the judge
  and its rubric when quality control rates difficulty with it (``quality.judge_difficulty``);
- every mixture file source parses, and each row has an answer to train on;
- every prompt source parses to its last line (``file:line:column`` on the first bad row of each
  source), no source is empty, and every reference is one its verifier can read (a verifier may
  define ``check_reference(prompt) -> str | None``: ``unit_tests`` parses the tests and recognises
  their shape, ``math`` wants a gold answer);
- the model directory has a tokenizer with a chat template and end-of-turn tokens;
- the workdir is writable and its disk has room;
- the tracking backend's library is installed.
"""

from __future__ import annotations

import difflib
import json
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from flywheel.config import DOMAINS, RoundConfig

MIN_FREE_BYTES = 256 << 20  # a demo round writes checkpoints, Parquet and two databases: well under this
MAX_REFERENCE_PROBLEMS = 5  # per source and verifier: enough to see the pattern


@dataclass(frozen=True)
class Problem:
    check: str  # verifiers | prompts | model | workdir
    where: str  # the config field or file:line it is about
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class PreflightFailed(ValueError):
    """The config cannot finish a round; the message lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        if len(problems) == 1:  # one line, as every other error the CLI prints
            super().__init__(f"{problems[0]} (preflight: nothing was run)")
        else:
            lines = "\n".join(f"  - {p}" for p in problems)
            super().__init__(f"preflight found {len(problems)} problems; nothing was run:\n{lines}")


def check_verifiers(config: RoundConfig) -> tuple[list[Problem], dict]:
    from flywheel.verification.plugins import discover, load_verifiers

    installed = discover()
    problems = []
    for domain in DOMAINS:
        for name in config.verifiers.for_domain(domain):
            if name not in installed:
                close = difflib.get_close_matches(name, list(installed), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(Problem("verifiers", f"verifiers.{domain}", f"verifier {name!r} is not installed "
                                        f"(installed: {', '.join(sorted(installed))}){hint}"))
    wanted = {n for d in DOMAINS for n in config.verifiers.for_domain(d) if n in installed}
    if config.quality.enabled and config.quality.judge_difficulty:  # quality control asks the judge too
        if "llm_judge" in installed:
            wanted.add("llm_judge")
        else:
            problems.append(Problem("verifiers", "quality.judge_difficulty", "rating difficulty needs the llm_judge "
                                    "verifier, which is not installed"))
    options = config.verifier_options()
    if "llm_judge" in options:  # a check writes nothing: the judge's cache is opened by a round, not here
        options["llm_judge"] = {**options["llm_judge"], "cache_path": None}
    loaded = load_verifiers(sorted(wanted), options)
    for name, (_, error) in loaded.items():
        if error:
            problems.append(Problem("verifiers", f"verifiers.options.{name}", error))
    judge = loaded.get("llm_judge", (None, None))[0]
    if judge is not None and config.quality.enabled and config.quality.judge_difficulty:
        try:
            judge.rubric_named(config.quality.judge_difficulty)
        except ValueError as error:
            problems.append(Problem("verifiers", "quality.judge_difficulty", str(error)))
    return problems, {name: verifier for name, (verifier, _) in loaded.items() if verifier is not None}


def model_context(config: RoundConfig):
    """(the model's own tokenizer, its context length), read once per check; None without a tokenizer.json or a
    context length (check_model says what is missing)."""
    base = Path(config.model.base)
    try:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
        context = config.generation.vllm.max_model_len or json.loads((base / "config.json").read_text())[
            "max_position_embeddings"]
    except Exception:  # noqa: BLE001 - the tokenizers library raises its own types for an unreadable file
        return None
    return tokenizer, context


def overlong_prompts(config: RoundConfig, prompts, tokenizer, context: int) -> tuple[int, str] | None:
    """(how many prompts leave fewer than generation.max_new_tokens tokens of the model's context, the longest
    one's id and length), counted with the model's tokenizer; None when there are none. The chat template's own
    tokens are not counted, so this is a lower bound."""
    room = context - config.generation.max_new_tokens
    texts = ["\n".join(m.content for m in p.messages) for p in prompts]
    lengths = [(len(encoding.ids), p.id) for encoding, p in zip(tokenizer.encode_batch(texts), prompts)]  # threads
    over = [(length, pid) for length, pid in lengths if length > room]
    if not over:
        return None
    length, pid = max(over)
    return len(over), f"{pid!r} has {length} tokens; the context is {context} with max_new_tokens " \
                      f"{config.generation.max_new_tokens}"


def check_prompts(config: RoundConfig, verifiers: dict) -> tuple[list[Problem], Counter, dict]:
    """(problems, prompts per domain, {source: (prompts too long for the context, an example)})."""
    from flywheel.prompts.formats import load_prompts

    problems, by_domain, origin, overlong = [], Counter(), {}, {}
    measure = model_context(config) if _exists(config.model.base) else None
    for i, source in enumerate(config.prompts.sources):
        where = f"prompts.sources[{i}]"
        if not _exists(source.path):
            continue  # named by check_files
        try:
            prompts = load_prompts(source.path, fmt=source.format, domain=source.domain, split=source.split,
                                   fields=source.fields, hub=source.hub, language=source.language)
        except (ValueError, OSError) as error:
            problems.append(Problem("prompts", where, str(error)))
            continue
        if not prompts and not config.prompts.allow_empty:
            problems.append(Problem("prompts", where, f"{source.path or source.hub} has no prompts "
                                    "(set prompts.allow_empty: true if that is expected)"))
        by_domain.update(p.domain for p in prompts)
        if measure is not None and (found := overlong_prompts(config, prompts, *measure)) is not None:
            overlong[where] = found
        repeated = [p for p in prompts if p.id in origin]
        for prompt in repeated[:MAX_REFERENCE_PROBLEMS]:
            problems.append(Problem("prompts", prompt.source, f"id {prompt.id!r} already read from {origin[prompt.id]}"))
        origin.update((p.id, p.source) for p in prompts if p.id not in origin)
        for name, verifier in verifiers.items():
            check = getattr(verifier, "check_reference", None)
            if check is None:
                continue
            bad = [(p, reason) for p in prompts if name in config.verifiers.for_domain(p.domain)
                   and (reason := check(p)) is not None]
            for prompt, reason in bad[:MAX_REFERENCE_PROBLEMS]:
                problems.append(Problem("prompts", prompt.source, f"{name} cannot read the reference of "
                                        f"{prompt.domain} prompt {prompt.id!r}: {reason}"))
            if len(bad) > MAX_REFERENCE_PROBLEMS:
                problems.append(Problem("prompts", where, f"... and {len(bad) - MAX_REFERENCE_PROBLEMS} more "
                                        f"references {name} cannot read"))
    return problems, by_domain, overlong


def check_mixture_files(config: RoundConfig) -> list[Problem]:
    """Seed, replay and human data in the mixture: read now, as SFT would read them after the round's generation."""
    from flywheel.curation.mixing import file_source_examples

    problems = []
    for i, source in enumerate(config.mixture.sources):
        if source.kind != "file" or not _exists(source.path):
            continue
        try:
            if not file_source_examples(source):
                problems.append(Problem("mixture", f"mixture.sources[{i}]", f"{source.path} has no rows"))
        except (ValueError, OSError) as error:
            problems.append(Problem("mixture", f"mixture.sources[{i}]", str(error)))
    return problems


def check_model(config: RoundConfig) -> list[Problem]:
    """Read from the checkpoint's files, not through transformers: importing it alone takes longer than
    every other check together, and a typo should fail in seconds."""
    from flywheel.generation.base import END_OF_TURN_TOKENS

    base = Path(config.model.base)
    if not (base / "config.json").exists():
        return [Problem("model", "model.base", f"{base} has no config.json: not a Hugging Face model directory")]
    try:
        settings = json.loads((base / "tokenizer_config.json").read_text())
        vocabulary = json.loads((base / "tokenizer.json").read_text())
    except (OSError, ValueError) as error:
        return [Problem("model", "model.base", f"{base}: no readable tokenizer (tokenizer_config.json and "
                        f"tokenizer.json): {error}")]
    problems = []
    if not (settings.get("chat_template") or (base / "chat_template.jinja").exists()
            or (base / "chat_template.json").exists()):
        problems.append(Problem("model", "model.base", f"{base}: the tokenizer has no chat template; prompts are "
                                "chat messages (use an instruct model, or add a template to tokenizer_config.json)"))
    eos = settings.get("eos_token")
    eos = eos.get("content") if isinstance(eos, dict) else eos
    known = {t.get("content") for t in vocabulary.get("added_tokens", [])} | set(
        (vocabulary.get("model") or {}).get("vocab") or {})
    if not ({eos, *END_OF_TURN_TOKENS} - {None}) & known:
        problems.append(Problem("model", "model.base", f"{base}: no end-of-turn or EOS token in the tokenizer: "
                                "samples would never stop before max_new_tokens"))
    return problems


def check_workdir(workdir: Path, needed: int = MIN_FREE_BYTES) -> list[Problem]:
    """The workdir, or the folder it would be made in, is writable and has room; nothing is created."""
    existing = workdir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "not a directory", str(existing))
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".preflight-"):
            pass
    except OSError as error:
        if error.errno == 30:
            return [Problem("workdir", "workdir", f"read-only file system: cannot write {workdir}; choose a "
                            "writable --workdir")]
        return [Problem("workdir", "workdir", f"{workdir} is not writable: {error.strerror or error}")]
    free = shutil.disk_usage(existing).free
    if free < needed:
        return [Problem("workdir", "workdir", f"not enough space left on the device: {free / 2**20:.1f} MiB free "
                        f"in {workdir}, a round needs about {needed / 2**20:.0f} MiB")]
    return []


def check_files(config: RoundConfig) -> list[Problem]:
    """Every input path that does not exist, each by its field (the other checks skip those paths)."""
    from flywheel.config import missing_paths

    return [Problem("files", field, f"{path} does not exist") for field, path in missing_paths(config)]


def _exists(path) -> bool:
    return path is None or Path(path).exists()


def preflight(config: RoundConfig, *, model: bool = True) -> tuple[list[Problem], dict]:
    """(every problem found, a summary of what was checked)."""
    problems = check_files(config)
    verifier_problems, verifiers = check_verifiers(config)
    problems += verifier_problems
    prompt_problems, by_domain, overlong = check_prompts(config, verifiers)
    problems += prompt_problems
    problems += check_mixture_files(config)
    if model and _exists(config.model.base):
        problems += check_model(config)
    problems += check_workdir(config.workdir)
    from flywheel.store.tracking import missing_library

    if (missing := missing_library(config)) is not None:
        problems.append(Problem("tracking", "tracking.backend", missing))
    for verifier in verifiers.values():  # a judge opened its cache; nothing else is held
        close = getattr(verifier, "close", None)
        if close is not None:
            close()
    summary = {"prompts": dict(by_domain), "verifiers": sorted(verifiers), "model": str(config.model.base),
               "workdir": str(config.workdir), "overlong_prompts": overlong}
    return problems, summary


def require_preflight(config: RoundConfig) -> dict:
    problems, summary = preflight(config)
    if problems:
        raise PreflightFailed(problems)
    return summary
