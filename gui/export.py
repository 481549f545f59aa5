"""Saving an export (CSV or JSON) where the user chooses, behind a classmethod
tests can replace."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from gui.prompts import Prompts

log = logging.getLogger(__name__)

FILTERS = {"csv": "CSV files (*.csv)", "json": "JSON files (*.json)"}


class SaveAs:
    """The file dialog. A classmethod, so tests patch it."""

    @classmethod
    def path(cls, parent: QWidget | None, title: str, suggested: str) -> str:
        """The chosen path, or "" when the user cancelled."""
        kind = Path(suggested).suffix.lstrip(".")
        chosen, _ = QFileDialog.getSaveFileName(
            parent, title, suggested, FILTERS.get(kind, "")
        )
        return chosen


def export_text(parent: QWidget | None, title: str, suggested: str, text: str) -> str:
    """Ask where, write ``text`` there; return the path written, or ""."""
    chosen = SaveAs.path(parent, title, suggested)
    if not chosen:
        return ""
    try:
        Path(chosen).write_text(text, encoding="utf-8")
    except OSError as exc:
        Prompts.error(parent, "Not exported", f"Cannot write {chosen}.", str(exc))
        return ""
    log.info("exported %s", chosen)
    return chosen
