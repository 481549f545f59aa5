"""The main window: assembles the panels, menus and status bar, and routes the
session's signals to them. It owns no registry logic."""

from __future__ import annotations

import logging
import threading
from functools import partial

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QMainWindow,
    QSplitter,
    QStyle,
    QToolBar,
    QWidget,
)

from core import errors, logs
from core.client import RegistryConfig
from core.profiles import PasswordStore, Profile, ProfileStore
from gui import format as fmt
from gui.crash import report_unexpected
from gui.deletion import DeletionFlow
from gui.history_window import HistoryWindow
from gui.models import TagTableModel
from gui.profile_dialog import ProfileDialog
from gui.prompts import Prompts
from gui.repo_panel import RepositoryPanel
from gui.rules_window import RulesTarget, RulesWindow
from gui.session import CatalogDone, RegistrySession, RepositoryFailure, TagList
from gui.state import WindowState
from gui.status import StatusBar
from gui.tag_panel import TagPanel
from gui.tasks import DetailsBatch, Task, TaskOutcome

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """Profiles in the toolbar, repositories on the left, tags on the right."""

    profile_dialog_opened = Signal(object)  # the ProfileDialog now on screen
    history_opened = Signal(object)  # the HistoryWindow now on screen
    rules_opened = Signal(object)  # the RulesWindow now on screen

    def __init__(self, store: ProfileStore, state: WindowState | None = None) -> None:
        super().__init__()
        self.store = store
        self.state = state or WindowState.load()
        self.session: RegistrySession | None = None
        self.history: HistoryWindow | None = None
        self.rules_window: RulesWindow | None = None
        self._password_task: Task | None = None
        self.tag_model = TagTableModel(self)
        self._restore_repository = self.state.repository
        self.setWindowTitle("Regsweep")
        self._build_panels()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._connect_signals()
        self._restore_geometry()
        self._fill_profiles(select_id=self.state.profile_id)

    # --- building ---------------------------------------------------------------

    def _build_panels(self) -> None:
        self.repo_panel = RepositoryPanel()
        self.tag_panel = TagPanel(self.tag_model)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.repo_panel)
        splitter.addWidget(self.tag_panel)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 920])
        splitter.setContentsMargins(8, 4, 8, 0)
        self.setCentralWidget(splitter)
        self.status = StatusBar()
        self.setStatusBar(self.status)
        self.deletion = DeletionFlow(self, self.tag_model, self.status)

    def _build_actions(self) -> None:
        self.new_profile_action = QAction("&New profile…", self)
        self.edit_profile_action = QAction("&Edit profile…", self)
        self.duplicate_profile_action = QAction("D&uplicate profile", self)
        self.remove_profile_action = QAction("&Remove profile…", self)
        self.quit_action = QAction(
            "&Quit", self, shortcut=QKeySequence.StandardKey.Quit
        )
        self.refresh_action = QAction("&Refresh", self, shortcut=QKeySequence("F5"))
        self.filter_action = QAction(
            "&Filter tags", self, shortcut=QKeySequence("Ctrl+F")
        )
        self.history_action = QAction("Deletion &history…", self)
        self.rules_action = QAction("Clean-up r&ules…", self)
        self.log_action = QAction("Where is the &log file?", self)
        self.about_action = QAction("&About Regsweep", self)
        icons = {
            self.refresh_action: QStyle.StandardPixmap.SP_BrowserReload,
            self.tag_panel.delete_action: QStyle.StandardPixmap.SP_TrashIcon,
        }
        for action, pixmap in icons.items():
            action.setIcon(self.style().standardIcon(pixmap))

    def _build_menus(self) -> None:
        bar = self.menuBar()
        profile = bar.addMenu("&Profile")
        for action in (
            self.new_profile_action,
            self.edit_profile_action,
            self.duplicate_profile_action,
            self.remove_profile_action,
        ):
            profile.addAction(action)
        profile.addSeparator()
        profile.addAction(self.rules_action)
        profile.addAction(self.history_action)
        profile.addSeparator()
        profile.addAction(self.quit_action)
        edit = bar.addMenu("&Edit")
        panel = self.tag_panel
        edit.addActions([panel.copy_tag_action, panel.copy_digest_action])
        edit.addSeparator()
        edit.addActions([panel.select_all_action, panel.delete_action])
        edit.addSeparator()
        edit.addAction(self.filter_action)
        view = bar.addMenu("&View")
        view.addAction(self.refresh_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addActions([self.log_action, self.about_action])

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Registry")
        toolbar.setMovable(False)
        toolbar.setObjectName("mainToolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.addWidget(QLabel(" Registry: "))
        self.profile_combo = QComboBox()
        self.profile_combo.setMinimumWidth(240)
        toolbar.addWidget(self.profile_combo)
        toolbar.addAction(self.edit_profile_action)
        toolbar.addAction(self.new_profile_action)
        toolbar.addSeparator()
        toolbar.addAction(self.refresh_action)
        spacer = QWidget()
        spacer.setSizePolicy(
            spacer.sizePolicy().Policy.Expanding, spacer.sizePolicy().Policy.Preferred
        )
        toolbar.addWidget(spacer)
        toolbar.addAction(self.tag_panel.delete_action)
        self.addToolBar(toolbar)

    def _connect_signals(self) -> None:
        self.profile_combo.activated.connect(self._on_profile_combo_activated)
        self.new_profile_action.triggered.connect(self._on_new_profile)
        self.edit_profile_action.triggered.connect(self._on_edit_profile)
        self.duplicate_profile_action.triggered.connect(self._on_duplicate_profile)
        self.remove_profile_action.triggered.connect(self._on_remove_profile)
        self.quit_action.triggered.connect(self.close)
        self.refresh_action.triggered.connect(self._on_refresh)
        self.filter_action.triggered.connect(self.tag_panel.focus_filter)
        self.history_action.triggered.connect(self._on_history_action)
        self.rules_action.triggered.connect(self._on_rules_action)
        self.log_action.triggered.connect(self._on_log_action)
        self.about_action.triggered.connect(self._on_about_action)
        self.repo_panel.repository_chosen.connect(self._on_repo_panel_repository_chosen)
        self.tag_panel.delete_requested.connect(self.deletion.request)
        self.tag_panel.visible_tags_changed.connect(self._on_tag_panel_visible_tags)
        self.tag_panel.copied.connect(self.status.say)
        self.tag_model.rowsRemoved.connect(self._on_tag_model_rows_removed)
        self.deletion.deletion_started.connect(self._on_deletion_busy)
        self.deletion.deletion_finished.connect(self._on_deletion_busy)

    def _restore_geometry(self) -> None:
        self.resize(self.state.width, self.state.height)
        if self.state.maximized:
            self.setWindowState(Qt.WindowState.WindowMaximized)

    # --- profiles ---------------------------------------------------------------

    def _fill_profiles(self, select_id: str = "") -> None:
        self.profile_combo.clear()
        for profile in self.store.profiles:
            self.profile_combo.addItem(profile.name, profile.id)
        has = self.profile_combo.count() > 0
        for action in (
            self.edit_profile_action,
            self.duplicate_profile_action,
            self.remove_profile_action,
        ):
            action.setEnabled(has)
        if not has:
            self._disconnect()
            self.tag_panel.show_message(
                "Welcome to Regsweep.\n\nAdd a registry with Profile ▸ New profile… "
                "to browse its repositories and clean up old images."
            )
            return
        index = max(self.profile_combo.findData(select_id), 0)
        self.profile_combo.setCurrentIndex(index)
        self._connect_profile(self._current_profile())

    def _current_profile(self) -> Profile | None:
        return self.store.get(self.profile_combo.currentData() or "")

    def _on_profile_combo_activated(self, _index: int) -> None:
        self._restore_repository = ""
        self._connect_profile(self._current_profile())

    def _on_new_profile(self) -> None:
        self._open_profile_dialog(None)

    def _on_edit_profile(self) -> None:
        self._open_profile_dialog(self._current_profile())

    def _open_profile_dialog(self, profile: Profile | None) -> None:
        dialog = ProfileDialog(self.store, profile, self)
        dialog.profile_saved.connect(self._on_profile_saved)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        self.profile_dialog_opened.emit(dialog)

    def _on_profile_saved(self, profile: Profile) -> None:
        self.status.say(f"Saved profile {profile.name}.")
        self._restore_repository = ""
        self._fill_profiles(select_id=profile.id)

    def _on_duplicate_profile(self) -> None:
        profile = self._current_profile()
        if profile is None:
            return
        try:
            copy = self.store.duplicate(profile.id)
        except errors.RegsweepError as exc:
            Prompts.error(
                self, "Not duplicated", "The profile was not copied.", str(exc)
            )
            return
        self._fill_profiles(select_id=copy.id)

    def _on_remove_profile(self) -> None:
        profile = self._current_profile()
        if profile is None or not Prompts.confirm(
            self,
            "Remove profile",
            f"Remove the profile {profile.name!r} and its stored password? "
            "Nothing on the registry changes.",
            "Remove",
        ):
            return
        try:
            self.store.remove(profile.id)
        except errors.RegsweepError as exc:
            Prompts.error(self, "Not removed", "The profile was kept.", str(exc))
            return
        self._fill_profiles()

    # --- connecting ---------------------------------------------------------------

    def _connect_profile(self, profile: Profile | None) -> None:
        self._disconnect()
        if profile is None:
            return
        if not profile.username:
            self._open_session(profile, None)
            return
        # The keyring may be slow, or wait for the user to unlock it: read it
        # on a worker, and connect when the password is in.
        self.tag_panel.show_message(f"Reading the password for {profile.name}…")
        task = Task("password", partial(_read_password, self.store, profile), self)
        task.finished.connect(partial(self._on_password_task_finished, task, profile))
        self._password_task = task
        task.start()

    def _on_password_task_finished(
        self, task: Task, profile: Profile, outcome: TaskOutcome
    ) -> None:
        if task is not self._password_task:
            return  # another profile was chosen meanwhile
        self._password_task = None
        if outcome.error is not None:
            report_unexpected(outcome.error)
            return
        password = outcome.result
        if password is None and profile.password_store is not PasswordStore.FILE:
            password = Prompts.password(self, profile.name, profile.username)
            if password is not None:
                self.store.secrets.remember_for_session(profile, password)
        if password is None:
            self.tag_panel.show_message(
                f"Not connected: {profile.name} needs a password."
            )
            return
        self._open_session(profile, password)

    def _open_session(self, profile: Profile, password: str | None) -> None:
        try:
            session = RegistrySession(
                profile.registry_config(password), profile.name, self
            )
        except errors.RegsweepError as exc:
            Prompts.error(
                self, "Cannot connect", f"Cannot use {profile.name}.", str(exc)
            )
            return
        self._attach(session)
        if profile.id != self.state.profile_id:
            self.state.profile_id, self.state.repository = profile.id, ""
        log.info("connecting to profile %r (%s)", profile.name, profile.url)
        self.setWindowTitle(f"{profile.name} — Regsweep")
        self.repo_panel.show_loading()
        self.tag_panel.show_message("Choose a repository on the left.")
        session.load_catalog()
        if self._restore_repository:
            self._open_repository(self._restore_repository)

    def _attach(self, session: RegistrySession) -> None:
        self.session = session
        session.catalog_page_loaded.connect(self.repo_panel.add_names)
        session.catalog_finished.connect(self._on_session_catalog_finished)
        session.tags_loaded.connect(self._on_session_tags_loaded)
        session.tags_failed.connect(self._on_session_tags_failed)
        session.details_arrived.connect(self._on_session_details_arrived)
        session.details_finished.connect(self._update_counts)
        session.unexpected_error.connect(report_unexpected)
        self.tag_panel.host = session.host
        self.deletion.attach(session)

    def _disconnect(self) -> None:
        self._password_task = None  # a password still being read is not used
        if self.session is not None:
            self.session.close()
            self.session.deleteLater()
        self.session = None
        self.deletion.attach(None)
        self.repo_panel.clear()
        self.tag_model.set_tags("", [])
        self.status.clear_counts()
        self.setWindowTitle("Regsweep")

    def _on_session_catalog_finished(self, done: CatalogDone) -> None:
        if done.error is None:
            self.repo_panel.show_loaded(done.count)
            self.status.say(
                f"Connected: {fmt.count(done.count, 'repository', 'repositories')}."
            )
            if self._restore_repository:
                self.repo_panel.select(self._restore_repository)
            return
        self.repo_panel.show_refused(done.error)
        self.status.say(str(done.error), 0)

    # --- browsing -----------------------------------------------------------------

    def _on_repo_panel_repository_chosen(self, repository: str) -> None:
        if self.session is None or repository == self.session.repository:
            return
        self._restore_repository = ""
        self._open_repository(repository)

    def _open_repository(self, repository: str) -> None:
        if self.session is None:
            return
        try:
            self.session.open_repository(repository)
        except errors.InvalidReferenceError as exc:
            self.status.say(str(exc))
            return
        self.state.repository = repository
        self.tag_model.set_tags(repository, [])
        self.status.clear_counts()
        self.tag_panel.show_message(f"Loading the tags of {repository}…")

    def _on_session_tags_loaded(self, found: TagList) -> None:
        self.tag_model.set_tags(found.repository, found.tags)
        if not found.tags:
            self.tag_panel.show_message(f"{found.repository} has no tags.")
        else:
            self.tag_panel.show_table(found.repository)
        self._update_counts()

    def _on_session_tags_failed(self, failure: RepositoryFailure) -> None:
        self.tag_panel.show_message(str(failure.error))
        self.status.say(str(failure.error))

    def _on_session_details_arrived(self, batch: DetailsBatch) -> None:
        self.tag_model.merge(batch.heads, batch.details)
        self.tag_panel.schedule_resort()
        self._update_counts()

    def _on_tag_model_rows_removed(self, *_: object) -> None:
        # Deleted tags leave the table: the counts, and an empty table, follow.
        model = self.tag_model
        self._update_counts()
        if model.rowCount() == 0 and model.repository:
            self.tag_panel.show_message(f"{model.repository} has no tags left.")

    def _on_tag_panel_visible_tags(self, tags: list[str]) -> None:
        if self.session is not None:
            self.session.prioritize(tags)

    def _update_counts(self) -> None:
        model = self.tag_model
        detailed, digests = model.digest_count()
        self.status.show_counts(
            model.rowCount(), model.resolved_count(), detailed, digests
        )

    def _on_refresh(self) -> None:
        if self.session is None or self.deletion.busy:
            return
        repository = self.session.repository
        self.repo_panel.clear()
        self.repo_panel.show_loading()
        self.session.load_catalog()
        if repository:
            self.session.repository = None
            self._open_repository(repository)

    def _on_deletion_busy(self) -> None:
        busy = self.deletion.busy
        self.profile_combo.setEnabled(not busy)
        self.refresh_action.setEnabled(not busy)

    # --- history ------------------------------------------------------------------

    def _on_history_action(self) -> None:
        if self.history is None:
            self.history = HistoryWindow(self._config_for, parent=self)
            self.history.restore_finished.connect(self._on_history_restore_finished)
        self.history.refresh()
        self.history.show()
        self.history.raise_()
        self.history_opened.emit(self.history)

    def _on_rules_action(self) -> None:
        profile, session = self._current_profile(), self.session
        if profile is None or session is None:
            Prompts.error(
                self,
                "Not connected",
                "Clean-up rules belong to a profile.",
                "Choose or add a profile and connect to its registry first.",
            )
            return
        target = RulesTarget(
            profile.id, profile.name, session.client.config, self.store.directory
        )
        window = self.rules_window
        if window is None or not window.isVisible() or window.target != target:
            if window is not None:
                window.close()  # closed, or another profile's: its work stops
                window.deleteLater()
            window = self.rules_window = RulesWindow(target, self)
            window.apply_finished.connect(self._on_rules_window_apply_finished)
        window.show()
        window.raise_()
        self.rules_opened.emit(window)

    def _on_rules_window_apply_finished(self, _report: object) -> None:
        self._on_refresh()

    def _on_history_restore_finished(self, _outcome: object) -> None:
        self._on_refresh()

    def _config_for(self, registry_url: str) -> RegistryConfig | None:
        """The connected registry's settings, if it is the one at this URL."""
        session = self.session
        if session is None or session.client.base_url != registry_url:
            return None
        return session.client.config

    # --- help, closing ------------------------------------------------------------

    def _on_log_action(self) -> None:
        Prompts.info(
            self,
            "Log file",
            f"Regsweep writes its log to:\n{logs.log_file()}",
            "Start with REGSWEEP_DEBUG=1 to log every registry request.",
        )

    def _on_about_action(self) -> None:
        Prompts.info(
            self,
            "About Regsweep",
            "Regsweep browses private container registries and deletes images "
            "safely: it shows every tag a deletion takes with it before "
            "anything is sent.",
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.session is not None and self.session.deleting:
            self.session.cancel_deletion()
        maximized = self.isMaximized()
        self.state.maximized = maximized
        if not maximized:
            self.state.width, self.state.height = self.width(), self.height()
        self.state.save()
        self._disconnect()
        super().closeEvent(event)


def _read_password(
    store: ProfileStore, profile: Profile, _cancel: threading.Event, _report: object
) -> str | None:
    """A task's work: the profile's stored password, if any."""
    return store.password(profile)
