"""The preview shown before anything is deleted: every digest, every tag on it,
the tags the user did not pick marked as "also removed", and the platforms a
multi-platform image covers. Where a digest has such tags, a tick removes only
the selected tags instead (``PlanItem.untag_only``). Nothing is sent until
"Delete" is pressed."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.plan import DeletionPlan, PlanItem
from gui import format as fmt
from gui.widgets import FieldMessage, Tone

_ALSO_COLOR = QColor("#a4410e")
HEADERS = ["Digest", "Kind", "Selected tags", "Also removed", "Platforms"]
UNTAG_COLUMN = len(HEADERS)  # the per-digest "remove only the selected tags" tick
UNTAG_HEADER = "Instead"
UNTAG_TEXT = "Remove only the selected tags"


class DeletePreviewDialog(QDialog):
    """Shows a plan; accepted means the user confirmed the deletion."""

    def __init__(
        self, plan: DeletionPlan, host: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.plan = plan
        self.host = host
        self.setWindowTitle("Delete images?")
        self.setModal(True)
        self._build_widgets()
        self._build_layout()
        self._fill()

    def _build_widgets(self) -> None:
        self.heading = QLabel(wordWrap=True)
        self.heading.setObjectName("dialogHeading")
        self.also_warning = FieldMessage()
        self.index_note = FieldMessage()
        self.untag_note = FieldMessage()
        self.warnings = FieldMessage()
        self.problems = FieldMessage()
        self.tree = QTreeWidget()
        self.tree.setObjectName("planTree")
        self.tree.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.tree.setHeaderLabels([*HEADERS, UNTAG_HEADER])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.NoSelection)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.footer = QLabel("Nothing has been sent to the registry yet.")
        self.footer.setObjectName("hint")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        count = len(self.plan.items)
        self.delete_button = self.buttons.addButton(
            f"Delete {fmt.count(count, 'image')}",
            QDialogButtonBox.ButtonRole.AcceptRole,
        )
        self.delete_button.setObjectName("destructive")
        self.delete_button.setEnabled(count > 0)
        self.delete_button.setAutoDefault(False)
        cancel = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        cancel.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

    def _build_layout(self) -> None:
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.problems)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.warnings)
        layout.addWidget(self.also_warning)
        layout.addWidget(self.untag_note)
        layout.addWidget(self.index_note)
        layout.addWidget(self.footer)
        layout.addWidget(self.buttons)
        rows = min(len(self.plan.items), 12)
        self.resize(860, 250 + 30 * rows)

    def _fill(self) -> None:
        plan = self.plan
        self.heading.setText(self._heading_text())
        for item in plan.items:
            self.tree.addTopLevelItem(self._row(item))
        for column in range(len(HEADERS)):
            self.tree.resizeColumnToContents(column)
            width = self.tree.columnWidth(column)
            self.tree.setColumnWidth(column, min(width + 24, 320))
        self._show_notes()
        self.tree.itemChanged.connect(self._on_tree_item_changed)

    def _row(self, item: PlanItem) -> QTreeWidgetItem:
        selected = [t for t in item.tags if t not in item.also_removed]
        row = QTreeWidgetItem(
            [
                fmt.short_digest(item.digest),
                "multi-platform" if item.kind == "index" else "image",
                ", ".join(selected) or "(by digest)",
                ", ".join(item.also_removed),
                ", ".join(item.platforms),
            ]
        )
        row.setToolTip(0, item.digest)
        # The row's height, set on the one column not sized to its contents.
        row.setSizeHint(UNTAG_COLUMN, QSize(0, 26))
        row.setData(0, Qt.ItemDataRole.UserRole, item.digest)
        if item.also_removed:
            bold = QFont(row.font(3))
            bold.setBold(True)
            row.setFont(3, bold)
            row.setForeground(3, QBrush(_ALSO_COLOR))
            row.setToolTip(3, "Not selected, but on the same digest: removed too.")
            row.setCheckState(UNTAG_COLUMN, Qt.CheckState.Unchecked)
            row.setText(UNTAG_COLUMN, UNTAG_TEXT)
            row.setToolTip(
                UNTAG_COLUMN,
                f"Keep the image and {', '.join(item.also_removed)}; remove only "
                "the selected tags. Needs push rights as well as delete rights.",
            )
        if item.warnings:
            row.setForeground(0, QBrush(_ALSO_COLOR))
            row.setToolTip(0, f"{item.digest}\n" + "\n".join(item.warnings))
        return row

    def _action_text(self) -> str:
        """ "Delete 2 images", "Delete 1 image, untag 1", "Untag 1 image"."""
        untag = sum(item.untag_only for item in self.plan.items)
        delete = len(self.plan.items) - untag
        if not untag:
            return f"Delete {fmt.count(delete, 'image')}"
        if not delete:
            return f"Untag {fmt.count(untag, 'image')}"
        return f"Delete {fmt.count(delete, 'image')}, untag {untag}"

    def _heading_text(self) -> str:
        items = self.plan.items
        repository = items[0].repository if items else ""
        gone = sum(
            len(i.requested_tags) if i.untag_only else len(i.tags) for i in items
        )
        text = (
            f"<b>{self._action_text()} from {self.host}/{repository}?</b><br>"
            f"{fmt.count(gone, 'tag')} will disappear. A digest is deleted with "
            "every tag that points at it"
        )
        if any(item.untag_only for item in items):
            text += "; an untagged image keeps its other tags"
        return text + "."

    # --- remove only the selected tags ------------------------------------------

    def _on_tree_item_changed(self, row: QTreeWidgetItem, column: int) -> None:
        if column != UNTAG_COLUMN:
            return
        digest = row.data(0, Qt.ItemDataRole.UserRole)
        checked = row.checkState(UNTAG_COLUMN) == Qt.CheckState.Checked
        self.set_untag_only(digest, checked)

    def set_untag_only(self, digest: str, untag_only: bool) -> None:
        """Remove only the selected tags of ``digest`` (True), or the image."""
        self.plan.items = [
            replace(item, untag_only=untag_only) if item.digest == digest else item
            for item in self.plan.items
        ]
        self._update_summary()

    def _update_summary(self) -> None:
        self.delete_button.setText(self._action_text())
        self.heading.setText(self._heading_text())
        for index in range(self.tree.topLevelItemCount()):
            self._show_choice(self.tree.topLevelItem(index))
        self.tree.resizeColumnToContents(3)
        self._show_also_removed()
        if any(item.untag_only for item in self.plan.items):
            self.untag_note.show_message(
                "Removing only the selected tags needs push rights as well as "
                "delete rights: each tag is pointed at a small throwaway image, "
                "which is then deleted. The other tags keep the image.",
                Tone.INFO,
            )
        else:
            self.untag_note.clear()

    def _show_choice(self, row: QTreeWidgetItem) -> None:
        """The "Also removed" cell of a row, as the tick says."""
        digest = row.data(0, Qt.ItemDataRole.UserRole)
        item = next(i for i in self.plan.items if i.digest == digest)
        others = [t for t in item.tags if t not in item.requested]
        if not others or item.digest in item.requested:
            return
        kept = item.untag_only
        row.setText(3, f"kept: {', '.join(others)}" if kept else ", ".join(others))
        font = QFont(row.font(3))
        font.setBold(not kept)
        row.setFont(3, font)
        row.setForeground(3, QBrush() if kept else QBrush(_ALSO_COLOR))

    def _show_also_removed(self) -> None:
        also = sorted({t for item in self.plan.items for t in item.also_removed})
        if also:
            self.also_warning.show_warning(
                f"Also removed, although not selected: {', '.join(also)}. "
                "They point at the same images as tags you selected. Tick "
                f'"{UNTAG_TEXT}" to keep them.'
            )
        else:
            self.also_warning.clear()

    def _show_notes(self) -> None:
        self._show_also_removed()
        warnings = [w for item in self.plan.items for w in item.warnings]
        if warnings:
            self.warnings.show_warning("\n".join(dict.fromkeys(warnings)))
        if any(item.kind == "index" for item in self.plan.items):
            self.index_note.show_message(
                "A multi-platform image is deleted as a whole; its platform "
                "images stay, untagged, until garbage collection.",
                Tone.INFO,
            )
        if self.plan.problems:
            lines = [f"{p.reference}: {p.error}" for p in self.plan.problems]
            self.problems.show_error("Cannot be deleted:\n" + "\n".join(lines))

    # --- for the window and tests -----------------------------------------------

    def digests(self) -> list[str]:
        return [
            self.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole)
            for i in range(self.tree.topLevelItemCount())
        ]

    def row_texts(self) -> list[list[str]]:
        """What each row says, column by column."""
        return [
            [self.tree.topLevelItem(i).text(c) for c in range(len(HEADERS))]
            for i in range(self.tree.topLevelItemCount())
        ]
