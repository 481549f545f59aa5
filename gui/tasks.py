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
  digest, the tags the user can see first, in a helper process: parsing that
  many registry answers on threads here would keep the interpreter lock from
  the GUI thread (see ``core.details_service``).
- :class:`HelperTask`: a Task whose work is one of the helper's calls (a
  deletion, a rules preview, applying rules): each reads many registry
  answers, as loading details does.
- :class:`GuiThreadCollector`: keeps garbage collection on the GUI thread.
"""

from __future__ import annotations

import gc
import itertools
import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, ClassVar

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from core import details_service, errors
from core.client import RegistryClient, RegistryConfig
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

    def put_many(self, items: list[Any]) -> None:
        """From any thread."""
        with self._lock:
            first = not self._items
            self._items.extend(items)
        if first and items:
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


class _DetailsProcess:
    """The helper process that loads details (``core.details_service``) and
    the pipe to it. One serves every loader of the application; it starts on
    first use, and again if it has died.

    Two threads of this process talk to it: a writer, so the GUI thread never
    waits on the pipe, and a reader, which hands each job's results to that
    job's outbox and writes the helper's log records to this process's log."""

    _shared: ClassVar[_DetailsProcess | None] = None

    @classmethod
    def shared(cls) -> _DetailsProcess:
        current = cls._shared
        if current is None or not current.alive:
            current = cls._shared = cls()
        return current

    @classmethod
    def stop_shared(cls) -> None:
        """Stop the helper, if one was started (the application is quitting)."""
        current, cls._shared = cls._shared, None
        if current is not None:
            current.stop()

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=details_service.serve,
            args=(child, logging.getLogger().getEffectiveLevel()),
            name="regsweep-details",
            daemon=True,
        )
        self.alive = True
        self._outboxes: dict[int, _Outbox] = {}
        self._lock = threading.Lock()
        self._jobs = itertools.count(1)
        self._commands: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        # Starting a Python process takes a while: the writer does it, so
        # the GUI thread only queues commands.
        self._writer = threading.Thread(
            target=self._write, args=(child,), name="details-writer", daemon=True
        )
        self._writer.start()
        threading.Thread(target=self._read, name="details-reader", daemon=True).start()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def load(
        self,
        config: RegistryConfig,
        repository: str,
        tags: list[str],
        workers: int,
        outbox: _Outbox,
    ) -> int:
        """Start a job; its results go to ``outbox``, which is ended (with
        None, or the error that stopped the helper) after the last of them."""
        return self._submit(outbox, "load", config, repository, tags, workers)

    def call(
        self,
        name: str,
        config: RegistryConfig,
        kwargs: dict[str, Any],
        outbox: _Outbox,
    ) -> int:
        """Run ``details_service.CALLS[name]`` in the helper; its reports and
        outcome go to ``outbox``, ended as for :meth:`load`."""
        return self._submit(outbox, "call", name, config, kwargs)

    def _submit(self, outbox: _Outbox, kind: str, *arguments: Any) -> int:
        job = next(self._jobs)
        with self._lock:
            gone = not self.alive
            if not gone:
                self._outboxes[job] = outbox
        if gone:
            outbox.end(_helper_stopped())
        else:
            self._commands.put((kind, job, *arguments))
        return job

    def prioritize(self, job: int, tags: list[str]) -> None:
        self._commands.put(("prioritize", job, tags))

    def cancel(self, job: int) -> None:
        self._commands.put(("cancel", job))

    def stop(self, timeout_s: float = 10.0) -> None:
        # A deletion cancelled by quitting ends the requests already sent
        # before the helper exits, so the journal knows how they ended; the
        # window is gone by then, so the wait is not felt.
        self._commands.put(("stop",))
        self._commands.put(None)
        self._writer.join(timeout_s)
        if self._process.pid is not None:
            self._process.join(timeout_s)
            if self._process.is_alive():
                log.warning("details helper did not stop; killing pid %s", self.pid)
                self._process.kill()
                self._process.join(timeout_s)
        self._conn.close()

    def _write(self, child: Connection) -> None:
        try:
            self._process.start()
        except (OSError, RuntimeError) as exc:
            # RuntimeError: started from a script without a __main__ guard.
            log.error("cannot start the details helper process: %s", exc)
            return  # closing ``child`` below ends the reader, and every job
        finally:
            child.close()
        log.debug("details helper process started, pid %s", self._process.pid)
        while (message := self._commands.get()) is not None:
            try:
                self._conn.send(message)
            except OSError:
                return  # the reader sees the helper gone and ends the jobs

    def _read(self) -> None:
        try:
            while True:
                self._dispatch(self._conn.recv())
        except (EOFError, OSError):
            pass
        except BaseException:
            log.exception("reading from the details helper failed")
        finally:
            self._helper_gone()

    def _dispatch(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "items":
            with self._lock:
                outbox = self._outboxes.get(message[1])
            if outbox is not None:
                outbox.put_many(message[2])
        elif kind == "done":
            with self._lock:
                outbox = self._outboxes.pop(message[1], None)
            if outbox is not None:
                outbox.end(None)
        elif kind == "log":
            for fields in message[1]:
                record = logging.makeLogRecord(fields)
                logging.getLogger(record.name).handle(record)

    def _helper_gone(self) -> None:
        with self._lock:
            self.alive = False
            orphans, self._outboxes = self._outboxes, {}
        if orphans:
            log.error("the details helper process ended with work unfinished")
        for outbox in orphans.values():
            outbox.end(_helper_stopped())


def start_details_helper() -> None:
    """Start the details helper process now, so the first repository opened
    need not wait for it."""
    _DetailsProcess.shared()


def stop_details_helper() -> None:
    """Stop the details helper process, if one was started; at quit."""
    _DetailsProcess.stop_shared()


def _helper_stopped() -> errors.RegsweepError:
    return errors.RegsweepError(
        "The helper process that loads image details stopped.",
        "Press F5 to load the repository again; the log file may say why.",
    )


class DetailsLoader(QObject):
    """Resolves a repository's tags and loads details by digest, in the
    helper process (see :class:`_DetailsProcess`), the tags on screen first.
    With ``in_process``, on threads of this process instead: the way it was
    done before the helper, kept to measure the two side by side
    (``bench/gui_bench.py``).

    Results come out in batches (``batch_ready``); ``cancel()`` makes the
    helper stop at its next request, and nothing more is emitted. Should the
    helper die, every tag and digest still missing gets that error instead,
    so no row waits forever."""

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
        in_process: bool = False,
    ) -> None:
        super().__init__(parent)
        self.repository = repository
        self._client = client
        self._in_process = in_process
        self._local: details_service.DetailsWork | None = None
        self._tags = list(tags)
        self._workers = max(1, min(workers, client.config.workers))
        self._outbox = _Outbox(interval_ms)
        self._outbox.drained.connect(self._on_outbox_drained)
        self._outbox.closed.connect(self._on_outbox_closed)
        self.cancel_event = threading.Event()
        self._helper: _DetailsProcess | None = None
        self._job = 0
        self._heard: set[str] = set()  # tags whose head has arrived
        self._digests: set[str] = set()  # digests whose details are awaited
        self._active = False

    def start(self) -> None:
        self._active = True
        if self._in_process:
            self._local = details_service.DetailsWork(
                self._client,
                self.repository,
                details_service.TagQueue(self._tags),
                put=self._outbox.put,
                end=self._outbox.end,
                workers=self._workers,
            )
            self._local.start()
            return
        self._helper = _DetailsProcess.shared()
        self._job = self._helper.load(
            self._client.config,
            self.repository,
            self._tags,
            self._workers,
            self._outbox,
        )

    def prioritize(self, tags: Iterable[str]) -> None:
        """Load these next (the rows on screen)."""
        if not self.active:
            return
        if self._local is not None:
            self._local.queue.prioritize(tags)
        elif self._helper is not None:
            self._helper.prioritize(self._job, list(tags))

    def cancel(self) -> None:
        if self.cancel_event.is_set():
            return
        self.cancel_event.set()
        if self._local is not None:
            self._local.cancel.set()
        elif self._helper is not None:
            self._helper.cancel(self._job)

    @property
    def active(self) -> bool:
        return self._active and not self.cancel_event.is_set()

    def _on_outbox_drained(self, items: list[tuple[str, str, Any]]) -> None:
        if self.cancel_event.is_set():
            return
        batch = DetailsBatch()
        for kind, key, value in items:
            if kind == "head":
                batch.heads[key] = value
                self._heard.add(key)
                if isinstance(value, ManifestHead):
                    self._digests.add(value.digest)
            else:
                batch.details[key] = value
        self._digests.difference_update(batch.details)
        self.batch_ready.emit(batch)

    def _on_outbox_closed(self, error: errors.RegsweepError | None) -> None:
        self._active = False
        if error is not None and not self.cancel_event.is_set():
            missing = DetailsBatch()
            missing.heads = {t: error for t in self._tags if t not in self._heard}
            missing.details = dict.fromkeys(self._digests, error)
            self.batch_ready.emit(missing)
        self.finished.emit()


class HelperTask(QObject):
    """As :class:`Task`, for work done by a call in the helper process:
    ``progressed`` with what the call reported, ``finished`` with a
    TaskOutcome, always once. Should the helper die, the outcome's error
    says so, and what was reported before stands.

    With ``in_process`` set (on the class), calls run on a thread of this
    process instead: the way it was done before the helper, kept to measure
    the two side by side (``bench/gui_bench.py``)."""

    progressed = Signal(list)
    finished = Signal(object)  # TaskOutcome
    in_process = False

    def __init__(
        self,
        name: str,
        config: RegistryConfig,
        kwargs: dict[str, Any],
        parent: QObject | None = None,
        interval_ms: int = 50,
    ) -> None:
        super().__init__(parent)
        self.name = name
        self.cancel_event = threading.Event()
        self._config = config
        self._kwargs = kwargs
        self._helper: _DetailsProcess | None = None
        self._job = 0
        self._outcome: details_service.CallOutcome | None = None
        self._outbox = _Outbox(interval_ms)
        self._outbox.drained.connect(self._on_outbox_drained)
        self._outbox.closed.connect(self._on_outbox_closed)
        self.running = False

    def start(self) -> None:
        self.running = True
        if self.in_process:
            threading.Thread(target=self._run_here, name=self.name, daemon=True).start()
            return
        self._helper = _DetailsProcess.shared()
        self._job = self._helper.call(
            self.name, self._config, self._kwargs, self._outbox
        )

    def _run_here(self) -> None:
        put, end = self._outbox.put, self._outbox.end
        with RegistryClient(self._config) as client:
            details_service.run_call(
                self.name, client, self.cancel_event, self._kwargs, put, end
            )

    def cancel(self) -> None:
        if self.cancel_event.is_set():
            return
        self.cancel_event.set()
        if self._helper is not None and self.running:
            self._helper.cancel(self._job)

    def _on_outbox_drained(self, items: list[tuple[str, str, Any]]) -> None:
        reports = []
        for kind, _key, value in items:
            if kind == "outcome":
                self._outcome = value
            else:
                reports.append(value)
        if reports:
            self.progressed.emit(reports)

    def _on_outbox_closed(self, error: errors.RegsweepError | None) -> None:
        self.running = False
        cancelled = self.cancel_event.is_set()
        found = self._outcome
        if found is None:
            outcome = TaskOutcome(error=error or _helper_stopped(), cancelled=cancelled)
        elif isinstance(found.error, errors.CancelledError):
            outcome = TaskOutcome(cancelled=True)
        else:
            outcome = TaskOutcome(found.result, found.error, cancelled)
        self.finished.emit(outcome)


# --- garbage collection ------------------------------------------------------------


class GuiThreadCollector(QObject):
    """Runs Python's cyclic garbage collection on the GUI thread only.

    The collector otherwise runs in whichever thread happens to allocate, and
    a QObject caught in a reference cycle would then be destroyed on a worker
    thread, which crashes Qt. So automatic collection is switched off while
    this object lives, and a timer collects the generations that are due.

    Its first tick moves everything alive at start-up (modules, classes, the
    window) into Python's permanent generation, so a full collection later
    walks only what was made since: a few milliseconds instead of tens."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = 500) -> None:
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._long_lived = len(gc.get_objects(2))
        self._frozen = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()

    def _on_timer_timeout(self) -> None:
        if not self._frozen:
            gc.collect(1)  # the young garbage; a full collection would stall
            gc.freeze()
            self._frozen = True
            self._long_lived = len(gc.get_objects(2))
            return
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
        if self._frozen:
            gc.unfreeze()
        gc.collect()
        if self._was_enabled:
            gc.enable()
