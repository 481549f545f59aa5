"""parse_challenge and TokenCache on their own: no network, no clock."""

from __future__ import annotations

import random
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.auth import Challenge, TokenCache, parse_challenge, token_lifetime

BEARER = Challenge("bearer", {"realm": "https://auth.example/token"})


# --- parse_challenge -------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "   "])
def test_no_challenge(header: str | None) -> None:
    assert parse_challenge(header) is None


def test_basic() -> None:
    found = parse_challenge('Basic realm="Registry Realm"')

    assert found == Challenge("basic", {"realm": "Registry Realm"})


def test_bearer_in_any_order_with_a_quoted_comma() -> None:
    header = (
        'Bearer scope="repository:team/app:pull,push",'
        'service="registry.example:5000",realm="https://auth.example/token"'
    )

    found = parse_challenge(header)

    assert found is not None
    assert found.scheme == "bearer"
    assert found.realm == "https://auth.example/token"
    assert found.params["service"] == "registry.example:5000"
    assert found.scopes == ["repository:team/app:pull,push"]
    assert found.error == ""


def test_names_and_scheme_in_any_case_spaces_and_bare_values() -> None:
    found = parse_challenge('BEARER Realm = "https://a/token?x=1" , SERVICE=reg')

    assert found == Challenge(
        "bearer", {"realm": "https://a/token?x=1", "service": "reg"}
    )


def test_bare_value_with_equals_signs() -> None:
    found = parse_challenge("Bearer realm=https://a/token?x=1&y=2,service=reg")

    assert found is not None
    assert found.params == {"realm": "https://a/token?x=1&y=2", "service": "reg"}


def test_escaped_quotes_and_backslashes() -> None:
    found = parse_challenge(r'Bearer realm="say \"hi\", C:\\tokens",service="r"')

    assert found is not None
    assert found.realm == r'say "hi", C:\tokens'
    assert found.params["service"] == "r"


def test_insufficient_scope_and_several_scopes() -> None:
    header = (
        'Bearer realm="https://a/token",error="insufficient_scope",'
        'scope="repository:a:pull repository:b:pull,push"'
    )

    found = parse_challenge(header)

    assert found is not None
    assert found.error == "insufficient_scope"
    assert found.scopes == ["repository:a:pull", "repository:b:pull,push"]


def test_scheme_without_parameters() -> None:
    found = parse_challenge("Negotiate")

    assert found == Challenge("negotiate", {})
    assert found.realm == "" and found.scopes == []


def test_only_the_first_of_two_joined_challenges_counts() -> None:
    # Two WWW-Authenticate headers reach the client joined by ", ".
    header = (
        'Bearer realm="https://auth.example/token",service="reg", '
        'Basic realm="Registry Realm"'
    )

    found = parse_challenge(header)

    assert found == Challenge(
        "bearer", {"realm": "https://auth.example/token", "service": "reg"}
    )


_NAMES = st.from_regex(r"[a-z_][a-z0-9_-]{0,10}", fullmatch=True)
_VALUES = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


# No deadline: these machines are shared and noisy. No example database in
# the working tree.
@settings(deadline=None, database=None)
@given(st.dictionaries(_NAMES, _VALUES, min_size=1, max_size=6), st.randoms())
def test_quoted_parameters_round_trip_in_any_order(
    params: dict[str, str], order: random.Random
) -> None:
    names = list(params)
    order.shuffle(names)
    quoted = [
        f'{name}="' + params[name].replace("\\", "\\\\").replace('"', '\\"') + '"'
        for name in names
    ]

    found = parse_challenge("Bearer " + ",".join(quoted))

    assert found == Challenge("bearer", params)


# --- TokenCache -------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Fetcher:
    """Hands out token-1, token-2... with a fixed lifetime, counting calls."""

    def __init__(self, lifetime: float = 60.0) -> None:
        self.lifetime = lifetime
        self.calls: list[Challenge] = []

    def __call__(self, challenge: Challenge) -> tuple[str, float]:
        self.calls.append(challenge)
        return f"token-{len(self.calls)}", self.lifetime


def test_unknown_key_has_no_token() -> None:
    assert TokenCache(Clock()).get("repository:a:pull") is None


def test_token_is_fetched_once_and_cached_per_key() -> None:
    cache, fetch = TokenCache(Clock()), Fetcher()

    first = cache.fetch("repository:a:pull", BEARER, fetch, stale=None)
    again = cache.fetch("repository:a:pull", BEARER, fetch, stale=None)
    other = cache.fetch("repository:b:pull", BEARER, fetch, stale=None)

    assert (first, again, other) == ("token-1", "token-1", "token-2")
    assert cache.get("repository:a:pull") == "token-1"
    assert cache.get("repository:b:pull") == "token-2"
    assert fetch.calls == [BEARER, BEARER]


@pytest.mark.parametrize(
    ("lifetime", "usable_for"),
    [(60.0, 55.0), (300.0, 295.0), (8.0, 6.0), (1.0, 0.75)],
)
def test_token_expires_shortly_before_the_registry_would_refuse_it(
    lifetime: float, usable_for: float
) -> None:
    clock = Clock()
    cache, fetch = TokenCache(clock), Fetcher(lifetime)
    cache.fetch("k", BEARER, fetch, stale=None)
    start = clock.now

    clock.now = start + usable_for - 0.01
    assert cache.get("k") == "token-1"
    clock.now = start + usable_for
    assert cache.get("k") is None
    assert cache.fetch("k", BEARER, fetch, stale=None) == "token-2"


def test_refused_token_is_renewed() -> None:
    cache, fetch = TokenCache(Clock()), Fetcher()
    refused = cache.fetch("k", BEARER, fetch, stale=None)

    renewed = cache.fetch("k", BEARER, fetch, stale=refused)

    assert renewed == "token-2"
    assert cache.get("k") == "token-2"


def test_token_renewed_by_another_thread_is_reused() -> None:
    cache, fetch = TokenCache(Clock()), Fetcher()
    cache.fetch("k", BEARER, fetch, stale=None)
    cache.fetch("k", BEARER, fetch, stale="token-1")  # another thread renewed it

    # This caller also saw token-1 refused; token-2 is already there.
    assert cache.fetch("k", BEARER, fetch, stale="token-1") == "token-2"
    assert len(fetch.calls) == 2


def test_failed_fetch_caches_nothing() -> None:
    cache = TokenCache(Clock())

    def broken(challenge: Challenge) -> tuple[str, float]:
        raise ConnectionError("token server down")

    with pytest.raises(ConnectionError):
        cache.fetch("k", BEARER, broken, stale=None)

    assert cache.get("k") is None
    assert cache.fetch("k", BEARER, Fetcher(), stale=None) == "token-1"


def test_threads_wanting_the_same_key_share_one_fetch() -> None:
    cache = TokenCache(Clock())
    entered, release = threading.Event(), threading.Event()
    fetch = Fetcher()

    def slow(challenge: Challenge) -> tuple[str, float]:
        entered.set()
        release.wait(5)
        return fetch(challenge)

    results: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(cache.fetch("k", BEARER, slow, None))
        )
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    assert entered.wait(5)
    release.set()
    for thread in threads:
        thread.join(5)

    assert results == ["token-1"] * 8
    assert len(fetch.calls) == 1


def test_clear_forgets_every_token() -> None:
    cache, fetch = TokenCache(Clock()), Fetcher()
    cache.fetch("a", BEARER, fetch, stale=None)
    cache.fetch("b", BEARER, fetch, stale=None)

    cache.clear()

    assert cache.get("a") is None and cache.get("b") is None


@pytest.mark.parametrize(
    ("answer", "lifetime"),
    [
        ({"expires_in": 300}, 300.0),
        ({"expires_in": 1.5}, 1.5),
        ({}, 60.0),
        ({"expires_in": 0}, 60.0),
        ({"expires_in": -5}, 60.0),
        ({"expires_in": "300"}, 60.0),
        ({"expires_in": None}, 60.0),
    ],
)
def test_token_lifetime(answer: dict[str, object], lifetime: float) -> None:
    assert token_lifetime(answer) == lifetime
