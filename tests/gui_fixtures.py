"""Fixtures for profile and GUI tests: every test gets its own config directory,
log directory and in-memory keyring, and Qt runs offscreen.

Use from a test module with ``pytest_plugins = ["tests.gui_fixtures"]``.
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
from gui.main_window import MainWindow
from gui.prompts import Prompts
from gui.state import WindowState
from gui.tasks import GuiThreadCollector


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


@pytest.fixture
def open_repository(qtbot: QtBot) -> Callable[[MainWindow, str], None]:
    """``open_repository(window, name)``: pick ``name`` in the list and wait
    until every tag is resolved and every detail is in."""

    def open_and_wait(window: MainWindow, repository: str) -> None:
        qtbot.waitUntil(lambda: repository in window.repo_panel.model.names())
        window.repo_panel.select(repository)
        qtbot.waitUntil(lambda: fully_loaded(window, repository), timeout=30_000)

    return open_and_wait
