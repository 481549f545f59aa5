"""Fixtures for profile and GUI tests: every test gets its own config directory,
log directory and in-memory keyring, and Qt runs offscreen.

Use from a test module with ``pytest_plugins = ["tests.gui_fixtures"]``; the
``gui`` fixture (a GuiDriver) opens windows and drives them step by step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.compat import properties
from pytestqt.qtbot import QtBot

from core.profiles import CONFIG_DIR_ENV, Profile, ProfileStore, TlsMode
from devtools.registry import LocalRegistry

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Qt modules are imported after the platform is chosen.
from gui.delete_dialog import DeletePreviewDialog
from gui.history_window import HistoryWindow
from gui.main_window import MainWindow
from gui.profile_dialog import ProfileDialog
from gui.prompts import Prompts
from gui.rules_window import RulesWindow
from gui.session import DeletionReport
from gui.state import WindowState
from gui.tasks import GuiThreadCollector, TaskOutcome, stop_details_helper


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in a dict, for one test."""

    @properties.classproperty
    def priority(cls) -> float:  # noqa: N805
        # Never chosen automatically; tests install it with set_keyring.
        raise RuntimeError("test keyring")

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.passwords.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("not found")


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh config directory (profiles, passwords file, window state)."""
    directory = tmp_path / "config"
    monkeypatch.setenv(CONFIG_DIR_ENV, str(directory))
    monkeypatch.setenv("REGSWEEP_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("REGSWEEP_DATA_DIR", str(tmp_path / "data"))
    return directory


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """No usable keyring backend, as on a server without a desktop session."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def isolated(config_dir: Path, memory_keyring: MemoryKeyring) -> MemoryKeyring:
    """Own config directory and keyring; returns the keyring."""
    return memory_keyring


# --- modal prompts -------------------------------------------------------------


@dataclass
class PromptLog:
    """What the window would have shown in modal dialogs, and what to answer."""

    errors: list[tuple[str, str, str]] = field(default_factory=list)
    infos: list[tuple[str, str, str]] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    confirm_answer: bool = True
    password_answer: str | None = None
    choice: int | None = 0


@pytest.fixture
def prompts(monkeypatch: pytest.MonkeyPatch) -> Iterator[PromptLog]:
    """Replace every modal prompt with a recorder; an unexpected-error dialog
    fails the test."""
    log = PromptLog()

    def error(parent: object, title: str, text: str, more: str = "") -> None:
        log.errors.append((title, text, more))

    def info(parent: object, title: str, text: str, more: str = "") -> None:
        log.infos.append((title, text, more))

    def crash(parent: object, summary: str, details: str, path: str) -> None:
        log.crashes.append(details)

    monkeypatch.setattr(Prompts, "error", staticmethod(error))
    monkeypatch.setattr(Prompts, "info", staticmethod(info))
    monkeypatch.setattr(Prompts, "crash", staticmethod(crash))
    monkeypatch.setattr(
        Prompts, "confirm", staticmethod(lambda *args: log.confirm_answer)
    )
    monkeypatch.setattr(
        Prompts, "password", staticmethod(lambda *args: log.password_answer)
    )
    monkeypatch.setattr(Prompts, "choose", staticmethod(lambda *args: log.choice))
    yield log
    assert log.crashes == [], "an unexpected-error dialog was shown"


# --- the window ------------------------------------------------------------------


def profile_for(registry: LocalRegistry, name: str = "Test") -> Profile:
    """A profile reaching ``registry`` as its first user, trusting its CA."""
    tls = TlsMode.CUSTOM_CA if registry.ca_file else TlsMode.SYSTEM
    return Profile(
        name,
        registry.url,
        username=registry.username or "",
        tls=tls,
        ca_file=str(registry.ca_file or ""),
    )


@pytest.fixture(scope="session", autouse=True)
def details_helper() -> Iterator[None]:
    """The details helper process outlives single tests, as it outlives
    single windows in the app; stopped (by its PID) when the tests end."""
    yield
    stop_details_helper()


@pytest.fixture
def gc_on_gui_thread(qapp: object) -> Iterator[None]:
    """As in the app: no garbage collection on worker threads."""
    collector = GuiThreadCollector()
    yield
    collector.stop()
    collector.deleteLater()


@pytest.fixture
def make_window(
    qtbot: QtBot, isolated: MemoryKeyring, prompts: PromptLog, gc_on_gui_thread: None
) -> Iterator[Callable[..., MainWindow]]:
    """Open the main window; with a registry, on a saved profile for it."""
    # pytest-qt holds widgets weakly; a window collected mid-test (possibly by
    # a garbage collection on a worker thread) would take its dialogs along.
    windows: list[MainWindow] = []

    def make(registry: LocalRegistry | None = None) -> MainWindow:
        store = ProfileStore()
        if registry is not None:
            store.add(profile_for(registry), registry.password)
        window = MainWindow(store, WindowState.load())
        windows.append(window)
        qtbot.addWidget(window)
        window.show()
        return window

    yield make
    for window in windows:
        window.close()
        window.deleteLater()
    qtbot.wait(10)


def fully_loaded(window: MainWindow, repository: str) -> bool:
    model = window.tag_model
    detailed, digests = model.digest_count()
    return (
        model.repository == repository
        and model.rowCount() > 0
        and model.resolved_count() == model.rowCount()
        and detailed == digests
    )


# --- driving the windows ---------------------------------------------------------


@dataclass
class GuiDriver:
    """The steps GUI tests take through the real widgets, one method each."""

    qtbot: QtBot
    make_window: Callable[..., MainWindow]

    def window(
        self, registry: LocalRegistry | None = None, repository: str | None = None
    ) -> MainWindow:
        """A main window (on a profile for ``registry``), with ``repository``
        open and fully loaded when given."""
        window = self.make_window(registry)
        if repository is not None:
            self.open_repository(window, repository)
        return window

    def select_repository(self, window: MainWindow, repository: str) -> None:
        """Pick ``repository`` once it is listed, without waiting for its tags."""
        self.qtbot.waitUntil(lambda: repository in window.repo_panel.model.names())
        window.repo_panel.select(repository)

    def open_repository(self, window: MainWindow, repository: str) -> None:
        """Pick ``repository`` and wait until every tag and detail is in."""
        self.select_repository(window, repository)
        self.wait_loaded(window, repository)

    def wait_loaded(
        self, window: MainWindow, repository: str, timeout_ms: int = 30_000
    ) -> None:
        """Wait until every tag and detail of ``repository`` is in the table."""
        self.qtbot.waitUntil(
            lambda: fully_loaded(window, repository), timeout=timeout_ms
        )

    def press_delete(self, window: MainWindow, tags: list[str]) -> DeletePreviewDialog:
        """Select ``tags``, press Del in the table, and return the preview."""
        window.tag_panel.select_tags(tags)
        assert window.tag_panel.selected_tags() == sorted(tags)
        return self.preview_deletion(window)

    def delete_preview(
        self, registry: LocalRegistry, repository: str, tags: list[str]
    ) -> tuple[MainWindow, DeletePreviewDialog]:
        """Open ``repository`` in a window on ``registry``, select ``tags`` and
        press Del: the window and its delete preview."""
        window = self.window(registry, repository)
        return window, self.press_delete(window, tags)

    def preview_deletion(self, window: MainWindow) -> DeletePreviewDialog:
        """Press Del on the current selection and return the preview."""
        opened_signal = window.deletion.preview_opened
        with self.qtbot.waitSignal(opened_signal, timeout=20_000) as opened:
            window.tag_panel.delete_action.trigger()
        preview: DeletePreviewDialog = opened.args[0]
        return preview

    def confirm(
        self, window: MainWindow, preview: DeletePreviewDialog
    ) -> DeletionReport:
        """Click Delete in the preview and wait for the report."""
        finished = window.deletion.deletion_finished
        with self.qtbot.waitSignal(finished, timeout=60_000) as done:
            preview.delete_button.click()
        report: DeletionReport = done.args[0]
        return report

    def open_rules(self, window: MainWindow) -> RulesWindow:
        with self.qtbot.waitSignal(window.rules_opened) as opened:
            window.rules_action.trigger()
        rules: RulesWindow = opened.args[0]
        self.qtbot.addWidget(rules)
        return rules

    def fill_rules_form(self, rules: RulesWindow) -> None:
        """keep 1, older than 90d, protect ^stable$, not other/: typed in."""
        form = rules.form
        self.qtbot.keyClicks(form.repos_exclude, "^other/")
        form.keep_check.click()
        form.keep_spin.setValue(1)
        form.age_check.click()
        self.qtbot.keyClicks(form.age_edit, "90d")
        self.qtbot.keyClicks(form.protect, "^stable$")

    def preview_rules(self, rules: RulesWindow) -> TaskOutcome:
        """Click Preview and wait for it; the preview must succeed."""
        with self.qtbot.waitSignal(rules.preview_finished, timeout=30_000) as done:
            rules.preview_button.click()
        outcome: TaskOutcome = done.args[0]
        assert outcome.ok, outcome.error
        return outcome

    def previewed_rules(self, registry: LocalRegistry) -> RulesWindow:
        """The rules window on ``registry``, the form filled in and previewed."""
        rules = self.open_rules(self.window(registry))
        self.fill_rules_form(rules)
        self.preview_rules(rules)
        return rules

    def open_history(self, window: MainWindow) -> HistoryWindow:
        with self.qtbot.waitSignal(window.history_opened) as opened:
            window.history_action.trigger()
        history: HistoryWindow = opened.args[0]
        assert history.isVisible()
        return history

    def restore(self, history: HistoryWindow, entry_id: str) -> TaskOutcome:
        """Select the entry, click Restore and wait for the outcome."""
        assert history.select_entry(entry_id)
        assert history.restore_button.isEnabled()
        with self.qtbot.waitSignal(history.restore_finished, timeout=30_000) as done:
            history.restore_button.click()
        outcome: TaskOutcome = done.args[0]
        return outcome

    def new_profile_dialog(self, window: MainWindow | None = None) -> ProfileDialog:
        """Open the new-profile dialog, on a fresh window unless one is given."""
        window = window if window is not None else self.window()
        return new_profile_dialog(self.qtbot, window)


def new_profile_dialog(qtbot: QtBot, window: MainWindow) -> ProfileDialog:
    """Open the new-profile dialog from ``window``'s menu; for tests that build
    their window without ``make_window``."""
    with qtbot.waitSignal(window.profile_dialog_opened) as opened:
        window.new_profile_action.trigger()
    dialog = opened.args[0]
    assert isinstance(dialog, ProfileDialog)
    return dialog


@pytest.fixture
def gui(qtbot: QtBot, make_window: Callable[..., MainWindow]) -> GuiDriver:
    """Drive windows opened with ``make_window``; see GuiDriver."""
    return GuiDriver(qtbot, make_window)
