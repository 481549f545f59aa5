"""The deletion journal: what was deleted, with what a restore needs.

One JSON object per line, appended and flushed to disk before each DELETE is
sent (``intent``), then again once the registry has answered (``outcome``). A
crash between the two leaves an intent without an outcome, shown as
"interrupted": the journal never claims a deletion the registry did not
confirm, and never loses the bytes of one it did. Manifests are stored as the
exact text the registry sent, so putting them back gives the same digest.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs

from core.logs import APP_NAME

log = logging.getLogger(__name__)

SCHEMA = 1
INTERRUPTED = "interrupted"


def journal_path() -> Path:
    override = os.environ.get("REGSWEEP_DATA_DIR")
    base = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME))
    return base / "journal.jsonl"


@dataclass(frozen=True)
class SavedManifest:
    digest: str
    media_type: str
    text: str = field(repr=False)  # the raw bytes, decoded as UTF-8

    @property
    def raw(self) -> bytes:
        return self.text.encode("utf-8", errors="surrogateescape")


@dataclass
class JournalEntry:
    """One deletion (or untagging) and, once known, what happened to it."""

    id: str
    time: str
    action: str  # "delete" or "untag"
    registry: str
    profile: str
    repository: str
    digest: str
    media_type: str
    tags: list[str]
    manifest: SavedManifest
    children: list[SavedManifest] = field(default_factory=list)
    untagged: list[str] = field(default_factory=list)
    outcome: str = INTERRUPTED
    message: str = ""
    restores: list[dict[str, str]] = field(default_factory=list)

    def summary_row(self) -> dict[str, str]:
        return {
            "id": self.id,
            "time": self.time,
            "action": self.action,
            "registry": self.registry,
            "profile": self.profile,
            "repository": self.repository,
            "digest": self.digest,
            "media_type": self.media_type,
            "tags": " ".join(self.tags),
            "untagged": " ".join(self.untagged),
            "outcome": self.outcome,
            "message": self.message,
            "restored": self.restores[-1]["outcome"] if self.restores else "",
        }


class Journal:
    """Append-only, thread-safe. Each write is flushed and fsynced."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or journal_path()
        self._lock = threading.Lock()

    # --- writing ------------------------------------------------------------

    def record_intent(
        self,
        *,
        registry: str,
        profile: str,
        repository: str,
        manifest: SavedManifest,
        tags: Iterable[str],
        children: Iterable[SavedManifest] = (),
        action: str = "delete",
        untagged: Iterable[str] = (),
    ) -> str:
        """Write what is about to be deleted; return the entry id."""
        entry_id = uuid.uuid4().hex[:12]
        self._append(
            {
                "type": "intent",
                "id": entry_id,
                "time": _now(),
                "action": action,
                "registry": registry,
                "profile": profile,
                "repository": repository,
                "digest": manifest.digest,
                "media_type": manifest.media_type,
                "tags": sorted(tags),
                "untagged": sorted(untagged),
                "manifest": asdict(manifest),
                "children": [asdict(c) for c in children],
            }
        )
        return entry_id

    def record_outcome(self, entry_id: str, outcome: str, message: str) -> None:
        self._append(
            {
                "type": "outcome",
                "id": entry_id,
                "time": _now(),
                "outcome": outcome,
                "message": message,
            }
        )

    def record_restore(self, entry_id: str, outcome: str, message: str) -> None:
        self._append(
            {
                "type": "restore",
                "id": entry_id,
                "time": _now(),
                "outcome": outcome,
                "message": message,
            }
        )

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps({"schema": SCHEMA, **record}) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, _after_torn_line(fd) + line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)

    # --- reading ------------------------------------------------------------

    def entries(self) -> list[JournalEntry]:
        """Every entry, newest first."""
        found: dict[str, JournalEntry] = {}
        for record in self._records():
            _apply(found, record)
        # Records are appended as things happen: file order is time order.
        return list(reversed(found.values()))

    def get(self, entry_id: str) -> JournalEntry | None:
        return next((e for e in self.entries() if e.id == entry_id), None)

    def find_deleted(
        self, registry: str, repository: str, reference: str
    ) -> JournalEntry | None:
        """The newest confirmed deletion that took ``reference`` (a tag or
        digest) with it, so a rerun can say "already deleted" instead of
        "not found"."""
        for entry in self.entries():
            if (entry.registry, entry.repository) != (registry, repository):
                continue
            if entry.outcome == "deleted" and reference in (*entry.tags, entry.digest):
                return entry
            if entry.outcome == "untagged" and reference in entry.untagged:
                return entry
        return None

    def _records(self) -> Iterator[dict[str, Any]]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                # Only a crash mid-write leaves such a line; the rest is intact.
                log.warning("journal line %d is incomplete and was skipped", number)
                continue
            if isinstance(record, dict):
                yield record


def filter_entries(
    entries: Iterable[JournalEntry],
    *,
    text: str = "",
    repository: str | None = None,
    outcome: str | None = None,
) -> list[JournalEntry]:
    needle = text.lower()
    return [
        e
        for e in entries
        if (repository is None or e.repository == repository)
        and (outcome is None or e.outcome == outcome)
        and (not needle or needle in " ".join(e.summary_row().values()).lower())
    ]


def export_csv(entries: Iterable[JournalEntry]) -> str:
    rows = [e.summary_row() for e in entries]
    out = io.StringIO()
    fields = list(rows[0]) if rows else list(_EMPTY_ROW)
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def export_json(entries: Iterable[JournalEntry]) -> str:
    return json.dumps([e.summary_row() for e in entries], indent=2)


_EMPTY_ROW = JournalEntry(
    "", "", "", "", "", "", "", "", [], SavedManifest("", "", "")
).summary_row()


def _apply(found: dict[str, JournalEntry], record: dict[str, Any]) -> None:
    kind, entry_id = record.get("type"), str(record.get("id", ""))
    if kind == "intent":
        try:
            found[entry_id] = _entry_from(record)
        except (KeyError, TypeError):
            log.warning("journal entry %s is malformed and was skipped", entry_id)
        return
    entry = found.get(entry_id)
    if entry is None:
        return
    if kind == "outcome":
        entry.outcome = str(record.get("outcome", ""))
        entry.message = str(record.get("message", ""))
    elif kind == "restore":
        entry.restores.append(
            {
                "time": str(record.get("time", "")),
                "outcome": str(record.get("outcome", "")),
                "message": str(record.get("message", "")),
            }
        )


def _entry_from(record: dict[str, Any]) -> JournalEntry:
    return JournalEntry(
        id=str(record["id"]),
        time=str(record.get("time", "")),
        action=str(record.get("action", "delete")),
        registry=str(record.get("registry", "")),
        profile=str(record.get("profile", "")),
        repository=str(record.get("repository", "")),
        digest=str(record.get("digest", "")),
        media_type=str(record.get("media_type", "")),
        tags=[str(t) for t in record.get("tags", [])],
        manifest=SavedManifest(**record["manifest"]),
        children=[SavedManifest(**c) for c in record.get("children", [])],
        untagged=[str(t) for t in record.get("untagged", [])],
    )


def _after_torn_line(fd: int) -> bytes:
    """A newline if a crash left the last line unfinished, so the next record
    starts on a line of its own instead of being glued to the torn one."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return b""
    return b"" if os.pread(fd, 1, size - 1) == b"\n" else b"\n"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
