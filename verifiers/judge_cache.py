"""The ``llm_judge`` verifier's cache of replies, so that a rerun or a resume never pays for a verdict twice.

Keyed by a hash of everything that decides the reply, as structured data, never as rendered text
(two (prompt, response) pairs whose boundary shifts render alike; a one-turn prompt holding
'User:'/'Assistant:' renders like a real conversation): the judge's identity (its weights'
fingerprint, or an endpoint's model name and revision), the rubric (its hash), the conversation
as JSON turns, the response, the domain and the decoding settings. It
holds the judge's *reply* and token counts, not the decision: a changed threshold is applied
to cached replies without a request, while a changed rubric or judge model misses. Replies are
written as each arrives, so a stage killed midway keeps what it paid for.

SQLite in WAL mode: shards of one round verify in parallel processes against one file.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """CREATE TABLE IF NOT EXISTS judge_replies (
    key TEXT PRIMARY KEY, judge_model TEXT NOT NULL, rubric_hash TEXT NOT NULL, sample_hash TEXT,
    reply TEXT NOT NULL, finish_reason TEXT, prompt_tokens INTEGER, completion_tokens INTEGER)"""


@dataclass(frozen=True)
class Reply:
    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None


def request_key(judge_identity: str, rubric_hash: str, conversation: list[dict], response: str, domain: str,
                decoding: dict) -> str:
    body = json.dumps({"judge": judge_identity, "rubric": rubric_hash,
                       "conversation": [{"role": str(m["role"]), "content": str(m["content"])} for m in conversation],
                       "response": response, "domain": domain, "decoding": sorted(decoding.items())},
                      ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(body.encode("utf-8", errors="surrogatepass")).hexdigest()


class ReplyCache:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one connection, written from the request threads
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)

    def get_many(self, keys: list[str]) -> dict[str, Reply]:
        found: dict[str, Reply] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                part = keys[start : start + 500]
                rows = self._db.execute(
                    "SELECT key, reply, finish_reason, prompt_tokens, completion_tokens FROM judge_replies "
                    f"WHERE key IN ({','.join('?' * len(part))})", part).fetchall()
                found.update({key: Reply(*rest) for key, *rest in rows})
        return found

    def put(self, key: str, judge_model: str, rubric_hash: str, sample_hash: str | None, reply: Reply) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO judge_replies VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             [key, judge_model, rubric_hash, sample_hash, reply.text, reply.finish_reason,
                              reply.prompt_tokens, reply.completion_tokens])

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM judge_replies").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
