"""Small widgets shared by panels and dialogs."""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QWidget


class Tone(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    GOOD = "good"
    INFO = "info"


class FieldMessage(QLabel):
    """A line under a field saying what is wrong with it and what to do.

    Hidden while empty; its colour comes from the ``tone`` property in the
    application style sheet."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fieldMessage")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def show_message(self, text: str, tone: Tone) -> None:
        self.setProperty("tone", str(tone))
        self.setText(text)
        self.style().unpolish(self)
        self.style().polish(self)
        self.setVisible(bool(text))

    def show_error(self, text: str) -> None:
        self.show_message(text, Tone.ERROR)

    def show_warning(self, text: str) -> None:
        self.show_message(text, Tone.WARNING)

    def clear(self) -> None:
        super().clear()
        self.hide()

    def resizeEvent(self, event: QResizeEvent) -> None:
        # Layouts do not ask a word-wrapped label how tall it gets at its
        # actual width; asking here keeps long messages from being clipped.
        super().resizeEvent(event)
        needed = self.heightForWidth(event.size().width())
        if needed > 0 and needed != self.minimumHeight():
            self.setMinimumHeight(needed)
