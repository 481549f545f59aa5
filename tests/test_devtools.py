"""The test registries start, hold what the seeder pushed, and enforce their access."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from devtools.registry import MEMORY_ROOT, LocalRegistry, start_registry
from devtools.seed import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    PushedImage,
    PushedIndex,
    Seeder,
    seed_standard,
)
from devtools.session import MANIFEST_ACCEPT, scope_for_path

TIMEOUT = 5
ZERO_DIGEST = "sha256:" + "0" * 64


def _get(url: str, **kwargs: Any) -> requests.Response:
    """A request with the environment ignored, as a client with its own CA would."""
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, timeout=TIMEOUT, **kwargs)


def _config_blob(seeder: Seeder, image: PushedImage) -> bytes:
    response = seeder.session.get(f"/v2/{image.repo}/blobs/{image.config_digest}")
    response.raise_for_status()
    return response.content


def test_each_variant_holds_the_standard_seed(any_registry: LocalRegistry) -> None:
    with Seeder(any_registry) as seeder:
        pushed = seed_standard(seeder)

        assert seeder.catalog() == ["app", "multi/docker", "multi/oci", "team/api"]
        assert seeder.tags("app") == ["1.0", "1.1", "latest", "stable"]
        assert seeder.tags("team/api") == ["v1", "v2"]
        for repo, tags in pushed.items():
            for tag, manifest in tags.items():
                assert seeder.digest_of(repo, tag) == manifest.digest


def test_latest_and_stable_share_the_digest_of_1_1(seeder: Seeder) -> None:
    pushed = seed_standard(seeder)

    digests = {tag: seeder.digest_of("app", tag) for tag in seeder.tags("app")}

    assert digests["latest"] == digests["stable"] == digests["1.1"]
    assert digests["1.0"] != digests["1.1"]
    assert pushed["app"]["latest"].media_type == DOCKER_MANIFEST
    assert pushed["team/api"]["v1"].media_type == OCI_MANIFEST


@pytest.mark.parametrize(
    ("repo", "index_type", "child_type"),
    [
        ("multi/docker", DOCKER_LIST, DOCKER_MANIFEST),
        ("multi/oci", OCI_INDEX, OCI_MANIFEST),
    ],
)
def test_indexes_are_stored_with_untagged_children(
    seeder: Seeder, repo: str, index_type: str, child_type: str
) -> None:
    index = seed_standard(seeder)[repo]["1"]
    assert isinstance(index, PushedIndex)

    response = seeder.session.get(
        f"/v2/{repo}/manifests/1", headers={"Accept": MANIFEST_ACCEPT}
    )

    assert response.headers["Content-Type"] == index_type
    assert response.content == index.manifest_bytes
    assert seeder.tags(repo) == ["1"]
    assert [child.platform for child in index.children] == [
        ("linux", "amd64"),
        ("linux", "arm64"),
    ]
    for child in index.children:
        assert child.media_type == child_type
        assert seeder.manifest_exists(repo, child.digest)


def test_same_salt_same_digest_new_salt_new_digest(seeder: Seeder) -> None:
    first = seeder.push_image("salted", ["a"], salt="s1")
    again = seeder.push_image("salted", ["b"], salt="s1")
    other = seeder.push_image("salted", ["c"])

    assert first.digest == again.digest
    assert other.digest != first.digest
    assert first.size_total == 2048 + len(_config_blob(seeder, first))


def test_add_tag_points_a_new_tag_at_the_same_digest(seeder: Seeder) -> None:
    image = seeder.push_image("retag", ["1"], kind="oci")

    seeder.add_tag("retag", "also-1", image.digest)

    assert seeder.digest_of("retag", "also-1") == image.digest
    assert seeder.digest_of("retag", "missing") is None


def test_token_auth_rejects_anonymous_and_bad_passwords(
    token_registry: LocalRegistry,
) -> None:
    server = token_registry.token_server
    assert server is not None
    catalog_url = f"{token_registry.url}/v2/_catalog"
    query = {"service": server.service, "scope": "registry:catalog:*"}

    anonymous = _get(catalog_url)
    wrong = _get(server.realm, params=query, auth=("alice", "not-the-password"))
    anonymous_token = _get(server.realm, params=query).json()["token"]
    refused = _get(catalog_url, headers={"Authorization": f"Bearer {anonymous_token}"})

    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith(
        f'Bearer realm="{server.realm}"'
    )
    assert wrong.status_code == 401
    assert refused.status_code == 401
    assert "insufficient_scope" in refused.headers["WWW-Authenticate"]


def test_token_auth_admits_a_user_with_a_token(token_registry: LocalRegistry) -> None:
    server = token_registry.token_server
    assert server is not None
    credentials = (token_registry.username, token_registry.password)
    query = {"service": server.service, "scope": "registry:catalog:*"}

    answer = _get(server.realm, params=query, auth=credentials).json()
    catalog = _get(
        f"{token_registry.url}/v2/_catalog",
        headers={"Authorization": f"Bearer {answer['access_token']}"},
    )

    assert catalog.status_code == 200
    assert answer["expires_in"] == 60
    assert server.requests_served == 1


def test_token_acl_grants_only_listed_actions(tmp_path: Path) -> None:
    users = {"alice": "wonderland-pw", "bob": "builder-pw"}
    acl = {"alice": {"*"}, "bob": {"pull"}}
    with start_registry(tmp_path, auth="token", users=users, token_acl=acl) as reg:
        server = reg.token_server
        assert server is not None
        query = {"service": server.service, "scope": "repository:app:pull,push,delete"}
        token = _get(server.realm, params=query, auth=("bob", "builder-pw")).json()
        put = requests.put(
            f"{reg.url}/v2/app/manifests/1",
            data=b"{}",
            headers={"Authorization": f"Bearer {token['token']}"},
            timeout=TIMEOUT,
        )

    claims = jwt.decode(token["token"], options={"verify_signature": False})
    assert claims["access"] == [
        {"type": "repository", "name": "app", "actions": ["pull"]}
    ]
    assert claims["aud"] == server.service
    assert jwt.get_unverified_header(token["token"])["kid"] == server.key_id
    assert put.status_code == 401


def test_basic_auth_rejects_wrong_passwords(basic_registry: LocalRegistry) -> None:
    url = f"{basic_registry.url}/v2/"

    anonymous = _get(url)
    wrong = _get(url, auth=(basic_registry.username, "not-the-password"))
    right = _get(url, auth=(basic_registry.username, basic_registry.password))

    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert wrong.status_code == 401
    assert right.status_code == 200


def test_tls_works_with_the_ca_and_fails_without(tls_registry: LocalRegistry) -> None:
    assert tls_registry.url.startswith("https://127.0.0.1:")
    assert tls_registry.ca_file is not None

    assert _get(f"{tls_registry.url}/v2/", verify=str(tls_registry.ca_file)).ok
    with pytest.raises(requests.exceptions.SSLError):
        _get(f"{tls_registry.url}/v2/", verify=True)


def test_nodelete_registry_answers_405_and_keeps_the_manifest(
    nodelete_registry: LocalRegistry,
) -> None:
    with Seeder(nodelete_registry) as seeder:
        image = seeder.push_image("keep", ["1"])
        response = seeder.session.delete(f"/v2/keep/manifests/{image.digest}")

        assert response.status_code == 405
        assert response.json()["errors"][0]["code"] == "UNSUPPORTED"
        assert seeder.digest_of("keep", "1") == image.digest


def test_delete_enabled_registry_answers_404_to_an_unknown_digest(
    seeder: Seeder,
) -> None:
    seeder.push_image("probe", ["1"])

    response = seeder.session.delete(f"/v2/probe/manifests/{ZERO_DIGEST}")

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


def test_push_many_gives_each_tag_its_own_manifest(tmp_path: Path) -> None:
    with (
        start_registry(tmp_path, memory_storage=True) as registry,
        Seeder(registry) as seeder,
    ):
        pushed = seeder.push_many("many", 1000)

        assert seeder.tags("many") == sorted(f"v{i}" for i in range(1000))
        assert len(set(pushed.values())) == 1000
        assert seeder.digest_of("many", "v999") == pushed["v999"]


def test_memory_storage_lives_on_tmpfs_and_is_removed(tmp_path: Path) -> None:
    if not MEMORY_ROOT.is_dir():
        pytest.skip(f"{MEMORY_ROOT} does not exist here")

    with start_registry(tmp_path, memory_storage=True) as registry:
        storage = registry.storage_dir
        assert storage.is_relative_to(MEMORY_ROOT)

    assert not storage.exists()


def test_garbage_collect_frees_the_blobs_of_a_deleted_image(seeder: Seeder) -> None:
    registry = seeder.registry
    kept = seeder.push_image("gc", ["kept"])
    gone = seeder.push_image("gc", ["gone"])
    deleted = seeder.session.delete(f"/v2/gc/manifests/{gone.digest}")
    assert deleted.status_code == 202

    with pytest.raises(RuntimeError, match="stop the registry"):
        registry.garbage_collect()
    registry.stop()
    result = registry.garbage_collect()
    registry.start()

    assert result.returncode == 0
    assert not seeder.blob_exists("gc", gone.layer_digests[0])
    assert seeder.blob_exists("gc", kept.layer_digests[0])
    assert seeder.digest_of("gc", "kept") == kept.digest


def test_stop_ends_the_process_and_restart_keeps_port_and_data(
    seeder: Seeder,
) -> None:
    registry = seeder.registry
    image = seeder.push_image("durable", ["1"])
    url, pid = registry.url, registry.pid

    registry.stop()
    stopped_pid = registry.pid
    with pytest.raises(requests.ConnectionError):
        _get(f"{url}/v2/")
    registry.start()

    assert pid is not None and stopped_pid is None
    assert registry.url == url and registry.pid not in (None, pid)
    assert seeder.digest_of("durable", "1") == image.digest


def test_catalog_follows_pagination(big_catalog_registry: LocalRegistry) -> None:
    with Seeder(big_catalog_registry) as seeder:
        first_page = seeder.session.get("/v2/_catalog?n=100")
        names = seeder.catalog()

    assert 'rel="next"' in first_page.headers["Link"]
    assert len(first_page.json()["repositories"]) == 100
    assert names == [f"big/repo-{i:03d}" for i in range(160)]


@pytest.mark.parametrize(
    ("path", "scope"),
    [
        ("/v2/", ""),
        ("/v2/_catalog?n=100", "registry:catalog:*"),
        ("/v2/team/api/manifests/latest", "repository:team/api:*"),
        ("/v2/a/blobs/uploads/", "repository:a:*"),
        ("/v2/a/blobs/uploads/1f2e?_state=x", "repository:a:*"),
        ("/v2/a/tags/manifests/sha256:ab", "repository:a/tags:*"),
        ("/v2/a/b/tags/list", "repository:a/b:*"),
    ],
)
def test_admin_session_asks_for_the_scope_of_each_path(path: str, scope: str) -> None:
    assert scope_for_path(path) == scope
