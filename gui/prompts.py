"""Every modal message and question, behind one class tests can replace.

The window never builds a QMessageBox itself: it calls ``Prompts.error(...)``
and friends, so a test patches one method and drives everything else through
real widgets.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class Prompts:
    """Modal dialogs. Each is a classmethod so tests can patch it."""

    @classmethod
    def error(
        cls, parent: QWidget | None, title: str, text: str, more: str = ""
    ) -> None:
        """One action failed as a whole."""
        _message_box(QMessageBox.Icon.Warning, parent, title, text, more).exec()

    @classmethod
    def info(
        cls, parent: QWidget | None, title: str, text: str, more: str = ""
    ) -> None:
        _message_box(QMessageBox.Icon.Information, parent, title, text, more).exec()

    @classmethod
    def confirm(
        cls, parent: QWidget | None, title: str, text: str, action: str
    ) -> bool:
        """Ask before something that cannot be undone; Cancel is the default."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
        yes = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is yes

    @classmethod
    def password(
        cls, parent: QWidget | None, profile: str, username: str
    ) -> str | None:
        """The password for a profile whose password is kept per session."""
        text, ok = QInputDialog.getText(
            parent,
            "Password",
            f"Password of {username} for {profile}\n(kept until Regsweep closes):",
            QLineEdit.EchoMode.Password,
        )
        return text if ok and text else None

    @classmethod
    def choose(
        cls, parent: QWidget | None, title: str, text: str, options: list[str]
    ) -> int | None:
        """The index of the option picked, or None."""
        picked, ok = QInputDialog.getItem(parent, title, text, options, 0, False)
        return options.index(picked) if ok and picked in options else None

    @classmethod
    def crash(
        cls, parent: QWidget | None, summary: str, details: str, log: str
    ) -> None:
        """Something unexpected: the details, copyable, and where the log is."""
        CrashDialog(summary, details, log, parent).exec()


class CrashDialog(QDialog):
    """An unexpected error, with its details ready to copy into a bug report."""

    def __init__(
        self, summary: str, details: str, log: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Unexpected error")
        self.details = details
        layout = QVBoxLayout(self)
        heading = QLabel(
            "<b>Something went wrong that Regsweep did not expect.</b><br>"
            f"{summary}<br><br>The details below are also in the log file:<br>"
            f"<code>{log}</code>"
        )
        heading.setWordWrap(True)
        layout.addWidget(heading)
        text = QPlainTextEdit(details, readOnly=True)
        text.setMinimumSize(560, 220)
        layout.addWidget(text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton("Copy details")
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(self._on_copy_clicked)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _on_copy_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.details)


def _message_box(
    icon: QMessageBox.Icon, parent: QWidget | None, title: str, text: str, more: str
) -> QMessageBox:
    """A message whose text can be selected and copied (it often holds a
    command or a setting to paste), wide enough that such a line stays whole."""
    box = QMessageBox(icon, title, text, parent=parent)
    if more:
        box.setInformativeText(more)
    selectable = Qt.TextInteractionFlag.TextSelectableByMouse
    for name in ("qt_msgbox_label", "qt_msgbox_informativelabel"):
        label = box.findChild(QLabel, name)
        if label is not None:
            label.setTextInteractionFlags(selectable)
            label.setMinimumWidth(_MESSAGE_WIDTH)
    return box


_MESSAGE_WIDTH = 480
