"""The emulator's state in one SQLite file, so flows, runs, timers, functions and tokens survive
a restart. Documents are kept as the JSON the API returns; SQLite gives atomic writes and a
file a person can open with ``sqlite3``."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Optional

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS run_log (run_id TEXT NOT NULL, seq INTEGER NOT NULL, entry TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS run_log_by_run ON run_log (run_id, seq);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, resource_server TEXT NOT NULL, scope TEXT NOT NULL, expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Store:
    """Thread-safe: the server's request threads, the run threads and the timer scheduler share it."""

    def __init__(self, path: Path) -> None:
        path.touch(mode=0o600)  # it holds the service identity's secret
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # documents ------------------------------------------------------------------
    def put(self, kind: str, key: str, document: dict[str, Any]) -> dict[str, Any]:
        """Insert or replace; a document keeps its place in listings (first-stored first)."""
        self._query(
            "INSERT INTO documents (kind, id, body, seq) VALUES (?, ?, ?, "
            "(SELECT COALESCE(MAX(seq), 0) + 1 FROM documents)) "
            "ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
            kind,
            key,
            json.dumps(document),
        )
        return document

    def get(self, kind: str, key: str) -> Optional[dict[str, Any]]:
        rows = self._query("SELECT body FROM documents WHERE kind = ? AND id = ?", kind, key)
        return json.loads(rows[0][0]) if rows else None

    def all(self, kind: str) -> list[dict[str, Any]]:
        rows = self._query("SELECT body FROM documents WHERE kind = ? ORDER BY seq", kind)
        return [json.loads(body) for (body,) in rows]

    def delete(self, kind: str, key: str) -> None:
        self._query("DELETE FROM documents WHERE kind = ? AND id = ?", kind, key)

    # run logs -------------------------------------------------------------------
    def add_log_entry(self, run_id: str, entry: dict[str, Any]) -> None:
        self._query(
            "INSERT INTO run_log (run_id, seq, entry) VALUES (?, "
            "(SELECT COALESCE(MAX(seq), 0) + 1 FROM run_log WHERE run_id = ?), ?)",
            run_id,
            run_id,
            json.dumps(entry),
        )

    def log(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._query("SELECT entry FROM run_log WHERE run_id = ? ORDER BY seq", run_id)
        return [json.loads(entry) for (entry,) in rows]

    # tokens and settings ----------------------------------------------------------
    def add_token(self, token: str, resource_server: str, scope: str, expires: float) -> None:
        self._query("INSERT INTO tokens VALUES (?, ?, ?, ?)", token, resource_server, scope, expires)

    def token(self, token: str) -> Optional[tuple[str, str, float]]:
        rows = self._query("SELECT resource_server, scope, expires FROM tokens WHERE token = ?", token)
        return rows[0] if rows else None

    def expire_tokens(self, now: float) -> None:
        """Every token expires now (what a test does to show the 401 a client then gets)."""
        self._query("UPDATE tokens SET expires = ?", now)

    def get_setting(self, key: str) -> Optional[str]:
        rows = self._query("SELECT value FROM settings WHERE key = ?", key)
        return str(rows[0][0]) if rows else None

    def set_setting(self, key: str, value: str) -> None:
        self._query(
            "INSERT INTO settings VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value
        )

    def setting(self, key: str, make: Any) -> str:
        """The stored value of ``key``, made by ``make()`` and kept on first use (the service identity)."""
        kept = self.get_setting(key)
        if kept is not None:
            return kept
        value = str(make())
        self._query("INSERT INTO settings VALUES (?, ?)", key, value)
        return value
