"""Logins Docker already knows, from ``~/.docker/config.json``.

Docker keeps a login either inline in ``auths`` (base64 of ``user:password``
in ``auth``, or separate ``username``/``password``) or in a credential helper
(``credsStore`` for every registry, ``credHelpers`` per registry). A helper is
the program ``docker-credential-NAME``; ``get`` reads a server URL on stdin and
prints ``{"ServerURL", "Username", "Secret"}``. Helpers are asked only if they
are on ``PATH``, with a timeout, and their output is never logged.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core import errors
from core.profiles import read_json

log = logging.getLogger(__name__)

HELPER_PREFIX = "docker-credential-"
HELPER_TIMEOUT = 10.0
# Docker Hub logins are stored under the old index address.
_HUB_ALIASES = {"index.docker.io", "docker.io", "registry-1.docker.io"}
_HUB_REGISTRY = "registry-1.docker.io"
# A helper answers this username when the secret is an OAuth identity token.
_IDENTITY_TOKEN_USER = "<token>"

Which = Callable[[str], str | None]


@dataclass(frozen=True)
class DockerLogin:
    server: str  # as written in the Docker config
    username: str
    password: str = field(repr=False)
    source: str  # "config.json" or the helper's program name

    @property
    def host(self) -> str:
        return server_host(self.server)

    @property
    def registry_url(self) -> str:
        """The registry URL a profile should use for this login."""
        parts = urlsplit(self.server if "://" in self.server else f"//{self.server}")
        scheme = parts.scheme or "https"
        return f"{scheme}://{self.host}"


@dataclass(frozen=True)
class DockerLoginProblem:
    server: str
    message: str


@dataclass
class DockerLogins:
    path: Path
    logins: list[DockerLogin] = field(default_factory=list)
    problems: list[DockerLoginProblem] = field(default_factory=list)

    def for_url(self, url: str) -> DockerLogin | None:
        """The login whose server matches the host (and port) of ``url``."""
        host = server_host(url)
        return next((login for login in self.logins if login.host == host), None)


def docker_config_path() -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    directory = os.environ.get("DOCKER_CONFIG")
    base = Path(directory) if directory else Path.home() / ".docker"
    return base / "config.json"


def server_host(server: str) -> str:
    """``host[:port]`` of a Docker config key or a registry URL, lower-case;
    Docker Hub's aliases all become its registry host."""
    text = server.strip()
    parts = urlsplit(text if "://" in text else f"//{text}")
    host = (parts.hostname or "").lower()
    if host in _HUB_ALIASES:
        return _HUB_REGISTRY
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def read_docker_logins(
    path: Path | None = None,
    *,
    which: Which = shutil.which,
    timeout: float = HELPER_TIMEOUT,
) -> DockerLogins:
    """Every login the Docker config holds or names a helper for.

    A missing file gives no logins; an unreadable one raises
    :class:`~core.errors.ConfigError`. Helpers that are missing or fail are
    reported in ``problems``, one per server."""
    path = path or docker_config_path()
    found = DockerLogins(path)
    document = read_json(path, "The Docker config")
    if document is None:
        return found
    auths = _mapping(document.get("auths"))
    helpers = _helper_assignments(document, auths, which, timeout, found)
    for server, entry in auths.items():
        if server not in helpers:
            _add_inline(found, server, entry)
    for server, helper in helpers.items():
        _add_from_helper(found, server, helper, which, timeout)
    log.info(
        "read %d Docker login(s), %d problem(s) from %s",
        len(found.logins),
        len(found.problems),
        path,
    )
    return found


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _helper_assignments(
    document: dict[str, Any],
    auths: dict[str, Any],
    which: Which,
    timeout: float,
    found: DockerLogins,
) -> dict[str, str]:
    """Server -> helper name: ``credHelpers`` first, then ``credsStore`` for
    servers without an inline login and for those the store lists."""
    assigned = {
        server: str(name)
        for server, name in _mapping(document.get("credHelpers")).items()
        if isinstance(name, str) and name
    }
    store = document.get("credsStore")
    if not isinstance(store, str) or not store:
        return assigned
    for server, entry in auths.items():
        if server not in assigned and not _has_inline(entry):
            assigned[server] = store
    for server in _helper_list(store, which, timeout, found):
        assigned.setdefault(server, store)
    return assigned


def _has_inline(entry: Any) -> bool:
    entry = _mapping(entry)
    return bool(entry.get("auth") or entry.get("username"))


def _add_inline(found: DockerLogins, server: str, entry: Any) -> None:
    entry = _mapping(entry)
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        username, sep, password = decoded.partition(":")
        if not sep or not username:
            found.problems.append(
                DockerLoginProblem(server, "Its stored login cannot be decoded.")
            )
            return
    elif entry.get("username"):
        username, password = str(entry["username"]), str(entry.get("password") or "")
    elif entry.get("identitytoken"):
        found.problems.append(
            DockerLoginProblem(
                server, "It holds an identity token, which Regsweep cannot use."
            )
        )
        return
    else:
        return
    found.logins.append(DockerLogin(server, username, password, "config.json"))


def _add_from_helper(
    found: DockerLogins, server: str, helper: str, which: Which, timeout: float
) -> None:
    try:
        answer = _run_helper(helper, "get", server, which, timeout)
        username, secret = _parse_get(answer, helper)
    except errors.ConfigError as exc:
        found.problems.append(DockerLoginProblem(server, str(exc)))
        return
    found.logins.append(DockerLogin(server, username, secret, HELPER_PREFIX + helper))


def _parse_get(answer: str, helper: str) -> tuple[str, str]:
    try:
        body = json.loads(answer)
    except json.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("Secret"), str):
        raise errors.ConfigError(f"{HELPER_PREFIX}{helper} gave an unreadable answer.")
    username = str(body.get("Username") or "")
    if username == _IDENTITY_TOKEN_USER:
        raise errors.ConfigError(
            f"{HELPER_PREFIX}{helper} holds an identity token, which Regsweep "
            "cannot use."
        )
    return username, body["Secret"]


def _helper_list(
    helper: str, which: Which, timeout: float, found: DockerLogins
) -> list[str]:
    """Servers a helper has logins for (``list`` prints server -> username)."""
    try:
        answer = _run_helper(helper, "list", "", which, timeout)
        listed = json.loads(answer)
    except errors.ConfigError as exc:
        found.problems.append(DockerLoginProblem(f"({helper})", str(exc)))
        return []
    except json.JSONDecodeError:
        return []
    return [str(server) for server in _mapping(listed)]


def _run_helper(
    helper: str, action: str, stdin: str, which: Which, timeout: float
) -> str:
    program = HELPER_PREFIX + helper
    executable = which(program)
    if executable is None:
        raise errors.ConfigError(
            f"The credential helper {program} is not installed (not on PATH)."
        )
    try:
        result = subprocess.run(
            [executable, action],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise errors.ConfigError(
            f"The credential helper {program} did not answer within {timeout:g} s.",
            "It may be waiting for a keyring to be unlocked.",
        ) from None
    except OSError as exc:
        raise errors.ConfigError(
            f"The credential helper {program} could not be run: {exc.strerror}."
        ) from None
    if result.returncode != 0:
        reason = (result.stdout.strip() or result.stderr.strip()).splitlines()
        raise errors.ConfigError(
            f"The credential helper {program} found no login"
            + (f": {reason[0][:200]}" if reason else ".")
        )
    return result.stdout
