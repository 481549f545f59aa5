"""The tag table's delegate, built to paint a screenful of rows without
thousands of calls from Qt into Python.

Qt's own delegate asks the model for seven roles per cell, each through the
filter proxy, which asks the source model for its row and column counts
before every lookup: about two dozen calls into Python per cell, each with
the cost of crossing from C++ and of taking Python's interpreter lock.
:class:`TagDelegate` fills a cell's style option from one call to
:meth:`TagTableModel.painted` instead.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

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
