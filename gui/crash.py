"""The third error tier: anything unexpected is logged with its traceback and
shown in a dialog whose details can be copied."""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from types import TracebackType

from PySide6.QtWidgets import QApplication

from core import logs
from gui.prompts import Prompts

log = logging.getLogger(__name__)

_showing = threading.Lock()


def report_unexpected(error: BaseException) -> None:
    """Log ``error`` and, on the GUI thread, show it."""
    _handle(type(error), error, error.__traceback__)


def install_excepthook() -> None:
    sys.excepthook = _handle


def _handle(
    kind: type[BaseException], error: BaseException, tb: TracebackType | None
) -> None:
    log.critical("unexpected error", exc_info=(kind, error, tb))
    if threading.current_thread() is not threading.main_thread():
        return
    if QApplication.instance() is None or not _showing.acquire(blocking=False):
        return
    try:
        details = "".join(traceback.format_exception(kind, error, tb))
        summary = f"{kind.__name__}: {error}"
        Prompts.crash(
            QApplication.activeWindow(), summary, details, str(logs.log_file())
        )
    finally:
        _showing.release()
