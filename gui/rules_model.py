"""Table models for the clean-up rules window: every tag's verdict (sortable
and filterable through :class:`VerdictFilter`) and the totals per repository.

Also where a profile's rules are kept: one JSON file per profile, written
atomically by ``core.rules.save_rules``, in ``rules/`` beside the profiles
file."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from core.delete import DeleteResult
from core.verdicts import RepositoryTotals, TagVerdict
from gui import format as fmt
from gui.list_model import ListTableModel, SourceSortedProxy

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
VERDICT_HEADERS = [
    "Repository",
    "Tag",
    "Digest",
    "Verdict",
    "Reason",
    "Created",
    "Date source",
    "Result",
]
VERDICT_COLUMN = VERDICT_HEADERS.index("Verdict")
TOTALS_HEADERS = ["Repository", "Tags", "Keep", "Delete", "Untag", "Frees"]
_VERDICT_COLORS = {"delete": QColor("#b3261e"), "untag": QColor("#a4410e")}


# --- exports ---------------------------------------------------------------------


def verdicts_csv(verdicts: list[TagVerdict]) -> str:
    rows = [v.to_dict() for v in verdicts]
    out = io.StringIO()
    fields = list(rows[0]) if rows else ["repo", "tag", "digest", "verdict"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def verdicts_json(verdicts: list[TagVerdict]) -> str:
    return json.dumps([v.to_dict() for v in verdicts], indent=2) + "\n"


# --- the verdicts ----------------------------------------------------------------


class VerdictModel(ListTableModel):
    """One row per tag: its verdict, why, and once applied what happened.

    It sorts itself (one key per row, see :meth:`sort`); a sorting proxy
    would call back into Python for every comparison, which froze the window
    for seconds on a preview of tens of thousands of tags."""

    headers = VERDICT_HEADERS

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.verdicts: list[TagVerdict] = []
        self._results: dict[tuple[str, str], str] = {}  # (repo, digest) -> text
        self._sort_column = 0
        self._sort_order = Qt.SortOrder.AscendingOrder

    def set_verdicts(self, verdicts: list[TagVerdict]) -> None:
        self.beginResetModel()
        self._results = {}
        self.verdicts = self._sorted(verdicts)
        self.endResetModel()

    def add_results(self, results: list[DeleteResult]) -> None:
        """Show what happened to each applied item on the rows it covered."""
        for result in results:
            key = (result.item.repository, result.item.digest)
            self._results[key] = f"{result.outcome}: {result.message}"
        column = VERDICT_HEADERS.index("Result")
        if self.verdicts:
            last = len(self.verdicts) - 1
            self.dataChanged.emit(self.index(0, column), self.index(last, column))

    def result_of(self, verdict: TagVerdict) -> str:
        return self._results.get((verdict.repository, verdict.digest), "")

    def rows(self) -> list[Any]:
        return self.verdicts

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.verdicts):
            return None
        verdict = self.verdicts[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(verdict, column)
        if role == SORT_ROLE:
            return self._sort_key(verdict, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return verdict.digest if column == 2 else self._text(verdict, column)
        if role == Qt.ItemDataRole.ForegroundRole and column == VERDICT_COLUMN:
            color = _VERDICT_COLORS.get(verdict.verdict)
            return QBrush(color) if color is not None else None
        if role == Qt.ItemDataRole.UserRole:
            return verdict
        return None

    def _text(self, verdict: TagVerdict, column: int) -> str:
        if column == 2:
            return fmt.short_digest(verdict.digest)
        if column == 5:
            return fmt.local_time(verdict.created)
        return self._sort_key(verdict, column)

    def _sort_key(self, verdict: TagVerdict, column: int) -> str:
        if column == 5:
            return verdict.created.isoformat() if verdict.created else ""
        if column == 7:
            return self.result_of(verdict)
        fields = ("repository", "tag", "digest", "verdict", "reason", "", "date_source")
        name = fields[column] if 0 <= column < len(fields) else ""
        return str(getattr(verdict, name)) if name else ""

    # --- sorting ---------------------------------------------------------------

    def sort(
        self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder
    ) -> None:
        if not 0 <= column < len(VERDICT_HEADERS):
            return
        self._sort_column, self._sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        held = [(id(self.verdicts[i.row()]), i.column()) for i in persistent]
        self.verdicts = self._sorted(self.verdicts)
        row_of = {id(verdict): row for row, verdict in enumerate(self.verdicts)}
        moved = [self.index(row_of[key], column) for key, column in held]
        self.changePersistentIndexList(persistent, moved)
        self.layoutChanged.emit()

    def _sorted(self, verdicts: list[TagVerdict]) -> list[TagVerdict]:
        column = self._sort_column
        return sorted(
            verdicts,
            key=lambda v: (self._sort_key(v, column), v.repository, v.tag),
            reverse=self._sort_order == Qt.SortOrder.DescendingOrder,
        )


class VerdictFilter(SourceSortedProxy):
    """Rows of one verdict (or all), whose repository or tag holds a text;
    in the order of :class:`VerdictModel`, which sorts itself."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.verdict: str | None = None
        self.text = ""
        self.setSortRole(SORT_ROLE)

    def set_filter(self, verdict: str | None, text: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.9 and later
            self.beginFilterChange()
            self.verdict, self.text = verdict, text.strip().lower()
            self.endFilterChange()
        else:
            self.verdict, self.text = verdict, text.strip().lower()
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        model = self.sourceModel()
        if not isinstance(model, VerdictModel) or source_row >= len(model.verdicts):
            return False
        verdict = model.verdicts[source_row]
        if self.verdict is not None and verdict.verdict != self.verdict:
            return False
        haystack = f"{verdict.repository} {verdict.tag} {verdict.reason}".lower()
        return self.text in haystack

    def shown(self) -> list[TagVerdict]:
        """The rows on screen, in their on-screen order."""
        rows = (
            self.mapToSource(self.index(r, 0)).row() for r in range(self.rowCount())
        )
        model = self.sourceModel()
        assert isinstance(model, VerdictModel)
        return [model.verdicts[row] for row in rows]


# --- totals per repository ---------------------------------------------------------


class TotalsModel(ListTableModel):
    headers = TOTALS_HEADERS

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.totals: list[RepositoryTotals] = []

    def set_totals(self, totals: list[RepositoryTotals]) -> None:
        self.beginResetModel()
        self.totals = list(totals)
        self.endResetModel()

    def rows(self) -> list[Any]:
        return self.totals

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.totals):
            return None
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        totals = self.totals[index.row()]
        frees = fmt.human_size(totals.unreferenced_bytes)
        values = [
            totals.repository,
            f"{totals.tags:,}",
            f"{totals.kept:,}",
            f"{totals.deleted:,}",
            f"{totals.untagged:,}",
            frees if totals.sizes_known else f"at least {frees}",
        ]
        column = index.column()
        return values[column] if 0 <= column < len(values) else None
