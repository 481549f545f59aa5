"""Profiles on disk and their passwords: validation, atomic writes, keyring and
the explicit plain-file fallback."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from core import errors, profiles
from core.client import RegistryClient
from core.profiles import (
    KEYRING_SERVICE,
    SCHEMA_VERSION,
    PasswordStore,
    Profile,
    ProfileFieldError,
    ProfileStore,
    TlsMode,
    keyring_usable,
    write_atomic,
)

if TYPE_CHECKING:
    from tests.gui_fixtures import MemoryKeyring
pytest_plugins = ["tests.gui_fixtures"]
pytestmark = pytest.mark.usefixtures("config_dir")


def stored(config: Path) -> dict:
    return json.loads((config / "profiles.json").read_text())


def test_config_dir_follows_the_environment(config_dir: Path) -> None:
    assert profiles.config_dir() == config_dir


def test_add_writes_a_versioned_owner_only_file_without_the_password(
    config_dir: Path, memory_keyring: MemoryKeyring
) -> None:
    store = ProfileStore()
    profile = store.add(
        Profile("Work", " https://registry.example.com/v2/ ", username="bob"), "s3cret"
    )

    document = stored(config_dir)
    assert document["schema_version"] == SCHEMA_VERSION
    assert document["profiles"] == [profile.to_json()]
    assert profile.url == "https://registry.example.com"
    assert "s3cret" not in (config_dir / "profiles.json").read_text()
    mode = stat.S_IMODE(os.stat(config_dir / "profiles.json").st_mode)
    assert mode == 0o600
    assert memory_keyring.passwords == {(KEYRING_SERVICE, profile.id): "s3cret"}
    assert ProfileStore().password(profile) == "s3cret"


def test_edit_duplicate_remove(memory_keyring: MemoryKeyring) -> None:
    store = ProfileStore()
    first = store.add(Profile("A", "http://a.example", username="u"), "pw-a")

    edited = store.update(
        Profile("A2", "http://a2.example:5000", "u", id=first.id), "pw-b"
    )
    copy = store.duplicate(edited.id)
    again = store.duplicate(edited.id)

    assert [p.name for p in ProfileStore().profiles] == [
        "A2",
        "A2 (copy)",
        "A2 (copy 2)",
    ]
    assert copy.id != edited.id and copy.url == edited.url
    assert store.password(copy) == "pw-b"
    store.remove(edited.id)
    assert [p.name for p in ProfileStore().profiles] == ["A2 (copy)", "A2 (copy 2)"]
    assert (KEYRING_SERVICE, edited.id) not in memory_keyring.passwords
    assert store.password(again) == "pw-b"


@pytest.mark.parametrize(
    ("profile", "field", "words"),
    [
        (Profile("", "http://x.example"), "name", "name"),
        (Profile("P", "registry.example.com"), "url", "https://registry.example.com"),
        (Profile("P", "http://"), "url", "scheme and host"),
        (Profile("P", "https://u:p@x.example"), "url", "username and password"),
        (Profile("P", "https://x.example", tls=TlsMode.CUSTOM_CA), "ca_file", "CA"),
        (
            Profile("P", "https://x.example", tls=TlsMode.CUSTOM_CA, ca_file="/no/ca"),
            "ca_file",
            "cannot be read",
        ),
    ],
)
def test_bad_input_names_the_field_and_saves_nothing(
    config_dir: Path,
    memory_keyring: MemoryKeyring,
    profile: Profile,
    field: str,
    words: str,
) -> None:
    store = ProfileStore()
    with pytest.raises(ProfileFieldError) as caught:
        store.add(profile, "pw")
    assert caught.value.field == field
    assert words in str(caught.value)
    assert not (config_dir / "profiles.json").exists()
    assert memory_keyring.passwords == {}


def test_duplicate_names_are_refused_case_insensitively(
    memory_keyring: MemoryKeyring,
) -> None:
    store = ProfileStore()
    store.add(Profile("Prod", "http://a.example"), None)
    with pytest.raises(ProfileFieldError) as caught:
        store.add(Profile("prod", "http://b.example"), None)
    assert caught.value.field == "name"
    assert len(ProfileStore().profiles) == 1


def test_a_failed_write_keeps_the_old_file_and_password(
    config_dir: Path, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ProfileStore()
    profile = store.add(Profile("P", "http://a.example", username="u"), "old")
    before = (config_dir / "profiles.json").read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(errors.ConfigError, match="No space left"):
        store.update(Profile("P", "http://b.example", "u", id=profile.id), "new")

    assert (config_dir / "profiles.json").read_bytes() == before
    assert [p.name for p in config_dir.iterdir()] == ["profiles.json"]
    assert store.password(profile) == "old"
    assert store.get(profile.id) == profile


def test_write_atomic_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "state.json"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(target.parent) == ["state.json"]


def test_corrupt_or_newer_files_are_refused_and_left_alone(config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    path = config_dir / "profiles.json"
    path.write_text("{not json")
    with pytest.raises(errors.ConfigError, match="not valid JSON"):
        ProfileStore()
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "profiles": []}))
    with pytest.raises(errors.ConfigError, match="newer"):
        ProfileStore()
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION + 1


@pytest.mark.usefixtures("no_keyring")
def test_without_a_keyring_the_password_is_kept_for_the_session_only(
    config_dir: Path,
) -> None:
    assert not keyring_usable()
    store = ProfileStore()
    with pytest.raises(ProfileFieldError) as caught:
        store.add(Profile("K", "http://a.example", username="u"), "pw")
    assert caught.value.field == "password"
    assert "keyring" in str(caught.value)

    session = Profile(
        "S", "http://a.example", username="u", password_store=PasswordStore.SESSION
    )
    saved = store.add(session, "pw")
    assert store.password(saved) == "pw"
    assert ProfileStore().password(saved) is None
    assert not (config_dir / "passwords.json").exists()


@pytest.mark.usefixtures("no_keyring")
def test_the_opt_in_password_file_is_owner_only_and_says_it_is_plain(
    config_dir: Path,
) -> None:
    store = ProfileStore()
    profile = Profile(
        "F", "http://a.example", username="u", password_store=PasswordStore.FILE
    )
    saved = store.add(profile, "file-pw")

    path = config_dir / "passwords.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "not encrypted" in json.loads(path.read_text())["note"]
    assert ProfileStore().password(saved) == "file-pw"

    store.remove(saved.id)
    assert json.loads(path.read_text())["passwords"] == {}


def test_moving_a_password_from_file_to_keyring_clears_the_file(
    config_dir: Path, memory_keyring: MemoryKeyring
) -> None:
    store = ProfileStore()
    in_file = store.add(
        Profile("F", "http://a.example", "u", password_store=PasswordStore.FILE), "pw"
    )
    moved = store.update(
        Profile("F", "http://a.example", "u", id=in_file.id), store.password(in_file)
    )
    passwords = json.loads((config_dir / "passwords.json").read_text())["passwords"]
    assert passwords == {}
    assert memory_keyring.passwords == {(KEYRING_SERVICE, moved.id): "pw"}


def test_profile_becomes_a_client_config(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    profile = Profile(
        "T", "https://r.example", "u", tls=TlsMode.CUSTOM_CA, ca_file=str(ca)
    )
    config = profile.registry_config("pw")
    assert (config.username, config.password, config.ca_file) == ("u", "pw", str(ca))
    assert not config.insecure
    insecure = Profile("I", "https://r.example", tls=TlsMode.INSECURE)
    assert insecure.registry_config("ignored").insecure
    assert insecure.registry_config("ignored").password is None
    assert "pw" not in repr(config)
    with RegistryClient(insecure.registry_config(None)) as client:
        assert client.base_url == "https://r.example"


def test_removing_a_profile_removes_its_rules(memory_keyring: MemoryKeyring) -> None:
    from core.rules import Rules, load_profile_rules, rules_path, save_profile_rules

    store = ProfileStore()
    kept = store.add(Profile("Kept", "http://k.example"), None)
    gone = store.add(Profile("Gone", "http://g.example"), None)
    for profile in (kept, gone):
        save_profile_rules(store.directory, profile.id, Rules(keep_newest=3))
    store.remove(gone.id)
    assert not rules_path(store.directory, gone.id).exists()
    assert load_profile_rules(store.directory, kept.id) == Rules(keep_newest=3)


def test_a_keyring_read_that_waits_holds_up_no_other_password(
    memory_keyring: MemoryKeyring,
) -> None:
    store = ProfileStore()
    locked = store.add(Profile("Locked", "https://a.example.com", username="a"), "pa")
    other = store.add(Profile("Other", "https://b.example.com", username="b"), "pb")
    unlocked, reading = threading.Event(), threading.Event()
    answer = memory_keyring.get_password

    def get_password(service: str, username: str) -> str | None:
        if username == locked.id:
            reading.set()
            unlocked.wait(30)
        return answer(service, username)

    memory_keyring.get_password = get_password  # type: ignore[method-assign]
    results: dict[str, str | None] = {}
    waiting = threading.Thread(
        target=lambda: results.update(locked=store.password(locked))
    )
    waiting.start()
    assert reading.wait(10)

    # While that read waits: another profile's password is read and changed.
    assert store.password(other) == "pb"
    store.update(other, "pb2")
    assert store.password(other) == "pb2"
    assert waiting.is_alive()  # the first read is still waiting

    unlocked.set()
    waiting.join(10)
    assert results == {"locked": "pa"}
