"""Loading a round config from YAML: paths resolved against the file's folder, hub model ids, errors that name
the field (with a "did you mean"), every missing input path at once, and the effective config a run used.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from flywheel.config.base import DEFAULT_CONFIG, ConfigError
from flywheel.config.generation import GenerationConfig
from flywheel.config.round import RoundConfig
from flywheel.records.files import write_text_atomic


def _resolve_paths(node: object, base: Path) -> object:
    """Make every relative Path absolute against ``base`` (the YAML file's folder)."""
    if isinstance(node, Path):
        return node if node.is_absolute() else (base / node).resolve()
    if isinstance(node, BaseModel):
        updates = {name: _resolve_paths(getattr(node, name), base) for name in type(node).model_fields}
        return node.model_copy(update=updates)
    if isinstance(node, list):
        return [_resolve_paths(item, base) for item in node]
    return node


def _format_errors(source: str, error: ValidationError) -> str:
    lines = [f"{source}: invalid round config"]
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "<root>"
        lines.append(f"  {field}: {item['msg']}{_did_you_mean(item)}")
    return "\n".join(lines)


def _did_you_mean(item: dict) -> str:
    """For a value outside a field's choices, the nearest choice: 'humaneva' -> 'humaneval'."""
    if item["type"] != "literal_error" or not isinstance(item.get("input"), str):
        return ""
    choices = re.findall(r"'([^']*)'", (item.get("ctx") or {}).get("expected", ""))
    close = difflib.get_close_matches(item["input"], choices, n=1, cutoff=0.6)
    return f" (got {item['input']!r}; did you mean {close[0]!r}?)" if close else f" (got {item['input']!r})"


def _resolve_option_paths(data: dict, base: Path) -> None:
    """Verifier options are free-form; their ``path`` keys still resolve against the config file, and so do the
    rubric files (the judge's, and quality control's difficulty rubric)."""
    options = (data.get("verifiers") or {}).get("options") or {}
    def resolved(value: str) -> str:
        return value if Path(value).is_absolute() else str((base / value).resolve())

    def rubric_file(value):  # a rubric is a bundled name or a YAML file; only a file resolves
        return resolved(value) if isinstance(value, str) and value.endswith((".yaml", ".yml")) else value

    for values in options.values():
        if not isinstance(values, dict):
            continue
        if isinstance(values.get("path"), str):
            values["path"] = resolved(values["path"])
        rubric = values.get("rubric")  # a rubric file (llm_judge), named alone or per domain
        if isinstance(rubric, dict):
            values["rubric"] = {d: rubric_file(r) for d, r in rubric.items()}
        elif "rubric" in values:
            values["rubric"] = rubric_file(rubric)
    quality = data.get("quality") or {}
    if isinstance(quality, dict) and "judge_difficulty" in quality:
        quality["judge_difficulty"] = rubric_file(quality["judge_difficulty"])  # as the judge's own rubric


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _resolve_hub_model(data: dict, base_dir: Path, source: str) -> None:
    """``model.base`` may be a Hugging Face hub id (``meta-llama/Llama-3.1-8B-Instruct``) when no folder of
    that name is beside the config: it becomes the snapshot folder in the HF cache, downloaded first unless
    HF_HUB_OFFLINE is set. A path wins over a hub id of the same spelling."""
    model = data.get("model")
    raw = model.get("base") if isinstance(model, dict) else None
    if not isinstance(raw, str) or Path(raw).is_absolute() or (base_dir / raw).exists() or not HUB_ID.match(raw):
        return
    from huggingface_hub import snapshot_download
    from huggingface_hub.constants import HF_HUB_CACHE
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        model["base"] = snapshot_download(raw, local_files_only=True)
        return
    except LocalEntryNotFoundError:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}:
        raise ConfigError(f"{source}: model.base: {raw!r} is not a folder beside the config, and as a Hugging Face "
                          f"hub id it is not in the local cache ({HF_HUB_CACHE}) while HF_HUB_OFFLINE is set: "
                          f"download it where there is a network (huggingface-cli download {raw}) or give a path")
    try:
        model["base"] = snapshot_download(raw)
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
        raise ConfigError(f"{source}: model.base: {raw!r} is not a folder beside the config, and as a Hugging Face "
                          f"hub id it is neither in the local cache ({HF_HUB_CACHE}) nor downloadable here: "
                          f"{str(error).splitlines()[0]}") from None


def parse_config(data: dict, *, base_dir: Path, source: str = "<config>") -> RoundConfig:
    _resolve_hub_model(data, base_dir, source)
    _resolve_option_paths(data, base_dir)
    try:
        config = RoundConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_errors(source, error)) from None
    return _resolve_paths(config, base_dir)  # type: ignore[return-value]


def load_config(path: str | Path | None = None, *, workdir: str | Path | None = None,
                check_files: bool = True) -> RoundConfig:
    """Load and validate a round config; ``workdir`` overrides the file's own. ``check_files=False`` leaves the
    input paths unchecked (flywheel check reports them with the preflight's other findings)."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    if workdir is not None:
        data["workdir"] = str(Path(workdir).resolve())
    config = parse_config(data, base_dir=path.resolve().parent, source=str(path))
    if check_files:
        check_paths(config, str(path))
    return config


def check_paths(config: RoundConfig, source: str = "<config>") -> None:
    """Every input path the config names exists, so a typo fails now, naming its field, not stages later; every
    missing one is named at once."""
    missing = missing_paths(config)
    if len(missing) == 1:
        raise ConfigError(f"{source}: {missing[0][0]}: {missing[0][1]} does not exist")
    if missing:
        raise ConfigError(f"{source}: {len(missing)} paths do not exist:\n" +
                          "\n".join(f"  {field}: {path}" for field, path in missing))


def missing_paths(config: RoundConfig) -> list[tuple[str, Path]]:
    """(field, path) for each input path the config names that does not exist."""
    wanted = [("model.base", config.model.base)]
    wanted += [(f"prompts.sources[{i}].path", s.path) for i, s in enumerate(config.prompts.sources) if s.path]
    wanted += [("evaluation.path", config.evaluation.path)]
    wanted += [(f"decontamination.eval_sets[{i}].path", e.path) for i, e in enumerate(config.decontamination.eval_sets)]
    wanted += [(f"mixture.sources[{i}].path", m.path) for i, m in enumerate(config.mixture.sources) if m.path]
    for name, options in config.verifiers.options.items():
        if isinstance(options.get("path"), str):
            wanted.append((f"verifiers.options.{name}.path", Path(options["path"])))
    return [(field, Path(path)) for field, path in wanted if not Path(path).exists()]


def with_seed(config: RoundConfig, seed: int) -> RoundConfig:
    """The same config with every seed (generation, mixture sampling, SFT) set to ``seed``."""
    return config.model_copy(update={
        "generation": config.generation.model_copy(update={"seed": seed}),
        "mixture": config.mixture.model_copy(update={"seed": seed}),
        "sft": config.sft.model_copy(update={"seed": seed})})


def with_backend(config: RoundConfig, backend: str) -> RoundConfig:
    """The same config generating with ``backend`` (validated like the file's own value)."""
    generation = GenerationConfig.model_validate({**config.generation.model_dump(), "backend": backend})
    return config.model_copy(update={"generation": generation})


def write_effective_config(config: RoundConfig) -> Path:
    """``<workdir>/config.yaml``: the config a run actually used, paths absolute, overrides applied.

    The Dagster resources read this file, so a CLI override reaches every stage, and the
    workdir records exactly what produced it.
    """
    return write_text_atomic(config.workdir / "config.yaml", yaml.safe_dump(config.model_dump(mode="json"),
                                                                            sort_keys=False))
