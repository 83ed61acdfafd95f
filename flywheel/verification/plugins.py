"""verify: run plugin verifiers over samples and keep one verdict per (sample, verifier).

Verifiers are classes registered under the entry-point group ``flywheel.verifiers``; the
built-ins register there exactly as a third-party package would. A plugin is imported
only when a domain asks for it. One that fails to import, raises, or overruns its
timeout turns into verdicts with status ``error``/``timeout`` that name it; the round
goes on unless the config lists that verifier as required.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Protocol

from flywheel.records.schema import Prompt, Sample, Verdict, sample_text_hash

ENTRY_POINT_GROUP = "flywheel.verifiers"


@dataclass(frozen=True)
class VerifyItem:
    prompt: Prompt
    sample: Sample


@dataclass(frozen=True)
class VerdictResult:
    passed: bool
    score: float
    reason: str = ""
    status: str = "ok"  # ok | error | timeout
    cost_seconds: float = 0.0
    details: dict = field(default_factory=dict)


class Verifier(Protocol):
    name: str
    domains: tuple[str, ...]

    def verify_batch(self, items: list[VerifyItem]) -> list[VerdictResult]:
        """One result per item, in order. Batched so a reward model can batch and tests run in parallel."""
        ...


class VerifierFailed(RuntimeError):
    """A required verifier could not load or answer; the message names it."""


def discover() -> dict[str, object]:
    """Installed verifier entry points by name (not imported)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_verifier(name: str, options: dict | None = None) -> Verifier:
    found = discover()
    if name not in found:
        raise VerifierFailed(f"verifier {name!r} is not installed (installed: {sorted(found) or 'none'})")
    try:
        cls = found[name].load()
        verifier = cls(**(options or {}))
    except Exception as error:
        raise VerifierFailed(f"verifier {name!r} failed to load: {type(error).__name__}: {error}") from error
    return verifier


def _failed(item: VerifyItem, verifier: str, status: str, reason: str, cost: float) -> Verdict:
    return Verdict(prompt_id=item.sample.prompt_id, sample_index=item.sample.sample_index,
                   round=item.sample.round, verifier=verifier, passed=False, score=0.0,
                   status=status, reason=reason, cost_seconds=cost, sample_hash=sample_text_hash(item.sample.text))


def _run_one_verifier(name: str, verifier: Verifier | None, load_error: str | None, items: list[VerifyItem],
                      timeout: float, required: bool) -> list[Verdict]:
    if verifier is None:
        if required:
            raise VerifierFailed(f"required {load_error}")
        return [_failed(item, name, "error", load_error or "not loaded", 0.0) for item in items]
    started = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"verifier-{name}")
    try:
        results = pool.submit(verifier.verify_batch, items).result(timeout=timeout)
        if len(results) != len(items):
            raise ValueError(f"returned {len(results)} verdicts for {len(items)} samples")
    except FutureTimeout:
        cost = time.perf_counter() - started
        if required:
            raise VerifierFailed(f"required verifier {name!r} timed out after {timeout:.0f}s") from None
        return [_failed(item, name, "timeout", f"verifier {name!r} timed out after {timeout:.0f}s", cost) for item in items]
    except Exception as error:
        cost = time.perf_counter() - started
        reason = f"verifier {name!r} raised {type(error).__name__}: {error}"
        if required:
            raise VerifierFailed(f"required {reason}") from error
        return [_failed(item, name, "error", reason, cost) for item in items]
    finally:
        # Never wait for a hung plugin thread; it is abandoned, not joined.
        pool.shutdown(wait=False, cancel_futures=True)
    errors = [r for r in results if r.status == "error"]
    if required and errors:
        # A required verifier must judge every sample: a checker that failed is not a wrong answer.
        raise VerifierFailed(f"required verifier {name!r} failed on {len(errors)} of {len(items)} samples; "
                             f"first: {errors[0].reason[:300]}")
    return [
        Verdict(prompt_id=item.sample.prompt_id, sample_index=item.sample.sample_index, round=item.sample.round,
                verifier=name, passed=bool(r.passed), score=float(r.score), status=r.status,
                reason=r.reason, cost_seconds=float(r.cost_seconds),
                details=json.dumps(r.details, default=str) if r.details else None,
                sample_hash=sample_text_hash(item.sample.text))
        for item, r in zip(items, results)
    ]


LoadedVerifiers = dict[str, tuple["Verifier | None", "str | None"]]


def load_verifiers(names, options: dict[str, dict] | None = None) -> LoadedVerifiers:
    """Each named verifier, loaded once, or the error that names why it did not load."""
    loaded: LoadedVerifiers = {}
    for name in dict.fromkeys(names):
        try:
            loaded[name] = (load_verifier(name, (options or {}).get(name)), None)
        except VerifierFailed as error:
            loaded[name] = (None, str(error))
    return loaded


def close_verifiers(loaded: LoadedVerifiers) -> None:
    """Let each loaded verifier release what it holds (a judge's managed server); one that fails to close
    does not keep the others open."""
    for verifier, _ in loaded.values():
        close = getattr(verifier, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001 - its verdicts are written; a failed clean-up must not undo them
                pass


def verify_samples(prompts: list[Prompt], samples: list[Sample], verifiers_by_domain: dict[str, list[str]], *,
                   required: list[str] = (), timeout: float = 600.0,
                   options: dict[str, dict] | None = None, loaded: LoadedVerifiers | None = None) -> list[Verdict]:
    """Apply each domain's verifiers to that domain's samples; one Verdict per (sample, verifier).
    ``loaded`` (:func:`load_verifiers`) lets a caller that judges a round chunk by chunk load each
    verifier, a reward model say, once rather than per chunk."""
    by_id = {p.id: p for p in prompts}
    unknown = {s.prompt_id for s in samples} - by_id.keys()
    if unknown:
        raise ValueError(f"samples refer to prompts that were not collected: {sorted(unknown)[:5]}")
    work: dict[str, list[VerifyItem]] = {}
    for sample in samples:
        prompt = by_id[sample.prompt_id]
        for name in verifiers_by_domain.get(prompt.domain, []):
            work.setdefault(name, []).append(VerifyItem(prompt, sample))
    own = load_verifiers([n for n in work if n not in (loaded or {})], options)  # closed here, the rest by the caller
    loaded = {**own, **(loaded or {})}
    verdicts: list[Verdict] = []
    try:
        for name, items in work.items():
            verifier, load_error = loaded[name]
            verdicts.extend(_run_one_verifier(name, verifier, load_error, items, timeout, name in required))
    finally:
        close_verifiers(own)
    return verdicts


def list_verifiers() -> list[dict]:
    """Every installed verifier, its domains, and whether it loads (for ``flywheel verifiers``)."""
    rows = []
    for name, ep in sorted(discover().items()):
        try:
            verifier = load_verifier(name)
            rows.append({"name": name, "target": ep.value, "domains": list(verifier.domains), "loads": True, "error": ""})
        except VerifierFailed as error:
            rows.append({"name": name, "target": ep.value, "domains": [], "loads": False, "error": str(error)})
    return rows
