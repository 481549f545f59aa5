"""A client for one registry, speaking the Registry HTTP API v2.

It knows the sharp edges: the digest to delete is the one the registry reports
for the stored manifest (all four manifest types in ``Accept``), never the
config digest inside it; a digest is confirmed to be a manifest of the
repository before anything is deleted; pagination links are relative; tag lists
may be ``null``. Every request has a timeout, and every failure becomes one of
the exceptions in :mod:`core.errors`, worded for a person.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import re
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

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
    ACCEPT_HEADER,
    INDEX_TYPES,
    MANIFEST_TYPES,
    ImageDetails,
    Manifest,
    ManifestHead,
    base_media_type,
    image_details_from,
    index_details_from,
    sha256_digest,
)
from core.reference import check_digest, check_name, check_tag, is_digest

log = logging.getLogger(__name__)

ZERO_DIGEST = "sha256:" + "0" * 64
_MAX_PAGE = 1000
_FALLBACK_PAGE = 100
_MAX_CONFIG_BYTES = 8 * 1024 * 1024
_MAX_RETRY_AFTER_S = 30.0
# Tags queued per resolving worker: enough that no worker waits for its next
# tag, few enough that 10,000 tags do not hold 10,000 futures at once.
_QUEUED_PER_WORKER = 4
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


@dataclass(frozen=True)
class PingResult:
    url: str
    api_version: str | None
    auth_scheme: str  # "none", "basic" or "bearer"


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


class RegistryClient:
    """One registry. Thread-safe: worker threads share one connection pool."""

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
        self._details: dict[str, ImageDetails] = {}
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

    @property
    def host(self) -> str:
        """``host[:port][/path]`` as it appears in image references."""
        return self.base_url.split("://", 1)[1]

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the API ------------------------------------------------------------

    def ping(self, cancel: threading.Event | None = None) -> PingResult:
        """``GET /v2/``, logging in if the registry asks. Proves the URL is a
        registry and the credentials work."""
        response = self._request(
            "GET", "/v2/", scope="", what="the registry API", cancel=cancel
        )
        version = response.headers.get("Docker-Distribution-API-Version")
        if version is None and _looks_like_html(response):
            raise errors.ProtocolError(
                f"{self.base_url} answered with a web page, not a registry API."
            )
        return PingResult(self.base_url, version, self._scheme or "none")

    def iter_catalog(
        self, page_size: int = _MAX_PAGE, cancel: threading.Event | None = None
    ) -> Iterator[list[str]]:
        """Repository names, a page at a time, following ``Link`` headers."""
        what = "the repository catalog"
        pages = self._pages(
            "/v2/_catalog", "registry:catalog:*", what, page_size, cancel
        )
        for body in pages:
            _check_cancel(cancel)
            yield _string_list(body, "repositories", what)

    def catalog(self, cancel: threading.Event | None = None) -> list[str]:
        return [name for page in self.iter_catalog(cancel=cancel) for name in page]

    def tags(self, repository: str, cancel: threading.Event | None = None) -> list[str]:
        """Every tag of a repository (all pages), sorted."""
        check_name(repository)
        what = f"the tags of {repository}"
        path = f"/v2/{repository}/tags/list"
        found: set[str] = set()
        pages = self._pages(path, _scope(repository, "pull"), what, _MAX_PAGE, cancel)
        for body in pages:
            _check_cancel(cancel)
            found.update(_string_list(body, "tags", what))
        return sorted(found)

    def resolve(
        self, repository: str, reference: str, cancel: threading.Event | None = None
    ) -> ManifestHead:
        """The digest and media type of a tag (or digest), by HEAD; by GET where
        HEAD gives no usable answer."""
        _check_reference(repository, reference)
        response = self._request(
            "HEAD",
            _manifest_path(repository, reference),
            scope=_scope(repository, "pull"),
            headers={"Accept": ACCEPT_HEADER},
            what=_ref_text(repository, reference),
            expect=None,
            cancel=cancel,
        )
        head = _head_from(response)
        if head is not None and (not is_digest(reference) or head.digest == reference):
            return head
        manifest = self.get_manifest(repository, reference, cancel=cancel)
        return ManifestHead(manifest.digest, manifest.media_type, len(manifest.raw))

    def get_manifest(
        self,
        repository: str,
        reference: str,
        cancel: threading.Event | None = None,
        retry: bool = True,
    ) -> Manifest:
        """The stored manifest bytes; their sha256 is checked against the digest
        the registry reports (and against ``reference`` when it is a digest)."""
        _check_reference(repository, reference)
        what = _ref_text(repository, reference)
        response = self._request(
            "GET",
            _manifest_path(repository, reference),
            scope=_scope(repository, "pull"),
            headers={"Accept": ACCEPT_HEADER},
            what=what,
            retry=retry,
            cancel=cancel,
        )
        manifest = Manifest.parse(
            response.content, response.headers.get("Content-Type"), what
        )
        reported = response.headers.get("Docker-Content-Digest")
        expected = reference if is_digest(reference) else reported
        if expected and expected != manifest.digest:
            raise errors.ProtocolError(
                f"The registry sent a manifest for {what} whose sha256 is "
                f"{manifest.digest}, not {expected}."
            )
        if manifest.media_type not in MANIFEST_TYPES:
            raise errors.NotAManifestError(
                f"{what} is not an image manifest (it has type "
                f"{manifest.media_type or 'unknown'})."
            )
        return manifest

    def verify_manifest(
        self, repository: str, digest: str, cancel: threading.Event | None = None
    ) -> Manifest:
        """Confirm ``digest`` is a manifest of ``repository`` and return it.

        Registry 2.x answers a DELETE of a config or layer digest with 202 and
        silently breaks the image, so nothing may be deleted by a digest that
        fails this check. 2.8 answers a HEAD or GET of such a digest with 500;
        that is not retried and is reported as what it means.
        """
        check_digest(digest)
        try:
            return self.get_manifest(repository, digest, cancel=cancel, retry=False)
        except (
            errors.ServerError,
            errors.ProtocolError,
            errors.DigestInvalidError,
        ) as exc:
            # 502-504 come from a proxy or an outage, not from this digest.
            if isinstance(exc, errors.ServerError) and exc.status != 500:
                raise
            raise errors.NotAManifestError(
                f"{digest} is not a manifest of {repository} (it may be a config "
                "or layer digest)."
            ) from None

    def delete_manifest(
        self,
        repository: str,
        digest: str,
        *,
        verified: bool = False,
        cancel: threading.Event | None = None,
    ) -> None:
        """Delete a manifest by its digest; every tag on it goes with it.

        Unless the caller has just confirmed it (``verified``), the digest is
        checked to be a manifest of this repository first."""
        check_name(repository)
        check_digest(digest)
        if not verified:
            self.verify_manifest(repository, digest, cancel=cancel)
        what = f"{repository}@{digest}"
        response = self._request(
            "DELETE",
            _manifest_path(repository, digest),
            scope=_scope(repository, "delete"),
            what=what,
            expect=(200, 202, 204),
            retry=False,
            cancel=cancel,
        )
        if _looks_like_html(response):
            raise errors.ProtocolError(
                f"The deletion of {what} was answered with a web page, not by "
                "the registry; it may not have been deleted."
            )

    def put_manifest(
        self,
        repository: str,
        reference: str,
        raw: bytes,
        media_type: str,
        cancel: threading.Event | None = None,
    ) -> str:
        """Store manifest bytes under a tag or digest; return the digest."""
        _check_reference(repository, reference)
        response = self._request(
            "PUT",
            _manifest_path(repository, reference),
            scope=_scope(repository, "pull,push"),
            headers={"Content-Type": media_type},
            data=raw,
            what=_ref_text(repository, reference),
            expect=(200, 201),
            retry=False,
            cancel=cancel,
        )
        return (
            response.headers.get("Docker-Content-Digest")
            or Manifest.parse(raw, media_type, reference).digest
        )

    def delete_tag(
        self, repository: str, tag: str, cancel: threading.Event | None = None
    ) -> bool:
        """Try the OCI 1.1 tag delete, which removes only that tag. Returns
        False where the registry does not offer it (2.x answers 400)."""
        check_name(repository)
        response = self._request(
            "DELETE",
            _manifest_path(repository, check_tag(tag)),
            scope=_scope(repository, "delete"),
            what=f"{repository}:{tag}",
            expect=None,
            retry=False,
            cancel=cancel,
        )
        if response.status_code == 202:
            return True
        if response.status_code in (400, 405):
            return False
        raise self._error_for("DELETE", f"{repository}:{tag}", response)

    def upload_blob(
        self, repository: str, data: bytes, cancel: threading.Event | None = None
    ) -> str:
        """Upload a small blob in one go (POST, then PUT); return its digest."""
        check_name(repository)
        digest = sha256_digest(data)
        what = f"a blob upload to {repository}"
        scope = _scope(repository, "pull,push")
        started = self._request(
            "POST",
            f"/v2/{repository}/blobs/uploads/",
            scope=scope,
            what=what,
            expect=(202,),
            retry=False,
            cancel=cancel,
        )
        location = self._upload_location(started)
        separator = "&" if "?" in location else "?"
        self._request(
            "PUT",
            f"{location}{separator}digest={digest}",
            scope=scope,
            headers={"Content-Type": "application/octet-stream"},
            data=data,
            what=what,
            expect=(201,),
            retry=False,
            cancel=cancel,
        )
        return digest

    def can_push(self, repository: str, cancel: threading.Event | None = None) -> bool:
        """Whether this login may push to ``repository``: starts a blob upload
        and cancels it at once, which leaves nothing behind."""
        check_name(repository)
        try:
            started = self._request(
                "POST",
                f"/v2/{repository}/blobs/uploads/",
                scope=_scope(repository, "pull,push"),
                what=f"a test upload to {repository}",
                expect=(202,),
                retry=False,
                cancel=cancel,
            )
        except (errors.PermissionDeniedError, errors.AuthenticationError):
            return False
        self._request(
            "DELETE",
            self._upload_location(started),
            scope=_scope(repository, "pull,push"),
            what=f"the test upload to {repository}",
            expect=(200, 202, 204, 404),
            retry=False,
            cancel=cancel,
        )
        return True

    def _upload_location(self, response: requests.Response) -> str:
        location = response.headers.get("Location")
        if not location:
            raise errors.ProtocolError("The registry started an upload without a URL.")
        target = urljoin(response.url, location)
        if urlsplit(target)[:2] != urlsplit(self.base_url)[:2]:
            raise errors.ProtocolError(
                "The registry's upload URL points at another server; not followed."
            )
        return target

    def deletion_enabled(
        self, repository: str, cancel: threading.Event | None = None
    ) -> bool:
        """Probe with a DELETE of a digest that exists nowhere: 404 means
        deletion is enabled, 405 that it is disabled. Deletes nothing."""
        try:
            self._request(
                "DELETE",
                _manifest_path(check_name(repository), ZERO_DIGEST),
                scope=_scope(repository, "delete"),
                what=f"{repository} (deletion probe)",
                expect=(200, 202, 204),
                retry=False,
                cancel=cancel,
            )
        except errors.DeletionDisabledError:
            return False
        except errors.NotFoundError:
            return True
        raise errors.ProtocolError(
            "The registry accepted the deletion of a digest that cannot exist."
        )

    def resolve_many(
        self,
        repository: str,
        references: Iterable[str],
        *,
        workers: int | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[tuple[str, ManifestHead | errors.RegsweepError]]:
        """Resolve many tags on a bounded thread pool, yielding each result as
        it arrives; ``references`` is read as workers free up. A failure of one
        tag is yielded, not raised; cancelling raises
        :class:`~core.errors.CancelledError`."""
        stop = threading.Event()
        size = max(1, workers or self.config.workers)
        pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="resolve")
        done: queue.SimpleQueue[Future[ManifestHead | errors.RegsweepError]]
        done = queue.SimpleQueue()
        pending: dict[Future[ManifestHead | errors.RegsweepError], str] = {}
        remaining = iter(references)

        def submit(count: int) -> None:
            for ref in itertools.islice(remaining, count):
                future = pool.submit(self._resolve_one, repository, ref, cancel, stop)
                pending[future] = ref
                future.add_done_callback(done.put)

        try:
            submit(size * _QUEUED_PER_WORKER)
            while pending:
                future = done.get()
                submit(1)
                yield pending.pop(future), future.result()
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def _resolve_one(
        self,
        repository: str,
        reference: str,
        cancel: threading.Event | None,
        stop: threading.Event,
    ) -> ManifestHead | errors.RegsweepError:
        _check_cancel(cancel)
        _check_cancel(stop)
        try:
            return self.resolve(repository, reference, cancel=cancel)
        except errors.CancelledError:
            raise
        except errors.RegsweepError as exc:
            return exc

    def resolve_all(
        self,
        repository: str,
        tags: Iterable[str] | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, ManifestHead]:
        """Resolve every tag of a repository (or the ``tags`` given).

        A tag deleted while this runs is left out; any other failure is
        raised, because a partial answer could hide a tag that would be lost."""
        names = self.tags(repository, cancel) if tags is None else list(tags)
        found: dict[str, ManifestHead] = {}
        for tag, result in self.resolve_many(repository, names, cancel=cancel):
            if isinstance(result, errors.ManifestNotFoundError):
                continue
            if isinstance(result, errors.RegsweepError):
                raise result
            found[tag] = result
        return found

    def tags_by_digest(
        self,
        repository: str,
        tags: Iterable[str] | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, list[str]]:
        """Map each digest of a repository to every tag on it (sorted)."""
        return group_by_digest(self.resolve_all(repository, tags, cancel))

    def details(
        self, repository: str, digest: str, cancel: threading.Event | None = None
    ) -> ImageDetails:
        """Media type, size, created date, platforms and labels of a digest;
        for an index, of each platform too. Cached by digest."""
        cached = self._details.get(digest)
        if cached is not None:
            return cached
        manifest = self.get_manifest(repository, digest, cancel=cancel)
        return self.details_of(repository, manifest, cancel)

    def details_of(
        self,
        repository: str,
        manifest: Manifest,
        cancel: threading.Event | None = None,
    ) -> ImageDetails:
        """:meth:`details` of a manifest the caller has already fetched."""
        cached = self._details.get(manifest.digest)
        if cached is not None:
            return cached
        if manifest.media_type in INDEX_TYPES:
            result = self._index_details(repository, manifest, cancel)
        else:
            result = self._image_details(repository, manifest, cancel)
        self._details[manifest.digest] = result
        return result

    def _image_details(
        self, repository: str, manifest: Manifest, cancel: threading.Event | None
    ) -> ImageDetails:
        config = None
        digest = manifest.config_digest()
        if digest is not None:
            config = self._get_json_blob(repository, digest, cancel)
        return image_details_from(manifest, config)

    def _index_details(
        self, repository: str, manifest: Manifest, cancel: threading.Event | None
    ) -> ImageDetails:
        children = []
        for child in manifest.children():
            if child.is_attestation or child.media_type not in MANIFEST_TYPES:
                continue
            try:
                found = self.details(repository, child.digest, cancel)
            except errors.ManifestNotFoundError:
                found = ImageDetails(child.digest, child.media_type, None, None)
            if child.platform:
                found = replace(found, platforms=(child.platform,))
            children.append(found)
        return index_details_from(manifest, children)

    def _get_json_blob(
        self, repository: str, digest: str, cancel: threading.Event | None
    ) -> dict[str, Any] | None:
        what = f"blob {digest} of {repository}"
        response = self._request(
            "GET",
            f"/v2/{repository}/blobs/{check_digest(digest)}",
            scope=_scope(repository, "pull"),
            what=what,
            cancel=cancel,
        )
        if len(response.content) > _MAX_CONFIG_BYTES:
            return None
        body = _parse_json(response, what)
        return body if isinstance(body, dict) else None

    # --- pagination ---------------------------------------------------------

    def _pages(
        self,
        path: str,
        scope: str,
        what: str,
        page_size: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[dict[str, Any]]:
        url: str | None = path
        params: dict[str, int] | None = {"n": page_size}
        read: set[str] = set()
        while url is not None:
            try:
                response = self._request(
                    "GET", url, scope=scope, params=params, what=what, cancel=cancel
                )
            except errors.PaginationError:
                if params is None or params["n"] <= _FALLBACK_PAGE:
                    raise
                params = {"n": _FALLBACK_PAGE}
                continue
            if response.url in read:
                raise errors.ProtocolError(
                    f"The registry's next-page links for {what} lead back to a "
                    "page already read; stopped there."
                )
            read.add(response.url)
            body = _parse_json(response, what)
            if not isinstance(body, dict):
                raise errors.ProtocolError(
                    f"The registry sent {what} in an unknown form."
                )
            yield body
            url, params = self._next_page(response), None

    def _next_page(self, response: requests.Response) -> str | None:
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        target = urljoin(response.url, link)
        if urlsplit(target)[:2] != urlsplit(self.base_url)[:2]:
            raise errors.ProtocolError(
                "The registry's next-page link points at another server; "
                "it was not followed."
            )
        return target

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
            _check_cancel(cancel)
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
        body = _parse_json(response, "the token server's answer")
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
        if status >= 500 and _looks_like_html(response):
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


def group_by_digest(heads: dict[str, ManifestHead]) -> dict[str, list[str]]:
    """Invert tag -> head into digest -> sorted tags."""
    found: dict[str, list[str]] = {}
    for tag, head in heads.items():
        found.setdefault(head.digest, []).append(tag)
    return {digest: sorted(tags) for digest, tags in found.items()}


# --- helpers --------------------------------------------------------------------


def _repository_in(url: str) -> str | None:
    found = _REPO_PATH_RE.search(urlsplit(url).path)
    return found.group(1) if found else None


def _scope(repository: str, actions: str) -> str:
    return f"repository:{repository}:{actions}"


def _manifest_path(repository: str, reference: str) -> str:
    return f"/v2/{repository}/manifests/{reference}"


def _ref_text(repository: str, reference: str) -> str:
    return (
        f"{repository}@{reference}"
        if is_digest(reference)
        else f"{repository}:{reference}"
    )


def _check_reference(repository: str, reference: str) -> None:
    check_name(repository)
    if ":" in reference:
        check_digest(reference)
    else:
        check_tag(reference)


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise errors.CancelledError()


def _verb(method: str) -> str:
    return {"GET": "read", "HEAD": "read", "DELETE": "delete", "PUT": "push"}.get(
        method, method
    )


def _head_from(response: requests.Response) -> ManifestHead | None:
    """A usable HEAD answer: 200, a digest header and a manifest type."""
    digest = response.headers.get("Docker-Content-Digest")
    media_type = base_media_type(response.headers.get("Content-Type"))
    if response.status_code != 200 or not digest or media_type not in MANIFEST_TYPES:
        return None
    length = response.headers.get("Content-Length", "")
    return ManifestHead(digest, media_type, int(length) if length.isdigit() else None)


def _looks_like_html(response: requests.Response) -> bool:
    media_type = base_media_type(response.headers.get("Content-Type"))
    return (
        media_type in ("text/html", "application/xhtml+xml")
        or response.content.lstrip()[:1] == b"<"
    )


def _parse_json(response: requests.Response, what: str) -> Any:
    if _looks_like_html(response):
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


def _string_list(body: dict[str, Any], key: str, what: str) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.ProtocolError(f"The registry sent {what} in an unknown form.")
    return value


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
