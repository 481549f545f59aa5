"""The part every flat table model here shares: rows from a list, one fixed
header per column. Subclasses say which list and how a cell reads.

Also the proxy for big tables: it filters, and leaves sorting to the source
model (one key per row), since a sorting proxy calls back into Python for
every comparison."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


class ListTableModel(QAbstractTableModel):
    headers: ClassVar[Sequence[str]] = ()

    def rows(self) -> Sequence[Any]:
        raise NotImplementedError

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.rows())

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.headers)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = 0
    ) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if role == Qt.ItemDataRole.DisplayRole and horizontal:
            return self.headers[section] if 0 <= section < len(self.headers) else None
        return None


class SourceSortedProxy(QSortFilterProxyModel):
    """Filters; sorting is handed to the source model, whose order it keeps."""

    def sort(
        self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder
    ) -> None:
        source = self.sourceModel()
        if source is not None:
            source.sort(column, order)
