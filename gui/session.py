"""One connected registry, as the window sees it.

The session owns the client and every piece of background work for it: the
catalog stream, the tag list and details of the open repository, the plan and
the deletion. Widgets never call the registry; they call the session and
listen to its signals, which all arrive on the GUI thread (see gui.tasks).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from core import errors
from core.client import RegistryClient, RegistryConfig
from core.delete import DeleteResult, Outcome, SkippedError
from core.dockerconfig import read_docker_logins
from core.images import ManifestHead
from core.journal import Journal
from core.plan import DeletionPlan, build_plan
from core.probe import check_connection
from core.reference import ImageRef, check_name
from gui.tasks import (
    DetailsBatch,
    DetailsLoader,
    HelperTask,
    Report,
    Task,
    TaskOutcome,
    Work,
    start_details_helper,
)

log = logging.getLogger(__name__)

_DELETE_WORKERS = 4


@dataclass(frozen=True)
class CatalogDone:
    """The catalog stream ended: how many names, or why it stopped."""

    count: int
    error: errors.RegsweepError | None = None


@dataclass(frozen=True)
class TagList:
    repository: str
    tags: list[str]


@dataclass(frozen=True)
class RepositoryFailure:
    repository: str
    error: errors.RegsweepError


@dataclass(frozen=True)
class DeletionReport:
    """What a finished (or cancelled) deletion did, item by item."""

    plan: DeletionPlan
    results: list[DeleteResult] = field(default_factory=list)
    cancelled: bool = False

    def count(self, outcome: Outcome) -> int:
        return sum(r.outcome is outcome for r in self.results)

    @property
    def done(self) -> int:
        """Items the registry confirmed: deleted, or untagged."""
        return sum(r.done for r in self.results)

    @property
    def failed(self) -> list[DeleteResult]:
        """Items that were tried and not deleted (failed or skipped)."""
        return [
            r for r in self.results if r.outcome in (Outcome.FAILED, Outcome.SKIPPED)
        ]

    def summary(self) -> str:
        """A line such as: 8 deleted, 2 failed: deletion disabled on this registry"""
        parts = [f"{self.count(Outcome.DELETED)} deleted"]
        untagged = self.count(Outcome.UNTAGGED)
        if untagged:
            parts.append(f"{untagged} untagged")
        reasons = Counter(short_reason(r.error) for r in self.failed)
        reasons.update(short_reason(p.error) for p in self.plan.problems)
        if reasons:
            failed = sum(reasons.values())
            parts.append(f"{failed} failed: " + "; ".join(reasons))
        cancelled = self.count(Outcome.CANCELLED)
        if cancelled:
            parts.append(f"{cancelled} not started (cancelled)")
        return ", ".join(parts)


def _unknown(
    plan: DeletionPlan, results: list[DeleteResult], error: BaseException
) -> list[DeleteResult]:
    """Failed results for the items a broken deletion said nothing about:
    they may or may not have been sent, so they are not called deleted."""
    answered = {(r.item.repository, r.item.digest) for r in results}
    cause = error.message if isinstance(error, errors.RegsweepError) else "an error"
    why = errors.RegsweepError(
        f"The deletion stopped ({cause}) before this image's result was known.",
        "Open History to see whether it was deleted, then refresh.",
    )
    return [
        DeleteResult(item, Outcome.FAILED, str(why), why)
        for item in plan.items
        if (item.repository, item.digest) not in answered
    ]


def short_reason(error: errors.RegsweepError | None) -> str:
    """A failure in a few words, the same for every item it hit."""
    if isinstance(error, errors.DeletionDisabledError):
        return "deletion disabled on this registry"
    if isinstance(error, errors.PermissionDeniedError):
        return "this login may not delete"
    if isinstance(error, SkippedError):
        return "the registry changed since the preview"
    if isinstance(error, errors.ManifestNotFoundError):
        return "already gone"
    if isinstance(error, errors.TransportError):
        return "the registry could not be reached"
    return error.message if error is not None else "unknown error"


class RegistrySession(QObject):
    """The client for one profile and the background work that uses it."""

    catalog_page_loaded = Signal(list)  # repository names of one catalog page
    catalog_finished = Signal(object)  # CatalogDone
    tags_loaded = Signal(object)  # TagList: the open repository's tags
    tags_failed = Signal(object)  # RepositoryFailure
    details_arrived = Signal(object)  # DetailsBatch for the open repository
    details_finished = Signal()  # every tag of the open repository is loaded
    plan_ready = Signal(object)  # DeletionPlan, nothing sent yet
    plan_failed = Signal(object)  # the exception that stopped planning
    deletion_progressed = Signal(list)  # DeleteResults, as items complete
    deletion_finished = Signal(object)  # DeletionReport
    unexpected_error = Signal(object)  # an exception no one expected

    # Details load in the helper process; True loads them on threads here,
    # to compare the two (bench/gui_bench.py; HelperTask.in_process likewise).
    details_in_process = False

    def __init__(
        self,
        config: RegistryConfig,
        profile_name: str = "",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.client = RegistryClient(config)
        self.profile_name = profile_name
        self.repository: str | None = None
        self._catalog: Task | None = None
        self._tags: Task | None = None
        self._loader: DetailsLoader | None = None
        self._plan: Task | None = None
        self._delete: HelperTask | None = None
        self._deleting: DeletionPlan | None = None
        self._delete_results: list[DeleteResult] = []
        start_details_helper()  # ready before the first repository is opened

    @property
    def host(self) -> str:
        return self.client.host

    # --- catalog ---------------------------------------------------------------

    def load_catalog(self) -> None:
        if self._catalog is not None:
            self._catalog.cancel()

        def work(cancel: threading.Event, report: Report) -> int:
            total = 0
            for page in self.client.iter_catalog(cancel=cancel):
                report(page)
                total += len(page)
            return total

        self._catalog = self._task("catalog", work, self._on_catalog_finished)
        self._catalog.progressed.connect(self._on_catalog_progressed)
        self._catalog.start()

    def _on_catalog_progressed(self, pages: list[list[str]]) -> None:
        self.catalog_page_loaded.emit([name for page in pages for name in page])

    def _on_catalog_finished(self, task: Task, outcome: TaskOutcome) -> None:
        if outcome.cancelled or task is not self._catalog:
            return
        if self._is_unexpected(outcome):
            return
        error = (
            outcome.error if isinstance(outcome.error, errors.RegsweepError) else None
        )
        self.catalog_finished.emit(CatalogDone(outcome.result or 0, error))

    # --- one repository --------------------------------------------------------

    def open_repository(self, repository: str) -> None:
        """Show ``repository``; work for the previous one is cancelled."""
        check_name(repository)
        self._stop_repository_work()
        self.repository = repository
        log.info("opening repository %s", repository)

        def work(cancel: threading.Event, report: Report) -> TagList:
            return TagList(repository, self.client.tags(repository, cancel))

        self._tags = self._task("tags", work, self._on_tags_finished)
        self._tags.start()

    def _on_tags_finished(self, task: Task, outcome: TaskOutcome) -> None:
        if outcome.cancelled or task is not self._tags:
            return
        if self._is_unexpected(outcome):
            return
        if outcome.error is not None:
            assert isinstance(outcome.error, errors.RegsweepError)
            self.tags_failed.emit(
                RepositoryFailure(self.repository or "", outcome.error)
            )
            return
        found: TagList = outcome.result
        if found.repository != self.repository:
            return
        self.tags_loaded.emit(found)
        # Queued behind the repaint the new rows asked for: the first paint
        # then has the CPU before the helper's burst of requests starts.
        QTimer.singleShot(0, self, partial(self._start_details, task, found))

    def _start_details(self, task: Task, found: TagList) -> None:
        if task is not self._tags:
            return  # another repository was opened meanwhile
        loader = DetailsLoader(
            self.client,
            found.repository,
            found.tags,
            parent=self,
            in_process=self.details_in_process,
        )
        loader.batch_ready.connect(partial(self._on_loader_batch_ready, loader))
        loader.finished.connect(partial(self._on_loader_finished, loader))
        self._loader = loader
        loader.start()

    def _on_loader_batch_ready(
        self, loader: DetailsLoader, batch: DetailsBatch
    ) -> None:
        if loader is self._loader:
            self.details_arrived.emit(batch)

    def _on_loader_finished(self, loader: DetailsLoader) -> None:
        if loader is self._loader and not loader.cancel_event.is_set():
            self.details_finished.emit()
        loader.deleteLater()

    def prioritize(self, tags: Sequence[str]) -> None:
        """Load these tags next: they are on screen."""
        if self._loader is not None:
            self._loader.prioritize(tags)

    @property
    def loading_details(self) -> bool:
        return self._loader is not None and self._loader.active

    def _stop_repository_work(self) -> None:
        for task in (self._tags, self._plan):
            if task is not None:
                task.cancel()
        if self._loader is not None:
            self._loader.cancel()
        self._tags = self._plan = self._loader = None

    # --- deleting --------------------------------------------------------------

    def plan_deletion(
        self, tags: Sequence[str], known: dict[str, ManifestHead] | None
    ) -> None:
        """Work out what deleting ``tags`` removes; ``known`` (every tag's head)
        spares the registry the requests when the table has it all."""
        repository = self.repository or ""
        refs = [ImageRef(repository, tag=tag) for tag in tags]
        known_map = {repository: known} if known is not None else None
        log.info("planning deletion of %d tag(s) in %s", len(refs), repository)

        def work(cancel: threading.Event, report: Report) -> DeletionPlan:
            return build_plan(self.client, refs, cancel=cancel, known=known_map)

        self._plan = self._task("plan", work, self._on_plan_finished)
        self._plan.start()

    def _on_plan_finished(self, task: Task, outcome: TaskOutcome) -> None:
        if outcome.cancelled or task is not self._plan:
            return
        if self._is_unexpected(outcome):
            return
        if outcome.error is not None:
            self.plan_failed.emit(outcome.error)
        else:
            self.plan_ready.emit(outcome.result)

    def delete(self, plan: DeletionPlan) -> None:
        """Carry out a plan the user confirmed."""
        log.info("deleting %d digest(s) in %s", len(plan.items), self.repository)
        self._deleting = plan
        self._delete_results = []
        kwargs = {
            "items": list(plan.items),
            "workers": _DELETE_WORKERS,
            "profile": self.profile_name,
            "journal_path": str(Journal().path),
        }
        task = HelperTask("delete", self.client.config, kwargs, self)
        self._delete = self._watch(task, self._on_delete_finished)
        task.progressed.connect(self._on_delete_progressed)
        task.start()

    def _on_delete_progressed(self, results: list[DeleteResult]) -> None:
        self._delete_results.extend(results)
        self.deletion_progressed.emit(results)

    def cancel_deletion(self) -> None:
        if self._delete is not None:
            log.info("deletion cancelled by the user")
            self._delete.cancel()

    @property
    def deleting(self) -> bool:
        return self._delete is not None and self._delete.running

    def _on_delete_finished(self, task: HelperTask, outcome: TaskOutcome) -> None:
        plan = self._deleting or DeletionPlan()
        self._deleting = None
        self._is_unexpected(outcome)
        results = list(outcome.result or self._delete_results)
        if outcome.error is not None:
            unknown = _unknown(plan, results, outcome.error)
            if unknown:
                self.deletion_progressed.emit(unknown)  # their rows say so too
            results += unknown
        report = DeletionReport(plan, results, task.cancel_event.is_set())
        log.info("deletion finished: %s", report.summary())
        self.deletion_finished.emit(report)

    # --- plumbing --------------------------------------------------------------

    def _task(
        self, name: str, work: Work, done: Callable[[Task, TaskOutcome], None]
    ) -> Task:
        return self._watch(Task(name, work, parent=self), done)

    @staticmethod
    def _watch(task: Any, done: Callable[[Any, TaskOutcome], None]) -> Any:
        """``done(task, outcome)`` when ``task`` (a Task or HelperTask)
        finishes; then it is deleted."""
        task.finished.connect(partial(done, task))
        task.finished.connect(task.deleteLater)
        return task

    def _is_unexpected(self, outcome: TaskOutcome) -> bool:
        if outcome.error is None or isinstance(outcome.error, errors.RegsweepError):
            return False
        self.unexpected_error.emit(outcome.error)
        return True

    def close(self) -> None:
        """Stop everything; workers finish their current request and exit."""
        for task in (self._catalog, self._delete):
            if task is not None:
                task.cancel()
        self._stop_repository_work()
        self.client.close()


# --- one-off jobs for dialogs ----------------------------------------------------


def connection_test(config: RegistryConfig, parent: QObject) -> Task:
    """A task that checks a profile: reachable, API, login, catalog, deletion.
    Its result is a ``core.probe.ConnectionReport``."""

    def work(cancel: threading.Event, report: Report) -> object:
        with RegistryClient(config) as client:
            return check_connection(client, cancel=cancel)

    return Task("connection-test", work, parent=parent)


def docker_logins(parent: QObject) -> Task:
    """A task reading ~/.docker/config.json (helpers may take a moment)."""

    def work(cancel: threading.Event, report: Report) -> object:
        return read_docker_logins()

    return Task("docker-logins", work, parent=parent)
