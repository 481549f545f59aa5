"""The left-hand panel: the registry's repositories, filtered, or a name typed in."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core import errors
from core.reference import check_name
from gui import format as fmt
from gui.models import RepositoryListModel
from gui.widgets import FieldMessage


class RepositoryPanel(QWidget):
    """Lists repositories as catalog pages arrive; a click opens one."""

    repository_chosen = Signal(str)  # the repository name the user picked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = RepositoryListModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._build_widgets()
        self._build_layout()
        self._connect_signals()

    def _build_widgets(self) -> None:
        self.filter_edit = QLineEdit(placeholderText="Filter repositories")
        self.filter_edit.setClearButtonEnabled(True)
        self.list_view = QListView()
        self.list_view.setModel(self.proxy)
        self.list_view.setUniformItemSizes(True)
        self.list_view.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.state_label = QLabel(wordWrap=True)
        self.state_label.setObjectName("hint")
        self.name_edit = QLineEdit(placeholderText="Open by name, e.g. team/app")
        self.open_button = QPushButton("Open")
        self.name_message = FieldMessage()

    def _build_layout(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("Repositories")
        title.setObjectName("panelTitle")
        layout.addWidget(title)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.list_view, 1)
        layout.addWidget(self.state_label)
        row = QHBoxLayout()
        row.addWidget(self.name_edit, 1)
        row.addWidget(self.open_button)
        layout.addLayout(row)
        layout.addWidget(self.name_message)

    def _connect_signals(self) -> None:
        self.filter_edit.textChanged.connect(self._on_filter_edit_text_changed)
        selection = self.list_view.selectionModel()
        selection.currentChanged.connect(self._on_list_view_current_changed)
        self.name_edit.returnPressed.connect(self._on_open_button_clicked)
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.name_edit.textChanged.connect(self.name_message.clear)

    # --- called by the window ---------------------------------------------------

    def clear(self) -> None:
        self.model.clear()
        self.state_label.clear()
        self.name_message.clear()

    def add_names(self, names: list[str]) -> None:
        self.model.append(names)
        loaded = fmt.count(self.model.rowCount(), "repository", "repositories")
        self.state_label.setText(f"Loading… {loaded}")

    def show_loading(self) -> None:
        self.state_label.setText("Loading the repository catalog…")

    def show_loaded(self, total: int) -> None:
        if total == 0:
            self.state_label.setText(
                "This registry has no repositories yet (or hides them)."
            )
        else:
            self.state_label.setText(fmt.count(total, "repository", "repositories"))

    def show_refused(self, error: errors.RegsweepError) -> None:
        """The registry will not list its catalog: the user types a name."""
        self.state_label.setText(
            f"{error.message} Type a repository name below to open it."
        )
        self.name_edit.setFocus()

    def select(self, repository: str) -> None:
        """Highlight ``repository`` in the list, if it is there."""
        rows = self.model.names()
        if repository in rows:
            source = self.model.index(rows.index(repository), 0)
            self.list_view.setCurrentIndex(self.proxy.mapFromSource(source))
        else:
            self.name_edit.setText(repository)

    # --- slots ------------------------------------------------------------------

    def _on_filter_edit_text_changed(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)

    def _on_list_view_current_changed(
        self, index: QModelIndex, _previous: QModelIndex
    ) -> None:
        name = index.data()
        if name:
            self.repository_chosen.emit(name)

    def _on_open_button_clicked(self) -> None:
        name = self.name_edit.text().strip()
        try:
            check_name(name)
        except errors.InvalidReferenceError as exc:
            self.name_message.show_error(str(exc))
            return
        self.name_message.clear()
        self.repository_chosen.emit(name)
