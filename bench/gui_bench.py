"""How the window copes with big repositories. Prints figures and ratios.

    python bench/gui_bench.py [--tags 10000] [--rows 100000] [--busy 0]

1. Tag rows on screen: a local registry gets a repository of ``--tags`` tags
   (``Seeder.push_many``); the window opens it, and the time until the rows
   are painted is compared with one plain GET of the tag list in the same run.
2. Event-loop stalls: while every digest and detail of that repository loads,
   a QTimer ticks every 10 ms and the largest gap between ticks is recorded.
   Goal: under 50 ms. The load runs twice in the same run, side by side:
   details from the helper process (what the app does) and on threads in
   the window's own process (how it was done before), with the ratios. Each
   long gap is split into the GUI thread's own work, its wait for a CPU
   (run-queue time, Linux) and the rest, mostly waiting for Python's lock.
   ``--busy N`` keeps N extra processes spinning on the CPU meanwhile (started
   and stopped by this script), to see the window on a machine that is
   shared: the idle baseline is then measured under the same load.
3. Deleting: in a new window on the same repository, ``--delete`` tags (500
   by default, spread over the list) are selected, the preview confirmed,
   and the deletion run to the end (the re-check of every tag, a journal
   record, the DELETE); the same 10 ms ticker records the gaps. This too
   runs twice, side by side: in the helper process (what the app does) and
   on threads in the window's process, each on different tags.
   Then the rules window previews "keep the newest 10" over the whole
   registry (every tag read and judged), both ways, with the same ticker
   (``--skip-rules`` leaves it out).
4. Memory: in a fresh process, ``--rows`` synthetic rows (tag, head and
   details each) go into the tag model behind its proxy and a table view,
   sorted by size and date; the peak resident size is read. Goal: 300 MB.

Everything runs on this machine at once, so the ratios matter more than the
absolute times.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import requests

TICK_MS = 10
IDLE_S = 10.0
STALL_GOAL_MS = 50
MEMORY_GOAL_MB = 300
REPOSITORY = "bench/tags"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--busy", type=int, default=0, help="processes spinning on the CPU meanwhile"
    )
    parser.add_argument(
        "--delete", type=int, default=500, help="tags to delete, each way (0: skip)"
    )
    parser.add_argument(
        "--skip-memory", action="store_true", help="only the registry benchmarks"
    )
    parser.add_argument(
        "--skip-rules", action="store_true", help="no clean-up rules preview"
    )
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args.rows)
    with tempfile.TemporaryDirectory(prefix="regsweep-bench-") as workdir:
        _isolate(Path(workdir))
        registry_benchmarks(
            Path(workdir), args.tags, args.busy, args.delete, not args.skip_rules
        )
    if not args.skip_memory:
        memory_benchmark(args.rows)
    return 0


def _isolate(workdir: Path) -> None:
    for name in ("CONFIG", "DATA", "LOG"):
        os.environ[f"REGSWEEP_{name}_DIR"] = str(workdir / name.lower())


# --- 1 and 2: against a registry ---------------------------------------------------


MODES = {
    "helper": "details in the helper process (what the app does)",
    "threads": "details on threads in the window's process (before)",
}


@dataclass
class LoadRun:
    """One window opening the big repository."""

    shown_s: float  # select -> tag rows painted
    load_s: float  # select -> every digest and detail in
    ticker: _Ticker  # gaps while loading
    idle: list[float]  # gaps while the same window sat idle just before


def registry_benchmarks(
    workdir: Path, count: int, busy: int, delete: int, rules: bool
) -> None:
    from devtools.registry import start_registry
    from devtools.seed import Seeder

    with start_registry(workdir / "registry") as registry:
        started = time.perf_counter()
        with Seeder(registry) as seeder:
            seeder.push_many(REPOSITORY, count, workers=8)
        print(f"seeded {count:,} tags in {time.perf_counter() - started:.1f} s")
        get_s = plain_get(registry.url)
        with _spinning(busy):
            runs = {mode: window_run(registry.url, mode) for mode in MODES}
            deleted = (
                {
                    mode: delete_run(registry.url, delete, mode, offset)
                    for offset, mode in enumerate(MODES)
                }
                if delete
                else None
            )
            previews = (
                {mode: rules_run(registry.url, mode) for mode in MODES}
                if rules
                else None
            )
    if busy:
        print(f"\n{busy} other process(es) kept the CPU busy during the window runs")
    report(count, get_s, runs)
    if deleted is not None:
        report_work(f"deleting {delete:,} images", "images deleted", deleted)
    if previews is not None:
        report_work("previewing clean-up rules", "tags judged", previews)


@contextlib.contextmanager
def _spinning(count: int) -> Iterator[None]:
    """``count`` processes spinning on the CPU, stopped (by their PIDs) on exit."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(count)
    ]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def report(count: int, get_s: float, runs: dict[str, LoadRun]) -> None:
    app, old = runs["helper"], runs["threads"]
    print("\n== tag rows on screen ==")
    print(f"plain GET of the tag list (best of 5): {get_s * 1000:8.1f} ms")
    print(f"window: select -> rows painted:        {app.shown_s * 1000:8.1f} ms")
    print(f"ratio window / plain GET:              {app.shown_s / get_s:8.1f} x")

    print(f"\n== event loop while {count:,} digests and details load ==")
    for mode, text in MODES.items():
        print(f"{mode:>8}: {text}")
    print(f"{'':24}{'helper':>10}{'threads':>10}{'idle':>10}{'helper/idle':>12}")
    print(
        f"{'loaded in':24}{app.load_s:9.1f}s{old.load_s:9.1f}s"
        f"{'':10}{'':12}   threads/helper {old.load_s / app.load_s:.2f}"
    )
    for label, measure in (
        ("longest gap", max),
        ("99th percentile gap", lambda g: _percentile(g, 99)),
        ("median gap", statistics.median),
    ):
        new, before, calm = (
            measure(app.ticker.gaps),
            measure(old.ticker.gaps),
            measure(app.idle),
        )
        print(
            f"{label:24}{new:8.1f}ms{before:8.1f}ms{calm:8.1f}ms{new / calm:12.1f}"
            f"   threads/helper {before / new:.2f}"
        )
    goal = max(app.ticker.gaps) / STALL_GOAL_MS
    print(f"longest gap / goal ({STALL_GOAL_MS} ms), helper: {goal:.2f}")
    for mode, run in runs.items():
        print(f"\n{mode}: the longest gaps, and how the GUI thread spent them")
        print("(waiting for a CPU is run-queue time; 'other' is mostly waiting")
        print(" for Python's interpreter lock, plus the normal wait for the tick):")
        _print_worst(run.ticker)
        print(
            f"  GUI thread CPU during the load: {sum(run.ticker.cpu) / 1000:.1f} s "
            f"of {run.load_s:.1f} s"
        )
    print("\n(idle: the same window doing nothing, measured just before, as the")
    print(" baseline this machine's load imposes on any event loop)")


def plain_get(url: str) -> float:
    times = []
    with requests.Session() as session:
        session.trust_env = False
        for _ in range(5):
            started = time.perf_counter()
            response = session.get(f"{url}/v2/{REPOSITORY}/tags/list", timeout=30)
            response.raise_for_status()
            response.json()
            times.append(time.perf_counter() - started)
    return min(times)


@contextlib.contextmanager
def _bench_window(url: str, details_in_process: bool = False) -> Iterator[Any]:
    """A main window on the registry, with the repository listed; closed, with
    the details helper stopped, on exit."""
    from PySide6.QtCore import QEventLoop, QTimer

    from core.profiles import Profile, ProfileStore
    from gui.app import create_app
    from gui.main_window import MainWindow
    from gui.session import RegistrySession
    from gui.state import WindowState
    from gui.tasks import GuiThreadCollector, stop_details_helper

    app = create_app([])
    _quiet_offscreen_warnings()
    collector = GuiThreadCollector(app)
    store = ProfileStore()
    if not store.profiles:
        store.add(Profile("Bench", url), None)
    RegistrySession.details_in_process = details_in_process
    window = MainWindow(store, WindowState())
    window.show()
    _spin_until(lambda: REPOSITORY in window.repo_panel.model.names())
    try:
        yield window
    finally:
        window.close()
        window.deleteLater()
        stop_details_helper()
        collector.stop()
        loop = QEventLoop()
        QTimer.singleShot(100, loop.quit)
        loop.exec()


def window_run(url: str, mode: str) -> LoadRun:
    """Open the repository in a new window, loading details as ``mode`` says."""
    with _bench_window(url, details_in_process=mode == "threads") as window:
        return _load_run(window)


def _load_run(window: Any) -> LoadRun:
    shown = _first_paint_watch(window.tag_panel.table.viewport())
    window.session.tags_loaded.connect(shown.arm)
    idle = _Ticker()
    _spin_for(IDLE_S)
    idle.stop()
    ticker = _Ticker()
    started = time.perf_counter()
    window.repo_panel.select(REPOSITORY)
    _spin_until(lambda: _fully_loaded(window), timeout_s=600)
    loaded = time.perf_counter()
    ticker.stop()
    if shown.painted_at is None:
        raise SystemExit("the tag rows were never painted")
    return LoadRun(shown.painted_at - started, loaded - started, ticker, idle.gaps)


@dataclass
class WorkRun:
    """One long piece of work started from a window: a deletion, a preview."""

    done: int  # images deleted, tags judged
    of: int  # images confirmed, tags in the registry
    seconds: float  # click -> the result
    ticker: _Ticker
    shown_s: float | None = None  # the GUI thread showing the result (a preview)


def delete_run(url: str, count: int, mode: str, offset: int) -> WorkRun:
    """Open the repository, select ``count`` tags spread over it (starting at
    ``offset``), confirm the preview, and time the deletion, carried out as
    ``mode`` says, with the ticker running."""
    from core.delete import Outcome
    from gui.prompts import Prompts
    from gui.tasks import HelperTask

    HelperTask.in_process = mode == "threads"
    with _bench_window(url) as window:
        window.repo_panel.select(REPOSITORY)
        _spin_until(lambda: _fully_loaded(window), timeout_s=600)
        step = max(1, window.tag_model.rowCount() // count)
        tags = window.tag_model.tags[offset::step]
        window.tag_panel.select_tags(tags[:count])
        previews: list[Any] = []
        window.deletion.preview_opened.connect(previews.append)
        reports: list[Any] = []
        window.deletion.deletion_finished.connect(reports.append)
        # The summary is a modal message; nobody is there to close it.
        quiet = classmethod(lambda *args: None)
        Prompts.info = Prompts.error = quiet  # type: ignore[method-assign]
        window.tag_panel.delete_action.trigger()
        _spin_until(lambda: bool(previews), timeout_s=120)
        ticker = _Ticker()
        started = time.perf_counter()
        previews[0].accept()
        _spin_until(lambda: bool(reports), timeout_s=600)
        seconds = time.perf_counter() - started
        ticker.stop()
    report = reports[0]
    return WorkRun(
        report.count(Outcome.DELETED), len(report.plan.items), seconds, ticker
    )


def rules_run(url: str, mode: str) -> WorkRun:
    """Open the rules window, set "keep the newest 10", and time the preview
    (every tag of the registry read and judged), carried out as ``mode``
    says, with the ticker running."""
    from gui.rules_window import RulesWindow
    from gui.tasks import HelperTask

    HelperTask.in_process = mode == "threads"
    with _bench_window(url) as window:
        opened: list[RulesWindow] = []
        window.rules_opened.connect(opened.append)
        window.rules_action.trigger()
        rules = opened[0]
        rules.form.keep_check.setChecked(True)
        rules.form.keep_spin.setValue(10)
        outcomes: list[Any] = []
        rules.preview_finished.connect(outcomes.append)
        shown: list[float] = []
        show_plan = rules._show_plan

        def timed_show_plan(plan: Any) -> None:
            began = time.perf_counter()
            show_plan(plan)
            shown.append(time.perf_counter() - began)

        rules._show_plan = timed_show_plan  # type: ignore[method-assign]
        ticker = _Ticker()
        started = time.perf_counter()
        rules.preview_button.click()
        _spin_until(lambda: bool(outcomes), timeout_s=900)
        seconds = time.perf_counter() - started
        ticker.stop()
        rules.close()
    plan = outcomes[0].result
    if plan is None:
        raise SystemExit(f"the rules preview failed: {outcomes[0].error}")
    judged = len(plan.verdicts)
    return WorkRun(judged, judged, seconds, ticker, shown[0])


def report_work(title: str, what: str, runs: dict[str, WorkRun]) -> None:
    """The same work done both ways, side by side."""
    app, old = runs["helper"], runs["threads"]
    print(f"\n== event loop while {title} ==")
    for mode, text in MODES.items():
        print(f"{mode:>8}: {text.replace('details', 'the work')}")
    print(f"{'':24}{'helper':>10}{'threads':>10}")
    print(f"{what:24}{app.done:10,}{old.done:10,}   of {app.of:,} / {old.of:,}")
    print(
        f"{'took':24}{app.seconds:9.1f}s{old.seconds:9.1f}s"
        f"   threads/helper {old.seconds / app.seconds:.2f}"
    )
    for label, measure in (
        ("longest gap", max),
        ("99th percentile gap", lambda g: _percentile(g, 99)),
        ("median gap", statistics.median),
    ):
        new, before = measure(app.ticker.gaps), measure(old.ticker.gaps)
        print(
            f"{label:24}{new:8.1f}ms{before:8.1f}ms   threads/helper {before / new:.2f}"
        )
    if app.shown_s is not None and old.shown_s is not None:
        print(
            f"{'showing the result':24}{app.shown_s * 1000:8.1f}ms"
            f"{old.shown_s * 1000:8.1f}ms   (GUI thread, one piece)"
        )
    goal = max(app.ticker.gaps) / STALL_GOAL_MS
    print(f"longest gap / goal ({STALL_GOAL_MS} ms), helper: {goal:.2f}")
    for mode, run in runs.items():
        print(f"\n{mode}: the longest gaps")
        _print_worst(run.ticker)
        print(f"  GUI thread CPU meanwhile: {sum(run.ticker.cpu) / 1000:.1f} s")


def _print_worst(ticker: _Ticker) -> None:
    for gap, cpu, queued, end in ticker.worst(5):
        rest = max(gap - cpu - queued, 0.0)
        print(
            f"  {gap:7.1f} ms gap: working {cpu:6.1f}, waiting for a CPU "
            f"{queued:6.1f}, other {rest:6.1f}  (at {end:6.2f} s)"
        )


def _quiet_offscreen_warnings() -> None:
    """Drop the offscreen platform's "does not support propagateSizeHints()",
    printed for every dialog-sized window; pass every other message on."""
    from PySide6.QtCore import qInstallMessageHandler

    def handler(_mode: object, _context: object, message: str) -> None:
        if "propagateSizeHints" not in message:
            print(message, file=sys.stderr)

    qInstallMessageHandler(handler)


def _first_paint_watch(viewport: object) -> Any:
    """An event filter on the tag table's viewport: ``arm()`` it when the tag
    list arrives, and ``painted_at`` becomes the end of the next paint. The
    window paints as it would for a user; nothing is forced."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    class Watch(QObject):
        armed = False
        painted_at: float | None = None

        def arm(self, _found: object = None) -> None:
            self.armed = True

        def eventFilter(self, watched: object, event: QEvent) -> bool:
            if self.armed and event.type() == QEvent.Type.Paint:
                self.armed = False
                QTimer.singleShot(0, self._mark)  # runs once this paint is done
            return False

        def _mark(self) -> None:
            self.painted_at = time.perf_counter()

    watch = Watch()
    viewport.installEventFilter(watch)  # type: ignore[attr-defined]
    return watch


class _Ticker:
    """A 10 ms timer recording the time between its ticks, and how much CPU
    the GUI thread itself used in each gap (a gap with little CPU means the
    thread was waiting for a core or the GIL, not working)."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self.cpu: list[float] = []
        self.queued: list[float] = []
        self.ends: list[float] = []
        self._start = self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self._last_queued = _run_queue_ms()
        self._timer = QTimer()
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _tick(self) -> None:
        now, cpu, queued = time.perf_counter(), time.thread_time(), _run_queue_ms()
        self.gaps.append((now - self._last) * 1000)
        self.cpu.append((cpu - self._last_cpu) * 1000)
        self.queued.append(queued - self._last_queued)
        self.ends.append(now - self._start)
        self._last, self._last_cpu, self._last_queued = now, cpu, queued

    def worst(self, count: int) -> list[tuple[float, float, float, float]]:
        """The ``count`` longest gaps: (gap, working, waiting for a CPU, and
        seconds from the start to the gap's end)."""
        rows = zip(self.gaps, self.cpu, self.queued, self.ends, strict=True)
        return sorted(rows, reverse=True)[:count]

    def stop(self) -> None:
        self._timer.stop()


def _run_queue_ms() -> float:
    """Milliseconds this thread has waited for a CPU (Linux; 0 elsewhere)."""
    try:
        with open("/proc/thread-self/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


def _fully_loaded(window: object) -> bool:
    model = window.tag_model  # type: ignore[attr-defined]
    detailed, digests = model.digest_count()
    rows = model.rowCount()
    return rows > 0 and model.resolved_count() == rows and detailed == digests


def _spin_until(condition: object, timeout_s: float = 60) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + timeout_s
    loop = QEventLoop()
    poll = QTimer()
    poll.timeout.connect(lambda: condition() and loop.quit())  # type: ignore[operator]
    poll.start(20)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    poll.stop()
    if time.monotonic() > deadline:
        raise SystemExit("timed out waiting for the window")


def _spin_for(seconds: float) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def _percentile(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


# --- 3: memory ------------------------------------------------------------------------


def memory_benchmark(rows: int) -> None:
    result = subprocess.run(
        [sys.executable, __file__, "--memory-child", "--rows", str(rows)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    print(f"\n== memory with {rows:,} rows in the tag model ==")
    print(result.stdout.rstrip())


def memory_child(rows: int) -> int:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from gui.models import Column
    from gui.tag_panel import TagPanel

    app = QApplication([])
    baseline = _rss_mb("VmRSS")
    panel = TagPanel(_synthetic_model(rows))
    panel.resize(1200, 700)
    panel.show_table("synthetic")
    panel.show()
    app.processEvents()
    started = time.perf_counter()
    panel.table.sortByColumn(Column.SIZE, Qt.SortOrder.DescendingOrder)
    app.processEvents()
    sort_s = time.perf_counter() - started
    panel.table.sortByColumn(Column.CREATED, Qt.SortOrder.AscendingOrder)
    app.processEvents()
    peak = _rss_mb("VmHWM")
    print(f"resident after QApplication:   {baseline:7.1f} MB")
    print(
        f"peak resident, {rows:,} rows:   {peak:7.1f} MB (goal < {MEMORY_GOAL_MB} MB)"
    )
    print(f"of which the rows:             {peak - baseline:7.1f} MB")
    print(f"per row:                       {(peak - baseline) * 2**20 / rows:7.0f} B")
    print(f"sort {rows:,} rows by size:      {sort_s * 1000:7.0f} ms")
    print(f"peak / goal:                   {peak / MEMORY_GOAL_MB:7.2f}")
    return 0


def _synthetic_model(rows: int) -> object:
    """Rows as the registry would fill them: every string its own object."""
    from core.images import OCI_INDEX, OCI_MANIFEST, ImageDetails, ManifestHead
    from gui.models import TagTableModel

    model = TagTableModel()
    tags = [f"build-{n:06d}" for n in range(rows)]
    model.set_tags("synthetic", tags)
    epoch = datetime(2020, 1, 1, tzinfo=UTC)
    for first in range(0, rows, 1000):
        heads, details = {}, {}
        for n in range(first, min(rows, first + 1000)):
            digest = f"sha256:{n:064x}"
            media = "".join([OCI_INDEX if n % 10 == 0 else OCI_MANIFEST])
            heads[tags[n]] = ManifestHead(digest, media, 500 + n % 400)
            platforms = (
                ("linux/amd64", "linux/arm64") if n % 10 == 0 else ("linux/amd64",)
            )
            details[digest] = ImageDetails(
                digest,
                media,
                (n * 7919) % (6 * 1024**3),
                epoch + timedelta(minutes=n * 13 % 2_000_000),
                platforms,
            )
        model.merge(heads, details)
    return model


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


if __name__ == "__main__":
    sys.exit(main())
