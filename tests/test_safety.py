"""Deletion you can trust, against a real registry: re-checks, untag-only,
the journal, restore, and interrupted runs."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest

from core import cli, errors
from core.client import RegistryClient, RegistryConfig
from core.delete import Outcome, run_plan
from core.journal import Journal
from core.plan import build_plan
from core.reference import parse_ref
from core.restore import restore_entry
from devtools.registry import LocalRegistry
from devtools.seed import Seeder, seed_standard


@pytest.fixture
def client(registry: LocalRegistry) -> RegistryClient:
    with RegistryClient(RegistryConfig(registry.url, backoff=0.05)) as found:
        yield found


@pytest.fixture
def standard(seeder: Seeder) -> dict:
    return seed_standard(seeder)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.jsonl")


def plan_for(client: RegistryClient, *refs: str):
    return build_plan(client, [parse_ref(r) for r in refs])


def revisions(registry: LocalRegistry, repo: str) -> set[str]:
    """Manifest revisions the registry links to ``repo``, read from its storage."""
    base = registry.storage_dir / "docker/registry/v2/repositories" / repo
    links = (base / "_manifests/revisions/sha256").glob("*/link")
    return {"sha256:" + link.parent.name for link in links}


def can_pull(seeder: Seeder, repo: str, tag: str) -> bool:
    """What a client pull does: the manifest by tag, then every blob in it."""
    response = seeder.session.get(
        f"/v2/{repo}/manifests/{tag}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    if response.status_code != 200:
        return False
    body = response.json()
    blobs = [body["config"], *body["layers"]]
    return all(seeder.blob_exists(repo, blob["digest"]) for blob in blobs)


# --- journal and restore ------------------------------------------------------------


def test_delete_then_restore_gives_back_digest_and_every_tag(
    client, seeder, standard, journal
) -> None:
    image = standard["app"]["latest"]
    plan = plan_for(client, "app:latest")
    (result,) = run_plan(client, plan.items, journal=journal, profile="test")
    assert result.outcome is Outcome.DELETED
    assert seeder.tags("app") == ["1.0"]
    assert not can_pull(seeder, "app", "latest")

    (entry,) = journal.entries()
    assert entry.id == result.journal_id
    assert entry.outcome == "deleted"
    assert entry.tags == ["1.1", "latest", "stable"]
    assert entry.manifest.raw == image.manifest_bytes

    restored = restore_entry(client, entry, journal)
    assert restored.ok and restored.restored_tags == ["1.1", "latest", "stable"]
    for tag in ("1.1", "latest", "stable"):
        assert seeder.digest_of("app", tag) == image.digest
        assert can_pull(seeder, "app", tag)
    assert journal.entries()[0].restores[-1]["outcome"] == "restored"


def test_index_delete_and_restore_keeps_its_children(
    client, seeder, standard, journal
) -> None:
    index = standard["multi/docker"]["1"]
    plan = plan_for(client, "multi/docker:1")
    assert plan.items[0].platforms == ("linux/amd64", "linux/arm64")
    (result,) = run_plan(client, plan.items, journal=journal)
    assert "platform images stay" in result.message
    assert all(seeder.manifest_exists("multi/docker", c.digest) for c in index.children)
    (entry,) = journal.entries()
    assert [c.digest for c in entry.children] == [c.digest for c in index.children]
    assert restore_entry(client, entry, journal).ok
    assert seeder.digest_of("multi/docker", "1") == index.digest


def test_restore_does_not_move_a_tag_pushed_since(
    client, seeder, standard, journal
) -> None:
    run_plan(client, plan_for(client, "app:1.0").items, journal=journal)
    newer = seeder.push_image("app", ["1.0"], salt="rebuilt")
    result = restore_entry(client, journal.entries()[0], journal)
    assert not result.ok
    assert "1.0: now points at another image" in result.message
    assert seeder.digest_of("app", "1.0") == newer.digest
    assert seeder.manifest_exists("app", standard["app"]["1.0"].digest)


def test_restore_after_garbage_collection_is_gone_for_good(
    registry, seeder, standard, journal
) -> None:
    with RegistryClient(RegistryConfig(registry.url)) as client:
        run_plan(client, plan_for(client, "team/api:v1").items, journal=journal)
    registry.stop()
    done = registry.garbage_collect()
    assert done.returncode == 0, done.stderr
    registry.start()
    entry = journal.entries()[0]
    with RegistryClient(RegistryConfig(registry.url)) as client:
        result = restore_entry(client, entry, journal)
    assert result.gone_for_good
    assert "gone for good" in result.message
    assert result.missing_blob.startswith("sha256:")
    assert result.missing_blob in result.message
    assert result.restored_tags == []
    assert seeder.tags("team/api") == ["v2"]
    assert journal.entries()[0].restores[-1]["outcome"] == "gone"


# --- re-checks ---------------------------------------------------------------------


def test_tag_pushed_again_after_the_preview_is_skipped(
    client, seeder, standard, journal
) -> None:
    plan = plan_for(client, "app:1.0")
    newer = seeder.push_image("app", ["1.0"], salt="pushed-meanwhile")
    (result,) = run_plan(client, plan.items, journal=journal)
    assert result.outcome is Outcome.SKIPPED
    assert "moved to another image since the preview" in result.message
    assert seeder.digest_of("app", "1.0") == newer.digest
    assert seeder.manifest_exists("app", standard["app"]["1.0"].digest)
    assert journal.entries() == []


def test_digest_that_gained_a_tag_is_skipped(client, seeder, standard) -> None:
    image = standard["app"]["1.0"]
    plan = plan_for(client, "app:1.0")
    seeder.add_tag("app", "hotfix", image.digest)
    (result,) = run_plan(client, plan.items)
    assert result.outcome is Outcome.SKIPPED
    assert "gained tag(s) hotfix" in result.message
    assert seeder.digest_of("app", "hotfix") == seeder.digest_of("app", "1.0")


def test_child_of_an_index_named_by_digest_is_warned(client, standard) -> None:
    child = standard["multi/oci"]["1"].children[1]
    (item,) = plan_for(client, f"multi/oci@{child.digest}").items
    assert item.warnings
    assert "linux/arm64 image of multi-platform multi/oci:1" in item.warnings[0]


# --- untag only ---------------------------------------------------------------------


def test_untag_only_removes_one_tag_and_leaves_no_throwaway(
    client, seeder, registry, standard, journal
) -> None:
    image = standard["app"]["latest"]
    before = revisions(registry, "app")
    plan = plan_for(client, "app:stable")
    plan.untag_shared()
    (item,) = plan.items
    assert item.untag_only and item.also_removed == ()
    (result,) = run_plan(client, plan.items, journal=journal)
    assert result.outcome is Outcome.UNTAGGED, result.message
    assert seeder.tags("app") == ["1.0", "1.1", "latest"]
    assert seeder.digest_of("app", "1.1") == image.digest
    assert seeder.digest_of("app", "latest") == image.digest
    assert can_pull(seeder, "app", "latest")
    assert revisions(registry, "app") == before
    (entry,) = journal.entries()
    assert (entry.action, entry.untagged) == ("untag", ["stable"])
    assert restore_entry(client, entry, journal).restored_tags == ["stable"]
    assert seeder.digest_of("app", "stable") == image.digest


def test_untag_only_needs_push_rights_and_says_so(tmp_path) -> None:
    from devtools.registry import start_registry

    acl = {"alice": {"pull", "delete", "catalog"}}
    with start_registry(tmp_path / "r", auth="token", token_acl=acl) as registry:
        with Seeder(registry) as seeder:
            pushed = seeder.push_image("app", ["a", "b"])
            config = RegistryConfig(
                registry.url, username=registry.username, password=registry.password
            )
            with RegistryClient(config) as client:
                plan = plan_for(client, "app:a")
                plan.untag_shared()
                (result,) = run_plan(client, plan.items)
            assert result.outcome is Outcome.FAILED
            assert "needs push rights" in result.message
            assert seeder.tags("app") == ["a", "b"]
            assert seeder.digest_of("app", "a") == pushed.digest


def test_cli_untag_only(registry, seeder, standard, capsys) -> None:
    argv = ["delete", "--registry", registry.url, "app:latest", "--untag-only", "--yes"]
    assert cli.main([*argv, "--json"], stdin=io.StringIO()) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["outcome"] == "untagged"
    assert seeder.tags("app") == ["1.0", "1.1", "stable"]


# --- interrupted runs ----------------------------------------------------------------


class KillingJournal(Journal):
    """Stops the registry right after recording the intent of the n-th item,
    so that item's DELETE meets a dead registry."""

    def __init__(self, path: Path, registry: LocalRegistry, at: int) -> None:
        super().__init__(path)
        self.registry, self.at, self.count = registry, at, 0

    def record_intent(self, **kwargs):  # type: ignore[no-untyped-def]
        entry_id = super().record_intent(**kwargs)
        self.count += 1
        if self.count == self.at:
            self.registry.stop()
        return entry_id


def test_registry_killed_mid_run_then_a_rerun_finishes(
    registry, seeder, tmp_path, monkeypatch, capsys
) -> None:
    pushed = seeder.push_many("many", 12)
    refs = [f"many:{tag}" for tag in sorted(pushed)]
    journal_file = tmp_path / "data" / "journal.jsonl"
    journal = KillingJournal(journal_file, registry, at=5)
    config = RegistryConfig(registry.url, retries=0, timeout=5)
    with RegistryClient(config) as client:
        plan = build_plan(client, [parse_ref(r) for r in refs])
        results = run_plan(client, plan.items, workers=1, journal=journal)
    outcomes = [r.outcome for r in results]
    assert outcomes[:4] == [Outcome.DELETED] * 4
    assert outcomes[4:] == [Outcome.FAILED] * 8
    assert "may or may not be deleted" in results[4].message

    entries = {e.digest: e for e in Journal(journal_file).entries()}
    assert len(entries) == 5
    assert [entries[r.item.digest].outcome for r in results[:5]] == ["deleted"] * 4 + [
        "failed"
    ]

    registry.start()
    monkeypatch.setenv("REGSWEEP_DATA_DIR", str(journal_file.parent))
    argv = ["delete", "--registry", registry.url, *refs, "--yes", "--json"]
    assert cli.main(argv, stdin=io.StringIO()) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["outcome"] for r in rows] == ["already-deleted"] * 4 + ["deleted"] * 8
    assert seeder.tags("many") == []


def test_cancel_leaves_the_rest_untouched(client, seeder) -> None:
    pushed = seeder.push_many("many", 30)
    plan = build_plan(client, [parse_ref(f"many:{t}") for t in pushed])
    cancel = threading.Event()
    seen = []

    def on_result(result) -> None:
        seen.append(result)
        if len(seen) == 3:
            cancel.set()

    results = run_plan(
        client, plan.items, workers=1, cancel=cancel, on_result=on_result
    )
    deleted = [r for r in results if r.outcome is Outcome.DELETED]
    cancelled = [r for r in results if r.outcome is Outcome.CANCELLED]
    assert len(deleted) == 3 and len(cancelled) == 27
    for result in cancelled:
        assert seeder.manifest_exists("many", result.item.digest)
    for result in deleted:
        assert not seeder.manifest_exists("many", result.item.digest)


# --- the journal itself ------------------------------------------------------------


def test_journal_survives_a_torn_last_line(journal: Journal) -> None:
    from core.journal import SavedManifest

    saved = SavedManifest("sha256:" + "a" * 64, "application/x", '{"a": 1}')
    first = journal.record_intent(
        registry="http://r", profile="p", repository="app", manifest=saved, tags=["x"]
    )
    journal.record_outcome(first, "deleted", "ok")
    with journal.path.open("a") as handle:
        handle.write('{"schema": 1, "type": "intent", "id": "torn", "ti')
    (entry,) = journal.entries()
    assert (entry.id, entry.outcome, entry.tags) == (first, "deleted", ["x"])
    assert journal.find_deleted("http://r", "app", "x") == entry
    assert journal.find_deleted("http://r", "app", "y") is None
    assert journal.path.stat().st_mode & 0o777 == 0o600
    # The next record starts on a new line instead of joining the torn one.
    second = journal.record_intent(
        registry="http://r", profile="p", repository="app", manifest=saved, tags=["y"]
    )
    assert [e.id for e in journal.entries()] == [second, first]


def test_history_and_restore_commands(registry, seeder, standard, capsys) -> None:
    argv = ["delete", "--registry", registry.url, "team/api:v2", "--yes"]
    assert cli.main(argv, stdin=io.StringIO()) == 0
    capsys.readouterr()
    assert cli.main(["history", "--json"], stdin=io.StringIO()) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["repository"] == "team/api" and row["outcome"] == "deleted"
    assert cli.main(["history", "--csv"], stdin=io.StringIO()) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("id,time,action")
    assert cli.main(["restore", row["id"]], stdin=io.StringIO()) == 0
    assert "Restored team/api@" in capsys.readouterr().out
    assert seeder.digest_of("team/api", "v2") == standard["team/api"]["v2"].digest
    assert cli.main(["restore", "nope"], stdin=io.StringIO()) == 2


def test_a_failed_delete_is_journalled_as_failed(nodelete_registry, tmp_path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    with Seeder(nodelete_registry) as seeder:
        seeder.push_image("app", ["1"])
    with RegistryClient(RegistryConfig(nodelete_registry.url)) as client:
        (result,) = run_plan(client, plan_for(client, "app:1").items, journal=journal)
    assert result.outcome is Outcome.FAILED
    assert isinstance(result.error, errors.DeletionDisabledError)
    (entry,) = journal.entries()
    assert entry.outcome == "failed" and "deletion is disabled" in entry.message
