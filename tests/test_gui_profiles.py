"""The profile dialog against real registries: saving, testing the connection,
bad input next to its field, TLS, keyring fallbacks and Docker logins."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from core.profiles import KEYRING_SERVICE, PasswordStore, Profile, ProfileStore, TlsMode
from devtools.registry import LocalRegistry
from devtools.seed import Seeder
from gui.main_window import MainWindow
from gui.profile_dialog import ProfileDialog

pytest_plugins = ["tests.gui_fixtures"]

if TYPE_CHECKING:
    from tests.gui_fixtures import GuiDriver


def fill(
    qtbot: QtBot,
    dialog: ProfileDialog,
    name: str,
    url: str,
    user: str = "",
    pw: str = "",
) -> None:
    for edit, text in (
        (dialog.name_edit, name),
        (dialog.url_edit, url),
        (dialog.username_edit, user),
        (dialog.password_edit, pw),
    ):
        edit.clear()
        qtbot.keyClicks(edit, text)


def run_test(qtbot: QtBot, dialog: ProfileDialog) -> str:
    """Click "Test connection" and wait for the report (or the failure)."""
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.test_button.isEnabled(), timeout=20_000)
    return dialog.report_label.text()


def seed_one(registry: LocalRegistry) -> None:
    with Seeder(registry) as seeder:
        seeder.push_image("team/app", ["1"])


def test_add_a_profile_through_the_dialog(
    qtbot: QtBot,
    basic_registry: LocalRegistry,
    gui: GuiDriver,
    isolated,
    config_dir: Path,
) -> None:
    seed_one(basic_registry)
    window = gui.window()
    assert "Welcome" in window.tag_panel.placeholder.text()
    dialog = gui.new_profile_dialog(window)
    fill(qtbot, dialog, "Lab", basic_registry.url, "alice", basic_registry.password)

    with qtbot.waitSignal(dialog.profile_saved, timeout=20_000) as saved:
        dialog.save_button.click()

    profile: Profile = saved.args[0]
    assert (profile.name, profile.url, profile.username) == (
        "Lab",
        basic_registry.url,
        "alice",
    )
    assert isolated.passwords == {
        (KEYRING_SERVICE, profile.id): basic_registry.password
    }
    assert basic_registry.password not in (config_dir / "profiles.json").read_text()
    assert window.profile_combo.currentText() == "Lab"
    qtbot.waitUntil(lambda: window.repo_panel.model.names() == ["team/app"])


def test_connection_test_reports_what_the_login_may_do(
    qtbot: QtBot, basic_registry: LocalRegistry, gui: GuiDriver
) -> None:
    seed_one(basic_registry)
    dialog = gui.new_profile_dialog()
    fill(qtbot, dialog, "Lab", basic_registry.url, "alice", basic_registry.password)

    report = run_test(qtbot, dialog)
    assert "Reachable:</b> " + basic_registry.url in report
    assert "API version:</b> registry/2.0" in report
    assert "Login:</b> Basic" in report
    assert "Catalog:</b> The catalog may be listed." in report
    assert "Deletion:</b> Deletion is enabled." in report


def test_a_wrong_password_is_shown_at_the_password_and_nothing_is_saved(
    qtbot: QtBot,
    basic_registry: LocalRegistry,
    gui: GuiDriver,
    isolated,
    config_dir: Path,
) -> None:
    dialog = gui.new_profile_dialog()
    fill(qtbot, dialog, "Lab", basic_registry.url, "alice", "wrong-password")

    dialog.save_button.click()
    qtbot.waitUntil(lambda: dialog.save_button.isEnabled(), timeout=20_000)

    message = dialog.messages["password"]
    assert message.isVisible()
    assert "refused the username or password" in message.text()
    assert "wrong-password" not in message.text()
    assert dialog.save_button.text() == "Save anyway"
    assert not (config_dir / "profiles.json").exists()
    assert isolated.passwords == {}
    assert dialog.isVisible()


def test_deletion_disabled_is_reported(
    qtbot: QtBot, nodelete_registry: LocalRegistry, gui: GuiDriver
) -> None:
    seed_one(nodelete_registry)
    dialog = gui.new_profile_dialog()
    fill(qtbot, dialog, "Mirror", nodelete_registry.url)

    report = run_test(qtbot, dialog)
    assert "Deletion:</b> Deletion is disabled" in report
    assert "storage.delete.enabled" in report


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("registry.example.com", "https://registry.example.com"),
        ("http://", "scheme and host"),
        ("https://bob:pw@registry.example.com", "username and password fields"),
    ],
)
def test_a_malformed_url_is_explained_next_to_it(
    qtbot: QtBot, gui: GuiDriver, config_dir: Path, url: str, words: str
) -> None:
    dialog = gui.new_profile_dialog()
    fill(qtbot, dialog, "Bad", url)
    dialog.save_button.click()
    assert dialog.messages["url"].isVisible()
    assert words in dialog.messages["url"].text()
    assert not (config_dir / "profiles.json").exists()


def test_an_unreachable_host_is_explained_next_to_the_url(
    qtbot: QtBot, gui: GuiDriver
) -> None:
    dialog = gui.new_profile_dialog()
    fill(qtbot, dialog, "Gone", "http://127.0.0.1:9")
    run_test(qtbot, dialog)
    assert "Could not connect" in dialog.messages["url"].text()
    assert "registry is running" in dialog.messages["url"].text()


def test_a_self_signed_certificate_points_at_the_tls_settings(
    qtbot: QtBot, tls_registry: LocalRegistry, gui: GuiDriver
) -> None:
    seed_one(tls_registry)
    dialog = gui.new_profile_dialog()
    fill(qtbot, dialog, "TLS", tls_registry.url)

    run_test(qtbot, dialog)
    assert "TLS connection failed" in dialog.messages["tls"].text()
    assert "CA file" in dialog.messages["tls"].text()

    dialog.tls_custom.click()
    qtbot.keyClicks(dialog.ca_edit, str(tls_registry.ca_file))
    assert "Catalog:</b> The catalog may be listed." in run_test(qtbot, dialog)
    assert not dialog.messages["tls"].isVisible()


def test_insecure_mode_shows_a_warning(gui: GuiDriver) -> None:
    dialog = gui.new_profile_dialog()
    assert not dialog.insecure_warning.isVisible()
    dialog.tls_insecure.click()
    assert dialog.insecure_warning.isVisible()
    assert "not checked" in dialog.insecure_warning.text()
    assert dialog.profile().tls is TlsMode.INSECURE


@pytest.mark.usefixtures("no_keyring", "gc_on_gui_thread")
def test_without_a_keyring_the_dialog_offers_session_or_plain_file(
    qtbot: QtBot,
    basic_registry: LocalRegistry,
    prompts,
    config_dir: Path,
    qapp,
) -> None:
    from tests.gui_fixtures import new_profile_dialog

    window = MainWindow(ProfileStore())
    qtbot.addWidget(window)
    dialog = new_profile_dialog(qtbot, window)
    fill(qtbot, dialog, "Lab", basic_registry.url, "alice", basic_registry.password)

    assert not dialog.store_keyring.isEnabled()
    assert dialog.store_session.isChecked()
    assert "No system keyring is available" in dialog.storage_note.text()
    dialog.store_file.click()
    assert "plain text (not encrypted)" in dialog.storage_note.text()

    with qtbot.waitSignal(dialog.profile_saved, timeout=20_000) as saved:
        dialog.save_button.click()
    assert saved.args[0].password_store is PasswordStore.FILE
    path = config_dir / "passwords.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert basic_registry.password in path.read_text()


def test_a_docker_login_fills_the_fields(
    qtbot: QtBot,
    basic_registry: LocalRegistry,
    gui: GuiDriver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docker = tmp_path / "docker"
    docker.mkdir()
    auth = base64.b64encode(f"alice:{basic_registry.password}".encode()).decode()
    host = basic_registry.url.split("://")[1]
    (docker / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(docker))

    window = gui.window()
    dialog = gui.new_profile_dialog(window)
    qtbot.keyClicks(dialog.url_edit, basic_registry.url)
    dialog.import_button.click()
    qtbot.waitUntil(lambda: dialog.username_edit.text() == "alice", timeout=10_000)
    assert dialog.password_edit.text() == basic_registry.password
    assert dialog.url_edit.text() == basic_registry.url
    assert "Filled in from the Docker login" in dialog.messages["username"].text()
    assert "Login:</b> Basic" in run_test(qtbot, dialog)

    # Without a URL, the user picks one of the logins; Docker means https.
    dialog.reject()
    dialog = gui.new_profile_dialog(window)
    dialog.import_button.click()
    qtbot.waitUntil(lambda: dialog.username_edit.text() == "alice", timeout=10_000)
    assert dialog.url_edit.text() == f"https://{host}"


def test_edit_duplicate_and_remove_from_the_menu(
    qtbot: QtBot, registry: LocalRegistry, gui: GuiDriver, prompts
) -> None:
    window = gui.window(registry)
    window.duplicate_profile_action.trigger()
    assert [p.name for p in window.store.profiles] == ["Test", "Test (copy)"]
    assert window.profile_combo.currentText() == "Test (copy)"

    with qtbot.waitSignal(window.profile_dialog_opened) as opened:
        window.edit_profile_action.trigger()
    dialog: ProfileDialog = opened.args[0]
    dialog.name_edit.clear()
    qtbot.keyClicks(dialog.name_edit, "Test")
    dialog.save_button.click()
    assert "exists already" in dialog.messages["name"].text()
    dialog.reject()

    prompts.confirm_answer = False
    window.remove_profile_action.trigger()
    assert len(window.store.profiles) == 2
    prompts.confirm_answer = True
    window.remove_profile_action.trigger()
    assert [p.name for p in ProfileStore().profiles] == ["Test"]


def test_a_slow_keyring_does_not_hold_up_the_window(
    qtbot: QtBot, basic_registry: LocalRegistry, gui: GuiDriver, isolated
) -> None:
    # A keyring that answers only when the test lets it, as one waiting for
    # the user to unlock it does.
    unlocked = threading.Event()
    reads: list[str] = []
    answer = isolated.get_password

    def get_password(service: str, username: str) -> str | None:
        reads.append(threading.current_thread().name)
        unlocked.wait(30)
        return answer(service, username)

    isolated.get_password = get_password
    seed_one(basic_registry)

    window = gui.window(basic_registry)

    # The window is up and says what it waits for; no request has gone out.
    qtbot.waitUntil(lambda: bool(reads))
    assert reads == ["password"]  # the task's thread, not the GUI thread
    assert "Reading the password for Test" in window.tag_panel.placeholder.text()
    assert window.session is None
    unlocked.set()
    qtbot.waitUntil(lambda: "team/app" in window.repo_panel.model.names())
    assert window.session is not None


def test_switching_profile_while_the_keyring_is_read_uses_the_new_one(
    qtbot: QtBot,
    basic_registry: LocalRegistry,
    registry: LocalRegistry,
    gui: GuiDriver,
    isolated,
) -> None:
    unlocked = threading.Event()
    answer = isolated.get_password

    def get_password(service: str, username: str) -> str | None:
        unlocked.wait(30)
        return answer(service, username)

    isolated.get_password = get_password
    window = gui.window(basic_registry)
    reading = window._password_task
    assert reading is not None
    window.store.add(Profile("Open", registry.url), None)
    window._fill_profiles(select_id=window.store.by_name("Open").id)
    assert window.session is not None  # no username: connected at once
    open_session = window.session

    with qtbot.waitSignal(reading.finished):
        unlocked.set()  # the first profile's password arrives late
    assert window.session is open_session
    assert window.profile_combo.currentText() == "Open"
