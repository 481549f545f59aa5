"""Talking HTTP to one registry: authentication, retries, timeouts, errors.

:class:`Transport` sends one request at a time on a shared connection pool.
It answers 401 challenges (Basic, or Bearer tokens cached per scope), retries
what is worth retrying with a backoff the caller can cancel, and turns every
failure into an exception from :mod:`core.errors` worded for a person, never
containing a password, a token or an ``Authorization`` header. What the
requests mean is :mod:`core.client`'s business.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from core import errors
from core.auth import (
    Challenge,
    TokenCache,
    basic_header,
    parse_challenge,
    token_lifetime,
)
from core.images import (
    base_media_type,
)

log = logging.getLogger(__name__)

_MAX_RETRY_AFTER_S = 30.0
_REPO_PATH_RE = re.compile(r"/v2/(.+?)/(?:tags|manifests|blobs)/")


@dataclass(frozen=True)
class RegistryConfig:
    """How to reach one registry. ``password`` never appears in ``repr``."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    insecure: bool = False
    timeout: float = 30.0
    connect_timeout: float = 10.0
    workers: int = 16
    retries: int = 3
    backoff: float = 0.5


def normalize_url(url: str) -> str:
    """Check a registry URL and return it without a trailing slash."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        guess = text.split("://")[-1].strip("/") or "registry.example.com"
        raise errors.ConfigError(
            f"{text!r} is not a registry URL.",
            f"Write it with a scheme and host, e.g. https://{guess} "
            f"(or http://{guess} for a registry without TLS).",
        )
    if parts.username or parts.password:
        raise errors.ConfigError(
            "The registry URL contains a login.",
            "Remove it from the URL and fill in the username and password fields.",
        )
    if parts.query or parts.fragment:
        raise errors.ConfigError("The registry URL must not have a query or fragment.")
    path = parts.path.rstrip("/")
    if path.endswith("/v2"):
        path = path[:-3]
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        raise errors.ConfigError(f"{text!r} has an invalid port number.") from None
    return f"{parts.scheme}://{parts.hostname}{port}{path}"


class _NoAuth(requests.auth.AuthBase):
    """Keeps requests from adding credentials from ~/.netrc behind our back."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


class Transport:
    """Sends requests to one registry: authentication, retries, timeouts, and
    every failure mapped to an exception from :mod:`core.errors`. Thread-safe:
    worker threads share one connection pool."""

    def __init__(self, config: RegistryConfig) -> None:
        self.config = config
        self.base_url = normalize_url(config.url)
        self._verify = self._tls_verify(config)
        self._session = requests.Session()
        self._session.auth = _NoAuth()
        pool = max(config.workers, 4)
        adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=pool)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._tokens = TokenCache()
        self._scheme: str | None = None
        self._count_lock = threading.Lock()
        self.requests_sent = 0

    @staticmethod
    def _tls_verify(config: RegistryConfig) -> bool | str:
        if config.insecure:
            # The user switched verification off on purpose (the profile shows
            # a warning); one log line says so instead of a warning per request.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            log.warning("TLS verification is off for %s", config.url)
            return False
        if config.ca_file:
            try:
                with open(config.ca_file, "rb"):
                    pass
            except OSError as exc:
                raise errors.ConfigError(
                    f"The CA file {config.ca_file!r} cannot be read ({exc.strerror})."
                ) from None
            return config.ca_file
        return True

    def close(self) -> None:
        self._session.close()

    # --- sending, authenticating, interpreting ------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        what: str,
        headers: dict[str, str] | None = None,
        params: dict[str, int] | None = None,
        data: bytes | None = None,
        expect: tuple[int, ...] | None = (200,),
        retry: bool = True,
        cancel: threading.Event | None = None,
    ) -> requests.Response:
        """Send one request with authentication and bounded, cancellable retries.

        ``expect``: the statuses that count as success (anything else raises);
        ``None`` returns whatever came back. Retries cover 429 always, and 5xx
        and dropped connections for GET and HEAD when ``retry`` is set."""
        url = path if "://" in path else self.base_url + path
        idempotent = method in ("GET", "HEAD")
        for attempt in range(self.config.retries + 1):
            check_cancel(cancel)
            last = attempt == self.config.retries
            try:
                response = self._send(method, url, scope, headers, params, data)
            except errors.TransportError as exc:
                if last or not (retry and idempotent and _is_transient(exc)):
                    raise
                self._pause(attempt, None, cancel)
                continue
            status = response.status_code
            retryable = status == 429 or (status >= 500 and retry and idempotent)
            if retryable and not last:
                self._pause(attempt, response.headers.get("Retry-After"), cancel)
                continue
            if expect is not None and status not in expect:
                raise self._error_for(method, what, response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _pause(
        self, attempt: int, retry_after: str | None, cancel: threading.Event | None
    ) -> None:
        delay = self.config.backoff * (2**attempt)
        if retry_after and retry_after.isdigit():
            delay = min(float(retry_after), _MAX_RETRY_AFTER_S)
        if (cancel or threading.Event()).wait(delay):
            raise errors.CancelledError()

    def _send(
        self,
        method: str,
        url: str,
        scope: str,
        headers: dict[str, str] | None,
        params: dict[str, int] | None,
        data: bytes | None,
    ) -> requests.Response:
        """One request, plus at most one retry after answering a 401 challenge."""
        sent = dict(headers or {})
        token = self._tokens.get(scope) if self._scheme == "bearer" else None
        if token:
            sent["Authorization"] = f"Bearer {token}"
        elif self._scheme == "basic" and self._credentials():
            sent["Authorization"] = self._basic()
        response = self._transmit(method, url, sent, params, data)
        if response.status_code != 401:
            return response
        challenge = parse_challenge(response.headers.get("WWW-Authenticate"))
        if challenge is None:
            return response
        if challenge.scheme == "basic":
            if not self._credentials() or "Authorization" in sent:
                return response
            self._scheme = "basic"
            sent["Authorization"] = self._basic()
        elif challenge.scheme == "bearer":
            self._scheme = "bearer"
            token = self._tokens.fetch(scope, challenge, self._fetch_token, stale=token)
            sent["Authorization"] = f"Bearer {token}"
        else:
            return response
        response.close()
        return self._transmit(method, url, sent, params, data)

    def _transmit(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        params: dict[str, Any] | list[tuple[str, str]] | None,
        data: bytes | None,
    ) -> requests.Response:
        started = time.perf_counter()
        try:
            response = self._session.request(
                method,
                url,
                headers=headers,
                params=params,
                data=data,
                timeout=(self.config.connect_timeout, self.config.timeout),
                verify=self._verify,
            )
        except requests.RequestException as exc:
            raise _transport_error(exc, method, url) from exc
        finally:
            with self._count_lock:
                self.requests_sent += 1
        log.debug(
            "%s %s -> %d (%.1f ms)",
            method,
            response.url.split("?", 1)[0],
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    def _credentials(self) -> bool:
        return bool(self.config.username)

    def _basic(self) -> str:
        return basic_header(self.config.username or "", self.config.password or "")

    def _fetch_token(self, challenge: Challenge) -> tuple[str, float]:
        """Ask the token server named in a Bearer challenge for a token."""
        realm = challenge.realm
        if urlsplit(realm).scheme not in ("http", "https"):
            raise errors.ProtocolError("The registry named no usable token server.")
        query: list[tuple[str, str]] = []
        if "service" in challenge.params:
            query.append(("service", challenge.params["service"]))
        query.extend(("scope", scope) for scope in challenge.scopes)
        headers = {"Authorization": self._basic()} if self._credentials() else {}
        response = self._transmit("GET", realm, headers, query, None)
        if response.status_code in (401, 403):
            raise self._login_error("the token server")
        if response.status_code != 200:
            raise errors.RegistryError(
                f"The token server answered HTTP {response.status_code}.",
                "Check the token server (the registry's auth realm).",
                status=response.status_code,
            )
        body = parse_json(response, "the token server's answer")
        token = (
            body.get("token") or body.get("access_token")
            if isinstance(body, dict)
            else None
        )
        if not isinstance(token, str) or not token:
            raise errors.ProtocolError("The token server's answer holds no token.")
        return token, token_lifetime(body)

    def _login_error(self, who: str) -> errors.AuthenticationError:
        if self._credentials():
            return errors.AuthenticationError(
                f"{who.capitalize()} refused the username or password.",
                status=401,
            )
        return errors.AuthenticationError(
            f"{who.capitalize()} requires a login.",
            "Add a username and password to the profile.",
            status=401,
        )

    def _repeats_a_secret(self, text: str, response: requests.Response) -> bool:
        """Whether a registry's error text echoes the password or what was
        sent in ``Authorization``; such text is left out of messages."""
        sent = response.request.headers.get("Authorization") or ""
        secrets = (sent.partition(" ")[2], self.config.password or "")
        return any(secret and secret in text for secret in secrets)

    def _error_for(
        self, method: str, what: str, response: requests.Response
    ) -> errors.RegistryError:
        status = response.status_code
        code, detail, extra = _registry_error(response)
        kwargs: dict[str, Any] = {"status": status, "code": code}
        challenge = parse_challenge(response.headers.get("WWW-Authenticate"))
        if status == 401 and challenge and challenge.error == "insufficient_scope":
            status = 403
        if status == 401:
            error = self._login_error("the registry")
            error.code = code
            return error
        if status == 403:
            return errors.PermissionDeniedError(
                f"Permission denied: this login may not {_verb(method)} {what}.",
                **kwargs,
            )
        if code == "NAME_UNKNOWN":
            name = _repository_in(response.url) or what
            return errors.RepositoryNotFoundError(
                f"Repository {name!r} does not exist on this registry.", **kwargs
            )
        if code == "MANIFEST_UNKNOWN" or (
            status == 404 and "/manifests/" in response.url
        ):
            return errors.ManifestNotFoundError(f"{what} does not exist.", **kwargs)
        if code in ("BLOB_UNKNOWN", "MANIFEST_BLOB_UNKNOWN"):
            missing = extra if extra.startswith("sha256:") else ""
            missing_blob = errors.BlobNotFoundError(
                f"The registry is missing blob {missing or '(unnamed)'} of {what}.",
                **kwargs,
            )
            missing_blob.blob = missing
            return missing_blob
        if status == 404:
            return errors.NotFoundError(
                f"{what} was not found (HTTP 404 from {self.base_url}).",
                "Check the registry URL: it should be the registry's own address.",
                **kwargs,
            )
        if method == "DELETE" and (status == 405 or code == "UNSUPPORTED"):
            return errors.DeletionDisabledError(
                f"The registry refused to delete {what}: deletion is disabled.",
                **kwargs,
            )
        if code == "UNSUPPORTED" or status == 405:
            return errors.RegistryError(
                f"The registry does not support {method} for {what}.",
                "It may be a read-only mirror or pull-through cache.",
                **kwargs,
            )
        if code == "DIGEST_INVALID":
            return errors.DigestInvalidError(
                f"The registry rejected the digest of {what}.", **kwargs
            )
        if code == "PAGINATION_NUMBER_INVALID":
            return errors.PaginationError(
                f"The registry rejected the page size for {what}.", **kwargs
            )
        if status == 429:
            return errors.RateLimitedError(
                f"The registry kept refusing {what}: too many requests.", **kwargs
            )
        if status >= 500 and looks_like_html(response):
            return errors.ServerError(
                f"A web page with HTTP {status} came back for {method} {what}, "
                "probably from a proxy in front of the registry.",
                "The registry behind it may be down or overloaded; try again later.",
                **kwargs,
            )
        if status >= 500:
            return errors.ServerError(
                f"The registry failed with HTTP {status} on {method} {what}.", **kwargs
            )
        shown = bool(detail) and not self._repeats_a_secret(detail, response)
        detail = f": {detail}" if shown else ""
        reason = f" ({code}{detail})" if code else ""
        return errors.RegistryError(
            f"Unexpected answer HTTP {status} to {method} {what}{reason}.", **kwargs
        )


def _repository_in(url: str) -> str | None:
    found = _REPO_PATH_RE.search(urlsplit(url).path)
    return found.group(1) if found else None


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise errors.CancelledError()


def _verb(method: str) -> str:
    return {"GET": "read", "HEAD": "read", "DELETE": "delete", "PUT": "push"}.get(
        method, method
    )


def looks_like_html(response: requests.Response) -> bool:
    media_type = base_media_type(response.headers.get("Content-Type"))
    return (
        media_type in ("text/html", "application/xhtml+xml")
        or response.content.lstrip()[:1] == b"<"
    )


def parse_json(response: requests.Response, what: str) -> Any:
    if looks_like_html(response):
        raise errors.ProtocolError(
            f"The registry sent an HTML page where JSON was expected ({what}, "
            f"HTTP {response.status_code})."
        )
    try:
        return json.loads(response.content)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise errors.ProtocolError(
            f"The registry sent malformed JSON for {what} (the answer may have "
            "been cut short)."
        ) from None


def _registry_error(response: requests.Response) -> tuple[str | None, str, str]:
    """The first ``errors[]`` entry of an error body: code, message, detail."""
    try:
        first = json.loads(response.content or b"{}")["errors"][0]
        code = str(first.get("code") or "") or None
        detail = first.get("detail")
        if isinstance(detail, dict):
            detail = detail.get("digest") or detail.get("Digest") or ""
        return code, str(first.get("message") or "")[:200], str(detail or "")[:200]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None, "", ""


def _is_transient(exc: errors.TransportError) -> bool:
    """Dropped or reset connections are worth another try; refused ones and
    timeouts are not (the user would wait for nothing)."""
    return isinstance(exc, errors.ConnectionDroppedError)


def _transport_error(
    exc: requests.RequestException, method: str, url: str
) -> errors.TransportError:
    where = f"{method} {url.split('?', 1)[0]}"
    if isinstance(exc, requests.exceptions.SSLError):
        return errors.TLSError(
            f"The TLS connection failed for {where}: {_tls_reason(exc)}."
        )
    if isinstance(exc, requests.exceptions.Timeout) or _body_timed_out(exc):
        return errors.RequestTimeoutError(f"No answer in time for {where}.")
    if isinstance(
        exc,
        requests.exceptions.ChunkedEncodingError
        | requests.exceptions.ContentDecodingError,
    ):
        return errors.ConnectionDroppedError(f"The answer to {where} was cut short.")
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _refused(exc):
            return errors.ConnectError(
                f"Could not connect to the registry for {where}."
            )
        return errors.ConnectionDroppedError(f"The connection dropped during {where}.")
    return errors.TransportError(f"The request {where} failed ({type(exc).__name__}).")


def _body_timed_out(exc: requests.RequestException) -> bool:
    """requests reports a body that stalls past the timeout as a ConnectionError."""
    reason = exc.args[0] if exc.args else None
    return isinstance(reason, urllib3.exceptions.ReadTimeoutError)


def _refused(exc: requests.exceptions.ConnectionError) -> bool:
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _tls_reason(exc: requests.exceptions.SSLError) -> str:
    text = str(exc)
    for known in (
        "self-signed certificate",
        "certificate has expired",
        "hostname mismatch",
        "unable to get local issuer certificate",
        "wrong version number",
        "certificate verify failed",
    ):
        if known in text:
            return known
    return "handshake failed"
