"""Carry out a deletion plan, one digest at a time, and say what happened to each.

Right before each DELETE the tags the user picked are fetched again: a tag
pushed to another image since the preview is skipped rather than deleting the
image the user never saw. The manifest fetched for that check also proves the
digest is a manifest of the repository, so a config or layer digest is never
sent. An item counts as deleted only when the registry answered the DELETE
with success.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

from core import errors
from core.client import RegistryClient
from core.images import Manifest
from core.plan import PlanItem

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    DELETED = "deleted"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class DeleteResult:
    item: PlanItem
    outcome: Outcome
    message: str
    error: errors.RegsweepError | None = None


class TagMovedError(errors.RegsweepError):
    hint = "Refresh and try again."


# Called with the item and its freshly fetched manifest right before the DELETE;
# raising stops that item (the journal uses this to record first).
BeforeDelete = Callable[[PlanItem, Manifest], None]
# Called with each result as soon as it is known, from a worker thread.
OnResult = Callable[[DeleteResult], None]


def run_plan(
    client: RegistryClient,
    items: Sequence[PlanItem],
    *,
    workers: int = 4,
    cancel: threading.Event | None = None,
    before_delete: BeforeDelete | None = None,
    on_result: OnResult | None = None,
) -> list[DeleteResult]:
    """Delete each item; return the results in the order of ``items``.

    Cancelling stops items that have not started; those under way finish
    (a DELETE already sent cannot be taken back) and report what happened."""
    cancel = cancel or threading.Event()

    def work(item: PlanItem) -> DeleteResult:
        result = _delete_one(client, item, cancel, before_delete)
        log.info("%s %s: %s", result.outcome, item.reference, result.message)
        if on_result is not None:
            on_result(result)
        return result

    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="delete") as pool:
        return list(pool.map(work, items))


def _delete_one(
    client: RegistryClient,
    item: PlanItem,
    cancel: threading.Event,
    before_delete: BeforeDelete | None,
) -> DeleteResult:
    if cancel.is_set():
        return DeleteResult(item, Outcome.CANCELLED, "Cancelled before it started.")
    try:
        manifest = _recheck(client, item, cancel)
        if before_delete is not None:
            before_delete(item, manifest)
        client.delete_manifest(item.repository, item.digest, verified=True)
    except TagMovedError as exc:
        return DeleteResult(item, Outcome.SKIPPED, str(exc), exc)
    except errors.CancelledError:
        return DeleteResult(item, Outcome.CANCELLED, "Cancelled before it started.")
    except errors.RegsweepError as exc:
        return DeleteResult(item, Outcome.FAILED, str(exc), exc)
    return DeleteResult(item, Outcome.DELETED, _deleted_message(item))


def _recheck(
    client: RegistryClient, item: PlanItem, cancel: threading.Event
) -> Manifest:
    """Fetch the manifest again through a tag the user picked (or by digest),
    and refuse if any picked tag now points elsewhere."""
    tags = item.requested_tags
    if not tags:
        return client.verify_manifest(item.repository, item.digest, cancel)
    manifest = client.get_manifest(item.repository, tags[0], cancel, retry=False)
    _check_same(item, tags[0], manifest.digest)
    for tag in tags[1:]:
        _check_same(item, tag, client.resolve(item.repository, tag, cancel).digest)
    return manifest


def _check_same(item: PlanItem, tag: str, digest: str) -> None:
    if digest != item.digest:
        raise TagMovedError(
            f"Skipped {item.repository}:{tag}: the tag moved to another image "
            "since the preview."
        )


def _deleted_message(item: PlanItem) -> str:
    if not item.tags:
        return "Deleted (it had no tags)."
    return "Deleted; tags removed: " + ", ".join(item.tags) + "."
