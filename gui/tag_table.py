"""The tag table's view and delegate, built to paint a screenful of rows
without hundreds of calls from Qt into Python.

Qt's own delegate asks the model for seven roles per cell, each through the
filter proxy, which asks the source model for its row and column counts
before every lookup: about two dozen calls into Python per cell. Every such
call must take Python's interpreter lock, which the loading threads hold most
of the time, so a paint could wait for the lock thousands of times.

:class:`TagDelegate` fills a cell's style option from one call to
:meth:`TagTableModel.painted`; :class:`TagTable` enters its paint from Python,
so the lock is taken once for the whole paint rather than once per cell.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QPaintEvent, QPalette
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem, QTableView

from gui.models import TagFilterProxy, TagTableModel


class TagDelegate(QStyledItemDelegate):
    """Paints tag cells from :meth:`TagTableModel.painted`; other roles (tool
    tips, sort keys) still come from the model's ``data``."""

    def __init__(self, proxy: TagFilterProxy, model: TagTableModel) -> None:
        super().__init__(proxy)
        self._proxy = proxy
        self._model = model

    def initStyleOption(
        self,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        source = self._proxy.mapToSource(index)
        cell = self._model.painted(source.row(), source.column())
        if cell is None:
            super().initStyleOption(option, index)
            return
        option.index = QModelIndex(index)
        option.features |= QStyleOptionViewItem.ViewItemFeature.HasDisplay
        option.text = cell.text
        if cell.alignment is not None:
            option.displayAlignment = Qt.AlignmentFlag(cell.alignment)
        if cell.foreground is not None:
            palette = QPalette(option.palette)
            palette.setBrush(QPalette.ColorRole.Text, cell.foreground)
            option.palette = palette


class TagTable(QTableView):
    """The tag table view."""

    def paintEvent(self, event: QPaintEvent) -> None:
        # Entered from Python on purpose: the interpreter lock is then held
        # across Qt's painting, and the model calls nested in it need not
        # compete with the loading threads for it one by one.
        super().paintEvent(event)
