"""The status bar: messages, what is still loading, and deletion progress."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar, QWidget

from gui import format as fmt

MESSAGE_MS = 8000


class StatusBar(QStatusBar):
    """A status bar with a load counter and a progress bar with Cancel."""

    cancel_clicked = Signal()  # the user wants the running deletion stopped

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.load_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m")
        self.progress.setMaximumWidth(220)
        self.cancel_button = QPushButton("Cancel")
        self.addPermanentWidget(self.load_label)
        self.addPermanentWidget(self.progress)
        self.addPermanentWidget(self.cancel_button)
        self.cancel_button.clicked.connect(self.cancel_clicked)
        self.end_progress()

    def say(self, text: str, timeout_ms: int = MESSAGE_MS) -> None:
        self.showMessage(text, timeout_ms)

    def show_counts(
        self, tags: int, resolved: int, detailed: int, digests: int
    ) -> None:
        """E.g. "120 tags · digests 80 of 120 · details 40 of 60"."""
        parts = [fmt.count(tags, "tag")]
        if resolved < tags:
            parts.append(f"digests {resolved:,} of {tags:,}")
        if detailed < digests or resolved < tags:
            parts.append(f"details {detailed:,} of {digests:,}")
        self.load_label.setText(" · ".join(parts))

    def clear_counts(self) -> None:
        self.load_label.clear()

    def start_progress(self, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()

    def advance(self, steps: int) -> None:
        self.progress.setValue(self.progress.value() + steps)

    def end_progress(self) -> None:
        self.progress.hide()
        self.cancel_button.hide()
