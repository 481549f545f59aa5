"""From "Delete" pressed to the summary: plan, preview, confirm, run, report.

The plan is worked out on a worker and shown before anything is sent. While
the deletion runs, the status bar counts "n of N", rows of deleted tags leave
the table as each digest is done, and failures stay marked with their reason.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from core import errors
from core.delete import GC_NOTE, DeleteResult, Outcome
from core.plan import DeletionPlan
from gui.crash import report_unexpected
from gui.delete_dialog import DeletePreviewDialog
from gui.models import MarkKind, RowMark, TagTableModel
from gui.prompts import Prompts
from gui.session import DeletionReport, RegistrySession
from gui.status import StatusBar

log = logging.getLogger(__name__)


class DeletionFlow(QObject):
    """Drives one deletion at a time for the window."""

    preview_opened = Signal(object)  # the DeletePreviewDialog now on screen
    deletion_started = Signal(object)  # the DeletionPlan being carried out
    deletion_finished = Signal(object)  # DeletionReport, after the summary

    def __init__(
        self, window: QWidget, model: TagTableModel, status: StatusBar
    ) -> None:
        super().__init__(window)
        self.window = window
        self.model = model
        self.status = status
        self.session: RegistrySession | None = None
        self.preview: DeletePreviewDialog | None = None
        status.cancel_clicked.connect(self._on_status_cancel_clicked)

    def attach(self, session: RegistrySession | None) -> None:
        self.session = session
        if session is None:
            return
        session.plan_ready.connect(self._on_session_plan_ready)
        session.plan_failed.connect(self._on_session_plan_failed)
        session.deletion_progressed.connect(self._on_session_deletion_progressed)
        session.deletion_finished.connect(self._on_session_deletion_finished)

    @property
    def busy(self) -> bool:
        return self.session is not None and self.session.deleting

    def request(self, tags: list[str]) -> None:
        """The user pressed Delete on these tags: work out the preview."""
        if self.session is None or not tags:
            return
        if self.busy:
            self.status.say("A deletion is already running.")
            return
        self.status.say(f"Preparing the preview for {len(tags)} tag(s)…", 0)
        self.session.plan_deletion(tags, self.model.known_heads())

    # --- preview -----------------------------------------------------------------

    def _on_session_plan_failed(self, error: BaseException) -> None:
        self.status.clearMessage()
        if not isinstance(error, errors.RegsweepError):
            report_unexpected(error)
            return
        Prompts.error(self.window, "No preview", "Nothing was deleted.", str(error))

    def _on_session_plan_ready(self, plan: DeletionPlan) -> None:
        self.status.clearMessage()
        if not plan.items:
            problems = "\n".join(f"{p.reference}: {p.error}" for p in plan.problems)
            Prompts.error(
                self.window, "Nothing to delete", "Nothing was deleted.", problems
            )
            return
        host = self.session.host if self.session else ""
        self.preview = DeletePreviewDialog(plan, host, self.window)
        self.preview.accepted.connect(self._on_preview_accepted)
        self.preview.rejected.connect(self._on_preview_rejected)
        self.preview.open()
        self.preview_opened.emit(self.preview)

    def _on_preview_rejected(self) -> None:
        self.status.say("Nothing was deleted.")
        self._drop_preview()

    def _on_preview_accepted(self) -> None:
        plan = self.preview.plan if self.preview else None
        self._drop_preview()
        if plan is None or self.session is None:
            return
        for item in plan.items:
            self.model.set_mark(item.tags, RowMark(MarkKind.WORKING, "Deleting…"))
        self.status.start_progress(len(plan.items))
        # run_plan first re-reads the repository's tags, so nothing changed
        # since the preview is deleted; say so until the first result.
        self.status.say("Checking nothing changed since the preview…", 0)
        self.session.delete(plan)
        self.deletion_started.emit(plan)

    def _drop_preview(self) -> None:
        if self.preview is not None:
            self.preview.deleteLater()
            self.preview = None

    # --- running -----------------------------------------------------------------

    def _on_status_cancel_clicked(self) -> None:
        if self.session is not None and self.session.deleting:
            self.status.cancel_button.setEnabled(False)
            self.status.say("Cancelling: deletions already sent will finish…", 0)
            self.session.cancel_deletion()

    def _on_session_deletion_progressed(self, results: list[DeleteResult]) -> None:
        gone: list[str] = []  # removed in one go: each removal re-indexes the rows
        for result in results:
            gone += self._show_result(result)
        self.model.remove_tags(gone)
        self.status.advance(len(results))
        done, total = self.status.progress.value(), self.status.progress.maximum()
        if self.status.cancel_button.isEnabled():
            self.status.say(f"Deleting {done} of {total}…", 0)

    def _show_result(self, result: DeleteResult) -> tuple[str, ...]:
        """Mark the result's rows; return the tags whose rows go."""
        item = result.item
        if item.repository != self.model.repository:
            return ()
        if result.outcome is Outcome.DELETED:
            return item.tags
        if result.outcome is Outcome.UNTAGGED:
            self.model.set_mark(item.tags, None)
            return item.requested_tags
        if result.outcome is Outcome.CANCELLED:
            self.model.set_mark(item.tags, None)
        else:
            text = f"Not deleted: {result.message}"
            self.model.set_mark(item.tags, RowMark(MarkKind.FAILED, text))
        return ()

    def _on_session_deletion_finished(self, report: DeletionReport) -> None:
        self.status.end_progress()
        summary = report.summary()
        self.status.say(summary, 0)
        if report.done:
            Prompts.info(self.window, "Deletion finished", summary, GC_NOTE)
        elif report.failed or report.plan.problems:
            Prompts.error(self.window, "Nothing was deleted", summary, _reasons(report))
        else:
            Prompts.info(self.window, "Deletion cancelled", summary)
        self.deletion_finished.emit(report)


def _reasons(report: DeletionReport) -> str:
    errors_seen = [r.error for r in report.failed] + [
        p.error for p in report.plan.problems
    ]
    return "\n".join(dict.fromkeys(str(e) for e in errors_seen if e is not None))
