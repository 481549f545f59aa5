""" "Test connection": what a registry allows this login to do, found out
without changing anything."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from core import errors
from core.client import RegistryClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionReport:
    url: str
    api_version: str | None
    auth_scheme: str
    catalog_allowed: bool | None  # None: not tried
    catalog_message: str
    deletion_enabled: bool | None  # None: could not tell
    deletion_message: str
    probe_repository: str | None


def check_connection(
    client: RegistryClient,
    repository: str | None = None,
    cancel: threading.Event | None = None,
) -> ConnectionReport:
    """Ping, read the first catalog page, and probe deletion on ``repository``
    (or the first repository in the catalog). Only failures of the ping
    itself are raised: they mean the registry cannot be used at all."""
    ping = client.ping(cancel)
    catalog_allowed, catalog_message, first = _probe_catalog(client, cancel)
    target = repository or first
    enabled, deletion_message = _probe_deletion(client, target, cancel)
    report = ConnectionReport(
        url=ping.url,
        api_version=ping.api_version,
        auth_scheme=ping.auth_scheme,
        catalog_allowed=catalog_allowed,
        catalog_message=catalog_message,
        deletion_enabled=enabled,
        deletion_message=deletion_message,
        probe_repository=target,
    )
    log.info("connection test of %s: %s", ping.url, report)
    return report


def _probe_catalog(
    client: RegistryClient, cancel: threading.Event | None
) -> tuple[bool, str, str | None]:
    try:
        first_page = next(iter(client.iter_catalog(page_size=100, cancel=cancel)), [])
    except (errors.PermissionDeniedError, errors.AuthenticationError) as exc:
        return False, f"The catalog may not be listed: {exc.message}", None
    except errors.RegistryError as exc:
        return False, f"The catalog could not be read: {exc.message}", None
    if not first_page:
        return True, "The catalog may be listed; it is empty.", None
    return True, "The catalog may be listed.", first_page[0]


def _probe_deletion(
    client: RegistryClient, repository: str | None, cancel: threading.Event | None
) -> tuple[bool | None, str]:
    if repository is None:
        return None, "Unknown: no repository to probe deletion on."
    try:
        enabled = client.deletion_enabled(repository, cancel)
    except errors.PermissionDeniedError:
        return None, f"This login may not delete in {repository}."
    except errors.RegistryError as exc:
        return None, f"Could not tell: {exc.message}"
    if enabled:
        return True, "Deletion is enabled."
    return False, str(errors.DeletionDisabledError("Deletion is disabled."))
