"""The application's look: Fusion with a light palette and a few accents."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

STYLE_SHEET = """
QLabel#panelTitle { font-weight: 600; font-size: 11pt; padding: 4px 0; }
QLabel#placeholder { color: #5f6368; font-size: 11pt; padding: 24px; }
QLabel#hint { color: #5f6368; }
QLabel#dialogHeading { font-size: 11pt; }
QLabel#fieldMessage { padding: 2px 6px; border-radius: 3px; }
QLabel#fieldMessage[tone="error"] { color: #b3261e; background: #fdecea; }
QLabel#fieldMessage[tone="warning"] { color: #7a4100; background: #fff4e0; }
QLabel#fieldMessage[tone="good"] { color: #1e6b2e; background: #e8f5e9; }
QLabel#fieldMessage[tone="info"] { color: #174ea6; background: #e8f0fe; }
QPushButton#destructive { color: white; background: #c5221f; border: 1px solid #a50e0e;
    border-radius: 4px; padding: 5px 14px; }
QPushButton#destructive:disabled { background: #e6a3a1; }
QTableView#tagTable { selection-background-color: #cfe3ff; selection-color: black; }
QToolBar#mainToolbar { spacing: 6px; padding: 4px; }
QListView::item { padding: 3px 4px; }
"""


def apply_style(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setStyleSheet(STYLE_SHEET)
