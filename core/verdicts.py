"""Rules applied to what a registry holds: a verdict and a reason for every tag.

Pure: :func:`evaluate` reads facts gathered beforehand (:func:`core.prune.collect`)
and sends nothing, so tests can drive it with generated tag sets.

The unit is the image. That is a digest, or a multi-platform index together
with those of its platform images that carry tags of their own; every tag of a
unit shares its fate. A unit with a protected tag is kept whole. The others
that have a tag the patterns select are ranked, newest first, and the keep and
age rules decide. A deletable unit that also carries a tag the patterns leave
alone is never deleted by digest: its selected tags are removed on their own,
or it is kept, as the rules say.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from core.images import INDEX_TYPES, kind_of
from core.plan import PlanItem
from core.rules import Rules, describe_duration

Verdict = Literal["keep", "delete", "untag"]
VersionKey = tuple[tuple[int, int, str], ...]

# Reproducible builds set created to the epoch; far-future dates are as useless.
_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
_FUTURE_SLACK = timedelta(days=1)
_TOKEN_RE = re.compile(r"[0-9]+|[^0-9]+")
_BY_NAME = " by tag name (some images here have no usable created date)"


@dataclass(frozen=True)
class TagFacts:
    """What the rules need to know about the digest a tag points at."""

    digest: str
    media_type: str
    created: datetime | None
    size: int | None = None
    blobs: Mapping[str, int] = field(default_factory=dict, compare=False)
    platforms: tuple[str, ...] = ()
    children: tuple[str, ...] = ()  # platform image digests, for an index


@dataclass(frozen=True)
class Inventory:
    """Per repository, tag -> facts; and repositories that could not be read."""

    repositories: Mapping[str, Mapping[str, TagFacts]]
    problems: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TagVerdict:
    repository: str
    tag: str
    digest: str
    media_type: str
    verdict: Verdict
    reason: str
    created: datetime | None  # the image's date the rules used, if any
    date_source: str  # config, missing, implausible (...), tag name
    size: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "verdict": self.verdict,
            "reason": self.reason,
            "created": self.created.isoformat() if self.created else None,
            "date_source": self.date_source,
            "media_type": self.media_type,
            "kind": kind_of(self.media_type),
            "size": self.size,
        }


@dataclass(frozen=True)
class RepositoryTotals:
    repository: str
    tags: int
    kept: int
    deleted: int
    untagged: int
    images_deleted: int
    unreferenced_bytes: int  # blobs only deleted images referenced, in this repo
    sizes_known: bool  # False when a deleted image's blobs were unknown


@dataclass(frozen=True)
class RulesPlan:
    """Every tag's verdict, the totals, and the items for ``run_plan``."""

    rules: Rules
    now: datetime
    verdicts: tuple[TagVerdict, ...]
    totals: tuple[RepositoryTotals, ...]
    items: tuple[PlanItem, ...]
    # Platform image item -> the multi-platform items to delete before it.
    after: Mapping[str, tuple[str, ...]]
    unreferenced_bytes: int  # across repositories, each blob counted once
    problems: Mapping[str, str]

    def to_plan_items(self) -> list[PlanItem]:
        """Multi-platform images come before their platform images."""
        return list(self.items)

    @property
    def changes(self) -> tuple[TagVerdict, ...]:
        return tuple(v for v in self.verdicts if v.verdict != "keep")


def evaluate(rules: Rules, inventory: Inventory, now: datetime) -> RulesPlan:
    """Decide the fate of every tag in the repositories the rules cover."""
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    results = [
        _Repository(rules, now, name, tags).evaluate()
        for name, tags in sorted(inventory.repositories.items())
        if rules.matches_repository(name)
    ]
    items = [item for r in results for item in r.items if item.reference not in r.after]
    items += [item for r in results for item in r.items if item.reference in r.after]
    return RulesPlan(
        rules=rules,
        now=now,
        verdicts=tuple(v for r in results for v in r.verdicts),
        totals=tuple(r.totals for r in results),
        items=tuple(items),
        after={ref: parents for r in results for ref, parents in r.after.items()},
        unreferenced_bytes=_unreferenced(results),
        problems=dict(inventory.problems),
    )


def version_key(tag: str) -> VersionKey:
    """Sort key that orders tags the way versions go: ``v2 < v10``,
    ``1.0-rc1 < 1.0 < 1.0.1``. Unrelated names still get a fixed order."""
    text = tag[1:] if re.match(r"v[0-9]", tag) else tag
    parts: list[tuple[int, int, str]] = []
    for token in _TOKEN_RE.findall(text):
        if token.isdigit():
            parts.append((3, int(token), ""))
        elif token[0] in "-~" and any(c.isalpha() for c in token):
            parts.append((0, 0, token))  # a pre-release: before the release
        else:
            parts.append((2, 0, token))
    parts.append((1, 0, tag))  # the end, and a tie-break on the exact name
    return tuple(parts)


def usable_date(created: datetime | None, now: datetime) -> bool:
    return created is not None and _EARLIEST <= created <= now + _FUTURE_SLACK


def date_note(created: datetime | None, now: datetime) -> str:
    """Where an image's date comes from, in the words the plan shows."""
    if created is None:
        return "missing"
    if usable_date(created, now):
        return "config"
    future = ", in the future" if created > now else ""
    return f"implausible ({created.date().isoformat()}{future})"


# --- one repository ----------------------------------------------------------------


@dataclass(eq=False)
class _Unit:
    """One image: a digest, or an index with its tagged platform images."""

    digests: list[str]
    tags: dict[str, TagFacts]
    created: datetime | None = None  # the newest usable date, if any
    source: str = "missing"
    protected: dict[str, str] = field(default_factory=dict)  # tag -> pattern
    filtered: dict[str, str] = field(default_factory=dict)  # tag -> why
    candidates: list[str] = field(default_factory=list)
    name_key: VersionKey = ()


@dataclass
class _Outcome:
    """What one repository's evaluation produced."""

    verdicts: list[TagVerdict]
    items: list[PlanItem]
    after: dict[str, tuple[str, ...]]
    totals: RepositoryTotals
    deleted_blobs: dict[str, int]
    kept_blobs: set[str]


class _Repository:
    def __init__(
        self, rules: Rules, now: datetime, name: str, tags: Mapping[str, TagFacts]
    ) -> None:
        self.rules, self.now, self.name, self.tags = rules, now, name, tags
        max_age = rules.max_age
        self.cutoff = None if max_age is None else now - max_age
        self.by_digest = {facts.digest: facts for facts in tags.values()}
        self.by_name = False
        self.ranked: set[_Unit] = set()
        self.verdicts: dict[str, tuple[Verdict, str]] = {}
        self.unit_of: dict[str, _Unit] = {}

    def evaluate(self) -> _Outcome:
        units = [self._describe(u) for u in _units(self.tags)]
        ranked = []
        for unit in units:
            self.unit_of.update(dict.fromkeys(unit.tags, unit))
            if unit.protected:
                self._keep_protected(unit)
            elif not unit.candidates:
                self._keep_filtered(unit)
            elif unit.created is None and self.rules.undated == "keep":
                reason = f"kept: no usable created date ({_undated(unit.source)})"
                self._keep_selected(unit, reason)
            else:
                ranked.append(unit)
        self.by_name = any(u.created is None for u in ranked)
        self.ranked = set(ranked)
        for rank, unit in enumerate(self._order(ranked)):
            self._judge(unit, rank)
        return self._outcome(units)

    # --- facts ------------------------------------------------------------------

    def _describe(self, unit: _Unit) -> _Unit:
        dates = [f.created for f in unit.tags.values()]
        usable = [d for d in dates if d is not None and usable_date(d, self.now)]
        unit.created = max(usable) if usable else None
        if unit.created is not None:
            unit.source = "config"
        else:
            unit.source = date_note(next((d for d in dates if d), None), self.now)
        for tag in sorted(unit.tags):
            pattern = self.rules.protected_by(tag)
            excluded = self.rules.excluded_by(tag)
            if pattern is not None:
                unit.protected[tag] = pattern
            elif excluded is not None:
                unit.filtered[tag] = excluded
            else:
                unit.candidates.append(tag)
        unit.name_key = max((version_key(t) for t in unit.candidates), default=())
        return unit

    def _order(self, ranked: list[_Unit]) -> list[_Unit]:
        """Newest first. Ranked by name, images the age rule keeps still come
        first: they are known to be recent, and so re-running a plan once
        carried out finds nothing more to delete."""
        if not self.by_name:
            return sorted(ranked, key=lambda u: (u.created, u.name_key), reverse=True)
        recent = [u for u in ranked if self._age_keeps(u)]
        rest = [u for u in ranked if not self._age_keeps(u)]
        recent.sort(key=lambda u: (u.created, u.name_key), reverse=True)
        rest.sort(key=lambda u: u.name_key, reverse=True)
        return recent + rest

    def _age_keeps(self, unit: _Unit) -> bool:
        return (
            self.cutoff is not None
            and unit.created is not None
            and unit.created >= self.cutoff
        )

    # --- verdicts -----------------------------------------------------------------

    def _judge(self, unit: _Unit, rank: int) -> None:
        rules, keep = self.rules, self.rules.keep_newest
        by_name = self.by_name and not self._age_keeps(unit)
        ranking = _BY_NAME if by_name else ""
        created = f"created {_day(unit.created)}, " if unit.created else ""
        if not rules.selects_anything:
            self._keep_selected(unit, "kept: no keep or age rule is set")
        elif keep is not None and rank < keep:
            self._keep_selected(unit, f"kept: among the {keep} newest{ranking}")
        elif self._age_keeps(unit):
            age = describe_duration(rules.older_than or "")
            self._keep_selected(unit, f"kept: {created}less than {age} old")
        elif unit.created is None and keep is None:
            self._keep_selected(
                unit,
                f"kept: no usable created date ({_undated(unit.source)}), so the age "
                "rule cannot judge it",
            )
        else:
            self._expire(unit, self._delete_reason(unit, ranking, created))

    def _delete_reason(self, unit: _Unit, ranking: str, created: str) -> str:
        rules, parts = self.rules, []
        if rules.older_than is not None and unit.created is not None:
            parts.append(f"older than {describe_duration(rules.older_than)}")
        if rules.keep_newest is not None:
            parts.append(f"not among the {rules.keep_newest} newest{ranking}")
        reason = f"deleted: {created}{' and '.join(parts)}"
        if rules.older_than is not None and unit.created is None:
            reason += (
                f"; no usable created date ({_undated(unit.source)}), so the age rule "
                "does not apply"
            )
        return reason

    def _expire(self, unit: _Unit, reason: str) -> None:
        """A unit the rules would delete: by digest, or only its selected tags
        when it also carries a tag the patterns leave alone."""
        if not unit.filtered:
            self._set(unit.tags, "delete", reason)
            return
        why = reason.removeprefix("deleted: ")
        for tag in unit.candidates:
            other = self._companion(unit, tag, unit.filtered)
            if self.rules.shared == "untag":
                text = f"untag: {why}; only this tag is removed, the image stays"
                self._set([tag], "untag", f"{text} for kept tag {other}")
            else:
                relation = self._relation(unit, tag, other)
                text = f"kept: {relation} kept tag {other} (else deleted: {why})"
                self._set([tag], "keep", text)
        self._keep_filtered(unit)

    def _keep_protected(self, unit: _Unit) -> None:
        for tag in unit.tags:
            if tag in unit.protected:
                reason = f"kept: protected by pattern {unit.protected[tag]}"
            else:
                other = self._companion(unit, tag, unit.protected)
                reason = (
                    f"kept: {self._relation(unit, tag, other)} protected tag {other}"
                )
            self._set([tag], "keep", reason)

    def _keep_filtered(self, unit: _Unit) -> None:
        for tag, why in unit.filtered.items():
            self._set([tag], "keep", f"kept: {why}")

    def _keep_selected(self, unit: _Unit, reason: str) -> None:
        """Keep the tags the patterns select for ``reason``, the others for theirs."""
        self._set(unit.candidates, "keep", reason)
        self._keep_filtered(unit)

    def _set(self, tags: Iterable[str], verdict: Verdict, reason: str) -> None:
        for tag in tags:
            self.verdicts[tag] = (verdict, reason)

    def _companion(self, unit: _Unit, tag: str, among: Mapping[str, str]) -> str:
        """A tag from ``among``, on the same digest as ``tag`` if there is one."""
        digest = unit.tags[tag].digest
        same = [t for t in among if unit.tags[t].digest == digest]
        return min(same or list(among))

    @staticmethod
    def _relation(unit: _Unit, tag: str, other: str) -> str:
        if unit.tags[tag].digest == unit.tags[other].digest:
            return "shares its digest with"
        return "is part of the same multi-platform image as"

    # --- results ------------------------------------------------------------------

    def _outcome(self, units: list[_Unit]) -> _Outcome:
        verdicts = [self._verdict(tag) for tag in sorted(self.tags)]
        deleted = [u for u in units if self._fate(u) == "delete"]
        gone = {d for u in deleted for d in u.digests}
        items, after = self._items(units)
        deleted_blobs = self._blobs(gone)
        kept_blobs = set(self._blobs(self.by_digest.keys() - gone))
        counts = {v: sum(t.verdict == v for t in verdicts) for v in ("keep", "delete")}
        totals = RepositoryTotals(
            repository=self.name,
            tags=len(verdicts),
            kept=counts["keep"],
            deleted=counts["delete"],
            untagged=len(verdicts) - counts["keep"] - counts["delete"],
            images_deleted=len(deleted),
            unreferenced_bytes=sum(
                size for blob, size in deleted_blobs.items() if blob not in kept_blobs
            ),
            sizes_known=all(self._facts(d).blobs for d in gone),
        )
        return _Outcome(verdicts, items, after, totals, deleted_blobs, kept_blobs)

    def _verdict(self, tag: str) -> TagVerdict:
        facts, unit = self.tags[tag], self.unit_of[tag]
        verdict, reason = self.verdicts[tag]
        source = unit.source
        if unit.created is None and unit in self.ranked:
            source = "tag name"
        return TagVerdict(
            repository=self.name,
            tag=tag,
            digest=facts.digest,
            media_type=facts.media_type,
            verdict=verdict,
            reason=reason,
            created=unit.created,
            date_source=source,
            size=facts.size,
        )

    def _fate(self, unit: _Unit) -> Verdict:
        found = {self.verdicts[t][0] for t in unit.tags}
        if "delete" in found:
            return "delete"
        return "untag" if "untag" in found else "keep"

    def _items(
        self, units: list[_Unit]
    ) -> tuple[list[PlanItem], dict[str, tuple[str, ...]]]:
        items: list[PlanItem] = []
        after: dict[str, tuple[str, ...]] = {}
        for unit in units:
            fate = self._fate(unit)
            if fate == "keep":
                continue
            parents = _parents(unit)
            for digest in unit.digests:
                item = self._item(unit, digest, untag=fate == "untag")
                if item is None:
                    continue
                items.append(item)
                if fate == "delete" and parents.get(digest):
                    after[item.reference] = tuple(
                        f"{self.name}@{p}" for p in parents[digest]
                    )
        return items, after

    def _item(self, unit: _Unit, digest: str, *, untag: bool) -> PlanItem | None:
        on_digest = sorted(t for t in unit.tags if unit.tags[t].digest == digest)
        requested = [t for t in on_digest if self.verdicts[t][0] != "keep"]
        if not requested:
            return None
        facts = self._facts(digest)
        return PlanItem(
            repository=self.name,
            digest=digest,
            media_type=facts.media_type,
            requested=tuple(requested),
            tags=tuple(on_digest),
            platforms=facts.platforms if facts.media_type in INDEX_TYPES else (),
            untag_only=untag,
        )

    def _facts(self, digest: str) -> TagFacts:
        return self.by_digest[digest]

    def _blobs(self, digests: Iterable[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for digest in digests:
            found.update(self.by_digest[digest].blobs)
        return found


# --- helpers -----------------------------------------------------------------------


def _units(tags: Mapping[str, TagFacts]) -> list[_Unit]:
    """Group tags into images: by digest, joining each index with those of
    its platform images that are tagged too."""
    by_digest: dict[str, dict[str, TagFacts]] = {}
    for tag, facts in tags.items():
        by_digest.setdefault(facts.digest, {})[tag] = facts
    root = {digest: digest for digest in by_digest}

    def find(digest: str) -> str:
        while root[digest] != digest:
            root[digest] = root[root[digest]]
            digest = root[digest]
        return digest

    for digest, members in by_digest.items():
        facts = next(iter(members.values()))
        for child in facts.children:
            if child in by_digest:
                root[find(child)] = find(digest)
    groups: dict[str, list[str]] = {}
    for digest in sorted(by_digest):
        groups.setdefault(find(digest), []).append(digest)
    return [
        _Unit(digests, {t: f for d in digests for t, f in by_digest[d].items()})
        for digests in groups.values()
    ]


def _parents(unit: _Unit) -> dict[str, list[str]]:
    """Within a unit: platform image digest -> the indexes that list it."""
    found: dict[str, list[str]] = {}
    facts = {f.digest: f for f in unit.tags.values()}
    for digest in unit.digests:
        for child in facts[digest].children:
            if child in facts and child != digest:
                found.setdefault(child, []).append(digest)
    return found


def _unreferenced(results: list[_Outcome]) -> int:
    """Bytes only deleted images referenced, each blob counted once even when
    several repositories link it."""
    kept = set().union(*(r.kept_blobs for r in results))
    deleted: dict[str, int] = {}
    for result in results:
        deleted.update(result.deleted_blobs)
    return sum(size for blob, size in deleted.items() if blob not in kept)


def _undated(source: str) -> str:
    """``implausible (1970-01-01)`` -> ``1970-01-01 is implausible``."""
    if not source.startswith("implausible ("):
        return source
    day, _, future = source[len("implausible (") : -1].partition(", ")
    return f"{day} is in the future" if future else f"{day} is implausible"


def _day(moment: datetime) -> str:
    return moment.date().isoformat()
