"""Saved registry profiles, and where their passwords live.

Profiles are a JSON file with a schema version under the platformdirs config
directory (``REGSWEEP_CONFIG_DIR`` overrides it, for tests and the demo). Every
write goes through a temporary file, ``fsync`` and ``os.replace``, so a crash
leaves the old file or the new one, never half of one.

Passwords never enter that file. They go to the OS keyring (service
``regsweep``). Where no keyring backend works, the password is kept for the
session only, unless the user explicitly opts in to an owner-only (0600) file,
which is not encrypted and is described as such wherever it is offered.

Every change is validated first and rolled back if a later step fails: an
add, edit, duplicate or remove happens entirely or not at all.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import keyring
import keyring.errors
import platformdirs
from keyring.backends import chainer, fail, null

from core import errors
from core.client import RegistryConfig, normalize_url
from core.logs import APP_NAME
from core.rules import rules_path

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
KEYRING_SERVICE = "regsweep"
CONFIG_DIR_ENV = "REGSWEEP_CONFIG_DIR"
PROFILES_FILE = "profiles.json"
SECRETS_FILE = "passwords.json"


def config_dir() -> Path:
    """Where profiles and the window state live."""
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override) if override else Path(platformdirs.user_config_dir(APP_NAME))


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step; the file is owner-only (0600).

    The bytes go to a temporary file in the same directory, are flushed to disk,
    and the temporary file is renamed over the target."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    _fsync_directory(path.parent)


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    write_atomic(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"))


def read_json(path: Path, what: str) -> dict[str, Any] | None:
    """A JSON object from ``path``; None if the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise errors.ConfigError(
            f"{what} ({path}) cannot be read: {exc.strerror}."
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        raise errors.ConfigError(
            f"{what} ({path}) is not valid JSON.",
            "Fix or move the file; Regsweep will not overwrite it.",
        )
    return document


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- profiles -------------------------------------------------------------------


class TlsMode(StrEnum):
    SYSTEM = "system"  # verify against the system's trusted CAs
    CUSTOM_CA = "custom-ca"  # verify against a CA file the user gives
    INSECURE = "insecure"  # do not verify at all


class PasswordStore(StrEnum):
    KEYRING = "keyring"  # the OS keyring
    FILE = "file"  # an owner-only plain file; the user opted in
    SESSION = "session"  # kept in memory, asked again next session


class ProfileFieldError(errors.ConfigError):
    """Bad input in one field of a profile; ``field`` names it."""

    def __init__(self, field: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.field = field


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Profile:
    """One registry as the user named it. The password is stored elsewhere."""

    name: str
    url: str
    username: str = ""
    tls: TlsMode = TlsMode.SYSTEM
    ca_file: str = ""
    password_store: PasswordStore = PasswordStore.KEYRING
    id: str = field(default_factory=_new_id)

    def registry_config(self, password: str | None) -> RegistryConfig:
        return RegistryConfig(
            url=self.url,
            username=self.username or None,
            password=password if self.username else None,
            ca_file=self.ca_file if self.tls is TlsMode.CUSTOM_CA else None,
            insecure=self.tls is TlsMode.INSECURE,
        )

    def to_json(self) -> dict[str, str]:
        return {key: str(value) for key, value in asdict(self).items()}

    @classmethod
    def from_json(cls, raw: Any) -> Profile:
        if not isinstance(raw, dict) or not all(
            isinstance(raw.get(key), str) for key in ("id", "name", "url")
        ):
            raise errors.ConfigError("The profiles file holds an unreadable entry.")
        try:
            return cls(
                id=raw["id"],
                name=raw["name"],
                url=raw["url"],
                username=str(raw.get("username") or ""),
                tls=TlsMode(raw.get("tls", TlsMode.SYSTEM)),
                ca_file=str(raw.get("ca_file") or ""),
                password_store=PasswordStore(
                    raw.get("password_store", PasswordStore.KEYRING)
                ),
            )
        except ValueError as exc:
            raise errors.ConfigError(
                f"The profile {raw['name']!r} has an unknown setting ({exc})."
            ) from None


def validate_profile(profile: Profile, others: list[Profile]) -> Profile:
    """Check every field; return the profile with its URL normalised.

    Raises :class:`ProfileFieldError` naming the first field that is wrong."""
    name = profile.name.strip()
    if not name:
        raise ProfileFieldError("name", "Give the profile a name.")
    taken = {p.name.casefold() for p in others if p.id != profile.id}
    if name.casefold() in taken:
        raise ProfileFieldError(
            "name", f"A profile named {name!r} exists already.", "Choose another name."
        )
    try:
        url = normalize_url(profile.url)
    except errors.ConfigError as exc:
        raise ProfileFieldError("url", exc.message, exc.hint) from None
    _check_tls(profile)
    return replace(profile, name=name, url=url, username=profile.username.strip())


def _check_tls(profile: Profile) -> None:
    if profile.tls is not TlsMode.CUSTOM_CA:
        return
    if not profile.ca_file:
        raise ProfileFieldError("ca_file", "Choose the CA certificate file (PEM).")
    path = Path(profile.ca_file)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ProfileFieldError(
            "ca_file",
            f"The CA file {profile.ca_file} cannot be read.",
            "Choose a readable PEM file with the registry's CA certificate.",
        )


# --- passwords ------------------------------------------------------------------


def keyring_usable() -> bool:
    """Whether a real keyring backend is configured (not the fail, null or an
    empty chainer backend that keyring falls back to)."""
    try:
        backend = keyring.get_keyring()
    except Exception:  # a broken keyring configuration: treat as none
        log.warning("the keyring configuration could not be loaded", exc_info=True)
        return False
    return _backend_usable(backend)


def _backend_usable(backend: Any) -> bool:
    if isinstance(backend, fail.Keyring | null.Keyring):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return any(_backend_usable(b) for b in backend.backends)
    return True


class SecretStore:
    """Passwords by profile id: keyring, the opt-in file, or this session."""

    def __init__(self, directory: Path) -> None:
        self.file_path = directory / SECRETS_FILE
        self._session: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, profile: Profile) -> str | None:
        with self._lock:
            if profile.id in self._session:
                return self._session[profile.id]
            if profile.password_store is PasswordStore.FILE:
                return self._file_passwords().get(profile.id)
        # Outside the lock: a keyring waiting to be unlocked must not hold up
        # every other profile's password.
        if profile.password_store is PasswordStore.KEYRING:
            return self._keyring_get(profile.id)
        return None

    def set(self, profile: Profile, password: str | None) -> None:
        """Store (or with None/"" remove) the password of ``profile``."""
        with self._lock:
            self._session.pop(profile.id, None)
            if not password:
                self._remove_from(profile.password_store, profile.id)
            elif profile.password_store is PasswordStore.KEYRING:
                self._keyring_set(profile.id, password)
            elif profile.password_store is PasswordStore.FILE:
                self._file_set(profile.id, password)
            else:
                self._session[profile.id] = password
            self._clear_others(profile)

    def remember_for_session(self, profile: Profile, password: str) -> None:
        """Keep a password asked for at connect time until the app closes."""
        with self._lock:
            self._session[profile.id] = password

    def forget(self, profile: Profile) -> None:
        with self._lock:
            self._session.pop(profile.id, None)
            for store in PasswordStore:
                self._remove_from(store, profile.id)

    def _clear_others(self, profile: Profile) -> None:
        for store in PasswordStore:
            if store is not profile.password_store:
                self._remove_from(store, profile.id)

    def _remove_from(self, store: PasswordStore, key: str) -> None:
        if store is PasswordStore.KEYRING and keyring_usable():
            with contextlib.suppress(keyring.errors.KeyringError):
                keyring.delete_password(KEYRING_SERVICE, key)
        elif store is PasswordStore.FILE:
            passwords = self._file_passwords()
            if passwords.pop(key, None) is not None:
                self._write_file(passwords)
        elif store is PasswordStore.SESSION:
            self._session.pop(key, None)

    def _keyring_get(self, key: str) -> str | None:
        if not keyring_usable():
            return None
        try:
            password: str | None = keyring.get_password(KEYRING_SERVICE, key)
        except keyring.errors.KeyringError as exc:
            log.warning("the keyring could not be read: %s", type(exc).__name__)
            return None
        return password

    def _keyring_set(self, key: str, password: str) -> None:
        if not keyring_usable():
            raise ProfileFieldError(
                "password",
                "No system keyring is available to store the password.",
                "Keep it for this session only, or store it in a file.",
            )
        try:
            keyring.set_password(KEYRING_SERVICE, key, password)
        except keyring.errors.KeyringError as exc:
            raise ProfileFieldError(
                "password",
                f"The system keyring refused the password ({type(exc).__name__}).",
                "Unlock the keyring and try again, or keep it for this session.",
            ) from None

    def _file_passwords(self) -> dict[str, str]:
        document = read_json(self.file_path, "The password file") or {}
        passwords = document.get("passwords") or {}
        return {str(k): str(v) for k, v in passwords.items()}

    def _file_set(self, key: str, password: str) -> None:
        passwords = self._file_passwords()
        passwords[key] = password
        self._write_file(passwords)

    def _write_file(self, passwords: dict[str, str]) -> None:
        document = {
            "schema_version": SCHEMA_VERSION,
            "note": "Plain text, not encrypted; readable only by its owner.",
            "passwords": passwords,
        }
        write_json_atomic(self.file_path, document)


# --- the store ------------------------------------------------------------------


class ProfileStore:
    """The profiles file and the passwords that go with it."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / PROFILES_FILE
        self.secrets = SecretStore(self.directory)
        self._profiles = self._load()

    @property
    def profiles(self) -> list[Profile]:
        return list(self._profiles)

    def get(self, profile_id: str) -> Profile | None:
        return next((p for p in self._profiles if p.id == profile_id), None)

    def by_name(self, name: str) -> Profile | None:
        return next((p for p in self._profiles if p.name == name), None)

    def password(self, profile: Profile) -> str | None:
        return self.secrets.get(profile) if profile.username else None

    def add(self, profile: Profile, password: str | None) -> Profile:
        """Validate and save a new profile with its password."""
        checked = validate_profile(profile, self._profiles)
        with self._secret_rollback(checked):
            self.secrets.set(checked, password if checked.username else None)
            self._save([*self._profiles, checked])
        log.info("added profile %r", checked.name)
        return checked

    def update(self, profile: Profile, password: str | None) -> Profile:
        """Replace the profile with the same id; ``password`` replaces the old."""
        if self.get(profile.id) is None:
            raise errors.ConfigError(f"The profile {profile.name!r} no longer exists.")
        checked = validate_profile(profile, self._profiles)
        with self._secret_rollback(checked):
            self.secrets.set(checked, password if checked.username else None)
            self._save([checked if p.id == checked.id else p for p in self._profiles])
        log.info("saved profile %r", checked.name)
        return checked

    def duplicate(self, profile_id: str) -> Profile:
        """A copy named "NAME (copy)" (or "(copy 2)"...), with the password."""
        original = self._existing(profile_id)
        names = {p.name for p in self._profiles}
        name = f"{original.name} (copy)"
        for number in range(2, 1000):
            if name not in names:
                break
            name = f"{original.name} (copy {number})"
        copy = replace(original, name=name, id=_new_id())
        return self.add(copy, self.password(original))

    def remove(self, profile_id: str) -> None:
        profile = self._existing(profile_id)
        self._save([p for p in self._profiles if p.id != profile_id])
        try:
            self.secrets.forget(profile)
        except (errors.ConfigError, OSError) as exc:
            # The profile is gone; a password left behind is only untidy.
            log.warning("the password of %r was not removed: %s", profile.name, exc)
        rules_path(self.directory, profile_id).unlink(missing_ok=True)
        log.info("removed profile %r", profile.name)

    def _existing(self, profile_id: str) -> Profile:
        profile = self.get(profile_id)
        if profile is None:
            raise errors.ConfigError("That profile no longer exists.")
        return profile

    @contextlib.contextmanager
    def _secret_rollback(self, new: Profile) -> Iterator[None]:
        """Put the previous password back if saving the profile fails."""
        before = self.get(new.id)
        old = self.secrets.get(before) if before is not None else None
        try:
            yield
        except BaseException:
            with contextlib.suppress(errors.RegsweepError, OSError):
                if before is None:
                    self.secrets.forget(new)
                else:
                    self.secrets.set(before, old)
            raise

    def _save(self, profiles: list[Profile]) -> None:
        document = {
            "schema_version": SCHEMA_VERSION,
            "profiles": [p.to_json() for p in profiles],
        }
        try:
            write_json_atomic(self.path, document)
        except OSError as exc:
            raise errors.ConfigError(
                f"The profiles could not be saved to {self.path}: {exc.strerror}."
            ) from None
        self._profiles = profiles

    def _load(self) -> list[Profile]:
        document = read_json(self.path, "The profiles file")
        if document is None:
            return []
        version = document.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise errors.ConfigError(
                f"The profiles file {self.path} has schema version {version!r}, "
                f"newer than this Regsweep understands ({SCHEMA_VERSION}).",
                "Update Regsweep; the file was left unchanged.",
            )
        raw = document.get("profiles") or []
        if not isinstance(raw, list):
            raise errors.ConfigError(f"The profiles file {self.path} is malformed.")
        return [Profile.from_json(entry) for entry in raw]
