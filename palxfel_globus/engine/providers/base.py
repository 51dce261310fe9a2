"""What every local action provider gets and returns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from palxfel_globus.engine.clock import Clock
from palxfel_globus.engine.faults import Faults
from palxfel_globus.engine.providers.local_state import LocalState


class ProviderError(Exception):
    """The action could not be started (bad parameters, unknown collection): ActionUnableToRun."""


@dataclass
class ActionContext:
    run_id: str
    state_name: str
    faults: Faults
    deadline: Optional[float]  # clock time by which the action must finish (WaitTime)
    record: Callable[[str, dict[str, Any]], None]  # side records: notifications, permissions
    clock: Clock = field(default_factory=Clock)  # the engine's: a provider that takes time sleeps on it
    answer: Callable[[], Any] = lambda: None  # the next --web-input answer, None when there is none


@dataclass
class LogEntry:
    """A run-log entry an action adds beside its result (a Compute task's printed output)."""

    code: str
    description: str
    details: dict[str, Any]


@dataclass
class ActionResult:
    status: str  # SUCCEEDED or FAILED
    details: dict[str, Any]
    label: Optional[str] = None
    log: list[LogEntry] = field(default_factory=list)


Provider = Callable[[dict[str, Any], ActionContext], ActionResult]


def new_id() -> str:
    return str(uuid.uuid4())


def require(body: dict[str, Any], *keys: str) -> list[Any]:
    """The first present spelling of each parameter (old and new names), or ProviderError."""
    values = []
    for key in keys:
        names = key.split("|")
        for name in names:
            if name in body:
                values.append(body[name])
                break
        else:
            raise ProviderError(f"the parameter {names[0]!r} is required")
    return values


def check_parameters(
    body: dict[str, Any], provider: str, allowed: set[str], renamed: Optional[dict[str, str]] = None
) -> None:
    """Refuse a parameter the action provider does not define, as its input schema does, naming a
    documented rename (a flow written for the old spelling fails in Globus too)."""
    for key in body:
        if renamed and key in renamed:
            raise ProviderError(f"{provider} has no parameter {key!r}: it was renamed {renamed[key]!r}")
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise ProviderError(f"{provider} has no parameter {key!r} (it takes {known})")


CREATED_GUESTS = "guest_collections"  # the local state's kind for guest collections flows created


@dataclass
class Collections:
    """Collection UUID -> local directory; ``/`` and ``/~/`` of a collection are that directory.
    ``guests`` are guest collections (collection_info says so; they hold access rules), the rest
    mapped collections; ``state`` keeps the access rules."""

    directories: dict[str, Path] = field(default_factory=dict)
    guests: set[str] = field(default_factory=set)
    state: LocalState = field(default_factory=LocalState)

    def is_guest(self, collection_id: Any) -> bool:
        return str(collection_id).lower() in self.guests

    def __post_init__(self) -> None:
        """Guest collections a flow created (create_guest_collection) are collections from then on."""
        for key in self.state.keys(CREATED_GUESTS):
            created = self.state.read(CREATED_GUESTS, key)
            if created.get("local_path"):
                self.directories.setdefault(key, Path(created["local_path"]))
                self.guests.add(key)

    def add_guest(self, collection_id: str, directory: Path, document: dict[str, Any]) -> None:
        with self.state.changing(CREATED_GUESTS, collection_id) as kept:
            kept.update(document, local_path=str(directory))
        self.directories[collection_id] = directory
        self.guests.add(collection_id)

    def root(self, collection_id: Any) -> Path:
        try:
            return self.directories[str(collection_id).lower()]
        except KeyError:
            raise ProviderError(
                f"the collection {collection_id} has no local directory; map it with --collection "
                f"{collection_id}=DIR or [local] collections"
            ) from None

    def resolve(self, collection_id: Any, path: Any) -> Path:
        """The local path of a collection path; refuses ``..`` and links that leave the collection."""
        root = self.root(collection_id)
        if not isinstance(path, str) or not path.startswith("/"):
            raise ProviderError(f"{path!r} is not an absolute collection path")
        relative = path[3:] if path.startswith("/~/") or path == "/~" else path[1:]
        parts = [part for part in relative.split("/") if part]
        if any(part in (".", "..") or "\x00" in part for part in parts):
            raise ProviderError(f"refusing the collection path {path!r}: it has '.' or '..' components")
        local = root.joinpath(*parts)
        real_root = root.resolve()
        real = local.resolve()
        if real != real_root and real_root not in real.parents:
            raise ProviderError(f"refusing {path!r}: it leads outside the collection through a link")
        return local
