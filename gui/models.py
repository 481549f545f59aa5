"""Item models: the repository list and the tag table (with its sort/filter proxy).

The tag table holds a repository's tags from the moment the tag list arrives;
digests and details are merged in later, in batches, by digest. Nothing here
talks to a registry: the models only store what they are given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRegularExpression,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from core.errors import RegsweepError
from core.images import ImageDetails, ManifestHead
from gui import format as fmt
from gui.list_model import SourceSortedProxy

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
TAG_ROLE = Qt.ItemDataRole.UserRole + 2

AnyIndex = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()

_ERROR_COLOR = QColor("#b3261e")
_PENDING_COLOR = QColor("#7a7a7a")
_WORKING_COLOR = QColor("#8a5a00")
# Made once: the first QBrush costs PySide ~10 ms of type set-up, which
# otherwise landed in the first paint of a big tag list.
_ERROR_BRUSH = QBrush(_ERROR_COLOR)
_PENDING_BRUSH = QBrush(_PENDING_COLOR)
_WORKING_BRUSH = QBrush(_WORKING_COLOR)


class Column(IntEnum):
    TAG = 0
    DIGEST = 1
    KIND = 2
    PLATFORMS = 3
    SIZE = 4
    CREATED = 5
    SHARED = 6
    STATUS = 7


HEADERS = {
    Column.TAG: "Tag",
    Column.DIGEST: "Digest",
    Column.KIND: "Kind",
    Column.PLATFORMS: "Platforms",
    Column.SIZE: "Size",
    Column.CREATED: "Created",
    Column.SHARED: "Shares digest with",
    Column.STATUS: "Status",
}


class MarkKind(IntEnum):
    WORKING = 0  # an action is under way on this row (deleting)
    FAILED = 1  # the last action on it failed


@dataclass(frozen=True)
class PaintedCell:
    """The roles of one cell that painting needs."""

    text: str
    alignment: int | None
    foreground: QBrush | None


@dataclass(frozen=True)
class RowMark:
    """A note on a row left by an action, e.g. why its deletion failed."""

    kind: MarkKind
    text: str


class TagTableModel(QAbstractTableModel):
    """One repository's tags; a row per tag, in the order given."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.repository = ""
        self._tags: list[str] = []
        self._row_of: dict[str, int] = {}
        self._heads: dict[str, ManifestHead | RegsweepError] = {}
        self._details: dict[str, ImageDetails | RegsweepError] = {}
        self._tags_of: dict[str, list[str]] = {}
        self._marks: dict[str, RowMark] = {}
        self._live_digests = 0  # digests with at least one tag in the table
        self._detailed_digests = 0  # of those, with details (or their error)
        self._sort_column = Column.TAG
        self._sort_order = Qt.SortOrder.AscendingOrder
        self.sort_pending = False  # details changed the sorted column
        # tag -> its painted cells, kept until the row's data changes
        self._painted: dict[str, list[PaintedCell | None]] = {}

    # --- filling ---------------------------------------------------------------

    def set_tags(self, repository: str, tags: Sequence[str]) -> None:
        """Show a new tag list; everything known about the old one is dropped."""
        self.beginResetModel()
        self.repository = repository
        self._heads, self._details, self._tags_of, self._marks = {}, {}, {}, {}
        self._live_digests = self._detailed_digests = 0
        self._painted = {}
        self._tags = self._sorted(tags)
        self._row_of = {tag: row for row, tag in enumerate(self._tags)}
        self.endResetModel()

    def merge(
        self,
        heads: dict[str, ManifestHead | RegsweepError],
        details: dict[str, ImageDetails | RegsweepError],
    ) -> None:
        """Take in resolved tags and details by digest; repaint what changed."""
        touched: set[str] = set()
        for tag, head in heads.items():
            if tag in self._row_of:
                touched.update(self._set_head(tag, head))
        for digest, found in details.items():
            sharing = self._tags_of.get(digest, ())
            if sharing and digest not in self._details:
                self._detailed_digests += 1
            self._details[digest] = found
            touched.update(sharing)
        self._changed_rows(self._row_of[t] for t in touched if t in self._row_of)
        if touched and self._sort_column != Column.TAG:
            self.sort_pending = True

    def _set_head(self, tag: str, head: ManifestHead | RegsweepError) -> list[str]:
        """Record a tag's head; return the tags whose row shows it."""
        self._unlink(tag)
        self._heads[tag] = head
        if isinstance(head, RegsweepError):
            return [tag]
        sharing = self._tags_of.setdefault(head.digest, [])
        if not sharing:
            self._live_digests += 1
            self._detailed_digests += head.digest in self._details
        sharing.append(tag)
        return list(sharing)

    def _unlink(self, tag: str) -> None:
        """Forget which digest ``tag`` is on, keeping the counts right."""
        old = self._heads.get(tag)
        if not isinstance(old, ManifestHead):
            return
        sharing = self._tags_of.get(old.digest, [])
        if tag in sharing:
            sharing.remove(tag)
            if not sharing:
                self._live_digests -= 1
                self._detailed_digests -= old.digest in self._details

    def remove_tags(self, tags: Iterable[str]) -> None:
        """Take rows out (deleted tags), in as few removals as possible."""
        rows = sorted({self._row_of[t] for t in tags if t in self._row_of})
        digests = set()
        for first, last in reversed(_runs(rows)):
            self.beginRemoveRows(_ROOT, first, last)
            for tag in self._tags[first : last + 1]:
                head = self._heads.get(tag)
                if isinstance(head, ManifestHead):
                    digests.add(head.digest)
                self._unlink(tag)
                self._heads.pop(tag, None)
                self._marks.pop(tag, None)
            del self._tags[first : last + 1]
            self.endRemoveRows()
        if rows:
            self._row_of = {tag: row for row, tag in enumerate(self._tags)}
            left = [self._row_of[t] for d in digests for t in self._tags_of[d]]
            self._changed_rows(left, Column.SHARED, Column.SHARED)

    def set_mark(self, tags: Iterable[str], mark: RowMark | None) -> None:
        rows = []
        for tag in tags:
            if tag not in self._row_of:
                continue
            if mark is None:
                self._marks.pop(tag, None)
            else:
                self._marks[tag] = mark
            rows.append(self._row_of[tag])
        self._changed_rows(rows, Column.TAG, Column.STATUS)

    def _changed_rows(
        self,
        rows: Iterable[int],
        first: Column = Column.DIGEST,
        last: Column = Column.STATUS,
    ) -> None:
        # The tag column never changes here, so a proxy sorted by tag keeps
        # its order without re-sorting.
        changed = sorted(set(rows))
        for row in changed:
            self._painted.pop(self._tags[row], None)
        for start, end in _runs(changed):
            self.dataChanged.emit(self.index(start, first), self.index(end, last))

    # --- sorting ---------------------------------------------------------------

    def sort(
        self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder
    ) -> None:
        """Reorder the rows by a column's sort key (Python values: sizes compare
        as exact integers, dates as timestamps). Unknown values go last.

        Sorting here costs one key per row; a sorting proxy would call back
        into Python for every comparison, which is far slower on big lists."""
        if not 0 <= column < len(Column):
            return
        self._sort_column, self._sort_order = Column(column), order
        self.sort_pending = False
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        tags_at = [(self._tags[i.row()], i.column()) for i in persistent]
        self._tags = self._sorted(self._tags)
        self._row_of = {tag: row for row, tag in enumerate(self._tags)}
        moved = [self.index(self._row_of[tag], column) for tag, column in tags_at]
        self.changePersistentIndexList(persistent, moved)
        self.layoutChanged.emit()

    def resort(self) -> None:
        """Sort again by the current column (after its values changed)."""
        self.sort(self._sort_column, self._sort_order)

    def _sorted(self, tags: Sequence[str]) -> list[str]:
        descending = self._sort_order == Qt.SortOrder.DescendingOrder
        column = self._sort_column
        if column == Column.TAG:
            return sorted(tags, reverse=descending)
        key = self._sort_key_function(column)
        keyed = [(key(tag), tag) for tag in tags]
        known = sorted(
            (pair for pair in keyed if pair[0] is not None), reverse=descending
        )
        unknown = sorted(tag for key, tag in keyed if key is None)
        return [tag for _, tag in known] + unknown

    def _sort_key_function(self, column: Column) -> Callable[[str], Any]:
        """tag -> sort key; direct lookups for the columns users sort big
        tables by, the general cell view for the rest."""
        heads, details = self._heads, self._details

        def found_for(tag: str) -> ImageDetails | None:
            head = heads.get(tag)
            if not isinstance(head, ManifestHead):
                return None
            found = details.get(head.digest)
            return found if isinstance(found, ImageDetails) else None

        if column == Column.SIZE:
            return lambda tag: getattr(found_for(tag), "size", None)
        if column == Column.CREATED:
            return lambda tag: _timestamp(getattr(found_for(tag), "created", None))
        return lambda tag: _CellView(self, tag).sort_key(column)

    # --- reading ---------------------------------------------------------------

    @property
    def tags(self) -> list[str]:
        return list(self._tags)

    def tag_at(self, row: int) -> str:
        return self._tags[row]

    def head(self, tag: str) -> ManifestHead | RegsweepError | None:
        return self._heads.get(tag)

    def details_of(self, tag: str) -> ImageDetails | RegsweepError | None:
        head = self._heads.get(tag)
        return (
            self._details.get(head.digest) if isinstance(head, ManifestHead) else None
        )

    def known_heads(self) -> dict[str, ManifestHead] | None:
        """Tag -> head for every tag, or None while any tag is unresolved or
        failed (a plan must then resolve the repository itself)."""
        if len(self._heads) != len(self._tags):
            return None
        heads = {t: h for t, h in self._heads.items() if isinstance(h, ManifestHead)}
        return heads if len(heads) == len(self._tags) else None

    def resolved_count(self) -> int:
        return len(self._heads)

    def digest_count(self) -> tuple[int, int]:
        """(digests with details or a details error, digests known)."""
        return self._detailed_digests, self._live_digests

    def sharing(self, tag: str) -> list[str]:
        """Other tags on the same digest, sorted."""
        head = self._heads.get(tag)
        if not isinstance(head, ManifestHead):
            return []
        return sorted(t for t in self._tags_of.get(head.digest, ()) if t != tag)

    # --- Qt model interface ----------------------------------------------------

    def rowCount(self, parent: AnyIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._tags)

    def columnCount(self, parent: AnyIndex = _ROOT) -> int:
        return 0 if parent.isValid() else _COLUMN_COUNT

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(Column):
            if role == Qt.ItemDataRole.DisplayRole:
                return HEADERS[Column(section)]
            if role == Qt.ItemDataRole.TextAlignmentRole and section == Column.SIZE:
                return _RIGHT
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # Called for every role of every painted cell: most calls are for
        # roles this model does not serve and must return at once.
        reader = _READERS.get(role)
        if reader is None:
            return None
        row, column = index.row(), index.column()
        if not (0 <= row < len(self._tags) and 0 <= column < _COLUMN_COUNT):
            return None  # also an invalid index: row -1
        if column == Column.TAG and role in _TAG_ROLES:
            return self._tags[row]
        return reader(self, self._tags[row], column)

    def painted(self, row: int, column: int) -> PaintedCell | None:
        """What a cell shows, in one call: the roles the delegate paints
        (text, alignment, colour), as :meth:`data` gives them one by one.
        Kept per tag until the row changes, since rows are painted again and
        again (every scroll, every batch of details) while few change."""
        if not (0 <= row < len(self._tags) and 0 <= column < _COLUMN_COUNT):
            return None
        tag = self._tags[row]
        cells = self._painted.get(tag)
        if cells is None:
            if len(self._painted) >= _PAINTED_ROWS_KEPT:
                self._painted.clear()
            cells = self._painted[tag] = [None] * _COLUMN_COUNT
        cell = cells[column]
        if cell is None:
            cell = cells[column] = self._paint(tag, Column(column))
        return cell

    def _paint(self, tag: str, column: Column) -> PaintedCell:
        if column == Column.TAG and tag not in self._marks:
            return PaintedCell(tag, None, None)
        view = _CellView(self, tag)
        brush = view.foreground(column) if self._paints_colour(tag, column) else None
        return PaintedCell(view.display(column), self._alignment(tag, column), brush)

    def _paints_colour(self, tag: str, column: Column) -> bool:
        return column == Column.STATUS or tag in self._marks

    def _display(self, tag: str, column: Column) -> Any:
        return _CellView(self, tag).display(column)

    def _tooltip(self, tag: str, column: Column) -> Any:
        return _CellView(self, tag).tooltip(column)

    def _sort_key(self, tag: str, column: Column) -> Any:
        return _CellView(self, tag).sort_key(column)

    def _foreground(self, tag: str, column: Column) -> Any:
        if not self._paints_colour(tag, column):
            return None  # asked for every painted cell: answer it cheaply
        return _CellView(self, tag).foreground(column)

    def _alignment(self, tag: str, column: Column) -> Any:
        return _RIGHT if column == Column.SIZE else None

    def _tag_role(self, tag: str, column: Column) -> Any:
        return tag


_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_COLUMN_COUNT = len(Column)
_PAINTED_ROWS_KEPT = 2_000  # a few screens; the rest is worked out again
# Keyed by plain ints: Qt passes roles as ints, and int keys hash fastest.
_TAG_ROLES = frozenset({int(Qt.ItemDataRole.DisplayRole), int(TAG_ROLE)})
_READERS = {
    int(Qt.ItemDataRole.DisplayRole): TagTableModel._display,
    int(Qt.ItemDataRole.ToolTipRole): TagTableModel._tooltip,
    int(SORT_ROLE): TagTableModel._sort_key,
    int(Qt.ItemDataRole.ForegroundRole): TagTableModel._foreground,
    int(Qt.ItemDataRole.TextAlignmentRole): TagTableModel._alignment,
    int(TAG_ROLE): TagTableModel._tag_role,
}


class _CellView:
    """What one row shows, worked out on demand (nothing is cached as text)."""

    def __init__(self, model: TagTableModel, tag: str) -> None:
        self.model = model
        self.tag = tag
        self.head = model.head(tag)
        self.details = model.details_of(tag)
        self.mark = model._marks.get(tag)

    def display(self, column: Column) -> Any:
        head, details = self.head, self.details
        if column == Column.TAG:
            return self.tag
        if column == Column.STATUS:
            return self.status()
        if not isinstance(head, ManifestHead):
            return ""
        if column == Column.DIGEST:
            return fmt.short_digest(head.digest)
        if column == Column.KIND:
            return "multi-platform" if head.kind == "index" else "image"
        if column == Column.SHARED:
            return fmt.tag_list(self.model.sharing(self.tag))
        if not isinstance(details, ImageDetails):
            return ""
        if column == Column.PLATFORMS:
            return ", ".join(details.platforms)
        if column == Column.SIZE:
            return fmt.human_size(details.size)
        return fmt.local_time(details.created) if details.created_is_plausible else ""

    def status(self) -> str:
        if self.mark is not None:
            return self.mark.text
        if self.head is None:
            return "resolving…"
        if isinstance(self.head, RegsweepError):
            return f"Could not resolve: {self.head.message}"
        if self.details is None:
            return "loading details…"
        if isinstance(self.details, RegsweepError):
            return f"No details: {self.details.message}"
        return ""

    def tooltip(self, column: Column) -> Any:
        head, details = self.head, self.details
        if column == Column.STATUS:
            return self._status_tooltip()
        if not isinstance(head, ManifestHead):
            return self._status_tooltip()
        if column == Column.DIGEST:
            return head.digest
        if column == Column.SHARED:
            return ", ".join(self.model.sharing(self.tag)) or None
        if isinstance(details, ImageDetails):
            if column == Column.SIZE:
                return fmt.exact_size(details.size)
            if column == Column.CREATED and not details.created_is_plausible:
                return "No meaningful creation date (e.g. a reproducible build)."
        return None

    def _status_tooltip(self) -> str | None:
        if self.mark is not None:
            return self.mark.text
        for value in (self.head, self.details):
            if isinstance(value, RegsweepError):
                return str(value)
        return None

    def sort_key(self, column: Column) -> Any:
        head, details = self.head, self.details
        if column == Column.TAG:
            return self.tag
        if column == Column.STATUS:
            return self.status()
        if not isinstance(head, ManifestHead):
            return None
        if column == Column.DIGEST:
            return head.digest
        if column == Column.KIND:
            return head.kind
        if column == Column.SHARED:
            return len(self.model.sharing(self.tag))
        if not isinstance(details, ImageDetails):
            return None
        if column == Column.PLATFORMS:
            return ", ".join(details.platforms)
        if column == Column.SIZE:
            # A Python int: Qt compares it as a 64-bit integer.
            return details.size
        if column == Column.CREATED:
            return _timestamp(details.created)
        return None

    def foreground(self, column: Column) -> Any:
        if self.mark is not None:
            failed = self.mark.kind == MarkKind.FAILED
            return _ERROR_BRUSH if failed else _WORKING_BRUSH
        if column == Column.STATUS:
            failed = any(
                isinstance(v, RegsweepError) for v in (self.head, self.details)
            )
            return _ERROR_BRUSH if failed else _PENDING_BRUSH
        return None


def _timestamp(moment: datetime | None) -> int | None:
    """Microseconds since the epoch: an exact integer sort key."""
    return None if moment is None else int(moment.timestamp() * 1_000_000)


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted row numbers as (first, last) runs of consecutive rows."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and runs[-1][1] == row - 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


class TagFilterProxy(SourceSortedProxy):
    """Filters tags by text or pattern; sorting is left to the source model,
    whose order the proxy keeps."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterKeyColumn(Column.TAG)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    def set_filter(self, text: str, regex: bool) -> str | None:
        """Filter by plain text or a regular expression; return the error of a
        bad pattern (the filter is then left as it was)."""
        pattern = text if regex else QRegularExpression.escape(text)
        expression = QRegularExpression(
            pattern, QRegularExpression.PatternOption.CaseInsensitiveOption
        )
        if not expression.isValid():
            return expression.errorString()
        self.setFilterRegularExpression(expression)
        return None


class RepositoryListModel(QAbstractListModel):
    """Repository names, growing a page at a time as the catalog streams in."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._names: list[str] = []

    def clear(self) -> None:
        self.beginResetModel()
        self._names = []
        self.endResetModel()

    def append(self, names: Sequence[str]) -> None:
        if not names:
            return
        first = len(self._names)
        self.beginInsertRows(_ROOT, first, first + len(names) - 1)
        self._names.extend(names)
        self.endInsertRows()

    def names(self) -> list[str]:
        return list(self._names)

    def rowCount(self, parent: AnyIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._names)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._names):
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self._names[index.row()]
        return None
