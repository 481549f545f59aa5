"""Clean-up rules without a registry: properties on generated tag sets, the
reasons in words, durations, patterns and the rules file."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.images import DOCKER_LIST, DOCKER_MANIFEST
from core.plan import PlanItem
from core.rules import (
    InvalidRulesError,
    Rules,
    describe_duration,
    load_rules,
    parse_duration,
    save_rules,
)
from core.verdicts import Inventory, RulesPlan, TagFacts, evaluate, version_key

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE = datetime(2099, 1, 1, tzinfo=UTC)
TAG_POOL = (
    "latest",
    "stable",
    "1.0",
    "1.1",
    "1.10",
    "2.0",
    "2.0-rc1",
    "v1.2.3",
    "v1.2.4",
    "nightly",
    "pr-1",
    "pr-2",
    "pr-10",
    "build-7",
    "main",
    "dev",
)
DATES = [None, EPOCH, FUTURE] + [NOW - timedelta(days=n) for n in (0, 10, 89, 91, 400)]
SHARED_BLOBS = [(f"sha256:{'b' * 63}{i}", 1000 * (i + 1)) for i in range(6)]
PROPERTY = settings(max_examples=200, deadline=None)
T = TypeVar("T")


def digest(repo: str, n: int) -> str:
    return "sha256:" + hashlib.sha256(f"{repo}/{n}".encode()).hexdigest()


# --- generated tag sets -------------------------------------------------------------


@st.composite
def repository(draw: st.DrawFn, repo: str) -> dict[str, TagFacts]:
    """Tags on 1..n digests; some digests are indexes whose platform images
    are other digests of the repository (tagged or not), each the platform
    image of at most one index."""
    tags = pick(TAG_POOL, draw(st.integers(1, 2 ** len(TAG_POOL) - 1)))
    count = draw(st.integers(1, len(tags)))
    size = len(tags)
    owners = draw(st.lists(st.integers(0, count - 1), min_size=size, max_size=size))
    used = sorted(set(owners))
    is_index = {n: draw(st.booleans()) for n in used}
    parent: dict[int, int] = {}
    for n in used:
        if not is_index[n]:
            choices = [i for i in used if is_index[i] and i < n]
            if choices and draw(st.booleans()):
                parent[n] = draw(st.sampled_from(choices))
    facts = {n: _image_facts(draw, repo, n) for n in used if not is_index[n]}
    for n in used:
        if is_index[n]:
            children = [facts[c] for c, p in parent.items() if p == n]
            facts[n] = _index_facts(draw, repo, n, children)
    return {tag: facts[owner] for tag, owner in zip(tags, owners, strict=True)}


def pick(pool: tuple[T, ...] | list[T], mask: int) -> list[T]:
    """The members of ``pool`` whose bit is set in ``mask``: one draw, which
    shrinks towards fewer and earlier members."""
    return [member for n, member in enumerate(pool) if mask >> n & 1]


def _image_facts(draw: st.DrawFn, repo: str, n: int) -> TagFacts:
    own = digest(repo, n)
    blobs = dict(pick(SHARED_BLOBS, draw(st.integers(0, 2 ** len(SHARED_BLOBS) - 1))))
    blobs[own] = 500
    return TagFacts(
        own, DOCKER_MANIFEST, draw(st.sampled_from(DATES)), sum(blobs.values()), blobs
    )


def _index_facts(
    draw: st.DrawFn, repo: str, n: int, children: list[TagFacts]
) -> TagFacts:
    untagged = _image_facts(draw, repo, 1000 + n)  # a platform image without tags
    members = [*children, untagged]
    blobs = {digest(repo, n): 300}
    for child in members:
        blobs.update(child.blobs)
    dates = [c.created for c in members if c.created is not None]
    return TagFacts(
        digest(repo, n),
        DOCKER_LIST,
        max(dates) if dates else None,
        sum(blobs.values()),
        blobs,
        ("linux/amd64", "linux/arm64"),
        tuple(c.digest for c in members),
    )


@st.composite
def inventories(draw: st.DrawFn) -> Inventory:
    names = draw(
        st.lists(
            st.sampled_from(["app", "team/api", "multi", "tools"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    return Inventory({name: draw(repository(name)) for name in names})


def rules(**fixed: st.SearchStrategy[Any]) -> st.SearchStrategy[Rules]:
    """Generated rules; ``fixed`` replaces the strategy of any field."""
    fields: dict[str, st.SearchStrategy[Any]] = {
        "repos_include": st.sampled_from([(), ("^app$", "multi"), ("a",)]),
        "repos_exclude": st.sampled_from([(), ("tools",)]),
        "keep_newest": st.none() | st.integers(0, 5),
        "older_than": st.sampled_from([None, "30d", "90d", "12h", "1w"]),
        "tags_include": st.sampled_from([(), (r"^\d",), ("^pr-", "^v")]),
        "tags_exclude": st.sampled_from([(), ("^build-",), ("nightly", "main")]),
        "protect": st.lists(
            st.sampled_from(["latest", r"^v\d+\.\d+\.\d+$", "^stable$", "rc"]),
            max_size=3,
            unique=True,
        ).map(tuple),
        "undated": st.sampled_from(["keep", "by-name"]),
        "shared": st.sampled_from(["keep", "untag"]),
    }
    return st.builds(Rules, **(fields | fixed))


def apply(inventory: Inventory, items: list[PlanItem]) -> Inventory:
    """What a registry does with the items: deleting a digest removes every
    tag on it; untagging removes only the tags named."""
    repos = {name: dict(tags) for name, tags in inventory.repositories.items()}
    for item in items:
        tags = repos[item.repository]
        doomed = item.requested if item.untag_only else list(tags)
        for tag in doomed:
            if tag in tags and tags[tag].digest == item.digest:
                del tags[tag]
    return Inventory(repos)


def in_scope(plan: RulesPlan, inventory: Inventory) -> dict[str, dict[str, TagFacts]]:
    return {
        name: dict(tags)
        for name, tags in inventory.repositories.items()
        if plan.rules.matches_repository(name)
    }


def unit_of(tags: dict[str, TagFacts]) -> dict[str, str]:
    """digest -> its image: the index it is a tagged platform image of, or itself
    (the generator gives each platform image at most one index)."""
    digests = {f.digest for f in tags.values()}
    found = {d: d for d in digests}
    for facts in tags.values():
        for child in facts.children:
            if child in digests:
                found[child] = facts.digest
    return found


# --- properties ---------------------------------------------------------------------


@PROPERTY
@given(inventories(), rules())
def test_every_tag_gets_one_verdict_and_a_reason(inventory, rules) -> None:
    plan = evaluate(rules, inventory, NOW)
    expected = {(r, t) for r, tags in in_scope(plan, inventory).items() for t in tags}
    assert [(v.repository, v.tag) for v in plan.verdicts] == sorted(expected)
    opening = {"keep": "kept: ", "delete": "deleted: ", "untag": "untag: "}
    for verdict in plan.verdicts:
        assert verdict.reason.startswith(opening[verdict.verdict])
        assert verdict.date_source in ("config", "missing", "tag name") or (
            verdict.date_source.startswith("implausible (")
        )


@PROPERTY
@given(inventories(), rules())
def test_a_protected_tags_digest_is_never_deleted(inventory, rules) -> None:
    plan = evaluate(rules, inventory, NOW)
    protected = {
        (v.repository, v.digest) for v in plan.verdicts if rules.protected_by(v.tag)
    }
    for item in plan.items:
        assert item.untag_only or (item.repository, item.digest) not in protected
    for verdict in plan.verdicts:
        if (verdict.repository, verdict.digest) in protected:
            assert verdict.verdict == "keep", verdict


@PROPERTY
@given(
    inventories(),
    rules(
        keep_newest=st.integers(0, 5),
        older_than=st.none(),
        tags_include=st.just(()),
        tags_exclude=st.just(()),
        undated=st.just("by-name"),
    ),
)
def test_keep_n_keeps_exactly_min_n_count_images(inventory, rules) -> None:
    plan = evaluate(rules, inventory, NOW)
    for repo, tags in in_scope(plan, inventory).items():
        units = unit_of(tags)
        protected = {units[f.digest] for t, f in tags.items() if rules.protected_by(t)}
        ranked = set(units.values()) - protected
        kept = {
            units[v.digest]
            for v in plan.verdicts
            if v.repository == repo and v.verdict == "keep"
        }
        assert len(kept & ranked) == min(rules.keep_newest or 0, len(ranked))


@PROPERTY
@given(inventories(), rules(undated=st.just("keep")))
def test_images_kept_as_newest_are_newer_than_those_deleted(inventory, rules) -> None:
    # Undated images are kept aside, so every repository is ranked by date.
    plan = evaluate(rules, inventory, NOW)
    for repo in in_scope(plan, inventory):
        mine = [v for v in plan.verdicts if v.repository == repo]
        newest = [v.created for v in mine if v.reason.startswith("kept: among the")]
        deleted = [v.created for v in mine if v.verdict == "delete"]
        assert all(k is not None and d is not None for k in newest for d in deleted)
        if newest and deleted:
            assert min(newest) >= max(deleted)  # type: ignore[type-var]


@PROPERTY
@given(inventories(), rules())
def test_a_tag_sharing_a_digest_with_a_kept_tag_never_loses_it(
    inventory, rules
) -> None:
    plan = evaluate(rules, inventory, NOW)
    for repo, tags in in_scope(plan, inventory).items():
        units = unit_of(tags)
        kept_units = {
            units[v.digest]
            for v in plan.verdicts
            if v.repository == repo and v.verdict != "delete"
        }
        for item in plan.items:
            if item.repository == repo and not item.untag_only:
                assert units[item.digest] not in kept_units, item
        for v in plan.verdicts:
            if v.repository == repo and units[v.digest] in kept_units:
                assert v.verdict != "delete", v


@PROPERTY
@given(inventories(), rules())
def test_the_plan_removes_exactly_the_tags_it_shows(inventory, rules) -> None:
    plan = evaluate(rules, inventory, NOW)
    after = apply(inventory, plan.to_plan_items())
    for repo, tags in in_scope(plan, inventory).items():
        mine = [v for v in plan.verdicts if v.repository == repo]
        kept = {v.tag for v in mine if v.verdict == "keep"}
        assert set(after.repositories[repo]) == kept
        for tag in kept:
            assert after.repositories[repo][tag] == tags[tag]


@PROPERTY
@given(inventories(), rules())
def test_applying_a_plan_twice_deletes_nothing_the_second_time(
    inventory, rules
) -> None:
    plan = evaluate(rules, inventory, NOW)
    once = apply(inventory, plan.to_plan_items())
    assert apply(once, plan.to_plan_items()) == once
    again = evaluate(rules, once, NOW)
    assert again.items == ()
    assert again.changes == ()


@PROPERTY
@given(
    inventories(),
    rules(
        keep_newest=st.integers(0, 3),
        older_than=st.sampled_from(["30d", "90d"]),
        undated=st.just("by-name"),
    ),
)
def test_ranking_by_name_is_stable_once_applied(inventory, rules) -> None:
    # Deleting the last undated image switches a repository back to dates;
    # what was kept must stay kept.
    plan = evaluate(rules, inventory, NOW)
    once = apply(inventory, plan.to_plan_items())
    assert evaluate(rules, once, NOW).changes == ()


def test_by_name_then_by_date_keeps_what_it_kept() -> None:
    tags = {"v2": image(1, 400), "v1": image(2, 10), "v0": image(3, None)}
    rules = Rules(keep_newest=1, older_than="30d", undated="by-name")
    plan = evaluate(rules, Inventory({"app": tags}), NOW)
    assert {v.tag: v.verdict for v in plan.verdicts} == {
        "v0": "delete",
        "v1": "keep",
        "v2": "delete",
    }
    once = apply(Inventory({"app": tags}), plan.to_plan_items())
    assert evaluate(rules, once, NOW).changes == ()


@PROPERTY
@given(inventories(), rules())
def test_platform_images_come_after_their_multi_platform_image(
    inventory, rules
) -> None:
    plan = evaluate(rules, inventory, NOW)
    order = [item.reference for item in plan.to_plan_items()]
    for child, parents in plan.after.items():
        assert all(order.index(p) < order.index(child) for p in parents)


@PROPERTY
@given(inventories(), rules())
def test_unreferenced_bytes_count_only_blobs_no_kept_image_uses(
    inventory, rules
) -> None:
    plan = evaluate(rules, inventory, NOW)
    for totals in plan.totals:
        tags = inventory.repositories[totals.repository]
        deleted = {i.digest for i in plan.items if i.repository == totals.repository}
        deleted -= {i.digest for i in plan.items if i.untag_only}
        kept = {f.digest for f in tags.values()} - deleted
        used = {b for f in tags.values() if f.digest in kept for b in f.blobs}
        freed = {
            b: size
            for f in tags.values()
            if f.digest in deleted
            for b, size in f.blobs.items()
            if b not in used
        }
        assert totals.unreferenced_bytes == sum(freed.values())
    assert plan.unreferenced_bytes <= sum(t.unreferenced_bytes for t in plan.totals)


# --- reasons in words ---------------------------------------------------------------


def image(n: int, days: float | datetime | None, **extra: Any) -> TagFacts:
    if isinstance(days, int | float):
        created: datetime | None = NOW - timedelta(days=days)
    else:
        created = days
    own = f"sha256:{n:064x}"
    return TagFacts(own, DOCKER_MANIFEST, created, 100, {own: 100}, **extra)


def verdicts(rules: Rules, tags: dict[str, TagFacts]) -> dict[str, tuple[str, str]]:
    plan = evaluate(rules, Inventory({"app": tags}), NOW)
    return {v.tag: (v.verdict, v.reason) for v in plan.verdicts}


def test_reasons_name_the_rule_that_decided() -> None:
    tags = {
        "1.0": image(1, 400),
        "1.1": image(2, 200),
        "1.2": image(3, 100),
        "stable": image(3, 100),
        "1.3": image(4, 50),
        "latest": image(5, 1),
        "nightly": image(6, EPOCH),
        "fresh": image(7, 2),
    }
    rules = Rules(keep_newest=1, older_than="90d", protect=("latest", "^stable$"))
    old = "older than 90 days and not among the 1 newest"
    assert verdicts(rules, tags) == {
        "1.0": ("delete", f"deleted: created 2024-04-27, {old}"),
        "1.1": ("delete", f"deleted: created 2024-11-13, {old}"),
        "1.2": ("keep", "kept: shares its digest with protected tag stable"),
        "stable": ("keep", "kept: protected by pattern ^stable$"),
        "1.3": ("keep", "kept: created 2025-04-12, less than 90 days old"),
        "latest": ("keep", "kept: protected by pattern latest"),
        "nightly": ("keep", "kept: no usable created date (1970-01-01 is implausible)"),
        "fresh": ("keep", "kept: among the 1 newest"),
    }


def test_date_sources_are_shown_per_tag() -> None:
    tags = {"a": image(1, 3), "b": image(2, None), "c": image(3, EPOCH)}
    tags["d"] = image(4, FUTURE)
    plan = evaluate(Rules(keep_newest=1), Inventory({"app": tags}), NOW)
    assert {v.tag: v.date_source for v in plan.verdicts} == {
        "a": "config",
        "b": "missing",
        "c": "implausible (1970-01-01)",
        "d": "implausible (2099-01-01, in the future)",
    }
    assert verdicts(Rules(keep_newest=1), tags)["d"] == (
        "keep",
        "kept: no usable created date (2099-01-01 is in the future)",
    )


def test_undated_by_name_ranks_the_repository_by_version() -> None:
    tags = {
        "v1.9": image(1, None),
        "v1.10": image(2, EPOCH),
        "v1.10-rc1": image(3, EPOCH),
        "v2.0": image(4, 500),
        "recent": image(5, 3),
    }
    rules = Rules(keep_newest=2, older_than="30d", undated="by-name")
    plan = evaluate(rules, Inventory({"app": tags}), NOW)
    found = {v.tag: v for v in plan.verdicts}
    assert found["recent"].reason == "kept: among the 2 newest"
    assert found["v2.0"].reason == (
        "kept: among the 2 newest by tag name (some images here have no usable "
        "created date)"
    )
    assert found["v2.0"].date_source == "config"
    assert found["v1.10"].verdict == "delete"
    assert found["v1.10"].date_source == "tag name"
    assert found["v1.10"].reason == (
        "deleted: not among the 2 newest by tag name (some images here have no "
        "usable created date); no usable created date (1970-01-01 is implausible), "
        "so the age rule does not apply"
    )
    only_age = verdicts(Rules(older_than="30d", undated="by-name"), tags)
    assert only_age["v1.9"] == (
        "keep",
        "kept: no usable created date (missing), so the age rule cannot judge it",
    )
    assert only_age["v2.0"][0] == "delete"


def test_shared_digest_is_untagged_or_kept_as_chosen() -> None:
    tags = {"pr-1": image(1, 200), "build-1": image(1, 200), "pr-2": image(2, 1)}
    base = {"older_than": "90d", "tags_include": ("^pr-",)}
    assert verdicts(Rules(**base, shared="keep"), tags)["pr-1"] == (
        "keep",
        "kept: shares its digest with kept tag build-1 (else deleted: created "
        "2024-11-13, older than 90 days)",
    )
    untag = verdicts(Rules(**base, shared="untag"), tags)
    assert untag["pr-1"] == (
        "untag",
        "untag: created 2024-11-13, older than 90 days; only this tag is removed, "
        "the image stays for kept tag build-1",
    )
    assert untag["build-1"] == ("keep", "kept: matches no tag include pattern")
    plan = evaluate(Rules(**base, shared="untag"), Inventory({"app": tags}), NOW)
    (item,) = plan.to_plan_items()
    assert item.untag_only and item.requested == ("pr-1",)
    assert item.tags == ("build-1", "pr-1")
    assert plan.unreferenced_bytes == 0


def test_keep_n_counts_images_not_tag_names() -> None:
    tags = {"a": image(1, 1), "a2": image(1, 1), "a3": image(1, 1), "b": image(2, 5)}
    tags["c"] = image(3, 9)
    found = verdicts(Rules(keep_newest=2), tags)
    assert [found[t][0] for t in ("a", "a2", "a3", "b", "c")] == [
        *["keep"] * 4,
        "delete",
    ]


def test_a_multi_platform_image_is_one_unit() -> None:
    child = image(2, 300, platforms=("linux/amd64",))
    index = TagFacts(
        "sha256:" + "9" * 64,
        DOCKER_LIST,
        NOW - timedelta(days=300),
        900,
        {"sha256:" + "9" * 64: 200, **child.blobs, "sha256:" + "8" * 64: 600},
        ("linux/amd64", "linux/arm64"),
        (child.digest, "sha256:" + "8" * 64),
    )
    tags = {"1": index, "1-amd64": child, "2": image(3, 1)}
    plan = evaluate(Rules(keep_newest=1), Inventory({"app": tags}), NOW)
    assert {v.tag: v.verdict for v in plan.verdicts} == {
        "1": "delete",
        "1-amd64": "delete",
        "2": "keep",
    }
    first, second = plan.to_plan_items()
    assert first.digest == index.digest and first.platforms == index.platforms
    assert plan.after == {second.reference: (first.reference,)}
    kept = evaluate(
        Rules(keep_newest=1, protect=("^1$",)), Inventory({"app": tags}), NOW
    )
    assert {v.tag: v.reason for v in kept.verdicts}["1-amd64"] == (
        "kept: is part of the same multi-platform image as protected tag 1"
    )


def test_no_keep_or_age_rule_deletes_nothing() -> None:
    plan = evaluate(Rules(), Inventory({"app": {"a": image(1, 900)}}), NOW)
    assert [v.reason for v in plan.verdicts] == ["kept: no keep or age rule is set"]
    assert plan.items == ()


def test_repository_patterns_choose_the_scope() -> None:
    rules = Rules(keep_newest=0, repos_include=("^team/",), repos_exclude=("legacy",))
    inventory = Inventory(
        {name: {"a": image(1, 9)} for name in ("app", "team/web", "team/legacy")}
    )
    plan = evaluate(rules, inventory, NOW)
    assert [(v.repository, v.verdict) for v in plan.verdicts] == [
        ("team/web", "delete")
    ]
    assert [t.repository for t in plan.totals] == ["team/web"]


def test_version_key_orders_like_versions() -> None:
    tags = ["v10", "1.0", "v2", "1.0-rc1", "1.0.1", "1.0-rc2", "1.10", "1.9", "1.0-1"]
    expected = [
        "1.0-rc1",
        "1.0-rc2",
        "1.0",
        "1.0-1",
        "1.0.1",
        "1.9",
        "1.10",
        "v2",
        "v10",
    ]
    assert sorted(tags, key=version_key) == expected


# --- durations, patterns, the rules file ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "words"),
    [
        ("30d", timedelta(days=30), "30 days"),
        ("12h", timedelta(hours=12), "12 hours"),
        ("1w", timedelta(weeks=1), "1 week"),
        ("90s", timedelta(seconds=90), "90 seconds"),
        ("1w2d", timedelta(days=9), "1 week 2 days"),
        (" 5M ", timedelta(minutes=5), "5 minutes"),
    ],
)
def test_durations(text: str, expected: timedelta, words: str) -> None:
    assert parse_duration(text) == expected
    assert describe_duration(text) == words


@pytest.mark.parametrize("text", ["90", "d", "-1d", "1.5d", "", "90 days", "3y"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(InvalidRulesError) as caught:
        parse_duration(text)
    assert "is not a duration" in caught.value.message
    assert "90d" in caught.value.hint


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"protect": ("[",)}, "The protect pattern '[' is not a valid regular"),
        ({"tags_include": ("(a",)}, "tag include pattern '(a' is not a valid"),
        ({"repos_exclude": ("",)}, "An empty repository exclude pattern"),
        ({"keep_newest": -1}, "Keep newest must be a whole number of 0 or more"),
        ({"older_than": "ninety"}, "'ninety' is not a duration"),
        ({"undated": "guess"}, "Undated must be one of keep, by-name"),
        ({"shared": "delete"}, "Shared must be one of keep, untag"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_message(rules, message) -> None:
    with pytest.raises(InvalidRulesError) as caught:
        Rules(**rules)
    assert message in str(caught.value)


def test_rules_file_round_trip(tmp_path: Path) -> None:
    rules = Rules(
        repos_include=("^team/",),
        keep_newest=10,
        older_than="90d",
        tags_exclude=("^build-",),
        protect=("latest", r"^v\d+\.\d+\.\d+$"),
        undated="by-name",
        shared="untag",
    )
    assert Rules.from_json(rules.to_json()) == rules
    assert rules.to_dict()["schema"] == 1
    path = tmp_path / "sub" / "rules.json"
    save_rules(path, rules)
    assert load_rules(path) == rules
    assert [p.name for p in path.parent.iterdir()] == ["rules.json"]
    assert Rules.from_json('{"schema": 1}') == Rules()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"schema": 2, "keep_newest": 3}', "Unknown rules schema 2"),
        ('{"keep_newest": 3}', "Unknown rules schema None"),
        ('{"schema": 1, "keep_newst": 3}', "Unknown rules setting(s): keep_newst"),
        ('{"schema": 1, "protect": "latest"}', "protect must be a list of patterns"),
        ('{"schema": 1, "keep_newest": "3"}', "keep_newest must be a whole number"),
        ('{"schema": 1, "older_than": 90}', "older_than must be a duration"),
        ('{"schema": 1, "protect": ["("]}', "protect pattern '(' is not a valid"),
        ('{"schema": 1,', "not valid JSON"),
        ("[1]", "must hold one JSON object"),
    ],
)
def test_bad_rules_files_are_refused(text: str, message: str, tmp_path) -> None:
    with pytest.raises(InvalidRulesError) as caught:
        Rules.from_json(text)
    assert message in str(caught.value)
    path = tmp_path / "rules.json"
    path.write_text(text)
    with pytest.raises(InvalidRulesError) as from_file:
        load_rules(path)
    assert str(from_file.value).startswith(f"{path}: ")


def test_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidRulesError, match="Cannot read rules file"):
        load_rules(tmp_path / "nope.json")


def test_rules_file_format(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    save_rules(path, Rules(keep_newest=3))
    assert json.loads(path.read_text()) == {
        "schema": 1,
        "repos_include": [],
        "repos_exclude": [],
        "keep_newest": 3,
        "older_than": None,
        "tags_include": [],
        "tags_exclude": [],
        "protect": [],
        "undated": "keep",
        "shared": "keep",
    }
