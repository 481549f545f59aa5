"""Clean-up rules for the connected profile: edit them, preview every tag's
verdict, and apply the preview.

Preview reads the registry (``core.prune.collect``) and judges it
(``core.verdicts.evaluate``) in the helper process. Apply carries out exactly
the plan on screen, after a confirmation with its counts, through
``core.prune.apply_plan`` with the journal, also in the helper: every
re-check of a manual delete applies. Editing a rule makes the preview stale,
and Apply waits for a new one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core import errors
from core.client import RegistryConfig
from core.delete import GC_NOTE, DeleteResult, Outcome
from core.journal import Journal
from core.prune import CollectProgress
from core.rules import (
    InvalidRulesError,
    Rules,
    load_profile_rules,
    save_profile_rules,
)
from core.verdicts import RulesPlan
from gui import format as fmt
from gui.crash import report_unexpected
from gui.export import export_text
from gui.prompts import Prompts
from gui.rules_model import (
    TotalsModel,
    VerdictFilter,
    VerdictModel,
    verdicts_csv,
    verdicts_json,
)
from gui.session import short_reason
from gui.tasks import HelperTask, TaskOutcome
from gui.widgets import FieldMessage, Tone

log = logging.getLogger(__name__)

VERDICTS = ["delete", "untag", "keep"]
_PATTERN_HINT = "space-separated regular expressions, e.g. "


@dataclass(frozen=True)
class RulesTarget:
    """The profile the rules belong to and how to reach its registry."""

    profile_id: str
    profile_name: str
    config: RegistryConfig
    config_directory: Path


@dataclass(frozen=True)
class ApplyReport:
    """What Apply did, item by item."""

    plan: RulesPlan
    results: list[DeleteResult]
    cancelled: bool

    def count(self, outcome: Outcome) -> int:
        return sum(r.outcome is outcome for r in self.results)


def _patterns(edit: QLineEdit) -> tuple[str, ...]:
    return tuple(edit.text().split())


class RulesForm(QWidget):
    """A field for every rule. ``rules()`` raises InvalidRulesError."""

    edited = Signal()  # any field changed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._build_fields()
        self._build_layout()
        self._connect_fields()
        self.set_rules(Rules())

    def _build_fields(self) -> None:
        self.repos_include = QLineEdit(placeholderText=_PATTERN_HINT + "^team/")
        self.repos_exclude = QLineEdit(placeholderText=_PATTERN_HINT + "^base/")
        self.keep_check = QCheckBox("Keep the newest")
        self.keep_spin = QSpinBox(minimum=0, maximum=100_000, suffix=" images")
        self.age_check = QCheckBox("Delete older than")
        self.age_edit = QLineEdit(placeholderText="e.g. 90d, 12h, 2w")
        self.tags_include = QLineEdit(placeholderText=_PATTERN_HINT + r"^\d+\.\d+")
        self.tags_exclude = QLineEdit(placeholderText=_PATTERN_HINT + "-rc")
        self.protect = QLineEdit(placeholderText=_PATTERN_HINT + "^latest$ ^stable$")
        self.undated_combo = QComboBox()
        self.undated_combo.addItem("Keep them", "keep")
        self.undated_combo.addItem("Rank the repository by tag name", "by-name")
        self.shared_combo = QComboBox()
        self.shared_combo.addItem("Keep the image and every tag", "keep")
        self.shared_combo.addItem("Remove only the deletable tags", "untag")
        self.shared_combo.setToolTip(
            "A deletable tag on the same image as a kept tag never takes the "
            "image with it. Removing the tag alone needs push rights."
        )
        self.message = FieldMessage()

    def _build_layout(self) -> None:
        keep = QHBoxLayout()
        keep.addWidget(self.keep_check)
        keep.addWidget(self.keep_spin)
        keep.addSpacing(24)
        keep.addWidget(self.age_check)
        keep.addWidget(self.age_edit)
        keep.addStretch(1)
        form = QFormLayout(self)
        form.addRow("Repositories:", self.repos_include)
        form.addRow("Except repositories:", self.repos_exclude)
        form.addRow("Rules:", keep)
        form.addRow("Only tags matching:", self.tags_include)
        form.addRow("Never tags matching:", self.tags_exclude)
        form.addRow("Protected tags:", self.protect)
        form.addRow("Images without a date:", self.undated_combo)
        form.addRow("Tags sharing a kept image:", self.shared_combo)
        form.addRow(self.message)

    def _connect_fields(self) -> None:
        for edit in self.findChildren(QLineEdit):
            edit.textEdited.connect(self._on_field_edited)
        for box in (self.keep_check, self.age_check):
            box.toggled.connect(self._on_field_edited)
        self.keep_spin.valueChanged.connect(self._on_field_edited)
        for combo in (self.undated_combo, self.shared_combo):
            combo.currentIndexChanged.connect(self._on_field_edited)

    def _on_field_edited(self, *_args: object) -> None:
        self.keep_spin.setEnabled(self.keep_check.isChecked())
        self.age_edit.setEnabled(self.age_check.isChecked())
        self.message.clear()
        self.edited.emit()

    def set_rules(self, rules: Rules) -> None:
        self.repos_include.setText(" ".join(rules.repos_include))
        self.repos_exclude.setText(" ".join(rules.repos_exclude))
        self.keep_check.setChecked(rules.keep_newest is not None)
        self.keep_spin.setValue(rules.keep_newest or 0)
        self.age_check.setChecked(rules.older_than is not None)
        self.age_edit.setText(rules.older_than or "")
        self.tags_include.setText(" ".join(rules.tags_include))
        self.tags_exclude.setText(" ".join(rules.tags_exclude))
        self.protect.setText(" ".join(rules.protect))
        self.undated_combo.setCurrentIndex(self.undated_combo.findData(rules.undated))
        self.shared_combo.setCurrentIndex(self.shared_combo.findData(rules.shared))
        self.keep_spin.setEnabled(self.keep_check.isChecked())
        self.age_edit.setEnabled(self.age_check.isChecked())

    def rules(self) -> Rules:
        """The rules as filled in; a wrong field raises and is shown."""
        try:
            return Rules(
                repos_include=_patterns(self.repos_include),
                repos_exclude=_patterns(self.repos_exclude),
                keep_newest=self.keep_spin.value()
                if self.keep_check.isChecked()
                else None,
                older_than=self.age_edit.text().strip()
                if self.age_check.isChecked()
                else None,
                tags_include=_patterns(self.tags_include),
                tags_exclude=_patterns(self.tags_exclude),
                protect=_patterns(self.protect),
                undated=self.undated_combo.currentData(),
                shared=self.shared_combo.currentData(),
            )
        except InvalidRulesError as exc:
            self.message.show_error(str(exc))
            raise


class RulesWindow(QDialog):
    """The rules of one profile, their preview, and Apply."""

    preview_finished = Signal(object)  # TaskOutcome of a preview
    apply_progressed = Signal(list)  # DeleteResults, as items complete
    apply_finished = Signal(object)  # ApplyReport, after the summary
    exported = Signal(str)  # the path an export was written to

    def __init__(self, target: RulesTarget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window)
        self.setWindowTitle(f"Clean-up rules for {target.profile_name} — Regsweep")
        self.target = target
        self.plan: RulesPlan | None = None
        self._task: HelperTask | None = None
        self._applying: list[DeleteResult] | None = None
        self.verdict_model = VerdictModel(self)
        self.proxy = VerdictFilter(self)
        self.proxy.setSourceModel(self.verdict_model)
        self.totals_model = TotalsModel(self)
        self._build_widgets()
        self._build_layout()
        self._connect_signals()
        self._load_rules()
        self._update_buttons()
        self.resize(1180, 820)

    # --- building ---------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.form = RulesForm()
        self.save_button = QPushButton("Save rules")
        self.preview_button = QPushButton("Preview")
        self.preview_button.setDefault(True)
        self.verdict_combo = QComboBox()
        self.verdict_combo.addItem("Every verdict", None)
        for verdict in VERDICTS:
            self.verdict_combo.addItem(verdict.capitalize(), verdict)
        self.filter_edit = QLineEdit(clearButtonEnabled=True)
        self.filter_edit.setPlaceholderText("Filter: repository, tag, reason…")
        self.table = self._table(self.proxy, "verdictTable")
        self.table.setSortingEnabled(True)
        self.totals_table = self._table(self.totals_model, "totalsTable")
        self.summary = QLabel(wordWrap=True)
        self.problems = FieldMessage()
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m")
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.csv_button = QPushButton("Export CSV…")
        self.json_button = QPushButton("Export JSON…")
        self.apply_button = QPushButton("Apply…")
        self.apply_button.setObjectName("destructive")
        self.close_button = QPushButton("Close")

    @staticmethod
    def _table(model: Any, name: str) -> QTableView:
        table = QTableView()
        table.setObjectName(name)
        table.setModel(model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setAlternatingRowColors(True)
        table.verticalHeader().hide()
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        # Fitting columns reads the rows on screen only; Qt's default of a
        # thousand rows took half a second of the GUI thread per preview.
        header.setResizeContentsPrecision(0)
        return table

    def _build_layout(self) -> None:
        rules_row = QHBoxLayout()
        rules_row.addStretch(1)
        rules_row.addWidget(self.save_button)
        rules_row.addWidget(self.preview_button)
        filters = QHBoxLayout()
        filters.addWidget(self.filter_edit, 1)
        filters.addWidget(self.verdict_combo)
        tables = QSplitter(Qt.Orientation.Vertical)
        tables.addWidget(self.table)
        tables.addWidget(self.totals_table)
        tables.setSizes([420, 130])
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        for button in (self.csv_button, self.json_button, self.apply_button):
            buttons.addWidget(button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        for part in (self.form, rules_row, filters, tables, self.problems):
            self._add(layout, part)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        layout.setStretchFactor(tables, 1)

    @staticmethod
    def _add(layout: QVBoxLayout, part: QWidget | QHBoxLayout) -> None:
        if isinstance(part, QHBoxLayout):
            layout.addLayout(part)
        else:
            layout.addWidget(part)

    def _connect_signals(self) -> None:
        self.form.edited.connect(self._on_form_edited)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.preview_button.clicked.connect(self._on_preview_button_clicked)
        self.verdict_combo.currentIndexChanged.connect(self._apply_filter)
        self.filter_edit.textChanged.connect(self._apply_filter)
        self.csv_button.clicked.connect(self._on_csv_button_clicked)
        self.json_button.clicked.connect(self._on_json_button_clicked)
        self.apply_button.clicked.connect(self._on_apply_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.close_button.clicked.connect(self.close)

    # --- the rules file ---------------------------------------------------------

    def _load_rules(self) -> None:
        target = self.target
        try:
            saved = load_profile_rules(target.config_directory, target.profile_id)
        except InvalidRulesError as exc:
            self.form.message.show_error(f"The saved rules were not loaded: {exc}")
            return
        if saved is not None:
            self.form.set_rules(saved)

    def _on_save_button_clicked(self) -> None:
        try:
            rules = self.form.rules()
            target = self.target
            path = save_profile_rules(target.config_directory, target.profile_id, rules)
        except InvalidRulesError:
            return
        except OSError as exc:
            Prompts.error(self, "Not saved", "The rules were not saved.", str(exc))
            return
        log.info("saved clean-up rules of %r to %s", self.target.profile_name, path)
        self.form.message.show_message(f"Saved: {rules.describe()}.", Tone.GOOD)

    def _on_form_edited(self) -> None:
        if self.plan is not None:
            self.summary.setText(
                "The rules changed since the preview: press Preview again "
                "before applying them."
            )
        self.plan = None
        self._update_buttons()

    # --- preview ----------------------------------------------------------------

    def _on_preview_button_clicked(self) -> None:
        if self._task is not None:
            return
        try:
            rules = self.form.rules()
        except InvalidRulesError:
            return
        self.preview(rules)

    def preview(self, rules: Rules) -> None:
        """Read the registry and judge every tag, in the helper process."""
        log.info("previewing clean-up rules: %s", rules.describe())
        self.plan = None
        self._start("rules-preview", {"rules": rules}, self._on_preview_finished)
        self._task_progress(self._on_preview_progressed)
        self.summary.setText("Reading the registry…")

    def _on_preview_progressed(self, steps: list[CollectProgress]) -> None:
        last = steps[-1]
        self.progress.setRange(0, max(last.total, 1))
        self.progress.setValue(last.done)
        self.summary.setText(
            f"Reading repository {last.done:,} of {last.total:,} "
            f"({fmt.count(last.tags, 'tag')} so far)…"
        )

    def _on_preview_finished(self, outcome: TaskOutcome) -> None:
        self._end_task()
        if isinstance(outcome.result, RulesPlan) and not outcome.cancelled:
            self._show_plan(outcome.result)
        elif outcome.cancelled:
            self.summary.setText("Preview cancelled. Nothing was deleted.")
        elif isinstance(outcome.error, errors.RegsweepError):
            self.summary.setText("No preview. Nothing was deleted.")
            Prompts.error(
                self, "No preview", "Nothing was deleted.", str(outcome.error)
            )
        elif outcome.error is not None:
            report_unexpected(outcome.error)
        self.preview_finished.emit(outcome)

    def _show_plan(self, plan: RulesPlan) -> None:
        self.plan = plan
        self.verdict_model.set_verdicts(list(plan.verdicts))
        self.totals_model.set_totals(list(plan.totals))
        self.table.resizeColumnsToContents()
        self.totals_table.resizeColumnsToContents()
        self.summary.setText(self._plan_summary(plan))
        if plan.problems:
            lines = [f"{repo}: {why}" for repo, why in sorted(plan.problems.items())]
            self.problems.show_warning(
                "Left out, not read completely:\n" + "\n".join(lines)
            )
        else:
            self.problems.clear()
        self._update_buttons()

    @staticmethod
    def _plan_summary(plan: RulesPlan) -> str:
        counts = {v: sum(t.verdict == v for t in plan.verdicts) for v in VERDICTS}
        deletes = sum(not item.untag_only for item in plan.items)
        return (
            f"{plan.rules.describe()}.\n"
            f"{fmt.count(len(plan.verdicts), 'tag')} in "
            f"{fmt.count(len(plan.totals), 'repository', 'repositories')}: "
            f"{counts['delete']:,} to delete ({fmt.count(deletes, 'image')}), "
            f"{counts['untag']:,} to untag, {counts['keep']:,} kept. "
            f"Frees up to {fmt.human_size(plan.unreferenced_bytes)} after garbage "
            "collection. Nothing has been sent to the registry yet."
        )

    def _apply_filter(self) -> None:
        self.proxy.set_filter(self.verdict_combo.currentData(), self.filter_edit.text())

    # --- exports ----------------------------------------------------------------

    def _on_csv_button_clicked(self) -> None:
        self._export("rules-preview.csv", verdicts_csv(self.proxy.shown()))

    def _on_json_button_clicked(self) -> None:
        self._export("rules-preview.json", verdicts_json(self.proxy.shown()))

    def _export(self, name: str, text: str) -> None:
        path = export_text(self, "Export the preview", name, text)
        if path:
            self.exported.emit(path)

    # --- apply ------------------------------------------------------------------

    def _on_apply_button_clicked(self) -> None:
        plan = self.plan
        if plan is None or not plan.items or self._task is not None:
            return
        if Prompts.confirm(
            self, "Apply clean-up rules", self._confirm_text(plan), "Apply"
        ):
            self.apply(plan)
        else:
            self.summary.setText("Not applied. Nothing was deleted.")

    def _confirm_text(self, plan: RulesPlan) -> str:
        deletes = [item for item in plan.items if not item.untag_only]
        untags = [item for item in plan.items if item.untag_only]
        repos = {item.repository for item in plan.items}
        parts = []
        if deletes:
            tags = sum(len(i.tags) for i in deletes)
            parts.append(
                f"Delete {fmt.count(len(deletes), 'image')} ({fmt.count(tags, 'tag')})"
            )
        if untags:
            removed = sum(len(i.requested_tags) for i in untags)
            parts.append(
                f"remove {fmt.count(removed, 'tag')} from "
                f"{fmt.count(len(untags), 'image')} that stay"
            )
        text = " and ".join(parts)
        return (
            f"{text[:1].upper()}{text[1:]} in "
            f"{fmt.count(len(repos), 'repository', 'repositories')} "
            f"of {self.target.profile_name}?\nEach is checked again right before "
            "it is sent; anything changed since the preview is skipped. The "
            "deletions are recorded in the history, where they can be restored "
            "until garbage collection runs."
        )

    def apply(self, plan: RulesPlan) -> None:
        """Carry out ``plan`` in the helper process, with the journal."""
        log.info("applying clean-up rules: %d item(s)", len(plan.items))
        kwargs = {
            "plan": plan,
            "profile": self.target.profile_name,
            "journal_path": str(Journal().path),
        }
        self._applying = []
        self._start("rules-apply", kwargs, self._on_apply_finished)
        self._task_progress(self._on_apply_progressed)
        self.progress.setRange(0, len(plan.items))
        self.summary.setText(f"Applying 0 of {len(plan.items)}…")

    def _on_apply_progressed(self, results: list[DeleteResult]) -> None:
        if self._applying is None:
            return
        self._applying.extend(results)
        self.verdict_model.add_results(results)
        self.progress.setValue(len(self._applying))
        self.summary.setText(
            f"Applying {len(self._applying)} of {self.progress.maximum()}…"
        )
        self.apply_progressed.emit(results)

    def _on_apply_finished(self, outcome: TaskOutcome) -> None:
        plan = self.plan
        results = outcome.result if isinstance(outcome.result, list) else self._applying
        self._applying = None
        self._end_task()
        if outcome.error is not None and not isinstance(
            outcome.error, errors.RegsweepError
        ):
            report_unexpected(outcome.error)
        if plan is None:
            return
        report = ApplyReport(plan, list(results or []), outcome.cancelled)
        self.verdict_model.add_results(report.results)
        self.plan = None  # the registry changed: preview again before applying
        self._update_buttons()
        self._tell(report, outcome.error)
        self.apply_finished.emit(report)

    def _tell(self, report: ApplyReport, error: BaseException | None) -> None:
        parts = [f"{report.count(Outcome.DELETED)} deleted"]
        parts.append(f"{report.count(Outcome.UNTAGGED)} untagged")
        bad = [
            r for r in report.results if r.outcome in (Outcome.FAILED, Outcome.SKIPPED)
        ]
        if bad:
            reasons = dict.fromkeys(short_reason(r.error) for r in bad)
            parts.append(f"{len(bad)} not done: " + "; ".join(reasons))
        cancelled = report.count(Outcome.CANCELLED)
        if cancelled:
            parts.append(f"{cancelled} not started (cancelled)")
        summary = ", ".join(parts)
        self.summary.setText(summary + ". Preview again to see the registry now.")
        details = "\n".join(
            f"{r.item.reference}: {r.outcome}: {r.message}" for r in report.results
        )
        if error is not None:
            details = f"{error}\n{details}"
        if bad or error is not None:
            Prompts.error(self, "Clean-up finished with problems", summary, details)
        else:
            Prompts.info(self, "Clean-up finished", summary, f"{details}\n\n{GC_NOTE}")

    # --- the one task -----------------------------------------------------------

    def _start(self, name: str, kwargs: dict[str, Any], done: Any) -> None:
        """Run a call of the helper process (``core.details_service``): reading
        a whole registry on threads here would hold the interpreter lock the
        windows need."""
        self._task = HelperTask(name, self.target.config, kwargs, parent=self)
        self._task.finished.connect(done)
        self._task.finished.connect(self._task.deleteLater)
        self._task.start()
        self.progress.setRange(0, 0)
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self._update_buttons()

    def _task_progress(self, slot: Any) -> None:
        if self._task is not None:
            self._task.progressed.connect(slot)

    def _end_task(self) -> None:
        self._task = None
        self.progress.hide()
        self.cancel_button.hide()
        self._update_buttons()

    def _on_cancel_button_clicked(self) -> None:
        if self._task is not None:
            self.cancel_button.setEnabled(False)
            self.summary.setText("Cancelling: requests already sent will finish…")
            self._task.cancel()

    def _update_buttons(self) -> None:
        idle = self._task is None
        has_plan = self.plan is not None
        self.preview_button.setEnabled(idle)
        self.save_button.setEnabled(idle)
        self.form.setEnabled(idle)
        self.apply_button.setEnabled(
            idle and has_plan and bool(self.plan and self.plan.items)
        )
        for button in (self.csv_button, self.json_button):
            button.setEnabled(self.verdict_model.rowCount() > 0)

    def closeEvent(self, event: Any) -> None:
        if self._task is not None:
            self._task.cancel()
        super().closeEvent(event)
