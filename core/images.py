"""Manifests, indexes and what a user wants to know about an image.

Media types decide everything here: whether a digest is a single image or a
multi-platform index, how big it is and where its created date lives. Digests
are always computed from the raw bytes a registry sent; JSON is never
re-serialised before hashing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.errors import ProtocolError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

# The four types sent in Accept: registries then answer with what they store.
ACCEPT_TYPES = (DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX)
ACCEPT_HEADER = ", ".join(ACCEPT_TYPES)

IMAGE_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEX_TYPES = frozenset({DOCKER_LIST, OCI_INDEX})
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
MANIFEST_TYPES = IMAGE_TYPES | INDEX_TYPES | SCHEMA1_TYPES

# Build tools store attestations as index children with this annotation.
_REFERENCE_TYPE = "vnd.docker.reference.type"

# Reproducible builds set created to the epoch; such dates say nothing.
_IMPLAUSIBLE_BEFORE = datetime(1990, 1, 1, tzinfo=UTC)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def base_media_type(content_type: str | None) -> str:
    """``Content-Type`` without parameters (``; charset=...``)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def kind_of(media_type: str) -> str:
    """``"index"`` for multi-platform types, ``"image"`` for the rest."""
    return "index" if media_type in INDEX_TYPES else "image"


@dataclass(frozen=True)
class ManifestHead:
    """What resolving a reference tells: the digest to delete and its type."""

    digest: str
    media_type: str
    size: int | None = None

    @property
    def kind(self) -> str:
        return kind_of(self.media_type)


@dataclass(frozen=True)
class Manifest:
    """A manifest as stored: raw bytes, their digest and the parsed body."""

    digest: str
    media_type: str
    raw: bytes = field(repr=False)
    body: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, raw: bytes, content_type: str | None, where: str) -> Manifest:
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProtocolError(f"The manifest of {where} is not valid JSON.") from exc
        if not isinstance(body, dict):
            raise ProtocolError(f"The manifest of {where} is not a JSON object.")
        media_type = base_media_type(content_type) or str(body.get("mediaType", ""))
        return cls(sha256_digest(raw), media_type, raw, body)

    @property
    def kind(self) -> str:
        return kind_of(self.media_type)

    def children(self) -> list[Descriptor]:
        """Descriptors of an index's manifests (empty for an image)."""
        return [Descriptor.parse(d) for d in self.body.get("manifests") or []]

    def blobs(self) -> list[Descriptor]:
        """Config and layer descriptors of an image manifest."""
        found: list[Descriptor] = []
        if isinstance(self.body.get("config"), dict):
            found.append(Descriptor.parse(self.body["config"]))
        found.extend(Descriptor.parse(d) for d in self.body.get("layers") or [])
        return found

    def config_digest(self) -> str | None:
        config = self.body.get("config")
        if isinstance(config, dict) and isinstance(config.get("digest"), str):
            return str(config["digest"])
        return None


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: str | None = None
    is_attestation: bool = False

    @classmethod
    def parse(cls, raw: Any) -> Descriptor:
        if not isinstance(raw, dict) or not isinstance(raw.get("digest"), str):
            raise ProtocolError("A manifest holds a descriptor without a digest.")
        annotations = raw.get("annotations") or {}
        platform = raw.get("platform")
        return cls(
            media_type=str(raw.get("mediaType", "")),
            digest=raw["digest"],
            size=_as_int(raw.get("size")),
            platform=format_platform(platform) if isinstance(platform, dict) else None,
            is_attestation=_REFERENCE_TYPE in annotations,
        )


def format_platform(platform: dict[str, Any]) -> str:
    parts = [str(platform.get("os", "?")), str(platform.get("architecture", "?"))]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(parts)


@dataclass(frozen=True)
class ImageDetails:
    """Everything the tag table shows about one digest. Digests never change,
    so these can be cached by digest forever."""

    digest: str
    media_type: str
    size: int | None
    created: datetime | None
    platforms: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict, compare=False)
    children: tuple[ImageDetails, ...] = ()
    # Every blob this digest keeps alive, its own manifest included, with its
    # size; for an index, also each platform image's manifest, config and layers.
    blobs: dict[str, int] = field(default_factory=dict, compare=False)

    @property
    def kind(self) -> str:
        return kind_of(self.media_type)

    @property
    def created_is_plausible(self) -> bool:
        return self.created is not None and self.created >= _IMPLAUSIBLE_BEFORE


def parse_created(value: Any) -> datetime | None:
    """The ``created`` field of an image config, as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    # Go writes up to nine fractional digits; Python reads six.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def image_details_from(
    manifest: Manifest, config: dict[str, Any] | None
) -> ImageDetails:
    """Details of a single-platform image from its manifest and config."""
    if manifest.media_type in SCHEMA1_TYPES:
        return _schema1_details(manifest)
    config = config or {}
    blobs = manifest.blobs()
    platform = format_platform(config) if config.get("architecture") else None
    labels = (config.get("config") or {}).get("Labels") or {}
    return ImageDetails(
        digest=manifest.digest,
        media_type=manifest.media_type,
        size=len(manifest.raw) + sum(b.size for b in blobs),
        created=parse_created(config.get("created")),
        platforms=(platform,) if platform else (),
        labels={str(k): str(v) for k, v in labels.items()},
        blobs={manifest.digest: len(manifest.raw)} | {b.digest: b.size for b in blobs},
    )


def index_details_from(
    manifest: Manifest, children: list[ImageDetails]
) -> ImageDetails:
    """Details of a multi-platform index from the details of its children."""
    sizes = [c.size for c in children]
    dates = [c.created for c in children if c.created is not None]
    platforms = tuple(p for c in children for p in c.platforms)
    blobs = {manifest.digest: len(manifest.raw)}
    for child in children:
        blobs.update(child.blobs)
    return ImageDetails(
        digest=manifest.digest,
        media_type=manifest.media_type,
        size=None if None in sizes else len(manifest.raw) + sum(s or 0 for s in sizes),
        created=max(dates) if dates else None,
        platforms=platforms,
        children=tuple(children),
        blobs=blobs,
    )


def _schema1_details(manifest: Manifest) -> ImageDetails:
    history = manifest.body.get("history") or []
    created = None
    if history and isinstance(history[0], dict):
        try:
            compat = json.loads(history[0].get("v1Compatibility", "{}"))
            created = parse_created(compat.get("created"))
        except (TypeError, json.JSONDecodeError):
            created = None
    arch = manifest.body.get("architecture")
    return ImageDetails(
        digest=manifest.digest,
        media_type=manifest.media_type,
        size=None,
        created=created,
        platforms=(f"linux/{arch}",) if arch else (),
        blobs={manifest.digest: len(manifest.raw)},
    )


def _as_int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0
