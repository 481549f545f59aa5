"""Fill a local registry through the HTTP API, and read back what it holds.

The seeder talks to the registry with ``requests`` directly and shares no code with
``core/``, so tests can use it as an independent check of the registry's state.
Blob contents are pseudo-random bytes derived from a salt: the same salt gives the
same digests, a new salt (the default) gives new ones. The blobs are not real
tarballs, so a container engine could not run these images; registries do not care.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urljoin

import requests

from devtools.registry import LocalRegistry
from devtools.session import MANIFEST_ACCEPT, MANIFEST_TYPES

Kind = Literal["docker", "oci"]
Platform = tuple[str, str]

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

_TYPES: dict[Kind, tuple[str, str, str, str]] = {
    # kind: (manifest, index, config, layer)
    "docker": (DOCKER_MANIFEST, DOCKER_LIST, DOCKER_CONFIG, DOCKER_LAYER),
    "oci": (OCI_MANIFEST, OCI_INDEX, OCI_CONFIG, OCI_LAYER),
}
DEFAULT_CREATED = "2024-01-01T00:00:00Z"
DEFAULT_PLATFORMS: tuple[Platform, ...] = (("linux", "amd64"), ("linux", "arm64"))


class SeedError(RuntimeError):
    """The registry answered a seeding request unexpectedly."""


@dataclass(frozen=True)
class PushedImage:
    """One image manifest as pushed. ``size_total`` is config plus layer bytes."""

    repo: str
    tags: tuple[str, ...]
    digest: str
    media_type: str
    manifest_bytes: bytes
    config_digest: str
    layer_digests: tuple[str, ...]
    size_total: int
    created: str | None
    platform: Platform


@dataclass(frozen=True)
class PushedIndex:
    """A manifest list or OCI index; its children are pushed untagged."""

    repo: str
    tags: tuple[str, ...]
    digest: str
    media_type: str
    manifest_bytes: bytes
    children: tuple[PushedImage, ...]


class Seeder:
    """Pushes images to ``registry`` and queries it, with full rights."""

    def __init__(self, registry: LocalRegistry) -> None:
        self.registry = registry
        self.session = registry.admin_session(pool_size=32)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Seeder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- pushing -----------------------------------------------------------------

    def push_image(
        self,
        repo: str,
        tags: Sequence[str],
        *,
        kind: Kind = "docker",
        created: str | None = DEFAULT_CREATED,
        layer_sizes: Sequence[int] = (2048,),
        labels: Mapping[str, str] | None = None,
        platform: Platform = ("linux", "amd64"),
        salt: str | None = None,
    ) -> PushedImage:
        """Upload blobs and a manifest; tagged with every tag, or untagged if none."""
        salt = salt if salt is not None else uuid.uuid4().hex
        manifest_type, _, config_type, layer_type = _TYPES[kind]
        layers = [_blob(f"{salt}/layer/{i}", n) for i, n in enumerate(layer_sizes)]
        config = _image_config(created, platform, labels, layers)

        layer_descriptors = [self._upload(repo, layer, layer_type) for layer in layers]
        config_descriptor = self._upload(repo, config, config_type)
        manifest = _manifest_bytes(manifest_type, config_descriptor, layer_descriptors)
        digest = self._put_manifest_tags(repo, tags, manifest, manifest_type)
        return PushedImage(
            repo=repo,
            tags=tuple(tags),
            digest=digest,
            media_type=manifest_type,
            manifest_bytes=manifest,
            config_digest=config_descriptor["digest"],
            layer_digests=tuple(d["digest"] for d in layer_descriptors),
            size_total=len(config) + sum(len(layer) for layer in layers),
            created=created,
            platform=platform,
        )

    def push_index(
        self,
        repo: str,
        tags: Sequence[str],
        *,
        kind: Kind = "docker",
        platforms: Sequence[Platform] = DEFAULT_PLATFORMS,
        created: str | None = DEFAULT_CREATED,
        salt: str | None = None,
    ) -> PushedIndex:
        """Push one untagged image per platform, then an index of them under tags."""
        salt = salt if salt is not None else uuid.uuid4().hex
        children = tuple(
            self.push_image(
                repo,
                (),
                kind=kind,
                created=created,
                platform=platform,
                salt=f"{salt}/{'/'.join(platform)}",
            )
            for platform in platforms
        )
        index_type = _TYPES[kind][1]
        manifest = _index_bytes(index_type, children)
        digest = self._put_manifest_tags(repo, tags, manifest, index_type)
        return PushedIndex(
            repo=repo,
            tags=tuple(tags),
            digest=digest,
            media_type=index_type,
            manifest_bytes=manifest,
            children=children,
        )

    def push_many(
        self,
        repo: str,
        count: int,
        *,
        prefix: str = "v",
        workers: int = 8,
        salt: str | None = None,
    ) -> dict[str, str]:
        """Push ``count`` tags ``{prefix}0``... each with its own manifest digest.

        All manifests share one config and one layer and differ only in an
        annotation, so the cost is one PUT per tag, spread over ``workers`` threads.
        """
        salt = salt if salt is not None else uuid.uuid4().hex
        layer = self._upload(repo, _blob(f"{salt}/many-layer", 512), OCI_LAYER)
        config = _image_config(DEFAULT_CREATED, ("linux", "amd64"), None, [])
        config_descriptor = self._upload(repo, config, OCI_CONFIG)

        def push_one(index: int) -> tuple[str, str]:
            tag = f"{prefix}{index}"
            annotations = {"org.regsweep.seed": f"{salt}/{tag}"}
            manifest = _manifest_bytes(
                OCI_MANIFEST, config_descriptor, [layer], annotations
            )
            return tag, self._put_manifest(repo, tag, manifest, OCI_MANIFEST)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return dict(pool.map(push_one, range(count)))

    def add_tag(self, repo: str, tag: str, digest: str) -> None:
        """Point ``tag`` at the manifest stored under ``digest`` (same bytes)."""
        response = self.session.get(
            f"/v2/{repo}/manifests/{digest}", headers={"Accept": MANIFEST_ACCEPT}
        )
        _expect(response, 200)
        media_type = response.headers["Content-Type"]
        self._put_manifest(repo, tag, response.content, media_type)

    # -- reading -----------------------------------------------------------------

    def digest_of(self, repo: str, tag: str) -> str | None:
        """The stored digest ``tag`` resolves to, or None if the tag is unknown."""
        response = self._head_manifest(repo, tag)
        if response.status_code == 404:
            return None
        _expect(response, 200)
        return response.headers["Docker-Content-Digest"]

    def manifest_exists(self, repo: str, digest: str) -> bool:
        """Whether ``digest`` is a manifest of ``repo`` (HEAD answers 200).

        Raises ``SeedError`` on other answers, including the 500 that 2.8 gives
        for the digest of a config blob.
        """
        response = self._head_manifest(repo, digest)
        if response.status_code == 404:
            return False
        _expect(response, 200)
        return response.headers.get("Content-Type", "").split(";")[0] in MANIFEST_TYPES

    def blob_exists(self, repo: str, digest: str) -> bool:
        """Whether ``repo`` links the blob ``digest`` (what a pull would fetch)."""
        response = self.session.head(f"/v2/{repo}/blobs/{digest}")
        if response.status_code == 404:
            return False
        _expect(response, 200)
        return True

    def tags(self, repo: str) -> list[str]:
        """All tags of ``repo``, sorted; ``[]`` when the registry says ``null``."""
        response = self.session.get(f"/v2/{repo}/tags/list")
        _expect(response, 200)
        return sorted(response.json().get("tags") or [])

    def catalog(self, page_size: int = 100) -> list[str]:
        """Every repository name, following ``Link`` pagination."""
        names: list[str] = []
        url: str | None = f"/v2/_catalog?n={page_size}"
        while url is not None:
            response = self.session.get(url)
            _expect(response, 200)
            names += response.json().get("repositories") or []
            next_url = response.links.get("next", {}).get("url")
            url = urljoin(response.url, next_url) if next_url else None
        return names

    # -- requests ----------------------------------------------------------------

    def _upload(self, repo: str, data: bytes, media_type: str) -> dict[str, Any]:
        """Upload a blob unless the repository already links it; its descriptor."""
        digest = _digest(data)
        descriptor = {"mediaType": media_type, "size": len(data), "digest": digest}
        if self.session.head(f"/v2/{repo}/blobs/{digest}").status_code == 200:
            return descriptor

        started = self.session.post(f"/v2/{repo}/blobs/uploads/")
        _expect(started, 202)
        location = urljoin(started.url, started.headers["Location"])
        separator = "&" if "?" in location else "?"
        finished = self.session.put(
            f"{location}{separator}digest={quote(digest, safe='')}",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        _expect(finished, 201)
        return descriptor

    def _put_manifest_tags(
        self, repo: str, tags: Sequence[str], manifest: bytes, media_type: str
    ) -> str:
        """PUT under each tag (the first creates the manifest), or by digest."""
        refs = list(tags) or [_digest(manifest)]
        digests = {self._put_manifest(repo, ref, manifest, media_type) for ref in refs}
        if len(digests) != 1:
            raise SeedError(f"tags of one manifest got different digests: {digests}")
        return digests.pop()

    def _put_manifest(
        self, repo: str, ref: str, manifest: bytes, media_type: str
    ) -> str:
        response = self.session.put(
            f"/v2/{repo}/manifests/{ref}",
            data=manifest,
            headers={"Content-Type": media_type},
        )
        _expect(response, 201)
        digest = response.headers.get("Docker-Content-Digest")
        if digest != _digest(manifest):
            raise SeedError(f"registry stored {repo}:{ref} as {digest}")
        return digest

    def _head_manifest(self, repo: str, ref: str) -> requests.Response:
        return self.session.head(
            f"/v2/{repo}/manifests/{ref}", headers={"Accept": MANIFEST_ACCEPT}
        )


def seed_standard(seeder: Seeder) -> dict[str, dict[str, PushedImage | PushedIndex]]:
    """The standard data set: ``{repo: {tag: what the tag points to}}``.

    - ``app`` (Docker v2): ``1.0``; ``1.1``, ``latest`` and ``stable`` share a digest.
    - ``team/api`` (OCI): ``v1`` and ``v2``, with labels.
    - ``multi/docker:1`` (manifest list) and ``multi/oci:1`` (OCI index), each with
      linux/amd64 and linux/arm64 children.

    Salts are fixed, so digests are the same in every run.
    """
    push, index = seeder.push_image, seeder.push_index
    old_app = push("app", ["1.0"], created="2023-03-01T09:30:00Z", salt="app-1.0")
    new_app = push(
        "app",
        ["1.1", "latest", "stable"],
        created="2024-02-01T12:00:00Z",
        layer_sizes=(4096, 1024),
        salt="app-1.1",
    )
    api_labels = {"org.opencontainers.image.title": "team api"}
    api_v1 = push(
        "team/api",
        ["v1"],
        kind="oci",
        created="2023-06-15T08:00:00Z",
        labels=api_labels,
        salt="api-v1",
    )
    api_v2 = push(
        "team/api",
        ["v2"],
        kind="oci",
        created="2024-06-15T08:00:00Z",
        labels=api_labels,
        salt="api-v2",
    )
    docker_list = index(
        "multi/docker", ["1"], created="2022-11-20T16:45:00Z", salt="multi-docker"
    )
    oci_index = index(
        "multi/oci", ["1"], kind="oci", created="2024-03-30T07:15:00Z", salt="multi-oci"
    )
    return {
        "app": {"1.0": old_app, "1.1": new_app, "latest": new_app, "stable": new_app},
        "team/api": {"v1": api_v1, "v2": api_v2},
        "multi/docker": {"1": docker_list},
        "multi/oci": {"1": oci_index},
    }


def _blob(seed: str, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json_bytes(document: dict[str, Any]) -> bytes:
    # Indented the way Docker writes manifests: a client that re-serialises the
    # JSON before hashing gets a different digest, as it would in real life.
    return json.dumps(document, indent=3, sort_keys=False).encode("utf-8")


def _image_config(
    created: str | None,
    platform: Platform,
    labels: Mapping[str, str] | None,
    layers: Sequence[bytes],
) -> bytes:
    config: dict[str, Any] = {
        "architecture": platform[1],
        "os": platform[0],
        "config": {"Labels": dict(labels or {})},
        # Real diff_ids hash the uncompressed tar; these blobs are not tarballs.
        "rootfs": {"type": "layers", "diff_ids": [_digest(b) for b in layers]},
    }
    if created is not None:
        config["created"] = created
    return _json_bytes(config)


def _manifest_bytes(
    media_type: str,
    config: dict[str, Any],
    layers: Sequence[dict[str, Any]],
    annotations: Mapping[str, str] | None = None,
) -> bytes:
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config,
        "layers": list(layers),
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    return _json_bytes(manifest)


def _index_bytes(media_type: str, children: Sequence[PushedImage]) -> bytes:
    entries = [
        {
            "mediaType": child.media_type,
            "size": len(child.manifest_bytes),
            "digest": child.digest,
            "platform": {"architecture": child.platform[1], "os": child.platform[0]},
        }
        for child in children
    ]
    return _json_bytes(
        {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    )


def _expect(response: requests.Response, status: int) -> None:
    if response.status_code != status:
        body = response.text[:300] if response.request.method != "HEAD" else ""
        raise SeedError(
            f"{response.request.method} {response.url} answered "
            f"{response.status_code}, expected {status}: {body}"
        )
