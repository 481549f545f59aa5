"""An in-process token server for registries configured with ``auth.token``.

It implements the part of the Docker token protocol that clients use: ``GET
/token?service=...&scope=...`` with optional Basic credentials, answered with an
ES256 JWT that the registry trusts through ``rootcertbundle``. Access is granted
per user from a small ACL, so tests can give a user pull-only or no-delete rights.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devtools.certs import libtrust_key_id, self_signed_certificate

ACTIONS = frozenset({"pull", "push", "delete", "catalog", "*"})
REPOSITORY_ACTIONS = ("pull", "push", "delete")
ADMIN_TOKEN_LIFETIME = 3600

Access = dict[str, Any]


class TokenServer:
    """Issues registry tokens on ``http://127.0.0.1:<port>/token``.

    ``acl`` maps a user name (``""`` for anonymous requests) to the actions it may
    receive: any of ``pull``, ``push``, ``delete``, ``catalog``, or ``*`` for all.
    By default every user in ``users`` gets ``*`` and anonymous gets nothing.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        users: Mapping[str, str],
        acl: Mapping[str, Iterable[str]] | None = None,
        expires_in: int = 60,
        service: str = "regsweep-test-registry",
        issuer: str = "regsweep-test-token-issuer",
    ) -> None:
        self.users = dict(users)
        self.acl = _checked_acl(acl if acl is not None else dict.fromkeys(users, "*"))
        self.expires_in = expires_in
        self.service = service
        self.issuer = issuer
        self.requests_served = 0
        self._count_lock = threading.Lock()

        self._key = ec.generate_private_key(ec.SECP256R1())
        self.key_id = libtrust_key_id(self._key.public_key())
        self.rootcertbundle = workdir / "token-root.pem"
        certificate = self_signed_certificate(self._key, issuer)
        self.rootcertbundle.write_bytes(
            certificate.public_bytes(serialization.Encoding.PEM)
        )

        self._httpd = _TokenHTTPServer(self)
        self.port: int = self._httpd.server_address[1]
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="token-server", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> TokenServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def mint(
        self, subject: str, access: list[Access], *, expires_in: int | None = None
    ) -> str:
        """A signed token for ``subject`` carrying exactly ``access``."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + (self.expires_in if expires_in is None else expires_in),
            "nbf": now,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        headers = {"kid": self.key_id}
        return jwt.encode(claims, self._key, algorithm="ES256", headers=headers)

    def admin_token(self, scope: str) -> str:
        """A long-lived token with every action on ``scope`` (``""``: none)."""
        access = [_parse_scope(scope) | {"actions": ["*"]}] if scope else []
        return self.mint("regsweep-admin", access, expires_in=ADMIN_TOKEN_LIFETIME)

    def grant(self, user: str, scopes: Iterable[str]) -> list[Access]:
        """The access entries ``user`` receives for the requested ``scopes``."""
        allowed = self.acl.get(user, frozenset())
        granted = (_grant_one(_parse_scope(scope), allowed) for scope in scopes)
        return [entry for entry in granted if entry is not None]

    def authenticate(self, authorization: str | None) -> str | None:
        """The user name for a Basic header, ``""`` without one, None if wrong."""
        if not authorization:
            return ""
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, password = decoded.partition(":")
        return user if user in self.users and self.users[user] == password else None

    def _count_request(self) -> None:
        with self._count_lock:
            self.requests_served += 1


class _TokenHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Closing must not wait for clients that keep a connection alive.
    block_on_close = False

    def __init__(self, owner: TokenServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _TokenHandler)


class _TokenHandler(BaseHTTPRequestHandler):
    server: _TokenHTTPServer
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections are dropped after this

    def do_GET(self) -> None:
        owner = self.server.owner
        url = urlsplit(self.path)
        if url.path != "/token":
            self._send_json(404, _errors("NOT_FOUND", "no such endpoint"))
            return
        owner._count_request()

        query = parse_qs(url.query)
        if query.get("service", [owner.service]) != [owner.service]:
            self._send_json(400, _errors("INVALID_REQUEST", "unknown service"))
            return
        user = owner.authenticate(self.headers.get("Authorization"))
        if user is None:
            self._send_json(401, _errors("UNAUTHORIZED", "invalid credentials"))
            return

        scopes = [s for value in query.get("scope", []) for s in value.split()]
        token = owner.mint(user or "anonymous", owner.grant(user, scopes))
        self._send_json(200, _token_body(token, owner.expires_in))

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: request lines would clutter test output."""

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="regsweep-test-token"')
        self.end_headers()
        self.wfile.write(payload)


def _token_body(token: str, expires_in: int) -> dict[str, Any]:
    issued_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return {
        "token": token,
        "access_token": token,
        "expires_in": expires_in,
        "issued_at": issued_at.replace("+00:00", "Z"),
    }


def _errors(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message}]}


def _parse_scope(scope: str) -> Access:
    """Split ``type:name:actions``; names may not hold ``:``, actions are last."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    kind = kind.split("(", 1)[0]  # "repository(plugin)" is still a repository
    return {"type": kind, "name": name, "actions": actions.split(",")}


def _grant_one(requested: Access, allowed: frozenset[str]) -> Access | None:
    if requested["type"] == "registry" and requested["name"] == "catalog":
        if allowed & {"*", "catalog"}:
            return requested | {"actions": ["*"]}
        return None
    if requested["type"] != "repository":
        return None
    if "*" in allowed:
        return requested
    wanted = requested["actions"]
    if "*" in wanted:
        wanted = REPOSITORY_ACTIONS
    actions = [action for action in wanted if action in allowed]
    return requested | {"actions": actions} if actions else None


def _checked_acl(
    acl: Mapping[str, Iterable[str] | str],
) -> dict[str, frozenset[str]]:
    checked = {}
    for user, actions in acl.items():
        action_set = frozenset([actions] if isinstance(actions, str) else actions)
        unknown = action_set - ACTIONS
        if unknown:
            raise ValueError(f"unknown actions for {user!r}: {sorted(unknown)}")
        checked[user] = action_set
    return checked
