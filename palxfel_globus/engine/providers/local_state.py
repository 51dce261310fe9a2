"""What the local stand-ins of Globus services keep from one run to the next.

A Search index and a guest collection's access rules outlive the run that wrote them, in the
service and here: later runs read them, and a person lists them (``palxfel-globus local
search`` / ``local access-rules``). Each is one JSON document under ``<state>/<kind>/<key>.json``,
replaced atomically, so a run killed mid-write leaves the previous version. Without a state
directory (a test's engine) they live in memory for the engine's lifetime.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from pathlib import Path
from typing import Any, Iterator, Optional

from palxfel_globus.jsonfile import write_json

PLAIN_KEY = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]*")  # UUIDs, run and web input ids


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/palxfel-globus/local`` (``~/.local/state/...``): where 'flow simulate' and
    'local run' keep what the local services hold, unless told otherwise."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "palxfel-globus" / "local"


class LocalState:
    """JSON documents by (kind, key), shared by an engine's providers."""

    def __init__(self, directory: Optional[Path] = None) -> None:
        self.directory = directory
        self._memory: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.RLock()

    def _path(self, kind: str, key: str) -> Optional[Path]:
        """The key's file, or None for a key that is not a plain name (a run id from the command line,
        a web input id from a URL): nothing outside the state directory is ever read or written."""
        assert self.directory is not None
        if not PLAIN_KEY.fullmatch(key):
            return None
        return self.directory / kind / f"{key.lower()}.json"

    def read(self, kind: str, key: str) -> dict[str, Any]:
        with self._lock:
            if self.directory is None:
                return json.loads(json.dumps(self._memory.get((kind, key.lower()), {})))
            path = self._path(kind, key)
            if path is None:
                return {}
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                return {}
            return document if isinstance(document, dict) else {}

    def keys(self, kind: str) -> list[str]:
        with self._lock:
            if self.directory is None:
                return sorted(key for stored_kind, key in self._memory if stored_kind == kind)
            return sorted(path.stem for path in (self.directory / kind).glob("*.json"))

    def remove(self, kind: str, key: str) -> None:
        with self._lock:
            if self.directory is None:
                self._memory.pop((kind, key.lower()), None)
            elif (path := self._path(kind, key)) is not None:
                path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def changing(self, kind: str, key: str) -> Iterator[dict[str, Any]]:
        """Read, let the caller change, write back; nothing is written if the caller raises."""
        with self._lock:
            document = self.read(kind, key)
            yield document
            if self.directory is None:
                self._memory[(kind, key.lower())] = json.loads(json.dumps(document))
                return
            path = self._path(kind, key)
            if path is None:
                raise ValueError(f"{key!r} is not a plain name for the local state")
            write_json(path, document, indent=1)
