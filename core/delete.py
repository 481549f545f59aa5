"""Carry out a deletion plan, one digest at a time, and say what happened to each.

Right before each DELETE the tags the user picked are fetched again: a tag
pushed to another image since the preview is skipped rather than deleting the
image the user never saw. With ``recheck_all_tags`` every tag of each
repository is resolved once more before the first DELETE, so a digest that has
gained a tag the preview did not show is skipped too. The manifest fetched for
the check also proves the digest is a manifest of the repository, so a config
or layer digest is never sent, and it is what the journal saves for a restore.
An item counts as deleted only when the registry answered the DELETE with
success.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

from core import errors
from core.client import RegistryClient, group_by_digest
from core.images import INDEX_TYPES, Manifest
from core.journal import Journal, SavedManifest
from core.plan import PlanItem
from core.untag import check_untag_rights, remove_tag

log = logging.getLogger(__name__)

GC_NOTE = (
    "Deleting frees no disk space by itself: the registry's garbage collection "
    "does, run while the registry is stopped or read-only:\n"
    "  registry garbage-collect /etc/docker/registry/config.yml\n"
    "On registry 2.x do not add --delete-untagged: it also deletes the "
    "platform images of multi-platform images that are still tagged."
)


class Outcome(StrEnum):
    DELETED = "deleted"
    UNTAGGED = "untagged"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class DeleteResult:
    item: PlanItem
    outcome: Outcome
    message: str
    error: errors.RegsweepError | None = None
    journal_id: str | None = None

    @property
    def done(self) -> bool:
        return self.outcome in (Outcome.DELETED, Outcome.UNTAGGED)


class SkippedError(errors.RegsweepError):
    """The registry changed since the preview; the item was left alone."""

    hint = "Refresh and try again."


# Called with each result as soon as it is known, from a worker thread.
OnResult = Callable[[DeleteResult], None]


@dataclass(frozen=True)
class _Context:
    client: RegistryClient
    cancel: threading.Event
    journal: Journal | None
    profile: str
    current_tags: dict[str, dict[str, list[str]]] | None  # repo -> digest -> tags
    untag_refused: dict[str, errors.RegsweepError]  # repo -> why untagging cannot work


def run_plan(
    client: RegistryClient,
    items: Sequence[PlanItem],
    *,
    workers: int = 4,
    cancel: threading.Event | None = None,
    journal: Journal | None = None,
    profile: str = "",
    recheck_all_tags: bool = True,
    on_result: OnResult | None = None,
) -> list[DeleteResult]:
    """Delete (or untag) each item; return the results in the order of ``items``.

    ``recheck_all_tags`` may be turned off only when the plan's tag map was
    made moments ago in the same run (the CLI with ``--yes``), since then it
    already is the re-check. Cancelling stops items that have not started;
    those under way finish and report what happened."""
    cancel = cancel or threading.Event()
    try:
        current = _current_tags(client, items, cancel) if recheck_all_tags else None
        refused = _untag_preflight(client, items, cancel)
    except errors.CancelledError:
        return [_cancelled(item) for item in items]
    context = _Context(client, cancel, journal, profile, current, refused)

    def work(item: PlanItem) -> DeleteResult:
        result = _run_item(context, item)
        log.info("%s %s: %s", result.outcome, item.reference, result.message)
        if on_result is not None:
            on_result(result)
        return result

    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="delete") as pool:
        return list(pool.map(work, items))


def _current_tags(
    client: RegistryClient, items: Sequence[PlanItem], cancel: threading.Event
) -> dict[str, dict[str, list[str]]]:
    repositories = dict.fromkeys(item.repository for item in items)
    return {
        repo: group_by_digest(client.resolve_all(repo, cancel=cancel))
        for repo in repositories
    }


def _untag_preflight(
    client: RegistryClient, items: Sequence[PlanItem], cancel: threading.Event
) -> dict[str, errors.RegsweepError]:
    refused: dict[str, errors.RegsweepError] = {}
    for repo in dict.fromkeys(i.repository for i in items if i.untag_only):
        try:
            check_untag_rights(client, repo, cancel)
        except errors.CancelledError:
            raise
        except errors.RegsweepError as exc:
            refused[repo] = exc
    return refused


def _run_item(context: _Context, item: PlanItem) -> DeleteResult:
    if context.cancel.is_set():
        return _cancelled(item)
    try:
        manifest = _recheck(context, item)
        if item.untag_only:
            return _untag(context, item, manifest)
        return _delete(context, item, manifest)
    except SkippedError as exc:
        return DeleteResult(item, Outcome.SKIPPED, str(exc), exc)
    except errors.CancelledError:
        return _cancelled(item)
    except errors.RegsweepError as exc:
        return DeleteResult(item, Outcome.FAILED, str(exc), exc)


def _cancelled(item: PlanItem) -> DeleteResult:
    return DeleteResult(item, Outcome.CANCELLED, "Cancelled before it started.")


def _recheck(context: _Context, item: PlanItem) -> Manifest:
    """Fetch the manifest again through a tag the user picked (or by digest),
    and refuse if a picked tag now points elsewhere or the digest has gained
    a tag the preview did not show."""
    client, cancel = context.client, context.cancel
    tags = item.requested_tags
    if tags:
        manifest = client.get_manifest(item.repository, tags[0], cancel, retry=False)
        _check_same(item, tags[0], manifest.digest)
        for tag in tags[1:]:
            _check_same(item, tag, client.resolve(item.repository, tag, cancel).digest)
    else:
        manifest = client.verify_manifest(item.repository, item.digest, cancel)
    if context.current_tags is not None:
        now = context.current_tags.get(item.repository, {}).get(item.digest, [])
        gained = sorted(set(now) - set(item.tags))
        if gained and not item.untag_only:
            raise SkippedError(
                f"Skipped {item.reference}: it has gained tag(s) "
                f"{', '.join(gained)} since the preview."
            )
    return manifest


def _check_same(item: PlanItem, tag: str, digest: str) -> None:
    if digest != item.digest:
        raise SkippedError(
            f"Skipped {item.repository}:{tag}: the tag moved to another image "
            "since the preview."
        )


def _delete(context: _Context, item: PlanItem, manifest: Manifest) -> DeleteResult:
    entry_id = _record_intent(context, item, manifest, "delete", ())
    try:
        context.client.delete_manifest(item.repository, item.digest, verified=True)
    except errors.TransportError as exc:
        message = (
            f"No answer from the registry to the DELETE of {item.reference}: it may "
            f"or may not be deleted; refresh to see. ({exc.message})"
        )
        return _finish(context, item, entry_id, Outcome.FAILED, message, exc)
    except errors.RegsweepError as exc:
        return _finish(context, item, entry_id, Outcome.FAILED, str(exc), exc)
    message = "Deleted; tags removed: " + (", ".join(item.tags) or "(none)") + "."
    if item.kind == "index":
        message += " Its platform images stay in the registry, untagged."
    return _finish(context, item, entry_id, Outcome.DELETED, message)


def _untag(context: _Context, item: PlanItem, manifest: Manifest) -> DeleteResult:
    refused = context.untag_refused.get(item.repository)
    if refused is not None:
        return DeleteResult(item, Outcome.FAILED, str(refused), refused)
    tags = item.requested_tags
    entry_id = _record_intent(context, item, manifest, "untag", tags)
    done: list[str] = []
    try:
        for tag in tags:
            remove_tag(
                context.client,
                item.repository,
                tag,
                item.digest,
                item.media_type,
                context.cancel,
            )
            done.append(tag)
    except errors.RegsweepError as exc:
        message = str(exc)
        if done:
            message = f"Removed {', '.join(done)}; then failed: {message}"
        return _finish(context, item, entry_id, Outcome.FAILED, message, exc)
    kept = [t for t in item.tags if t not in tags]
    message = f"Removed tag(s) {', '.join(tags)}; the image stays"
    message += f" with {', '.join(kept)}." if kept else "."
    return _finish(context, item, entry_id, Outcome.UNTAGGED, message)


def _record_intent(
    context: _Context,
    item: PlanItem,
    manifest: Manifest,
    action: str,
    untagged: Sequence[str],
) -> str | None:
    if context.journal is None:
        return None
    children = []
    if manifest.media_type in INDEX_TYPES and action == "delete":
        children = [
            _saved(context.client.get_manifest(item.repository, child.digest))
            for child in manifest.children()
        ]
    return context.journal.record_intent(
        registry=context.client.base_url,
        profile=context.profile,
        repository=item.repository,
        manifest=_saved(manifest),
        tags=item.tags,
        children=children,
        action=action,
        untagged=untagged,
    )


def _saved(manifest: Manifest) -> SavedManifest:
    text = manifest.raw.decode("utf-8", errors="surrogateescape")
    return SavedManifest(manifest.digest, manifest.media_type, text)


def _finish(
    context: _Context,
    item: PlanItem,
    entry_id: str | None,
    outcome: Outcome,
    message: str,
    error: errors.RegsweepError | None = None,
) -> DeleteResult:
    if context.journal is not None and entry_id is not None:
        context.journal.record_outcome(entry_id, str(outcome), message)
    return DeleteResult(item, outcome, message, error, entry_id)
