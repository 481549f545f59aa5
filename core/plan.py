"""What a deletion will remove, worked out before anything is sent.

Deleting is always by manifest digest, and a digest takes every tag on it with
it. So a plan turns the references a user picked into digests and lists, for
each, every tag of the repository that points at it, marking the ones the user
did not pick. Nothing here deletes anything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from core import errors
from core.client import RegistryClient, group_by_digest
from core.images import INDEX_TYPES, ManifestHead, kind_of
from core.reference import ImageRef

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanItem:
    """One digest to delete and everything that goes with it."""

    repository: str
    digest: str
    media_type: str
    requested: tuple[str, ...]  # what the user named: tags, or the digest itself
    tags: tuple[str, ...]  # every tag on the digest when the plan was made
    platforms: tuple[str, ...] = ()
    untag_only: bool = False  # remove only the requested tags, keep the image
    warnings: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return kind_of(self.media_type)

    @property
    def requested_tags(self) -> tuple[str, ...]:
        return tuple(ref for ref in self.requested if ref in self.tags)

    @property
    def also_removed(self) -> tuple[str, ...]:
        """Tags that disappear although the user did not name them."""
        if self.digest in self.requested or self.untag_only:
            return ()
        return tuple(tag for tag in self.tags if tag not in self.requested)

    @property
    def reference(self) -> str:
        return f"{self.repository}@{self.digest}"


@dataclass(frozen=True)
class PlanProblem:
    """A reference that cannot be deleted, and why."""

    reference: str
    error: errors.RegsweepError


@dataclass
class DeletionPlan:
    items: list[PlanItem] = field(default_factory=list)
    problems: list[PlanProblem] = field(default_factory=list)

    @property
    def tag_count(self) -> int:
        return sum(len(item.tags) for item in self.items)

    def untag_shared(self) -> None:
        """Where a digest has tags the user did not pick, remove only the
        picked tags instead of the image (the CLI's ``--untag-only``)."""
        self.items = [
            replace(item, untag_only=True) if item.also_removed else item
            for item in self.items
        ]


def build_plan(
    client: RegistryClient,
    refs: Sequence[ImageRef],
    *,
    cancel: threading.Event | None = None,
    known: dict[str, dict[str, ManifestHead]] | None = None,
) -> DeletionPlan:
    """Turn references into a plan. ``known`` may give, per repository, the
    tag -> head map the caller already has (the GUI's table); otherwise every
    tag of each repository involved is resolved, so no shared tag is missed."""
    plan = DeletionPlan()
    for repository in dict.fromkeys(ref.repository for ref in refs):
        wanted = [ref for ref in refs if ref.repository == repository]
        try:
            heads = (known or {}).get(repository)
            if heads is None:
                heads = client.resolve_all(repository, cancel=cancel)
        except errors.CancelledError:
            raise
        except errors.RegsweepError as exc:
            plan.problems.extend(PlanProblem(str(ref), exc) for ref in wanted)
            continue
        _plan_repository(client, repository, wanted, heads, plan, cancel)
    log.info(
        "planned %d digest(s), %d tag(s), %d problem(s)",
        len(plan.items),
        plan.tag_count,
        len(plan.problems),
    )
    return plan


def _plan_repository(
    client: RegistryClient,
    repository: str,
    refs: Iterable[ImageRef],
    heads: dict[str, ManifestHead],
    plan: DeletionPlan,
    cancel: threading.Event | None,
) -> None:
    by_digest = group_by_digest(heads)
    requested: dict[str, list[str]] = {}
    media_types: dict[str, str] = {}
    for ref in refs:
        try:
            head = _head_for(client, ref, heads, cancel)
        except errors.CancelledError:
            raise
        except errors.RegsweepError as exc:
            plan.problems.append(PlanProblem(str(ref), exc))
            continue
        requested.setdefault(head.digest, []).append(ref.reference)
        media_types[head.digest] = head.media_type
    parents = _index_parents(client, repository, heads, requested, cancel)
    for digest, names in requested.items():
        media_type = media_types[digest]
        platforms: tuple[str, ...] = ()
        if media_type in INDEX_TYPES:
            platforms = client.details(repository, digest, cancel).platforms
        warnings = tuple(
            f"It is the {platform} image of multi-platform {parent}; deleting it "
            "breaks that image for every platform's pull of it."
            for parent, platform in parents.get(digest, [])
        )
        plan.items.append(
            PlanItem(
                repository=repository,
                digest=digest,
                media_type=media_type,
                requested=tuple(dict.fromkeys(names)),
                tags=tuple(by_digest.get(digest, [])),
                platforms=platforms,
                warnings=warnings,
            )
        )


def _index_parents(
    client: RegistryClient,
    repository: str,
    heads: dict[str, ManifestHead],
    requested: dict[str, list[str]],
    cancel: threading.Event | None,
) -> dict[str, list[tuple[str, str]]]:
    """For requested digests that are platform images of a tagged index of the
    repository: (index reference, platform) pairs. Only digests the user named
    directly can be such children; tags always point at the index itself."""
    found: dict[str, list[tuple[str, str]]] = {}
    indexes = {h.digest: tag for tag, h in heads.items() if h.media_type in INDEX_TYPES}
    if not indexes or not any(d not in group_by_digest(heads) for d in requested):
        return found
    for index_digest, tag in indexes.items():
        details = client.details(repository, index_digest, cancel)
        for child in details.children:
            if child.digest in requested:
                platform = ", ".join(child.platforms) or "unknown platform"
                found.setdefault(child.digest, []).append(
                    (f"{repository}:{tag}", platform)
                )
    return found


def _head_for(
    client: RegistryClient,
    ref: ImageRef,
    heads: dict[str, ManifestHead],
    cancel: threading.Event | None,
) -> ManifestHead:
    if ref.digest is not None:
        manifest = client.verify_manifest(ref.repository, ref.digest, cancel)
        return ManifestHead(manifest.digest, manifest.media_type, len(manifest.raw))
    head = heads.get(ref.tag or "")
    if head is None:
        raise errors.ManifestNotFoundError(
            f"{ref} does not exist.", "Check the tag name; tags are case-sensitive."
        )
    return head
