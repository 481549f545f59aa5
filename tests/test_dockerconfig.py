"""Importing logins from ~/.docker/config.json, inline and through helpers."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

from core import errors
from core.dockerconfig import (
    DockerLogin,
    docker_config_path,
    read_docker_logins,
    server_host,
)

# A credential helper speaking Docker's protocol: `get` reads a server URL on
# stdin; `list` prints server -> username. It knows two servers.
HELPER = """#!{python}
import json, sys
known = {{
    "https://ghcr.example": ("robot", "helper-secret"),
    "store.example:5000": ("storeuser", "store-secret"),
    "oauth.example": ("<token>", "refresh"),
}}
action = sys.argv[1]
if action == "list":
    print(json.dumps({{k: v[0] for k, v in known.items()}}))
elif action == "get":
    server = sys.stdin.read().strip()
    if server not in known:
        print("credentials not found in native keychain")
        sys.exit(1)
    user, secret = known[server]
    print(json.dumps({{"ServerURL": server, "Username": user, "Secret": secret}}))
"""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def helper_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker-credential-fake"
    script.write_text(HELPER.format(python=sys.executable))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return script


def write_config(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "docker" / "config.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def test_inline_logins_are_decoded(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": b64("hubuser:hub:pw")},
                "registry.example.com:5000": {"auth": b64("alice:wonderland")},
                "http://plain.example": {"username": "bob", "password": "builder"},
                "broken.example": {"auth": "%%%"},
                "token.example": {"identitytoken": "abc"},
                "empty.example": {},
            }
        },
    )
    found = read_docker_logins(path)

    by_host = {login.host: login for login in found.logins}
    assert set(by_host) == {
        "registry-1.docker.io",
        "registry.example.com:5000",
        "plain.example",
    }
    assert by_host["registry-1.docker.io"].password == "hub:pw"
    assert by_host["registry.example.com:5000"].username == "alice"
    assert by_host["plain.example"].registry_url == "http://plain.example"
    assert by_host["registry.example.com:5000"].registry_url == (
        "https://registry.example.com:5000"
    )
    problems = {p.server: p.message for p in found.problems}
    assert "cannot be decoded" in problems["broken.example"]
    assert "identity token" in problems["token.example"]
    assert "wonderland" not in repr(found.logins)


def test_logins_match_registry_urls_by_host_and_port(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, {"auths": {"127.0.0.1:5000": {"auth": b64("alice:pw")}}}
    )
    found = read_docker_logins(path)
    login = found.for_url("http://127.0.0.1:5000/")
    assert login == DockerLogin("127.0.0.1:5000", "alice", "pw", "config.json")
    assert found.for_url("http://127.0.0.1:5001") is None
    assert server_host("https://Docker.IO") == "registry-1.docker.io"


@pytest.mark.usefixtures("helper_on_path")
def test_cred_helpers_are_asked_with_the_server_on_stdin(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {
            "auths": {"inline.example": {"auth": b64("i:pw")}},
            "credHelpers": {
                "https://ghcr.example": "fake",
                "unknown.example": "fake",
                "missing.example": "absent",
                "oauth.example": "fake",
            },
        },
    )
    found = read_docker_logins(path)

    logins = {login.server: login for login in found.logins}
    assert logins["https://ghcr.example"].password == "helper-secret"
    assert logins["https://ghcr.example"].source == "docker-credential-fake"
    assert logins["inline.example"].password == "pw"
    problems = {p.server: p.message for p in found.problems}
    assert "found no login: credentials not found" in problems["unknown.example"]
    assert "docker-credential-absent is not installed" in problems["missing.example"]
    assert "identity token" in problems["oauth.example"]


@pytest.mark.usefixtures("helper_on_path")
def test_creds_store_covers_listed_and_empty_entries(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {
            "auths": {"store.example:5000": {}, "inline.example": {"auth": b64("a:b")}},
            "credsStore": "fake",
        },
    )
    found = read_docker_logins(path)
    assert {(login.server, login.username) for login in found.logins} == {
        ("store.example:5000", "storeuser"),
        ("https://ghcr.example", "robot"),
        ("inline.example", "a"),
    }


def test_a_slow_helper_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker-credential-slow"
    script.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    path = write_config(tmp_path, {"credHelpers": {"slow.example": "slow"}})

    found = read_docker_logins(path, timeout=0.5)
    assert found.logins == []
    assert "did not answer within 0.5 s" in found.problems[0].message


def test_missing_and_broken_config_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "nowhere"))
    assert docker_config_path() == tmp_path / "nowhere" / "config.json"
    assert read_docker_logins().logins == []

    path = tmp_path / "config.json"
    path.write_text("not json")
    with pytest.raises(errors.ConfigError, match="not valid JSON"):
        read_docker_logins(path)
