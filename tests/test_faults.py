"""The registry client against faults a real registry cannot produce.

A scripted local server (tests/fake_server.py) plays a registry behind a
broken proxy, a flaky network or a buggy token server. Every error must be the
right exception, worded for a person, and must never carry a password or token:
the password, its Basic form and every token handed out are checked against
each error and each log record.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from core import cli, errors
from core.client import ZERO_DIGEST, RegistryClient, RegistryConfig
from core.images import ACCEPT_TYPES, OCI_MANIFEST
from tests.fake_server import (
    FakeServer,
    Reply,
    Seen,
    basic_gate,
    closed_port,
    html_reply,
    json_reply,
    registry_error,
    running,
)

USER = "alice"
PASSWORD = "s3cr3t-PW"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
TOKEN_PREFIX = "tok-SECRET-"
SECRETS = (PASSWORD, BASIC, TOKEN_PREFIX)

REPO = "team/app"
TAGS_PATH = f"/v2/{REPO}/tags/list"
# A manifest as a registry stores it: the digest is of these exact bytes, odd
# spacing included, so re-serialising the JSON would give another digest.
MANIFEST_RAW = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "c" * 64,
            "size": 2,
        },
        "layers": [],
    },
    indent=3,
).encode()
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST_RAW).hexdigest()
CONFIG_DIGEST = "sha256:" + "c" * 64


def manifest_reply(digest: str | None = MANIFEST_DIGEST) -> Reply:
    headers = {"Content-Type": OCI_MANIFEST}
    if digest is not None:
        headers["Docker-Content-Digest"] = digest
    return Reply(200, headers, MANIFEST_RAW)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a secret leaked into: {text!r}"


def assert_clear(exc: BaseException, *words: str) -> None:
    """A message that says what happened (``words``) and leaks nothing, here
    or anywhere in the chain of causes a details dialog would show."""
    text = str(exc)
    for word in words:
        assert word in text, f"{word!r} missing from {text!r}"
    chained: BaseException | None = exc
    while chained is not None:
        assert_no_secret(str(chained))
        assert_no_secret(repr(chained))
        chained = chained.__cause__ or chained.__context__


class RecordingEvent(threading.Event):
    """A cancel flag that records each backoff the client asks for and lets it
    go on at once, so retry tests neither sleep nor depend on the clock."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return super().wait(0)


@pytest.fixture(autouse=True)
def _no_secret_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.get_records("setup") + caplog.get_records("call"):
        assert_no_secret(record.getMessage())


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    """A fake registry that wants Basic auth, as a real one behind htpasswd."""
    with running() as server:
        server.gate = basic_gate(USER, PASSWORD)
        yield server
        assert not server.unscripted, f"unscripted requests: {server.unscripted}"


@pytest.fixture
def make_client(fake: FakeServer) -> Iterator[Callable[..., RegistryClient]]:
    made: list[RegistryClient] = []

    def make(**options: Any) -> RegistryClient:
        settings: dict[str, Any] = {
            "url": fake.url,
            "username": USER,
            "password": PASSWORD,
            "timeout": 0.3,
            "connect_timeout": 0.3,
            "backoff": 0.01,
            "retries": 3,
            "workers": 2,
        }
        client = RegistryClient(RegistryConfig(**{**settings, **options}))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., RegistryClient]) -> RegistryClient:
    return make_client()


# --- HTML where JSON was expected --------------------------------------------


def test_html_page_on_ping_is_a_protocol_error(
    fake: FakeServer, client: RegistryClient
) -> None:
    fake.script("GET", "/v2/", html_reply(200))

    with pytest.raises(errors.ProtocolError) as caught:
        client.ping()

    assert_clear(caught.value, "web page", "/v2/")


def test_html_page_on_tag_list_is_a_protocol_error(
    fake: FakeServer, client: RegistryClient
) -> None:
    fake.script("GET", TAGS_PATH, html_reply(200))

    with pytest.raises(errors.ProtocolError) as caught:
        client.tags(REPO)

    assert_clear(caught.value, "HTML page", "JSON", f"tags of {REPO}")


def test_html_page_for_a_manifest_is_a_protocol_error(
    fake: FakeServer, client: RegistryClient
) -> None:
    fake.script("HEAD", f"/v2/{REPO}/manifests/1.0", html_reply(200))
    fake.script("GET", f"/v2/{REPO}/manifests/1.0", html_reply(200))

    with pytest.raises(errors.ProtocolError) as caught:
        client.resolve(REPO, "1.0")

    assert_clear(caught.value, f"{REPO}:1.0", "not valid JSON", "web page")


@pytest.mark.parametrize("status", [502, 503])
def test_html_proxy_error_is_retried_then_a_server_error(
    fake: FakeServer, client: RegistryClient, status: int
) -> None:
    fake.script("GET", TAGS_PATH, html_reply(status, "Bad Gateway"))

    with pytest.raises(errors.ServerError) as caught:
        client.tags(REPO)

    assert caught.value.status == status
    assert_clear(caught.value, f"HTTP {status}", "web page")
    assert len(fake.seen("GET", TAGS_PATH)) == 4


# --- cut-short answers and resets --------------------------------------------


def test_truncated_body_is_retried(fake: FakeServer, client: RegistryClient) -> None:
    body = {"name": REPO, "tags": ["a", "b"]}
    fake.script("GET", TAGS_PATH, Reply(200, body=body, truncate=10), json_reply(body))

    assert client.tags(REPO) == ["a", "b"]
    assert len(fake.seen("GET", TAGS_PATH)) == 2


def test_truncated_body_every_time_is_a_dropped_connection(
    fake: FakeServer, client: RegistryClient
) -> None:
    fake.script("GET", TAGS_PATH, Reply(200, body={"tags": ["a"]}, truncate=5))

    with pytest.raises(errors.ConnectionDroppedError) as caught:
        client.tags(REPO)

    assert_clear(caught.value, "cut short", TAGS_PATH)
    assert len(fake.seen("GET", TAGS_PATH)) == 4


def test_truncated_manifest_without_retry_is_not_retried(
    fake: FakeServer, client: RegistryClient
) -> None:
    path = f"/v2/{REPO}/manifests/1.0"
    fake.script(
        "GET",
        path,
        Reply(200, {"Content-Type": OCI_MANIFEST}, MANIFEST_RAW, truncate=20),
    )

    with pytest.raises(errors.ConnectionDroppedError):
        client.get_manifest(REPO, "1.0", retry=False)

    assert len(fake.seen("GET", path)) == 1


def test_reset_connection_is_retried_for_a_read(
    fake: FakeServer, client: RegistryClient
) -> None:
    fake.script("GET", TAGS_PATH, Reply(reset=True), json_reply({"tags": ["x"]}))

    assert client.tags(REPO) == ["x"]
    assert len(fake.seen("GET", TAGS_PATH)) == 2


def test_reset_connection_every_time_is_a_dropped_connection(
    fake: FakeServer, client: RegistryClient
) -> None:
    fake.script("GET", TAGS_PATH, Reply(reset=True))

    with pytest.raises(errors.ConnectionDroppedError) as caught:
        client.tags(REPO)

    assert_clear(caught.value, "connection dropped", TAGS_PATH)
    assert len(fake.seen("GET", TAGS_PATH)) == 4


def test_reset_during_delete_is_not_retried(
    fake: FakeServer, client: RegistryClient
) -> None:
    path = f"/v2/{REPO}/manifests/{MANIFEST_DIGEST}"
    fake.script("DELETE", path, Reply(reset=True))

    with pytest.raises(errors.ConnectionDroppedError):
        client.delete_manifest(REPO, MANIFEST_DIGEST, verified=True)

    assert len(fake.seen("DELETE", path)) == 1


# --- server errors, backoff and cancelling -------------------------------------


def test_500s_are_retried_with_growing_backoff(
    fake: FakeServer, client: RegistryClient
) -> None:
    failure = registry_error(500, "UNKNOWN", "unknown error")
    fake.script(
        "GET", TAGS_PATH, failure, failure, failure, json_reply({"tags": ["v1"]})
    )
    cancel = RecordingEvent()

    assert client.tags(REPO, cancel=cancel) == ["v1"]
    assert cancel.waits == [0.01, 0.02, 0.04]
    assert len(fake.seen("GET", TAGS_PATH)) == 4


def test_500s_beyond_the_retries_are_a_server_error(
    fake: FakeServer, client: RegistryClient
) -> None:
    fake.script("GET", TAGS_PATH, registry_error(500, "UNKNOWN", "unknown error"))

    with pytest.raises(errors.ServerError) as caught:
        client.tags(REPO)

    assert_clear(caught.value, "HTTP 500", f"tags of {REPO}")
    assert len(fake.seen("GET", TAGS_PATH)) == 4


def test_cancel_during_backoff_stops_promptly(
    fake: FakeServer, make_client: Callable[..., RegistryClient]
) -> None:
    client = make_client(backoff=60.0)
    cancel = threading.Event()
    failure = registry_error(500, "UNKNOWN")
    failure.then = threading.Timer(0.05, cancel.set).start
    fake.script("GET", TAGS_PATH, failure)

    started = time.monotonic()
    with pytest.raises(errors.CancelledError):
        client.tags(REPO, cancel=cancel)

    # The first backoff alone would be 60 s.
    assert time.monotonic() - started < 10
    assert len(fake.seen("GET", TAGS_PATH)) == 1


def test_500_on_delete_is_not_retried(fake: FakeServer, client: RegistryClient) -> None:
    path = f"/v2/{REPO}/manifests/{MANIFEST_DIGEST}"
    fake.script("DELETE", path, registry_error(500, "UNKNOWN"))

    with pytest.raises(errors.ServerError):
        client.delete_manifest(REPO, MANIFEST_DIGEST, verified=True)

    assert len(fake.seen("DELETE", path)) == 1


def test_429_waits_as_long_as_retry_after_says(
    fake: FakeServer, client: RegistryClient
) -> None:
    limited = Reply(429, {"Retry-After": "2"})
    fake.script("GET", TAGS_PATH, limited, json_reply({"tags": ["v1"]}))
    cancel = RecordingEvent()

    assert client.tags(REPO, cancel=cancel) == ["v1"]
    assert cancel.waits == [2.0]


def test_429_retry_after_is_capped(fake: FakeServer, client: RegistryClient) -> None:
    limited = Reply(429, {"Retry-After": "3600"})
    fake.script("GET", TAGS_PATH, limited, json_reply({"tags": []}))
    cancel = RecordingEvent()

    client.tags(REPO, cancel=cancel)

    assert cancel.waits == [30.0]


def test_429_that_never_ends_is_rate_limited(
    fake: FakeServer, client: RegistryClient
) -> None:
    fake.script("GET", TAGS_PATH, Reply(429, {"Retry-After": "0"}))

    with pytest.raises(errors.RateLimitedError) as caught:
        client.tags(REPO)

    assert_clear(caught.value, "too many requests")
    assert len(fake.seen("GET", TAGS_PATH)) == 4


# --- slow answers and refused connections ----------------------------------------


def test_slow_answer_times_out_without_retry(
    fake: FakeServer, client: RegistryClient
) -> None:
    fake.script("GET", TAGS_PATH, Reply(200, body={"tags": []}, delay=3.0))

    with pytest.raises(errors.RequestTimeoutError) as caught:
        client.tags(REPO)

    assert_clear(caught.value, "No answer in time", TAGS_PATH)
    assert len(fake.seen("GET", TAGS_PATH)) == 1


def test_body_that_stalls_times_out_without_retry(
    fake: FakeServer, client: RegistryClient
) -> None:
    fake.script("GET", TAGS_PATH, Reply(200, body={"tags": []}, stall=3.0))

    with pytest.raises(errors.RequestTimeoutError) as caught:
        client.tags(REPO)

    assert_clear(caught.value, "No answer in time", TAGS_PATH)
    assert len(fake.seen("GET", TAGS_PATH)) == 1


def test_refused_connection_fails_at_once_without_retry() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    config = RegistryConfig(url, USER, PASSWORD, backoff=5.0, connect_timeout=0.3)

    started = time.monotonic()
    with RegistryClient(config) as client, pytest.raises(errors.ConnectError) as caught:
        client.ping()

    assert time.monotonic() - started < 4  # one retry alone would wait 5 s
    assert client.requests_sent == 1
    assert_clear(caught.value, "Could not connect", "registry URL")


# --- listing: pages, null tags, malformed JSON -----------------------------------


def test_relative_next_link_is_followed(
    fake: FakeServer, client: RegistryClient
) -> None:
    link = '</v2/_catalog?last=b&n=2>; rel="next"'
    fake.script(
        "GET",
        "/v2/_catalog",
        json_reply({"repositories": ["a", "b"]}, Link=link),
        json_reply({"repositories": ["c"]}),
    )

    assert client.catalog() == ["a", "b", "c"]
    second = fake.seen("GET", "/v2/_catalog")[1]
    assert second.query == {"last": ["b"], "n": ["2"]}


def test_next_link_to_another_server_is_refused(
    fake: FakeServer, client: RegistryClient
) -> None:
    elsewhere = f"http://127.0.0.1:{closed_port()}/v2/_catalog?last=a"
    reply = json_reply({"repositories": ["a"]}, Link=f'<{elsewhere}>; rel="next"')
    fake.script("GET", "/v2/_catalog", reply)

    with pytest.raises(errors.ProtocolError) as caught:
        client.catalog()

    assert_clear(caught.value, "another server", "not followed")
    assert client.requests_sent == 2  # the 401 and the page; nothing elsewhere


def test_next_link_that_loops_is_refused(
    fake: FakeServer, client: RegistryClient
) -> None:
    link = '</v2/_catalog?last=a&n=100>; rel="next"'

    def same_page_again(seen: Seen) -> Reply:
        # The link goes away after a while, so a client that follows it
        # forever fails this test instead of hanging it.
        if len(fake.seen("GET", "/v2/_catalog")) < 10:
            return json_reply({"repositories": ["a"]}, Link=link)
        return json_reply({"repositories": ["a"]})

    fake.script("GET", "/v2/_catalog", same_page_again)

    with pytest.raises(errors.ProtocolError) as caught:
        client.catalog()

    assert_clear(caught.value, "repository catalog", "page already read")
    # The first page, the linked one, and that one again: then it stops.
    assert len(fake.seen("GET", "/v2/_catalog")) == 3


def test_null_tags_are_an_empty_list(fake: FakeServer, client: RegistryClient) -> None:
    fake.script("GET", TAGS_PATH, json_reply({"name": REPO, "tags": None}))

    assert client.tags(REPO) == []


@pytest.mark.parametrize(
    "body",
    [b'{"name": "team/app", "tags": ["a", ', b"\xff\xfe{}", b"tags: [a, b]"],
    ids=["cut", "not-utf8", "yaml"],
)
def test_malformed_json_is_a_protocol_error(
    fake: FakeServer, client: RegistryClient, body: bytes
) -> None:
    fake.script(
        "GET", TAGS_PATH, Reply(200, {"Content-Type": "application/json"}, body)
    )

    with pytest.raises(errors.ProtocolError) as caught:
        client.tags(REPO)

    assert_clear(caught.value, "malformed JSON", f"tags of {REPO}")


def test_tags_in_an_unknown_form_are_a_protocol_error(
    fake: FakeServer, client: RegistryClient
) -> None:
    fake.script("GET", TAGS_PATH, json_reply({"tags": "latest"}))

    with pytest.raises(errors.ProtocolError) as caught:
        client.tags(REPO)

    assert_clear(caught.value, "unknown form")


# --- digests ------------------------------------------------------------------------


def test_head_without_digest_falls_back_to_sha256_of_the_body(
    fake: FakeServer, client: RegistryClient
) -> None:
    path = f"/v2/{REPO}/manifests/1.0"
    fake.script("HEAD", path, manifest_reply(digest=None))
    fake.script("GET", path, manifest_reply(digest=None))

    head = client.resolve(REPO, "1.0")

    assert head.digest == MANIFEST_DIGEST
    assert head.media_type == OCI_MANIFEST
    sent_accept = fake.seen("GET", path)[0].headers["Accept"]
    assert [t.strip() for t in sent_accept.split(",")] == list(ACCEPT_TYPES)


def test_body_that_does_not_match_its_digest_header_is_refused(
    fake: FakeServer, client: RegistryClient
) -> None:
    path = f"/v2/{REPO}/manifests/1.0"
    fake.script("GET", path, manifest_reply(digest="sha256:" + "d" * 64))

    with pytest.raises(errors.ProtocolError) as caught:
        client.get_manifest(REPO, "1.0")

    assert_clear(caught.value, MANIFEST_DIGEST, "sha256:" + "d" * 64)


def test_body_that_does_not_match_the_requested_digest_is_refused(
    fake: FakeServer, client: RegistryClient
) -> None:
    other = "sha256:" + "e" * 64
    fake.script("GET", f"/v2/{REPO}/manifests/{other}", manifest_reply(digest=other))

    with pytest.raises(errors.ProtocolError):
        client.get_manifest(REPO, other)


# --- deleting -----------------------------------------------------------------------


def test_config_digest_is_never_deleted(
    fake: FakeServer, client: RegistryClient
) -> None:
    path = f"/v2/{REPO}/manifests/{CONFIG_DIGEST}"
    fake.script("GET", path, registry_error(500, "UNKNOWN", "unknown error"))
    fake.script("DELETE", path, Reply(202))

    with pytest.raises(errors.NotAManifestError) as caught:
        client.delete_manifest(REPO, CONFIG_DIGEST)

    assert_clear(caught.value, CONFIG_DIGEST, "not a manifest", "Nothing was deleted")
    assert fake.seen("DELETE") == []
    assert len(fake.seen("GET", path)) == 1  # the 500 is what it means: no retry


def test_proxy_outage_while_verifying_is_not_called_a_config_digest(
    fake: FakeServer, client: RegistryClient
) -> None:
    path = f"/v2/{REPO}/manifests/{MANIFEST_DIGEST}"
    fake.script("GET", path, html_reply(503, "Service Unavailable"))
    fake.script("DELETE", path, Reply(202))

    with pytest.raises(errors.ServerError) as caught:
        client.delete_manifest(REPO, MANIFEST_DIGEST)

    assert not isinstance(caught.value, errors.NotAManifestError)
    assert_clear(caught.value, "HTTP 503")
    assert fake.seen("DELETE") == []


def test_verified_manifest_is_deleted(fake: FakeServer, client: RegistryClient) -> None:
    path = f"/v2/{REPO}/manifests/{MANIFEST_DIGEST}"
    fake.script("GET", path, manifest_reply())
    fake.script("DELETE", path, Reply(202))

    client.delete_manifest(REPO, MANIFEST_DIGEST)

    assert len(fake.seen("DELETE", path)) == 1


def test_405_on_delete_means_deletion_is_disabled(
    fake: FakeServer, client: RegistryClient
) -> None:
    path = f"/v2/{REPO}/manifests/{MANIFEST_DIGEST}"
    fake.script("GET", path, manifest_reply())
    fake.script("DELETE", path, registry_error(405, "UNSUPPORTED", "unsupported"))

    with pytest.raises(errors.DeletionDisabledError) as caught:
        client.delete_manifest(REPO, MANIFEST_DIGEST)

    assert_clear(caught.value, "deletion is disabled", "storage.delete.enabled")


def test_delete_answered_with_a_web_page_is_not_a_deletion(
    fake: FakeServer, client: RegistryClient
) -> None:
    path = f"/v2/{REPO}/manifests/{MANIFEST_DIGEST}"
    fake.script("DELETE", path, html_reply(200, "Session expired"))

    with pytest.raises(errors.ProtocolError) as caught:
        client.delete_manifest(REPO, MANIFEST_DIGEST, verified=True)

    assert_clear(caught.value, "web page", f"{REPO}@{MANIFEST_DIGEST}")


def test_delete_of_a_manifest_already_gone(
    fake: FakeServer, client: RegistryClient
) -> None:
    path = f"/v2/{REPO}/manifests/{MANIFEST_DIGEST}"
    fake.script("DELETE", path, registry_error(404, "MANIFEST_UNKNOWN"))

    with pytest.raises(errors.ManifestNotFoundError) as caught:
        client.delete_manifest(REPO, MANIFEST_DIGEST, verified=True)

    assert_clear(caught.value, "does not exist")


@pytest.mark.parametrize(
    ("reply", "enabled"),
    [
        (registry_error(404, "MANIFEST_UNKNOWN"), True),
        (registry_error(405, "UNSUPPORTED"), False),
    ],
)
def test_deletion_probe(
    fake: FakeServer, client: RegistryClient, reply: Reply, enabled: bool
) -> None:
    fake.script("DELETE", f"/v2/{REPO}/manifests/{ZERO_DIGEST}", reply)

    assert client.deletion_enabled(REPO) is enabled


def test_registry_that_pretends_to_delete_a_missing_digest(
    fake: FakeServer, client: RegistryClient
) -> None:
    fake.script("DELETE", f"/v2/{REPO}/manifests/{ZERO_DIGEST}", Reply(202))

    with pytest.raises(errors.ProtocolError) as caught:
        client.deletion_enabled(REPO)

    assert_clear(caught.value, "cannot exist")


# --- Basic and Bearer authentication ---------------------------------------------


def test_wrong_password_is_an_authentication_error(
    fake: FakeServer, make_client: Callable[..., RegistryClient]
) -> None:
    fake.script("GET", "/v2/", json_reply({}))
    client = make_client(password="wrong-" + PASSWORD)

    with pytest.raises(errors.AuthenticationError) as caught:
        client.ping()

    assert_clear(caught.value, "refused the username or password")
    assert fake.seen() == []


def test_error_detail_echoing_credentials_is_not_repeated(
    fake: FakeServer, client: RegistryClient
) -> None:
    echo = f"bad request from {USER} with Basic {BASIC} ({PASSWORD})"
    fake.script("GET", TAGS_PATH, registry_error(400, "DENIED", echo))

    with pytest.raises(errors.RegistryError) as caught:
        client.tags(REPO)

    assert_clear(caught.value, "HTTP 400", "DENIED")


class TokenRegistry:
    """Bearer auth in front of the fake: a token server on ``/token`` that
    counts its requests and grants scopes from ``allowed``, and a registry
    that challenges each request for the scope its method needs."""

    def __init__(self, server: FakeServer, lifetime: float = 60.0) -> None:
        self.server = server
        self.lifetime = lifetime
        self.allowed = {"pull", "push", "delete"}
        self.delete_needs = "delete"
        self.token_requests: list[Seen] = []
        self.granted: dict[str, set[str]] = {}
        server.gate = self.gate

    def gate(self, seen: Seen) -> Reply | None:
        if seen.path == "/token":
            return self.issue(seen)
        needed = self._needed(seen)
        sent = seen.headers.get("Authorization", "")
        token = sent.removeprefix("Bearer ")
        action = needed.rsplit(":", 1)[1]
        if needed in self.granted.get(token, set()) and action in self.allowed:
            return None
        # Parameters in an unusual order; a quoted comma in service.
        challenge = (
            f'Bearer scope="{needed}",service="fake, registry",'
            f'realm="{self.server.url}/token"'
        )
        if token in self.granted:
            challenge += ',error="insufficient_scope"'
        refusal = registry_error(401, "UNAUTHORIZED", "authentication required")
        refusal.headers = {
            **dict(refusal.header_items()),
            "WWW-Authenticate": challenge,
        }
        return refusal

    def _needed(self, seen: Seen) -> str:
        action = {"DELETE": self.delete_needs, "PUT": "push"}.get(seen.method, "pull")
        name = seen.path.removeprefix("/v2/").split("/manifests/")[0]
        return f"repository:{name.split('/tags/')[0]}:{action}"

    def issue(self, seen: Seen) -> Reply:
        self.token_requests.append(seen)
        if seen.headers.get("Authorization") != f"Basic {BASIC}":
            return Reply(401)
        granted = set()
        for scope in seen.query.get("scope", []):
            kind, name, actions = scope.rsplit(":", 2)
            granted |= {
                f"{kind}:{name}:{a}" for a in actions.split(",") if a in self.allowed
            }
        token = f"{TOKEN_PREFIX}{len(self.token_requests)}"
        self.granted[token] = granted
        return json_reply({"token": token, "expires_in": self.lifetime})


def test_bearer_challenge_in_odd_order_with_quoted_comma(
    fake: FakeServer, client: RegistryClient
) -> None:
    tokens = TokenRegistry(fake)
    fake.script("GET", TAGS_PATH, json_reply({"tags": ["v1"]}))

    assert client.tags(REPO) == ["v1"]

    asked = tokens.token_requests[0].query
    assert asked == {
        "service": ["fake, registry"],
        "scope": [f"repository:{REPO}:pull"],
    }


def test_second_challenge_in_the_same_answer_is_ignored(
    fake: FakeServer, client: RegistryClient
) -> None:
    tokens = TokenRegistry(fake)

    def bearer_then_basic(seen: Seen) -> Reply | None:
        reply = tokens.gate(seen)
        if reply is not None and reply.status == 401 and seen.path != "/token":
            basic = ("WWW-Authenticate", 'Basic realm="fake registry"')
            reply.headers = [*reply.header_items(), basic]
        return reply

    fake.gate = bearer_then_basic
    fake.script("GET", TAGS_PATH, json_reply({"tags": ["v1"]}))

    assert client.tags(REPO) == ["v1"]
    assert len(tokens.token_requests) == 1


def test_tokens_are_cached_per_scope(fake: FakeServer, client: RegistryClient) -> None:
    tokens = TokenRegistry(fake)
    fake.script("GET", TAGS_PATH, json_reply({"tags": ["v1"]}))
    fake.script("GET", "/v2/other/tags/list", json_reply({"tags": ["v2"]}))

    for _ in range(3):
        client.tags(REPO)
    client.tags("other")
    client.tags(REPO)

    scopes = [r.query["scope"] for r in tokens.token_requests]
    assert scopes == [[f"repository:{REPO}:pull"], ["repository:other:pull"]]
    assert len(fake.seen("GET", TAGS_PATH)) == 4


def test_expired_token_is_never_sent(fake: FakeServer, client: RegistryClient) -> None:
    # A lifetime of a microsecond: every token has expired by the next request.
    tokens = TokenRegistry(fake, lifetime=1e-6)
    fake.script("GET", TAGS_PATH, json_reply({"tags": ["v1"]}))

    for _ in range(3):
        client.tags(REPO)

    assert len(tokens.token_requests) == 3
    sent = [r.headers.get("Authorization") for r in fake.requests if r.path != "/token"]
    assert sent == [None, f"Bearer {TOKEN_PREFIX}1"] + [
        s for n in (2, 3) for s in (None, f"Bearer {TOKEN_PREFIX}{n}")
    ]


def test_token_for_the_scope_the_challenge_names(
    fake: FakeServer, client: RegistryClient
) -> None:
    # Some registries (Quay) want push, not delete, to delete a manifest.
    tokens = TokenRegistry(fake)
    tokens.delete_needs = "push"
    path = f"/v2/{REPO}/manifests/{MANIFEST_DIGEST}"
    fake.script("DELETE", path, Reply(202))

    client.delete_manifest(REPO, MANIFEST_DIGEST, verified=True)

    assert tokens.token_requests[0].query["scope"] == [f"repository:{REPO}:push"]
    assert len(fake.seen("DELETE", path)) == 1


def test_insufficient_scope_is_retried_once_then_denied(
    fake: FakeServer, client: RegistryClient
) -> None:
    tokens = TokenRegistry(fake)
    first = f"/v2/{REPO}/manifests/{MANIFEST_DIGEST}"
    second = f"/v2/{REPO}/manifests/{CONFIG_DIGEST}"
    fake.script("DELETE", first, Reply(202))
    fake.script("DELETE", second, Reply(202))
    client.delete_manifest(REPO, MANIFEST_DIGEST, verified=True)
    tokens.allowed = {"pull"}  # the administrator takes the right away

    with pytest.raises(errors.PermissionDeniedError) as caught:
        client.delete_manifest(REPO, CONFIG_DIGEST, verified=True)

    assert_clear(caught.value, "may not delete", f"{REPO}@{CONFIG_DIGEST}")
    assert len(tokens.token_requests) == 2  # one retry with a new token, no more
    renewal = tokens.token_requests[1].query["scope"]
    assert renewal == [f"repository:{REPO}:delete"]  # what the challenge named
    refused = [r for r in fake.requests if r.path == second]
    assert [r.headers["Authorization"] for r in refused] == [
        f"Bearer {TOKEN_PREFIX}1",
        f"Bearer {TOKEN_PREFIX}2",
    ]
    assert fake.seen("DELETE", second) == []


def test_token_server_refusing_the_login(
    fake: FakeServer, make_client: Callable[..., RegistryClient]
) -> None:
    TokenRegistry(fake)
    client = make_client(password="wrong-" + PASSWORD)

    with pytest.raises(errors.AuthenticationError) as caught:
        client.tags(REPO)

    assert_clear(caught.value, "token server", "refused")


def test_token_server_sending_html(fake: FakeServer, client: RegistryClient) -> None:
    tokens = TokenRegistry(fake)
    issue = tokens.issue

    def html_token(seen: Seen) -> Reply | None:
        if seen.path == "/token":
            issue(seen)
            return html_reply(200)
        return tokens.gate(seen)

    fake.gate = html_token

    with pytest.raises(errors.ProtocolError) as caught:
        client.tags(REPO)

    assert_clear(caught.value, "HTML", "token server")


def test_debug_log_has_every_request_and_no_secret(
    fake: FakeServer, client: RegistryClient, caplog: pytest.LogCaptureFixture
) -> None:
    TokenRegistry(fake)
    fake.script("GET", TAGS_PATH, json_reply({"tags": ["v1"]}))

    client.tags(REPO)

    lines = [r.getMessage() for r in caplog.records if r.name == "core.transport"]
    assert any(f"GET {fake.url}/token -> 200" in line for line in lines)
    assert sum(f"GET {fake.url}{TAGS_PATH} ->" in line for line in lines) == 2
    # The autouse fixture then checks every record for secrets.


# --- the command line -----------------------------------------------------------


@pytest.fixture
def run_cli(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> Iterator[Callable[..., int]]:
    """core.cli.main with its log file under tmp_path; the root logger is put
    back as it was afterwards."""
    monkeypatch.setenv("REGSWEEP_LOG_DIR", str(tmp_path))
    monkeypatch.delenv("REGSWEEP_PASSWORD", raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def run(*argv: str) -> int:
        return cli.main(list(argv), stdin=io.StringIO(PASSWORD + "\n"))

    yield run
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def test_cli_against_a_web_page_exits_1_with_a_clear_message(
    fake: FakeServer, run_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    fake.gate = None
    fake.script("GET", "/v2/", html_reply(200))

    code = run_cli(
        "check", "--registry", fake.url, "--username", USER, "--password-stdin"
    )

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("regsweep: ")
    assert "web page" in err and "/v2/" in err
    assert_no_secret(err)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["delete", "--yes", "Bad/Name:tag"], "'Bad/Name' is not a valid repository"),
        (["delete", "--yes", "app:-x"], "'-x' is not a valid tag"),
        (["delete", "--yes", "app"], "'app' names no tag or digest"),
        (["delete", "--yes", "app@sha256:abc"], "'sha256:abc' is not a valid"),
        (["tags", "Bad/Name"], "'Bad/Name' is not a valid repository"),
    ],
)
def test_cli_invalid_reference_exits_2_before_any_request(
    fake: FakeServer,
    run_cli: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    named: str,
) -> None:
    fake.gate = None

    code = run_cli(*args, "--registry", fake.url)

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"regsweep: {named}")
    assert fake.requests == []
