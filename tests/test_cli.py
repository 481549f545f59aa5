"""The command line against a real registry: listing, deleting, bad input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import cli
from devtools.registry import LocalRegistry
from devtools.seed import Seeder, seed_standard

ROOT = Path(__file__).resolve().parent.parent


class Terminal(io.StringIO):
    """Standard input that claims to be a terminal, with typed answers."""

    def isatty(self) -> bool:
        return True


def run(argv: list[str], stdin: io.StringIO | None = None) -> int:
    return cli.main(argv, stdin=stdin or io.StringIO(""))


@pytest.fixture
def standard(seeder: Seeder) -> dict:
    return seed_standard(seeder)


def test_repos_lists_every_page(big_catalog_registry: LocalRegistry, capsys) -> None:
    assert run(["repos", "--registry", big_catalog_registry.url, "--json"]) == 0
    names = json.loads(capsys.readouterr().out)
    with Seeder(big_catalog_registry) as seeder:
        assert names == seeder.catalog()
    assert len(names) >= 160


def test_tags_json_has_tag_and_digest(registry, standard, capsys) -> None:
    assert run(["tags", "--registry", registry.url, "app", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["tag"] for r in rows] == ["1.0", "1.1", "latest", "stable"]
    assert {r["tag"]: r["digest"] for r in rows} == {
        tag: image.digest for tag, image in standard["app"].items()
    }


def test_tags_details(registry, standard, capsys) -> None:
    argv = ["tags", "--registry", registry.url, "multi/oci", "--details"]
    assert run([*argv, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["kind"] == "index"
    assert row["platforms"] == ["linux/amd64", "linux/arm64"]
    assert row["created"].startswith("2024-03-30")
    assert row["size"] > 0
    assert run(argv) == 0
    text = capsys.readouterr().out
    assert "index" in text and "linux/arm64" in text and "2024-03-30" in text


def test_delete_shows_shared_tags_and_reports_each_reference(
    registry, seeder, standard, capsys
) -> None:
    argv = ["delete", "--registry", registry.url, "app:1.1", "team/api:v1", "--yes"]
    assert run([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert [r["reference"] for r in rows] == ["app:1.1", "team/api:v1"]
    assert [r["outcome"] for r in rows] == ["deleted", "deleted"]
    assert rows[0]["also_removed"] == ["latest", "stable"]
    assert "also removed: latest, stable" in captured.err
    assert seeder.tags("app") == ["1.0"]
    assert seeder.tags("team/api") == ["v2"]
    assert "garbage" in captured.err


def test_delete_asks_on_a_terminal_and_no_deletes_nothing(
    registry, seeder, standard, capsys
) -> None:
    argv = ["delete", "--registry", registry.url, "app:1.0"]
    assert run(argv, Terminal("no\n")) == 1
    assert "Nothing deleted" in capsys.readouterr().out
    assert seeder.tags("app") == ["1.0", "1.1", "latest", "stable"]
    assert run(argv, Terminal("yes\n")) == 0
    assert seeder.tags("app") == ["1.1", "latest", "stable"]


def test_delete_refuses_without_yes_when_not_a_terminal(
    registry, seeder, standard, capsys
) -> None:
    assert run(["delete", "--registry", registry.url, "app:1.0"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert seeder.tags("app") == ["1.0", "1.1", "latest", "stable"]


def test_delete_by_digest_and_a_missing_tag(registry, seeder, standard, capsys) -> None:
    digest = standard["multi/docker"]["1"].digest
    argv = ["delete", "--registry", registry.url, f"multi/docker@{digest}", "app:nope"]
    assert run([*argv, "--yes", "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["outcome"] == "deleted"
    assert rows[1] == {
        "reference": "app:nope",
        "outcome": "failed",
        "message": rows[1]["message"],
    }
    assert "does not exist" in rows[1]["message"]
    assert seeder.tags("multi/docker") == []
    assert seeder.tags("app") == ["1.0", "1.1", "latest", "stable"]


def test_delete_of_a_config_digest_is_refused(
    registry, seeder, standard, capsys
) -> None:
    config = standard["app"]["1.0"].config_digest
    argv = ["delete", "--registry", registry.url, f"app@{config}", "--yes"]
    assert run(argv) == 1
    assert "not a manifest of app" in capsys.readouterr().out
    assert seeder.blob_exists("app", config)
    assert seeder.digest_of("app", "1.0") == standard["app"]["1.0"].digest


def test_deletion_disabled_exit_1_with_the_fix(nodelete_registry, capsys) -> None:
    with Seeder(nodelete_registry) as seeder:
        pushed = seeder.push_image("app", ["1"])
        argv = ["delete", "--registry", nodelete_registry.url, "app:1", "--yes"]
        assert run(argv) == 1
        assert seeder.digest_of("app", "1") == pushed.digest
    out = capsys.readouterr().out
    assert "deletion is disabled" in out
    assert "storage.delete.enabled" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["delete", "--registry", "http://127.0.0.1:9", "App:1", "--yes"],
        ["delete", "--registry", "http://127.0.0.1:9", "app:-x", "--yes"],
        ["delete", "--registry", "http://127.0.0.1:9", "app", "--yes"],
        ["tags", "--registry", "http://127.0.0.1:9", "UPPER"],
        ["tags", "--registry", "127.0.0.1:9", "app"],
        ["repos", "--registry", "http://127.0.0.1:9", "--bogus"],
        ["repos"],
    ],
)
def test_bad_usage_exits_2_before_any_request(argv, capsys) -> None:
    assert run(argv) == 2
    assert capsys.readouterr().err.startswith("regsweep: ")


def test_basic_auth_password_from_env_and_stdin(
    basic_registry, monkeypatch, capsys
) -> None:
    with Seeder(basic_registry) as seeder:
        seeder.push_image("app", ["1"])
    base = ["tags", "--registry", basic_registry.url, "app", "--username", "alice"]
    monkeypatch.setenv(cli.PASSWORD_ENV, basic_registry.password)
    assert run(base) == 0
    monkeypatch.delenv(cli.PASSWORD_ENV)
    assert (
        run([*base, "--password-stdin"], io.StringIO(basic_registry.password + "\n"))
        == 0
    )
    assert run([*base, "--password-stdin"], io.StringIO("wrong\n")) == 1
    err = capsys.readouterr().err
    assert "refused the username or password" in err
    assert basic_registry.password not in err


def test_tls_ca_file_and_insecure(tls_registry, capsys) -> None:
    base = ["repos", "--registry", tls_registry.url]
    assert run(base) == 1
    assert "TLS" in capsys.readouterr().err
    assert run([*base, "--ca-file", str(tls_registry.ca_file)]) == 0
    assert run([*base, "--insecure"]) == 0


def test_main_py_runs_the_cli(registry, standard, tmp_path) -> None:
    env = {**os.environ, "REGSWEEP_LOG_DIR": str(tmp_path)}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "main.py"),
            "tags",
            "--registry",
            registry.url,
            "app",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0:2] == ["1.0", standard["app"]["1.0"].digest]
    assert (tmp_path / "regsweep.log").exists()
