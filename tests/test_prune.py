"""Pruning by rules against a real registry: the plan shown is exactly what
gets deleted, and afterwards the registry holds exactly the kept tags."""

from __future__ import annotations

import io
import json
import signal
import threading
from datetime import UTC, datetime, timedelta

import pytest

from core import cli, errors
from core.cli.prune import cancel_on_interrupt
from core.client import RegistryClient, RegistryConfig
from core.delete import Outcome
from core.prune import apply_plan, collect
from core.rules import Rules, save_rules
from core.verdicts import evaluate
from devtools.registry import LocalRegistry, start_registry
from devtools.seed import Seeder

SEMVER = r"^v\d+\.\d+\.\d+$"
RULE_ARGS = ["--keep", "1", "--older-than", "90d", "--exclude-repos", "^other/"]
RULE_ARGS += ["--protect", "^latest$", "--protect", SEMVER, "--protect", "stable"]


class Terminal(io.StringIO):
    """Standard input that claims to be a terminal, with typed answers."""

    def isatty(self) -> bool:
        return True


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(argv: list[str], stdin: io.StringIO | None = None) -> int:
    return cli.main(argv, stdin=stdin or io.StringIO(""))


@pytest.fixture
def fleet(seeder: Seeder) -> dict:
    """Several repositories with varied dates, shared tags, multi-platform
    images (one with a tagged platform image) and undated images."""
    push, index = seeder.push_image, seeder.push_index
    web = {
        "1.0": push("web", ["1.0"], created=ago(400)),
        "1.1": push("web", ["1.1", "stable"], created=ago(200)),
        "1.2": push("web", ["1.2"], created=ago(100)),
        "1.3": push("web", ["1.3"], created=ago(60)),
        "1.4": push("web", ["1.4", "latest"], created=ago(5)),
        "nightly": push("web", ["nightly"], created="1970-01-01T00:00:00Z"),
        "v1.0.0": push("web", ["v1.0.0"], created=ago(300)),
    }
    multi = {
        "1": index("multi", ["1"], kind="oci", created=ago(300)),
        "2": index("multi", ["2"], kind="oci", created=ago(150)),
        "3": index("multi", ["3"], kind="oci", created=ago(2)),
    }
    seeder.add_tag("multi", "1-amd64", multi["1"].children[0].digest)
    api = {
        "a": push("api", ["a"], kind="oci", created=None),
        "b": push("api", ["b"], kind="oci", created=ago(120)),
        "c": push("api", ["c"], kind="oci", created=ago(20)),
    }
    ci = {
        "pr-1": push("ci", ["pr-1", "build-1"], created=ago(100)),
        "pr-2": push("ci", ["pr-2"], created=ago(100)),
        "pr-3": push("ci", ["pr-3"], created=ago(1)),
    }
    other = push("other/keep", ["old"], created=ago(900))
    return {"web": web, "multi": multi, "api": api, "ci": ci, "other": other}


def snapshot(seeder: Seeder) -> dict[str, dict[str, str | None]]:
    return {
        repo: {tag: seeder.digest_of(repo, tag) for tag in seeder.tags(repo)}
        for repo in seeder.catalog()
    }


# --- the whole cycle through the CLI ------------------------------------------------


def test_dry_run_plan_is_exactly_what_a_real_run_deletes(
    registry, seeder, fleet, capsys
) -> None:
    before = snapshot(seeder)
    base = ["prune", "--registry", registry.url, *RULE_ARGS]
    assert run([*base, "--dry-run", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert snapshot(seeder) == before
    assert {"repo", "tag", "digest", "verdict", "reason"} <= set(rows[0])

    verdicts = {(r["repo"], r["tag"]): r for r in rows}
    kept: dict[str, list[str]] = {}
    for (repo, tag), row in sorted(verdicts.items()):
        if row["verdict"] == "keep":
            kept.setdefault(repo, []).append(tag)
    assert kept == {
        "web": ["1.1", "1.3", "1.4", "latest", "nightly", "stable", "v1.0.0"],
        "multi": ["3"],
        "api": ["a", "c"],
        "ci": ["pr-3"],
    }
    assert not any(r == "other/keep" for r, _ in verdicts)
    assert verdicts["web", "latest"]["reason"] == "kept: protected by pattern ^latest$"
    assert verdicts["web", "1.4"]["reason"] == (
        "kept: shares its digest with protected tag latest"
    )
    assert verdicts["web", "1.3"]["reason"] == "kept: among the 1 newest"
    assert verdicts["web", "1.0"]["reason"].startswith("deleted: created ")
    assert verdicts["web", "1.0"]["reason"].endswith(
        "older than 90 days and not among the 1 newest"
    )
    assert verdicts["web", "nightly"]["date_source"] == "implausible (1970-01-01)"
    assert verdicts["api", "a"]["reason"] == "kept: no usable created date (missing)"
    assert verdicts["multi", "1-amd64"]["verdict"] == "delete"

    assert run([*base, "--yes", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert {r["outcome"] for r in results} == {"deleted"}
    planned = {(r["repo"], r["digest"]) for r in rows if r["verdict"] == "delete"}
    assert {(r["repo"], r["digest"]) for r in results} == planned

    for repo, tags in kept.items():
        assert seeder.tags(repo) == tags
        for tag in tags:
            assert seeder.digest_of(repo, tag) == before[repo][tag]
    for repo, digest in planned:
        assert not seeder.manifest_exists(repo, digest)
    assert seeder.tags("other/keep") == ["old"]
    kept_index, gone_index = fleet["multi"]["3"], fleet["multi"]["1"]
    assert all(seeder.manifest_exists("multi", c.digest) for c in kept_index.children)
    # An untagged platform image is never deleted; garbage collection decides.
    assert seeder.manifest_exists("multi", gone_index.children[1].digest)


def test_a_second_run_finds_nothing_to_do(registry, seeder, fleet, capsys) -> None:
    base = ["prune", "--registry", registry.url, *RULE_ARGS]
    assert run([*base, "--yes"]) == 0
    after = snapshot(seeder)
    capsys.readouterr()
    assert run([*base, "--dry-run", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["verdict"] for r in rows} == {"keep"}
    assert run([*base, "--yes"]) == 0
    assert "Nothing to delete." in capsys.readouterr().out
    assert snapshot(seeder) == after


def test_text_plan_shows_every_tag_with_its_reason(
    registry, seeder, fleet, capsys
) -> None:
    argv = ["prune", "--registry", registry.url, *RULE_ARGS, "--repos", "^web$"]
    assert run([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines() if line.startswith("  ")]
    assert sorted((words[0], words[1]) for words in lines) == sorted(
        [("delete", "1.0"), ("delete", "1.2"), ("keep", "1.1"), ("keep", "1.3")]
        + [("keep", t) for t in ("1.4", "latest", "nightly", "stable", "v1.0.0")]
    )
    assert "web: 9 tags: 2 to delete, 0 to untag, 7 kept" in out
    assert "(protected images do not count toward the newest N)" in out


def test_rules_file_with_shared_tags_untagged(
    registry, seeder, fleet, tmp_path, capsys
) -> None:
    rules = Rules(
        repos_include=("^ci$",),
        older_than="30d",
        tags_include=("^pr-",),
        shared="untag",
    )
    path = tmp_path / "rules.json"
    save_rules(path, rules)
    shared = fleet["ci"]["pr-1"].digest
    argv = ["prune", "--registry", registry.url, "--rules", str(path)]
    assert run([*argv, "--dry-run", "--json"]) == 0
    rows = {r["tag"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["pr-1"]["verdict"] == "untag"
    assert rows["pr-1"]["reason"].endswith(
        "only this tag is removed, the image stays for kept tag build-1"
    )
    assert rows["build-1"]["reason"] == "kept: matches no tag include pattern"
    assert (rows["pr-2"]["verdict"], rows["pr-3"]["verdict"]) == ("delete", "keep")

    assert run([*argv, "--yes", "--json"]) == 0
    results = {r["digest"]: r for r in json.loads(capsys.readouterr().out)}
    assert results[shared]["action"] == "untag"
    assert results[shared]["outcome"] == "untagged"
    assert seeder.tags("ci") == ["build-1", "pr-3"]
    assert seeder.digest_of("ci", "build-1") == shared


def test_shared_keep_explains_itself(registry, seeder, fleet, capsys) -> None:
    argv = ["prune", "--registry", registry.url, "--repos", "^ci$", "--keep", "1"]
    assert run([*argv, "--tags", "^pr-", "--dry-run", "--json"]) == 0
    rows = {r["tag"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["pr-1"]["verdict"] == "keep"
    assert rows["pr-1"]["reason"].startswith(
        "kept: shares its digest with kept tag build-1 (else deleted: created "
    )


def test_a_terminal_answer_of_no_deletes_nothing(
    registry, seeder, fleet, capsys
) -> None:
    before = snapshot(seeder)
    argv = ["prune", "--registry", registry.url, *RULE_ARGS]
    assert run(argv, Terminal("no\n")) == 1
    assert "Nothing deleted." in capsys.readouterr().out
    assert snapshot(seeder) == before


def test_refuses_without_yes_when_not_a_terminal(
    registry, seeder, fleet, capsys
) -> None:
    before = snapshot(seeder)
    assert run(["prune", "--registry", registry.url, *RULE_ARGS]) == 2
    assert "--yes" in capsys.readouterr().err
    assert snapshot(seeder) == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "prune needs --keep N, --older-than AGE or --rules FILE"),
        (["--keep", "2", "--protect", "v[0-9"], "protect pattern 'v[0-9' is not"),
        (["--older-than", "90"], "'90' is not a duration"),
        (["--keep", "-1"], "must be 0 or more"),
        (["--rules", "r.json", "--keep", "2"], "cannot be combined with --keep"),
        (["--rules", "/nonexistent/r.json"], "Cannot read rules file"),
        (["--keep", "1", "--repository", "Bad/Name"], "not a valid repository"),
        (["--keep", "1", "--undated", "guess"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_before_any_request(extra, message, capsys) -> None:
    # Port 9 has no registry: any request would fail with exit code 1.
    argv = ["prune", "--registry", "http://127.0.0.1:9", *extra, "--dry-run"]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("regsweep: ")
    assert message in err


def test_bad_rules_file_exits_2(tmp_path, capsys) -> None:
    path = tmp_path / "rules.json"
    path.write_text('{"schema": 9, "keep_newest": 1}')
    argv = ["prune", "--registry", "http://127.0.0.1:9", "--rules", str(path)]
    assert run([*argv, "--yes"]) == 2
    assert "Unknown rules schema 9" in capsys.readouterr().err


def test_an_unreadable_repository_is_reported_and_the_rest_done(
    registry, seeder, fleet, capsys
) -> None:
    argv = ["prune", "--registry", registry.url, "--keep", "1"]
    argv += ["--repository", "api", "--repository", "missing/repo", "--yes"]
    assert run(argv) == 1
    out = capsys.readouterr().out
    assert "cannot judge missing/repo: Its tags could not be read" in out
    assert seeder.tags("api") == ["a", "c"]


def test_catalog_refused_asks_for_repository_names(tmp_path, capsys) -> None:
    acl = {"alice": {"pull", "push", "delete"}}
    with start_registry(tmp_path / "r", auth="token", token_acl=acl) as registry:
        with Seeder(registry) as seeder:
            seeder.push_image("app", ["1"], created=ago(10))
            seeder.push_image("app", ["2"], created=ago(5))
        login = ["--username", "alice", "--password-stdin"]
        base = ["prune", "--registry", registry.url, *login, "--keep", "1"]
        password = registry.password + "\n"
        assert run([*base, "--dry-run"], io.StringIO(password)) == 1
        err = capsys.readouterr().err
        assert "refuses to list its repositories" in err
        assert "--repository NAME" in err
        argv = [*base, "--repository", "app", "--dry-run", "--json"]
        assert run(argv, io.StringIO(password)) == 0
        rows = json.loads(capsys.readouterr().out)
        assert {r["tag"]: r["verdict"] for r in rows} == {"1": "delete", "2": "keep"}


# --- the core API -------------------------------------------------------------------


@pytest.fixture
def client(registry: LocalRegistry) -> RegistryClient:
    with RegistryClient(RegistryConfig(registry.url, backoff=0.05)) as found:
        yield found


def test_collect_reads_dates_blobs_and_platform_images(client, fleet) -> None:
    inventory = collect(client, Rules(repos_include=("^(web|multi)$",)))
    assert sorted(inventory.repositories) == ["multi", "web"]
    web = inventory.repositories["web"]
    pushed = fleet["web"]["1.0"]
    facts = web["1.0"]
    assert facts.digest == pushed.digest
    assert facts.created == datetime.fromisoformat(pushed.created)
    expected = {pushed.digest: len(pushed.manifest_bytes), pushed.config_digest: None}
    assert set(facts.blobs) == {*expected, *pushed.layer_digests}
    assert sum(facts.blobs.values()) == len(pushed.manifest_bytes) + pushed.size_total
    index = fleet["multi"]["1"]
    multi = inventory.repositories["multi"]
    assert multi["1"].children == tuple(c.digest for c in index.children)
    assert multi["1-amd64"].digest == index.children[0].digest
    assert set(multi["1"].blobs) >= {c.digest for c in index.children}


def test_unreferenced_bytes_of_deleted_images(client, fleet) -> None:
    rules = Rules(repos_include=("^web$",), keep_newest=1, protect=("latest",))
    plan = evaluate(rules, collect(client, rules), datetime.now(UTC))
    deleted = [i.digest for i in plan.items]
    images = [i for i in fleet["web"].values() if i.digest in deleted]
    assert sorted(i.tags[0] for i in images) == ["1.0", "1.1", "1.2", "v1.0.0"]
    (totals,) = plan.totals
    expected = sum(len(i.manifest_bytes) + i.size_total for i in images)
    assert totals.unreferenced_bytes == plan.unreferenced_bytes == expected
    assert totals.sizes_known


def test_platform_images_wait_for_their_multi_platform_image(
    client, seeder, fleet
) -> None:
    rules = Rules(repos_include=("^multi$",), keep_newest=1)
    plan = evaluate(rules, collect(client, rules), datetime.now(UTC))
    child = fleet["multi"]["1"].children[0]
    assert f"multi@{child.digest}" in plan.after
    # Re-pushing tag 1 elsewhere makes the re-check skip the index; its tagged
    # platform image must then stay too.
    moved = seeder.push_image("multi", ["1"], created=ago(1))
    seen = []
    results = apply_plan(client, plan, on_result=seen.append)
    outcomes = {r.item.digest: r for r in results}
    assert outcomes[fleet["multi"]["1"].digest].outcome is Outcome.SKIPPED
    held = outcomes[child.digest]
    assert held.outcome is Outcome.SKIPPED
    assert "platform image of multi@" in held.message
    assert outcomes[fleet["multi"]["2"].digest].outcome is Outcome.DELETED
    assert len(seen) == len(results) == 3
    assert seeder.digest_of("multi", "1-amd64") == child.digest
    assert seeder.digest_of("multi", "1") == moved.digest


def test_collect_can_be_cancelled(client, fleet) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(errors.CancelledError):
        collect(client, Rules(keep_newest=1), cancel=cancel)


def test_ctrl_c_sets_cancel_before_interrupting() -> None:
    cancel = threading.Event()
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), cancel_on_interrupt(cancel):
        signal.raise_signal(signal.SIGINT)
    assert cancel.is_set()
    assert signal.getsignal(signal.SIGINT) is before
