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
import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from core import errors
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
from core.transport import (
    RegistryConfig,
    Transport,
    check_cancel,
    looks_like_html,
    normalize_url,
    parse_json,
)

__all__ = [
    "ZERO_DIGEST",
    "PingResult",
    "RegistryClient",
    "RegistryConfig",
    "group_by_digest",
    "normalize_url",
]

log = logging.getLogger(__name__)

ZERO_DIGEST = "sha256:" + "0" * 64
_MAX_PAGE = 1000
_FALLBACK_PAGE = 100
_MAX_CONFIG_BYTES = 8 * 1024 * 1024
# Tags queued per resolving worker: enough that no worker waits for its next
# tag, few enough that 10,000 tags do not hold 10,000 futures at once.
_QUEUED_PER_WORKER = 4


@dataclass(frozen=True)
class PingResult:
    url: str
    api_version: str | None
    auth_scheme: str  # "none", "basic" or "bearer"


class RegistryClient(Transport):
    """One registry's API. Thread-safe: worker threads share one client."""

    def __init__(self, config: RegistryConfig) -> None:
        super().__init__(config)
        self._details: dict[str, ImageDetails] = {}

    @property
    def host(self) -> str:
        """``host[:port][/path]`` as it appears in image references."""
        return self.base_url.split("://", 1)[1]

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
        if version is None and looks_like_html(response):
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
            check_cancel(cancel)
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
            check_cancel(cancel)
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
        if looks_like_html(response):
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
        check_cancel(cancel)
        check_cancel(stop)
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
        body = parse_json(response, what)
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
            body = parse_json(response, what)
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


def group_by_digest(heads: dict[str, ManifestHead]) -> dict[str, list[str]]:
    """Invert tag -> head into digest -> sorted tags."""
    found: dict[str, list[str]] = {}
    for tag, head in heads.items():
        found.setdefault(head.digest, []).append(tag)
    return {digest: sorted(tags) for digest, tags in found.items()}


# --- helpers --------------------------------------------------------------------


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


def _head_from(response: requests.Response) -> ManifestHead | None:
    """A usable HEAD answer: 200, a digest header and a manifest type."""
    digest = response.headers.get("Docker-Content-Digest")
    media_type = base_media_type(response.headers.get("Content-Type"))
    if response.status_code != 200 or not digest or media_type not in MANIFEST_TYPES:
        return None
    length = response.headers.get("Content-Length", "")
    return ManifestHead(digest, media_type, int(length) if length.isdigit() else None)


def _string_list(body: dict[str, Any], key: str, what: str) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.ProtocolError(f"The registry sent {what} in an unknown form.")
    return value
