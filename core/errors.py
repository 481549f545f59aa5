"""One exception tree for everything that can go wrong talking to a registry.

Every error carries a plain-language ``message`` (what happened) and a ``hint``
(what to do about it). Callers show ``str(error)``, which joins the two. No
message ever contains a password, a token or an ``Authorization`` header: the
client builds them from status codes, registry error codes and URLs only.
"""

from __future__ import annotations


class RegsweepError(Exception):
    """Base of every error Regsweep raises on purpose."""

    hint: str = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} {self.hint}"
        return self.message


class CancelledError(RegsweepError):
    """The user cancelled the operation."""

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)


class InvalidReferenceError(RegsweepError):
    """A repository name, tag or digest that breaks the OCI grammar."""


class ConfigError(RegsweepError):
    """A profile or option that cannot work (bad URL, missing CA file...)."""


# --- transport ---------------------------------------------------------------


class TransportError(RegsweepError):
    """The request did not get an HTTP answer."""


class ConnectError(TransportError):
    hint = "Check the registry URL and port, and that the registry is running."


class RequestTimeoutError(TransportError):
    hint = "The registry is slow or unreachable; try again, or raise the timeout."


class ConnectionDroppedError(TransportError):
    hint = "The connection to the registry broke off; try again."


class TLSError(TransportError):
    hint = (
        "If the registry uses a private CA, give its CA file in the profile; "
        "use 'insecure' only for a registry you trust on a trusted network."
    )


# --- HTTP answers ------------------------------------------------------------


class RegistryError(RegsweepError):
    """The registry answered, but not with what we asked for."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.code = code


class ProtocolError(RegistryError):
    """An answer that is not what the Registry API v2 promises (HTML, bad JSON)."""

    hint = (
        "Check that the URL points at the registry itself (the API lives under "
        "/v2/), not at a web page, proxy login or UI in front of it."
    )


class AuthenticationError(RegistryError):
    hint = "Check the username and password (or token) in the profile."


class PermissionDeniedError(RegistryError):
    hint = "Ask the registry administrator for the missing permission."


class NotFoundError(RegistryError):
    pass


class RepositoryNotFoundError(NotFoundError):
    hint = "Check the repository name; names are case-sensitive and lower-case."


class ManifestNotFoundError(NotFoundError):
    hint = "It may have been deleted already, or the tag was never pushed."


class BlobNotFoundError(NotFoundError):
    blob: str = ""  # the missing blob's digest, when the registry named it


class DeletionDisabledError(RegistryError):
    hint = (
        "Deletion is disabled on this registry. Enable it with "
        "storage.delete.enabled: true in the registry config (or the "
        "environment variable REGISTRY_STORAGE_DELETE_ENABLED=true) and "
        "restart it. Pull-through caches never allow deletion."
    )


class DigestInvalidError(RegistryError):
    pass


class NotAManifestError(RegistryError):
    """Refused before sending: the digest is not a manifest of the repository."""

    hint = (
        "Nothing was deleted. Deleting a config or layer digest would unlink "
        "the blob and break the image; delete by the manifest digest instead."
    )


class PaginationError(RegistryError):
    pass


class RateLimitedError(RegistryError):
    hint = "The registry is limiting requests; wait a moment and try again."


class ServerError(RegistryError):
    hint = "The registry had an internal error; see its log, then try again."
