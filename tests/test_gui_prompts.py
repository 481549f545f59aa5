"""The real message boxes behind Prompts (other tests replace them)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox
from pytestqt.qtbot import QtBot

from core.delete import GC_NOTE
from gui.prompts import Prompts

SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse


def close_when_shown(found: list[QMessageBox]) -> None:
    """Keep the message box Prompts opens, and close it."""

    def close() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, close)
            return
        found.append(box)
        box.accept()

    QTimer.singleShot(0, close)


def labels(box: QMessageBox) -> list[QLabel]:
    names = ("qt_msgbox_label", "qt_msgbox_informativelabel")
    return [lb for name in names if (lb := box.findChild(QLabel, name)) is not None]


def test_the_garbage_collection_note_is_selectable_and_kept_wide(
    qtbot: QtBot,
) -> None:
    found: list[QMessageBox] = []
    close_when_shown(found)

    Prompts.info(None, "Deletion finished", "2 deleted", GC_NOTE)

    assert len(found) == 1
    shown = labels(found[0])
    assert [label.text() for label in shown] == ["2 deleted", GC_NOTE]
    for label in shown:
        assert label.textInteractionFlags() & SELECTABLE
        assert label.minimumWidth() >= 480


def test_an_error_shows_its_summary_with_a_warning_icon(qtbot: QtBot) -> None:
    found: list[QMessageBox] = []
    close_when_shown(found)

    Prompts.error(None, "Nothing was deleted", "0 deleted, 1 failed")

    assert found[0].icon() is QMessageBox.Icon.Warning
    assert [label.text() for label in labels(found[0])] == ["0 deleted, 1 failed"]
