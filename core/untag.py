"""Remove one tag and keep the image, for the tags that share its digest.

Registries that implement OCI 1.1 remove a tag with ``DELETE .../manifests/<tag>``.
Registry 2.x refuses that (400), so there the tag is first pointed at a small
throwaway manifest made for this purpose alone, and the throwaway is deleted by
its digest: the tag goes with it, and every other tag keeps the original image.
That needs push and delete rights, both checked before anything is changed.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import UTC, datetime

from core import errors
from core.client import RegistryClient
from core.images import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, sha256_digest

log = logging.getLogger(__name__)

_EMPTY_CONFIG = b"{}"
_CONFIG_TYPES = {
    DOCKER_MANIFEST: "application/vnd.docker.container.image.v1+json",
    OCI_MANIFEST: "application/vnd.oci.image.config.v1+json",
}


class ThrowawayLeftError(errors.RegsweepError):
    """The tag was moved to a throwaway manifest that could not be deleted."""


def check_untag_rights(
    client: RegistryClient, repository: str, cancel: threading.Event | None = None
) -> None:
    """Raise with a plain message unless this login may push and delete here."""
    if not client.deletion_enabled(repository, cancel):
        raise errors.DeletionDisabledError(
            f"Cannot remove tags in {repository}: deletion is disabled."
        )
    if not client.can_push(repository, cancel):
        raise errors.PermissionDeniedError(
            f"Removing only a tag in {repository} needs push rights, which this "
            "login does not have.",
            "Delete the whole image instead, or use a login that may push.",
        )


def remove_tag(
    client: RegistryClient,
    repository: str,
    tag: str,
    expected_digest: str,
    media_type: str,
    cancel: threading.Event | None = None,
) -> str:
    """Remove ``tag`` only; return how (for the report). Call
    :func:`check_untag_rights` first: a throwaway that cannot be deleted would
    be left under the tag."""
    if client.delete_tag(repository, tag, cancel):
        log.info("removed tag %s:%s with the OCI tag delete", repository, tag)
        return "removed with the registry's tag delete"
    family = (
        OCI_MANIFEST if media_type in (OCI_MANIFEST, OCI_INDEX) else DOCKER_MANIFEST
    )
    raw = throwaway_manifest(client, repository, family, cancel)
    current = client.resolve(repository, tag, cancel).digest
    if current != expected_digest:
        raise errors.RegsweepError(
            f"Skipped {repository}:{tag}: the tag moved to another image.",
            "Refresh and try again.",
        )
    throwaway = client.put_manifest(repository, tag, raw, family, cancel)
    try:
        client.delete_manifest(repository, throwaway, verified=True)
    except errors.RegsweepError as exc:
        raise ThrowawayLeftError(
            f"{repository}:{tag} now points at a throwaway manifest {throwaway} "
            f"that could not be deleted ({exc.message}).",
            f"Delete it with: regsweep delete {repository}@{throwaway}",
        ) from exc
    log.info("removed tag %s:%s through throwaway %s", repository, tag, throwaway)
    return "removed by replacing it with a throwaway manifest, then deleting that"


def throwaway_manifest(
    client: RegistryClient,
    repository: str,
    family: str,
    cancel: threading.Event | None = None,
) -> bytes:
    """A manifest no other tag can share: an empty config, no layers, and an
    annotation that makes its digest unique."""
    config = client.upload_blob(repository, _EMPTY_CONFIG, cancel)
    marker = f"{uuid.uuid4().hex} {datetime.now(UTC).isoformat()}"
    body = {
        "schemaVersion": 2,
        "mediaType": family,
        "config": {
            "mediaType": _CONFIG_TYPES[family],
            "digest": config,
            "size": len(_EMPTY_CONFIG),
        },
        "layers": [],
        "annotations": {"org.regsweep.throwaway": marker},
    }
    raw = json.dumps(body, separators=(",", ":")).encode()
    log.debug("throwaway manifest %s for %s", sha256_digest(raw), repository)
    return raw
