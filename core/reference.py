"""Image references: ``name:tag`` and ``name@digest``, checked against the OCI grammar.

The grammar is the one in the OCI distribution spec: lower-case path components
joined by ``/``, tags of at most 128 characters, digests ``algorithm:hex``.
Everything is checked before a request is built, so a bad name never reaches a
registry (and never turns into a surprising URL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import InvalidReferenceError

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
SHA256_RE = re.compile(r"sha256:[a-f0-9]{64}")
MAX_NAME_LENGTH = 255


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid repository name, else raise."""
    if not name or len(name) > MAX_NAME_LENGTH or not NAME_RE.fullmatch(name):
        raise InvalidReferenceError(
            f"{name!r} is not a valid repository name.",
            "Use lower-case letters, digits and separators (. _ __ -), "
            "with '/' between path components, e.g. 'team/app'.",
        )
    return name


def check_tag(tag: str) -> str:
    if not TAG_RE.fullmatch(tag):
        raise InvalidReferenceError(
            f"{tag!r} is not a valid tag.",
            "Tags are 1-128 characters: letters, digits, '_', '.', '-', "
            "not starting with '.' or '-'.",
        )
    return tag


def check_digest(digest: str) -> str:
    if not DIGEST_RE.fullmatch(digest) or (
        digest.startswith("sha256:") and not SHA256_RE.fullmatch(digest)
    ):
        raise InvalidReferenceError(
            f"{digest!r} is not a valid digest.",
            "A digest looks like sha256: followed by 64 hex characters.",
        )
    return digest


def is_digest(ref: str) -> bool:
    return ":" in ref and DIGEST_RE.fullmatch(ref) is not None


@dataclass(frozen=True)
class ImageRef:
    """``repository`` plus either a ``tag`` or a ``digest`` (never both)."""

    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """The path segment after ``/manifests/``: the digest or the tag."""
        return self.digest or self.tag or ""

    def __str__(self) -> str:
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag}"


def parse_ref(text: str) -> ImageRef:
    """Parse ``repo:tag`` or ``repo@digest``. A bare ``repo`` is refused: a
    deletion must name exactly what it deletes."""
    if "@" in text:
        name, _, digest = text.partition("@")
        return ImageRef(check_name(name), digest=check_digest(digest))
    name, sep, tag = text.rpartition(":")
    if not sep or "/" in tag:
        raise InvalidReferenceError(
            f"{text!r} names no tag or digest.",
            "Write REPO:TAG or REPO@sha256:DIGEST.",
        )
    return ImageRef(check_name(name), tag=check_tag(tag))
