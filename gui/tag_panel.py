"""The right-hand panel: the open repository's tags, with filter and actions."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QStackedWidget,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.images import ManifestHead
from gui.models import Column, TagFilterProxy, TagTableModel
from gui.tag_table import TagDelegate
from gui.widgets import FieldMessage

_COLUMN_WIDTHS = {
    Column.TAG: 140,
    Column.DIGEST: 150,
    Column.KIND: 95,
    Column.PLATFORMS: 140,
    Column.SIZE: 80,
    Column.CREATED: 125,
    Column.SHARED: 160,
}
# Rows past the bottom of the screen that count as visible, so scrolling a
# page down finds them loaded.
_LOOKAHEAD_ROWS = 40


class TagPanel(QWidget):
    """Shows a :class:`TagTableModel` through a sort/filter proxy."""

    delete_requested = Signal(list)  # the selected tags
    visible_tags_changed = Signal(list)  # tags on screen now (debounced)
    copied = Signal(str)  # a short note of what went to the clipboard

    def __init__(self, model: TagTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = TagFilterProxy(self)
        self.proxy.setSourceModel(model)
        self.host = ""
        self._visible_timer = QTimer(self, singleShot=True, interval=80)
        self._resort_timer = QTimer(self, singleShot=True, interval=400)
        self._build_widgets()
        self._build_actions()
        self._build_layout()
        self._connect_signals()

    def _build_widgets(self) -> None:
        self.title = QLabel("Tags")
        self.title.setObjectName("panelTitle")
        self.filter_edit = QLineEdit(placeholderText="Filter tags (Ctrl+F)")
        self.filter_edit.setClearButtonEnabled(True)
        self.regex_button = QToolButton(text=".*", checkable=True)
        self.regex_button.setToolTip("Treat the filter as a regular expression")
        self.filter_message = FieldMessage()
        self.table = QTableView()
        self.table.setObjectName("tagTable")
        self._setup_table()
        self.placeholder = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.table)

    def _setup_table(self) -> None:
        table = self.table
        table.setModel(self.proxy)
        table.setItemDelegate(TagDelegate(self.proxy, self.model))
        table.setSortingEnabled(True)
        table.sortByColumn(Column.TAG, Qt.SortOrder.AscendingOrder)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.setShowGrid(False)
        rows = table.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(table.fontMetrics().height() + 8)
        header = table.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        )
        header.setStretchLastSection(True)
        for column, width in _COLUMN_WIDTHS.items():
            header.resizeSection(column, width)

    def _build_actions(self) -> None:
        self.copy_tag_action = self._action(
            "Copy tag reference", QKeySequence.StandardKey.Copy, self._on_copy_tag
        )
        self.copy_digest_action = self._action(
            "Copy digest reference", "Ctrl+Shift+C", self._on_copy_digest
        )
        self.delete_action = self._action(
            "Delete…", QKeySequence.StandardKey.Delete, self._on_delete
        )
        self.select_all_action = self._action(
            "Select all", QKeySequence.StandardKey.SelectAll, self.table.selectAll
        )

    def _action(self, text: str, shortcut: object, slot: object) -> QAction:
        action = QAction(text, self.table)
        action.setShortcut(QKeySequence(shortcut))  # type: ignore[call-overload]
        # Active while the table has focus, so Del in the filter box edits text.
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(slot)
        self.table.addAction(action)
        return action

    def _build_layout(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(self.title, 1)
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(self.regex_button)
        layout.addLayout(bar)
        layout.addWidget(self.filter_message)
        layout.addWidget(self.stack, 1)

    def _connect_signals(self) -> None:
        self.filter_edit.textChanged.connect(self._on_filter_changed)
        self.regex_button.toggled.connect(self._on_filter_changed)
        self.table.customContextMenuRequested.connect(self._on_table_context_menu)
        self.table.verticalScrollBar().valueChanged.connect(self._schedule_visible)
        for signal in (
            self.proxy.layoutChanged,
            self.proxy.modelReset,
            self.proxy.rowsInserted,
            self.proxy.rowsRemoved,
        ):
            signal.connect(self._schedule_visible)
        self._visible_timer.timeout.connect(self._on_visible_timer_timeout)
        self._resort_timer.timeout.connect(self._on_resort_timer_timeout)
        selection = self.table.selectionModel()
        selection.selectionChanged.connect(self._on_selection_changed)
        self._on_selection_changed()

    # --- called by the window ---------------------------------------------------

    def show_message(self, text: str) -> None:
        """Replace the table with a sentence (nothing open, no tags...)."""
        self.placeholder.setText(text)
        self.stack.setCurrentWidget(self.placeholder)

    def show_table(self, title: str) -> None:
        self.title.setText(title)
        self.stack.setCurrentWidget(self.table)
        self._schedule_visible()

    def selected_tags(self) -> list[str]:
        rows = self.table.selectionModel().selectedRows(Column.TAG)
        source = [self.proxy.mapToSource(index).row() for index in rows]
        return [self.model.tag_at(row) for row in sorted(source)]

    def select_tags(self, tags: list[str]) -> None:
        """Select exactly these tags (for tests and keyboard users)."""
        selection = self.table.selectionModel()
        selection.clearSelection()
        wanted = set(tags)
        flags = (
            QItemSelectionModel.SelectionFlag.Select
            | QItemSelectionModel.SelectionFlag.Rows
        )
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, Column.TAG)
            if index.data() in wanted:
                selection.select(index, flags)

    def schedule_resort(self) -> None:
        """New details may have moved rows in the sorted column; sort again
        soon, at most every 400 ms, so the table does not jitter."""
        if self.model.sort_pending and not self._resort_timer.isActive():
            self._resort_timer.start()

    def focus_filter(self) -> None:
        self.filter_edit.setFocus()
        self.filter_edit.selectAll()

    def visible_tags(self) -> list[str]:
        """Tags in the rows on screen, plus a page below."""
        count = self.proxy.rowCount()
        if count == 0 or self.stack.currentWidget() is not self.table:
            return []
        top = max(self.table.rowAt(0), 0)
        bottom = self.table.rowAt(self.table.viewport().height() - 1)
        bottom = count - 1 if bottom < 0 else bottom
        last = min(count - 1, bottom + _LOOKAHEAD_ROWS)
        return [
            self.proxy.index(row, Column.TAG).data() for row in range(top, last + 1)
        ]

    # --- slots ------------------------------------------------------------------

    def _on_filter_changed(self) -> None:
        error = self.proxy.set_filter(
            self.filter_edit.text(), self.regex_button.isChecked()
        )
        if error:
            self.filter_message.show_error(f"Not a valid regular expression: {error}.")
        else:
            self.filter_message.clear()

    def _on_selection_changed(self) -> None:
        has = self.table.selectionModel().hasSelection()
        for action in (self.copy_tag_action, self.copy_digest_action):
            action.setEnabled(has)
        self.delete_action.setEnabled(has)

    def _on_table_context_menu(self, position: object) -> None:
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        for action in (
            self.copy_tag_action,
            self.copy_digest_action,
            None,
            self.delete_action,
            None,
            self.select_all_action,
        ):
            if action is None:
                menu.addSeparator()
            else:
                menu.addAction(action)
        menu.popup(self.table.viewport().mapToGlobal(position))  # type: ignore[arg-type]

    def _on_copy_tag(self) -> None:
        tags = self.selected_tags()
        base = f"{self.host}/{self.model.repository}"
        self._copy([f"{base}:{tag}" for tag in tags], "tag reference")

    def _on_copy_digest(self) -> None:
        base = f"{self.host}/{self.model.repository}"
        heads = [self.model.head(tag) for tag in self.selected_tags()]
        digests = dict.fromkeys(h.digest for h in heads if isinstance(h, ManifestHead))
        if not digests:
            self.copied.emit("The digest is not known yet.")
            return
        self._copy([f"{base}@{digest}" for digest in digests], "digest reference")

    def _copy(self, lines: list[str], what: str) -> None:
        if not lines:
            return
        QGuiApplication.clipboard().setText("\n".join(lines))
        note = lines[0] if len(lines) == 1 else f"{len(lines)} {what}s"
        self.copied.emit(f"Copied {note}")

    def _on_delete(self) -> None:
        tags = self.selected_tags()
        if tags:
            self.delete_requested.emit(tags)

    def _schedule_visible(self) -> None:
        self._visible_timer.start()

    def _on_resort_timer_timeout(self) -> None:
        if self.model.sort_pending:
            self.model.resort()

    def _on_visible_timer_timeout(self) -> None:
        tags = self.visible_tags()
        if tags:
            self.visible_tags_changed.emit(tags)
