"""Registry work in a process of its own: loading a repository's digests and
details, reading a registry for clean-up rules, and carrying out deletions.

Resolving ten thousand tags means parsing tens of thousands of registry
answers in Python. Done on threads of the window's process, that parsing
holds the interpreter lock the window needs for every event it handles, and
the window stutters. A deletion re-reads every tag of the repository first,
and a rules preview reads every tag of the registry, with the same effect. So
the GUI starts one helper process running :func:`serve` and talks to it over a
pipe (a ``multiprocessing`` connection):

parent to helper::

    ("load", job, config, repository, tags, workers)
    ("prioritize", job, tags)      # these tags next: they are on screen
    ("call", job, name, config, kwargs)  # one of CALLS, on a thread
    ("cancel", job)
    ("stop",)

helper to parent::

    ("items", job, [(kind, key, value), ...])  # "head": tag -> ManifestHead
                                               # "details": digest -> ImageDetails
                                               # (or the RegsweepError instead)
                                               # "report": a call's partial result
                                               # "outcome": how a call ended
    ("done", job)                              # after the job's last items
    ("log", [record, ...])                     # log records, as dicts

The helper sends what it has every ``batch_s`` seconds, so a flood of small
results crosses the pipe as a few messages. :class:`DetailsWork` is also
usable on its own, with any ``put`` and ``end`` callables.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from core import errors
from core.client import RegistryClient, RegistryConfig
from core.delete import DeleteResult, run_plan
from core.images import ImageDetails, ManifestHead
from core.journal import Journal
from core.plan import PlanItem
from core.prune import apply_plan, collect
from core.rules import Rules
from core.verdicts import RulesPlan, evaluate

log = logging.getLogger(__name__)

Item = tuple[str, str, Any]  # (kind, key, value), as sent to the parent

BATCH_S = 0.02
_NICENESS = 10


class TagQueue:
    """Tags still to resolve: urgent ones (visible rows) before the rest."""

    def __init__(self, tags: Iterable[str]) -> None:
        self._rest = deque(tags)
        self._urgent: deque[str] = deque()
        self._taken: set[str] = set()
        self._lock = threading.Lock()

    def prioritize(self, tags: Iterable[str]) -> None:
        with self._lock:
            self._urgent = deque(t for t in tags if t not in self._taken)

    def take(self) -> str | None:
        with self._lock:
            for queue in (self._urgent, self._rest):
                while queue:
                    tag = queue.popleft()
                    if tag not in self._taken:
                        self._taken.add(tag)
                        return tag
            return None


class DetailsWork:
    """Resolves every tag of a queue and loads each digest's details once, on
    ``workers`` threads. Results go to ``put`` as they come; ``end`` is
    called once, after the last ``put``, when every thread has stopped."""

    def __init__(
        self,
        client: RegistryClient,
        repository: str,
        queue: TagQueue,
        put: Callable[[Item], None],
        end: Callable[[], None],
        workers: int,
    ) -> None:
        self.client = client
        self.repository = repository
        self.queue = queue
        self.cancel = threading.Event()
        self._put = put
        self._end = end
        self._claimed: set[str] = set()
        self._lock = threading.Lock()
        self._workers = workers
        self._running = workers

    def start(self, name: str = "details") -> None:
        for number in range(self._workers):
            threading.Thread(
                target=self.run, name=f"{name}-{number}", daemon=True
            ).start()

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
            self._end()

    def _load(self, tag: str) -> None:
        try:
            head: ManifestHead | errors.RegsweepError = self.client.resolve(
                self.repository, tag, self.cancel
            )
        except errors.CancelledError:
            raise
        except errors.RegsweepError as exc:
            head = exc
        self._put(("head", tag, head))
        if isinstance(head, ManifestHead) and self._claim(head.digest):
            self._put(("details", head.digest, self._details(head.digest)))

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


# --- calls: one function of the core, on a thread of the helper ---------------------


Report = Callable[[Any], None]


def _delete(
    client: RegistryClient,
    cancel: threading.Event,
    report: Report,
    *,
    items: list[PlanItem],
    workers: int,
    profile: str,
    journal_path: str,
) -> list[DeleteResult]:
    # The journal's place comes from the parent: it is the parent's setting
    # that counts, not what this process saw when it started.
    return run_plan(
        client,
        items,
        workers=workers,
        cancel=cancel,
        journal=Journal(Path(journal_path)),
        profile=profile,
        on_result=report,
    )


def _rules_preview(
    client: RegistryClient, cancel: threading.Event, report: Report, *, rules: Rules
) -> RulesPlan:
    inventory = collect(client, rules, cancel=cancel, progress=report)
    return evaluate(rules, inventory, datetime.now(UTC))


def _rules_apply(
    client: RegistryClient,
    cancel: threading.Event,
    report: Report,
    *,
    plan: RulesPlan,
    profile: str,
    journal_path: str,
) -> list[DeleteResult]:
    journal = Journal(Path(journal_path))
    return apply_plan(
        client, plan, cancel=cancel, journal=journal, profile=profile, on_result=report
    )


CALLS: dict[str, Callable[..., Any]] = {
    "delete": _delete,
    "rules-preview": _rules_preview,
    "rules-apply": _rules_apply,
}


@dataclass(frozen=True)
class CallOutcome:
    """How a call ended, as the parent receives it: ``result``, or ``error``
    (a RegsweepError as it was, anything else as an UnexpectedError)."""

    result: Any = None
    error: BaseException | None = None


class UnexpectedError(Exception):
    """A bug in the helper, carried to the parent with its traceback."""


class _CallJob:
    def __init__(self) -> None:
        self.cancel = threading.Event()


def run_call(
    name: str,
    client: RegistryClient,
    cancel: threading.Event,
    kwargs: dict[str, Any],
    put: Callable[[Item], None],
    end: Callable[[], None],
) -> None:
    """Run ``CALLS[name]``: what it reports goes to ``put`` as "report"
    items, then its outcome as an "outcome" item; then ``end()``. The helper
    runs calls this way; so may a thread anywhere else."""
    function = CALLS[name]
    try:
        result = function(
            client, cancel, lambda value: put(("report", "", value)), **kwargs
        )
        outcome = CallOutcome(result=result)
    except errors.RegsweepError as exc:  # cancelled included
        outcome = CallOutcome(error=exc)
    except BaseException as exc:
        log.exception("helper call failed")
        outcome = CallOutcome(error=_portable(exc))
    try:
        pickle.dumps(outcome)
    except Exception as exc:
        outcome = CallOutcome(error=_portable(exc))
    put(("outcome", "", outcome))
    end()


def _portable(exc: BaseException) -> UnexpectedError:
    text = "".join(traceback.format_exception(exc)).rstrip()
    return UnexpectedError(
        f"{type(exc).__name__}: {exc}\n\nIn the helper process:\n{text}"
    )


# --- the helper process ------------------------------------------------------------


class _Sender:
    """Everything the helper sends, gathered for ``batch_s`` and sent in
    order by one thread: items of one job in a row become one message."""

    def __init__(self, conn: Connection, batch_s: float) -> None:
        self._conn = conn
        self._batch_s = batch_s
        self._pending: list[list[Any]] = []
        self._closed = False
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="sender", daemon=True)
        self._thread.start()

    def item(self, job: int, item: Item) -> None:
        self._add("items", job, item)

    def done(self, job: int) -> None:
        with self._ready:
            self._pending.append(["done", job])
            self._ready.notify()

    def log(self, record: dict[str, Any]) -> None:
        self._add("log", None, record)

    def _add(self, kind: str, job: int | None, value: Any) -> None:
        with self._ready:
            last = self._pending[-1] if self._pending else None
            if last is not None and last[0] == kind and last[1] == job:
                last[2].append(value)
            else:
                self._pending.append([kind, job, [value]])
                self._ready.notify()

    def close(self) -> None:
        """Send what is pending, then stop."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._pending and not self._closed:
                    self._ready.wait()
                if not self._pending:
                    return
            if not self._closed:
                self._ready_wait()
            with self._ready:
                batch, self._pending = self._pending, []
            try:
                for message in batch:
                    if message[0] == "log":
                        self._conn.send(("log", message[2]))
                    else:
                        self._conn.send(tuple(message))
            except OSError:
                return  # the parent is gone; the main loop ends on its own

    def _ready_wait(self) -> None:
        # Let a batch gather; a closing sender flushes at once.
        with self._ready:
            self._ready.wait_for(lambda: self._closed, timeout=self._batch_s)


class _ForwardingHandler(logging.Handler):
    """Hands log records to the parent, which writes them to its log file."""

    def __init__(self, sender: _Sender) -> None:
        super().__init__()
        self._sender = sender

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = dict(record.__dict__)
            fields["msg"] = record.getMessage()
            fields["args"] = None
            if record.exc_info:
                fields["exc_text"] = logging.Formatter().formatException(
                    record.exc_info
                )
            fields["exc_info"] = None
            self._sender.log(fields)
        except Exception:
            self.handleError(record)


def serve(
    conn: Connection, log_level: int = logging.INFO, batch_s: float = BATCH_S
) -> None:
    """The helper process: load what the parent asks for until it says stop
    or closes the pipe."""
    if hasattr(os, "nice"):
        # Background work: when the CPU is short, the window goes first.
        os.nice(_NICENESS)
    sender = _Sender(conn, batch_s)
    root = logging.getLogger()
    root.handlers[:] = [_ForwardingHandler(sender)]
    root.setLevel(log_level)
    logging.getLogger("urllib3").setLevel(max(log_level, logging.WARNING))
    clients: dict[RegistryConfig, RegistryClient] = {}
    jobs: dict[int, DetailsWork | _CallJob] = {}
    lock = threading.Lock()

    def finished(job: int) -> None:
        with lock:
            jobs.pop(job, None)
        sender.done(job)

    def client_for(config: RegistryConfig) -> RegistryClient:
        client = clients.get(config)
        if client is None:
            client = clients[config] = RegistryClient(config)
        return client

    def start(job: int, message: tuple[Any, ...]) -> None:
        put, end = partial(sender.item, job), partial(finished, job)
        if message[0] == "call":
            _, _, name, config, kwargs = message
            call = _CallJob()
            with lock:
                jobs[job] = call
            threading.Thread(
                target=run_call,
                args=(name, client_for(config), call.cancel, kwargs, put, end),
                name=f"{name}-{job}",
                daemon=True,
            ).start()
            return
        _, _, config, repository, tags, workers = message
        work = DetailsWork(
            client_for(config), repository, TagQueue(tags), put, end, max(1, workers)
        )
        with lock:
            jobs[job] = work
        work.start(f"details-{job}")

    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            kind, job = message[0], message[1] if len(message) > 1 else 0
            if kind == "stop":
                break
            if kind in ("load", "call"):
                start(job, message)
                continue
            with lock:
                found = jobs.get(job)
            if isinstance(found, DetailsWork) and kind == "prioritize":
                found.queue.prioritize(message[2])
            elif found is not None and kind == "cancel":
                found.cancel.set()
    finally:
        with lock:
            running = list(jobs.values())
        for running_job in running:
            running_job.cancel.set()
        sender.close()
        for client in clients.values():
            client.close()
