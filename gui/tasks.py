"""The one bridge between worker threads and the GUI thread.

Workers never touch a widget or a model. They put results into an outbox; a
queued signal wakes the GUI thread, which drains the outbox at most every
``interval_ms`` and emits the public signals. So every public signal here is
emitted on the GUI thread, a flood of small results arrives as a few batches,
and a slow GUI thread simply gets bigger batches.

- :class:`Task`: one function on a worker thread, with a cancel event, optional
  partial results (``progressed``) and a ``finished`` signal emitted in every
  case, so buttons always come back.
- :class:`DetailsLoader`: resolves a repository's tags and loads details by
  digest on a small pool, the tags the user can see first.
- :class:`GuiThreadCollector`: keeps garbage collection on the GUI thread.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from core import errors
from core.client import RegistryClient
from core.images import ImageDetails, ManifestHead

log = logging.getLogger(__name__)

Report = Callable[[Any], None]
Work = Callable[[threading.Event, Report], Any]

_DETAILS_WORKERS = 8


class _Outbox(QObject):
    """The only object worker threads touch: a thread-safe list drained on the
    GUI thread, at most every interval, and an end marker.

    It keeps itself alive until its worker has ended, so an owner (a Task, a
    DetailsLoader) may be deleted while work is still in flight; Qt then simply
    drops the connections to it. Its parent is the application, so only Qt,
    on the GUI thread, ever deletes it: never a garbage collection that
    happens to run on a worker thread."""

    drained = Signal(list)  # everything put since the last drain, in order
    closed = Signal(object)  # the value passed to end(), after the last drain
    _woken = Signal()
    _ended = Signal(object)
    _alive: set[_Outbox] = set()

    def __init__(self, interval_ms: int) -> None:
        super().__init__(QCoreApplication.instance())
        self._items: list[Any] = []
        self._lock = threading.Lock()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.drain)
        self._woken.connect(self._on_self_woken)
        self._ended.connect(self._on_self_ended)
        _Outbox._alive.add(self)

    def put(self, item: Any) -> None:
        """From any thread."""
        with self._lock:
            self._items.append(item)
            first = len(self._items) == 1
        if first:
            self._woken.emit()

    def end(self, value: Any = None) -> None:
        """From the worker, once, as the last thing it does."""
        self._ended.emit(value)

    def drain(self) -> None:
        """On the GUI thread: emit what has arrived."""
        with self._lock:
            items, self._items = self._items, []
        if items:
            self.drained.emit(items)

    def _on_self_woken(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def _on_self_ended(self, value: Any) -> None:
        self._timer.stop()
        self.drain()
        self.closed.emit(value)
        _Outbox._alive.discard(self)
        self.deleteLater()


@dataclass(frozen=True)
class TaskOutcome:
    """How a task ended: a result, an error, or cancelled."""

    result: Any = None
    error: BaseException | None = None
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.cancelled


def _run_work(work: Work, cancel: threading.Event, outbox: _Outbox) -> None:
    """A task's thread: run, and always hand the outcome to the GUI thread."""
    outcome = TaskOutcome(cancelled=True)
    try:
        result = work(cancel, outbox.put)
        outcome = TaskOutcome(result=result, cancelled=cancel.is_set())
    except errors.CancelledError:
        outcome = TaskOutcome(cancelled=True)
    except BaseException as exc:  # handed to the GUI thread, which reports it
        outcome = TaskOutcome(error=exc, cancelled=cancel.is_set())
    finally:
        outbox.end(outcome)


class Task(QObject):
    """Runs ``work(cancel, report)`` on its own daemon thread.

    ``report(x)`` may be called from the worker for partial results."""

    progressed = Signal(list)  # partial results reported since the last batch
    finished = Signal(object)  # TaskOutcome, always emitted exactly once

    def __init__(
        self,
        name: str,
        work: Work,
        parent: QObject | None = None,
        interval_ms: int = 50,
    ) -> None:
        super().__init__(parent)
        self.name = name
        self.cancel_event = threading.Event()
        self._work = work
        self._outbox = _Outbox(interval_ms)
        self._outbox.drained.connect(self.progressed)
        self._outbox.closed.connect(self._on_outbox_closed)
        self.running = False

    def start(self) -> None:
        self.running = True
        threading.Thread(
            target=_run_work,
            args=(self._work, self.cancel_event, self._outbox),
            name=self.name,
            daemon=True,
        ).start()

    def cancel(self) -> None:
        self.cancel_event.set()

    def _on_outbox_closed(self, outcome: TaskOutcome) -> None:
        self.running = False
        self.finished.emit(outcome)


# --- details -------------------------------------------------------------------


@dataclass
class DetailsBatch:
    """Results that arrived together: tag -> head, digest -> details."""

    heads: dict[str, ManifestHead | errors.RegsweepError] = field(default_factory=dict)
    details: dict[str, ImageDetails | errors.RegsweepError] = field(
        default_factory=dict
    )


class _TagQueue:
    """Tags still to resolve: urgent ones (visible rows) before the rest."""

    def __init__(self, tags: Iterable[str]) -> None:
        self._rest = deque(tags)
        self._urgent: deque[str] = deque()
        self._taken: set[str] = set()
        self._lock = threading.Lock()

    def prioritize(self, tags: Iterable[str]) -> None:
        with self._lock:
            fresh = [t for t in tags if t not in self._taken]
            self._urgent = deque(fresh)

    def take(self) -> str | None:
        with self._lock:
            for queue in (self._urgent, self._rest):
                while queue:
                    tag = queue.popleft()
                    if tag not in self._taken:
                        self._taken.add(tag)
                        return tag
            return None


class _DetailsWork:
    """What the details threads share; plain Python, no Qt."""

    def __init__(
        self,
        client: RegistryClient,
        repository: str,
        queue: _TagQueue,
        outbox: _Outbox,
        workers: int,
    ) -> None:
        self.client = client
        self.repository = repository
        self.queue = queue
        self.outbox = outbox
        self.cancel = threading.Event()
        self._claimed: set[str] = set()
        self._lock = threading.Lock()
        self._running = workers

    def run(self) -> None:
        """One worker: take tags until none are left or work is cancelled."""
        try:
            while not self.cancel.is_set():
                tag = self.queue.take()
                if tag is None:
                    break
                self._load(tag)
        except errors.CancelledError:
            pass
        except BaseException:
            log.exception("details worker failed")
        finally:
            self._worker_ended()

    def _worker_ended(self) -> None:
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:
            self.outbox.end()

    def _load(self, tag: str) -> None:
        try:
            head: ManifestHead | errors.RegsweepError = self.client.resolve(
                self.repository, tag, self.cancel
            )
        except errors.CancelledError:
            raise
        except errors.RegsweepError as exc:
            head = exc
        self.outbox.put(("head", tag, head))
        if isinstance(head, ManifestHead) and self._claim(head.digest):
            self.outbox.put(("details", head.digest, self._details(head.digest)))

    def _claim(self, digest: str) -> bool:
        with self._lock:
            if digest in self._claimed:
                return False
            self._claimed.add(digest)
            return True

    def _details(self, digest: str) -> ImageDetails | errors.RegsweepError:
        try:
            return self.client.details(self.repository, digest, self.cancel)
        except errors.CancelledError:
            raise
        except errors.RegsweepError as exc:
            return exc


class DetailsLoader(QObject):
    """Resolves tags and loads details by digest on a small pool of threads.

    Results come out in batches (``batch_ready``); ``cancel()`` makes the
    workers stop at their next request, and nothing more is emitted."""

    batch_ready = Signal(object)  # DetailsBatch
    finished = Signal()  # every tag is done, or the loader was cancelled

    def __init__(
        self,
        client: RegistryClient,
        repository: str,
        tags: Iterable[str],
        parent: QObject | None = None,
        workers: int = _DETAILS_WORKERS,
        interval_ms: int = 50,
    ) -> None:
        super().__init__(parent)
        self.repository = repository
        self._queue = _TagQueue(tags)
        self._workers = max(1, min(workers, client.config.workers))
        outbox = _Outbox(interval_ms)
        outbox.drained.connect(self._on_outbox_drained)
        outbox.closed.connect(self._on_outbox_closed)
        self._work = _DetailsWork(
            client, repository, self._queue, outbox, self._workers
        )
        self.cancel_event = self._work.cancel
        self._active = False

    def start(self) -> None:
        self._active = True
        for number in range(self._workers):
            threading.Thread(
                target=self._work.run, name=f"details-{number}", daemon=True
            ).start()

    def prioritize(self, tags: Iterable[str]) -> None:
        """Load these next (the rows on screen)."""
        self._queue.prioritize(tags)

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def active(self) -> bool:
        return self._active and not self.cancel_event.is_set()

    def _on_outbox_drained(self, items: list[tuple[str, str, Any]]) -> None:
        if self.cancel_event.is_set():
            return
        batch = DetailsBatch()
        for kind, key, value in items:
            target: dict[str, Any] = batch.heads if kind == "head" else batch.details
            target[key] = value
        self.batch_ready.emit(batch)

    def _on_outbox_closed(self, _value: object) -> None:
        self._active = False
        self.finished.emit()


# --- garbage collection ------------------------------------------------------------


class GuiThreadCollector(QObject):
    """Runs Python's cyclic garbage collection on the GUI thread only.

    The collector otherwise runs in whichever thread happens to allocate, and
    a QObject caught in a reference cycle would then be destroyed on a worker
    thread, which crashes Qt. So automatic collection is switched off while
    this object lives, and a timer collects the generations that are due."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = 500) -> None:
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._long_lived = len(gc.get_objects(2))
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()

    def _on_timer_timeout(self) -> None:
        counts, thresholds = gc.get_count(), gc.get_threshold()
        due = [g for g in range(3) if counts[g] > thresholds[g]]
        if not due:
            return
        generation = max(due)
        if generation == 2 and not self._full_collection_worth_it():
            generation = 1
        gc.collect(generation)
        if generation == 2:
            self._long_lived = len(gc.get_objects(2))

    def _full_collection_worth_it(self) -> bool:
        # Python's own rule: a full collection only once the objects that
        # reached the oldest generation since the last one are a quarter of
        # those it kept; otherwise big tables make every one a long stall.
        return len(gc.get_objects(2)) - self._long_lived > self._long_lived // 4

    def stop(self) -> None:
        """Collect once more and hand collection back to Python."""
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()
