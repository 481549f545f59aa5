"""A ``requests`` session bound to one local registry, with full rights.

It ignores proxy and CA settings from the environment (``REQUESTS_CA_BUNDLE`` would
otherwise override ``verify``), gives every request a timeout, and accepts paths
relative to the registry's base URL.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

DEFAULT_TIMEOUT = 10.0

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
MANIFEST_ACCEPT = ", ".join(MANIFEST_TYPES)


class AdminSession(requests.Session):
    """Talks to one registry; ``get("/v2/_catalog")`` works as well as full URLs."""

    def __init__(
        self,
        base_url: str,
        *,
        verify: str | bool = True,
        auth: AuthBase | tuple[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        pool_size: int = 16,
    ) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.verify = verify
        self.auth = auth
        self.timeout = timeout
        # Environment settings would replace verify= and could route loopback
        # traffic through a proxy.
        self.trust_env = False
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def url(self, path: str) -> str:
        """Absolute URL for ``path``; absolute URLs pass through unchanged."""
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + "/" + path.lstrip("/")

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, self.url(url), *args, **kwargs)


class BearerMinter(AuthBase):
    """Adds a bearer token minted for the scope each request needs.

    ``mint`` receives a scope string (``""`` for the base endpoint) and returns a
    token valid for longer than ``max_age`` seconds; tokens are cached per scope
    and minted again once they are ``max_age`` old.
    """

    def __init__(self, mint: Callable[[str], str], *, max_age: float = 600) -> None:
        self._mint = mint
        self._max_age = max_age
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token(request.path_url)}"
        return request

    def _token(self, path_url: str) -> str:
        scope = scope_for_path(path_url or "/")
        now = time.monotonic()
        with self._lock:
            cached = self._tokens.get(scope)
            if cached is None or now - cached[1] >= self._max_age:
                cached = self._tokens[scope] = (self._mint(scope), now)
        return cached[0]


_REPO_PATH = re.compile(
    r"/v2/(?P<name>.+)/(?:manifests/[^/]+|blobs/uploads/[^/]*|blobs/[^/]+|tags/list)"
)


def scope_for_path(path_url: str) -> str:
    """The token scope that grants everything a request to ``path_url`` may need.

    >>> scope_for_path("/v2/team/api/manifests/latest")
    'repository:team/api:*'
    >>> scope_for_path("/v2/_catalog?n=100")
    'registry:catalog:*'
    """
    path = path_url.split("?", 1)[0]
    if path == "/v2/_catalog":
        return "registry:catalog:*"
    match = _REPO_PATH.fullmatch(path)
    return f"repository:{match['name']}:*" if match else ""
