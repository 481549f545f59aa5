"""Put a deleted image back from the journal, as long as garbage collection has
not removed its blobs.

The saved bytes are PUT by digest (an index's children first), then under each
tag it had. A tag that has since been pushed to another image is left alone:
a restore never moves a tag away from an image someone pushed after the
deletion.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from core import errors
from core.client import RegistryClient
from core.journal import Journal, JournalEntry, SavedManifest

log = logging.getLogger(__name__)


@dataclass
class RestoreResult:
    entry_id: str
    restored_tags: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "tag: why"
    gone_for_good: bool = False
    missing_blob: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return not self.gone_for_good and not self.skipped


def restore_entry(
    client: RegistryClient,
    entry: JournalEntry,
    journal: Journal | None = None,
    cancel: threading.Event | None = None,
) -> RestoreResult:
    """Restore one journal entry; record the attempt in ``journal``."""
    result = RestoreResult(entry.id)
    try:
        _restore(client, entry, result, cancel)
    except errors.BlobNotFoundError as exc:
        result.gone_for_good = True
        result.missing_blob = exc.blob
        result.message = (
            f"{entry.repository}@{entry.digest} is gone for good: garbage collection "
            f"has removed its blob {exc.blob or '(unnamed)'}. Push the image again "
            "from its source."
        )
    else:
        result.message = _summary(entry, result)
    if journal is not None:
        outcome = (
            "restored" if result.ok else "gone" if result.gone_for_good else "partial"
        )
        journal.record_restore(entry.id, outcome, result.message)
    log.info("restore of %s: %s", entry.id, result.message)
    return result


def _restore(
    client: RegistryClient,
    entry: JournalEntry,
    result: RestoreResult,
    cancel: threading.Event | None,
) -> None:
    for child in entry.children:
        _put_by_digest(client, entry.repository, child, cancel)
    _put_by_digest(client, entry.repository, entry.manifest, cancel)
    tags = entry.untagged if entry.action == "untag" else entry.tags
    for tag in tags:
        why = _tag_taken(client, entry, tag, cancel)
        if why:
            result.skipped.append(f"{tag}: {why}")
            continue
        raw, media_type = entry.manifest.raw, entry.manifest.media_type
        client.put_manifest(entry.repository, tag, raw, media_type, cancel)
        result.restored_tags.append(tag)


def _put_by_digest(
    client: RegistryClient,
    repository: str,
    saved: SavedManifest,
    cancel: threading.Event | None,
) -> None:
    digest = client.put_manifest(
        repository, saved.digest, saved.raw, saved.media_type, cancel
    )
    if digest != saved.digest:
        raise errors.ProtocolError(
            f"The registry stored the restored manifest as {digest}, not "
            f"{saved.digest}."
        )


def _tag_taken(
    client: RegistryClient,
    entry: JournalEntry,
    tag: str,
    cancel: threading.Event | None,
) -> str:
    try:
        current = client.resolve(entry.repository, tag, cancel).digest
    except errors.ManifestNotFoundError:
        return ""
    if current == entry.digest:
        return ""
    return f"now points at another image ({current[:19]}...); left as it is"


def _summary(entry: JournalEntry, result: RestoreResult) -> str:
    text = f"Restored {entry.repository}@{entry.digest}"
    if result.restored_tags:
        text += " with tags " + ", ".join(result.restored_tags)
    text += "."
    if result.skipped:
        text += " Not restored: " + "; ".join(result.skipped) + "."
    return text
