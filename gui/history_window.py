"""The deletion history: what the journal holds, newest first, with a text and
an outcome filter, exports, and Restore for an entry whose registry is the one
connected.

Restoring runs on a worker (gui.tasks) with a client of its own, made from the
connected profile's settings; the window only learns the result."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core import errors
from core.client import RegistryClient, RegistryConfig
from core.journal import (
    INTERRUPTED,
    Journal,
    JournalEntry,
    export_csv,
    export_json,
    filter_entries,
)
from core.restore import RestoreResult, restore_entry
from gui import format as fmt
from gui.crash import report_unexpected
from gui.export import export_text
from gui.list_model import ListTableModel
from gui.prompts import Prompts
from gui.tasks import Report, Task, TaskOutcome
from gui.widgets import FieldMessage, Tone

log = logging.getLogger(__name__)

HEADERS = ["Time", "Action", "Repository", "Digest", "Tags", "Outcome", "Restored"]
OUTCOMES = ["deleted", "untagged", "failed", "skipped", INTERRUPTED]
# An interrupted entry may or may not be gone; putting it back is harmless.
RESTORABLE = ("deleted", "untagged", INTERRUPTED)

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()
# The settings of the connected registry if its base URL is this one, else None.
ConfigFor = Callable[[str], RegistryConfig | None]


def entry_time(entry: JournalEntry) -> str:
    try:
        return fmt.local_time(datetime.fromisoformat(entry.time))
    except ValueError:
        return entry.time


def searchable(entry: JournalEntry) -> str:
    """What the text filter looks in: what the row and its details show (not
    the media type, where "app" would match every entry)."""
    words = [entry.action, entry.profile, entry.repository, entry.digest]
    words += [*entry.tags, *entry.untagged, entry.outcome, entry.message]
    words += [r["outcome"] for r in entry.restores]
    return " ".join(words).lower()


class HistoryModel(ListTableModel):
    """Journal entries as rows; the entry itself under UserRole."""

    headers = HEADERS

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[JournalEntry] = []

    def set_entries(self, entries: list[JournalEntry]) -> None:
        self.beginResetModel()
        self.entries = list(entries)
        self.endResetModel()

    def rows(self) -> list[Any]:
        return self.entries

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.entries):
            return None
        entry = self.entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(entry, index.column())
        if role == Qt.ItemDataRole.ToolTipRole:
            return entry.message or entry.digest
        if role == Qt.ItemDataRole.UserRole:
            return entry
        return None

    @staticmethod
    def _text(entry: JournalEntry, column: int) -> str:
        restored = entry.restores[-1]["outcome"] if entry.restores else ""
        tags = entry.untagged if entry.action == "untag" else entry.tags
        values = [
            entry_time(entry),
            entry.action,
            entry.repository,
            fmt.short_digest(entry.digest),
            fmt.tag_list(tags),
            entry.outcome,
            restored,
        ]
        return values[column] if 0 <= column < len(values) else ""


class HistoryWindow(QDialog):
    """Past deletions from the journal; a window of its own, not modal."""

    restore_finished = Signal(object)  # TaskOutcome of a restore, after the message
    exported = Signal(str)  # the path an export was written to

    def __init__(
        self,
        config_for: ConfigFor,
        journal: Journal | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window)
        self.setWindowTitle("Deletion history — Regsweep")
        self.journal = journal or Journal()
        self.config_for = config_for
        self.model = HistoryModel(self)
        self._all: list[JournalEntry] = []
        self._restore: Task | None = None
        self._build_filters()
        self._build_table()
        self._build_buttons()
        self._build_layout()
        self._connect_signals()
        self.resize(1040, 520)
        self.refresh()

    # --- building ---------------------------------------------------------------

    def _build_filters(self) -> None:
        self.filter_edit = QLineEdit(clearButtonEnabled=True)
        self.filter_edit.setPlaceholderText("Filter: repository, tag, digest, text…")
        self.outcome_combo = QComboBox()
        self.outcome_combo.addItem("Every outcome", None)
        for outcome in OUTCOMES:
            self.outcome_combo.addItem(outcome.capitalize(), outcome)

    def _build_table(self) -> None:
        self.table = QTableView()
        self.table.setObjectName("historyTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.detail = FieldMessage()
        self.count_label = QLabel()
        self.count_label.setObjectName("hint")

    def _build_buttons(self) -> None:
        self.restore_button = QPushButton("Restore…")
        self.restore_button.setToolTip(
            "Put the image and its tags back, if garbage collection has not "
            "removed its data yet."
        )
        self.csv_button = QPushButton("Export CSV…")
        self.json_button = QPushButton("Export JSON…")
        self.refresh_button = QPushButton("Refresh")
        self.close_button = QPushButton("Close")

    def _build_layout(self) -> None:
        filters = QHBoxLayout()
        filters.addWidget(self.filter_edit, 1)
        filters.addWidget(self.outcome_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.restore_button)
        buttons.addStretch(1)
        for button in (self.csv_button, self.json_button, self.refresh_button):
            buttons.addWidget(button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.detail)
        layout.addWidget(self.count_label)
        layout.addLayout(buttons)

    def _connect_signals(self) -> None:
        self.filter_edit.textChanged.connect(self._apply_filter)
        self.outcome_combo.currentIndexChanged.connect(self._apply_filter)
        self.table.selectionModel().selectionChanged.connect(
            self._on_table_selection_changed
        )
        self.restore_button.clicked.connect(self._on_restore_button_clicked)
        self.csv_button.clicked.connect(self._on_csv_button_clicked)
        self.json_button.clicked.connect(self._on_json_button_clicked)
        self.refresh_button.clicked.connect(self.refresh)
        self.close_button.clicked.connect(self.close)

    # --- listing ----------------------------------------------------------------

    def refresh(self) -> None:
        """Read the journal again and keep the current filters."""
        self._all = self.journal.entries()
        self._apply_filter()

    def shown_entries(self) -> list[JournalEntry]:
        return list(self.model.entries)

    def _apply_filter(self) -> None:
        selected = self.selected_entry()
        needle = self.filter_edit.text().strip().lower()
        by_outcome = filter_entries(self._all, outcome=self.outcome_combo.currentData())
        shown = [e for e in by_outcome if needle in searchable(e)]
        self.model.set_entries(shown)
        self.table.resizeColumnsToContents()
        self.count_label.setText(
            f"{len(shown):,} of {fmt.count(len(self._all), 'entry', 'entries')} "
            f"· journal: {self.journal.path}"
        )
        if selected is not None:
            self.select_entry(selected.id)
        self._on_table_selection_changed()

    def select_entry(self, entry_id: str) -> bool:
        for row, entry in enumerate(self.model.entries):
            if entry.id == entry_id:
                self.table.selectRow(row)
                return True
        return False

    def selected_entry(self) -> JournalEntry | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        entry: JournalEntry = self.model.entries[rows[0].row()]
        return entry

    def _on_table_selection_changed(self, *_args: object) -> None:
        entry = self.selected_entry()
        busy = self._restore is not None
        self.restore_button.setEnabled(
            entry is not None and entry.outcome in RESTORABLE and not busy
        )
        if entry is None:
            self.detail.clear()
            return
        lines = [f"{entry.repository}@{entry.digest}", entry.message]
        lines += [f"Restore {r['time']}: {r['message']}" for r in entry.restores]
        self.detail.show_message("\n".join(line for line in lines if line), Tone.INFO)

    # --- exporting --------------------------------------------------------------

    def _on_csv_button_clicked(self) -> None:
        self._export("history.csv", export_csv(self.model.entries))

    def _on_json_button_clicked(self) -> None:
        self._export("history.json", export_json(self.model.entries))

    def _export(self, name: str, text: str) -> None:
        path = export_text(self, "Export the deletion history", name, text)
        if path:
            self.exported.emit(path)

    # --- restoring --------------------------------------------------------------

    def _on_restore_button_clicked(self) -> None:
        entry = self.selected_entry()
        if entry is None or self._restore is not None:
            return
        config = self.config_for(entry.registry)
        if config is None:
            Prompts.error(
                self,
                "Cannot restore",
                f"This entry is from {entry.registry}.",
                "Connect to a profile for that registry in the main window, "
                "then try again. Nothing was changed.",
            )
            return
        self.restore_entry(entry, config)

    def restore_entry(self, entry: JournalEntry, config: RegistryConfig) -> None:
        """Restore on a worker, with a client of its own."""
        journal = self.journal
        log.info("restoring journal entry %s (%s)", entry.id, entry.repository)

        def work(cancel: threading.Event, report: Report) -> RestoreResult:
            with RegistryClient(config) as client:
                return restore_entry(client, entry, journal, cancel)

        self._restore = Task("restore", work, parent=self)
        self._restore.finished.connect(self._on_restore_finished)
        self._restore.finished.connect(self._restore.deleteLater)
        self._restore.start()
        self.restore_button.setEnabled(False)
        self.count_label.setText(f"Restoring {entry.repository}@{entry.digest}…")

    def _on_restore_finished(self, outcome: TaskOutcome) -> None:
        self._restore = None
        self.refresh()
        if isinstance(outcome.result, RestoreResult):
            self._tell(outcome.result)
        elif isinstance(outcome.error, errors.RegsweepError):
            Prompts.error(
                self, "Not restored", "The restore failed.", str(outcome.error)
            )
        elif outcome.error is not None:
            report_unexpected(outcome.error)
        self.restore_finished.emit(outcome)

    def _tell(self, result: RestoreResult) -> None:
        if result.gone_for_good:
            Prompts.error(self, "Gone for good", result.message)
        elif result.skipped:
            Prompts.info(self, "Partly restored", result.message)
        else:
            Prompts.info(self, "Restored", result.message)

    def closeEvent(self, event: Any) -> None:
        if self._restore is not None:
            self._restore.cancel()
        super().closeEvent(event)
