"""Starting the window: the application object, logging, the exception hook."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Sequence

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from core import errors, logs
from core.profiles import ProfileStore
from gui.crash import install_excepthook
from gui.icons import app_icon
from gui.main_window import MainWindow
from gui.prompts import Prompts
from gui.style import apply_style
from gui.tasks import GuiThreadCollector, stop_details_helper

log = logging.getLogger(__name__)


def create_app(argv: Sequence[str]) -> QApplication:
    """The QApplication, created once, styled and with the icon set."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(list(argv))
    app.setApplicationName("Regsweep")
    app.setApplicationDisplayName("Regsweep")
    app.setOrganizationName("regsweep")
    app.setDesktopFileName("regsweep")
    app.setWindowIcon(app_icon())
    apply_style(app)
    return app


def open_window(store: ProfileStore | None = None) -> MainWindow | None:
    """The main window on the saved profiles; None if they cannot be read."""
    try:
        store = store or ProfileStore()
    except errors.ConfigError as exc:
        Prompts.error(None, "Regsweep", "Your profiles cannot be read.", str(exc))
        return None
    window = MainWindow(store)
    window.show()
    return window


def quit_on_signals(app: QApplication) -> None:
    """Ctrl+C or SIGTERM closes the window properly (so the demo registry and
    running work are stopped), instead of killing the process mid-request."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: app.closeAllWindows())
    # Python handles signals only when it runs; a timer gives it the chance.
    ticker = QTimer(app)
    ticker.timeout.connect(lambda: None)
    ticker.start(250)


def run(argv: Sequence[str]) -> int:
    path = logs.configure()
    log.info("Regsweep starting; log file %s", path)
    app = create_app(argv)
    install_excepthook()
    quit_on_signals(app)
    GuiThreadCollector(app)
    window = open_window()
    if window is None:
        return 1
    try:
        return app.exec()
    finally:
        stop_details_helper()


if __name__ == "__main__":
    sys.exit(run(sys.argv))
