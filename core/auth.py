"""Basic and Bearer authentication for the Registry API.

A registry says how it wants to be spoken to in ``WWW-Authenticate`` on a 401.
``Basic`` means: send the username and password with every request. ``Bearer``
means: ask the token server named in ``realm`` for a token covering ``scope``,
then send that token. Tokens are cached per scope until shortly before they
expire, so a thousand HEADs cost one token request, not a thousand.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# name=value or name="quoted value", separated by commas, in any order.
_PARAM_RE = re.compile(
    r'[\s,]*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)'
)

# A token is renewed this long before the registry would refuse it.
_EXPIRY_MARGIN_S = 5.0
_DEFAULT_LIFETIME_S = 60.0


@dataclass(frozen=True)
class Challenge:
    """One parsed ``WWW-Authenticate`` header."""

    scheme: str  # "basic" or "bearer" (lower-case), or what else was sent
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def scopes(self) -> list[str]:
        scope = self.params.get("scope", "")
        return scope.split(" ") if scope else []

    @property
    def error(self) -> str:
        return self.params.get("error", "")


def parse_challenge(header: str | None) -> Challenge | None:
    """Parse ``Bearer realm="...",service="...",scope="..."`` and the like."""
    if not header or not header.strip():
        return None
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    # Parameters run up to the next scheme: several WWW-Authenticate headers
    # reach us joined by ", ", and only the first challenge is used.
    position = 0
    while found := _PARAM_RE.match(rest, position):
        name, value = found.groups()
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[name.lower()] = value
        position = found.end()
    return Challenge(scheme.lower(), params)


def basic_header(username: str, password: str) -> str:
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass
class _Token:
    value: str = field(repr=False)
    expires_at: float


# Fetches a token for a challenge: (realm, service, scopes) -> (token, lifetime s)
TokenFetcher = Callable[[Challenge], tuple[str, float]]


class TokenCache:
    """Bearer tokens keyed by the scope a request needs. Thread-safe; while one
    thread fetches a token for a key, others wanting the same key wait for it
    instead of asking the token server again."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def get(self, key: str) -> str | None:
        token = self._tokens.get(key)
        if token is None or token.expires_at <= self._clock():
            return None
        return token.value

    def fetch(
        self, key: str, challenge: Challenge, fetcher: TokenFetcher, stale: str | None
    ) -> str:
        """Return a fresh token for ``key``. ``stale`` is the token the caller
        just saw refused: a different cached token means another thread already
        renewed it, and it is used without asking again."""
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            current = self.get(key)
            if current is not None and current != stale:
                return current
            value, lifetime = fetcher(challenge)
            margin = min(_EXPIRY_MARGIN_S, lifetime / 4)
            self._tokens[key] = _Token(value, self._clock() + lifetime - margin)
            log.debug("token cached for %s (%.0f s)", key, lifetime)
            return value

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


def token_lifetime(answer: dict[str, object]) -> float:
    value = answer.get("expires_in")
    if isinstance(value, int | float) and value > 0:
        return float(value)
    return _DEFAULT_LIFETIME_S
