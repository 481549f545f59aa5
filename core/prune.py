"""Rules against a live registry: read what it holds, then carry out a plan.

:func:`collect` lists the repositories the rules cover and reads every tag's
manifest and each digest's details once, on a thread pool;
:func:`core.verdicts.evaluate` turns that into a plan; :func:`apply_plan` runs
the plan through the same re-checks, journal and per-item results as a manual
delete.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from core import errors
from core.client import RegistryClient
from core.delete import DeleteResult, OnResult, Outcome, SkippedError, run_plan
from core.images import ImageDetails
from core.journal import Journal
from core.plan import PlanItem
from core.reference import check_name
from core.rules import Rules
from core.verdicts import Inventory, RulesPlan, TagFacts

log = logging.getLogger(__name__)


class CatalogRefusedError(errors.RegistryError):
    """The registry will not list its repositories to this login."""

    hint = "Name the repositories to clean up instead (--repository NAME)."


@dataclass(frozen=True)
class CollectProgress:
    """Sent as each repository has been read."""

    repository: str
    done: int
    total: int
    tags: int  # tags read so far, all repositories


OnProgress = Callable[[CollectProgress], None]


def repositories_in_scope(
    client: RegistryClient,
    rules: Rules,
    names: Sequence[str] | None = None,
    cancel: threading.Event | None = None,
) -> list[str]:
    """``names`` (checked), or the catalog, filtered by the repository patterns."""
    if names:
        found = [check_name(name) for name in dict.fromkeys(names)]
    else:
        try:
            found = client.catalog(cancel=cancel)
        except (errors.PermissionDeniedError, errors.NotFoundError) as exc:
            raise CatalogRefusedError(
                f"The registry refuses to list its repositories ({exc.message})",
                status=exc.status,
                code=exc.code,
            ) from None
    return [name for name in found if rules.matches_repository(name)]


def collect(
    client: RegistryClient,
    rules: Rules,
    *,
    repositories: Sequence[str] | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
    progress: OnProgress | None = None,
) -> Inventory:
    """Facts about every tag of the repositories in scope.

    Each tag costs one GET of its manifest, which gives its digest and body at
    once; the details of each digest are then read once (its config, and for
    an index its platform images). Tag lists are read in turn while a thread
    pool works through the tags found so far. A repository that cannot be
    read fully is left out and named in ``problems``: rules must never judge
    half a repository."""
    names = repositories_in_scope(client, rules, repositories, cancel)
    reader = _Reader(client, cancel)
    pool = ThreadPoolExecutor(workers or client.config.workers, "collect")
    problems: dict[str, str] = {}
    found: dict[str, dict[str, TagFacts]] = {}
    try:
        queued = [(name, reader.submit(pool, name, problems)) for name in names]
        read = 0
        for done, (name, futures) in enumerate(queued, 1):
            facts = reader.facts(name, futures, problems)
            if facts is not None:
                found[name] = facts
                read += len(facts)
            if progress is not None:
                progress(CollectProgress(name, done, len(names), read))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    log.info("read %d repositories, %d problem(s)", len(found), len(problems))
    return Inventory(found, problems)


def apply_plan(
    client: RegistryClient,
    plan: RulesPlan,
    *,
    workers: int = 4,
    cancel: threading.Event | None = None,
    journal: Journal | None = None,
    profile: str = "",
    on_result: OnResult | None = None,
) -> list[DeleteResult]:
    """Carry out a plan with every re-check on. Tagged platform images of a
    multi-platform image go in a second round, and only once that image has
    been deleted: deleting them first would break it if its own DELETE failed."""
    cancel = cancel or threading.Event()
    items = plan.to_plan_items()
    first = [item for item in items if item.reference not in plan.after]
    later = [item for item in items if item.reference in plan.after]

    def run(batch: list[PlanItem]) -> list[DeleteResult]:
        if not batch:
            return []
        return run_plan(
            client,
            batch,
            workers=workers,
            cancel=cancel,
            journal=journal,
            profile=profile,
            recheck_all_tags=True,
            on_result=on_result,
        )

    results = run(first)
    deleted = {r.item.reference for r in results if r.outcome is Outcome.DELETED}
    ready = [i for i in later if set(plan.after[i.reference]) <= deleted]
    held = [_held(i, plan.after[i.reference]) for i in later if i not in ready]
    for result in held:
        if on_result is not None:
            on_result(result)
    results += run(ready) + held
    order = {item.reference: n for n, item in enumerate(items)}
    return sorted(results, key=lambda r: order[r.item.reference])


# --- helpers -----------------------------------------------------------------------


class _Reader:
    """Reads tags for :func:`collect`, from the thread pool."""

    def __init__(self, client: RegistryClient, cancel: threading.Event | None) -> None:
        self.client, self.cancel = client, cancel
        self.details: dict[tuple[str, str], ImageDetails] = {}
        self._claimed: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def submit(
        self, pool: ThreadPoolExecutor, name: str, problems: dict[str, str]
    ) -> list[Future[tuple[str, str] | None]]:
        try:
            tags = self.client.tags(name, self.cancel)
        except errors.CancelledError:
            raise
        except errors.RegsweepError as exc:
            problems[name] = f"Its tags could not be read: {exc}"
            return []
        return [pool.submit(self.read_tag, name, tag) for tag in tags]

    def read_tag(self, name: str, tag: str) -> tuple[str, str] | None:
        """(tag, digest), reading the digest's details if no other tag has;
        None for a tag deleted meanwhile."""
        try:
            manifest = self.client.get_manifest(name, tag, self.cancel)
        except errors.ManifestNotFoundError:
            return None
        key = (name, manifest.digest)
        with self._lock:
            first = key not in self._claimed
            self._claimed.add(key)
        if first:
            self.details[key] = self.client.details_of(name, manifest, self.cancel)
        return tag, manifest.digest

    def facts(
        self,
        name: str,
        futures: list[Future[tuple[str, str] | None]],
        problems: dict[str, str],
    ) -> dict[str, TagFacts] | None:
        if name in problems:
            return None
        pairs = []
        for future in futures:
            try:
                found = future.result()
            except errors.CancelledError:
                raise
            except errors.RegsweepError as exc:
                problems[name] = f"It could not be read fully: {exc}"
                return None
            if found is not None:
                pairs.append(found)
        return {tag: _tag_facts(self.details[name, digest]) for tag, digest in pairs}


def _tag_facts(details: ImageDetails) -> TagFacts:
    return TagFacts(
        digest=details.digest,
        media_type=details.media_type,
        created=details.created,
        size=details.size,
        blobs=details.blobs,
        platforms=details.platforms,
        children=tuple(child.digest for child in details.children),
    )


def _held(item: PlanItem, parents: tuple[str, ...]) -> DeleteResult:
    error = SkippedError(
        f"Skipped {item.reference}: it is a platform image of {', '.join(parents)}, "
        "which was not deleted; deleting it would break that image."
    )
    return DeleteResult(item, Outcome.SKIPPED, str(error), error)
