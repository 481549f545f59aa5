"""The registry client against a real registry, in every auth and TLS variant."""

from __future__ import annotations

import logging
import threading

import pytest

from core import errors
from core.client import RegistryClient, RegistryConfig
from core.images import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from devtools.registry import LocalRegistry
from devtools.seed import Seeder, seed_standard


def client_for(registry: LocalRegistry, **overrides: object) -> RegistryClient:
    settings: dict[str, object] = {
        "url": registry.url,
        "username": registry.username,
        "password": registry.password,
        "ca_file": str(registry.ca_file) if registry.ca_file else None,
    }
    settings.update(overrides)
    return RegistryClient(RegistryConfig(**settings))  # type: ignore[arg-type]


def record_methods(client: RegistryClient) -> list[str]:
    """Record the HTTP method of every request the client sends from now on."""
    methods: list[str] = []
    send = client._session.request

    def recording(method: str, url: str, **kwargs: object) -> object:
        methods.append(method)
        return send(method, url, **kwargs)  # type: ignore[arg-type]

    client._session.request = recording  # type: ignore[method-assign, assignment]
    return methods


@pytest.fixture
def standard(registry: LocalRegistry, seeder: Seeder) -> dict:
    return seed_standard(seeder)


@pytest.fixture
def client(registry: LocalRegistry) -> RegistryClient:
    with client_for(registry) as found:
        yield found


# --- reading ------------------------------------------------------------------------


def test_every_variant_pings_lists_and_resolves(any_registry: LocalRegistry) -> None:
    with Seeder(any_registry) as seeder:
        pushed = seeder.push_image("team/app", ["1.0", "latest"])
    with client_for(any_registry) as client:
        ping = client.ping()
        assert ping.api_version == "registry/2.0"
        expected_scheme = {"none": "none", "basic": "basic", "token": "bearer"}
        assert ping.auth_scheme == expected_scheme[any_registry.auth]
        assert client.catalog() == ["team/app"]
        assert client.tags("team/app") == ["1.0", "latest"]
        assert client.resolve("team/app", "latest").digest == pushed.digest


def test_catalog_follows_every_page(big_catalog_registry: LocalRegistry) -> None:
    with client_for(big_catalog_registry) as client, Seeder(big_catalog_registry) as s:
        pages = list(client.iter_catalog(page_size=50))
        names = [name for page in pages for name in page]
        assert len(pages) >= 4
        assert len(names) >= 160
        assert names == sorted(names) == s.catalog()
        assert client.catalog() == names


def test_resolve_gives_the_stored_digest_for_every_manifest_type(
    client: RegistryClient, standard: dict
) -> None:
    cases = [
        ("app", "1.0", DOCKER_MANIFEST),
        ("team/api", "v1", OCI_MANIFEST),
        ("multi/docker", "1", DOCKER_LIST),
        ("multi/oci", "1", OCI_INDEX),
    ]
    for repo, tag, media_type in cases:
        head = client.resolve(repo, tag)
        assert head.digest == standard[repo][tag].digest
        assert head.media_type == media_type


def test_resolve_by_digest_and_tag_sharing(
    client: RegistryClient, standard: dict
) -> None:
    shared = standard["app"]["latest"].digest
    assert client.resolve("app", shared).digest == shared
    groups = client.tags_by_digest("app")
    assert groups[shared] == ["1.1", "latest", "stable"]
    assert groups[standard["app"]["1.0"].digest] == ["1.0"]


def test_tags_are_sorted_and_null_is_empty(
    client: RegistryClient, seeder: Seeder
) -> None:
    pushed = seeder.push_image("solo", ["b", "a", "c"])
    assert client.tags("solo") == ["a", "b", "c"]
    client.delete_manifest("solo", pushed.digest)
    assert client.tags("solo") == []


def test_details_of_an_image(client: RegistryClient, standard: dict) -> None:
    pushed = standard["team/api"]["v2"]
    details = client.details("team/api", pushed.digest)
    assert details.kind == "image"
    assert details.platforms == ("linux/amd64",)
    assert details.created is not None and details.created.year == 2024
    assert details.labels["org.opencontainers.image.title"] == "team api"
    assert details.size == pushed.size_total + len(pushed.manifest_bytes)


def test_details_of_an_index_per_platform(
    client: RegistryClient, standard: dict
) -> None:
    index = standard["multi/oci"]["1"]
    details = client.details("multi/oci", index.digest)
    assert details.kind == "index"
    assert details.platforms == ("linux/amd64", "linux/arm64")
    assert [c.digest for c in details.children] == [c.digest for c in index.children]
    assert all(c.size and c.size > 0 for c in details.children)
    assert details.size is not None
    assert details.size > sum(c.size or 0 for c in details.children)


def test_unknown_repository_and_tag(client: RegistryClient, standard: dict) -> None:
    with pytest.raises(errors.RepositoryNotFoundError, match="'nothere'"):
        client.tags("nothere")
    with pytest.raises(errors.ManifestNotFoundError, match=r"app:9\.9"):
        client.resolve("app", "9.9")


def test_invalid_names_are_refused_before_any_request(client: RegistryClient) -> None:
    for repo, ref in [
        ("Team/App", "1"),
        ("app", "-bad"),
        ("a//b", "1"),
        ("app", "x" * 129),
    ]:
        with pytest.raises(errors.InvalidReferenceError):
            client.resolve(repo, ref)
    with pytest.raises(errors.InvalidReferenceError):
        client.delete_manifest("app", "sha256:abc")
    assert client.requests_sent == 0


def test_resolve_many_streams_results_and_reports_each_failure(
    client: RegistryClient, seeder: Seeder
) -> None:
    pushed = seeder.push_many("many", 40)
    results = dict(client.resolve_many("many", [*pushed, "missing"], workers=8))
    assert {tag: r.digest for tag, r in results.items() if tag != "missing"} == pushed
    assert isinstance(results["missing"], errors.ManifestNotFoundError)


def test_resolve_many_can_be_cancelled(client: RegistryClient, seeder: Seeder) -> None:
    pushed = seeder.push_many("many", 200)
    cancel = threading.Event()
    seen = 0
    with pytest.raises(errors.CancelledError):
        for _tag, _result in client.resolve_many("many", list(pushed), cancel=cancel):
            seen += 1
            if seen == 5:
                cancel.set()
    assert seen < 200
    assert client.requests_sent < 200


# --- deleting -----------------------------------------------------------------------


def test_delete_by_digest_removes_every_tag_on_it(
    client: RegistryClient, seeder: Seeder, standard: dict
) -> None:
    shared = standard["app"]["latest"]
    client.delete_manifest("app", shared.digest)
    assert seeder.tags("app") == ["1.0"]
    assert not seeder.manifest_exists("app", shared.digest)
    assert seeder.digest_of("app", "1.0") == standard["app"]["1.0"].digest
    with pytest.raises(errors.ManifestNotFoundError):
        client.delete_manifest("app", shared.digest)


@pytest.mark.parametrize("which", ["config", "layer"])
def test_config_or_layer_digest_is_refused_and_nothing_is_damaged(
    client: RegistryClient,
    seeder: Seeder,
    standard: dict,
    registry: LocalRegistry,
    which: str,
) -> None:
    image = standard["app"]["1.0"]
    blob = image.config_digest if which == "config" else image.layer_digests[0]
    methods = record_methods(client)
    with pytest.raises(errors.NotAManifestError, match="not a manifest of app") as info:
        client.delete_manifest("app", blob)
    assert "Nothing was deleted" in str(info.value)
    assert seeder.digest_of("app", "1.0") == image.digest
    assert seeder.blob_exists("app", image.config_digest)
    assert seeder.blob_exists("app", image.layer_digests[0])
    assert "DELETE" not in methods
    assert methods  # the check itself did ask the registry


def test_deletion_disabled_is_explained_and_deletes_nothing(
    nodelete_registry: LocalRegistry,
) -> None:
    with Seeder(nodelete_registry) as seeder, client_for(nodelete_registry) as client:
        pushed = seeder.push_image("app", ["1"])
        assert client.deletion_enabled("app") is False
        with pytest.raises(errors.DeletionDisabledError) as info:
            client.delete_manifest("app", pushed.digest)
        assert "storage.delete.enabled" in str(info.value)
        assert "REGISTRY_STORAGE_DELETE_ENABLED=true" in str(info.value)
        assert seeder.digest_of("app", "1") == pushed.digest


def test_deletion_probe_on_an_enabled_registry(
    client: RegistryClient, standard: dict, seeder: Seeder
) -> None:
    assert client.deletion_enabled("app") is True
    assert seeder.tags("app") == ["1.0", "1.1", "latest", "stable"]


def test_put_back_the_same_bytes_gives_the_same_digest(
    client: RegistryClient, seeder: Seeder, standard: dict
) -> None:
    image = standard["team/api"]["v1"]
    manifest = client.get_manifest("team/api", "v1")
    client.delete_manifest("team/api", image.digest)
    digest = client.put_manifest("team/api", "v1", manifest.raw, manifest.media_type)
    assert digest == image.digest == seeder.digest_of("team/api", "v1")


# --- authentication and TLS ---------------------------------------------------------


def test_basic_auth_wrong_and_missing_password(basic_registry: LocalRegistry) -> None:
    with client_for(basic_registry, password="not-the-pw") as client:
        with pytest.raises(errors.AuthenticationError) as info:
            client.catalog()
        assert "refused the username or password" in str(info.value)
        assert "not-the-pw" not in str(info.value)
    with client_for(basic_registry, username=None, password=None) as client:
        with pytest.raises(errors.AuthenticationError, match="requires a login"):
            client.ping()


def test_token_auth_wrong_password(token_registry: LocalRegistry) -> None:
    with client_for(token_registry, password="wrong-pw-123") as client:
        with pytest.raises(errors.AuthenticationError) as info:
            client.tags("app")
        assert "wrong-pw-123" not in str(info.value)


def test_tokens_are_cached_per_scope(token_registry: LocalRegistry) -> None:
    with Seeder(token_registry) as seeder:
        seeder.push_many("many", 60)
    server = token_registry.token_server
    assert server is not None
    before = server.requests_served
    with client_for(token_registry) as client:
        results = dict(client.resolve_many("many", client.tags("many"), workers=8))
    assert len(results) == 60
    assert all(not isinstance(r, errors.RegsweepError) for r in results.values())
    # One token for the pull scope; 61 requests did not cause 61 token requests.
    assert server.requests_served - before <= 2


def test_token_without_delete_right_is_refused(tmp_path, caplog) -> None:
    from devtools.registry import start_registry

    acl = {"alice": {"pull", "push", "catalog"}}
    with start_registry(tmp_path, auth="token", token_acl=acl) as registry:
        with Seeder(registry) as seeder, client_for(registry) as client:
            pushed = seeder.push_image("app", ["1"])
            caplog.set_level(logging.DEBUG)
            with pytest.raises(errors.PermissionDeniedError, match="may not delete"):
                client.delete_manifest("app", pushed.digest)
            assert seeder.digest_of("app", "1") == pushed.digest
    assert registry.password not in caplog.text
    assert "Authorization" not in caplog.text


def test_tls_uses_the_profile_ca_even_with_an_env_bundle(
    tls_registry: LocalRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    with client_for(tls_registry) as client:
        assert client.ping().api_version == "registry/2.0"
    with client_for(tls_registry, ca_file=None) as client:
        with pytest.raises(errors.TLSError) as info:
            client.ping()
        assert "CA file" in str(info.value)
    with client_for(tls_registry, ca_file=None, insecure=True) as client:
        assert client.ping().api_version == "registry/2.0"


def test_plain_http_to_a_tls_registry_and_bad_urls(tls_registry: LocalRegistry) -> None:
    with pytest.raises(errors.ConfigError, match="scheme and host"):
        RegistryClient(RegistryConfig(f"127.0.0.1:{tls_registry.port}"))
    with pytest.raises(errors.ConfigError, match="contains a login") as info:
        RegistryClient(RegistryConfig("https://bob:hunter2@example.com"))
    assert "hunter2" not in str(info.value)
    with pytest.raises(errors.ConfigError, match="CA file"):
        RegistryClient(RegistryConfig(tls_registry.url, ca_file="/nonexistent/ca.pem"))


def test_refused_connection_is_plain(registry: LocalRegistry) -> None:
    url = registry.url
    registry.stop()
    with client_for(registry, url=url) as client:
        with pytest.raises(errors.ConnectError, match="Could not connect"):
            client.ping()
